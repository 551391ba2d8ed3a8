// Mongoose configuration for the Pythongoose guest (MG_ARCH_CUSTOM, passed on
// the command line because emcc predefines __unix__). The native build
// (PG_NATIVE) is MG_ARCH_UNIX, for which Mongoose does not read this file:
// c/micropython.mk force-includes it.
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef PG_NATIVE
#define MG_ENABLE_TCPIP 0           // BSD sockets; Mongoose's own clock and random source
#define MG_DATA_SIZE 48             // c->data: pg_conn_t (c/mod/conn.h) has 64-bit pointers here
#define MG_TLS MG_TLS_NONE
#define PG_TLS 0
#else
#define MG_ENABLE_TCPIP 1           // built-in TCP/IP stack over our virtual NIC
#define MG_ENABLE_CUSTOM_MILLIS 1   // mg_millis() from the host clock
#define MG_ENABLE_CUSTOM_RANDOM 1   // mg_random() from the host CSPRNG
#define MG_ENABLE_TCPIP_DRIVER_INIT 0
#define MG_TLS MG_TLS_CUSTOM        // Mbed TLS under Mongoose's TLS hooks: c/platform/wasm/tls.c
#define PG_TLS 1
#endif
#define MG_IO_SIZE 16384            // iobuf growth step: fewer reallocs on big bodies
#define MG_MAX_HTTP_HEADERS 64
#define MG_ENABLE_PACKED_FS 1     // --static files, copied into guest memory by the host
#define MG_MAX_RECV_SIZE (16UL * 1024UL * 1024UL)  // largest buffered request or WS message
#define MG_PATH_MAX 256            // one value for mongoose.c and c/ (limits.h would give 4096 to some)
