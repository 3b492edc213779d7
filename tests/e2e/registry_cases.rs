//! The same registry cases against both real registries: ferro-oci-server (Referrers API)
//! and docker-registry 2.8 (tag schema and cosign tag fallbacks).

use crate::support;
use custody::attest::{
    Envelope, INTOTO_PAYLOAD_TYPE, KeyAlgorithm, SigningKey, Statement, TrustedKey, verify_envelope,
};
use custody::category::Category;
use custody::digest::Digest;
use custody::registry::{
    Artifact, DSSE_MEDIA_TYPE, OciRegistry, Registry, RegistryConfig, SkipReason, Source,
};
use std::collections::BTreeMap;
use support::{TestRegistry, attach_statement, multi_platform, push_layout, single_platform};

fn key() -> SigningKey {
    SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap()
}

fn expected_source(reg: &TestRegistry) -> Source {
    if reg.has_referrers_api() {
        Source::ReferrersApi
    } else {
        Source::TagSchema
    }
}

fn client_with(reg: &TestRegistry, f: impl FnOnce(&mut RegistryConfig)) -> OciRegistry {
    support::init_crypto();
    let mut cfg = reg.config();
    f(&mut cfg);
    OciRegistry::new(cfg).unwrap()
}

#[tokio::test]
async fn good_evidence_is_found_with_its_source_and_verifies() {
    let k = key();
    for reg in TestRegistry::both() {
        let digest = push_layout(&reg, &single_platform("good"), "team/good:v1");
        let client = reg.client();
        let image = reg.image("team/good:v1");
        for p in [
            "https://slsa.dev/provenance/v1",
            "https://spdx.dev/Document",
            "https://in-toto.io/attestation/vulns/v0.2",
        ] {
            attach_statement(&client, &image, &digest, &digest, &k, p).await;
        }
        let fresh = reg.client();
        let resolved = fresh.resolve(&image, &reg.creds()).await.unwrap();
        assert_eq!(resolved.digest, digest);
        assert!(resolved.platforms.is_empty());
        let found = fresh.discover(&image, &digest, &reg.creds()).await.unwrap();
        assert_eq!(found.evidence.len(), 3, "{:?}: {found:?}", reg.kind);
        assert_eq!(found.consulted, vec![expected_source(&reg)]);
        let trusted = [TrustedKey::new(None, k.public_key().clone())];
        for e in &found.evidence {
            assert_eq!(e.source, expected_source(&reg));
            assert_eq!(e.subject, digest);
            assert_eq!(e.blob_digest, Digest::sha256(&e.bytes));
            assert!(e.annotations.contains_key("in-toto.io/predicate-type"));
            let env = Envelope::from_json(&e.bytes).unwrap();
            let verified = verify_envelope(&env, &trusted, 1).unwrap();
            assert_eq!(verified.payload_type, INTOTO_PAYLOAD_TYPE);
            assert!(
                Statement::parse(&verified.payload)
                    .unwrap()
                    .matches_digest(&digest)
            );
        }
    }
}

#[tokio::test]
async fn statement_about_another_digest_is_returned_but_does_not_match() {
    let k = key();
    for reg in TestRegistry::both() {
        let a = push_layout(&reg, &single_platform("mismatch a"), "team/mm:a");
        let b = push_layout(&reg, &single_platform("mismatch b"), "team/mm:b");
        let client = reg.client();
        let image = reg.image("team/mm:a");
        // A referrer of A whose signed statement is about B.
        attach_statement(&client, &image, &a, &b, &k, "https://example.com/p").await;
        let found = reg
            .client()
            .discover(&image, &a, &reg.creds())
            .await
            .unwrap();
        assert_eq!(found.evidence.len(), 1);
        let env = Envelope::from_json(&found.evidence[0].bytes).unwrap();
        let statement = Statement::parse(&env.payload).unwrap();
        assert!(
            !statement.matches_digest(&a),
            "{:?}: a statement about B must not match A",
            reg.kind
        );
    }
}

#[tokio::test]
async fn referrer_whose_manifest_subject_is_another_digest_is_dropped() {
    // Only a tag-schema registry lets a client list a referrer under the wrong digest;
    // the Referrers API indexes by subject (the hostile-server tests cover that path).
    let reg = TestRegistry::distribution();
    let k = key();
    let a = push_layout(&reg, &single_platform("subject a"), "team/subj:a");
    let b = push_layout(&reg, &single_platform("subject b"), "team/subj:b");
    let client = reg.client();
    let image = reg.image("team/subj:a");
    let attached = attach_statement(&client, &image, &b, &b, &k, "https://example.com/p").await;
    // Forge A's tag-schema index to list B's referrer.
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": attached.manifest_digest.to_string(), "size": 600,
                       "artifactType": DSSE_MEDIA_TYPE}]
    });
    // The size in a tag-schema entry is informative; the manifest is fetched by digest.
    client
        .push_manifest(
            &image,
            &format!("sha256-{}", a.hex()),
            "application/vnd.oci.image.index.v1+json",
            serde_json::to_vec(&index).unwrap().into(),
            &reg.creds(),
        )
        .await
        .unwrap();
    let found = reg
        .client()
        .discover(&image, &a, &reg.creds())
        .await
        .unwrap();
    assert!(found.evidence.is_empty(), "{found:?}");
    assert_eq!(found.skipped.len(), 1, "{found:?}");
    assert!(matches!(
        found.skipped[0].reason,
        SkipReason::SubjectMismatch { .. }
    ));
    assert_eq!(
        found.skipped[0].reason.category(),
        Category::SubjectMismatch
    );
}

#[tokio::test]
async fn tag_moved_after_verification() {
    let k = key();
    for reg in TestRegistry::both() {
        let image = reg.image("team/moving:v1");
        let a = push_layout(&reg, &single_platform("moving a"), "team/moving:v1");
        let client = reg.client();
        attach_statement(&client, &image, &a, &a, &k, "https://example.com/p").await;
        assert_eq!(
            client.resolve(&image, &reg.creds()).await.unwrap().digest,
            a
        );
        assert_eq!(
            client
                .discover(&image, &a, &reg.creds())
                .await
                .unwrap()
                .evidence
                .len(),
            1
        );
        // The tag moves to an unattested image.
        let b = push_layout(&reg, &single_platform("moving b"), "team/moving:v1");
        // Within the tag TTL the verified digest is what this client keeps answering.
        assert_eq!(
            client.resolve(&image, &reg.creds()).await.unwrap().digest,
            a
        );
        // A fresh lookup sees the move, and the new digest has no evidence.
        let fresh = reg.client();
        assert_eq!(fresh.resolve(&image, &reg.creds()).await.unwrap().digest, b);
        let found_b = fresh.discover(&image, &b, &reg.creds()).await.unwrap();
        assert!(found_b.evidence.is_empty(), "{:?}: {found_b:?}", reg.kind);
        // The evidence stays bound to the digest it was made for.
        let pinned = image.with_digest(a.clone());
        assert_eq!(
            fresh.resolve(&pinned, &reg.creds()).await.unwrap().digest,
            a
        );
        assert_eq!(
            fresh
                .discover(&pinned, &a, &reg.creds())
                .await
                .unwrap()
                .evidence
                .len(),
            1
        );
    }
}

#[tokio::test]
async fn multi_platform_image_records_index_and_platforms() {
    let k = key();
    for reg in TestRegistry::both() {
        let layout = multi_platform("multi");
        let index = push_layout(&reg, &layout, "team/multi:v1");
        let client = reg.client();
        let image = reg.image("team/multi:v1");
        let resolved = client.resolve(&image, &reg.creds()).await.unwrap();
        assert_eq!(resolved.digest, index);
        assert_eq!(
            resolved.media_type.as_deref(),
            Some("application/vnd.oci.image.index.v1+json")
        );
        let digests: Vec<Digest> = resolved
            .platforms
            .iter()
            .map(|p| p.digest.clone())
            .collect();
        assert_eq!(digests, layout.platforms);
        let names: Vec<String> = resolved
            .platforms
            .iter()
            .map(|p| p.platform.as_ref().unwrap().to_string())
            .collect();
        assert_eq!(names, ["linux/amd64", "linux/arm64/v8"]);
        // Pinned references are checked to exist with one HEAD (cached), which also
        // tells the index's platforms (already cached from the tag's resolution).
        let pinned = image.with_digest(index.clone());
        client.reset_stats();
        let r = client.resolve(&pinned, &reg.creds()).await.unwrap();
        assert_eq!((r.digest.clone(), r.platforms.len()), (index.clone(), 2));
        assert_eq!(client.request_stats().total, 1);
        client.resolve(&pinned, &reg.creds()).await.unwrap();
        assert_eq!(client.request_stats().total, 1);
        assert_eq!(
            client
                .platforms(&pinned, &index, &reg.creds())
                .await
                .unwrap()
                .len(),
            2
        );
        // Evidence bound to the index, and to one platform manifest.
        attach_statement(
            &client,
            &image,
            &index,
            &index,
            &k,
            "https://example.com/index",
        )
        .await;
        attach_statement(
            &client,
            &image,
            &layout.platforms[0],
            &layout.platforms[0],
            &k,
            "https://example.com/amd64",
        )
        .await;
        let on_index = client.discover(&image, &index, &reg.creds()).await.unwrap();
        assert_eq!(on_index.evidence.len(), 1, "{:?}: {on_index:?}", reg.kind);
        assert_eq!(
            on_index.evidence[0].annotations["in-toto.io/predicate-type"],
            "https://example.com/index"
        );
        let on_amd = client
            .discover(&image, &layout.platforms[0], &reg.creds())
            .await
            .unwrap();
        assert_eq!(on_amd.evidence.len(), 1);
        let on_arm = client
            .discover(&image, &layout.platforms[1], &reg.creds())
            .await
            .unwrap();
        assert!(on_arm.evidence.is_empty());
    }
}

#[tokio::test]
async fn not_found_image_is_a_not_found_error() {
    for reg in TestRegistry::both() {
        push_layout(&reg, &single_platform("exists"), "team/exists:v1");
        let client = reg.client();
        for missing in ["team/exists:nope", "team/never:v1"] {
            let err = client
                .resolve(&reg.image(missing), &reg.creds())
                .await
                .unwrap_err();
            assert_eq!(
                err.category(),
                Category::NotFound,
                "{:?} {missing}: {err}",
                reg.kind
            );
            assert!(err.to_string().contains(missing), "{err}");
        }
        // A pinned digest the registry does not hold is not-found as well (one HEAD),
        // never "no attestation".
        let ghost = Digest::sha256(b"ghost");
        let pinned = format!("team/exists@{ghost}");
        let err = client
            .resolve(&reg.image(&pinned), &reg.creds())
            .await
            .unwrap_err();
        assert_eq!(err.category(), Category::NotFound, "{:?}: {err}", reg.kind);
        let exists = push_layout(&reg, &single_platform("exists"), "team/exists:v1");
        let resolved = client
            .resolve(&reg.image(&format!("team/exists@{exists}")), &reg.creds())
            .await
            .unwrap();
        assert_eq!(resolved.digest, exists);
        // An unknown digest has nothing attached (and is not an error to look up).
        let found = client
            .discover(&reg.image("team/exists:v1"), &ghost, &reg.creds())
            .await
            .unwrap();
        assert!(found.evidence.is_empty());
    }
}

#[tokio::test]
async fn oversized_blob_is_refused_without_downloading() {
    let k = key();
    for reg in TestRegistry::both() {
        let digest = push_layout(&reg, &single_platform("big"), "team/big:v1");
        let image = reg.image("team/big:v1");
        attach_statement(
            &reg.client(),
            &image,
            &digest,
            &digest,
            &k,
            "https://example.com/p",
        )
        .await;
        let client = client_with(&reg, |c| c.max_blob_bytes = 64);
        let found = client
            .discover(&image, &digest, &reg.creds())
            .await
            .unwrap();
        assert!(found.evidence.is_empty());
        assert!(
            matches!(found.skipped.as_slice(), [s] if matches!(s.reason, SkipReason::TooLarge { limit: 64, .. })),
            "{:?}: {found:?}",
            reg.kind
        );
        let stats = client.request_stats();
        assert_eq!(
            stats.by_kind.get("blobs"),
            None,
            "{:?}: a blob was requested: {stats:?}",
            reg.kind
        );
    }
}

#[tokio::test]
async fn cosign_att_tag_is_read_when_nothing_else_is_attached() {
    let k = key();
    for reg in TestRegistry::both() {
        let digest = push_layout(&reg, &single_platform("cosign"), "team/cosign:v1");
        let image = reg.image("team/cosign:v1");
        let client = reg.client();
        let env = support::signed_envelope(
            &k,
            &support::statement(&digest, "https://example.com/c", serde_json::json!({})),
        );
        let attached = client
            .attach_cosign(&image, &digest, std::slice::from_ref(&env), &reg.creds())
            .await
            .unwrap();
        assert_eq!(attached.source, Source::CosignTag);
        let found = reg
            .client()
            .discover(&image, &digest, &reg.creds())
            .await
            .unwrap();
        assert_eq!(found.evidence.len(), 1, "{:?}: {found:?}", reg.kind);
        assert_eq!(found.evidence[0].source, Source::CosignTag);
        assert_eq!(found.evidence[0].bytes, env);
        assert_eq!(
            found.consulted,
            vec![expected_source(&reg), Source::CosignTag]
        );
        // With `always`, cosign evidence is merged with referrers.
        attach_statement(
            &client,
            &image,
            &digest,
            &digest,
            &k,
            "https://example.com/r",
        )
        .await;
        let always = client_with(&reg, |c| {
            c.cosign_tag = custody::registry::CosignTagMode::Always
        });
        let found = always
            .discover(&image, &digest, &reg.creds())
            .await
            .unwrap();
        let mut sources: Vec<Source> = found.evidence.iter().map(|e| e.source).collect();
        sources.sort();
        let mut want = vec![expected_source(&reg), Source::CosignTag];
        want.sort();
        assert_eq!(sources, want);
    }
}

#[tokio::test]
async fn unknown_artifacts_are_skipped_and_counted() {
    for reg in TestRegistry::both() {
        let digest = push_layout(&reg, &single_platform("sbom raw"), "team/raw:v1");
        let image = reg.image("team/raw:v1");
        let client = reg.client();
        let raw = Artifact {
            artifact_type: "application/spdx+json".into(),
            media_type: "application/spdx+json".into(),
            data: bytes::Bytes::from_static(b"{\"spdxVersion\":\"SPDX-2.3\"}"),
            annotations: BTreeMap::new(),
        };
        support::attest::attach(&client, &image, &digest, &raw).await;
        let found = reg
            .client()
            .discover(&image, &digest, &reg.creds())
            .await
            .unwrap();
        assert!(found.evidence.is_empty());
        assert!(
            matches!(found.skipped.as_slice(), [s] if s.reason == SkipReason::UnsupportedMediaType),
            "{found:?}"
        );
    }
}

#[tokio::test]
async fn referrer_count_and_byte_budget_limits() {
    let k = key();
    let reg = TestRegistry::ferro();
    let digest = push_layout(&reg, &single_platform("limits"), "team/limits:v1");
    let image = reg.image("team/limits:v1");
    let pusher = reg.client();
    for p in [
        "https://example.com/1",
        "https://example.com/2",
        "https://example.com/3",
    ] {
        attach_statement(&pusher, &image, &digest, &digest, &k, p).await;
    }
    let few = client_with(&reg, |c| c.max_referrers = 2);
    let found = few.discover(&image, &digest, &reg.creds()).await.unwrap();
    assert_eq!(found.evidence.len(), 2, "{found:?}");
    assert!(
        matches!(found.skipped.as_slice(), [s] if s.reason == SkipReason::TooManyReferrers { limit: 2 })
    );
    // A byte budget that holds the listing and the manifests but not every blob.
    let tight = client_with(&reg, |c| c.max_total_bytes = 2_600);
    let found = tight.discover(&image, &digest, &reg.creds()).await.unwrap();
    assert!(found.evidence.len() < 3, "{found:?}");
    assert!(
        found
            .skipped
            .iter()
            .any(|s| matches!(s.reason, SkipReason::TooLarge { .. })),
        "{found:?}"
    );
}
