//! `custody keygen --out NAME`: write a signing key pair, `NAME.key` (unencrypted PKCS#8
//! PEM, mode 0600) and `NAME.pub` (PEM SubjectPublicKeyInfo). Existing files are never
//! overwritten.

use anyhow::{Context as _, bail};
use custody::attest::{KeyAlgorithm, SigningKey};
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The algorithms `keygen` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256 (the default; what cosign uses).
    P256,
    /// ECDSA P-384 with SHA-384.
    P384,
    /// Ed25519.
    Ed25519,
    /// RSA 3072 bits, signing with PSS/SHA-256.
    Rsa,
}

impl From<Algorithm> for KeyAlgorithm {
    fn from(a: Algorithm) -> Self {
        match a {
            Algorithm::P256 => KeyAlgorithm::EcdsaP256,
            Algorithm::P384 => KeyAlgorithm::EcdsaP384,
            Algorithm::Ed25519 => KeyAlgorithm::Ed25519,
            Algorithm::Rsa => KeyAlgorithm::Rsa,
        }
    }
}

/// Arguments of `custody keygen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Path prefix of the key pair: writes `NAME.key` and `NAME.pub`.
    #[arg(long, env = "CUSTODY_KEYGEN_OUT")]
    pub out: PathBuf,
    /// Key algorithm.
    #[arg(
        long,
        value_enum,
        default_value = "p256",
        env = "CUSTODY_KEYGEN_ALGORITHM"
    )]
    pub algorithm: Algorithm,
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn create_new(path: &Path, mode: u32) -> anyhow::Result<std::fs::File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path).with_context(|| {
        if path.exists() {
            format!(
                "{} already exists; refusing to overwrite it",
                path.display()
            )
        } else {
            format!("creating {}", path.display())
        }
    })
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let private_path = with_suffix(&args.out, ".key");
    let public_path = with_suffix(&args.out, ".pub");
    for path in [&private_path, &public_path] {
        if path.exists() {
            bail!(
                "{} already exists; refusing to overwrite it",
                path.display()
            );
        }
    }
    let key = SigningKey::generate(args.algorithm.into()).context("generating the key")?;
    let private_pem = key.to_pkcs8_pem().context("encoding the private key")?;
    let mut private_file = create_new(&private_path, 0o600)?;
    let mut public_file = match create_new(&public_path, 0o644) {
        Ok(f) => f,
        Err(e) => {
            drop(private_file);
            let _ = std::fs::remove_file(&private_path);
            return Err(e);
        }
    };
    private_file
        .write_all(private_pem.as_bytes())
        .and_then(|()| private_file.sync_all())
        .with_context(|| format!("writing {}", private_path.display()))?;
    public_file
        .write_all(key.public_key_pem().as_bytes())
        .with_context(|| format!("writing {}", public_path.display()))?;
    println!("private key: {} (keep it secret)", private_path.display());
    println!("public key:  {}", public_path.display());
    println!("algorithm:   {}", key.algorithm());
    println!("key id:      {}", key.public_key().key_id());
    Ok(ExitCode::SUCCESS)
}
