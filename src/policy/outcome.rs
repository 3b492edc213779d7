//! What one Rego evaluation says: the answer the evaluator ([`super::rego`]) gives and
//! the memo ([`super::memo`]) remembers.

/// What one evaluation said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// `deny` messages, sorted.
    pub deny: Vec<String>,
    /// `warn` messages, sorted.
    pub warn: Vec<String>,
}
