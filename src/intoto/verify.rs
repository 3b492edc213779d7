//! The verification workflow of the in-toto specification, in its order:
//!
//! 1. the layout is signed by every owner key given;
//! 2. it has not expired (against the clock passed in);
//! 3. per step, links that verify under the step's authorized functionary keys are
//!    counted, each distinct key once, and at least `threshold` are required;
//! 4. sublayouts (a step whose "link" is a layout) are verified recursively;
//! 5. expected commands are compared (a difference is a warning only);
//! 6. with threshold > 1, the counted links must agree on materials and products;
//! 7. step material and product rules;
//! 8. inspections (run, accepted as already performed, or refused);
//! 9. inspection rules;
//! 10. (when an image is given) the image binding: a product of the binding step carries
//!     the image's digest.

use super::binding::ImageBinding;
use super::error::{Check, Failure, LoadError};
use super::inspect::{self, Inspections};
use super::metadata::{Metadata, Payload};
use super::model::{ArtifactKind, Layout, Link};
use super::pattern::artifact_name_problem;
use super::rules;
use super::source::LinkSource;
use crate::attest::PublicKey;
use crate::digest::Digest;
use chrono::{DateTime, Utc};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How to verify.
#[derive(Debug, Clone)]
pub struct Options {
    /// The time expiry is checked against.
    pub now: DateTime<Utc>,
    /// What to do with inspections.
    pub inspections: Inspections,
    /// The image the chain must have produced, and which product binds it (checked on
    /// the top-level layout only, not on sublayouts).
    pub image: Option<(ImageBinding, Digest)>,
}

/// One step's outcome.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StepReport {
    /// The step.
    pub name: String,
    /// Key ids (as the layout lists them) of the functionaries whose links counted.
    pub functionaries: Vec<String>,
    /// Whether the step was a sublayout.
    pub sublayout: bool,
}

/// One inspection's outcome.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InspectionReport {
    /// The inspection.
    pub name: String,
    /// `ran` or `accepted` (listed by policy as already performed; not run here).
    pub outcome: &'static str,
}

/// A verified supply chain.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verified {
    /// Per step, who performed it.
    pub steps: Vec<StepReport>,
    /// Per inspection, what happened.
    pub inspections: Vec<InspectionReport>,
    /// Non-fatal findings (commands that differ from the expected ones).
    pub warnings: Vec<String>,
    /// Materials of the first step and products of the last.
    pub summary: Link,
}

/// Why verification did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The layout could not be read (CLI exit 2).
    #[error(transparent)]
    Unusable(#[from] LoadError),
    /// A check failed (CLI exit 1).
    #[error(transparent)]
    Failed(#[from] Failure),
}

struct Counted {
    keyid: String,
    key: PublicKey,
    metadata: Arc<Metadata>,
}

/// Verifies `layout` (signed metadata holding a layout) signed by every key in
/// `owner_keys`, with links from `source`.
pub fn verify(
    layout: &Metadata,
    owner_keys: &[PublicKey],
    source: &dyn LinkSource,
    options: &Options,
) -> Result<Verified, VerifyError> {
    let Payload::Layout(value) = &layout.payload else {
        return Err(LoadError::format("layout", "the metadata holds a link, not a layout").into());
    };
    if owner_keys.is_empty() {
        return Err(Failure::new(Check::LayoutSignature, "no layout key was given").into());
    }
    for key in owner_keys {
        if !layout.signed_by(key, key.securesystemslib_key_id()) {
            return Err(Failure::new(
                Check::LayoutSignature,
                format!(
                    "no signature on the layout verifies with the owner key {} ({})",
                    key.securesystemslib_key_id(),
                    key.algorithm()
                ),
            )
            .into());
        }
    }
    let layout = Layout::from_value(value)?;
    verify_layout(&layout, source, options)
}

/// The workflow from step 2 on, for a layout whose signatures were already checked and
/// that was already parsed (what admission does per image with the layout it checked
/// when the bundle loaded).
pub fn verify_layout(
    layout: &Layout,
    source: &dyn LinkSource,
    options: &Options,
) -> Result<Verified, VerifyError> {
    if layout.expires <= options.now {
        return Err(Failure::new(
            Check::Expiry,
            format!(
                "the layout expired at {} (verification time {})",
                layout.expires.to_rfc3339(),
                options.now.to_rfc3339()
            ),
        )
        .into());
    }
    let mut counted_by_step: Vec<Vec<Counted>> = Vec::new();
    for step in &layout.steps {
        counted_by_step.push(count_links(layout, step, source)?);
    }
    // Sublayouts and artifact names.
    let mut links_by_step: Vec<Vec<(String, Cow<'_, Link>)>> = Vec::new();
    let mut reports = Vec::new();
    for (step, counted) in layout.steps.iter().zip(&counted_by_step) {
        let mut links = Vec::new();
        let mut sub = false;
        for c in counted {
            let link = match &c.metadata.payload {
                Payload::Link(l) => Cow::Borrowed(l),
                Payload::Layout(_) => {
                    sub = true;
                    let inner = source.sublayout(&step.name, &c.keyid);
                    let inner_options = Options {
                        image: None,
                        ..options.clone()
                    };
                    match verify(
                        &c.metadata,
                        std::slice::from_ref(&c.key),
                        inner.as_ref(),
                        &inner_options,
                    ) {
                        Ok(v) => {
                            let mut s = v.summary;
                            s.name = step.name.clone();
                            Cow::Owned(s)
                        }
                        Err(VerifyError::Failed(f)) => return Err(f.within(&step.name).into()),
                        Err(VerifyError::Unusable(e)) => {
                            return Err(Failure::new(Check::Sublayout, e.to_string())
                                .step(&step.name)
                                .into());
                        }
                    }
                }
            };
            for name in link.materials.keys().chain(link.products.keys()) {
                if let Some(problem) = artifact_name_problem(name) {
                    return Err(Failure::new(
                        Check::ArtifactName,
                        format!(
                            "the link by {} names an artifact custody refuses: {problem}",
                            c.keyid
                        ),
                    )
                    .step(&step.name)
                    .artifact(name)
                    .into());
                }
            }
            links.push((c.keyid.clone(), link));
        }
        reports.push(StepReport {
            name: step.name.clone(),
            functionaries: counted.iter().map(|c| c.keyid.clone()).collect(),
            sublayout: sub,
        });
        links_by_step.push(links);
    }
    let mut warnings = Vec::new();
    for (step, links) in layout.steps.iter().zip(&links_by_step) {
        if let Some((keyid, link)) = links.first()
            && !step.expected_command.is_empty()
            && link.command != step.expected_command
        {
            warnings.push(format!(
                "step {:?}: the link by {keyid} ran {:?}, the layout expects {:?}",
                step.name, link.command, step.expected_command
            ));
        }
        if step.threshold > 1 {
            check_agreement(&step.name, links)?;
        }
    }
    let mut reduced: BTreeMap<String, &Link> = BTreeMap::new();
    for (step, links) in layout.steps.iter().zip(&links_by_step) {
        if let Some((_, link)) = links.first() {
            reduced.insert(step.name.clone(), link.as_ref());
        }
    }
    for step in &layout.steps {
        rules::apply(
            &step.name,
            ArtifactKind::Materials,
            &step.expected_materials,
            &reduced,
        )?;
        rules::apply(
            &step.name,
            ArtifactKind::Products,
            &step.expected_products,
            &reduced,
        )?;
    }
    let inspections = inspect::perform(&layout.inspect, &options.inspections, &reduced)?;
    if let Some((binding, digest)) = &options.image {
        binding.check(layout, &reduced, digest)?;
    }
    let summary = match (layout.steps.first(), layout.steps.last()) {
        (Some(first), Some(last)) => {
            let mut s = Link::empty("");
            if let Some(l) = reduced.get(&first.name) {
                s.materials = l.materials.clone();
            }
            if let Some(l) = reduced.get(&last.name) {
                s.products = l.products.clone();
                s.command = l.command.clone();
                s.byproducts = l.byproducts.clone();
            }
            s
        }
        _ => Link::empty(""),
    };
    Ok(Verified {
        steps: reports,
        inspections,
        warnings,
        summary,
    })
}

fn count_links(
    layout: &Layout,
    step: &super::model::Step,
    source: &dyn LinkSource,
) -> Result<Vec<Counted>, Failure> {
    let mut counted: Vec<Counted> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for keyid in &step.pubkeys {
        let key = match layout.keys.get(keyid).map(|k| &k.key) {
            None => {
                notes.push(format!(
                    "functionary {keyid} is not among the layout's keys"
                ));
                continue;
            }
            Some(Err(reason)) => {
                notes.push(format!("functionary key {keyid} is unusable: {reason}"));
                continue;
            }
            Some(Ok(key)) => key,
        };
        let mut candidates = source.links(&step.name, keyid);
        // Candidates whose signature names this key first: a key id is only a hint, but
        // it spares trying every key on every link.
        candidates.sort_by_key(|c| match c {
            Ok(md) => !md.signatures.iter().any(|s| {
                s.keyid
                    .as_deref()
                    .is_some_and(|id| id.eq_ignore_ascii_case(keyid) || key.answers_to(id))
            }),
            Err(_) => true,
        });
        for candidate in candidates {
            let md = match candidate {
                Ok(md) => md,
                Err(reason) => {
                    notes.push(reason);
                    continue;
                }
            };
            if !md.signed_by(key, keyid) {
                notes.push(format!(
                    "a link for functionary {keyid} is not signed by that key"
                ));
                continue;
            }
            if let Payload::Link(l) = &md.payload
                && l.name != step.name
            {
                notes.push(format!("the link by {keyid} is for step {:?}", l.name));
                continue;
            }
            if let Some(other) = counted.iter().find(|c| c.key == *key) {
                notes.push(format!(
                    "{keyid} and {} are the same key and count once",
                    other.keyid
                ));
                break;
            }
            counted.push(Counted {
                keyid: keyid.clone(),
                key: key.clone(),
                metadata: md,
            });
            break;
        }
    }
    if counted.len() < step.threshold {
        let noted = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join("; "))
        };
        return Err(Failure::new(
            Check::Threshold,
            format!(
                "{} of {} required link(s) signed by distinct authorized functionaries{noted}",
                counted.len(),
                step.threshold
            ),
        )
        .step(&step.name));
    }
    Ok(counted)
}

fn check_agreement(step: &str, links: &[(String, Cow<'_, Link>)]) -> Result<(), Failure> {
    let Some((first_id, first)) = links.first() else {
        return Ok(());
    };
    for (id, link) in &links[1..] {
        for (kind, a, b) in [
            ("materials", &first.materials, &link.materials),
            ("products", &first.products, &link.products),
        ] {
            if a != b {
                let differing = a
                    .iter()
                    .find(|(n, h)| b.get(*n) != Some(h))
                    .map(|(n, _)| n.clone())
                    .or_else(|| b.keys().find(|n| !a.contains_key(*n)).cloned())
                    .unwrap_or_default();
                return Err(Failure::new(
                    Check::ThresholdArtifacts,
                    format!("the links by {first_id} and {id} report different {kind}"),
                )
                .step(step)
                .artifact(&differing));
            }
        }
    }
    Ok(())
}
