// The guest's whole export list: every function the host calls (besides
// malloc and free, which wasm/Makefile exports). ts/guest/abi.ts names the
// same list. Each is defined where its concern lives (c/vm/, c/mod/).
#pragma once

#include <stddef.h>
#include <stdint.h>

// Marked here, once: emcc exports what is kept alive. Compiled for a real CPU
// (the native build, which has no host) they stay plain functions.
#ifdef __EMSCRIPTEN__
#include <emscripten/emscripten.h>
#define PG_EXPORT EMSCRIPTEN_KEEPALIVE
#else
#define PG_EXPORT
#endif

// Set up the VM: heap (grown up to heap_max), pystack, GC stress mode, and
// whether responses are reported on the access log (fd 3). c/vm/run.c.
PG_EXPORT void pg_init(size_t heap_initial, size_t heap_max, size_t pystack_bytes, int stress, int access_log);
// Compile and run an app. Returns 0 when it finished, 1 on an uncaught
// exception or a syntax error (traceback printed on stderr), or the code
// passed to sys.exit(). c/vm/run.c.
PG_EXPORT int pg_run(const char *src, size_t len, const char *filename);
// Limits, set before the app starts (0 = none). c/vm/options.c.
PG_EXPORT void pg_set_limits(uint32_t cpu_budget_ms, uint32_t max_body, uint32_t header_timeout_ms,
    uint32_t idle_timeout_ms, uint32_t max_send_buffer);
// The app's environment: "NAME=VALUE" entries, each NUL-terminated (the guest
// keeps the blob, malloc'd by the host). os.environ holds them. c/vm/options.c.
PG_EXPORT void pg_set_env(const char *entries, size_t len);
// Add one static file (takes ownership of data, malloc'd by the host; path is
// copied). Returns 0 when out of memory. c/mod/static.c.
PG_EXPORT int pg_fs_add(const char *path, const char *data, size_t size, double mtime);
// The paths the host answers at the start of a connection ("" = none): on a
// kept-alive connection the guest answers the health check itself and
// redirects a metrics request to a new connection. c/mod/health.c.
PG_EXPORT void pg_set_host_paths(const char *health, const char *metrics);
// Mount the app bundle (a ROMFS image the host packed; the guest keeps it,
// malloc'd by the host) read-only at /app, and make it the current directory.
// Returns 1, or 0 with the reason printed on stderr. c/vm/volume.c.
PG_EXPORT int pg_mount_app(const uint8_t *image, size_t len);
// Mount the data volume (littlefs v2 on block_count blocks of the pg.block_*
// imports) at /data, formatting it first if format. 1, or 0 as above.
PG_EXPORT int pg_mount_data(uint32_t block_count, int format);
// How many connections the guest has set aside until their client sends more
// (pg_net_park_when in c/platform/platform.h): the host reads it as the guest
// waits. c/platform/wasm/mongoose_tcpip.c.
PG_EXPORT uint32_t pg_parked(void);
// TLS (the wasm guest only, c/platform/wasm/tls.c). The server's certificate chain and
// key, as PEM text the host malloc'd, each NUL-terminated after len bytes: the
// guest parses them, wipes and frees both. Returns 1, or 0 with the reason
// in err (a NUL-terminated line of at most cap bytes).
PG_EXPORT int pg_tls_server(char *cert, size_t cert_len, char *key, size_t key_len, char *err, size_t cap);
// The CA bundle outbound TLS trusts (PEM, NUL-terminated after len bytes; the
// guest keeps it, malloc'd by the host, and parses it on the first use).
PG_EXPORT void pg_tls_set_ca(const char *pem, size_t len);
