//! The categories every denial is filed under: each names something a person can act on.
//!
//! This file owns the list ([`Category::ALL`]), the names and their parsing, the order in
//! which rejected evidence explains a missing attestation ([`Category::most_telling`]),
//! which categories are infrastructure failures (what `--fail-open` admits), and which
//! can describe one piece of rejected evidence (the `rejected[].category` enum of
//! docs/policy-input.schema.json). Adding a category touches this file and
//! docs/operations.md (its table of what each means).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why an image was not admitted, in words a developer can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// The image, tag or digest does not exist in the registry.
    NotFound,
    /// The registry could not be reached or answered with a server error.
    RegistryUnreachable,
    /// The registry refused our credentials (or we had none).
    Auth,
    /// No attestation of a type the policy needs was found.
    NoAttestation,
    /// An attestation's signature did not verify.
    BadSignature,
    /// An attestation verified, but with a key the policy does not trust.
    UntrustedSigner,
    /// A signed statement is about another digest.
    SubjectMismatch,
    /// A manifest, blob or listing exceeded a configured limit.
    TooLarge,
    /// The decision deadline ran out.
    Timeout,
    /// The Rego policy denied the verified evidence.
    PolicyDenied,
    /// The request itself could not be understood.
    BadRequest,
    /// No policy applies to the image (reported per `--no-policy-action`).
    NoPolicy,
    /// custody itself failed while deciding (a verification task panicked or was
    /// cancelled): a bug or a shutdown, never the policy's verdict. Denies, also under
    /// `--fail-open`, since hostile evidence must not be able to buy an admission by
    /// crashing a check.
    Internal,
}

/// A name that is not a category.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown category {0:?}")]
pub struct UnknownCategory(pub String);

impl Category {
    /// Every category, in declaration order.
    pub const ALL: [Category; 13] = [
        Category::NotFound,
        Category::RegistryUnreachable,
        Category::Auth,
        Category::NoAttestation,
        Category::BadSignature,
        Category::UntrustedSigner,
        Category::SubjectMismatch,
        Category::TooLarge,
        Category::Timeout,
        Category::PolicyDenied,
        Category::BadRequest,
        Category::NoPolicy,
        Category::Internal,
    ];

    /// Which rejected evidence explains best why a policy found no attestation it
    /// accepts, most telling first: a forged or broken signature says more than an
    /// unknown signer, which says more than a statement about another image.
    const PRIORITY: [Category; 5] = [
        Category::BadSignature,
        Category::UntrustedSigner,
        Category::SubjectMismatch,
        Category::TooLarge,
        Category::BadRequest,
    ];

    /// The kebab-case name used in messages, logs, metrics and the Rego input.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::NotFound => "not-found",
            Category::RegistryUnreachable => "registry-unreachable",
            Category::Auth => "auth",
            Category::NoAttestation => "no-attestation",
            Category::BadSignature => "bad-signature",
            Category::UntrustedSigner => "untrusted-signer",
            Category::SubjectMismatch => "subject-mismatch",
            Category::TooLarge => "too-large",
            Category::Timeout => "timeout",
            Category::PolicyDenied => "policy-denied",
            Category::BadRequest => "bad-request",
            Category::NoPolicy => "no-policy",
            Category::Internal => "internal",
        }
    }

    /// The category named `name` (its [`Category::as_str`]), if any.
    pub fn parse(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Whether the failure is the infrastructure's (the registry could not be reached
    /// in time), not the image's: what `--fail-open` admits with a warning.
    pub fn is_infrastructure(self) -> bool {
        matches!(self, Category::Timeout | Category::RegistryUnreachable)
    }

    /// Whether one piece of evidence can be rejected under this category (the
    /// `rejected[].category` values of the Rego input). The others describe a whole
    /// decision: the policy's verdict, no policy, custody's own failure.
    pub fn describes_evidence(self) -> bool {
        !matches!(
            self,
            Category::PolicyDenied | Category::NoPolicy | Category::Internal
        )
    }

    /// The category that best explains a missing attestation, given the categories of
    /// the evidence a policy rejected: the first of [`Category::PRIORITY`] present, else
    /// the first given, else `None` (nothing was rejected).
    pub fn most_telling(rejected: impl IntoIterator<Item = Category> + Clone) -> Option<Category> {
        Category::PRIORITY
            .into_iter()
            .find(|p| rejected.clone().into_iter().any(|c| c == *p))
            .or_else(|| rejected.into_iter().next())
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = UnknownCategory;

    fn from_str(s: &str) -> Result<Category, UnknownCategory> {
        Category::parse(s).ok_or_else(|| UnknownCategory(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Fails to compile when a variant is added without a line here, and fails when the
    /// new variant is missing from `ALL`.
    #[test]
    fn all_lists_every_variant() {
        let index = |c: Category| match c {
            Category::NotFound => 0,
            Category::RegistryUnreachable => 1,
            Category::Auth => 2,
            Category::NoAttestation => 3,
            Category::BadSignature => 4,
            Category::UntrustedSigner => 5,
            Category::SubjectMismatch => 6,
            Category::TooLarge => 7,
            Category::Timeout => 8,
            Category::PolicyDenied => 9,
            Category::BadRequest => 10,
            Category::NoPolicy => 11,
            Category::Internal => 12,
        };
        let seen: BTreeSet<usize> = Category::ALL.into_iter().map(index).collect();
        assert_eq!(seen, (0..13).collect::<BTreeSet<_>>());
        assert_eq!(Category::ALL.len(), 13);
    }

    #[test]
    fn names_parse_back_and_match_serde() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
            assert_eq!(c.as_str().parse::<Category>(), Ok(c));
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                serde_json::json!(c.as_str())
            );
            assert_eq!(
                serde_json::from_value::<Category>(serde_json::json!(c.as_str())).unwrap(),
                c
            );
        }
        assert_eq!(Category::parse("Bad-Signature"), None);
        assert_eq!(
            "nope".parse::<Category>(),
            Err(UnknownCategory("nope".into()))
        );
    }

    /// The `rejected[].category` enum of docs/policy-input.schema.json is exactly the
    /// categories that describe evidence.
    #[test]
    fn evidence_categories_equal_the_schema_enum() {
        let text = include_str!("../docs/policy-input.schema.json");
        let schema: serde_json::Value = serde_json::from_str(text).unwrap();
        let mut enums = Vec::new();
        find_category_enums(&schema, &mut enums);
        assert_eq!(
            enums.len(),
            1,
            "one `category` enum in the schema: {enums:?}"
        );
        let documented: BTreeSet<String> = enums[0].iter().cloned().collect();
        assert_eq!(documented.len(), enums[0].len(), "duplicates in {enums:?}");
        let ours: BTreeSet<String> = Category::ALL
            .into_iter()
            .filter(|c| c.describes_evidence())
            .map(|c| c.as_str().to_owned())
            .collect();
        assert_eq!(ours, documented);
    }

    fn find_category_enums(v: &serde_json::Value, out: &mut Vec<Vec<String>>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(e) = m.get("category").and_then(|c| c.get("enum")) {
                    let names = e.as_array().unwrap().iter();
                    out.push(names.map(|n| n.as_str().unwrap().to_owned()).collect());
                }
                m.values().for_each(|x| find_category_enums(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| find_category_enums(x, out)),
            _ => {}
        }
    }

    #[test]
    fn the_most_telling_reason_wins_and_order_of_arrival_breaks_ties() {
        use Category::*;
        assert_eq!(
            Category::most_telling([SubjectMismatch, UntrustedSigner, BadSignature]),
            Some(BadSignature)
        );
        assert_eq!(
            Category::most_telling([TooLarge, SubjectMismatch]),
            Some(SubjectMismatch)
        );
        assert_eq!(
            Category::most_telling([RegistryUnreachable, Auth]),
            Some(RegistryUnreachable)
        );
        assert_eq!(Category::most_telling([]), None);
    }

    #[test]
    fn only_registry_trouble_is_infrastructure() {
        let infra: Vec<Category> = Category::ALL
            .into_iter()
            .filter(|c| c.is_infrastructure())
            .collect();
        assert_eq!(infra, [Category::RegistryUnreachable, Category::Timeout]);
        assert!(!Category::Internal.is_infrastructure());
    }
}
