// TLS for the wasm guest's connections: Mongoose's MG_TLS_CUSTOM hooks
// (mg_tls_init, _handshake, _send, _recv, ...) over Mbed TLS 3.6. The server's
// certificate and key, and the CA bundle outbound connections trust, are
// parsed once per instance into one shared configuration each; a connection
// holds only its own mbedtls_ssl_context. The keys live only in guest memory:
// the host's copies of the PEM text are wiped as soon as they are parsed.
#include <string.h>

#include "mbedtls/error.h"
#include "mbedtls/pk.h"
#include "mbedtls/platform_time.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/ssl.h"
#include "mbedtls/ssl_ticket.h"
#include "mbedtls/x509_crt.h"
#include "psa/crypto.h"

#include "c/abi/exports.h"
#include "c/abi/imports.h"
#include "c/platform/platform.h"
#include "c/platform/wasm/tls.h"
#include "c/vm/options.h"

struct mg_tls {
    mbedtls_ssl_context ssl;  // first: the SNI callback gets the context and finds this
    size_t unflushed;         // a record of this many bytes of c->send waits for the link
    bool started;             // the server side took its first handshake step
    bool hs_blocked;          // the handshake waits for the link to take its next flight
    const char *refused;      // a client that cannot verify anything: why, told once it connects
    char *server_name;        // SNI, as the client sent it
};

static struct {
    mbedtls_ssl_config conf;
    mbedtls_x509_crt chain;
    mbedtls_pk_context key;
    // Session tickets, sealed with keys this instance makes (and rotates
    // daily): a returning client resumes without a signature. Another worker
    // cannot open them; its client then has a full handshake.
    mbedtls_ssl_ticket_context tickets;
    bool ready;
} server;

static struct {
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    const char *pem;  // the host's bundle (NUL-terminated), parsed on the first use
    size_t pem_len;
    bool tried, ready;
    char why[160];  // why outbound TLS cannot verify anything, when it cannot
} client;

static const char *alpn[] = {"http/1.1", NULL};

// The server's suites, its preference first (TLS 1.2 follows it). TLS 1.3
// takes the client's first that is here: AES-256-GCM is left out so that
// clients that put it first (OpenSSL, Node) take ChaCha20-Poly1305, about
// twice as fast in wasm, which has no AES instructions (AES-128-GCM stays:
// every TLS 1.3 client has it).
static const int server_suites[] = {
    MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    0,
};
static unsigned round_steps;  // server handshake steps taken in this poll round

// --- what Mbed TLS asks of the platform -------------------------------------

psa_status_t mbedtls_psa_external_get_random(mbedtls_psa_external_random_context_t *context, uint8_t *output,
    size_t output_size, size_t *output_length) {
    (void)context;
    pg_random(output, output_size);
    *output_length = output_size;
    return PSA_SUCCESS;
}

mbedtls_ms_time_t mbedtls_ms_time(void) {
    return (mbedtls_ms_time_t)pg_millis();
}

time_t pg_tls_time(time_t *t) {
    time_t now = (time_t)(pg_millis() / 1000);  // pg.millis is since the Unix epoch
    if (t != NULL) {
        *t = now;
    }
    return now;
}

static int rng(void *ctx, unsigned char *buf, size_t len) {
    (void)ctx;
    pg_random(buf, len);
    return 0;
}

static bool crypto_ready(void) {
    static bool done;
    if (!done && psa_crypto_init() == PSA_SUCCESS) {
        done = true;
    }
    return done;
}

static void say(char *out, size_t cap, const char *what, int rc) {
    char text[100];
    mbedtls_strerror(rc, text, sizeof(text));
    snprintf(out, cap, "%s: %s", what, text);
}

// --- the server's certificate and key -------------------------------------

// SNI: kept for the request (request.server_name); any name is served the one certificate.
static int sni(void *arg, mbedtls_ssl_context *ssl, const unsigned char *name, size_t len) {
    (void)arg;
    struct mg_tls *tls = (struct mg_tls *)ssl;
    if (tls->server_name == NULL && len < 256 && (tls->server_name = malloc(len + 1)) != NULL) {
        memcpy(tls->server_name, name, len);
        tls->server_name[len] = '\0';
    }
    return 0;
}

static bool key_accepted(mbedtls_pk_context *key, char *err, size_t cap) {
    mbedtls_pk_type_t type = mbedtls_pk_get_type(key);
    if (type == MBEDTLS_PK_RSA) {
        if (mbedtls_pk_get_bitlen(key) < 2048) {
            snprintf(err, cap, "the key is RSA-%u: at least 2048 bits are needed", (unsigned)mbedtls_pk_get_bitlen(key));
            return false;
        }
        return true;
    }
    if (type == MBEDTLS_PK_ECKEY || type == MBEDTLS_PK_ECDSA) {
        size_t bits = mbedtls_pk_get_bitlen(key);
        if (bits != 256 && bits != 384) {
            snprintf(err, cap, "the key is on a %u-bit curve: P-256 or P-384 are served", (unsigned)bits);
            return false;
        }
        return true;
    }
    snprintf(err, cap, "the key is neither RSA nor ECDSA");
    return false;
}

static int setup_server(const char *cert, size_t cert_len, const char *key, size_t key_len, char *err, size_t cap) {
    if (!crypto_ready()) {
        snprintf(err, cap, "the guest's crypto did not start");
        return 0;
    }
    mbedtls_x509_crt_init(&server.chain);
    mbedtls_pk_init(&server.key);
    mbedtls_ssl_config_init(&server.conf);
    mbedtls_ssl_ticket_init(&server.tickets);
    int rc = mbedtls_x509_crt_parse(&server.chain, (const unsigned char *)cert, cert_len + 1);
    if (rc < 0) {
        say(err, cap, "cannot read the certificate", rc);
        return 0;
    }
    if (rc > 0) {
        snprintf(err, cap, "cannot read the certificate: %d of its PEM blocks are not certificates Mbed TLS reads", rc);
        return 0;
    }
    if (strstr(key, "ENCRYPTED") != NULL) {
        snprintf(err, cap, "the key is encrypted: give it without a passphrase (openssl pkey -in KEY -out PLAIN.pem)");
        return 0;
    }
    rc = mbedtls_pk_parse_key(&server.key, (const unsigned char *)key, key_len + 1, NULL, 0, rng, NULL);
    if (rc != 0) {
        say(err, cap, "cannot read the key", rc);
        return 0;
    }
    if (!key_accepted(&server.key, err, cap)) {
        return 0;
    }
    if (mbedtls_pk_check_pair(&server.chain.pk, &server.key, rng, NULL) != 0) {
        snprintf(err, cap, "the key does not match the certificate (the first one in its file)");
        return 0;
    }
    if ((rc = mbedtls_ssl_config_defaults(&server.conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
             MBEDTLS_SSL_PRESET_DEFAULT)) != 0 ||
        (rc = mbedtls_ssl_conf_own_cert(&server.conf, &server.chain, &server.key)) != 0 ||
        (rc = mbedtls_ssl_conf_alpn_protocols(&server.conf, alpn)) != 0 ||
        (rc = mbedtls_ssl_ticket_setup(&server.tickets, rng, NULL, MBEDTLS_CIPHER_CHACHA20_POLY1305, 86400)) != 0) {
        say(err, cap, "cannot configure TLS", rc);
        return 0;
    }
    mbedtls_ssl_conf_session_tickets_cb(&server.conf, mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse, &server.tickets);
    mbedtls_ssl_conf_rng(&server.conf, rng, NULL);
    mbedtls_ssl_conf_ciphersuites(&server.conf, server_suites);
    mbedtls_ssl_conf_sni(&server.conf, sni, NULL);
    mbedtls_ssl_conf_authmode(&server.conf, MBEDTLS_SSL_VERIFY_NONE);  // no client certificates
    return 1;
}

int pg_tls_server(char *cert, size_t cert_len, char *key, size_t key_len, char *err, size_t cap) {
    int ok = setup_server(cert, cert_len, key, key_len, err, cap);
    // The PEM text is the host's copy: wiped, so the key is only in its parsed form.
    mbedtls_platform_zeroize(key, key_len);
    free(key);
    free(cert);
    server.ready = ok;
    return ok;
}

bool pg_tls_serving(void) {
    return server.ready;
}

// --- the CA bundle outbound connections trust -----------------------------------

void pg_tls_set_ca(const char *pem, size_t len) {
    client.pem = pem;
    client.pem_len = len;
}

static bool setup_client(void) {
    if (client.tried) {
        return client.ready;
    }
    client.tried = true;
    if (!crypto_ready()) {
        snprintf(client.why, sizeof(client.why), "handshake failed: the guest's crypto did not start");
        return false;
    }
    if (client.pem == NULL || client.pem_len == 0) {
        snprintf(client.why, sizeof(client.why),
            "certificate verify failed: no trusted CA (the host found no CA bundle: give one with --ca)");
        return false;
    }
    mbedtls_x509_crt_init(&client.ca);
    mbedtls_ssl_config_init(&client.conf);
    // A bundle may hold certificates Mbed TLS cannot read (other curves): the rest still count.
    int rc = mbedtls_x509_crt_parse(&client.ca, (const unsigned char *)client.pem, client.pem_len + 1);
    if (rc < 0 || client.ca.version == 0) {
        snprintf(client.why, sizeof(client.why), "certificate verify failed: the CA bundle (--ca) holds no certificate");
        return false;
    }
    if ((rc = mbedtls_ssl_config_defaults(&client.conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
             MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
        say(client.why, sizeof(client.why), "handshake failed", rc);
        return false;
    }
    mbedtls_ssl_conf_rng(&client.conf, rng, NULL);
    mbedtls_ssl_conf_ca_chain(&client.conf, &client.ca, NULL);
    mbedtls_ssl_conf_authmode(&client.conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    client.ready = true;
    return true;
}

// --- connections ---------------------------------------------------------------

// How a client's handshake ended, among the access records as "#tls ok",
// "#tls failed" or "#tls nomem" (like c/vm/budget.c's events): the host
// counts them in stats() and the metrics. Only while it has not ended: under
// way, or refused before its TLS state existed.
static void note_inbound(struct mg_connection *c, const char *line) {
    if (pg_access_log && !c->is_client && (c->is_tls_hs || c->tls == NULL)) {
        pg_write(3, line, strlen(line));
    }
}

// Ends the connection with the reason as its error (Mongoose's mg_error cuts
// text at 64 bytes), and a reset so the peer knows at once (after any alert
// Mbed TLS sent).
static void end_with(struct mg_connection *c, const char *why, const char *note) {
    note_inbound(c, note);
    c->is_tls_hs = 0;
    char text[200];
    snprintf(text, sizeof(text), "%s", why);
    pg_net_abort(c);
    mg_call(c, MG_EV_ERROR, text);
}

static void fail(struct mg_connection *c, const char *why) {
    end_with(c, why, "#tls failed\n");
}

// A connection refused for want of guest memory is said on stderr, at most
// once a minute: the operator's remedy (--heap-max) is not the client's.
static void out_of_memory(struct mg_connection *c) {
    static uint64_t said_ms;
    uint64_t now = mg_millis();
    if (said_ms == 0 || now - said_ms >= 60000) {
        said_ms = now;
        static const char line[] =
            "TLS: no guest memory for a new connection (a kept-alive TLS connection holds about 87 KiB); "
            "resetting such connections: raise --heap-max to hold more\n";
        pg_write(2, line, sizeof(line) - 1);
    }
    end_with(c, "handshake failed: no memory", "#tls nomem\n");
}

static void fail_rc(struct mg_connection *c, const char *what, int rc) {
    if (rc == MBEDTLS_ERR_SSL_ALLOC_FAILED || rc == MBEDTLS_ERR_MPI_ALLOC_FAILED || rc == MBEDTLS_ERR_PK_ALLOC_FAILED) {
        out_of_memory(c);
        return;
    }
    char text[160];
    say(text, sizeof(text), what, rc);
    fail(c, text);
}

static int net_send(void *ctx, const unsigned char *buf, size_t len) {
    struct mg_connection *c = (struct mg_connection *)ctx;
    size_t sent = 0;
    while (sent < len) {
        long n = mg_io_send(c, buf + sent, len - sent);
        if (n == MG_IO_WAIT || n == 0) {
            break;
        }
        if (n < 0) {
            return sent > 0 ? (int)sent : MBEDTLS_ERR_SSL_CONN_EOF;
        }
        sent += (size_t)n;
    }
    return sent > 0 ? (int)sent : MBEDTLS_ERR_SSL_WANT_WRITE;
}

static int net_recv(void *ctx, unsigned char *buf, size_t len) {
    long n = mg_io_recv((struct mg_connection *)ctx, buf, len);
    return n == MG_IO_WAIT ? MBEDTLS_ERR_SSL_WANT_READ : (int)n;
}

// A connection's TLS state on conf; with no conf (a client that cannot
// verify anything), one that fails its handshake with client.why.
static struct mg_tls *start(struct mg_connection *c, mbedtls_ssl_config *conf) {
    struct mg_tls *tls = (struct mg_tls *)calloc(1, sizeof(*tls));
    if (tls == NULL) {
        out_of_memory(c);
        return NULL;
    }
    mbedtls_ssl_init(&tls->ssl);
    int rc = conf == NULL ? 0 : mbedtls_ssl_setup(&tls->ssl, conf);
    if (rc != 0) {
        mbedtls_ssl_free(&tls->ssl);
        free(tls);
        fail_rc(c, "handshake failed", rc);
        return NULL;
    }
    tls->refused = conf == NULL ? client.why : NULL;
    mbedtls_ssl_set_bio(&tls->ssl, c, net_send, net_recv, NULL);
    c->tls = tls;
    c->is_tls = 1;
    c->is_tls_hs = 1;
    return tls;
}

void pg_tls_accept(struct mg_connection *c) {
    if (server.ready) {
        start(c, &server.conf);
    }
}

void pg_tls_connect(struct mg_connection *c, struct mg_str host) {
    if (!setup_client()) {
        // Failed once connected, as any handshake fails: an error event, not a raise at connect().
        start(c, NULL);
        return;
    }
    char name[256];
    if (host.len == 0 || host.len >= sizeof(name)) {
        fail(c, "handshake failed: no host name to verify");
        return;
    }
    memcpy(name, host.buf, host.len);
    name[host.len] = '\0';
    struct mg_tls *tls = start(c, &client.conf);
    int rc;
    if (tls != NULL && (rc = mbedtls_ssl_set_hostname(&tls->ssl, name)) != 0) {
        fail_rc(c, "handshake failed", rc);
    }
}

const char *pg_tls_server_name(struct mg_connection *c) {
    struct mg_tls *tls = (struct mg_tls *)c->tls;
    return tls != NULL && tls->server_name != NULL ? tls->server_name : "";
}

void pg_tls_abort(struct mg_connection *c) {
    note_inbound(c, "#tls failed\n");
    pg_net_abort(c);
}

void pg_tls_round(void) {
    round_steps = 0;
}

void mg_tls_init(struct mg_connection *c, const struct mg_tls_opts *opts) {
    if (c->is_client) {
        pg_tls_connect(c, opts->name);
    } else {
        pg_tls_accept(c);
    }
}

void mg_tls_free(struct mg_connection *c) {
    struct mg_tls *tls = (struct mg_tls *)c->tls;
    if (tls != NULL) {
        mbedtls_ssl_free(&tls->ssl);
        free(tls->server_name);
        free(tls);
        c->tls = NULL;
    }
}

static void verify_failed(struct mg_connection *c, uint32_t flags) {
    char reason[160];
    if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) {
        snprintf(reason, sizeof(reason), "unknown issuer (not signed by a trusted CA)");
    } else if (flags & MBEDTLS_X509_BADCERT_EXPIRED) {
        snprintf(reason, sizeof(reason), "certificate has expired");
    } else if (flags & MBEDTLS_X509_BADCERT_FUTURE) {
        snprintf(reason, sizeof(reason), "certificate is not yet valid");
    } else if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) {
        struct mg_tls *tls = (struct mg_tls *)c->tls;
        snprintf(reason, sizeof(reason), "name mismatch (the certificate is not for %s)", tls->ssl.MBEDTLS_PRIVATE(hostname));
    } else if (flags & (MBEDTLS_X509_BADCERT_BAD_MD | MBEDTLS_X509_BADCERT_BAD_PK | MBEDTLS_X509_BADCERT_BAD_KEY)) {
        snprintf(reason, sizeof(reason), "signed with an algorithm or key size not accepted");
    } else {
        snprintf(reason, sizeof(reason), "flags %#x", (unsigned)flags);
    }
    char text[200];
    snprintf(text, sizeof(text), "certificate verify failed: %s", reason);
    fail(c, text);
}

// The server end of a connection whose client speaks plain HTTP: one
// readable answer, in the clear, instead of a bare close.
static bool plain_http(struct mg_connection *c) {
    if (c->rtls.len == 0 || c->rtls.buf[0] < 'A' || c->rtls.buf[0] > 'Z') {
        return false;
    }
    static const char answer[] =
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 43\r\n\r\n"
        "This port speaks HTTPS: use an https:// URL";
    mg_io_send(c, answer, sizeof(answer) - 1);
    note_inbound(c, "#tls failed\n");
    c->is_draining = 1;
    c->is_tls_hs = 0;  // nothing more goes through TLS
    c->is_tls = 0;
    c->rtls.len = 0;
    return true;
}

void mg_tls_handshake(struct mg_connection *c) {
    struct mg_tls *tls = (struct mg_tls *)c->tls;
    if (tls == NULL) {
        return;
    }
    if (tls->refused != NULL) {
        fail(c, tls->refused);
        return;
    }
    if (!c->is_client) {
        // Handshakes cost the guest CPU (a signature each): a few per round,
        // so a flood of new clients leaves time for connections already up.
        if (round_steps >= PG_TLS_HANDSHAKES_PER_ROUND) {
            pg_net_poll_again();
            return;
        }
        round_steps++;
        if (!tls->started) {
            tls->started = true;
            if (plain_http(c)) {
                return;
            }
        }
    }
    int rc = mbedtls_ssl_handshake(&tls->ssl);
    tls->hs_blocked = rc == MBEDTLS_ERR_SSL_WANT_WRITE;
    if (rc == 0) {
        note_inbound(c, "#tls ok\n");
        c->is_tls_hs = 0;
        mg_call(c, MG_EV_TLS_HS, NULL);
    } else if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
        // more from the peer, or room on the link (mg_tls_flush resumes), first
    } else if (c->is_client && rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
        verify_failed(c, mbedtls_ssl_get_verify_result(&tls->ssl));
    } else {
        fail_rc(c, "handshake failed", rc);
    }
}

// Mongoose's poll steps a handshake only while this (or c->rtls) is
// non-zero: a flight the link could not take counts, so it goes on once
// there is room, with nothing more from the peer.
size_t mg_tls_pending(struct mg_connection *c) {
    struct mg_tls *tls = (struct mg_tls *)c->tls;
    if (tls == NULL) {
        return 0;
    }
    return c->is_tls_hs ? (size_t)tls->hs_blocked : mbedtls_ssl_get_bytes_avail(&tls->ssl);
}

long mg_tls_recv(struct mg_connection *c, void *buf, size_t len) {
    struct mg_tls *tls = (struct mg_tls *)c->tls;
    int n = mbedtls_ssl_read(&tls->ssl, (unsigned char *)buf, len);
    if (n > 0 || (n == 0 && len == 0)) {
        return n;  // with no room yet (len 0) a record read stays pending: Mongoose makes room
    }
    if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE ||
        n == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
        return MG_IO_WAIT;
    }
    if (n == 0 || n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
        c->is_draining = 1;  // the peer is done sending; what it sent is delivered at close
        return MG_IO_WAIT;
    }
    fail_rc(c, "TLS record error", n);
    return MG_IO_WAIT;
}

long mg_tls_send(struct mg_connection *c, const void *buf, size_t len) {
    struct mg_tls *tls = (struct mg_tls *)c->tls;
    const unsigned char *p = (const unsigned char *)buf;
    size_t done = 0;
    while (done < len) {
        // After WANT_WRITE Mbed TLS holds an encrypted record and must be given the same bytes again.
        size_t n = tls->unflushed != 0 ? tls->unflushed : len - done;
        int rc = mbedtls_ssl_write(&tls->ssl, p + done, n);
        if (rc == MBEDTLS_ERR_SSL_WANT_WRITE || rc == MBEDTLS_ERR_SSL_WANT_READ) {
            tls->unflushed = n;
            break;
        }
        tls->unflushed = 0;
        if (rc < 0) {
            return done > 0 ? (long)done : MG_IO_ERR;
        }
        done += (size_t)rc;
    }
    return done > 0 ? (long)done : MG_IO_WAIT;
}

// Data records that the link could not take are sent again by mg_tls_send
// (they hold c->send's bytes until then); a handshake flight by
// mg_tls_pending's nudge.
void mg_tls_flush(struct mg_connection *c) {
    (void)c;
}

void mg_tls_ctx_init(struct mg_mgr *mgr) {
    mgr->tls_ctx = NULL;  // the configurations are this file's, one per instance
}

void mg_tls_ctx_free(struct mg_mgr *mgr) {
    (void)mgr;
}
