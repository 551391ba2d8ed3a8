// The wasm guest's TLS (c/platform/wasm/tls.c): what the platform's poll loop and the
// host call. Module code reaches TLS through c/platform/platform.h.
#pragma once
#include <stddef.h>

// Server handshake steps taken per poll round at most: each may be a
// signature (about a millisecond for P-256, several for RSA-2048), and the
// rest wait for the next round, after the data of connections already up.
#define PG_TLS_HANDSHAKES_PER_ROUND 4

// A new poll round: the handshake steps start counting again.
void pg_tls_round(void);
