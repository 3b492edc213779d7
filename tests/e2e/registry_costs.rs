//! What a lookup costs: a cold lookup of one image with three attestations takes at most
//! 2 + 2×3 requests with a sequential depth of at most 4; a warm lookup takes none (one
//! HEAD once the tag TTL ran out); concurrent lookups of one digest coalesce.

use crate::support;
use custody::attest::{KeyAlgorithm, SigningKey};
use custody::registry::{OciRegistry, Registry};
use std::time::Duration;
use support::{TestRegistry, attach_statement, push_layout, single_platform};

#[tokio::test]
async fn cold_warm_and_coalesced_lookup_costs() {
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    for reg in TestRegistry::both() {
        let digest = push_layout(&reg, &single_platform("costs"), "team/costs:v1");
        let image = reg.image("team/costs:v1");
        let pusher = reg.client();
        for p in [
            "https://example.com/a",
            "https://example.com/b",
            "https://example.com/c",
        ] {
            attach_statement(&pusher, &image, &digest, &digest, &key, p).await;
        }
        support::init_crypto();
        let mut cfg = reg.config();
        cfg.tag_cache_ttl = Duration::from_millis(500);
        let client = OciRegistry::new(cfg.clone()).unwrap();
        let creds = reg.creds();

        let resolved = client.resolve(&image, &creds).await.unwrap();
        let found = client
            .discover(&image, &resolved.digest, &creds)
            .await
            .unwrap();
        assert_eq!(found.evidence.len(), 3);
        let cold = client.request_stats();
        eprintln!("{:?} cold: {cold:?}", reg.kind);
        // Without a Referrers API the 404 costs one request more (then the tag schema).
        let extra = u64::from(!reg.has_referrers_api());
        assert!(
            cold.total <= 2 + 2 * 3 + extra,
            "{:?}: {cold:?}\n{:?}",
            reg.kind,
            client.request_log()
        );
        assert!(
            cold.sequential_depth <= 4 + extra as usize,
            "{:?}: {cold:?}\n{:#?}",
            reg.kind,
            client.request_log()
        );

        client.reset_stats();
        client.resolve(&image, &creds).await.unwrap();
        client
            .discover(&image, &resolved.digest, &creds)
            .await
            .unwrap();
        assert_eq!(client.request_stats().total, 0, "warm lookup made requests");

        tokio::time::sleep(Duration::from_millis(700)).await;
        client.reset_stats();
        client.resolve(&image, &creds).await.unwrap();
        client
            .discover(&image, &resolved.digest, &creds)
            .await
            .unwrap();
        let expired = client.request_stats();
        assert_eq!(
            (expired.total, expired.by_kind.get("manifests")),
            (1, Some(&1)),
            "{expired:?}"
        );

        // Ten concurrent cold lookups of one digest cost what one does.
        let fresh = OciRegistry::new(cfg.clone()).unwrap();
        let lookups = (0..10).map(|_| fresh.discover(&image, &digest, &creds));
        for r in futures::future::join_all(lookups).await {
            assert_eq!(r.unwrap().evidence.len(), 3);
        }
        let coalesced = fresh.request_stats();
        assert!(
            coalesced.total < cold.total,
            "{:?}: {coalesced:?}",
            reg.kind
        );

        // Once a repository is known to lack the Referrers API, a cold image in it costs
        // exactly the Referrers-API budget: the 404 is not asked again.
        if !reg.has_referrers_api() {
            let other = push_layout(&reg, &single_platform("costs 2"), "team/costs:v2");
            let image2 = reg.image("team/costs:v2");
            for p in [
                "https://example.com/a",
                "https://example.com/b",
                "https://example.com/c",
            ] {
                attach_statement(&pusher, &image2, &other, &other, &key, p).await;
            }
            fresh.reset_stats();
            let r = fresh.resolve(&image2, &creds).await.unwrap();
            assert_eq!(
                fresh
                    .discover(&image2, &r.digest, &creds)
                    .await
                    .unwrap()
                    .evidence
                    .len(),
                3
            );
            let s = fresh.request_stats();
            eprintln!("{:?} cold, repository known: {s:?}", reg.kind);
            assert!(s.total <= 8 && s.sequential_depth <= 4, "{s:?}");
        }
    }
}
