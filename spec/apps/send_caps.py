# Test app: the per-connection send cap, pipelined requests of clients that
# left, connections waiting for their client, and the built-in modules
# (spec/e2e/send-caps.test.ts).
import json
import time

import mongoose
from mongoose import App

app = App()
stats = {"ws_false": 0, "sse_false": 0, "ws_oserror": 0, "sse_oserror": 0, "ticks": 0, "slow": 0, "count": 0,
         "ws_closed": [], "sse_closed": 0, "gen": 0}
ticker = None


@app.websocket("/ws", close=lambda ws: stats["ws_closed"].append(ws.tag))
def ws_message(ws, data):
    pass


@app.websocket("/wsopen", open=lambda ws, req: setattr(ws, "tag", req.query.get("tag")),
               close=lambda ws: stats["ws_closed"].append(ws.tag))
def ws_open_message(ws, data):
    pass


def sse_closed(stream):
    stats["sse_closed"] += 1


@app.sse("/events")
def events(stream, request):
    stream.on_close = sse_closed
    stream.send("hello")


def tick(gen, size, count):
    # Message n is "<n>:" then padding to size bytes: clients check they got every n in order.
    n = stats["ticks"]
    if gen != stats["gen"] or n >= count:
        return
    stats["ticks"] = n + 1
    head = "%d:" % n
    msg = head + "x" * (size - len(head))
    for ws in app.clients("/wsopen"):
        try:
            if ws.send(msg) is False:
                stats["ws_false"] += 1
        except OSError:
            stats["ws_oserror"] += 1
    for stream in app.clients("/events"):
        try:
            if stream.send(msg) is False:
                stats["sse_false"] += 1
        except OSError:
            stats["sse_oserror"] += 1


@app.get("/start")
def start(request):
    global ticker
    size = int(request.query.get("size", "65536"))
    count = int(request.query.get("count", "100"))
    every = int(request.query.get("every", "20"))
    if ticker is not None:
        ticker.cancel()
    stats["ticks"] = 0
    stats["gen"] += 1  # an earlier broadcast still running stops
    gen = stats["gen"]
    ticker = mongoose.timer(every, lambda: tick(gen, size, count), repeat=True)
    return "started"


@app.get("/stop")
def stop(request):
    stats["gen"] += 1  # the broadcast running stops
    return "stopped"


@app.get("/stats")
def get_stats(request):
    return stats


@app.get("/clients")
def get_clients(request):
    return {"ws": len(app.clients("/wsopen")), "sse": len(app.clients("/events"))}


@app.get("/slow")
def slow(request):
    stats["slow"] += 1
    until = time.ticks_add(time.ticks_ms(), 100)
    while time.ticks_diff(until, time.ticks_ms()) > 0:
        pass
    return "slow"


@app.get("/count")
def count(request):
    stats["count"] += 1
    return "counted"


@app.get("/import")
def try_import(request):
    name = request.query.get("name")
    try:
        __import__(name)
        return "imported"
    except ImportError as e:
        return "ImportError: %s" % e


remembered = {}


@app.get("/remember")
def remember(request):
    remembered["request"] = request
    return "remembered"


@app.get("/remembered-peer")
def remembered_peer(request):
    # The remembered request's connection, looked up by its id (it may be set aside, waiting for its client).
    addr = remembered["request"].client_addr
    return "%s:%d" % addr if addr else "gone"


@app.get("/")
def index(request):
    return "ok"


app.run()
