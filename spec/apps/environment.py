# The app's environment (spec/e2e/environment.test.ts): os.environ holds what
# the host handed in; a secret printed, raised or requested stays out of the
# host's output.
import os

import mongoose

app = mongoose.App()
print("started with", os.getenv("API_TOKEN"))


@app.get("/env")
def env(req):
    return {"environ": dict(os.environ), "default": os.getenv("NOT_GIVEN", "fallback"), "none": os.getenv("NOT_GIVEN")}


@app.get("/leak")
def leak(req):
    print("printing the token:", os.environ["API_TOKEN"])
    raise ValueError("raised with the token " + os.environ["API_TOKEN"])


app.run()
