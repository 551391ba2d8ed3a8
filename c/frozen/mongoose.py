# The `mongoose` module: the seed's API (init, poll) and a Flask/Microdot-style
# App, in Python over the thin C layer `_mongoose`. Frozen into the guest.
import json

import _mongoose
from _mongoose import poll

__all__ = ("init", "poll", "timer", "App", "Request", "Response", "WebSocket", "EventStream",
           "HTTPError", "abort", "redirect", "MQTTclient", "fetch", "ClientResponse", "BudgetExceeded")

_DRAIN, _WS_MSG, _CLOSE = _mongoose.DRAIN, _mongoose.WS_MSG, _mongoose.CLOSE
# Raised inside a callback that runs longer than the host's CPU budget. A
# BaseException, so an app's `except Exception` does not swallow it; the
# server's own handlers below catch it (_FAILURES) and answer 503.
BudgetExceeded = _mongoose.BudgetExceeded
_FAILURES = (Exception, BudgetExceeded)
_TEXT = "Content-Type: text/plain; charset=utf-8\r\n"
_HTML = "Content-Type: text/html; charset=utf-8\r\n"
_JSON = "Content-Type: application/json\r\n"
_BINARY = "Content-Type: application/octet-stream\r\n"
_KNOWN_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")
_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 413: "Payload Too Large", 426: "Upgrade Required",
            500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable"}

# Connections that get events after their request: id -> _Stream/WebSocket/EventStream.
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
        obj._closed()


def _serve(on_request):
    _mongoose.listen(_dispatch, on_request, Request)


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


# ---- The seed's API --------------------------------------------------------

_OK_PAGE = ("<!DOCTYPE html><html><head><title>pythongoose</title></head>"
            "<body><h1>OK</h1><p>pythongoose is serving.</p></body></html>\n")
_CHALLENGE = 'WWW-Authenticate: Basic realm="pythongoose"\r\nContent-Type: text/plain\r\n'


def _text_or_bytes(b):
    try:
        return b.decode()
    except UnicodeError:
        return b


def _basic_credentials(headers):
    """(user, password) from a flat header tuple, or None."""
    for i in range(0, len(headers), 2):
        name = headers[i]
        if isinstance(name, str) and name.lower() == "authorization":
            value = headers[i + 1]
            if not isinstance(value, str) or value[:6].lower() != "basic ":
                return None
            try:
                plain = _b64decode(value[6:].strip())
            except ValueError:
                return None
            user, colon, pwd = plain.partition(b":")
            if not colon:
                return None
            return _text_or_bytes(user), _text_or_bytes(pwd)
    return None


def _b64decode(s):
    import binascii
    return binascii.a2b_base64(s)


def _init(api_cb, auth_cb):
    """The seed's server: /api/epname -> api_cb(body) behind Basic auth
    checked by auth_cb(user, pwd); other /api/ paths 404; the rest an OK page."""
    if not callable(api_cb) or not callable(auth_cb):
        raise TypeError("init(api_cb, auth_cb) needs two callables")

    def seed(req):
        conn, uri, headers, body = req.conn, req.path, req._flat, req.body
        if not uri.startswith("/api/"):
            if not _mongoose.serve_static(conn):
                _mongoose.reply(conn, 200, _HTML, _OK_PAGE)
            return
        creds = _basic_credentials(headers)
        ok = False
        if creds is not None:
            try:
                ok = auth_cb(creds[0], creds[1])
            except _FAILURES as e:
                _log_exception("Traceback in auth_cb:", e)
                if isinstance(e, BudgetExceeded):
                    _mongoose.reply(conn, 503, _TEXT, "Service Unavailable\n")
                    return
        if not ok:
            _mongoose.reply(conn, 401, _CHALLENGE, "Auth required\n")
        elif uri == "/api/epname":
            try:
                ret = api_cb(_text_or_bytes(body))
                if ret is not None and not isinstance(ret, (str, bytes)):
                    ret = str(ret)
            except _FAILURES as e:
                _log_exception("Traceback in api_cb:", e)
                if isinstance(e, BudgetExceeded):
                    _mongoose.reply(conn, 503, _TEXT, "Service Unavailable\n")
                else:
                    _mongoose.reply(conn, 500, _TEXT, "Internal Server Error\n")
                return
            _mongoose.reply(conn, 200, _TEXT, ret)
        else:
            _mongoose.reply(conn, 404, _TEXT, "Not Found\n")

    _serve(seed)


# A C entry point: the seed calls init() where it will call poll(), and the
# GC's safe-point rule is calibrated from there (c/port.h).
init = _mongoose.entry(_init)


# ---- Requests --------------------------------------------------------------

_HEX_DIGITS = "0123456789abcdefABCDEF"


def _unquote(s, plus=False):
    """Percent-decode a str (and '+' as space in forms); invalid escapes stay."""
    if plus:
        s = s.replace("+", " ")
    if "%" not in s:
        return s
    parts = s.split("%")
    out = bytearray(parts[0].encode())
    for part in parts[1:]:
        # Exactly two hex digits: int() would also take "2" (at the end), "+F" or " F".
        if len(part) >= 2 and part[0] in _HEX_DIGITS and part[1] in _HEX_DIGITS:
            out.append(int(part[:2], 16))
            out.extend(part[2:].encode())
        else:
            out.extend(b"%" + part.encode())
    try:
        return out.decode()
    except UnicodeError:
        raise HTTPError(400, "invalid percent-encoding")


class MultiDict:
    """A dict of lists (m[key] is every value, in order) whose get() gives the
    first value. MicroPython's dict methods reject subclasses, so it wraps one."""

    def __init__(self):
        self._d = {}

    def get(self, key, default=None):
        values = self._d.get(key)
        return values[0] if values else default

    def getlist(self, key):
        return list(self._d.get(key, ()))

    def __getitem__(self, key):
        return self._d[key]

    def __contains__(self, key):
        return key in self._d

    def __iter__(self):
        return iter(self._d)

    def __len__(self):
        return len(self._d)

    def keys(self):
        return self._d.keys()

    def items(self):
        return self._d.items()

    def to_dict(self):
        """A plain dict of first values."""
        return {k: v[0] for k, v in self._d.items()}

    def _add(self, key, value):
        values = self._d.get(key)
        if values is None:
            self._d[key] = [value]
        else:
            values.append(value)

    def __repr__(self):
        return "MultiDict(%r)" % (self._d,)


def _parse_qs(s, plus=True):
    out = MultiDict()
    if s:
        for pair in s.split("&"):
            if pair:
                k, _, v = pair.partition("=")
                out._add(_unquote(k, plus), _unquote(v, plus))
    return out


class Headers:
    """Request headers, looked up case-insensitively."""

    def __init__(self, flat=()):
        self._items = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
        self._map = {}
        for name, value in self._items:
            key = name.lower() if isinstance(name, str) else name
            if key in self._map:
                self._map[key] = self._map[key] + ", " + value
            else:
                self._map[key] = value

    def get(self, name, default=None):
        return self._map.get(name.lower(), default)

    def __getitem__(self, name):
        return self._map[name.lower()]

    def __contains__(self, name):
        return name.lower() in self._map

    def __len__(self):
        return len(self._items)

    def items(self):
        return list(self._items)

    def __repr__(self):
        return "Headers(%r)" % (self._items,)


class Request:
    """One HTTP request. Fields are parsed on first use."""

    # Class-level until first use: fewer stores per request.
    _headers = _query = _form = _cookies = _g = None

    def __init__(self, conn, method, path, query_string, headers, body):
        self.conn = conn
        self.method = method
        self.path = path
        self.query_string = query_string
        self._flat = headers
        self.body = body

    @property
    def g(self):
        """A dict for hooks and handlers to leave things in, per request."""
        if self._g is None:
            self._g = {}
        return self._g

    @g.setter
    def g(self, value):
        self._g = value

    @property
    def headers(self):
        if self._headers is None:
            self._headers = Headers(self._flat)
        return self._headers

    @property
    def query(self):
        if self._query is None:
            self._query = _parse_qs(self.query_string)  # '+' is a space, as forms send it
        return self._query

    args = query  # Flask's name

    @property
    def text(self):
        try:
            return self.body.decode()
        except UnicodeError:
            raise HTTPError(400, "body is not UTF-8")

    def json(self):
        if not self.body:
            raise HTTPError(400, "empty JSON body")
        try:
            return json.loads(self.text)
        except ValueError:
            raise HTTPError(400, "invalid JSON")

    @property
    def form(self):
        if self._form is None:
            ctype = self.headers.get("Content-Type", "")
            if ctype.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
                self._form = _parse_qs(self.text)
            else:
                self._form = MultiDict()
        return self._form

    @property
    def cookies(self):
        if self._cookies is None:
            self._cookies = {}
            for part in (self.headers.get("Cookie") or "").split(";"):
                name, eq, value = part.strip().partition("=")
                if eq:
                    self._cookies[name] = value
        return self._cookies

    @property
    def authorization(self):
        """(user, password) from Basic credentials, or None."""
        return _basic_credentials(self._flat)

    @property
    def client_addr(self):
        return _mongoose.peer(self.conn)

    @property
    def content_type(self):
        return self.headers.get("Content-Type")

    def __repr__(self):
        return "<Request %s %s>" % (self.method, self.path)


# ---- Responses -------------------------------------------------------------

class HTTPError(Exception):
    """Raise to answer with an HTTP error status (see abort())."""

    def __init__(self, status, message=None):
        super().__init__(status, message)
        self.status = status
        self.message = message or _REASONS.get(status, "Error")


def abort(status, message=None):
    raise HTTPError(status, message)


class Response:
    """A response: body (str, bytes, dict/list as JSON, or an iterable of
    str/bytes chunks streamed with chunked encoding), status and headers."""

    def __init__(self, body="", status=200, headers=None, content_type=None):
        self.status = status
        self.headers = dict(headers) if headers else {}
        self.cookies = []
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            content_type = content_type or "application/json"
        if content_type is None and not self._has("Content-Type"):
            if isinstance(body, str):
                content_type = "text/html; charset=utf-8"
            elif isinstance(body, (bytes, bytearray, memoryview)):
                content_type = "application/octet-stream"
            else:
                content_type = "text/plain; charset=utf-8"
        if content_type:
            self.headers["Content-Type"] = content_type
        self.body = body

    def _has(self, name):
        name = name.lower()
        for k in self.headers:
            if k.lower() == name:
                return True
        return False

    def set_cookie(self, name, value, max_age=None, expires=None, path="/", domain=None, secure=False,
                   http_only=False, same_site=None):
        for part in (name, value, path, domain, same_site, expires):
            if part is not None and (";" in str(part) or "\r" in str(part) or "\n" in str(part)):
                raise ValueError("cookie %r: no ';' or line breaks allowed in its parts" % name)
        c = "%s=%s" % (name, value)
        if path:
            c += "; Path=" + path
        if domain:
            c += "; Domain=" + domain
        if max_age is not None:
            c += "; Max-Age=%d" % max_age
        if expires:
            c += "; Expires=" + expires
        if secure:
            c += "; Secure"
        if http_only:
            c += "; HttpOnly"
        if same_site:
            c += "; SameSite=" + same_site
        self.cookies.append(c)
        return self

    def delete_cookie(self, name, path="/"):
        return self.set_cookie(name, "", max_age=0, expires="Thu, 01 Jan 1970 00:00:00 GMT", path=path)

    def _header_block(self):
        headers = self.headers
        if len(headers) == 1 and not self.cookies:
            # The common case, one Content-Type: its block is made once.
            ctype = headers.get("Content-Type")
            if type(ctype) is str:
                block = _CTYPE_BLOCKS.get(ctype)
                if block is None:
                    _check_header("Content-Type", ctype)
                    block = "Content-Type: %s\r\n" % ctype
                    if len(_CTYPE_BLOCKS) < 64:
                        _CTYPE_BLOCKS[ctype] = block
                return block
        lines = []
        for name, value in headers.items():
            _check_header(name, value)
            if name.lower() in ("content-length", "transfer-encoding"):
                continue  # the body is framed when it is sent: a second framing would contradict it
            lines.append("%s: %s\r\n" % (name, value))
        for c in self.cookies:
            _check_header("Set-Cookie", c)
            lines.append("Set-Cookie: %s\r\n" % c)
        return "".join(lines)

    @classmethod
    def redirect(cls, location, status=302):
        _check_header("Location", location)
        return cls("", status, {"Location": location}, "text/plain; charset=utf-8")


def redirect(location, status=302):
    return Response.redirect(location, status)


_CTYPE_BLOCKS = {}  # Content-Type value (str) -> its header line
_NO_PARAMS = {}  # the URL parameters of a route without any (never modified)


def _check_header(name, value):
    value = str(value)
    if "\r" in name or "\n" in name or ":" in name or "\r" in value or "\n" in value:
        raise ValueError("invalid header %r" % name)


def _to_response(ret):
    if isinstance(ret, Response):
        return ret
    if isinstance(ret, tuple):
        body = ret[0]
        status = ret[1] if len(ret) > 1 else 200
        headers = ret[2] if len(ret) > 2 else None
        if isinstance(body, Response):
            body.status = status
            if headers:
                body.headers.update(headers)
            return body
        return Response(body, status, headers)
    if ret is None:
        raise TypeError("the handler returned None: return a body or a Response")
    return Response(ret)


class _Stream:
    """A response body from an iterator, sent as the client takes it."""

    def __init__(self, conn, it, request):
        self.conn = conn
        self.it = it
        self.request = request

    def _drain(self):
        try:
            chunk = next(self.it)
        except StopIteration:
            del _watched[self.conn]
            _mongoose.end(self.conn)
            return
        except _FAILURES as e:
            # Too late for a 500: cut the response short so it is not taken as whole.
            del _watched[self.conn]
            _log_exception("Traceback while streaming %s %s:" % (self.request.method, self.request.path), e)
            _mongoose.close(self.conn)
            return
        if isinstance(chunk, str):
            chunk = chunk.encode()
        _mongoose.send(self.conn, chunk, True)

    def _closed(self):
        close = getattr(self.it, "close", None)
        if close:
            close()


# ---- WebSocket and Server-Sent Events --------------------------------------

class WebSocket:
    """One open WebSocket. send() takes str (text) or bytes (binary)."""

    def __init__(self, conn, request, route):
        self.conn = conn
        self.request = request
        self.route = route
        self.closed = False
        self.handler = None

    def send(self, data):
        if self.closed:
            raise OSError("WebSocket is closed")
        if not isinstance(data, (str, bytes)):
            data = bytes(data)
        _mongoose.ws_send(self.conn, data)

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
        try:
            fn(self, data)
        except _FAILURES as e:
            _log_exception("Traceback in WebSocket handler for %s:" % self.request.path, e)
            self.close(1011, "internal error")

    def _closed(self):
        self.closed = True
        self.route.clients.remove(self)
        fn = getattr(self.handler, "close", None) if self.route.cls else self.route.close
        if fn is not None:
            try:
                fn(self)
            except _FAILURES as e:
                _log_exception("Traceback in WebSocket close handler for %s:" % self.request.path, e)


class EventStream:
    """A Server-Sent Events response kept open; send() pushes an event."""

    def __init__(self, conn, request, route):
        self.conn = conn
        self.request = request
        self.route = route
        self.closed = False
        self.on_close = None

    def send(self, data, event=None, id=None, retry=None):
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
        _mongoose.send(self.conn, "".join(out).encode(), True)

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
            try:
                self.on_close(self)
            except _FAILURES as e:
                _log_exception("Traceback in event stream close handler:", e)


# ---- Routing ---------------------------------------------------------------

class _Route:
    def __init__(self, pattern, methods, handler, auth=None):
        if not pattern.startswith("/"):
            raise ValueError("route %r must start with /" % pattern)
        self.pattern = pattern
        self.methods = methods
        self.handler = handler
        self.auth = auth
        self.segments = []
        for seg in pattern.split("/")[1:]:
            if seg.startswith("<") and seg.endswith(">"):
                kind, _, name = seg[1:-1].rpartition(":")
                if kind not in ("", "int", "path", "string"):
                    raise ValueError("unknown URL parameter type %r in %r" % (kind, pattern))
                self.segments.append((kind or "string", name))
            else:
                self.segments.append((None, seg))
        # A route without parameters matches by one list comparison.
        self.fixed = None
        if all(kind is None for kind, _ in self.segments):
            self.fixed = [value for _, value in self.segments]

    def match(self, parts):
        """URL parameters if the path's parts match, else None."""
        if self.fixed is not None:
            return {} if parts == self.fixed else None
        params = {}
        segs = self.segments
        for i in range(len(segs)):
            kind, value = segs[i]
            if kind == "path":
                if i >= len(parts):
                    return None
                params[value] = "/".join(parts[i:])
                return params
            if i >= len(parts):
                return None
            part = parts[i]
            if kind is None:
                if part != value:
                    return None
            elif kind == "int":
                if not part or not (part.isdigit() or (part[0] == "-" and part[1:].isdigit())):
                    return None
                params[value] = int(part)
            else:
                if not part:
                    return None
                params[value] = part
        return params if len(parts) == len(segs) else None


class _SocketRoute(_Route):
    """A WebSocket or SSE route and its open clients."""

    def __init__(self, pattern, handler, kind, auth=None, message=None, open=None, close=None):
        super().__init__(pattern, ("GET",), handler, auth)
        self.kind = kind
        self.cls = isinstance(handler, type)
        self.message = message
        self.open = open
        self.close = close
        self.clients = []

    def broadcast(self, data, event=None):
        for client in list(self.clients):
            try:
                if event is None or self.kind == "ws":  # WebSocket messages have no event name
                    client.send(data)
                else:
                    client.send(data, event)
            except OSError:
                pass  # it is closing


def _auth_failed(realm):
    # realm None: no challenge, so a browser page that signs in with fetch()
    # gets the 401 itself instead of the browser's own login prompt.
    headers = {"WWW-Authenticate": 'Basic realm="%s"' % realm} if realm is not None else None
    return Response("Unauthorized\n", 401, headers, "text/plain; charset=utf-8")


class App:
    """A web application served from inside the guest.

        app = App()

        @app.get('/users/<int:id>')
        def user(request, id):
            return {'id': id}

        app.run()
    """

    def __init__(self, static=True):
        self.routes = []
        self.static = static  # fall back to the host's --static files
        self._before = []
        self._after = []
        self._errors = {}
        self._auth = []  # (prefix, check, realm or None)
        self._fast = {}  # path -> {method: route}: see _build_fast
        self._fast_n = -1  # len(self.routes) when _fast was built; -1: rebuild

    # -- declaring routes --

    def route(self, pattern, methods=("GET",), auth=None):
        methods = tuple(m.upper() for m in methods)

        def register(fn):
            self.routes.append(_Route(pattern, methods, fn, auth))
            return fn
        return register

    def get(self, pattern, auth=None):
        return self.route(pattern, ("GET",), auth)

    def post(self, pattern, auth=None):
        return self.route(pattern, ("POST",), auth)

    def put(self, pattern, auth=None):
        return self.route(pattern, ("PUT",), auth)

    def patch(self, pattern, auth=None):
        return self.route(pattern, ("PATCH",), auth)

    def delete(self, pattern, auth=None):
        return self.route(pattern, ("DELETE",), auth)

    def websocket(self, pattern, auth=None, open=None, close=None):
        """Decorate a class (one instance per socket, with optional
        open(ws, request), message(ws, data) and close(ws) methods) or a
        message(ws, data) function (open= and close= functions optional)."""
        def register(handler):
            if isinstance(handler, type):
                r = _SocketRoute(pattern, handler, "ws", auth)
            else:
                r = _SocketRoute(pattern, None, "ws", auth, handler, open, close)
            self.routes.append(r)
            return handler
        return register

    def sse(self, pattern, auth=None):
        """Decorate fn(stream, request), called when a client connects; the
        EventStream stays open for stream.send() until either side closes."""
        def register(fn):
            self.routes.append(_SocketRoute(pattern, fn, "sse", auth))
            return fn
        return register

    def clients(self, pattern):
        """Open WebSockets or event streams of the route declared as pattern."""
        for r in self.routes:
            if isinstance(r, _SocketRoute) and r.pattern == pattern:
                return list(r.clients)
        raise KeyError("no WebSocket or SSE route %r" % pattern)

    def broadcast(self, pattern, data, event=None):
        for r in self.routes:
            if isinstance(r, _SocketRoute) and r.pattern == pattern:
                r.broadcast(data, event)
                return
        raise KeyError("no WebSocket or SSE route %r" % pattern)

    # -- hooks --

    def before_request(self, fn):
        self._before.append(fn)
        self._fast_n = -1
        return fn

    def after_request(self, fn):
        self._after.append(fn)
        return fn

    def errorhandler(self, key):
        def register(fn):
            self._errors[key] = fn
            return fn
        return register

    def basic_auth(self, check, prefix="/", realm="pythongoose", challenge=True):
        """Require Basic credentials accepted by check(user, password) for
        every path under prefix. challenge=False leaves out WWW-Authenticate,
        for pages that sign in with their own form."""
        self._auth.append((prefix, check, realm if challenge else None))
        self._fast_n = -1

    # -- serving --

    @property
    def run(self):
        """app.run(): serve forever. The loop is in C so that it polls at the
        caller's stack depth (the GC's safe-point rule, c/port.h). Flask's
        host/port/debug are accepted and ignored: the host process owns the
        listening socket."""
        return _mongoose.entry(self._listen, True)

    def _listen(self, host=None, port=None, debug=None):
        _serve(self._handle)

    def _build_fast(self):
        # Routes without parameters that the in-order scan of _respond would
        # reach first, by exact path and method, when no hook or auth rule
        # applies to every request: those requests skip the scan.
        self._fast = {}
        self._fast_n = len(self.routes)
        if self._auth or self._before:
            return
        for r in self.routes:
            if r.fixed is None:
                break  # a parameter route could match what follows it
            if r.auth is not None or isinstance(r, _SocketRoute) or "%" in r.pattern:
                continue
            by_method = self._fast.setdefault(r.pattern, {})
            for m in r.methods:
                if m in _KNOWN_METHODS and m not in by_method:
                    by_method[m] = r

    def _handle(self, req):
        # req comes from C: a Request whose fields are set, __init__ not run.
        conn = req.conn
        path = req.path
        if self._fast_n != len(self.routes):
            self._build_fast()
        route = self._fast.get(path)
        if route is not None:
            route = route.get(req.method)
        try:
            if route is not None:
                ret = route.handler(req)
                resp = ret if isinstance(ret, Response) else _to_response(ret)
                if self._after:
                    resp = self._after_hooks(req, resp)
            else:
                resp = self._respond(req)
        except Exception as e:
            resp = self._error(req, e)
        except BudgetExceeded as e:
            _log_exception("Traceback while answering %s %s:" % (req.method, req.path), e)
            resp = Response("Service Unavailable\n", 503, None, "text/plain; charset=utf-8")
        if resp is not None:
            try:
                # A str or bytes body with just a Content-Type: one C call.
                body = resp.body
                if (type(body) is str or type(body) is bytes) and len(resp.headers) == 1 and not resp.cookies:
                    ctype = resp.headers.get("Content-Type")
                    block = _CTYPE_BLOCKS.get(ctype) if type(ctype) is str else None
                    if block is not None:
                        _mongoose.reply(conn, resp.status, block, body)
                        return
                self._send(req, resp)
            except Exception as e:
                # An invalid header or status shows only here, as the response is sent.
                _log_exception("Traceback while answering %s %s:" % (req.method, req.path), e)
                try:
                    _mongoose.reply(conn, 500, _TEXT, "Internal Server Error\n")
                except Exception:
                    _mongoose.close(conn)  # begun already, or the client left

    def _error(self, req, e):
        if isinstance(e, HTTPError):
            handler = self._errors.get(e.status)
            if handler is None:
                return Response(e.message + "\n", e.status, None, "text/plain; charset=utf-8")
        else:
            # The exact class first, then the first registered base class.
            handler = self._errors.get(type(e))
            if handler is None:
                for key, fn in self._errors.items():
                    if isinstance(key, type) and isinstance(e, key):
                        handler = fn
                        break
            if handler is None:
                _log_exception("Traceback while answering %s %s:" % (req.method, req.path), e)
                handler = self._errors.get(500)
                if handler is None:
                    return Response("Internal Server Error\n", 500, None, "text/plain; charset=utf-8")
        try:
            return _to_response(handler(req, e))
        except Exception as e2:
            _log_exception("Traceback in error handler for %s %s:" % (req.method, req.path), e2)
            return Response("Internal Server Error\n", 500, None, "text/plain; charset=utf-8")

    def _check_auth(self, req, route, parts):
        # Prefixes are matched against the decoded path with empty segments
        # dropped, as routes and static files see it: "/%61dmin/x" and
        # "//admin/x" are "/admin/x" here too.
        path = "/" + "/".join(p for p in parts if p)
        if len(path) > 1 and req.path.endswith("/"):
            path += "/"
        for prefix, check, realm in self._auth:
            if path.startswith(prefix) and not self._credentials_ok(req, check):
                return _auth_failed(realm)
        if route is not None and route.auth is not None and not self._credentials_ok(req, route.auth):
            return _auth_failed("pythongoose")
        return None

    @staticmethod
    def _credentials_ok(req, check):
        creds = req.authorization
        return creds is not None and bool(check(creds[0], creds[1]))

    def _respond(self, req):
        method = req.method
        if method not in _KNOWN_METHODS:
            raise HTTPError(501)
        parts = req.path.split("/")[1:]
        if "%" in req.path:
            parts = [_unquote(p) for p in parts]
        route = params = None
        allowed = []
        for r in self.routes:
            if r.fixed is not None:  # inline match() for routes without parameters
                if parts != r.fixed:
                    continue
                p = _NO_PARAMS
            else:
                p = r.match(parts)
                if p is None:
                    continue
            if method in r.methods or (method == "HEAD" and "GET" in r.methods):
                route, params = r, p
                break
            allowed.extend(r.methods)
        if self._auth or (route is not None and route.auth is not None):
            denied = self._check_auth(req, route, parts)
            if denied is not None:
                return denied
        for fn in self._before:
            ret = fn(req)
            if ret is not None:
                return self._after_hooks(req, _to_response(ret))
        if route is None:
            if allowed:
                if method == "OPTIONS":
                    return Response("", 204, {"Allow": _allow(allowed)}, "")
                resp = self._error(req, HTTPError(405))
                resp.headers["Allow"] = _allow(allowed)
                return resp
            if method in ("GET", "HEAD") and self.static and _mongoose.serve_static(req.conn):
                return None
            raise HTTPError(404)
        if isinstance(route, _SocketRoute):
            return self._open_socket(req, route, params)
        ret = route.handler(req, **params) if params else route.handler(req)
        resp = ret if isinstance(ret, Response) else _to_response(ret)
        return self._after_hooks(req, resp) if self._after else resp

    def _after_hooks(self, req, resp):
        for fn in self._after:
            ret = fn(req, resp)
            if ret is not None:
                resp = _to_response(ret)
        return resp

    def _open_socket(self, req, route, params):
        if route.kind == "sse" and req.method == "HEAD":
            return Response("", 200, {"Cache-Control": "no-cache"}, "text/event-stream")
        if route.kind == "sse":
            stream = EventStream(req.conn, req, route)
            _mongoose.start(req.conn, 200, "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n", True)
            _watched[req.conn] = stream
            _mongoose.watch(req.conn, False)
            route.clients.append(stream)
            try:
                route.handler(stream, req, **params)
            except _FAILURES as e:
                # Too late for a 500: the 200 is on its way. End the stream.
                _log_exception("Traceback in event stream handler for %s:" % req.path, e)
                stream.close()
            return None
        upgrade = req.headers.get("Upgrade") or ""
        if upgrade.lower() != "websocket" or "Sec-WebSocket-Key" not in req.headers:
            return Response("WebSocket upgrade expected\n", 426, {"Upgrade": "websocket"},
                            "text/plain; charset=utf-8")
        ws = WebSocket(req.conn, req, route)
        _mongoose.ws_upgrade(req.conn, "")
        _watched[req.conn] = ws
        route.clients.append(ws)
        try:
            if route.cls:
                ws.handler = route.handler()
                opener = getattr(ws.handler, "open", None)
            else:
                opener = route.open
            if opener is not None:
                opener(ws, req, **params)
        except _FAILURES as e:
            _log_exception("Traceback in WebSocket open handler for %s:" % req.path, e)
            ws.close(1011, "internal error")
        return None

    def _send(self, req, resp):
        body = resp.body
        conn = req.conn
        if isinstance(body, (str, bytes, bytearray, memoryview)):
            if not isinstance(body, (str, bytes)):
                body = bytes(body)  # a snapshot: C streams big bodies from their buffer
            _mongoose.reply(conn, resp.status, resp._header_block(), body)
            return
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            _mongoose.reply(conn, resp.status, resp._header_block(), body)
            return
        try:
            it = iter(body)
        except TypeError:
            raise TypeError("cannot send a %s as a response body" % type(body).__name__)
        _mongoose.start(conn, resp.status, resp._header_block(), True)
        if req.method == "HEAD":
            close = getattr(it, "close", None)
            if close:
                close()
            _mongoose.end(conn)
            return
        _watched[conn] = _Stream(conn, it, req)
        _mongoose.watch(conn, True)


def _allow(methods):
    seen = []
    for m in methods:
        if m not in seen:
            seen.append(m)
    if "GET" in seen and "HEAD" not in seen:
        seen.append("HEAD")
    return ", ".join(seen)


# ---- Outbound: the seed's MQTT client, and an HTTP client ----------------------
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
    if scheme in ("https", "mqtts", "wss"):
        raise ValueError("%s:// needs TLS, which this build does not have" % scheme)
    if scheme not in schemes:
        raise ValueError("expected a %s:// URL, got %r" % ("://, ".join(schemes), url))


class MQTTclient:
    """The seed's MQTT client. connect() keeps it connected: while the broker
    cannot be reached it retries every 3 s, and on_connect() runs after each
    (re)connection, the place to subscribe. on_publish(topic, msg) gets the
    topic as str and the message as bytes."""

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
        self.state = "disconnected"  # "connecting", "connected"
        self.error = None  # why the last attempt or connection failed

    @property
    def connected(self):
        return self.state == "connected"

    def connect(self, url, user="", pwd="", will_topic="", will_msg="", will_qos=0, will_retain=False):
        _check_url(url, ("mqtt", "tcp"))
        self._url = url
        self._opts = (self._client_id, user or "", pwd or "", will_topic or "", will_msg or "",
                      int(will_qos), bool(will_retain), self._keepalive, bool(self._clean))
        self._wanted = True
        if self._conn is None and self._retry is None:
            self.state = "connecting"
            _when_ready(self._dial)

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
        if self._on_error:
            self._on_error(self.error)

    def _event(self, ev, conn, a=None, b=None, qos=0, retain=False):
        if conn != self._conn:
            return
        if ev == _MESSAGE:
            if self._on_publish:
                self._on_publish(a, b)
        elif ev == _OPEN:
            if a == 0:
                self.state = "connected"
                self.error = None
                if self._keepalive > 0:
                    self._pinger = timer(self._keepalive * 500, self._ping, True)
                if self._on_connect:
                    self._on_connect()
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
        self.state = "disconnected"
        if self._pinger is not None:
            self._pinger.cancel()
            self._pinger = None
        if self._wanted:
            self.state = "connecting"
            self._retry = timer(self.RECONNECT_MS, self._dial)
        if was_connected and self._on_disconnect:
            self._on_disconnect()

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


def fetch(url, callback, method="GET", headers=None, body=None, timeout=10, max_body=16 * 1024 * 1024):
    """Request url (http://) and call callback(ClientResponse) exactly once:
    with the response, or with .error set (refused, unreachable, timeout)."""
    _check_url(url, ("http",))
    rest = url[7:].split("#", 1)[0]
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
