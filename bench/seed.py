# The seed's program as the bench serves it: examples/seed/main.py without its print.
import mongoose


def api_cb(body):
    return "epname: pythongoose"


def auth_cb(user, pwd):
    return user == "admin" and pwd == "istrator"


mongoose.init(api_cb, auth_cb)
while True:
    mongoose.poll(1000)
