# MicroPython unix-port variant for the native build, selected by
# scripts/build-native.sh with VARIANT_DIR: the standard variant with the
# `_mongoose` module (c/micropython.mk) and the frozen `mongoose` instead of
# the standard frozen modules.
PG_ROOT := $(abspath $(VARIANT_DIR)/../../../../..)
PROG = pythongoose-native
COPT = -O2

USER_C_MODULES = $(PG_ROOT)
FROZEN_MANIFEST = $(PG_ROOT)/c/py/manifest.py
# Debian's source drops the micropython-lib submodule, which the manifest does
# not use; mkrules.mk only checks that the folder has a README.md.
MPY_LIB_DIR = $(TOP)

# Debian's source also drops the bundled Berkeley DB and TLS libraries, and
# ffi would need libffi-dev: leave those modules out.
MICROPY_PY_BTREE = 0
MICROPY_PY_SSL = 0
MICROPY_PY_FFI = 0

# py/gc.c's heap growth (MICROPY_GC_SPLIT_HEAP_AUTO) adds to a void pointer,
# which the unix port's -Wpointer-arith rejects.
$(BUILD)/py/gc.o: CFLAGS += -Wno-pointer-arith
