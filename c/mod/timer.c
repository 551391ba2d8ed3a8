// Timers: timer(ms, fn, repeat) -> id and cancel(id), on Mongoose's timers.
#include "py/runtime.h"
#include "c/mod/timer.h"
#include "c/platform/platform.h"
#include "c/vm/budget.h"
#include "c/vm/gc.h"

static mp_int_t next_timer_id;
static void timer_fn(void *arg);

static struct mg_timer *find_timer(mp_int_t id) {
    for (struct mg_timer *t = pg_mgr.timers; t != NULL; t = t->next) {
        if (t->fn == timer_fn && t->arg == (void *)(intptr_t)id) {
            return t;
        }
    }
    return NULL;
}

static void timer_fn(void *arg) {
    pg_gc_safe_point();  // first: below, the callable is held only in a wasm local
    mp_obj_t key = MP_OBJ_NEW_SMALL_INT((mp_int_t)(intptr_t)arg);
    mp_map_elem_t *e = mp_map_lookup(mp_obj_dict_get_map(MP_STATE_PORT(pg_timers)), key, MP_MAP_LOOKUP);
    if (e == NULL) {
        return;  // cancelled
    }
    mp_obj_tuple_t *entry = MP_OBJ_TO_PTR(e->value);  // (fn, repeat)
    mp_obj_t fn = entry->items[0];
    if (entry->items[1] == mp_const_false) {
        mp_obj_dict_delete(MP_STATE_PORT(pg_timers), key);
    }
    pg_call("timer", fn, 0, NULL);
}

static mp_obj_t mongoose_timer(mp_obj_t ms_in, mp_obj_t fn, mp_obj_t repeat_in) {
    mp_int_t ms = mp_obj_get_int(ms_in);
    if (ms < 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("timer interval must be >= 0"));
    }
    if (!mp_obj_is_callable(fn)) {
        mp_raise_TypeError(MP_ERROR_TEXT("timer callback must be callable"));
    }
    bool repeat = mp_obj_is_true(repeat_in);
    if (repeat && ms == 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("a repeating timer needs an interval > 0"));
    }
    pg_net_init();
    if (MP_STATE_PORT(pg_timers) == MP_OBJ_NULL) {
        MP_STATE_PORT(pg_timers) = mp_obj_new_dict(0);
    }
    mp_int_t id = next_timer_id = (next_timer_id + 1) & 0x3fffffff;
    mp_obj_t entry[2] = {fn, mp_obj_new_bool(repeat)};
    mp_obj_dict_store(MP_STATE_PORT(pg_timers), MP_OBJ_NEW_SMALL_INT(id), mp_obj_new_tuple(2, entry));
    if (mg_timer_add(&pg_mgr, (uint64_t)ms, repeat ? MG_TIMER_REPEAT : MG_TIMER_ONCE, timer_fn,
            (void *)(intptr_t)id) == NULL) {
        mp_obj_dict_delete(MP_STATE_PORT(pg_timers), MP_OBJ_NEW_SMALL_INT(id));
        mp_raise_msg(&mp_type_MemoryError, MP_ERROR_TEXT("no memory for a timer"));
    }
    return MP_OBJ_NEW_SMALL_INT(id);
}
MP_DEFINE_CONST_FUN_OBJ_3(mongoose_timer_obj, mongoose_timer);

// Freeing here could pull a timer out from under mg_timer_poll's loop; a
// cancelled timer is instead made a spent one-shot, which Mongoose frees.
static mp_obj_t mongoose_cancel(mp_obj_t id_in) {
    mp_int_t id = mp_obj_get_int(id_in);
    if (MP_STATE_PORT(pg_timers) != MP_OBJ_NULL) {
        mp_map_t *map = mp_obj_dict_get_map(MP_STATE_PORT(pg_timers));
        if (mp_map_lookup(map, MP_OBJ_NEW_SMALL_INT(id), MP_MAP_LOOKUP) != NULL) {
            mp_obj_dict_delete(MP_STATE_PORT(pg_timers), MP_OBJ_NEW_SMALL_INT(id));
        }
    }
    struct mg_timer *t = find_timer(id);
    if (t != NULL) {
        t->flags = MG_TIMER_CALLED | MG_TIMER_AUTODELETE;
        t->expire = 1;
    }
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_1(mongoose_cancel_obj, mongoose_cancel);

MP_REGISTER_ROOT_POINTER(mp_obj_t pg_timers);   // timer id -> (fn, repeat)
