// Connections as `_mongoose` names them (by Mongoose's connection id: Python
// never holds a C pointer), the request being handled, the server's handler
// and the access log.
#include <stdio.h>
#include <string.h>

#include "py/runtime.h"
#include "c/abi/imports.h"
#include "c/mod/conn.h"
#include "c/platform/platform.h"
#include "c/vm/budget.h"
#include "c/vm/options.h"

// Valid only while a request is being handled.
struct mg_connection *pg_current_conn;
struct mg_http_message *pg_current_hm;

bool pg_set_log_line(struct mg_connection *c, char kind, struct mg_str id, const struct mg_str *parts, size_t n) {
    pg_conn_t *st = conn_state(c);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        len += parts[i].len;
    }
    free(st->log_line);
    st->log_line = malloc(1 + id.len + 1 + len + 2);  // and the '\n' the record adds
    if (st->log_line == NULL) {
        return false;
    }
    char *p = st->log_line;
    *p++ = kind;
    memcpy(p, id.buf, id.len);
    p += id.len;
    *p++ = '\t';
    for (size_t i = 0; i < n; i++) {
        memcpy(p, parts[i].buf, parts[i].len);
        p += parts[i].len;
    }
    *p = '\0';
    return true;
}

struct mg_str pg_request_id(struct mg_connection *c) {
    const char *line = conn_state(c)->log_line;
    if (line == NULL || line[1] == '-') {
        return mg_str_n("", 0);
    }
    return mg_str_n(line + 1, (size_t)(strchr(line, '\t') - line - 1));
}

static bool id_char(uint8_t ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           strchr("._~:/+=@-", ch) != NULL;
}

struct mg_str pg_pick_request_id(struct mg_http_message *hm, char *buf) {
    struct mg_str *given = mg_http_get_header(hm, "X-Request-Id");
    if (given != NULL && given->len > 0 && given->len <= 64) {
        size_t i = 0;
        while (i < given->len && id_char((uint8_t)given->buf[i])) {
            i++;
        }
        if (i == given->len) {
            return *given;
        }
    }
    // A random prefix per instance, then a count: unique across instances
    // and restarts without a random draw per request.
    static uint32_t prefix, count;
    if (prefix == 0) {
        mg_random(&prefix, sizeof(prefix));
        prefix |= 1;
    }
    snprintf(buf, 17, "%08lx%08lx", (unsigned long)prefix, (unsigned long)++count);
    return mg_str_n(buf, 16);
}

// One access log record per response, for the host to format:
// "<port>\t<status>\t<bytes>\t<ms>\t<kind>[x]\t<id>\t<METHOD uri>\n" on fd 3
// (x: cut short).
static void log_record(struct mg_connection *c, bool cut) {
    pg_conn_t *st = conn_state(c);
    if (st->log_line == NULL) {
        return;
    }
    if (pg_access_log) {
        char record[512];  // one write for most records: each costs the host a call
        int n = snprintf(record, sizeof(record), "%u\t%u\t%lu\t%lu\t%c%s\t", (unsigned)mg_ntohs(c->rem.port),
            st->status, (unsigned long)st->bytes, (unsigned long)((uint32_t)mg_millis() - st->start_ms),
            st->log_line[0], cut ? "x" : "");
        size_t len = strlen(st->log_line);
        st->log_line[len] = '\n';  // allocated with room for it
        if ((size_t)n + len <= sizeof(record)) {
            memcpy(record + n, st->log_line + 1, len);
            pg_write(3, record, (size_t)n + len);
        } else {
            pg_write(3, record, (size_t)n);
            pg_write(3, st->log_line + 1, len);
        }
    }
    free(st->log_line);
    st->log_line = NULL;
}

void pg_log_response(struct mg_connection *c) {
    log_record(c, false);
}

void pg_log_response_cut(struct mg_connection *c) {
    log_record(c, true);
}

bool pg_over_send_cap(struct mg_connection *c) {
    return pg_limits.max_send_buffer != 0 && c->send.len > pg_limits.max_send_buffer;
}

void pg_mark_over_cap(struct mg_connection *c) {
    pg_conn_t *st = conn_state(c);
    st->flags |= F_OVER_CAP;
    st->since_ms = (uint32_t)mg_millis();
    c->is_draining = 1;
}

struct mg_connection *pg_find_conn(mp_obj_t id_in) {
    unsigned long id = (unsigned long)mp_obj_get_int(id_in);
    if (pg_current_conn != NULL && pg_current_conn->id == id) {
        return pg_current_conn;
    }
    for (struct mg_connection *c = pg_mgr.conns; c != NULL; c = c->next) {
        if (c->id == id) {
            return c->is_closing ? NULL : c;
        }
    }
    return pg_net_unpark_id(id);  // one the platform had set aside (it is never closing)
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

mp_obj_t pg_call_handler(const char *context, size_t n_args, mp_obj_t *args) {
    mp_obj_t handler = MP_STATE_PORT(pg_handler);
    if (handler == MP_OBJ_NULL) {
        return MP_OBJ_NULL;
    }
    return pg_call(context, handler, n_args, args);
}

// peer(conn) -> (host, port): the real client, as the platform knows it.
static mp_obj_t mongoose_peer(mp_obj_t conn) {
    struct mg_connection *c = pg_conn_arg(conn);
    char text[64];
    size_t n = pg_net_peer(c, text, sizeof(text));
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
MP_DEFINE_CONST_FUN_OBJ_1(mongoose_peer_obj, mongoose_peer);

// tls_name(conn) -> the name a TLS client asked for (SNI; "" if it sent none), or None over plain TCP.
static mp_obj_t mongoose_tls_name(mp_obj_t conn) {
    struct mg_connection *c = pg_conn_arg(conn);
    if (!c->is_tls) {
        return mp_const_none;
    }
    const char *name = pg_tls_server_name(c);
    return mp_obj_new_str(name, strlen(name));
}
MP_DEFINE_CONST_FUN_OBJ_1(mongoose_tls_name_obj, mongoose_tls_name);

MP_REGISTER_ROOT_POINTER(mp_obj_t pg_handler);
