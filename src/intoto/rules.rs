//! Artifact rules with the queue semantics of the in-toto specification: all materials
//! (or products) of an item start in a queue; rules apply in order, each consuming what
//! it authorizes; only DISALLOW (a queued artifact matches) and REQUIRE (the name is
//! not queued) fail. A MATCH that consumes nothing is not an error by itself; when a
//! later DISALLOW fails on an artifact, the reason the last MATCH passed it over is
//! added to the message.

use super::error::{Check, Failure};
use super::model::{ArtifactKind, Artifacts, Link, Rule, RuleKind};
use super::pattern::Pattern;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// `os.path.join(prefix, name)` for the prefixes rules carry.
fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        format!("{prefix}{name}")
    } else {
        format!("{prefix}/{name}")
    }
}

/// Applies `rules` to the `kind` artifacts of item `item` (a step or inspection whose
/// link is in `links`).
pub(crate) fn apply<'a>(
    item: &str,
    kind: ArtifactKind,
    rules: &[Rule],
    links: &BTreeMap<String, &'a Link>,
) -> Result<(), Failure> {
    let Some(&link) = links.get(item) else {
        return Err(Failure::new(Check::Rule, "no link to apply the rules to").step(item));
    };
    let artifacts = match kind {
        ArtifactKind::Materials => &link.materials,
        ArtifactKind::Products => &link.products,
    };
    let mut queue: BTreeSet<&str> = artifacts.keys().map(String::as_str).collect();
    let mut passed_over: BTreeMap<String, String> = BTreeMap::new();
    let fail = |rule: &Rule, artifact: &str, message: String| {
        Failure::new(Check::Rule, message)
            .step(item)
            .rule(&format!("expected_{}: {}", kind.as_str(), rule.text))
            .artifact(artifact)
    };
    for rule in rules {
        let pattern = Pattern::new(&rule.pattern);
        let matching = |queue: &BTreeSet<&'a str>| -> Vec<&'a str> {
            queue
                .iter()
                .copied()
                .filter(|n| pattern.matches(n))
                .collect()
        };
        let consumed: Vec<&str> = match &rule.kind {
            RuleKind::Match {
                source_prefix,
                dest_kind,
                dest_prefix,
                dest_step,
            } => match_rule(
                &pattern,
                &queue,
                artifacts,
                source_prefix.as_deref(),
                *dest_kind,
                dest_prefix.as_deref(),
                dest_step,
                links,
                &mut passed_over,
            ),
            RuleKind::Create => matching(&queue)
                .into_iter()
                .filter(|n| link.products.contains_key(*n) && !link.materials.contains_key(*n))
                .collect(),
            RuleKind::Delete => matching(&queue)
                .into_iter()
                .filter(|n| link.materials.contains_key(*n) && !link.products.contains_key(*n))
                .collect(),
            RuleKind::Modify => matching(&queue)
                .into_iter()
                .filter(|n| match (link.materials.get(*n), link.products.get(*n)) {
                    (Some(m), Some(p)) => m != p,
                    _ => false,
                })
                .collect(),
            RuleKind::Allow => matching(&queue),
            RuleKind::Disallow => {
                if let Some(&first) = matching(&queue).first() {
                    let why = passed_over
                        .get(first)
                        .map(|w| format!(" ({w})"))
                        .unwrap_or_default();
                    return Err(fail(
                        rule,
                        first,
                        format!(
                            "{} {first:?} of {item:?} is not authorized by any earlier rule and DISALLOW {:?} forbids it{why}",
                            &kind.as_str()[..kind.as_str().len() - 1],
                            rule.pattern
                        ),
                    ));
                }
                Vec::new()
            }
            RuleKind::Require => {
                if !queue.contains(rule.pattern.as_str()) {
                    return Err(fail(
                        rule,
                        &rule.pattern,
                        format!(
                            "REQUIRE {:?}: not among the remaining {} of {item:?}",
                            rule.pattern,
                            kind.as_str()
                        ),
                    ));
                }
                Vec::new()
            }
        };
        for name in consumed {
            queue.remove(name);
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn match_rule<'a>(
    pattern: &Pattern,
    queue: &BTreeSet<&'a str>,
    source: &Artifacts,
    source_prefix: Option<&str>,
    dest_kind: ArtifactKind,
    dest_prefix: Option<&str>,
    dest_step: &str,
    links: &BTreeMap<String, &Link>,
    passed_over: &mut BTreeMap<String, String>,
) -> Vec<&'a str> {
    let mut consumed = Vec::new();
    let dest_link = links.get(dest_step).copied();
    let source_prefix = source_prefix.map(|p| join(p, ""));
    for &full in queue {
        let relative = match &source_prefix {
            Some(p) => match full.strip_prefix(p.as_str()) {
                Some(rest) => rest,
                None => continue,
            },
            None => full,
        };
        if !pattern.matches(relative) {
            continue;
        }
        let Some(dest_link) = dest_link else {
            passed_over.insert(
                full.to_owned(),
                format!("MATCH found no link for step {dest_step:?}"),
            );
            continue;
        };
        let dest = match dest_kind {
            ArtifactKind::Materials => &dest_link.materials,
            ArtifactKind::Products => &dest_link.products,
        };
        let dest_name: Cow<str> = match dest_prefix {
            Some(p) => Cow::Owned(join(p, relative)),
            None => Cow::Borrowed(relative),
        };
        match (source.get(full), dest.get(dest_name.as_ref())) {
            (Some(a), Some(b)) if a == b => consumed.push(full),
            (_, Some(_)) => {
                passed_over.insert(
                    full.to_owned(),
                    format!(
                        "MATCH: its hash differs from {dest_name:?} in the {} of {dest_step:?}",
                        dest_kind.as_str()
                    ),
                );
            }
            (_, None) => {
                passed_over.insert(
                    full.to_owned(),
                    format!(
                        "MATCH: {dest_name:?} is not among the {} of {dest_step:?}",
                        dest_kind.as_str()
                    ),
                );
            }
        }
    }
    consumed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn art(names: &[(&str, &str)]) -> Artifacts {
        names
            .iter()
            .map(|(n, h)| {
                (
                    (*n).to_owned(),
                    [("sha256".to_owned(), (*h).to_owned())].into(),
                )
            })
            .collect()
    }

    fn rules(list: &[&str]) -> Vec<Rule> {
        list.iter()
            .map(|r| Rule::parse(&r.split(' ').map(str::to_owned).collect::<Vec<_>>()).unwrap())
            .collect()
    }

    fn owned() -> BTreeMap<String, Link> {
        let mut build = Link::empty("build");
        build.materials = art(&[("src/a.c", "11"), ("src/b.c", "22")]);
        build.products = art(&[("src/a.c", "11"), ("out/app", "33"), ("src/b.c", "23")]);
        let mut pkg = Link::empty("package");
        pkg.materials = art(&[("app", "33"), ("README", "44")]);
        [("build".to_owned(), build), ("package".to_owned(), pkg)].into()
    }

    #[test]
    fn queue_semantics_create_modify_allow_disallow() {
        let owned = owned();
        let l: BTreeMap<String, &Link> = owned.iter().map(|(k, v)| (k.clone(), v)).collect();
        let ok = rules(&[
            "CREATE out/*",
            "MODIFY src/b.c",
            "ALLOW src/a.c",
            "DISALLOW *",
        ]);
        apply("build", ArtifactKind::Products, &ok, &l).unwrap();
        let missing = rules(&["CREATE out/*", "DISALLOW *"]);
        let err = apply("build", ArtifactKind::Products, &missing, &l).unwrap_err();
        assert_eq!(err.artifact.as_deref(), Some("src/a.c"));
        assert_eq!(err.rule.as_deref(), Some("expected_products: DISALLOW *"));
        // A consumed artifact is gone for REQUIRE.
        let req = rules(&["ALLOW *", "REQUIRE out/app"]);
        let err = apply("build", ArtifactKind::Products, &req, &l).unwrap_err();
        assert_eq!(err.artifact.as_deref(), Some("out/app"));
        apply(
            "build",
            ArtifactKind::Products,
            &rules(&["REQUIRE out/app"]),
            &l,
        )
        .unwrap();
    }

    #[test]
    fn match_with_prefixes_and_wrong_step() {
        let owned = owned();
        let l: BTreeMap<String, &Link> = owned.iter().map(|(k, v)| (k.clone(), v)).collect();
        let ok = rules(&[
            "MATCH app WITH PRODUCTS IN out FROM build",
            "ALLOW README",
            "DISALLOW *",
        ]);
        apply("package", ArtifactKind::Materials, &ok, &l).unwrap();
        let wrong = rules(&[
            "MATCH app WITH PRODUCTS FROM build",
            "ALLOW README",
            "DISALLOW *",
        ]);
        let err = apply("package", ArtifactKind::Materials, &wrong, &l).unwrap_err();
        assert!(
            err.message.contains("not among the products of \"build\""),
            "{err}"
        );
        let absent = rules(&["MATCH * WITH PRODUCTS IN out FROM nowhere", "DISALLOW app"]);
        let err = apply("package", ArtifactKind::Materials, &absent, &l).unwrap_err();
        assert!(
            err.message.contains("no link for step \"nowhere\""),
            "{err}"
        );
        let src = rules(&[
            "MATCH *.c IN src WITH MATERIALS IN src FROM build",
            "DISALLOW src/*",
        ]);
        apply("build", ArtifactKind::Materials, &src, &l).unwrap();
        let hash = rules(&[
            "MATCH b.c IN src WITH PRODUCTS IN src FROM build",
            "DISALLOW src/b.c",
        ]);
        let err = apply("build", ArtifactKind::Materials, &hash, &l).unwrap_err();
        assert!(err.message.contains("hash differs"), "{err}");
    }
}
