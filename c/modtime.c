// time.time() and time.time_ns() from the host clock (included by extmod/modtime.c).
#include "py/obj.h"
#include "c/imports.h"

static mp_obj_t mp_time_time_get(void) {
    return mp_obj_new_float((mp_float_t)(mp_hal_time_ms() / 1000.0));
}
