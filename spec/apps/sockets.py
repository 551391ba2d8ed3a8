# Test app: WebSocket and Server-Sent Events routes (spec/websocket.test.ts).
import mongoose
from mongoose import App

app = App()

# What the handlers saw, for GET /log?key=... (the tests read it over HTTP).
log = {}


def note(key, entry):
    log.setdefault(key, []).append(entry)


@app.get("/log")
def get_log(request):
    return {"entries": log.get(request.query.get("key"), [])}


@app.get("/clients/<path:name>")
def clients(request, name):
    return {"count": len(app.clients("/" + name))}


# -- WebSocket: a function handler ------------------------------------------

def echo_open(ws, request):
    ws.tag = request.query.get("tag")
    if ws.tag:
        note("echo", "open " + ws.tag)


def echo_close(ws):
    if ws.tag:
        note("echo", "close " + ws.tag)


@app.websocket("/echo", open=echo_open, close=echo_close)
def echo(ws, data):
    if data == "close-me":
        ws.close(4001, "bye now")
    elif data == "close-then-send":
        ws.close(4002, "closed first")
        try:
            ws.send("after close")
            note("echo", "sent after close")
        except OSError as e:
            note("echo", "send after close: OSError " + str(e))
    elif data == "raise":
        raise ValueError("ws handler failed on purpose")
    elif data == "type":
        ws.send(type(data).__name__)
    elif isinstance(data, bytes) and data[:5] == b"type?":
        ws.send("bytes:%d" % len(data))
    else:
        ws.send(data)


# -- WebSocket: a class handler, one instance per socket ---------------------

@app.websocket("/life")
class Life:
    def open(self, ws, request):
        self.name = request.query.get("name", "anon")
        self.count = 0
        note("life", "open " + self.name)

    def message(self, ws, data):
        self.count += 1
        note("life", "message %s %s" % (self.name, data))
        ws.send("%s#%d: %s" % (self.name, self.count, data))

    def close(self, ws):
        note("life", "close %s after %d" % (self.name, self.count))


# -- WebSocket: broadcast ----------------------------------------------------

@app.websocket("/chat")
def chat(ws, data):
    if data.startswith("app:"):
        app.broadcast("/chat", data[4:])
    else:
        ws.broadcast(data)


@app.post("/chat/announce")
def announce(request):
    app.broadcast("/chat", "announce: " + request.text)
    return "sent to %d\n" % len(app.clients("/chat"))


# -- WebSocket: a timer pushes ticks -----------------------------------------

def ticker_open(ws, request):
    n = int(request.query.get("n", "3"))
    state = {"i": 0}

    def tick():
        state["i"] += 1
        try:
            ws.send("tick %d" % state["i"])
        except OSError:
            t.cancel()
            return
        if state["i"] >= n:
            t.cancel()
            ws.close(1000, "done ticking")

    t = mongoose.timer(20, tick, True)


@app.websocket("/ticker", open=ticker_open)
def ticker(ws, data):
    pass


# An open handler that raises: the socket is closed with 1011.
def bad_open(ws, request):
    raise RuntimeError("open failed on purpose")


@app.websocket("/bad-open", open=bad_open)
def bad(ws, data):
    ws.send(data)


# -- Server-Sent Events ------------------------------------------------------

@app.sse("/events")
def events(stream, request):
    name = request.query.get("name", "anon")
    note("sse", "open " + name)

    def closed(s):
        note("sse", "close " + name)

    stream.on_close = closed
    stream.send("hello", event="greeting", id=1)
    stream.send("line one\nline two\nline three", id=2)
    stream.send({"json": [1, 2]}, event="data")
    if request.query.get("close") == "1":
        stream.close()


@app.sse("/feed")
def feed(stream, request):
    stream.send("welcome", event="hello")


@app.post("/feed/broadcast")
def feed_broadcast(request):
    app.broadcast("/feed", request.text, event="news")
    return "sent to %d\n" % len(app.clients("/feed"))


@app.sse("/sse-bad")
def sse_bad(stream, request):
    stream.send("about to fail")
    raise RuntimeError("sse handler failed on purpose")


@app.sse("/timed")
def timed(stream, request):
    state = {"i": 0}

    def push():
        state["i"] += 1
        stream.send("push %d" % state["i"], id=state["i"])
        if state["i"] >= 3:
            stream.close()
        else:
            mongoose.timer(20, push)

    mongoose.timer(20, push)


app.run()
