# The App: routes, hooks, Basic-auth rules, each request to its handler (a
# task for an async one), and its response sent.
import asyncio
import json

import _mongoose

from .core import _FAILURES, _TEXT, BudgetExceeded, _log_exception, _Task, _watched
from .loop import follow, is_async, is_coroutine, run_now, start
from .request import _serve, _unquote
from .response import _CTYPE_BLOCKS, HTTPError, Response, _Stream, _to_response
from .sockets import EventStream, WebSocket

_KNOWN_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")
_NO_PARAMS = {}  # the URL parameters of a route without any (never modified)


class _Route:
    def __init__(self, pattern, methods, handler, auth=None):
        if not pattern.startswith("/"):
            raise ValueError("route %r must start with /" % pattern)
        self.pattern = pattern
        self.methods = methods
        self.handler = handler
        self.is_async = is_async(handler)
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
        self.is_async = False  # its handshake is answered at once; async handlers run as tasks (follow)
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
        self._async = False  # a hook or error handler is async: every request is answered in a task
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
        self._hook_added(fn)
        return fn

    def after_request(self, fn):
        self._after.append(fn)
        self._hook_added(fn)
        return fn

    def errorhandler(self, key):
        def register(fn):
            self._errors[key] = fn
            self._hook_added(fn)
            return fn
        return register

    def _hook_added(self, fn):
        self._async = self._async or is_async(fn)
        self._fast_n = -1

    def basic_auth(self, check, prefix="/", realm="pythongoose", challenge=True):
        """Require Basic credentials accepted by check(user, password) for
        every path under prefix. challenge=False leaves out WWW-Authenticate,
        for pages that sign in with their own form."""
        self._auth.append((prefix, check, realm if challenge else None))
        self._fast_n = -1

    # -- serving --

    def run(self, host=None, port=None, debug=None):
        """Serve forever, on the asyncio loop. Flask's host/port/debug are
        accepted and ignored: the host process owns the listening socket."""
        asyncio.run(self.start_server())

    async def start_server(self, host=None, port=None, debug=None):
        """Serve from a running asyncio loop (as Microdot's): `await
        app.start_server()` in the app's own main(); it never returns."""
        _serve(self._handle)
        await asyncio.Event().wait()

    def _build_fast(self):
        # Routes without parameters that the in-order scan of _respond would
        # reach first, by exact path and method, when no hook or auth rule
        # applies to every request: those requests skip the scan.
        self._fast = {}
        self._fast_n = len(self.routes)
        if self._auth or self._before or self._async:
            return
        for r in self.routes:
            if r.fixed is None:
                break  # a parameter route could match what follows it
            if r.auth is not None or r.is_async or isinstance(r, _SocketRoute) or "%" in r.pattern:
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
        if route is not None and route.is_async:
            self._defer(req, self._answer(req, route, _NO_PARAMS, None))
            return
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
            resp = _over_budget(req, e)
        if is_coroutine(resp):  # an async error handler's
            self._defer(req, self._answer_error(req, resp))
        elif resp is not None:
            self._finish(req, resp)

    def _finish(self, req, resp):
        conn = req.conn
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

    def _defer(self, req, coro):
        # Answered by a coroutine, at once as far as it can go, then as a task
        # (cancelled if the client leaves first).
        task = start(coro)
        if task is not None:
            _watched[req.conn] = task
            _mongoose.watch(req.conn, False)

    async def _answer(self, req, route, params, allowed):
        # _respond's second half, in a task: what returns a coroutine is awaited.
        try:
            try:
                resp = None
                for fn in self._before:
                    ret = fn(req)
                    if is_coroutine(ret):
                        ret = await ret
                    if ret is not None:
                        resp = _to_response(ret)
                        break
                if resp is None and (route is None or isinstance(route, _SocketRoute)):
                    resp = self._unrouted(req, route, params, allowed, False)  # static: tried in _respond
                    if is_coroutine(resp):
                        resp = await resp  # an async 405 handler's
                else:
                    if resp is None:
                        ret = route.handler(req, **params) if params else route.handler(req)
                        if is_coroutine(ret):
                            ret = await ret
                        resp = ret if isinstance(ret, Response) else _to_response(ret)
                    for fn in self._after:
                        ret = fn(req, resp)
                        if is_coroutine(ret):
                            ret = await ret
                        if ret is not None:
                            resp = _to_response(ret)
            except Exception as e:
                resp = self._error(req, e)
                if is_coroutine(resp):
                    resp = await self._error_async(req, resp)
        except BudgetExceeded as e:
            resp = _over_budget(req, e)
        except asyncio.CancelledError:
            if type(_watched.get(req.conn)) is not _Task:
                raise  # the client left: nothing to answer
            # Cancelled otherwise (a task it awaited was): the client still waits.
            resp = Response("Service Unavailable\n", 503, None, "text/plain; charset=utf-8")
        self._finish_task(req, resp)

    async def _answer_error(self, req, coro):
        try:
            resp = await self._error_async(req, coro)
        except BudgetExceeded as e:
            resp = _over_budget(req, e)
        self._finish_task(req, resp)

    def _finish_task(self, req, resp):
        if type(_watched.get(req.conn)) is _Task:
            del _watched[req.conn]
        if resp is not None:
            self._finish(req, resp)

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
            ret = handler(req, e)
            return ret if is_coroutine(ret) else _to_response(ret)  # an async one's, for _answer to await
        except Exception as e2:
            return _error_handler_failed(req, e2)

    async def _allowing(self, req, coro, allowed):
        resp = await self._error_async(req, coro)
        resp.headers["Allow"] = _allow(allowed)
        return resp

    async def _error_async(self, req, coro):
        try:
            return _to_response(await coro)
        except Exception as e:
            return _error_handler_failed(req, e)

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
        route, params, allowed, denied = self._match(req)
        if denied is not None:
            return denied
        if self._async or (route is not None and route.is_async):
            if isinstance(route, _SocketRoute):
                return self._open_now(req, route, params)
            # A static file only while the request is in hand: before the
            # hooks, which then run in a task.
            if route is None and not allowed and self._static_file(req):
                return None
            self._defer(req, self._answer(req, route, params, allowed))
            return None
        for fn in self._before:
            ret = fn(req)
            if ret is not None:
                return self._after_hooks(req, _to_response(ret))
        if route is None or isinstance(route, _SocketRoute):
            return self._unrouted(req, route, params, allowed)
        ret = route.handler(req, **params) if params else route.handler(req)
        resp = ret if isinstance(ret, Response) else _to_response(ret)
        return self._after_hooks(req, resp) if self._after else resp

    def _open_now(self, req, route, params):
        # A WebSocket or SSE handshake is answered in the request's callback:
        # an async hook runs there to its end (one that waits cannot).
        for fn in self._before:
            ret = _now(fn(req))
            if ret is not None:
                resp = _to_response(ret)
                for after in self._after:
                    ret = _now(after(req, resp))
                    if ret is not None:
                        resp = _to_response(ret)
                return resp
        return self._open_socket(req, route, params)

    def _match(self, req):
        # (route or None, its URL parameters, the methods of the path's other
        # routes, a refusal by an auth rule or None).
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
        denied = None
        if self._auth or (route is not None and route.auth is not None):
            denied = self._check_auth(req, route, parts)
        return route, params, allowed, denied

    def _unrouted(self, req, route, params, allowed, static=True):
        # A path without a route of this method (405, OPTIONS, a static file,
        # 404), or a WebSocket or event stream.
        method = req.method
        if route is None:
            if allowed:
                if method == "OPTIONS":
                    return Response("", 204, {"Allow": _allow(allowed)}, "")
                resp = self._error(req, HTTPError(405))
                if is_coroutine(resp):
                    return self._allowing(req, resp, allowed)
                resp.headers["Allow"] = _allow(allowed)
                return resp
            if static and self._static_file(req):
                return None
            raise HTTPError(404)
        return self._open_socket(req, route, params)

    def _static_file(self, req):
        return req.method in ("GET", "HEAD") and self.static and _mongoose.serve_static(req.conn)

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
            heading = "Traceback in event stream handler for %s:" % req.path
            try:
                follow(route.handler(stream, req, **params), heading, stream.close)
            except _FAILURES as e:
                # Too late for a 500: the 200 is on its way. End the stream.
                _log_exception(heading, e)
                stream.close()
            return None
        upgrade = req.headers.get("Upgrade") or ""
        if upgrade.lower() != "websocket" or "Sec-WebSocket-Key" not in req.headers:
            return Response("WebSocket upgrade expected\n", 426, {"Upgrade": "websocket"},
                            "text/plain; charset=utf-8")
        ws = WebSocket(req.conn, req, route)
        heading = "Traceback in WebSocket open handler for %s:" % req.path
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
                follow(opener(ws, req, **params), heading, ws._failed)
        except _FAILURES as e:
            _log_exception(heading, e)
            ws._failed()
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


def _now(ret):
    if is_coroutine(ret):
        return run_now(ret, "an async hook waited during a WebSocket or SSE handshake, which is answered at once")
    return ret


def _over_budget(req, e):
    _log_exception("Traceback while answering %s %s:" % (req.method, req.path), e)
    return Response("Service Unavailable\n", 503, None, "text/plain; charset=utf-8")


def _error_handler_failed(req, e):
    _log_exception("Traceback in error handler for %s %s:" % (req.method, req.path), e)
    return Response("Internal Server Error\n", 500, None, "text/plain; charset=utf-8")


def _allow(methods):
    seen = []
    for m in methods:
        if m not in seen:
            seen.append(m)
    if "GET" in seen and "HEAD" not in seen:
        seen.append("HEAD")
    return ", ".join(seen)
