// HTTP responses: whole (reply), or started and streamed (start/send/end),
// and large bodies fed to Mongoose in pieces.
#include <string.h>

#include "py/objstr.h"
#include "py/runtime.h"
#include "c/mod/conn.h"
#include "c/mod/response.h"
#include "c/mod/text.h"
#include "c/platform/platform.h"

// A body being streamed out; the object stays rooted in pg_streams meanwhile.
typedef struct {
    mp_obj_t key;
    const byte *buf;
    size_t len, off;
} pg_stream_t;

void pg_stream_end(struct mg_connection *c) {
    pg_stream_t *s = (pg_stream_t *)c->fn_data;
    mp_obj_dict_delete(MP_STATE_PORT(pg_streams), s->key);
    c->fn_data = NULL;
    free(s);
}

// The response is complete: log it, then close or go on to the next request.
void pg_response_done(struct mg_connection *c) {
    pg_conn_t *st = conn_state(c);
    pg_log_response(c);
    bool close_after = (st->flags & F_CLOSE_AFTER) != 0;
    // A connection about to close keeps F_WATCHED: Python learns of the close.
    st->flags &= (uint16_t)~(F_STARTED | F_CHUNKED | F_DRAIN | F_HEAD | (close_after ? 0 : F_WATCHED));
    st->flags |= F_SERVED;
    c->is_resp = 0;  // Mongoose may parse the next request
    st->since_ms = (uint32_t)mg_millis();  // the idle timeout counts from here
    if (close_after) {
        c->is_draining = 1;
    } else if (c != pg_current_conn && c->recv.len > 0) {
        if (pg_net_client_held(c)) {
            c->is_resp = 1;  // pg_guard_pfn starts it once the host lets it
            st->flags |= F_PIPELINED;
        } else {
            long none = 0;
            mg_call(c, MG_EV_READ, &none);  // requests pipelined behind this one
        }
    }
}

// Sends the body straight from the Python object to the link, segment by
// segment, once everything queued before it is out: through c->send each
// byte would be copied in, and zeroed byte by byte (mg_bzero) as Mongoose
// drains it. The built-in TCP/IP stack only (with sockets Mongoose waits for
// writability only while c->send holds bytes), and not TLS (its records are
// built in c->send).
static bool send_direct(struct mg_connection *c, pg_stream_t *s) {
    size_t budget = PG_DIRECT_PER_POLL;
    while (s->off < s->len && budget > 0) {
        long n = mg_io_send(c, s->buf + s->off, s->len - s->off);
        if (n == MG_IO_WAIT || n == 0) {
            break;  // the link is full (or the flow paused): the next poll goes on
        }
        if (n < 0) {
            mg_error(c, "tx err");
            return false;
        }
        s->off += (size_t)n;
        budget = (size_t)n < budget ? budget - (size_t)n : 0;
    }
    return true;
}

void pg_stream_feed(struct mg_connection *c) {
    pg_stream_t *s = (pg_stream_t *)c->fn_data;
    if (MG_ENABLE_TCPIP && !c->is_tls) {
        if (c->send.len > 0 || c->is_closing || !send_direct(c, s)) {
            return;  // the head goes first: its MG_EV_WRITE brings us back
        }
    } else {
        while (c->send.len < PG_STREAM_CHUNK && s->off < s->len) {
            size_t n = s->len - s->off < PG_STREAM_CHUNK ? s->len - s->off : PG_STREAM_CHUNK;
            mg_send(c, s->buf + s->off, n);
            s->off += n;
        }
    }
    if (s->off == s->len) {
        pg_stream_end(c);
        pg_response_done(c);
    }
}

const char *pg_reason_phrase(int status) {
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
    struct mg_str id = pg_request_id(c);
    mg_printf(c, "HTTP/1.1 %d %s\r\n%s%s%.*s%s%.*s", (int)status, pg_reason_phrase((int)status),
        st->flags & F_CLOSE_AFTER ? "Connection: close\r\n" : "", id.len > 0 ? "X-Request-Id: " : "", (int)id.len,
        id.buf, id.len > 0 ? "\r\n" : "", (int)hlen, h);
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
        pg_stream_feed(c);
    } else {
        if (!head) {
            mg_send(c, buf.buf, buf.len);
        }
        pg_response_done(c);
    }
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_reply_obj, 4, 4, mongoose_reply);

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
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_start_obj, 4, 4, mongoose_start);

// send(conn, data, end_if_full=False): raw bytes after start() (chunk
// framing is added when the response is chunked). Returns the bytes now
// waiting in the connection's send buffer, for the caller's flow control.
// Once they are over the send cap (pg_over_send_cap) nothing is queued: with
// end_if_full (event streams) the response is ended, the connection closed
// and -1 returned; otherwise OSError is raised and the response stays open.
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
    if (buf.len > 0 && !(st->flags & F_HEAD) && pg_over_send_cap(c)) {
        if (n_args > 2 && mp_obj_is_true(args[2])) {
            if (st->flags & F_CHUNKED) {
                mg_send(c, "0\r\n\r\n", 5);  // a clean end for a client that catches up
            }
            st->flags |= F_CLOSE_AFTER;
            pg_response_done(c);
            pg_mark_over_cap(c);
            return MP_OBJ_NEW_SMALL_INT(-1);
        }
        mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("send buffer full (over --max-send-buffer): wait for DRAIN"));
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
    return mp_obj_new_int_from_uint(c->send.len);
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_send_obj, 2, 3, mongoose_send);

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
    pg_response_done(c);
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_end_obj, 1, 2, mongoose_end);

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
MP_DEFINE_CONST_FUN_OBJ_2(mongoose_watch_obj, mongoose_watch);

MP_REGISTER_ROOT_POINTER(mp_obj_t pg_streams);  // bodies being streamed, by connection id
