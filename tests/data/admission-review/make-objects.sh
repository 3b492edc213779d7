#!/usr/bin/env bash
# Regenerates objects/*.json offline with kubectl (no cluster needed).
set -euo pipefail
cd "$(dirname "$0")/objects"
img=registry.example/shop/app:1.0
kubectl create deployment web --image="$img" --dry-run=client -o json > deployment.json
kubectl create job migrate --image="$img" --dry-run=client -o json > job.json
kubectl create cronjob nightly --image="$img" --schedule="0 3 * * *" --dry-run=client -o json > cronjob.json
python3 - <<'PY'
import json
d = json.load(open("deployment.json"))
for kind, api in [("ReplicaSet", "apps/v1"), ("StatefulSet", "apps/v1"), ("DaemonSet", "apps/v1"),
                  ("ReplicationController", "v1")]:
    o = json.loads(json.dumps(d))
    o["kind"], o["apiVersion"] = kind, api
    o["spec"].pop("strategy", None)
    if kind == "DaemonSet":
        o["spec"].pop("replicas", None)
    if kind == "StatefulSet":
        o["spec"]["serviceName"] = "web"
    if kind == "ReplicationController":
        o["spec"]["selector"] = o["spec"]["selector"]["matchLabels"]
    json.dump(o, open(kind.lower() + ".json", "w"), indent=4)
PY
