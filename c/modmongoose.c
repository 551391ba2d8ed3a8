// The `_mongoose` Python module: the thin C layer under `mongoose` (see
// py/mongoose.py, where the seed API and App live). Connections are named by
// Mongoose's connection id; Python never holds a C pointer.
//
//   listen(handler, on_request, request_class)
//                              serve HTTP on the guest's port 80. Each request
//                              is on_request(req), req an instance of
//                              request_class made here (__init__ not called)
//                              with conn, method, path, query_string, _flat
//                              (the headers as a flat tuple) and body (bytes);
//                              later events are handler(event, conn, *args):
//     DRAIN   conn             a watched connection can take more output
//     WS_MSG  conn, data       str (text frame) or bytes (binary frame)
//     CLOSE   conn             a watched connection closed
//   poll(ms)                   run the network for up to ms milliseconds
//   entry(fn, serve=False)     fn, wrapped to calibrate the GC rule (port.h);
//                              with serve, it then polls forever
//   reply(conn, status, headers, body)               a whole response
//   start(conn, status, headers, chunked)            open a response
//   send(conn, data, chunk=False) -> bytes queued    write to it
//   end(conn, close=False)                           finish it
//   watch(conn, drain)         deliver CLOSE (and DRAIN if drain) events
//   ws_upgrade(conn, headers)  answer a WebSocket handshake
//   ws_send(conn, data)        a text (str) or binary (bytes) message
//   close(conn, code=1000, reason='')                close (WS: close frame)
//   serve_static(conn) -> bool serve the request from the static files
//   timer(ms, fn, repeat) -> id, cancel(id)
//   peer(conn) -> (host, port) the real client, as the host saw it
//   log_exception(heading, exc) a traceback on the server's stderr
//   mqtt_connect/mqtt_pub/mqtt_sub/mqtt_unsub/mqtt_ping/mqtt_disconnect,
//   http_request, abort, ready: outbound connections (c/client.c)
// Responses to HEAD requests get their headers only, whatever Python passes.
#include <string.h>
#include <time.h>

#include "py/objstr.h"
#include "py/objtype.h"
#include "py/runtime.h"
#include "py/unicode.h"
#include "c/client.h"
#include "c/imports.h"
#include "c/netif.h"
#include "c/port.h"

#ifdef PG_NATIVE
#define PG_HTTP_URL pg_listen_url()  // a real socket (c/native.c)
#else
#define PG_HTTP_URL "http://0.0.0.0:80"
#endif

// Per-connection state in c->data. Mongoose's static file sender keeps its
// byte count in the last size_t of c->data, so this must stay clear of it.
enum {
    F_CLOSE_AFTER = 1,  // the request asked for Connection: close
    F_STARTED = 2,      // a response was begun for the current request
    F_WATCHED = 4,      // Python wants CLOSE events
    F_DRAIN = 8,        // ... and DRAIN events
    F_CHUNKED = 16,     // the open response uses chunked encoding
    F_HEAD = 32,        // the current request is HEAD
    F_HTTP10 = 64,      // ... and HTTP/1.0: no chunked encoding
    F_SERVED = 256,     // a request has been answered on this connection
    F_STATIC = 128,     // Mongoose is sending a static file for the current request
    F_HEAD_WAIT = 512,  // a request head is arriving (since_ms: its first byte)
    F_BODY = 1024,      // its head was accepted and its body is arriving (since_ms: the last bytes)
    F_CHUNKED_IN = 2048,  // ... a chunked body, being decoded (rx_out, rx_in)
    F_PIPELINED = 4096,   // is_resp is set only to hold the next request back (see http_pfn)
};
typedef struct {
    char *log_line;  // "METHOD uri" of the request being answered (access log)
    uint32_t start_ms;
    uint32_t bytes;  // response body bytes queued so far
    uint16_t status;
    uint16_t flags;
    uint32_t since_ms;  // see F_HEAD_WAIT and F_BODY; with no request in progress: idle since
    // F_CHUNKED_IN: the decoded body ends at rx_out and the raw chunks resume
    // at rx_in (offsets in c->recv); a Content-Length body: rx_out is where it ends.
    uint32_t rx_out, rx_in;
} pg_conn_t;

_Static_assert(sizeof(pg_conn_t) + sizeof(size_t) <= MG_DATA_SIZE, "c->data too small");

static inline pg_conn_t *conn_state(struct mg_connection *c) {
    return (pg_conn_t *)c->data;
}

bool pg_access_log;  // set by pg_init from the host's options

// Valid only while a request is being handled.
static struct mg_connection *current_conn;
static struct mg_http_message *current_hm;

// One access log record per response, for the host to format:
// "A <port>\t<status>\t<bytes>\t<ms>\t<METHOD uri>\n" on fd 3.
static void log_response(struct mg_connection *c) {
    pg_conn_t *st = conn_state(c);
    if (st->log_line == NULL) {
        return;
    }
    char head[96];
    int n = snprintf(head, sizeof(head), "%u\t%u\t%lu\t%lu\t", (unsigned)mg_ntohs(c->rem.port), st->status,
        (unsigned long)st->bytes, (unsigned long)((uint32_t)mg_millis() - st->start_ms));
    size_t len = strlen(st->log_line);
    st->log_line[len] = '\n';  // allocated with room for it
    pg_write(3, head, (size_t)n);
    pg_write(3, st->log_line, len + 1);
    free(st->log_line);
    st->log_line = NULL;
}

struct mg_connection *pg_find_conn(mp_obj_t id_in) {
    unsigned long id = (unsigned long)mp_obj_get_int(id_in);
    if (current_conn != NULL && current_conn->id == id) {
        return current_conn;
    }
    for (struct mg_connection *c = pg_mgr.conns; c != NULL; c = c->next) {
        if (c->id == id) {
            return c->is_closing ? NULL : c;
        }
    }
    return NULL;
}

// Connections that are gone raise OSError: writing to a closed socket is an
// error the app can catch, as with sockets.
struct mg_connection *pg_conn_arg(mp_obj_t id_in) {
    struct mg_connection *c = pg_find_conn(id_in);
    if (c == NULL) {
        mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("connection closed"));
    }
    return c;
}

static mp_obj_t call_handler(const char *context, size_t n_args, mp_obj_t *args) {
    mp_obj_t handler = MP_STATE_PORT(pg_handler);
    if (handler == MP_OBJ_NULL) {
        return MP_OBJ_NULL;
    }
    return pg_call(context, handler, n_args, args);
}

// ---- Responses -------------------------------------------------------------

// A response body larger than this is fed to Mongoose in pieces of this
// size: Mongoose shifts its whole send buffer after every segment it sends,
// so a body queued whole would cost time quadratic in its size.
#define PG_STREAM_CHUNK (64 * 1024)

// A body being streamed out; the object stays rooted in pg_streams meanwhile.
typedef struct {
    mp_obj_t key;
    const byte *buf;
    size_t len, off;
} pg_stream_t;

static void stream_end(struct mg_connection *c) {
    pg_stream_t *s = (pg_stream_t *)c->fn_data;
    mp_obj_dict_delete(MP_STATE_PORT(pg_streams), s->key);
    c->fn_data = NULL;
    free(s);
}

// The response is complete: log it, then close or go on to the next request.
static void response_done(struct mg_connection *c) {
    pg_conn_t *st = conn_state(c);
    log_response(c);
    bool close_after = (st->flags & F_CLOSE_AFTER) != 0;
    // A connection about to close keeps F_WATCHED: Python learns of the close.
    st->flags &= (uint16_t)~(F_STARTED | F_CHUNKED | F_DRAIN | F_HEAD | (close_after ? 0 : F_WATCHED));
    st->flags |= F_SERVED;
    c->is_resp = 0;  // Mongoose may parse the next request
    st->since_ms = (uint32_t)mg_millis();  // the idle timeout counts from here
    if (close_after) {
        c->is_draining = 1;
    } else if (c != current_conn && c->recv.len > 0) {
        long none = 0;
        mg_call(c, MG_EV_READ, &none);  // requests pipelined behind this one
    }
}

static void stream_feed(struct mg_connection *c) {
    pg_stream_t *s = (pg_stream_t *)c->fn_data;
    while (c->send.len < PG_STREAM_CHUNK && s->off < s->len) {
        size_t n = s->len - s->off < PG_STREAM_CHUNK ? s->len - s->off : PG_STREAM_CHUNK;
        mg_send(c, s->buf + s->off, n);
        s->off += n;
    }
    if (s->off == s->len) {
        stream_end(c);
        response_done(c);
    }
}

static const char *reason_phrase(int status) {
    static const struct {
        int status;
        const char *text;
    } reasons[] = {
        {100, "Continue"}, {101, "Switching Protocols"}, {200, "OK"}, {201, "Created"}, {202, "Accepted"},
        {204, "No Content"}, {206, "Partial Content"}, {301, "Moved Permanently"}, {302, "Found"},
        {303, "See Other"}, {304, "Not Modified"}, {307, "Temporary Redirect"}, {308, "Permanent Redirect"},
        {400, "Bad Request"}, {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"},
        {405, "Method Not Allowed"}, {406, "Not Acceptable"}, {408, "Request Timeout"}, {409, "Conflict"},
        {410, "Gone"}, {411, "Length Required"}, {413, "Payload Too Large"}, {414, "URI Too Long"},
        {415, "Unsupported Media Type"}, {416, "Range Not Satisfiable"}, {418, "I'm a teapot"},
        {422, "Unprocessable Content"}, {426, "Upgrade Required"}, {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"}, {500, "Internal Server Error"}, {501, "Not Implemented"},
        {502, "Bad Gateway"}, {503, "Service Unavailable"}, {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
    };
    for (size_t i = 0; i < MP_ARRAY_SIZE(reasons); i++) {
        if (reasons[i].status == status) {
            return reasons[i].text;
        }
    }
    return status < 200 ? "Informational" : status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Client Error"
                                                                                                          : "Server Error";
}

// Raises before anything is queued or allocated if a response cannot start.
static void check_start(struct mg_connection *c, mp_int_t status) {
    if (conn_state(c)->flags & F_STARTED || c->is_websocket) {
        mp_raise_msg(&mp_type_RuntimeError, MP_ERROR_TEXT("response already started"));
    }
    if (status < 200 || status > 999) {  // 1xx: Mongoose and the host own those
        mp_raise_ValueError(MP_ERROR_TEXT("status must be 200..999"));
    }
}

static void begin_response(struct mg_connection *c, mp_int_t status, const char *h, size_t hlen) {
    pg_conn_t *st = conn_state(c);
    st->status = (uint16_t)status;
    st->bytes = 0;
    st->flags |= F_STARTED;
    mg_printf(c, "HTTP/1.1 %d %s\r\n%s%.*s", (int)status, reason_phrase((int)status),
        st->flags & F_CLOSE_AFTER ? "Connection: close\r\n" : "", (int)hlen, h);
}

// The (conn, status, headers) that reply() and start() share, checked before
// anything is queued. Returns the header block.
static const char *response_args(const mp_obj_t *args, struct mg_connection **c, mp_int_t *status, size_t *hlen) {
    *c = pg_conn_arg(args[0]);
    *status = mp_obj_get_int(args[1]);
    check_start(*c, *status);
    return mp_obj_str_get_data(args[2], hlen);
}

// 1xx, 204 and 304 responses have no body and no Content-Length (RFC 9110).
static bool bodiless(mp_int_t status) {
    return status < 200 || status == 204 || status == 304;
}

// reply(conn, status, headers, body): headers is a str of "Name: value\r\n"
// lines; Content-Length is added here.
static mp_obj_t mongoose_reply(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    struct mg_connection *c;
    mp_int_t status;
    size_t hlen;
    const char *h = response_args(args, &c, &status, &hlen);
    mp_buffer_info_t buf = {NULL, 0, 0};
    if (args[3] != mp_const_none && !bodiless(status)) {
        mp_get_buffer_raise(args[3], &buf, MP_BUFFER_READ);
    }
    bool head = (conn_state(c)->flags & F_HEAD) != 0;
    pg_stream_t *s = NULL;
    if (!head && buf.len > PG_STREAM_CHUNK) {
        mp_obj_t body = args[3];
        if (!mp_obj_is_str_or_bytes(body)) {
            // A bytearray may be resized later, moving its buffer: stream a copy.
            body = pg_new_bytes(buf.buf, buf.len);
            mp_get_buffer_raise(body, &buf, MP_BUFFER_READ);
        }
        // Root the body first: this may raise, and nothing is queued yet.
        mp_obj_t key = MP_OBJ_NEW_SMALL_INT(c->id & 0x3fffffff);
        mp_obj_dict_store(MP_STATE_PORT(pg_streams), key, body);
        s = calloc(1, sizeof(*s));
        if (s == NULL) {
            mp_obj_dict_delete(MP_STATE_PORT(pg_streams), key);
            mp_raise_msg(&mp_type_MemoryError, MP_ERROR_TEXT("no memory to stream the response"));
        }
        s->key = key;
        s->buf = buf.buf;
        s->len = buf.len;
    }
    // Nothing below raises.
    begin_response(c, status, h, hlen);
    if (bodiless(status)) {
        mg_send(c, "\r\n", 2);
    } else {
        mg_printf(c, "Content-Length: %lu\r\n\r\n", (unsigned long)buf.len);
    }
    conn_state(c)->bytes = head ? 0 : (uint32_t)buf.len;
    if (s != NULL) {
        c->fn_data = s;
        stream_feed(c);
    } else {
        if (!head) {
            mg_send(c, buf.buf, buf.len);
        }
        response_done(c);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_reply_obj, 4, 4, mongoose_reply);

// start(conn, status, headers, chunked): headers say how the body is framed:
// Content-Length, or chunked=True (this adds Transfer-Encoding: chunked; to
// an HTTP/1.0 client the body is instead ended by closing the connection),
// or neither for a body that ends when the connection closes.
static mp_obj_t mongoose_start(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    struct mg_connection *c;
    mp_int_t status;
    size_t hlen;
    const char *h = response_args(args, &c, &status, &hlen);
    bool chunked = mp_obj_is_true(args[3]);
    begin_response(c, status, h, hlen);
    pg_conn_t *st = conn_state(c);
    if (bodiless(status)) {
        st->flags |= F_HEAD;  // send() drops whatever the app streams
    } else if (chunked) {
        if (st->flags & F_HTTP10) {
            st->flags |= F_CLOSE_AFTER;
        } else {
            st->flags |= F_CHUNKED;
            mg_printf(c, "Transfer-Encoding: chunked\r\n");
        }
    }
    mg_send(c, "\r\n", 2);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_start_obj, 4, 4, mongoose_start);

// send(conn, data, chunk=False): raw bytes after start() (chunk framing is
// added when the response is chunked). Returns the bytes now waiting in the
// connection's send buffer, for the caller's flow control.
static mp_obj_t mongoose_send(size_t n_args, const mp_obj_t *args) {
    struct mg_connection *c = pg_conn_arg(args[0]);
    pg_conn_t *st = conn_state(c);
    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[1], &buf, MP_BUFFER_READ);
    if (!(st->flags & F_STARTED)) {
        if (c->is_draining) {
            mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("connection closing"));
        }
        mp_raise_msg(&mp_type_RuntimeError, MP_ERROR_TEXT("send() before start()"));
    }
    if (buf.len > 0 && !(st->flags & F_HEAD)) {
        if (st->flags & F_CHUNKED) {
            mg_printf(c, "%lx\r\n", (unsigned long)buf.len);
            mg_send(c, buf.buf, buf.len);
            mg_send(c, "\r\n", 2);
        } else {
            mg_send(c, buf.buf, buf.len);
        }
        st->bytes += (uint32_t)buf.len;
    }
    (void)n_args;
    return mp_obj_new_int_from_uint(c->send.len);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_send_obj, 2, 3, mongoose_send);

static mp_obj_t mongoose_end(size_t n_args, const mp_obj_t *args) {
    struct mg_connection *c = pg_find_conn(args[0]);
    if (c == NULL) {
        return mp_const_none;  // the client left first: nothing to finish
    }
    pg_conn_t *st = conn_state(c);
    if (!(st->flags & F_STARTED)) {
        mp_raise_msg(&mp_type_RuntimeError, MP_ERROR_TEXT("end() before start()"));
    }
    if ((st->flags & (F_CHUNKED | F_HEAD)) == F_CHUNKED) {
        mg_send(c, "0\r\n\r\n", 5);
    }
    if (n_args > 1 && mp_obj_is_true(args[1])) {
        st->flags |= F_CLOSE_AFTER;
    }
    response_done(c);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_end_obj, 1, 2, mongoose_end);

static mp_obj_t mongoose_watch(mp_obj_t conn, mp_obj_t drain) {
    struct mg_connection *c = pg_conn_arg(conn);
    pg_conn_t *st = conn_state(c);
    st->flags |= F_WATCHED;
    if (mp_obj_is_true(drain)) {
        st->flags |= F_DRAIN;
    } else {
        st->flags &= (uint16_t)~F_DRAIN;
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(mongoose_watch_obj, mongoose_watch);

// ---- WebSocket -------------------------------------------------------------

// Messages above this close the socket with 1009 instead of being buffered.
#define PG_WS_MAX_MESSAGE (4 * 1024 * 1024)

static mp_obj_t mongoose_ws_upgrade(mp_obj_t conn, mp_obj_t headers) {
    struct mg_connection *c = pg_conn_arg(conn);
    if (c != current_conn || current_hm == NULL) {
        mp_raise_msg(&mp_type_RuntimeError, MP_ERROR_TEXT("ws_upgrade() only while handling the request"));
    }
    size_t hlen;
    const char *h = mp_obj_str_get_data(headers, &hlen);
    pg_conn_t *st = conn_state(c);
    st->status = 101;
    st->flags |= F_WATCHED;
    mg_ws_upgrade(c, current_hm, "%.*s", (int)hlen, h);
    log_response(c);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(mongoose_ws_upgrade_obj, mongoose_ws_upgrade);

static mp_obj_t mongoose_ws_send(mp_obj_t conn, mp_obj_t data) {
    struct mg_connection *c = pg_conn_arg(conn);
    if (!c->is_websocket) {
        mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("not a WebSocket"));
    }
    if (c->is_draining) {
        // A close frame has gone out: no data frame may follow it (RFC 6455 5.5.1).
        mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("WebSocket is closing"));
    }
    mp_buffer_info_t buf;
    mp_get_buffer_raise(data, &buf, MP_BUFFER_READ);
    int op = mp_obj_is_str(data) ? WEBSOCKET_OP_TEXT : WEBSOCKET_OP_BINARY;
    mg_ws_send(c, buf.buf, buf.len, op);
    return mp_obj_new_int_from_uint(c->send.len);
}
static MP_DEFINE_CONST_FUN_OBJ_2(mongoose_ws_send_obj, mongoose_ws_send);

static void ws_close(struct mg_connection *c, int code, const char *reason, size_t reason_len) {
    char frame[125];
    if (reason_len > sizeof(frame) - 2) {
        reason_len = sizeof(frame) - 2;
    }
    frame[0] = (char)(code >> 8);
    frame[1] = (char)code;
    memcpy(frame + 2, reason, reason_len);
    mg_ws_send(c, frame, reason_len + 2, WEBSOCKET_OP_CLOSE);
    c->is_draining = 1;
}

static mp_obj_t mongoose_close(size_t n_args, const mp_obj_t *args) {
    struct mg_connection *c = pg_find_conn(args[0]);
    if (c == NULL) {
        return mp_const_none;
    }
    if (c->is_draining) {
        return mp_const_none;  // already closing: one close frame only
    }
    if (c->is_websocket) {
        size_t rlen = 0;
        const char *reason = n_args > 2 ? mp_obj_str_get_data(args[2], &rlen) : "";
        ws_close(c, n_args > 1 ? mp_obj_get_int(args[1]) : 1000, reason, rlen);
    } else {
        c->is_draining = 1;
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_close_obj, 1, 3, mongoose_close);

// Refuse a frame whose declared length is too big before Mongoose buffers it.
static void ws_check_size(struct mg_connection *c) {
    size_t ofs = (size_t)c->pfn_data;  // Mongoose's offset past buffered fragments
    if (ofs > PG_WS_MAX_MESSAGE + 1) {  // many small continuation frames
        c->recv.len = 0;
        c->pfn = NULL;
        ws_close(c, 1009, "message too big", 15);
        return;
    }
    if (c->recv.len < ofs + 2) {
        return;
    }
    const uint8_t *p = c->recv.buf + ofs;
    uint64_t len = p[1] & 127;
    if (len == 126 && c->recv.len >= ofs + 4) {
        len = ((uint64_t)p[2] << 8) | p[3];
    } else if (len == 127 && c->recv.len >= ofs + 10) {
        len = 0;
        for (int i = 2; i < 10; i++) {
            len = (len << 8) | p[i];
        }
    }
    // While a fragmented message is buffered, Mongoose keeps its first
    // frame's flags byte at recv.buf[0] ahead of the data: ofs - 1 bytes so far.
    size_t held = ofs > 0 ? ofs - 1 : 0;
    if (held + len > PG_WS_MAX_MESSAGE) {
        c->recv.len = 0;
        c->pfn = NULL;  // stop parsing: we are closing
        ws_close(c, 1009, "message too big", 15);
    }
}

// UTF-8 as RFC 3629 defines it, which RFC 6455 requires of text messages.
// MicroPython's utf8_check() only checks the byte structure: it accepts
// overlong forms, UTF-16 surrogates and code points above U+10FFFF.
static bool utf8_strict(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xbf;  // the range of the second byte
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            lo = c == 0xe0 ? 0xa0 : 0x80;  // no overlong forms
            hi = c == 0xed ? 0x9f : 0xbf;  // no surrogates
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            lo = c == 0xf0 ? 0x90 : 0x80;  // no overlong forms
            hi = c == 0xf4 ? 0x8f : 0xbf;  // nothing above U+10FFFF
        } else {
            return false;
        }
        if (n - i <= need || s[i + 1] < lo || s[i + 1] > hi) {
            return false;
        }
        for (size_t k = 2; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return false;
            }
        }
        i += need + 1;
    }
    return true;
}

static void ws_deliver(struct mg_connection *c, struct mg_ws_message *wm);

// Anything raised making the message (MemoryError) closes this socket only.
static void ws_message(struct mg_connection *c, struct mg_ws_message *wm) {
    if (c->is_draining) {
        return;  // we have sent our close frame: nothing more is delivered
    }
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        ws_deliver(c, wm);
        nlr_pop();
    } else {
        mp_printf(&mp_stderr_print, "Traceback while receiving a WebSocket message:\n");
        mp_obj_print_exception(&mp_stderr_print, MP_OBJ_FROM_PTR(nlr.ret_val));
        ws_close(c, 1011, "internal error", 14);
    }
}

static void ws_deliver(struct mg_connection *c, struct mg_ws_message *wm) {
    mp_obj_t data;
    if ((wm->flags & 15) == WEBSOCKET_OP_TEXT) {
        if (!utf8_strict((const uint8_t *)wm->data.buf, wm->data.len)) {
            ws_close(c, 1007, "invalid UTF-8", 13);
            return;
        }
        data = mp_obj_new_str(wm->data.buf, wm->data.len);
    } else {
        data = pg_new_bytes(wm->data.buf, wm->data.len);
    }
    mp_obj_t args[3] = {MP_OBJ_NEW_SMALL_INT(EV_WS_MSG), mp_obj_new_int_from_uint(c->id), data};
    call_handler("WebSocket message handler", 3, args);
}

// ---- Static files ------------------------------------------------------------
// The host copies a directory into guest memory at start (pg_fs_add); Mongoose
// serves it through its packed-file system, which reads only this table.

typedef struct {
    char *path;
    const char *data;
    size_t size;
    time_t mtime;
} pg_file_t;

static pg_file_t *files;
static size_t n_files, files_cap;

// Mongoose's directory logic needs a root other than "/": files live under
// this prefix in the table, and URIs map onto it.
#define PG_STATIC_ROOT "/www"

// Takes ownership of data (malloc'd by the host); path is copied.
PG_EXPORT int pg_fs_add(const char *path, const char *data, size_t size, double mtime) {
    if (n_files == files_cap) {
        size_t cap = files_cap == 0 ? 64 : files_cap * 2;
        pg_file_t *p = realloc(files, cap * sizeof(*p));
        if (p == NULL) {
            return 0;
        }
        files = p;
        files_cap = cap;
    }
    char *stored = malloc(strlen(PG_STATIC_ROOT) + strlen(path) + 1);
    if (stored == NULL) {
        return 0;
    }
    strcpy(stored, PG_STATIC_ROOT);
    strcat(stored, path);
    files[n_files++] = (pg_file_t){stored, data, size, (time_t)mtime};
    return 1;
}

const char *mg_unpack(const char *path, size_t *size, time_t *mtime) {
    for (size_t i = 0; i < n_files; i++) {
        if (strcmp(files[i].path, path) == 0) {
            if (size != NULL) {
                *size = files[i].size;
            }
            if (mtime != NULL) {
                *mtime = files[i].mtime;
            }
            return files[i].data;
        }
    }
    return NULL;
}

const char *mg_unlist(size_t i) {
    return i < n_files ? files[i].path : NULL;
}

// libc's gmtime pulls in the environment (TZ) as imports: the civil-from-days
// algorithm is a few lines.
static void http_date(char *out, size_t cap, const char *prefix, int64_t t) {
    static const char *const days[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int64_t day = (t >= 0 ? t : t - 86399) / 86400, secs = t - day * 86400;
    int64_t z = day + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1), m = (int)(mp < 10 ? mp + 3 : mp - 9);
    int y = (int)(yoe + era * 400 + (m <= 2));
    snprintf(out, cap, "%s%s, %02d %s %04d %02d:%02d:%02d GMT\r\n", prefix, days[((day % 7) + 7) % 7], d, months[m - 1],
        y, (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
}

// The file Mongoose will send for a path it found (a directory's index.html,
// the .gz variant for a client that takes gzip), for the headers Mongoose
// leaves to us: false if it will send none. *has_gz: there is a .gz variant.
static bool static_target(struct mg_http_message *hm, const char *path, int flags, size_t *size, time_t *mtime,
    bool *has_gz) {
    char file[MG_PATH_MAX + 16], gz[MG_PATH_MAX + 20];
    snprintf(file, sizeof(file), (flags & MG_FS_DIR) ? "%s/" MG_HTTP_INDEX : "%s", path);
    snprintf(gz, sizeof(gz), "%s.gz", file);
    *has_gz = (mg_fs_packed.st(gz, NULL, NULL) & MG_FS_READ) != 0;
    struct mg_str *ae = mg_http_get_header(hm, "Accept-Encoding");
    if (*has_gz && ae != NULL && mg_match(*ae, mg_str("*gzip*"), NULL)) {
        return (mg_fs_packed.st(gz, size, mtime) & MG_FS_READ) != 0;
    }
    return (mg_fs_packed.st(file, size, mtime) & MG_FS_READ) != 0;
}

// serve_static(conn): True if the request names a static file or directory
// (the response is then sent), False if not (nothing is sent).
static mp_obj_t mongoose_serve_static(mp_obj_t conn) {
    struct mg_connection *c = pg_conn_arg(conn);
    struct mg_http_message *hm = current_hm;
    if (c != current_conn || hm == NULL) {
        mp_raise_msg(&mp_type_RuntimeError, MP_ERROR_TEXT("serve_static() only while handling the request"));
    }
    if (n_files == 0) {
        return mp_const_false;
    }
    // Resolve as Mongoose will, to learn whether anything is there.
    char path[MG_PATH_MAX] = PG_STATIC_ROOT;
    size_t root_len = strlen(PG_STATIC_ROOT);
    int decoded = mg_url_decode(hm->uri.buf, hm->uri.len, path + root_len, sizeof(path) - root_len, 0);
    if (decoded < 0) {
        return mp_const_false;  // a bad escape or too long: no file has that name
    }
    size_t n = strlen(path);
    // A %00 would cut the name short (/a.css%00.txt is not /a.css).
    bool nul = decoded > 0 && n != root_len + (size_t)decoded;
    while (n > root_len && path[n - 1] == '/') {
        path[--n] = '\0';
    }
    size_t size = 0;
    time_t mtime = 0;
    int flags = mg_fs_packed.st(path, &size, &mtime);
    if (flags == 0 && mg_path_is_sane(mg_str(path))) {
        char gz[MG_PATH_MAX + 3];
        snprintf(gz, sizeof(gz), "%s.gz", path);
        flags = mg_fs_packed.st(gz, &size, &mtime);
    }
    if (flags == 0 && mg_path_is_sane(mg_str(path)) && !nul) {
        return mp_const_false;
    }
    pg_conn_t *st = conn_state(c);
    size_t before = c->send.len;
    if (nul) {
        mg_http_reply(c, 400, "", "Invalid path\n");
    } else {
        // Last-Modified: Mongoose sends an ETag only.
        char extra[96] = "";
        size_t fsize = 0;
        time_t fmtime = 0;
        bool has_gz = false;
        bool file = static_target(hm, path, flags, &fsize, &fmtime, &has_gz);
        if (file) {
            http_date(extra, sizeof(extra), "Last-Modified: ", (int64_t)fmtime);
            size = fsize;
        }
        if (has_gz) {
            // Caches must not hand the gzip variant to clients that did not ask for it.
            strcat(extra, "Vary: Accept-Encoding\r\n");
        }
        // Mongoose reads a suffix range "bytes=-N" as the whole file: give it
        // the range that means (restored after: Mongoose reads hm again).
        struct mg_str *rh = mg_http_get_header(hm, "Range");
        struct mg_str range_was = rh != NULL ? *rh : mg_str("");
        char range[48];
        size_t suffix = 0;
        if (file && rh != NULL && rh->len > 7 && memcmp(rh->buf, "bytes=-", 7) == 0 &&
            mg_str_to_num(mg_str_n(rh->buf + 7, rh->len - 7), 10, &suffix, sizeof(suffix))) {
            size_t from = suffix == 0 ? fsize : suffix >= fsize ? 0 : fsize - suffix;  // fsize: unsatisfiable
            snprintf(range, sizeof(range), "bytes=%lu-", (unsigned long)from);
            *rh = mg_str(range);
        }
        struct mg_http_serve_opts opts = {.root_dir = PG_STATIC_ROOT, .fs = &mg_fs_packed, .extra_headers = extra};
        mg_http_serve_dir(c, hm, &opts);
        if (rh != NULL) {
            *rh = range_was;
        }
    }
    st->flags |= F_STARTED;
    if (c->send.len >= before + 12) {
        st->status = (uint16_t)atoi((const char *)c->send.buf + before + 9);
    }
    if (st->flags & F_HEAD) {
        // Mongoose's own replies (400, 403, 404) carry their body even for
        // HEAD, which a keep-alive client would read as the next response.
        for (size_t i = before; i + 4 <= c->send.len; i++) {
            if (memcmp(c->send.buf + i, "\r\n\r\n", 4) == 0) {
                c->send.len = i + 4;
                break;
            }
        }
    }
    if (c->is_resp) {
        st->flags |= F_STATIC;  // Mongoose streams the file: see MG_EV_WRITE
    } else if (st->flags & F_CLOSE_AFTER) {
        c->is_draining = 1;  // Mongoose sees "Connection: close" only, not HTTP/1.0
    }
    st->bytes = (uint32_t)size;
    log_response(c);  // Mongoose streams the file itself from here
    return mp_const_true;
}
static MP_DEFINE_CONST_FUN_OBJ_1(mongoose_serve_static_obj, mongoose_serve_static);

// ---- Bad clients: request framing, sizes and timeouts -------------------------
// Mongoose's parser is lenient (bare LF, obs-fold, duplicate or contradictory
// framing headers) and drops what it cannot parse without an answer. So each
// request is checked here as its bytes arrive, before Mongoose parses it (see
// http_pfn): a bad or oversized one is answered (400, 408, 411, 413, 414, 431,
// 505) with Connection: close, and nothing more is read from that client.

#define PG_MAX_REQUEST_LINE (8 * 1024)  // longer: 414
#define PG_MAX_HEAD (16 * 1024)         // a bigger head, or more than MG_MAX_HTTP_HEADERS fields: 431
#define PG_MAX_CHUNK_LINE 1024          // a chunk-size line, extensions included
// While a chunked body arrives, its decoded part sits behind this: a chunk
// Mongoose waits for (it has too few bytes yet); at the last chunk the whole
// body becomes one chunk Mongoose decodes in one pass.
#define PG_CHUNK_HOLD "7fffffff\r\n"
#define PG_CHUNK_HOLD_LEN 10

static bool is_tchar(uint8_t ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

// Control characters other than HTAB (CR and LF are checked where they may be).
static bool is_ctl(uint8_t ch) {
    return (ch < 0x20 && ch != '\t') || ch == 0x7f;
}

static int hex_digit(uint8_t ch) {
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

// The largest body accepted (also what Mongoose's 32-bit lengths can hold).
static size_t body_limit(void) {
    size_t cap = 0x7fffffff - PG_MAX_HEAD;
    return pg_limits.max_body != 0 && pg_limits.max_body < cap ? pg_limits.max_body : cap;
}

// Answer the request at the start of c->recv with an error and close the
// connection once that is sent; nothing more from this client is parsed.
static void reject(struct mg_connection *c, int status) {
    pg_conn_t *st = conn_state(c);
    if (pg_access_log) {
        // The request line as far as it goes (it may be cut short or too long).
        size_t n = 0, max = 200;
        size_t sp[2] = {0, 0};  // the first and the last space
        while (n < c->recv.len && n < max && c->recv.buf[n] != '\r' && c->recv.buf[n] != '\n') {
            if (c->recv.buf[n] == ' ') {
                sp[sp[0] == 0 ? 0 : 1] = n;
            }
            n++;
        }
        if (n < c->recv.len && n < max && sp[1] > sp[0]) {
            n = sp[1];  // "METHOD target", as for the requests served
        }
        free(st->log_line);
        st->log_line = malloc(n + 5);  // "..." or "-", NUL, and the '\n' log_response adds
        if (st->log_line != NULL) {
            for (size_t i = 0; i < n; i++) {
                uint8_t ch = c->recv.buf[i];
                st->log_line[i] = (char)(is_ctl(ch) ? '?' : ch);
            }
            strcpy(st->log_line + n, n == 0 ? "-" : n == max ? "..." : "");
        }
        st->start_ms = (uint32_t)mg_millis();
    }
    const char *text = reason_phrase(status);
    st->status = (uint16_t)status;
    st->bytes = (uint32_t)strlen(text) + 1;
    mg_http_reply(c, status, "Content-Type: text/plain\r\nConnection: close\r\n", "%s\n", text);
    log_response(c);
    st->flags &= (uint16_t)~(F_HEAD_WAIT | F_BODY | F_CHUNKED_IN | F_PIPELINED);
    c->recv.len = 0;
    c->is_draining = 1;
}

// The head at the start of a request, as far as it has arrived: its length
// once complete (the blank line included), 0 while incomplete, or -status.
// Lines must end in CRLF; control characters other than HTAB are refused.
static int scan_head(const uint8_t *p, size_t n) {
    size_t line_start = 0, lines = 0;
    for (size_t i = 0; i < n; i++) {
        if (lines == 0 && i > PG_MAX_REQUEST_LINE + 1) {
            return -414;
        }
        if (i >= PG_MAX_HEAD) {
            return -431;
        }
        uint8_t ch = p[i];
        if (ch == '\n') {
            if (i == 0 || p[i - 1] != '\r') {
                return -400;  // a bare LF
            }
            if (i - 1 == line_start) {
                return lines == 0 ? -400 : (int)(i + 1);  // the blank line: the head is complete
            }
            if (++lines > 1 + MG_MAX_HTTP_HEADERS) {
                return -431;  // Mongoose would silently ignore the fields past its table
            }
            line_start = i + 1;
        } else if (ch == '\r') {
            if (i + 1 < n && p[i + 1] != '\n') {
                return -400;  // a bare CR
            }
        } else if (is_ctl(ch)) {
            return -400;
        }
    }
    return 0;
}

typedef struct {
    size_t content_length;
    bool has_length, chunked, expect_continue;
} pg_framing_t;

// Case-insensitive equality of p[0..n) and text.
static bool is_name(const uint8_t *p, size_t n, const char *text) {
    return mg_strcasecmp(mg_str_n((const char *)p, n), mg_str(text)) == 0;
}

// A complete head that scan_head passed, strictly (RFC 9112): the request
// line, the field syntax, and one unambiguous framing of the body (no
// request smuggling). Returns 0 or the status to refuse it with.
static int check_head(const uint8_t *p, size_t len, pg_framing_t *f) {
    memset(f, 0, sizeof(*f));
    // method SP request-target SP HTTP/d.d CRLF
    size_t i = 0;
    while (is_tchar(p[i])) {
        i++;
    }
    size_t method_len = i;
    if (method_len == 0 || p[i++] != ' ') {
        return 400;
    }
    size_t target = i;
    while (p[i] > ' ' && p[i] != 0x7f) {
        i++;
    }
    // Bytes past ASCII must be UTF-8, or Mongoose could not parse the line.
    if (i == target || p[i] != ' ' || !utf8_strict(p + target, i - target)) {
        return 400;
    }
    size_t v = ++i;
    while (p[i] != '\r') {
        i++;
    }
    if (i - v != 8 || memcmp(p + v, "HTTP/", 5) != 0 || p[v + 5] < '0' || p[v + 5] > '9' || p[v + 6] != '.' ||
        p[v + 7] < '0' || p[v + 7] > '9') {
        return 400;
    }
    if (p[v + 5] != '1') {
        return 505;
    }
    bool http10 = p[v + 7] == '0';
    i += 2;
    // field-name ":" OWS field-value OWS CRLF, up to the blank line
    int n_length = 0, n_te = 0, n_host = 0;
    bool te_chunked = false;
    while (p[i] != '\r') {
        size_t name = i;
        while (is_tchar(p[i])) {
            i++;
        }
        // Also refuses obs-fold (a line that starts with SP or HTAB) and
        // whitespace between the name and the colon.
        if (i == name || p[i] != ':') {
            return 400;
        }
        size_t name_len = i - name;
        i++;
        while (p[i] == ' ' || p[i] == '\t') {
            i++;
        }
        size_t value = i;
        while (p[i] != '\r') {
            i++;
        }
        size_t end = i;
        while (end > value && (p[end - 1] == ' ' || p[end - 1] == '\t')) {
            end--;
        }
        i += 2;
        const uint8_t *nm = p + name, *val = p + value;
        size_t vlen = end - value;
        if (is_name(nm, name_len, "Content-Length")) {
            n_length++;
            if (vlen == 0) {
                return 400;
            }
            size_t cl = 0;
            for (size_t k = 0; k < vlen; k++) {
                if (val[k] < '0' || val[k] > '9') {
                    return 400;
                }
                cl = cl > (SIZE_MAX - 9) / 10 ? SIZE_MAX : cl * 10 + (size_t)(val[k] - '0');
            }
            f->content_length = cl;
        } else if (is_name(nm, name_len, "Transfer-Encoding")) {
            n_te++;
            te_chunked = is_name(val, vlen, "chunked");
        } else if (is_name(nm, name_len, "Host")) {
            n_host++;
        } else if (is_name(nm, name_len, "Expect")) {
            f->expect_continue = !http10 && is_name(val, vlen, "100-continue");
        }
    }
    (void)len;
    if (n_host > 1) {
        return 400;
    }
    if (n_te > 0) {
        // Only "chunked", once, with no Content-Length, and not from HTTP/1.0.
        if (n_te > 1 || !te_chunked || n_length > 0 || http10) {
            return 400;
        }
        f->chunked = true;
    } else if (n_length > 1) {
        return 400;  // even with equal values
    } else if (n_length == 1) {
        f->has_length = true;
    } else if ((method_len == 4 && memcmp(p, "POST", 4) == 0) || (method_len == 3 && memcmp(p, "PUT", 3) == 0)) {
        return 411;  // Mongoose insists on a length for these
    }
    return 0;
}

// Make room for a request of `total` bytes when the buffer is nearly full:
// geometrically (never trusting the declared length for more than twice
// what has arrived), not one segment at a time with a copy each time.
static void grow_recv(struct mg_connection *c, size_t total) {
    if (total > c->recv.size && c->recv.size - c->recv.len < MG_IO_SIZE) {
        size_t want = c->recv.size * 2 < 256 * 1024 ? 256 * 1024 : c->recv.size * 2;
        mg_iobuf_resize(&c->recv, want < total ? want : total);
    }
}

// The last chunk and its trailer fields (dropped) have arrived, at
// [.., end): hand Mongoose the body as a single chunk.
static void finish_chunked(struct mg_connection *c, size_t body, size_t out, size_t end) {
    size_t n = out - body;
    // "%08x\r\n" data "\r\n0\r\n\r\n", or for no data "00000000\r\n\r\n"
    size_t stop = n > 0 ? out + 7 : body + 2;
    if (stop > end && mg_iobuf_add(&c->recv, end, NULL, stop - end) != stop - end) {
        reject(c, 503);
        return;
    }
    uint8_t *p = c->recv.buf;
    if (n > 0) {
        char size[PG_CHUNK_HOLD_LEN + 1];
        snprintf(size, sizeof(size), "%08x\r\n", (unsigned)n);  // n < 2^31 (body_limit)
        memcpy(p + body - PG_CHUNK_HOLD_LEN, size, PG_CHUNK_HOLD_LEN);
        memcpy(p + out, "\r\n0\r\n\r\n", 7);
    } else {
        memcpy(p + body - PG_CHUNK_HOLD_LEN, "00000000\r\n\r\n", 12);
    }
    if (end > stop) {
        mg_iobuf_del(&c->recv, stop, end - stop);
    }
    conn_state(c)->flags &= (uint16_t)~(F_BODY | F_CHUNKED_IN);
}

// Decode the chunks that have arrived whole, in place: each one's data moves
// down to rx_out, after the data decoded before it. Time and memory stay
// linear in the body however it is cut into chunks and segments.
static void dechunk(struct mg_connection *c) {
    pg_conn_t *st = conn_state(c);
    size_t body = (size_t)mg_http_get_request_len(c->recv.buf, c->recv.len) + PG_CHUNK_HOLD_LEN;
    size_t out = st->rx_out, in = st->rx_in, limit = body_limit();
    for (;;) {
        const uint8_t *p = c->recv.buf;
        size_t len = c->recv.len, i = in;
        uint64_t size = 0;
        while (i < len && hex_digit(p[i]) >= 0) {
            size = size < ((uint64_t)1 << 40) ? size * 16 + (uint64_t)hex_digit(p[i]) : size;
            i++;
        }
        if (i < len && i == in) {
            reject(c, 400);  // no chunk size
            return;
        }
        size_t ws = i;
        while (i < len && (p[i] == ' ' || p[i] == '\t')) {
            i++;
        }
        if (i < len && p[i] == ';') {  // chunk extensions: ignored
            while (i < len && p[i] != '\r' && p[i] != '\n' && !is_ctl(p[i])) {
                i++;
            }
        } else if (i < len && i > ws) {
            reject(c, 400);  // whitespace after the size is only allowed before an extension
            return;
        }
        if (i >= len || (p[i] == '\r' && i + 1 == len)) {
            if (len - in > PG_MAX_CHUNK_LINE) {
                reject(c, 400);
                return;
            }
            grow_recv(c, body + limit + PG_MAX_HEAD);  // the most it may take
            break;  // the size line is not all here yet
        }
        if (p[i] != '\r' || p[i + 1] != '\n') {
            reject(c, 400);
            return;
        }
        size_t data = i + 2;
        if (size == 0) {
            // Trailer fields: checked for their line ends, then dropped.
            size_t j = data;
            for (;;) {
                size_t line = j;
                while (j < len && p[j] != '\r' && p[j] != '\n' && !is_ctl(p[j])) {
                    j++;
                }
                if (j + 1 >= len && (j == len || p[j] == '\r')) {
                    if (len - data > PG_MAX_HEAD) {
                        reject(c, 431);
                        return;
                    }
                    st->rx_out = (uint32_t)out;
                    st->rx_in = (uint32_t)in;
                    return;  // wait for the rest
                }
                if (p[j] != '\r' || p[j + 1] != '\n') {
                    reject(c, 400);
                    return;
                }
                j += 2;
                if (j - 2 == line) {
                    finish_chunked(c, body, out, j);
                    return;
                }
            }
        }
        if (size > limit - (out - body)) {
            reject(c, 413);
            return;
        }
        if (len - data < size + 2) {
            grow_recv(c, data + (size_t)size + 2);
            break;  // the chunk is not all here yet
        }
        if (p[data + size] != '\r' || p[data + size + 1] != '\n') {
            reject(c, 400);
            return;
        }
        memmove(c->recv.buf + out, p + data, (size_t)size);
        out += (size_t)size;
        in = data + (size_t)size + 2;
    }
    // Drop the framing decoded so far once it outweighs the raw bytes still
    // to decode (which move down with it): each byte moves a bounded number of times.
    if (in - out > c->recv.len - in) {
        mg_iobuf_del(&c->recv, out, in - out);
        in = out;
    }
    st->rx_out = (uint32_t)out;
    st->rx_in = (uint32_t)in;
}

// New bytes of the request at the start of c->recv (no request is being
// answered): check its head once it is complete, and follow its body.
static void precheck(struct mg_connection *c) {
    pg_conn_t *st = conn_state(c);
    uint32_t now = (uint32_t)mg_millis();
    if (st->flags & F_BODY) {
        st->since_ms = now;
        if (st->flags & F_CHUNKED_IN) {
            dechunk(c);
        } else {
            grow_recv(c, st->rx_out);
        }
        return;
    }
    // Blank lines before a request are ignored (RFC 9112 2.2); Mongoose would
    // not parse the request behind them.
    while (c->recv.len >= 2 && c->recv.buf[0] == '\r' && c->recv.buf[1] == '\n') {
        mg_iobuf_del(&c->recv, 0, 2);
    }
    if (c->recv.len == 0) {
        return;
    }
    if (!(st->flags & F_HEAD_WAIT)) {
        st->flags |= F_HEAD_WAIT;
        st->since_ms = now;
    }
    int n = scan_head(c->recv.buf, c->recv.len);
    if (n == 0) {
        return;
    }
    pg_framing_t f = {0};
    int status = n < 0 ? -n : check_head(c->recv.buf, (size_t)n, &f);
    if (status == 0 && f.has_length && f.content_length > body_limit()) {
        status = 413;  // refused before any of it is read
    }
    if (status != 0) {
        reject(c, status);
        return;
    }
    size_t head = (size_t)n;
    st->flags &= (uint16_t)~F_HEAD_WAIT;
    st->since_ms = now;
    bool nothing_yet;  // of the body
    if (f.chunked) {
        if (mg_iobuf_add(&c->recv, head, PG_CHUNK_HOLD, PG_CHUNK_HOLD_LEN) != PG_CHUNK_HOLD_LEN) {
            reject(c, 503);
            return;
        }
        st->rx_out = st->rx_in = (uint32_t)(head + PG_CHUNK_HOLD_LEN);
        st->flags |= F_BODY | F_CHUNKED_IN;
        nothing_yet = c->recv.len == st->rx_in;
    } else {
        st->rx_out = (uint32_t)(head + f.content_length);
        if (f.content_length > c->recv.len - head) {
            st->flags |= F_BODY;
        }
        nothing_yet = f.content_length > 0 && c->recv.len == head;
    }
    if (f.expect_continue && nothing_yet) {
        mg_printf(c, "HTTP/1.1 100 Continue\r\n\r\n");  // curl waits a second for this before big uploads
    }
    if (st->flags & F_CHUNKED_IN) {
        dechunk(c);
    } else if (st->flags & F_BODY) {
        grow_recv(c, st->rx_out);
    }
}

// Per poll, with no request being answered: a head or body that is too slow
// gets 408; an idle keep-alive connection is closed (no response: the
// client may be sending a request just then). `now` is the poll's clock: one
// reading per poll, not one per connection.
static void check_timeouts(struct mg_connection *c, uint32_t now) {
    pg_conn_t *st = conn_state(c);
    if (c->is_resp || c->fn_data != NULL || (st->flags & (F_STARTED | F_STATIC))) {
        return;
    }
    // since_ms may be a little later than the poll's clock (set by a read in
    // this same poll): that is no time at all, not a wrapped-around eternity.
    int32_t since = (int32_t)(now - st->since_ms);
    uint32_t elapsed = since > 0 ? (uint32_t)since : 0;
    if (st->flags & F_BODY) {
        if (pg_limits.idle_timeout_ms != 0 && elapsed >= pg_limits.idle_timeout_ms) {
            reject(c, 408);
        }
    } else if (st->flags & F_HEAD_WAIT) {
        if (pg_limits.header_timeout_ms != 0 && elapsed >= pg_limits.header_timeout_ms) {
            reject(c, 408);
        }
    } else if (c->recv.len == 0) {
        if (c->send.len > 0) {
            st->since_ms = now;  // the last response is still going out
        } else if (pg_limits.idle_timeout_ms != 0 && elapsed >= pg_limits.idle_timeout_ms) {
            c->is_draining = 1;
        }
    }
}

// Mongoose's HTTP protocol handler (static in mongoose.c), which http_pfn wraps.
static mg_event_handler_t mongoose_http_cb;

// The protocol handler of accepted HTTP connections: Mongoose calls it before
// http_fn, so the checks above see each request's bytes before Mongoose
// parses them. A request is seen at the start of c->recv: Mongoose is let
// parse one request per event only (see MG_EV_HTTP_MSG in http_fn).
static void http_pfn(struct mg_connection *c, int ev, void *ev_data) {
    if (ev == MG_EV_CLOSE || ((ev == MG_EV_READ || ev == MG_EV_POLL) && (c->is_draining || c->is_closing))) {
        c->recv.len = 0;  // nothing more is parsed, and a request cut short is not delivered
    } else if (ev == MG_EV_READ) {
        if (!c->is_resp && c->fn_data == NULL && c->recv.len > 0) {
            precheck(c);
        }
    } else if (ev == MG_EV_POLL) {
        pg_conn_t *st = conn_state(c);
        if (st->flags & F_PIPELINED) {
            st->flags &= (uint16_t)~F_PIPELINED;
            c->is_resp = 0;  // Mongoose parses the next request on this poll
        }
        if (!c->is_resp && c->fn_data == NULL && c->recv.len > 0 && !(st->flags & (F_HEAD_WAIT | F_BODY))) {
            precheck(c);  // bytes that arrived while a response was going out
        }
        if (!c->is_draining && !c->is_listening) {  // on sockets, a draining listener is closed
            check_timeouts(c, (uint32_t)*(uint64_t *)ev_data);
        }
    }
    mongoose_http_cb(c, ev, ev_data);
}

// ---- Requests ----------------------------------------------------------------

static mp_obj_t new_str_checked(struct mg_str s, bool *ok) {
    if (!utf8_check((const byte *)s.buf, s.len)) {
        *ok = false;
        return mp_const_empty_bytes;
    }
    return s.len == 0 ? MP_OBJ_NEW_QSTR(MP_QSTR_) : mp_obj_new_str(s.buf, s.len);
}

// Header values that are not UTF-8 reach Python as bytes: nothing is lost.
mp_obj_t pg_text_or_bytes(struct mg_str s) {
    if (utf8_check((const byte *)s.buf, s.len)) {
        // Not interned: looking each value up in the qstr table costs more than it saves.
        return mp_obj_new_str_copy(&mp_type_str, (const byte *)s.buf, s.len);
    }
    return mp_obj_new_bytes((const byte *)s.buf, s.len);
}

mp_obj_t pg_headers_tuple(struct mg_http_message *hm) {
    size_t n_headers = 0;
    while (n_headers < MG_MAX_HTTP_HEADERS && hm->headers[n_headers].name.len > 0) {
        n_headers++;
    }
    mp_obj_tuple_t *headers = MP_OBJ_TO_PTR(mp_obj_new_tuple(n_headers * 2, NULL));
    for (size_t i = 0; i < n_headers; i++) {
        headers->items[2 * i] = pg_text_or_bytes(hm->headers[i].name);
        headers->items[2 * i + 1] = pg_text_or_bytes(hm->headers[i].value);
    }
    return MP_OBJ_FROM_PTR(headers);
}

// An instance of the app's request class with its six fields set, without
// running its __init__ (a Python call per request saved), its attribute
// table sized for them at once.
static mp_obj_t new_request(mp_obj_t cls, const mp_obj_t *fields) {
    static const qstr names[] = {MP_QSTR_conn, MP_QSTR_method, MP_QSTR_path, MP_QSTR_query_string, MP_QSTR__flat,
                                 MP_QSTR_body};
    const mp_obj_type_t *native_base = NULL;
    mp_obj_instance_t *o = mp_obj_new_instance(MP_OBJ_TO_PTR(cls), &native_base);
    mp_map_init(&o->members, 11);  // room for the fields parsed later too
    for (size_t i = 0; i < MP_ARRAY_SIZE(names); i++) {
        mp_map_lookup(&o->members, MP_OBJ_NEW_QSTR(names[i]), MP_MAP_LOOKUP_ADD_IF_NOT_FOUND)->value = fields[i];
    }
    return MP_OBJ_FROM_PTR(o);
}

static void request(struct mg_connection *c, struct mg_http_message *hm) {
    bool ok = true;
    mp_obj_t fields[6];
    fields[0] = mp_obj_new_int_from_uint(c->id);
    fields[1] = new_str_checked(hm->method, &ok);
    fields[2] = new_str_checked(hm->uri, &ok);
    fields[3] = new_str_checked(hm->query, &ok);
    if (!ok) {
        conn_state(c)->status = 400;
        mg_http_reply(c, 400, "Content-Type: text/plain\r\n", "Bad Request\n");
        log_response(c);
        return;
    }
    fields[4] = pg_headers_tuple(hm);
    fields[5] = pg_new_bytes(hm->body.buf, hm->body.len);
    mp_obj_t req = new_request(MP_STATE_PORT(pg_request_class), fields);
    pg_call("request handler", MP_STATE_PORT(pg_request_handler), 1, &req);
}

// The host answers health checks that open a connection; this answers those
// that arrive later on a kept-alive one, so Python never sees either.
static char *health_path;

PG_EXPORT void pg_set_health_path(const char *path) {
    free(health_path);
    health_path = NULL;
    if (path[0] != '\0' && (health_path = malloc(strlen(path) + 1)) != NULL) {
        strcpy(health_path, path);
    }
}

static bool health_check(struct mg_connection *c, struct mg_http_message *hm) {
    if (health_path == NULL || mg_strcmp(hm->uri, mg_str(health_path)) != 0 ||
        (mg_strcmp(hm->method, mg_str("GET")) != 0 && mg_strcmp(hm->method, mg_str("HEAD")) != 0)) {
        return false;
    }
    bool head = hm->method.buf[0] == 'H';
    mg_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
        "Content-Length: 16\r\n\r\n%s", head ? "" : "{\"status\":\"ok\"}\n");
    c->is_resp = 0;
    return true;
}

static void on_request(struct mg_connection *c, struct mg_http_message *hm) {
    pg_conn_t *st = conn_state(c);
    st->flags &= (uint16_t)~(F_HEAD_WAIT | F_BODY | F_CHUNKED_IN);  // it is all here
    if (health_check(c, hm)) {
        return;
    }
    struct mg_str *conn_hdr = mg_http_get_header(hm, "Connection");
    st->flags &= F_SERVED | F_CLOSE_AFTER;  // the previous response, if any, is complete
    if (mg_strcmp(hm->proto, mg_str("HTTP/1.0")) == 0) {
        // HTTP/1.0 closes after each response unless it asked to keep alive.
        st->flags |= F_HTTP10;
        if (conn_hdr == NULL || mg_strcasecmp(*conn_hdr, mg_str("keep-alive")) != 0) {
            st->flags |= F_CLOSE_AFTER;
        }
    }
    if ((conn_hdr != NULL && mg_strcasecmp(*conn_hdr, mg_str("close")) == 0)) {
        st->flags |= F_CLOSE_AFTER;
    }
    if (mg_strcmp(hm->method, mg_str("HEAD")) == 0) {
        st->flags |= F_HEAD;
    }
    st->status = 0;
    if (pg_access_log) {
        free(st->log_line);
        st->start_ms = (uint32_t)mg_millis();
        st->log_line = malloc(hm->method.len + hm->uri.len + hm->query.len + 4);
        if (st->log_line != NULL) {
            sprintf(st->log_line, "%.*s %.*s%s%.*s", (int)hm->method.len, hm->method.buf, (int)hm->uri.len,
                hm->uri.buf, hm->query.len > 0 ? "?" : "", (int)hm->query.len, hm->query.buf);
        }
    }
    // Safe point: nothing below this frame holds a Python object yet.
    pg_gc_safe_point();
    current_conn = c;
    current_hm = hm;
    // Anything raised outside the app's handler (MemoryError making the
    // strings) fails this request only.
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        request(c, hm);
        nlr_pop();
    } else {
        mp_printf(&mp_stderr_print, "Traceback while answering %.*s %.*s:\n", (int)hm->method.len, hm->method.buf,
            (int)hm->uri.len, hm->uri.buf);
        mp_obj_print_exception(&mp_stderr_print, MP_OBJ_FROM_PTR(nlr.ret_val));
    }
    current_conn = NULL;
    current_hm = NULL;
    if (c->is_resp && !(st->flags & (F_STARTED | F_WATCHED)) && !c->is_websocket) {
        // The handler neither answered nor kept the request for later.
        st->status = 500;
        st->bytes = 22;
        mg_http_reply(c, 500, "Content-Type: text/plain\r\n", "Internal Server Error\n");
        log_response(c);
    }
}

static void http_fn(struct mg_connection *c, int ev, void *ev_data) {
    pg_conn_t *st = conn_state(c);
    if (c->pfn == mongoose_http_cb && c->is_accepted) {
        c->pfn = http_pfn;  // Mongoose puts its own back after sending a static file
    }
    switch (ev) {
        case MG_EV_ACCEPT:
            st->since_ms = (uint32_t)mg_millis();
            break;
        case MG_EV_READ:
            if (c->is_websocket) {
                ws_check_size(c);
            }
            break;
        case MG_EV_POLL:
        case MG_EV_WRITE:
            if ((st->flags & F_STATIC) && !c->is_resp) {
                // Mongoose has queued the whole file; it honours
                // "Connection: close" only for responses sent at once.
                st->flags &= (uint16_t)~F_STATIC;
                if (st->flags & F_CLOSE_AFTER) {
                    c->is_draining = 1;
                }
            }
            if (c->fn_data != NULL) {
                stream_feed(c);
            } else if ((st->flags & F_DRAIN) && c->send.len < PG_STREAM_CHUNK && !c->is_closing) {
                pg_gc_safe_point();
                mp_obj_t args[2] = {MP_OBJ_NEW_SMALL_INT(EV_DRAIN), mp_obj_new_int_from_uint(c->id)};
                call_handler("stream", 2, args);
            }
            break;
        case MG_EV_HTTP_MSG: {
            struct mg_http_message *hm = (struct mg_http_message *)ev_data;
            on_request(c, hm);
            // Mongoose would parse a request pipelined behind this one now,
            // unchecked: hold it back until the next poll (see http_pfn).
            if (!c->is_resp && !c->is_websocket &&
                (const uint8_t *)hm->message.buf + hm->message.len < c->recv.buf + c->recv.len) {
                c->is_resp = 1;
                if (!c->is_draining) {
                    st->flags |= F_PIPELINED;
                    #ifdef PG_NATIVE
                    pg_net_again = true;
                    #endif
                }
            }
            break;
        }
        case MG_EV_WS_MSG:
            pg_gc_safe_point();
            ws_message(c, (struct mg_ws_message *)ev_data);
            break;
        case MG_EV_CLOSE:
            if (c->fn_data != NULL) {
                stream_end(c);
            }
            if (st->log_line != NULL && (st->flags & F_STARTED)) {
                log_response(c);  // a response cut short still gets its line
            }
            free(st->log_line);
            st->log_line = NULL;
            if (st->flags & F_WATCHED) {
                mp_obj_t args[2] = {MP_OBJ_NEW_SMALL_INT(EV_CLOSE), mp_obj_new_int_from_uint(c->id)};
                call_handler("close handler", 2, args);
            }
            break;
    }
}

static mp_obj_t mongoose_listen(size_t n_args, const mp_obj_t *args) {
    mp_obj_t handler = args[0], on_request = args[1], request_class = args[2];
    if (!mp_obj_is_callable(handler) || !mp_obj_is_callable(on_request) || !mp_obj_is_type(request_class, &mp_type_type)) {
        mp_raise_TypeError(MP_ERROR_TEXT("listen(handler, on_request, request_class) needs two callables and a class"));
    }
    MP_STATE_PORT(pg_handler) = handler;
    MP_STATE_PORT(pg_request_handler) = on_request;
    MP_STATE_PORT(pg_request_class) = request_class;
    if (MP_STATE_PORT(pg_streams) == MP_OBJ_NULL) {
        MP_STATE_PORT(pg_streams) = mp_obj_new_dict(0);
    }
    pg_net_init();
    static bool listening;
    if (!listening) {
        struct mg_connection *lsn = mg_http_listen(&pg_mgr, PG_HTTP_URL, http_fn, NULL);
        if (lsn == NULL) {
            #ifdef PG_NATIVE
            mp_raise_msg_varg(&mp_type_OSError, MP_ERROR_TEXT("cannot listen on %s"), PG_HTTP_URL);
            #else
            mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("cannot listen on port 80"));
            #endif
        }
        mongoose_http_cb = lsn->pfn;
        lsn->pfn = http_pfn;  // accepted connections inherit it
        listening = true;
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_listen_obj, 3, 3, mongoose_listen);

// ---- Timers --------------------------------------------------------------------

static mp_int_t next_timer_id;
static void timer_fn(void *arg);

static struct mg_timer *find_timer(mp_int_t id) {
    for (struct mg_timer *t = pg_mgr.timers; t != NULL; t = t->next) {
        if (t->fn == timer_fn && t->arg == (void *)(intptr_t)id) {
            return t;
        }
    }
    return NULL;
}

static void timer_fn(void *arg) {
    pg_gc_safe_point();  // first: below, the callable is held only in a wasm local
    mp_obj_t key = MP_OBJ_NEW_SMALL_INT((mp_int_t)(intptr_t)arg);
    mp_map_elem_t *e = mp_map_lookup(mp_obj_dict_get_map(MP_STATE_PORT(pg_timers)), key, MP_MAP_LOOKUP);
    if (e == NULL) {
        return;  // cancelled
    }
    mp_obj_tuple_t *entry = MP_OBJ_TO_PTR(e->value);  // (fn, repeat)
    mp_obj_t fn = entry->items[0];
    if (entry->items[1] == mp_const_false) {
        mp_obj_dict_delete(MP_STATE_PORT(pg_timers), key);
    }
    pg_call("timer", fn, 0, NULL);
}

static mp_obj_t mongoose_timer(mp_obj_t ms_in, mp_obj_t fn, mp_obj_t repeat_in) {
    mp_int_t ms = mp_obj_get_int(ms_in);
    if (ms < 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("timer interval must be >= 0"));
    }
    if (!mp_obj_is_callable(fn)) {
        mp_raise_TypeError(MP_ERROR_TEXT("timer callback must be callable"));
    }
    bool repeat = mp_obj_is_true(repeat_in);
    if (repeat && ms == 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("a repeating timer needs an interval > 0"));
    }
    pg_net_init();
    if (MP_STATE_PORT(pg_timers) == MP_OBJ_NULL) {
        MP_STATE_PORT(pg_timers) = mp_obj_new_dict(0);
    }
    mp_int_t id = next_timer_id = (next_timer_id + 1) & 0x3fffffff;
    mp_obj_t entry[2] = {fn, mp_obj_new_bool(repeat)};
    mp_obj_dict_store(MP_STATE_PORT(pg_timers), MP_OBJ_NEW_SMALL_INT(id), mp_obj_new_tuple(2, entry));
    if (mg_timer_add(&pg_mgr, (uint64_t)ms, repeat ? MG_TIMER_REPEAT : MG_TIMER_ONCE, timer_fn,
            (void *)(intptr_t)id) == NULL) {
        mp_obj_dict_delete(MP_STATE_PORT(pg_timers), MP_OBJ_NEW_SMALL_INT(id));
        mp_raise_msg(&mp_type_MemoryError, MP_ERROR_TEXT("no memory for a timer"));
    }
    return MP_OBJ_NEW_SMALL_INT(id);
}
static MP_DEFINE_CONST_FUN_OBJ_3(mongoose_timer_obj, mongoose_timer);

// Freeing here could pull a timer out from under mg_timer_poll's loop; a
// cancelled timer is instead made a spent one-shot, which Mongoose frees.
static mp_obj_t mongoose_cancel(mp_obj_t id_in) {
    mp_int_t id = mp_obj_get_int(id_in);
    if (MP_STATE_PORT(pg_timers) != MP_OBJ_NULL) {
        mp_map_t *map = mp_obj_dict_get_map(MP_STATE_PORT(pg_timers));
        if (mp_map_lookup(map, MP_OBJ_NEW_SMALL_INT(id), MP_MAP_LOOKUP) != NULL) {
            mp_obj_dict_delete(MP_STATE_PORT(pg_timers), MP_OBJ_NEW_SMALL_INT(id));
        }
    }
    struct mg_timer *t = find_timer(id);
    if (t != NULL) {
        t->flags = MG_TIMER_CALLED | MG_TIMER_AUTODELETE;
        t->expire = 1;
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(mongoose_cancel_obj, mongoose_cancel);

// ---- Shutdown --------------------------------------------------------------------

void pg_http_shutdown(void) {
    for (struct mg_connection *c = pg_mgr.conns; c != NULL; c = c->next) {
        if (!c->is_accepted || c->is_closing || c->is_draining) {
            continue;
        }
        pg_conn_t *st = conn_state(c);
        if (c->is_websocket) {
            ws_close(c, 1001, "server shutting down", 20);
        } else if ((st->flags & (F_WATCHED | F_STARTED | F_DRAIN)) == (F_WATCHED | F_STARTED)) {
            // An open event stream: end it as stream.close() would.
            if (st->flags & F_CHUNKED) {
                mg_send(c, "0\r\n\r\n", 5);
            }
            st->flags |= F_CLOSE_AFTER;
            response_done(c);
        } else if (!c->is_resp && c->recv.len == 0 && c->fn_data == NULL && (st->flags & F_SERVED)) {
            c->is_draining = 1;  // idle keep-alive connection (a new one may have a request on its way)
        } else {
            st->flags |= F_CLOSE_AFTER;  // close once this response is out
        }
    }
}

// ---- Misc ----------------------------------------------------------------------

static mp_obj_t mongoose_peer(mp_obj_t conn) {
    struct mg_connection *c = pg_conn_arg(conn);
    char text[64];
    #ifdef PG_NATIVE
    // Natively c->rem is the client itself; in wasm it is the host's end of the link.
    size_t n = mg_snprintf(text, sizeof(text), "%M", mg_print_ip_port, &c->rem);
    #else
    size_t n = pg_peer(mg_ntohs(c->rem.port), text, sizeof(text));
    #endif
    const char *colon = NULL;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == ':') {
            colon = text + i;
        }
    }
    if (n == 0 || colon == NULL) {
        return mp_const_none;
    }
    const char *host = text;
    size_t host_len = (size_t)(colon - text);
    if (host_len >= 2 && host[0] == '[') {
        host++;
        host_len -= 2;
    }
    mp_obj_t items[2] = {mp_obj_new_str(host, host_len), mp_obj_new_int(atoi(colon + 1))};
    return mp_obj_new_tuple(2, items);
}
static MP_DEFINE_CONST_FUN_OBJ_1(mongoose_peer_obj, mongoose_peer);

static mp_obj_t mongoose_log_exception(mp_obj_t heading, mp_obj_t exc) {
    mp_printf(&mp_stderr_print, "%s\n", mp_obj_str_get_str(heading));
    mp_obj_print_exception(&mp_stderr_print, exc);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(mongoose_log_exception_obj, mongoose_log_exception);

// ---- Polling -------------------------------------------------------------------

static __attribute__((noinline)) void poll_network(mp_int_t ms) {
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        pg_net_poll(ms);
        nlr_pop();
    } else {
        pg_gc_leave();
        nlr_jump(nlr.ret_val);
    }
    pg_gc_leave();
}

// Keep these frames free of address-taken locals: pg_gc_enter() compares the
// shadow stack depth at each entry point (see port.h).
static mp_obj_t mongoose_poll(mp_obj_t ms_in) {
    mp_int_t ms = mp_obj_get_int(ms_in);
    if (pg_callback_depth > 0) {
        mp_raise_msg(&mp_type_RuntimeError, MP_ERROR_TEXT("poll() cannot be called from a callback"));
    }
    pg_net_init();
    pg_gc_enter();
    poll_network(ms);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(mongoose_poll_obj, mongoose_poll);

// entry(fn, serve=False): a callable that records the caller's stack depth
// for the GC rule, then calls fn (and with serve, polls forever from that
// depth). mongoose.init is one, so the seed's init() at module level
// calibrates the rule as its poll loop there will; app.run is another.
typedef struct {
    mp_obj_base_t base;
    mp_obj_t fn;
    bool serve;
} entry_obj_t;

static mp_obj_t entry_call(mp_obj_t self_in, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    entry_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (self->serve && pg_callback_depth > 0) {
        mp_raise_msg(&mp_type_RuntimeError, MP_ERROR_TEXT("run() cannot be called from a callback"));
    }
    pg_gc_enter();
    pg_gc_leave();
    mp_obj_t ret = mp_call_function_n_kw(self->fn, n_args, n_kw, args);
    while (self->serve) {
        pg_gc_enter();
        poll_network(1000);
    }
    return ret;
}

static MP_DEFINE_CONST_OBJ_TYPE(entry_type, MP_QSTR_entry, MP_TYPE_FLAG_NONE, call, entry_call);

static mp_obj_t mongoose_entry(size_t n_args, const mp_obj_t *args) {
    entry_obj_t *o = mp_obj_malloc(entry_obj_t, &entry_type);
    o->fn = args[0];
    o->serve = n_args > 1 && mp_obj_is_true(args[1]);
    return MP_OBJ_FROM_PTR(o);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_entry_obj, 1, 2, mongoose_entry);

static const mp_rom_map_elem_t mongoose_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__mongoose) },
    { MP_ROM_QSTR(MP_QSTR_listen), MP_ROM_PTR(&mongoose_listen_obj) },
    { MP_ROM_QSTR(MP_QSTR_poll), MP_ROM_PTR(&mongoose_poll_obj) },
    { MP_ROM_QSTR(MP_QSTR_entry), MP_ROM_PTR(&mongoose_entry_obj) },
    { MP_ROM_QSTR(MP_QSTR_reply), MP_ROM_PTR(&mongoose_reply_obj) },
    { MP_ROM_QSTR(MP_QSTR_start), MP_ROM_PTR(&mongoose_start_obj) },
    { MP_ROM_QSTR(MP_QSTR_send), MP_ROM_PTR(&mongoose_send_obj) },
    { MP_ROM_QSTR(MP_QSTR_end), MP_ROM_PTR(&mongoose_end_obj) },
    { MP_ROM_QSTR(MP_QSTR_watch), MP_ROM_PTR(&mongoose_watch_obj) },
    { MP_ROM_QSTR(MP_QSTR_ws_upgrade), MP_ROM_PTR(&mongoose_ws_upgrade_obj) },
    { MP_ROM_QSTR(MP_QSTR_ws_send), MP_ROM_PTR(&mongoose_ws_send_obj) },
    { MP_ROM_QSTR(MP_QSTR_close), MP_ROM_PTR(&mongoose_close_obj) },
    { MP_ROM_QSTR(MP_QSTR_serve_static), MP_ROM_PTR(&mongoose_serve_static_obj) },
    { MP_ROM_QSTR(MP_QSTR_timer), MP_ROM_PTR(&mongoose_timer_obj) },
    { MP_ROM_QSTR(MP_QSTR_cancel), MP_ROM_PTR(&mongoose_cancel_obj) },
    { MP_ROM_QSTR(MP_QSTR_peer), MP_ROM_PTR(&mongoose_peer_obj) },
    { MP_ROM_QSTR(MP_QSTR_log_exception), MP_ROM_PTR(&mongoose_log_exception_obj) },
    { MP_ROM_QSTR(MP_QSTR_mqtt_connect), MP_ROM_PTR(&pg_client_mqtt_connect_obj) },
    { MP_ROM_QSTR(MP_QSTR_mqtt_pub), MP_ROM_PTR(&pg_client_mqtt_pub_obj) },
    { MP_ROM_QSTR(MP_QSTR_mqtt_sub), MP_ROM_PTR(&pg_client_mqtt_sub_obj) },
    { MP_ROM_QSTR(MP_QSTR_mqtt_unsub), MP_ROM_PTR(&pg_client_mqtt_unsub_obj) },
    { MP_ROM_QSTR(MP_QSTR_mqtt_ping), MP_ROM_PTR(&pg_client_mqtt_ping_obj) },
    { MP_ROM_QSTR(MP_QSTR_mqtt_disconnect), MP_ROM_PTR(&pg_client_mqtt_disconnect_obj) },
    { MP_ROM_QSTR(MP_QSTR_http_request), MP_ROM_PTR(&pg_client_http_request_obj) },
    { MP_ROM_QSTR(MP_QSTR_abort), MP_ROM_PTR(&pg_client_abort_obj) },
    { MP_ROM_QSTR(MP_QSTR_ready), MP_ROM_PTR(&pg_client_ready_obj) },
    { MP_ROM_QSTR(MP_QSTR_BudgetExceeded), MP_ROM_PTR(&pg_type_BudgetExceeded) },
    { MP_ROM_QSTR(MP_QSTR_DRAIN), MP_ROM_INT(EV_DRAIN) },
    { MP_ROM_QSTR(MP_QSTR_WS_MSG), MP_ROM_INT(EV_WS_MSG) },
    { MP_ROM_QSTR(MP_QSTR_CLOSE), MP_ROM_INT(EV_CLOSE) },
    { MP_ROM_QSTR(MP_QSTR_OPEN), MP_ROM_INT(EV_OPEN) },
    { MP_ROM_QSTR(MP_QSTR_MESSAGE), MP_ROM_INT(EV_MESSAGE) },
    { MP_ROM_QSTR(MP_QSTR_RESPONSE), MP_ROM_INT(EV_RESPONSE) },
    { MP_ROM_QSTR(MP_QSTR_ERROR), MP_ROM_INT(EV_ERROR) },
};
static MP_DEFINE_CONST_DICT(mongoose_module_globals, mongoose_module_globals_table);

const mp_obj_module_t mongoose_c_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&mongoose_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR__mongoose, mongoose_c_module);
MP_REGISTER_ROOT_POINTER(mp_obj_t pg_handler);
MP_REGISTER_ROOT_POINTER(mp_obj_t pg_request_handler);
MP_REGISTER_ROOT_POINTER(mp_obj_t pg_request_class);
MP_REGISTER_ROOT_POINTER(mp_obj_t pg_streams);  // bodies being streamed, by connection id
MP_REGISTER_ROOT_POINTER(mp_obj_t pg_timers);   // timer id -> (fn, repeat)
