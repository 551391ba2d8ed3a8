// The cap on the Python heap, which grows in split areas instead of
// collecting inside an allocation (MICROPY_GC_SPLIT_HEAP_AUTO).
#include "py/gc.h"
#include "py/mpstate.h"
#include "c/vm/heap.h"

// The host sets it (pg_init); natively it stays this default.
size_t pg_heap_limit = 256 * 1024 * 1024;

size_t gc_get_max_new_split(void) {
    size_t total = 0;
    for (mp_state_mem_area_t *area = &MP_STATE_MEM(area); area != NULL; area = area->next) {
        total += (size_t)(area->gc_pool_end - area->gc_alloc_table_start);
    }
    return total >= pg_heap_limit ? 0 : pg_heap_limit - total;
}
