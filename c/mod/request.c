// Requests reaching Python: each one checked, its Request object made with
// its fields set, and the app's on_request(req) called.
#include <stdio.h>
#include <string.h>

#include "py/objstr.h"
#include "py/objtype.h"
#include "py/runtime.h"
#include "py/unicode.h"
#include "c/mod/conn.h"
#include "c/mod/health.h"
#include "c/mod/request.h"
#include "c/mod/text.h"
#include "c/vm/budget.h"
#include "c/vm/gc.h"
#include "c/vm/options.h"

static mp_obj_t new_str_checked(struct mg_str s, bool *ok) {
    if (!utf8_check((const byte *)s.buf, s.len)) {
        *ok = false;
        return mp_const_empty_bytes;
    }
    return s.len == 0 ? MP_OBJ_NEW_QSTR(MP_QSTR_) : mp_obj_new_str(s.buf, s.len);
}


// An instance of the app's request class with its seven fields set, without
// running its __init__ (a Python call per request saved), its attribute
// table sized for them at once.
static mp_obj_t new_request(mp_obj_t cls, const mp_obj_t *fields) {
    static const qstr names[] = {MP_QSTR_conn, MP_QSTR_method, MP_QSTR_path, MP_QSTR_query_string, MP_QSTR__flat,
                                 MP_QSTR_body, MP_QSTR_id};
    const mp_obj_type_t *native_base = NULL;
    mp_obj_instance_t *o = mp_obj_new_instance(MP_OBJ_TO_PTR(cls), &native_base);
    mp_map_init(&o->members, 12);  // room for the fields parsed later too
    for (size_t i = 0; i < MP_ARRAY_SIZE(names); i++) {
        mp_map_lookup(&o->members, MP_OBJ_NEW_QSTR(names[i]), MP_MAP_LOOKUP_ADD_IF_NOT_FOUND)->value = fields[i];
    }
    return MP_OBJ_FROM_PTR(o);
}

// A reply of the guest's own, with the request's id.
static void plain_reply(struct mg_connection *c, int status, const char *text) {
    struct mg_str id = pg_request_id(c);
    char headers[128];
    snprintf(headers, sizeof(headers), "Content-Type: text/plain\r\nX-Request-Id: %.*s\r\n", (int)id.len, id.buf);
    conn_state(c)->status = (uint16_t)status;
    conn_state(c)->bytes = (uint32_t)strlen(text);
    mg_http_reply(c, status, headers, "%s", text);
    pg_log_response(c);
}

static void request(struct mg_connection *c, struct mg_http_message *hm) {
    bool ok = true;
    mp_obj_t fields[7];
    fields[0] = mp_obj_new_int_from_uint(c->id);
    fields[1] = new_str_checked(hm->method, &ok);
    fields[2] = new_str_checked(hm->uri, &ok);
    fields[3] = new_str_checked(hm->query, &ok);
    if (!ok) {
        conn_state(c)->log_line[0] = PG_KIND_REFUSED;
        plain_reply(c, 400, "Bad Request\n");
        return;
    }
    fields[4] = pg_headers_tuple(hm);
    fields[5] = pg_new_bytes(hm->body.buf, hm->body.len);
    struct mg_str id = pg_request_id(c);
    fields[6] = mp_obj_new_str(id.buf, id.len);
    mp_obj_t req = new_request(MP_STATE_PORT(pg_request_class), fields);
    pg_call("request handler", MP_STATE_PORT(pg_request_handler), 1, &req);
}

// The seed decodes Basic credentials in C (mg_http_creds); so does this, from
// a flat header tuple so that a Request can be asked at any time.
static mp_obj_t mongoose_basic_credentials(mp_obj_t headers_in) {
    size_t n;
    mp_obj_t *items;
    mp_obj_tuple_get(headers_in, &n, &items);
    for (size_t i = 0; i + 1 < n; i += 2) {
        if (!mp_obj_is_str(items[i])) {
            continue;
        }
        GET_STR_DATA_LEN(items[i], name, name_len);
        if (mg_strcasecmp(mg_str_n((const char *)name, name_len), mg_str("authorization")) != 0) {
            continue;
        }
        if (!mp_obj_is_str(items[i + 1])) {
            return mp_const_none;
        }
        GET_STR_DATA_LEN(items[i + 1], value, value_len);
        if (value_len < 6 || mg_strcasecmp(mg_str_n((const char *)value, 6), mg_str("basic ")) != 0) {
            return mp_const_none;
        }
        const char *b64 = (const char *)value + 6, *end = (const char *)value + value_len;
        while (b64 < end && (*b64 == ' ' || *b64 == '\t')) {
            b64++;
        }
        while (end > b64 && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }
        size_t b64_len = (size_t)(end - b64), cap = b64_len / 4 * 3 + 1;
        if (b64_len == 0 || b64_len % 4 != 0) {
            return mp_const_none;
        }
        char *plain = m_new(char, cap);
        size_t len = mg_base64_decode(b64, b64_len, plain, cap);
        const char *colon = memchr(plain, ':', len);
        mp_obj_t creds = mp_const_none;
        if (colon != NULL) {
            mp_obj_t pair[2] = {pg_text_or_bytes(mg_str_n(plain, (size_t)(colon - plain))),
                                pg_text_or_bytes(mg_str_n(colon + 1, len - (size_t)(colon - plain) - 1))};
            creds = mp_obj_new_tuple(2, pair);
        }
        m_del(char, plain, cap);
        return creds;
    }
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_1(mongoose_basic_credentials_obj, mongoose_basic_credentials);

void pg_on_request(struct mg_connection *c, struct mg_http_message *hm) {
    pg_conn_t *st = conn_state(c);
    st->flags &= (uint16_t)~(F_HEAD_WAIT | F_BODY | F_CHUNKED_IN);  // it is all here
    if (pg_health_check(c, hm)) {
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
    st->start_ms = (uint32_t)mg_millis();
    char id_buf[17];
    struct mg_str line[] = {hm->method, mg_str_n(" ", 1), hm->uri, mg_str_n("?", hm->query.len > 0), hm->query};
    if (!pg_set_log_line(c, PG_KIND_APP, pg_pick_request_id(hm, id_buf), line, MP_ARRAY_SIZE(line))) {
        // Out of C memory: the request cannot be answered (nor logged) as usual.
        mg_http_reply(c, 503, "Content-Type: text/plain\r\nConnection: close\r\n", "Service Unavailable\n");
        c->is_draining = 1;
        return;
    }
    // Safe point: nothing below this frame holds a Python object yet.
    pg_gc_safe_point();
    pg_current_conn = c;
    pg_current_hm = hm;
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
    pg_current_conn = NULL;
    pg_current_hm = NULL;
    if (c->is_resp && !(st->flags & (F_STARTED | F_WATCHED)) && !c->is_websocket) {
        // The handler neither answered nor kept the request for later.
        plain_reply(c, 500, "Internal Server Error\n");
    }
}

MP_REGISTER_ROOT_POINTER(mp_obj_t pg_request_handler);
MP_REGISTER_ROOT_POINTER(mp_obj_t pg_request_class);
