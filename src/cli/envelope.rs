//! `custody envelope verify`: check a DSSE envelope (or a Sigstore bundle holding one)
//! against public keys, the way the webhook does, and say what it contains.
//!
//! Exit codes: 0 verified, 1 not verified (the reason is printed), 2 unusable input
//! (unreadable file, a key that is not a key, text that is not an envelope).

use anyhow::{Context as _, bail};
use custody::attest::{
    self, Envelope, EnvelopeError, INTOTO_PAYLOAD_TYPE, PublicKey, Statement, TrustedKey, Verified,
    VerifyError,
};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The `envelope` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Verify a DSSE envelope's signatures against trusted public keys.
    Verify(VerifyArgs),
}

/// Arguments of `custody envelope verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// A trusted public key: PEM (SubjectPublicKeyInfo or PKCS#1 RSA) or a
    /// securesystemslib JSON key, as `PATH` or `NAME=PATH`. Repeat for several keys.
    #[arg(
        long = "key",
        required = true,
        env = "CUSTODY_KEY",
        value_delimiter = ','
    )]
    pub keys: Vec<String>,
    /// How many distinct trusted keys must have signed.
    #[arg(long, default_value_t = 1, env = "CUSTODY_THRESHOLD")]
    pub threshold: usize,
    /// The envelope: a DSSE JSON file, JSON lines of envelopes, or a Sigstore bundle
    /// whose content is a DSSE envelope; `-` reads standard input.
    pub envelope: PathBuf,
}

/// Runs the subcommand.
pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Verify(args) => verify(args),
    }
}

fn load_key(spec: &str) -> anyhow::Result<TrustedKey> {
    let (name, path) = match spec.split_once('=') {
        Some((name, path)) if !Path::new(spec).exists() && !name.is_empty() => {
            (name.to_owned(), PathBuf::from(path))
        }
        _ => {
            let path = PathBuf::from(spec);
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| spec.to_owned());
            (name, path)
        }
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading key file {}", path.display()))?;
    let key = PublicKey::from_text(&text)
        .with_context(|| format!("key file {} is not a usable public key", path.display()))?;
    Ok(TrustedKey::new(Some(name), key))
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading the envelope from standard input")?;
        return Ok(buf);
    }
    std::fs::read(path).with_context(|| format!("reading envelope {}", path.display()))
}

/// Splits the input into envelopes: one JSON document, or one per non-empty line.
fn envelopes(bytes: &[u8]) -> anyhow::Result<Vec<Result<Envelope, EnvelopeError>>> {
    let whole: Result<serde_json::Value, _> = serde_json::from_slice(bytes);
    let docs: Vec<&[u8]> = match whole {
        Ok(_) => vec![bytes],
        Err(_) => bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .collect(),
    };
    if docs.is_empty() {
        bail!("the envelope file is empty");
    }
    docs.into_iter()
        .map(|doc| {
            let value: serde_json::Value =
                serde_json::from_slice(doc).context("the input is not JSON")?;
            if attest::bundle::is_bundle(&value) {
                return attest::bundle::Bundle::from_value(&value)
                    .map(|b| Ok(b.envelope_with_hints()))
                    .context("the Sigstore bundle cannot be used");
            }
            match Envelope::from_json(doc) {
                Err(EnvelopeError::Json(e)) => bail!("the input is not a DSSE envelope: {e}"),
                other => Ok(other),
            }
        })
        .collect()
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let keys = args
        .keys
        .iter()
        .map(|k| load_key(k))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let distinct = {
        let mut seen: Vec<&PublicKey> = Vec::new();
        for k in &keys {
            if !seen.contains(&&k.key) {
                seen.push(&k.key);
            }
        }
        seen.len()
    };
    if args.threshold == 0 || args.threshold > distinct {
        bail!(
            "--threshold {} cannot be met with {distinct} distinct key(s)",
            args.threshold
        );
    }
    let bytes = read_input(&args.envelope)?;
    let list = envelopes(&bytes)?;
    let many = list.len() > 1;
    let mut all_ok = true;
    for (i, parsed) in list.into_iter().enumerate() {
        if many {
            println!("envelope {}:", i + 1);
        }
        let result = parsed
            .map_err(VerifyError::from)
            .and_then(|env| attest::verify_envelope(&env, &keys, args.threshold));
        let ok = match result {
            Ok(verified) => report(&verified, &keys, args.threshold),
            Err(err) => {
                println!("not verified: {err} [{}]", err.category());
                false
            }
        };
        all_ok &= ok;
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Prints a verified envelope and what its payload is. Returns true: the signatures
/// verified, and a payload that is not a Statement is reported, not failed.
fn report(v: &Verified, keys: &[TrustedKey], threshold: usize) -> bool {
    println!(
        "verified: {} of {} required signer(s)",
        v.signers.len(),
        threshold
    );
    println!("payload type: {}", v.payload_type);
    for s in &v.signers {
        let algorithm = keys
            .iter()
            .find(|k| k.key.key_id() == s.key_id)
            .map(|k| k.key.algorithm().as_str())
            .unwrap_or("?");
        println!(
            "signer: {} ({algorithm}, key id {})",
            s.name.as_deref().unwrap_or("-"),
            s.key_id
        );
    }
    if v.payload_type != INTOTO_PAYLOAD_TYPE {
        println!(
            "payload: {} bytes (not an in-toto Statement)",
            v.payload.len()
        );
        return true;
    }
    match Statement::parse(&v.payload) {
        Ok(st) => {
            println!("statement: {}", st.type_uri);
            println!("predicate type: {}", st.predicate_type);
            for s in &st.subjects {
                let digests: Vec<String> =
                    s.digest.iter().map(|(a, h)| format!("{a}:{h}")).collect();
                let name = if s.name.is_empty() { "-" } else { &s.name };
                println!("subject: {name} {}", digests.join(" "));
            }
            true
        }
        Err(e) => {
            // The signatures verified; say what the payload is, and that policies only
            // ever read in-toto Statements.
            let kind = serde_json::from_slice::<serde_json::Value>(&v.payload)
                .ok()
                .and_then(|p| p.get("_type").and_then(|t| t.as_str()).map(str::to_owned));
            match kind.as_deref() {
                Some(t @ ("link" | "layout")) => println!(
                    "payload: in-toto {t} metadata (not a Statement; policies only read Statements)"
                ),
                _ => println!(
                    "payload: not a usable in-toto Statement ({e}); policies will not see it"
                ),
            }
            true
        }
    }
}
