//! `custody attestations IMAGE [--key PUB…]`: lists what is attached to an image and where
//! each piece was found. Without keys nothing is judged; with keys each piece also says
//! whether it verifies with them, and why not.

use super::registry_access::RegistryArgs;
use crate::attest::bundle::{Bundle, verify_bundle};
use crate::attest::{Envelope, PublicKey, Statement, TrustedKey, verify_envelope};
use crate::digest::Digest;
use crate::registry::{Discovery, Evidence, EvidenceFormat, ImageRef, Registry, Resolved};
use anyhow::Context as _;
use base64::Engine as _;
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
    #[serde(skip_serializing_if = "Option::is_none")]
    verification: Option<Verification>,
}

/// Whether one piece of evidence verifies with the given keys.
#[derive(Debug, Serialize)]
struct Verification {
    verified: bool,
    signers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<crate::category::Category>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
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
    let keys = load_keys(&args.keys)?;
    let registry = args.registry.client()?;
    let creds = args.registry.credentials(&image);
    let rt = super::runtime()?;
    let (resolved, discovery) = rt.block_on(async {
        let resolved = registry.resolve(&image, &creds).await?;
        let discovery = registry.discover(&image, &resolved.digest, &creds).await?;
        Ok::<_, crate::registry::RegistryError>((resolved, discovery))
    })?;
    let mut report = build_report(&image, &resolved, &discovery);
    if !keys.is_empty() {
        for item in &mut report.evidence {
            item.verification = Some(check(item.evidence, &keys, &resolved.digest));
        }
    }
    let any_verified = report
        .evidence
        .iter()
        .any(|i| i.verification.as_ref().is_some_and(|v| v.verified));
    match args.output {
        Output::Json => {
            let text = serde_json::to_string_pretty(&report).context("encoding the report")?;
            println!("{text}");
        }
        Output::Text => print!("{}", render_text(&report)),
    }
    let ok = if keys.is_empty() {
        !discovery.evidence.is_empty()
    } else {
        any_verified
    };
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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

/// Verifies one piece of evidence with `keys` and checks its statement's subject.
fn check(e: &Evidence, keys: &[TrustedKey], digest: &Digest) -> Verification {
    let fail = |category, reason: String| Verification {
        verified: false,
        signers: Vec::new(),
        category: Some(category),
        reason: Some(reason),
    };
    let verified = match e.format {
        EvidenceFormat::DsseEnvelope => match Envelope::from_json(&e.bytes) {
            Ok(env) => verify_envelope(&env, keys, 1),
            Err(err) => return fail(err.category(), err.to_string()),
        },
        EvidenceFormat::SigstoreBundle => match Bundle::from_json(&e.bytes) {
            Ok(b) => verify_bundle(&b, keys, 1),
            Err(err) => return fail(err.category(), err.to_string()),
        },
    };
    let verified = match verified {
        Ok(v) => v,
        Err(err) => return fail(err.category(), err.to_string()),
    };
    let signers: Vec<String> = verified.signers.iter().map(|s| s.display_name()).collect();
    match Statement::parse(&verified.payload) {
        Ok(st) if st.matches_digest(digest) => Verification {
            verified: true,
            signers,
            category: None,
            reason: None,
        },
        Ok(_) => Verification {
            signers,
            ..fail(
                crate::category::Category::SubjectMismatch,
                format!("the signed statement is not about {digest}"),
            )
        },
        Err(err) => Verification {
            signers,
            ..fail(
                crate::category::Category::BadSignature,
                format!("signed payload is not an in-toto statement: {err}"),
            )
        },
    }
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
        verification: None,
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
        match &item.verification {
            Some(v) if v.verified => {
                let _ = writeln!(out, "    verified: yes, signed by {}", v.signers.join(", "));
            }
            Some(v) => {
                let category = v.category.map_or_else(String::new, |c| format!(" [{c}]"));
                let reason = v.reason.as_deref().unwrap_or("");
                let _ = writeln!(out, "    verified: no{category}: {reason}");
            }
            None => {}
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
