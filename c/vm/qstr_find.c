// Every new str MicroPython makes (a concatenation, str(bytes), a str from C)
// is first looked up among the interned strings, which hashes all of it and
// searches every pool. An interned string is shorter than 256 bytes
// (MICROPY_QSTR_BYTES_IN_LEN is 1: qstr_from_strn refuses longer), so a
// longer one skips the lookup. The link wraps qstr_find_strn's calls from
// other files (-Wl,--wrap in wasm/Makefile); py/qstr.c is unchanged.
#include "py/qstr.h"

qstr __real_qstr_find_strn(const char *str, size_t str_len);

qstr __wrap_qstr_find_strn(const char *str, size_t str_len) {
    if (str_len >= (1u << (8 * MICROPY_QSTR_BYTES_IN_LEN))) {
        return MP_QSTRnull;
    }
    return __real_qstr_find_strn(str, str_len);
}
