//! `custody attestations IMAGE` against both real registries.

use crate::support;
use custody::attest::{KeyAlgorithm, SigningKey};
use support::cli::run as custody;
use support::{TestRegistry, attach_statement, push_layout, single_platform};

#[tokio::test]
async fn lists_evidence_and_its_source() {
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    for reg in TestRegistry::both() {
        let digest = push_layout(&reg, &single_platform("cli"), "team/cli:v1");
        let image = reg.image("team/cli:v1");
        attach_statement(
            &reg.client(),
            &image,
            &digest,
            &digest,
            &key,
            "https://slsa.dev/provenance/v1",
        )
        .await;
        let name = format!("{}/team/cli:v1", reg.host);
        let source = if reg.has_referrers_api() {
            "referrers-api"
        } else {
            "tag-schema"
        };

        let (code, out, err) = custody(&["attestations", &name, "--insecure-registry", &reg.host]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains(&digest.to_string()), "{out}");
        assert!(
            out.contains(&format!("https://slsa.dev/provenance/v1 via {source}")),
            "{out}"
        );
        assert!(out.contains(key.public_key().key_id()), "{out}");

        let (code, out, _) = custody(&[
            "attestations",
            &name,
            "--insecure-registry",
            &reg.host,
            "-o",
            "json",
        ]);
        assert_eq!(code, 0);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["resolved"]["digest"], digest.to_string());
        assert_eq!(v["evidence"][0]["source"], source);
        assert_eq!(v["evidence"][0]["format"], "dsse-envelope");
        assert_eq!(
            v["evidence"][0]["predicate_type"],
            "https://slsa.dev/provenance/v1"
        );

        // Nothing attached: exit 1 and say so.
        push_layout(&reg, &single_platform("bare"), "team/bare:v1");
        let bare = format!("{}/team/bare:v1", reg.host);
        let (code, out, _) = custody(&["attestations", &bare, "--insecure-registry", &reg.host]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("no attestations found"), "{out}");

        // Unknown image: exit 2 with a not-found message naming it.
        let missing = format!("{}/team/missing:v1", reg.host);
        let (code, _, err) = custody(&["attestations", &missing, "--insecure-registry", &reg.host]);
        assert_eq!(code, 2);
        assert!(
            err.contains("team/missing:v1") && err.contains("not found"),
            "{err}"
        );
    }
}

#[test]
fn malformed_reference_and_unreachable_registry_are_clear() {
    let (code, _, err) = custody(&["attestations", "Not/A:Ref:"]);
    assert_eq!(code, 2);
    assert!(err.contains("Not/A:Ref:"), "{err}");
    let host = format!("127.0.0.1:{}", support::net::free_port());
    let (code, _, err) = custody(&[
        "attestations",
        &format!("{host}/a:v1"),
        "--insecure-registry",
        &host,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("unreachable"), "{err}");
}

#[tokio::test]
async fn with_keys_says_whether_each_piece_verifies_and_why_not() {
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let other = SigningKey::generate(KeyAlgorithm::Ed25519).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("ci.pub");
    let stranger = dir.path().join("stranger.pub");
    std::fs::write(&good, key.public_key_pem()).unwrap();
    std::fs::write(&stranger, other.public_key_pem()).unwrap();
    let reg = TestRegistry::distribution();
    let a = push_layout(&reg, &single_platform("keys a"), "team/keys:v1");
    let b = push_layout(&reg, &single_platform("keys b"), "team/keys:b");
    let image = reg.image("team/keys:v1");
    let client = reg.client();
    attach_statement(&client, &image, &a, &a, &key, "https://example.com/good").await;
    attach_statement(&client, &image, &a, &b, &key, "https://example.com/about-b").await;
    let name = format!("{}/team/keys:v1", reg.host);
    let (code, out, err) = custody(&[
        "attestations",
        &name,
        "--insecure-registry",
        &reg.host,
        "--key",
        good.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verified: yes, signed by ci"), "{out}");
    assert!(out.contains("verified: no [subject-mismatch]"), "{out}");
    let (code, out, _) = custody(&[
        "attestations",
        &name,
        "--insecure-registry",
        &reg.host,
        "--key",
        stranger.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["evidence"][0]["verification"]["verified"], false);
    assert_eq!(
        v["evidence"][0]["verification"]["category"],
        "untrusted-signer"
    );
}

#[tokio::test]
async fn multi_platform_image_lists_index_and_platform_evidence() {
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    for reg in TestRegistry::both() {
        let layout = support::multi_platform("cli multi");
        let index = push_layout(&reg, &layout, "team/multi:v1");
        let image = reg.image("team/multi:v1");
        let client = reg.client();
        attach_statement(
            &client,
            &image,
            &index,
            &index,
            &key,
            "https://example.com/on-index",
        )
        .await;
        let amd = &layout.platforms[0];
        attach_statement(
            &client,
            &image,
            amd,
            amd,
            &key,
            "https://example.com/on-amd64",
        )
        .await;
        for name in [
            format!("{}/team/multi:v1", reg.host),
            format!("{}/team/multi@{index}", reg.host),
        ] {
            let (code, out, err) = custody(&[
                "attestations",
                &name,
                "--insecure-registry",
                &reg.host,
                "-o",
                "json",
            ]);
            assert_eq!(code, 0, "{out}{err}");
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(
                v["evidence"][0]["predicate_type"], "https://example.com/on-index",
                "{v}"
            );
            assert_eq!(v["platforms"][0]["platform"], "linux/amd64");
            assert_eq!(
                v["platforms"][0]["evidence"][0]["predicate_type"],
                "https://example.com/on-amd64"
            );
            assert_eq!(v["platforms"][1]["platform"], "linux/arm64/v8");
            assert_eq!(v["platforms"][1]["evidence"].as_array().unwrap().len(), 0);
        }
        let (_, out, _) = custody(&[
            "attestations",
            &format!("{}/team/multi:v1", reg.host),
            "--insecure-registry",
            &reg.host,
        ]);
        assert!(
            out.contains("platform linux/amd64")
                && out.contains("https://example.com/on-amd64 via"),
            "{out}"
        );
    }
}
