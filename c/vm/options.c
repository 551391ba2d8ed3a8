// The host's options for the VM and the module (c/vm/options.h).
#include "c/abi/exports.h"
#include "c/vm/options.h"

// Until the host sets its own (the wasm guest's host always does), the CLI's
// defaults (README.md, "Limits"): 1 s CPU budget, 8 MiB bodies, 10 s for a
// request head, 60 s idle keep-alive, 1 MiB send buffer per connection. The native build, which has no host,
// keeps these.
pg_limits_t pg_limits = {
    .cpu_budget_ms = 1000,
    .max_body = 8 * 1024 * 1024,
    .header_timeout_ms = 10000,
    .idle_timeout_ms = 60000,
    .max_send_buffer = 1 * 1024 * 1024,
};
bool pg_access_log;  // natively off: its records (fd 3) would go to stderr

void pg_set_limits(uint32_t cpu_budget_ms, uint32_t max_body, uint32_t header_timeout_ms,
    uint32_t idle_timeout_ms, uint32_t max_send_buffer) {
    pg_limits.cpu_budget_ms = cpu_budget_ms;
    pg_limits.max_body = max_body;
    pg_limits.header_timeout_ms = header_timeout_ms;
    pg_limits.idle_timeout_ms = idle_timeout_ms;
    pg_limits.max_send_buffer = max_send_buffer;
}

const char *pg_env;
size_t pg_env_len;

void pg_set_env(const char *entries, size_t len) {
    pg_env = entries;
    pg_env_len = len;
}
