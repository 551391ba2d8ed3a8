#!/usr/bin/env bash
# Host RSS across crash restarts (after npm run build):
#   bash scripts/soak/crash-rss.sh [node|deno|bun] [RESTARTS]
# Serves spec/apps/crash.py through the CLI, traps its guest RESTARTS times
# (default 300), waiting each time for the new instance to serve, and prints
# the server's VmRSS after 5, 10, 25 and every 100 restarts.
set -euo pipefail
runtime=${1:-node}
restarts=${2:-300}
cd "$(dirname "$0")/../.."
case $runtime in
  node) cmd=(node dist/server.js) ;;
  deno) cmd=(node_modules/.bin/deno run -A dist/server.js) ;;
  bun) cmd=(node_modules/.bin/bun dist/server.js) ;;
  *) echo "runtime must be node, deno or bun, got $runtime" >&2; exit 2 ;;
esac
port=$((20000 + RANDOM % 10000))
"${cmd[@]}" spec/apps/crash.py --port "$port" --quiet >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until curl -s -o /dev/null -m 2 "http://127.0.0.1:$port/ok"; do
  kill -0 $pid 2>/dev/null || { echo "the server did not start" >&2; exit 1; }
  sleep 0.1
done
rss_mb() { echo $(( $(awk '/VmRSS/{print $2}' "/proc/$pid/status") / 1024 )); }
echo "$runtime restarts=0 rss_mb=$(rss_mb)"
for i in $(seq 1 "$restarts"); do
  curl -s -o /dev/null -m 5 "http://127.0.0.1:$port/trap" || true
  until curl -s -o /dev/null -m 2 "http://127.0.0.1:$port/ok"; do sleep 0.05; done
  case $i in 5 | 10 | 25 | *00) echo "$runtime restarts=$i rss_mb=$(rss_mb)" ;; esac
done
