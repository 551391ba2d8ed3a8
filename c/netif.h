// The guest's virtual NIC and the Mongoose manager that runs over it.
#pragma once
#include "mongoose.h"

#define PG_GUEST_IP MG_IPV4(10, 0, 2, 15)
#define PG_GATEWAY_IP MG_IPV4(10, 0, 2, 2)
// A virtual link has no wire to fit: big segments cross mg_mgr_poll and the
// thread boundary far fewer times per byte. 65521 keeps a frame (MTU + 14)
// within IPv4's 16-bit total length and pcap's 65535-byte snapshot length.
// ts/net/ipv4.ts (LINK_MTU) must agree.
#define PG_MTU 65521

extern struct mg_mgr pg_mgr;

// Bring up the manager and the interface (idempotent).
void pg_net_init(void);
// The host is shutting down: close idle connections, close the busy ones
// after their response (modmongoose.c). Called on every idle poll meanwhile.
void pg_http_shutdown(void);
// Mongoose's receive path, for every queued frame between polls (mongoose_tcpip.c).
void pg_tcpip_rx(struct mg_tcpip_if *ifp, void *buf, size_t len);
// Run Mongoose until the link is idle, waiting up to ms for traffic first.
void pg_net_poll(int32_t ms);
