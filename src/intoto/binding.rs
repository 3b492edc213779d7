//! Binding a verified supply chain to the image being admitted: the products of the
//! layout's last step must include an artifact whose digest is the image's.

use super::error::{Check, Failure};
use super::verify::Verified;
use crate::digest::Digest;

/// Whether the last step's products (the summary's products) include `digest`.
pub fn image_binding(verified: &Verified, digest: &Digest) -> Result<(), Failure> {
    let alg = digest.algorithm().as_str();
    let found = verified.summary.products.values().any(|hashes| {
        hashes
            .get(alg)
            .is_some_and(|h| h.eq_ignore_ascii_case(digest.hex()))
    });
    if found {
        return Ok(());
    }
    let last = verified
        .steps
        .last()
        .map(|s| s.name.clone())
        .unwrap_or_default();
    Err(Failure::new(
        Check::ImageBinding,
        format!(
            "the products of the last step {last:?} do not include the image digest {alg}:{}",
            digest.hex()
        ),
    )
    .step(&last)
    .artifact(&format!("{alg}:{}", digest.hex())))
}
