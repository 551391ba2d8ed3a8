# A multi-file app: node dist/server.js examples/notes --data notes.img
# Its code, template and config come from the bundle (/app, read-only); the
# notes it keeps live on the data volume (/data) and survive restarts.
import json

import mongoose
from lib.store import Store

app = mongoose.App()
with open("config.json") as f:
    config = json.load(f)
with open("templates/index.html") as f:
    page = f.read()
store = Store("/data/notes.json", limit=config["max_notes"])


def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@app.get("/")
def index(req):
    items = "".join("<li>%s</li>" % escape(n) for n in store.notes)
    return page.replace("{{title}}", escape(config["title"])).replace("{{notes}}", items)


@app.get("/notes")
def list_notes(req):
    return {"notes": store.notes}


@app.post("/notes")
def add_note(req):
    text = req.json().get("text", "") if req.body else ""
    if not text:
        return {"error": "text is required"}, 400
    try:
        store.add(text)
    except OSError as e:  # errno.ENOSPC: the volume is full
        return {"error": "cannot save: %s" % e}, 507
    return {"notes": store.notes}, 201


app.run()
