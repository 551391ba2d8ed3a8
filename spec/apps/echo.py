# Test app: echoes bodies, makes big responses, raises, allocates.
import mongoose

last_creds = []


def api_cb(body):
    if isinstance(body, bytes):
        return b"bytes:" + body
    if body.startswith("big:"):
        n = int(body[4:])
        return "x" * n
    if body.startswith("strings:"):
        # Long strs (not looked up among the interned ones) and short ones
        # (which may be interned) must compare, hash and key dicts alike.
        n = int(body[8:])
        a = "k" * n + "!"
        b = "".join(["k"] * n) + "!"
        d = {a: 1}
        short = "ap" + "i_cb"
        ok = a == b and hash(a) == hash(b) and d[b] == 1 and b in d and short == "api_cb" and {short: 2}["api_cb"] == 2
        return "ok %d" % len(b) if ok else "mismatch %d" % n
    if body == "raise":
        raise ValueError("handler failed on purpose")
    if body.startswith("slow:"):
        import time
        time.sleep_ms(300)
        return body
    if body == "mem":
        import gc
        return "%d %d" % (gc.mem_alloc(), gc.mem_free())
    if body == "whoami":
        user, pwd = last_creds[-1]
        return user + "\n" + pwd
    if body.startswith("alloc:"):
        # Build nested containers, strings and closures, then check them.
        n = int(body[6:])
        items = [{"k": str(i), "v": [i, i * 2, (i, str(i * 3))]} for i in range(n)]
        fns = [(lambda j: (lambda: j * 7))(i) for i in range(n)]
        total = 0
        for i, item in enumerate(items):
            if item["k"] != str(i) or item["v"][2][1] != str(i * 3) or fns[i]() != i * 7:
                return "corrupt at %d" % i
            total += item["v"][1]
        return "sum=%d" % total
    return body


def auth_cb(user, pwd):
    last_creds.append((user, pwd))
    if len(last_creds) > 4:
        last_creds.pop(0)
    if user == "boom":
        raise RuntimeError("auth exploded")
    if user == "raw":
        return pwd == b"\xffA"  # not UTF-8, so bytes
    return (user, pwd) in (("admin", "istrator"), ("we ird", "p:a:ss w"), ("ünï", "pässwörd✓"), ("long", "y" * 3000))


mongoose.init(api_cb, auth_cb)
while True:
    mongoose.poll(1000)
