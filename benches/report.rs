//! `custody report` over many images on a local registry (ferro-oci-server): N distinct
//! images (default 1,000; `REPORT_IMAGES`) with 3 signed attestations each (SLSA
//! provenance, SPDX SBOM, vulns scan), evaluated against the four control policies of the
//! library exactly as `custody report` does (`report::evaluate` over one engine, 16 at a
//! time, then the document and its HTML page).
//!
//! Prints the cold time (fresh registry client and engine: every lookup, verification
//! and evaluation done), the warm time (the same engine again), and the cold run's
//! registry requests per distinct digest, which must stay within 2 + 2n (n = 3). The
//! request log holds 4,096 records, so the count is taken in a second cold run made of
//! batches of 400 images.
//!
//! `cargo bench --bench report` (needs ferro-oci-server; scripts/setup).

#[path = "../tests/support/mod.rs"]
#[allow(dead_code, unused_imports, clippy::all)]
mod support;

use custody::attest::{INTOTO_PAYLOAD_TYPE, SigningKey, sign_envelope};
use custody::digest::Digest;
use custody::engine::{Engine, EngineConfig};
use custody::policy::PolicyStore;
use custody::policy::input::NamespaceInfo;
use custody::registry::{Artifact, Credentials, DSSE_MEDIA_TYPE, OciRegistry};
use custody::report::{EvaluateOptions, Scope, Target};
use futures::StreamExt as _;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::TestRegistry;

const ATTESTATIONS: u64 = 3;
const CONCURRENCY: usize = 16;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn envelope(
    key: &SigningKey,
    digest: &Digest,
    pt: &str,
    predicate: serde_json::Value,
) -> bytes::Bytes {
    let st = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "bench", "digest": {"sha256": digest.hex()}}],
        "predicateType": pt,
        "predicate": predicate,
    });
    let env = sign_envelope(
        INTOTO_PAYLOAD_TYPE,
        &serde_json::to_vec(&st).unwrap(),
        &[key],
    )
    .unwrap();
    bytes::Bytes::from(env.to_json().into_bytes())
}

/// `op` until it succeeds, at most five times: on a busy machine an upload can time out
/// while the registry is being filled (setup only; the timed runs never retry). Every
/// retried push sends the same bytes, so a retry cannot leave a second referrer.
async fn retry<T, E: std::fmt::Debug, F, Fut>(what: &str, op: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut last = None;
    for _ in 0..5 {
        match op().await {
            Ok(v) => return v,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what}: {last:?}")
}

/// Pushes image `i` (its own config blob, one shared layer) with its three attestations.
async fn push_one(
    client: &OciRegistry,
    host: &str,
    i: usize,
    key: &SigningKey,
    provenance: &serde_json::Value,
    scanned: &str,
) -> String {
    let creds = Credentials::anonymous();
    let reference = format!("{host}/bench/app-{}:1.0", i % 50);
    let tagged = format!("{host}/bench/app-{}:v{i}", i % 50);
    let image = custody::registry::ImageRef::parse(&reference).unwrap();
    let layer = bytes::Bytes::from_static(b"custody report bench layer");
    let layer_digest = retry("push layer", || {
        client.push_blob(&image, layer.clone(), &creds)
    })
    .await;
    let config = bytes::Bytes::from(
        json!({"architecture": "amd64", "os": "linux", "config": {"Labels": {"i": i.to_string()}},
               "rootfs": {"type": "layers", "diff_ids": [layer_digest.to_string()]}})
        .to_string(),
    );
    let config_digest = retry("push config", || {
        client.push_blob(&image, config.clone(), &creds)
    })
    .await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest.to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest.to_string(), "size": layer.len()}],
    });
    let tag = format!("v{i}");
    let manifest = bytes::Bytes::from(manifest.to_string());
    let pushed = retry("push manifest", || {
        client.push_manifest(
            &image,
            &tag,
            "application/vnd.oci.image.manifest.v1+json",
            manifest.clone(),
            &creds,
        )
    })
    .await;
    let digest = pushed.digest;
    let scan = json!({"scanner": {"uri": "pkg:github/aquasecurity/trivy@0.55.0", "result": []},
                      "metadata": {"scanFinishedOn": scanned}});
    let sbom = json!({"spdxVersion": "SPDX-2.3", "packages": [{"name": format!("pkg-{i}")}]});
    for (pt, predicate) in [
        ("https://slsa.dev/provenance/v1", provenance.clone()),
        ("https://spdx.dev/Document", sbom),
        ("https://in-toto.io/attestation/vulns/v0.1", scan),
    ] {
        let artifact = Artifact {
            artifact_type: DSSE_MEDIA_TYPE.to_owned(),
            media_type: DSSE_MEDIA_TYPE.to_owned(),
            data: envelope(key, &digest, pt, predicate),
            annotations: BTreeMap::from([("in-toto.io/predicate-type".to_owned(), pt.to_owned())]),
        };
        retry("attach", || {
            client.attach(&image, &digest, &artifact, &creds)
        })
        .await;
    }
    tagged
}

fn policies() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for p in [
        "require-provenance",
        "vulnerability-gate",
        "require-sbom",
        "require-promotion",
    ] {
        let dst = dir.path().join(p);
        std::fs::create_dir(&dst).unwrap();
        for f in std::fs::read_dir(root().join("policies").join(p)).unwrap() {
            let f = f.unwrap().path();
            if f.is_file() {
                std::fs::copy(&f, dst.join(f.file_name().unwrap())).unwrap();
            }
        }
    }
    dir
}

fn targets(images: &[String]) -> Vec<Target> {
    let ns = NamespaceInfo {
        name: "shop".into(),
        ..NamespaceInfo::default()
    };
    images
        .iter()
        .map(|image| Target {
            image: image.clone(),
            namespace: ns.clone(),
            workloads: Vec::new(),
        })
        .collect()
}

struct Run {
    took: Duration,
    images: usize,
    satisfied: usize,
    html_bytes: usize,
}

async fn run(engine: &Engine, store: &PolicyStore, images: &[String]) -> Run {
    let opts = EvaluateOptions {
        time: None,
        credentials: Credentials::anonymous(),
        deadline: Duration::from_secs(120),
        concurrency: CONCURRENCY,
    };
    let started = Instant::now();
    let evaluated = custody::report::evaluate(engine, targets(images), &opts, &|_, _| {}).await;
    let bundles: Vec<_> = store.snapshot().bundles().into_iter().cloned().collect();
    let scope = Scope {
        source: "images".into(),
        namespace: None,
        time: chrono::Utc::now(),
    };
    let report = custody::report::build(&bundles, evaluated, &scope);
    let html = custody::report::html::render(&report);
    Run {
        took: started.elapsed(),
        images: report.images.len(),
        satisfied: report
            .controls
            .iter()
            .filter(|c| c.id != "C-04")
            .map(|c| c.satisfied)
            .min()
            .unwrap_or(0),
        html_bytes: html.len(),
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: usize = std::env::var("REPORT_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    support::init_crypto();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reg = TestRegistry::ferro();
    let key = SigningKey::from_pem(
        &std::fs::read_to_string(root().join("tests/data/policy/keys/ci.key")).unwrap(),
    )
    .unwrap();
    let provenance: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            root().join("tests/data/policy/predicates/slsa-provenance-v1.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let scanned = (chrono::Utc::now() - chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let pusher = reg.client();
    let setup = Instant::now();
    let images: Vec<String> = rt.block_on(async {
        futures::stream::iter(0..n)
            .map(|i| push_one(&pusher, &reg.host, i, &key, &provenance, &scanned))
            .buffered(16)
            .collect()
            .await
    });
    eprintln!(
        "report bench: pushed {n} images with {ATTESTATIONS} attestations each in {:?}",
        setup.elapsed()
    );
    let dir = policies();
    let store = PolicyStore::new();
    store.load_dir(dir.path()).unwrap();
    let config = EngineConfig::default();

    // Cold, timed: a fresh client and engine.
    let client = Arc::new(OciRegistry::new(reg.config()).unwrap());
    let engine = Engine::new(client.clone(), store.clone(), config.clone());
    let cold = rt.block_on(run(&engine, &store, &images));
    assert_eq!(cold.images, n);
    assert_eq!(cold.satisfied, n, "every image satisfies C-01..C-03");
    // Warm: the same engine again.
    client.reset_stats();
    let warm = rt.block_on(run(&engine, &store, &images));
    let warm_requests = client.request_stats().total;

    // Cold again, counted in batches (the request log keeps 4,096 records).
    let counter = Arc::new(OciRegistry::new(reg.config()).unwrap());
    let engine = Engine::new(counter.clone(), store.clone(), config);
    let mut total = 0u64;
    let mut by_kind: BTreeMap<&'static str, u64> = BTreeMap::new();
    for batch in images.chunks(400) {
        counter.reset_stats();
        rt.block_on(run(&engine, &store, batch));
        let s = counter.request_stats();
        total += s.total;
        for (k, v) in s.by_kind {
            *by_kind.entry(k).or_default() += v;
        }
    }
    let per_digest = total as f64 / n as f64;
    let bound = 2 + 2 * ATTESTATIONS;
    println!(
        "report/{n} images x {ATTESTATIONS} attestations: cold {:.2?} ({:.2} ms/image), warm {:.2?} ({:.2} ms/image, {warm_requests} requests); html {} KiB",
        cold.took,
        cold.took.as_secs_f64() * 1000.0 / n as f64,
        warm.took,
        warm.took.as_secs_f64() * 1000.0 / n as f64,
        cold.html_bytes / 1024
    );
    println!(
        "report/{n} cold registry requests: {total} = {per_digest:.2} per distinct digest (bound 2 + 2n = {bound}); by kind {by_kind:?}"
    );
    assert!(
        per_digest <= bound as f64,
        "{per_digest} requests per digest exceed {bound}"
    );
}
