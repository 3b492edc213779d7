//! Warm connections: a cold lookup of an image with three attestations, through a proxy
//! that puts a round trip between custody and the registry, opens its extra connections
//! while its first request is under way, so the parallel manifest and blob fetches open
//! none: one connection for the first request plus the warm ones. The warm-ups are
//! counted apart from the lookup's requests (whose budget is unchanged), are not sent
//! again for a registry asked a moment ago, and `warm_connections: 0` sends none.

use crate::support;
use custody::attest::{KeyAlgorithm, SigningKey};
use custody::registry::{ImageRef, OciRegistry, Registry, RegistryConfig};
use std::time::Duration;
use support::net::CountingProxy;
use support::{TestRegistry, attach_statement, push_layout, single_platform};

const RTT: Duration = Duration::from_millis(40);

#[tokio::test]
async fn a_cold_lookup_fans_out_over_warm_connections() {
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let reg = TestRegistry::ferro();
    let pusher = reg.client();
    for tag in ["v1", "v2"] {
        let repo_tag = format!("team/warm:{tag}");
        let digest = push_layout(&reg, &single_platform(&format!("warm {tag}")), &repo_tag);
        let image = reg.image(&repo_tag);
        for p in [
            "https://example.com/a",
            "https://example.com/b",
            "https://example.com/c",
        ] {
            attach_statement(&pusher, &image, &digest, &digest, &key, p).await;
        }
    }
    let creds = reg.creds();
    for warm in [0usize, 3] {
        let proxy = CountingProxy::with_delay(&reg.host, RTT).await;
        support::init_crypto();
        let client = OciRegistry::new(RegistryConfig {
            insecure_registries: vec![proxy.host.clone()],
            warm_connections: warm,
            ..RegistryConfig::default()
        })
        .unwrap();
        let lookup = |tag: &'static str| {
            let client = &client;
            let image = ImageRef::parse(&format!("{}/team/warm:{tag}", proxy.host)).unwrap();
            let creds = creds.clone();
            async move {
                let r = client.resolve(&image, &creds).await.unwrap();
                let found = client.discover(&image, &r.digest, &creds).await.unwrap();
                assert_eq!(found.evidence.len(), 3, "{found:?}");
                client.request_stats()
            }
        };

        let cold = lookup("v1").await;
        // The lookup's own budget is what it was: HEAD, referrers, 3 manifests, 3 blobs.
        assert!(
            cold.total <= 8 && cold.sequential_depth <= 4,
            "warm {warm}: {cold:?}\n{:#?}",
            client.request_log()
        );
        assert_eq!(cold.warm_ups, warm as u64, "warm {warm}: {cold:?}");
        let opened = proxy.connections();
        if warm == 0 {
            // The first manifest fetch reuses the listing's connection, the others open
            // their own after the listing came back: on the critical path. (At least
            // three: a blob fetch that races its manifest's connection back to the pool
            // may start one more.)
            assert!(opened >= 3, "without warm connections: {opened}");
        } else {
            // Never more than 3 requests in flight, with 4 connections: one is always idle.
            assert_eq!(
                opened,
                1 + warm,
                "the fan-out opened connections of its own beside the warm ones"
            );
        }

        // A second cold image at once: no warm-ups again; with warm connections, every
        // connection reused.
        client.reset_stats();
        let next = lookup("v2").await;
        assert_eq!(next.warm_ups, 0, "warm {warm}: {next:?}");
        assert!(next.total <= 8, "warm {warm}: {next:?}");
        if warm > 0 {
            assert_eq!(proxy.connections(), opened, "warm {warm}: new connections");
        }
    }
}
