// Shutdown (c/mod/shutdown.c).
#pragma once

#include <stdbool.h>

// The host is shutting down: close idle connections, close the busy ones
// after their response. Registered with the platform (pg_net_on_shutdown),
// which calls it on every idle poll meanwhile. handover (a reload): an idle
// keep-alive connection stays open for its client's next request, answered
// with Connection: close, unless it stays idle for PG_HANDOVER_IDLE_MS.
#define PG_HANDOVER_IDLE_MS 1000
void pg_http_shutdown(bool handover);
