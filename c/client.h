// What c/modmongoose.c and c/client.c share: event codes, connection lookup,
// and the outbound-connection functions of `_mongoose`.
#pragma once
#include "mongoose.h"
#include "py/obj.h"

// Events passed to Python handlers as handler(event, conn, *args).
enum { EV_DRAIN, EV_WS_MSG, EV_CLOSE, EV_OPEN, EV_MESSAGE, EV_RESPONSE, EV_ERROR };

// The live connection with this id, or NULL (pg_conn_arg raises OSError instead).
struct mg_connection *pg_find_conn(mp_obj_t id);
struct mg_connection *pg_conn_arg(mp_obj_t id);
// str if the bytes are UTF-8, else bytes: nothing is lost.
mp_obj_t pg_text_or_bytes(struct mg_str s);
// An HTTP message's headers as a flat (name, value, ...) tuple.
mp_obj_t pg_headers_tuple(struct mg_http_message *hm);

MP_DECLARE_CONST_FUN_OBJ_3(pg_client_mqtt_connect_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(pg_client_mqtt_pub_obj);
MP_DECLARE_CONST_FUN_OBJ_3(pg_client_mqtt_sub_obj);
MP_DECLARE_CONST_FUN_OBJ_2(pg_client_mqtt_unsub_obj);
MP_DECLARE_CONST_FUN_OBJ_1(pg_client_mqtt_ping_obj);
MP_DECLARE_CONST_FUN_OBJ_1(pg_client_mqtt_disconnect_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(pg_client_http_request_obj);
MP_DECLARE_CONST_FUN_OBJ_1(pg_client_abort_obj);
MP_DECLARE_CONST_FUN_OBJ_0(pg_client_ready_obj);
