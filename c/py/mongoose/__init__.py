# The `mongoose` module: the seed's API (init, poll) and a Flask/Microdot-style
# App, in Python over the thin C layer `_mongoose`. Frozen into the guest.
# Its submodules import one way, each only from those named before it:
#   core; loop (core); response (core); request (core, response); seed (core, request);
#   sockets (core, loop); app (core, loop, request, response, sockets); client (core, loop, request, response)
import json  # in the namespace as it always was (`from mongoose import *` brings it)

from _mongoose import poll

from .core import BudgetExceeded, Timer, timer
from .response import HTTPError, Response, abort, redirect
from .request import Headers, MultiDict, Request
from .seed import init
from .sockets import EventStream, WebSocket
from .app import App
from .client import ClientResponse, MQTTclient, fetch

# The submodules stay in sys.modules; out of the namespace, so that it holds
# just the API (MicroPython's `import *` takes every public name, not __all__).
del core, loop, response, request, seed, sockets, app, client

__all__ = ("init", "poll", "timer", "App", "Request", "Response", "WebSocket", "EventStream",
           "HTTPError", "abort", "redirect", "MQTTclient", "fetch", "ClientResponse", "BudgetExceeded")
