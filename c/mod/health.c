// The host's paths on kept-alive connections, answered without Python: the
// health check, and the metrics (which only the host can give).
#include <stdlib.h>
#include <string.h>

#include "c/abi/exports.h"
#include "c/mod/health.h"

// The host answers health checks that open a connection; this answers those
// that arrive later on a kept-alive one, so Python never sees either.
static char *health_path, *metrics_path;

static void set_path(char **to, const char *path) {
    free(*to);
    *to = NULL;
    if (path[0] != '\0' && (*to = malloc(strlen(path) + 1)) != NULL) {
        strcpy(*to, path);
    }
}

PG_EXPORT void pg_set_host_paths(const char *health, const char *metrics) {
    set_path(&health_path, health);
    set_path(&metrics_path, metrics);
}

static bool asks_for(struct mg_http_message *hm, const char *path) {
    return path != NULL && mg_strcmp(hm->uri, mg_str(path)) == 0 &&
           (mg_strcmp(hm->method, mg_str("GET")) == 0 || mg_strcmp(hm->method, mg_str("HEAD")) == 0);
}

bool pg_health_check(struct mg_connection *c, struct mg_http_message *hm) {
    if (asks_for(hm, metrics_path)) {
        // The same URL again, on a new connection: the host answers that one.
        mg_printf(c, "HTTP/1.1 307 Temporary Redirect\r\nLocation: %s%s%.*s\r\nConnection: close\r\n"
            "Content-Length: 0\r\n\r\n", metrics_path, hm->query.len > 0 ? "?" : "", (int)hm->query.len, hm->query.buf);
        c->is_resp = 0;
        c->is_draining = 1;
        return true;
    }
    if (!asks_for(hm, health_path)) {
        return false;
    }
    bool head = hm->method.buf[0] == 'H';
    mg_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
        "Content-Length: 16\r\n\r\n%s", head ? "" : "{\"status\":\"ok\"}\n");
    c->is_resp = 0;
    return true;
}
