// WebSocket: the upgrade, messages both ways, close frames, and the message
// size limit enforced before Mongoose buffers a frame.
#include <string.h>

#include "py/runtime.h"
#include "c/mod/conn.h"
#include "c/mod/text.h"
#include "c/mod/ws.h"

// Messages above this close the socket with 1009 instead of being buffered.
#define PG_WS_MAX_MESSAGE (4 * 1024 * 1024)

static mp_obj_t mongoose_ws_upgrade(mp_obj_t conn, mp_obj_t headers) {
    struct mg_connection *c = pg_conn_arg(conn);
    if (c != pg_current_conn || pg_current_hm == NULL) {
        mp_raise_msg(&mp_type_RuntimeError, MP_ERROR_TEXT("ws_upgrade() only while handling the request"));
    }
    size_t hlen;
    const char *h = mp_obj_str_get_data(headers, &hlen);
    pg_conn_t *st = conn_state(c);
    st->status = 101;
    st->flags |= F_WATCHED;
    st->log_line[0] = PG_KIND_WEBSOCKET;
    mg_ws_upgrade(c, pg_current_hm, "%.*s", (int)hlen, h);
    pg_log_response(c);
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_2(mongoose_ws_upgrade_obj, mongoose_ws_upgrade);

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
    if (pg_over_send_cap(c)) {
        // A client that does not take what it is sent: close it with 1013
        // (try again later) rather than queue more; the frame is not sent.
        pg_ws_close(c, 1013, "send buffer full", 16);
        pg_mark_over_cap(c);
        return mp_const_false;
    }
    int op = mp_obj_is_str(data) ? WEBSOCKET_OP_TEXT : WEBSOCKET_OP_BINARY;
    mg_ws_send(c, buf.buf, buf.len, op);
    return mp_const_true;
}
MP_DEFINE_CONST_FUN_OBJ_2(mongoose_ws_send_obj, mongoose_ws_send);

void pg_ws_close(struct mg_connection *c, int code, const char *reason, size_t reason_len) {
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
        pg_ws_close(c, n_args > 1 ? mp_obj_get_int(args[1]) : 1000, reason, rlen);
    } else {
        c->is_draining = 1;
    }
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_close_obj, 1, 3, mongoose_close);

// Refuse a frame whose declared length is too big before Mongoose buffers it.
void pg_ws_check_size(struct mg_connection *c) {
    size_t ofs = (size_t)c->pfn_data;  // Mongoose's offset past buffered fragments
    if (ofs > PG_WS_MAX_MESSAGE + 1) {  // many small continuation frames
        c->recv.len = 0;
        c->pfn = NULL;
        pg_ws_close(c, 1009, "message too big", 15);
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
        pg_ws_close(c, 1009, "message too big", 15);
    }
}

static void ws_deliver(struct mg_connection *c, struct mg_ws_message *wm);

// Anything raised making the message (MemoryError) closes this socket only.
void pg_ws_message(struct mg_connection *c, struct mg_ws_message *wm) {
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
        pg_ws_close(c, 1011, "internal error", 14);
    }
}

static void ws_deliver(struct mg_connection *c, struct mg_ws_message *wm) {
    mp_obj_t data;
    if ((wm->flags & 15) == WEBSOCKET_OP_TEXT) {
        if (!pg_utf8_strict((const uint8_t *)wm->data.buf, wm->data.len)) {
            pg_ws_close(c, 1007, "invalid UTF-8", 13);
            return;
        }
        data = mp_obj_new_str(wm->data.buf, wm->data.len);
    } else {
        data = pg_new_bytes(wm->data.buf, wm->data.len);
    }
    mp_obj_t args[3] = {MP_OBJ_NEW_SMALL_INT(EV_WS_MSG), mp_obj_new_int_from_uint(c->id), data};
    pg_call_handler("WebSocket message handler", 3, args);
}
