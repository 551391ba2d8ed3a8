// Static files (c/mod/static.c; pg_fs_add is in c/abi/exports.h).
#pragma once
#include "py/obj.h"

MP_DECLARE_CONST_FUN_OBJ_1(mongoose_serve_static_obj);
