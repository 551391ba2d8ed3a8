// What module code (c/mod/) may ask of the platform: the Mongoose manager and
// its network, the HTTP server's address, and hooks. Implemented once per
// platform: c/platform/wasm/ (the guest's virtual NIC) and c/platform/native/
// (BSD sockets). Platform code never calls into c/mod/: the module registers
// what the platform calls back.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mongoose.h"

extern struct mg_mgr pg_mgr;

// Bring up the manager and the network (idempotent).
void pg_net_init(void);
// Run Mongoose until the network is idle, waiting up to ms for traffic first.
void pg_net_poll(int32_t ms);
// Whether outbound connections can be made yet (the link is up).
bool pg_net_ready(void);
// A request is held back for the next poll: that poll must not wait for traffic.
void pg_net_poll_again(void);

// The URLs the HTTP server listens on (the i-th; NULL past the last: the
// wasm guest opens several, see PG_HTTP_LISTENERS), and how an error names them.
const char *pg_net_listen_url(unsigned i);
const char *pg_net_listen_name(void);
// The real client of an accepted connection as text ("203.0.113.7:51234" or
// "[2001:db8::1]:51234"). Returns its length, 0 if unknown.
size_t pg_net_peer(struct mg_connection *c, char *buf, size_t cap);

// Whether a request the client pipelined must wait: it half-closed, and may
// have left (the host finds out when a response reaches it).
bool pg_net_client_held(struct mg_connection *c);

// Drop a connection now: a reset to the peer, and its buffers freed.
void pg_net_abort(struct mg_connection *c);

// Connections waiting for their client (a request head or body still
// arriving, or an idle keep-alive; the module's hook says which, of the
// connections Mongoose has no work for) may be set aside: Mongoose walks every
// connection twice in every poll round and once for every frame, so thousands
// of them would cost each round. A frame for one puts it back; so does
// pg_net_unpark_all, for one round. One hook; NULL parks none.
void pg_net_park_when(bool (*waiting)(struct mg_connection *c));
// Put every set-aside connection back in pg_mgr.conns for the next poll round
// (before walking the list for all of them).
void pg_net_unpark_all(void);
// The set-aside connection with this id, put back; NULL if there is none.
struct mg_connection *pg_net_unpark_id(unsigned long id);

// TLS, where the platform has it (PG_TLS: the wasm guest, c/platform/wasm/tls.c). Whether
// the host gave the server a certificate and key: accepted connections then
// speak TLS only, started by pg_tls_accept.
bool pg_tls_serving(void);
void pg_tls_accept(struct mg_connection *c);
// Start TLS on an outbound connection to host (sent as SNI; the server's
// certificate must be valid for it and chain to the host's CA bundle). A
// failure is an MG_EV_ERROR naming the reason.
void pg_tls_connect(struct mg_connection *c, struct mg_str host);
// The name a TLS client asked for (SNI); "" if none or not TLS.
const char *pg_tls_server_name(struct mg_connection *c);
// Reset a client whose TLS handshake took too long (counted as failed).
void pg_tls_abort(struct mg_connection *c);

// Called on every idle poll once the host is shutting down (the module
// finishes responses and closes the rest; handover: for a reload). One hook;
// NULL for none.
void pg_net_on_shutdown(void (*hook)(bool handover));
