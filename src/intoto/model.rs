//! The in-toto layout and link models, read from JSON values.

use super::error::LoadError;
use super::keys::{self, LayoutKey};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Artifacts by name: each a map of hash algorithm to lowercase hex digest.
pub type Artifacts = BTreeMap<String, BTreeMap<String, String>>;

/// What a step recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Link {
    /// The step name the link claims.
    pub name: String,
    /// The command that was run.
    pub command: Vec<String>,
    /// Artifacts before the command.
    pub materials: Artifacts,
    /// Artifacts after the command.
    pub products: Artifacts,
    /// Return value, stdout, stderr (as recorded).
    pub byproducts: Value,
    /// Environment (as recorded).
    pub environment: Value,
}

impl Link {
    /// A link with the given name and nothing recorded.
    pub fn empty(name: &str) -> Link {
        Link {
            name: name.to_owned(),
            command: Vec::new(),
            materials: Artifacts::new(),
            products: Artifacts::new(),
            byproducts: Value::Object(Map::new()),
            environment: Value::Object(Map::new()),
        }
    }

    /// Reads a `_type: link` object.
    pub fn from_value(v: &Value, what: &str) -> Result<Link, LoadError> {
        let obj = v
            .as_object()
            .ok_or_else(|| LoadError::format(what, "a link is a JSON object"))?;
        Ok(Link {
            name: str_field(obj, "name", what)?.to_owned(),
            command: str_list(obj.get("command"), what, "command")?,
            materials: artifacts(obj.get("materials"), what, "materials")?,
            products: artifacts(obj.get("products"), what, "products")?,
            byproducts: obj
                .get("byproducts")
                .cloned()
                .unwrap_or(Value::Object(Map::new())),
            environment: obj
                .get("environment")
                .cloned()
                .unwrap_or(Value::Object(Map::new())),
        })
    }

    /// The link as the `_type: link` JSON object in-toto tools write.
    pub fn to_value(&self) -> Value {
        serde_json::json!({
            "_type": "link",
            "name": self.name,
            "command": self.command,
            "materials": self.materials,
            "products": self.products,
            "byproducts": self.byproducts,
            "environment": self.environment,
        })
    }
}

/// Materials or products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    /// What a step consumed.
    Materials,
    /// What a step produced.
    Products,
}

impl ArtifactKind {
    /// `materials` or `products`.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Materials => "materials",
            ArtifactKind::Products => "products",
        }
    }
}

/// What an artifact rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleKind {
    /// `MATCH pattern [IN prefix] WITH (MATERIALS|PRODUCTS) [IN prefix] FROM step`.
    Match {
        /// Prefix stripped from queued names before matching.
        source_prefix: Option<String>,
        /// Which artifacts of the destination step.
        dest_kind: ArtifactKind,
        /// Prefix added to the matched name in the destination.
        dest_prefix: Option<String>,
        /// The destination step or inspection.
        dest_step: String,
    },
    /// Consumes artifacts that are products but not materials.
    Create,
    /// Consumes artifacts that are materials but not products.
    Delete,
    /// Consumes artifacts in both with different hashes.
    Modify,
    /// Consumes matching artifacts.
    Allow,
    /// Fails on any matching artifact still queued.
    Disallow,
    /// Fails unless the literal name is still queued.
    Require,
}

/// One artifact rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The kind and its arguments.
    pub kind: RuleKind,
    /// The pattern (a literal name for REQUIRE).
    pub pattern: String,
    /// The rule as written, words joined by spaces (for messages).
    pub text: String,
}

impl Rule {
    /// Parses one rule (a list of strings), case-insensitive keywords as the reference.
    pub fn parse(words: &[String]) -> Result<Rule, String> {
        let text = words.join(" ");
        let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
        let l = |i: usize| lower.get(i).map(String::as_str);
        if words.len() < 2 {
            return Err(format!("rule {text:?} has no pattern"));
        }
        let pattern = words[1].clone();
        let generic = |kind| {
            if words.len() == 2 {
                Ok(Rule {
                    kind,
                    pattern: pattern.clone(),
                    text: text.clone(),
                })
            } else {
                Err(format!("rule {text:?} takes exactly one pattern"))
            }
        };
        match l(0) {
            Some("create") => generic(RuleKind::Create),
            Some("delete") => generic(RuleKind::Delete),
            Some("modify") => generic(RuleKind::Modify),
            Some("allow") => generic(RuleKind::Allow),
            Some("disallow") => generic(RuleKind::Disallow),
            Some("require") => generic(RuleKind::Require),
            Some("match") => {
                let (source_prefix, dest_kind, dest_prefix, dest_step) = match words.len() {
                    10 if l(2) == Some("in")
                        && l(4) == Some("with")
                        && l(6) == Some("in")
                        && l(8) == Some("from") =>
                    {
                        (Some(&words[3]), l(5), Some(&words[7]), &words[9])
                    }
                    8 if l(2) == Some("in") && l(4) == Some("with") && l(6) == Some("from") => {
                        (Some(&words[3]), l(5), None, &words[7])
                    }
                    8 if l(2) == Some("with") && l(4) == Some("in") && l(6) == Some("from") => {
                        (None, l(3), Some(&words[5]), &words[7])
                    }
                    6 if l(2) == Some("with") && l(4) == Some("from") => {
                        (None, l(3), None, &words[5])
                    }
                    _ => {
                        return Err(format!(
                            "rule {text:?} is not MATCH <pattern> [IN <prefix>] WITH (MATERIALS|PRODUCTS) [IN <prefix>] FROM <step>"
                        ));
                    }
                };
                let dest_kind = match dest_kind {
                    Some("materials") => ArtifactKind::Materials,
                    Some("products") => ArtifactKind::Products,
                    _ => return Err(format!("rule {text:?}: WITH takes MATERIALS or PRODUCTS")),
                };
                Ok(Rule {
                    kind: RuleKind::Match {
                        source_prefix: source_prefix.filter(|p| !p.is_empty()).cloned(),
                        dest_kind,
                        dest_prefix: dest_prefix.filter(|p| !p.is_empty()).cloned(),
                        dest_step: dest_step.clone(),
                    },
                    pattern,
                    text,
                })
            }
            _ => Err(format!(
                "rule {text:?} does not start with MATCH, CREATE, DELETE, MODIFY, ALLOW, DISALLOW or REQUIRE"
            )),
        }
    }
}

/// A step of the supply chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Its unique name.
    pub name: String,
    /// Key ids of the functionaries allowed to perform it.
    pub pubkeys: Vec<String>,
    /// Distinct functionaries whose links are required.
    pub threshold: usize,
    /// The command expected (compared as a warning only).
    pub expected_command: Vec<String>,
    /// Rules over the step's materials.
    pub expected_materials: Vec<Rule>,
    /// Rules over the step's products.
    pub expected_products: Vec<Rule>,
}

/// An inspection: a command the verifier runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// Its unique name.
    pub name: String,
    /// The command.
    pub run: Vec<String>,
    /// Rules over what it found before running.
    pub expected_materials: Vec<Rule>,
    /// Rules over what it found after running.
    pub expected_products: Vec<Rule>,
}

/// A layout.
#[derive(Debug, Clone)]
pub struct Layout {
    /// When it stops being valid.
    pub expires: DateTime<Utc>,
    /// Functionary keys by the id the layout lists them under.
    pub keys: BTreeMap<String, LayoutKey>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The inspections, in order.
    pub inspect: Vec<Inspection>,
    /// Free text.
    pub readme: String,
}

impl Layout {
    /// Reads a `_type: layout` object; key ids are checked against their key objects.
    pub fn from_value(v: &Value) -> Result<Layout, LoadError> {
        let what = "layout";
        let obj = v
            .as_object()
            .ok_or_else(|| LoadError::format(what, "a layout is a JSON object"))?;
        let expires_text = str_field(obj, "expires", what)?;
        let expires = DateTime::parse_from_rfc3339(expires_text)
            .map_err(|e| {
                LoadError::format(
                    what,
                    format!("expires {expires_text:?} is not RFC 3339: {e}"),
                )
            })?
            .with_timezone(&Utc);
        let mut layout_keys = BTreeMap::new();
        if let Some(k) = obj.get("keys") {
            let map = k
                .as_object()
                .ok_or_else(|| LoadError::format(what, "keys is not an object"))?;
            for (id, key) in map {
                layout_keys.insert(id.clone(), keys::layout_key(id, key)?);
            }
        }
        let mut names = std::collections::BTreeSet::new();
        let mut steps = Vec::new();
        for s in list(obj.get("steps"), what, "steps")? {
            let step = step(s)?;
            if !names.insert(step.name.clone()) {
                return Err(LoadError::format(
                    what,
                    format!("duplicate step name {:?}", step.name),
                ));
            }
            steps.push(step);
        }
        let mut inspect = Vec::new();
        for i in list(obj.get("inspect"), what, "inspect")? {
            let ins = inspection(i)?;
            if !names.insert(ins.name.clone()) {
                return Err(LoadError::format(
                    what,
                    format!("duplicate step or inspection name {:?}", ins.name),
                ));
            }
            inspect.push(ins);
        }
        Ok(Layout {
            expires,
            keys: layout_keys,
            steps,
            inspect,
            readme: obj
                .get("readme")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        })
    }
}

fn step(v: &Value) -> Result<Step, LoadError> {
    let obj = v
        .as_object()
        .ok_or_else(|| LoadError::format("layout", "a step is a JSON object"))?;
    let name = str_field(obj, "name", "layout step")?.to_owned();
    let what = format!("layout step {name:?}");
    let threshold = match obj.get("threshold") {
        None => 1,
        Some(t) => t
            .as_u64()
            .filter(|t| *t >= 1)
            .and_then(|t| usize::try_from(t).ok())
            .ok_or_else(|| LoadError::format(&what, "threshold is not a positive integer"))?,
    };
    Ok(Step {
        pubkeys: str_list(obj.get("pubkeys"), &what, "pubkeys")?,
        threshold,
        expected_command: str_list(obj.get("expected_command"), &what, "expected_command")?,
        expected_materials: rules(obj.get("expected_materials"), &what, "expected_materials")?,
        expected_products: rules(obj.get("expected_products"), &what, "expected_products")?,
        name,
    })
}

fn inspection(v: &Value) -> Result<Inspection, LoadError> {
    let obj = v
        .as_object()
        .ok_or_else(|| LoadError::format("layout", "an inspection is a JSON object"))?;
    let name = str_field(obj, "name", "layout inspection")?.to_owned();
    let what = format!("layout inspection {name:?}");
    let run = str_list(obj.get("run"), &what, "run")?;
    if run.is_empty() {
        return Err(LoadError::format(&what, "run is empty"));
    }
    Ok(Inspection {
        run,
        expected_materials: rules(obj.get("expected_materials"), &what, "expected_materials")?,
        expected_products: rules(obj.get("expected_products"), &what, "expected_products")?,
        name,
    })
}

fn rules(v: Option<&Value>, what: &str, field: &str) -> Result<Vec<Rule>, LoadError> {
    list(v, what, field)?
        .iter()
        .map(|r| {
            let words = str_list(Some(r), what, field)?;
            Rule::parse(&words).map_err(|e| LoadError::format(what, e))
        })
        .collect()
}

fn list<'a>(v: Option<&'a Value>, what: &str, field: &str) -> Result<&'a [Value], LoadError> {
    match v {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(LoadError::format(what, format!("{field} is not a list"))),
    }
}

fn str_field<'a>(
    obj: &'a Map<String, Value>,
    field: &str,
    what: &str,
) -> Result<&'a str, LoadError> {
    obj.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| LoadError::format(what, format!("missing string field {field:?}")))
}

fn str_list(v: Option<&Value>, what: &str, field: &str) -> Result<Vec<String>, LoadError> {
    list(v, what, field)?
        .iter()
        .map(|s| {
            s.as_str()
                .map(str::to_owned)
                .ok_or_else(|| LoadError::format(what, format!("{field} holds a non-string")))
        })
        .collect()
}

/// Reads `{name: {alg: hex}}`.
pub(crate) fn artifacts(
    v: Option<&Value>,
    what: &str,
    field: &str,
) -> Result<Artifacts, LoadError> {
    let mut out = Artifacts::new();
    let map = match v {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(LoadError::format(what, format!("{field} is not an object"))),
    };
    for (name, hashes) in map {
        out.insert(name.clone(), digest_map(hashes, what, field)?);
    }
    Ok(out)
}

/// Reads `{alg: hex}`.
pub(crate) fn digest_map(
    v: &Value,
    what: &str,
    field: &str,
) -> Result<BTreeMap<String, String>, LoadError> {
    let obj = v
        .as_object()
        .ok_or_else(|| LoadError::format(what, format!("{field}: a digest set is an object")))?;
    obj.iter()
        .map(|(alg, hex)| {
            hex.as_str()
                .map(|h| (alg.clone(), h.to_ascii_lowercase()))
                .ok_or_else(|| {
                    LoadError::format(what, format!("{field}: digest {alg} is not a string"))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn match_rule_forms() {
        let r = Rule::parse(&words("MATCH foo IN src WITH PRODUCTS IN dst FROM build")).unwrap();
        assert_eq!(
            r.kind,
            RuleKind::Match {
                source_prefix: Some("src".into()),
                dest_kind: ArtifactKind::Products,
                dest_prefix: Some("dst".into()),
                dest_step: "build".into()
            }
        );
        let r = Rule::parse(&words("match * with materials from clone")).unwrap();
        assert!(matches!(
            r.kind,
            RuleKind::Match {
                dest_kind: ArtifactKind::Materials,
                ..
            }
        ));
        assert!(Rule::parse(&words("MATCH * WITH BINARIES FROM x")).is_err());
        assert!(Rule::parse(&words("MATCH * FROM x")).is_err());
        assert!(Rule::parse(&words("ALLOW a b")).is_err());
        assert!(Rule::parse(&words("PERMIT a")).is_err());
        assert_eq!(
            Rule::parse(&words("disallow *")).unwrap().kind,
            RuleKind::Disallow
        );
    }
}
