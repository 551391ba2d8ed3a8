// The host's options for the VM and the module, set before the app starts.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Limits (pg_set_limits, c/abi/exports.h; 0 = none).
typedef struct {
    uint32_t cpu_budget_ms;      // wall time one callback may run before it is interrupted
    uint32_t max_body;           // largest request body accepted (bytes)
    uint32_t header_timeout_ms;  // a request head must be complete this soon after its first byte
    uint32_t idle_timeout_ms;    // a keep-alive connection with no request in progress is closed after this
    uint32_t max_send_buffer;    // bytes waiting in a connection's send buffer (c->send) past which a send is refused
} pg_limits_t;
extern pg_limits_t pg_limits;

// Whether responses are reported to the host's access log (fd 3; pg_init).
extern bool pg_access_log;

// The app's environment (pg_set_env; --env, --env-file, --secret): entries
// "NAME=VALUE", each NUL-terminated, in a blob the guest keeps. Empty in the
// native build, which has its process's own.
extern const char *pg_env;
extern size_t pg_env_len;
