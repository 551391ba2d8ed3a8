// Polling from Python (c/mod/poll.c).
#pragma once
#include "py/obj.h"

MP_DECLARE_CONST_FUN_OBJ_1(mongoose_poll_obj);
MP_DECLARE_CONST_FUN_OBJ_1(mongoose_wait_obj);
MP_DECLARE_CONST_FUN_OBJ_1(mongoose_resume_obj);
MP_DECLARE_CONST_FUN_OBJ_0(mongoose_loop_ended_obj);
MP_DECLARE_CONST_FUN_OBJ_1(mongoose_entry_obj);
