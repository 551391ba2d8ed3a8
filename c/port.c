// MicroPython port wiring: VM init, running the app, GC safe points, the CPU
// budget. Natively (PG_NATIVE) MicroPython's unix port does the VM init, runs
// the app and collects garbage itself; only the CPU budget is compiled here.
#ifndef PG_NATIVE
#include <emscripten/stack.h>
#endif
#include <stdio.h>
#include <string.h>

#include "py/builtin.h"
#include "py/compile.h"
#include "py/gc.h"
#include "py/lexer.h"
#include "py/mperrno.h"
#include "py/mphal.h"
#include "py/objstr.h"
#include "py/runtime.h"
#include "py/stackctrl.h"
#include "c/imports.h"
#include "c/port.h"

int pg_callback_depth;
pg_limits_t pg_limits;
// Bytes the Python heap may grow to in total: the host's --heap-max (pg_init),
// natively its default.
static size_t heap_limit = 256 * 1024 * 1024;

// The heap grows instead of collecting inside an allocation; this caps it.
size_t gc_get_max_new_split(void) {
    size_t total = 0;
    for (mp_state_mem_area_t *area = &MP_STATE_MEM(area); area != NULL; area = area->next) {
        total += (size_t)(area->gc_pool_end - area->gc_alloc_table_start);
    }
    return total >= heap_limit ? 0 : heap_limit - total;
}

#ifndef PG_NATIVE
static bool gc_pending, gc_stress, gc_allowed;
#define PG_GC_MIN_THRESHOLD (256 * 1024)  // bytes allocated between collections, at least
static uintptr_t shallowest_sp;

// Called by the allocator when it wants memory back: defer to a safe point.
void gc_collect(void) {
    gc_pending = true;
}

bool pg_gc_enter(void) {
    uintptr_t sp = emscripten_stack_get_current();  // the stack grows down
    gc_allowed = sp >= shallowest_sp;
    if (gc_allowed) {
        shallowest_sp = sp;
    }
    return gc_allowed;
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
    size_t room = heap_limit > info.used ? (heap_limit - info.used) / 2 : 0;
    if (next > room) {
        next = room > 16 * MICROPY_BYTES_PER_GC_BLOCK ? room : 16 * MICROPY_BYTES_PER_GC_BLOCK;
    }
    MP_STATE_MEM(gc_alloc_threshold) = next / MICROPY_BYTES_PER_GC_BLOCK;
}
#endif

mp_obj_t pg_new_bytes(const void *data, size_t len) {
    if (len == 0) {
        return mp_const_empty_bytes;
    }
    byte *copy = m_new(byte, len + 1);
    memcpy(copy, data, len);
    copy[len] = '\0';  // as mp_obj_new_bytes does, for C string users
    mp_obj_str_t *o = mp_obj_malloc(mp_obj_str_t, &mp_type_bytes);
    o->hash = 0;
    o->len = len;
    o->data = copy;
    return MP_OBJ_FROM_PTR(o);
}

// ---- The CPU budget of one callback ----------------------------------------

// BaseException, so that an app's `except Exception` cannot swallow it.
MP_DEFINE_CONST_OBJ_TYPE(pg_type_BudgetExceeded, MP_QSTR_BudgetExceeded, MP_TYPE_FLAG_NONE,
    make_new, mp_obj_exception_make_new, print, mp_obj_exception_print, attr, mp_obj_exception_attr,
    parent, &mp_type_BaseException);

#define PG_VM_CHECK_EVERY 1000  // branches between clock reads
int pg_vm_countdown = PG_VM_CHECK_EVERY;
static double callback_deadline;  // 0: no callback running, or no budget

void pg_vm_check(void) {
    pg_vm_countdown = PG_VM_CHECK_EVERY;
    if (callback_deadline == 0 || pg_millis() < callback_deadline) {
        return;
    }
    // Raised at the next check of pending exceptions, in the running code.
    // If the app swallows it, it comes again after another budget.
    callback_deadline = pg_millis() + pg_limits.cpu_budget_ms;
    mp_sched_exception(mp_obj_new_exception_msg_varg(&pg_type_BudgetExceeded,
        MP_ERROR_TEXT("callback ran over its CPU budget of %u ms"), (unsigned)pg_limits.cpu_budget_ms));
}

mp_obj_t pg_call(const char *context, mp_obj_t fn, size_t n_args, const mp_obj_t *args) {
    nlr_buf_t nlr;
    mp_obj_t ret = MP_OBJ_NULL;
    if (pg_callback_depth == 0 && pg_limits.cpu_budget_ms > 0) {
        callback_deadline = pg_millis() + pg_limits.cpu_budget_ms;
    }
    pg_callback_depth++;
    if (nlr_push(&nlr) == 0) {
        ret = mp_call_function_n_kw(fn, n_args, 0, args);
        nlr_pop();
    } else {
        mp_printf(&mp_stderr_print, "Traceback in %s:\n", context);
        mp_obj_print_exception(&mp_stderr_print, MP_OBJ_FROM_PTR(nlr.ret_val));
    }
    if (--pg_callback_depth == 0) {
        callback_deadline = 0;
        mp_obj_t pending = MP_STATE_MAIN_THREAD(mp_pending_exception);
        if (pending != MP_OBJ_NULL && mp_obj_get_type(pending) == &pg_type_BudgetExceeded) {
            MP_STATE_MAIN_THREAD(mp_pending_exception) = MP_OBJ_NULL;  // it fired as the callback ended
        }
    }
    return ret;
}

PG_EXPORT void pg_set_limits(uint32_t cpu_budget_ms, uint32_t max_body, uint32_t header_timeout_ms,
    uint32_t idle_timeout_ms) {
    pg_limits.cpu_budget_ms = cpu_budget_ms;
    pg_limits.max_body = max_body;
    pg_limits.header_timeout_ms = header_timeout_ms;
    pg_limits.idle_timeout_ms = idle_timeout_ms;
}

#ifndef PG_NATIVE
PG_EXPORT void pg_init(size_t heap_initial, size_t heap_max, size_t pystack_bytes, int stress,
    int access_log) {
    heap_limit = heap_max;
    pg_access_log = access_log != 0;
    gc_stress = stress != 0;
    mp_obj_t *pystack = (mp_obj_t *)malloc(pystack_bytes);
    mp_pystack_init(pystack, (char *)pystack + pystack_bytes);
    char *heap = (char *)malloc(heap_initial);
    gc_init(heap, heap + heap_initial);
    // Ask for a (deferred) collection well before the heap fills up.
    MP_STATE_MEM(gc_alloc_threshold) = PG_GC_MIN_THRESHOLD / MICROPY_BYTES_PER_GC_BLOCK;
    mp_init();  // sys.path: "" (nothing there) and ".frozen" (py/manifest.py)
}

// Compile and run an app. Returns 0 when it finished, 1 on an uncaught
// exception or a syntax error (traceback printed on stderr), or the code
// passed to sys.exit().
PG_EXPORT int pg_run(const char *src, size_t len, const char *filename) {
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        qstr source_name = qstr_from_str(filename);
        mp_lexer_t *lex = mp_lexer_new_from_str_len(source_name, src, len, 0);
        mp_parse_tree_t tree = mp_parse(lex, MP_PARSE_FILE_INPUT);
        mp_obj_t module_fun = mp_compile(&tree, source_name, false);
        mp_call_function_0(module_fun);
        nlr_pop();
        return 0;
    }
    mp_obj_t exc = MP_OBJ_FROM_PTR(nlr.ret_val);
    if (mp_obj_is_subclass_fast(MP_OBJ_FROM_PTR(mp_obj_get_type(exc)), MP_OBJ_FROM_PTR(&mp_type_SystemExit))) {
        mp_obj_t code = mp_obj_exception_get_value(exc);
        return code == mp_const_none ? 0 : mp_obj_is_small_int(code) ? MP_OBJ_SMALL_INT_VALUE(code) : 1;
    }
    mp_obj_print_exception(&mp_stderr_print, exc);
    return 1;
}

mp_lexer_t *mp_lexer_new_from_file(qstr filename) {
    mp_raise_OSError(MP_ENOENT);
}

mp_import_stat_t mp_import_stat(const char *path) {
    return MP_IMPORT_STAT_NO_EXIST;
}

mp_obj_t mp_builtin_open(size_t n_args, const mp_obj_t *args, mp_map_t *kwargs) {
    mp_raise_OSError(MP_EPERM);
}
MP_DEFINE_CONST_FUN_OBJ_KW(mp_builtin_open_obj, 1, mp_builtin_open);

void nlr_jump_fail(void *val) {
    static const char msg[] = "FATAL: uncaught NLR\n";
    pg_write(2, msg, sizeof(msg) - 1);
    abort();
}

void NORETURN __fatal_error(const char *msg) {
    pg_write(2, msg, strlen(msg));
    abort();
}
#endif
