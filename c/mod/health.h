// Health checks (c/mod/health.c; pg_set_health_path is in c/abi/exports.h).
#pragma once
#include <stdbool.h>
#include "mongoose.h"

// If the request is a health check, answer it and return true.
bool pg_health_check(struct mg_connection *c, struct mg_http_message *hm);
