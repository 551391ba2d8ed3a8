// Shutdown (c/mod/shutdown.c).
#pragma once

// The host is shutting down: close idle connections, close the busy ones
// after their response. Registered with the platform (pg_net_on_shutdown),
// which calls it on every idle poll meanwhile.
void pg_http_shutdown(void);
