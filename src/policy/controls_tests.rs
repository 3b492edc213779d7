use super::*;
use crate::category::Category;
use crate::digest::Digest;
use crate::engine::EvidenceSummary;
use crate::policy::Mode;

fn bundle(name: &str, controls: &str) -> Bundle {
    let spec = format!(
        "apiVersion: custody.dev/v1\nkind: Policy\nname: {name}\ncontrols:\n{controls}"
    );
    let rego = format!(
        "package custody.{}\ndeny contains \"x\" if false\n",
        name.replace('-', "_")
    );
    let files = std::collections::BTreeMap::from([
        ("policy.yaml".to_owned(), spec),
        ("policy.rego".to_owned(), rego),
    ]);
    Bundle::from_files(name, &files).unwrap()
}

fn result(policy: &str, allowed: bool, msg: &str) -> PolicyResult {
    PolicyResult {
        policy: policy.into(),
        mode: Mode::Warn,
        allowed,
        category: (!allowed).then_some(Category::PolicyDenied),
        messages: if allowed { vec![] } else { vec![msg.into()] },
        warnings: vec![],
    }
}

fn item(policy: &str, pt: &str) -> VerifiedItem {
    VerifiedItem {
        predicate_type: pt.into(),
        subject_digest: Digest::sha256(b"image").to_string(),
        source: "referrers-api".into(),
        blob_digest: Digest::sha256(pt.as_bytes()).to_string(),
        signers: vec!["ci/demo-ci".into()],
        identities: vec!["ab".repeat(32)],
        manifest_digest: Some(Digest::sha256(b"manifest").to_string()),
        created: Some("2026-11-20T10:00:00Z".into()),
        policies: vec![policy.into()],
    }
}

fn verdict(results: Vec<PolicyResult>, verified: Vec<VerifiedItem>) -> ImageVerdict {
    ImageVerdict {
        image: "registry.example/app:1.0".into(),
        containers: vec![],
        digest: Some(Digest::sha256(b"image")),
        results,
        evidence: EvidenceSummary {
            verified,
            ..EvidenceSummary::default()
        },
        controls: vec![],
    }
}

fn library() -> Vec<Bundle> {
    vec![
        bundle("vuln", "- {id: C-02, title: Dependencies scanned}\n"),
        bundle("prov", "- {id: C-01, title: Signed builds}\n"),
        bundle("layout", "- {id: C-01, title: Other title}\n"),
        bundle("promo", "- {id: C-04, title: Promotions approved}\n"),
    ]
}

#[test]
fn catalogue_merges_ids_across_policies_in_id_order() {
    let c = catalogue(&library());
    let ids: Vec<&str> = c.iter().map(|s| s.control.id.as_str()).collect();
    assert_eq!(ids, ["C-01", "C-02", "C-04"]);
    assert_eq!(c[0].policies, ["layout", "prov"]);
    // The first declaring policy by name gives the title.
    assert_eq!(c[0].control.title, "Other title");
}

#[test]
fn outcomes_cite_evidence_and_give_reasons() {
    let c = catalogue(&library());
    let v = verdict(
        vec![
            result("prov", true, ""),
            result("vuln", false, "the newest vulnerability scan is 9 days old"),
        ],
        vec![
            item("prov", "https://slsa.dev/provenance/v1"),
            item("vuln", "https://in-toto.io/attestation/vulns/v0.1"),
        ],
    );
    let o = outcomes(&c, &v);
    assert_eq!(o.len(), 3);
    // C-01: prov passed, layout does not apply; applicable policies decide.
    assert_eq!(o[0].status, ControlStatus::Satisfied);
    assert_eq!(o[0].reason, None);
    assert_eq!(o[0].evidence.len(), 1);
    let cite = &o[0].evidence[0];
    assert_eq!(cite.predicate_type, "https://slsa.dev/provenance/v1");
    assert_eq!(cite.signer, "ab".repeat(32));
    assert!(cite.source.starts_with("referrers-api sha256:"), "{}", cite.source);
    assert_eq!(cite.created.as_deref(), Some("2026-11-20T10:00:00Z"));
    // C-02 failed (even in warn mode), citing the stale scan and the policy's words.
    assert_eq!(o[1].status, ControlStatus::Failed);
    assert_eq!(o[1].evidence.len(), 1);
    let reason = o[1].reason.as_deref().unwrap();
    assert!(reason.contains("vuln [policy-denied]: the newest vulnerability scan is 9 days old"), "{reason}");
    // C-04: its policy did not apply.
    assert_eq!(o[2].status, ControlStatus::NotApplicable);
    assert!(o[2].evidence.is_empty());
    assert!(o[2].reason.as_deref().unwrap().contains("promo"));
}

#[test]
fn engine_failures_fail_every_control() {
    let c = catalogue(&library());
    let mut r = result("custody", false, "no decision within the 8s deadline");
    r.category = Some(Category::Timeout);
    let o = outcomes(&c, &verdict(vec![r], vec![]));
    assert!(o.iter().all(|x| x.status == ControlStatus::Failed));
    assert!(o[0].reason.as_deref().unwrap().contains("not evaluated: custody [timeout]"));
}

#[test]
fn statuses_serialise_as_documented() {
    let json = serde_json::to_string(&[
        ControlStatus::Satisfied,
        ControlStatus::Failed,
        ControlStatus::NotApplicable,
    ])
    .unwrap();
    assert_eq!(json, r#"["satisfied","failed","not-applicable"]"#);
}

#[test]
fn declarations_are_validated() {
    let ok = Control {
        id: "C-02".into(),
        title: "Scanned".into(),
    };
    assert!(validate_all(std::slice::from_ref(&ok)).is_ok());
    let err = validate_all(&[ok.clone(), ok.clone()]).unwrap_err();
    assert!(err.contains("declared twice"), "{err}");
    let blank = Control {
        id: String::new(),
        title: "x".into(),
    };
    assert!(validate_all(&[blank]).is_err());
    let spaced = Control {
        id: "C 02".into(),
        title: "x".into(),
    };
    assert!(validate_all(&[spaced]).is_err());
    let untitled = Control {
        id: "C-02".into(),
        title: " ".into(),
    };
    assert!(validate_all(&[untitled]).is_err());
    let files = std::collections::BTreeMap::from([
        (
            "policy.yaml".to_owned(),
            "apiVersion: custody.dev/v1\nkind: Policy\nname: p\ncontrols: [{id: C-1, title: a}, {id: C-1, title: b}]\n".to_owned(),
        ),
        ("p.rego".to_owned(), "package custody.p\n".to_owned()),
    ]);
    let e = Bundle::from_files("p", &files).unwrap_err().to_string();
    assert!(e.contains("declared twice"), "{e}");
}

#[test]
fn annotation_is_compact_and_bounded() {
    let c = catalogue(&library());
    let mut v = verdict(vec![result("prov", true, "")], vec![]);
    v.controls = outcomes(&c, &v);
    let one = annotation(std::slice::from_ref(&v)).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&one).unwrap();
    let key = format!("registry.example/app:1.0@{}", Digest::sha256(b"image").short());
    assert_eq!(doc[&key]["C-01"], "satisfied");
    assert_eq!(doc[&key]["C-04"], "not-applicable");
    let many: Vec<ImageVerdict> = (0..200)
        .map(|i| {
            let mut x = v.clone();
            x.image = format!("registry.example/app-{i}:1.0");
            x
        })
        .collect();
    let text = annotation(&many).unwrap();
    assert!(text.len() <= MAX_ANNOTATION_BYTES, "{}", text.len());
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let omitted = doc["…"].as_u64().unwrap() as usize;
    assert_eq!(doc.as_object().unwrap().len() - 1 + omitted, 200);
    assert!(annotation(&[verdict(vec![], vec![])]).is_none());
}
