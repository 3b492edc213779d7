//! Engine decisions over the fake registry: good, missing, wrongly signed, tampered and
//! mismatched evidence; registry errors; the deadline; modes; platforms; folding.

use super::fake::{FakeRegistry, MemoryEvidence};
use super::*;
use crate::attest::{INTOTO_PAYLOAD_TYPE, KeyAlgorithm, SigningKey, sign_envelope};
use crate::policy::input::NamespaceInfo;
use crate::registry::{Platform, PlatformDigest, RegistryError};
use std::collections::BTreeMap;
use std::time::Duration;

const PT: &str = "https://example.test/checked/v1";
const REGO: &str = r#"package custody.checked

deny contains msg if {
	not some_ok
	msg := sprintf("no passing check for %s", [input.image.digest])
}

deny contains "check failed" if {
	some a in input.attestations
	a.predicate.ok == false
}

some_ok if {
	some a in input.attestations
	a.predicate.ok == true
}

warn contains "experimental" if input.image.tag == "beta"
"#;

/// Every engine test runs with two evidence sources: the registry and, beside it, an
/// in-memory source (as a transparency log or a directory of bundles would be).
struct World {
    registry: Arc<FakeRegistry>,
    memory: Arc<MemoryEvidence>,
    ci: SigningKey,
    store: PolicyStore,
}

fn policy_yaml(name: &str, mode: &str, pem: &str, extra: &str) -> String {
    let key = pem
        .lines()
        .map(|l| format!("          {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        "apiVersion: custody.dev/v1\nkind: Policy\nname: {name}\nmode: {mode}\npackage: custody.checked\n{extra}attestors:\n  - name: ci\n    keys:\n      - name: ci-key\n        pem: |\n{key}\npredicateTypes: [\"{PT}\"]\n"
    )
}

fn world_with(mode: &str, extra: &str) -> World {
    let ci = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let store = PolicyStore::new();
    let mut files = BTreeMap::new();
    files.insert(
        "policy.yaml".to_owned(),
        policy_yaml("checked", mode, &ci.public_key_pem(), extra),
    );
    files.insert("policy.rego".to_owned(), REGO.to_owned());
    store.upsert("test:checked", &files).unwrap();
    World {
        registry: Arc::new(FakeRegistry::default()),
        memory: Arc::new(MemoryEvidence::default()),
        ci,
        store,
    }
}

fn world() -> World {
    world_with("enforce", "")
}

fn statement(subject: &Digest, ok: bool) -> Vec<u8> {
    serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "app", "digest": {"sha256": subject.hex()}}],
        "predicateType": PT,
        "predicate": {"ok": ok},
    })
    .to_string()
    .into_bytes()
}

fn signed(key: &SigningKey, payload: &[u8]) -> Vec<u8> {
    sign_envelope(INTOTO_PAYLOAD_TYPE, payload, &[key])
        .unwrap()
        .to_json()
        .into_bytes()
}

fn digest(n: u8) -> Digest {
    Digest::sha256(&[n])
}

fn request(images: &[&str]) -> CheckRequest {
    CheckRequest {
        images: images
            .iter()
            .enumerate()
            .map(|(i, im)| ImageUse::container(im, &format!("c{i}")))
            .collect(),
        namespace: NamespaceInfo {
            name: "shop".into(),
            labels: BTreeMap::new(),
        },
        ..CheckRequest::default()
    }
}

async fn check(w: &World, images: &[&str]) -> Vec<ImageVerdict> {
    check_with(w, images, EngineConfig::default(), Duration::from_secs(10)).await
}

async fn check_with(
    w: &World,
    images: &[&str],
    config: EngineConfig,
    budget: Duration,
) -> Vec<ImageVerdict> {
    engine_of(w, config)
        .check(&request(images), Instant::now() + budget)
        .await
}

fn engine_of(w: &World, config: EngineConfig) -> Engine {
    Engine::new(w.registry.clone(), w.store.clone(), config).with_evidence_source(w.memory.clone())
}

fn only(v: &[ImageVerdict]) -> &PolicyResult {
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].results.len(), 1, "{v:?}");
    &v[0].results[0]
}

#[tokio::test]
async fn good_evidence_admits() {
    let w = world();
    let d = digest(1);
    w.registry.tag("registry.test/app:1.0", &d, vec![]);
    w.registry.attach(&d, &signed(&w.ci, &statement(&d, true)));
    let engine = engine_of(&w, EngineConfig::default());
    let deadline = Instant::now() + Duration::from_secs(10);
    let v = engine
        .check(&request(&["registry.test/app:1.0"]), deadline)
        .await;
    assert!(v[0].admitted(), "{v:?}");
    assert_eq!(v[0].digest.as_ref(), Some(&d));
    // The verification outcome is cached and reused by the next request.
    assert_eq!(engine.verified.len(), 1);
    let again = engine
        .check(&request(&["registry.test/app:1.0"]), deadline)
        .await;
    assert_eq!(again, v);
    assert_eq!(engine.verified.len(), 1);
    // The envelope was parsed, and its predicate converted, once for both requests.
    assert_eq!(engine.verified.parsed_len(), 1);
    assert_eq!(engine.verified.predicates_len(), 1);
    assert_eq!(v[0].evidence.verified.len(), 1);
    assert_eq!(
        v[0].evidence.verified[0].signers,
        vec!["ci/ci-key".to_string()]
    );
}

#[tokio::test]
async fn verified_evidence_the_policy_rejects_is_policy_denied() {
    let w = world();
    let d = digest(1);
    w.registry.tag("registry.test/app:1.0", &d, vec![]);
    w.registry.attach(&d, &signed(&w.ci, &statement(&d, false)));
    let v = check(&w, &["registry.test/app:1.0"]).await;
    let r = only(&v);
    assert!(!v[0].admitted());
    assert_eq!(r.category, Some(Category::PolicyDenied));
    assert!(r.messages.contains(&"check failed".to_string()), "{r:?}");
}

#[tokio::test]
async fn missing_evidence_is_no_attestation() {
    let w = world();
    let d = digest(1);
    w.registry.tag("registry.test/app:1.0", &d, vec![]);
    let v = check(&w, &["registry.test/app:1.0"]).await;
    let r = only(&v);
    assert!(!v[0].admitted());
    assert_eq!(r.category, Some(Category::NoAttestation));
    assert_eq!(r.messages, vec![format!("no passing check for {d}")]);
}

#[tokio::test]
async fn an_unknown_key_is_untrusted_signer() {
    let w = world();
    let other = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let d = digest(1);
    w.registry.tag("registry.test/app:1.0", &d, vec![]);
    w.registry.attach(&d, &signed(&other, &statement(&d, true)));
    let v = check(&w, &["registry.test/app:1.0"]).await;
    assert_eq!(only(&v).category, Some(Category::UntrustedSigner));
    assert_eq!(v[0].evidence.rejected.len(), 1);
    let short = &other.public_key().key_id()[..12];
    assert_eq!(
        v[0].evidence.rejected[0].reason,
        format!("signed by key {short}, which no attestor of this policy trusts")
    );
    assert_eq!(
        v[0].evidence.rejected[0].claimed_predicate_type.as_deref(),
        Some(PT)
    );
}

#[tokio::test]
async fn a_tampered_envelope_is_bad_signature() {
    let w = world();
    let d = digest(1);
    w.registry.tag("registry.test/app:1.0", &d, vec![]);
    let mut env = sign_envelope(INTOTO_PAYLOAD_TYPE, &statement(&d, false), &[&w.ci]).unwrap();
    env.payload = statement(&d, true);
    w.registry.attach(&d, env.to_json().as_bytes());
    let v = check(&w, &["registry.test/app:1.0"]).await;
    let r = only(&v);
    assert_eq!(r.category, Some(Category::BadSignature), "{r:?}");
    assert!(v[0].evidence.verified.is_empty());
}

/// The same refusal as `custody attestations --key` gives (src/cli/attestations).
#[tokio::test]
async fn a_signed_payload_that_is_not_a_statement_is_bad_request() {
    let w = world();
    let d = digest(1);
    w.registry.tag("registry.test/app:1.0", &d, vec![]);
    let env = sign_envelope("text/plain", b"not a statement", &[&w.ci]).unwrap();
    w.registry.attach(&d, env.to_json().as_bytes());
    let v = check(&w, &["registry.test/app:1.0"]).await;
    let r = only(&v);
    assert_eq!(r.category, Some(Category::BadRequest), "{r:?}");
    let rejected = &v[0].evidence.rejected;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].category, Category::BadRequest);
    assert!(
        rejected[0].reason.contains("not an in-toto statement"),
        "{rejected:?}"
    );
}

#[tokio::test]
async fn a_statement_about_another_digest_is_subject_mismatch() {
    let w = world();
    let d = digest(1);
    w.registry.tag("registry.test/app:1.0", &d, vec![]);
    w.registry
        .attach(&d, &signed(&w.ci, &statement(&digest(2), true)));
    let v = check(&w, &["registry.test/app:1.0"]).await;
    assert_eq!(only(&v).category, Some(Category::SubjectMismatch));
    assert!(
        v[0].evidence.rejected[0].reason.contains("not sha256:"),
        "{v:?}"
    );
}

#[tokio::test]
async fn registry_errors_keep_their_category() {
    let w = world();
    let v = check(&w, &["registry.test/missing:1.0"]).await;
    let r = only(&v);
    assert_eq!(r.category, Some(Category::NotFound));
    assert!(r.messages[0].contains("registry.test/missing"), "{r:?}");
    w.registry.fail_resolve(
        "registry.test/locked:1.0",
        RegistryError::Auth {
            image: "registry.test/locked:1.0".into(),
            step: "resolve tag",
            status: 401,
            hint: "",
        },
    );
    let v = check(&w, &["registry.test/locked:1.0"]).await;
    assert_eq!(only(&v).category, Some(Category::Auth));
    let v = check(&w, &["Not A Reference"]).await;
    assert_eq!(only(&v).category, Some(Category::BadRequest));
}

#[tokio::test]
async fn the_deadline_gives_a_timeout_naming_the_step_never_an_allow() {
    let w = world_with("enforce", "");
    let d = digest(1);
    w.registry.tag("registry.test/app:1.0", &d, vec![]);
    w.registry.attach(&d, &signed(&w.ci, &statement(&d, true)));
    w.registry.stall_discovery(Duration::from_secs(60));
    let v = check_with(
        &w,
        &["registry.test/app:1.0"],
        EngineConfig::default(),
        Duration::from_millis(200),
    )
    .await;
    let r = only(&v);
    assert!(!r.allowed);
    assert!(!v[0].admitted());
    assert_eq!(r.category, Some(Category::Timeout));
    assert!(r.messages[0].contains("discovering attestations"), "{r:?}");
    assert_eq!(v[0].digest.as_ref(), Some(&d));
}

#[tokio::test]
async fn warn_mode_fails_but_admits_and_rego_warnings_pass_through() {
    let w = world_with("warn", "");
    let d = digest(1);
    w.registry.tag("registry.test/app:beta", &d, vec![]);
    let v = check(&w, &["registry.test/app:beta"]).await;
    let r = only(&v);
    assert!(!r.allowed);
    assert_eq!(r.mode, crate::policy::Mode::Warn);
    assert!(v[0].admitted());
    assert_eq!(r.warnings, vec!["experimental".to_string()]);
}

#[tokio::test]
async fn match_rules_pick_the_policies() {
    let w = world_with("enforce", "match:\n  images: ['registry.test/only/*']\n");
    let d = digest(1);
    w.registry.tag("registry.test/app:1.0", &d, vec![]);
    let v = check(&w, &["registry.test/app:1.0"]).await;
    // No policy applies: the default no-policy action warns, and nothing is asked of
    // the registry, not even the digest.
    assert_eq!(v[0].results.len(), 1);
    let r = &v[0].results[0];
    assert_eq!(
        (r.policy.as_str(), r.mode, r.category),
        (
            "no-policy",
            crate::policy::Mode::Warn,
            Some(Category::NoPolicy)
        )
    );
    assert!(r.messages[0].contains("registry.test/app:1.0"), "{r:?}");
    assert!(v[0].admitted());
    assert_eq!(v[0].digest, None);
}

#[tokio::test]
async fn the_no_policy_action_is_the_operators_choice() {
    use crate::engine::NoPolicyAction;
    for (action, results, admitted) in [
        (NoPolicyAction::Allow, 0, true),
        (NoPolicyAction::Warn, 1, true),
        (NoPolicyAction::Deny, 1, false),
    ] {
        let w = world_with("enforce", "match:\n  images: ['registry.test/only/*']\n");
        let config = EngineConfig {
            no_policy: action,
            ..EngineConfig::default()
        };
        let v = check_with(
            &w,
            &["registry.test/app:1.0"],
            config,
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(v[0].results.len(), results, "{action:?}");
        assert_eq!(v[0].admitted(), admitted, "{action:?}");
    }
}

#[tokio::test]
async fn duplicate_images_are_folded() {
    let w = world();
    let d = digest(1);
    w.registry.tag("registry.test/app:1.0", &d, vec![]);
    w.registry.attach(&d, &signed(&w.ci, &statement(&d, true)));
    let v = check(
        &w,
        &[
            "registry.test/app:1.0",
            "registry.test/app:1.0",
            "registry.test/other:2",
        ],
    )
    .await;
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].containers.len(), 2);
    assert!(v[0].admitted());
    assert_eq!(v[1].results[0].category, Some(Category::NotFound));
}

#[tokio::test]
async fn every_platform_needs_evidence_when_required() {
    let w = world();
    let index = digest(1);
    let (amd, arm) = (digest(2), digest(3));
    let plat = |arch: &str, d: &Digest| PlatformDigest {
        platform: Some(Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: None,
        }),
        digest: d.clone(),
    };
    w.registry.tag(
        "registry.test/app:1.0",
        &index,
        vec![plat("amd64", &amd), plat("arm64", &arm)],
    );
    w.registry
        .attach(&index, &signed(&w.ci, &statement(&index, true)));
    w.registry
        .attach(&amd, &signed(&w.ci, &statement(&amd, true)));
    // Without the option, evidence for the index is enough.
    let v = check(&w, &["registry.test/app:1.0"]).await;
    assert!(v[0].admitted(), "{v:?}");
    let strict = EngineConfig {
        require_all_platforms: true,
        ..EngineConfig::default()
    };
    let v = check_with(
        &w,
        &["registry.test/app:1.0"],
        strict.clone(),
        Duration::from_secs(10),
    )
    .await;
    let r = only(&v);
    assert!(!r.allowed);
    assert_eq!(r.category, Some(Category::NoAttestation));
    assert_eq!(
        r.messages,
        vec![format!(
            "no verified attestation for platform linux/arm64 ({})",
            arm.short()
        )]
    );
    w.registry
        .attach(&arm, &signed(&w.ci, &statement(&arm, true)));
    let v = check_with(
        &w,
        &["registry.test/app:1.0"],
        strict,
        Duration::from_secs(10),
    )
    .await;
    assert!(v[0].admitted(), "{v:?}");
}

#[tokio::test]
async fn a_pinned_digest_is_used_as_is() {
    let w = world();
    let d = digest(7);
    w.registry.attach(&d, &signed(&w.ci, &statement(&d, true)));
    let image = format!("registry.test/app@{d}");
    let v = check(&w, &[&image]).await;
    assert!(v[0].admitted(), "{v:?}");
}

#[tokio::test]
async fn a_failed_verification_task_is_internal_never_policy_denied() {
    let err = tokio::spawn(async { panic!("a check crashed") })
        .await
        .unwrap_err();
    let failure = task_failed(err);
    assert_eq!(failure.category, Category::Internal);
    assert!(
        failure.message.starts_with("verification task failed"),
        "{}",
        failure.message
    );
    let w = world();
    let snapshot = w.store.snapshot();
    let bundles: Vec<Bundle> = snapshot.bundles().into_iter().cloned().collect();
    let results = fail_all(&bundles, failure.category, &failure.message);
    assert_eq!(results.len(), 1);
    assert!(results.iter().all(|r| !r.allowed));
    assert!(
        results
            .iter()
            .all(|r| r.category == Some(Category::Internal))
    );
}

/// The second evidence source beside the registry.
mod sources;
