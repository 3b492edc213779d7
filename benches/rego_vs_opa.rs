//! The policy library evaluated by custody (regorus, as the webhook does) and by OPA (the
//! Go implementation, embedded through the PyPI package `opa-golib-python-bindings`),
//! over the same held-in example input, interleaved, in one run. Run it with
//! `benches/rego_vs_opa.sh` (installs the bindings if missing).
//!
//! Each policy sees the document the webhook builds for it (its own options, only the
//! predicate types it reads; see `benches/policy_eval.rs`). Both sides start from an
//! input already in their own representation (custody: a `regorus::Value`; OPA: stored
//! once as data and swapped in with `with input as`), and both evaluate the same
//! synthetic rule `custody__eval.result := {"deny": …, "warn": …}`. OPA's figure has the
//! binding's cost subtracted: the same query shape over an empty rule and the same input
//! (`benches/opa_eval.py`). custody's figure is `Bundle::evaluate_fresh` (clone of the
//! warmed engine, evaluation, messages read out; the memo bypassed).
//!
//! Rounds alternate: for each policy, `BATCH` custody evaluations, then `BATCH` OPA and
//! `BATCH` empty OPA evaluations in the Python process (which waits on a pipe while
//! custody runs, and vice versa). The table shows each side's best round and the median
//! round, per evaluation. Both implementations must give the same deny and warn messages
//! over the input, or the bench refuses to compare.
//!
//! Environment: `ROUNDS` (default 40), `BATCH` (default 20), `POLICY_DIR` (default
//! `policies`), `INPUT` (default `docs/policy-input.example.json`).

use custody::policy::{Bundle, PolicyInput, PolicyStore, to_rego_value};
use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// What the webhook gives `bundle` of this image's evidence.
fn own_input(whole: &PolicyInput, bundle: &Bundle) -> PolicyInput {
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
    input
}

/// The rule custody evaluates (src/policy/rego.rs builds the same one): `deny` and `warn`
/// of the package, for those the bundle's files declare.
fn gather_module(bundle: &Bundle) -> String {
    let package = bundle.spec().rego_package();
    let declares = |rule: &str| {
        bundle
            .files()
            .iter()
            .filter(|(name, _)| name.ends_with(".rego"))
            .any(|(_, text)| {
                text.lines()
                    .any(|l| l.starts_with(&format!("{rule} ")) || l == rule)
            })
    };
    let fields: Vec<String> = ["deny", "warn"]
        .iter()
        .filter(|r| declares(r))
        .map(|r| format!("\"{r}\": data.{package}.{r}"))
        .collect();
    format!(
        "package custody__eval\n\nresult := {{{}}}\n",
        fields.join(", ")
    )
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rounds = env_usize("ROUNDS", 40);
    let batch = env_usize("BATCH", 20);
    let policy_dir = std::env::var("POLICY_DIR").unwrap_or_else(|_| "policies".into());
    let input_path =
        std::env::var("INPUT").unwrap_or_else(|_| "docs/policy-input.example.json".into());

    let store = PolicyStore::new();
    let report = store
        .load_dir(&root.join(&policy_dir))
        .expect("library loads");
    assert!(report.failed.is_empty(), "{report:?}");
    let snapshot = store.snapshot();
    let bundles = snapshot.bundles();
    let text = std::fs::read_to_string(root.join(&input_path)).expect("example input");
    let whole: PolicyInput = serde_json::from_str(&text).expect("example parses");

    let inputs: Vec<PolicyInput> = bundles.iter().map(|b| own_input(&whole, b)).collect();
    let values: Vec<regorus::Value> = inputs.iter().map(to_rego_value).collect();

    // The plan for OPA's side.
    let plan = serde_json::json!({
        "policies": bundles.iter().zip(&inputs).map(|(b, input)| {
            let files: serde_json::Map<String, serde_json::Value> = b
                .files()
                .iter()
                .filter(|(n, _)| n.ends_with(".rego"))
                .map(|(n, t)| (n.clone(), serde_json::Value::String(t.clone())))
                .collect();
            let data = b
                .files()
                .get("data.json")
                .map(|d| serde_json::from_str::<serde_json::Value>(d).expect("data.json"));
            serde_json::json!({
                "name": b.name(),
                "package": b.spec().rego_package(),
                "files": files,
                "data": data,
                "gather": gather_module(b),
                "input": input,
            })
        }).collect::<Vec<_>>()
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let plan_path = dir.path().join("plan.json");
    std::fs::write(&plan_path, plan.to_string()).expect("plan written");

    let mut opa = Command::new("python3")
        .arg(root.join("benches/opa_eval.py"))
        .arg(&plan_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    let mut to_opa = opa.stdin.take().expect("stdin");
    let mut from_opa = BufReader::new(opa.stdout.take().expect("stdout"));
    let mut line = String::new();
    let mut read_line = |line: &mut String| {
        line.clear();
        let n = from_opa.read_line(line).expect("reads OPA's answer");
        assert!(n > 0, "benches/opa_eval.py exited (see its message above)");
    };

    // Same answers, or no comparison.
    for (i, bundle) in bundles.iter().enumerate() {
        read_line(&mut line);
        let theirs: serde_json::Value = serde_json::from_str(&line).expect("OPA outcome");
        let ours = bundle
            .evaluate_fresh(&values[i])
            .expect("custody evaluates");
        let ours = serde_json::json!({"deny": ours.deny, "warn": ours.warn});
        assert_eq!(
            ours,
            theirs,
            "{}: custody and OPA disagree over the input",
            bundle.name()
        );
    }

    let n = bundles.len();
    let mut ours: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut theirs: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut empty: Vec<Vec<f64>> = vec![Vec::new(); n];
    for _ in 0..rounds {
        for (i, bundle) in bundles.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..batch {
                black_box(
                    bundle
                        .evaluate_fresh(black_box(&values[i]))
                        .expect("evaluates"),
                );
            }
            ours[i].push(start.elapsed().as_nanos() as f64 / batch as f64 / 1000.0);
            writeln!(to_opa, "run {i} {batch}").expect("asks OPA");
            read_line(&mut line);
            let mut words = line
                .split_whitespace()
                .map(|w| w.parse::<f64>().expect("ns"));
            let (p, e) = (words.next().expect("ns"), words.next().expect("ns"));
            theirs[i].push(p / batch as f64 / 1000.0);
            empty[i].push(e / batch as f64 / 1000.0);
        }
    }
    drop(to_opa);
    let _ = opa.wait();

    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "custody (regorus {}) vs OPA (opa-golib-python-bindings), {} over {}; {} rounds of {} evaluations each, interleaved; load average {}",
        regorus_version(),
        policy_dir,
        input_path,
        rounds,
        batch,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!();
    println!(
        "| policy | custody best (median) | OPA best (median), binding subtracted | OPA binding (empty query) | custody / OPA |"
    );
    println!("|---|---|---|---|---|");
    let (mut sum_ours, mut sum_theirs, mut sum_ours_med, mut sum_theirs_med) = (0.0, 0.0, 0.0, 0.0);
    for (i, bundle) in bundles.iter().enumerate() {
        let e_best = best(&empty[i]);
        let o_best = best(&ours[i]);
        let t_best = best(&theirs[i]) - e_best;
        let o_med = median(ours[i].clone());
        let t_med = median(theirs[i].clone()) - median(empty[i].clone());
        sum_ours += o_best;
        sum_theirs += t_best;
        sum_ours_med += o_med;
        sum_theirs_med += t_med;
        println!(
            "| `{}` | {:.1} µs ({:.1}) | {:.1} µs ({:.1}) | {:.1} µs | {:.2} |",
            bundle.name(),
            o_best,
            o_med,
            t_best,
            t_med,
            e_best,
            o_best / t_best
        );
    }
    println!(
        "| all {} | {:.1} µs ({:.1}) | {:.1} µs ({:.1}) | | **{:.2}** (median {:.2}) |",
        n,
        sum_ours,
        sum_ours_med,
        sum_theirs,
        sum_theirs_med,
        sum_ours / sum_theirs,
        sum_ours_med / sum_theirs_med
    );
}

/// regorus' version in Cargo.lock.
fn regorus_version() -> String {
    let lock = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock"))
        .unwrap_or_default();
    lock.split("[[package]]")
        .find(|p| p.contains("name = \"regorus\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| "?".into())
}
