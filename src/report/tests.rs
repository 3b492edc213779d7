use super::*;
use crate::digest::Digest;
use crate::engine::{EvidenceSummary, PolicyResult};
use crate::policy::Mode;
use crate::policy::controls::EvidenceCitation;
use crate::policy::input::NamespaceInfo;

fn outcome(id: &str, status: ControlStatus) -> ControlOutcome {
    ControlOutcome {
        id: id.into(),
        title: format!("title of {id}"),
        status,
        policies: vec!["p".into()],
        evidence: vec![EvidenceCitation {
            predicate_type: "https://in-toto.io/attestation/vulns/v0.1".into(),
            digest: Digest::sha256(b"blob").to_string(),
            signer: "ab".repeat(32),
            source: "referrers-api sha256:00".into(),
            created: Some("2026-11-01T00:00:00Z".into()),
        }],
        reason: (status != ControlStatus::Satisfied).then(|| "scan <too> old & stale".into()),
    }
}

fn evaluated(image: &str, digest: &[u8], c02: ControlStatus) -> Evaluated {
    Evaluated {
        target: Target {
            image: image.into(),
            namespace: NamespaceInfo {
                name: "shop".into(),
                ..NamespaceInfo::default()
            },
            workloads: vec![WorkloadRef {
                namespace: "shop".into(),
                kind: "Deployment".into(),
                name: image.replace([':', '/'], "-"),
                container: "app".into(),
            }],
        },
        verdict: ImageVerdict {
            image: image.into(),
            containers: vec![],
            digest: Some(Digest::sha256(digest)),
            results: vec![PolicyResult {
                policy: "p".into(),
                mode: Mode::Enforce,
                allowed: c02 != ControlStatus::Failed,
                category: None,
                messages: vec![],
                warnings: vec![],
            }],
            evidence: EvidenceSummary::default(),
            controls: vec![outcome("C-02", c02)],
        },
    }
}

fn bundle() -> Bundle {
    let files = std::collections::BTreeMap::from([
        (
            "policy.yaml".to_owned(),
            "apiVersion: custody.dev/v1\nkind: Policy\nname: p\ncontrols: [{id: C-02, title: Scanned}]\n".to_owned(),
        ),
        ("p.rego".to_owned(), "package custody.p\ndeny contains \"x\" if false\n".to_owned()),
    ]);
    Bundle::from_files("p", &files).unwrap()
}

fn report() -> EvidenceReport {
    let scope = Scope {
        source: "images".into(),
        namespace: None,
        time: chrono::Utc::now(),
    };
    build(
        &[bundle()],
        vec![
            evaluated("r.example/a:1", b"a", ControlStatus::Satisfied),
            evaluated("r.example/a:latest", b"a", ControlStatus::Satisfied),
            evaluated("r.example/b:1", b"b", ControlStatus::Failed),
        ],
        &scope,
    )
}

#[test]
fn images_fold_by_digest_and_controls_are_counted() {
    let r = report();
    assert_eq!(r.images.len(), 2);
    assert_eq!(
        r.images[0].references,
        ["r.example/a:1", "r.example/a:latest"]
    );
    assert_eq!(r.images[0].workloads.len(), 2);
    assert_eq!(r.summary.images, 2);
    assert_eq!(r.summary.denied, 1);
    assert_eq!(r.controls.len(), 1);
    assert_eq!(
        r.controls[0].line(),
        "C-02: 1 of 2 images satisfied (1 failed)"
    );
    let doc = serde_json::to_value(&r).unwrap();
    assert_eq!(doc["apiVersion"], REPORT_API_VERSION);
    assert_eq!(doc["kind"], REPORT_KIND);
    assert_eq!(doc["images"][1]["controls"][0]["status"], "failed");
}

#[test]
fn html_is_self_contained_and_escaped() {
    let page = html::render(&report());
    assert!(page.starts_with("<!DOCTYPE html>"));
    for external in [
        "<script",
        "<link",
        "src=",
        "http://",
        "https://fonts",
        "@import",
        "url(",
    ] {
        assert!(!page.contains(external), "{external}");
    }
    assert!(page.contains("scan &lt;too&gt; old &amp; stale"));
    assert!(!page.contains("<too>"));
    assert!(page.contains("✗</span>failed"));
    assert!(page.contains("✓</span>satisfied"));
    assert!(page.contains("@media print"));
}

#[test]
fn markdown_has_the_matrix_and_the_reasons() {
    let md = markdown::render(&report());
    assert!(md.contains("| image | C-02 |"), "{md}");
    assert!(md.contains("✗ failed"), "{md}");
    assert!(
        md.contains("C-02: 1 of 2 images satisfied (1 failed)"),
        "{md}"
    );
    assert!(md.contains("reason: scan \\<too\\> old & stale"), "{md}");
}
