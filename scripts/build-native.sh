#!/usr/bin/env bash
# Build the native contender: MicroPython's unix port with the same `c/`
# module (a user C module, c/micropython.mk) and the frozen `mongoose`, and
# Mongoose on BSD sockets, compiled with the machine's gcc from the same pinned
# sources as the wasm guest (scripts/sources.sh). The unix-port variant is
# c/platform/native/variants/pythongoose/. Output:
# wasm/build/native/pythongoose-native (git-ignored). A second run with
# nothing changed only re-checks and runs an up-to-date make.
#
#   PYTHONGOOSE_LISTEN=http://127.0.0.1:8000 wasm/build/native/pythongoose-native APP.py
set -euo pipefail
cd "$(dirname "$0")/.."

me=build-native
die() { echo "$me: $*" >&2; exit 1; }

for tool in gcc make python3 node; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "$tool not found. Debian/Ubuntu: sudo apt-get install build-essential python3 (node: Node.js >= 20)"
done

. scripts/sources.sh

root=$PWD
out=wasm/build/native
build="$root/$out/obj-micropython-$upstream"  # one object folder per MicroPython version
mkdir -p "$out"
build_mpy_cross
# The unix port's Makefile builds in its own folder; CC is pinned to gcc, and
# STRIP/SIZE are its defaults (strip the binary, print its size, quietly here).
make -s -C "$src/ports/unix" -j"$(nproc 2>/dev/null || echo 2)" CC=gcc \
  VARIANT_DIR="$root/c/platform/native/variants/pythongoose" BUILD="$build" SIZE=true >"$out/make.log" 2>&1 || {
  cat "$out/make.log" >&2
  die "make failed (log above, also in $out/make.log)"
}
# Copied only when it changed, so that a build with nothing changed leaves it be.
cmp -s "$build/pythongoose-native" "$out/pythongoose-native" ||
  cp "$build/pythongoose-native" "$out/pythongoose-native"
echo "$me: $out/pythongoose-native ($(stat -c %s "$out/pythongoose-native") bytes)"
