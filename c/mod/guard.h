// The request guard (c/mod/guard.c): the protocol handler of accepted HTTP
// connections, in front of Mongoose's own.
#pragma once
#include "mongoose.h"

// Mongoose's HTTP protocol handler (static in mongoose.c), which the guard wraps.
extern mg_event_handler_t pg_mongoose_http_cb;
void pg_guard_pfn(struct mg_connection *c, int ev, void *ev_data);
// Put the guard in front of a new listener's handler (its accepted connections inherit it).
void pg_guard_listener(struct mg_connection *lsn);
