# Outbound: the seed's MQTT client, and an HTTP client (fetch, ClientResponse).
import json

import _mongoose

from .core import _CLOSE, timer
from .loop import Pending, follow
from .request import Headers
from .response import _check_header

# Connections go through the host's gateway, which lets through only what its
# egress policy (--allow) names; a refusal arrives as an error, never a hang.

_OPEN, _MESSAGE, _RESPONSE, _ERROR = _mongoose.OPEN, _mongoose.MESSAGE, _mongoose.RESPONSE, _mongoose.ERROR


def _when_ready(fn):
    """Run fn once the guest's link is up (at once if it is)."""
    if _mongoose.ready():
        fn()
    else:
        timer(20, lambda: _when_ready(fn))


def _net_error(msg):
    if msg.endswith(" DNS lookup failed"):
        return "cannot resolve %s: no such name, or not allowed by --allow" % msg[:-18]
    return msg


def _check_url(url, schemes):
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme in ("https", "mqtts") and not _mongoose.TLS:
        raise ValueError("%s:// needs TLS, which this build does not have" % scheme)
    if scheme not in schemes:
        raise ValueError("expected a %s:// URL, got %r" % ("://, ".join(schemes), url))


class MQTTclient:
    """The seed's MQTT client. connect() keeps it connected: while the broker
    cannot be reached it retries every 3 s, and on_connect() runs after each
    (re)connection, the place to subscribe. on_publish(topic, msg) gets the
    topic as str and the message as bytes. Each handler may be async (it then
    runs as a task); `await client.connect(url)` returns once connected, or
    raises OSError if the first attempt fails (the client retries anyway)."""

    RECONNECT_MS = 3000

    def __init__(self, on_connect=None, on_publish=None, client_id="", keepalive=60, clean=True,
                 on_disconnect=None, on_error=None):
        self._on_connect = on_connect
        self._on_publish = on_publish
        self._on_disconnect = on_disconnect
        self._on_error = on_error
        self._client_id = client_id
        self._keepalive = int(keepalive)
        self._clean = clean
        self._conn = None
        self._wanted = False
        self._leaving = False  # disconnect() was called on the current connection
        self._retry = None
        self._pinger = None
        self._connecting = Pending()  # what `await connect()` waits for
        self.state = "disconnected"  # "connecting", "connected"
        self.error = None  # why the last attempt or connection failed

    @property
    def connected(self):
        return self.state == "connected"

    def connect(self, url, user="", pwd="", will_topic="", will_msg="", will_qos=0, will_retain=False):
        _check_url(url, ("mqtt", "mqtts", "tcp"))
        self._url = url
        self._opts = (self._client_id, user or "", pwd or "", will_topic or "", will_msg or "",
                      int(will_qos), bool(will_retain), self._keepalive, bool(self._clean))
        self._wanted = True
        if self._connecting.done:
            self._connecting = Pending()
        if self._conn is None and self._retry is None:
            self.state = "connecting"
            _when_ready(self._dial)
        elif self.state == "connected":
            self._connecting.resolve(True)
        return self._connecting.wait()

    def _dial(self):
        self._retry = None
        if not self._wanted or self._conn is not None:
            return
        self._leaving = False
        self.state = "connecting"
        try:
            self._conn = _mongoose.mqtt_connect(self._url, self._event, self._opts)
        except OSError as e:
            self._failed(str(e))
            self._closed()

    def _failed(self, msg):
        self.error = _net_error(msg)
        self._connecting.resolve(error=OSError(self.error))
        if self._on_error:
            follow(self._on_error(self.error), "Traceback in MQTT on_error:")

    def _event(self, ev, conn, a=None, b=None, qos=0, retain=False):
        if conn != self._conn:
            return
        if ev == _MESSAGE:
            if self._on_publish:
                follow(self._on_publish(a, b), "Traceback in MQTT on_publish:")
        elif ev == _OPEN:
            if a == 0:
                self.state = "connected"
                self.error = None
                self._connecting.resolve(True)
                if self._keepalive > 0:
                    self._pinger = timer(self._keepalive * 500, self._ping, True)
                if self._on_connect:
                    follow(self._on_connect(), "Traceback in MQTT on_connect:")
            else:
                self._failed("the broker refused the connection (CONNACK code %d)" % a)
        elif ev == _ERROR:
            # A broker that closes at once after DISCONNECT may reset the
            # connection first: that is how leaving looks, not a failure.
            if not self._leaving:
                self._failed(a)
        elif ev == _CLOSE:
            self._conn = None
            self._closed()

    def _closed(self):
        was_connected = self.state == "connected"
        if not was_connected:
            self._connecting.resolve(error=OSError(self.error or "the broker closed the connection before accepting it"))
        self.state = "disconnected"
        if self._pinger is not None:
            self._pinger.cancel()
            self._pinger = None
        if self._wanted:
            self.state = "connecting"
            self._retry = timer(self.RECONNECT_MS, self._dial)
        if was_connected and self._on_disconnect:
            follow(self._on_disconnect(), "Traceback in MQTT on_disconnect:")

    def _ping(self):
        if self._conn is not None and self.state == "connected":
            _mongoose.mqtt_ping(self._conn)

    def _live(self):
        if self.state != "connected":
            raise OSError("MQTT client is not connected (%s)" % (self.error or self.state))
        return self._conn

    def pub(self, topic, msg, qos=0, retain=False):
        """Publish; returns the packet id (QoS 1/2)."""
        return _mongoose.mqtt_pub(self._live(), topic, msg, int(qos), bool(retain))

    def sub(self, topic, qos=0):
        _mongoose.mqtt_sub(self._live(), topic, int(qos))

    def unsub(self, topic):
        _mongoose.mqtt_unsub(self._live(), topic)

    def disconnect(self):
        """Leave cleanly (the broker does not send the last will) and stop reconnecting."""
        self._wanted = False
        self._connecting.resolve(error=OSError("disconnect() was called while connecting"))
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._conn is not None:
            self._leaving = True
            _mongoose.mqtt_disconnect(self._conn)
        elif self.state == "connecting":
            self.state = "disconnected"


class ClientResponse:
    """What fetch() delivers: status, headers and body, or error (then status is 0)."""

    def __init__(self, status=0, headers=(), body=b"", error=None):
        self.status = status
        self.headers = Headers(headers)
        self.body = body
        self.error = error

    @property
    def ok(self):
        return self.error is None and 200 <= self.status < 300

    @property
    def text(self):
        return self.body.decode()

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        if self.error is not None:
            return "<ClientResponse error %r>" % self.error
        return "<ClientResponse %d, %d bytes>" % (self.status, len(self.body))


def fetch(url, callback=None, method="GET", headers=None, body=None, timeout=10, max_body=16 * 1024 * 1024):
    """Request url (http:// or https://, whose server's certificate is verified) and call callback(ClientResponse) exactly once:
    with the response, or with .error set (refused, unreachable, timeout).
    Without a callback, `resp = await fetch(url)`; cancelling the task that
    awaits it closes the connection."""
    _check_url(url, ("http", "https"))
    rest = url.split("://", 1)[1].split("#", 1)[0]
    slash = rest.find("/")
    host, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    if not host:
        raise ValueError("no host in %r" % url)
    method = method.upper()
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    head = ["%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n" % (method, path, host)]
    for name, value in (headers or {}).items():
        _check_header(name, value)
        if name.lower() not in ("host", "connection", "content-length", "transfer-encoding"):
            head.append("%s: %s\r\n" % (name, value))
    if body or method in ("POST", "PUT", "PATCH"):
        head.append("Content-Length: %d\r\n" % len(body or b""))
    request = "".join(head).encode() + b"\r\n" + (body or b"")
    state = {"conn": None, "done": False}

    def finish(resp):
        if state["done"]:
            return
        state["done"] = True
        deadline.cancel()
        callback(resp)

    def cancel():
        state["done"] = True
        deadline.cancel()
        if state["conn"] is not None:
            _mongoose.abort(state["conn"])

    pending = None
    if callback is None:
        pending = Pending(cancel)
        callback = pending.resolve

    def on_event(ev, conn, a=None, b=None, c=None):
        if ev == _RESPONSE:
            finish(ClientResponse(a, b, c))
        elif ev == _ERROR:
            finish(ClientResponse(error=_net_error(a)))

    def on_timeout():
        if state["conn"] is not None:
            _mongoose.abort(state["conn"])
        finish(ClientResponse(error="timed out after %s s" % timeout))

    def start():
        if state["done"]:
            return
        try:
            state["conn"] = _mongoose.http_request(url, on_event, request, int(max_body))
        except OSError as e:
            finish(ClientResponse(error=_net_error(str(e))))

    deadline = timer(int(timeout * 1000), on_timeout)
    _when_ready(start)
    return pending.wait() if pending is not None else None
