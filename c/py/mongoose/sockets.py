# WebSocket and Server-Sent Events: one open socket or event stream each.
import json

import _mongoose

from .core import _FAILURES, BudgetExceeded, _log_exception, _watched
from .loop import create_task, follow, is_coroutine

# Messages that wait for a WebSocket's async message handler, per socket.
WS_WAITING_MAX = 64


class WebSocket:
    """One open WebSocket. send() takes str (text) or bytes (binary)."""

    def __init__(self, conn, request, route):
        self.conn = conn
        self.request = request
        self.route = route
        self.closed = False
        self.handler = None
        self._waiting = None  # while an async message handler runs: the messages after it

    def send(self, data):
        """Queue a message. True if queued; False if the client was not taking
        what it was sent (its send buffer over --max-send-buffer): the socket is
        then closed with 1013 and the message dropped. OSError once closed."""
        if self.closed:
            raise OSError("WebSocket is closed")
        if not isinstance(data, (str, bytes)):
            data = bytes(data)
        return _mongoose.ws_send(self.conn, data)

    def close(self, code=1000, reason=""):
        if not self.closed:
            _mongoose.close(self.conn, code, reason)

    def broadcast(self, data):
        """Send to every open socket of this route, this one included."""
        self.route.broadcast(data)

    def _message(self, data):
        fn = getattr(self.handler, "message", None) if self.route.cls else self.route.message
        if fn is None:
            return
        if self._waiting is not None:
            # An async handler runs: messages are handled in order, one at a time.
            if len(self._waiting) >= WS_WAITING_MAX:
                self.close(1008, "too many messages waiting")
            else:
                self._waiting.append(data)
            return
        try:
            ret = fn(self, data)
            if is_coroutine(ret):
                create_task(self._handle_in_order(fn, ret))
                self._waiting = []
        except _FAILURES as e:
            _log_exception("Traceback in WebSocket handler for %s:" % self.request.path, e)
            self._failed()

    async def _handle_in_order(self, fn, ret):
        try:
            while True:
                if is_coroutine(ret):
                    await ret
                if not self._waiting or self.closed:
                    break
                ret = fn(self, self._waiting.pop(0))
        except (Exception, BudgetExceeded) as e:
            _log_exception("Traceback in WebSocket handler for %s:" % self.request.path, e)
            self._failed()
        self._waiting = None

    def _failed(self):
        self.close(1011, "internal error")

    def _closed(self):
        self.closed = True
        self.route.clients.remove(self)
        fn = getattr(self.handler, "close", None) if self.route.cls else self.route.close
        if fn is not None:
            heading = "Traceback in WebSocket close handler for %s:" % self.request.path
            try:
                follow(fn(self), heading)
            except _FAILURES as e:
                _log_exception(heading, e)


class EventStream:
    """A Server-Sent Events response kept open; send() pushes an event."""

    def __init__(self, conn, request, route):
        self.conn = conn
        self.request = request
        self.route = route
        self.closed = False
        self.on_close = None

    def send(self, data, event=None, id=None, retry=None):
        """Push an event. True if queued; False if the client was not taking
        what it was sent (its send buffer over --max-send-buffer): the stream is
        then ended and the event dropped. OSError once closed."""
        if self.closed:
            raise OSError("event stream is closed")
        if not isinstance(data, str):
            data = json.dumps(data)
        # A lone CR ends a line in SSE too: normalise, so data cannot add fields.
        data = data.replace("\r\n", "\n").replace("\r", "\n")
        for field in (event, id):
            if field is not None and ("\r" in str(field) or "\n" in str(field)):
                raise ValueError("event and id must be single lines")
        out = []
        if event is not None:
            out.append("event: %s\n" % event)
        if id is not None:
            out.append("id: %s\n" % id)
        if retry is not None:
            out.append("retry: %d\n" % retry)
        for line in data.split("\n"):
            out.append("data: %s\n" % line)
        out.append("\n")
        if _mongoose.send(self.conn, "".join(out).encode(), True) < 0:
            # Ended for being over the cap: the app's close handler runs on CLOSE.
            self.closed = True
            return False
        return True

    def close(self):
        if not self.closed:
            self.closed = True
            _watched.pop(self.conn, None)
            self.route.clients.remove(self)
            _mongoose.end(self.conn, True)

    def broadcast(self, data, event=None):
        self.route.broadcast(data, event)

    def _closed(self):
        self.closed = True
        self.route.clients.remove(self)
        if self.on_close is not None:
            heading = "Traceback in event stream close handler:"
            try:
                follow(self.on_close(self), heading)
            except _FAILURES as e:
                _log_exception(heading, e)
