# Test app for spec/app.test.ts: an App exercising every feature of the
# Flask/Microdot-style API (routing, Request, Response, streaming, hooks,
# error handlers, auth, timers).
import mongoose
from mongoose import App, Response, abort, redirect

app = App()


# ---- Routing ----------------------------------------------------------------

@app.get("/")
def index(req):
    return "<h1>webapp</h1>"


@app.get("/hello/<name>")
def hello(req, name):
    return "hello " + name


@app.get("/items/<int:item_id>")
def item(req, item_id):
    # The type proves the conversion: an int, not a str.
    return {"id": item_id, "type": type(item_id).__name__, "next": item_id + 1}


@app.get("/files/<path:rest>")
def files(req, rest):
    return {"rest": rest}


@app.get("/users/<int:uid>/posts/<slug>")
def user_post(req, uid, slug):
    return {"uid": uid, "slug": slug}


@app.route("/multi", methods=("GET", "POST"))
def multi(req):
    return "multi " + req.method


@app.put("/thing")
def thing_put(req):
    return "put " + req.text


@app.patch("/thing")
def thing_patch(req):
    return "patch " + req.text


@app.delete("/thing")
def thing_delete(req):
    return "", 204


@app.post("/only-post")
def only_post(req):
    return "posted"


# ---- Request fields ---------------------------------------------------------

@app.get("/query")
def query(req):
    q = req.query
    return {
        "a": q.get("a"),
        "alist": q.getlist("a"),
        "b": q.get("b"),
        "missing": q.get("zzz", "dflt"),
        "missing_list": q.getlist("zzz"),
        "keys": sorted(q.keys()),
        "raw": req.query_string,
    }


@app.get("/headers")
def headers(req):
    h = req.headers
    return {
        "lower": h.get("x-custom-thing"),
        "upper": h.get("X-CUSTOM-THING"),
        "item": h["X-Custom-Thing"],
        "has": "x-CUSTOM-thing" in h,
        "absent": h.get("X-Not-There"),
        "absent_in": "X-Not-There" in h,
    }


@app.post("/echo")
def echo(req):
    # bytes back as they came; the type and length tell the test it was bytes
    return Response(req.body, 200, {"X-Body-Type": type(req.body).__name__, "X-Body-Len": str(len(req.body))})


@app.post("/body-as-key")
def body_as_key(req):
    # The body's hash is computed only when needed (c/mod/text.c pg_new_bytes):
    # equality, hash() and dict lookups must still agree with a literal.
    b = req.body
    d = {b: "found"}
    return {"equal": b == b"key-1", "hash": hash(b) == hash(b"key-1"), "lookup": d.get(b"key-1"),
            "in": b"key-1" in d, "other": b == b"key-2"}


@app.post("/text")
def text(req):
    t = req.text
    return {"type": type(t).__name__, "text": t, "len": len(t)}


@app.post("/json")
def json_route(req):
    data = req.json()
    return {"got": data, "type": type(data).__name__}


@app.post("/form")
def form(req):
    f = req.form
    return {"name": f.get("name"), "tags": f.getlist("tag"), "empty": f.get("empty"), "n": len(f)}


@app.get("/cookies")
def cookies(req):
    return req.cookies


@app.get("/client")
def client(req):
    addr = req.client_addr
    return {"type": type(addr).__name__, "addr": list(addr) if addr is not None else None}


@app.get("/whoami")
def whoami(req):
    a = req.authorization
    return {"auth": list(a) if a is not None else None}


@app.get("/reqinfo")
def reqinfo(req):
    return {"method": req.method, "path": req.path, "query_string": req.query_string}


# ---- Response forms ---------------------------------------------------------

@app.get("/r/str")
def r_str(req):
    return "<p>a str</p>"


@app.get("/r/bytes")
def r_bytes(req):
    return b"\x00\x01\x02\xff"


@app.get("/r/dict")
def r_dict(req):
    return {"k": "v", "n": [1, 2, 3], "nested": {"t": True, "none": None}}


@app.get("/r/list")
def r_list(req):
    return [1, "two", {"three": 3}]


@app.get("/r/tuple-status")
def r_tuple_status(req):
    return "created", 201


@app.get("/r/tuple-headers")
def r_tuple_headers(req):
    return "with headers", 202, {"X-One": "1", "X-Two": "two", "Content-Type": "text/plain; charset=utf-8"}


@app.get("/r/dict-status")
def r_dict_status(req):
    return {"error": "nope"}, 418


@app.get("/r/cookie")
def r_cookie(req):
    resp = Response("cookies set", 200, None, "text/plain; charset=utf-8")
    resp.set_cookie("session", "abc123", max_age=3600, http_only=True, same_site="Lax")
    resp.set_cookie("theme", "dark", path="/app", secure=True, domain="example.com")
    return resp


@app.get("/r/delcookie")
def r_delcookie(req):
    return Response("bye").delete_cookie("session")


@app.get("/r/redirect")
def r_redirect(req):
    return redirect("/hello/redirected")


@app.get("/r/redirect301")
def r_redirect301(req):
    return redirect("https://example.com/moved", 301)


@app.get("/r/response-tuple")
def r_response_tuple(req):
    return Response("resp", 200, {"X-Orig": "o"}), 203, {"X-Added": "a"}


@app.get("/r/bad-header")
def r_bad_header(req):
    return "x", 200, {"X-Bad": "a\r\nX-Injected: yes"}


@app.get("/r/bad-header-name")
def r_bad_header_name(req):
    return "x", 200, {"X-Bad\r\nX-Injected": "yes"}


@app.get("/r/bad-status")
def r_bad_status(req):
    return "x", 99


@app.get("/r/framing")
def r_framing(req):
    # Framing headers from the app would contradict the server's own.
    return "abc", 200, {"Content-Length": "10", "Transfer-Encoding": "chunked"}


@app.get("/stream/framing")
def stream_framing(req):
    return iter(["ab", "cd"]), 200, {"Content-Length": "99"}


@app.get("/r/none")
def r_none(req):
    return None


# ---- Streaming --------------------------------------------------------------

@app.get("/stream")
def stream(req):
    def gen():
        yield "one,"
        yield b"two,"
        yield ""  # empty chunks are skipped, not the end
        yield "three"
    return gen()


_BLOCK = bytes(range(256)) * 256  # 64 KiB


@app.get("/stream/big")
def stream_big(req):
    n = int(req.query.get("n", "32"))

    def gen():
        for i in range(n):
            # chunk i is the block rotated by i: every chunk differs
            yield _BLOCK[i:] + _BLOCK[:i]
    return gen(), 200, {"Content-Type": "application/octet-stream"}


@app.get("/stream/fail")
def stream_fail(req):
    def gen():
        yield "part1,"
        yield "part2,"
        raise RuntimeError("generator broke on purpose")
    return gen()


@app.get("/stream/list")
def stream_list(req):
    # a non-str/bytes/dict/list iterable: a tuple of chunks
    return Response(("a", "b", "c"), 200, None, "text/plain")


# ---- Hooks and errors -------------------------------------------------------

@app.before_request
def before(req):
    req.g["seen"] = True
    if req.path == "/blocked":
        return "blocked by before_request", 403
    if req.headers.get("X-Short-Circuit") == "1":
        return {"short": True}


@app.after_request
def after(req, resp):
    resp.headers["X-After"] = "yes"
    resp.headers["X-Before-Ran"] = "1" if req.g.get("seen") else "0"
    return resp


@app.errorhandler(404)
def not_found(req, e):
    return "custom 404 for " + req.path, 404, {"Content-Type": "text/plain; charset=utf-8"}


class AppValueError(ValueError):
    pass


@app.errorhandler(ValueError)
def value_error(req, e):
    return {"error": "value", "message": str(e)}, 422


@app.get("/raise/value")
def raise_value(req):
    raise ValueError("bad value here")


@app.get("/raise/subvalue")
def raise_subvalue(req):
    raise AppValueError("a subclass")


@app.get("/raise/runtime")
def raise_runtime(req):
    raise RuntimeError("handler exploded on purpose")


@app.get("/abort/403")
def abort_403(req):
    abort(403)


@app.get("/abort/msg")
def abort_msg(req):
    abort(409, "already there")


# ---- Auth ---------------------------------------------------------------------

def check_admin(user, pwd):
    return user == "admin" and pwd == "s3cret"


def check_alice(user, pwd):
    return user == "alice" and pwd == "wonderland"


app.basic_auth(check_admin, prefix="/admin/", realm="admin area")


@app.get("/admin/panel")
def admin_panel(req):
    return "panel for " + req.authorization[0]


@app.get("/private", auth=check_alice)
def private(req):
    return "private for " + req.authorization[0]


# ---- Timers -------------------------------------------------------------------

counters = {"repeat": 0, "cancelled": 0, "once": 0}


def tick():
    counters["repeat"] += 1


def tick_cancellable():
    counters["cancelled"] += 1


def once():
    counters["once"] += 1


mongoose.timer(40, tick, True)
cancellable = mongoose.timer(40, tick_cancellable, True)
mongoose.timer(60, once)


@app.get("/timers")
def timers(req):
    return counters


@app.post("/timers/cancel")
def timers_cancel(req):
    cancellable.cancel()
    cancellable.cancel()  # twice is harmless
    return counters


app.run()
