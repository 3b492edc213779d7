//! The shared harness itself: both registries start, images push, attestations attach.

use crate::support;
use custody::attest::{KeyAlgorithm, SigningKey};
use custody::registry::{Registry, Source};
use support::{TestRegistry, attach_statement, push_layout, single_platform};

#[tokio::test]
async fn both_registries_start_push_and_attach() {
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    for reg in TestRegistry::both() {
        let layout = single_platform("harness");
        let digest = push_layout(&reg, &layout, "harness/app:v1");
        let client = reg.client();
        let image = reg.image("harness/app:v1");
        let resolved = client.resolve(&image, &reg.creds()).await.unwrap();
        assert_eq!(resolved.digest, digest);
        let attached = attach_statement(
            &client,
            &image,
            &digest,
            &digest,
            &key,
            "https://example.com/p/v1",
        )
        .await;
        let expect = if reg.has_referrers_api() {
            Source::ReferrersApi
        } else {
            Source::TagSchema
        };
        assert_eq!(attached.source, expect, "{:?}", reg.kind);
        let found = client
            .discover(&image, &digest, &reg.creds())
            .await
            .unwrap();
        assert_eq!(found.evidence.len(), 1, "{:?}: {found:?}", reg.kind);
        assert_eq!(found.evidence[0].source, expect);
    }
}
