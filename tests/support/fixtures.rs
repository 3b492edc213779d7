//! The one set of fixtures: paths into the repository and `tests/data`, the demo CI
//! signing key the test policies trust, and the predicates the tests sign.

use custody::attest::{KeyAlgorithm, SigningKey};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Every key algorithm custody signs and verifies with.
pub const ALGORITHMS: [KeyAlgorithm; 5] = [
    KeyAlgorithm::EcdsaP256,
    KeyAlgorithm::EcdsaP384,
    KeyAlgorithm::EcdsaP521,
    KeyAlgorithm::Ed25519,
    KeyAlgorithm::Rsa,
];

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/data/REL` (a path; nothing is read).
pub fn data(rel: &str) -> PathBuf {
    root().join("tests/data").join(rel)
}

/// The bytes of `tests/data/REL`.
pub fn data_bytes(rel: &str) -> Vec<u8> {
    let path = data(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The text of `tests/data/REL`.
pub fn data_text(rel: &str) -> String {
    let path = data(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The text of `REL` below the repository root.
pub fn repo_text(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

/// A path as `&str` (test paths are UTF-8).
pub fn s(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// The shipped policy library (`policies/`).
pub fn library() -> PathBuf {
    root().join("policies")
}

/// The demo CI signing key the test policies trust (`tests/data/policy/keys/ci.key`).
pub fn ci_key() -> SigningKey {
    SigningKey::from_pem(&data_text("policy/keys/ci.key")).expect("CI key")
}

/// The demo CI public key (PEM, `tests/data/policy/keys/ci.pub`).
pub fn ci_pub() -> String {
    data_text("policy/keys/ci.pub")
}

/// SLSA provenance v1, the predicate type the shipped `require-provenance` reads.
pub const SLSA_V1: &str = "https://slsa.dev/provenance/v1";

/// A SLSA provenance v1 predicate (`tests/data/policy/predicates/slsa-provenance-v1.json`).
pub fn provenance() -> Value {
    serde_json::from_str(&data_text("policy/predicates/slsa-provenance-v1.json"))
        .expect("provenance JSON")
}

/// Copies the files directly in `from` (not its subdirectories) into `to`, creating it: a
/// policy bundle as a ConfigMap would carry it.
pub fn copy_files(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating the copy's directory");
    for entry in std::fs::read_dir(from).expect("reading the directory to copy") {
        let path = entry.expect("directory entry").path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().expect("file name")))
                .expect("copying a file");
        }
    }
}
