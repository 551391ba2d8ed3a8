// str and bytes objects from network bytes, and the UTF-8 rules they follow.
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "mongoose.h"
#include "py/obj.h"

// A bytes object of a copy of data whose hash is left to be computed if it is
// ever needed (MicroPython allows that: hash 0 means not computed yet):
// mp_obj_new_bytes hashes every byte, a real cost for a multi-megabyte body.
mp_obj_t pg_new_bytes(const void *data, size_t len);
// str if the bytes are UTF-8, else bytes: nothing is lost.
mp_obj_t pg_text_or_bytes(struct mg_str s);
// An HTTP message's headers as a flat (name, value, ...) tuple.
mp_obj_t pg_headers_tuple(struct mg_http_message *hm);
// UTF-8 as RFC 3629 defines it (stricter than MicroPython's utf8_check()).
bool pg_utf8_strict(const uint8_t *s, size_t n);
