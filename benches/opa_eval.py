#!/usr/bin/env python3
"""OPA's half of `benches/rego_vs_opa.rs`: evaluates the same policies over the same inputs
with OPA (embedded through the PyPI package `opa-golib-python-bindings`), on request.

Started by the Rust bench with the path of a JSON plan:
  {"policies": [{"name", "package", "files": {name: text}, "data": obj|null,
                 "gather": "<rego module>", "input": obj}, ...]}
Each policy gets its own OPA engine holding its Rego, its data, the same synthetic
`custody__eval.result` rule custody evaluates, an empty rule `custody__empty.result := true`,
and the policy's input stored once as data (`data.custody__bench.input`), so that no
evaluation pays for Python encoding and Go decoding a 5-8 KB input:

  policy: x := data.custody__eval.result  with input as data.custody__bench.input
  empty:  x := data.custody__empty.result with input as data.custody__bench.input

The empty query is the binding's own cost (ctypes, query cache, result encoding, the
`with input as` swap); the bench subtracts it.

Protocol (one line each way): the bench writes `run <i> <n>`, this prints
`<policy ns> <empty ns>`: the wall time of n evaluations of policy i, then of n empty ones.
At start it prints one JSON line per policy: {"deny": [...], "warn": [...]} or {"error": ...}.
"""

import json
import sys
import time

try:
    from opa_bindings import OpaEngine
except ImportError:
    sys.stderr.write(
        "opa_eval.py: the OPA bindings are missing: pip install --ignore-requires-python "
        "'opa-golib-python-bindings==0.4.4' (scripts/setup)\n"
    )
    sys.exit(2)

POLICY_QUERY = "x := data.custody__eval.result with input as data.custody__bench.input"
EMPTY_QUERY = "x := data.custody__empty.result with input as data.custody__bench.input"
EMPTY_MODULE = "package custody__empty\n\nresult := true\n"


def load(policy):
    engine = OpaEngine()
    for name, text in sorted(policy["files"].items()):
        engine.add_policy(name, text)
    engine.add_policy("<custody>", policy["gather"])
    engine.add_policy("<empty>", EMPTY_MODULE)
    if policy.get("data") is not None:
        engine.add_data(policy["data"])
    engine.add_data({"input": policy["input"]}, "custody__bench")
    return engine


def outcome(engine):
    try:
        rows = engine.eval_query(POLICY_QUERY)
    except Exception as e:  # reported to the bench, which refuses to compare
        return {"error": str(e)}
    if not rows:
        return {"error": "data.custody__eval.result is undefined"}
    value = rows[0]["x"]
    return {k: sorted(set(value.get(k) or [])) for k in ("deny", "warn")}


def timed(engine, query, n):
    start = time.perf_counter_ns()
    for _ in range(n):
        engine.eval_query(query)
    return time.perf_counter_ns() - start


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        plan = json.load(f)
    engines = [load(p) for p in plan["policies"]]
    for engine in engines:
        print(json.dumps(outcome(engine)), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] != "run" or len(words) != 3:
            sys.stderr.write(f"opa_eval.py: bad request {line!r}\n")
            sys.exit(2)
        engine, n = engines[int(words[1])], int(words[2])
        policy_ns = timed(engine, POLICY_QUERY, n)
        empty_ns = timed(engine, EMPTY_QUERY, n)
        print(f"{policy_ns} {empty_ns}", flush=True)


if __name__ == "__main__":
    main()
