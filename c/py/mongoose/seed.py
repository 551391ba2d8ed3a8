# The seed's API: init(api_cb, auth_cb), its /api/epname server behind Basic auth.
import _mongoose

from .core import _FAILURES, _TEXT, BudgetExceeded, _log_exception
from .request import _basic_credentials, _serve, _text_or_bytes

_HTML = "Content-Type: text/html; charset=utf-8\r\n"
_OK_PAGE = ("<!DOCTYPE html><html><head><title>pythongoose</title></head>"
            "<body><h1>OK</h1><p>pythongoose is serving.</p></body></html>\n")
_CHALLENGE = 'WWW-Authenticate: Basic realm="pythongoose"\r\nContent-Type: text/plain\r\n'


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
# GC's safe-point rule is calibrated from there (c/vm/gc.h).
init = _mongoose.entry(_init)
