// The wasm guest's VM: init, running the app, and the port hooks of its file
// systems (c/vm/volume.c mounts them). The native build does not compile this file: MicroPython's
// unix port does all this itself.
#include <string.h>

#include "py/builtin.h"
#include "py/compile.h"
#include "py/lexer.h"
#include "py/mperrno.h"
#include "py/runtime.h"
#include "c/abi/exports.h"
#include "c/abi/imports.h"
#include "c/vm/gc.h"
#include "c/vm/options.h"
#include "c/vm/volume.h"

void pg_init(size_t heap_initial, size_t heap_max, size_t pystack_bytes, int stress, int access_log) {
    pg_access_log = access_log != 0;
    mp_obj_t *pystack = (mp_obj_t *)malloc(pystack_bytes);
    mp_pystack_init(pystack, (char *)pystack + pystack_bytes);
    pg_gc_init(heap_initial, heap_max, stress != 0);
    mp_init();  // sys.path: "" (the current directory: /app with a bundle) and ".frozen" (the mongoose package)
    pg_mount_root();
}

int pg_run(const char *src, size_t len, const char *filename) {
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        qstr source_name = qstr_from_str(filename);
        mp_lexer_t *lex = mp_lexer_new_from_str_len(source_name, src, len, 0);
        mp_parse_tree_t tree = mp_parse(lex, MP_PARSE_FILE_INPUT);
        mp_obj_t module_fun = mp_compile(&tree, source_name, false);
        mp_call_function_0(module_fun);
        nlr_pop();
        return 0;
    }
    mp_obj_t exc = MP_OBJ_FROM_PTR(nlr.ret_val);
    if (mp_obj_is_subclass_fast(MP_OBJ_FROM_PTR(mp_obj_get_type(exc)), MP_OBJ_FROM_PTR(&mp_type_SystemExit))) {
        mp_obj_t code = mp_obj_exception_get_value(exc);
        return code == mp_const_none ? 0 : mp_obj_is_small_int(code) ? MP_OBJ_SMALL_INT_VALUE(code) : 1;
    }
    mp_obj_print_exception(&mp_stderr_print, exc);
    return 1;
}

void nlr_jump_fail(void *val) {
    static const char msg[] = "FATAL: uncaught NLR\n";
    pg_write(2, msg, sizeof(msg) - 1);
    abort();
}

void NORETURN __fatal_error(const char *msg) {
    pg_write(2, msg, strlen(msg));
    abort();
}
