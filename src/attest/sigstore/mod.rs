//! Keyless (and key-based) verification of Sigstore bundles, offline, against a
//! trusted root, following the Sigstore client specification.
//!
//! ```text
//! verify_bundle(bundle JSON, artifact?, Verifier::Identity(policy) | Verifier::Key(key), root)
//!   1. parse the bundle (v0.1–v0.3; DSSE or message signature; certificate or key)
//!   2. signing times: every RFC 3161 timestamp verified against a TSA of the root;
//!      every log entry's signed entry timestamp (its integrated time), inclusion proof
//!      and checkpoint verified against a log of the root; its body must describe this
//!      bundle's signature, signer and content
//!   3. certificate: a code-signing leaf valid at every signing time, issued by a Fulcio
//!      CA of the root trusted then, with an SCT from a CT log of the root, whose
//!      identity (SAN, OIDC issuer, Fulcio extensions) the policy accepts
//!   4. the signature over the DSSE PAE or the artifact, and the artifact against the
//!      content (statement subject or message digest)
//! ```
//!
//! Nothing is fetched: no online revocation, no TUF refresh; the root is what the
//! caller passes ([`TrustedRoot::public_good`] by default).

mod bundle;
mod chain;
mod cosign_legacy;
mod error;
mod identity;
mod rekor_body;
mod rfc3161;
mod sct;
mod sigalg;
#[doc(hidden)]
pub mod testing;
mod time;
mod tlog;
mod trusted_root;
mod x509;

pub use cosign_legacy::{COSIGN_BUNDLE, COSIGN_CERTIFICATE, COSIGN_CHAIN, legacy_cosign_bundle};
pub use error::{Check, SigstoreError};
pub use identity::{CertificateIdentity, IdentityPolicy, Matcher, extension_names};
pub use trusted_root::TrustedRoot;

use crate::attest::{INTOTO_PAYLOAD_TYPE, PublicKey, Statement};
use crate::digest::{Algorithm, Digest};
use bundle::{Content, Material, SigstoreBundle};
use error::fail;
use rekor_body::Signer;
use sigalg::{Hash, VerifyKey, sha256};
use x509::Certificate;

/// What was signed, as the verifier knows it.
#[derive(Debug, Clone, Copy)]
pub enum Artifact<'a> {
    /// The artifact's bytes.
    Bytes(&'a [u8]),
    /// The artifact's SHA-256 digest.
    Sha256([u8; 32]),
}

impl Artifact<'_> {
    fn sha256(&self) -> [u8; 32] {
        match self {
            Artifact::Bytes(b) => sha256(b),
            Artifact::Sha256(d) => *d,
        }
    }
}

/// Whom the verifier trusts to have signed.
#[derive(Debug, Clone)]
pub enum Verifier<'a> {
    /// A Fulcio certificate whose identity satisfies the policy (keyless).
    Identity(&'a IdentityPolicy),
    /// A Fulcio certificate whose identity satisfies at least one of the policies.
    AnyIdentity(&'a [IdentityPolicy]),
    /// A known public key (the bundle's material must be a public key).
    Key(&'a PublicKey),
}

/// Where a trusted signing time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// A verified RFC 3161 timestamp.
    Rfc3161,
    /// A transparency log's integrated time under a verified signed entry timestamp.
    TransparencyLog,
}

/// A verified bundle.
#[derive(Debug, Clone)]
pub struct VerifiedBundle {
    /// For DSSE content: the payload type and the payload (now authenticated).
    pub dsse: Option<(String, Vec<u8>)>,
    /// For keyless bundles: the certificate's identity.
    pub identity: Option<CertificateIdentity>,
    /// For keyless bundles: the index of the first policy the identity satisfied.
    pub matched_policy: Option<usize>,
    /// For keyless bundles: the hex SHA-256 of the signing certificate's public key.
    pub key_id: String,
    /// Every verified signing time (Unix seconds) and its source.
    pub signing_times: Vec<(TimeSource, i64)>,
    /// How many log entries verified.
    pub log_entries: usize,
    /// How many of them with an inclusion proof and a signed checkpoint.
    pub inclusion_proofs: usize,
}

/// Verifies a Sigstore bundle (JSON bytes). With an `artifact`, the content must be
/// about it (a DSSE in-toto statement must name its SHA-256 as a subject; a message
/// signature must sign it); without one, a DSSE bundle is verified alone and the
/// caller matches the payload (a message signature always needs the artifact).
pub fn verify_bundle(
    bundle_json: &[u8],
    artifact: Option<Artifact<'_>>,
    verifier: &Verifier<'_>,
    root: &TrustedRoot,
) -> Result<VerifiedBundle, SigstoreError> {
    let bundle = SigstoreBundle::from_json(bundle_json)?;
    verify_parsed(&bundle, artifact, verifier, root)
}

/// Verifies a bundle given as a JSON value (see [`verify_bundle`]).
pub fn verify_bundle_value(
    bundle: &serde_json::Value,
    artifact: Option<Artifact<'_>>,
    verifier: &Verifier<'_>,
    root: &TrustedRoot,
) -> Result<VerifiedBundle, SigstoreError> {
    let bundle = SigstoreBundle::from_value(bundle)?;
    verify_parsed(&bundle, artifact, verifier, root)
}

struct SignerMaterial {
    key: VerifyKey,
    leaf: Option<(Certificate, Vec<Certificate>)>,
}

fn signer_material(
    bundle: &SigstoreBundle,
    verifier: &Verifier<'_>,
) -> Result<SignerMaterial, SigstoreError> {
    match (&bundle.material, verifier) {
        (Material::Certificates(certs), Verifier::Identity(_) | Verifier::AnyIdentity(_)) => {
            let leaf = Certificate::from_der(&certs[0])?;
            let extra = certs[1..]
                .iter()
                .map(|c| Certificate::from_der(c))
                .collect::<Result<Vec<_>, _>>()?;
            let key = VerifyKey::from_spki(&leaf.spki)
                .map_err(|e| SigstoreError::new(Check::Certificate, e))?;
            Ok(SignerMaterial {
                key,
                leaf: Some((leaf, extra)),
            })
        }
        (Material::PublicKey, Verifier::Key(key)) => Ok(SignerMaterial {
            key: VerifyKey::from_spki(key.spki_der())
                .map_err(|e| SigstoreError::new(Check::Signature, e))?,
            leaf: None,
        }),
        (Material::PublicKey, Verifier::Identity(_) | Verifier::AnyIdentity(_)) => fail(
            Check::Certificate,
            "the bundle is signed with a public key, not a certificate; verify it with a key",
        ),
        (Material::Certificates(_), Verifier::Key(_)) => fail(
            Check::Signature,
            "the bundle is signed with a certificate; verify it with an identity, not a key",
        ),
    }
}

struct LogResult {
    times: Vec<(TimeSource, i64)>,
    entries: usize,
    proofs: usize,
}

fn verify_logs(
    bundle: &SigstoreBundle,
    signer: &Signer<'_>,
    artifact_sha256: Option<&[u8]>,
    root: &TrustedRoot,
    tsa_times: &[i64],
) -> Result<LogResult, SigstoreError> {
    if bundle.tlog_entries.is_empty() {
        return fail(Check::Tlog, "the bundle has no transparency-log entry");
    }
    let mut out = LogResult {
        times: Vec::new(),
        entries: 0,
        proofs: 0,
    };
    for entry in &bundle.tlog_entries {
        if entry.log_index < 0 {
            return fail(Check::Tlog, "a log entry has a negative log index");
        }
        let Some(log) = root.tlog(&entry.log_id) else {
            return fail(
                Check::Tlog,
                "the log entry is not from a transparency log of the trusted root",
            );
        };
        rekor_body::check_body(entry, &bundle.content, signer, artifact_sha256)?;
        match &entry.set {
            Some(set) => {
                tlog::verify_set(entry, log, set)?;
                if !log.validity.contains(entry.integrated_time) {
                    return fail(
                        Check::SignedEntryTimestamp,
                        "the entry's integrated time is outside the log key's validity",
                    );
                }
                out.times
                    .push((TimeSource::TransparencyLog, entry.integrated_time));
            }
            None if bundle.minor_version == 1 => {
                return fail(
                    Check::SignedEntryTimestamp,
                    "a v0.1 bundle's log entry needs a signed entry timestamp",
                );
            }
            None => {
                if let Some(t) = tsa_times.iter().find(|&&t| !log.validity.contains(t)) {
                    return fail(
                        Check::Tlog,
                        format!("signed at {t}, outside the log key's validity"),
                    );
                }
            }
        }
        match &entry.proof {
            Some(proof) if proof.checkpoint.is_some() || bundle.minor_version > 1 => {
                tlog::verify_inclusion(entry, proof, log)?;
                out.proofs += 1;
            }
            Some(_) => {}
            None if bundle.minor_version > 1 => {
                return fail(
                    Check::InclusionProof,
                    "a v0.2+ bundle's log entry needs an inclusion proof",
                );
            }
            None => {}
        }
        out.entries += 1;
    }
    Ok(out)
}

fn check_artifact_in_statement(
    payload_type: &str,
    payload: &[u8],
    digest: &[u8; 32],
) -> Result<(), SigstoreError> {
    if payload_type != INTOTO_PAYLOAD_TYPE {
        return fail(
            Check::Artifact,
            format!("the envelope's payload type is {payload_type:?}, not an in-toto statement"),
        );
    }
    let statement = Statement::parse(payload)
        .map_err(|e| SigstoreError::new(Check::Artifact, format!("the payload: {e}")))?;
    let want = Digest::new(Algorithm::Sha256, &hex::encode(digest))
        .map_err(|e| SigstoreError::new(Check::Artifact, e.to_string()))?;
    if !statement.matches_digest(&want) {
        return fail(
            Check::Artifact,
            format!(
                "no subject of the statement has digest sha256:{}",
                want.hex()
            ),
        );
    }
    Ok(())
}

fn verify_parsed(
    bundle: &SigstoreBundle,
    artifact: Option<Artifact<'_>>,
    verifier: &Verifier<'_>,
    root: &TrustedRoot,
) -> Result<VerifiedBundle, SigstoreError> {
    let signature = bundle.signature_bytes()?;
    let material = signer_material(bundle, verifier)?;
    let artifact_digest = artifact.map(|a| a.sha256());
    if let Content::Message { digest, .. } = &bundle.content {
        let Some(want) = artifact_digest else {
            return fail(
                Check::Artifact,
                "a message signature needs the artifact or its digest",
            );
        };
        if let Some((alg, hint)) = digest
            && alg == "SHA2_256"
            && hint.as_slice() != want.as_slice()
        {
            return fail(
                Check::Artifact,
                "the bundle's message digest is not the artifact's",
            );
        }
    }
    // 1. Signing times from timestamp authorities.
    let mut tsa_times = Vec::with_capacity(bundle.timestamps.len());
    for token in &bundle.timestamps {
        tsa_times.push(rfc3161::verify_timestamp(token, signature, root)?);
    }
    // 2. Log entries: body, SET, inclusion proof.
    let signer = match &material.leaf {
        Some((leaf, _)) => Signer::Certificate(&leaf.der),
        None => Signer::Key(&material.key.spki),
    };
    let logs = verify_logs(
        bundle,
        &signer,
        artifact_digest.as_ref().map(|d| d.as_slice()),
        root,
        &tsa_times,
    )?;
    let mut signing_times: Vec<(TimeSource, i64)> = tsa_times
        .iter()
        .map(|&t| (TimeSource::Rfc3161, t))
        .collect();
    signing_times.extend(logs.times);
    if signing_times.is_empty() {
        return fail(
            Check::Timestamp,
            "no verified signing time: neither an RFC 3161 timestamp nor a signed entry timestamp",
        );
    }
    let times: Vec<i64> = signing_times.iter().map(|(_, t)| *t).collect();
    // 3. The certificate: leaf, chain, SCT, identity.
    let policies: &[IdentityPolicy] = match verifier {
        Verifier::Identity(policy) => std::slice::from_ref(*policy),
        Verifier::AnyIdentity(policies) => policies,
        Verifier::Key(_) => &[],
    };
    let (identity, matched_policy) = match &material.leaf {
        Some((leaf, extra)) => {
            chain::check_leaf(leaf, &times)?;
            let issuer = chain::verify_chain(leaf, extra, root, &times)?;
            sct::verify_scts(leaf, issuer, root)?;
            let id = CertificateIdentity::from_certificate(leaf)?;
            let mut first_error = None;
            let mut matched = None;
            for (i, policy) in policies.iter().enumerate() {
                match policy.check(&id) {
                    Ok(()) => {
                        matched = Some(i);
                        break;
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            match (matched, first_error) {
                (Some(i), _) => (Some(id), Some(i)),
                (None, Some(e)) if policies.len() == 1 => return Err(e),
                (None, _) => {
                    return fail(
                        Check::Identity,
                        format!(
                            "the certificate's identity {:?} (issuer {:?}) matches none of the {} trusted identities",
                            id.sans,
                            id.issuer.as_deref().unwrap_or("(none)"),
                            policies.len()
                        ),
                    );
                }
            }
        }
        None => (None, None),
    };
    // 4. The signature, and the artifact against the content.
    let dsse = match &bundle.content {
        Content::Dsse(env) => {
            if !material
                .key
                .verify(material.key.default_hash(), &env.pae(), signature)
            {
                return fail(Check::Signature, "the DSSE signature does not verify");
            }
            if let Some(d) = &artifact_digest {
                check_artifact_in_statement(&env.payload_type, &env.payload, d)?;
            }
            Some((env.payload_type.clone(), env.payload.clone()))
        }
        Content::Message { signature, .. } => {
            let ok = match artifact {
                Some(Artifact::Bytes(b)) => {
                    material
                        .key
                        .verify(material.key.default_hash(), b, signature)
                }
                Some(Artifact::Sha256(d)) => {
                    material.key.verify_prehashed(Hash::Sha256, &d, signature)
                }
                None => false,
            };
            if !ok {
                return fail(
                    Check::Signature,
                    "the message signature does not verify over the artifact",
                );
            }
            None
        }
    };
    Ok(VerifiedBundle {
        dsse,
        identity,
        matched_policy,
        key_id: hex::encode(sha256(&material.key.spki)),
        signing_times,
        log_entries: logs.entries,
        inclusion_proofs: logs.proofs,
    })
}
