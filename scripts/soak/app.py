# The soak test's app: small answers, 1 MiB both ways, errors, a WebSocket echo.
import mongoose

app = mongoose.App()
MIB = b"s" * (1024 * 1024)


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
