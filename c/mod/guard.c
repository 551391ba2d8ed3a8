// The request guard against bad clients: request framing, sizes and timeouts.
// Mongoose's parser is lenient (bare LF, obs-fold, duplicate or contradictory
// framing headers) and drops what it cannot parse without an answer. So each
// request is checked here as its bytes arrive, before Mongoose parses it (see
// pg_guard_pfn): a bad or oversized one is answered (400, 408, 411, 413, 414,
// 431, 505) with Connection: close, and nothing more is read from that client.

#include <string.h>

#include "c/mod/conn.h"
#include "c/mod/guard.h"
#include "c/mod/response.h"
#include "c/mod/text.h"
#include "c/platform/platform.h"
#include "c/vm/options.h"

#define PG_MAX_REQUEST_LINE (8 * 1024)  // longer: 414
#define PG_MAX_HEAD (16 * 1024)         // a bigger head, or more than MG_MAX_HTTP_HEADERS fields: 431
#define PG_MAX_CHUNK_LINE 1024          // a chunk-size line, extensions included
// While a chunked body arrives, its decoded part sits behind this: a chunk
// Mongoose waits for (it has too few bytes yet); at the last chunk the whole
// body becomes one chunk Mongoose decodes in one pass.
#define PG_CHUNK_HOLD "7fffffff\r\n"
#define PG_CHUNK_HOLD_LEN 10

static bool is_tchar(uint8_t ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

// Control characters other than HTAB (CR and LF are checked where they may be).
static bool is_ctl(uint8_t ch) {
    return (ch < 0x20 && ch != '\t') || ch == 0x7f;
}

static int hex_digit(uint8_t ch) {
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

// The largest body accepted (also what Mongoose's 32-bit lengths can hold).
static size_t body_limit(void) {
    size_t cap = 0x7fffffff - PG_MAX_HEAD;
    return pg_limits.max_body != 0 && pg_limits.max_body < cap ? pg_limits.max_body : cap;
}

// Answer the request at the start of c->recv with an error and close the
// connection once that is sent; nothing more from this client is parsed.
static void reject(struct mg_connection *c, int status) {
    pg_conn_t *st = conn_state(c);
    {
        // The request line as far as it goes (it may be cut short or too long).
        size_t n = 0, max = 200;
        size_t sp[2] = {0, 0};  // the first and the last space
        while (n < c->recv.len && n < max && c->recv.buf[n] != '\r' && c->recv.buf[n] != '\n') {
            if (c->recv.buf[n] == ' ') {
                sp[sp[0] == 0 ? 0 : 1] = n;
            }
            n++;
        }
        if (n < c->recv.len && n < max && sp[1] > sp[0]) {
            n = sp[1];  // "METHOD target", as for the requests served
        }
        char line[204];
        for (size_t i = 0; i < n; i++) {
            uint8_t ch = c->recv.buf[i];
            line[i] = (char)(is_ctl(ch) ? '?' : ch);
        }
        strcpy(line + n, n == 0 ? "-" : n == max ? "..." : "");
        struct mg_str part = mg_str(line);
        pg_set_log_line(c, PG_KIND_REFUSED, mg_str("-"), &part, 1);
        st->start_ms = (uint32_t)mg_millis();
    }
    const char *text = pg_reason_phrase(status);
    st->status = (uint16_t)status;
    st->bytes = (uint32_t)strlen(text) + 1;
    mg_http_reply(c, status, "Content-Type: text/plain\r\nConnection: close\r\n", "%s\n", text);
    pg_log_response(c);
    st->flags &= (uint16_t)~(F_HEAD_WAIT | F_BODY | F_CHUNKED_IN | F_PIPELINED);
    c->recv.len = 0;
    c->is_draining = 1;
}

// The head at the start of a request, as far as it has arrived: its length
// once complete (the blank line included), 0 while incomplete, or -status.
// Lines must end in CRLF; control characters other than HTAB are refused.
static int scan_head(const uint8_t *p, size_t n) {
    size_t line_start = 0, lines = 0;
    for (size_t i = 0; i < n; i++) {
        if (lines == 0 && i > PG_MAX_REQUEST_LINE + 1) {
            return -414;
        }
        if (i >= PG_MAX_HEAD) {
            return -431;
        }
        uint8_t ch = p[i];
        if (ch == '\n') {
            if (i == 0 || p[i - 1] != '\r') {
                return -400;  // a bare LF
            }
            if (i - 1 == line_start) {
                return lines == 0 ? -400 : (int)(i + 1);  // the blank line: the head is complete
            }
            if (++lines > 1 + MG_MAX_HTTP_HEADERS) {
                return -431;  // Mongoose would silently ignore the fields past its table
            }
            line_start = i + 1;
        } else if (ch == '\r') {
            if (i + 1 < n && p[i + 1] != '\n') {
                return -400;  // a bare CR
            }
        } else if (is_ctl(ch)) {
            return -400;
        }
    }
    return 0;
}

typedef struct {
    size_t content_length;
    bool has_length, chunked, expect_continue;
} pg_framing_t;

// Case-insensitive equality of p[0..n) and text.
static bool is_name(const uint8_t *p, size_t n, const char *text) {
    return mg_strcasecmp(mg_str_n((const char *)p, n), mg_str(text)) == 0;
}

// A complete head that scan_head passed, strictly (RFC 9112): the request
// line, the field syntax, and one unambiguous framing of the body (no
// request smuggling). Returns 0 or the status to refuse it with.
static int check_head(const uint8_t *p, pg_framing_t *f) {
    memset(f, 0, sizeof(*f));
    // method SP request-target SP HTTP/d.d CRLF
    size_t i = 0;
    while (is_tchar(p[i])) {
        i++;
    }
    size_t method_len = i;
    if (method_len == 0 || p[i++] != ' ') {
        return 400;
    }
    size_t target = i;
    while (p[i] > ' ' && p[i] != 0x7f) {
        i++;
    }
    // Bytes past ASCII must be UTF-8, or Mongoose could not parse the line.
    if (i == target || p[i] != ' ' || !pg_utf8_strict(p + target, i - target)) {
        return 400;
    }
    size_t v = ++i;
    while (p[i] != '\r') {
        i++;
    }
    if (i - v != 8 || memcmp(p + v, "HTTP/", 5) != 0 || p[v + 5] < '0' || p[v + 5] > '9' || p[v + 6] != '.' ||
        p[v + 7] < '0' || p[v + 7] > '9') {
        return 400;
    }
    if (p[v + 5] != '1') {
        return 505;
    }
    bool http10 = p[v + 7] == '0';
    i += 2;
    // field-name ":" OWS field-value OWS CRLF, up to the blank line
    int n_length = 0, n_te = 0, n_host = 0;
    bool te_chunked = false;
    while (p[i] != '\r') {
        size_t name = i;
        while (is_tchar(p[i])) {
            i++;
        }
        // Also refuses obs-fold (a line that starts with SP or HTAB) and
        // whitespace between the name and the colon.
        if (i == name || p[i] != ':') {
            return 400;
        }
        size_t name_len = i - name;
        i++;
        while (p[i] == ' ' || p[i] == '\t') {
            i++;
        }
        size_t value = i;
        while (p[i] != '\r') {
            i++;
        }
        size_t end = i;
        while (end > value && (p[end - 1] == ' ' || p[end - 1] == '\t')) {
            end--;
        }
        i += 2;
        const uint8_t *nm = p + name, *val = p + value;
        size_t vlen = end - value;
        if (is_name(nm, name_len, "Content-Length")) {
            n_length++;
            if (vlen == 0) {
                return 400;
            }
            size_t cl = 0;
            for (size_t k = 0; k < vlen; k++) {
                if (val[k] < '0' || val[k] > '9') {
                    return 400;
                }
                cl = cl > (SIZE_MAX - 9) / 10 ? SIZE_MAX : cl * 10 + (size_t)(val[k] - '0');
            }
            f->content_length = cl;
        } else if (is_name(nm, name_len, "Transfer-Encoding")) {
            n_te++;
            te_chunked = is_name(val, vlen, "chunked");
        } else if (is_name(nm, name_len, "Host")) {
            n_host++;
        } else if (is_name(nm, name_len, "Expect")) {
            f->expect_continue = !http10 && is_name(val, vlen, "100-continue");
        }
    }
    if (n_host > 1) {
        return 400;
    }
    if (n_te > 0) {
        // Only "chunked", once, with no Content-Length, and not from HTTP/1.0.
        if (n_te > 1 || !te_chunked || n_length > 0 || http10) {
            return 400;
        }
        f->chunked = true;
    } else if (n_length > 1) {
        return 400;  // even with equal values
    } else if (n_length == 1) {
        f->has_length = true;
    } else if ((method_len == 4 && memcmp(p, "POST", 4) == 0) || (method_len == 3 && memcmp(p, "PUT", 3) == 0)) {
        return 411;  // Mongoose insists on a length for these
    }
    return 0;
}

// Make room for a request of `total` bytes when the buffer is nearly full:
// geometrically (never trusting the declared length for more than twice
// what has arrived), not one segment at a time with a copy each time.
static void grow_recv(struct mg_connection *c, size_t total) {
    if (total > c->recv.size && c->recv.size - c->recv.len < MG_IO_SIZE) {
        size_t want = c->recv.size * 2 < 256 * 1024 ? 256 * 1024 : c->recv.size * 2;
        mg_iobuf_resize(&c->recv, want < total ? want : total);
    }
}

// The last chunk and its trailer fields (dropped) have arrived, at
// [.., end): hand Mongoose the body as a single chunk.
static void finish_chunked(struct mg_connection *c, size_t body, size_t out, size_t end) {
    size_t n = out - body;
    // "%08x\r\n" data "\r\n0\r\n\r\n", or for no data "00000000\r\n\r\n"
    size_t stop = n > 0 ? out + 7 : body + 2;
    if (stop > end && mg_iobuf_add(&c->recv, end, NULL, stop - end) != stop - end) {
        reject(c, 503);
        return;
    }
    uint8_t *p = c->recv.buf;
    if (n > 0) {
        char size[PG_CHUNK_HOLD_LEN + 1];
        snprintf(size, sizeof(size), "%08x\r\n", (unsigned)n);  // n < 2^31 (body_limit)
        memcpy(p + body - PG_CHUNK_HOLD_LEN, size, PG_CHUNK_HOLD_LEN);
        memcpy(p + out, "\r\n0\r\n\r\n", 7);
    } else {
        memcpy(p + body - PG_CHUNK_HOLD_LEN, "00000000\r\n\r\n", 12);
    }
    if (end > stop) {
        mg_iobuf_del(&c->recv, stop, end - stop);
    }
    conn_state(c)->flags &= (uint16_t)~(F_BODY | F_CHUNKED_IN);
}

// Decode the chunks that have arrived whole, in place: each one's data moves
// down to rx_out, after the data decoded before it. Time and memory stay
// linear in the body however it is cut into chunks and segments.
static void dechunk(struct mg_connection *c) {
    pg_conn_t *st = conn_state(c);
    size_t body = (size_t)mg_http_get_request_len(c->recv.buf, c->recv.len) + PG_CHUNK_HOLD_LEN;
    size_t out = st->rx_out, in = st->rx_in, limit = body_limit();
    for (;;) {
        const uint8_t *p = c->recv.buf;
        size_t len = c->recv.len, i = in;
        uint64_t size = 0;
        while (i < len && hex_digit(p[i]) >= 0) {
            size = size < ((uint64_t)1 << 40) ? size * 16 + (uint64_t)hex_digit(p[i]) : size;
            i++;
        }
        if (i < len && i == in) {
            reject(c, 400);  // no chunk size
            return;
        }
        size_t ws = i;
        while (i < len && (p[i] == ' ' || p[i] == '\t')) {
            i++;
        }
        if (i < len && p[i] == ';') {  // chunk extensions: ignored
            while (i < len && p[i] != '\r' && p[i] != '\n' && !is_ctl(p[i])) {
                i++;
            }
        } else if (i < len && i > ws) {
            reject(c, 400);  // whitespace after the size is only allowed before an extension
            return;
        }
        if (i >= len || (p[i] == '\r' && i + 1 == len)) {
            if (len - in > PG_MAX_CHUNK_LINE) {
                reject(c, 400);
                return;
            }
            grow_recv(c, body + limit + PG_MAX_HEAD);  // the most it may take
            break;  // the size line is not all here yet
        }
        if (p[i] != '\r' || p[i + 1] != '\n') {
            reject(c, 400);
            return;
        }
        size_t data = i + 2;
        if (size == 0) {
            // Trailer fields: checked for their line ends, then dropped.
            size_t j = data;
            for (;;) {
                size_t line = j;
                while (j < len && p[j] != '\r' && p[j] != '\n' && !is_ctl(p[j])) {
                    j++;
                }
                if (j + 1 >= len && (j == len || p[j] == '\r')) {
                    if (len - data > PG_MAX_HEAD) {
                        reject(c, 431);
                        return;
                    }
                    st->rx_out = (uint32_t)out;
                    st->rx_in = (uint32_t)in;
                    return;  // wait for the rest
                }
                if (p[j] != '\r' || p[j + 1] != '\n') {
                    reject(c, 400);
                    return;
                }
                j += 2;
                if (j - 2 == line) {
                    finish_chunked(c, body, out, j);
                    return;
                }
            }
        }
        if (size > limit - (out - body)) {
            reject(c, 413);
            return;
        }
        if (len - data < size + 2) {
            grow_recv(c, data + (size_t)size + 2);
            break;  // the chunk is not all here yet
        }
        if (p[data + size] != '\r' || p[data + size + 1] != '\n') {
            reject(c, 400);
            return;
        }
        memmove(c->recv.buf + out, p + data, (size_t)size);
        out += (size_t)size;
        in = data + (size_t)size + 2;
    }
    // Drop the framing decoded so far once it outweighs the raw bytes still
    // to decode (which move down with it): each byte moves a bounded number of times.
    if (in - out > c->recv.len - in) {
        mg_iobuf_del(&c->recv, out, in - out);
        in = out;
    }
    st->rx_out = (uint32_t)out;
    st->rx_in = (uint32_t)in;
}

// New bytes of the request at the start of c->recv (no request is being
// answered): check its head once it is complete, and follow its body.
static void precheck(struct mg_connection *c) {
    pg_conn_t *st = conn_state(c);
    uint32_t now = (uint32_t)mg_millis();
    if (st->flags & F_BODY) {
        st->since_ms = now;
        if (st->flags & F_CHUNKED_IN) {
            dechunk(c);
        } else {
            grow_recv(c, st->rx_out);
        }
        return;
    }
    // Blank lines before a request are ignored (RFC 9112 2.2); Mongoose would
    // not parse the request behind them.
    while (c->recv.len >= 2 && c->recv.buf[0] == '\r' && c->recv.buf[1] == '\n') {
        mg_iobuf_del(&c->recv, 0, 2);
    }
    if (c->recv.len == 0) {
        return;
    }
    if (!(st->flags & F_HEAD_WAIT)) {
        st->flags |= F_HEAD_WAIT;
        st->since_ms = now;
    }
    int n = scan_head(c->recv.buf, c->recv.len);
    if (n == 0) {
        return;
    }
    pg_framing_t f = {0};
    int status = n < 0 ? -n : check_head(c->recv.buf, &f);
    if (status == 0 && f.has_length && f.content_length > body_limit()) {
        status = 413;  // refused before any of it is read
    }
    if (status != 0) {
        reject(c, status);
        return;
    }
    size_t head = (size_t)n;
    st->flags &= (uint16_t)~F_HEAD_WAIT;
    st->since_ms = now;
    bool nothing_yet;  // of the body
    if (f.chunked) {
        if (mg_iobuf_add(&c->recv, head, PG_CHUNK_HOLD, PG_CHUNK_HOLD_LEN) != PG_CHUNK_HOLD_LEN) {
            reject(c, 503);
            return;
        }
        st->rx_out = st->rx_in = (uint32_t)(head + PG_CHUNK_HOLD_LEN);
        st->flags |= F_BODY | F_CHUNKED_IN;
        nothing_yet = c->recv.len == st->rx_in;
    } else {
        st->rx_out = (uint32_t)(head + f.content_length);
        if (f.content_length > c->recv.len - head) {
            st->flags |= F_BODY;
        }
        nothing_yet = f.content_length > 0 && c->recv.len == head;
    }
    if (f.expect_continue && nothing_yet) {
        mg_printf(c, "HTTP/1.1 100 Continue\r\n\r\n");  // curl waits a second for this before big uploads
    }
    if (st->flags & F_CHUNKED_IN) {
        dechunk(c);
    } else if (st->flags & F_BODY) {
        grow_recv(c, st->rx_out);
    }
}

// Per poll, with no request being answered: a head or body that is too slow
// gets 408; an idle keep-alive connection is closed (no response: the
// client may be sending a request just then). `now` is the poll's clock: one
// reading per poll, not one per connection.
static void check_timeouts(struct mg_connection *c, uint32_t now) {
    pg_conn_t *st = conn_state(c);
    if (c->is_resp || c->fn_data != NULL || (st->flags & (F_STARTED | F_STATIC))) {
        return;
    }
    // since_ms may be a little later than the poll's clock (set by a read in
    // this same poll): that is no time at all, not a wrapped-around eternity.
    int32_t since = (int32_t)(now - st->since_ms);
    uint32_t elapsed = since > 0 ? (uint32_t)since : 0;
    if (st->flags & F_BODY) {
        if (pg_limits.idle_timeout_ms != 0 && elapsed >= pg_limits.idle_timeout_ms) {
            reject(c, 408);
        }
    } else if (st->flags & F_HEAD_WAIT) {
        if (pg_limits.header_timeout_ms != 0 && elapsed >= pg_limits.header_timeout_ms) {
            reject(c, 408);
        }
    } else if (c->is_tls_hs) {
        // A TLS handshake is a request head's start: bounded as one (no 408: no TLS to say it in).
        if (pg_limits.header_timeout_ms != 0 && elapsed >= pg_limits.header_timeout_ms) {
            pg_tls_abort(c);
        }
    } else if (c->recv.len == 0) {
        if (c->send.len > 0) {
            st->since_ms = now;  // the last response is still going out
        } else if (pg_limits.idle_timeout_ms != 0 && elapsed >= pg_limits.idle_timeout_ms) {
            c->is_draining = 1;
        }
    }
}

// Timeouts (seconds) are checked every PG_TIMEOUT_STEP_MS, not in every poll
// round: with thousands of idle or partial connections a busy link runs
// hundreds of rounds a second, and each check walks every connection. In
// between, the platform sets those connections aside (waits_for_client in
// c/mod/http.c); the round that checks takes them all back.
#define PG_TIMEOUT_STEP_MS 50
static bool timeouts_due;       // the current round checks every connection's timeouts
static uint32_t next_check_ms;  // the first round at or after this checks

// At the end of a round's walk (the listener's poll): whether the next round checks.
static void timeout_walk(uint32_t now) {
    if (timeouts_due) {
        next_check_ms = now + PG_TIMEOUT_STEP_MS;
    }
    timeouts_due = (int32_t)(now - next_check_ms) >= 0;
    if (timeouts_due) {
        pg_net_unpark_all();  // the connections set aside are checked too
    }
}

// Mongoose's HTTP protocol handler (static in mongoose.c), which pg_guard_pfn wraps.
mg_event_handler_t pg_mongoose_http_cb;
// The first listener opened: last in Mongoose's list (newest first), after
// the other listeners and every accepted connection, so its poll ends a round.
static struct mg_connection *round_end;

void pg_guard_listener(struct mg_connection *lsn) {
    pg_mongoose_http_cb = lsn->pfn;
    lsn->pfn = pg_guard_pfn;
    if (round_end == NULL) {
        round_end = lsn;
    }
}

// The protocol handler of accepted HTTP connections: Mongoose calls it before
// http_fn (c/mod/http.c), so the checks here see each request's bytes before
// Mongoose parses them. A request is seen at the start of c->recv: Mongoose
// is let parse one request per event only (see MG_EV_HTTP_MSG in http_fn).
//
// A request pipelined behind another is started only once the response
// before it has been handed to the host (c->send empty), and at most one
// such request per poll round (pg_net_poll reads the link between rounds):
// a client that left meanwhile is reset by the host when that response
// reaches it, and its queued requests are dropped unrun. A client that
// half-closed is given its next request only once the host has seen it take
// the last response (pg_net_client_held): its FIN may mean it is gone.
void pg_guard_pfn(struct mg_connection *c, int ev, void *ev_data) {
    static bool released;  // a held-back request was started in this poll round
    if (ev == MG_EV_CLOSE || ((ev == MG_EV_READ || ev == MG_EV_POLL) && (c->is_draining || c->is_closing))) {
        c->recv.len = 0;  // nothing more is parsed, and a request cut short is not delivered
    } else if (ev == MG_EV_READ) {
        if (!c->is_resp && c->fn_data == NULL && c->recv.len > 0) {
            precheck(c);
        }
    } else if (ev == MG_EV_POLL) {
        pg_conn_t *st = conn_state(c);
        uint32_t now = (uint32_t)*(uint64_t *)ev_data;
        if (c->is_listening) {
            if (c == round_end) {
                // The round's walk over the accepted connections is done.
                released = false;
                timeout_walk(now);
            }
        } else if ((st->flags & F_PIPELINED) && c->send.len == 0 && !pg_net_client_held(c)) {
            if (released) {
                pg_net_poll_again();  // its turn is the next round
            } else {
                released = true;
                st->flags &= (uint16_t)~F_PIPELINED;
                c->is_resp = 0;  // Mongoose parses the next request on this poll
            }
        }
        if (!c->is_resp && c->fn_data == NULL && c->recv.len > 0 && !(st->flags & (F_HEAD_WAIT | F_BODY))) {
            precheck(c);  // bytes that arrived while a response was going out
        }
        if (timeouts_due && !c->is_listening) {
            check_timeouts(c, now);
        }
        // A request still arriving was parsed as far as it goes on the read
        // that brought its bytes (the read that completes it delivers it):
        // Mongoose's poll would parse it again in every round, for every
        // such connection, and fire MG_EV_HTTP_HDRS again for a pending body.
        if (!c->is_listening && (st->flags & (F_HEAD_WAIT | F_BODY))) {
            return;
        }
    }
    pg_mongoose_http_cb(c, ev, ev_data);
}
