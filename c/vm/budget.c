// Callbacks from C into Python and the CPU budget of each: the VM's loop hook
// (MICROPY_VM_HOOK_LOOP) raises BudgetExceeded in one that runs too long.
#include <stdio.h>

#include "py/runtime.h"
#include "c/abi/imports.h"
#include "c/vm/budget.h"
#include "c/vm/options.h"

int pg_callback_depth;

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

static void drop_pending_budget(void) {
    mp_obj_t pending = MP_STATE_MAIN_THREAD(mp_pending_exception);
    if (pending != MP_OBJ_NULL && mp_obj_get_type(pending) == &pg_type_BudgetExceeded) {
        MP_STATE_MAIN_THREAD(mp_pending_exception) = MP_OBJ_NULL;
    }
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
        pg_note_exception(MP_OBJ_FROM_PTR(nlr.ret_val));
    }
    if (--pg_callback_depth == 0) {
        callback_deadline = 0;
        drop_pending_budget();  // it fired as the callback ended
    }
    return ret;
}

// The asyncio loop runs its tasks outside any callback: each step (the run of
// a task up to its next await) gets a budget of its own, from the loop's wait
// before it; the wait itself has none.
void pg_budget_task_wait(void) {
    if (pg_callback_depth == 0) {
        callback_deadline = 0;
        drop_pending_budget();  // it fired as the last step ended
    }
}

void pg_budget_task_step(double now_ms) {
    if (pg_callback_depth == 0 && pg_limits.cpu_budget_ms > 0) {
        callback_deadline = now_ms + pg_limits.cpu_budget_ms;
    }
}

// "#b\n": a callback ran over its CPU budget; "#m\n": a MemoryError reached
// the guest's own handler; "#h <used> <total>\n": the heap after a collection.
void pg_note_exception(mp_obj_t exc) {
    if (!pg_access_log) {
        return;
    }
    const mp_obj_type_t *type = mp_obj_get_type(exc);
    if (type == &pg_type_BudgetExceeded) {
        pg_write(3, "#b\n", 3);
    } else if (mp_obj_is_subclass_fast(MP_OBJ_FROM_PTR(type), MP_OBJ_FROM_PTR(&mp_type_MemoryError))) {
        pg_write(3, "#m\n", 3);
    }
}

void pg_note_heap(size_t used, size_t total) {
    if (!pg_access_log) {
        return;
    }
    char text[48];
    int n = snprintf(text, sizeof(text), "#h %lu %lu\n", (unsigned long)used, (unsigned long)total);
    pg_write(3, text, (size_t)n);
}
