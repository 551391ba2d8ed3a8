# Responses: Response, HTTPError, abort(), redirect(), header checks, and bodies streamed from an iterator.
import json

import _mongoose

from .core import _FAILURES, _log_exception, _watched

_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 413: "Payload Too Large", 426: "Upgrade Required",
            500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable"}


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
        _mongoose.send(self.conn, chunk)  # paced by DRAIN: always under the send cap

    def _closed(self):
        close = getattr(self.it, "close", None)
        if close:
            close()
