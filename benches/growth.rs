//! How the engine's cost grows with the work: one row of the growth table per run,
//! `cargo bench --bench growth -- ROW N` (benches/growth.sh runs them all), with ROW
//! one of
//!
//! - `policies N`: N copies of `require-provenance` (distinct names) over a 3-image Pod;
//! - `attestations N`: N signed SLSA provenance envelopes per image, 3-image Pod;
//! - `images N`: a Pod of N images, one envelope each;
//! - `workingset N`: N distinct digests, one-image reviews cycling through them twice;
//!   the second pass is measured, with the decision and memo caches' hit rates and the
//!   process's RSS.
//!
//! The engine is the real one (`Engine::check`: verification, evidence parsing, input
//! building, Rego, memo, decision cache); the registry is an in-memory fake answering
//! at once, so the rows show the engine's own growth (the network's is the RTT part of
//! growth.sh, through the real binary). "cold" = a new `Engine` (empty caches) per
//! check; "warm" = the same engine, after one check filled its caches; "evaluated" =
//! the bundles say `memoize: false`, so every check evaluates every policy (the
//! decision cache stays out too).

#[path = "support/memory.rs"]
mod memory;

use custody::engine::{CheckRequest, Engine, EngineConfig, ImageUse, ImageVerdict};
use custody::policy::PolicyStore;
use custody::policy::input::NamespaceInfo;
use memory::Fake;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `n` copies of require-provenance named `require-provenance-<i>` (its Rego unit
/// tests left out), with `memoize: false` when `evaluate` is set.
fn policy_copies(n: usize, evaluate: bool) -> (tempfile::TempDir, PolicyStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = root().join("policies/require-provenance");
    let yaml = std::fs::read_to_string(src.join("policy.yaml")).expect("policy.yaml");
    let rego = std::fs::read_to_string(src.join("provenance.rego")).expect("provenance.rego");
    for i in 0..n {
        let b: PathBuf = dir.path().join(format!("p{i}"));
        std::fs::create_dir_all(&b).expect("bundle dir");
        let mut y = yaml.replace(
            "name: require-provenance",
            &format!("name: require-provenance-{i}"),
        );
        if evaluate {
            y.push_str("memoize: false\n");
        }
        std::fs::write(b.join("policy.yaml"), y).expect("write policy.yaml");
        let r = rego.replace(
            "package custody.require_provenance",
            &format!("package custody.require_provenance_{i}"),
        );
        std::fs::write(b.join("provenance.rego"), r).expect("write rego");
    }
    let store = PolicyStore::new();
    let report = store.load_dir(dir.path()).expect("policies load");
    assert!(report.failed.is_empty(), "{report:?}");
    (dir, store)
}

fn pod(images: &[String]) -> CheckRequest {
    CheckRequest {
        images: images
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

fn images(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("registry.test/{prefix}/app-{i}:1.0"))
        .collect()
}

struct Bench {
    rt: tokio::runtime::Runtime,
}

impl Bench {
    fn check(&self, engine: &Engine, req: &CheckRequest) -> Vec<ImageVerdict> {
        let verdicts = self
            .rt
            .block_on(engine.check(req, Instant::now() + Duration::from_secs(60)));
        for v in &verdicts {
            for r in &v.results {
                assert!(r.allowed, "{}: {:?}", r.policy, r.messages);
            }
            assert!(!v.results.is_empty(), "no policy applied");
        }
        verdicts
    }

    /// Median time of `f` over `runs` calls, in µs.
    fn median(&self, runs: usize, mut f: impl FnMut()) -> f64 {
        let mut t: Vec<f64> = (0..runs)
            .map(|_| {
                let s = std::time::Instant::now();
                f();
                s.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    }

    /// cold, warm and evaluated time of `req` with `n` policy copies over `fake`.
    fn three(&self, fake: Arc<Fake>, policies: usize, req: &CheckRequest) -> [f64; 3] {
        let (_d1, store) = policy_copies(policies, false);
        let (_d2, eval_store) = policy_copies(policies, true);
        let cfg = EngineConfig {
            cpu_workers: 1,
            ..EngineConfig::default()
        };
        // Cold: new bundles (their memo is theirs) and a new engine, prepared untimed.
        let mut colds: Vec<f64> = (0..7)
            .map(|_| {
                let (_d, s) = policy_copies(policies, false);
                let e = Engine::new(fake.clone(), s, cfg.clone());
                let t = std::time::Instant::now();
                self.check(&e, req);
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        colds.sort_by(f64::total_cmp);
        let cold = colds[colds.len() / 2];
        let engine = Engine::new(fake.clone(), store.clone(), cfg.clone());
        self.check(&engine, req);
        let warm = self.median(101, || {
            self.check(&engine, req);
        });
        let engine = Engine::new(fake.clone(), eval_store, cfg);
        self.check(&engine, req);
        let evaluated = self.median(21, || {
            self.check(&engine, req);
        });
        [cold, warm, evaluated]
    }
}

fn cache_counts() -> HashMap<(String, String), f64> {
    let text = custody::metrics::metrics().render();
    let mut out = HashMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("custody_cache_requests_total{cache=\"") else {
            continue;
        };
        let Some((cache, rest)) = rest.split_once("\",result=\"") else {
            continue;
        };
        let Some((result, value)) = rest.split_once("\"} ") else {
            continue;
        };
        out.insert(
            (cache.to_owned(), result.to_owned()),
            value.trim().parse().unwrap_or(0.0),
        );
    }
    out
}

fn rss_mib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn ms(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let (row, n) = match args.as_slice() {
        [row, n] => (row.as_str(), n.parse::<usize>().expect("N is a number")),
        _ => {
            eprintln!(
                "usage: cargo bench --bench growth -- policies|attestations|images|workingset N"
            );
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let b = Bench { rt };
    match row {
        "policies" | "attestations" | "images" => {
            let (policies, per_image, count) = match row {
                "policies" => (n, 1, 3),
                "attestations" => (1, n, 3),
                _ => (1, 1, n),
            };
            let ims = images(row, count);
            let fake = Arc::new(memory::fake(root(), &ims, per_image));
            let [cold, warm, evaluated] = b.three(fake, policies, &pod(&ims));
            println!(
                "| {row} | {n} | {} | {} | {} | {} images × {} policies × {} envelopes |",
                ms(cold),
                ms(warm),
                ms(evaluated),
                count,
                policies,
                per_image
            );
        }
        "workingset" => {
            let ims = images("ws", n);
            let fake = Arc::new(memory::fake(root(), &ims, 1));
            let (_d, store) = policy_copies(1, false);
            let engine = Engine::new(
                fake,
                store,
                EngineConfig {
                    cpu_workers: 1,
                    ..EngineConfig::default()
                },
            );
            let reqs: Vec<CheckRequest> =
                ims.iter().map(|i| pod(std::slice::from_ref(i))).collect();
            for r in &reqs {
                b.check(&engine, r);
            }
            let before = cache_counts();
            let start = std::time::Instant::now();
            for r in &reqs {
                b.check(&engine, r);
            }
            let per = start.elapsed().as_secs_f64() * 1e6 / n as f64;
            let after = cache_counts();
            let rate = |cache: &str| {
                let get = |m: &HashMap<(String, String), f64>, r: &str| {
                    m.get(&(cache.to_owned(), r.to_owned()))
                        .copied()
                        .unwrap_or(0.0)
                };
                let hits = get(&after, "hit") - get(&before, "hit");
                let misses = get(&after, "miss") - get(&before, "miss");
                if hits + misses == 0.0 {
                    "-".to_owned()
                } else {
                    format!("{:.0} %", 100.0 * hits / (hits + misses))
                }
            };
            let (rss, peak) = rss_mib();
            println!(
                "| workingset | {n} | {} per review | decision cache {}, memo {} | RSS {rss} MiB (peak {peak}) |",
                ms(per),
                rate("decision"),
                rate("policy-memo")
            );
        }
        other => {
            eprintln!("unknown row {other:?}");
            std::process::exit(2);
        }
    }
}
