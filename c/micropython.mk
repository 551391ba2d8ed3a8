# The `_mongoose` module as a MicroPython user C module (USER_C_MODULES), for
# native ports: Mongoose on BSD sockets (MG_ARCH_UNIX), the host services in
# native.c. The wasm guest is built by wasm/Makefile instead.
PG_ROOT := $(abspath $(USERMOD_DIR)/..)
MONGOOSE_DIR := $(PG_ROOT)/node_modules/mongoose.c

SRC_USERMOD_C += $(addprefix $(USERMOD_DIR)/,modmongoose.c client.c port.c native.c)
SRC_USERMOD_LIB_C += $(MONGOOSE_DIR)/mongoose.c
CFLAGS_USERMOD += -DPG_NATIVE -I$(PG_ROOT) -I$(MONGOOSE_DIR)

# Mongoose reads mongoose_config.h only for MG_ARCH_CUSTOM; the module and
# Mongoose must agree on it. Mongoose is third-party code: no warnings.
PG_MG_CFLAGS = -include $(USERMOD_DIR)/mongoose_config.h
$(addprefix $(BUILD)/c/,modmongoose.o client.o port.o native.o): CFLAGS += $(PG_MG_CFLAGS)
$(BUILD)/$(patsubst $(PG_ROOT)/%,%,$(MONGOOSE_DIR))/mongoose.o: CFLAGS += $(PG_MG_CFLAGS) -w
