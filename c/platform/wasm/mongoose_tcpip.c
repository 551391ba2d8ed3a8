// Mongoose itself, compiled as part of this file so the virtual NIC can hand
// its TCP/IP stack every queued frame at once: mg_tcpip_poll takes one frame
// per mg_mgr_poll, and each mg_mgr_poll walks every connection twice, so with
// many connections most of a poll round was spent walking, not receiving.
#include <stdint.h>
#include <string.h>

// Mongoose sums checksums a byte at a time (~210 us per MiB in wasm, about
// half the guest's time for a download). Its sums all go to this one, which
// reads 4 bytes at a time (~40 us per MiB): the sum of little-endian words,
// byte-swapped, is the big-endian sum (RFC 1071), and csumfin folds the rest.
// Every frame keeps a full checksum, so pcap files read as valid.
static uint32_t pg_csumup(uint32_t sum, const void *buf, size_t len) {
    const uint8_t *p = (const uint8_t *)buf;
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        uint32_t w;
        memcpy(&w, p + i, 4);
        acc += w;
    }
    if (i + 2 <= len) {
        uint16_t w;
        memcpy(&w, p + i, 2);
        acc += w;
        i += 2;
    }
    if (i < len) {
        acc += p[i];  // an odd last byte: its word's high byte, low before the swap below
    }
    while (acc >> 16) {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    return sum + (uint32_t)(((acc & 0xff) << 8) | (acc >> 8));
}

// Mongoose's source stays as it is: a call csumup(x, ...) becomes
// PG_CSUMUP_x, ...), so its calls (x is 0 or cs) reach pg_csumup, and its own
// definition (x is "uint32_t sum") is compiled, unused, as mg_csumup_bytewise.
// A Mongoose that calls it with another first argument fails to compile here.
#define csumup(first, ...) PG_CSUMUP_##first, __VA_ARGS__)
#define PG_CSUMUP_0 pg_csumup(0
#define PG_CSUMUP_cs pg_csumup(cs
#define PG_CSUMUP_uint32_t mg_csumup_bytewise(uint32_t
#include "mongoose.c"
#undef csumup
#include "c/abi/exports.h"
#include "c/platform/platform.h"
#include "c/platform/wasm/mongoose_tcpip.h"

void pg_tcpip_rx(struct mg_tcpip_if *ifp, void *buf, size_t len) {
    ifp->nrecv++;
    mg_tcpip_rx(ifp, buf, len);
}

// Parked connections, by remote port: the host gives every connection it
// forwards a port of its own (Mongoose itself tells connections apart by
// ports only). They are out of mgr->conns, linked to nothing.
static struct mg_connection *parked[65536];
static uint32_t n_parked;
static bool (*park_test)(struct mg_connection *c);
// The park pass runs once per sweep (pg_net_unpark_all, every 50 ms from the
// module's timeout round), after the round that walked every connection: not
// after every round, where its own walk cost busy keep-alive connections what
// it saved (each parked at every pause and put back by its next request).
static enum { PARK_NONE, PARK_AFTER_NEXT, PARK_NOW } park_step;

uint32_t pg_parked(void) {
    return n_parked;
}

void pg_net_park_when(bool (*waiting)(struct mg_connection *c)) {
    park_test = waiting;
}

static void unpark(struct mg_connection *c) {
    parked[c->rem.port] = NULL;
    n_parked--;
    c->next = c->mgr->conns;
    c->mgr->conns = c;
}

// The next parked connection at or after *port (advanced past it), or NULL.
static struct mg_connection *next_parked(uint32_t *port) {
    for (; *port < 65536; (*port)++) {
        if (parked[*port] != NULL) {
            return parked[(*port)++];
        }
    }
    return NULL;
}

void pg_net_unpark_all(void) {
    park_step = PARK_AFTER_NEXT;  // even with none set aside: none may be set aside before the next round
    struct mg_connection *c;
    for (uint32_t port = 0; n_parked > 0 && (c = next_parked(&port)) != NULL;) {
        unpark(c);
    }
}

struct mg_connection *pg_net_unpark_id(unsigned long id) {
    struct mg_connection *c;
    for (uint32_t port = 0; n_parked > 0 && (c = next_parked(&port)) != NULL;) {
        if (c->id == id) {
            unpark(c);
            return c;
        }
    }
    return NULL;
}

void pg_tcpip_unpark_for(const uint8_t *frame, size_t len) {
    // Ethernet (14 bytes), IPv4 carrying TCP; then the TCP ports.
    if (n_parked == 0 || len < 14 + 20 + 4 || frame[12] != 0x08 || frame[13] != 0x00 || frame[23] != 6) {
        return;
    }
    size_t tcp = 14 + (size_t)(frame[14] & 0x0f) * 4;
    if (tcp < 14 + 20 || len < tcp + 4) {
        return;
    }
    uint16_t src, dst;  // network order, as Mongoose keeps them
    memcpy(&src, frame + tcp, 2);
    memcpy(&dst, frame + tcp + 2, 2);
    struct mg_connection *c = parked[src];
    if (c != NULL && c->loc.port == dst) {
        unpark(c);
    }
}

// An accepted plain TCP connection with nothing to send, nothing closing and
// only its keep-alive timer running (no delayed ACK or FIN due before the
// module's next sweep).
static bool parkable(struct mg_connection *c) {
    struct connstate *s = (struct connstate *)(c + 1);
    return c->is_accepted && !c->is_listening && !c->is_udp && !c->is_client && !c->is_tls && !c->is_resp &&
           !c->is_closing && !c->is_draining && c->send.len == 0 && s->ttype == MIP_TTYPE_KEEPALIVE &&
           !s->twclosure && parked[c->rem.port] == NULL;
}

void pg_tcpip_park(struct mg_mgr *mgr) {
    if (park_step == PARK_AFTER_NEXT) {
        park_step = PARK_NOW;  // the next round walks them all first
        return;
    }
    if (park_step != PARK_NOW || park_test == NULL) {
        return;
    }
    park_step = PARK_NONE;
    for (struct mg_connection **link = &mgr->conns; *link != NULL;) {
        struct mg_connection *c = *link;
        if (parkable(c) && park_test(c)) {
            *link = c->next;
            c->next = NULL;
            parked[c->rem.port] = c;
            n_parked++;
        } else {
            link = &c->next;
        }
    }
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
