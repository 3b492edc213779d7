//! Binding a verified supply chain to the image being admitted: some step's products must
//! include an artifact whose digest is the image's. By default that is any product of the
//! layout's last step; a policy (or `custody layout verify --bind-step/--bind-artifact`)
//! may name the step and an artifact-name pattern instead, for chains whose last step is
//! not the one that builds the image (a deploy-config step after the build, say).

use super::error::{Check, Failure};
use super::model::{Layout, Link};
use super::pattern::Pattern;
use crate::digest::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which product must carry the image digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageBinding {
    /// The step whose products bind the image (default: the layout's last step).
    #[serde(default)]
    pub step: Option<String>,
    /// An artifact-name pattern (in-toto's fnmatch) the binding product must match
    /// (default: any product).
    #[serde(default)]
    pub artifact: Option<String>,
}

impl ImageBinding {
    /// Refuses a binding that names a step the layout does not have.
    pub fn check_against(&self, layout: &Layout) -> Result<(), String> {
        match &self.step {
            Some(step) if !layout.steps.iter().any(|s| &s.name == step) => Err(format!(
                "the image binding names step {step:?}, which the layout does not have"
            )),
            _ => Ok(()),
        }
    }

    /// Checks that the binding step's reduced link has a product (matching the pattern,
    /// if any) whose digest is `digest`.
    pub(crate) fn check(
        &self,
        layout: &Layout,
        reduced: &BTreeMap<String, &Link>,
        digest: &Digest,
    ) -> Result<(), Failure> {
        let step = match &self.step {
            Some(step) => step.clone(),
            None => layout
                .steps
                .last()
                .map(|s| s.name.clone())
                .unwrap_or_default(),
        };
        let alg = digest.algorithm().as_str();
        let pattern = self.artifact.as_deref().map(Pattern::new);
        let found = reduced.get(&step).is_some_and(|link| {
            link.products.iter().any(|(name, hashes)| {
                pattern.as_ref().is_none_or(|p| p.matches(name))
                    && hashes
                        .get(alg)
                        .is_some_and(|h| h.eq_ignore_ascii_case(digest.hex()))
            })
        });
        if found {
            return Ok(());
        }
        let which = match &self.artifact {
            Some(p) => format!("no product matching {p:?} of step {step:?}"),
            None if self.step.is_some() => format!("the products of step {step:?} do not"),
            None => format!("the products of the last step {step:?} do not"),
        };
        let message = match &self.artifact {
            Some(_) => format!("{which} has the image digest {alg}:{}", digest.hex()),
            None => format!("{which} include the image digest {alg}:{}", digest.hex()),
        };
        let mut failure = Failure::new(Check::ImageBinding, message)
            .step(&step)
            .artifact(&format!("{alg}:{}", digest.hex()));
        if let Some(p) = &self.artifact {
            failure = failure.rule(&format!("bind image to {p}"));
        }
        Err(failure)
    }
}
