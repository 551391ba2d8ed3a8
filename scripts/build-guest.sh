#!/usr/bin/env bash
# Build the wasm guest from pinned registry sources:
#   - emscripten: Debian's package (installed here if missing, as root on Debian/Ubuntu)
#   - MicroPython: Debian's source package, sha256-pinned, and Mongoose: npm
#     mongoose.c; both checked (MicroPython fetched) by scripts/sources.sh
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

# --- build ------------------------------------------------------------------
# Relink when the MicroPython pin changed since the last build.
mkdir -p wasm/build
if [ "$(cat wasm/build/.micropython 2>/dev/null)" != "$MICROPYTHON_DEB" ]; then
  rm -f wasm/build/pythongoose.wasm
  echo "$MICROPYTHON_DEB" >wasm/build/.micropython
fi
jobs=$(nproc 2>/dev/null || echo 2)
build_mpy_cross
make -s -f wasm/Makefile -j"$jobs" MICROPYTHON_TOP="$src" MONGOOSE_DIR="$mg"
# The guest's whole import list is part of the sandbox contract (README.md,
# "What the guest can reach"): fail the build if it changes unnoticed.
node --input-type=module -e '
  import { readFileSync } from "node:fs";
  const allowed = new Set(["pg.tx", "pg.rx", "pg.wait", "pg.millis", "pg.random", "pg.write", "pg.peer", "pg.refusal",
    "env.getTempRet0", "env.setTempRet0", "env.emscripten_notify_memory_growth",
    "wasi_snapshot_preview1.fd_write", "wasi_snapshot_preview1.proc_exit"]);
  const mod = new WebAssembly.Module(readFileSync("wasm/build/pythongoose.wasm"));
  const extra = WebAssembly.Module.imports(mod).map((i) => `${i.module}.${i.name}`).filter((n) => !allowed.has(n));
  if (extra.length) { console.error("build-guest: unexpected guest imports: " + extra.join(", ")); process.exit(1); }
' || { rm -f wasm/build/pythongoose.wasm; exit 1; }
echo "build-guest: wasm/build/pythongoose.wasm ($(stat -c %s wasm/build/pythongoose.wasm) bytes)"
