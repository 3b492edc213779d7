#!/usr/bin/env python3
"""Renders and lints charts/custody with Helm's own engine (helm-python-sdk 0.2.2, Helm v4
as a library; no helm binary). Called by tests/support/deploy/chart.rs.

  helm.py render   < REQUEST   prints {"manifests": [{"template", "text"}], "notes": TEXT}
  helm.py lint     < REQUEST   prints Helm's lint report (strict) and fails on a finding

REQUEST is JSON: {"chart": DIR, "release": NAME, "namespace": NS, "values": {...},
"files": {RELPATH: TEXT}, "lookup": {"v1/Secret/NS/NAME": OBJECT}}.

`files` are added to a copy of the chart before loading (tests that ship extra policies).

`lookup`: helm-python-sdk renders offline and its `lookup` always answers an empty map
(Chart.render's documented behaviour; measured: the chart regenerates its certificate
whatever exists). To test the upgrade path, the driver copies the chart and replaces each
`lookup "API" "KIND" NS NAME` call with a template that answers from REQUEST's `lookup`
objects; everything else is still Helm's engine. Only requests with `lookup` take this path.

Exit status 0 on success, 1 when Helm refuses (the message is on stderr as JSON
{"error": ...}), 3 when helm-python-sdk is missing.
"""
import json
import os
import re
import shutil
import sys
import tempfile

try:
    import helm_python as helm
except ImportError as err:  # pragma: no cover - the message is the point
    print(f"missing Python package ({err}); run: pip install helm-python-sdk==0.2.2",
          file=sys.stderr)
    sys.exit(3)

LOOKUP = re.compile(r'\blookup\s+("[^"]*")\s+("[^"]*")\s+(\S+)\s+(\S+?)(\s*-?\}\}|\s*\))')

LOOKUP_DEFINE = """{{- define "helmpy.lookup" -}}
{{- $objects := fromJson `%s` -}}
{{- $key := printf "%%s/%%s/%%s/%%s" (index . 0) (index . 1) (index . 2) (index . 3) -}}
{{- index $objects $key | default dict | toJson -}}
{{- end -}}
"""


def prepared(request, scratch):
    """The chart directory to load: the original, or a copy with files/lookup applied."""
    chart = request["chart"]
    files = request.get("files") or {}
    lookup = request.get("lookup")
    if not files and lookup is None:
        return chart
    copy = os.path.join(scratch, os.path.basename(os.path.normpath(chart)))
    shutil.copytree(chart, copy)
    for rel, text in files.items():
        path = os.path.join(copy, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
    if lookup is not None:
        objects = json.dumps(lookup)
        if "`" in objects:
            raise ValueError("lookup objects must not contain a backquote")
        templates = os.path.join(copy, "templates")
        for name in os.listdir(templates):
            path = os.path.join(templates, name)
            if not os.path.isfile(path):
                continue
            with open(path, encoding="utf-8") as src:
                text = src.read()
            new = LOOKUP.sub(
                r'(include "helmpy.lookup" (list \1 \2 \3 \4) | fromJson)\5', text)
            if new != text:
                with open(path, "w", encoding="utf-8") as out:
                    out.write(new)
        with open(os.path.join(templates, "_helmpy_lookup.tpl"), "w", encoding="utf-8") as out:
            out.write(LOOKUP_DEFINE % objects)
    return copy


def render(request, scratch):
    path = prepared(request, scratch)
    values = request.get("values") or {}
    with helm.Chart.load(path) as chart:
        # Helm checks values against values.schema.json while rendering; do it first so a
        # refusal names the schema rather than a template.
        chart.validate_schema(chart.merge_values(values))
        rendered = chart.render(values, name=request.get("release", "custody"),
                                namespace=request.get("namespace", "custody"),
                                is_install=True)
    manifests, notes = [], None
    for template in sorted(rendered):
        text = rendered[template]
        if template.endswith("NOTES.txt"):
            notes = text
        else:
            manifests.append({"template": template, "text": text})
    return {"manifests": manifests, "notes": notes}


def lint(request, scratch):
    path = prepared(request, scratch)
    report = helm.lint(path, request.get("values") or {}, strict=True,
                       namespace=request.get("namespace", "custody"))
    findings = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    report["ok"] = not findings and not report.get("errors")
    return report


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ("render", "lint"):
        print(__doc__, file=sys.stderr)
        return 2
    request = json.load(sys.stdin)
    with tempfile.TemporaryDirectory() as scratch:
        try:
            result = (render if sys.argv[1] == "render" else lint)(request, scratch)
        except helm.HelmError as err:
            print(json.dumps({"error": f"{type(err).__name__}: {err}"}), file=sys.stderr)
            return 1
    print(json.dumps(result))
    if sys.argv[1] == "lint" and not result["ok"]:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
