#!/usr/bin/env bash
# Load benchmark of `custody serve` over HTTPS: POSTs an AdmissionReview to /validate
# and, in the same server and the same run, to the constant always-allow route
# /bench/allow (enabled by the hidden --bench-allow-route flag), so the two numbers
# can be compared. Records the server's RSS (current and peak).
#
# Usage: benches/load.sh [extra `custody serve` flags...]
# Environment:
#   CUSTODY_BIN          use this binary instead of building target/release/custody
#   DURATION=20s         wrk duration per route;  WARMUP=3s  warm-up per route
#   CONNECTIONS=32       open connections;        THREADS=2  wrk threads
#   CUSTODY_BENCH_BODY   AdmissionReview to send (default benches/data/pod-review.json)
#   SERVER_CPUS/CLIENT_CPUS  optional taskset CPU lists (e.g. 0 and 1)
# Needs: wrk (apt-get install wrk). Without extra flags the server runs with a
# self-signed certificate and whatever reviewer `custody serve` wires in; pass
# e.g. `--policy-dir policies` (and registry flags) to measure a real decision with
# warm caches: the warm-up requests fill them.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v wrk >/dev/null || { echo "load.sh: wrk is missing (apt-get install wrk)" >&2; exit 2; }
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
export CUSTODY_BENCH_BODY=${CUSTODY_BENCH_BODY:-benches/data/pod-review.json}

if [[ -z "${CUSTODY_BIN:-}" ]]; then
  cargo build --release --bin custody >&2
  CUSTODY_BIN=${CARGO_TARGET_DIR:-target}/release/custody
fi

work=$(mktemp -d)
server_pid=
cleanup() {
  [[ -n "$server_pid" ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

pin() { local cpus=$1; shift; if [[ -n "$cpus" ]]; then taskset -c "$cpus" "$@"; else "$@"; fi; }

# Started directly (taskset execs), so $! is the server's own pid for RSS and SIGTERM.
server=("$CUSTODY_BIN" --log warn serve --self-signed --listen 127.0.0.1:0 --bench-allow-route "$@")
[[ -n "${SERVER_CPUS:-}" ]] && server=(taskset -c "$SERVER_CPUS" "${server[@]}")
"${server[@]}" >/dev/null 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 200); do
  addr=$(sed -n 's/.*serving https:\/\/\([0-9.:]*\).*/\1/p' "$work/server.log" | head -1)
  [[ -n "$addr" ]] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 2; }
  sleep 0.1
done
[[ -n "${addr:-}" ]] || { echo "load.sh: server did not start" >&2; cat "$work/server.log" >&2; exit 2; }

rss() { awk -v k="$1" '$1 == k":" {print int($2/1024)}' "/proc/$server_pid/status"; }

run() { # route
  pin "${CLIENT_CPUS:-}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s benches/post.lua "https://$addr$1" >/dev/null
  pin "${CLIENT_CPUS:-}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s benches/post.lua "https://$addr$1" >"$work/wrk.out"
  local rps p50 p99 non2xx
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.out")
  p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.out")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.out")
  printf '| `%s` | %s | %s | %s | %s |\n' "$1" "$rps" "$p50" "$p99" "${non2xx:-0}"
  eval "rps_${2}=$rps"
}

echo "custody load benchmark: $(date -u +%FT%TZ), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (HTTP/1.1 keep-alive over TLS), body $(wc -c <"$CUSTODY_BENCH_BODY") bytes"
echo
echo "| route | requests/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|"
run /bench/allow allow
run /validate validate
echo
echo "validate/allow throughput ratio: $(awk -v a="$rps_allow" -v v="$rps_validate" 'BEGIN {printf "%.2f", v / a}')"
echo "server RSS after the run: $(rss VmRSS) MiB (peak $(rss VmHWM) MiB)"
