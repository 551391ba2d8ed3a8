# Handlers that never end, allocate without end or recurse without end: each
# request fails alone (503 / 500) and the same instance goes on serving.
import mongoose

app = mongoose.App()
state = {"timer_runs": 0, "after_spin": 0}


@app.get("/spin")
def spin(req):
    while True:
        pass


@app.get("/swallow")
def swallow(req):
    # An app that catches everything it can still cannot keep the server.
    while True:
        try:
            while True:
                pass
        except Exception:
            pass


@app.get("/work/<int:ms>")
def work(req, ms):
    # Busy for about ms milliseconds, then answers.
    import time
    end = time.ticks_add(time.ticks_ms(), ms)
    n = 0
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        n += 1
    return "done %d" % (n > 0)


@app.get("/alloc")
def alloc(req):
    hog = []
    while True:
        hog.append(bytearray(256 * 1024))


@app.get("/recurse")
def recurse(req):
    def down(n):
        return down(n + 1) + 1
    return str(down(0))


@app.get("/stream-spin")
def stream_spin(req):
    def body():
        yield "first\n"
        while True:
            pass
    return body()


@app.get("/timer-spin")
def timer_spin(req):
    def runaway():
        state["timer_runs"] += 1
        while True:
            pass
    mongoose.timer(10, runaway)
    return "armed"


@app.get("/state")
def get_state(req):
    return state


@app.websocket("/ws")
def ws_message(ws, data):
    if data == "spin":
        while True:
            pass
    ws.send("echo " + data)


@app.get("/ok")
def ok(req):
    return "ok"


app.run()
