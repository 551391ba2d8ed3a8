// str and bytes objects from network bytes, and the UTF-8 rules they follow.
#include <string.h>

#include "py/objstr.h"
#include "py/runtime.h"
#include "py/unicode.h"
#include "c/mod/text.h"

// UTF-8 as RFC 3629 defines it, which RFC 6455 requires of text messages.
// MicroPython's utf8_check() only checks the byte structure: it accepts
// overlong forms, UTF-16 surrogates and code points above U+10FFFF.
bool pg_utf8_strict(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xbf;  // the range of the second byte
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            lo = c == 0xe0 ? 0xa0 : 0x80;  // no overlong forms
            hi = c == 0xed ? 0x9f : 0xbf;  // no surrogates
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            lo = c == 0xf0 ? 0x90 : 0x80;  // no overlong forms
            hi = c == 0xf4 ? 0x8f : 0xbf;  // nothing above U+10FFFF
        } else {
            return false;
        }
        if (n - i <= need || s[i + 1] < lo || s[i + 1] > hi) {
            return false;
        }
        for (size_t k = 2; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return false;
            }
        }
        i += need + 1;
    }
    return true;
}

mp_obj_t pg_new_bytes(const void *data, size_t len) {
    if (len == 0) {
        return mp_const_empty_bytes;
    }
    byte *copy = m_new(byte, len + 1);
    memcpy(copy, data, len);
    copy[len] = '\0';  // as mp_obj_new_bytes does, for C string users
    mp_obj_str_t *o = mp_obj_malloc(mp_obj_str_t, &mp_type_bytes);
    o->hash = 0;
    o->len = len;
    o->data = copy;
    return MP_OBJ_FROM_PTR(o);
}

// Header values that are not UTF-8 reach Python as bytes: nothing is lost.
mp_obj_t pg_text_or_bytes(struct mg_str s) {
    if (utf8_check((const byte *)s.buf, s.len)) {
        // Not interned: looking each value up in the qstr table costs more than it saves.
        return mp_obj_new_str_copy(&mp_type_str, (const byte *)s.buf, s.len);
    }
    return mp_obj_new_bytes((const byte *)s.buf, s.len);
}

mp_obj_t pg_headers_tuple(struct mg_http_message *hm) {
    size_t n_headers = 0;
    while (n_headers < MG_MAX_HTTP_HEADERS && hm->headers[n_headers].name.len > 0) {
        n_headers++;
    }
    mp_obj_tuple_t *headers = MP_OBJ_TO_PTR(mp_obj_new_tuple(n_headers * 2, NULL));
    for (size_t i = 0; i < n_headers; i++) {
        headers->items[2 * i] = pg_text_or_bytes(hm->headers[i].name);
        headers->items[2 * i + 1] = pg_text_or_bytes(hm->headers[i].value);
    }
    return MP_OBJ_FROM_PTR(headers);
}
