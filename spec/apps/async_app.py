# async def handlers on MicroPython's asyncio (spec/e2e/asyncio.test.ts).
import asyncio
import json

from mongoose import App, MQTTclient, fetch

app = App()
state = {"inflight": 0, "peak": 0, "ticks": 0, "cancelled": 0, "log": []}


@app.get("/")
def index(req):
    return "sync\n"


@app.get("/fast")
async def fast(req):
    return "fast %d\n" % state["inflight"]


@app.get("/sleep")
async def sleepy(req):
    state["inflight"] += 1
    state["peak"] = max(state["peak"], state["inflight"])
    try:
        await asyncio.sleep(float(req.query.get("s", "0.5")))
    finally:
        state["inflight"] -= 1
    return "slept %s\n" % req.query.get("n", "")


@app.get("/state")
def get_state(req):
    return state


@app.get("/upstream")
async def upstream(req):
    try:
        resp = await fetch("http://127.0.0.1:%s/" % req.query.get("port"), timeout=30)
    except asyncio.CancelledError:
        state["cancelled"] += 1
        raise
    return "upstream %d %s\n" % (resp.status, resp.body.decode())


@app.get("/wait_for")
async def wait_for(req):
    try:
        await asyncio.wait_for(fetch("http://127.0.0.1:%s/" % req.query.get("port")), 0.3)
    except asyncio.TimeoutError:
        return "timed out\n"
    return "answered\n"


@app.get("/gather")
async def gather(req):
    lock = asyncio.Lock()
    ready = asyncio.Event()
    order = []

    async def worker(n):
        await ready.wait()
        async with lock:
            order.append(n)
            await asyncio.sleep(0.01)
        return n * n

    async def starter():
        await asyncio.sleep(0.05)
        ready.set()

    results = await asyncio.gather(worker(1), worker(2), worker(3), starter())
    return {"results": results[:3], "order": sorted(order)}


@app.get("/boom")
async def boom(req):
    await asyncio.sleep(0)
    raise ValueError("async handler failed on purpose")


@app.get("/spin")
async def spin(req):
    await asyncio.sleep(0)
    while True:
        pass


@app.get("/task-fails")
def task_fails(req):
    async def fail():
        await asyncio.sleep(0.01)
        raise KeyError("background task failed on purpose")
    asyncio.create_task(fail())
    return "started\n"


@app.get("/task-spins")
def task_spins(req):
    async def spin_forever():
        while True:
            pass
    asyncio.create_task(spin_forever())
    return "started\n"


@app.get("/many-tasks")
def many_tasks(req):
    done = asyncio.Event()
    made = 0
    try:
        for _ in range(int(req.query.get("n"))):
            asyncio.create_task(done.wait())
            made += 1
    except RuntimeError as e:
        done.set()
        return "made %d: %s\n" % (made, e)
    done.set()
    return "made %d\n" % made


@app.get("/mqtt")
async def mqtt(req):
    got = asyncio.Event()
    msgs = []

    async def on_publish(topic, msg):
        await asyncio.sleep(0)
        msgs.append("%s %s" % (topic, msg.decode()))
        got.set()

    client = MQTTclient(on_publish=on_publish)
    try:
        await client.connect("mqtt://127.0.0.1:%s" % req.query.get("port"))
    except OSError as e:
        client.disconnect()
        return {"error": str(e)}
    client.sub("t/async")
    client.pub("t/async", "hi")
    await asyncio.wait_for(got.wait(), 5)
    client.disconnect()
    return {"got": msgs}


@app.get("/cancel-unstarted")
def cancel_unstarted(req):
    async def nap():
        await asyncio.sleep(10)

    for _ in range(int(req.query.get("n"))):
        asyncio.create_task(nap()).cancel()
    return "cancelled\n"


shared = {}


@app.get("/shared")
async def await_shared(req):
    if "task" not in shared or shared["task"].done():
        async def long_job():
            await asyncio.sleep(30)
        shared["task"] = asyncio.create_task(long_job())
    await shared["task"]
    return "shared task done\n"


@app.get("/cancel-shared")
def cancel_shared(req):
    shared["task"].cancel()
    return "cancelled\n"


async def _inner(req):
    await asyncio.sleep(0)
    return "never"


@app.get("/wrapped")
def wrapped(req):
    return _inner(req)  # an async handler behind a sync wrapper: its coroutine is taken as a body


@app.sse("/events")
async def events(stream, req):
    await asyncio.sleep(0.01)
    stream.send("from an async handler", event="hello")


@app.websocket("/ws")
class Echo:
    async def message(self, ws, data):
        await asyncio.sleep(0.01)
        ws.send("echo " + data)


async def ticker():
    while True:
        await asyncio.sleep(0.05)
        state["ticks"] += 1


asyncio.create_task(ticker())
app.run()
