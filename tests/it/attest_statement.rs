//! in-toto Statements v0.1 and v1, and DigestSet subject matching.

use custody::attest::{Statement, StatementError};
use custody::digest::{Algorithm, Digest};
use serde_json::json;

fn parse(v: serde_json::Value) -> Result<Statement, StatementError> {
    Statement::parse(v.to_string().as_bytes())
}

const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[test]
fn parses_v01_and_v1() {
    let v01 = parse(json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "subject": [{"name": "img", "digest": {"sha256": HEX}}],
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "predicate": {"builder": {"id": "x"}}
    }))
    .unwrap();
    assert_eq!(v01.subjects[0].name, "img");
    assert_eq!(v01.predicate["builder"]["id"], "x");
    let v1 = parse(json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"digest": {"sha256": HEX}}],
        "predicateType": "https://example.com/p"
    }))
    .unwrap();
    // v1: name optional, predicate optional (treated as an empty object).
    assert_eq!(v1.subjects[0].name, "");
    assert_eq!(v1.predicate, json!({}));
}

#[test]
fn missing_required_fields_are_named() {
    let base = json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "subject": [{"name": "img", "digest": {"sha256": HEX}}],
        "predicateType": "p",
        "predicate": {}
    });
    for (field, expect) in [
        ("_type", "_type"),
        ("subject", "subject"),
        ("predicateType", "predicateType"),
    ] {
        let mut v = base.clone();
        v.as_object_mut().unwrap().remove(field);
        let err = parse(v).unwrap_err();
        assert_eq!(err, StatementError::Missing(expect.to_owned()), "{field}");
        assert!(err.to_string().contains(expect));
    }
    // The predicate is optional (absent or null reads as an empty object).
    let mut no_predicate = base.clone();
    no_predicate.as_object_mut().unwrap().remove("predicate");
    assert_eq!(parse(no_predicate).unwrap().predicate, json!({}));
    let mut null_predicate = base.clone();
    null_predicate["predicate"] = serde_json::Value::Null;
    assert_eq!(parse(null_predicate).unwrap().predicate, json!({}));
    let mut no_name = base.clone();
    no_name["subject"][0]
        .as_object_mut()
        .unwrap()
        .remove("name");
    assert_eq!(
        parse(no_name).unwrap_err(),
        StatementError::Missing("subject[0].name".into())
    );
    let mut no_digest = base.clone();
    no_digest["subject"][0]
        .as_object_mut()
        .unwrap()
        .remove("digest");
    assert_eq!(
        parse(no_digest).unwrap_err(),
        StatementError::Missing("subject[0].digest".into())
    );
}

#[test]
fn statement_with_no_subject_is_rejected() {
    let err = parse(json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [],
        "predicateType": "p"
    }))
    .unwrap_err();
    assert!(err.to_string().contains("subject"), "{err}");
    let err = parse(json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "x", "digest": {}}],
        "predicateType": "p"
    }))
    .unwrap_err();
    assert!(err.to_string().contains("subject[0].digest"), "{err}");
}

#[test]
fn wrong_types_and_unknown_versions_are_rejected() {
    for bad in [
        json!([]),
        json!({"_type": "https://in-toto.io/Statement/v2", "subject": [{"digest": {"sha256": HEX}}], "predicateType": "p"}),
        json!({"_type": 1, "subject": [{"digest": {"sha256": HEX}}], "predicateType": "p"}),
        json!({"_type": "https://in-toto.io/Statement/v1", "subject": {"digest": {}}, "predicateType": "p"}),
        json!({"_type": "https://in-toto.io/Statement/v1", "subject": [{"digest": {"sha256": 5}}], "predicateType": "p"}),
        json!({"_type": "https://in-toto.io/Statement/v1", "subject": [{"digest": {"sha256": HEX}}], "predicateType": ""}),
        json!({"_type": "https://in-toto.io/Statement/v1", "subject": [{"digest": {"sha256": HEX}}], "predicateType": "p", "predicate": []}),
    ] {
        assert!(parse(bad.clone()).is_err(), "{bad}");
    }
    assert!(Statement::parse(b"not json").is_err());
}

fn with_digest(digest: serde_json::Value) -> Statement {
    parse(json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "other", "digest": {"sha256": "00".repeat(32)}}, {"name": "img", "digest": digest}],
        "predicateType": "p"
    }))
    .unwrap()
}

#[test]
fn subject_matching_follows_digestset_rules() {
    let image = Digest::new(Algorithm::Sha256, HEX).unwrap();
    // Any subject, matched by the image's algorithm.
    assert!(with_digest(json!({"sha256": HEX})).matches_digest(&image));
    assert_eq!(
        with_digest(json!({"sha256": HEX})).matching_subjects(&image)[0].name,
        "img"
    );
    // Another algorithm present alongside still matches on sha256.
    assert!(with_digest(json!({"sha512": "ab".repeat(64), "sha256": HEX})).matches_digest(&image));
    // Another image's digest: no match.
    assert!(!with_digest(json!({"sha256": "11".repeat(32)})).matches_digest(&image));
    // No algorithm in common: no match, never success.
    assert!(!with_digest(json!({"sha512": "ab".repeat(64)})).matches_digest(&image));
    assert!(!with_digest(json!({"gitCommit": HEX})).matches_digest(&image));
    // Uppercase hex is not the lowercase digest.
    assert!(!with_digest(json!({"sha256": HEX.to_uppercase()})).matches_digest(&image));
    // The name is not a binding: a subject named like the image with another digest fails.
    let named = parse(json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": format!("registry.example/app@sha256:{HEX}"), "digest": {"sha256": "22".repeat(32)}}],
        "predicateType": "p"
    }))
    .unwrap();
    assert!(!named.matches_digest(&image));
    // sha512 images match sha512 subjects.
    let big = Digest::compute(Algorithm::Sha512, b"x");
    assert!(with_digest(json!({"sha512": big.hex()})).matches_digest(&big));
    assert!(!with_digest(json!({"sha256": HEX})).matches_digest(&big));
}
