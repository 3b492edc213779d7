//! Controls: the statements an auditor checks ("C-02 dependencies scanned for known
//! CVEs"), declared by the policies that implement them (`controls:` in `policy.yaml`),
//! and each control's outcome per image with the evidence that supports it.
//!
//! A control is *satisfied* for an image when every policy declaring it applies to the
//! image and passed; *failed* when one of them failed (in any mode: a `warn` or `audit`
//! policy admits, but its control is still not met); *not applicable* when none of its
//! policies applies to the image (their `match` rules leave it out).

use crate::engine::{ImageVerdict, PolicyResult, VerifiedItem};
use crate::policy::Bundle;
use serde::{Deserialize, Serialize};

/// Longest control id.
pub const MAX_CONTROL_ID: usize = 63;

/// The policy name the engine files failures under that stop an image before any policy
/// ran (too many images, the review deadline).
const ENGINE_POLICY: &str = "custody";

/// A control a policy implements, as declared in `policy.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// The control's id in the organisation's catalogue, e.g. `C-02`.
    pub id: String,
    /// What the control requires, in the catalogue's words.
    pub title: String,
}

impl Control {
    /// Checks one declaration (non-empty id without spaces, non-empty title).
    pub(crate) fn validate(&self) -> Result<(), String> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= MAX_CONTROL_ID
            && !self.id.chars().any(|c| c.is_whitespace() || c.is_control());
        if !id_ok {
            return Err(format!(
                "control id {:?} must be 1-{MAX_CONTROL_ID} characters without spaces",
                self.id
            ));
        }
        if self.title.trim().is_empty() {
            return Err(format!("control {:?} has an empty title", self.id));
        }
        Ok(())
    }
}

/// Checks a bundle's `controls:` list: each declaration valid, ids unique.
pub(crate) fn validate_all(controls: &[Control]) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for c in controls {
        c.validate()?;
        if !seen.insert(c.id.as_str()) {
            return Err(format!("control {:?} is declared twice", c.id));
        }
    }
    Ok(())
}

/// A control's outcome for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ControlStatus {
    /// Every policy implementing the control applies to the image and passed.
    Satisfied,
    /// A policy implementing the control failed for the image.
    Failed,
    /// No policy implementing the control applies to the image.
    NotApplicable,
}

impl ControlStatus {
    /// `satisfied`, `failed` or `not-applicable`.
    pub fn as_str(self) -> &'static str {
        match self {
            ControlStatus::Satisfied => "satisfied",
            ControlStatus::Failed => "failed",
            ControlStatus::NotApplicable => "not-applicable",
        }
    }
}

impl std::fmt::Display for ControlStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A piece of verified evidence a control outcome rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceCitation {
    /// The statement's predicate type.
    pub predicate_type: String,
    /// The digest of the evidence blob (envelope or bundle).
    pub digest: String,
    /// Who signed it: key id(s) (hex SHA-256 of the public key) or, for keyless
    /// evidence, the certificate identity (`subject (issuer)`); several joined by `, `.
    pub signer: String,
    /// Where it was found: `referrers-api`, `tag-schema` or `cosign-tag`, then the
    /// digest of the manifest that carried it.
    pub source: String,
    /// When it was made, RFC 3339, when known (the referrer's
    /// `org.opencontainers.image.created`, else a time in the predicate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

impl EvidenceCitation {
    /// The citation of one verified item of an engine verdict.
    pub fn of(item: &VerifiedItem) -> EvidenceCitation {
        EvidenceCitation {
            predicate_type: item.predicate_type.clone(),
            digest: item.blob_digest.clone(),
            signer: item.identities.join(", "),
            source: match &item.manifest_digest {
                Some(m) => format!("{} {m}", item.source),
                None => item.source.clone(),
            },
            created: item.created.clone(),
        }
    }
}

/// One control's outcome for one image, with the evidence behind it or the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlOutcome {
    /// The control id.
    pub id: String,
    /// The control's title.
    pub title: String,
    /// The outcome.
    pub status: ControlStatus,
    /// The policies that implement the control (all of them, applicable or not).
    pub policies: Vec<String>,
    /// Verified evidence accepted by those policies for this image.
    pub evidence: Vec<EvidenceCitation>,
    /// Why the control failed or does not apply (none when satisfied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A control of the loaded policies and every policy that declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlSet {
    /// The control (the title of the first declaring policy, by name).
    pub control: Control,
    /// The policies that declare it, by name.
    pub policies: Vec<String>,
}

/// The control catalogue of a set of bundles: each declared id once, ordered by id.
pub fn catalogue(bundles: &[Bundle]) -> Vec<ControlSet> {
    let mut sorted: Vec<&Bundle> = bundles.iter().collect();
    sorted.sort_by(|a, b| a.name().cmp(b.name()));
    let mut sets: Vec<ControlSet> = Vec::new();
    for b in sorted {
        for c in &b.spec().controls {
            match sets.iter_mut().find(|s| s.control.id == c.id) {
                Some(s) => s.policies.push(b.name().to_owned()),
                None => sets.push(ControlSet {
                    control: c.clone(),
                    policies: vec![b.name().to_owned()],
                }),
            }
        }
    }
    sets.sort_by(|a, b| a.control.id.cmp(&b.control.id));
    sets
}

fn result_line(r: &PolicyResult) -> String {
    let category = r
        .category
        .map_or_else(|| "policy-denied".to_owned(), |c| c.to_string());
    let words = if r.messages.is_empty() {
        "denied".to_owned()
    } else {
        r.messages.join("; ")
    };
    format!("{} [{category}]: {words}", r.policy)
}

/// Each control's outcome for the image of `verdict` (one entry per control of
/// `catalogue`, in its order).
pub fn outcomes(catalogue: &[ControlSet], verdict: &ImageVerdict) -> Vec<ControlOutcome> {
    let engine_failure = verdict
        .results
        .iter()
        .find(|r| r.policy == ENGINE_POLICY && !r.allowed);
    catalogue
        .iter()
        .map(|set| outcome(set, verdict, engine_failure))
        .collect()
}

fn outcome(
    set: &ControlSet,
    verdict: &ImageVerdict,
    engine_failure: Option<&PolicyResult>,
) -> ControlOutcome {
    let mine = |p: &String| set.policies.contains(p);
    let results: Vec<&PolicyResult> = verdict
        .results
        .iter()
        .filter(|r| mine(&r.policy))
        .collect();
    let evidence: Vec<EvidenceCitation> = verdict
        .evidence
        .verified
        .iter()
        .filter(|v| v.policies.iter().any(mine))
        .map(EvidenceCitation::of)
        .collect();
    let failures: Vec<String> = results
        .iter()
        .filter(|r| !r.allowed)
        .map(|r| result_line(r))
        .collect();
    let (status, reason) = if let Some(f) = engine_failure.filter(|_| results.is_empty()) {
        (
            ControlStatus::Failed,
            Some(format!("not evaluated: {}", result_line(f))),
        )
    } else if results.is_empty() {
        (
            ControlStatus::NotApplicable,
            Some(format!(
                "no policy implementing {} ({}) applies to this image",
                set.control.id,
                set.policies.join(", ")
            )),
        )
    } else if !failures.is_empty() {
        (ControlStatus::Failed, Some(failures.join("; ")))
    } else {
        (ControlStatus::Satisfied, None)
    };
    ControlOutcome {
        id: set.control.id.clone(),
        title: set.control.title.clone(),
        status,
        policies: set.policies.clone(),
        evidence,
        reason,
    }
}

/// Most bytes of the `controls` audit annotation; images past it are counted, not listed.
pub const MAX_ANNOTATION_BYTES: usize = 4096;

/// The compact form of the outcomes of a decision for the `controls` audit annotation: a
/// JSON object from `image@short-digest` to `{control id: status}`, at most
/// [`MAX_ANNOTATION_BYTES`] (further images are counted under `"…"`). `None` when no
/// image has controls.
pub fn annotation(verdicts: &[ImageVerdict]) -> Option<String> {
    let mut map = serde_json::Map::new();
    let mut omitted = 0usize;
    let mut used = 2usize;
    for v in verdicts.iter().filter(|v| !v.controls.is_empty()) {
        let key = match &v.digest {
            Some(d) => format!("{}@{}", v.image, d.short()),
            None => v.image.clone(),
        };
        let statuses: serde_json::Map<String, serde_json::Value> = v
            .controls
            .iter()
            .map(|c| (c.id.clone(), c.status.as_str().into()))
            .collect();
        let value = serde_json::Value::Object(statuses);
        let cost = key.len() + value.to_string().len() + 4;
        // Room is kept for the omission count (`,"…":NNNNN`).
        if used + cost + 16 > MAX_ANNOTATION_BYTES {
            omitted += 1;
            continue;
        }
        used += cost;
        map.insert(key, value);
    }
    if map.is_empty() && omitted == 0 {
        return None;
    }
    if omitted > 0 {
        map.insert("…".to_owned(), omitted.into());
    }
    Some(serde_json::Value::Object(map).to_string())
}

#[cfg(test)]
#[path = "controls_tests.rs"]
mod tests;
