// VM wiring shared by the port's C files.
#pragma once
#include <stdbool.h>
#include "py/obj.h"

// Collect garbage if one is due (or always, in GC stress mode). Call only at a
// safe point: no C frame below may hold a heap object in a wasm local.
void pg_gc_safe_point(void);

// Call a Python callable; on an exception print the traceback (with `context`
// as a heading) to stderr and return MP_OBJ_NULL.
mp_obj_t pg_call(const char *context, mp_obj_t fn, size_t n_args, const mp_obj_t *args);

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
