// Requests reaching Python (c/mod/request.c).
#pragma once
#include "mongoose.h"
#include "py/obj.h"

// A whole request has arrived (MG_EV_HTTP_MSG): answer a health check, or
// make its Request and call on_request(req); a 500 if nothing answered it.
void pg_on_request(struct mg_connection *c, struct mg_http_message *hm);
// basic_credentials(headers) -> (user, password) or None: a flat header
// tuple's first Authorization header, if Basic and well formed; each part str
// if UTF-8, else bytes.
MP_DECLARE_CONST_FUN_OBJ_1(mongoose_basic_credentials_obj);
