# Shared by the other modules: the C events, the connections watched after their request, timers, failures, logging.
import _mongoose
from _asyncio import Task as _Task

_DRAIN, _WS_MSG, _CLOSE = _mongoose.DRAIN, _mongoose.WS_MSG, _mongoose.CLOSE
# Raised inside a callback that runs longer than the host's CPU budget. A
# BaseException, so an app's `except Exception` does not swallow it; the
# server's own handlers catch it (_FAILURES): a request not answered yet gets
# 503.
BudgetExceeded = _mongoose.BudgetExceeded
_FAILURES = (Exception, BudgetExceeded)
_TEXT = "Content-Type: text/plain; charset=utf-8\r\n"

# Connections that get events after their request: id -> _Stream/WebSocket/EventStream, or the
# asyncio Task answering it.
_watched = {}


def _dispatch(ev, conn, data=None):
    # Events after a request; requests themselves go to the on_request
    # given to listen().
    obj = _watched.get(conn)
    if obj is None:
        return
    if ev == _DRAIN:
        obj._drain()
    elif ev == _WS_MSG:
        obj._message(data)
    elif ev == _CLOSE:
        del _watched[conn]
        if type(obj) is _Task:
            obj.cancel()  # an async handler's: the client left before its answer
        else:
            obj._closed()


def _log_exception(heading, exc):
    _mongoose.log_exception(heading, exc)


def timer(ms, fn, repeat=False):
    """Call fn() after ms milliseconds (every ms if repeat), from inside poll()."""
    return Timer(_mongoose.timer(ms, fn, repeat))


class Timer:
    def __init__(self, tid):
        self._id = tid

    def cancel(self):
        _mongoose.cancel(self._id)
