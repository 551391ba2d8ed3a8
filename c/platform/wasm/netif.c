// The wasm guest's network (c/platform/platform.h): a virtual NIC whose
// frames cross to the host through the pg_tx/pg_rx imports (the host's rings
// never drop a frame the guest hands over), Mongoose's TCP/IP stack on it,
// and the poll loop that runs them.
#include "c/abi/imports.h"
#include "c/abi/link.h"
#include "c/platform/platform.h"
#include "c/platform/wasm/mongoose_tcpip.h"
#include "c/platform/wasm/tls.h"
#include "c/vm/gc.h"

struct mg_mgr pg_mgr;
static struct mg_tcpip_if ifp;
static void (*shutdown_hook)(bool handover);
static uint32_t rx_frames, tx_frames;  // progress counters for the poll loop
static bool initialised;
static bool again;  // pg_net_poll_again: another round at once
#define PG_RX_BATCH 64  // frames taken between two poll rounds

static size_t drv_tx(const void *buf, size_t len, struct mg_tcpip_if *ifp) {
    (void)ifp;
    if (!pg_tx(buf, len)) {
        return 0;  // Mongoose keeps TCP data queued and retries next poll
    }
    tx_frames++;
    return len;
}

static size_t drv_rx(void *buf, size_t len, struct mg_tcpip_if *ifp) {
    (void)ifp;
    size_t n = pg_rx(buf, len);
    if (n > 0) {
        rx_frames++;
        pg_tcpip_unpark_for(buf, n);  // Mongoose's own rx in mg_mgr_poll comes here too
    }
    return n;
}

// Mandatory: without poll the interface never comes up.
static bool drv_poll(struct mg_tcpip_if *ifp, bool s1) {
    (void)ifp;
    (void)s1;
    return true;
}

static struct mg_tcpip_driver driver = {NULL, drv_tx, drv_rx, drv_poll};

uint64_t mg_millis(void) {
    return (uint64_t)pg_millis();
}

bool mg_random(void *buf, size_t len) {
    pg_random(buf, len);
    return true;
}

static void log_fn(char ch, void *param) {
    static char line[256];
    static size_t n;
    (void)param;
    line[n++] = ch;
    if (ch == '\n' || n == sizeof(line)) {
        pg_write(2, line, n);
        n = 0;
    }
}

void pg_net_init(void) {
    if (initialised) {
        return;
    }
    initialised = true;
    mg_log_set(MG_LL_NONE);  // connection errors are normal traffic here
    mg_log_set_fn(log_fn, NULL);
    mg_mgr_init(&pg_mgr);
    ifp.ip = PG_GUEST_IP;
    ifp.mask = MG_IPV4(255, 255, 255, 0);
    ifp.gw = PG_GATEWAY_IP;
    uint8_t mac[6] = {PG_GUEST_MAC_OCTETS};
    memcpy(ifp.mac, mac, sizeof(mac));
    ifp.driver = &driver;
    ifp.recv_queue.size = PG_MTU + 40;
    mg_tcpip_init(&pg_mgr, &ifp);
    // mg_tcpip_init allocates a 1540-byte frame buffer and forces MTU 1500.
    mg_free(ifp.tx.buf);
    ifp.tx.len = PG_MTU + 14;
    ifp.tx.buf = (char *)mg_calloc(1, ifp.tx.len);
    ifp.mtu = PG_MTU;
    pg_mgr.dns4.url = PG_DNS_URL;
}

// Milliseconds until the earliest Mongoose timer, capped: TCP timers (delayed
// ACK, FIN, keepalive) are checked only inside mg_mgr_poll.
static int32_t next_deadline(double now, int32_t cap) {
    for (struct mg_timer *t = pg_mgr.timers; t != NULL; t = t->next) {
        double due = (double)t->expire - now;
        if (due < cap) {
            cap = due < 0 ? 0 : (int32_t)due;
        }
    }
    return cap;
}

// A round that sent frames is followed by another at once anyway; this is for
// a request held back while the round produced nothing.
void pg_net_poll_again(void) {
    again = true;
}

void pg_net_poll(int32_t ms) {
    double deadline = pg_millis() + (ms < 0 ? 0 : ms);
    bool worked = false;
    for (unsigned rounds = 0; rounds < 100000; rounds++) {
        uint32_t rx0 = rx_frames, tx0 = tx_frames;
        pg_gc_safe_point();
        pg_tls_round();
        // Everything queued (up to a bound, so timers and output still get
        // their turn), then one poll round sends what it produced.
        for (unsigned n = 0; n < PG_RX_BATCH && ifp.state == MG_TCPIP_STATE_READY; n++) {
            size_t len = drv_rx(ifp.recv_queue.buf, ifp.recv_queue.size, &ifp);
            if (len == 0) {
                break;
            }
            pg_tcpip_rx(&ifp, ifp.recv_queue.buf, len);
        }
        again = false;
        mg_mgr_poll(&pg_mgr, 0);
        pg_tcpip_park(&pg_mgr);
        if (rx_frames != rx0 || tx_frames != tx0 || again) {
            worked = true;
            continue;  // one frame per connection per mg_mgr_poll: keep going
        }
        double now = pg_millis();
        if (worked || now >= deadline) {
            return;
        }
        int woken = pg_wait(next_deadline(now, (int32_t)(deadline - now) < 100 ? (int32_t)(deadline - now) : 100));
        if (woken >= 2) {
            if (shutdown_hook != NULL) {
                shutdown_hook(woken == 3);
            }
            worked = true;
        }
    }
}

void pg_net_on_shutdown(void (*hook)(bool handover)) {
    shutdown_hook = hook;
}
