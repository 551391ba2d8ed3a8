# The soak test's app: small answers, 1 MiB both ways, errors, a WebSocket
# echo, printing, and a feed broadcast to SSE and WebSocket subscribers (some
# of which never read: the per-connection send cap must hold).
import mongoose

app = mongoose.App()
MIB = b"s" * (1024 * 1024)
FEED = "f" * (64 * 1024)


@app.get("/print/<int:n>")
def printed(req, n):
    for i in range(10):
        print("soak line", n, i)
    return "printed"


@app.sse("/feed")
def feed(stream, request):
    stream.send("hello")


@app.websocket("/feed-ws")
def feed_ws(sock, data):
    pass


def tick():
    app.broadcast("/feed", FEED)
    app.broadcast("/feed-ws", FEED)


mongoose.timer(50, tick, repeat=True)


@app.get("/small/<int:n>")
def small(req, n):
    return {"n": n, "twice": n * 2}


@app.post("/echo")
def echo(req):
    return req.body


@app.get("/mib")
def mib(req):
    return MIB


@app.get("/boom")
def boom(req):
    raise ValueError("planned failure")


@app.websocket("/ws")
def ws(sock, data):
    sock.send(data)


app.run()
