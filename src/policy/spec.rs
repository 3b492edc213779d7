//! `policy.yaml`: the declarative half of a bundle (what the Rego half applies to, who
//! is trusted, which evidence to fetch, options).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The `apiVersion` `policy.yaml` files carry.
pub const POLICY_API_VERSION: &str = "custody.dev/v1";

/// What a policy's `deny` messages do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A `deny` message refuses admission.
    #[default]
    Enforce,
    /// A `deny` message admits with a warning shown to the user.
    Warn,
    /// A `deny` message is only recorded (audit annotation, log).
    Audit,
}

impl Mode {
    /// The lowercase name used in policy.yaml, the input document and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
            Mode::Audit => "audit",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The parsed `policy.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySpec {
    /// Must be [`POLICY_API_VERSION`].
    pub api_version: String,
    /// Must be `Policy`.
    pub kind: String,
    /// Unique policy name (lowercase letters, digits, `-`).
    pub name: String,
    /// One line saying what the policy requires.
    #[serde(default)]
    pub description: String,
    /// `enforce` (default), `warn` or `audit`.
    #[serde(default)]
    pub mode: Mode,
    /// The Rego package holding `deny`/`warn`; default `custody.<name with _ for ->`.
    #[serde(default)]
    pub package: Option<String>,
    /// Which workloads and images the policy applies to (default: all).
    #[serde(default, rename = "match")]
    pub match_rules: MatchSpec,
    /// Named sets of trusted keys.
    #[serde(default)]
    pub attestors: Vec<AttestorSpec>,
    /// Predicate types this policy reads; empty means all verified statements.
    #[serde(default)]
    pub predicate_types: Vec<String>,
    /// Options passed to Rego as `input.evaluation.options`.
    #[serde(default = "empty_object")]
    pub options: serde_json::Value,
    /// Rego evaluation time limit (humantime, e.g. `250ms`); default 1s.
    #[serde(default)]
    pub evaluation_timeout: Option<String>,
    /// Remember answers by the parts of the input the Rego reads (default true); see
    /// `docs/policies.md`.
    #[serde(default = "yes")]
    pub memoize: bool,
    /// The Rego dialect of the `.rego` files, `v0` or `v1`; detected when unset (see
    /// [`super::dialect::RegoVersion::detect`]).
    #[serde(default)]
    pub rego_version: Option<super::dialect::RegoVersion>,
    /// An in-toto layout the image's supply chain must satisfy (`input.layout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<super::layout::LayoutSpec>,
    /// The controls of the organisation's catalogue this policy implements (ids unique).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<super::controls::Control>,
    /// Which regorus evaluator runs the Rego: `interpreter` (default) or `vm`, admitted
    /// only when the differential run is clean (see [`super::vm_diff`]).
    #[serde(default, skip_serializing_if = "RegoEngine::is_interpreter")]
    pub engine: RegoEngine,
}

/// The evaluator of a bundle's Rego.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegoEngine {
    /// regorus's interpreter, custody's normal path.
    #[default]
    Interpreter,
    /// The regorus VM (RVM).
    Vm,
}

impl RegoEngine {
    fn is_interpreter(&self) -> bool {
        *self == RegoEngine::Interpreter
    }
}

fn yes() -> bool {
    true
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// Which workloads and images a policy applies to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchSpec {
    /// Namespaces whose labels match this selector (default: every namespace).
    #[serde(default)]
    pub namespace_selector: Option<LabelSelector>,
    /// Namespace names (default: every namespace).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Image globs over `registry/repository` (`*` stays within one path segment, `**`
    /// crosses them); default: every image.
    #[serde(default)]
    pub images: Vec<String>,
    /// Exceptions that win over the rules above.
    #[serde(default)]
    pub exclude: ExcludeSpec,
}

/// Exceptions to a policy's match rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExcludeSpec {
    /// Namespace names never checked by this policy.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Image globs never checked by this policy.
    #[serde(default)]
    pub images: Vec<String>,
}

/// A Kubernetes label selector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    /// Labels that must be present with exactly these values.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default)]
    pub match_expressions: Vec<LabelRequirement>,
}

/// One set-based label requirement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelRequirement {
    /// The label key.
    pub key: String,
    /// The operator.
    pub operator: SelectorOperator,
    /// Values for `In`/`NotIn`.
    #[serde(default)]
    pub values: Vec<String>,
}

/// Label selector operators, as in Kubernetes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SelectorOperator {
    /// The label's value is one of `values`.
    In,
    /// The label is absent or its value is not one of `values`.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl LabelSelector {
    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let plain = self
            .match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v));
        plain
            && self.match_expressions.iter().all(|req| {
                let value = labels.get(&req.key);
                match req.operator {
                    SelectorOperator::In => value.is_some_and(|v| req.values.contains(v)),
                    SelectorOperator::NotIn => value.is_none_or(|v| !req.values.contains(v)),
                    SelectorOperator::Exists => value.is_some(),
                    SelectorOperator::DoesNotExist => value.is_none(),
                }
            })
    }

    /// Checks the Kubernetes rules on operator/value combinations.
    pub(crate) fn validate(&self) -> Result<(), String> {
        for req in &self.match_expressions {
            let needs_values =
                matches!(req.operator, SelectorOperator::In | SelectorOperator::NotIn);
            if needs_values && req.values.is_empty() {
                return Err(format!(
                    "matchExpressions key {:?}: operator {:?} needs values",
                    req.key, req.operator
                ));
            }
            if !needs_values && !req.values.is_empty() {
                return Err(format!(
                    "matchExpressions key {:?}: operator {:?} takes no values",
                    req.key, req.operator
                ));
            }
        }
        Ok(())
    }
}

/// A named set of trusted keys with a threshold, and/or keyless identities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttestorSpec {
    /// The attestor's name (e.g. `ci`, `release`), visible to Rego.
    pub name: String,
    /// How many distinct keys of this attestor must have signed (default 1).
    #[serde(default = "one")]
    pub threshold: usize,
    /// The keys.
    #[serde(default)]
    pub keys: Vec<KeySpec>,
    /// Keyless signers: Sigstore bundles whose Fulcio certificate carries one of these
    /// identities (verified offline against the trusted root).
    #[serde(default)]
    pub identities: Vec<IdentitySpec>,
}

/// A keyless identity: the OIDC issuer and the certificate's SAN, each exact or a
/// regular expression over the whole value, and optional Fulcio extension values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentitySpec {
    /// The exact OIDC issuer (e.g. `https://token.actions.githubusercontent.com`).
    #[serde(default)]
    pub issuer: Option<String>,
    /// A regular expression the whole issuer must match.
    #[serde(default, rename = "issuerRegExp")]
    pub issuer_regexp: Option<String>,
    /// The exact SAN (URI or email), e.g. a workflow ref.
    #[serde(default)]
    pub subject: Option<String>,
    /// A regular expression the whole SAN must match.
    #[serde(default, rename = "subjectRegExp")]
    pub subject_regexp: Option<String>,
    /// Fulcio extensions by name (`sourceRepositoryURI`, `sourceRepositoryRef`,
    /// `buildTrigger`, `runnerEnvironment`, ...) and the exact value each must have.
    #[serde(default)]
    pub extensions: BTreeMap<String, String>,
}

fn one() -> usize {
    1
}

/// One public key, inline PEM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeySpec {
    /// A name for messages (optional).
    #[serde(default)]
    pub name: Option<String>,
    /// The SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`).
    pub pem: String,
}

impl PolicySpec {
    /// The Rego package that holds `deny` and `warn`.
    pub fn rego_package(&self) -> String {
        self.package
            .clone()
            .unwrap_or_else(|| format!("custody.{}", self.name.replace('-', "_")))
    }

    /// Structural checks that serde cannot express.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.api_version != POLICY_API_VERSION {
            return Err(format!(
                "apiVersion is {:?}, expected {POLICY_API_VERSION:?}",
                self.api_version
            ));
        }
        if self.kind != "Policy" {
            return Err(format!("kind is {:?}, expected \"Policy\"", self.kind));
        }
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 63
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return Err(format!(
                "name {:?} must be 1-63 lowercase letters, digits or '-'",
                self.name
            ));
        }
        if !self.options.is_object() {
            return Err("options must be a mapping".into());
        }
        if let Some(sel) = &self.match_rules.namespace_selector {
            sel.validate()?;
        }
        super::controls::validate_all(&self.controls)?;
        let mut seen = std::collections::BTreeSet::new();
        for a in &self.attestors {
            if !seen.insert(a.name.as_str()) {
                return Err(format!("attestor {:?} is declared twice", a.name));
            }
            if a.keys.is_empty() && a.identities.is_empty() {
                return Err(format!(
                    "attestor {:?} has no keys and no identities",
                    a.name
                ));
            }
            if a.threshold == 0 || (!a.keys.is_empty() && a.threshold > a.keys.len()) {
                return Err(format!(
                    "attestor {:?}: threshold {} must be between 1 and its {} key(s)",
                    a.name,
                    a.threshold,
                    a.keys.len()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selector_operators() {
        let sel: LabelSelector = yaml_serde::from_str(
            "matchLabels: {team: a}\nmatchExpressions:\n- {key: env, operator: In, values: [prod, staging]}\n- {key: skip, operator: DoesNotExist}\n",
        )
        .unwrap();
        assert!(sel.matches(&labels(&[("team", "a"), ("env", "prod")])));
        assert!(!sel.matches(&labels(&[("team", "a"), ("env", "dev")])));
        assert!(!sel.matches(&labels(&[("team", "b"), ("env", "prod")])));
        assert!(!sel.matches(&labels(&[("team", "a"), ("env", "prod"), ("skip", "")])));
        let notin: LabelSelector =
            yaml_serde::from_str("matchExpressions: [{key: env, operator: NotIn, values: [dev]}]")
                .unwrap();
        assert!(notin.matches(&labels(&[])));
        assert!(!notin.matches(&labels(&[("env", "dev")])));
        let bad: LabelSelector =
            yaml_serde::from_str("matchExpressions: [{key: env, operator: In}]").unwrap();
        assert!(bad.validate().is_err());
    }

    #[test]
    fn spec_validation() {
        let base = "apiVersion: custody.dev/v1\nkind: Policy\nname: p\n";
        let ok: PolicySpec = yaml_serde::from_str(base).unwrap();
        ok.validate().unwrap();
        assert_eq!(ok.mode, Mode::Enforce);
        assert_eq!(ok.rego_package(), "custody.p");
        let bad_name: PolicySpec =
            yaml_serde::from_str("apiVersion: custody.dev/v1\nkind: Policy\nname: Bad_Name\n")
                .unwrap();
        assert!(bad_name.validate().is_err());
        let threshold =
            format!("{base}attestors:\n- name: ci\n  threshold: 2\n  keys:\n  - pem: x\n");
        let t: PolicySpec = yaml_serde::from_str(&threshold).unwrap();
        assert!(t.validate().unwrap_err().contains("threshold"));
        let unknown = format!("{base}bogus: 1\n");
        assert!(yaml_serde::from_str::<PolicySpec>(&unknown).is_err());
    }
}
