# The pinned third-party sources both builds use, checked (and MicroPython
# fetched) here; sourced by scripts/build-guest.sh and scripts/build-native.sh
# from the project root, after they define me (their name) and die().
#   - MicroPython: Debian's source package, via `apt-get source` with a private
#     sources list (the machine's apt config is never edited), sha256-pinned,
#     unpacked into wasm/cache/ (git-ignored)
#   - Mongoose: npm mongoose.c (exact pin in package.json, installed by npm ci)
# Sets: MICROPYTHON_DEB, src (the MicroPython tree), mg (the Mongoose folder).

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
  *) die "no sha256 pin for micropython $MICROPYTHON_DEB" ;;
esac
upstream="${MICROPYTHON_DEB%+ds-*}"
cache=wasm/cache
src="$cache/micropython-$upstream"
mkdir -p "$cache"

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
  echo "$me: fetching micropython $MICROPYTHON_DEB ($suite) with apt-get source"
  apt-get "${opts[@]}" update || die "apt-get update of the private $suite source list failed"
  (cd "$apt/dl" && apt-get "${opts[@]}" source --download-only "micropython=$MICROPYTHON_DEB") ||
    die "micropython $MICROPYTHON_DEB is gone from Debian $suite: update the pin in ${BASH_SOURCE[0]}"
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

# mpy-cross (a host tool) compiles the frozen Python half of `mongoose`.
build_mpy_cross() {
  [ -x "$src/mpy-cross/build/mpy-cross" ] && return
  local host_cc
  host_cc=$(command -v gcc || command -v cc || command -v clang-14 || command -v clang) ||
    die "no host C compiler for mpy-cross (gcc or clang)"
  make -s -C "$src/mpy-cross" -j"$(nproc 2>/dev/null || echo 2)" CC="$host_cc" >/dev/null ||
    die "building mpy-cross failed"
}
