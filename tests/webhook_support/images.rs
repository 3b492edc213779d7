//! Images pushed to the real test registries, with or without evidence the test
//! policies accept.

use super::bundles::PREDICATE;
use crate::support::{TestRegistry, attach_statement, push_layout, single_platform};
use custody::attest::SigningKey;
use custody::digest::Digest;

/// A pushed image.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// `127.0.0.1:PORT/e2e/NAME:1.0`.
    pub image: String,
    /// Its manifest digest.
    pub digest: Digest,
}

impl Pushed {
    /// The short digest the denial message shows.
    pub fn short(&self) -> String {
        self.digest.short()
    }

    /// The same repository and tag reached through another host (a proxy).
    pub fn via(&self, host: &str) -> String {
        let (_, rest) = self.image.split_once('/').expect("host/repo");
        format!("{host}/{rest}")
    }
}

/// The demo CI signing key the test policies trust.
pub fn ci_key() -> SigningKey {
    let pem = std::fs::read_to_string(format!(
        "{}/tests/data/policy/keys/ci.key",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("tests/data/policy/keys/ci.key");
    SigningKey::from_pem(&pem).expect("CI key")
}

/// Pushes a fresh single-platform image `e2e/NAME:1.0` to `reg` and, when `signer` is
/// given, attaches a [`PREDICATE`] statement about it signed by that key (Referrers API
/// on ferro, the tag schema on docker-registry).
pub async fn push(reg: &TestRegistry, name: &str, signer: Option<&SigningKey>) -> Pushed {
    let layout = single_platform(&format!("{name} on {} ({:?})", reg.host, reg.kind));
    let tag = format!("e2e/{name}:1.0");
    let digest = push_layout(reg, &layout, &tag);
    if let Some(key) = signer {
        let image = reg.image(&tag);
        attach_statement(&reg.client(), &image, &digest, &digest, key, PREDICATE).await;
    }
    Pushed {
        image: format!("{}/{tag}", reg.host),
        digest,
    }
}

/// A good (attested by the CI key) and a bare image on `reg`.
pub async fn good_and_bare(reg: &TestRegistry) -> (Pushed, Pushed) {
    let good = push(reg, "good", Some(&ci_key())).await;
    let bare = push(reg, "bare", None).await;
    (good, bare)
}
