# Test app for spec/e2e/tls.test.ts, served over HTTPS (--tls-cert): bodies
# both ways, what the request knows of TLS, a WebSocket and an event stream.
from mongoose import App

app = App(static=False)


def pattern(n):
    block = bytes(range(256))
    return (block * (n // 256 + 1))[:n]


@app.get("/")
def index(req):
    return "hello over TLS"


@app.post("/echo")
def echo(req):
    return req.body


@app.get("/big/<int:n>")
def big(req, n):
    return pattern(n)


@app.get("/who")
def who(req):
    return {"scheme": req.scheme, "server_name": req.server_name}


@app.websocket("/ws")
def ws_echo(ws, data):
    ws.send(data)


@app.sse("/events")
def events(stream, req):
    stream.send("one", event="n", id=1)
    stream.send("two", event="n", id=2)
    stream.close()


app.run()
