//! Cold and warm lookup (resolve + discover) of one image with three attestations against
//! a local ferro-oci-server. Prints p50/p99 of a fixed sample as well as criterion's
//! estimates. Needs ferro-oci-server and skopeo (scripts/setup).

#[path = "../tests/support/mod.rs"]
#[allow(dead_code, unused_imports, clippy::all)]
mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use custody::attest::{KeyAlgorithm, SigningKey};
use custody::registry::{Credentials, ImageRef, OciRegistry, Registry};
use std::time::{Duration, Instant};
use support::{TestRegistry, attach_statement, push_layout, single_platform};

async fn lookup(client: &OciRegistry, image: &ImageRef, creds: &Credentials) {
    let resolved = client.resolve(image, creds).await.unwrap();
    let found = client
        .discover(image, &resolved.digest, creds)
        .await
        .unwrap();
    assert_eq!(found.evidence.len(), 3);
}

fn percentiles(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "registry_lookup/{label}: n={} p50={:?} p99={:?}",
        samples.len(),
        at(0.50),
        at(0.99)
    );
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reg = TestRegistry::ferro();
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let digest = push_layout(&reg, &single_platform("bench"), "bench/app:v1");
    let image = reg.image("bench/app:v1");
    let client = reg.client();
    let creds = Credentials::anonymous();
    rt.block_on(async {
        for p in [
            "https://example.com/a",
            "https://example.com/b",
            "https://example.com/c",
        ] {
            attach_statement(&client, &image, &digest, &digest, &key, p).await;
        }
    });

    let sample = |cold: bool| {
        (0..300)
            .map(|_| {
                if cold {
                    client.clear_caches();
                }
                let t = Instant::now();
                rt.block_on(lookup(&client, &image, &creds));
                t.elapsed()
            })
            .collect::<Vec<_>>()
    };
    percentiles("cold", sample(true));
    percentiles("warm", sample(false));

    c.bench_function("registry_lookup/cold", |b| {
        b.iter(|| {
            client.clear_caches();
            rt.block_on(lookup(&client, &image, &creds))
        })
    });
    c.bench_function("registry_lookup/warm", |b| {
        b.iter(|| rt.block_on(lookup(&client, &image, &creds)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
