//! in-toto layouts: verifying a whole supply chain against the layout its owner signed.
//!
//! A **layout** names the steps of a supply chain, which functionaries (keys, and how
//! many of them) may perform each, and artifact rules for what each step consumes and
//! produces. The **links** recorded at each step are verified against it with the
//! workflow of the in-toto specification ([`verify()`]).
//!
//! Layouts and links are read in every form they travel in ([`Metadata`]): the legacy
//! signed metablock, DSSE envelopes, and in-toto Statements with a link predicate.
//! Signatures are checked with [`crate::attest`]'s keys (RSA-PSS/PKCS#1, ECDSA, Ed25519).
//!
//! ```text
//! Metadata::from_json(layout) → verify(&layout, &owner_keys, &DirSource::new(dir), &options)
//!   → Ok(Verified { steps, inspections, warnings, summary }) | Err(Failure { check, step, rule, artifact })
//! ```
//!
//! Nothing here touches the network; inspections run commands only in
//! [`Inspections::Run`] mode.

mod binding;
mod error;
mod inspect;
mod keys;
mod metadata;
mod model;
mod pattern;
mod record;
mod rules;
mod sign;
mod source;
mod verify;

pub use binding::ImageBinding;
pub use error::{Check, Failure, LoadError};
pub use inspect::Inspections;
pub use keys::{LayoutKey, sslib_key_object};
pub use metadata::{
    Form, LINK_PREDICATE_TYPES, Metadata, Payload, SLSA_PROVENANCE_PREFIX, Sig,
    link_from_provenance, link_from_statement,
};
pub use model::{ArtifactKind, Artifacts, Inspection, Layout, Link, Rule, RuleKind, Step};
pub use record::{RecordError, record_artifacts, run_and_record};
pub use sign::{SignError, sign_dsse_link, sign_layout};
pub use source::{CollectedLinks, DirSource, LinkSource};
pub use verify::{
    InspectionReport, Options, StepReport, Verified, VerifyError, verify, verify_layout,
};
