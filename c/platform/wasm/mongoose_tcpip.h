// Mongoose's TCP/IP receive path, for the NIC driver (c/platform/wasm/netif.c).
#pragma once
#include "mongoose.h"

// Hand Mongoose one received frame (mongoose_tcpip.c): called for every queued
// frame between polls, not one per mg_mgr_poll.
void pg_tcpip_rx(struct mg_tcpip_if *ifp, void *buf, size_t len);

// Parking (pg_net_park_when in c/platform/platform.h): a received frame puts
// its connection back before Mongoose looks for it; after the poll round that
// follows a sweep, the connections waiting for their client leave Mongoose's list.
void pg_tcpip_unpark_for(const uint8_t *frame, size_t len);
void pg_tcpip_park(struct mg_mgr *mgr);
