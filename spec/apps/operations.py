# The operations suite's app: routes answering 2xx, 4xx and 5xx, one that
# runs over its CPU budget, one that runs out of heap, one that tries an
# outbound connection no rule allows; every path it sees is remembered.
import json
import mongoose
from mongoose import App

app = App()
seen = []


@app.before_request
def remember(req):
    seen.append(req.path)


@app.route("/")
def index(req):
    return "ok\n"


@app.route("/id")
def request_id(req):
    return {"id": req.id}


@app.route("/boom")
def boom(req):
    raise ValueError("boom")


@app.route("/spin")
def spin(req):
    while True:
        pass


@app.route("/hog")
def hog(req):
    return str(len(bytearray(64 * 1024 * 1024)))


@app.route("/egress")
def egress(req):
    mongoose.fetch("http://203.0.113.7/", lambda resp: None)
    return "dialled\n"


@app.route("/seen")
def paths(req):
    return json.dumps(seen)


app.run()
