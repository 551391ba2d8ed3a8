// Requests reaching Python (c/mod/request.c).
#pragma once
#include "mongoose.h"

// A whole request has arrived (MG_EV_HTTP_MSG): answer a health check, or
// make its Request and call on_request(req); a 500 if nothing answered it.
void pg_on_request(struct mg_connection *c, struct mg_http_message *hm);
