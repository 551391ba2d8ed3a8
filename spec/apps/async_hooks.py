# async hooks and error handlers, with the app's own asyncio.run(main())
# (spec/e2e/asyncio.test.ts).
import asyncio

from mongoose import App, HTTPError

app = App()
seen = []


@app.before_request
async def before(req):
    if req.path == "/ws":  # a handshake is answered at once: this part must not wait
        return None if req.query.get("token") == "ok" else ("no token\n", 401)
    await asyncio.sleep(0)
    if req.path == "/blocked":
        return "blocked by an async hook\n", 403


@app.after_request
async def after(req, resp):
    if not req.path.startswith("/ws"):
        await asyncio.sleep(0)
    resp.headers["X-After"] = "async"


@app.errorhandler(404)
async def not_found(req, e):
    await asyncio.sleep(0)
    return "no such page (async)\n", 404


@app.errorhandler(405)
async def not_allowed(req, e):
    await asyncio.sleep(0)
    return "not allowed (async)\n", 405


@app.errorhandler(LookupError)
async def spin_on_lookup(req, e):
    await asyncio.sleep(0)
    while True:
        pass


@app.get("/spin-in-error-handler")
def lookup_fails(req):
    raise KeyError("no such key")


@app.get("/")
def index(req):
    return "sync handler, async hooks\n"


@app.get("/teapot")
async def teapot(req):
    raise HTTPError(418)


@app.websocket("/ws")
def echo(ws, data):
    ws.send("hooked " + data)


@app.websocket("/ws-wait")  # its hook waits: the handshake fails with 500
def echo_wait(ws, data):
    ws.send(data)


async def main():
    asyncio.create_task(note_start())
    await app.start_server()


async def note_start():
    seen.append("started")


@app.get("/seen")
def get_seen(req):
    return ",".join(seen)


asyncio.run(main())
