//! `custody verify` end to end against real registries (ferro-oci-server with the
//! Referrers API, docker-registry without it): images with good, missing, wrongly-signed
//! and mismatched evidence give the expected exit code, categories and messages, with the
//! shipped `require-provenance` policy and its demo CI key.

use crate::support;
use custody::attest::SigningKey;
use custody::digest::Digest;
use serde_json::Value;
use support::fixtures::{self, SLSA_V1, provenance};
use support::images::push_with_provenance;
use support::{TestRegistry, cli, push_layout, result_of, single_platform};

fn ci_key() -> SigningKey {
    fixtures::ci_key()
}

/// Pushes a fresh image and attaches (optionally) a provenance statement about `about`
/// (default: the image itself) signed by `key`. Returns the image reference and digest.
fn image_with(
    rt: &tokio::runtime::Runtime,
    reg: &TestRegistry,
    name: &str,
    evidence: Option<(&SigningKey, Option<&Digest>)>,
) -> (String, Digest) {
    rt.block_on(push_with_provenance(
        reg,
        &format!("e2e/{name}:1.0"),
        evidence,
    ))
}

fn verify(reg: &TestRegistry, images: &[&str], json: bool) -> (i32, String) {
    let mut cmd = cli::command();
    cmd.arg("verify")
        .args(images)
        .arg("--policies")
        .arg(fixtures::library().join("require-provenance"))
        .arg("--insecure-registry")
        .arg(&reg.host)
        .arg("--namespace")
        .arg("shop");
    if json {
        cmd.args(["-o", "json"]);
    }
    let out = cmd.output().expect("run custody verify");
    (cli::code(&out), cli::text(&out))
}

#[test]
fn verify_against_real_registries() {
    support::init_crypto();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ci = ci_key();
    let stranger =
        custody::attest::SigningKey::generate(custody::attest::KeyAlgorithm::EcdsaP256).unwrap();
    for reg in TestRegistry::both() {
        let ctx = format!("registry {:?} at {}", reg.kind, reg.host);
        let (good, good_digest) = image_with(&rt, &reg, "good", Some((&ci, None)));
        let (missing, _) = image_with(&rt, &reg, "missing", None);
        let (wrong, _) = image_with(&rt, &reg, "wrong-key", Some((&stranger, None)));
        let other = Digest::sha256(b"some other image");
        let (mismatch, _) = image_with(&rt, &reg, "mismatch", Some((&ci, Some(&other))));

        // Good evidence: admitted, exit 0, digest and verified evidence reported.
        let (code, out) = verify(&reg, &[&good], false);
        assert_eq!(code, 0, "{ctx}: {out}");
        assert!(
            out.contains(&format!("{good} ({}): ADMITTED", good_digest.short())),
            "{ctx}: {out}"
        );
        assert!(
            out.contains("verified  https://slsa.dev/provenance/v1"),
            "{ctx}: {out}"
        );
        assert!(out.contains("signed by ci/demo-ci"), "{ctx}: {out}");

        // All four in one run: exit 1, each with its category.
        let (code, out) = verify(&reg, &[&good, &missing, &wrong, &mismatch], true);
        assert_eq!(code, 1, "{ctx}: {out}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{ctx}: {e}: {out}"));
        assert_eq!(doc["kind"], "VerifyResult");
        assert_eq!(doc["admitted"], false);
        assert_eq!(result_of(&doc, &good)["allowed"], true, "{ctx}");
        let r = result_of(&doc, &missing);
        assert_eq!(r["category"], "no-attestation", "{ctx}: {r}");
        assert!(
            r["messages"][0]
                .as_str()
                .unwrap()
                .starts_with("no verified SLSA provenance"),
            "{ctx}: {r}"
        );
        let r = result_of(&doc, &wrong);
        assert_eq!(r["category"], "untrusted-signer", "{ctx}: {r}");
        assert!(
            r["messages"][0]
                .as_str()
                .unwrap()
                .contains("provenance was found but not accepted: untrusted-signer"),
            "{ctx}: {r}"
        );
        let r = result_of(&doc, &mismatch);
        assert_eq!(r["category"], "subject-mismatch", "{ctx}: {r}");

        // The same in text, as a CI log shows it.
        let (code, out) = verify(&reg, &[&good, &missing, &wrong, &mismatch], false);
        println!("{out}");
        assert_eq!(code, 1, "{ctx}: {out}");
        assert!(out.contains(&format!("{wrong} (")), "{ctx}: {out}");
        assert!(out.contains("FAIL [untrusted-signer]"), "{ctx}: {out}");
        assert!(out.contains("FAIL [subject-mismatch]"), "{ctx}: {out}");
        assert!(out.contains("FAIL [no-attestation]"), "{ctx}: {out}");
        assert!(
            out.contains("4 image(s): 1 admitted, 3 denied"),
            "{ctx}: {out}"
        );

        // An image that does not exist: denied as not-found.
        let absent = format!("{}/e2e/absent:1.0", reg.host);
        let (code, out) = verify(&reg, &[&absent], true);
        assert_eq!(code, 1, "{ctx}: {out}");
        let doc: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            result_of(&doc, &absent)["category"],
            "not-found",
            "{ctx}: {out}"
        );
    }
}

#[test]
fn unusable_input_exits_2() {
    let (code, out) = {
        let out = cli::command()
            .args(["verify", "Not A Reference", "--policies"])
            .arg(fixtures::library())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(code, Some(2), "{out}");
    let out = cli::command()
        .args([
            "verify",
            "registry.example/app:1",
            "--policies",
            "/nonexistent/policies",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

fn attach(
    rt: &tokio::runtime::Runtime,
    reg: &TestRegistry,
    tag: &str,
    subject: &Digest,
    key: &SigningKey,
) {
    attach_predicate(rt, reg, tag, subject, key, SLSA_V1, provenance());
}

#[test]
fn every_platform_of_an_index_when_required() {
    support::init_crypto();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ci = ci_key();
    let reg = TestRegistry::ferro();
    let layout = support::multi_platform("multi-platform e2e");
    let tag = "e2e/multi:1.0";
    let index = push_layout(&reg, &layout, tag);
    attach(&rt, &reg, tag, &index, &ci);
    attach(&rt, &reg, tag, &layout.platforms[0], &ci);
    let image = format!("{}/{tag}", reg.host);

    // Evidence about the index is enough by default.
    let (code, out) = verify(&reg, &[&image], false);
    assert_eq!(code, 0, "{out}");

    // With --require-all-platforms the arm64 manifest lacks evidence.
    let mut cmd = cli::command();
    cmd.args([
        "verify",
        &image,
        "--require-all-platforms",
        "-o",
        "json",
        "--insecure-registry",
        &reg.host,
    ])
    .arg("--policies")
    .arg(fixtures::library().join("require-provenance"));
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    let r = result_of(&doc, &image);
    assert_eq!(r["category"], "no-attestation", "{r}");
    let msg = r["messages"][0].as_str().unwrap();
    assert!(
        msg.contains("linux/arm64/v8") && msg.contains(&layout.platforms[1].short()),
        "{msg}"
    );

    attach(&rt, &reg, tag, &layout.platforms[1], &ci);
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn attach_predicate(
    rt: &tokio::runtime::Runtime,
    reg: &TestRegistry,
    tag: &str,
    subject: &Digest,
    key: &SigningKey,
    predicate_type: &str,
    predicate: Value,
) {
    let statement = (subject, predicate_type, predicate);
    let (client, image) = (reg.client(), reg.image(tag));
    rt.block_on(support::attest::attach_predicate(
        &client, &image, subject, statement, key,
    ));
}

#[test]
fn the_whole_library_admits_a_fully_attested_image_in_production() {
    support::init_crypto();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ci = ci_key();
    let release =
        { SigningKey::from_pem(&fixtures::data_text("policy/keys/release.key")).unwrap() };
    let reg = TestRegistry::distribution();
    let layout = single_platform("fully attested");
    let tag = "e2e/full:1.0";
    let d = push_layout(&reg, &layout, tag);
    let image = format!("{}/{tag}", reg.host);
    let run = || {
        let out = cli::command()
            .args([
                "verify",
                &image,
                "--insecure-registry",
                &reg.host,
                "--namespace",
                "shop",
            ])
            .args(["--namespace-label", "custody.dev/environment=production"])
            .args(["--time", "2026-06-01T00:00:00Z", "--policies"])
            .arg(fixtures::library())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    attach_predicate(&rt, &reg, tag, &d, &ci, SLSA_V1, provenance());
    attach_predicate(
        &rt,
        &reg,
        tag,
        &d,
        &ci,
        "https://spdx.dev/Document",
        serde_json::json!({"spdxVersion": "SPDX-2.3", "packages": [{"name": "busybox"}]}),
    );
    attach_predicate(
        &rt,
        &reg,
        tag,
        &d,
        &ci,
        "https://in-toto.io/attestation/vulns/v0.1",
        serde_json::json!({"scanner": {"uri": "pkg:github/aquasecurity/trivy@0.55.0", "result": []},
                           "metadata": {"scanFinishedOn": "2026-05-31T12:00:00Z"}}),
    );
    attach_predicate(
        &rt,
        &reg,
        tag,
        &d,
        &ci,
        "https://in-toto.io/attestation/test-result/v0.1",
        serde_json::json!({"result": "PASSED", "passedTests": ["unit"], "failedTests": []}),
    );
    // Everything but the promotion: production refuses it, naming that policy only.
    let (code, out) = run();
    assert_eq!(code, Some(1), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("require-promotion"))
        .unwrap();
    assert!(line.contains("FAIL [no-attestation]"), "{out}");
    assert!(out.contains("4 found, 4 verified, 0 rejected"), "{out}");
    assert_eq!(out.matches("FAIL").count(), 1, "{out}");
    // A promotion signed by the CI key is not the release attestor's.
    attach_predicate(
        &rt,
        &reg,
        tag,
        &d,
        &ci,
        "https://custody.dev/attestation/promotion/v1",
        serde_json::json!({"environment": "staging"}),
    );
    let (code, out) = run();
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL [untrusted-signer]"), "{out}");
    attach_predicate(
        &rt,
        &reg,
        tag,
        &d,
        &release,
        "https://custody.dev/attestation/promotion/v1",
        serde_json::json!({"environment": "staging"}),
    );
    let (code, out) = run();
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
}
