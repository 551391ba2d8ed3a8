# The `_mongoose` module as a MicroPython user C module (USER_C_MODULES), for
# native ports: every file of c/mod/, the VM files both builds share, and the
# native platform (c/platform/native/: Mongoose on BSD sockets, MG_ARCH_UNIX).
# The wasm guest is built by wasm/Makefile instead.
PG_ROOT := $(abspath $(USERMOD_DIR)/..)
MONGOOSE_DIR := $(PG_ROOT)/node_modules/mongoose.c

PG_SRC_C := $(sort $(wildcard $(USERMOD_DIR)/mod/*.c)) \
	$(addprefix $(USERMOD_DIR)/vm/,budget.c heap.c options.c) \
	$(USERMOD_DIR)/platform/native/native.c
SRC_USERMOD_C += $(PG_SRC_C)
SRC_USERMOD_LIB_C += $(MONGOOSE_DIR)/mongoose.c
CFLAGS_USERMOD += -DPG_NATIVE -I$(PG_ROOT) -I$(MONGOOSE_DIR)

# Mongoose reads mongoose_config.h only for MG_ARCH_CUSTOM; the module and
# Mongoose must agree on it. Mongoose is third-party code: no warnings.
PG_MG_CFLAGS = -include $(USERMOD_DIR)/mongoose_config.h
$(patsubst $(PG_ROOT)/%.c,$(BUILD)/%.o,$(PG_SRC_C)): CFLAGS += $(PG_MG_CFLAGS)
$(BUILD)/$(patsubst $(PG_ROOT)/%,%,$(MONGOOSE_DIR))/mongoose.o: CFLAGS += $(PG_MG_CFLAGS) -w
