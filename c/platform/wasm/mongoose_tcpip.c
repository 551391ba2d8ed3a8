// Mongoose itself, compiled as part of this file so the virtual NIC can hand
// its TCP/IP stack every queued frame at once: mg_tcpip_poll takes one frame
// per mg_mgr_poll, and each mg_mgr_poll walks every connection twice, so with
// many connections most of a poll round was spent walking, not receiving.
#include "mongoose.c"
#include "c/platform/platform.h"
#include "c/platform/wasm/mongoose_tcpip.h"

void pg_tcpip_rx(struct mg_tcpip_if *ifp, void *buf, size_t len) {
    ifp->nrecv++;
    mg_tcpip_rx(ifp, buf, len);
}

// A reset to the peer (the host resets the client), then Mongoose frees the
// connection at the end of this poll.
void pg_net_abort(struct mg_connection *c) {
    struct connstate *s = (struct connstate *)(c + 1);
    if (!c->is_listening && !c->is_udp && !c->is_closing) {
        tx_tcp(c->mgr->ifp, s->mac, &c->loc, &c->rem, TH_RST | TH_ACK, mg_htonl(s->seq), mg_htonl(s->ack), "", 0);
    }
    c->is_closing = 1;
}
