//! `custody attestations IMAGE`: lists what is attached to an image and where each piece
//! was found, without judging it (no signature is verified here).

use super::registry_access::RegistryArgs;
use crate::registry::{Discovery, Evidence, EvidenceFormat, ImageRef, Registry, Resolved};
use anyhow::Context as _;
use base64::Engine as _;
use serde::Serialize;
use std::process::ExitCode;

/// Arguments of `custody attestations`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image, as written in a pod spec (tag or digest).
    #[arg(env = "CUSTODY_IMAGE")]
    pub image: String,
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

/// What the command prints for one piece of evidence.
#[derive(Debug, Serialize)]
struct Item<'a> {
    #[serde(flatten)]
    evidence: &'a Evidence,
    size: usize,
    payload_type: Option<String>,
    predicate_type: Option<String>,
    key_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Report<'a> {
    image: String,
    resolved: &'a Resolved,
    consulted: &'a [crate::registry::Source],
    evidence: Vec<Item<'a>>,
    skipped: &'a [crate::registry::Skipped],
}

/// Runs the subcommand: exit 0 when evidence was found, 1 when none, 2 on errors.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let image = ImageRef::parse(&args.image)?;
    let registry = args.registry.client()?;
    let creds = args.registry.credentials(&image);
    let rt = super::runtime()?;
    let (resolved, discovery) = rt.block_on(async {
        let resolved = registry.resolve(&image, &creds).await?;
        let discovery = registry.discover(&image, &resolved.digest, &creds).await?;
        Ok::<_, crate::registry::RegistryError>((resolved, discovery))
    })?;
    let report = build_report(&image, &resolved, &discovery);
    match args.output {
        Output::Json => {
            let text = serde_json::to_string_pretty(&report).context("encoding the report")?;
            println!("{text}");
        }
        Output::Text => print!("{}", render_text(&report)),
    }
    Ok(if discovery.evidence.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn build_report<'a>(image: &ImageRef, resolved: &'a Resolved, d: &'a Discovery) -> Report<'a> {
    Report {
        image: image.to_string(),
        resolved,
        consulted: &d.consulted,
        evidence: d.evidence.iter().map(describe).collect(),
        skipped: &d.skipped,
    }
}

/// Reads (without verifying) the payload type, predicate type and key ids.
fn describe(e: &Evidence) -> Item<'_> {
    let json: Option<serde_json::Value> = serde_json::from_slice(&e.bytes).ok();
    let envelope = json.as_ref().and_then(|v| match e.format {
        EvidenceFormat::DsseEnvelope => Some(v),
        EvidenceFormat::SigstoreBundle => v.get("dsseEnvelope"),
    });
    let payload_type = envelope
        .and_then(|v| v.get("payloadType"))
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let statement: Option<serde_json::Value> = envelope
        .and_then(|v| v.get("payload"))
        .and_then(|v| v.as_str())
        .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok());
    let predicate_type = statement
        .as_ref()
        .and_then(|s| s.get("predicateType"))
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .or_else(|| e.annotations.get("in-toto.io/predicate-type").cloned());
    let key_ids = envelope
        .and_then(|v| v.get("signatures"))
        .and_then(|v| v.as_array())
        .map(|sigs| {
            sigs.iter()
                .filter_map(|s| s.get("keyid").and_then(|k| k.as_str()))
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Item {
        evidence: e,
        size: e.bytes.len(),
        payload_type,
        predicate_type,
        key_ids,
    }
}

fn render_text(r: &Report<'_>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "image:     {}", r.image);
    let _ = writeln!(out, "digest:    {}", r.resolved.digest);
    if let Some(mt) = &r.resolved.media_type {
        let _ = writeln!(out, "type:      {mt}");
    }
    for p in &r.resolved.platforms {
        let platform = p
            .platform
            .as_ref()
            .map_or_else(|| "-".to_owned(), ToString::to_string);
        let _ = writeln!(out, "platform:  {platform} {}", p.digest);
    }
    let consulted: Vec<&str> = r.consulted.iter().map(|s| s.as_str()).collect();
    let _ = writeln!(out, "looked in: {}", consulted.join(", "));
    if r.evidence.is_empty() {
        let _ = writeln!(out, "no attestations found");
    }
    for (i, item) in r.evidence.iter().enumerate() {
        let e = item.evidence;
        let _ = writeln!(
            out,
            "[{}] {} via {}",
            i + 1,
            item.predicate_type
                .as_deref()
                .unwrap_or("(unknown predicate type)"),
            e.source
        );
        let _ = writeln!(out, "    format:   {} ({} bytes)", e.format, item.size);
        if let Some(t) = &e.artifact_type {
            let _ = writeln!(out, "    artifact: {t}");
        }
        let _ = writeln!(out, "    manifest: {}", e.manifest_digest);
        let _ = writeln!(out, "    blob:     {}", e.blob_digest);
        if !item.key_ids.is_empty() {
            let _ = writeln!(out, "    key ids:  {}", item.key_ids.join(", "));
        }
        if let Some(created) = e.annotations.get("org.opencontainers.image.created") {
            let _ = writeln!(out, "    created:  {created}");
        }
    }
    for s in r.skipped {
        let what = s.media_type.as_deref().unwrap_or("?");
        let manifest = s
            .manifest_digest
            .as_ref()
            .map_or_else(|| "-".to_owned(), |d| d.short());
        let _ = writeln!(
            out,
            "skipped: {what} in {manifest} via {}: {}",
            s.source, s.reason
        );
    }
    out
}
