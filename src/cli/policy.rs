//! `custody policy test|lint`: run a bundle directory's YAML cases, or check bundles.

use crate::policy::bundle::{Bundle, TESTS_FILE};
use crate::policy::testcases::{TestFile, run_cases};
use anyhow::Context as _;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The `policy` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run every bundle's `tests.yaml` cases; exit 1 on any failure.
    Test(TestArgs),
    /// Compile and check bundles; exit 1 on any error.
    Lint(LintArgs),
}

/// Arguments of `custody policy test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// A bundle directory, or a directory of bundle directories.
    #[arg(env = "CUSTODY_POLICIES")]
    pub dir: PathBuf,
    /// Also list passing cases.
    #[arg(short, long, env = "CUSTODY_POLICY_TEST_VERBOSE")]
    pub verbose: bool,
}

/// Arguments of `custody policy lint`.
#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// A bundle directory, or a directory of bundle directories.
    #[arg(env = "CUSTODY_POLICIES")]
    pub dir: PathBuf,
    /// Treat warnings as errors.
    #[arg(long, env = "CUSTODY_POLICY_LINT_STRICT")]
    pub strict: bool,
}

/// Runs the subcommand.
pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Test(a) => test(&a),
        Command::Lint(a) => lint(&a),
    }
}

fn bundle_dirs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let dirs = crate::policy::store::bundle_dirs(dir)?;
    if dirs.is_empty() {
        anyhow::bail!(
            "{} holds no policy bundle (a directory with policy.yaml)",
            dir.display()
        );
    }
    Ok(dirs)
}

fn label(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

fn test(args: &TestArgs) -> anyhow::Result<ExitCode> {
    let mut failed = 0usize;
    let mut passed = 0usize;
    for dir in bundle_dirs(&args.dir)? {
        let name = label(&dir);
        let bundle = match Bundle::from_dir(&dir) {
            Ok(b) => b,
            Err(e) => {
                println!("FAIL {name}: bundle does not load: {e}");
                failed += 1;
                continue;
            }
        };
        let results = match run_cases(&bundle, Some(&dir)) {
            Ok(r) => r,
            Err(e) => {
                println!("FAIL {name}: {e}");
                failed += 1;
                continue;
            }
        };
        if results.is_empty() {
            println!("WARN {name}: no test cases ({TESTS_FILE})");
        }
        for r in &results {
            if r.passed() {
                passed += 1;
                if args.verbose {
                    println!("ok   {name}: {}", r.name);
                }
                continue;
            }
            failed += 1;
            println!("FAIL {name}: {}", r.name);
            if let Some(e) = &r.error {
                println!("     error: {e}");
            }
            for m in &r.missing {
                println!("     - {m}   (expected, not produced)");
            }
            for u in &r.unexpected {
                println!("     + {u}   (produced, not expected)");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Findings about one bundle: (is_error, message).
fn lint_bundle(dir: &Path) -> (Option<Bundle>, Vec<(bool, String)>) {
    let mut out = Vec::new();
    let bundle = match Bundle::from_dir(dir) {
        Ok(b) => b,
        Err(e) => {
            out.push((true, e.to_string()));
            return (None, out);
        }
    };
    let spec = bundle.spec();
    if spec.description.trim().is_empty() {
        out.push((false, "policy.yaml has no description".into()));
    }
    if !spec.predicate_types.is_empty() && spec.attestors.is_empty() {
        out.push((
            true,
            "predicateTypes are listed but no attestors: no statement can ever verify".into(),
        ));
    }
    if spec.predicate_types.is_empty() && !spec.attestors.is_empty() {
        out.push((
            false,
            "attestors without predicateTypes: every verified statement is fetched".into(),
        ));
    }
    match bundle.files().get(TESTS_FILE) {
        None => out.push((false, format!("no {TESTS_FILE}"))),
        Some(text) => match yaml_serde::from_str::<TestFile>(text) {
            Err(e) => out.push((true, format!("{TESTS_FILE}: {e}"))),
            Ok(f) => {
                if !f.cases.iter().any(|c| c.deny.is_empty()) {
                    out.push((false, "no test case admits".into()));
                }
                if !f.cases.iter().any(|c| !c.deny.is_empty()) {
                    out.push((false, "no test case denies".into()));
                }
            }
        },
    }
    (Some(bundle), out)
}

fn lint(args: &LintArgs) -> anyhow::Result<ExitCode> {
    let dirs = bundle_dirs(&args.dir).context("listing bundles")?;
    let mut errors = 0usize;
    let mut warnings = 0usize;
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for dir in dirs {
        let label = label(&dir);
        let (bundle, mut findings) = lint_bundle(&dir);
        if let Some(b) = &bundle
            && let Some(other) = names.insert(b.name().to_owned(), label.clone())
        {
            findings.push((
                true,
                format!("policy name {:?} also used by {other}", b.name()),
            ));
        }
        if findings.is_empty() {
            println!("ok    {label}");
        }
        for (is_error, msg) in findings {
            if is_error || args.strict {
                errors += 1;
                println!("error {label}: {msg}");
            } else {
                warnings += 1;
                println!("warn  {label}: {msg}");
            }
        }
    }
    println!("{errors} error(s), {warnings} warning(s)");
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
