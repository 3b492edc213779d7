//! Public keys from PEM SubjectPublicKeyInfo, their ids, and signature checks.
//!
//! The key's algorithm is read from the SPKI AlgorithmIdentifier (and, for EC keys,
//! the named-curve parameter); nothing about a key is guessed from a signature.
//! Supported: ECDSA P-256/SHA-256, P-384/SHA-384, P-521/SHA-512, Ed25519, and RSA 2048–8192
//! bits with PSS or PKCS#1 v1.5 over SHA-256.

pub use super::algorithm::{KeyAlgorithm, KeyError};
use super::armor;
use super::keyid;
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaParameters, RsaPssSaltLength};
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier};
use der::{Decode, Encode, Tagged};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};
use std::fmt;

use crate::attest::oid::{
    ED25519, OID_EC_PUBLIC_KEY, OID_ED25519, OID_P256, OID_P384, OID_P521, OID_RSA, RSA_ENCRYPTION,
};

/// RSA-PSS with the salt as long as it can be (Go's `rsa.SignPSS` default).
static RSA_PSS_SHA256_MAX_SALT: RsaParameters =
    signature::RSA_PSS_2048_8192_SHA256.with_pss_salt_length(RsaPssSaltLength::Max);

/// Smallest and largest RSA modulus accepted, in bits.
pub const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits.
pub const RSA_MAX_BITS: usize = 8192;

fn der_err(what: &'static str) -> impl Fn(der::Error) -> KeyError {
    move |source| KeyError::Der { what, source }
}

/// A public key custody can verify signatures with.
#[derive(Clone)]
pub struct PublicKey {
    algorithm: KeyAlgorithm,
    spki_der: Vec<u8>,
    /// The SPKI as PEM (64-column lines, final newline).
    pem: String,
    /// The key material as the algorithm-specific encoding (EC point, raw Ed25519
    /// key, or PKCS#1 RSAPublicKey).
    raw: Vec<u8>,
    rsa_bits: Option<usize>,
    key_id: String,
    intoto_key_id: String,
    sslib_key_id: String,
    sigstore_hint: String,
    /// Every in-toto/securesystemslib key id this key may be named by.
    hint_ids: Vec<String>,
    /// Pre-parsed verifiers, tried in order.
    verifiers: Vec<ParsedPublicKey>,
}

impl PublicKey {
    /// Reads a public key from PEM: a `PUBLIC KEY` (SubjectPublicKeyInfo) block, or an
    /// `RSA PUBLIC KEY` (PKCS#1) block. Text around the block is ignored; more than one
    /// key is an error.
    pub fn from_pem(text: &str) -> Result<PublicKey, KeyError> {
        let blocks = armor::parse_all(text)?;
        let keys: Vec<_> = blocks
            .iter()
            .filter(|b| b.label == "PUBLIC KEY" || b.label == "RSA PUBLIC KEY")
            .collect();
        match keys.as_slice() {
            [one] if one.label == "PUBLIC KEY" => PublicKey::from_spki_der(&one.der),
            [one] => PublicKey::from_spki_der(&rsa_spki(&one.der)?),
            [] => Err(KeyError::NoKeyBlock {
                wanted: "PUBLIC KEY",
                found: blocks
                    .iter()
                    .map(|b| b.label.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
            many => Err(KeyError::SeveralKeys(many.len())),
        }
    }

    /// Reads a key file's contents: PEM, or a securesystemslib/in-toto JSON key object
    /// (`{"keytype": …, "scheme": …, "keyval": {"public": …}}`).
    pub fn from_text(text: &str) -> Result<PublicKey, KeyError> {
        if text.trim_start().starts_with('{') {
            PublicKey::from_securesystemslib_json(text)
        } else {
            PublicKey::from_pem(text)
        }
    }

    /// Reads a securesystemslib/in-toto JSON public key: ed25519 keys carry the raw key
    /// in hex, RSA and ECDSA keys a PEM SubjectPublicKeyInfo.
    pub fn from_securesystemslib_json(text: &str) -> Result<PublicKey, KeyError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| KeyError::SslibJson(e.to_string()))?;
        let field = |name: &str| {
            value
                .get(name)
                .and_then(|v| v.as_str())
                .ok_or_else(|| KeyError::SslibJson(format!("missing string field {name:?}")))
        };
        let keytype = field("keytype")?;
        let public = value
            .get("keyval")
            .and_then(|v| v.get("public"))
            .and_then(|v| v.as_str())
            .ok_or_else(|| KeyError::SslibJson("missing keyval.public".to_owned()))?;
        match keytype {
            "ed25519" => {
                let raw = hex::decode(public)
                    .map_err(|_| KeyError::SslibJson("ed25519 keyval.public is not hex".into()))?;
                PublicKey::from_ed25519_bytes(&raw)
            }
            "rsa" | "ecdsa" | "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" => {
                PublicKey::from_pem(public)
            }
            other => Err(KeyError::Unsupported(format!(
                "securesystemslib keytype {other}"
            ))),
        }
    }

    /// The subject public key of a DER X.509 certificate (read with `x509-cert`).
    /// Nothing about the certificate (validity, issuer, extensions) is checked.
    pub fn from_certificate_der(cert: &[u8]) -> Result<PublicKey, KeyError> {
        let cert = x509_cert::Certificate::from_der(cert).map_err(der_err("certificate"))?;
        let spki = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(der_err("certificate"))?;
        PublicKey::from_spki_der(&spki)
    }

    /// Builds an Ed25519 key from its 32 raw bytes.
    pub fn from_ed25519_bytes(raw: &[u8]) -> Result<PublicKey, KeyError> {
        let spki = SubjectPublicKeyInfoRef {
            algorithm: AlgorithmIdentifierRef {
                oid: ED25519,
                parameters: None,
            },
            subject_public_key: BitStringRef::from_bytes(raw)
                .map_err(der_err("subjectPublicKey"))?,
        };
        PublicKey::from_spki_der(&spki.to_der().map_err(der_err("SubjectPublicKeyInfo"))?)
    }

    /// Reads a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(spki: &[u8]) -> Result<PublicKey, KeyError> {
        let info =
            SubjectPublicKeyInfoRef::from_der(spki).map_err(der_err("SubjectPublicKeyInfo"))?;
        let raw = info.subject_public_key.as_bytes().ok_or(KeyError::Der {
            what: "subjectPublicKey",
            source: der::Tag::BitString.value_error().into(),
        })?;
        let oid = info.algorithm.oid.as_bytes();
        let params = info.algorithm.parameters;
        let (algorithm, rsa_bits) = if oid == OID_EC_PUBLIC_KEY {
            let curve = params
                .ok_or(KeyError::Der {
                    what: "EC parameters",
                    source: der::Tag::ObjectIdentifier.value_error().into(),
                })?
                .decode_as::<ObjectIdentifier>()
                .map_err(der_err("EC parameters"))?;
            let algorithm = match curve.as_bytes() {
                OID_P256 => KeyAlgorithm::EcdsaP256,
                OID_P384 => KeyAlgorithm::EcdsaP384,
                OID_P521 => KeyAlgorithm::EcdsaP521,
                _ => {
                    return Err(KeyError::Unsupported(format!(
                        "EC curve OID {}",
                        hex::encode(curve.as_bytes())
                    )));
                }
            };
            let coord = match algorithm {
                KeyAlgorithm::EcdsaP256 => 32,
                KeyAlgorithm::EcdsaP384 => 48,
                _ => 66,
            };
            if raw.len() != 1 + 2 * coord || raw[0] != 0x04 {
                return Err(KeyError::Invalid {
                    algorithm,
                    reason: "the point is not an uncompressed point of the curve's size",
                });
            }
            (algorithm, None)
        } else if oid == OID_ED25519 {
            if let Some(p) = params {
                return Err(KeyError::Der {
                    what: "Ed25519 parameters (must be absent)",
                    source: p.tag().unexpected_error(None).into(),
                });
            }
            if raw.len() != 32 {
                return Err(KeyError::Invalid {
                    algorithm: KeyAlgorithm::Ed25519,
                    reason: "an Ed25519 key is 32 bytes",
                });
            }
            // y ≥ 2^255 − 19 is a second encoding of a key with a small y: refuse it, so
            // one key has one identity.
            let top = raw[31] & 0x7f;
            if top == 0x7f && raw[1..31].iter().all(|&b| b == 0xff) && raw[0] >= 0xed {
                return Err(KeyError::Invalid {
                    algorithm: KeyAlgorithm::Ed25519,
                    reason: "the key is not canonically encoded",
                });
            }
            (KeyAlgorithm::Ed25519, None)
        } else if oid == OID_RSA {
            if let Some(p) = params.filter(|p| !p.is_null()) {
                return Err(KeyError::Der {
                    what: "RSA parameters (must be NULL)",
                    source: p.tag().unexpected_error(Some(der::Tag::Null)).into(),
                });
            }
            let bits = rsa_modulus_bits(raw)?;
            if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
                return Err(KeyError::RsaSize(bits));
            }
            (KeyAlgorithm::Rsa, Some(bits))
        } else {
            return Err(KeyError::Unsupported(format!(
                "algorithm OID {}",
                hex::encode(oid)
            )));
        };
        let verifiers = parse_verifiers(algorithm, raw)?;
        // One key, one identity: an RSA key whose AlgorithmIdentifier omits the NULL
        // parameters is the same key as the usual form, so it gets the usual DER (and so
        // the same key id, and counts once toward a threshold). Every other accepted
        // form is already the only DER of its key.
        let canonical;
        let spki = if algorithm == KeyAlgorithm::Rsa {
            canonical = rsa_spki(raw)?;
            canonical.as_slice()
        } else {
            spki
        };
        let spki_hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki);
        let key_id = hex::encode(spki_hash.as_ref());
        let sigstore_hint = super::b64::encode(spki_hash.as_ref());
        let pem_text = armor::encode("PUBLIC KEY", spki)?;
        let (intoto_key_id, sslib_key_id, hint_ids) =
            keyid::intoto_and_sslib_ids(algorithm, raw, &pem_text);
        Ok(PublicKey {
            algorithm,
            spki_der: spki.to_vec(),
            pem: pem_text,
            raw: raw.to_vec(),
            rsa_bits,
            key_id,
            intoto_key_id,
            sslib_key_id,
            sigstore_hint,
            hint_ids,
            verifiers,
        })
    }

    /// The algorithm, from the SPKI's AlgorithmIdentifier.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The RSA modulus size in bits (None for other algorithms).
    pub fn rsa_bits(&self) -> Option<usize> {
        self.rsa_bits
    }

    /// The stable key id: lowercase hex SHA-256 of the SubjectPublicKeyInfo DER (for
    /// RSA, of the form with NULL parameters, whichever form was read).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The in-toto key id as in-toto-golang and in-toto layouts compute it: SHA-256 of
    /// the canonical JSON of `{keyid_hash_algorithms: [sha256, sha512], keytype,
    /// keyval: {public}, scheme}`, with the default scheme of the key type
    /// (`rsassa-pss-sha256`, `ecdsa-sha2-nistp256/384`, `ed25519`).
    pub fn intoto_key_id(&self) -> &str {
        &self.intoto_key_id
    }

    /// The key id securesystemslib ≥ 0.26 computes by default (the same object without
    /// `keyid_hash_algorithms`, PEM with its final newline).
    pub fn securesystemslib_key_id(&self) -> &str {
        &self.sslib_key_id
    }

    /// The key hint Sigstore clients write: base64 of the SHA-256 of the SPKI DER.
    pub fn sigstore_key_hint(&self) -> String {
        self.sigstore_hint.clone()
    }

    /// Whether `keyid` (from an envelope) names this key in any of the id schemes above.
    /// Only ever a hint for which key to try first.
    pub fn answers_to(&self, keyid: &str) -> bool {
        self.key_id.eq_ignore_ascii_case(keyid)
            || self
                .hint_ids
                .iter()
                .any(|id| id.eq_ignore_ascii_case(keyid))
            || self.sigstore_hint == keyid
    }

    /// The SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The algorithm-specific key bytes (EC point, raw Ed25519 key, PKCS#1 RSAPublicKey).
    pub fn raw_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The key as PEM SubjectPublicKeyInfo.
    pub fn to_pem(&self) -> String {
        self.pem.clone()
    }

    /// Whether `sig` is a valid signature of `msg` under this key. ECDSA accepts ASN.1
    /// DER and fixed-width r‖s; RSA accepts PSS (salt = digest length, or maximal) and
    /// PKCS#1 v1.5, all with SHA-256.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.verifiers
            .iter()
            .any(|v| v.verify_sig(msg, sig).is_ok())
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id)
            .finish()
    }
}

/// A key the policy trusts, with an optional human name used in messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// A name such as `ci-builder`.
    pub name: Option<String>,
    /// The key.
    pub key: PublicKey,
}

impl TrustedKey {
    /// A trusted key with an optional name.
    pub fn new(name: Option<String>, key: PublicKey) -> Self {
        TrustedKey { name, key }
    }

    /// The name if there is one, else `key <first 12 hex of the key id>`.
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => format!("key {}", &self.key.key_id()[..12]),
        }
    }
}

fn parse_verifiers(algorithm: KeyAlgorithm, raw: &[u8]) -> Result<Vec<ParsedPublicKey>, KeyError> {
    let algs: &[&'static dyn signature::VerificationAlgorithm] = match algorithm {
        KeyAlgorithm::EcdsaP256 => &[
            &signature::ECDSA_P256_SHA256_ASN1,
            &signature::ECDSA_P256_SHA256_FIXED,
        ],
        KeyAlgorithm::EcdsaP384 => &[
            &signature::ECDSA_P384_SHA384_ASN1,
            &signature::ECDSA_P384_SHA384_FIXED,
        ],
        KeyAlgorithm::EcdsaP521 => &[
            &signature::ECDSA_P521_SHA512_ASN1,
            &signature::ECDSA_P521_SHA512_FIXED,
        ],
        KeyAlgorithm::Ed25519 => &[&signature::ED25519],
        KeyAlgorithm::Rsa => &[
            &signature::RSA_PSS_2048_8192_SHA256,
            &RSA_PSS_SHA256_MAX_SALT,
            &signature::RSA_PKCS1_2048_8192_SHA256,
        ],
    };
    algs.iter()
        .map(|alg| {
            ParsedPublicKey::new(*alg, raw).map_err(|_| KeyError::Invalid {
                algorithm,
                reason: "the crypto library rejected the key material",
            })
        })
        .collect()
}

/// Bit length of the modulus in a PKCS#1 RSAPublicKey (read with `pkcs1`, which
/// refuses negative and non-minimally encoded integers).
fn rsa_modulus_bits(pkcs1: &[u8]) -> Result<usize, KeyError> {
    let key = pkcs1::RsaPublicKey::<der::asn1::UintRef<'_>>::from_der(pkcs1)
        .map_err(der_err("RSAPublicKey"))?;
    let n = key.modulus.as_bytes();
    let first = n.first().copied().unwrap_or(0);
    Ok((n.len() * 8).saturating_sub(first.leading_zeros() as usize))
}

/// Wraps a PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo (`rsaEncryption`, NULL
/// parameters).
pub(crate) fn rsa_spki(pkcs1: &[u8]) -> Result<Vec<u8>, KeyError> {
    SubjectPublicKeyInfoRef {
        algorithm: AlgorithmIdentifierRef {
            oid: RSA_ENCRYPTION,
            parameters: Some(AnyRef::NULL),
        },
        subject_public_key: BitStringRef::from_bytes(pkcs1).map_err(der_err("RSAPublicKey"))?,
    }
    .to_der()
    .map_err(der_err("SubjectPublicKeyInfo"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A P-256 SPKI: 30 59 30 13 <AlgorithmIdentifier> 03 42 00 04 <point>.
    fn p256_spki() -> Vec<u8> {
        let key = crate::attest::SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        key.public_key().spki_der().to_vec()
    }

    #[test]
    fn spki_in_non_der_forms_is_refused() {
        let der = p256_spki();
        assert_eq!(&der[..2], &[0x30, 0x59]);
        let is_der_error =
            |bytes: &[u8]| matches!(PublicKey::from_spki_der(bytes), Err(KeyError::Der { .. }));
        // Indefinite length, a long form where the short one fits, trailing bytes.
        let mut indefinite = vec![0x30, 0x80];
        indefinite.extend_from_slice(&der[2..]);
        indefinite.extend_from_slice(&[0, 0]);
        assert!(is_der_error(&indefinite));
        let mut long_form = vec![0x30, 0x81, 0x59];
        long_form.extend_from_slice(&der[2..]);
        assert!(is_der_error(&long_form));
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(is_der_error(&trailing));
        // A BIT STRING with unused bits.
        let mut unused = der.clone();
        let bits = 4 + 0x13;
        assert_eq!(&der[bits..bits + 3], &[0x03, 0x42, 0x00]);
        unused[bits + 2] = 1;
        assert!(is_der_error(&unused));
        assert!(PublicKey::from_spki_der(&der).is_ok());
    }
}
