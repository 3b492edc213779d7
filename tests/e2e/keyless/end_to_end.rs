//! End to end: keyless attestors with a real registry (see the crate docs of
//! tests/e2e/keyless.rs).

use super::support::{self, TestRegistry, push_layout, result_of, single_platform, statement};
use super::{DEFAULT_ISSUER, data};
use custody::attest::sigstore::testing::{Leaf, TestSigstore, to_legacy_cosign};
use custody::registry::{Artifact as OciArtifact, DSSE_MEDIA_TYPE, SIGSTORE_BUNDLE_MEDIA_TYPE};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

const REPO: &str = "octo-org/octo-repo";

/// An image's name, its signer, whether in cosign's legacy layout, and the expected
/// denial (category, words of the reason) or None for admitted.
type Case<'a> = (&'a str, Leaf, bool, Option<(&'a str, &'a str)>);

fn provenance() -> Value {
    serde_json::from_slice(
        &std::fs::read(data("policy/predicates/slsa-provenance-v1.json")).unwrap(),
    )
    .unwrap()
}

/// A policy directory: the shipped require-provenance Rego, with an attestor that trusts
/// only the release workflow of `octo-org/octo-repo`, run by GitHub Actions on a push.
fn keyless_policy(dir: &Path) {
    let bundle = dir.join("require-provenance");
    std::fs::create_dir_all(&bundle).unwrap();
    let shipped = support::fixtures::library().join("require-provenance");
    std::fs::copy(
        shipped.join("provenance.rego"),
        bundle.join("provenance.rego"),
    )
    .unwrap();
    let spec = std::fs::read_to_string(shipped.join("policy.yaml")).unwrap();
    let start = spec.find("attestors:").unwrap();
    let end = spec.find("predicateTypes:").unwrap();
    let attestors = format!(
        "attestors:\n  - name: release\n    identities:\n      - issuer: https://token.actions.githubusercontent.com\n        subject: https://github.com/{REPO}/.github/workflows/release.yml@refs/heads/main\n        extensions:\n          sourceRepositoryURI: https://github.com/{REPO}\n          buildTrigger: push\n"
    );
    let spec = format!("{}{attestors}{}", &spec[..start], &spec[end..]);
    std::fs::write(bundle.join("policy.yaml"), spec).unwrap();
}

enum Layer {
    Bundle(String),
    Legacy(Vec<u8>, BTreeMap<String, String>),
}

fn image_with(
    rt: &tokio::runtime::Runtime,
    reg: &TestRegistry,
    sigstore: &TestSigstore,
    name: &str,
    leaf: &Leaf,
    legacy: bool,
) -> String {
    let tag = format!("keyless/{name}:1.0");
    let digest = push_layout(reg, &single_platform(&format!("keyless {name}")), &tag);
    let body = statement(&digest, "https://slsa.dev/provenance/v1", provenance());
    let bundle = sigstore
        .dsse_bundle("application/vnd.in-toto+json", &body, leaf)
        .unwrap();
    let layer = if legacy {
        let (env, ann) = to_legacy_cosign(&bundle).unwrap();
        Layer::Legacy(env, ann)
    } else {
        Layer::Bundle(bundle)
    };
    let artifact = match layer {
        Layer::Bundle(b) => OciArtifact {
            artifact_type: SIGSTORE_BUNDLE_MEDIA_TYPE.to_owned(),
            media_type: SIGSTORE_BUNDLE_MEDIA_TYPE.to_owned(),
            data: bytes::Bytes::from(b.into_bytes()),
            annotations: BTreeMap::from([(
                "dev.sigstore.bundle.predicateType".to_owned(),
                "https://slsa.dev/provenance/v1".to_owned(),
            )]),
        },
        Layer::Legacy(env, mut ann) => {
            ann.insert(
                "predicateType".to_owned(),
                "https://slsa.dev/provenance/v1".to_owned(),
            );
            OciArtifact {
                artifact_type: DSSE_MEDIA_TYPE.to_owned(),
                media_type: DSSE_MEDIA_TYPE.to_owned(),
                data: bytes::Bytes::from(env),
                annotations: ann,
            }
        }
    };
    let client = reg.client();
    rt.block_on(support::attest::attach(
        &client,
        &reg.image(&tag),
        &digest,
        &artifact,
    ));
    format!("{}/{tag}", reg.host)
}

#[test]
fn keyless_attestors_end_to_end_with_a_real_registry() {
    support::init_crypto();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reg = TestRegistry::ferro();
    let sigstore = TestSigstore::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let root_file = tmp.path().join("trusted_root.json");
    std::fs::write(&root_file, sigstore.trusted_root_json()).unwrap();
    let policies = tmp.path().join("policies");
    keyless_policy(&policies);

    let release = Leaf::github_workflow(REPO, "release.yml");
    let cases: Vec<Case> = vec![
        ("good", release.clone(), false, None),
        ("legacy", release.clone(), true, None),
        (
            "other-workflow",
            Leaf::github_workflow(REPO, "nightly.yml"),
            false,
            Some(("untrusted-signer", "identity:")),
        ),
        (
            "other-issuer",
            Leaf {
                issuer: "https://gitlab.com".into(),
                ..release.clone()
            },
            false,
            Some(("untrusted-signer", "OIDC issuer")),
        ),
        (
            "pull-request",
            Leaf {
                extensions: vec![
                    (12, format!("https://github.com/{REPO}")),
                    (20, "pull_request".into()),
                ],
                ..release.clone()
            },
            false,
            Some(("untrusted-signer", "buildTrigger")),
        ),
        (
            "expired",
            Leaf {
                signed_after_secs: 3600,
                ..release.clone()
            },
            false,
            Some(("bad-signature", "certificate: signed at")),
        ),
        (
            "wrong-ca",
            Leaf {
                unknown_ca: true,
                ..release.clone()
            },
            false,
            Some(("bad-signature", "certificate-chain:")),
        ),
        (
            "broken-proof",
            Leaf {
                broken_inclusion_proof: true,
                ..release.clone()
            },
            false,
            Some(("bad-signature", "inclusion-proof:")),
        ),
        (
            "other-envelope",
            Leaf {
                entry_for_other_envelope: true,
                ..release.clone()
            },
            false,
            Some(("bad-signature", "log-entry-body:")),
        ),
    ];
    let images: Vec<String> = cases
        .iter()
        .map(|(name, leaf, legacy, _)| image_with(&rt, &reg, &sigstore, name, leaf, *legacy))
        .collect();

    let run = |extra: &[&str]| {
        let mut cmd = support::cli::command();
        cmd.arg("verify")
            .args(&images)
            .arg("--policies")
            .arg(&policies)
            .arg("--insecure-registry")
            .arg(&reg.host)
            .args(["-o", "json"])
            .args(extra);
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let root_arg = root_file.display().to_string();
    let (code, stdout, stderr) = run(&["--trusted-root", &root_arg]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let doc: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"));
    let signers = &doc["images"][0]["evidence"]["verified"][0]["signers"];
    assert_eq!(
        signers[0],
        format!("release/{}", release.subject),
        "{signers}"
    );
    for ((name, _, _, want), image) in cases.iter().zip(&images) {
        let r = result_of(&doc, image);
        let text = r.to_string();
        match want {
            None => assert_eq!(r["allowed"], true, "{name}: {r}"),
            Some((category, reason)) => {
                assert_eq!(r["allowed"], false, "{name}: {r}");
                assert_eq!(r["category"], *category, "{name}: {r}");
                assert!(
                    text.contains(reason),
                    "{name}: the reason should name the check ({reason}): {r}"
                );
            }
        }
    }

    // The Rego input names the keyless signer: a policy over
    // `input.attestations[].signers[].identity` admits the release workflow and denies
    // another workflow that its attestor (any workflow of the organisation) accepted.
    let identity_policies = tmp.path().join("identity-policies");
    let b = identity_policies.join("release-only");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(b.join("policy.yaml"), "apiVersion: custody.dev/v1\nkind: Policy\nname: release-only\nattestors:\n  - name: org\n    identities:\n      - issuer: https://token.actions.githubusercontent.com\n        subjectRegExp: https://github.com/octo-org/.*\n").unwrap();
    std::fs::write(
        b.join("release.rego"),
        format!(
            r#"package custody.release_only

deny contains msg if {{
	not released
	msg := "not signed by the release workflow"
}}

released if {{
	some att in input.attestations
	some s in att.signers
	s.attestor == "org"
	s.identity.subject == "{}"
	s.identity.issuer == "https://token.actions.githubusercontent.com"
	s.identity.extensions.sourceRepositoryURI == "https://github.com/{REPO}"
	s.identity.extensions.runnerEnvironment == "github-hosted"
}}
"#,
            release.subject
        ),
    )
    .unwrap();
    let out = support::cli::command()
        .arg("verify")
        .args([&images[0], &images[2]])
        .arg("--policies")
        .arg(&identity_policies)
        .args([
            "--insecure-registry",
            &reg.host,
            "-o",
            "json",
            "--trusted-root",
            &root_arg,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(result_of(&doc, &images[0])["allowed"], true, "{stdout}");
    let r = result_of(&doc, &images[2]);
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(
        r["messages"][0], "not signed by the release workflow",
        "{r}"
    );

    // Against the built-in public-good root, the private instance is trusted by nobody.
    let (code, stdout, _) = run(&[]);
    assert_eq!(code, Some(1));
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    let r = result_of(&doc, &images[0]);
    assert_eq!(r["category"], "bad-signature", "{r}");
    assert!(r.to_string().contains("tlog-entry"), "{r}");

    // `custody attestations` shows the keyless identity, issuer and log-proof status.
    let out = support::cli::command()
        .args([
            "attestations",
            &images[0],
            "--insecure-registry",
            &reg.host,
            "--trusted-root",
            &root_arg,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("identity: {}", release.subject)),
        "{text}"
    );
    assert!(
        text.contains(&format!("issuer:   {DEFAULT_ISSUER}")),
        "{text}"
    );
    assert!(
        text.contains("log proof: verified: 1 log entry, 1 with inclusion proof"),
        "{text}"
    );
    let out = support::cli::command()
        .args([
            "attestations",
            &images[7],
            "--insecure-registry",
            &reg.host,
            "--trusted-root",
            &root_arg,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("log proof: not verified: inclusion-proof:"),
        "{text}"
    );
}
