//! Compiled match rules: does a policy apply to this namespace and image?

use super::spec::{MatchSpec, compile_selector};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use kube_core::{Selector, SelectorExt as _};
use std::collections::BTreeMap;

/// What a policy applies to, compiled once per bundle.
#[derive(Debug, Clone)]
pub struct Matcher {
    selector: Option<Selector>,
    namespaces: Vec<String>,
    images: Option<GlobSet>,
    exclude_namespaces: Vec<String>,
    exclude_images: Option<GlobSet>,
}

/// The facts a match decision needs.
#[derive(Debug, Clone, Copy)]
pub struct MatchTarget<'a> {
    /// The namespace name.
    pub namespace: &'a str,
    /// The namespace's labels.
    pub namespace_labels: &'a BTreeMap<String, String>,
    /// The image name as `registry/repository` (normalised, without tag or digest).
    pub image_name: &'a str,
}

fn glob_set(patterns: &[String]) -> Result<Option<GlobSet>, String> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let glob = GlobBuilder::new(p)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("image glob {p:?}: {e}"))?;
        b.add(glob);
    }
    b.build().map(Some).map_err(|e| format!("image globs: {e}"))
}

impl Matcher {
    /// Compiles a `match:` section.
    pub fn compile(spec: &MatchSpec) -> Result<Matcher, String> {
        Ok(Matcher {
            selector: spec
                .namespace_selector
                .as_ref()
                .map(compile_selector)
                .transpose()?,
            namespaces: spec.namespaces.clone(),
            images: glob_set(&spec.images)?,
            exclude_namespaces: spec.exclude.namespaces.clone(),
            exclude_images: glob_set(&spec.exclude.images)?,
        })
    }

    /// Whether the policy applies to the namespace at all (images aside).
    pub fn matches_namespace(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        if self.exclude_namespaces.iter().any(|n| n == namespace) {
            return false;
        }
        if !self.namespaces.is_empty() && !self.namespaces.iter().any(|n| n == namespace) {
            return false;
        }
        self.selector.as_ref().is_none_or(|s| s.matches(labels))
    }

    /// Whether the policy applies to this image in this namespace.
    pub fn matches(&self, target: &MatchTarget<'_>) -> bool {
        if !self.matches_namespace(target.namespace, target.namespace_labels) {
            return false;
        }
        if self
            .exclude_images
            .as_ref()
            .is_some_and(|g| g.is_match(target.image_name))
        {
            return false;
        }
        self.images
            .as_ref()
            .is_none_or(|g| g.is_match(target.image_name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(yaml: &str) -> Matcher {
        Matcher::compile(&yaml_serde::from_str(yaml).unwrap()).unwrap()
    }

    fn hit(m: &Matcher, ns: &str, labels: &[(&str, &str)], image: &str) -> bool {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        m.matches(&MatchTarget {
            namespace: ns,
            namespace_labels: &labels,
            image_name: image,
        })
    }

    #[test]
    fn default_matches_everything() {
        let m = matcher("{}");
        assert!(hit(&m, "default", &[], "docker.io/library/nginx"));
    }

    #[test]
    fn image_globs_respect_path_segments() {
        let m = matcher("images: ['ghcr.io/acme/*']\nexclude: {images: ['ghcr.io/acme/debug']}");
        assert!(hit(&m, "a", &[], "ghcr.io/acme/api"));
        assert!(!hit(&m, "a", &[], "ghcr.io/acme/team/api"));
        assert!(!hit(&m, "a", &[], "ghcr.io/acme/debug"));
        assert!(!hit(&m, "a", &[], "docker.io/acme/api"));
        let deep = matcher("images: ['ghcr.io/acme/**']");
        assert!(hit(&deep, "a", &[], "ghcr.io/acme/team/api"));
    }

    #[test]
    fn namespace_rules_and_exclusions() {
        let m = matcher(
            "namespaceSelector: {matchLabels: {custody.dev/environment: production}}\nexclude: {namespaces: [kube-system]}",
        );
        let prod = [("custody.dev/environment", "production")];
        assert!(hit(&m, "shop", &prod, "x/y"));
        assert!(!hit(&m, "shop", &[], "x/y"));
        assert!(!hit(&m, "kube-system", &prod, "x/y"));
        let named = matcher("namespaces: [a]");
        assert!(hit(&named, "a", &[], "x/y"));
        assert!(!hit(&named, "b", &[], "x/y"));
    }

    #[test]
    fn bad_glob_is_an_error() {
        let spec: MatchSpec = yaml_serde::from_str("images: ['ghcr.io/[']").unwrap();
        assert!(Matcher::compile(&spec).is_err());
    }
}
