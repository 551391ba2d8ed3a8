# Requests: Request (C makes one per request), Headers, MultiDict, query strings, Basic credentials.
import json

import _mongoose

from .core import _dispatch
from .response import HTTPError


def _text_or_bytes(b):
    try:
        return b.decode()
    except UnicodeError:
        return b


_basic_credentials = _mongoose.basic_credentials  # (user, password) from a flat header tuple, or None

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
    # The request's id (its X-Request-Id, or one the server made), echoed in
    # the response and the access log; None for a Request made by hand.
    id = None

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
    def scheme(self):
        """'https' when the server speaks TLS (--tls-cert), else 'http'."""
        return "http" if _mongoose.tls_name(self.conn) is None else "https"

    @property
    def server_name(self):
        """The host name a TLS client asked for (SNI), "" if none; None over plain HTTP."""
        return _mongoose.tls_name(self.conn)

    @property
    def content_type(self):
        return self.headers.get("Content-Type")

    def __repr__(self):
        return "<Request %s %s>" % (self.method, self.path)


def _serve(on_request):
    # C makes a Request of each request (its fields set, __init__ not run)
    # and calls on_request(req); a watched connection's events go to _dispatch.
    _mongoose.listen(_dispatch, on_request, Request)
