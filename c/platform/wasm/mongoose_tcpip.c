// Mongoose itself, compiled as part of this file so the virtual NIC can hand
// its TCP/IP stack every queued frame at once: mg_tcpip_poll takes one frame
// per mg_mgr_poll, and each mg_mgr_poll walks every connection twice, so with
// many connections most of a poll round was spent walking, not receiving.
#include "mongoose.c"
#include "c/platform/wasm/mongoose_tcpip.h"

void pg_tcpip_rx(struct mg_tcpip_if *ifp, void *buf, size_t len) {
    ifp->nrecv++;
    mg_tcpip_rx(ifp, buf, len);
}
