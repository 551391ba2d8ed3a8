# A multi-file app (spec/e2e/app-bundle.test.ts): a package with a relative
# import, a vendored module in lib/, a template and a JSON config read from
# /app, and a counter and a log kept in /data.
import errno
import json
import os

import mongoose
import shop
from shop.prices import total
from vendored import shout

app = mongoose.App()
config = json.load(open("config.json"))


@app.get("/")
def index(req):
    with open("templates/page.html") as f:
        return f.read().replace("{{title}}", config["title"])


@app.get("/total")
def get_total(req):
    return {"total": total([1, 2, 3]), "currency": shop.CURRENCY, "shout": shout("ok"), "cwd": os.getcwd()}


@app.get("/listing")
def listing(req):
    return {"root": sorted(os.listdir("/")), "app": sorted(os.listdir("/app")), "shop": sorted(os.listdir("shop"))}


def errno_of(f):
    try:
        f()
    except OSError as e:
        return errno.errorcode.get(e.errno, e.errno)
    return "no error"


@app.get("/readonly")
def readonly(req):
    return {
        "open_w": errno_of(lambda: open("/app/new.txt", "w")),
        "open_a": errno_of(lambda: open("config.json", "a")),
        "remove": errno_of(lambda: os.remove("/app/config.json")),
        "rename": errno_of(lambda: os.rename("/app/config.json", "/app/x.json")),
        "mkdir": errno_of(lambda: os.mkdir("/app/newdir")),
        "outside_read": errno_of(lambda: open("/etc/passwd")),
        "outside_dotdot": errno_of(lambda: open("../../etc/passwd")),
        "outside_write": errno_of(lambda: open("/tmp.txt", "w")),
        "no_data": errno_of(lambda: open("/data/x", "w")) if "data" not in os.listdir("/") else "mounted",
    }


@app.get("/file-api")
def file_api(req):
    # The bundle's files behave as files: whole and partial reads, lines, seek.
    out = {}
    with open("templates/lines.txt") as f:
        out["whole"] = f.read()
        out["again"] = f.read()
        f.seek(0)
        out["first"] = f.readline()
        out["rest"] = [line for line in f]
    with open("templates/lines.txt", "rb") as f:
        out["head"] = f.read(3).decode()
        out["tell"] = f.tell()
        out["tail"] = f.read().decode()
        buf = bytearray(5)
        f.seek(-7, 2)
        out["readinto"] = f.readinto(buf)
        out["buf"] = bytes(buf).decode()
        out["view"] = len(memoryview(f))
    out["same"] = open("templates/lines.txt").read() is open("templates/lines.txt").read()
    out["isdir"] = errno_of(lambda: open("templates"))
    out["missing"] = errno_of(lambda: open("templates/nope.html"))
    return out


@app.get("/count")
def count(req):
    try:
        with open("/data/count") as f:
            n = int(f.read())
    except OSError:
        n = 0
    with open("/data/count", "w") as f:
        f.write(str(n + 1))
    return str(n + 1)


@app.post("/append")
def append(req):
    # Acknowledged only once the line is closed, so durable.
    with open("/data/log", "a") as f:
        f.write(req.query.get("v") + "\n")
    # And a whole-file rewrite: after a kill, the old contents or the new.
    with open("/data/state", "w") as f:
        f.write((req.query.get("v") + ":") * 700)
    return "ok"


@app.get("/log")
def log(req):
    try:
        with open("/data/log") as f:
            lines = f.read()
    except OSError:
        lines = ""
    try:
        with open("/data/state") as f:
            state = f.read()
    except OSError:
        state = ""
    return {"log": lines, "state": state}


@app.get("/fill")
def fill(req):
    written = 0
    try:
        with open("/data/big", "wb") as f:
            while True:
                f.write(b"x" * 4096)
                written += 4096
    except OSError as e:
        code = errno.errorcode.get(e.errno, e.errno)
    os.remove("/data/big")
    return {"error": code, "written": written}


@app.get("/stuck")
def stuck(req):
    # One long C computation the CPU budget cannot interrupt: the watchdog replaces the instance.
    # About 10 s (as spec/apps/crash.py's); not a constant: the compiler would fold it at import.
    n = int(req.query.get("n", "120000"))
    return str(7**n)[:10]


@app.get("/trap")
def trap(req):
    nested = []
    for _ in range(200000):
        nested = [nested]
    return repr(nested)


app.run()
