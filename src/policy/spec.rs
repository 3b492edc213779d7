//! `policy.yaml`: the declarative half of a bundle (what the Rego half applies to, who
//! is trusted, which evidence to fetch, options).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube_core::Selector;
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
    /// Namespaces whose labels match this Kubernetes label selector (default: every
    /// namespace).
    #[serde(default, deserialize_with = "strict_selector")]
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

/// Reads `namespaceSelector` as k8s-openapi's `LabelSelector`, refusing keys it does not
/// know (k8s-openapi ignores them, and a misspelt `matchLabel` would select every
/// namespace).
fn strict_selector<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<LabelSelector>, D::Error> {
    use serde::de::Error as _;
    let Some(v) = Option::<serde_json::Value>::deserialize(d)? else {
        return Ok(None);
    };
    let known = |v: &serde_json::Value, keys: &[&str], what: &str| -> Result<(), D::Error> {
        let unknown = v
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys())
            .find(|k| !keys.contains(&k.as_str()));
        match unknown {
            Some(k) => Err(D::Error::custom(format!(
                "{what}: unknown field `{k}`, expected one of {keys:?}"
            ))),
            None => Ok(()),
        }
    };
    known(
        &v,
        &["matchLabels", "matchExpressions"],
        "namespaceSelector",
    )?;
    let expressions = v.get("matchExpressions").and_then(|e| e.as_array());
    for e in expressions.into_iter().flatten() {
        known(e, &["key", "operator", "values"], "matchExpressions")?;
    }
    serde_json::from_value(v)
        .map(Some)
        .map_err(|e| D::Error::custom(format!("namespaceSelector: {e}")))
}

/// Compiles a label selector into kube's [`Selector`], with the Kubernetes rules on
/// operators and values (`In`/`NotIn` need values, `Exists`/`DoesNotExist` take none).
pub(crate) fn compile_selector(sel: &LabelSelector) -> Result<Selector, String> {
    for req in sel.match_expressions.iter().flatten() {
        let has_values = req.values.as_ref().is_some_and(|v| !v.is_empty());
        let op = req.operator.as_str();
        let fault = match op {
            "In" | "NotIn" if !has_values => "needs values",
            "Exists" | "DoesNotExist" if has_values => "takes no values",
            "In" | "NotIn" | "Exists" | "DoesNotExist" => continue,
            _ => "is not one of In, NotIn, Exists, DoesNotExist",
        };
        return Err(format!(
            "matchExpressions key {:?}: operator {op:?} {fault}",
            req.key
        ));
    }
    Selector::try_from(sel.clone()).map_err(|e| format!("namespaceSelector: {e}"))
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
            compile_selector(sel)?;
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

    fn selector(yaml: &str) -> Result<Selector, String> {
        let m: MatchSpec = yaml_serde::from_str(&format!("namespaceSelector: {yaml}"))
            .map_err(|e| e.to_string())?;
        compile_selector(m.namespace_selector.as_ref().unwrap())
    }

    #[test]
    fn selector_operators() {
        use kube_core::SelectorExt as _;
        let sel = selector(
            "{matchLabels: {team: a}, matchExpressions: [{key: env, operator: In, values: [prod, staging]}, {key: skip, operator: DoesNotExist}]}",
        )
        .unwrap();
        assert!(sel.matches(&labels(&[("team", "a"), ("env", "prod")])));
        assert!(!sel.matches(&labels(&[("team", "a"), ("env", "dev")])));
        assert!(!sel.matches(&labels(&[("team", "b"), ("env", "prod")])));
        assert!(!sel.matches(&labels(&[("team", "a"), ("env", "prod"), ("skip", "")])));
        let notin =
            selector("{matchExpressions: [{key: env, operator: NotIn, values: [dev]}]}").unwrap();
        assert!(notin.matches(&labels(&[])));
        assert!(!notin.matches(&labels(&[("env", "dev")])));
        let exists = selector("{matchExpressions: [{key: env, operator: Exists}]}").unwrap();
        assert!(exists.matches(&labels(&[("env", "")])));
        assert!(!exists.matches(&labels(&[])));
        assert!(selector("{}").unwrap().matches(&labels(&[])));
        for (bad, why) in [
            (
                "{matchExpressions: [{key: env, operator: In}]}",
                "needs values",
            ),
            (
                "{matchExpressions: [{key: env, operator: In, values: []}]}",
                "needs values",
            ),
            (
                "{matchExpressions: [{key: env, operator: Exists, values: [x]}]}",
                "takes no values",
            ),
            (
                "{matchExpressions: [{key: env, operator: Has}]}",
                "\"Has\" is not one of",
            ),
            ("{matchLabel: {team: a}}", "unknown field `matchLabel`"),
            (
                "{matchExpressions: [{key: env, operator: In, value: [a]}]}",
                "unknown field `value`",
            ),
            ("{matchLabels: {team: [a]}}", "namespaceSelector"),
        ] {
            let e = selector(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
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
