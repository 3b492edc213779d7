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
#   WITH_REGISTRY=1      start ferro-oci-server, push the review's three images with
#                        signed SLSA provenance (custody attest, demo CI key), serve
#                        with policies/require-provenance, measure the cold path
#                        (COLD_IMAGES fresh attested images, one review each, p50/p99),
#                        then load /validate with warm caches.
#   MEMOIZE=0            with WITH_REGISTRY: serve a copy of the policy with
#                        `memoize: false`, so every review evaluates the Rego.
#   LIBRARY=1            with WITH_REGISTRY: each image also carries a signed SPDX SBOM,
#                        a vulnerability scan (demo/vulns.json.in, finished now) and a
#                        PASSED test result, and the server loads the whole library
#                        (policies/; five of its bundles apply to the review's namespace).
# Needs: wrk (apt-get install wrk); with WITH_REGISTRY also ferro-oci-server, skopeo,
# python3 and curl (scripts/setup). Extra arguments go to `custody serve`.
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
registry_pid=
cleanup() {
  [[ -n "$server_pid" ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  [[ -n "$registry_pid" ]] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

serve_args=()
if [[ -n "${WITH_REGISTRY:-}" ]]; then
  for tool in ferro-oci-server skopeo python3 curl; do
    command -v "$tool" >/dev/null || { echo "load.sh: $tool is missing (scripts/setup)" >&2; exit 2; }
  done
  reg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  REG=127.0.0.1:$reg_port
  FERRO_OCI_LISTEN=$REG FERRO_OCI_STORAGE_DIR=$work/registry ferro-oci-server >"$work/registry.log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://$REG/v2/" && break; sleep 0.1; done
  push_attested() { # repo:tag
    local dir=$work/oci/${1//[:\/]/_}
    python3 scripts/oci-image.py "$dir" "${1#*:}" "load bench $1" >/dev/null
    skopeo copy --quiet --dest-tls-verify=false "oci:$dir:${1#*:}" "docker://$REG/$1"
    "$CUSTODY_BIN" attest "$REG/$1" --key tests/data/policy/keys/ci.key --type slsaprovenance1 \
      --predicate demo/provenance.json --insecure-registry "$REG" >/dev/null
    if [[ -n "${LIBRARY:-}" ]]; then
      local type predicate
      for pair in spdx:demo/sbom.spdx.json intoto-vulns:"$work/vulns.json" test-result:demo/test-result.json; do
        type=${pair%%:*} predicate=${pair#*:}
        "$CUSTODY_BIN" attest "$REG/$1" --key tests/data/policy/keys/ci.key --type "$type" \
          --predicate "$predicate" --insecure-registry "$REG" >/dev/null
      done
    fi
  }
  sed "s/@NOW@/$(date -u +%FT%TZ)/g" demo/vulns.json.in >"$work/vulns.json"
  for image in shop/migrate:1.4.2 shop/web:1.4.2 shop/proxy:2.0.1; do push_attested "$image"; done
  sed "s/@REG@/$REG/g" benches/data/pod-review-registry.json.in >"$work/review.json"
  export CUSTODY_BENCH_BODY=$work/review.json
  policy_dir=policies/require-provenance
  [[ -n "${LIBRARY:-}" ]] && policy_dir=policies
  if [[ "${MEMOIZE:-1}" == 0 ]]; then
    cp -r policies/require-provenance "$work/policy"
    printf 'memoize: false\n' >>"$work/policy/policy.yaml"
    policy_dir=$work/policy
  fi
  serve_args=(--policy-dir "$policy_dir" --insecure-registry "$REG")
fi

pin() { local cpus=$1; shift; if [[ -n "$cpus" ]]; then taskset -c "$cpus" "$@"; else "$@"; fi; }

# Started directly (taskset execs), so $! is the server's own pid for RSS and SIGTERM.
server=("$CUSTODY_BIN" --log warn serve --self-signed --listen 127.0.0.1:0 --bench-allow-route
  --self-signed-ca-out "$work/ca.pem" "${serve_args[@]}" "$@")
[[ -n "${SERVER_CPUS:-}" ]] && server=(taskset -c "$SERVER_CPUS" "${server[@]}")
# As in production: no backtrace capture on every internal error (RUST_BACKTRACE=1 in a
# developer shell halves /validate throughput, the Rego evaluator creates errors).
RUST_BACKTRACE=0 RUST_LIB_BACKTRACE=0 "${server[@]}" >/dev/null 2>"$work/server.log" &
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
if [[ -n "${WITH_REGISTRY:-}" ]]; then
  # Cold path: each review names one never-seen attested image (resolve, discover,
  # fetch, verify, evaluate), on a new TLS connection (curl).
  cold=${COLD_IMAGES:-20}
  for i in $(seq 1 "$cold"); do push_attested "shop/cold-$i:1.0"; done
  for i in $(seq 1 "$cold"); do
    sed -e "s#\"$REG/shop/[a-z]*:[0-9.]*\"#\"$REG/shop/cold-$i:1.0\"#g" "$work/review.json" >"$work/cold.json"
    curl -s --cacert "$work/ca.pem" -o "$work/cold-answer.json" -w '%{time_total}\n' \
      -H 'Content-Type: application/json' --data-binary @"$work/cold.json" "https://localhost:${addr##*:}/validate" >>"$work/cold.times"
    grep -q '"allowed":true' "$work/cold-answer.json" || { echo "load.sh: cold review $i was not admitted:" >&2; cat "$work/cold-answer.json" >&2; exit 1; }
  done
  sort -n "$work/cold.times" | awk '{t[NR]=$1*1000} END {
    p50=t[int((NR+1)/2)]; i99=int(NR*0.99+0.999); if (i99<1) i99=1; if (i99>NR) i99=NR;
    printf "cold path (%d fresh attested images, one review each, new TLS connection per review): p50 %.1f ms, p99 %.1f ms\n\n", NR, p50, t[i99] }'
  body=$(cat "$work/review.json")
  grep -q '"allowed":true' <(curl -s --cacert "$work/ca.pem" -H 'Content-Type: application/json' \
    --data-binary "$body" "https://localhost:${addr##*:}/validate") || { echo "load.sh: the warm review is not admitted" >&2; exit 1; }
fi
echo "| route | requests/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|"
run /bench/allow allow
run /validate validate
echo
echo "validate/allow throughput ratio: $(awk -v a="$rps_allow" -v v="$rps_validate" 'BEGIN {printf "%.2f", v / a}')"
echo "server RSS after the run: $(rss VmRSS) MiB (peak $(rss VmHWM) MiB)"
