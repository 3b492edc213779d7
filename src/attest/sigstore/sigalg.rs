//! Public keys from SubjectPublicKeyInfo and signature checks with an explicit hash,
//! as X.509, CMS, SCTs and Sigstore message signatures need them.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self as sig, UnparsedPublicKey, VerificationAlgorithm};
use der::Decode;
use der::asn1::ObjectIdentifier;
use spki::SubjectPublicKeyInfoRef;

use crate::attest::oid::{OID_EC_PUBLIC_KEY, OID_ED25519, OID_P256, OID_P384, OID_P521, OID_RSA};

const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const OID_ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
const OID_RSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
const OID_RSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
const OID_RSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const OID_SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
const OID_SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];

/// A hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Hash {
    /// The hash named by a DigestAlgorithmIdentifier OID.
    pub(crate) fn from_oid(oid: &[u8]) -> Option<Hash> {
        match oid {
            OID_SHA256 => Some(Hash::Sha256),
            OID_SHA384 => Some(Hash::Sha384),
            OID_SHA512 => Some(Hash::Sha512),
            _ => None,
        }
    }

    fn algorithm(self) -> &'static digest::Algorithm {
        match self {
            Hash::Sha256 => &digest::SHA256,
            Hash::Sha384 => &digest::SHA384,
            Hash::Sha512 => &digest::SHA512,
        }
    }

    /// The digest of `data`.
    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.algorithm(), data).as_ref().to_vec()
    }
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

/// The key types Sigstore uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// ECDSA P-256.
    P256,
    /// ECDSA P-384.
    P384,
    /// ECDSA P-521.
    P521,
    /// Ed25519.
    Ed25519,
    /// RSA.
    Rsa,
}

/// A public key ready to check signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VerifyKey {
    /// The key type.
    pub(crate) kind: KeyKind,
    /// The key bits (EC point, raw Ed25519 key, PKCS#1 RSAPublicKey).
    raw: Vec<u8>,
    /// The SubjectPublicKeyInfo DER it was read from.
    pub(crate) spki: Vec<u8>,
}

impl VerifyKey {
    /// Reads a DER SubjectPublicKeyInfo.
    pub(crate) fn from_spki(spki: &[u8]) -> Result<VerifyKey, String> {
        let info = SubjectPublicKeyInfoRef::from_der(spki).map_err(|e| format!("SPKI: {e}"))?;
        let raw = info
            .subject_public_key
            .as_bytes()
            .ok_or("SPKI key bits have unused bits")?;
        let kind = match info.algorithm.oid.as_bytes() {
            OID_EC_PUBLIC_KEY => {
                let curve = info
                    .algorithm
                    .parameters
                    .ok_or("SPKI: EC key without a named curve")?
                    .decode_as::<ObjectIdentifier>()
                    .map_err(|e| format!("SPKI: {e}"))?;
                match curve.as_bytes() {
                    OID_P256 => KeyKind::P256,
                    OID_P384 => KeyKind::P384,
                    OID_P521 => KeyKind::P521,
                    other => return Err(format!("unsupported EC curve {}", hex::encode(other))),
                }
            }
            OID_ED25519 => KeyKind::Ed25519,
            OID_RSA => KeyKind::Rsa,
            other => return Err(format!("unsupported key algorithm {}", hex::encode(other))),
        };
        Ok(VerifyKey {
            kind,
            raw: raw.to_vec(),
            spki: spki.to_vec(),
        })
    }

    /// The hash Sigstore pairs with this key for message signatures.
    pub(crate) fn default_hash(&self) -> Hash {
        match self.kind {
            KeyKind::P384 => Hash::Sha384,
            KeyKind::P521 => Hash::Sha512,
            _ => Hash::Sha256,
        }
    }

    fn algorithms(&self, hash: Hash) -> &'static [&'static dyn VerificationAlgorithm] {
        match (self.kind, hash) {
            (KeyKind::P256, Hash::Sha256) => &[&sig::ECDSA_P256_SHA256_ASN1],
            (KeyKind::P256, Hash::Sha384) => &[&sig::ECDSA_P256_SHA384_ASN1],
            (KeyKind::P256, Hash::Sha512) => &[&sig::ECDSA_P256_SHA512_ASN1],
            (KeyKind::P384, Hash::Sha256) => &[&sig::ECDSA_P384_SHA256_ASN1],
            (KeyKind::P384, Hash::Sha384) => &[&sig::ECDSA_P384_SHA384_ASN1],
            (KeyKind::P384, Hash::Sha512) => &[&sig::ECDSA_P384_SHA512_ASN1],
            (KeyKind::P521, Hash::Sha256) => &[&sig::ECDSA_P521_SHA256_ASN1],
            (KeyKind::P521, Hash::Sha384) => &[&sig::ECDSA_P521_SHA384_ASN1],
            (KeyKind::P521, Hash::Sha512) => &[&sig::ECDSA_P521_SHA512_ASN1],
            (KeyKind::Ed25519, _) => &[&sig::ED25519],
            (KeyKind::Rsa, Hash::Sha256) => &[
                &sig::RSA_PKCS1_2048_8192_SHA256,
                &sig::RSA_PSS_2048_8192_SHA256,
            ],
            (KeyKind::Rsa, Hash::Sha384) => &[
                &sig::RSA_PKCS1_2048_8192_SHA384,
                &sig::RSA_PSS_2048_8192_SHA384,
            ],
            (KeyKind::Rsa, Hash::Sha512) => &[
                &sig::RSA_PKCS1_2048_8192_SHA512,
                &sig::RSA_PSS_2048_8192_SHA512,
            ],
        }
    }

    /// Whether `signature` signs `msg` with `hash` (ignored for Ed25519).
    pub(crate) fn verify(&self, hash: Hash, msg: &[u8], signature: &[u8]) -> bool {
        self.algorithms(hash).iter().any(|alg| {
            UnparsedPublicKey::new(*alg, &self.raw)
                .verify(msg, signature)
                .is_ok()
        })
    }

    /// Whether `signature` signs the message whose `hash` digest is `digest` (ECDSA and
    /// RSA only: Ed25519 signs whole messages).
    pub(crate) fn verify_prehashed(&self, hash: Hash, digest: &[u8], signature: &[u8]) -> bool {
        if self.kind == KeyKind::Ed25519 {
            return false;
        }
        let Ok(d) = digest::Digest::import_less_safe(digest, hash.algorithm()) else {
            return false;
        };
        self.algorithms(hash).iter().any(|alg| {
            UnparsedPublicKey::new(*alg, &self.raw)
                .verify_digest(&d, signature)
                .is_ok()
        })
    }

    /// Whether `signature` signs `msg` under the X.509 / CMS `signatureAlgorithm` OID
    /// (ECDSA or RSA PKCS#1 with SHA-2, or Ed25519), which must fit the key type.
    pub(crate) fn verify_with_oid(&self, sig_alg: &[u8], msg: &[u8], signature: &[u8]) -> bool {
        let ec = matches!(self.kind, KeyKind::P256 | KeyKind::P384 | KeyKind::P521);
        let hash = match sig_alg {
            OID_ECDSA_SHA256 if ec => Hash::Sha256,
            OID_ECDSA_SHA384 if ec => Hash::Sha384,
            OID_ECDSA_SHA512 if ec => Hash::Sha512,
            OID_RSA_SHA256 if self.kind == KeyKind::Rsa => Hash::Sha256,
            OID_RSA_SHA384 if self.kind == KeyKind::Rsa => Hash::Sha384,
            OID_RSA_SHA512 if self.kind == KeyKind::Rsa => Hash::Sha512,
            OID_ED25519 if self.kind == KeyKind::Ed25519 => Hash::Sha512,
            _ => return false,
        };
        self.verify(hash, msg, signature)
    }
}

/// The hash of a CMS/X.509 `signatureAlgorithm` OID, if it is one custody reads.
pub(crate) fn signature_oid_hash(sig_alg: &[u8]) -> Option<Hash> {
    match sig_alg {
        OID_ECDSA_SHA256 | OID_RSA_SHA256 => Some(Hash::Sha256),
        OID_ECDSA_SHA384 | OID_RSA_SHA384 => Some(Hash::Sha384),
        OID_ECDSA_SHA512 | OID_RSA_SHA512 => Some(Hash::Sha512),
        _ => None,
    }
}
