// VM wiring shared by the port's C files.
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "py/obj.h"

// Functions the host calls into (wasm exports). The native build
// (scripts/build-native.sh, PG_NATIVE) has no host: they stay plain functions.
#ifdef PG_NATIVE
#define PG_EXPORT
#else
#include <emscripten/emscripten.h>
#define PG_EXPORT EMSCRIPTEN_KEEPALIVE
#endif

// Collect garbage if one is due (or always, in GC stress mode). Call only at a
// safe point: no C frame below may hold a heap object in a wasm local.
void pg_gc_safe_point(void);

// Call a Python callable; on an exception print the traceback (with `context`
// as a heading) to stderr and return MP_OBJ_NULL.
mp_obj_t pg_call(const char *context, mp_obj_t fn, size_t n_args, const mp_obj_t *args);

// A bytes object of a copy of data whose hash is left to be computed if it is
// ever needed (MicroPython allows that: hash 0 means not computed yet):
// mp_obj_new_bytes hashes every byte, a real cost for a multi-megabyte body.
mp_obj_t pg_new_bytes(const void *data, size_t len);

// Raised inside a callback that runs over pg_limits.cpu_budget_ms.
extern const mp_obj_type_t pg_type_BudgetExceeded;

// Depth of C->Python callbacks in progress (0 at the top level).
extern int pg_callback_depth;

// Called on entry to mongoose.init()/poll(): a poll at the shallowest C stack
// seen so far is made straight from bytecode; a deeper one runs under a C
// builtin (e.g. inside map()) whose wasm locals may hold objects, so no
// collection may run during it. Returns whether collections are allowed.
bool pg_gc_enter(void);
void pg_gc_leave(void);

// Whether responses are reported to the host's access log (fd 3).
extern bool pg_access_log;

// Limits the host sets before the app starts (pg_set_limits; 0 = none).
typedef struct {
    uint32_t cpu_budget_ms;      // wall time one callback may run before it is interrupted
    uint32_t max_body;           // largest request body accepted (bytes)
    uint32_t header_timeout_ms;  // a request head must be complete this soon after its first byte
    uint32_t idle_timeout_ms;    // a keep-alive connection with no request in progress is closed after this
} pg_limits_t;
extern pg_limits_t pg_limits;
void pg_set_limits(uint32_t cpu_budget_ms, uint32_t max_body, uint32_t header_timeout_ms,
    uint32_t idle_timeout_ms);

#ifdef PG_NATIVE
// The native build's network (c/native.c). The HTTP server's address:
// $PYTHONGOOSE_LISTEN, else http://0.0.0.0:8000.
const char *pg_listen_url(void);
// Set when a request is held back for the next poll (modmongoose.c), which
// then must not sleep waiting for socket events.
extern bool pg_net_again;
#endif
