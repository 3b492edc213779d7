//! `custody link record`: run a step's command and write its signed link, as
//! `in-toto-run --use-dsse` does (a DSSE envelope whose payload is the link).

use anyhow::Context as _;
use custody::attest::SigningKey;
use custody::intoto::{run_and_record, sign_dsse_link};
use std::path::PathBuf;
use std::process::ExitCode;

/// `custody link …`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Record materials, run a command, record products, and write the signed link.
    Record(RecordArgs),
}

/// Arguments of `custody link record`.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// The step name (as in the layout).
    #[arg(long)]
    pub name: String,
    /// The functionary's private key (PEM).
    #[arg(long)]
    pub key: PathBuf,
    /// Files or directories recorded before the command.
    #[arg(long, num_args = 1..)]
    pub materials: Vec<PathBuf>,
    /// Files or directories recorded after the command.
    #[arg(long, num_args = 1..)]
    pub products: Vec<PathBuf>,
    /// Directory to write STEP.KEYID8.link into (default: the current directory).
    #[arg(short = 'd', long = "metadata-directory", default_value = ".")]
    pub metadata_directory: PathBuf,
    /// The command to run (after `--`).
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// Runs `custody link …`.
pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    let Command::Record(args) = cmd;
    let key_text = std::fs::read_to_string(&args.key)
        .with_context(|| format!("reading {}", args.key.display()))?;
    let key = SigningKey::from_pem(&key_text)
        .with_context(|| format!("{}: not a usable PEM private key", args.key.display()))?;
    let here = PathBuf::from(".");
    let link = run_and_record(
        &args.name,
        &here,
        &args.materials,
        &args.products,
        &args.command,
    )?;
    let signed = sign_dsse_link(&link, &key)?;
    let keyid = key.public_key().securesystemslib_key_id();
    let path = args.metadata_directory.join(format!(
        "{}.{}.link",
        args.name,
        &keyid[..8.min(keyid.len())]
    ));
    std::fs::write(&path, signed).with_context(|| format!("writing {}", path.display()))?;
    let rv = link.byproducts.get("return-value").and_then(|v| v.as_i64());
    println!(
        "recorded step {:?} ({} materials, {} products, return value {}) -> {}",
        args.name,
        link.materials.len(),
        link.products.len(),
        rv.map_or("-".to_owned(), |v| v.to_string()),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}
