// WebSocket (c/mod/ws.c).
#pragma once
#include "mongoose.h"
#include "py/obj.h"

// Send a close frame and close the connection once it is out.
void pg_ws_close(struct mg_connection *c, int code, const char *reason, size_t reason_len);
// Refuse a frame whose declared length is too big before Mongoose buffers it.
void pg_ws_check_size(struct mg_connection *c);
// Deliver a message to Python (WS_MSG); anything raised closes this socket only.
void pg_ws_message(struct mg_connection *c, struct mg_ws_message *wm);

MP_DECLARE_CONST_FUN_OBJ_2(mongoose_ws_upgrade_obj);
MP_DECLARE_CONST_FUN_OBJ_2(mongoose_ws_send_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_close_obj);
