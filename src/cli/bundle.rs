//! `custody bundle verify`: verify a Sigstore bundle offline against a trusted root,
//! with a key or a certificate identity, in the argument conventions of cosign and of
//! the Sigstore conformance suite's `verify-bundle`.
//!
//! Exit codes: 0 verified, 1 not verified (the failed check is printed), 2 unusable
//! input (unreadable file, a bundle or trusted root that cannot be read, a bad key).

use anyhow::{Context as _, bail};
use custody::attest::PublicKey;
use custody::attest::sigstore::{
    self, Artifact, IdentityPolicy, Matcher, TimeSource, TrustedRoot, Verifier,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The `bundle` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Verify a Sigstore bundle for an artifact, offline, against a trusted root.
    Verify(VerifyArgs),
}

/// Arguments of `custody bundle verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The Sigstore bundle (JSON, v0.1 to v0.3).
    #[arg(long)]
    pub bundle: PathBuf,
    /// Verify with this public key (PEM) instead of a certificate identity.
    #[arg(long, conflicts_with_all = ["certificate_identity", "certificate_identity_regexp"])]
    pub key: Option<PathBuf>,
    /// The exact SAN (URI or email) the signing certificate must carry.
    #[arg(long, conflicts_with = "certificate_identity_regexp")]
    pub certificate_identity: Option<String>,
    /// A regular expression the whole SAN must match (anchored at both ends).
    #[arg(long)]
    pub certificate_identity_regexp: Option<String>,
    /// The exact OIDC issuer of the signing certificate.
    #[arg(long, conflicts_with = "certificate_oidc_issuer_regexp")]
    pub certificate_oidc_issuer: Option<String>,
    /// A regular expression the whole OIDC issuer must match.
    #[arg(long)]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// A Fulcio extension the certificate must carry with this exact value, as
    /// `NAME=VALUE` (e.g. `sourceRepositoryURI=https://github.com/org/repo`). Repeatable.
    #[arg(long = "certificate-extension", value_name = "NAME=VALUE")]
    pub certificate_extensions: Vec<String>,
    /// The trusted root (`trusted_root.json`); the built-in default is the Sigstore
    /// public-good production root.
    #[arg(long, env = "CUSTODY_TRUSTED_ROOT")]
    pub trusted_root: Option<PathBuf>,
    /// The artifact: a file, or its digest as `sha256:<64 hex>`.
    pub artifact: String,
}

/// Runs the subcommand.
pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Verify(args) => verify(args),
    }
}

/// Loads `--trusted-root`, or the built-in public-good root.
pub(crate) fn load_trusted_root(path: Option<&Path>) -> anyhow::Result<TrustedRoot> {
    match path {
        Some(p) => {
            let bytes = std::fs::read(p)
                .with_context(|| format!("reading trusted root {}", p.display()))?;
            TrustedRoot::from_json(&bytes)
                .with_context(|| format!("trusted root {} cannot be used", p.display()))
        }
        None => TrustedRoot::public_good().context("the built-in trusted root"),
    }
}

/// The artifact as given: a file's bytes, or a SHA-256 digest.
enum ArtifactInput {
    Bytes(Vec<u8>),
    Digest([u8; 32]),
}

fn read_artifact(spec: &str) -> anyhow::Result<ArtifactInput> {
    if let Some(hex_part) = spec.strip_prefix("sha256:")
        && hex_part.len() == 64
        && !Path::new(spec).exists()
    {
        let bytes = hex::decode(hex_part).context("the sha256: digest is not hex")?;
        let mut d = [0u8; 32];
        d.copy_from_slice(&bytes);
        return Ok(ArtifactInput::Digest(d));
    }
    let bytes = std::fs::read(spec).with_context(|| format!("reading artifact {spec}"))?;
    Ok(ArtifactInput::Bytes(bytes))
}

fn policy(args: &VerifyArgs) -> anyhow::Result<IdentityPolicy> {
    let subject = match (
        &args.certificate_identity,
        &args.certificate_identity_regexp,
    ) {
        (Some(s), _) => Matcher::Exact(s.clone()),
        (None, Some(r)) => Matcher::regex(r).context("--certificate-identity-regexp")?,
        (None, None) => {
            bail!(
                "give --key, or --certificate-identity (or -regexp) with --certificate-oidc-issuer"
            )
        }
    };
    let issuer = match (
        &args.certificate_oidc_issuer,
        &args.certificate_oidc_issuer_regexp,
    ) {
        (Some(s), _) => Matcher::Exact(s.clone()),
        (None, Some(r)) => Matcher::regex(r).context("--certificate-oidc-issuer-regexp")?,
        (None, None) => {
            bail!("--certificate-oidc-issuer (or -regexp) is required with an identity")
        }
    };
    let mut extensions = BTreeMap::new();
    for spec in &args.certificate_extensions {
        let Some((name, value)) = spec.split_once('=') else {
            bail!("--certificate-extension {spec:?} is not NAME=VALUE");
        };
        if !sigstore::extension_names().any(|n| n == name) {
            bail!(
                "--certificate-extension: unknown Fulcio extension {name:?} (known: {})",
                sigstore::extension_names().collect::<Vec<_>>().join(", ")
            );
        }
        extensions.insert(name.to_owned(), value.to_owned());
    }
    Ok(IdentityPolicy {
        subject,
        issuer,
        extensions,
    })
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let root = load_trusted_root(args.trusted_root.as_deref())?;
    let bundle = std::fs::read(&args.bundle)
        .with_context(|| format!("reading bundle {}", args.bundle.display()))?;
    let input = read_artifact(&args.artifact)?;
    let artifact = match &input {
        ArtifactInput::Bytes(b) => Artifact::Bytes(b),
        ArtifactInput::Digest(d) => Artifact::Sha256(*d),
    };
    let key;
    let identity;
    let verifier = match &args.key {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading key {}", path.display()))?;
            key = PublicKey::from_text(&text)
                .with_context(|| format!("{} is not a usable public key", path.display()))?;
            Verifier::Key(&key)
        }
        None => {
            identity = policy(&args)?;
            Verifier::Identity(&identity)
        }
    };
    match sigstore::verify_bundle(&bundle, Some(artifact), &verifier, &root) {
        Ok(v) => {
            println!("verified");
            if let Some(id) = &v.identity {
                println!("identity: {}", id.sans.join(", "));
                println!("issuer: {}", id.issuer.as_deref().unwrap_or("-"));
                for (name, value) in &id.extensions {
                    println!("  {name}: {value}");
                }
            }
            for (source, t) in &v.signing_times {
                let when = chrono::DateTime::from_timestamp(*t, 0)
                    .map(|d| d.to_rfc3339())
                    .unwrap_or_else(|| t.to_string());
                let source = match source {
                    TimeSource::Rfc3161 => "RFC 3161 timestamp",
                    TimeSource::TransparencyLog => "transparency log (signed entry timestamp)",
                };
                println!("signed at: {when} ({source})");
            }
            println!(
                "log entries: {} verified, {} with an inclusion proof and signed checkpoint",
                v.log_entries, v.inclusion_proofs
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.is_unusable_input() => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
        Err(e) => {
            println!("not verified: {e} [{}]", e.category());
            Ok(ExitCode::from(1))
        }
    }
}
