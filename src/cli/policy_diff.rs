//! `custody policy diff`: the interpreter against the regorus VM over each bundle's
//! held-in cases and generated variants (see `custody::policy::vm_diff`).

use custody::policy::bundle::Bundle;
use custody::policy::vm_diff::{self, DiffReport};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `custody policy diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// A bundle directory, or a directory of bundle directories.
    #[arg(env = "CUSTODY_POLICIES")]
    pub dir: PathBuf,
    /// Generated variants per held-in case (deterministic mutations of its input).
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub variants: usize,
    /// Also print the mean time of one evaluation of the held-in cases by each engine.
    #[arg(long)]
    pub time: bool,
    /// Print at most this many disagreements per bundle (all are counted).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub show: usize,
}

/// What happened to one bundle: 0 clean, 1 disagreements, 2 unusable.
fn diff_one(dir: &Path, label: &str, args: &DiffArgs) -> u8 {
    let bundle = match Bundle::from_dir_on_interpreter(dir) {
        Ok(b) => b,
        Err(e) => {
            println!("{label}: unusable: the bundle does not load: {e}");
            return 2;
        }
    };
    let vm = match bundle.compile_vm() {
        Ok(vm) => vm,
        Err(e) => {
            println!("{label}: unusable: {e}");
            return 2;
        }
    };
    let report: DiffReport = vm_diff::diff_with(&bundle, &vm, Some(dir), args.variants);
    let timing = args.time.then(|| {
        let (i, v) = vm_diff::time_engines(&bundle, &vm, Some(dir), 50);
        let ratio = v.as_secs_f64() / i.as_secs_f64().max(f64::MIN_POSITIVE);
        format!(
            " [interpreter {:.1} µs, vm {:.1} µs per evaluation, vm/interpreter {ratio:.2}]",
            i.as_secs_f64() * 1e6,
            v.as_secs_f64() * 1e6
        )
    });
    let timing = timing.unwrap_or_default();
    for s in &report.skipped {
        println!("{label}: skipped case {s}");
    }
    if report.clean() {
        println!(
            "{label}: clean ({} cases, {} evaluations){timing}",
            report.cases, report.evaluations
        );
        return 0;
    }
    println!(
        "{label}: {} disagreement(s) in {} evaluations ({} cases){timing}",
        report.disagreements.len(),
        report.evaluations,
        report.cases
    );
    for d in report.disagreements.iter().take(args.show) {
        println!("  {d}");
    }
    if report.disagreements.len() > args.show {
        println!(
            "  … {} more (--show N)",
            report.disagreements.len() - args.show
        );
    }
    1
}

/// Runs `custody policy diff`: exit 0 when every bundle is clean, 1 when any disagrees,
/// 2 when any cannot be compared at all (it does not load, or the VM cannot run it).
pub fn diff(args: &DiffArgs) -> anyhow::Result<ExitCode> {
    let dirs = super::bundle_dirs(&args.dir)?;
    let mut worst = 0u8;
    for dir in &dirs {
        worst = worst.max(diff_one(dir, &super::label(dir), args));
    }
    Ok(ExitCode::from(worst))
}
