// Mbed TLS 3.6 for the wasm guest (c/platform/wasm/tls.c): TLS 1.2 and 1.3, client and
// server, ECDHE with ECDSA or RSA certificates, X.509 chains. Nothing that
// needs the outside world: no sockets, files, threads or platform entropy.
// Random bytes come from the host's CSPRNG (pg.random) through PSA's
// external-RNG hook, and time from the host clock (pg.millis): the guest's
// import list is the same with TLS as without.
#pragma once

// --- system: what the guest has -------------------------------------------
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_HAVE_TIME                // certificate validity needs the date
#define MBEDTLS_HAVE_TIME_DATE
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_TIME_ALT        // mbedtls_time from pg.millis, not libc's time() (a WASI import)
#include <time.h>
time_t pg_tls_time(time_t *t);           // c/platform/wasm/tls.c
#define MBEDTLS_PLATFORM_STD_TIME pg_tls_time
#define MBEDTLS_PLATFORM_MS_TIME_ALT     // mbedtls_ms_time, likewise
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG  // mbedtls_psa_external_get_random: pg.random
#define MBEDTLS_DEPRECATED_REMOVED

// --- TLS ------------------------------------------------------------------
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_SRV_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_TLS1_3
#define MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE
#define MBEDTLS_SSL_SESSION_TICKETS        // the server issues them (resumption: no signature); a client reads them
#define MBEDTLS_SSL_TICKET_C
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL_ENABLED  // TLS 1.3 resumption, still with (EC)DHE
#define MBEDTLS_SSL_ALPN
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_ENCRYPT_THEN_MAC
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_SSL_MAX_FRAGMENT_LENGTH
// 16 KiB records both ways, as peers send them.
#define MBEDTLS_SSL_IN_CONTENT_LEN 16384
#define MBEDTLS_SSL_OUT_CONTENT_LEN 16384

// --- crypto (TLS 1.3 runs on PSA) ------------------------------------------
#define MBEDTLS_PSA_CRYPTO_C
#define MBEDTLS_USE_PSA_CRYPTO
#define MBEDTLS_PSA_KEY_STORE_DYNAMIC    // a few PSA keys per connection: a fixed table of 32 ran out at 8 handshakes
#define MBEDTLS_CIPHER_C
#define MBEDTLS_MD_C
#define MBEDTLS_AES_C
#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_GCM_C
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C
#define MBEDTLS_HKDF_C
#define MBEDTLS_SHA1_C       // only in certificates some CAs still sign with
#define MBEDTLS_SHA224_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA384_C
#define MBEDTLS_SHA512_C
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_SECP521R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_PKCS1_V21    // RSA-PSS: TLS 1.3 signs with it

// --- keys and certificates ----------------------------------------------------
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_OID_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_PK_WRITE_C
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_RSASSA_PSS_SUPPORT  // RSA-PSS signatures: TLS 1.3 offers them only with this
#define MBEDTLS_ERROR_C       // mbedtls_strerror: the reasons Python and the CLI see

