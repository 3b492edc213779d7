//! `custody attestations IMAGE [--key PUB…]`: lists what is attached to an image (and, for
//! a multi-platform image, to each platform manifest) and where each piece was found.
//! Without keys nothing is judged; with keys each piece also says whether it verifies
//! with them, and why not. Keyless evidence also shows the certificate's identity and
//! issuer, and whether its log proofs and certificate verify against the trusted root.

mod describe;
mod render;

use super::registry_access::RegistryArgs;
use anyhow::Context as _;
use custody::attest::{PublicKey, TrustedKey};
use custody::digest::Digest;
use custody::registry::{
    Discovery, ImageRef, PlatformDigest, Registry, RegistryError, Resolved, Skipped, Source,
};
use describe::{Item, check, describe};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `custody attestations`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image, as written in a pod spec (tag or digest).
    #[arg(env = "CUSTODY_IMAGE")]
    pub image: String,
    /// Public keys (PEM) to check each piece of evidence against; repeatable.
    #[arg(long = "key", env = "CUSTODY_KEY", value_delimiter = ',')]
    pub keys: Vec<PathBuf>,
    /// Sigstore trusted root (`trusted_root.json`) keyless evidence is checked against
    /// [default: the built-in public-good root].
    #[arg(long, env = "CUSTODY_TRUSTED_ROOT")]
    pub trusted_root: Option<PathBuf>,
    /// Output format.
    #[arg(
        short = 'o',
        long = "output",
        env = "CUSTODY_OUTPUT",
        default_value = "text"
    )]
    pub output: Output,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Lines for people.
    Text,
    /// One JSON document.
    Json,
}

/// The evidence attached to one digest.
#[derive(Debug, Serialize)]
struct Section<'a> {
    consulted: &'a [Source],
    evidence: Vec<Item<'a>>,
    skipped: &'a [Skipped],
}

/// The evidence attached to one platform manifest of an index.
#[derive(Debug, Serialize)]
struct PlatformSection<'a> {
    platform: Option<String>,
    digest: &'a Digest,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    section: Option<Section<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Report<'a> {
    image: String,
    resolved: &'a Resolved,
    #[serde(flatten)]
    main: Section<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    platforms: Vec<PlatformSection<'a>>,
}

/// Runs the subcommand: exit 0 when evidence was found (with keys: when some verified),
/// 1 when none, 2 on errors.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let image = ImageRef::parse(&args.image)?;
    let keys = load_keys(&args.keys)?;
    let root = super::bundle::load_trusted_root(args.trusted_root.as_deref())?;
    let registry = args.registry.client()?;
    let creds = args.registry.credentials(&image);
    let rt = super::runtime()?;
    let (resolved, discovery, per_platform) = rt.block_on(async {
        let mut resolved = registry.resolve(&image, &creds).await?;
        if resolved.media_type.is_none() {
            resolved.platforms = registry.platforms(&image, &resolved.digest, &creds).await?;
        }
        let discovery = registry.discover(&image, &resolved.digest, &creds).await?;
        let lookups = resolved
            .platforms
            .iter()
            .map(|p| registry.discover(&image, &p.digest, &creds));
        let per_platform: Vec<Result<Discovery, RegistryError>> =
            futures::future::join_all(lookups).await;
        Ok::<_, RegistryError>((resolved, discovery, per_platform))
    })?;
    let platforms: Vec<PlatformSection<'_>> = resolved
        .platforms
        .iter()
        .zip(&per_platform)
        .map(|(p, found): (&PlatformDigest, _)| PlatformSection {
            platform: p.platform.as_ref().map(ToString::to_string),
            digest: &p.digest,
            section: found
                .as_ref()
                .ok()
                .map(|d| section(d, &p.digest, &keys, &root)),
            error: found.as_ref().err().map(ToString::to_string),
        })
        .collect();
    let report = Report {
        image: image.to_string(),
        resolved: &resolved,
        main: section(&discovery, &resolved.digest, &keys, &root),
        platforms,
    };
    match args.output {
        Output::Json => {
            let text = serde_json::to_string_pretty(&report).context("encoding the report")?;
            println!("{text}");
        }
        Output::Text => print!("{}", render::render_text(&report)),
    }
    let sections = std::iter::once(&report.main)
        .chain(report.platforms.iter().filter_map(|p| p.section.as_ref()));
    let mut items = sections.flat_map(|s| s.evidence.iter());
    let ok = if keys.is_empty() {
        items.next().is_some()
    } else {
        items.any(|i| i.verification.as_ref().is_some_and(|v| v.verified))
    };
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn section<'a>(
    d: &'a Discovery,
    digest: &Digest,
    keys: &[TrustedKey],
    root: &custody::attest::sigstore::TrustedRoot,
) -> Section<'a> {
    let mut evidence: Vec<Item<'a>> = d.evidence.iter().map(describe).collect();
    for item in &mut evidence {
        item.keyless = describe::keyless(item.evidence, root);
    }
    if !keys.is_empty() {
        for item in &mut evidence {
            item.verification = Some(check(item.evidence, keys, digest));
        }
    }
    Section {
        consulted: &d.consulted,
        evidence,
        skipped: &d.skipped,
    }
}

fn load_keys(paths: &[PathBuf]) -> anyhow::Result<Vec<TrustedKey>> {
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading key {}", p.display()))?;
            let key = PublicKey::from_pem(&text)
                .with_context(|| format!("{}: not a PEM public key", p.display()))?;
            let name = p.file_stem().map(|s| s.to_string_lossy().into_owned());
            Ok(TrustedKey::new(name, key))
        })
        .collect()
}
