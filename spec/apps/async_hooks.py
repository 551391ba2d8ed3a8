# async hooks and error handlers, with the app's own asyncio.run(main())
# (spec/e2e/asyncio.test.ts).
import asyncio

from mongoose import App, HTTPError

app = App()
seen = []


@app.before_request
async def before(req):
    await asyncio.sleep(0)
    if req.path == "/blocked":
        return "blocked by an async hook\n", 403


@app.after_request
async def after(req, resp):
    await asyncio.sleep(0)
    resp.headers["X-After"] = "async"


@app.errorhandler(404)
async def not_found(req, e):
    await asyncio.sleep(0)
    return "no such page (async)\n", 404


@app.get("/")
def index(req):
    return "sync handler, async hooks\n"


@app.get("/teapot")
async def teapot(req):
    raise HTTPError(418)


async def main():
    asyncio.create_task(note_start())
    await app.start_server()


async def note_start():
    seen.append("started")


@app.get("/seen")
def get_seen(req):
    return ",".join(seen)


asyncio.run(main())
