// HTTP responses (c/mod/response.c).
#pragma once
#include "mongoose.h"
#include "py/obj.h"

// A response body larger than this is streamed: sent from the Python object
// as the link takes it (or, over TLS, fed to Mongoose in pieces of this size:
// Mongoose shifts its whole send buffer after every segment it sends, so a
// body queued whole would cost time quadratic in its size).
#define PG_STREAM_CHUNK (64 * 1024)
// Bytes one streamed body may send per poll round, so that other connections
// get their turn on the link.
#define PG_DIRECT_PER_POLL (256 * 1024)

// The response is complete: log it, then close or go on to the next request.
void pg_response_done(struct mg_connection *c);
// A body being streamed (c->fn_data): feed Mongoose more of it, or drop it.
void pg_stream_feed(struct mg_connection *c);
void pg_stream_end(struct mg_connection *c);
// "OK", "Not Found", ...: the reason phrase of a status code.
const char *pg_reason_phrase(int status);

MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_reply_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_start_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_send_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_end_obj);
MP_DECLARE_CONST_FUN_OBJ_2(mongoose_watch_obj);
