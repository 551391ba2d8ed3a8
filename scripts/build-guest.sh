#!/usr/bin/env bash
# Build the wasm guest from pinned registry sources:
#   - emscripten: Debian's package (installed here if missing, as root on Debian/Ubuntu)
#   - MicroPython: Debian's source package, via `apt-get source` with a private
#     sources list (the machine's apt config is never edited), sha256-pinned
#   - Mongoose: npm mongoose.c (exact pin in package.json, installed by npm ci)
# Outputs go to wasm/build/ and wasm/cache/ (both git-ignored). A second run
# with nothing changed only re-checks and runs an up-to-date make.
set -euo pipefail
cd "$(dirname "$0")/.."

# The durable pin is trixie's (it stays for Debian 13's life); sid's 1.26.1
# can be chosen with MICROPYTHON_DEB=1.26.1+ds-1 while sid still carries it.
MICROPYTHON_DEB="${MICROPYTHON_DEB:-1.25.0+ds-1}"
case "$MICROPYTHON_DEB" in
  1.25.0+ds-1)
    suite=trixie
    sha_orig=7b25be99a502f070b2de81dafc08da7051d992325d6e67daa9045a918fffdbea
    sha_dsc=8c7c406be88a6f3bc19e694eb0bbc5841112243fdf2b5a296e000d8fdc5f3c34 ;;
  1.26.1+ds-1)
    suite=sid
    sha_orig=f5ad2ec89d3e921f753d448955af98b6005655f84ba26087dde6ba0e8d062f34
    sha_dsc=5c3feac74c0ad2ec2a8810b04e223bd634023bd24c5e5e10b545ba05a6b74a65 ;;
  *) echo "build-guest: no sha256 pin for micropython $MICROPYTHON_DEB" >&2; exit 1 ;;
esac
upstream="${MICROPYTHON_DEB%+ds-*}"
cache=wasm/cache
src="$cache/micropython-$upstream"
mkdir -p "$cache"

die() { echo "build-guest: $*" >&2; exit 1; }

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

# --- Mongoose ---------------------------------------------------------------
mg=node_modules/mongoose.c
[ -f "$mg/mongoose.c" ] || die "$mg is missing: run 'npm ci' first"
mg_version=$(node -p "require('./$mg/package.json').version")
[ "$mg_version" = 7.19.0 ] || die "mongoose.c is $mg_version, expected 7.19.0 (run 'npm ci')"

# --- MicroPython ------------------------------------------------------------
fetch_micropython() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get is needed to fetch Debian's micropython source package"
  # The Debian archive this machine already uses, with another suite.
  local mirror
  mirror="${PYTHONGOOSE_DEBIAN_MIRROR:-$(grep -rhoE '(https?|file)://[^ ]+/debian/?( |$)' \
    /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | grep -v security | head -n1 | tr -d ' ' || true)}"
  [ -n "$mirror" ] || die "no Debian archive in the apt config; set PYTHONGOOSE_DEBIAN_MIRROR"
  local apt="$PWD/$cache/apt"
  rm -rf "$apt" && mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/dl"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" >"$apt/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt" -o "Dir::Cache::archives=$apt/archives"
    -o Debug::NoLocking=1 -o APT::Sandbox::User=root -qq)
  echo "build-guest: fetching micropython $MICROPYTHON_DEB ($suite) with apt-get source"
  apt-get "${opts[@]}" update || die "apt-get update of the private $suite source list failed"
  (cd "$apt/dl" && apt-get "${opts[@]}" source --download-only "micropython=$MICROPYTHON_DEB") ||
    die "micropython $MICROPYTHON_DEB is gone from Debian $suite: update the pin in $0"
  echo "$sha_orig  $apt/dl/micropython_${upstream}+ds.orig.tar.xz" | sha256sum -c --quiet ||
    die "sha256 mismatch for the micropython orig tarball"
  echo "$sha_dsc  $apt/dl/micropython_${MICROPYTHON_DEB}.dsc" | sha256sum -c --quiet ||
    die "sha256 mismatch for micropython_${MICROPYTHON_DEB}.dsc"
  rm -rf "$src.tmp" && mkdir -p "$src.tmp"
  tar -xJf "$apt/dl/micropython_${upstream}+ds.orig.tar.xz" -C "$src.tmp" --strip-components=1
  rm -rf "$src" && mv "$src.tmp" "$src" && echo "$sha_orig" >"$src/.pinned-sha256"
  rm -rf "$apt"
}
[ "$(cat "$src/.pinned-sha256" 2>/dev/null)" = "$sha_orig" ] || fetch_micropython

# --- build ------------------------------------------------------------------
# Relink when the MicroPython pin changed since the last build.
mkdir -p wasm/build
if [ "$(cat wasm/build/.micropython 2>/dev/null)" != "$MICROPYTHON_DEB" ]; then
  rm -f wasm/build/pythongoose.wasm
  echo "$MICROPYTHON_DEB" >wasm/build/.micropython
fi
jobs=$(nproc 2>/dev/null || echo 2)
# mpy-cross (a host tool) compiles the frozen Python half of `mongoose`.
if [ ! -x "$src/mpy-cross/build/mpy-cross" ]; then
  host_cc=$(command -v gcc || command -v cc || command -v clang-14 || command -v clang) ||
    die "no host C compiler for mpy-cross (gcc or clang)"
  make -s -C "$src/mpy-cross" -j"$jobs" CC="$host_cc" >/dev/null
fi
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
