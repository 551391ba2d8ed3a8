# The seed's program: an HTTP API with Basic auth, served by Mongoose.
import mongoose


def api_cb(body):
    print("f1", body)
    return "epname: pythongoose"


def auth_cb(user, pwd):
    return user == "admin" and pwd == "istrator"


mongoose.init(api_cb, auth_cb)
while True:
    mongoose.poll(1000)
