// time.time() and time.time_ns() from the host clock, for the wasm guest
// (included by extmod/modtime.c: MICROPY_PY_TIME_INCLUDEFILE).
#include "py/mphal.h"
#include "py/obj.h"

static mp_obj_t mp_time_time_get(void) {
    return mp_obj_new_float((mp_float_t)(mp_hal_time_ms() / 1000.0));
}
