//! The serving certificate: loaded from PEM files and swapped in place when the files
//! change (cert-manager and kubelet Secret mounts rewrite them), or generated once for a
//! demo with `--self-signed`.
//!
//! The listener never restarts: rustls asks [`ReloadingCertResolver`] for the current
//! certificate on every handshake, so new connections get the new certificate while open
//! connections keep the one they negotiated. A changed pair that does not parse, or whose
//! key does not match the certificate, is logged and counted and the old pair stays.

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::metrics::metrics;

/// Why a certificate could not be loaded or generated.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The certificate file has no usable PEM certificate.
    #[error("{path}: no PEM certificate found ({detail})")]
    NoCertificate {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        detail: String,
    },
    /// The key file has no usable PEM private key.
    #[error("{path}: no PEM private key found ({detail})")]
    NoKey {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        detail: String,
    },
    /// The key is unsupported or does not belong to the certificate.
    #[error("certificate {cert} and key {key} do not form a usable pair: {detail}")]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        detail: String,
    },
    /// Generating the self-signed certificate failed.
    #[error("generating a self-signed certificate: {0}")]
    Generate(String),
    /// rustls refused the server configuration.
    #[error("building the TLS configuration: {0}")]
    Config(String),
}

/// Hands rustls whichever certificate is current.
#[derive(Debug)]
pub struct ReloadingCertResolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadingCertResolver {
    /// A resolver that starts with `key`.
    pub fn new(key: Arc<CertifiedKey>) -> Self {
        Self {
            current: RwLock::new(key),
        }
    }

    /// Replaces the certificate used by new handshakes.
    pub fn set(&self, key: Arc<CertifiedKey>) {
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        *guard = key;
    }

    /// The certificate new handshakes get.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl ResolvesServerCert for ReloadingCertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// Builds the rustls server configuration (TLS 1.2/1.3, ALPN `h2` then `http/1.1`).
pub fn server_config(
    resolver: Arc<ReloadingCertResolver>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Parses a certificate chain and private key from PEM bytes and checks they match.
pub fn certified_key_from_pem(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_path: &Path,
    key_path: &Path,
) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::NoCertificate {
            path: cert_path.to_owned(),
            detail: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_path.to_owned(),
            detail: "the file holds no CERTIFICATE block".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::NoKey {
        path: key_path.to_owned(),
        detail: e.to_string(),
    })?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|e| TlsError::Pair {
        cert: cert_path.to_owned(),
        key: key_path.to_owned(),
        detail: e.to_string(),
    })
}

/// A certificate and key kept in two PEM files, watched for changes.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The certificate chain (leaf first).
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl CertFiles {
    fn read(&self) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
        let cert = std::fs::read(&self.cert).map_err(|source| TlsError::Read {
            path: self.cert.clone(),
            source,
        })?;
        let key = std::fs::read(&self.key).map_err(|source| TlsError::Read {
            path: self.key.clone(),
            source,
        })?;
        Ok((cert, key))
    }

    /// Loads the pair once.
    pub fn load(&self) -> Result<CertifiedKey, TlsError> {
        let (cert, key) = self.read()?;
        certified_key_from_pem(&cert, &key, &self.cert, &self.key)
    }

    /// Polls both files every `interval` and swaps the resolver's certificate when their
    /// contents change and the new pair is valid. Runs until the task is dropped.
    ///
    /// Contents are compared rather than modification times, because Secret volumes swap
    /// a symlink and editors may keep the mtime.
    pub async fn watch(self, resolver: Arc<ReloadingCertResolver>, interval: Duration) {
        let mut last = self.read().ok();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let files = self.clone();
            let read = tokio::task::spawn_blocking(move || files.read()).await;
            let (cert, key) = match read {
                Ok(Ok(pair)) => pair,
                Ok(Err(err)) => {
                    tracing::debug!(error = %err, "certificate files not readable; keeping the current certificate");
                    continue;
                }
                Err(_) => continue,
            };
            if last.as_ref().is_some_and(|(c, k)| *c == cert && *k == key) {
                continue;
            }
            match certified_key_from_pem(&cert, &key, &self.cert, &self.key) {
                Ok(new) => {
                    resolver.set(Arc::new(new));
                    metrics().tls_reload("ok");
                    tracing::info!(cert = %self.cert.display(), "serving certificate reloaded");
                }
                Err(err) => {
                    metrics().tls_reload("error");
                    tracing::error!(error = %err, "new serving certificate rejected; keeping the current one");
                }
            }
            last = Some((cert, key));
        }
    }
}

/// A generated certificate authority and a serving certificate it signed.
#[derive(Debug)]
pub struct SelfSigned {
    /// The serving certificate and key.
    pub key: CertifiedKey,
    /// The CA certificate in PEM (what a webhook configuration's `caBundle` needs).
    pub ca_pem: String,
    /// The serving certificate in PEM.
    pub cert_pem: String,
    /// The serving key in PKCS#8 PEM.
    pub key_pem: String,
}

/// Generates a throwaway CA and a serving certificate for `names` (DNS names or IP
/// addresses), for demos and tests; never for production.
pub fn generate_self_signed(names: &[String]) -> Result<SelfSigned, TlsError> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let err = |e: rcgen::Error| TlsError::Generate(e.to_string());

    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "custody self-signed CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate().map_err(err)?;
    let mut leaf_params = CertificateParams::new(names.to_vec()).map_err(err)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, names.first().map_or("custody", |s| s));
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).map_err(err)?;

    let cert_pem = leaf.pem();
    let key_pem = leaf_key.serialize_pem();
    let key = certified_key_from_pem(
        cert_pem.as_bytes(),
        key_pem.as_bytes(),
        Path::new("<generated>"),
        Path::new("<generated>"),
    )?;
    Ok(SelfSigned {
        key,
        ca_pem: ca_cert.pem(),
        cert_pem,
        key_pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pair_loads_and_mismatched_pair_is_rejected() {
        let a = generate_self_signed(&["localhost".into()]).unwrap();
        let b = generate_self_signed(&["localhost".into()]).unwrap();
        assert!(
            certified_key_from_pem(
                a.cert_pem.as_bytes(),
                a.key_pem.as_bytes(),
                Path::new("a"),
                Path::new("a")
            )
            .is_ok()
        );
        let err = certified_key_from_pem(
            a.cert_pem.as_bytes(),
            b.key_pem.as_bytes(),
            Path::new("a.crt"),
            Path::new("b.key"),
        )
        .unwrap_err();
        assert!(matches!(err, TlsError::Pair { .. }), "{err}");
    }

    #[test]
    fn garbage_is_rejected_with_the_file_name() {
        let err = certified_key_from_pem(
            b"not pem",
            b"",
            Path::new("/tls/tls.crt"),
            Path::new("/tls/tls.key"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("/tls/tls.crt"), "{err}");
    }

    #[tokio::test]
    async fn watcher_swaps_valid_and_keeps_old_on_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let files = CertFiles {
            cert: dir.path().join("tls.crt"),
            key: dir.path().join("tls.key"),
        };
        let a = generate_self_signed(&["localhost".into()]).unwrap();
        std::fs::write(&files.cert, &a.cert_pem).unwrap();
        std::fs::write(&files.key, &a.key_pem).unwrap();
        let resolver = Arc::new(ReloadingCertResolver::new(Arc::new(files.load().unwrap())));
        let task = tokio::spawn(
            files
                .clone()
                .watch(resolver.clone(), Duration::from_millis(20)),
        );
        let first = resolver.current().cert[0].clone();

        // An invalid certificate: the old one stays.
        std::fs::write(&files.cert, "garbage").unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(resolver.current().cert[0], first);

        // A valid new pair is picked up.
        let b = generate_self_signed(&["localhost".into()]).unwrap();
        std::fs::write(&files.key, &b.key_pem).unwrap();
        std::fs::write(&files.cert, &b.cert_pem).unwrap();
        let mut swapped = false;
        for _ in 0..200 {
            if resolver.current().cert[0] != first {
                swapped = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        task.abort();
        assert!(swapped, "the new certificate was never loaded");
    }
}
