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
    size_t cap = h->len;  // base64 always decodes to fewer bytes than it has
    char *plain = malloc(cap + 1);
    if (plain == NULL) {
        return false;
    }
    size_t n = mg_base64_decode(h->buf + 6, h->len - 6, plain, cap + 1);
    const char *colon = n > 0 ? memchr(plain, ':', n) : NULL;
    bool ok = false;
    if (colon != NULL) {
        mp_obj_t args[2] = {
            text_or_bytes(plain, (size_t)(colon - plain)),
            text_or_bytes(colon + 1, n - (size_t)(colon - plain) - 1),
        };
        free(plain);
        plain = NULL;
        mp_obj_t ret = pg_call("auth_cb", auth_cb, 2, args);
        ok = ret != MP_OBJ_NULL && mp_obj_is_true(ret);
    }
    free(plain);
    return ok;
}

static void reply_api(struct mg_connection *c, struct mg_http_message *hm) {
    mp_obj_t api_cb = MP_STATE_PORT(pg_api_cb);
    mp_obj_t body = text_or_bytes(hm->body.buf, hm->body.len);
    mp_obj_t ret = pg_call("api_cb", api_cb, 1, &body);
    if (ret == MP_OBJ_NULL) {
        reply_error(c, 500, "Internal Server Error");
        return;
    }
    mp_buffer_info_t buf = {NULL, 0, 0};
    if (ret != mp_const_none) {
        if (!mp_obj_is_str_or_bytes(ret)) {
            ret = mp_obj_str_make_new(&mp_type_str, 1, 0, &ret);
        }
        mp_get_buffer_raise(ret, &buf, MP_BUFFER_READ);
    }
    mg_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %lu\r\n\r\n",
        (unsigned long)buf.len);
    mg_send(c, buf.buf, buf.len);
}

static void http_fn(struct mg_connection *c, int ev, void *ev_data) {
    if (ev != MG_EV_HTTP_MSG) {
        return;
    }
    struct mg_http_message *hm = (struct mg_http_message *)ev_data;
    // Safe point: nothing below this frame holds a Python object yet.
    pg_gc_safe_point();
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
    MP_STATE_PORT(pg_api_cb) = api_cb;
    MP_STATE_PORT(pg_auth_cb) = auth_cb;
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

static mp_obj_t mongoose_poll(mp_obj_t ms_in) {
    mp_int_t ms = mp_obj_get_int(ms_in);
    if (pg_callback_depth > 0) {
        mp_raise_msg(&mp_type_RuntimeError, MP_ERROR_TEXT("poll() cannot be called from a callback"));
    }
    pg_net_init();
    pg_net_poll(ms);
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
