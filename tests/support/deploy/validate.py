#!/usr/bin/env python3
"""Schema checks for custody's deployment tests (called by tests/deploy_*.rs).

  validate.py k8s [--version V] FILE...
                                     every YAML document against the Kubernetes schemas
                                     bundled with kubernetes-validate (default 1.34.0; strict:
                                     unknown fields fail), and the CRD kinds the chart uses
                                     against the subsets below; any other kind fails.
  validate.py values SCHEMA FILE...  values files (YAML or JSON) against values.schema.json.

Runs offline. Exit status 0 when everything validates, 1 otherwise, 3 when a Python
package is missing (install: pip install kubernetes-validate jsonschema pyyaml).
"""
import sys

try:
    import jsonschema
    import kubernetes_validate
    import yaml
except ImportError as err:  # pragma: no cover - the message is the point
    print(f"missing Python package ({err}); run: pip install kubernetes-validate jsonschema pyyaml",
          file=sys.stderr)
    sys.exit(3)

K8S_VERSION = "1.34.0"


def closed(props, required=()):
    return {"type": "object", "additionalProperties": False, "properties": props,
            "required": list(required)}


STR = {"type": "string"}
STRMAP = {"type": "object", "additionalProperties": {"type": "string"}}
META = closed({"name": STR, "namespace": STR, "labels": STRMAP, "annotations": STRMAP}, ["name"])
ISSUER_REF = closed({"name": STR, "kind": {"enum": ["Issuer", "ClusterIssuer"]}, "group": STR}, ["name"])
SELECTOR = closed({"matchLabels": STRMAP})


def crd(spec, required=("spec",)):
    return closed({"apiVersion": STR, "kind": STR, "metadata": META, "spec": spec},
                  ["apiVersion", "kind", "metadata", *required])


# Subsets of the CRDs' OpenAPI schemas (cert-manager v1, Prometheus Operator v1): the
# fields custody's chart writes, closed so that a misspelt field fails here.
CRDS = {
    ("cert-manager.io/v1", "Issuer"): crd(closed({
        "selfSigned": {"type": "object"},
        "ca": closed({"secretName": STR}, ["secretName"]),
    })),
    ("cert-manager.io/v1", "Certificate"): crd(closed({
        "secretName": STR, "commonName": STR, "isCA": {"type": "boolean"},
        "duration": STR, "renewBefore": STR,
        "dnsNames": {"type": "array", "items": STR},
        "privateKey": closed({"algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]},
                              "size": {"type": "integer"},
                              "rotationPolicy": {"enum": ["Never", "Always"]}}),
        "issuerRef": ISSUER_REF,
    }, ["secretName", "issuerRef"])),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): crd(closed({
        "selector": SELECTOR,
        "namespaceSelector": closed({"matchNames": {"type": "array", "items": STR}}),
        "endpoints": {"type": "array", "items": closed({
            "port": STR, "path": STR, "scheme": {"enum": ["http", "https"]}, "interval": STR,
            "tlsConfig": closed({"serverName": STR, "insecureSkipVerify": {"type": "boolean"},
                                 "ca": closed({"secret": closed({"name": STR, "key": STR},
                                                                ["name", "key"])})}),
        }, ["port"])},
    }, ["selector", "endpoints"])),
    ("monitoring.coreos.com/v1", "PrometheusRule"): crd(closed({
        "groups": {"type": "array", "items": closed({
            "name": STR,
            "rules": {"type": "array", "items": closed({
                "alert": STR, "record": STR, "expr": STR, "for": STR,
                "labels": STRMAP, "annotations": STRMAP}, ["expr"])},
        }, ["name", "rules"])},
    }, ["groups"])),
}


def check_k8s(paths, version=K8S_VERSION):
    failures = 0
    count = 0
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            docs = [d for d in yaml.safe_load_all(handle) if d is not None]
        for doc in docs:
            count += 1
            what = f"{path}: {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
            key = (doc.get("apiVersion"), doc.get("kind"))
            try:
                if key in CRDS:
                    jsonschema.Draft7Validator(CRDS[key]).validate(doc)
                else:
                    kubernetes_validate.validate(doc, version, strict=True)
            except Exception as err:  # every failure is reported, then counted
                failures += 1
                print(f"INVALID {what}: {type(err).__name__}: {err}", file=sys.stderr)
    print(f"validated {count} documents against Kubernetes {version}, {failures} invalid")
    if count == 0:
        print("no documents found", file=sys.stderr)
        return 1
    return 1 if failures else 0


def check_values(schema_path, paths):
    import json
    with open(schema_path, encoding="utf-8") as handle:
        schema = json.load(handle)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    failures = 0
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            values = yaml.safe_load(handle)
        for err in sorted(validator.iter_errors(values), key=str):
            failures += 1
            where = "/".join(str(p) for p in err.absolute_path) or "(root)"
            print(f"INVALID {path}: at {where}: {err.message}", file=sys.stderr)
    return 1 if failures else 0


def main(argv):
    if len(argv) >= 4 and argv[0] == "k8s" and argv[1] == "--version":
        return check_k8s(argv[3:], argv[2])
    if len(argv) >= 2 and argv[0] == "k8s":
        return check_k8s(argv[1:])
    if len(argv) >= 3 and argv[0] == "values":
        return check_values(argv[1], argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
