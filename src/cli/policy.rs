//! `custody policy test|lint|diff`: run a bundle directory's Rego unit tests
//! (`*_test.rego`) and YAML cases (`tests.yaml`), check bundles, or compare the
//! interpreter with the regorus VM.

#[path = "policy_diff.rs"]
mod diff;

use super::policy_report::{self, Format, Kind, Record, Status};
use anyhow::Context as _;
use custody::policy::bundle::{Bundle, DATA_FILE, POLICY_FILE, TESTS_FILE};
use custody::policy::regotests::{self, TEST_SUFFIX, Verdict};
use custody::policy::testcases::{TestFile, run_cases};
use regex::Regex;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The `policy` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run every bundle's Rego tests (`test_*` rules in `*_test.rego`) and `tests.yaml`
    /// cases; exit 0 when all pass, 1 on any failure, 2 on unusable input.
    Test(TestArgs),
    /// Compile and check bundles; exit 1 on any error.
    Lint(LintArgs),
    /// Evaluate each bundle's held-in cases and generated variants with the interpreter
    /// and with the regorus VM; exit 0 when they agree, 1 on any disagreement, 2 when a
    /// bundle cannot be compared (it does not load, or the VM cannot run it).
    Diff(diff::DiffArgs),
}

/// Arguments of `custody policy test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// A bundle directory, or a directory of bundle directories.
    #[arg(env = "CUSTODY_POLICIES")]
    pub dir: PathBuf,
    /// Also list passing tests (text output).
    #[arg(short, long, env = "CUSTODY_POLICY_TEST_VERBOSE")]
    pub verbose: bool,
    /// Run only the tests whose name (`data.<package>.test_x`, a case's name, or
    /// `BUNDLE: NAME`) this regular expression matches, like `opa test --run`.
    #[arg(long, value_name = "REGEX", value_parser = parse_regex)]
    pub run: Option<Regex>,
    /// Output format: text, json, or JUnit XML for CI systems.
    #[arg(short = 'o', long = "output", value_name = "FORMAT", value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// Print (and put in json/junit) only the tests that fail or err.
    #[arg(long)]
    pub fail_only: bool,
}

fn parse_regex(text: &str) -> Result<Regex, String> {
    Regex::new(text).map_err(|e| e.to_string())
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
        Command::Diff(a) => diff::diff(&a),
    }
}

fn bundle_dirs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let dirs = custody::policy::store::bundle_dirs(dir)?;
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

/// Whether `--run` (if given) selects the test `name` of `bundle`: the expression is
/// searched in the name and in `BUNDLE: NAME`.
fn selected(run: Option<&Regex>, bundle: &str, name: &str) -> bool {
    run.is_none_or(|re| re.is_match(name) || re.is_match(&format!("{bundle}: {name}")))
}

/// The records of one bundle directory: its Rego tests, then its `tests.yaml` cases.
fn test_bundle(dir: &Path, run: Option<&Regex>) -> (Vec<Record>, Option<String>) {
    let name = label(dir);
    let broken = |file: &str, message: String| {
        Record::new(&name, Kind::Bundle, file, file, Duration::ZERO)
            .with(Status::Error, vec![message])
    };
    let bundle = match Bundle::from_dir(dir) {
        Ok(b) => b,
        Err(e) => {
            return (
                vec![broken(POLICY_FILE, format!("bundle does not load: {e}"))],
                None,
            );
        }
    };
    let mut records = Vec::new();
    match regotests::run(&bundle, &|test| selected(run, &name, test)) {
        Ok(tests) => records.extend(tests.into_iter().map(|t| {
            let record = Record::new(&name, Kind::Rego, &t.file, &t.name, t.duration);
            match t.verdict {
                Verdict::Pass => record,
                Verdict::Fail(value) => record.with(
                    Status::Fail,
                    vec![format!("evaluated to {value}, not true")],
                ),
                Verdict::Error(e) => record.with(Status::Error, vec![e]),
            }
        })),
        Err(e) => records.push(broken(&test_file_of(&e), test_error_message(e))),
    }
    let started = Instant::now();
    let cases = match run_cases(&bundle, Some(dir)) {
        Ok(r) => r,
        Err(e) => {
            records.push(broken(TESTS_FILE, e));
            return (records, None);
        }
    };
    let took = started.elapsed() / u32::try_from(cases.len().max(1)).unwrap_or(u32::MAX);
    let warning = (cases.is_empty() && !regotests::has_tests(&bundle))
        .then(|| format!("WARN {name}: no tests ({TESTS_FILE} or *{TEST_SUFFIX})"));
    for r in cases {
        if !selected(run, &name, &r.name) {
            continue;
        }
        let record = Record::new(&name, Kind::Case, TESTS_FILE, &r.name, took);
        if r.passed() {
            records.push(record);
            continue;
        }
        let mut messages: Vec<String> = r.error.iter().map(|e| format!("error: {e}")).collect();
        messages.extend(
            r.missing
                .iter()
                .map(|m| format!("- {m}   (expected, not produced)")),
        );
        messages.extend(
            r.unexpected
                .iter()
                .map(|u| format!("+ {u}   (produced, not expected)")),
        );
        let status = if r.error.is_some() {
            Status::Error
        } else {
            Status::Fail
        };
        records.push(record.with(status, messages));
    }
    (records, warning)
}

/// What a Rego test compile error says, without the file its record already names.
fn test_error_message(e: regotests::RegoTestError) -> String {
    match e {
        regotests::RegoTestError::Compile { message, .. } => message,
        e @ regotests::RegoTestError::Data(_) => e.to_string(),
    }
}

/// The file a Rego test compile error is about.
fn test_file_of(e: &regotests::RegoTestError) -> String {
    match e {
        regotests::RegoTestError::Compile { file, .. } => file.clone(),
        regotests::RegoTestError::Data(_) => DATA_FILE.to_owned(),
    }
}

fn test(args: &TestArgs) -> anyhow::Result<ExitCode> {
    let dirs = bundle_dirs(&args.dir)?;
    let mut records = Vec::new();
    let mut warnings = Vec::new();
    for dir in dirs {
        let (mut r, warning) = test_bundle(&dir, args.run.as_ref());
        records.append(&mut r);
        warnings.extend(warning);
    }
    if let Some(re) = &args.run
        && records.is_empty()
    {
        anyhow::bail!("--run {re}: no test matches");
    }
    if args.output == Format::Text {
        for w in &warnings {
            println!("{w}");
        }
    }
    print!(
        "{}",
        policy_report::render(&records, args.output, args.fail_only, args.verbose)
    );
    Ok(if records.iter().all(|r| r.status == Status::Pass) {
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
    if let Err(e) = regotests::check(&bundle) {
        out.push((true, e.to_string()));
    }
    match bundle.files().get(TESTS_FILE) {
        None if regotests::has_tests(&bundle) => {}
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
