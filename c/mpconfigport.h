// MicroPython configuration for the Pythongoose guest: one wasm instance, no
// file system, no JS FFI; the only way out is the `mongoose` module.
#pragma once

#include <stdint.h>
#include <stdlib.h>  // malloc, for MICROPY_GC_SPLIT_HEAP_AUTO

#define MICROPY_CONFIG_ROM_LEVEL (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)
// Attribute and global lookups dominate a request's Python time: a bigger
// lookup cache (8 KiB) keeps the framework's names from evicting each other.
#define MICROPY_OPT_MAP_LOOKUP_CACHE_SIZE (1024)

// Memory. Python frames live on the pystack (scanned by the GC); the heap
// grows in split areas instead of collecting inside an allocation, and the
// real collection runs only at safe points (c/vm/gc.c): wasm locals cannot be
// scanned, so collecting anywhere else could free live objects.
#define MICROPY_ENABLE_GC (1)
#define MICROPY_ENABLE_PYSTACK (1)
#define MICROPY_GC_SPLIT_HEAP (1)
#define MICROPY_GC_SPLIT_HEAP_AUTO (1)
#define MICROPY_STACK_CHECK (0)
#define MICROPY_ALLOC_PATH_MAX (256)

#define MICROPY_NLR_SETJMP (1)  // wasm exception-based setjmp/longjmp
#define MICROPY_LONGINT_IMPL (MICROPY_LONGINT_IMPL_MPZ)
#define MICROPY_FLOAT_IMPL (MICROPY_FLOAT_IMPL_DOUBLE)
#define MICROPY_ENABLE_DOC_STRING (0)
#define MICROPY_WARNINGS (1)
#define MICROPY_ERROR_PRINTER (&mp_stderr_print)
#define MICROPY_USE_INTERNAL_ERRNO (1)
#define MICROPY_USE_INTERNAL_PRINTF (0)
#define MICROPY_EPOCH_IS_1970 (1)
#define MICROPY_KBD_EXCEPTION (1)
#define MICROPY_ENABLE_COMPILER (1)
#define MICROPY_PY_SYS_PLATFORM "pythongoose"
#define MICROPY_PY_SYS_STDFILES (0)
#define MICROPY_PY_RANDOM_SEED_INIT_FUNC (pg_random_u32())
#define MICROPY_PY_TIME_TIME_TIME_NS (1)
#define MICROPY_PY_TIME_INCLUDEFILE "c/platform/wasm/modtime.c"

// Files: only what the host mounts (c/vm/volume.c), the app bundle read-only
// at /app and the data volume at /data; nothing of the host's file system.
#define MICROPY_VFS (1)
#define MICROPY_VFS_ROM (1)
#define MICROPY_VFS_ROM_IOCTL (0)  // no ROM partitions: the host hands the image over
// MICROPY_VFS_LFS2: set by wasm/Makefile, which also builds littlefs's sources.
#define MICROPY_READER_VFS (1)
#define MICROPY_PY_OS (1)
#define MICROPY_PY_OS_SYNC (1)  // a no-op: littlefs syncs at every commit
#define MICROPY_PY_OS_UNAME (0)
// errno's names: MicroPython's list, and those its file systems raise
// (errno.EROFS under /app, errno.ENOSPC when the volume is full).
#define MICROPY_PY_ERRNO_LIST \
    X(EPERM) X(ENOENT) X(EIO) X(EBADF) X(EAGAIN) X(ENOMEM) X(EACCES) X(EEXIST) X(ENODEV) X(ENOTDIR) \
    X(EISDIR) X(EINVAL) X(EFBIG) X(ENOSPC) X(EROFS) X(EOPNOTSUPP) X(EADDRINUSE) X(ECONNABORTED) \
    X(ECONNRESET) X(ENOBUFS) X(ENOTCONN) X(ETIMEDOUT) X(ECONNREFUSED) X(EHOSTUNREACH) X(EALREADY) \
    X(EINPROGRESS)
// Nothing else that reaches outside the sandbox, and nothing that needs an OS.
// asyncio (c/py/manifest.py freezes MicroPython's own) and select, which its
// core imports; its waits are Mongoose polls instead (mongoose/loop.py).
#define MICROPY_PY_ASYNCIO (1)
#define MICROPY_PY_SELECT (1)
#define MICROPY_PY_IO_IOBASE (1)  // asyncio.ThreadSafeFlag's base, in asyncio/event.py
#define MICROPY_PY_SOCKET (0)
#define MICROPY_PY_NETWORK (0)
#define MICROPY_PY_SSL (0)
#define MICROPY_PY_MACHINE (0)
#define MICROPY_PY_BTREE (0)
#define MICROPY_PY_FRAMEBUF (0)
#define MICROPY_PY_VFS (0)  // os.mount and os.VfsLfs2 remain, within the guest
#define MICROPY_PY_THREAD (0)
// Raw reads and writes of the guest's memory from plain Python: the sandbox
// holds anyway, but it would make a compromised guest one line away.
#define MICROPY_PY_UCTYPES (0)
#define MICROPY_HELPER_REPL (0)
#define MICROPY_PY_BUILTINS_INPUT (0)
#define MICROPY_PERSISTENT_CODE_LOAD (0)

// The CPU budget: every so many branches the VM asks whether the callback in
// progress has run too long (c/vm/budget.c), and if so raises BudgetExceeded in it.
#define MICROPY_VM_HOOK_LOOP \
    if (--pg_vm_countdown <= 0) { \
        pg_vm_check(); \
    }
extern int pg_vm_countdown;
void pg_vm_check(void);

#define MP_SSIZE_MAX (0x7fffffff)
#define UINT_FMT "%u"
#define INT_FMT "%d"
typedef int mp_int_t;        // must be pointer size
typedef unsigned mp_uint_t;  // must be pointer size
typedef long mp_off_t;

#define MICROPY_HW_BOARD_NAME "pythongoose"
#define MICROPY_HW_MCU_NAME "wasm32"
#define MP_STATE_PORT MP_STATE_VM

// print() writes plain \n lines (no CRLF cooking).
#define MP_PLAT_PRINT_STRN(str, len) mp_hal_stdout_tx_strn(str, len)

extern const struct _mp_print_t mp_stderr_print;
uint32_t pg_random_u32(void);
