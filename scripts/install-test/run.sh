#!/usr/bin/env bash
# Packs the project (prepack builds it), installs the tarball into an empty
# project on a PATH with no emcc, clang, gcc, cc or make, then checks real
# responses from `npx pythongoose` and from the embedding API under Node,
# Deno and Bun (when their npm binaries are installed here).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=$(mktemp -d /tmp/pythongoose-install.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

npm pack --silent --pack-destination "$work" >/dev/null
tarball=$(ls "$work"/pythongoose-*.tgz)
echo "install-test: $(basename "$tarball") ($(stat -c %s "$tarball") bytes, $(tar tzf "$tarball" | wc -l) files)"
if tar tzf "$tarball" | grep -Eq '^package/(c|ts|spec|wasm/cache|node_modules|scripts)/'; then
  echo "install-test: the tarball holds sources or tests" >&2
  exit 1
fi

# A PATH with only the runtimes and the basic shell tools npm's scripts use.
bin="$work/bin"
mkdir -p "$bin"
for tool in node npm npx sh bash env cat cp mkdir rm ls dirname basename sed uname pkill; do
  p=$(command -v "$tool") && ln -s "$p" "$bin/$tool"
done
for rt in deno bun; do
  [ -x "$root/node_modules/.bin/$rt" ] && ln -s "$(readlink -f "$root/node_modules/.bin/$rt")" "$bin/$rt"
done
export PATH="$bin"
for tool in emcc clang clang-14 gcc cc make; do
  if command -v "$tool" >/dev/null 2>&1; then echo "install-test: $tool is on PATH" >&2; exit 1; fi
done

app="$work/app"
mkdir -p "$app"
cd "$app"
echo '{ "name": "install-test", "private": true, "type": "module" }' >package.json
npm install --silent --no-audit --no-fund "$tarball"
cp "$root/scripts/install-test/embed.mjs" .

# The CLI through npx, with the seed app the package ships.
port=$(node -e 'const s=require("net").createServer().listen(0,()=>{console.log(s.address().port);s.close()})')
npx --no-install pythongoose --port "$port" --quiet 2>"$work/cli.log" &
node -e '
  const url = process.argv[1];
  const deadline = Date.now() + 20000;
  (async () => {
    for (;;) {
      try {
        const r = await fetch(url + "/api/epname", { method: "POST", body: "hi",
          headers: { authorization: "Basic " + Buffer.from("admin:istrator").toString("base64") } });
        const text = await r.text();
        if (r.status !== 200 || text !== "epname: pythongoose") throw new Error(`unexpected ${r.status} ${text}`);
        console.log("install-test: npx pythongoose: ok");
        return;
      } catch (err) {
        if (Date.now() > deadline || String(err).includes("unexpected")) { console.error(String(err)); process.exit(1); }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  })();
' "http://127.0.0.1:$port" || { cat "$work/cli.log" >&2; exit 1; }
pkill -f "pythongoose --port $port" || true

node embed.mjs
if command -v deno >/dev/null; then deno run -A embed.mjs; else echo "install-test: deno not installed, skipped"; fi
if command -v bun >/dev/null; then bun embed.mjs; else echo "install-test: bun not installed, skipped"; fi
