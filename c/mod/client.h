// Outbound connections (c/mod/client.c): the `_mongoose` functions on them.
#pragma once
#include "py/obj.h"

MP_DECLARE_CONST_FUN_OBJ_3(pg_client_mqtt_connect_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(pg_client_mqtt_pub_obj);
MP_DECLARE_CONST_FUN_OBJ_3(pg_client_mqtt_sub_obj);
MP_DECLARE_CONST_FUN_OBJ_2(pg_client_mqtt_unsub_obj);
MP_DECLARE_CONST_FUN_OBJ_1(pg_client_mqtt_ping_obj);
MP_DECLARE_CONST_FUN_OBJ_1(pg_client_mqtt_disconnect_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(pg_client_http_request_obj);
MP_DECLARE_CONST_FUN_OBJ_1(pg_client_abort_obj);
MP_DECLARE_CONST_FUN_OBJ_0(pg_client_ready_obj);
