// The HTTP server: listen() and the event handler of its connections, which
// passes each event to the concern that handles it.
#include "py/runtime.h"
#include "c/mod/conn.h"
#include "c/mod/guard.h"
#include "c/mod/http.h"
#include "c/mod/request.h"
#include "c/mod/response.h"
#include "c/mod/shutdown.h"
#include "c/mod/ws.h"
#include "c/platform/platform.h"
#include "c/vm/gc.h"
#include "c/vm/options.h"

// A watched response takes more (DRAIN) below this many bytes waiting: under
// the send cap too, so a paced stream's sends are never refused.
static size_t drain_mark(void) {
    uint32_t cap = pg_limits.max_send_buffer;
    return cap != 0 && cap < PG_STREAM_CHUNK ? cap : PG_STREAM_CHUNK;
}

static void release(struct mg_iobuf *io) {
    free(io->buf);
    io->buf = NULL;
    io->size = io->len = 0;
}

static void http_fn(struct mg_connection *c, int ev, void *ev_data) {
    if (c->is_listening) {
        return;  // its c->data is Mongoose's backlog, not a pg_conn_t
    }
    pg_conn_t *st = conn_state(c);
    if (c->pfn == pg_mongoose_http_cb && c->is_accepted) {
        c->pfn = pg_guard_pfn;  // Mongoose puts its own back after sending a static file
    }
    switch (ev) {
        case MG_EV_ACCEPT:
            st->since_ms = (uint32_t)mg_millis();
            if (pg_tls_serving()) {
                pg_tls_accept(c);
            }
            break;
        case MG_EV_READ:
            if (c->is_websocket) {
                pg_ws_check_size(c);
            }
            break;
        case MG_EV_POLL:
            // Closed for being over the send cap (a WebSocket too: its pfn is
            // Mongoose's own, so this is here, not in the guard) and still
            // not drained: reset, and its buffer freed.
            if ((st->flags & F_OVER_CAP) && !c->is_closing &&
                (int32_t)((uint32_t)*(uint64_t *)ev_data - st->since_ms) >= PG_OVER_CAP_GRACE_MS) {
                pg_net_abort(c);
                break;
            }
            // fall through
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
                pg_stream_feed(c);
            } else if ((st->flags & F_DRAIN) && c->send.len < drain_mark() && !c->is_closing) {
                pg_gc_safe_point();
                mp_obj_t args[2] = {MP_OBJ_NEW_SMALL_INT(EV_DRAIN), mp_obj_new_int_from_uint(c->id)};
                pg_call_handler("stream", 2, args);
            }
            break;
        case MG_EV_HTTP_MSG: {
            struct mg_http_message *hm = (struct mg_http_message *)ev_data;
            pg_on_request(c, hm);
            // Mongoose would parse a request pipelined behind this one now,
            // unchecked: hold it back until the next poll (see pg_guard_pfn).
            if (!c->is_resp && !c->is_websocket &&
                (const uint8_t *)hm->message.buf + hm->message.len < c->recv.buf + c->recv.len) {
                c->is_resp = 1;
                if (!c->is_draining) {
                    st->flags |= F_PIPELINED;
                    pg_net_poll_again();
                }
            }
            break;
        }
        case MG_EV_WS_MSG:
            pg_gc_safe_point();
            pg_ws_message(c, (struct mg_ws_message *)ev_data);
            break;
        case MG_EV_CLOSE:
            if (c->fn_data != NULL) {
                pg_stream_end(c);
            }
            if (st->log_line != NULL && (st->flags & F_STARTED)) {
                pg_log_response_cut(c);  // a response cut short still gets its line
            }
            free(st->log_line);
            st->log_line = NULL;
            if (st->flags & F_WATCHED) {
                mp_obj_t args[2] = {MP_OBJ_NEW_SMALL_INT(EV_CLOSE), mp_obj_new_int_from_uint(c->id)};
                pg_call_handler("close handler", 2, args);
            }
            // Freed here, not by Mongoose, which wipes each byte of a buffer
            // it frees (16 KiB at least each: a fifth of the guest's CPU per
            // new connection); they hold nothing the rest of guest memory does not.
            release(&c->recv);
            release(&c->send);
            break;
    }
}

// What the platform may set aside between the guard's timeout sweeps
// (pg_net_park_when): a connection of this server waiting for its client,
// with no response, stream or held-back request of its own to run.
static bool waits_for_client(struct mg_connection *c) {
    if (c->fn != http_fn || c->is_websocket || c->fn_data != NULL) {
        return false;
    }
    uint16_t flags = conn_state(c)->flags;
    if (flags & (F_STARTED | F_STATIC | F_DRAIN | F_PIPELINED | F_OVER_CAP)) {
        return false;
    }
    return (flags & (F_HEAD_WAIT | F_BODY)) != 0 || c->recv.len == 0;
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
        const char *url;
        for (unsigned i = 0; (url = pg_net_listen_url(i)) != NULL; i++) {
            struct mg_connection *lsn = mg_http_listen(&pg_mgr, url, http_fn, NULL);
            if (lsn == NULL) {
                mp_raise_msg_varg(&mp_type_OSError, MP_ERROR_TEXT("cannot listen on %s"), pg_net_listen_name());
            }
            pg_guard_listener(lsn);
        }
        pg_net_on_shutdown(pg_http_shutdown);
        pg_net_park_when(waits_for_client);
        listening = true;
    }
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_listen_obj, 3, 3, mongoose_listen);
