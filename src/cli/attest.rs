//! `custody attest IMAGE --key KEY.pem --type TYPE --predicate FILE.json`: resolves the
//! image to its digest, builds an in-toto Statement v1 about that digest, signs it as a
//! DSSE envelope (or a Sigstore bundle v0.3 with `--bundle`) and attaches it to the image
//! as an OCI 1.1 referrer, or writes it to `--output` without pushing.

use super::registry_access::RegistryArgs;
use anyhow::{Context as _, bail};
use custody::attest::bundle::{BUNDLE_V03_MEDIA_TYPE, Bundle};
use custody::attest::{INTOTO_PAYLOAD_TYPE, STATEMENT_V1, SigningKey, sign_envelope};
use custody::digest::Digest;
use custody::registry::{Artifact, DSSE_MEDIA_TYPE, ImageRef, Registry};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `custody attest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image (tag or digest). The statement's subject is its digest.
    #[arg(env = "CUSTODY_IMAGE")]
    pub image: String,
    /// PEM private key (PKCS#8, SEC1 EC or PKCS#1 RSA) to sign with.
    #[arg(long, env = "CUSTODY_SIGNING_KEY")]
    pub key: PathBuf,
    /// Predicate type URI, or a shorthand: cosign's (custom, slsaprovenance,
    /// slsaprovenance02, slsaprovenance1, spdx, spdxjson, cyclonedx, link, vuln, openvex,
    /// with cosign's meanings) or custody's (intoto-vulns, intoto-link, test-result).
    #[arg(long = "type", env = "CUSTODY_PREDICATE_TYPE")]
    pub predicate_type: String,
    /// JSON file holding the predicate (`-` for standard input).
    #[arg(long, env = "CUSTODY_PREDICATE")]
    pub predicate: PathBuf,
    /// Write the envelope (or bundle) to this file instead of attaching it.
    #[arg(long = "output-file", env = "CUSTODY_OUTPUT_FILE")]
    pub output: Option<PathBuf>,
    /// Produce a Sigstore bundle v0.3 (DSSE content, public-key material) instead of a
    /// bare DSSE envelope.
    #[arg(long, env = "CUSTODY_ATTEST_BUNDLE")]
    pub bundle: bool,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// The predicate type a shorthand stands for (anything else is taken as written). The
/// first ten are cosign's `--type` shorthands with cosign's meanings (cosign
/// `pkg/policy/attestation.go`), so a command line moved from cosign means the same thing;
/// custody's own predicates have names of their own.
pub fn expand_predicate_type(t: &str) -> &str {
    match t {
        "custom" => "https://cosign.sigstore.dev/attestation/v1",
        "slsaprovenance" | "slsaprovenance02" => "https://slsa.dev/provenance/v0.2",
        "slsaprovenance1" => "https://slsa.dev/provenance/v1",
        "spdx" | "spdxjson" => "https://spdx.dev/Document",
        "cyclonedx" => "https://cyclonedx.org/bom",
        "link" => "https://in-toto.io/Link/v1",
        "vuln" => "https://cosign.sigstore.dev/attestation/vuln/v1",
        "openvex" => "https://openvex.dev/ns",
        "intoto-vulns" => "https://in-toto.io/attestation/vulns/v0.1",
        "intoto-link" => "https://in-toto.io/attestation/link/v0.3",
        "test-result" => "https://in-toto.io/attestation/test-result/v0.1",
        other => other,
    }
}

/// The shorthands, for messages.
const SHORTHANDS: &str = "custom, slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson, cyclonedx, link, vuln, openvex, intoto-vulns, intoto-link, test-result";

/// An in-toto Statement v1 about one digest.
pub fn statement_json(
    name: &str,
    digest: &Digest,
    predicate_type: &str,
    predicate: serde_json::Value,
) -> Vec<u8> {
    let mut digest_set = serde_json::Map::new();
    digest_set.insert(digest.algorithm().as_str().to_owned(), digest.hex().into());
    let statement = serde_json::json!({
        "_type": STATEMENT_V1,
        "subject": [{"name": name, "digest": digest_set}],
        "predicateType": predicate_type,
        "predicate": predicate,
    });
    statement.to_string().into_bytes()
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let image = ImageRef::parse(&args.image)?;
    let key_text = std::fs::read_to_string(&args.key)
        .with_context(|| format!("reading signing key {}", args.key.display()))?;
    let key = SigningKey::from_pem(&key_text)
        .with_context(|| format!("{}: not a usable PEM private key", args.key.display()))?;
    let predicate = read_predicate(&args.predicate)?;
    let predicate_type = expand_predicate_type(&args.predicate_type);
    if !predicate_type.contains(':') {
        bail!("predicate type {predicate_type:?} is neither a URI nor a shorthand ({SHORTHANDS})");
    }
    let registry = args.registry.client()?;
    let creds = args.registry.credentials(&image);
    let rt = super::runtime()?;
    let digest = rt.block_on(registry.resolve(&image, &creds))?.digest;
    let statement = statement_json(&image.name(), &digest, predicate_type, predicate);
    let envelope =
        sign_envelope(INTOTO_PAYLOAD_TYPE, &statement, &[&key]).context("signing the statement")?;
    let (media_type, data) = if args.bundle {
        let bundle = Bundle::new(envelope, key.public_key());
        (BUNDLE_V03_MEDIA_TYPE, bundle.to_json())
    } else {
        (DSSE_MEDIA_TYPE, envelope.to_json())
    };
    if let Some(out) = &args.output {
        std::fs::write(out, &data).with_context(|| format!("writing {}", out.display()))?;
        println!(
            "wrote {} for {}@{digest} to {}",
            kind(args.bundle),
            image.name(),
            out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let artifact = Artifact {
        artifact_type: media_type.to_owned(),
        media_type: media_type.to_owned(),
        data: data.into_bytes().into(),
        annotations: BTreeMap::from([
            (
                "in-toto.io/predicate-type".to_owned(),
                predicate_type.to_owned(),
            ),
            (
                "org.opencontainers.image.created".to_owned(),
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
        ]),
    };
    let attached = rt
        .block_on(registry.attach(&image, &digest, &artifact, &creds))
        .context("attaching the attestation")?;
    println!(
        "attached {predicate_type} ({}) to {}@{digest} as {} via {}",
        kind(args.bundle),
        image.name(),
        attached.manifest_digest,
        attached.source
    );
    Ok(ExitCode::SUCCESS)
}

fn kind(bundle: bool) -> &'static str {
    if bundle {
        "sigstore bundle"
    } else {
        "dsse envelope"
    }
}

fn read_predicate(path: &PathBuf) -> anyhow::Result<serde_json::Value> {
    let bytes = if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .context("reading the predicate from standard input")?;
        buf
    } else {
        std::fs::read(path).with_context(|| format!("reading predicate {}", path.display()))?
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("predicate {}: not JSON: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::expand_predicate_type;

    /// cosign's shorthands mean what they mean in cosign; custody's have other names.
    #[test]
    fn shorthands_mean_what_cosign_means() {
        for (short, uri) in [
            ("custom", "https://cosign.sigstore.dev/attestation/v1"),
            ("slsaprovenance", "https://slsa.dev/provenance/v0.2"),
            ("slsaprovenance02", "https://slsa.dev/provenance/v0.2"),
            ("slsaprovenance1", "https://slsa.dev/provenance/v1"),
            ("spdx", "https://spdx.dev/Document"),
            ("spdxjson", "https://spdx.dev/Document"),
            ("cyclonedx", "https://cyclonedx.org/bom"),
            ("link", "https://in-toto.io/Link/v1"),
            ("vuln", "https://cosign.sigstore.dev/attestation/vuln/v1"),
            ("openvex", "https://openvex.dev/ns"),
            ("intoto-vulns", "https://in-toto.io/attestation/vulns/v0.1"),
            ("intoto-link", "https://in-toto.io/attestation/link/v0.3"),
            (
                "test-result",
                "https://in-toto.io/attestation/test-result/v0.1",
            ),
            ("https://example.com/p/v1", "https://example.com/p/v1"),
        ] {
            assert_eq!(expand_predicate_type(short), uri, "{short}");
        }
        for short in super::SHORTHANDS.split(", ") {
            assert!(expand_predicate_type(short).contains("://"), "{short}");
        }
    }
}
