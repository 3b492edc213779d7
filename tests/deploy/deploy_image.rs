//! The container image recipe (docker cannot run here, so the Dockerfile is checked as
//! text), the server flags the chart sets, and the operations guide's promises.

use crate::support;
use serde_json::json;
use std::collections::BTreeSet;
use support::deploy::*;
use support::fixtures::repo_text as read;

/// Dockerfile instructions with continuation lines joined.
fn instructions() -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in read("Dockerfile").lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

fn major_minor(v: &str) -> (u32, u32) {
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[test]
fn dockerfile_builds_like_ci_and_runs_unprivileged() {
    let ins = instructions();
    let froms: Vec<&String> = ins.iter().filter(|i| i.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "multi-stage: build and runtime");
    assert!(froms[0].contains(" AS build"));
    let args: Vec<&String> = ins.iter().filter(|i| i.starts_with("ARG ")).collect();
    assert!(
        args.iter()
            .any(|a| a.starts_with("ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot"))
    );
    assert!(args.iter().any(
        |a| a.starts_with("ARG RUST_IMAGE=docker.io/library/rust:") && a.ends_with("-bookworm")
    ));
    let build = ins
        .iter()
        .find(|i| i.contains("cargo build"))
        .expect("a cargo build step");
    assert!(build.contains("cargo build --release --locked"), "{build}");
    // The commit reaches the compiler (build.rs reads CUSTODY_GIT_COMMIT).
    let env_pos = ins
        .iter()
        .position(|i| i == "ENV CUSTODY_GIT_COMMIT=${CUSTODY_GIT_COMMIT}");
    let build_pos = ins.iter().position(|i| i == build);
    assert!(
        env_pos.is_some() && env_pos < build_pos,
        "CUSTODY_GIT_COMMIT must be set before cargo build"
    );
    assert!(read("build.rs").contains("CUSTODY_GIT_COMMIT"));
    // Runtime: non-root numeric user (runAsNonRoot needs a number), the webhook port.
    let runtime: Vec<&String> = ins
        .iter()
        .skip_while(|i| !i.starts_with("FROM ${RUNTIME_IMAGE}"))
        .collect();
    assert!(
        runtime.iter().any(|i| *i == "USER 65532:65532"),
        "{runtime:?}"
    );
    assert!(runtime.iter().any(|i| *i == "EXPOSE 8443"));
    assert!(
        runtime
            .iter()
            .any(|i| *i == "ENTRYPOINT [\"/usr/local/bin/custody\"]")
    );
    assert!(runtime.iter().any(|i| *i == "CMD [\"serve\"]"));
    assert!(
        !runtime.iter().any(|i| i.starts_with("RUN ")),
        "the distroless runtime has no shell"
    );
    let pod = &render(none())
        .into_iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(pod["securityContext"]["runAsGroup"], 65532);
}

/// The build image's Rust must be new enough for every locked dependency.
#[test]
fn dockerfile_rust_is_new_enough_for_the_lockfile() {
    let ins = instructions();
    let arg = ins
        .iter()
        .find(|i| i.starts_with("ARG RUST_IMAGE="))
        .expect("ARG RUST_IMAGE");
    let tag = arg.rsplit(':').next().expect("tag");
    let image = major_minor(tag.trim_end_matches("-bookworm"));
    let home = std::env::var("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cargo")
        });
    let lock = read("Cargo.lock");
    let mut needed = (0, 0);
    let mut found = 0;
    let mut name = String::new();
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = n.trim_matches('"').to_string();
        } else if let Some(v) = line.strip_prefix("version = ") {
            let v = v.trim_matches('"');
            let Ok(srcs) = std::fs::read_dir(home.join("registry/src")) else {
                continue;
            };
            for src in srcs.flatten() {
                let manifest = src.path().join(format!("{name}-{v}/Cargo.toml"));
                let Ok(text) = std::fs::read_to_string(&manifest) else {
                    continue;
                };
                found += 1;
                if let Some(rv) = text.lines().find_map(|l| l.strip_prefix("rust-version = ")) {
                    needed = needed.max(major_minor(rv.trim_matches('"')));
                }
                break;
            }
        }
    }
    assert!(
        found > 50,
        "dependency sources not found under {}: run `cargo fetch`",
        home.display()
    );
    let own = read("Cargo.toml");
    if let Some(rv) = own.lines().find_map(|l| l.strip_prefix("rust-version = ")) {
        needed = needed.max(major_minor(rv.trim_matches('"')));
    }
    assert!(
        image >= needed,
        "Dockerfile builds with Rust {image:?}, the lockfile needs {needed:?}"
    );
}

#[test]
fn dockerignore_keeps_secrets_and_build_output_out() {
    let ignored: BTreeSet<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    for must in [".git", "target", "deploy/tls"] {
        assert!(ignored.contains(must), "{must} not in .dockerignore");
    }
    for keep in ["src", "Cargo.toml", "Cargo.lock", "build.rs", "benches"] {
        assert!(!ignored.contains(keep), "{keep} is needed by the build");
    }
    // Files the sources embed (include_str!/include_bytes!) must reach the build too.
    for path in embedded_files(&root().join("src")) {
        let rel = path
            .strip_prefix(root())
            .unwrap_or(&path)
            .to_string_lossy()
            .to_string();
        assert!(
            !ignored
                .iter()
                .any(|i| rel == *i || rel.starts_with(&format!("{i}/"))),
            "{rel} is embedded by the sources but excluded by .dockerignore"
        );
        assert!(
            !rel.starts_with(".."),
            "{rel}: the image build cannot reach outside the repository"
        );
    }
}

/// Paths named by `include_str!`/`include_bytes!` under `dir`, resolved.
fn embedded_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src/").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(embedded_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("source");
            for marker in ["include_str!(\"", "include_bytes!(\""] {
                for part in text.split(marker).skip(1) {
                    let rel = part.split('"').next().unwrap_or_default();
                    let joined = path.parent().expect("parent").join(rel);
                    let mut clean = std::path::PathBuf::new();
                    for c in joined.components() {
                        match c {
                            std::path::Component::ParentDir => {
                                clean.pop();
                            }
                            other => clean.push(other),
                        }
                    }
                    out.push(clean);
                }
            }
        }
    }
    out
}

/// Every `env = "CUSTODY_..."` declared by a clap flag anywhere under src/.
fn declared_env() -> BTreeSet<String> {
    fn walk(dir: &std::path::Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("src/").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source");
                for part in text.split("env = \"").skip(1) {
                    if let Some(name) = part.split('"').next().filter(|n| n.starts_with("CUSTODY_"))
                    {
                        out.insert(name.to_string());
                    }
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&root().join("src"), &mut out);
    out
}

/// The environment the chart gives `custody serve`: the names the server engineer
/// defined for `custody serve` (src/cli/serve/). Once the serve flags are in this tree
/// (`CUSTODY_LISTEN` is declared), every name is also checked against the flags declared
/// in src/, so a renamed flag fails here rather than in a cluster.
#[test]
fn chart_sets_only_server_flags() {
    let contract = [
        "CUSTODY_LISTEN",
        "CUSTODY_TLS_CERT",
        "CUSTODY_TLS_KEY",
        "CUSTODY_DECISION_DEADLINE",
        "CUSTODY_FAIL_OPEN",
        "CUSTODY_NO_POLICY_ACTION",
        "CUSTODY_MAX_CONNECTIONS",
        "CUSTODY_IDLE_TIMEOUT",
        "CUSTODY_REQUEST_BODY_TIMEOUT",
        "CUSTODY_KUBERNETES",
        "CUSTODY_NAMESPACE",
        "CUSTODY_SERVICE_NAME",
        "CUSTODY_POLICY_CONFIGMAP_SELECTOR",
        "CUSTODY_PULL_SECRET_AUTH",
        "CUSTODY_MUTATE_KINDS",
        "CUSTODY_LOG",
        "CUSTODY_LOG_FORMAT",
    ];
    let objects = render(json!({"webhook": {"mutating": {"enabled": true}}}));
    let deployment = one(&objects, "Deployment");
    let set: BTreeSet<String> = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| e["name"].as_str().expect("name").to_string())
        .collect();
    let contract: BTreeSet<String> = contract.iter().map(|s| s.to_string()).collect();
    assert_eq!(set, contract);
    let declared = declared_env();
    assert!(
        declared.contains("CUSTODY_LOG"),
        "flag scan found nothing: {declared:?}"
    );
    if declared.contains("CUSTODY_LISTEN") {
        let unknown: Vec<_> = set.difference(&declared).collect();
        assert!(
            unknown.is_empty(),
            "the chart sets variables custody serve does not read: {unknown:?}"
        );
    }
}

#[test]
fn operations_guide_covers_the_runbook() {
    let ops = read("docs/operations.md");
    for heading in [
        "## Install",
        "## Upgrade",
        "## Rollback",
        "## Sizing",
        "## Break-glass",
        "## Metrics and alerts",
        "## Troubleshooting denials",
        "## Container image",
    ] {
        assert!(ops.contains(heading), "docs/operations.md lacks {heading}");
    }
    assert!(ops.contains("kubectl delete validatingwebhookconfiguration custody"));
    // Every alert the chart ships is explained, and every runbook anchor exists.
    let objects = render(json!({"metrics": {"prometheusRule": {"enabled": true}}}));
    let rule = one(&objects, "PrometheusRule");
    for r in rule["spec"]["groups"][0]["rules"]
        .as_array()
        .expect("rules")
    {
        let alert = r["alert"].as_str().expect("alert");
        assert!(
            ops.contains(alert),
            "docs/operations.md does not explain {alert}"
        );
        let anchor = r["annotations"]["runbook"].as_str().expect("runbook");
        let anchor = anchor.split('#').nth(1).expect("anchor");
        let has_heading = ops.lines().any(|l| {
            l.starts_with('#')
                && l.trim_start_matches('#')
                    .trim()
                    .to_lowercase()
                    .replace(' ', "-")
                    .chars()
                    .filter(|c| c.is_alphanumeric() || *c == '-')
                    .collect::<String>()
                    == anchor
        });
        assert!(
            has_heading,
            "runbook anchor #{anchor} has no heading in docs/operations.md"
        );
    }
    for metric in [
        "custody_reviews_total",
        "custody_decisions_total",
        "custody_review_duration_seconds",
    ] {
        assert!(ops.contains(metric), "{metric} not documented");
    }
}
