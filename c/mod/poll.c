// Running the network from Python: poll(ms), and entry(fn, serve), which
// calibrates the GC rule (c/vm/gc.h) and may poll forever.
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

// entry(fn, serve=False): a callable that records the caller's stack depth
// for the GC rule, then calls fn (and with serve, polls forever from that
// depth). mongoose.init is one, so the seed's init() at module level
// calibrates the rule as its poll loop there will; app.run is another.
typedef struct {
    mp_obj_base_t base;
    mp_obj_t fn;
    bool serve;
} entry_obj_t;

static mp_obj_t entry_call(mp_obj_t self_in, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    entry_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (self->serve && pg_callback_depth > 0) {
        mp_raise_msg(&mp_type_RuntimeError, MP_ERROR_TEXT("run() cannot be called from a callback"));
    }
    pg_gc_enter();
    pg_gc_leave();
    mp_obj_t ret = mp_call_function_n_kw(self->fn, n_args, n_kw, args);
    while (self->serve) {
        pg_gc_enter();
        poll_network(1000);
    }
    return ret;
}

static MP_DEFINE_CONST_OBJ_TYPE(entry_type, MP_QSTR_entry, MP_TYPE_FLAG_NONE, call, entry_call);

static mp_obj_t mongoose_entry(size_t n_args, const mp_obj_t *args) {
    entry_obj_t *o = mp_obj_malloc(entry_obj_t, &entry_type);
    o->fn = args[0];
    o->serve = n_args > 1 && mp_obj_is_true(args[1]);
    return MP_OBJ_FROM_PTR(o);
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_entry_obj, 1, 2, mongoose_entry);
