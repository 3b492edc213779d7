//! Placeholder until the engine lands: the verdict types the admission module consumes.
#![allow(missing_docs)]

use crate::category::Category;
use crate::digest::Digest;
use crate::policy::Mode;

#[derive(Debug, Clone)]
pub struct PolicyResult {
    pub policy: String,
    pub mode: Mode,
    pub allowed: bool,
    pub category: Option<Category>,
    pub messages: Vec<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ImageVerdict {
    pub image: String,
    pub digest: Option<Digest>,
    pub results: Vec<PolicyResult>,
}
