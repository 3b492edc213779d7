//! The whole policy library evaluated over one image's input document (~5 KB,
//! `docs/policy-input.example.json`): the Rego cost of one admission decision per image.
//! Target: under 300 µs for all six policies.
//!
//! - `library_policies_eval_own_inputs`: each policy over the document the webhook
//!   builds for it (its own options, only the predicate types it reads, only the
//!   rejections that claim them; src/engine/verify.rs), evaluated every time (the memo
//!   bypassed). This is the figure of record.
//! - `library_policies_eval_whole_document`: every policy over the same whole document
//!   (the vulnerability gate's options, every attestation): the older, less faithful
//!   figure, kept for comparison with earlier runs.
//! - `library_policies_memo_hit`: the same answers from the memo, as when the same
//!   image comes again (src/policy/memo.rs; in a server the vulnerability gate, which
//!   reads the evaluation time, misses every time).
//! - `input_document_to_rego_value`: one full conversion of the document (the engine
//!   converts the shared parts once per image).

use criterion::{Criterion, criterion_group, criterion_main};
use custody::policy::{Bundle, PolicyInput, PolicyStore, to_rego_value};
use std::hint::black_box;
use std::path::Path;

/// What the webhook gives `bundle` of this image's evidence.
fn own_input(whole: &PolicyInput, bundle: &Bundle) -> regorus::Value {
    let mut input = whole.clone();
    input.evaluation.set_policy(bundle.spec());
    input
        .attestations
        .retain(|a| bundle.wants_predicate(&a.predicate_type));
    input.rejected.retain(|r| {
        r.claimed_predicate_type
            .as_deref()
            .is_none_or(|t| bundle.wants_predicate(t))
    });
    to_rego_value(&input)
}

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let store = PolicyStore::new();
    let report = store
        .load_dir(&root.join("policies"))
        .expect("library loads");
    assert!(report.failed.is_empty(), "{report:?}");
    let snapshot = store.snapshot();
    let text = std::fs::read_to_string(root.join("docs/policy-input.example.json"))
        .expect("example input");
    let input: PolicyInput = serde_json::from_str(&text).expect("example parses");
    let bundles = snapshot.bundles();
    // Every bundle of the library (a new policy in policies/ joins the measurement).
    let dirs = std::fs::read_dir(root.join("policies"))
        .expect("policies/")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().is_dir()))
        .count();
    assert_eq!(bundles.len(), dirs, "every library policy loaded");

    c.bench_function("library_policies_eval_own_inputs", |b| {
        let inputs: Vec<regorus::Value> = bundles.iter().map(|p| own_input(&input, p)).collect();
        b.iter(|| {
            for (bundle, value) in bundles.iter().zip(&inputs) {
                black_box(bundle.evaluate_fresh(black_box(value)).expect("evaluates"));
            }
        })
    });

    c.bench_function("library_policies_eval_whole_document", |b| {
        let value = to_rego_value(&input);
        b.iter(|| {
            for bundle in &bundles {
                black_box(bundle.evaluate_fresh(black_box(&value)).expect("evaluates"));
            }
        })
    });

    c.bench_function("library_policies_memo_hit", |b| {
        let value = to_rego_value(&input);
        for bundle in &bundles {
            assert!(bundle.memo().is_some(), "{} is memoised", bundle.name());
            bundle.evaluate(&value).expect("evaluates");
        }
        b.iter(|| {
            for bundle in &bundles {
                black_box(bundle.evaluate(black_box(&value)).expect("evaluates"));
            }
        })
    });

    c.bench_function("input_document_to_rego_value", |b| {
        b.iter(|| black_box(to_rego_value(black_box(&input))))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
