// Health checks on kept-alive connections, answered without Python.
#include <stdlib.h>
#include <string.h>

#include "c/abi/exports.h"
#include "c/mod/health.h"

// The host answers health checks that open a connection; this answers those
// that arrive later on a kept-alive one, so Python never sees either.
static char *health_path;

PG_EXPORT void pg_set_health_path(const char *path) {
    free(health_path);
    health_path = NULL;
    if (path[0] != '\0' && (health_path = malloc(strlen(path) + 1)) != NULL) {
        strcpy(health_path, path);
    }
}

bool pg_health_check(struct mg_connection *c, struct mg_http_message *hm) {
    if (health_path == NULL || mg_strcmp(hm->uri, mg_str(health_path)) != 0 ||
        (mg_strcmp(hm->method, mg_str("GET")) != 0 && mg_strcmp(hm->method, mg_str("HEAD")) != 0)) {
        return false;
    }
    bool head = hm->method.buf[0] == 'H';
    mg_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
        "Content-Length: 16\r\n\r\n%s", head ? "" : "{\"status\":\"ok\"}\n");
    c->is_resp = 0;
    return true;
}
