// The `_mongoose` Python module's table: the thin C layer under `mongoose`
// (the frozen Python package, where the seed API and App live). Connections
// are named by Mongoose's connection id; Python never holds a C pointer.
//
//   listen(handler, on_request, request_class)
//                              serve HTTP on the guest's HTTP port. Each request
//                              is on_request(req), req an instance of
//                              request_class made here (__init__ not called)
//                              with conn, method, path, query_string, _flat
//                              (the headers as a flat tuple) and body (bytes);
//                              later events are handler(event, conn, *args):
//     DRAIN   conn             a watched connection can take more output
//     WS_MSG  conn, data       str (text frame) or bytes (binary frame)
//     CLOSE   conn             a watched connection closed
//   poll(ms)                   run the network for up to ms milliseconds
//   wait(ms)                   the asyncio loop's poll (c/mod/poll.c)
//   resume(coro)               run it to its next await: its result, or coro if it waits
//   loop_ended()               asyncio.run() returned (c/mod/poll.c)
//   entry(fn)                  fn, wrapped to calibrate the GC rule (c/vm/gc.h)
//   reply(conn, status, headers, body)               a whole response
//   start(conn, status, headers, chunked)            open a response
//   send(conn, data, end_if_full=False) -> bytes queued, or -1 if it was
//                              over the send cap and so ended (else OSError)
//   end(conn, close=False)                           finish it
//   watch(conn, drain)         deliver CLOSE (and DRAIN if drain) events
//   ws_upgrade(conn, headers)  answer a WebSocket handshake
//   ws_send(conn, data) -> bool a text (str) or binary (bytes) message; False
//                              if over the send cap: closed 1013, not sent
//   close(conn, code=1000, reason='')                close (WS: close frame)
//   serve_static(conn) -> bool serve the request from the static files
//   timer(ms, fn, repeat) -> id, cancel(id)
//   basic_credentials(headers) -> (user, password) or None, decoded here
//   peer(conn) -> (host, port) the real client, as the host saw it
//   log_exception(heading, exc) a traceback on the server's stderr
//   environ() -> dict          the variables the host handed in (os.environ)
//   mqtt_connect/mqtt_pub/mqtt_sub/mqtt_unsub/mqtt_ping/mqtt_disconnect,
//   http_request, abort, ready: outbound connections (c/mod/client.c)
// Responses to HEAD requests get their headers only, whatever Python passes.
// Each concern is a file of c/mod/: http (listen and its events), request,
// response, ws, static, guard (bad clients), health, timer, poll, shutdown,
// client, conn (connections by id) and text (str/bytes from the network).
#include <string.h>

#include "py/runtime.h"
#include "c/mod/client.h"
#include "c/mod/conn.h"
#include "c/mod/http.h"
#include "c/mod/poll.h"
#include "c/mod/request.h"
#include "c/mod/response.h"
#include "c/mod/static.h"
#include "c/mod/timer.h"
#include "c/mod/ws.h"
#include "c/vm/budget.h"
#include "c/vm/options.h"

static mp_obj_t mongoose_log_exception(mp_obj_t heading, mp_obj_t exc) {
    mp_printf(&mp_stderr_print, "%s\n", mp_obj_str_get_str(heading));
    mp_obj_print_exception(&mp_stderr_print, exc);
    pg_note_exception(exc);
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_2(mongoose_log_exception_obj, mongoose_log_exception);

// The variables the host handed in (pg_set_env), as a new dict: os.environ.
static mp_obj_t mongoose_environ(void) {
    mp_obj_t env = mp_obj_new_dict(0);
    for (const char *p = pg_env, *end = pg_env + pg_env_len; p < end; p += strlen(p) + 1) {
        const char *eq = strchr(p, '=');
        if (eq != NULL) {
            mp_obj_dict_store(env, mp_obj_new_str(p, eq - p), mp_obj_new_str(eq + 1, strlen(eq + 1)));
        }
    }
    return env;
}
static MP_DEFINE_CONST_FUN_OBJ_0(mongoose_environ_obj, mongoose_environ);

static const mp_rom_map_elem_t mongoose_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__mongoose) },
    { MP_ROM_QSTR(MP_QSTR_listen), MP_ROM_PTR(&mongoose_listen_obj) },
    { MP_ROM_QSTR(MP_QSTR_poll), MP_ROM_PTR(&mongoose_poll_obj) },
    { MP_ROM_QSTR(MP_QSTR_wait), MP_ROM_PTR(&mongoose_wait_obj) },
    { MP_ROM_QSTR(MP_QSTR_resume), MP_ROM_PTR(&mongoose_resume_obj) },
    { MP_ROM_QSTR(MP_QSTR_loop_ended), MP_ROM_PTR(&mongoose_loop_ended_obj) },
    { MP_ROM_QSTR(MP_QSTR_entry), MP_ROM_PTR(&mongoose_entry_obj) },
    { MP_ROM_QSTR(MP_QSTR_reply), MP_ROM_PTR(&mongoose_reply_obj) },
    { MP_ROM_QSTR(MP_QSTR_start), MP_ROM_PTR(&mongoose_start_obj) },
    { MP_ROM_QSTR(MP_QSTR_send), MP_ROM_PTR(&mongoose_send_obj) },
    { MP_ROM_QSTR(MP_QSTR_end), MP_ROM_PTR(&mongoose_end_obj) },
    { MP_ROM_QSTR(MP_QSTR_watch), MP_ROM_PTR(&mongoose_watch_obj) },
    { MP_ROM_QSTR(MP_QSTR_ws_upgrade), MP_ROM_PTR(&mongoose_ws_upgrade_obj) },
    { MP_ROM_QSTR(MP_QSTR_ws_send), MP_ROM_PTR(&mongoose_ws_send_obj) },
    { MP_ROM_QSTR(MP_QSTR_close), MP_ROM_PTR(&mongoose_close_obj) },
    { MP_ROM_QSTR(MP_QSTR_serve_static), MP_ROM_PTR(&mongoose_serve_static_obj) },
    { MP_ROM_QSTR(MP_QSTR_timer), MP_ROM_PTR(&mongoose_timer_obj) },
    { MP_ROM_QSTR(MP_QSTR_cancel), MP_ROM_PTR(&mongoose_cancel_obj) },
    { MP_ROM_QSTR(MP_QSTR_basic_credentials), MP_ROM_PTR(&mongoose_basic_credentials_obj) },
    { MP_ROM_QSTR(MP_QSTR_peer), MP_ROM_PTR(&mongoose_peer_obj) },
    { MP_ROM_QSTR(MP_QSTR_tls_name), MP_ROM_PTR(&mongoose_tls_name_obj) },
    { MP_ROM_QSTR(MP_QSTR_TLS), MP_ROM_INT(PG_TLS) },
    { MP_ROM_QSTR(MP_QSTR_log_exception), MP_ROM_PTR(&mongoose_log_exception_obj) },
    { MP_ROM_QSTR(MP_QSTR_environ), MP_ROM_PTR(&mongoose_environ_obj) },
    { MP_ROM_QSTR(MP_QSTR_mqtt_connect), MP_ROM_PTR(&pg_client_mqtt_connect_obj) },
    { MP_ROM_QSTR(MP_QSTR_mqtt_pub), MP_ROM_PTR(&pg_client_mqtt_pub_obj) },
    { MP_ROM_QSTR(MP_QSTR_mqtt_sub), MP_ROM_PTR(&pg_client_mqtt_sub_obj) },
    { MP_ROM_QSTR(MP_QSTR_mqtt_unsub), MP_ROM_PTR(&pg_client_mqtt_unsub_obj) },
    { MP_ROM_QSTR(MP_QSTR_mqtt_ping), MP_ROM_PTR(&pg_client_mqtt_ping_obj) },
    { MP_ROM_QSTR(MP_QSTR_mqtt_disconnect), MP_ROM_PTR(&pg_client_mqtt_disconnect_obj) },
    { MP_ROM_QSTR(MP_QSTR_http_request), MP_ROM_PTR(&pg_client_http_request_obj) },
    { MP_ROM_QSTR(MP_QSTR_abort), MP_ROM_PTR(&pg_client_abort_obj) },
    { MP_ROM_QSTR(MP_QSTR_ready), MP_ROM_PTR(&pg_client_ready_obj) },
    { MP_ROM_QSTR(MP_QSTR_BudgetExceeded), MP_ROM_PTR(&pg_type_BudgetExceeded) },
    { MP_ROM_QSTR(MP_QSTR_DRAIN), MP_ROM_INT(EV_DRAIN) },
    { MP_ROM_QSTR(MP_QSTR_WS_MSG), MP_ROM_INT(EV_WS_MSG) },
    { MP_ROM_QSTR(MP_QSTR_CLOSE), MP_ROM_INT(EV_CLOSE) },
    { MP_ROM_QSTR(MP_QSTR_OPEN), MP_ROM_INT(EV_OPEN) },
    { MP_ROM_QSTR(MP_QSTR_MESSAGE), MP_ROM_INT(EV_MESSAGE) },
    { MP_ROM_QSTR(MP_QSTR_RESPONSE), MP_ROM_INT(EV_RESPONSE) },
    { MP_ROM_QSTR(MP_QSTR_ERROR), MP_ROM_INT(EV_ERROR) },
};
static MP_DEFINE_CONST_DICT(mongoose_module_globals, mongoose_module_globals_table);

const mp_obj_module_t mongoose_c_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&mongoose_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR__mongoose, mongoose_c_module);
