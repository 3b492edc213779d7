//! A policy's in-toto layout: `layout:` in policy.yaml names a file of the bundle (a
//! ConfigMap key such as `root.layout`) and the owner keys that must have signed it.
//! The layout is checked when the bundle loads (it must parse and carry a valid
//! signature by every owner key, or the bundle is broken and the previous one stays in
//! force); the supply chain is verified per image, with the image's link attestations,
//! and the outcome is `input.layout` for the Rego.

use crate::attest::{Envelope, PublicKey};
use crate::digest::Digest;
use crate::intoto::{
    CollectedLinks, Failure, ImageBinding, InspectionReport, Inspections, Layout, Metadata,
    Options, Payload, StepReport, VerifyError, verify_layout,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// `layout:` in policy.yaml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LayoutSpec {
    /// The bundle file (ConfigMap key) holding the signed layout (default `root.layout`).
    #[serde(default = "default_file")]
    pub file: String,
    /// The layout owners' public keys; every one must have signed the layout.
    pub keys: Vec<super::spec::KeySpec>,
    /// Inspections accepted as already performed elsewhere (the webhook never runs
    /// inspections; a layout with any other inspection does not verify).
    #[serde(default)]
    pub accepted_inspections: Vec<String>,
    /// Read SLSA provenance attestations of the image as links of this step.
    #[serde(default)]
    pub provenance_step: Option<String>,
    /// Which product carries the image digest: `{step, artifact}` (default: any product
    /// of the layout's last step).
    #[serde(default)]
    pub bind_image: ImageBinding,
}

fn default_file() -> String {
    "root.layout".to_owned()
}

/// A bundle's layout, signature checked at load.
#[derive(Debug, Clone)]
pub struct LayoutPolicy {
    file: String,
    /// Parsed once, after its owner signatures verified.
    layout: Layout,
    accepted: BTreeSet<String>,
    provenance_step: Option<String>,
    binding: ImageBinding,
}

/// `input.layout`: the outcome of verifying the image's supply chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayoutResult {
    /// The bundle file the layout came from.
    pub file: String,
    /// Whether the whole chain verified and its last step produced the image.
    pub verified: bool,
    /// Link attestations found for the image.
    pub links_found: usize,
    /// Per step (on success), the functionaries whose links counted.
    pub steps: Vec<LayoutStep>,
    /// Per inspection, `accepted` (listed by the policy).
    pub inspections: Vec<LayoutInspection>,
    /// Non-fatal findings (commands that differ from the expected ones).
    pub warnings: Vec<String>,
    /// The first failing check, when not verified.
    pub failure: Option<LayoutFailure>,
}

/// One step of [`LayoutResult`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayoutStep {
    /// The step name.
    pub name: String,
    /// Key ids (as listed in the layout) whose links counted.
    pub functionaries: Vec<String>,
}

/// One inspection of [`LayoutResult`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayoutInspection {
    /// The inspection name.
    pub name: String,
    /// `accepted`.
    pub outcome: String,
}

/// The failing check of [`LayoutResult`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayoutFailure {
    /// `layout-signature`, `expiry`, `threshold`, `threshold-artifacts`,
    /// `artifact-name`, `rule`, `sublayout`, `inspection` or `image-binding`.
    pub check: String,
    /// The step or inspection.
    pub step: Option<String>,
    /// The rule, as written in the layout.
    pub rule: Option<String>,
    /// The artifact.
    pub artifact: Option<String>,
    /// The whole message.
    pub message: String,
}

impl From<&Failure> for LayoutFailure {
    fn from(f: &Failure) -> Self {
        LayoutFailure {
            check: f.check.as_str().to_owned(),
            step: f.step.clone(),
            rule: f.rule.clone(),
            artifact: f.artifact.clone(),
            message: f.to_string(),
        }
    }
}

impl LayoutPolicy {
    /// Loads the layout named by `spec` from the bundle's `files`: it must be present,
    /// parse, and be signed by every owner key.
    pub fn load(
        spec: &LayoutSpec,
        files: &BTreeMap<String, String>,
    ) -> Result<LayoutPolicy, String> {
        if spec.keys.is_empty() {
            return Err("layout: no owner keys".to_owned());
        }
        let text = files
            .get(&spec.file)
            .ok_or_else(|| format!("layout: the bundle has no file {:?}", spec.file))?;
        let metadata =
            Metadata::from_json(text.as_bytes(), &spec.file).map_err(|e| e.to_string())?;
        let Payload::Layout(value) = &metadata.payload else {
            return Err(format!("layout: {} holds a link, not a layout", spec.file));
        };
        for (i, k) in spec.keys.iter().enumerate() {
            let key = PublicKey::from_text(&k.pem).map_err(|e| {
                format!(
                    "layout key {}: {e}",
                    k.name.clone().unwrap_or_else(|| i.to_string())
                )
            })?;
            if !metadata.signed_by(&key, key.securesystemslib_key_id()) {
                return Err(format!(
                    "layout {}: not signed by owner key {}",
                    spec.file,
                    k.name
                        .clone()
                        .unwrap_or_else(|| key.securesystemslib_key_id().to_owned())
                ));
            }
        }
        let layout = Layout::from_value(value).map_err(|e| e.to_string())?;
        spec.bind_image
            .check_against(&layout)
            .map_err(|e| format!("layout {}: {e}", spec.file))?;
        Ok(LayoutPolicy {
            file: spec.file.clone(),
            layout,
            accepted: spec.accepted_inspections.iter().cloned().collect(),
            provenance_step: spec.provenance_step.clone(),
            binding: spec.bind_image.clone(),
        })
    }

    /// Reads the link metadata among attestations (DSSE envelopes): link objects, link
    /// Statements, and (with `provenanceStep`) SLSA provenance. Others are ignored.
    pub fn links_of(&self, envelopes: &[&Envelope]) -> Vec<Metadata> {
        envelopes
            .iter()
            .filter_map(|env| {
                Metadata::from_envelope_with(
                    (*env).clone(),
                    "attestation",
                    self.provenance_step.as_deref(),
                )
                .ok()
            })
            .filter(|m| m.link().is_some())
            .collect()
    }

    /// Verifies the supply chain of the image `digest` with `links`, at `now`.
    pub fn evaluate(
        &self,
        links: Vec<Metadata>,
        digest: &Digest,
        now: chrono::DateTime<chrono::Utc>,
    ) -> LayoutResult {
        let links_found = links.len();
        let options = Options {
            now,
            inspections: Inspections::Accept(self.accepted.clone()),
            image: Some((self.binding.clone(), digest.clone())),
        };
        let outcome = verify_layout(&self.layout, &CollectedLinks::new(links), &options).map_err(
            |e| match e {
                VerifyError::Failed(f) => f,
                VerifyError::Unusable(u) => {
                    Failure::new(crate::intoto::Check::LayoutContent, u.to_string())
                }
            },
        );
        let mut result = LayoutResult {
            file: self.file.clone(),
            verified: false,
            links_found,
            steps: Vec::new(),
            inspections: Vec::new(),
            warnings: Vec::new(),
            failure: None,
        };
        match outcome {
            Ok(v) => {
                result.verified = true;
                result.steps = v.steps.iter().map(step).collect();
                result.inspections = v.inspections.iter().map(inspection).collect();
                result.warnings = v.warnings;
            }
            Err(f) => result.failure = Some(LayoutFailure::from(&f)),
        }
        result
    }
}

fn step(s: &StepReport) -> LayoutStep {
    LayoutStep {
        name: s.name.clone(),
        functionaries: s.functionaries.clone(),
    }
}

fn inspection(i: &InspectionReport) -> LayoutInspection {
    LayoutInspection {
        name: i.name.clone(),
        outcome: i.outcome.to_owned(),
    }
}
