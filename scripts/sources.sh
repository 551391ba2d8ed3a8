# The pinned third-party sources the builds use, checked (and fetched) here;
# sourced by scripts/build-guest.sh and scripts/build-native.sh from the
# project root, after they define me (their name) and die().
#   - MicroPython and Mbed TLS: Debian's source packages, via `apt-get source`
#     with a private sources list (the machine's apt config is never edited),
#     sha256-pinned, unpacked into wasm/cache/ (git-ignored). Mbed TLS only for
#     the wasm guest (fetch_mbedtls).
#   - Mongoose: npm mongoose.c (exact pin in package.json, installed by npm ci)
# Sets: MICROPYTHON_DEB, src (the MicroPython tree), mg (the Mongoose folder);
# fetch_mbedtls sets mbedtls (its tree).

# The durable pin is trixie's (it stays for Debian 13's life); sid's 1.26.1
# can be chosen with MICROPYTHON_DEB=1.26.1+ds-1 while sid still carries it.
MICROPYTHON_DEB="${MICROPYTHON_DEB:-1.25.0+ds-1}"
case "$MICROPYTHON_DEB" in
  1.25.0+ds-1)
    mp_suite=trixie
    mp_sha_orig=7b25be99a502f070b2de81dafc08da7051d992325d6e67daa9045a918fffdbea
    mp_sha_dsc=8c7c406be88a6f3bc19e694eb0bbc5841112243fdf2b5a296e000d8fdc5f3c34 ;;
  1.26.1+ds-1)
    mp_suite=sid
    mp_sha_orig=f5ad2ec89d3e921f753d448955af98b6005655f84ba26087dde6ba0e8d062f34
    mp_sha_dsc=5c3feac74c0ad2ec2a8810b04e223bd634023bd24c5e5e10b545ba05a6b74a65 ;;
  *) die "no sha256 pin for micropython $MICROPYTHON_DEB" ;;
esac
# Mbed TLS 3.6 (LTS) as trixie carries it. A stable point release replaces a
# trixie package, so this pin can leave the archive: the fetch then fails
# naming it; update the version and both sums from the new .dsc.
MBEDTLS_DEB="${MBEDTLS_DEB:-3.6.6-0.1~deb13u1}"
case "$MBEDTLS_DEB" in
  3.6.6-0.1~deb13u1)
    tls_sha_orig=8fb65fae8dcae5840f793c0a334860a411f884cc537ea290ce1c52bb64ca007a
    tls_sha_dsc=eb9ed1adbbddcb0d00276fac6fcee0056c64ce01481c2522a16dca75792eb5eb ;;
  *) die "no sha256 pin for mbedtls $MBEDTLS_DEB" ;;
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

# --- Debian source packages ---------------------------------------------------
# fetch_debian_source PACKAGE VERSION SUITE ORIG_TARBALL SHA_ORIG SHA_DSC DEST:
# download with apt-get source (no build, no Debian patches), check both sums,
# unpack the upstream tarball into DEST and record its sum there.
fetch_debian_source() {
  local pkg=$1 version=$2 suite=$3 orig=$4 sha_orig=$5 sha_dsc=$6 dest=$7
  command -v apt-get >/dev/null 2>&1 || die "apt-get is needed to fetch Debian's $pkg source package"
  # The Debian archive this machine already uses, with another suite.
  local mirror
  mirror="${PYTHONGOOSE_DEBIAN_MIRROR:-$(grep -rhoE '(https?|file)://[^ ]+/debian/?( |$)' \
    /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | grep -v security | head -n1 | tr -d ' ' || true)}"
  [ -n "$mirror" ] || die "no Debian archive in the apt config; set PYTHONGOOSE_DEBIAN_MIRROR"
  local apt="$PWD/$cache/apt-$pkg"
  rm -rf "$apt" && mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/dl"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" >"$apt/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt" -o "Dir::Cache::archives=$apt/archives"
    -o Debug::NoLocking=1 -o APT::Sandbox::User=root -qq)
  echo "$me: fetching $pkg $version ($suite) with apt-get source"
  apt-get "${opts[@]}" update || die "apt-get update of the private $suite source list failed"
  (cd "$apt/dl" && apt-get "${opts[@]}" source --download-only "$pkg=$version") ||
    die "$pkg $version is gone from Debian $suite: update the pin in ${BASH_SOURCE[0]}"
  echo "$sha_orig  $apt/dl/$orig" | sha256sum -c --quiet || die "sha256 mismatch for $orig"
  echo "$sha_dsc  $apt/dl/${pkg}_${version}.dsc" | sha256sum -c --quiet || die "sha256 mismatch for ${pkg}_${version}.dsc"
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  tar -xf "$apt/dl/$orig" -C "$dest.tmp" --strip-components=1
  rm -rf "$dest" && mv "$dest.tmp" "$dest" && echo "$sha_orig" >"$dest/.pinned-sha256"
  rm -rf "$apt"
}

[ "$(cat "$src/.pinned-sha256" 2>/dev/null)" = "$mp_sha_orig" ] ||
  fetch_debian_source micropython "$MICROPYTHON_DEB" "$mp_suite" "micropython_${upstream}+ds.orig.tar.xz" \
    "$mp_sha_orig" "$mp_sha_dsc" "$src"

fetch_mbedtls() {
  local tls_upstream="${MBEDTLS_DEB%-*}"
  mbedtls="$cache/mbedtls-$tls_upstream"
  [ "$(cat "$mbedtls/.pinned-sha256" 2>/dev/null)" = "$tls_sha_orig" ] ||
    fetch_debian_source mbedtls "$MBEDTLS_DEB" trixie "mbedtls_${tls_upstream}.orig.tar.bz2" \
      "$tls_sha_orig" "$tls_sha_dsc" "$mbedtls"
}

# mpy-cross (a host tool) compiles the frozen Python half of `mongoose`.
build_mpy_cross() {
  [ -x "$src/mpy-cross/build/mpy-cross" ] && return
  local host_cc
  host_cc=$(command -v gcc || command -v cc || command -v clang-14 || command -v clang) ||
    die "no host C compiler for mpy-cross (gcc or clang)"
  make -s -C "$src/mpy-cross" -j"$(nproc 2>/dev/null || echo 2)" CC="$host_cc" >/dev/null ||
    die "building mpy-cross failed"
}
