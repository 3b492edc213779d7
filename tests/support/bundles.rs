//! Policy bundles for the tests, written into a directory given to `--policy-dir`.
//!
//! The standard bundle requires a verified statement of [`PREDICATE`] signed by the demo
//! CI key (`tests/data/policy/keys/ci.pub`), so an image is admitted exactly when
//! [`super::images`] attached that evidence.

use std::path::{Path, PathBuf};

/// The predicate type the test policies read.
pub const PREDICATE: &str = "https://custody.dev/e2e/v1";

/// The words of the standard bundle's denial.
pub const NO_EVIDENCE: &str = "no verified e2e evidence for";

/// A `--policy-dir` in a temp directory.
pub struct PolicyDir {
    dir: tempfile::TempDir,
}

/// The demo CI public key (PEM).
pub fn ci_pub() -> String {
    super::fixtures::ci_pub()
}

/// `policy.yaml` of a bundle `name` in `mode` trusting the CI key for [`PREDICATE`].
pub fn policy_yaml(name: &str, mode: &str) -> String {
    let pem: String = ci_pub()
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect();
    format!(
        "apiVersion: custody.dev/v1\nkind: Policy\nname: {name}\nmode: {mode}\n\
         attestors:\n  - name: ci\n    keys:\n      - name: demo-ci\n        pem: |\n{pem}\
         predicateTypes:\n  - {PREDICATE}\n"
    )
}

/// The Rego package of bundle `name`.
pub fn package(name: &str) -> String {
    format!("package custody.{}\n\n", name.replace('-', "_"))
}

/// Rego that denies an image without a verified [`PREDICATE`] statement.
pub fn require_evidence_rego(name: &str) -> String {
    format!(
        "{}evidence contains att if {{\n\tsome att in input.attestations\n\tatt.predicateType == \"{PREDICATE}\"\n}}\n\n\
         deny contains msg if {{\n\tcount(evidence) == 0\n\tmsg := sprintf(\"{NO_EVIDENCE} %s\", [input.image.digest])\n}}\n",
        package(name)
    )
}

/// Rego that denies every image with `words`, evidence or not.
pub fn deny_all_rego(name: &str, words: &str) -> String {
    format!("{}deny contains \"{words}\" if true\n", package(name))
}

impl PolicyDir {
    /// An empty directory.
    pub fn empty() -> PolicyDir {
        PolicyDir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A directory with one standard bundle `name` in `mode`.
    pub fn with(name: &str, mode: &str) -> PolicyDir {
        let d = PolicyDir::empty();
        d.write(name, mode);
        d
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The bundle directory of `name`.
    pub fn bundle(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes (or rewrites) the standard bundle `name` in `mode`.
    pub fn write(&self, name: &str, mode: &str) {
        self.write_files(name, mode, &require_evidence_rego(name));
    }

    /// Writes bundle `name` with `rego` as its only policy file.
    pub fn write_files(&self, name: &str, mode: &str, rego: &str) {
        let b = self.bundle(name);
        std::fs::create_dir_all(&b).expect("bundle dir");
        std::fs::write(b.join("policy.yaml"), policy_yaml(name, mode)).expect("policy.yaml");
        std::fs::write(b.join("policy.rego"), rego).expect("policy.rego");
    }

    /// Rewrites only the Rego file of bundle `name`.
    pub fn write_rego(&self, name: &str, rego: &str) {
        std::fs::write(self.bundle(name).join("policy.rego"), rego).expect("policy.rego");
    }
}
