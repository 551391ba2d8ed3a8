// Calls from C into Python, each under the CPU budget of one callback.
#pragma once
#include "py/obj.h"

// Call a Python callable; on an exception print the traceback (with `context`
// as a heading) to stderr and return MP_OBJ_NULL.
mp_obj_t pg_call(const char *context, mp_obj_t fn, size_t n_args, const mp_obj_t *args);

// Raised inside a callback that runs over pg_limits.cpu_budget_ms.
extern const mp_obj_type_t pg_type_BudgetExceeded;

// Depth of C->Python callbacks in progress (0 at the top level).
extern int pg_callback_depth;

// The asyncio loop's wait (no budget) and the task step after it (a budget of its own).
void pg_budget_task_wait(void);
void pg_budget_task_step(double now_ms);  // now_ms: the clock as the step starts

// Events for the host's metrics, on fd 3 with the access records (if
// pg_access_log): an exception that is a BudgetExceeded or a MemoryError, and
// the heap after a collection.
void pg_note_exception(mp_obj_t exc);
void pg_note_heap(size_t used, size_t total);
