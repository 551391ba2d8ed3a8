#!/usr/bin/env bash
# Build the wasm guest from pinned registry sources:
#   - emscripten: Debian's package (installed here if missing, as root on Debian/Ubuntu)
#   - MicroPython and Mbed TLS: Debian's source packages, sha256-pinned, and
#     Mongoose: npm mongoose.c; all checked (the Debian ones fetched) by
#     scripts/sources.sh
# Outputs go to wasm/build/ and wasm/cache/ (both git-ignored). A second run
# with nothing changed only re-checks and runs an up-to-date make.
set -euo pipefail
cd "$(dirname "$0")/.."

me=build-guest
die() { echo "$me: $*" >&2; exit 1; }

# --- emscripten -------------------------------------------------------------
if ! command -v emcc >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "build-guest: installing Debian's emscripten"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq emscripten >/dev/null
  else
    die "emcc not found. Install emscripten (Debian/Ubuntu: sudo apt-get install emscripten)"
  fi
fi

# --- MicroPython and Mongoose ---------------------------------------------
. scripts/sources.sh
fetch_mbedtls

# --- build ------------------------------------------------------------------
# Relink when the MicroPython pin changed since the last build.
mkdir -p wasm/build
if [ "$(cat wasm/build/.micropython 2>/dev/null)" != "$MICROPYTHON_DEB" ]; then
  rm -f wasm/build/pythongoose.wasm
  echo "$MICROPYTHON_DEB" >wasm/build/.micropython
fi
# MicroPython's generated module and qstr tables are collected per source file
# and keep a module that the port's config since turned off (the link then
# fails): a changed c/mpconfigport.h or wasm/Makefile means a clean build.
config=$(cat c/mpconfigport.h wasm/Makefile c/platform/wasm/mbedtls_config.h | sha256sum | cut -d' ' -f1)
if [ "$(cat wasm/build/.config 2>/dev/null)" != "$config" ]; then
  rm -rf wasm/build/obj-*
  echo "$config" >wasm/build/.config
fi
jobs=$(nproc 2>/dev/null || echo 2)
build_mpy_cross
make -s -f wasm/Makefile -j"$jobs" MICROPYTHON_TOP="$src" MONGOOSE_DIR="$mg" MBEDTLS_DIR="$mbedtls"
echo "build-guest: wasm/build/pythongoose.wasm ($(stat -c %s wasm/build/pythongoose.wasm) bytes)"
