#!/usr/bin/env python3
"""Runs a custody bundle's Rego unit tests with OPA 1.x (opa-golib-python-bindings, the
Go OPA engine embedded) the way `opa test` judges them, and prints one JSON object
{"data.<package>.test_x": "pass" | "fail" | "error"} for tests/e2e/policy_tests.rs to
compare with `custody policy test -o json`.

Usage: rego_tests.py BUNDLE_DIR

Every `*.rego` of the bundle and its data.json are loaded; the tests are the rules whose
head starts a line with `test_` in `*_test.rego` files (`opa test` itself also runs
`test_` rules of the other modules; custody does not, so neither does this script).
A test passes when it is true, fails when false or undefined, errs when evaluation fails.
"""
import json
import os
import re
import sys

from opa_bindings.engine import OpaEngine, OpaError, OpaUndefinedError

HEAD = re.compile(r"^(test_[A-Za-z0-9_]*)\s*(?!\()")
PACKAGE = re.compile(r"^package\s+([A-Za-z0-9_.]+)", re.M)


def main(bundle):
    engine = OpaEngine()
    tests = []
    for name in sorted(os.listdir(bundle)):
        if not name.endswith(".rego"):
            continue
        with open(os.path.join(bundle, name), encoding="utf-8") as f:
            text = f.read()
        engine.add_policy(name, text)
        if not name.endswith("_test.rego"):
            continue
        package = PACKAGE.search(text).group(1)
        for line in text.splitlines():
            m = HEAD.match(line)
            if not m or line[m.end(1):].lstrip().startswith("("):
                continue
            test = f"{package}.{m.group(1)}"
            if test not in tests:
                tests.append(test)
    data = os.path.join(bundle, "data.json")
    if os.path.exists(data):
        with open(data, encoding="utf-8") as f:
            engine.add_data(json.load(f))
    results = {}
    for test in tests:
        try:
            value = engine.eval_document(test)
            results[f"data.{test}"] = "pass" if value is True else "fail"
        except OpaUndefinedError:
            results[f"data.{test}"] = "fail"
        except OpaError:
            results[f"data.{test}"] = "error"
    json.dump(results, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main(sys.argv[1])
