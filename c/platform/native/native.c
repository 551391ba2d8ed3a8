// The native build's platform (scripts/build-native.sh): MicroPython's unix
// port with the same module, Mongoose on BSD sockets instead of the virtual
// NIC (c/platform/wasm/), and the few host services of c/abi/imports.h that
// the module uses, from the OS and Mongoose's MG_ARCH_UNIX code. There is no
// host process and no sandbox.
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "c/abi/imports.h"
#include "c/platform/platform.h"
#include "c/vm/gc.h"

struct mg_mgr pg_mgr;
static bool poll_again;
static bool initialised;

// The access log is off (c/vm/options.c): its records (fd 3) would go to stderr.
void pg_write(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd == 1 ? 1 : 2, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;  // as the guest's stdout: output that cannot be written is dropped
        }
        p += n;
        len -= (size_t)n;
    }
}

// Mongoose's clock: only differences are taken (the CPU budget).
double pg_millis(void) {
    return (double)mg_millis();
}

// No host stands between Mongoose and the peer: its own error text is the reason.
size_t pg_refusal(uint16_t port, char *buf, size_t cap) {
    (void)port;
    (void)buf;
    (void)cap;
    return 0;
}

// $PYTHONGOOSE_LISTEN, else http://0.0.0.0:8000: one listener (the kernel's backlog is deep).
const char *pg_net_listen_url(unsigned i) {
    const char *url = getenv("PYTHONGOOSE_LISTEN");
    return i > 0 ? NULL : url != NULL && url[0] != '\0' ? url : "http://0.0.0.0:8000";
}

const char *pg_net_listen_name(void) {
    return pg_net_listen_url(0);
}

// c->rem is the client itself.
size_t pg_net_peer(struct mg_connection *c, char *buf, size_t cap) {
    return mg_snprintf(buf, cap, "%M", mg_print_ip_port, &c->rem);
}

// The kernel's socket reports a client that left on the next write.
bool pg_net_client_held(struct mg_connection *c) {
    (void)c;
    return false;
}

// BSD sockets: no link of our own to bring up.
bool pg_net_ready(void) {
    return true;
}

void pg_net_poll_again(void) {
    poll_again = true;
}

// The kernel's poll keeps idle sockets cheap enough: nothing is set aside.
void pg_net_park_when(bool (*waiting)(struct mg_connection *c)) {
    (void)waiting;
}

void pg_net_unpark_all(void) {
}

struct mg_connection *pg_net_unpark_id(unsigned long id) {
    (void)id;
    return NULL;
}

// Closing the socket is enough: the kernel tells the peer.
void pg_net_abort(struct mg_connection *c) {
    c->is_closing = 1;
}

// No host asks the native build to shut down: it is stopped by a signal.
void pg_net_on_shutdown(void (*hook)(bool handover)) {
    (void)hook;
}

// The unix port's collector scans the C stack and registers, so a collection
// may run anywhere: no safe points to keep.
void pg_gc_safe_point(void) {
}

bool pg_gc_enter(void) {
    return true;
}

bool pg_gc_enter_loop(void) {
    return true;
}

void pg_gc_loop_ended(void) {
}

void pg_gc_leave(void) {
}

static void log_fn(char ch, void *param) {
    (void)param;
    pg_write(2, &ch, 1);
}

void pg_net_init(void) {
    if (initialised) {
        return;
    }
    initialised = true;
    mg_log_set(MG_LL_NONE);  // as in the guest; and Mongoose's default log goes to stdout
    mg_log_set_fn(log_fn, NULL);
    mg_mgr_init(&pg_mgr);
}

// Milliseconds until the earliest Mongoose timer, capped (as in the guest's
// poll loop): mg_mgr_poll runs timers only after its wait for socket events.
static int next_deadline(uint64_t now, int cap) {
    for (struct mg_timer *t = pg_mgr.timers; t != NULL; t = t->next) {
        if (t->expire <= now) {
            return 0;
        }
        if (t->expire - now < (uint64_t)cap) {
            cap = (int)(t->expire - now);
        }
    }
    return cap;
}

// As in the guest: run Mongoose until a round moved bytes, waiting up to ms
// for them. Waits are cut to 100 ms so that per-poll checks (timeouts) run.
void pg_net_poll(int32_t ms) {
    uint64_t deadline = mg_millis() + (uint64_t)(ms < 0 ? 0 : ms);
    for (;;) {
        uint64_t now = mg_millis();
        int wait = poll_again || now >= deadline ? 0 : next_deadline(now, deadline - now < 100 ? (int)(deadline - now) : 100);
        poll_again = false;
        mg_mgr_poll(&pg_mgr, wait);
        for (struct mg_connection *c = pg_mgr.conns; c != NULL; c = c->next) {
            if (c->is_readable || c->is_writable) {
                return;
            }
        }
        if (mg_millis() >= deadline) {
            return;
        }
    }
}

// This build has no TLS (PG_TLS 0): https:// and mqtts:// are refused in Python first.
bool pg_tls_serving(void) {
    return false;
}

void pg_tls_accept(struct mg_connection *c) {
    (void)c;
}

void pg_tls_connect(struct mg_connection *c, struct mg_str host) {
    (void)host;
    mg_error(c, "this build has no TLS");
}

const char *pg_tls_server_name(struct mg_connection *c) {
    (void)c;
    return "";
}

void pg_tls_abort(struct mg_connection *c) {
    pg_net_abort(c);
}
