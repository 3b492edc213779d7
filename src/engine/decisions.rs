//! Remembered decisions: one image's policy results and evidence summary, keyed by
//! exactly what [`super::decide::decide`] reads, so that a warm review of a known image
//! builds no input, converts nothing and asks no memo.
//!
//! `decide` is a function of the applicable bundles, the image's registry facts (digest,
//! media type, platforms, the evidence found and skipped) and the request context. The
//! key holds, as JSON text compared in full (no hashing, so no collisions):
//!
//! - each applicable bundle's fingerprint (its files; a reload with other files is
//!   another key);
//! - the image reference and every registry fact, the evidence by its verified blob
//!   digest, manifest, source, format and annotations (the bytes are fixed by the digest);
//! - of the request context, only what some applicable bundle reads (the memo's reading
//!   of its Rego, [`crate::policy::memo`]): the workload and its containers, the
//!   namespace, the request fields, and the evaluation time (whole seconds) when a bundle
//!   reads it or verifies a layout.
//!
//! The memo's rules apply: nothing is remembered when an applicable bundle is not
//! memoised (it reads the world, or its `policy.yaml` says `memoize: false`), and a
//! decision in which an evaluation failed or timed out is not kept.

use super::decide::{Context, EVALUATION_FAILED, ImageFacts};
use super::verdict::{EvidenceSummary, PolicyResult};
use crate::category::Category;
use crate::policy::Bundle;
use crate::policy::memo::InputReads;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Decisions kept; the cache is emptied when full.
const DECISION_ENTRIES: usize = 4096;

/// The `cache` label of decision lookups in `custody_cache_requests_total`.
pub(crate) const DECISION_CACHE: &str = "decision";

/// One image's remembered decision.
pub(crate) type Decision = Arc<(Vec<PolicyResult>, EvidenceSummary)>;

/// Remembered decisions, shared by every request of an engine.
#[derive(Debug, Default)]
pub(crate) struct DecisionCache {
    entries: Mutex<HashMap<String, Decision>>,
}

/// Which parts of the request context the applicable bundles read.
#[derive(Debug, Default, PartialEq, Eq)]
struct Reads {
    workload: bool,
    namespace: bool,
    request: bool,
    time: bool,
}

impl Reads {
    /// `None` when some bundle is not memoised: its decision is not remembered.
    fn of(bundles: &[Bundle]) -> Option<Reads> {
        let mut reads = Reads::default();
        for bundle in bundles {
            reads.time |= bundle.layout().is_some();
            match bundle.memo()?.reads() {
                InputReads::Whole => {
                    return Some(Reads {
                        workload: true,
                        namespace: true,
                        request: true,
                        time: true,
                    });
                }
                InputReads::Paths(paths) => {
                    for path in paths {
                        match (
                            path.first().map(String::as_str),
                            path.get(1).map(String::as_str),
                        ) {
                            (Some("workload"), _) => reads.workload = true,
                            (Some("namespace"), _) => reads.namespace = true,
                            (Some("request"), _) => reads.request = true,
                            (Some("evaluation"), None | Some("time" | "timeNs")) => {
                                reads.time = true
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        Some(reads)
    }
}

#[derive(Serialize)]
struct KeyParts<'a> {
    bundles: Vec<String>,
    image: &'a str,
    digest: String,
    media_type: &'a Option<String>,
    platforms: &'a [crate::registry::PlatformDigest],
    evidence: &'a [crate::registry::Evidence],
    skipped: &'a [crate::registry::Skipped],
    skipped_omitted: usize,
    require_all_platforms: bool,
    containers: Option<&'a [crate::policy::input::ContainerInfo]>,
    workload: Option<&'a crate::policy::input::WorkloadInfo>,
    namespace: Option<&'a crate::policy::input::NamespaceInfo>,
    request: Option<&'a crate::policy::input::RequestInfo>,
    time: Option<i64>,
}

/// The key of `decide(facts, bundles, ctx)`, or `None` when it is not remembered.
pub(crate) fn key(facts: &ImageFacts, bundles: &[Bundle], ctx: &Context) -> Option<String> {
    let reads = Reads::of(bundles)?;
    let parts = KeyParts {
        bundles: bundles
            .iter()
            .map(|b| b.fingerprint().to_string())
            .collect(),
        image: &facts.image.original,
        digest: facts.digest.to_string(),
        media_type: &facts.media_type,
        platforms: &facts.platforms,
        evidence: &facts.evidence,
        skipped: &facts.skipped,
        skipped_omitted: facts.skipped_omitted,
        require_all_platforms: ctx.require_all_platforms,
        containers: reads.workload.then_some(facts.containers.as_slice()),
        workload: reads.workload.then_some(&ctx.workload),
        namespace: reads.namespace.then_some(&ctx.namespace),
        request: reads.request.then_some(&ctx.request),
        time: reads.time.then(|| ctx.time.timestamp()),
    };
    serde_json::to_string(&parts).ok()
}

impl DecisionCache {
    /// The decision remembered under `key`.
    pub(crate) fn get(&self, key: &str) -> Option<Decision> {
        let found = self.entries.lock().ok().and_then(|m| m.get(key).cloned());
        let result = if found.is_some() { "hit" } else { "miss" };
        crate::metrics::metrics().cache_request(DECISION_CACHE, result);
        found
    }

    /// Remembers `decision` under `key`, unless an evaluation in it failed.
    pub(crate) fn put(&self, key: String, decision: &Decision) {
        let failed = decision.0.iter().any(|r| {
            r.category == Some(Category::Timeout)
                || r.messages.iter().any(|m| m.starts_with(EVALUATION_FAILED))
        });
        if failed {
            return;
        }
        if let Ok(mut m) = self.entries.lock() {
            if m.len() >= DECISION_ENTRIES {
                m.clear();
            }
            m.insert(key, decision.clone());
        }
    }

    /// Decisions remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().map(|m| m.len()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::FakeRegistry;
    use super::super::{CheckRequest, Engine, EngineConfig, ImageUse};
    use super::{DECISION_CACHE, EVALUATION_FAILED};
    use crate::attest::{INTOTO_PAYLOAD_TYPE, KeyAlgorithm, SigningKey, sign_envelope};
    use crate::digest::Digest;
    use crate::policy::PolicyStore;
    use crate::policy::input::NamespaceInfo;
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::time::Instant;

    const PT: &str = "https://example.test/checked/v1";
    const IMAGE: &str = "registry.test/app:1.0";

    /// A store with one bundle whose Rego is `rego` and an engine over a registry where
    /// `IMAGE` has one signed statement `{"ok": ok}`.
    fn engine(rego: &str, ok: bool) -> (Engine, Arc<FakeRegistry>, SigningKey) {
        let ci = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let key: String = ci
            .public_key_pem()
            .lines()
            .map(|l| format!("          {l}\n"))
            .collect();
        let mut files = BTreeMap::new();
        files.insert(
            "policy.yaml".to_owned(),
            format!(
                "apiVersion: custody.dev/v1\nkind: Policy\nname: checked\npackage: custody.checked\nattestors:\n  - name: ci\n    keys:\n      - name: ci-key\n        pem: |\n{key}predicateTypes: [\"{PT}\"]\n"
            ),
        );
        files.insert("policy.rego".to_owned(), rego.to_owned());
        let store = PolicyStore::new();
        store.upsert("test:checked", &files).unwrap();
        let registry = Arc::new(FakeRegistry::default());
        let d = Digest::sha256(b"app");
        registry.tag(IMAGE, &d, vec![]);
        let statement = serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "app", "digest": {"sha256": d.hex()}}],
            "predicateType": PT,
            "predicate": {"ok": ok},
        })
        .to_string();
        let envelope = sign_envelope(INTOTO_PAYLOAD_TYPE, statement.as_bytes(), &[&ci])
            .unwrap()
            .to_json();
        registry.attach(&d, envelope.as_bytes());
        let engine = Engine::new(registry.clone(), store, EngineConfig::default());
        (engine, registry, ci)
    }

    fn request(user: &str, label: &str) -> CheckRequest {
        let mut req = CheckRequest {
            images: vec![ImageUse::container(IMAGE, "app")],
            namespace: NamespaceInfo {
                name: "shop".into(),
                labels: BTreeMap::from([("team".to_owned(), label.to_owned())]),
            },
            ..CheckRequest::default()
        };
        req.request.user = user.to_owned();
        req
    }

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    #[tokio::test]
    async fn a_known_image_is_answered_from_the_cache_keyed_by_what_policies_read() {
        let rego = "package custody.checked\n\ndeny contains sprintf(\"team %s may not\", [input.namespace.labels.team]) if {\n\tsome a in input.attestations\n\tnot a.predicate.ok\n}\n\ndeny contains \"no evidence\" if count(input.attestations) == 0\n";
        let (engine, _, _) = engine(rego, false);
        let first = engine.check(&request("alice", "a"), deadline()).await;
        assert_eq!(first[0].results[0].messages, vec!["team a may not"]);
        assert_eq!(engine.decisions.len(), 1);
        // Another user: the policy does not read the request, the decision is reused.
        let second = engine.check(&request("bob", "a"), deadline()).await;
        assert_eq!(second, first);
        assert_eq!(engine.decisions.len(), 1);
        // Another namespace label, which the policy reads: decided again.
        let third = engine.check(&request("bob", "b"), deadline()).await;
        assert_eq!(third[0].results[0].messages, vec!["team b may not"]);
        assert_eq!(engine.decisions.len(), 2);
        let text = crate::metrics::metrics().render();
        assert!(
            text.contains(&format!("cache=\"{DECISION_CACHE}\",result=\"hit\"")),
            "{text}"
        );
    }

    #[tokio::test]
    async fn world_dependent_policies_and_failed_evaluations_are_not_remembered() {
        let reads_clock =
            "package custody.checked\n\ndeny contains \"late\" if time.now_ns() < 0\n";
        let (engine_a, _, _) = engine(reads_clock, true);
        let v = engine_a.check(&request("alice", "a"), deadline()).await;
        assert!(v[0].admitted(), "{v:?}");
        assert_eq!(engine_a.decisions.len(), 0);
        // A runtime error (concat over a number) fails the evaluation, which denies;
        // the next review evaluates again rather than reusing the failure.
        let fails = "package custody.checked\n\ndeny contains concat(\",\", input.namespace.labels.team) if true\n";
        let (engine_b, _, _) = engine(fails, true);
        let v = engine_b.check(&request("alice", "a"), deadline()).await;
        assert!(!v[0].admitted(), "{v:?}");
        assert!(
            v[0].results[0].messages[0].starts_with(EVALUATION_FAILED),
            "{v:?}"
        );
        assert_eq!(engine_b.decisions.len(), 0);
    }

    #[tokio::test]
    async fn new_evidence_is_a_new_key() {
        let rego = "package custody.checked\n\ndeny contains \"not ok\" if {\n\tsome a in input.attestations\n\tnot a.predicate.ok\n}\n";
        let (engine, registry, ci) = engine(rego, true);
        let first = engine.check(&request("alice", "a"), deadline()).await;
        assert!(first[0].admitted(), "{first:?}");
        // A second, failing statement appears for the same digest.
        let d = Digest::sha256(b"app");
        let statement = serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "app", "digest": {"sha256": d.hex()}}],
            "predicateType": PT,
            "predicate": {"ok": false},
        })
        .to_string();
        let envelope = sign_envelope(INTOTO_PAYLOAD_TYPE, statement.as_bytes(), &[&ci])
            .unwrap()
            .to_json();
        registry.attach(&d, envelope.as_bytes());
        let second = engine.check(&request("alice", "a"), deadline()).await;
        assert!(!second[0].admitted(), "{second:?}");
        assert_eq!(engine.decisions.len(), 2);
    }
}
