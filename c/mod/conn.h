// Connections as `_mongoose` names them, the events Python handlers get, and
// the HTTP server's per-connection state.
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "mongoose.h"
#include "py/obj.h"

// Events passed to Python handlers as handler(event, conn, *args): the
// server's (DRAIN, WS_MSG, CLOSE) and the outbound connections' (c/mod/client.c).
enum { EV_DRAIN, EV_WS_MSG, EV_CLOSE, EV_OPEN, EV_MESSAGE, EV_RESPONSE, EV_ERROR };

// The live connection with this id, or NULL (pg_conn_arg raises OSError instead).
struct mg_connection *pg_find_conn(mp_obj_t id);
struct mg_connection *pg_conn_arg(mp_obj_t id);

// Valid only while a request is being handled.
extern struct mg_connection *pg_current_conn;
extern struct mg_http_message *pg_current_hm;

// Call the server's handler (listen()) with (event, conn, *args), if there is one.
mp_obj_t pg_call_handler(const char *context, size_t n_args, mp_obj_t *args);

// Per-connection state of the HTTP server in c->data. Mongoose's static file
// sender keeps its byte count in the last size_t of c->data, so this must
// stay clear of it.
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
    F_PIPELINED = 4096,   // is_resp is set only to hold the next request back (see pg_guard_pfn)
    F_OVER_CAP = 8192,    // closed for being over the send cap (since_ms: then); reset if not drained soon
};
typedef struct {
    char *log_line;  // "K<id>\tMETHOD uri" of the request being answered: its kind (PG_KIND_*), id and line
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

// What answered a request, first in its log line: Python, a static file, a
// WebSocket upgrade, or the guest itself refusing it (400, 408, 413, ...).
#define PG_KIND_APP 'a'
#define PG_KIND_STATIC 's'
#define PG_KIND_WEBSOCKET 'w'
#define PG_KIND_REFUSED 'e'

// The request's line for the access log and its id: from a valid
// X-Request-Id, else generated ("-" for a request refused before its head
// was read). The line is its n parts joined. Replaces the connection's log
// line; false without memory.
bool pg_set_log_line(struct mg_connection *c, char kind, struct mg_str id, const struct mg_str *parts, size_t n);
// The current request's id, or an empty string.
struct mg_str pg_request_id(struct mg_connection *c);
// Its X-Request-Id if it is valid (1-64 of [A-Za-z0-9._~:/+=@-]), else a new id in buf (17 bytes).
struct mg_str pg_pick_request_id(struct mg_http_message *hm, char *buf);

// One access log record per response, for the host to format (fd 3, if
// pg_access_log); frees the log line. _cut: the connection closed before the
// response was complete.
void pg_log_response(struct mg_connection *c);
void pg_log_response_cut(struct mg_connection *c);


// The per-connection send cap (--max-send-buffer, pg_limits.max_send_buffer):
// what counts is the bytes Mongoose holds in c->send for the connection. A
// send is refused once they are over the cap; the send that crosses it is
// taken whole, so c->send holds at most the cap plus one send.
bool pg_over_send_cap(struct mg_connection *c);
// c was closed for being over its cap (a WebSocket with 1013, an event stream
// ended): it gets PG_OVER_CAP_GRACE_MS to take what is queued, then it is
// reset and its buffer freed (pg_guard_pfn).
#define PG_OVER_CAP_GRACE_MS 5000
void pg_mark_over_cap(struct mg_connection *c);

MP_DECLARE_CONST_FUN_OBJ_1(mongoose_peer_obj);
MP_DECLARE_CONST_FUN_OBJ_1(mongoose_tls_name_obj);
