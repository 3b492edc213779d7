#!/usr/bin/env python3
"""Demo helper: wraps objects into AdmissionReviews as the apiserver sends them, and
prints AdmissionReview responses the way kubectl shows them to a developer.

  review.py wrap OBJECT.json NAMESPACE     -> AdmissionReview request on stdout
  review.py show RESPONSE.json KIND NAME   -> what `kubectl apply` would print
  review.py patch RESPONSE.json|-          -> the decoded JSON patch of a /mutate answer
"""
import base64, json, sys, uuid

GROUPS = {"apps/v1": "apps", "batch/v1": "batch", "v1": ""}


def wrap(path, namespace):
    obj = json.load(open(path))
    api = obj["apiVersion"]
    group, version = (api.split("/") + [""])[:2] if "/" in api else ("", api)
    kind = obj["kind"]
    obj.setdefault("metadata", {})["namespace"] = namespace
    gvk = {"group": group, "version": version, "kind": kind}
    gvr = {"group": group, "version": version, "resource": kind.lower() + "s"}
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
            "name": obj["metadata"].get("name", ""), "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {"username": "dev@example.com", "groups": ["developers", "system:authenticated"]},
            "object": obj, "oldObject": None, "dryRun": False,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
        },
    }
    json.dump(review, sys.stdout)


def load(path):
    return json.load(sys.stdin if path == "-" else open(path))


def show(path, kind, name):
    r = load(path)["response"]
    for w in r.get("warnings", []):
        print(f"Warning: {w}")
    group = {"deployment": "deployment.apps", "job": "job.batch", "cronjob": "cronjob.batch"}[kind]
    if r["allowed"]:
        print(f"{group}/{name} created")
    else:
        msg = r.get("status", {}).get("message", "")
        print(f'Error from server (Forbidden): error when creating "{name}.yaml": admission webhook '
              f'"validate.custody.dev" denied the request: {msg}')


def patch(path):
    r = load(path)["response"]
    if "patch" not in r:
        print("(no patch)")
        return
    for op in json.loads(base64.b64decode(r["patch"])):
        print(f'{op["op"]} {op["path"]} -> {op["value"]}')


if __name__ == "__main__":
    cmd = sys.argv[1]
    {"wrap": lambda: wrap(sys.argv[2], sys.argv[3]),
     "show": lambda: show(sys.argv[2], sys.argv[3], sys.argv[4]),
     "patch": lambda: patch(sys.argv[2])}[cmd]()
