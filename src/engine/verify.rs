//! Evidence -> verified statements, per policy: each envelope is checked against the
//! policy's attestors, its statement parsed, and its subject matched to the image.
//! Everything that fails is turned into a rejection with a reason and a category.

use crate::attest::{
    Envelope, INTOTO_PAYLOAD_TYPE, OpenError, Statement, Verified, VerifyError, open_envelope,
    open_statement, subject_among,
};
use crate::category::Category;
use crate::digest::Digest;
use crate::policy::input::{
    RejectedEvidence, SignerInfo, SourceInfo, SubjectInfo, VerifiedAttestation,
};
use crate::policy::{Attestor, Bundle};
use crate::registry::{Evidence, EvidenceFormat, SkipReason, Skipped};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One piece of evidence, parsed once: for all policies of a request, and for every
/// later request that meets the same blob (see [`VerifyCache::parsed`]).
pub(crate) struct Parsed<'a> {
    pub(crate) evidence: &'a Evidence,
    parsed: Arc<ParsedBlob>,
}

/// What a blob's bytes say, worked out once. Everything here follows from the bytes
/// and the format alone, so it is shared by blob digest.
struct ParsedBlob {
    envelope: Result<Envelope, OpenError>,
    /// The predicate type the unverified payload claims (for messages only).
    claimed_type: Option<String>,
    statement: std::sync::OnceLock<Result<Statement, OpenError>>,
}

#[derive(serde::Deserialize)]
struct Claim {
    #[serde(rename = "predicateType")]
    predicate_type: Option<String>,
}

fn parse_blob(ev: &Evidence) -> ParsedBlob {
    let envelope = open_envelope(ev.format, &ev.bytes);
    let claimed_type = envelope.as_ref().ok().and_then(|e| {
        (e.payload_type == INTOTO_PAYLOAD_TYPE)
            .then(|| serde_json::from_slice::<Claim>(&e.payload).ok())
            .flatten()
            .and_then(|c| c.predicate_type)
    });
    ParsedBlob {
        envelope,
        claimed_type,
        statement: std::sync::OnceLock::new(),
    }
}

/// Parses every piece of evidence, or takes the parse from `cache`.
pub(crate) fn parse_all<'a>(evidence: &'a [Evidence], cache: &VerifyCache) -> Vec<Parsed<'a>> {
    evidence
        .iter()
        .map(|ev| Parsed {
            evidence: ev,
            parsed: cache.parsed(ev),
        })
        .collect()
}

impl Parsed<'_> {
    pub(crate) fn envelope(&self) -> &Result<Envelope, OpenError> {
        &self.parsed.envelope
    }

    pub(crate) fn claimed_type(&self) -> Option<&str> {
        self.parsed.claimed_type.as_deref()
    }

    /// The statement of the verified payload. `verified` came from this very envelope,
    /// so its payload is the envelope's and the parse can be shared.
    fn statement(&self, verified: &Verified) -> &Result<Statement, OpenError> {
        self.parsed
            .statement
            .get_or_init(|| open_statement(verified))
    }

    pub(crate) fn source(&self) -> SourceInfo {
        source_info(self.evidence)
    }
}

pub(crate) fn source_info(ev: &Evidence) -> SourceInfo {
    SourceInfo {
        kind: ev.source.as_str().to_owned(),
        format: ev.format.as_str().to_owned(),
        manifest_digest: Some(ev.manifest_digest.to_string()),
        blob_digest: Some(ev.blob_digest.to_string()),
        artifact_type: ev.artifact_type.clone(),
    }
}

/// What is shared across requests, all keyed by the evidence blob digest (the registry
/// checked the bytes against it) and the format it is read as, so nothing can go stale:
/// verification outcomes (with the attestor's keys and threshold), parsed envelopes and
/// statements, and predicates converted for Rego. Each map is bounded: cleared when full.
#[derive(Default)]
pub(crate) struct VerifyCache {
    results: Mutex<HashMap<(Digest, &'static str, String), Outcome>>,
    parsed: Mutex<HashMap<(Digest, &'static str), Arc<ParsedBlob>>>,
    predicates: Mutex<HashMap<String, regorus::Value>>,
}

impl std::fmt::Debug for VerifyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyCache").finish_non_exhaustive()
    }
}

/// Inserts into a bounded map, emptying it first when full.
fn bounded_insert<K: std::hash::Hash + Eq, V>(map: &Mutex<HashMap<K, V>>, key: K, value: V) {
    if let Ok(mut m) = map.lock() {
        if m.len() >= VERIFY_CACHE_ENTRIES {
            m.clear();
        }
        m.insert(key, value);
    }
}

/// One attestor's verdict on one envelope.
type Outcome = Arc<Result<Verified, VerifyError>>;

/// Most outcomes kept (each holds at most one payload).
const VERIFY_CACHE_ENTRIES: usize = 2048;

fn attestor_identity(a: &Attestor, root_generation: u64) -> String {
    format!("{}#root{root_generation}", a.cache_key())
}

/// The Sigstore bundle keyless evidence comes in: the blob itself, or the bundle a
/// legacy cosign layer's annotations amount to.
fn keyless_bundle(ev: &Evidence) -> Option<serde_json::Value> {
    match ev.format {
        EvidenceFormat::SigstoreBundle => serde_json::from_slice(&ev.bytes).ok(),
        EvidenceFormat::DsseEnvelope => {
            crate::attest::sigstore::legacy_cosign_bundle(&ev.bytes, &ev.annotations)?.ok()
        }
    }
}

impl VerifyCache {
    /// The outcome of `a` over the envelope of `ev` (one format's reading of the blob:
    /// the same bytes read as another format are another envelope).
    fn verify(&self, a: &Attestor, ev: &Evidence, env: &Envelope) -> Outcome {
        // Keyless attestors verify against the trusted root in force; their verdicts are
        // cached per root generation.
        let root =
            (!a.identities.is_empty()).then(|| crate::policy::trust_root::global().current());
        let generation = match &root {
            Some(Ok((_, g))) => *g,
            Some(Err(_)) => u64::MAX,
            None => 0,
        };
        let key = (
            ev.blob_digest.clone(),
            ev.format.as_str(),
            attestor_identity(a, generation),
        );
        if let Some(hit) = self.results.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return hit;
        }
        let outcome = Arc::new(match &root {
            Some(Ok((root, _))) => a.verify_evidence(env, keyless_bundle(ev).as_ref(), root),
            Some(Err(e)) => Err(VerifyError::Keyless(e.clone())),
            None => a.verify(env),
        });
        bounded_insert(&self.results, key, outcome.clone());
        outcome
    }

    fn parsed(&self, ev: &Evidence) -> Arc<ParsedBlob> {
        let key = (ev.blob_digest.clone(), ev.format.as_str());
        if let Some(hit) = self.parsed.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return hit;
        }
        let parsed = Arc::new(parse_blob(ev));
        bounded_insert(&self.parsed, key, parsed.clone());
        parsed
    }

    /// The Rego value of the predicate in blob `blob` read as `format`, converted by
    /// `convert` once.
    pub(crate) fn predicate_value(
        &self,
        format: &str,
        blob: &str,
        convert: impl FnOnce() -> regorus::Value,
    ) -> regorus::Value {
        let key = format!("{format} {blob}");
        if let Some(hit) = self
            .predicates
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return hit;
        }
        let value = convert();
        bounded_insert(&self.predicates, key, value.clone());
        value
    }

    /// How many outcomes are cached.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.results.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// How many parsed blobs are cached.
    #[cfg(test)]
    pub(crate) fn parsed_len(&self) -> usize {
        self.parsed.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// How many converted predicates are cached.
    #[cfg(test)]
    pub(crate) fn predicates_len(&self) -> usize {
        self.predicates.lock().map(|m| m.len()).unwrap_or(0)
    }
}

/// The statements one policy may see, and what it may not.
#[derive(Default)]
pub(crate) struct PolicyEvidence {
    pub(crate) attestations: Vec<VerifiedAttestation>,
    pub(crate) rejected: Vec<RejectedEvidence>,
}

fn reject(p: &Parsed<'_>, category: Category, reason: String) -> RejectedEvidence {
    RejectedEvidence {
        category,
        reason,
        claimed_predicate_type: p.claimed_type().map(str::to_owned),
        source: p.source(),
    }
}

/// The most telling category among several attestors' refusals.
fn refusal(errors: &[(&str, &VerifyError)]) -> (Category, String) {
    let pick = errors
        .iter()
        .find(|(_, e)| e.category() == Category::BadSignature)
        .or_else(|| errors.first());
    match pick {
        Some((_, e)) if errors.len() == 1 => (e.category(), describe(e)),
        Some((name, e)) => (e.category(), format!("attestor {name}: {}", describe(e))),
        None => (Category::UntrustedSigner, "no attestor".into()),
    }
}

/// A refusal in words that fit on one line of `kubectl` output (short key ids).
fn describe(e: &VerifyError) -> String {
    match e {
        VerifyError::UntrustedSigner { keyids } => {
            let ids: Vec<&str> = keyids.iter().map(|k| &k[..k.len().min(12)]).collect();
            format!(
                "signed by key {}, which no attestor of this policy trusts",
                ids.join(", ")
            )
        }
        other => other.to_string(),
    }
}

/// Verifies all evidence for one policy. `digests` are the image digest first, then its
/// platform digests: a statement must be about one of them.
pub(crate) fn for_policy(
    bundle: &Bundle,
    parsed: &[Parsed<'_>],
    digests: &[Digest],
    cache: &VerifyCache,
) -> PolicyEvidence {
    let mut out = PolicyEvidence::default();
    if bundle.attestors().is_empty() {
        return out;
    }
    for p in parsed {
        // The claim is read from the very bytes the signature covers, so a statement of a
        // type this policy does not read is skipped before verification (not rejected).
        if p.claimed_type().is_some_and(|t| !bundle.wants_predicate(t)) {
            continue;
        }
        let env = match p.envelope() {
            Ok(env) => env,
            Err(e) => {
                out.rejected.push(reject(p, e.category(), e.to_string()));
                continue;
            }
        };
        let mut accepted: Vec<&str> = Vec::new();
        let mut signers: Vec<SignerInfo> = Vec::new();
        let mut errors: Vec<(&str, VerifyError)> = Vec::new();
        let mut verified: Option<Verified> = None;
        for a in bundle.attestors() {
            match cache.verify(a, p.evidence, env).as_ref() {
                Ok(v) => {
                    accepted.push(&a.name);
                    signers.extend(v.signers.iter().map(|s| {
                        SignerInfo {
                            attestor: a.name.clone(),
                            key_id: s.key_id.clone(),
                            name: s.name.clone(),
                            identity: s
                                .identity
                                .as_ref()
                                .map(crate::policy::input::SignerIdentity::from_certificate),
                        }
                    }));
                    verified.get_or_insert_with(|| v.clone());
                }
                Err(e) => errors.push((&a.name, e.clone())),
            }
        }
        let Some(verified) = verified else {
            let refs: Vec<(&str, &VerifyError)> = errors.iter().map(|(n, e)| (*n, e)).collect();
            let (category, reason) = refusal(&refs);
            out.rejected.push(reject(p, category, reason));
            continue;
        };
        let statement = match p.statement(&verified) {
            Ok(s) => s,
            Err(e) => {
                out.rejected.push(reject(p, e.category(), e.to_string()));
                continue;
            }
        };
        let subject = match subject_among(statement, digests) {
            Ok(subject) => subject,
            Err(reason) => {
                out.rejected
                    .push(reject(p, Category::SubjectMismatch, reason));
                continue;
            }
        };
        if !bundle.wants_predicate(&statement.predicate_type) {
            continue;
        }
        out.attestations.push(VerifiedAttestation {
            statement_type: statement.type_uri.clone(),
            predicate_type: statement.predicate_type.clone(),
            predicate: statement.predicate.clone(),
            subjects: statement
                .subjects
                .iter()
                .map(|s| SubjectInfo {
                    name: s.name.clone(),
                    digest: s.digest.clone(),
                })
                .collect(),
            subject_digest: subject.to_string(),
            attestors: accepted.iter().map(|s| (*s).to_owned()).collect(),
            signers,
            source: p.source(),
        });
    }
    out
}

/// Registry-level leftovers that were evidence but unusable (too large, wrong subject,
/// failed fetch), as rejections. Unknown formats are not evidence and are left out.
pub(crate) fn skipped_as_rejected(skipped: &[Skipped]) -> Vec<RejectedEvidence> {
    skipped
        .iter()
        .filter(|s| !matches!(s.reason, SkipReason::UnsupportedMediaType))
        .map(|s| RejectedEvidence {
            category: s.reason.category(),
            reason: s.reason.to_string(),
            claimed_predicate_type: None,
            source: SourceInfo {
                kind: s.source.as_str().to_owned(),
                format: "unknown".to_owned(),
                manifest_digest: s.manifest_digest.as_ref().map(ToString::to_string),
                blob_digest: None,
                artifact_type: s.media_type.clone(),
            },
        })
        .collect()
}
