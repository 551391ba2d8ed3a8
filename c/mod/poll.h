// Polling from Python (c/mod/poll.c).
#pragma once
#include "py/obj.h"

MP_DECLARE_CONST_FUN_OBJ_1(mongoose_poll_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_entry_obj);
