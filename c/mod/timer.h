// Timers (c/mod/timer.c).
#pragma once
#include "py/obj.h"

MP_DECLARE_CONST_FUN_OBJ_3(mongoose_timer_obj);
MP_DECLARE_CONST_FUN_OBJ_1(mongoose_cancel_obj);
