#!/usr/bin/env bash
# custody's Rego path against OPA over the policy library and the held-in example input,
# interleaved, in one run (benches/rego_vs_opa.rs, benches/opa_eval.py).
#
# Usage: flock /work/build.lock benches/rego_vs_opa.sh   (a release build: hold the lock)
# Environment: ROUNDS (40), BATCH (20), POLICY_DIR (policies),
#              INPUT (docs/policy-input.example.json).
# Needs python3 and the PyPI package opa-golib-python-bindings (installed here if missing;
# it declares Python >= 3.12 but runs on 3.11, hence --ignore-requires-python).
set -euo pipefail
cd "$(dirname "$0")/.."
OPA_BINDINGS_VERSION=0.4.4
if ! python3 -c 'import opa_bindings' 2>/dev/null; then
  echo "rego_vs_opa.sh: pip install opa-golib-python-bindings==$OPA_BINDINGS_VERSION" >&2
  python3 -m pip install --quiet --disable-pip-version-check --ignore-requires-python \
    "opa-golib-python-bindings==$OPA_BINDINGS_VERSION"
fi
# No backtrace capture on errors created inside the evaluator (as in production).
export RUST_BACKTRACE=0 RUST_LIB_BACKTRACE=0
exec cargo bench --bench rego_vs_opa
