# `os` in the wasm guest: MicroPython's built-in module (its file calls), and
# the app's environment as the host handed it in (--env, --env-file,
# --secret): os.environ and os.getenv see those variables and nothing else of
# the host's.
from uos import *  # the built-in module under the name that always finds it
import _mongoose

environ = _mongoose.environ()


def getenv(key, default=None):
    return environ.get(key, default)
