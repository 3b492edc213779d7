//! `custody layout verify` and `custody layout sign`: in-toto layouts from the command
//! line. `verify` exits 0 when the supply chain verifies, 1 when it does not (naming
//! the first failing check: step, rule, artifact), 2 for unusable input.

use super::registry_access::RegistryArgs;
use anyhow::Context as _;
use custody::attest::{PublicKey, SigningKey};
use custody::intoto::{
    CollectedLinks, DirSource, Failure, ImageBinding, Inspections, LinkSource, Metadata, Options,
    Verified, VerifyError, sign_layout, verify,
};
use custody::registry::{ImageRef, Registry};
use std::path::PathBuf;
use std::process::ExitCode;

/// `custody layout …`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Verify a supply chain: a signed layout and its links (exit 0 verified, 1 not, 2 unusable input).
    Verify(Box<VerifyArgs>),
    /// Sign a layout with an owner key (adds a signature; a bare layout becomes signed metadata).
    Sign(SignArgs),
    /// Print public keys as a layout's `keys` (securesystemslib key objects by key id).
    Key(KeyArgs),
}

/// Arguments of `custody layout key`.
#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    /// Public keys (PEM or securesystemslib JSON).
    #[arg(required = true)]
    pub keys: Vec<PathBuf>,
}

/// Arguments of `custody layout verify`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("links").required(true).args(["link_dir", "image"])))]
pub struct VerifyArgs {
    /// The signed layout (metablock or DSSE envelope).
    #[arg(long)]
    pub layout: PathBuf,
    /// An owner public key (PEM or securesystemslib JSON); each must have signed the layout.
    #[arg(long = "layout-key", required = true)]
    pub layout_keys: Vec<PathBuf>,
    /// Directory holding the links as STEP.KEYID8.link (sublayouts in STEP.KEYID8/).
    #[arg(long)]
    pub link_dir: Option<PathBuf>,
    /// Take the links from the registry: link attestations attached to this image.
    #[arg(long)]
    pub image: Option<String>,
    /// Where inspections run (default: the current directory).
    #[arg(long, default_value = ".")]
    pub artifacts_dir: PathBuf,
    /// Run the layout's inspections (without it, a layout with inspections fails).
    #[arg(long)]
    pub run_inspections: bool,
    /// With --image: the step whose products must carry the image digest (default: the
    /// layout's last step).
    #[arg(long, requires = "image")]
    pub bind_step: Option<String>,
    /// With --image: an artifact-name pattern the binding product must match (default:
    /// any product of the binding step).
    #[arg(long, requires = "image")]
    pub bind_artifact: Option<String>,
    /// Verify as of this time (RFC 3339) instead of now.
    #[arg(long, value_parser = parse_time)]
    pub time: Option<chrono::DateTime<chrono::Utc>>,
    /// Output format.
    #[arg(short = 'o', long = "output", default_value = "text")]
    pub output: super::common::Output,
    /// Registry access (with --image).
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Arguments of `custody layout sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The owner's private key (PEM).
    #[arg(long)]
    pub key: PathBuf,
    /// The layout: bare JSON, signed metablock, or DSSE envelope.
    pub layout: PathBuf,
    /// Where to write the signed layout (default: replace the input).
    #[arg(long = "output-file", env = "CUSTODY_OUTPUT_FILE")]
    pub output: Option<PathBuf>,
    /// Make a DSSE envelope of a bare layout (default: a metablock).
    #[arg(long)]
    pub dsse: bool,
}

fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))
}

/// Runs `custody layout …`.
pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Verify(a) => run_verify(*a),
        Command::Sign(a) => run_sign(a),
        Command::Key(a) => run_key(a),
    }
}

fn run_key(args: KeyArgs) -> anyhow::Result<ExitCode> {
    let mut keys = serde_json::Map::new();
    for path in &args.keys {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let key = PublicKey::from_text(&text)
            .with_context(|| format!("{}: not a usable public key", path.display()))?;
        let (id, object) = custody::intoto::sslib_key_object(&key);
        keys.insert(id, object);
    }
    println!("{}", serde_json::to_string_pretty(&keys)?);
    Ok(ExitCode::SUCCESS)
}

fn run_sign(args: SignArgs) -> anyhow::Result<ExitCode> {
    let key_text = std::fs::read_to_string(&args.key)
        .with_context(|| format!("reading {}", args.key.display()))?;
    let key = SigningKey::from_pem(&key_text)
        .with_context(|| format!("{}: not a usable PEM private key", args.key.display()))?;
    let input = std::fs::read(&args.layout)
        .with_context(|| format!("reading {}", args.layout.display()))?;
    let signed = sign_layout(&input, &key, args.dsse)
        .with_context(|| format!("signing {}", args.layout.display()))?;
    let out = args.output.as_ref().unwrap_or(&args.layout);
    std::fs::write(out, signed).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "signed {} with key {} -> {}",
        args.layout.display(),
        key.public_key().securesystemslib_key_id(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn run_verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let layout_bytes = std::fs::read(&args.layout)
        .with_context(|| format!("reading {}", args.layout.display()))?;
    let layout = Metadata::from_json(&layout_bytes, "layout")?;
    let mut keys = Vec::new();
    for path in &args.layout_keys {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        keys.push(
            PublicKey::from_text(&text)
                .with_context(|| format!("{}: not a usable public key", path.display()))?,
        );
    }
    let mut image_digest = None;
    let source: Box<dyn LinkSource> = match (&args.link_dir, &args.image) {
        (Some(dir), _) => Box::new(DirSource::new(dir)),
        (None, Some(image)) => {
            let (digest, links) = image_links(image, &args.registry)?;
            image_digest = Some(digest);
            Box::new(CollectedLinks::new(links))
        }
        (None, None) => anyhow::bail!("give --link-dir or --image"),
    };
    let binding = ImageBinding {
        step: args.bind_step.clone(),
        artifact: args.bind_artifact.clone(),
    };
    let options = Options {
        now: args.time.unwrap_or_else(chrono::Utc::now),
        inspections: if args.run_inspections {
            Inspections::Run(args.artifacts_dir.clone())
        } else {
            Inspections::Refuse
        },
        image: image_digest.map(|digest| (binding, digest)),
    };
    let result = verify(&layout, &keys, source.as_ref(), &options);
    report(&args, result)
}

fn image_links(
    image: &str,
    registry_args: &RegistryArgs,
) -> anyhow::Result<(custody::digest::Digest, Vec<Metadata>)> {
    let image = ImageRef::parse(image)?;
    let registry = registry_args.client()?;
    let creds = registry_args.credentials(&image);
    let rt = super::runtime()?;
    let (digest, discovery) = rt.block_on(async {
        let resolved = registry.resolve(&image, &creds).await?;
        let discovery = registry.discover(&image, &resolved.digest, &creds).await?;
        Ok::<_, custody::registry::RegistryError>((resolved.digest, discovery))
    })?;
    let links = discovery
        .evidence
        .iter()
        .filter_map(|e| Metadata::link_from_attestation(&e.bytes))
        .collect();
    Ok((digest, links))
}

#[derive(serde::Serialize)]
struct Report<'a> {
    verified: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    details: Option<&'a Verified>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<&'a Failure>,
}

fn report(args: &VerifyArgs, result: Result<Verified, VerifyError>) -> anyhow::Result<ExitCode> {
    let (verified, failure) = match &result {
        Ok(v) => (Some(v), None),
        Err(VerifyError::Failed(f)) => (None, Some(f)),
        Err(VerifyError::Unusable(e)) => anyhow::bail!("{e}"),
    };
    match args.output {
        super::common::Output::Json => {
            let r = Report {
                verified: verified.is_some(),
                details: verified,
                failure,
            };
            println!("{}", serde_json::to_string_pretty(&r)?);
        }
        super::common::Output::Text => {
            if let Some(v) = verified {
                println!("layout {}: verified", args.layout.display());
                for s in &v.steps {
                    println!(
                        "  step {:?}: {} ({})",
                        s.name,
                        if s.sublayout {
                            "sublayout verified"
                        } else {
                            "links counted"
                        },
                        s.functionaries.join(", ")
                    );
                }
                for i in &v.inspections {
                    println!("  inspection {:?}: {}", i.name, i.outcome);
                }
                for w in &v.warnings {
                    println!("  warning: {w}");
                }
            }
            if let Some(f) = failure {
                println!("layout {}: NOT verified", args.layout.display());
                println!("  {f}");
            }
        }
    }
    Ok(if verified.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
