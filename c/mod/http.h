// The HTTP server (c/mod/http.c).
#pragma once
#include "py/obj.h"

MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(mongoose_listen_obj);
