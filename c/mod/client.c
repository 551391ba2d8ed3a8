// Outbound connections for `_mongoose`: Mongoose's MQTT and HTTP clients,
// over the host's outbound relay. Each connection has its own handler, called
// as handler(event, conn, *args):
//   OPEN     conn, code          MQTT CONNACK (0: accepted)
//   MESSAGE  conn, topic, payload (bytes), qos, retain   an MQTT PUBLISH
//   RESPONSE conn, status, headers (flat tuple), body (bytes)
//   ERROR    conn, message       then CLOSE follows
//   CLOSE    conn
// The frozen Python package builds MQTTclient and fetch() on these.
#include <string.h>

#include "py/objstr.h"
#include "py/runtime.h"
#include "c/abi/imports.h"
#include "c/mod/client.h"
#include "c/mod/conn.h"
#include "c/mod/text.h"
#include "c/platform/platform.h"
#include "c/vm/budget.h"
#include "c/vm/gc.h"

enum {
    CF_MQTT = 1,
    CF_ANSWERED = 2,  // RESPONSE (or ERROR) was delivered
    CF_HEAD = 4,      // a HEAD request: the response has no body, whatever Content-Length says
};
typedef struct {
    size_t max_body;  // HTTP: largest response accepted
    uint8_t flags;
} pg_client_t;

static inline pg_client_t *client_state(struct mg_connection *c) {
    return (pg_client_t *)c->data;
}

static const char truncated[] = "connection closed before the response was complete";
static const char too_large[] = "response body too large";

// Errors raised while Python is inside a connect call are kept for it here.
static bool connecting_now;
static char connect_error[200];

static mp_obj_t clients(void) {
    if (MP_STATE_PORT(pg_clients) == MP_OBJ_NULL) {
        MP_STATE_PORT(pg_clients) = mp_obj_new_dict(0);
    }
    return MP_STATE_PORT(pg_clients);
}

static void deliver(struct mg_connection *c, size_t n_args, mp_obj_t *args) {
    mp_map_elem_t *e = mp_map_lookup(mp_obj_dict_get_map(clients()), args[1], MP_MAP_LOOKUP);
    if (e != NULL) {
        pg_call("client handler", e->value, n_args, args);
    }
}

// The host's reason for refusing or resetting a connection beats Mongoose's
// "connection refused" / "peer RST" (the host clears it at each new SYN).
static void error_text(struct mg_connection *c, const char *mg_text, char *out, size_t cap) {
    size_t n = c->loc.port != 0 ? pg_refusal(mg_ntohs(c->loc.port), out, cap - 1) : 0;
    if (n == 0) {
        n = strlen(mg_text) < cap - 1 ? strlen(mg_text) : cap - 1;
        memcpy(out, mg_text, n);
    }
    out[n] = '\0';
}

static void client_fn(struct mg_connection *c, int ev, void *ev_data) {
    pg_client_t *st = client_state(c);
    if (ev == MG_EV_ERROR) {
        char text[200];
        error_text(c, (const char *)ev_data, text, sizeof(text));
        if (connecting_now) {
            memcpy(connect_error, text, sizeof(text));
            return;
        }
        if (st->flags & CF_ANSWERED) {
            return;
        }
        st->flags |= CF_ANSWERED;
        pg_gc_safe_point();
        mp_obj_t args[3] = {MP_OBJ_NEW_SMALL_INT(EV_ERROR), mp_obj_new_int_from_uint(c->id), mp_obj_new_str(text, strlen(text))};
        deliver(c, 3, args);
    } else if (ev == MG_EV_READ && !(st->flags & CF_MQTT) && c->recv.len > st->max_body + 64 * 1024) {
        mg_error(c, "response larger than %lu bytes", (unsigned long)st->max_body);
    } else if (ev == MG_EV_HTTP_MSG && !(st->flags & CF_ANSWERED)) {
        struct mg_http_message *hm = (struct mg_http_message *)ev_data;
        st->flags |= CF_ANSWERED;
        c->is_draining = 1;  // one request per connection
        // At MG_EV_CLOSE Mongoose delivers whatever body arrived, even short of Content-Length.
        struct mg_str *cl = mg_http_get_header(hm, "Content-Length");
        int status = mg_http_status(hm);
        size_t want = 0;
        if (cl != NULL && !(st->flags & CF_HEAD) && status != 204 && status != 304 &&
            mg_str_to_num(*cl, 10, &want, sizeof(want)) && want != hm->body.len) {
            pg_gc_safe_point();
            mp_obj_t args[3] = {MP_OBJ_NEW_SMALL_INT(EV_ERROR), mp_obj_new_int_from_uint(c->id),
                                mp_obj_new_str(truncated, sizeof(truncated) - 1)};
            deliver(c, 3, args);
            return;
        }
        if (hm->body.len > st->max_body) {
            pg_gc_safe_point();
            mp_obj_t args[3] = {MP_OBJ_NEW_SMALL_INT(EV_ERROR), mp_obj_new_int_from_uint(c->id),
                                mp_obj_new_str(too_large, sizeof(too_large) - 1)};
            deliver(c, 3, args);
            return;
        }
        pg_gc_safe_point();
        mp_obj_t args[5];
        args[0] = MP_OBJ_NEW_SMALL_INT(EV_RESPONSE);
        args[1] = mp_obj_new_int_from_uint(c->id);
        args[2] = MP_OBJ_NEW_SMALL_INT(mg_http_status(hm));
        args[3] = pg_headers_tuple(hm);
        args[4] = pg_new_bytes(hm->body.buf, hm->body.len);
        deliver(c, 5, args);
    } else if (ev == MG_EV_MQTT_OPEN) {
        pg_gc_safe_point();
        mp_obj_t args[3] = {MP_OBJ_NEW_SMALL_INT(EV_OPEN), mp_obj_new_int_from_uint(c->id),
                            MP_OBJ_NEW_SMALL_INT(*(uint8_t *)ev_data)};
        deliver(c, 3, args);
    } else if (ev == MG_EV_MQTT_MSG) {
        struct mg_mqtt_message *mm = (struct mg_mqtt_message *)ev_data;
        pg_gc_safe_point();
        mp_obj_t args[6];
        args[0] = MP_OBJ_NEW_SMALL_INT(EV_MESSAGE);
        args[1] = mp_obj_new_int_from_uint(c->id);
        args[2] = pg_text_or_bytes(mm->topic);
        args[3] = pg_new_bytes(mm->data.buf, mm->data.len);
        args[4] = MP_OBJ_NEW_SMALL_INT(mm->qos);
        args[5] = mp_obj_new_bool(mm->dgram.len > 0 && (mm->dgram.buf[0] & 1));
        deliver(c, 6, args);
    } else if (ev == MG_EV_CLOSE) {
        if (!(st->flags & (CF_ANSWERED | CF_MQTT))) {
            // Closed before a whole response arrived (Mongoose reports no error).
            st->flags |= CF_ANSWERED;
            pg_gc_safe_point();
            mp_obj_t args[3] = {MP_OBJ_NEW_SMALL_INT(EV_ERROR), mp_obj_new_int_from_uint(c->id),
                                mp_obj_new_str(truncated, sizeof(truncated) - 1)};
            deliver(c, 3, args);
        }
        pg_gc_safe_point();
        mp_obj_t args[2] = {MP_OBJ_NEW_SMALL_INT(EV_CLOSE), mp_obj_new_int_from_uint(c->id)};
        deliver(c, 2, args);
        mp_map_elem_t *e = mp_map_lookup(mp_obj_dict_get_map(clients()), args[1], MP_MAP_LOOKUP);
        if (e != NULL) {
            mp_obj_dict_delete(clients(), args[1]);
        }
    }
}

// A connection Mongoose refused at once (bad URL, link down) raises here.
static mp_obj_t registered(struct mg_connection *c, mp_obj_t handler) {
    connecting_now = false;
    if (c == NULL) {
        mp_raise_msg_varg(&mp_type_OSError, MP_ERROR_TEXT("cannot connect: %s"), connect_error[0] ? connect_error : "bad URL");
    }
    if (c->is_closing) {
        mp_raise_msg_varg(&mp_type_OSError, MP_ERROR_TEXT("cannot connect: %s"), connect_error);
    }
    mp_obj_t id = mp_obj_new_int_from_uint(c->id);
    mp_obj_dict_store(clients(), id, handler);
    return id;
}

static void begin_connect(mp_obj_t handler) {
    if (!mp_obj_is_callable(handler)) {
        mp_raise_TypeError(MP_ERROR_TEXT("the connection handler must be callable"));
    }
    pg_net_init();
    connect_error[0] = '\0';
    connecting_now = true;
}

static struct mg_str str_arg(mp_obj_t o) {
    size_t len;
    const char *s = mp_obj_is_str_or_bytes(o) ? mp_obj_str_get_data(o, &len) : NULL;
    if (s == NULL) {
        mp_raise_TypeError(MP_ERROR_TEXT("expected str or bytes"));
    }
    return mg_str_n(s, len);
}

// https:// and mqtts:// (Mongoose marks them is_tls): TLS starts once the
// TCP connection is up, verifying the server's certificate for the URL's host.
static void start_tls(struct mg_connection *c, const char *url) {
    if (c->is_tls && !c->is_closing) {
        pg_tls_connect(c, mg_url_host(url));
    }
}

// mqtt_connect(url, handler, (client_id, user, pwd, will_topic, will_msg,
//              will_qos, will_retain, keepalive, clean)) -> conn
static mp_obj_t client_mqtt_connect(mp_obj_t url, mp_obj_t handler, mp_obj_t opts_in) {
    size_t n;
    mp_obj_t *o;
    mp_obj_get_array(opts_in, &n, &o);
    if (n != 9) {
        mp_raise_ValueError(MP_ERROR_TEXT("mqtt_connect needs 9 options"));
    }
    struct mg_mqtt_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.client_id = str_arg(o[0]);
    opts.user = str_arg(o[1]);
    opts.pass = str_arg(o[2]);
    opts.topic = str_arg(o[3]);
    opts.message = str_arg(o[4]);
    opts.qos = (uint8_t)mp_obj_get_int(o[5]);
    opts.retain = mp_obj_is_true(o[6]);
    opts.keepalive = (uint16_t)mp_obj_get_int(o[7]);
    opts.clean = mp_obj_is_true(o[8]);
    opts.version = 4;
    const char *u = mp_obj_str_get_str(url);
    begin_connect(handler);
    struct mg_connection *c = mg_mqtt_connect(&pg_mgr, u, &opts, client_fn, NULL);
    if (c != NULL) {
        client_state(c)->flags = CF_MQTT;
        start_tls(c, u);
    }
    return registered(c, handler);
}
MP_DEFINE_CONST_FUN_OBJ_3(pg_client_mqtt_connect_obj, client_mqtt_connect);

static struct mg_connection *mqtt_conn(mp_obj_t id) {
    struct mg_connection *c = pg_conn_arg(id);
    if (!(client_state(c)->flags & CF_MQTT) || c->is_draining) {
        mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("not connected"));
    }
    // A broker that does not take what it is sent: refuse more, as for clients.
    if (pg_over_send_cap(c)) {
        mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("send buffer full (over --max-send-buffer)"));
    }
    return c;
}

// mqtt_pub(conn, topic, payload, qos, retain) -> packet id
static mp_obj_t client_mqtt_pub(size_t n_args, const mp_obj_t *args) {
    struct mg_connection *c = mqtt_conn(args[0]);
    struct mg_mqtt_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.topic = str_arg(args[1]);
    opts.message = str_arg(args[2]);
    opts.qos = (uint8_t)mp_obj_get_int(args[3]);
    opts.retain = mp_obj_is_true(args[4]);
    return MP_OBJ_NEW_SMALL_INT(mg_mqtt_pub(c, &opts));
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pg_client_mqtt_pub_obj, 5, 5, client_mqtt_pub);

static mp_obj_t client_mqtt_sub(mp_obj_t conn, mp_obj_t topic, mp_obj_t qos) {
    struct mg_connection *c = mqtt_conn(conn);
    struct mg_mqtt_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.topic = str_arg(topic);
    opts.qos = (uint8_t)mp_obj_get_int(qos);
    mg_mqtt_sub(c, &opts);
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_3(pg_client_mqtt_sub_obj, client_mqtt_sub);

// Mongoose has no UNSUBSCRIBE: fixed header, packet id, one topic filter.
static mp_obj_t client_mqtt_unsub(mp_obj_t conn, mp_obj_t topic_in) {
    static uint16_t next_id;
    struct mg_connection *c = mqtt_conn(conn);
    struct mg_str topic = str_arg(topic_in);
    if (++next_id == 0) {
        next_id = 1;
    }
    uint8_t id_and_len[4] = {(uint8_t)(next_id >> 8), (uint8_t)next_id, (uint8_t)(topic.len >> 8), (uint8_t)topic.len};
    mg_mqtt_send_header(c, MQTT_CMD_UNSUBSCRIBE, 2, (uint32_t)(4 + topic.len));
    mg_send(c, id_and_len, sizeof(id_and_len));
    mg_send(c, topic.buf, topic.len);
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_2(pg_client_mqtt_unsub_obj, client_mqtt_unsub);

static mp_obj_t client_mqtt_ping(mp_obj_t conn) {
    mg_mqtt_ping(mqtt_conn(conn));
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_1(pg_client_mqtt_ping_obj, client_mqtt_ping);

// A clean DISCONNECT (no last will), then close once it is sent.
static mp_obj_t client_mqtt_disconnect(mp_obj_t conn) {
    struct mg_connection *c = pg_find_conn(conn);
    if (c != NULL && (client_state(c)->flags & CF_MQTT) && !c->is_draining) {
        struct mg_mqtt_opts opts;
        memset(&opts, 0, sizeof(opts));
        mg_mqtt_disconnect(c, &opts);
        c->is_draining = 1;
    }
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_1(pg_client_mqtt_disconnect_obj, client_mqtt_disconnect);

// http_request(url, handler, request, max_body) -> conn: send the request
// bytes (built by Python) and deliver one RESPONSE or ERROR.
static mp_obj_t client_http_request(size_t n_args, const mp_obj_t *args) {
    const char *u = mp_obj_str_get_str(args[0]);
    struct mg_str req = str_arg(args[2]);
    mp_int_t max_body = mp_obj_get_int(args[3]);
    begin_connect(args[1]);
    struct mg_connection *c = mg_http_connect(&pg_mgr, u, client_fn, NULL);
    if (c != NULL) {
        start_tls(c, u);
    }
    if (c != NULL && !c->is_closing) {
        client_state(c)->max_body = max_body > 0 ? (size_t)max_body : 0;
        if (req.len >= 5 && memcmp(req.buf, "HEAD ", 5) == 0) {
            client_state(c)->flags |= CF_HEAD;
        }
        if (!mg_send(c, req.buf, req.len)) {
            mg_error(c, "no memory for the request");
        }
    }
    return registered(c, args[1]);
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pg_client_http_request_obj, 4, 4, client_http_request);

// abort(conn): drop a connection now (a timeout); no further events but CLOSE.
static mp_obj_t client_abort(mp_obj_t conn) {
    struct mg_connection *c = pg_find_conn(conn);
    if (c != NULL) {
        client_state(c)->flags |= CF_ANSWERED;
        // Not is_closing: Mongoose's TCP/IP stack would drop it without a word to the
        // peer, and the host's connection would stay open. A FIN ends it.
        if (c->is_connecting || c->is_resolving) {
            c->is_closing = 1;  // nothing to end yet; a late SYN|ACK draws the guest's RST
        } else {
            c->send.len = 0;
            c->recv.len = 0;
            c->is_draining = 1;
        }
    }
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_1(pg_client_abort_obj, client_abort);

// ready(): whether the guest's link is up (connections made before fail).
static mp_obj_t client_ready(void) {
    pg_net_init();
    return mp_obj_new_bool(pg_net_ready());
}
MP_DEFINE_CONST_FUN_OBJ_0(pg_client_ready_obj, client_ready);

MP_REGISTER_ROOT_POINTER(mp_obj_t pg_clients);  // connection id -> handler
