#!/usr/bin/env bash
# The cold path over a distance: a cold `custody verify` of a tagged image carrying three
# attestations (SLSA provenance, SPDX SBOM, test result; signed with the demo CI key), in
# a local ferro-oci-server reached through benches/rtt_proxy.py, which adds a round-trip
# time and counts connections and requests. Each run is a new process (empty caches,
# empty connection pool), so every run is cold. For each RTT the runs alternate between
# `--registry-warm-connections 0` (every parallel fetch beyond the first opens its own
# connection on the critical path: the behaviour before warm connections) and the
# default.
#
# Usage: benches/cold_rtt.sh
# Environment:
#   CUSTODY_BIN       use this binary instead of building target/release/custody
#   RTTS="0 20 50"    round-trip times in ms;  RUNS=7  runs per RTT and setting
#   WARM="0 3"        values of --registry-warm-connections to compare
#   ATTESTATIONS=N    instead of the three, N signed SLSA provenance attestations
#                     (distinct invocation ids)
#   NO_HEADER=1       print only the table's rows
# Prints a Markdown table: median wall time of the whole `custody verify` process,
# connections and requests the proxy saw per run (warm-ups included), and the round
# trips on the critical path = (time from the first connection to the last request's
# arrival at the registry) / RTT + 1/2 (its answer's way back).
# Needs: ferro-oci-server, skopeo, python3, curl (scripts/setup).
set -euo pipefail
cd "$(dirname "$0")/.."

RTTS=${RTTS:-0 20 50}
RUNS=${RUNS:-7}
WARM=${WARM:-0 3}
for tool in ferro-oci-server skopeo python3 curl; do
  command -v "$tool" >/dev/null || { echo "cold_rtt.sh: $tool is missing (scripts/setup)" >&2; exit 2; }
done
if [[ -z "${CUSTODY_BIN:-}" ]]; then
  cargo build --release --bin custody >&2
  CUSTODY_BIN=${CARGO_TARGET_DIR:-target}/release/custody
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

reg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG=127.0.0.1:$reg_port
FERRO_OCI_LISTEN=$REG FERRO_OCI_STORAGE_DIR=$work/registry ferro-oci-server >"$work/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -s -o /dev/null "http://$REG/v2/" && break; sleep 0.1; done

image=shop/app:1.0
python3 scripts/oci-image.py "$work/oci" 1.0 "cold rtt bench" >/dev/null
skopeo copy --quiet --dest-tls-verify=false "oci:$work/oci:1.0" "docker://$REG/$image"
pairs=(slsaprovenance1:demo/provenance.json spdx:demo/sbom.spdx.json test-result:demo/test-result.json)
if [[ -n "${ATTESTATIONS:-}" ]]; then
  pairs=()
  for i in $(seq 1 "$ATTESTATIONS"); do
    sed "s/demo-build-42/cold-rtt-$i/" demo/provenance.json >"$work/provenance-$i.json"
    pairs+=("slsaprovenance1:$work/provenance-$i.json")
  done
fi
for pair in "${pairs[@]}"; do
  "$CUSTODY_BIN" attest "$REG/$image" --key tests/data/policy/keys/ci.key --type "${pair%%:*}" \
    --predicate "${pair#*:}" --insecure-registry "$REG" >/dev/null
done

ms() { date +%s%N | awk '{printf "%.3f", $1 / 1e6}'; }
median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

if [[ -z "${NO_HEADER:-}" ]]; then
  echo "cold custody verify over a delaying proxy: $(date -u +%FT%TZ), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "image $image (single platform, tag), attestations via the Referrers API; $RUNS runs per row"
  echo
  echo "| RTT | attestations | warm connections | median time | connections | requests (warm-ups) | round trips on the critical path |"
  echo "|---|---|---|---|---|---|---|"
fi
for rtt in $RTTS; do
  log=$work/proxy-$rtt.log
  : >"$log"
  python3 benches/rtt_proxy.py "$REG" "$rtt" "$log" >"$work/proxy-$rtt.port" &
  pids+=($!)
  for _ in $(seq 1 100); do [[ -s "$work/proxy-$rtt.port" ]] && break; sleep 0.05; done
  PROXY=127.0.0.1:$(cat "$work/proxy-$rtt.port")
  for i in $(seq 1 "$RUNS"); do
    for w in $WARM; do
      : >"$log"
      t0=$(ms)
      "$CUSTODY_BIN" --log warn verify "$PROXY/$image" --policies policies/require-provenance \
        --insecure-registry "$PROXY" --registry-warm-connections "$w" >"$work/out" 2>&1 \
        || { echo "cold_rtt.sh: the image was not admitted:" >&2; cat "$work/out" >&2; exit 1; }
      t1=$(ms)
      sleep 0.2 # warm-ups still in flight land in this run's log
      awk -v t="$t0" -v t1="$t1" -v rtt="$rtt" '
        $1 == "C" { c++; if (first == "") first = $2 }
        $1 == "R" { r++; if ($5 == "/v2/") warm++; else last = $2 }
        END { trips = (rtt > 0) ? sprintf("%.1f", (last - first) / rtt + 0.5) : "-";
              printf "%.1f %d %d %d %s\n", t1 - t, c, r, warm, trips }' "$log" >>"$work/w$w-$rtt"
    done
  done
  for w in $WARM; do
    f=$work/w$w-$rtt
    printf '| %s ms | %s | %s | %s ms | %s | %s (%s) | %s |\n' "$rtt" "${#pairs[@]}" "$w" \
      "$(cut -d' ' -f1 "$f" | median)" "$(cut -d' ' -f2 "$f" | median)" \
      "$(cut -d' ' -f3 "$f" | median)" "$(cut -d' ' -f4 "$f" | median)" \
      "$(if [[ $rtt == 0 ]]; then echo -; else cut -d' ' -f5 "$f" | median; fi)"
  done
done
