//! Which Rego a bundle is written in, and the load-time checks that keep a policy from
//! meaning something other than what its author wrote: a `deny` that is not a set of
//! strings, or data that shadows the policy's own rules.
//!
//! Rego v0 (OPA before 1.0, and the style of OPA's and conftest's older documentation)
//! writes `deny[msg] { … }`; in Rego v1 the same head, `deny[msg] if { … }`, is a partial
//! *object*. Compiled in the wrong dialect a policy either fails to parse or, worse,
//! denies everything with the message `{}`. So the dialect is declared
//! (`regoVersion:` in policy.yaml) or detected, and `deny`/`warn` must be sets.

use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// The Rego dialect of a bundle's modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegoVersion {
    /// OPA before 1.0: `deny[msg] { … }`, keywords only through `import future.keywords`.
    #[serde(rename = "v0")]
    V0,
    /// OPA 1.0 and later: `deny contains msg if { … }`.
    #[serde(rename = "v1")]
    V1,
}

impl RegoVersion {
    /// `v0` or `v1`.
    pub fn as_str(self) -> &'static str {
        match self {
            RegoVersion::V0 => "v0",
            RegoVersion::V1 => "v1",
        }
    }

    /// The dialect of `modules` when policy.yaml does not say: v0 when any module imports
    /// `future.keywords` or has a rule head in the v0 form (`name[x] {`, `name {`,
    /// `f(x) = y {`), which Rego v1 cannot parse; otherwise v1.
    pub fn detect<'a>(modules: impl IntoIterator<Item = &'a str>) -> RegoVersion {
        let v0 = modules.into_iter().any(|text| {
            code_lines(text).any(|line| is(&FUTURE_IMPORT, line) || is(&V0_RULE_HEAD, line))
        });
        if v0 { RegoVersion::V0 } else { RegoVersion::V1 }
    }
}

/// A fixed pattern; `None` only if it failed to compile, which the tests below rule out.
type Pattern = LazyLock<Option<regex::Regex>>;

fn is(pattern: &Pattern, line: &str) -> bool {
    pattern.as_ref().is_some_and(|re| re.is_match(line))
}

/// `import future.keywords` or `import future.keywords.if` (and friends).
static FUTURE_IMPORT: Pattern =
    LazyLock::new(|| regex::Regex::new(r"^\s*import\s+future\.keywords(\.[A-Za-z_]+)?\s*$").ok());

/// A v0 rule head: `deny[msg] {`, `f(x) = y {`, `allow {`, `x = y {` (no `if`).
static V0_RULE_HEAD: Pattern = LazyLock::new(|| {
    regex::Regex::new(concat!(
        r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*(\[[^\]]*\]|\([^)]*\))\s*(=\s*[^{}]*?)?\s*\{",
        r"|^\s*[A-Za-z_][A-Za-z0-9_]*\s*\{\s*$",
        r"|^\s*[A-Za-z_][A-Za-z0-9_]*\s*=\s*[^{}\s][^{}]*?\s*\{\s*$",
    ))
    .ok()
});

/// A `deny`/`warn` head that makes an object, in either dialect: `deny[k] = v`, or, in
/// v1, `deny[k] if`/`deny[k] {`.
static OBJECT_HEAD_ANY: Pattern =
    LazyLock::new(|| regex::Regex::new(r"^\s*(deny|warn)\s*\[[^\]]*\]\s*:?=").ok());
static BRACKET_HEAD: Pattern = LazyLock::new(|| regex::Regex::new(r"^\s*(deny|warn)\s*\[").ok());

/// Lines of code with `#` comments removed (a `#` inside a string is rare in rule
/// heads; the checks below only look at heads).
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|l| l.split_once('#').map_or(l, |(code, _)| code))
}

/// `name[x] if` at the start of a rule (a v0 partial-set head written with the
/// `future.keywords.if` keyword).
static SET_HEAD_WITH_IF: Pattern = LazyLock::new(|| {
    regex::Regex::new(r"^(\s*[A-Za-z_][A-Za-z0-9_]*\s*\[[^\]]*\]\s*)if(\s.*|$)").ok()
});

/// Rewrites a v0 module so that regorus reads it as OPA v0 does. In OPA v0,
/// `deny[msg] if { … }` (with `import future.keywords.if`) is a partial *set*, as
/// `deny[msg] { … }` is; regorus' v0 mode reads the former as an object. The keyword is
/// dropped (`deny[msg]    { … }`, or `deny[msg] { expr }` for a one-line body), keeping
/// every line and column where it was so that diagnostics still point at the source.
pub(crate) fn normalise_v0(text: &str) -> String {
    let Some(re) = SET_HEAD_WITH_IF.as_ref() else {
        return text.to_owned();
    };
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let (code, comment) = match body.find('#') {
            Some(i) => body.split_at(i),
            None => (body, ""),
        };
        match re.captures(code) {
            Some(c) => {
                let head = c.get(1).map_or("", |m| m.as_str());
                let rest = c.get(2).map_or("", |m| m.as_str());
                if rest.trim_start().starts_with('{') {
                    out.push_str(head);
                    out.push_str("  ");
                    out.push_str(rest);
                } else {
                    out.push_str(head);
                    out.push('{');
                    out.push_str(rest.trim_end());
                    out.push_str(" }");
                }
                out.push_str(comment);
            }
            None => out.push_str(body),
        }
        out.push_str(newline);
    }
    out
}

/// Refuses a module of the policy's package whose `deny` or `warn` would be an object
/// rather than a set of messages, with what to write instead.
pub(crate) fn check_rule_shapes(
    file: &str,
    text: &str,
    version: RegoVersion,
) -> Result<(), String> {
    for (n, line) in code_lines(text).enumerate() {
        let object =
            is(&OBJECT_HEAD_ANY, line) || (version == RegoVersion::V1 && is(&BRACKET_HEAD, line));
        if object {
            let rule = if line.trim_start().starts_with("warn") {
                "warn"
            } else {
                "deny"
            };
            let hint = match version {
                RegoVersion::V1 => format!(
                    "in Rego v1 `{rule}[x]` is an object; write `{rule} contains msg if {{ … }}`, \
                     or set `regoVersion: v0` in policy.yaml for a policy written in the v0 style"
                ),
                RegoVersion::V0 => format!(
                    "`{rule}[k] = v` is an object; write `{rule}[msg] {{ … }}` so that `{rule}` \
                     is a set of messages"
                ),
            };
            return Err(format!(
                "{file}:{}: `{rule}` must be a set of strings: {hint}",
                n + 1
            ));
        }
    }
    Ok(())
}

/// Refuses data that defines anything at (or above, as a non-object) the path of one of
/// the bundle's packages: merged with the rules, it would replace them (e.g.
/// `{"custody":{"require_provenance":{"deny":[]}}}` turns an enforce policy into
/// allow-all).
pub(crate) fn check_data_paths(
    data: &serde_json::Value,
    packages: &[String],
) -> Result<(), String> {
    for package in packages {
        let path: Vec<&str> = package
            .strip_prefix("data.")
            .unwrap_or(package)
            .split('.')
            .filter(|s| !s.is_empty())
            .collect();
        let mut at = data;
        for (i, key) in path.iter().enumerate() {
            let serde_json::Value::Object(map) = at else {
                return Err(format!(
                    "data defines data.{} as a value, but package {package} lives under it: \
                     rename the data key",
                    path[..i].join(".")
                ));
            };
            match map.get(*key) {
                Some(next) => at = next,
                None => break,
            }
            if i + 1 == path.len() {
                return Err(format!(
                    "data defines data.{}, the path of package {package}: data there would \
                     override the policy's rules; keep data under another key (e.g. \
                     data.config)",
                    path.join(".")
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_patterns_compile() {
        for re in [
            &FUTURE_IMPORT,
            &V0_RULE_HEAD,
            &OBJECT_HEAD_ANY,
            &BRACKET_HEAD,
            &SET_HEAD_WITH_IF,
        ] {
            assert!(re.is_some());
        }
    }

    #[test]
    fn detects_v0_by_imports_and_heads() {
        let v0 = [
            "package p\n\nimport future.keywords.if\n\ndeny[msg] if { msg := \"x\" }\n",
            "package p\nimport future.keywords\n",
            "package p\n\ndeny[msg] {\n\tmsg := \"x\"\n}\n",
            "package p\n\nallow {\n\ttrue\n}\n",
            "package p\n\nf(x) = y {\n\ty := x\n}\n",
            "package p\n\ndeny[msg] { # comment\n msg := 1 }\n",
            "package p\n\ndeny[msg] { msg := \"x\" }\n",
            "package p\n\nx = y {\n\ty := 1\n}\n",
        ];
        for text in v0 {
            assert_eq!(RegoVersion::detect([text]), RegoVersion::V0, "{text}");
        }
        let v1 = [
            "package p\n\ndeny contains msg if {\n\tmsg := \"x\"\n}\n",
            "package p\n\nallowed := {\"a\", \"b\"}\nx := {\n\t\"a\": 1,\n}\n",
            "package p\nimport rego.v1\n\nwarn contains \"w\" if input.x\n",
            "package p\n\n# deny[msg] {\n",
            "package p\n\nf(x) := y if {\n\ty := x\n}\n",
            "package p\n\nx = {\n\t\"a\": 1,\n}\n",
            "package p\n\ndeny contains m if {\n\tevery x in input.xs {\n\t\tx > 1\n\t}\n\tm := \"x\"\n}\n",
        ];
        for text in v1 {
            assert_eq!(RegoVersion::detect([text]), RegoVersion::V1, "{text}");
        }
    }

    #[test]
    fn v0_set_heads_with_if_lose_the_keyword_in_place() {
        let text = "package p\nimport future.keywords.if\n\ndeny[msg] if {\n\tmsg := 1\n}\nwarn[m] if m := \"w\" # why\nok := true if input.x\n";
        let out = normalise_v0(text);
        assert_eq!(
            out,
            "package p\nimport future.keywords.if\n\ndeny[msg]    {\n\tmsg := 1\n}\nwarn[m] { m := \"w\" }# why\nok := true if input.x\n"
        );
        assert_eq!(out.lines().count(), text.lines().count());
    }

    #[test]
    fn object_shaped_deny_is_refused_with_a_hint() {
        let err = check_rule_shapes(
            "p.rego",
            "package p\n\ndeny[msg] if {\n\tmsg := 1\n}\n",
            RegoVersion::V1,
        )
        .unwrap_err();
        assert!(err.contains("p.rego:3"), "{err}");
        assert!(err.contains("deny contains msg if"), "{err}");
        assert!(err.contains("regoVersion: v0"), "{err}");
        assert!(
            check_rule_shapes(
                "p.rego",
                "package p\ndeny[msg] { msg := \"x\" }\n",
                RegoVersion::V0
            )
            .is_ok()
        );
        let err = check_rule_shapes(
            "p.rego",
            "package p\nwarn[k] = v { k := 1; v := 2 }\n",
            RegoVersion::V0,
        )
        .unwrap_err();
        assert!(err.contains("`warn` must be a set of strings"), "{err}");
        assert!(
            check_rule_shapes(
                "p.rego",
                "package p\ndeny contains m if { m := \"x\" }\n",
                RegoVersion::V1
            )
            .is_ok()
        );
    }

    #[test]
    fn data_under_a_package_is_refused() {
        let packages = vec!["data.custody.require_provenance".to_owned()];
        let erase = json!({"custody": {"require_provenance": {"deny": []}}});
        let err = check_data_paths(&erase, &packages).unwrap_err();
        assert!(err.contains("data.custody.require_provenance"), "{err}");
        let scalar = json!({"custody": 1});
        assert!(check_data_paths(&scalar, &packages).is_err());
        for fine in [
            json!({"custody": {"other": {"x": 1}}}),
            json!({"config": {"require_provenance": 1}}),
            json!({}),
        ] {
            assert!(check_data_paths(&fine, &packages).is_ok(), "{fine}");
        }
    }
}
