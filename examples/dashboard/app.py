# A device-style dashboard: static page (--static public), a JSON API behind
# Basic auth, and a WebSocket that pushes a live reading every second.
#
#   node dist/server.js examples/dashboard/app.py --static examples/dashboard/public
#
# With --data FILE its label is kept on the data volume (/data) across restarts.
import json
import math
import os
import time

from mongoose import App, timer

USERS = {"admin": "admin"}  # a device's factory login; change it in real use

app = App()
# No challenge: the page signs in with its own form, not the browser prompt.
app.basic_auth(lambda user, pwd: USERS.get(user) == pwd, prefix="/api/", challenge=False)

CONFIG = "/data/dashboard.json"


def load_label():
    try:
        with open(CONFIG) as f:
            return json.load(f)["label"]
    except (OSError, ValueError, KeyError):  # no --data, or nothing saved yet
        return "Boiler room"


def save_label(label):
    """Write then rename: after a crash the file holds the old label or the new."""
    try:
        with open(CONFIG + ".new", "w") as f:
            json.dump({"label": label}, f)
        os.rename(CONFIG + ".new", CONFIG)
        return True
    except OSError:  # no --data: the label lasts until the server stops
        return False


state = {"label": load_label(), "interval_ms": 1000, "readings": 0}
started = time.ticks_ms()


def reading():
    """A made-up sensor: a slow sine wave with a little noise."""
    t = time.ticks_diff(time.ticks_ms(), started) / 1000
    return {"seq": state["readings"], "uptime_s": round(t, 1),
            "temperature_c": round(21 + 3 * math.sin(t / 20) + (state["readings"] % 7) / 10, 2)}


@app.get("/api/status")
def status(request):
    return {"label": state["label"], "readings": state["readings"], "clients": len(app.clients("/ws")),
            "latest": reading()}


@app.post("/api/config")
def config(request):
    body = request.json()
    label = body.get("label")
    if not isinstance(label, str) or not 0 < len(label) <= 40:
        return {"error": "label must be a string of 1 to 40 characters"}, 400
    state["label"] = label
    app.broadcast("/ws", json.dumps({"label": label}))
    return {"label": label, "saved": save_label(label)}


@app.websocket("/ws")
class Live:
    def open(self, ws, request):
        ws.send(json.dumps({"label": state["label"]}))

    def message(self, ws, data):
        if data == "ping":
            ws.send("pong")


def tick():
    state["readings"] += 1
    app.broadcast("/ws", json.dumps(reading()))


timer(state["interval_ms"], tick, repeat=True)
app.run()
