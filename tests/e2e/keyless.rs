//! Keyless verification of Sigstore bundles (issue #13).
//!
//! * Every case of the Sigstore conformance suite's `bundle-verify` assets
//!   (tests/data/sigstore-conformance/, copied byte for byte) is driven through
//!   `custody bundle verify` exactly as the suite drives a client: `--bundle`, then
//!   `--key key.pub` or `--certificate-identity`/`--certificate-oidc-issuer` (the case's
//!   `identity`/`issuer` files or the suite's defaults), `--trusted-root` when the case
//!   ships one (else the built-in public-good root), and the artifact (the case's
//!   `artifact` or `a.txt`), once as a file and once as `sha256:<hex>`.
//! * Every trusted root of tests/data/sigstore-trusted-roots/ loads, and the public-good
//!   one is the built-in default.
//! * End to end with a real registry (ferro-oci-server): keyless bundles from a private
//!   Sigstore (a local CA, CT log and Rekor-like log written into a custom trusted root)
//!   attached to images, decided by `custody verify` with a policy whose attestor is a
//!   keyless identity: the right workflow is admitted; another workflow or issuer is
//!   denied `untrusted-signer`; an expired or wrong-CA certificate, a broken inclusion
//!   proof and a log entry for another envelope are denied `bad-signature` with a reason
//!   naming the check; cosign's legacy annotation layout is read too.

use crate::support;
use custody::attest::PublicKey;
use custody::attest::sigstore::{
    self, Artifact, Check, IdentityPolicy, Matcher, TrustedRoot, Verifier,
};
use std::path::{Path, PathBuf};
use support::cli::custody;
use support::fixtures::data;

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn cases() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(data("sigstore-conformance"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("bundle.sigstore.json").exists())
        .collect();
    out.sort();
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    custody::digest::Digest::sha256(bytes).hex().to_owned()
}

/// The suite's command line for a case: `bundle verify --bundle B (--key K |
/// --certificate-identity I --certificate-oidc-issuer U) [--trusted-root R] ARTIFACT`.
fn case_args(dir: &Path, by_digest: bool) -> Vec<String> {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
    let mut args = vec![
        "bundle".to_owned(),
        "verify".to_owned(),
        "--bundle".to_owned(),
        dir.join("bundle.sigstore.json").display().to_string(),
    ];
    if dir.join("key.pub").exists() {
        args.push("--key".into());
        args.push(dir.join("key.pub").display().to_string());
    } else {
        args.push("--certificate-identity".into());
        args.push(read("identity").map_or(DEFAULT_IDENTITY.to_owned(), |s| s.trim().to_owned()));
        args.push("--certificate-oidc-issuer".into());
        args.push(read("issuer").map_or(DEFAULT_ISSUER.to_owned(), |s| s.trim().to_owned()));
    }
    if dir.join("trusted_root.json").exists() {
        args.push("--trusted-root".into());
        args.push(dir.join("trusted_root.json").display().to_string());
    }
    let artifact = if dir.join("artifact").exists() {
        dir.join("artifact")
    } else {
        data("sigstore-conformance/a.txt")
    };
    if by_digest {
        args.push(format!(
            "sha256:{}",
            sha256_hex(&std::fs::read(&artifact).unwrap())
        ));
    } else {
        args.push(artifact.display().to_string());
    }
    args
}

/// What each failing case must be rejected for: the check named in the output (or, for
/// unusable input, in the error on stderr).
const FAIL_REASONS: &[(&str, &str)] = &[
    (
        "bundle-empty-certificate-chain_fail",
        "bundle: the x509CertificateChain is empty",
    ),
    (
        "bundle-from-wrong-instance_fail",
        "tlog-entry: the log entry is not from a transparency log of the trusted root",
    ),
    ("bundle-malformed-json_fail", "bundle: not JSON"),
    (
        "bundle-negative-log-index_fail",
        "tlog-entry: a log entry has a negative log index",
    ),
    (
        "bundle-with-root-cert_fail",
        "certificate-chain: the bundle carries a root certificate",
    ),
    (
        "checkpoint-wrong-roothash_fail",
        "checkpoint: the checkpoint's tree size or root hash differs",
    ),
    (
        "dsse-invalid-sig_fail",
        "log-entry-body: the log entry's signature does not match",
    ),
    (
        "dsse-mismatch-sig_fail",
        "log-entry-body: the log entry's signature does not match",
    ),
    (
        "inclusion-proof-corrupted-hash_fail",
        "inclusion-proof: the inclusion proof does not lead",
    ),
    (
        "incorrect-public-key_fail",
        "log-entry-body: the log entry's signing certificate or key does not match",
    ),
    ("intoto-expired-certificate_fail", "certificate: signed at"),
    ("intoto-log-entry-mismatch_fail", "log-entry-body:"),
    (
        "intoto-set-outside-signing-cert-validity_fail",
        "certificate: signed at",
    ),
    (
        "intoto-tsa-timestamp-outside-cert-validity_fail",
        "certificate: signed at",
    ),
    (
        "invalid-checkpoint-signature_fail",
        "checkpoint: no signature of the log",
    ),
    (
        "invalid-ct-key_fail",
        "sct: no signed certificate timestamp",
    ),
    ("managed-key-wrong-key_fail", "not a usable public key"),
    (
        "message-digest-mismatch_fail",
        "artifact: the bundle's message digest is not the artifact's",
    ),
    (
        "rekor2-checkpoint-missing-log-signature_fail",
        "checkpoint: no signature of the log",
    ),
    (
        "rekor2-checkpoint-missing-origin_fail",
        "checkpoint: the checkpoint has no origin line",
    ),
    (
        "rekor2-checkpoint-missing-size_fail",
        "checkpoint: the checkpoint's second line is not a tree size",
    ),
    (
        "rekor2-dsse-invalid-sig_fail",
        "log-entry-body: the log entry's signature does not match",
    ),
    (
        "rekor2-dsse-mismatch-sig_fail",
        "log-entry-body: the log entry's signature does not match",
    ),
    (
        "rekor2-no-timestamp_fail",
        "rfc3161-timestamp: no verified signing time",
    ),
    (
        "rekor2-timestamp-outside-trust-root-tsa-validity_fail",
        "rfc3161-timestamp: the timestamp's authority was not trusted",
    ),
    (
        "rekor2-timestamp-payload-mismatch_fail",
        "rfc3161-timestamp: the timestamp's message imprint",
    ),
    (
        "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail",
        "rfc3161-timestamp: the timestamp is not signed by a timestamp authority of the trusted root",
    ),
    (
        "set-invalid-signature_fail",
        "signed-entry-timestamp: the signed entry timestamp does not verify",
    ),
    (
        "trust-root-tlog-missing-validity-start_fail",
        "trusted-root: tlogs[1].publicKey: validFor has no start",
    ),
    (
        "wrong-hashedrekord-artifact_fail",
        "log-entry-body: the log entry's artifact digest does not match",
    ),
    (
        "wrong-hashedrekord-cert-and-sig_fail",
        "log-entry-body: the log entry's signature does not match",
    ),
    (
        "wrong-material_fail",
        "artifact: the bundle's message digest is not the artifact's",
    ),
];

#[test]
fn every_conformance_case_is_decided_as_its_name_says() {
    let cases = cases();
    assert_eq!(cases.len(), 47, "the full bundle-verify set is present");
    let mut failures = Vec::new();
    let mut passed = 0;
    let mut rejected = 0;
    for dir in &cases {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        for by_digest in [false, true] {
            let out = custody(&case_args(dir, by_digest));
            let code = out.status.code();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let form = if by_digest { "digest" } else { "file" };
            if name.ends_with("_fail") {
                let want = FAIL_REASONS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, r)| *r)
                    .unwrap_or_else(|| panic!("no expected reason for {name}"));
                if code == Some(0) || code.is_none() {
                    failures.push(format!("{name} ({form}) verified but must fail"));
                } else if !text.contains(want) {
                    failures.push(format!("{name} ({form}) failed for another reason: {text}"));
                } else {
                    rejected += 1;
                }
            } else if code != Some(0) || !text.starts_with("verified") {
                failures.push(format!("{name} ({form}) must verify: {text}"));
            } else {
                passed += 1;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!((passed, rejected), (15 * 2, 32 * 2));
}

#[test]
fn exit_codes_separate_not_verified_from_unusable_input() {
    let dir = data("sigstore-conformance/set-invalid-signature_fail");
    assert_eq!(custody(&case_args(&dir, false)).status.code(), Some(1));
    let dir = data("sigstore-conformance/bundle-malformed-json_fail");
    assert_eq!(custody(&case_args(&dir, false)).status.code(), Some(2));
    // A missing artifact file is unusable input, not a verdict.
    let mut args = case_args(&data("sigstore-conformance/happy-path-v0.2"), false);
    *args.last_mut().unwrap() = "/nonexistent/artifact".to_owned();
    assert_eq!(custody(&args).status.code(), Some(2));
}

#[test]
fn another_identity_or_issuer_is_refused_by_the_identity_check() {
    let dir = data("sigstore-conformance/happy-path-intoto-in-dsse-v3");
    for (flag, value) in [
        (
            "--certificate-identity",
            "https://github.com/someone-else/repo/.github/workflows/x.yml@refs/heads/main",
        ),
        ("--certificate-oidc-issuer", "https://accounts.google.com"),
    ] {
        let mut args = case_args(&dir, false);
        let i = args.iter().position(|a| a == flag).unwrap();
        args[i + 1] = value.to_owned();
        let out = custody(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        assert!(stdout.contains("identity: the certificate's"), "{stdout}");
        assert!(stdout.contains("[untrusted-signer]"), "{stdout}");
    }
}

#[test]
fn identity_regexps_and_extension_constraints() {
    let dir = data("sigstore-conformance/happy-path-intoto-in-dsse-v3");
    let base = |extra: &[&str]| {
        let mut args: Vec<String> = case_args(&dir, false);
        let artifact = args.pop().unwrap();
        // Replace the exact identity with a regexp.
        let i = args
            .iter()
            .position(|a| a == "--certificate-identity")
            .unwrap();
        args.drain(i..i + 2);
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(artifact);
        custody(&args)
    };
    let ok = base(&[
        "--certificate-identity-regexp",
        "https://github.com/sigstore-conformance/.*",
        "--certificate-extension",
        "sourceRepositoryURI=https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon",
    ]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        stdout.contains("issuer: https://token.actions.githubusercontent.com"),
        "{stdout}"
    );
    assert!(
        stdout.contains("runnerEnvironment: github-hosted"),
        "{stdout}"
    );
    // The regexp must match the whole SAN: a prefix alone is not enough.
    let partial = base(&[
        "--certificate-identity-regexp",
        "https://github.com/sigstore-conformance",
    ]);
    assert_eq!(partial.status.code(), Some(1));
    let wrong_repo = base(&[
        "--certificate-identity-regexp",
        ".*",
        "--certificate-extension",
        "sourceRepositoryURI=https://github.com/other/repo",
    ]);
    assert_eq!(wrong_repo.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong_repo.stdout).contains("sourceRepositoryURI"));
    let unknown = base(&[
        "--certificate-identity-regexp",
        ".*",
        "--certificate-extension",
        "colour=blue",
    ]);
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn trusted_roots_load_and_public_good_is_the_default() {
    for name in ["public-good-production.json", "staging.json"] {
        let bytes = std::fs::read(data("sigstore-trusted-roots").join(name)).unwrap();
        let root = TrustedRoot::from_json(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(root.summary().contains("certificate authority"), "{name}");
    }
    // The built-in default is byte for byte the public-good production root.
    let builtin = include_str!("../../src/attest/sigstore/public_good_trusted_root.json");
    let vector =
        std::fs::read_to_string(data("sigstore-trusted-roots/public-good-production.json"))
            .unwrap();
    assert_eq!(builtin, vector);
    TrustedRoot::public_good().unwrap();
    // Every custom root shipped with a conformance case loads, except the one whose
    // tlog lacks validFor.start, which is refused rather than read as "forever".
    for dir in cases() {
        let path = dir.join("trusted_root.json");
        if !path.exists() {
            continue;
        }
        let result = TrustedRoot::from_json(&std::fs::read(&path).unwrap());
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if name == "trust-root-tlog-missing-validity-start_fail" {
            assert_eq!(result.unwrap_err().check, Check::TrustedRoot);
        } else {
            result.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[test]
fn library_verifies_keyless_dsse_and_returns_the_payload_and_identity() {
    let dir = data("sigstore-conformance/happy-path-intoto-in-dsse-v3");
    let bundle = std::fs::read(dir.join("bundle.sigstore.json")).unwrap();
    let root = TrustedRoot::public_good().unwrap();
    let policy = IdentityPolicy {
        subject: Matcher::regex(
            "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.*",
        )
        .unwrap(),
        issuer: Matcher::Exact(DEFAULT_ISSUER.to_owned()),
        extensions: Default::default(),
    };
    // Without an artifact: the caller matches the payload.
    let v = sigstore::verify_bundle(&bundle, None, &Verifier::Identity(&policy), &root).unwrap();
    let (payload_type, payload) = v.dsse.unwrap();
    assert_eq!(payload_type, "application/vnd.in-toto+json");
    assert!(custody::attest::Statement::parse(&payload).is_ok());
    let id = v.identity.unwrap();
    assert_eq!(id.issuer.as_deref(), Some(DEFAULT_ISSUER));
    assert_eq!(v.log_entries, 1);
    assert_eq!(v.inclusion_proofs, 1);
    // With an artifact that is not the statement's subject: refused.
    let err = sigstore::verify_bundle(
        &bundle,
        Some(Artifact::Bytes(b"other")),
        &Verifier::Identity(&policy),
        &root,
    )
    .unwrap_err();
    assert_eq!(err.check, Check::Artifact);
    // A key is not a certificate identity.
    let key = PublicKey::from_pem(
        &std::fs::read_to_string(data("sigstore-conformance/managed-key-happy-path/key.pub"))
            .unwrap(),
    )
    .unwrap();
    let err = sigstore::verify_bundle(&bundle, None, &Verifier::Key(&key), &root).unwrap_err();
    assert_eq!(err.check, Check::Signature);
    // Against the staging root nothing of production is trusted.
    let staging = TrustedRoot::from_json(
        &std::fs::read(data("sigstore-trusted-roots/staging.json")).unwrap(),
    )
    .unwrap();
    let err =
        sigstore::verify_bundle(&bundle, None, &Verifier::Identity(&policy), &staging).unwrap_err();
    assert_eq!(err.check, Check::Tlog);
}

mod end_to_end;
