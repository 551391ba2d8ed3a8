// MicroPython unix-port variant for the native build (scripts/build-native.sh):
// the standard variant, plus what the `_mongoose` module's port code expects.
#include "variants/standard/mpconfigvariant.h"

#include <stdlib.h>  // malloc, for MICROPY_GC_SPLIT_HEAP_AUTO

// The heap grows in split areas, up to a cap (c/vm/heap.c), as in the guest:
// the unix port's fixed 2 MiB would not hold an 8 MiB request body.
#define MICROPY_GC_SPLIT_HEAP (1)
#define MICROPY_GC_SPLIT_HEAP_AUTO (1)

// The CPU budget (c/vm/budget.c), as in c/mpconfigport.h.
#define MICROPY_VM_HOOK_LOOP \
    if (--pg_vm_countdown <= 0) { \
        pg_vm_check(); \
    }
extern int pg_vm_countdown;
void pg_vm_check(void);
