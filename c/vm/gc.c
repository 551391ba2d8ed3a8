// The wasm guest's garbage collection: the allocator only asks for one, and it
// runs at the next safe point (c/vm/gc.h). The native build does not compile
// this file: the unix port collects when the allocator asks.
#include <emscripten/stack.h>

#include "py/gc.h"
#include "py/mpstate.h"
#include "c/abi/imports.h"
#include "c/vm/budget.h"
#include "c/vm/gc.h"
#include "c/vm/heap.h"

static bool gc_pending, gc_stress, gc_allowed;
#define PG_GC_MIN_THRESHOLD (256 * 1024)  // bytes allocated between collections, at least
static uintptr_t shallowest_sp, shallowest_loop_sp;

void pg_gc_init(size_t heap_initial, size_t heap_max, bool stress) {
    pg_heap_limit = heap_max;
    gc_stress = stress;
    char *heap = (char *)malloc(heap_initial);
    gc_init(heap, heap + heap_initial);
    // Ask for a (deferred) collection well before the heap fills up.
    MP_STATE_MEM(gc_alloc_threshold) = PG_GC_MIN_THRESHOLD / MICROPY_BYTES_PER_GC_BLOCK;
}

// Called by the allocator when it wants memory back: defer to a safe point.
void gc_collect(void) {
    gc_pending = true;
}

static bool enter(uintptr_t *shallowest) {
    uintptr_t sp = emscripten_stack_get_current();  // the stack grows down
    gc_allowed = sp >= *shallowest;
    if (gc_allowed) {
        *shallowest = sp;
    }
    return gc_allowed;
}

bool pg_gc_enter(void) {
    return enter(&shallowest_sp);
}

bool pg_gc_enter_loop(void) {
    return enter(&shallowest_loop_sp);
}

void pg_gc_loop_ended(void) {
    shallowest_loop_sp = 0;
}

void pg_gc_leave(void) {
    gc_allowed = false;
}

void pg_gc_safe_point(void) {
    if (!(gc_pending || gc_stress) || !gc_allowed || pg_callback_depth > 0) {
        return;
    }
    gc_pending = false;
    gc_collect_start();
    // Belt and braces: the shadow stack holds only address-taken C locals,
    // and scanning it conservatively is cheap.
    void *sp = (void *)emscripten_stack_get_current();
    void *base = (void *)emscripten_stack_get_base();
    gc_collect_root((void **)sp, ((uintptr_t)base - (uintptr_t)sp) / sizeof(void *));
    gc_collect_end();
    // Next collection once as much again as survived has been allocated: a
    // collection marks everything live, so a fixed threshold would make an
    // app holding a lot of data pay for it again every few requests. But
    // well before the heap could reach its cap: the collection waits for a
    // safe point, and an allocation beyond the cap fails meanwhile.
    gc_info_t info;
    gc_info(&info);
    size_t next = info.used > PG_GC_MIN_THRESHOLD ? info.used : PG_GC_MIN_THRESHOLD;
    size_t room = pg_heap_limit > info.used ? (pg_heap_limit - info.used) / 2 : 0;
    if (next > room) {
        next = room > 16 * MICROPY_BYTES_PER_GC_BLOCK ? room : 16 * MICROPY_BYTES_PER_GC_BLOCK;
    }
    MP_STATE_MEM(gc_alloc_threshold) = next / MICROPY_BYTES_PER_GC_BLOCK;
    static double noted_ms = -1e9;
    double now = pg_millis();
    if (now - noted_ms >= 1000) {  // gcStress collects at every safe point
        noted_ms = now;
        pg_note_heap(info.used, info.total);
    }
}
