// The host's paths on kept-alive connections (c/mod/health.c; pg_set_host_paths is in c/abi/exports.h).
#pragma once
#include <stdbool.h>
#include "mongoose.h"

// If the request is for one of the host's paths, answer it and return true.
bool pg_health_check(struct mg_connection *c, struct mg_http_message *hm);
