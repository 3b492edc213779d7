#!/usr/bin/env bash
# How cost grows (docs/benchmarks.md, "How cost grows"): the engine rows are runs of
# `cargo bench --bench growth -- ROW N` (benches/growth.rs: the real engine over an
# in-memory registry), the network rows runs of the real binary against a local
# ferro-oci-server through benches/rtt_proxy.py (benches/cold_rtt.sh).
#
# Usage: flock /work/build.lock benches/growth.sh
# Environment: CUSTODY_BIN (else target/release/custody is built), RUNS=5 per RTT row.
# Needs what benches/cold_rtt.sh needs (ferro-oci-server, skopeo, python3, curl).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${CUSTODY_BIN:-}" ]]; then
  cargo build --release --bin custody >&2
  export CUSTODY_BIN=${CARGO_TARGET_DIR:-target}/release/custody
fi
cargo bench --bench growth --no-run >&2 2>/dev/null || cargo bench --bench growth --no-run >&2
row() { cargo bench -q --bench growth -- "$@" 2>/dev/null; }

echo "custody growth: $(date -u +%FT%TZ), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| row | n | cold check | warm check | evaluated check | shape |"
echo "|---|---|---|---|---|---|"
for n in 1 5 10 25 50; do row policies "$n"; done
for n in 1 4 16 64; do row attestations "$n"; done
for n in 1 5 10 25 50; do row images "$n"; done
echo
echo "| row | n | time | cache hit rates (second pass) | memory |"
echo "|---|---|---|---|---|"
for n in 10 100 1000 4000 10000; do row workingset "$n"; done
echo
echo "| RTT | attestations | warm connections | median time | connections | requests (warm-ups) | round trips on the critical path |"
echo "|---|---|---|---|---|---|---|"
for n in 1 3 8 16; do
  NO_HEADER=1 ATTESTATIONS=$n RTTS="0 5 50" WARM=3 RUNS=${RUNS:-5} benches/cold_rtt.sh
done
