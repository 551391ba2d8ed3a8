// Running the network from Python: poll(ms); wait(ms), the asyncio loop's
// poll, and resume(coro); and entry(fn), which calibrates the GC rule
// (c/vm/gc.h).
#include "py/runtime.h"
#include "c/mod/poll.h"
#include "c/platform/platform.h"
#include "c/vm/budget.h"
#include "c/vm/gc.h"

static __attribute__((noinline)) void poll_network(mp_int_t ms) {
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        pg_net_poll(ms);
        nlr_pop();
    } else {
        pg_gc_leave();
        nlr_jump(nlr.ret_val);
    }
    pg_gc_leave();
}

// Keep these frames free of address-taken locals: pg_gc_enter() compares the
// shadow stack depth at each entry point (see c/vm/gc.h).
static mp_obj_t mongoose_poll(mp_obj_t ms_in) {
    mp_int_t ms = mp_obj_get_int(ms_in);
    if (pg_callback_depth > 0) {
        mp_raise_msg(&mp_type_RuntimeError, MP_ERROR_TEXT("poll() cannot be called from a callback"));
    }
    pg_net_init();
    pg_gc_enter();
    poll_network(ms);
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_1(mongoose_poll_obj, mongoose_poll);

// wait(ms): the asyncio loop's wait (mongoose/loop.py), at every turn of
// the loop: ms is the time to its next timed task, -1 for none, 0 when a task
// is ready. A poll like poll(), under the loop's own GC calibration; with a
// task ready only if the last one was over a millisecond ago, so that ready
// tasks neither wait for the network nor starve it. The task step that
// follows runs under the CPU budget.
static mp_obj_t mongoose_wait(mp_obj_t ms_in) {
    static uint64_t last_poll_ms;
    mp_int_t ms = mp_obj_get_int(ms_in);
    if (pg_callback_depth > 0) {
        mp_raise_msg(&mp_type_RuntimeError, MP_ERROR_TEXT("the asyncio loop cannot run in a callback"));
    }
    pg_budget_task_wait();
    uint64_t now = mg_millis();  // one clock read per turn (a host call), two if it polls
    if (ms != 0 || now - last_poll_ms >= 1) {
        pg_net_init();
        pg_gc_enter_loop();
        poll_network(ms < 0 || ms > 1000 ? 1000 : ms);
        last_poll_ms = now = mg_millis();
    }
    pg_budget_task_step((double)now);
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_1(mongoose_wait_obj, mongoose_wait);

// loop_ended(): asyncio.run() returned: no budget for what follows, and the
// next run calibrates the GC rule afresh.
static mp_obj_t mongoose_loop_ended(void) {
    pg_budget_task_wait();
    pg_gc_loop_ended();
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_0(mongoose_loop_ended_obj, mongoose_loop_ended);

// resume(coro): run a coroutine to its next yield; its return value if it
// finished instead, else coro itself. What it raises propagates. (A
// StopIteration caught in Python costs an exception object and a longjmp.)
static mp_obj_t mongoose_resume(mp_obj_t coro) {
    mp_obj_t ret;
    mp_vm_return_kind_t kind = mp_resume(coro, mp_const_none, MP_OBJ_NULL, &ret);
    if (kind == MP_VM_RETURN_EXCEPTION) {
        nlr_raise(ret);
    }
    return kind == MP_VM_RETURN_NORMAL ? ret : coro;
}
MP_DEFINE_CONST_FUN_OBJ_1(mongoose_resume_obj, mongoose_resume);

// entry(fn): a callable that records the caller's stack depth for the GC
// rule, then calls fn. mongoose.init is one, so the seed's init() at module
// level calibrates the rule as its poll loop there will.
typedef struct {
    mp_obj_base_t base;
    mp_obj_t fn;
} entry_obj_t;

static mp_obj_t entry_call(mp_obj_t self_in, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    entry_obj_t *self = MP_OBJ_TO_PTR(self_in);
    pg_gc_enter();
    pg_gc_leave();
    return mp_call_function_n_kw(self->fn, n_args, n_kw, args);
}

static MP_DEFINE_CONST_OBJ_TYPE(entry_type, MP_QSTR_entry, MP_TYPE_FLAG_NONE, call, entry_call);

static mp_obj_t mongoose_entry(mp_obj_t fn) {
    entry_obj_t *o = mp_obj_malloc(entry_obj_t, &entry_type);
    o->fn = fn;
    return MP_OBJ_FROM_PTR(o);
}
MP_DEFINE_CONST_FUN_OBJ_1(mongoose_entry_obj, mongoose_entry);
