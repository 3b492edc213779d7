//! The registry's wire formats exactly as the client reads them, as public entry points
//! for the fuzz targets (`fuzz/`) and tests: image manifests, image indexes (which are
//! also referrers listings), the `Link` header of a paged listing and the
//! `WWW-Authenticate` challenge. A `Docker-Content-Digest` header is read with
//! [`Digest`](crate::digest::Digest)'s `FromStr`.

pub use super::discover::next_link;
pub use super::token::{Challenge, parse_challenge};

use super::manifest::{Index, Manifest};

/// Reads `bytes` as an image manifest the way the client does and returns what it
/// understood, serialized again (the fields custody reads, in a fixed order).
pub fn manifest(bytes: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
    let parsed: Manifest = serde_json::from_slice(bytes)?;
    serde_json::to_vec(&parsed)
}

/// Reads `bytes` as an image index, manifest list or referrers listing the way the client
/// does and returns what it understood, serialized again.
pub fn index(bytes: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
    let parsed: Index = serde_json::from_slice(bytes)?;
    serde_json::to_vec(&parsed)
}
