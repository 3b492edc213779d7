//! Controls and the evidence report end to end, against a real registry (ferro-oci-server
//! with the Referrers API): control outcomes and the evidence they cite in `custody
//! verify -o json` and `custody report`; a scan that ages past `maxAgeDays` (satisfied at
//! one `--time`, C-02 failed a week later); the `EvidenceReport` JSON shape; Markdown; the
//! HTML page rendered by headless Chromium; `--kubernetes`'s Pod listing over a kube
//! client whose transport serves a PodList built from `kubectl create … --dry-run=client`;
//! and the webhook's decision log and `controls` audit annotation.

use crate::support;
use custody::k8s::testing::{Answer, FakeApiserver};

use custody::digest::Digest;
use custody::registry::{Artifact, Credentials, DSSE_MEDIA_TYPE};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{TestRegistry, push_layout, signed_envelope, single_platform, statement};

const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
const SPDX: &str = "https://spdx.dev/Document";
const VULNS: &str = "https://in-toto.io/attestation/vulns/v0.1";
/// When the scan finished; `--time` is set relative to it.
const SCANNED: &str = "2026-11-02T09:00:00Z";
const DAY_AFTER: &str = "2026-11-03T09:00:00Z";
const WEEK_AND_TWO_DAYS_AFTER: &str = "2026-11-11T09:00:00Z";
/// The referrer annotation of the SBOM (it records no time of its own).
const SBOM_CREATED: &str = "2026-11-02T08:30:00Z";

fn scan() -> Value {
    json!({
        "scanner": {"uri": "pkg:github/aquasecurity/trivy@0.55.0", "result": [
            {"id": "CVE-2025-0001", "severity": [{"method": "nvd", "score": "MEDIUM"}]}
        ]},
        "metadata": {"scanStartedOn": "2026-11-02T08:59:00Z", "scanFinishedOn": SCANNED}
    })
}

fn sbom() -> Value {
    json!({"spdxVersion": "SPDX-2.3", "name": "app", "packages": [{"name": "openssl", "versionInfo": "3.0.15"}]})
}

/// One image in the registry and what is attached to it.
struct Pushed {
    image: String,
    digest: Digest,
    /// Predicate type → blob digest of its envelope.
    blobs: BTreeMap<String, String>,
}

/// Pushes a fresh image and attaches `attach` (predicate type, predicate, created
/// annotation) signed with the CI key.
fn push(
    rt: &tokio::runtime::Runtime,
    reg: &TestRegistry,
    name: &str,
    attach: &[(&str, Value, Option<&str>)],
) -> Pushed {
    let tag = format!("shop/{name}:1.0");
    let digest = push_layout(reg, &single_platform(&format!("{name} {}", reg.host)), &tag);
    let client = reg.client();
    let key = ci_key();
    let mut blobs = BTreeMap::new();
    for (pt, predicate, created) in attach {
        let data = signed_envelope(&key, &statement(&digest, pt, predicate.clone()));
        blobs.insert(pt.to_string(), Digest::sha256(&data).to_string());
        let mut annotations =
            BTreeMap::from([("in-toto.io/predicate-type".to_owned(), pt.to_string())]);
        if let Some(t) = created {
            annotations.insert("org.opencontainers.image.created".into(), t.to_string());
        }
        let artifact = Artifact {
            artifact_type: DSSE_MEDIA_TYPE.to_owned(),
            media_type: DSSE_MEDIA_TYPE.to_owned(),
            data,
            annotations,
        };
        rt.block_on(support::attest::attach(
            &client,
            &reg.image(&tag),
            &digest,
            &artifact,
        ));
    }
    Pushed {
        image: format!("{}/{tag}", reg.host),
        digest,
        blobs,
    }
}

/// The four library policies that declare C-01..C-04, copied into a fresh directory.
fn control_policies() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for p in [
        "require-provenance",
        "vulnerability-gate",
        "require-sbom",
        "require-promotion",
    ] {
        support::fixtures::copy_files(&root().join("policies").join(p), &dir.path().join(p));
    }
    dir
}

use support::cli::run as custody;
use support::fixtures::{ci_key, provenance, root};

struct Scene {
    rt: tokio::runtime::Runtime,
    reg: TestRegistry,
    policies: tempfile::TempDir,
    good: Pushed,
    bare: Pushed,
}

fn scene() -> Scene {
    support::init_crypto();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reg = TestRegistry::ferro();
    let good = push(
        &rt,
        &reg,
        "api",
        &[
            (SLSA_V1, provenance(), None),
            (SPDX, sbom(), Some(SBOM_CREATED)),
            (VULNS, scan(), None),
        ],
    );
    let bare = push(&rt, &reg, "legacy", &[]);
    Scene {
        rt,
        reg,
        policies: control_policies(),
        good,
        bare,
    }
}

impl Scene {
    fn policies(&self) -> String {
        self.policies.path().display().to_string()
    }

    /// `custody COMMAND IMAGES…` with the scene's policies and registry, in namespace
    /// `shop`, at `time`, printing `format`, plus `extra`.
    fn run(
        &self,
        command: &str,
        images: &[&str],
        time: &str,
        format: &str,
        extra: &[&str],
    ) -> (i32, String, String) {
        let policies = self.policies();
        let mut args = vec![command];
        args.extend_from_slice(images);
        args.extend([
            "--policies",
            &policies,
            "--insecure-registry",
            &self.reg.host,
            "--namespace",
            "shop",
            "--time",
            time,
            "-o",
            format,
        ]);
        args.extend_from_slice(extra);
        custody(&args)
    }

    /// `custody verify -o json` of the good image at `time`, as the report sees it.
    fn verify_json(&self, time: &str) -> (i32, String, String) {
        self.run("verify", &[&self.good.image], time, "json", &[])
    }

    /// `custody report` over both images (and the good one again by digest).
    fn report(&self, time: &str, format: &str, file: Option<&Path>) -> (i32, String, String) {
        let by_digest = format!("{}/shop/api@{}", self.reg.host, self.good.digest);
        let images = [self.good.image.as_str(), &by_digest, &self.bare.image];
        match file {
            Some(f) => {
                let file = f.display().to_string();
                self.run("report", &images, time, format, &["--output-file", &file])
            }
            None => self.run("report", &images, time, format, &[]),
        }
    }
}

fn image<'a>(doc: &'a Value, digest: &Digest) -> &'a Value {
    doc["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["digest"] == digest.to_string())
        .unwrap_or_else(|| panic!("{digest} not in {doc:#}"))
}

fn control<'a>(img: &'a Value, id: &str) -> &'a Value {
    img["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {img:#}"))
}

fn cites<'a>(c: &'a Value, predicate_type: &str) -> &'a Value {
    c["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["predicateType"] == predicate_type)
        .unwrap_or_else(|| panic!("no {predicate_type} cited in {c:#}"))
}

#[test]
fn controls_cite_their_evidence_and_a_scan_ages_out_of_c02() {
    let s = scene();
    let key_id = ci_key().public_key().key_id().to_owned();

    // Admitted the day after the scan, with every control's outcome in the VerifyResult.
    let (code, out, err) = s.verify_json(DAY_AFTER);
    assert_eq!(code, 0, "{out}\n{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let img = &doc["images"][0];
    for (id, pt) in [("C-01", SLSA_V1), ("C-02", VULNS), ("C-03", SPDX)] {
        let c = control(img, id);
        assert_eq!(c["status"], "satisfied", "{id}: {c:#}");
        assert!(c.get("reason").is_none(), "{c:#}");
        let e = cites(c, pt);
        assert_eq!(
            e["digest"], s.good.blobs[pt],
            "{id} cites the blob it verified"
        );
        assert_eq!(e["signer"], key_id.as_str());
        let source = e["source"].as_str().unwrap();
        assert!(source.starts_with("referrers-api sha256:"), "{source}");
        // Only the control's own evidence.
        assert_eq!(c["evidence"].as_array().unwrap().len(), 1, "{c:#}");
    }
    assert_eq!(
        control(img, "C-01")["title"],
        "Only signed builds may be deployed"
    );
    assert_eq!(
        control(img, "C-01")["policies"],
        json!(["require-provenance"])
    );
    // The scan's own (signed) finish time; the SBOM's from its referrer annotation.
    assert_eq!(cites(control(img, "C-02"), VULNS)["created"], SCANNED);
    assert_eq!(cites(control(img, "C-03"), SPDX)["created"], SBOM_CREATED);
    let c04 = control(img, "C-04");
    assert_eq!(c04["status"], "not-applicable", "{c04:#}");
    assert!(
        c04["reason"]
            .as_str()
            .unwrap()
            .contains("require-promotion"),
        "{c04:#}"
    );

    // Nine days after the scan: denied by the vulnerability gate, C-02 failed with the
    // policy's words and still citing the (stale) scan; C-01 and C-03 unaffected.
    let (code, out, err) = s.verify_json(WEEK_AND_TWO_DAYS_AFTER);
    assert_eq!(code, 1, "{out}\n{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let img = &doc["images"][0];
    let c02 = control(img, "C-02");
    assert_eq!(c02["status"], "failed", "{c02:#}");
    let reason = c02["reason"].as_str().unwrap();
    assert!(
        reason.contains("vulnerability-gate [policy-denied]: the newest vulnerability scan is 9 days old (limit 7 days)"),
        "{reason}"
    );
    assert_eq!(cites(c02, VULNS)["created"], SCANNED);
    assert_eq!(control(img, "C-01")["status"], "satisfied");
    assert_eq!(control(img, "C-03")["status"], "satisfied");

    // The report says the same, and for the image without evidence why each control failed.
    let (code, out, err) = s.report(WEEK_AND_TWO_DAYS_AFTER, "json", None);
    assert_eq!(code, 1, "a failed control exits 1: {out}\n{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        control(image(&doc, &s.good.digest), "C-02")["status"],
        "failed"
    );
    let bare = image(&doc, &s.bare.digest);
    for id in ["C-01", "C-02", "C-03"] {
        let c = control(bare, id);
        assert_eq!(c["status"], "failed", "{c:#}");
        assert!(c["evidence"].as_array().unwrap().is_empty());
        assert!(
            c["reason"].as_str().unwrap().contains("[no-attestation]"),
            "{c:#}"
        );
    }
    let (code, out, _) = s.report(DAY_AFTER, "json", None);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(code, 1, "the bare image still fails");
    assert_eq!(
        control(image(&doc, &s.good.digest), "C-02")["status"],
        "satisfied"
    );
}

#[test]
fn the_report_document_has_the_documented_shape() {
    let s = scene();
    let (_, out, err) = s.report(WEEK_AND_TWO_DAYS_AFTER, "json", None);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_eq!(doc["apiVersion"], "custody.dev/v1alpha1");
    assert_eq!(doc["kind"], "EvidenceReport");
    let m = &doc["metadata"];
    assert_eq!(m["evaluationTime"], WEEK_AND_TWO_DAYS_AFTER);
    assert_eq!(m["source"], "images");
    assert_eq!(m["namespace"], "shop");
    assert!(m["generatedAt"].as_str().unwrap().ends_with('Z'));
    assert!(m["custodyVersion"].is_string());
    let names: Vec<&str> = doc["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "require-promotion",
            "require-provenance",
            "require-sbom",
            "vulnerability-gate"
        ]
    );
    assert_eq!(doc["policies"][3]["controls"], json!(["C-02"]));
    assert_eq!(doc["policies"][3]["mode"], "enforce");
    // Three references, two digests: the tag and the digest reference fold into one image.
    assert_eq!(
        doc["summary"],
        json!({"images": 2, "admitted": 0, "denied": 2})
    );
    let good = image(&doc, &s.good.digest);
    assert_eq!(
        good["references"],
        json!([
            s.good.image,
            format!("{}/shop/api@{}", s.reg.host, s.good.digest)
        ])
    );
    assert_eq!(good["namespace"], "shop");
    assert_eq!(good["workloads"], json!([]));
    assert_eq!(good["admitted"], false);
    assert!(
        good["failures"][0]
            .as_str()
            .unwrap()
            .starts_with("vulnerability-gate [policy-denied]")
    );
    let expected = [
        ("C-01", "Only signed builds may be deployed", 1, 1, 0),
        ("C-02", "Dependencies scanned for known CVEs", 0, 2, 0),
        ("C-03", "An SBOM for every image", 1, 1, 0),
        (
            "C-04",
            "Promotions require approval and traceability",
            0,
            0,
            2,
        ),
    ];
    let controls = doc["controls"].as_array().unwrap();
    assert_eq!(controls.len(), 4);
    for (c, (id, title, ok, failed, na)) in controls.iter().zip(expected) {
        assert_eq!(
            c,
            &json!({"id": id, "title": title, "policies": c["policies"].clone(),
                    "satisfied": ok, "failed": failed, "notApplicable": na, "images": 2}),
        );
    }
    let keys: Vec<&String> = good.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "image",
            "references",
            "digest",
            "namespace",
            "workloads",
            "admitted",
            "failures",
            "controls"
        ]
    );
    let ev = &control(good, "C-02")["evidence"][0];
    let keys: Vec<&String> = ev.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["predicateType", "digest", "signer", "source", "created"]
    );
}

#[test]
fn markdown_report_has_summary_lines_matrix_and_reasons() {
    let s = scene();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.md");
    let (code, out, err) = s.report(WEEK_AND_TWO_DAYS_AFTER, "markdown", Some(&file));
    assert_eq!(code, 1, "{err}");
    assert!(
        !err.contains("custody report:"),
        "no progress when standard error is not a terminal: {err}"
    );
    assert!(
        out.is_empty(),
        "--output-file writes nothing to stdout: {out}"
    );
    let md = std::fs::read_to_string(&file).unwrap();
    for line in [
        "# Evidence report",
        "- C-01: 1 of 2 images satisfied (1 failed) — Only signed builds may be deployed",
        "- C-02: 0 of 2 images satisfied (2 failed) — Dependencies scanned for known CVEs",
        "- C-04: 0 of 2 images satisfied (2 not applicable) — Promotions require approval and traceability",
        "| image | C-01 | C-02 | C-03 | C-04 |",
        "|---|---|---|---|---|",
    ] {
        assert!(md.contains(line), "missing {line:?} in\n{md}");
    }
    let row = format!("| {} ({}", s.bare.image, &s.bare.digest.to_string()[..19]);
    let bare_row = md
        .lines()
        .find(|l| l.starts_with(&row))
        .unwrap_or_else(|| panic!("{row} in\n{md}"));
    assert!(
        bare_row.ends_with("| ✗ failed | ✗ failed | ✗ failed | – not-applicable |"),
        "{bare_row}"
    );
    assert!(
        md.contains("the newest vulnerability scan is 9 days old"),
        "{md}"
    );
    assert!(md.contains(&format!("created {SCANNED}")), "{md}");
}

fn chromium() -> PathBuf {
    for c in ["chromium", "chromium-browser"] {
        if let Ok(out) = Command::new("which").arg(c).output()
            && out.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        }
    }
    panic!("chromium is not installed: run scripts/setup (Debian package chromium)");
}

fn headless(page: &Path, extra: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            "--timeout=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let s = scene();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let (code, _, err) = s.report(WEEK_AND_TWO_DAYS_AFTER, "html", Some(&page));
    assert_eq!(code, 1, "{err}");
    let html = std::fs::read_to_string(&page).unwrap();
    for external in ["<script", "<link", " src=", "url(", "@import"] {
        assert!(
            !html.contains(external),
            "the page must be self-contained: {external}"
        );
    }
    assert!(html.contains("@media print"));

    // The DOM Chromium built: the summary lines, the matrix symbols and words, reasons.
    let dom = String::from_utf8(headless(&page, &["--dump-dom"]).stdout).unwrap();
    for text in [
        "C-01: 1 of 2 images satisfied (1 failed)",
        "C-02: 0 of 2 images satisfied (2 failed)",
        "C-03: 1 of 2 images satisfied (1 failed)",
        "C-04: 0 of 2 images satisfied (2 not applicable)",
        "<span class=\"sym\">✓</span>satisfied",
        "<span class=\"sym\">✗</span>failed",
        "<span class=\"sym\">–</span>not applicable",
        "the newest vulnerability scan is 9 days old (limit 7 days); rescan the image",
        "no verified SLSA provenance",
    ] {
        assert!(dom.contains(text), "rendered page lacks {text:?}");
    }
    let rows = dom.matches("<td class=\"img\"").count();
    assert_eq!(rows, 2, "one matrix row per image digest");

    // The screenshot (committed as docs/images/report.png when asked to).
    let shot = if std::env::var_os("CUSTODY_WRITE_SCREENSHOT").is_some() {
        root().join("docs/images/report.png")
    } else {
        dir.path().join("report.png")
    };
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&shot);
    headless(
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,900",
        ],
    );
    // It prints (the print stylesheet lays it out for A4 landscape).
    let pdf_path = dir.path().join("report.pdf");
    headless(
        &page,
        &[
            &format!("--print-to-pdf={}", pdf_path.display()),
            "--no-pdf-header-footer",
        ],
    );
    let pdf = std::fs::read(&pdf_path).expect("chromium printed the page");
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    assert!(
        pdf.len() > 10_000,
        "an empty print is tiny: {} bytes",
        pdf.len()
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 20_000,
        "a blank page would be tiny: {} bytes",
        png.len()
    );
}

/// A Pod as the apiserver stores it, from `kubectl create deployment --dry-run=client`'s
/// template: owned by a ReplicaSet, with the kubelet's status naming the running digest.
fn pod(namespace: &str, deployment: &str, image: &str, running: Option<&Digest>) -> Value {
    let out = Command::new("kubectl")
        .args([
            "create",
            "deployment",
            deployment,
            "--image",
            image,
            "-n",
            namespace,
        ])
        .args(["--dry-run=client", "-o", "json"])
        .output()
        .expect("kubectl (scripts/setup installs kubernetes-client)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    let template = &d["spec"]["template"];
    let container = template["spec"]["containers"][0]["name"].clone();
    let rs = format!("{deployment}-6d4cf56db6");
    let mut p = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("{rs}-x7k2p"), "namespace": namespace,
            "labels": template["metadata"]["labels"].clone(),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                "uid": "7c1b0c52-0a43-4c1e-9d1f-0d7e3f1f5a11", "controller": true, "blockOwnerDeletion": true}],
            "uid": format!("uid-{deployment}"), "resourceVersion": "4711",
        },
        "spec": template["spec"].clone(),
        "status": {"phase": "Running"},
    });
    if let Some(d) = running {
        // The kubelet reports the repository digest of what it pulled.
        let repo = custody::registry::ImageRef::parse(image).unwrap().name();
        p["status"]["containerStatuses"] = json!([{
            "name": container, "image": image, "imageID": format!("{repo}@{d}"),
            "ready": true, "restartCount": 0, "started": true,
            "state": {"running": {"startedAt": "2026-11-02T10:00:00Z"}}, "lastState": {},
        }]);
    }
    p
}

/// A fake API server answering Pod and Namespace LISTs with `pods` and `namespaces`.
fn kube_api(pods: Vec<Value>, namespaces: Vec<Value>) -> FakeApiserver {
    FakeApiserver::new(move |req| {
        let path = req.uri.split('?').next().unwrap_or_default();
        if path.ends_with("/pods") {
            let ns = path
                .strip_prefix("/api/v1/namespaces/")
                .and_then(|r| r.strip_suffix("/pods"));
            let items: Vec<&Value> = pods
                .iter()
                .filter(|p| ns.is_none_or(|n| p["metadata"]["namespace"] == n))
                .collect();
            return Answer::json(
                200,
                &json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "4712"}, "items": items}),
            );
        }
        if path == "/api/v1/namespaces" {
            return Answer::json(
                200,
                &json!({"apiVersion": "v1", "kind": "NamespaceList", "metadata": {"resourceVersion": "4712"}, "items": namespaces}),
            );
        }
        path.strip_prefix("/api/v1/namespaces/")
            .and_then(|name| namespaces.iter().find(|n| n["metadata"]["name"] == name))
            .map_or_else(|| Answer::not_found(path), |n| Answer::json(200, n))
    })
}

fn namespace(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
}

#[test]
fn running_pods_are_reported_by_the_digest_they_run() {
    let s = scene();
    s.rt.block_on(running_pods(&s));
}

async fn running_pods(s: &Scene) {
    let host = s.reg.host.clone();
    let pods = vec![
        // Two Deployments run the good image: one by tag (the kubelet reports the digest).
        pod("shop", "api", &s.good.image, Some(&s.good.digest)),
        pod(
            "shop",
            "api-canary",
            &format!("{host}/shop/api@{}", s.good.digest),
            Some(&s.good.digest),
        ),
        // Not started yet: no status, checked by its spec reference.
        pod("shop", "legacy", &s.bare.image, None),
        // A production namespace: require-promotion applies there (and fails: no promotion).
        pod("payments", "api", &s.good.image, Some(&s.good.digest)),
    ];
    let namespaces = vec![
        namespace("shop", json!({"team": "shop"})),
        namespace("payments", json!({"custody.dev/environment": "production"})),
    ];
    let api = kube_api(pods, namespaces);
    let client = api.client("default");

    let running = custody::k8s::pods::running_containers(&client, None)
        .await
        .unwrap();
    assert_eq!(running.len(), 4);
    assert_eq!(running[0].owner_kind, "ReplicaSet");
    assert_eq!(running[0].owner_name, "api-6d4cf56db6");
    assert_eq!(running[0].container, "api");
    assert_eq!(
        running[0].image,
        format!("{host}/shop/api@{}", s.good.digest)
    );
    assert_eq!(
        running[2].image, s.bare.image,
        "no status: the spec's reference"
    );
    let labels = custody::k8s::pods::namespace_labels(&client, None)
        .await
        .unwrap();
    let targets = custody::report::collect::from_running(running, &labels);
    assert_eq!(
        targets.len(),
        3,
        "the two shop pods of one digest are one target"
    );

    let store = custody::policy::PolicyStore::new();
    store.load_dir(s.policies.path()).unwrap();
    let engine = custody::engine::Engine::new(
        std::sync::Arc::new(s.reg.client()),
        store.clone(),
        custody::engine::EngineConfig::default(),
    );
    let time: chrono::DateTime<chrono::Utc> = DAY_AFTER.parse().unwrap();
    let opts = custody::report::EvaluateOptions {
        time: Some(time),
        credentials: Credentials::anonymous(),
        deadline: std::time::Duration::from_secs(30),
        concurrency: 2,
    };
    let calls = std::sync::Mutex::new(Vec::new());
    let progress = |done: usize, total: usize| calls.lock().unwrap().push((done, total));
    let evaluated = custody::report::evaluate(&engine, targets, &opts, &progress).await;
    let mut calls = calls.into_inner().unwrap();
    calls.sort();
    assert_eq!(calls, [(1, 3), (2, 3), (3, 3)]);
    let bundles: Vec<_> = store.snapshot().bundles().into_iter().cloned().collect();
    let scope = custody::report::Scope {
        source: "kubernetes".into(),
        namespace: None,
        time,
    };
    let report = custody::report::build(&bundles, evaluated, &scope);
    assert_eq!(report.images.len(), 3, "{report:#?}");
    let shop = &report.images[0];
    assert_eq!(shop.namespace, "shop");
    let workloads: Vec<String> = shop.workloads.iter().map(|w| w.label()).collect();
    assert_eq!(
        workloads,
        [
            "shop/ReplicaSet/api-6d4cf56db6 (api)",
            "shop/ReplicaSet/api-canary-6d4cf56db6 (api)"
        ]
    );
    let status = |i: &custody::report::ImageEntry, id: &str| i.control(id).unwrap().status.as_str();
    assert_eq!(status(shop, "C-01"), "satisfied");
    assert_eq!(status(shop, "C-02"), "satisfied");
    assert_eq!(status(shop, "C-04"), "not-applicable");
    let legacy = &report.images[1];
    assert_eq!(legacy.image, s.bare.image);
    assert_eq!(status(legacy, "C-01"), "failed");
    let prod = &report.images[2];
    assert_eq!(prod.namespace, "payments");
    assert_eq!(status(prod, "C-01"), "satisfied");
    assert_eq!(status(prod, "C-04"), "failed", "{prod:#?}");
    assert_eq!(
        report.controls[3].line(),
        "C-04: 0 of 3 images satisfied (1 failed, 2 not applicable)"
    );

    // `--namespace` lists only that namespace's Pods and reads only its labels.
    let only = custody::k8s::pods::running_containers(&client, Some("payments"))
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
    let labels = custody::k8s::pods::namespace_labels(&client, Some("payments"))
        .await
        .unwrap();
    assert_eq!(labels.len(), 1);
    let seen: Vec<String> = api.seen().into_iter().map(|s| s.uri).collect();
    assert!(
        seen[0].starts_with("/api/v1/pods?") && seen[0].contains("limit=500"),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|u| u.starts_with("/api/v1/namespaces/payments/pods?")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|u| u == "/api/v1/namespaces/payments"),
        "{seen:?}"
    );
}

/// `custody serve` decides with today's clock: the scan, weeks old by now, fails C-02,
/// and the decision says so in its audit annotation and its log line.
#[test]
fn webhook_decisions_carry_control_outcomes() {
    use support::Serve;
    use support::reviews::{create, object};
    let s = scene();
    s.rt.block_on(async {
        let serve = Serve::start(s.policies.path(), &["--insecure-registry", &s.reg.host]).await;
        let r = serve.validate(&create(&object("deployment", &s.good.image))).await;
        assert_eq!(r["allowed"], false, "{r}");
        let text = r["auditAnnotations"]["controls"]
            .as_str()
            .unwrap_or_else(|| panic!("no controls annotation: {r}"));
        let annotation: Value = serde_json::from_str(text).unwrap();
        let key = format!("{}@{}", s.good.image, s.good.digest.short());
        assert_eq!(
            annotation,
            json!({key: {"C-01": "satisfied", "C-02": "failed", "C-03": "satisfied", "C-04": "not-applicable"}})
        );
        let log = serve.decisions_at_least(1).await;
        let img = &log[0]["images"][0];
        let c01 = control(img, "C-01");
        assert_eq!(c01["status"], "satisfied");
        assert_eq!(cites(c01, SLSA_V1)["digest"], s.good.blobs[SLSA_V1]);
        let c02 = control(img, "C-02");
        assert!(c02["reason"].as_str().unwrap().contains("days old (limit 7 days)"), "{c02}");
        assert_eq!(cites(c02, VULNS)["created"], SCANNED);
    });
}

/// On a terminal, standard error counts the images done (`script` gives the run a pty).
#[test]
fn progress_is_shown_on_a_terminal_only() {
    let s = scene();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.json");
    let by_digest = format!("{}/shop/api@{}", s.reg.host, s.good.digest);
    let command = format!(
        "{} report {} {} {} --policies {} --insecure-registry {} --namespace shop -o json --output-file {}",
        env!("CARGO_BIN_EXE_custody"),
        s.good.image,
        by_digest,
        s.bare.image,
        s.policies(),
        s.reg.host,
        file.display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("script (util-linux)");
    let tty = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{tty}");
    assert!(tty.contains("custody report: 3/3 images"), "{tty:?}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(doc["summary"]["images"], 2);
}

#[test]
fn kubernetes_without_a_cluster_is_unusable_input() {
    let home = tempfile::tempdir().unwrap();
    let policies = control_policies();
    let out = Command::new(env!("CARGO_BIN_EXE_custody"))
        .args(["report", "--kubernetes", "--policies"])
        .arg(policies.path())
        .env("HOME", home.path())
        .env("KUBECONFIG", home.path().join("no-such-kubeconfig"))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("Kubernetes API"), "{err}");
    // Images and --kubernetes exclude each other; one of them is needed.
    let (code, _, err) = custody(&[
        "report",
        "registry.example/a:1",
        "--kubernetes",
        "--policies",
        "x",
    ]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = custody(&["report", "--policies", "x"]);
    assert_eq!(code, 2, "{err}");
}
