// The guest's virtual NIC and the Mongoose manager that runs over it.
#pragma once
#include "mongoose.h"

#define PG_GUEST_IP MG_IPV4(10, 0, 2, 15)
#define PG_GATEWAY_IP MG_IPV4(10, 0, 2, 2)
#define PG_MTU 1500

extern struct mg_mgr pg_mgr;

// Bring up the manager and the interface (idempotent).
void pg_net_init(void);
// The host is shutting down: close idle connections, close the busy ones
// after their response (modmongoose.c). Called on every idle poll meanwhile.
void pg_http_shutdown(void);
// Run Mongoose until the link is idle, waiting up to ms for traffic first.
void pg_net_poll(int32_t ms);
