// The `mongoose` Python module: the seed's API, kept thin.
//   init(api_cb, auth_cb)  serve HTTP on the guest's port 80
//   poll(ms)               run the network for up to ms milliseconds
#include <string.h>

#include "py/objstr.h"
#include "py/runtime.h"
#include "py/unicode.h"
#include "c/netif.h"
#include "c/port.h"

#define PG_HTTP_URL "http://0.0.0.0:80"

static const char auth_headers[] =
    "WWW-Authenticate: Basic realm=\"pythongoose\"\r\nContent-Type: text/plain\r\n";

static const char ok_page[] =
    "<!DOCTYPE html><html><head><title>pythongoose</title></head>"
    "<body><h1>OK</h1><p>pythongoose is serving.</p></body></html>\n";

// A str if the bytes are valid UTF-8, else bytes: nothing the client sent is lost.
static mp_obj_t text_or_bytes(const char *buf, size_t len) {
    if (utf8_check((const byte *)buf, len)) {
        return mp_obj_new_str(buf, len);
    }
    return mp_obj_new_bytes((const byte *)buf, len);
}

static void reply_error(struct mg_connection *c, int status, const char *msg) {
    mg_http_reply(c, status, "Content-Type: text/plain\r\n", "%s\n", msg);
}

// Basic credentials of any length and content: the password is everything
// after the first colon.
static bool authorised(struct mg_http_message *hm) {
    struct mg_str *h = mg_http_get_header(hm, "Authorization");
    mp_obj_t auth_cb = MP_STATE_PORT(pg_auth_cb);
    if (h == NULL || h->len < 6 || mg_strcasecmp(mg_str_n(h->buf, 6), mg_str("Basic ")) != 0 || auth_cb == MP_OBJ_NULL) {
        return false;
    }
    // One buffer, reused: nothing to free if making the strings raises.
    static char *plain;
    static size_t plain_cap;
    if (plain_cap < h->len + 1) {
        char *p = realloc(plain, h->len + 1);  // base64 decodes to fewer bytes than it has
        if (p == NULL) {
            return false;
        }
        plain = p;
        plain_cap = h->len + 1;
    }
    size_t n = mg_base64_decode(h->buf + 6, h->len - 6, plain, plain_cap);
    const char *colon = n > 0 ? memchr(plain, ':', n) : NULL;
    if (colon == NULL) {
        return false;
    }
    mp_obj_t args[2] = {
        text_or_bytes(plain, (size_t)(colon - plain)),
        text_or_bytes(colon + 1, n - (size_t)(colon - plain) - 1),
    };
    mp_obj_t ret = pg_call("auth_cb", auth_cb, 2, args);
    return ret != MP_OBJ_NULL && mp_obj_is_true(ret);
}

// A response body larger than this is fed to Mongoose in pieces of this
// size: Mongoose shifts its whole send buffer after every segment it sends,
// so a body queued whole would cost time quadratic in its size.
#define PG_STREAM_CHUNK (64 * 1024)

// A body being streamed out; the object stays rooted in pg_streams meanwhile.
typedef struct {
    mp_obj_t key;
    const byte *buf;
    size_t len, off;
    bool close_after;
} pg_stream_t;

static void stream_end(struct mg_connection *c) {
    pg_stream_t *s = (pg_stream_t *)c->fn_data;
    mp_obj_dict_delete(MP_STATE_PORT(pg_streams), s->key);
    c->fn_data = NULL;
    free(s);
}

static void stream_feed(struct mg_connection *c) {
    pg_stream_t *s = (pg_stream_t *)c->fn_data;
    while (c->send.len < PG_STREAM_CHUNK && s->off < s->len) {
        size_t n = s->len - s->off < PG_STREAM_CHUNK ? s->len - s->off : PG_STREAM_CHUNK;
        mg_send(c, s->buf + s->off, n);
        s->off += n;
    }
    if (s->off < s->len) {
        return;
    }
    bool close_after = s->close_after;
    stream_end(c);
    c->is_resp = 0;  // response complete: Mongoose may parse the next request
    if (close_after) {
        c->is_draining = 1;
    } else if (c->recv.len > 0) {
        long none = 0;
        mg_call(c, MG_EV_READ, &none);  // requests pipelined behind this one
    }
}

static void reply_body(struct mg_connection *c, struct mg_http_message *hm, mp_obj_t body) {
    mp_buffer_info_t buf = {NULL, 0, 0};
    if (body != mp_const_none) {
        mp_get_buffer_raise(body, &buf, MP_BUFFER_READ);
    }
    pg_stream_t *s = NULL;
    if (buf.len > PG_STREAM_CHUNK) {
        // Root the body first: this may raise, and nothing is queued yet.
        mp_obj_t key = MP_OBJ_NEW_SMALL_INT(c->id & 0x3fffffff);
        mp_obj_dict_store(MP_STATE_PORT(pg_streams), key, body);
        s = calloc(1, sizeof(*s));
        if (s == NULL) {
            mp_obj_dict_delete(MP_STATE_PORT(pg_streams), key);
            mp_raise_msg(&mp_type_MemoryError, MP_ERROR_TEXT("no memory to stream the response"));
        }
        struct mg_str *conn_hdr = mg_http_get_header(hm, "Connection");
        s->key = key;
        s->buf = buf.buf;
        s->len = buf.len;
        s->close_after = conn_hdr != NULL && mg_strcasecmp(*conn_hdr, mg_str("close")) == 0;
    }
    mg_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %lu\r\n\r\n",
        (unsigned long)buf.len);
    if (s == NULL) {
        mg_send(c, buf.buf, buf.len);
        c->is_resp = 0;
        return;
    }
    c->fn_data = s;
    stream_feed(c);
}

static void reply_api(struct mg_connection *c, struct mg_http_message *hm) {
    mp_obj_t api_cb = MP_STATE_PORT(pg_api_cb);
    mp_obj_t body = text_or_bytes(hm->body.buf, hm->body.len);
    mp_obj_t ret = pg_call("api_cb", api_cb, 1, &body);
    if (ret == MP_OBJ_NULL) {
        reply_error(c, 500, "Internal Server Error");
        return;
    }
    if (ret != mp_const_none && !mp_obj_is_str_or_bytes(ret)) {
        ret = mp_obj_str_make_new(&mp_type_str, 1, 0, &ret);
    }
    reply_body(c, hm, ret);
}

// On a partial request: make room for its declared body at once, and answer
// "Expect: 100-continue" (curl waits a second for it before big uploads).
static void prepare_body(struct mg_connection *c) {
    struct mg_http_message hm;
    int n = mg_http_parse((const char *)c->recv.buf, c->recv.len, &hm);
    if (n > 0 && (size_t)n == c->recv.len && hm.body.len > 0) {
        struct mg_str *expect = mg_http_get_header(&hm, "Expect");
        if (expect != NULL && mg_strcasecmp(*expect, mg_str("100-continue")) == 0) {
            mg_printf(c, "HTTP/1.1 100 Continue\r\n\r\n");
        }
    }
    // Grow geometrically toward the declared length (never trusting it for
    // more than twice what has arrived), instead of 16 KiB at a time.
    if (n > 0 && hm.body.len != (size_t)~0 && hm.message.len > c->recv.size &&
        c->recv.size - c->recv.len < MG_IO_SIZE && mg_http_get_header(&hm, "Transfer-Encoding") == NULL) {
        size_t want = c->recv.size * 2 < 256 * 1024 ? 256 * 1024 : c->recv.size * 2;
        mg_iobuf_resize(&c->recv, want < hm.message.len ? want : hm.message.len);
    }
}

static void route(struct mg_connection *c, struct mg_http_message *hm);

static void http_fn(struct mg_connection *c, int ev, void *ev_data) {
    if (ev == MG_EV_READ && c->recv.len > 0 && c->fn_data == NULL) {
        prepare_body(c);
        return;
    }
    if ((ev == MG_EV_POLL || ev == MG_EV_WRITE) && c->fn_data != NULL) {
        stream_feed(c);
        return;
    }
    if (ev == MG_EV_CLOSE && c->fn_data != NULL) {
        stream_end(c);
        return;
    }
    if (ev != MG_EV_HTTP_MSG) {
        return;
    }
    struct mg_http_message *hm = (struct mg_http_message *)ev_data;
    // Safe point: nothing below this frame holds a Python object yet.
    pg_gc_safe_point();
    // Anything raised outside the app's callbacks (MemoryError making the
    // strings, a __str__ or __bool__ that raises) fails this request only.
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        route(c, hm);
        nlr_pop();
    } else {
        mp_printf(&mp_stderr_print, "Traceback while answering %.*s %.*s:\n", (int)hm->method.len, hm->method.buf,
            (int)hm->uri.len, hm->uri.buf);
        mp_obj_print_exception(&mp_stderr_print, MP_OBJ_FROM_PTR(nlr.ret_val));
        reply_error(c, 500, "Internal Server Error");
    }
}

static void route(struct mg_connection *c, struct mg_http_message *hm) {
    if (mg_match(hm->uri, mg_str("/api/#"), NULL)) {
        if (!authorised(hm)) {
            mg_http_reply(c, 401, auth_headers, "Auth required\n");
        } else if (mg_strcmp(hm->uri, mg_str("/api/epname")) == 0) {
            reply_api(c, hm);
        } else {
            reply_error(c, 404, "Not Found");
        }
    } else {
        mg_http_reply(c, 200, "Content-Type: text/html; charset=utf-8\r\n", "%s", ok_page);
    }
}

static mp_obj_t mongoose_init(mp_obj_t api_cb, mp_obj_t auth_cb) {
    if (!mp_obj_is_callable(api_cb) || !mp_obj_is_callable(auth_cb)) {
        mp_raise_TypeError(MP_ERROR_TEXT("init(api_cb, auth_cb) needs two callables"));
    }
    pg_gc_enter();
    pg_gc_leave();
    MP_STATE_PORT(pg_api_cb) = api_cb;
    MP_STATE_PORT(pg_auth_cb) = auth_cb;
    if (MP_STATE_PORT(pg_streams) == MP_OBJ_NULL) {
        MP_STATE_PORT(pg_streams) = mp_obj_new_dict(0);
    }
    pg_net_init();
    static bool listening;
    if (!listening) {
        if (mg_http_listen(&pg_mgr, PG_HTTP_URL, http_fn, NULL) == NULL) {
            mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("cannot listen on port 80"));
        }
        listening = true;
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(mongoose_init_obj, mongoose_init);

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

// Keep this frame free of address-taken locals: pg_gc_enter() compares the
// stack depth here with mongoose.init()'s (see port.h).
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

static const mp_rom_map_elem_t mongoose_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_mongoose) },
    { MP_ROM_QSTR(MP_QSTR_init), MP_ROM_PTR(&mongoose_init_obj) },
    { MP_ROM_QSTR(MP_QSTR_poll), MP_ROM_PTR(&mongoose_poll_obj) },
};
static MP_DEFINE_CONST_DICT(mongoose_module_globals, mongoose_module_globals_table);

const mp_obj_module_t mongoose_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&mongoose_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_mongoose, mongoose_module);
MP_REGISTER_ROOT_POINTER(mp_obj_t pg_api_cb);
MP_REGISTER_ROOT_POINTER(mp_obj_t pg_auth_cb);
MP_REGISTER_ROOT_POINTER(mp_obj_t pg_streams);  // bodies being streamed, by connection id
