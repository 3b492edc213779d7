//! The Rego input document: the contract between custody and policy authors.
//!
//! Versioned by [`INPUT_API_VERSION`]; documented in `docs/policy-input.md` with a JSON
//! Schema in `docs/policy-input.schema.json`. Only verified statements whose subject
//! matches the image digest appear in `attestations`; everything else is summarised in
//! `rejected` (with a reason and a category, never with its content).

use crate::category::Category;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `apiVersion` of the input document. Bumped on any incompatible change.
pub const INPUT_API_VERSION: &str = "custody.dev/v1";
/// The `kind` of the input document.
pub const INPUT_KIND: &str = "PolicyInput";

/// The whole document a policy sees as `input`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyInput {
    /// Always [`INPUT_API_VERSION`].
    pub api_version: String,
    /// Always [`INPUT_KIND`].
    pub kind: String,
    /// When and for which policy this evaluation runs.
    pub evaluation: EvaluationInfo,
    /// The image under decision.
    pub image: ImageInfo,
    /// Verified statements about this image's digest (or its platform manifests).
    pub attestations: Vec<VerifiedAttestation>,
    /// Evidence that was found but dropped before evaluation, with the reason.
    pub rejected: Vec<RejectedEvidence>,
    /// The workload that runs the image.
    pub workload: WorkloadInfo,
    /// The namespace the workload is created in.
    pub namespace: NamespaceInfo,
    /// The admission request (or the CLI's stand-in for one).
    pub request: RequestInfo,
    /// The in-toto layout verification, when the policy has a layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<super::layout::LayoutResult>,
}

/// Evaluation metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationInfo {
    /// Evaluation time, RFC 3339 UTC (`2026-11-22T02:00:00Z`). Use this, not `time.now_ns()`,
    /// so that decisions are reproducible in tests.
    pub time: String,
    /// The same instant in nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// The policy being evaluated.
    pub policy: String,
    /// Its mode (`enforce`, `warn`, `audit`).
    pub mode: String,
    /// The policy's options from `policy.yaml` (an object; `{}` when none).
    pub options: serde_json::Value,
}

/// The image under decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageInfo {
    /// The reference exactly as written in the workload.
    pub reference: String,
    /// Registry host (normalised, e.g. `docker.io`).
    pub registry: String,
    /// Repository path (normalised, e.g. `library/nginx`).
    pub repository: String,
    /// The tag, when the reference has one.
    pub tag: Option<String>,
    /// The resolved manifest (or index) digest, `sha256:<hex>`.
    pub digest: String,
    /// Media type of the resolved manifest, when known.
    pub media_type: Option<String>,
    /// For a multi-platform index: each platform's manifest digest.
    pub platforms: Vec<PlatformInfo>,
}

/// One platform manifest of a multi-platform image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformInfo {
    /// `os/architecture[/variant]`, e.g. `linux/arm64`.
    pub platform: String,
    /// The platform manifest's digest.
    pub digest: String,
}

/// A statement whose signature verified against at least one of the policy's attestors
/// and whose subject names the image digest (or one of its platform digests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedAttestation {
    /// The Statement `_type`, e.g. `https://in-toto.io/Statement/v1`.
    pub statement_type: String,
    /// The predicate type URI.
    pub predicate_type: String,
    /// The predicate body, as signed.
    pub predicate: serde_json::Value,
    /// The statement's subjects.
    pub subjects: Vec<SubjectInfo>,
    /// Which of the image's digests the statement is about (the image digest or a
    /// platform digest).
    pub subject_digest: String,
    /// Names of the policy's attestors whose threshold this statement met.
    pub attestors: Vec<String>,
    /// The keys whose signatures verified.
    pub signers: Vec<SignerInfo>,
    /// Where the evidence was found.
    pub source: SourceInfo,
}

/// One in-toto subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectInfo {
    /// The subject name (often the repository).
    pub name: String,
    /// Algorithm -> hex digest.
    pub digest: BTreeMap<String, String>,
}

/// A key that signed a verified statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignerInfo {
    /// The attestor the key belongs to.
    pub attestor: String,
    /// Hex SHA-256 of the key's SubjectPublicKeyInfo DER.
    pub key_id: String,
    /// The key's name in `policy.yaml`, when it has one (for a keyless signer, the
    /// certificate's subject: the identity that matched).
    pub name: Option<String>,
    /// For keyless evidence: who the Fulcio certificate says signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<SignerIdentity>,
}

/// The identity in a keyless signer's certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignerIdentity {
    /// The certificate's subject alternative name (workflow URI, email, ...).
    pub subject: String,
    /// The OIDC issuer.
    pub issuer: String,
    /// Fulcio certificate extensions by name (`sourceRepositoryURI`, `buildTrigger`,
    /// `runnerEnvironment`, ...).
    pub extensions: BTreeMap<String, String>,
}

impl SignerIdentity {
    /// From a verified certificate identity.
    pub fn from_certificate(id: &crate::attest::sigstore::CertificateIdentity) -> Self {
        SignerIdentity {
            subject: id.sans.first().cloned().unwrap_or_default(),
            issuer: id.issuer.clone().unwrap_or_default(),
            extensions: id.extensions.clone(),
        }
    }
}

/// Where a piece of evidence came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceInfo {
    /// `referrers-api`, `tag-schema` or `cosign-tag`.
    pub kind: String,
    /// `dsse-envelope` or `sigstore-bundle`.
    pub format: String,
    /// Digest of the manifest that carried the evidence.
    pub manifest_digest: Option<String>,
    /// Digest of the evidence blob.
    pub blob_digest: Option<String>,
    /// The artifact type the registry reported.
    pub artifact_type: Option<String>,
}

/// Evidence that was dropped before evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedEvidence {
    /// `bad-signature`, `untrusted-signer`, `subject-mismatch`, `too-large`, ... (one
    /// that [`Category::describes_evidence`]).
    pub category: Category,
    /// A short human-readable reason.
    pub reason: String,
    /// The predicate type the evidence *claims* (read from unverified bytes, for messages
    /// only; never base a decision on it).
    pub claimed_predicate_type: Option<String>,
    /// Where it was found.
    pub source: SourceInfo,
}

/// The workload (Pod or controller) and the container that runs the image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadInfo {
    /// `Pod`, `Deployment`, ... (empty from the CLI).
    pub kind: String,
    /// Namespace of the workload.
    pub namespace: String,
    /// Its name (may be empty for generated names).
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
    /// The pod's service account.
    pub service_account_name: String,
    /// The containers that use this image.
    pub containers: Vec<ContainerInfo>,
}

/// A container using the image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerInfo {
    /// The container's name.
    pub name: String,
    /// `container`, `initContainer`, `ephemeralContainer` or `imageVolume`.
    pub kind: String,
}

/// The namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceInfo {
    /// Its name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

/// The admission request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestInfo {
    /// `CREATE`, `UPDATE`, ... (`CREATE` from the CLI).
    pub operation: String,
    /// The user that sent the request.
    pub user: String,
    /// The user's groups.
    pub groups: Vec<String>,
    /// Whether this is a dry run.
    pub dry_run: bool,
}

impl EvaluationInfo {
    /// Evaluation info for `time` (policy fields left empty).
    pub fn at(time: chrono::DateTime<chrono::Utc>) -> EvaluationInfo {
        EvaluationInfo {
            time: time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            time_ns: time.timestamp_nanos_opt().unwrap_or(0),
            policy: String::new(),
            mode: String::new(),
            options: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// Fills the policy fields (name, mode, options) from the policy being evaluated.
    pub fn set_policy(&mut self, spec: &super::PolicySpec) {
        self.policy = spec.name.clone();
        self.mode = spec.mode.as_str().to_owned();
        self.options = spec.options.clone();
    }
}

impl PolicyInput {
    /// A complete document with no evidence and placeholder image facts; the base that
    /// `tests.yaml` cases are merged over and that bundles are warmed with.
    pub fn empty(time: chrono::DateTime<chrono::Utc>) -> PolicyInput {
        PolicyInput {
            api_version: INPUT_API_VERSION.to_owned(),
            kind: INPUT_KIND.to_owned(),
            evaluation: EvaluationInfo::at(time),
            image: ImageInfo {
                reference: "registry.example/app:1.0".to_owned(),
                registry: "registry.example".to_owned(),
                repository: "app".to_owned(),
                tag: Some("1.0".to_owned()),
                digest: format!("sha256:{}", "0".repeat(64)),
                media_type: None,
                platforms: Vec::new(),
            },
            attestations: Vec::new(),
            rejected: Vec::new(),
            workload: WorkloadInfo {
                kind: "Pod".to_owned(),
                namespace: "default".to_owned(),
                name: "app".to_owned(),
                service_account_name: "default".to_owned(),
                containers: vec![ContainerInfo {
                    name: "app".to_owned(),
                    kind: "container".to_owned(),
                }],
                ..WorkloadInfo::default()
            },
            namespace: NamespaceInfo {
                name: "default".to_owned(),
                labels: BTreeMap::new(),
            },
            request: RequestInfo {
                operation: "CREATE".to_owned(),
                ..RequestInfo::default()
            },
            layout: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_document_parses_as_the_contract() {
        let text = include_str!("../../docs/policy-input.example.json");
        let doc: PolicyInput = serde_json::from_str(text).unwrap();
        assert_eq!(doc.api_version, INPUT_API_VERSION);
        assert_eq!(doc.kind, INPUT_KIND);
        assert!(!doc.attestations.is_empty());
        // Round trip keeps every field.
        let back = serde_json::to_value(&doc).unwrap();
        let orig: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(back, orig);
    }
}
