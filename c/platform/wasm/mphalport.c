// The wasm guest's MicroPython HAL: time and console, from the host imports.
#include <string.h>
#include "py/mphal.h"
#include "py/mpprint.h"
#include "c/abi/imports.h"

mp_uint_t mp_hal_stdout_tx_strn(const char *str, size_t len) {
    pg_write(1, str, len);
    return len;
}

static void stderr_print_strn(void *env, const char *str, size_t len) {
    (void)env;
    pg_write(2, str, len);
}

const mp_print_t mp_stderr_print = {NULL, stderr_print_strn};

// Via uint64_t: the epoch-based clock overflows 32 bits, and a direct
// double-to-u32 conversion saturates instead of wrapping as ticks must.
mp_uint_t mp_hal_ticks_ms(void) {
    return (mp_uint_t)(uint64_t)pg_millis();
}

mp_uint_t mp_hal_ticks_us(void) {
    return (mp_uint_t)(uint64_t)(pg_millis() * 1000.0);
}

mp_uint_t mp_hal_ticks_cpu(void) {
    return mp_hal_ticks_us();
}

// Wall clock: the host's millis() is since the Unix epoch (see worker.ts).
uint64_t mp_hal_time_ms(void) {
    return (uint64_t)pg_millis();
}

uint64_t mp_hal_time_ns(void) {
    return (uint64_t)(pg_millis() * 1e6);
}

// Sleeping blocks this guest only; frames keep queueing on the host side.
void mp_hal_delay_ms(mp_uint_t ms) {
    double until = pg_millis() + ms;
    for (double now = pg_millis(); now < until; now = pg_millis()) {
        pg_wait((int32_t)(until - now) + 1);
    }
}

void mp_hal_delay_us(mp_uint_t us) {
    mp_hal_delay_ms((us + 999) / 1000);
}

uint32_t pg_random_u32(void) {
    uint32_t r;
    pg_random(&r, sizeof(r));
    return r;
}
