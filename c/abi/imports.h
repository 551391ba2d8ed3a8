// The guest's whole import list: everything the sandboxed program can ask of
// the host (module "pg"; ts/guest/abi.ts names the same list). Keep it short;
// README.md documents each entry.
#pragma once

#include <stddef.h>
#include <stdint.h>

// Imports exist only in the wasm guest. Compiled for a real CPU (the native
// build) these are plain functions: c/platform/native/ defines those it uses.
#ifdef __wasm__
#define PG_IMPORT(name) __attribute__((import_module("pg"), import_name(#name)))
#else
#define PG_IMPORT(name)
#endif

// Queue one Ethernet frame toward the host. Returns 1 if taken, 0 if the host
// asks to retry later (its ring is full, or the TCP flow is paused).
PG_IMPORT(tx) int pg_tx(const void *frame, size_t len);
// Copy the next frame from the host into buf. Returns its length, 0 if none.
PG_IMPORT(rx) size_t pg_rx(void *buf, size_t cap);
// Block until a frame or a wake-up arrives, or ms pass. Returns 1 if woken,
// 2 once the host is shutting down (finish responses, close the rest), 3 once
// it is handing the clients over to a new instance (a reload: as 2, but idle
// keep-alive connections answer one more request before closing).
PG_IMPORT(wait) int pg_wait(int32_t ms);
// Monotonic milliseconds.
PG_IMPORT(millis) double pg_millis(void);
// Fill buf with cryptographically strong random bytes.
PG_IMPORT(random) void pg_random(void *buf, size_t len);
// Write bytes to the server's stdout (fd 1), stderr (fd 2) or access log (fd 3).
PG_IMPORT(write) void pg_write(int fd, const void *buf, size_t len);
// The real client of the connection from host port `port`, as text
// ("203.0.113.7:51234" or "[2001:db8::1]:51234"). Returns its length.
PG_IMPORT(peer) size_t pg_peer(uint16_t port, char *buf, size_t cap);
// Why the host refused or reset the guest's outbound connection from local
// port `port` ("egress denied: 203.0.113.7:443", "ECONNREFUSED 127.0.0.1:1883",
// "idle for 300 s, reset"), or 0 bytes if it did not. Returns its length.
PG_IMPORT(refusal) size_t pg_refusal(uint16_t port, char *buf, size_t cap);
// 1 while the client behind host port `port` has half-closed and the host has
// not yet seen it take the last response (a client that left is reset
// instead): a request it pipelined waits. 0 otherwise.
PG_IMPORT(held) int pg_held(uint16_t port);
// The data volume's blocks (c/vm/volume.c), 4096 bytes each, kept by the host
// in the --data file: read or write len bytes at offset within block (it
// may run on into the next blocks). Return 0, or -errno if the file failed.
PG_IMPORT(block_read) int pg_block_read(uint32_t block, uint32_t offset, void *buf, size_t len);
PG_IMPORT(block_write) int pg_block_write(uint32_t block, uint32_t offset, const void *buf, size_t len);
// Make every block written so far durable (fsync). littlefs calls it at each
// commit: a file's close or flush, a rename, a remove. 0, or -errno.
PG_IMPORT(block_sync) int pg_block_sync(void);
