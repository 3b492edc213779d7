//! One request cannot take custody down: the real `custody serve` binary, pointed at a
//! registry that answers with everything an attacker with pod-create rights and a
//! registry of their own could send (a referrer with 10,000 layers, 20,000 junk
//! referrers, an index of 15,000 platforms) and sent a pod with 5,000 distinct images.
//! Each gets a clear denial within the deadline, the registry is asked only a bounded
//! number of times, and the server's peak RSS (`VmHWM`) stays under 150 MiB.

use crate::support;
use custody::digest::Digest;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::hostile::{Hostile, Reply, Request};
use support::reviews::{create, object, pod_spec};
use support::{PolicyDir, Serve, assert_denied};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
const DEADLINE: Duration = Duration::from_secs(5);
const PEAK_RSS_LIMIT_MIB: f64 = 150.0;

fn digest_of(i: usize, what: &str) -> Digest {
    Digest::sha256(format!("{what} {i}").as_bytes())
}

/// The registry's answers for the three hostile repositories.
struct Script {
    subject: Digest,
    subject_manifest: Vec<u8>,
    junk_pages: [Vec<u8>; 2],
    layered_listing: Vec<u8>,
    layered_digest: Digest,
    layered: Vec<u8>,
    index_digest: Digest,
    index: Vec<u8>,
}

fn to_vec(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn listing(descriptors: Vec<Value>) -> Vec<u8> {
    to_vec(&json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": descriptors}))
}

impl Script {
    fn new() -> Script {
        let subject_manifest = to_vec(&json!({
            "schemaVersion": 2, "mediaType": MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": digest_of(0, "config").to_string(), "size": 2},
            "layers": []
        }));
        let subject = Digest::sha256(&subject_manifest);
        let junk = |range: std::ops::Range<usize>| {
            listing(
                range
                    .map(|i| {
                        json!({"mediaType": MANIFEST, "digest": digest_of(i, "junk").to_string(),
                               "size": 300, "artifactType": "application/vnd.in-toto+json"})
                    })
                    .collect(),
            )
        };
        let layered = to_vec(&json!({
            "schemaVersion": 2, "mediaType": MANIFEST,
            "artifactType": "application/vnd.in-toto+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                       "digest": Digest::sha256(b"{}").to_string(), "size": 2},
            "layers": (0..10_000).map(|i| json!({
                "mediaType": DSSE, "digest": digest_of(i, "layer").to_string(), "size": 100
            })).collect::<Vec<_>>(),
            "subject": {"mediaType": MANIFEST, "digest": subject.to_string(),
                        "size": subject_manifest.len()}
        }));
        let layered_digest = Digest::sha256(&layered);
        let layered_listing = listing(vec![json!({
            "mediaType": MANIFEST, "digest": layered_digest.to_string(), "size": layered.len(),
            "artifactType": "application/vnd.in-toto+json"
        })]);
        let index = to_vec(&json!({
            "schemaVersion": 2, "mediaType": INDEX,
            "manifests": (0..15_000).map(|i| json!({
                "mediaType": MANIFEST, "digest": digest_of(i, "platform").to_string(), "size": 400,
                "platform": {"os": "linux", "architecture": format!("arch{i}")}
            })).collect::<Vec<_>>()
        }));
        Script {
            subject,
            subject_manifest,
            junk_pages: [junk(0..10_000), junk(10_000..20_000)],
            layered_listing,
            layered_digest,
            layered,
            index_digest: Digest::sha256(&index),
            index,
        }
    }

    fn answer(&self, req: &Request) -> Reply {
        let p = req.path.as_str();
        let repo = p.split('/').nth(2).unwrap_or("");
        let tag = p.contains("/manifests/") && !p.contains("/manifests/sha256:");
        let by_digest = |d: &Digest| p.ends_with(&format!("/manifests/{d}"));
        if tag || by_digest(&self.subject) || by_digest(&self.index_digest) {
            return match repo {
                "platforms" => Reply::ok(INDEX, self.index.clone())
                    .header("Docker-Content-Digest", &self.index_digest.to_string()),
                _ => Reply::ok(MANIFEST, self.subject_manifest.clone())
                    .header("Docker-Content-Digest", &self.subject.to_string()),
            };
        }
        if p.contains("/referrers/") {
            return match repo {
                "junk" if p.contains("page=2") => Reply::ok(INDEX, self.junk_pages[1].clone()),
                "junk" => Reply::ok(INDEX, self.junk_pages[0].clone()).header(
                    "Link",
                    &format!("</v2/junk/referrers/{}?page=2>; rel=\"next\"", self.subject),
                ),
                "layers" => Reply::ok(INDEX, self.layered_listing.clone()),
                _ => Reply::ok(INDEX, listing(Vec::new())),
            };
        }
        if p.ends_with(&format!("/manifests/{}", self.layered_digest)) {
            return Reply::ok(MANIFEST, self.layered.clone());
        }
        Reply::status(404)
    }
}

fn pod(image: &str) -> Value {
    create(&object("pod", image))
}

async fn timed(serve: &Serve, review: &Value) -> (Value, Duration) {
    let started = Instant::now();
    let r = serve.validate(review).await;
    (r, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_answers_and_huge_pods_are_denied_within_bounds() {
    let script = std::sync::Arc::new(Script::new());
    let s2 = script.clone();
    let registry = Hostile::start(move |req: &Request| s2.answer(req)).await;
    let host = registry.host.clone();
    let policies = PolicyDir::with("require-e2e", "enforce");
    let deadline = format!("{}s", DEADLINE.as_secs());
    let serve = Serve::start(
        policies.path(),
        &[
            "--insecure-registry",
            &host,
            "--decision-deadline",
            &deadline,
            "--require-all-platforms",
        ],
    )
    .await;
    eprintln!("peak RSS at start: {:.1} MiB", serve.peak_rss_mib());
    let within = |what: &str, took: Duration| {
        eprintln!(
            "{what}: {took:?}, peak RSS so far {:.1} MiB",
            serve.peak_rss_mib()
        );
        assert!(
            took < DEADLINE + Duration::from_secs(1),
            "{what}: answered after {took:?}"
        );
    };

    // 20,000 junk referrers over two pages: at most 64 referrer manifests are fetched
    // (all 404 here), the rest counted; the answer is a denial.
    let (r, took) = timed(&serve, &pod(&format!("{host}/junk:1"))).await;
    assert_denied("junk referrers", &r, &["junk:1"]);
    within("junk referrers", took);
    let fetched = registry.count("/v2/junk/manifests/sha256:");
    assert!(fetched <= 64 + 1, "{fetched} referrer manifests fetched");

    // One referrer with 10,000 evidence layers: 8 blobs asked for, no more.
    let (r, took) = timed(&serve, &pod(&format!("{host}/layers:1"))).await;
    assert_denied("10,000 layers", &r, &["layers:1"]);
    within("10,000 layers", took);
    let blobs = registry.count("/v2/layers/blobs/");
    assert!(blobs <= 8, "{blobs} layer blobs fetched");

    // An index of 15,000 platforms with --require-all-platforms: too-large, and no
    // platform is looked up.
    let (r, took) = timed(&serve, &pod(&format!("{host}/platforms:1"))).await;
    assert_denied(
        "15,000 platforms",
        &r,
        &[
            "platforms:1",
            "too-large",
            "15000 manifests in the image index",
        ],
    );
    within("15,000 platforms", took);
    assert_eq!(registry.count("/v2/platforms/referrers/"), 0);

    // A pod with 5,000 distinct images: denied at once, no registry asked.
    let before = registry.requests().len();
    let mut many = object("pod", &format!("{host}/many-0:1"));
    let containers: Vec<Value> = (0..5_000)
        .map(|i| json!({"name": format!("c{i}"), "image": format!("{host}/many-{i}:1")}))
        .collect();
    pod_spec(&mut many, "pod")["containers"] = Value::Array(containers);
    let (r, took) = timed(&serve, &create(&many)).await;
    assert_denied("5,000 images", &r, &["too-large", "5000 distinct images"]);
    within("5,000 images", took);
    assert_eq!(
        registry.requests().len(),
        before,
        "registry asked about the 5,000 images"
    );

    let peak = serve.peak_rss_mib();
    assert!(
        peak < PEAK_RSS_LIMIT_MIB,
        "custody serve peaked at {peak:.1} MiB (limit {PEAK_RSS_LIMIT_MIB} MiB)"
    );
    eprintln!("peak RSS of custody serve: {peak:.1} MiB");
}
