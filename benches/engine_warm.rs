//! The warm admission decision without a network: `Engine::check` over a Pod of three
//! images whose registry lookups are answered by an in-memory fake (resolved tags and
//! signed SLSA v1 provenance from the demo CI key), so the figure is hits in the shared
//! caches (verification, parsed evidence, converted predicates), input building and, for
//! `require-provenance`, answers from the policy memo; the six-policy figure evaluates the
//! vulnerability gate every time (it reads the evaluation time). Also one fresh `Bundle`
//! evaluation of `require-provenance` over the input document of one image. Targets: ≥ 3,000 reviews/s, i.e. ≤ ~330 µs per 3-image check
//! on one core.

#[path = "support/memory.rs"]
mod memory;

use criterion::{Criterion, criterion_group, criterion_main};
use custody::engine::{CheckRequest, Engine, EngineConfig, ImageUse};
use custody::policy::PolicyStore;
use custody::policy::input::NamespaceInfo;
use memory::Fake;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

const IMAGES: [&str; 3] = [
    "registry.test/shop/migrate:1.0",
    "registry.test/shop/web:1.0",
    "registry.test/shop/proxy:1.0",
];

/// The three images, each with one signed provenance envelope.
fn fake(root: &Path) -> Fake {
    let images: Vec<String> = IMAGES.iter().map(|i| (*i).to_owned()).collect();
    memory::fake(root, &images, 1)
}

fn request() -> CheckRequest {
    CheckRequest {
        images: IMAGES
            .iter()
            .enumerate()
            .map(|(i, im)| ImageUse::container(im, &format!("c{i}")))
            .collect(),
        namespace: NamespaceInfo {
            name: "shop".into(),
            labels: BTreeMap::new(),
        },
        ..CheckRequest::default()
    }
}

fn engine_with(root: &Path, dir: &str) -> Engine {
    let store = PolicyStore::new();
    let report = store.load_dir(&root.join(dir)).expect("policies load");
    assert!(report.failed.is_empty(), "{report:?}");
    Engine::new(Arc::new(fake(root)), store, EngineConfig::default())
}

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let req = request();
    for (name, dir, expect_allowed) in [
        (
            "check_3_images_require_provenance",
            "policies/require-provenance",
            true,
        ),
        ("check_3_images_library", "policies", false),
    ] {
        let engine = engine_with(root, dir);
        let check = || rt.block_on(engine.check(&req, Instant::now() + Duration::from_secs(10)));
        // Warm the caches and check the decision is the expected one.
        let verdicts = check();
        assert_eq!(verdicts.len(), 3);
        if expect_allowed {
            for v in &verdicts {
                for r in &v.results {
                    assert!(r.allowed, "{}: {:?}", r.policy, r.messages);
                }
            }
        }
        c.bench_function(name, |b| b.iter(|| black_box(check())));
    }

    // One evaluation of require-provenance over a realistic one-image input.
    let store = PolicyStore::new();
    store
        .load_dir(&root.join("policies/require-provenance"))
        .expect("loads");
    let snapshot = store.snapshot();
    let bundle = snapshot.bundles()[0].clone();
    let text = std::fs::read_to_string(root.join("docs/policy-input.example.json"))
        .expect("example input");
    let mut input: custody::policy::PolicyInput = serde_json::from_str(&text).expect("parses");
    input.evaluation.policy = bundle.name().to_owned();
    input.evaluation.options = bundle.spec().options.clone();
    let value = custody::policy::to_rego_value(&input);
    c.bench_function("bundle_require_provenance_eval", |b| {
        b.iter(|| black_box(bundle.evaluate_fresh(black_box(&value)).expect("evaluates")))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
