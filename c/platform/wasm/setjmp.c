// The runtime of wasm setjmp/longjmp (-sSUPPORT_LONGJMP=wasm), in place of
// emscripten 3.1.6's compiler-rt one: there, every setjmp adds an entry to
// the calling function's table, found again by a linear scan, and the table
// only grows while the function runs. A frame that catches exceptions in a
// loop (MicroPython's VM re-arms its nlr_push after each exception it
// catches: asyncio's run_until_complete does so for every task that ends)
// then slows down and holds more memory with each one. Here a setjmp on a
// jmp_buf already set in the same call takes over its entry: its old
// context can never be jumped to again.
#include <stdint.h>

// The table the compiler allocates for each function that calls setjmp
// (size entries, and one more that ends them with id 0).
typedef struct {
    uintptr_t id;
    uint32_t label;
} setjmp_entry_t;

extern void setTempRet0(uint32_t value);
void *realloc(void *ptr, unsigned long size);

static uintptr_t last_id;

setjmp_entry_t *saveSetjmp(uintptr_t *env, uint32_t label, setjmp_entry_t *table, uint32_t size) {
    uintptr_t old = *env;  // the id this jmp_buf was last set with (or garbage)
    uint32_t i = 0;
    while (i < size && table[i].id != 0 && !(table[i].id == old && table[i].label == label)) {
        i++;
    }
    if (i == size) {
        size *= 2;
        table = realloc(table, sizeof(setjmp_entry_t) * (size + 1));
        table[i].id = 0;
    }
    if (table[i].id == 0) {
        table[i + 1].id = 0;  // a new last entry (else: set again, its entry reused)
    }
    if (++last_id == 0) {
        last_id = 1;  // 0 ends a table
    }
    *env = last_id;
    table[i].id = last_id;
    table[i].label = label;
    setTempRet0(size);
    return table;
}

uint32_t testSetjmp(uintptr_t id, setjmp_entry_t *table, uint32_t size) {
    for (uint32_t i = 0; i < size && table[i].id != 0; i++) {
        if (table[i].id == id) {
            return table[i].label;
        }
    }
    return 0;
}

// longjmp: thrown as the C longjmp tag (1) with its arguments, which the
// frames' catch code matches against their tables.
static struct {
    void *env;
    int val;
} longjmp_args;

void __wasm_longjmp(void *env, int val) {
    longjmp_args.env = env;
    longjmp_args.val = val;
    __builtin_wasm_throw(1, &longjmp_args);
}
