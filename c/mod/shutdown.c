// The host is shutting down: idle connections close now (in a handover, after
// one more request), busy ones after their response, WebSockets with 1001,
// event streams are ended.
#include "c/mod/conn.h"
#include "c/mod/response.h"
#include "c/mod/shutdown.h"
#include "c/mod/ws.h"
#include "c/vm/options.h"
#include "c/platform/platform.h"

void pg_http_shutdown(bool handover) {
    if (handover && (pg_limits.idle_timeout_ms == 0 || pg_limits.idle_timeout_ms > PG_HANDOVER_IDLE_MS)) {
        // A client sending a request just as its idle connection closes loses
        // it: keep the connections of clients still sending, close the rest soon.
        pg_limits.idle_timeout_ms = PG_HANDOVER_IDLE_MS;
    }
    pg_net_unpark_all();
    for (struct mg_connection *c = pg_mgr.conns; c != NULL; c = c->next) {
        if (!c->is_accepted || c->is_closing || c->is_draining) {
            continue;
        }
        pg_conn_t *st = conn_state(c);
        if (c->is_websocket) {
            pg_ws_close(c, 1001, "server shutting down", 20);
        } else if ((st->flags & (F_WATCHED | F_STARTED | F_DRAIN)) == (F_WATCHED | F_STARTED)) {
            // An open event stream: end it as stream.close() would.
            if (st->flags & F_CHUNKED) {
                mg_send(c, "0\r\n\r\n", 5);
            }
            st->flags |= F_CLOSE_AFTER;
            pg_response_done(c);
        } else if (!handover && !c->is_resp && c->recv.len == 0 && c->fn_data == NULL && (st->flags & F_SERVED)) {
            c->is_draining = 1;  // idle keep-alive connection (a new one may have a request on its way)
        } else {
            st->flags |= F_CLOSE_AFTER;  // close once this response is out
        }
    }
}
