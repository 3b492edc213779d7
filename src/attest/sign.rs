//! Signing keys: generate, load and store PKCS#8 PEM, and sign.
//!
//! ECDSA signatures are written in ASN.1 DER (what Go, cosign and securesystemslib
//! write and read); RSA signs with PSS over SHA-256 (salt = digest length), the
//! in-toto/securesystemslib default scheme `rsassa-pss-sha256`.

use super::armor;
use super::keys::{KeyAlgorithm, KeyError, PublicKey};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use der::Decode;
use der::asn1::ObjectIdentifier;
use std::fmt;

use crate::attest::oid::{OID_EC_PUBLIC_KEY, OID_ED25519, OID_P256, OID_P384, OID_P521, OID_RSA};

enum Pair {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

/// A private key that signs envelopes.
pub struct SigningKey {
    pair: Pair,
    public: PublicKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.public.algorithm())
            .field("key_id", &self.public.key_id())
            .finish_non_exhaustive()
    }
}

fn crypto(what: &'static str) -> impl Fn(aws_lc_rs::error::Unspecified) -> KeyError {
    move |_| KeyError::Crypto(what)
}

fn rejected(algorithm: KeyAlgorithm) -> impl Fn(aws_lc_rs::error::KeyRejected) -> KeyError {
    move |_| KeyError::Invalid {
        algorithm,
        reason: "the crypto library rejected the private key",
    }
}

fn ecdsa_alg(algorithm: KeyAlgorithm) -> &'static signature::EcdsaSigningAlgorithm {
    match algorithm {
        KeyAlgorithm::EcdsaP384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        KeyAlgorithm::EcdsaP521 => &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
        _ => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
    }
}

impl SigningKey {
    /// Generates a new key (RSA keys are 3072 bits).
    pub fn generate(algorithm: KeyAlgorithm) -> Result<SigningKey, KeyError> {
        let pair = match algorithm {
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 | KeyAlgorithm::EcdsaP521 => {
                Pair::Ecdsa(
                    EcdsaKeyPair::generate(ecdsa_alg(algorithm))
                        .map_err(crypto("generating an ECDSA key"))?,
                )
            }
            KeyAlgorithm::Ed25519 => Pair::Ed25519(
                Ed25519KeyPair::generate().map_err(crypto("generating an Ed25519 key"))?,
            ),
            KeyAlgorithm::Rsa => Pair::Rsa(
                RsaKeyPair::generate(KeySize::Rsa3072).map_err(crypto("generating an RSA key"))?,
            ),
        };
        SigningKey::from_pair(pair)
    }

    fn from_pair(pair: Pair) -> Result<SigningKey, KeyError> {
        let spki = match &pair {
            Pair::Ecdsa(p) => p.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Pair::Ed25519(p) => p.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Pair::Rsa(p) => p.public_key().as_der().map(|d| d.as_ref().to_vec()),
        }
        .map_err(crypto("encoding the public key"))?;
        let public = PublicKey::from_spki_der(&spki)?;
        Ok(SigningKey { pair, public })
    }

    /// Reads an unencrypted private key from PEM: `PRIVATE KEY` (PKCS#8), `EC PRIVATE
    /// KEY` (SEC1) or `RSA PRIVATE KEY` (PKCS#1).
    pub fn from_pem(text: &str) -> Result<SigningKey, KeyError> {
        let blocks = armor::parse_all(text)?;
        let keys: Vec<_> = blocks
            .iter()
            .filter(|b| b.label.ends_with("PRIVATE KEY"))
            .collect();
        let block = match keys.as_slice() {
            [one] => *one,
            [] => {
                return Err(KeyError::NoKeyBlock {
                    wanted: "PRIVATE KEY",
                    found: blocks
                        .iter()
                        .map(|b| b.label.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            many => return Err(KeyError::SeveralKeys(many.len())),
        };
        let der = block.der.as_slice();
        let pair = match block.label.as_str() {
            "PRIVATE KEY" => match pkcs8_algorithm(der)? {
                KeyAlgorithm::Ed25519 => Pair::Ed25519(
                    Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                        .map_err(rejected(KeyAlgorithm::Ed25519))?,
                ),
                KeyAlgorithm::Rsa => {
                    Pair::Rsa(RsaKeyPair::from_pkcs8(der).map_err(rejected(KeyAlgorithm::Rsa))?)
                }
                ec => {
                    Pair::Ecdsa(EcdsaKeyPair::from_pkcs8(ecdsa_alg(ec), der).map_err(rejected(ec))?)
                }
            },
            "EC PRIVATE KEY" => {
                let curve = sec1_curve(der)?;
                Pair::Ecdsa(
                    EcdsaKeyPair::from_private_key_der(ecdsa_alg(curve), der)
                        .map_err(rejected(curve))?,
                )
            }
            "RSA PRIVATE KEY" => {
                Pair::Rsa(RsaKeyPair::from_der(der).map_err(rejected(KeyAlgorithm::Rsa))?)
            }
            other => {
                return Err(KeyError::Unsupported(format!(
                    "PEM block {other:?} (encrypted keys are not supported)"
                )));
            }
        };
        SigningKey::from_pair(pair)
    }

    /// The private key as unencrypted PKCS#8 v1 PEM (`PRIVATE KEY`).
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        let der: Vec<u8> = match &self.pair {
            Pair::Ecdsa(p) => p.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
            Pair::Ed25519(p) => p.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
            Pair::Rsa(p) => AsDer::<Pkcs8V1Der>::as_der(p).map(|d| d.as_ref().to_vec()),
        }
        .map_err(crypto("encoding the private key"))?;
        Ok(armor::encode("PRIVATE KEY", &der)?)
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The matching public key as PEM SubjectPublicKeyInfo.
    pub fn public_key_pem(&self) -> String {
        self.public.to_pem()
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.public.algorithm()
    }

    /// Signs `msg` (ECDSA: DER signature; RSA: PSS/SHA-256; Ed25519: 64 bytes).
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Ecdsa(p) => p
                .sign(&rng, msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(crypto("ECDSA signing")),
            Pair::Ed25519(p) => Ok(p.sign(msg).as_ref().to_vec()),
            Pair::Rsa(p) => {
                let mut sig = vec![0u8; p.public_modulus_len()];
                p.sign(&signature::RSA_PSS_SHA256, &rng, msg, &mut sig)
                    .map_err(crypto("RSA signing"))?;
                Ok(sig)
            }
        }
    }
}

fn der_err(what: &'static str) -> impl Fn(der::Error) -> KeyError {
    move |source| KeyError::Der { what, source }
}

/// The ECDSA algorithm of a named curve OID.
fn curve_algorithm(curve: ObjectIdentifier) -> Result<KeyAlgorithm, KeyError> {
    match curve.as_bytes() {
        OID_P256 => Ok(KeyAlgorithm::EcdsaP256),
        OID_P384 => Ok(KeyAlgorithm::EcdsaP384),
        OID_P521 => Ok(KeyAlgorithm::EcdsaP521),
        other => Err(KeyError::Unsupported(format!(
            "EC curve OID {}",
            hex::encode(other)
        ))),
    }
}

/// The curve of a SEC1 ECPrivateKey (read with `sec1`), from its named-curve
/// parameters.
fn sec1_curve(der_bytes: &[u8]) -> Result<KeyAlgorithm, KeyError> {
    let key = sec1::EcPrivateKey::from_der(der_bytes).map_err(der_err("SEC1 ECPrivateKey"))?;
    let curve = key
        .parameters
        .and_then(|p| p.named_curve())
        .ok_or(KeyError::Invalid {
            algorithm: KeyAlgorithm::EcdsaP256,
            reason: "a SEC1 private key without a named curve",
        })?;
    curve_algorithm(curve)
}

/// The algorithm named by a PKCS#8 PrivateKeyInfo's AlgorithmIdentifier (read with
/// `pkcs8`).
fn pkcs8_algorithm(der_bytes: &[u8]) -> Result<KeyAlgorithm, KeyError> {
    let info =
        pkcs8::PrivateKeyInfoRef::from_der(der_bytes).map_err(der_err("PKCS#8 PrivateKeyInfo"))?;
    let oid = info.algorithm.oid.as_bytes();
    if oid == OID_ED25519 {
        Ok(KeyAlgorithm::Ed25519)
    } else if oid == OID_RSA {
        Ok(KeyAlgorithm::Rsa)
    } else if oid == OID_EC_PUBLIC_KEY {
        let curve = info
            .algorithm
            .parameters_oid()
            .map_err(|_| KeyError::Invalid {
                algorithm: KeyAlgorithm::EcdsaP256,
                reason: "a PKCS#8 EC private key without a named curve",
            })?;
        curve_algorithm(curve)
    } else {
        Err(KeyError::Unsupported(format!(
            "private key algorithm OID {}",
            hex::encode(oid)
        )))
    }
}
