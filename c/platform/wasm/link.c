// The rest of c/platform/platform.h for the wasm guest: what the module asks
// of the link the host runs (the listen address, a connection's real client,
// whether outbound connections can be made yet).
#include "c/abi/imports.h"
#include "c/abi/link.h"
#include "c/platform/platform.h"

bool pg_net_ready(void) {
    return pg_mgr.ifp != NULL && pg_mgr.ifp->state == MG_TCPIP_STATE_READY;
}


const char *pg_net_listen_url(unsigned i) {
    static char url[32];
    if (i >= PG_HTTP_LISTENERS) {
        return NULL;
    }
    mg_snprintf(url, sizeof(url), "http://0.0.0.0:%d", PG_HTTP_PORT + (int)i);
    return url;
}

const char *pg_net_listen_name(void) {
    static char name[24];
    mg_snprintf(name, sizeof(name), "ports %d-%d", PG_HTTP_PORT, PG_HTTP_PORT + PG_HTTP_LISTENERS - 1);
    return name;
}

// c->rem is the host's end of the link: the host knows the real client.
size_t pg_net_peer(struct mg_connection *c, char *buf, size_t cap) {
    return pg_peer(mg_ntohs(c->rem.port), buf, cap);
}

bool pg_net_client_held(struct mg_connection *c) {
    return pg_held(mg_ntohs(c->rem.port)) != 0;
}
