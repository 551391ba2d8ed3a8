# Output under pressure (spec/e2e/host-bounds.test.ts): floods of print()
# from a timer and from handlers, with the host's stdout not being read.
import mongoose

app = mongoose.App()
flood = None


@app.get("/flood")
def start_flood(req):
    # Every millisecond, `lines` lines of `size` bytes: gigabytes a minute.
    global flood
    line = "x" * int(req.query.get("size", "60000"))
    lines = int(req.query.get("lines", "200"))

    def tick():
        for _ in range(lines):
            print(line)

    if flood is None:
        flood = mongoose.timer(1, tick, repeat=True)
    return "flooding"


@app.get("/print")
def print_lines(req):
    # `n` numbered lines of `size` bytes, in one handler.
    n = int(req.query.get("n", "100"))
    pad = "y" * int(req.query.get("size", "1000"))
    for i in range(n):
        print("%d %s" % (i, pad))
    return "printed %d" % n


@app.get("/deny")
def deny(req):
    # `n` fetches to distinct destinations no rule allows: one host log line each, were it not rate-limited.
    n = int(req.query.get("n", "100"))
    for i in range(n):
        mongoose.fetch("http://127.0.0.1:%d/" % (20000 + i), lambda resp: None)
    return "fetching %d" % n


@app.get("/")
def index(req):
    return "ok"


app.run()
