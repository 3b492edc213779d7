//! Verifying an in-toto supply chain: a 5-step layout (threshold 2 per step, so 10
//! links of 200 artifacts each: 100 materials and 100 products), every step's
//! materials matched against the previous step's products, products authorized with
//! CREATE and closed with DISALLOW. The layout is signed by an Ed25519 owner key, the
//! links by ECDSA P-256 functionary keys (two per step). Measured from bytes: parsing
//! the layout and the 10 links, 11 signature checks, the artifact agreement of each
//! step's two links, and 20 rule lists over 200 artifacts each.

use criterion::{Criterion, criterion_group, criterion_main};
use custody::attest::{KeyAlgorithm, SigningKey};
use custody::intoto::{
    CollectedLinks, Inspections, Layout, Link, Metadata, Options, Payload, sign_dsse_link,
    sign_layout, sslib_key_object, verify, verify_layout,
};
use serde_json::json;
use std::hint::black_box;

const STEPS: usize = 5;
const HALF: usize = 100;

fn hex(step: usize, i: usize) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, format!("{step}/{i}").as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn artifacts(step: usize) -> custody::intoto::Artifacts {
    (0..HALF)
        .map(|i| {
            (
                format!("out/step{step}/file{i:03}.o"),
                [("sha256".to_owned(), hex(step, i))].into(),
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let (Ok(owner), Ok(functionaries)) = (
        SigningKey::generate(KeyAlgorithm::Ed25519),
        (0..STEPS * 2)
            .map(|_| SigningKey::generate(KeyAlgorithm::EcdsaP256))
            .collect::<Result<Vec<_>, _>>(),
    ) else {
        eprintln!("key generation failed");
        return;
    };
    let mut keys = serde_json::Map::new();
    let mut steps = Vec::new();
    let mut links = Vec::new();
    for s in 0..STEPS {
        let mut ids = Vec::new();
        for f in &functionaries[2 * s..2 * s + 2] {
            let (id, obj) = sslib_key_object(f.public_key());
            keys.insert(id.clone(), obj);
            ids.push(id);
        }
        let materials = if s == 0 {
            json!([["ALLOW", "src/*"], ["DISALLOW", "*"]])
        } else {
            json!([
                [
                    "MATCH",
                    "*",
                    "WITH",
                    "PRODUCTS",
                    "FROM",
                    format!("step{}", s - 1)
                ],
                ["DISALLOW", "*"]
            ])
        };
        steps.push(
            json!({"name": format!("step{s}"), "threshold": 2, "pubkeys": ids,
            "expected_materials": materials,
            "expected_products": [["CREATE", format!("out/step{s}/*")], ["DISALLOW", "*"]]}),
        );
        let mut link = Link::empty(&format!("step{s}"));
        link.materials = if s == 0 {
            (0..HALF)
                .map(|i| {
                    (
                        format!("src/file{i:03}.c"),
                        [("sha256".to_owned(), hex(99, i))].into(),
                    )
                })
                .collect()
        } else {
            artifacts(s - 1)
        };
        link.products = artifacts(s);
        for f in &functionaries[2 * s..2 * s + 2] {
            let Ok(signed) = sign_dsse_link(&link, f) else {
                return;
            };
            links.push(signed.into_bytes());
        }
    }
    let layout =
        json!({"_type": "layout", "expires": "2099-01-01T00:00:00Z", "keys": keys, "steps": steps});
    let Ok(layout) = sign_layout(layout.to_string().as_bytes(), &owner, false) else {
        return;
    };
    let owner_keys = [owner.public_key().clone()];
    let options = Options {
        now: chrono::Utc::now(),
        inspections: Inspections::Refuse,
        image: None,
    };
    let run = |layout: &[u8], links: &[Vec<u8>]| {
        let Ok(md) = Metadata::from_json(layout, "layout") else {
            return false;
        };
        let links: Vec<Metadata> = links
            .iter()
            .filter_map(|l| Metadata::from_json(l, "link").ok())
            .collect();
        verify(&md, &owner_keys, &CollectedLinks::new(links), &options).is_ok()
    };
    assert!(
        run(layout.as_bytes(), &links),
        "the benchmark chain verifies"
    );
    c.bench_function(
        "layout verify: 5 steps, 10 links x 200 artifacts (parse + verify)",
        |b| b.iter(|| run(black_box(layout.as_bytes()), black_box(&links))),
    );
    // As at admission: the layout parsed (and its signature checked) once, when the
    // bundle loaded; per image the links are parsed and the chain verified.
    let Ok(parsed_layout) = Metadata::from_json(layout.as_bytes(), "layout") else {
        return;
    };
    let Payload::Layout(value) = &parsed_layout.payload else {
        return;
    };
    let Ok(pre) = Layout::from_value(value) else {
        return;
    };
    c.bench_function(
        "layout verify, layout pre-parsed (admission): 10 links parsed + verified",
        |b| {
            b.iter(|| {
                let mds: Vec<Metadata> = links
                    .iter()
                    .filter_map(|l| Metadata::from_json(black_box(l), "link").ok())
                    .collect();
                verify_layout(&pre, &CollectedLinks::new(mds), &options).is_ok()
            })
        },
    );
    // Baselines in the same run: parsing alone, and the 11 signature checks alone.
    c.bench_function("baseline: parse the layout and the 10 links only", |b| {
        b.iter(|| {
            let md = Metadata::from_json(black_box(layout.as_bytes()), "layout").is_ok();
            let n = links
                .iter()
                .filter(|l| Metadata::from_json(black_box(l), "link").is_ok())
                .count();
            md && n == links.len()
        })
    });
    let Ok(layout_md) = Metadata::from_json(layout.as_bytes(), "layout") else {
        return;
    };
    let link_mds: Vec<Metadata> = links
        .iter()
        .filter_map(|l| Metadata::from_json(l, "link").ok())
        .collect();
    let signers: Vec<(custody::attest::PublicKey, String)> = functionaries
        .iter()
        .map(|f| (f.public_key().clone(), sslib_key_object(f.public_key()).0))
        .collect();
    c.bench_function("baseline: the 11 signature checks only", |b| {
        b.iter(|| {
            let owner_ok =
                layout_md.signed_by(&owner_keys[0], owner_keys[0].securesystemslib_key_id());
            let links_ok = link_mds
                .iter()
                .zip(&signers)
                .all(|(m, (k, id))| m.signed_by(black_box(k), id));
            owner_ok && links_ok
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
