//! What can go wrong: input that cannot be used at all ([`LoadError`], exit 2 in the
//! CLI) and a supply chain that does not verify ([`Failure`], exit 1), which names the
//! failing step, rule and artifact where there is one.

/// Input that is not usable: not JSON, not in-toto metadata, a malformed layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not JSON of the expected shape.
    #[error("{what}: {reason}")]
    Format {
        /// What was being read (`layout`, `link write-code.b7d643de.link`, …).
        what: String,
        /// Why it could not be read.
        reason: String,
    },
    /// A key could not be read.
    #[error("{what}: {source}")]
    Key {
        /// Which key.
        what: String,
        /// The key problem.
        source: crate::attest::KeyError,
    },
}

impl LoadError {
    pub(crate) fn format(what: impl Into<String>, reason: impl Into<String>) -> LoadError {
        LoadError::Format {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// Which check of the verification workflow failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// The layout is not signed by every owner key.
    LayoutSignature,
    /// The layout is unusable after its signature verified (bad key object or id).
    LayoutContent,
    /// The layout has expired.
    Expiry,
    /// Fewer than `threshold` links by distinct authorized functionaries.
    Threshold,
    /// Links of one step disagree on their artifacts.
    ThresholdArtifacts,
    /// A link names an artifact that is refused.
    ArtifactName,
    /// A material or product rule failed.
    Rule,
    /// A sublayout did not verify.
    Sublayout,
    /// An inspection was not run or failed.
    Inspection,
    /// The last step's products do not include the image being admitted.
    ImageBinding,
}

impl Check {
    /// The kebab-case name used in JSON output and the Rego input.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::LayoutSignature => "layout-signature",
            Check::LayoutContent => "layout-content",
            Check::Expiry => "expiry",
            Check::Threshold => "threshold",
            Check::ThresholdArtifacts => "threshold-artifacts",
            Check::ArtifactName => "artifact-name",
            Check::Rule => "rule",
            Check::Sublayout => "sublayout",
            Check::Inspection => "inspection",
            Check::ImageBinding => "image-binding",
        }
    }
}

/// The first check that failed. `step` is the step or inspection, `rule` the artifact
/// rule as written in the layout, `artifact` the artifact it concerns. For a failure
/// inside a sublayout, `step` is the path `outer/inner`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{}", self.render())]
pub struct Failure {
    /// The check.
    pub check: Check,
    /// The step or inspection concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The rule concerned, as written in the layout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The artifact concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    /// What went wrong, for people.
    pub message: String,
}

impl Failure {
    pub(crate) fn new(check: Check, message: impl Into<String>) -> Failure {
        Failure {
            check,
            step: None,
            rule: None,
            artifact: None,
            message: message.into(),
        }
    }

    pub(crate) fn step(mut self, step: &str) -> Failure {
        self.step = Some(step.to_owned());
        self
    }

    pub(crate) fn rule(mut self, rule: &str) -> Failure {
        self.rule = Some(rule.to_owned());
        self
    }

    pub(crate) fn artifact(mut self, artifact: &str) -> Failure {
        self.artifact = Some(artifact.to_owned());
        self
    }

    /// Prefixes the step with the enclosing sublayout step `outer`.
    pub(crate) fn within(mut self, outer: &str) -> Failure {
        self.step = Some(match self.step.take() {
            Some(inner) => format!("{outer}/{inner}"),
            None => outer.to_owned(),
        });
        if self.check != Check::Sublayout {
            self.message = format!("in sublayout {outer:?}: {}", self.message);
        }
        self
    }

    fn render(&self) -> String {
        let mut out = format!("{} check failed", self.check.as_str());
        if let Some(step) = &self.step {
            out.push_str(&format!(" at step {step:?}"));
        }
        if let Some(rule) = &self.rule {
            out.push_str(&format!(", rule {rule:?}"));
        }
        if let Some(artifact) = &self.artifact {
            out.push_str(&format!(", artifact {artifact:?}"));
        }
        out.push_str(": ");
        out.push_str(&self.message);
        out
    }
}
