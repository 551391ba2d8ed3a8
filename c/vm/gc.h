// When the garbage collector may run. In the wasm guest only at safe points
// (c/vm/gc.c): wasm locals cannot be scanned, so collecting anywhere else
// could free live objects. The native build's collector scans the C stack
// and may run anywhere (c/platform/native/ makes these no-ops).
#pragma once
#include <stdbool.h>
#include <stddef.h>

// Collect garbage if one is due (or always, in GC stress mode). Call only at a
// safe point: no C frame below may hold a heap object in a wasm local.
void pg_gc_safe_point(void);

// Called on entry to mongoose.init()/poll(): a poll at the shallowest C stack
// seen so far is made straight from bytecode; a deeper one runs under a C
// builtin (e.g. inside map()) whose wasm locals may hold objects, so no
// collection may run during it. Returns whether collections are allowed.
bool pg_gc_enter(void);
// The same for the asyncio loop's wait (mongoose.wait), with a calibration of
// its own: the loop waits under asyncio.run() (or app.run()), a few frames of
// frozen bytecode deeper than a module-level poll or init() calibrates.
// Only bytecode lies between, whose values are on the scanned Python stack;
// like the first poll, the first wait of a run calibrates (a run started
// under a C builtin would be trusted: asyncio.run inside map() is not supported).
bool pg_gc_enter_loop(void);
// The loop returned (asyncio.run ended): the next one calibrates afresh (an
// app may run setup() with asyncio.run, then app.run(), a frame deeper).
void pg_gc_loop_ended(void);
void pg_gc_leave(void);

// The wasm guest's heap: heap_initial bytes now, collections deferred to safe
// points (always due with stress).
void pg_gc_init(size_t heap_initial, size_t heap_max, bool stress);
