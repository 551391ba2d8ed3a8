// Mongoose's TCP/IP receive path, for the NIC driver (c/platform/wasm/netif.c).
#pragma once
#include "mongoose.h"

// Hand Mongoose one received frame (mongoose_tcpip.c): called for every queued
// frame between polls, not one per mg_mgr_poll.
void pg_tcpip_rx(struct mg_tcpip_if *ifp, void *buf, size_t len);
