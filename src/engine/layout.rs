//! A policy's in-toto layout at admission: the image's attestations that are in-toto
//! links (and, if the policy says so, SLSA provenance read as a link) are verified
//! against the bundle's layout; the outcome becomes `input.layout`.

use super::verify::Parsed;
use crate::attest::Envelope;
use crate::digest::Digest;
use crate::policy::Bundle;
use crate::policy::layout::LayoutResult;

/// The layout outcome for `bundle`, or None when it has no layout.
pub(crate) fn evaluate(
    bundle: &Bundle,
    parsed: &[Parsed<'_>],
    digest: &Digest,
    time: chrono::DateTime<chrono::Utc>,
) -> Option<LayoutResult> {
    let layout = bundle.layout()?;
    let envelopes: Vec<&Envelope> = parsed
        .iter()
        .filter_map(|p| p.envelope().as_ref().ok())
        .collect();
    Some(layout.evaluate(layout.links_of(&envelopes), digest, time))
}

/// Puts `layout` into a built input document as `input.layout`.
pub(crate) fn insert(input: &mut regorus::Value, layout: Option<&LayoutResult>) {
    let Some(layout) = layout else {
        return;
    };
    let value = match serde_json::to_value(layout) {
        Ok(v) => regorus::Value::from(v),
        Err(_) => return,
    };
    if let Ok(obj) = input.as_object_mut() {
        obj.insert(regorus::Value::from("layout"), value);
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::FakeRegistry;
    use super::super::{CheckRequest, Engine, EngineConfig, ImageUse, ImageVerdict};
    use crate::attest::{INTOTO_PAYLOAD_TYPE, SigningKey, sign_envelope};
    use crate::digest::Digest;
    use crate::policy::PolicyStore;
    use crate::policy::input::NamespaceInfo;
    use serde_json::{Value, json};
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::time::Instant;

    const CI_KEY: &str = include_str!("../../tests/data/policy/keys/ci.key");
    const RELEASE_KEY: &str = include_str!("../../tests/data/policy/keys/release.key");
    const IMAGE: &str = "registry.test/app:1.0";

    fn library_files() -> BTreeMap<String, String> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/require-layout");
        crate::policy::bundle::read_bundle_dir(std::path::Path::new(dir)).unwrap()
    }

    fn key(pem: &str) -> SigningKey {
        SigningKey::from_pem(pem).unwrap()
    }

    fn link(by: &SigningKey, subject: &Digest, predicate_type: &str, predicate: Value) -> Vec<u8> {
        let st = json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "registry.test/app", "digest": {"sha256": subject.hex()}}],
            "predicateType": predicate_type,
            "predicate": predicate,
        });
        sign_envelope(INTOTO_PAYLOAD_TYPE, st.to_string().as_bytes(), &[by])
            .unwrap()
            .to_json()
            .into_bytes()
    }

    const LINK: &str = "https://in-toto.io/attestation/link/v0.3";

    fn build_link(by: &SigningKey, d: &Digest) -> Vec<u8> {
        link(
            by,
            d,
            LINK,
            json!({"name": "build", "command": ["make"],
            "materials": [{"name": "src/main.go", "digest": {"sha256": "aa".repeat(32)}}]}),
        )
    }

    fn release_link(by: &SigningKey, d: &Digest, material: &Digest) -> Vec<u8> {
        link(
            by,
            d,
            LINK,
            json!({"name": "release",
            "materials": [{"name": "registry.test/app", "digest": {"sha256": material.hex()}}]}),
        )
    }

    async fn check(store: &PolicyStore, registry: &Arc<FakeRegistry>) -> ImageVerdict {
        let engine = Engine::new(registry.clone(), store.clone(), EngineConfig::default());
        let req = CheckRequest {
            images: vec![ImageUse::container(IMAGE, "app")],
            // The library's require-layout applies to namespaces that opt in.
            namespace: NamespaceInfo {
                name: "shop".into(),
                labels: BTreeMap::from([(
                    "custody.dev/supply-chain".to_owned(),
                    "in-toto".to_owned(),
                )]),
            },
            ..CheckRequest::default()
        };
        let mut v = engine
            .check(&req, Instant::now() + Duration::from_secs(10))
            .await;
        v.remove(0)
    }

    fn setup(files: &BTreeMap<String, String>) -> (PolicyStore, Arc<FakeRegistry>, Digest) {
        let store = PolicyStore::new();
        store.upsert("test:require-layout", files).unwrap();
        let registry = Arc::new(FakeRegistry::default());
        let d = Digest::sha256(b"image");
        registry.tag(IMAGE, &d, vec![]);
        (store, registry, d)
    }

    fn messages(v: &ImageVerdict) -> String {
        v.results
            .iter()
            .flat_map(|r| r.messages.clone())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn a_good_chain_admits_and_broken_chains_are_denied_naming_step_and_rule() {
        let (ci, release) = (key(CI_KEY), key(RELEASE_KEY));
        let files = library_files();
        let (store, registry, d) = setup(&files);
        registry.attach(&d, &build_link(&ci, &d));
        registry.attach(&d, &release_link(&release, &d, &d));
        let v = check(&store, &registry).await;
        assert!(v.admitted(), "{v:?}");

        // The release step consumed something CI did not build.
        let (store, registry, d) = setup(&files);
        registry.attach(&d, &build_link(&ci, &d));
        registry.attach(&d, &release_link(&release, &d, &Digest::sha256(b"other")));
        let v = check(&store, &registry).await;
        assert!(!v.admitted());
        let m = messages(&v);
        assert!(m.contains("at step \"release\", rule \"expected_materials: DISALLOW *\", artifact \"registry.test/app\""), "{m}");

        // No build link, or one signed by a key the layout does not authorize.
        let (store, registry, d) = setup(&files);
        registry.attach(&d, &build_link(&release, &d));
        registry.attach(&d, &release_link(&release, &d, &d));
        let m = messages(&check(&store, &registry).await);
        assert!(
            m.contains("threshold check failed at step \"build\""),
            "{m}"
        );

        // A chain that produced another image.
        let (store, registry, d) = setup(&files);
        let other = Digest::sha256(b"other");
        registry.attach(&d, &build_link(&ci, &other));
        registry.attach(&d, &release_link(&release, &other, &other));
        let m = messages(&check(&store, &registry).await);
        assert!(
            m.contains("image-binding check failed at step \"release\""),
            "{m}"
        );
    }

    /// `bindImage` names the step (and artifact pattern) whose product must be the image,
    /// for chains whose last step is not the build.
    #[tokio::test]
    async fn the_policy_may_name_the_step_and_artifact_that_bind_the_image() {
        let (ci, release) = (key(CI_KEY), key(RELEASE_KEY));
        let with_binding = |binding: &str| {
            let mut files = library_files();
            let spec = files["policy.yaml"].replace(
                "  acceptedInspections: []",
                &format!("  acceptedInspections: []\n  bindImage: {binding}"),
            );
            assert_ne!(spec, files["policy.yaml"]);
            files.insert("policy.yaml".into(), spec);
            files
        };
        let build_binds = with_binding("{step: build, artifact: \"registry.test/*\"}");
        // The build produced the image; the release step consumed it and produced it again.
        let (store, registry, d) = setup(&build_binds);
        registry.attach(&d, &build_link(&ci, &d));
        registry.attach(&d, &release_link(&release, &d, &d));
        assert!(check(&store, &registry).await.admitted());

        // A pattern no product of the build matches: denied, naming the step and the rule.
        let (store, registry, d) = setup(&with_binding("{step: build, artifact: \"*.tar\"}"));
        registry.attach(&d, &build_link(&ci, &d));
        registry.attach(&d, &release_link(&release, &d, &d));
        let v = check(&store, &registry).await;
        assert!(!v.admitted());
        let m = messages(&v);
        assert!(
            m.contains(
                "image-binding check failed at step \"build\", rule \"bind image to *.tar\""
            ) && m.contains("no product matching \"*.tar\" of step \"build\" has the image digest"),
            "{m}"
        );

        // A step the layout does not have is a broken bundle, not a silent default.
        let err = PolicyStore::new()
            .upsert("test:x", &with_binding("{step: deploy}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the image binding names step \"deploy\", which the layout does not have"),
            "{err}"
        );
        let err = PolicyStore::new()
            .upsert("test:y", &with_binding("{stepp: build}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("stepp"), "{err}");
    }

    #[tokio::test]
    async fn slsa_provenance_is_read_as_the_link_of_the_named_step() {
        let (ci, release) = (key(CI_KEY), key(RELEASE_KEY));
        let mut files = library_files();
        let spec = files["policy.yaml"].replace(
            "  acceptedInspections: []",
            "  acceptedInspections: []\n  provenanceStep: build",
        );
        files.insert("policy.yaml".into(), spec);
        let (store, registry, d) = setup(&files);
        let provenance = link(
            &ci,
            &d,
            "https://slsa.dev/provenance/v1",
            json!({
            "buildDefinition": {"buildType": "https://example.test/make", "externalParameters": {},
                "resolvedDependencies": [{"name": "src/main.go", "digest": {"sha256": "aa".repeat(32)}}]},
            "runDetails": {"builder": {"id": "https://ci.example"}}}),
        );
        registry.attach(&d, &provenance);
        registry.attach(&d, &release_link(&release, &d, &d));
        let v = check(&store, &registry).await;
        assert!(v.admitted(), "{v:?}");
    }

    #[test]
    fn a_layout_that_does_not_verify_is_a_broken_bundle() {
        let files = library_files();
        let store = PolicyStore::new();
        // Owner key that did not sign it.
        let mut wrong = files.clone();
        let ci_pub = key(CI_KEY).public_key_pem();
        let release_pub = key(RELEASE_KEY).public_key_pem();
        let indent = |p: &str| {
            p.lines()
                .map(|l| format!("        {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        wrong.insert(
            "policy.yaml".into(),
            files["policy.yaml"]
                .replace(&indent(release_pub.trim_end()), &indent(ci_pub.trim_end())),
        );
        assert_ne!(wrong["policy.yaml"], files["policy.yaml"]);
        let err = store.upsert("test:a", &wrong).unwrap_err().to_string();
        assert!(err.contains("not signed by owner key"), "{err}");
        // A layout changed after signing.
        let mut tampered = files.clone();
        tampered.insert(
            "root.layout".into(),
            files["root.layout"].replace("\"DISALLOW\"", "\"ALLOW\""),
        );
        let err = store.upsert("test:b", &tampered).unwrap_err().to_string();
        assert!(err.contains("not signed by owner key"), "{err}");
        // Missing.
        let mut missing = files.clone();
        missing.remove("root.layout");
        let err = store.upsert("test:c", &missing).unwrap_err().to_string();
        assert!(err.contains("no file \"root.layout\""), "{err}");
        store.upsert("test:d", &files).unwrap();
    }

    #[tokio::test]
    async fn inspections_are_refused_unless_the_policy_accepts_them() {
        let (ci, release) = (key(CI_KEY), key(RELEASE_KEY));
        let mut files = library_files();
        let mut signed: Value = serde_json::from_str(&files["root.layout"]).unwrap();
        let mut layout = signed["signed"].take();
        layout["inspect"] = json!([{"name": "scan", "run": ["scanner", "."],
            "expected_materials": [], "expected_products": []}]);
        let resigned =
            crate::intoto::sign_layout(layout.to_string().as_bytes(), &release, false).unwrap();
        files.insert("root.layout".into(), resigned);
        let (store, registry, d) = setup(&files);
        registry.attach(&d, &build_link(&ci, &d));
        registry.attach(&d, &release_link(&release, &d, &d));
        let m = messages(&check(&store, &registry).await);
        assert!(
            m.contains("inspection check failed at step \"scan\"")
                && m.contains("admission never runs them"),
            "{m}"
        );
        let spec =
            files["policy.yaml"].replace("acceptedInspections: []", "acceptedInspections: [scan]");
        files.insert("policy.yaml".into(), spec);
        let (store, registry, d) = setup(&files);
        registry.attach(&d, &build_link(&ci, &d));
        registry.attach(&d, &release_link(&release, &d, &d));
        let v = check(&store, &registry).await;
        assert!(v.admitted(), "{v:?}");
    }
}
