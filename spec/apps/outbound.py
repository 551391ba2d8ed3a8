# Test app for spec/outbound.test.ts: drives the guest's outbound clients
# (mongoose.fetch, mongoose.MQTTclient) from HTTP routes. A handler cannot
# wait for the network, so each route *starts* an action and the results land
# in module-level dicts that the test polls.
import mongoose
from mongoose import App

app = App(static=False)

fetches = {}  # id -> None (pending) or the ClientResponse
clients = {}  # name -> MQTTclient
records = {}  # name -> what the client saw


def pattern(n):
    """n bytes: 0, 1, ..., 255, 0, 1, ... (the test checks the same pattern)."""
    block = bytes(range(256))
    return (block * (n // 256 + 1))[:n]


def raised(e):
    return {"raised": "%s: %s" % (type(e).__name__, e)}


# ---- fetch ------------------------------------------------------------------

@app.post("/fetch")
def start_fetch(req):
    spec = req.json()
    fid = spec["id"]
    body = spec.get("body")
    if "body_pattern" in spec:
        body = pattern(spec["body_pattern"])
    kwargs = {}
    for key in ("method", "headers", "timeout", "max_body"):
        if key in spec:
            kwargs[key] = spec[key]

    def done(resp):
        if fetches.get(fid) is not None:
            fetches[fid + ":again"] = resp  # callback ran twice: the test looks for this
        fetches[fid] = resp

    fetches[fid] = None
    try:
        mongoose.fetch(spec["url"], done, body=body, **kwargs)
    except Exception as e:
        del fetches[fid]
        return raised(e)
    return {"started": fid}


@app.get("/fetch/<fid>")
def fetch_result(req, fid):
    if fid not in fetches:
        return {"known": False}
    resp = fetches[fid]
    if resp is None:
        return {"known": True, "done": False}
    small = len(resp.body) <= 65536
    return {
        "known": True,
        "done": True,
        "twice": (fid + ":again") in fetches,
        "status": resp.status,
        "ok": resp.ok,
        "error": resp.error,
        "headers": [[k, v] for k, v in resp.headers.items()],
        "x_echo": resp.headers.get("X-ECHO"),
        "length": len(resp.body),
        "body": resp.body.decode() if small else None,
        "json": resp.json() if small and resp.headers.get("content-type") == "application/json" else None,
    }


@app.get("/fetch/<fid>/body")
def fetch_body(req, fid):
    return fetches[fid].body


# ---- MQTT -------------------------------------------------------------------

@app.post("/mqtt/new")
def mqtt_new(req):
    spec = req.json()
    name = spec["name"]
    rec = {"connects": 0, "disconnects": 0, "errors": [], "messages": []}
    records[name] = rec

    def on_connect():
        rec["connects"] += 1
        for topic, qos in spec.get("subs", []):
            client.sub(topic, qos)

    def on_publish(topic, msg):
        rec["messages"].append((topic, msg))

    def on_disconnect():
        rec["disconnects"] += 1

    def on_error(err):
        rec["errors"].append(err)

    client = mongoose.MQTTclient(on_connect, on_publish, client_id=spec.get("client_id", ""),
                                 keepalive=spec.get("keepalive", 60), on_disconnect=on_disconnect,
                                 on_error=on_error)
    clients[name] = client
    client.connect(spec["url"], will_topic=spec.get("will_topic", ""), will_msg=spec.get("will_msg", ""),
                   will_qos=spec.get("will_qos", 0), will_retain=spec.get("will_retain", False))
    return {"state": client.state}


@app.get("/mqtt/<name>")
def mqtt_status(req, name):
    client = clients[name]
    rec = records[name]
    return {
        "state": client.state,
        "connected": client.connected,
        "error": client.error,
        "connects": rec["connects"],
        "disconnects": rec["disconnects"],
        "errors": rec["errors"],
        "messages": [
            {"topic": t, "length": len(m), "msg": m.decode() if len(m) <= 1024 else None}
            for t, m in rec["messages"]
        ],
    }


@app.get("/mqtt/<name>/message/<int:i>")
def mqtt_message(req, name, i):
    return records[name]["messages"][i][1]


@app.post("/mqtt/<name>/<action>")
def mqtt_action(req, name, action):
    client = clients[name]
    spec = req.json() if req.body else {}
    try:
        if action == "pub":
            msg = pattern(spec["pattern"]) if "pattern" in spec else spec["msg"]
            return {"ok": client.pub(spec["topic"], msg, spec.get("qos", 0), spec.get("retain", False))}
        if action == "sub":
            return {"ok": client.sub(spec["topic"], spec.get("qos", 0))}
        if action == "unsub":
            return {"ok": client.unsub(spec["topic"])}
        if action == "disconnect":
            return {"ok": client.disconnect()}
        if action == "connect":
            return {"ok": client.connect(spec["url"])}
    except Exception as e:
        return raised(e)
    return {"raised": "unknown action " + action}, 404


app.run()
