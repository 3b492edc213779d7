//! A private Sigstore for tests and benchmarks: a Fulcio-like CA (root and
//! intermediate), a CT log, a Rekor-like log, and keyless DSSE bundles they vouch for,
//! with switches that break exactly one check. Not for production use.

use super::sigalg::sha256;
use crate::attest::{armor, b64, canonical_json, pae};
use der::Encode;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData as _, SanType,
    SigningKey as _,
};
use serde_json::{Value, json};

/// 2024-01-01T00:00:00Z: certificates of the fixture are issued then.
pub const ISSUED_AT: i64 = 1_704_067_200;
const LOG_ORIGIN: &str = "custody-test-log";
const FULCIO_ISSUER_V2: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 8];
const SCT_LIST: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2];

/// What the signing certificate and its evidence look like; each switch breaks one check.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// The SAN (a URI, or an email when it has an `@` and no scheme).
    pub subject: String,
    /// The OIDC issuer (extension 1.3.6.1.4.1.57264.1.8).
    pub issuer: String,
    /// Further Fulcio extensions: (last arc under 1.3.6.1.4.1.57264.1, value).
    pub extensions: Vec<(u64, String)>,
    /// The log integrates the entry this many seconds after issuance (600 s validity).
    pub signed_after_secs: i64,
    /// The leaf is issued by a CA that is not in the trusted root.
    pub unknown_ca: bool,
    /// One hash of the inclusion proof is corrupted.
    pub broken_inclusion_proof: bool,
    /// The log entry records another envelope's payload.
    pub entry_for_other_envelope: bool,
    /// The DSSE signature is over other bytes (the log entry records it faithfully).
    pub bad_dsse_signature: bool,
    /// The SCT's signature is corrupted.
    pub bad_sct: bool,
}

impl Leaf {
    /// A GitHub Actions workflow identity of `repo` (`owner/name`) on `refs/heads/main`.
    pub fn github_workflow(repo: &str, workflow: &str) -> Leaf {
        Leaf {
            subject: format!(
                "https://github.com/{repo}/.github/workflows/{workflow}@refs/heads/main"
            ),
            issuer: "https://token.actions.githubusercontent.com".to_owned(),
            extensions: vec![
                (12, format!("https://github.com/{repo}")),
                (14, "refs/heads/main".to_owned()),
                (20, "push".to_owned()),
                (11, "github-hosted".to_owned()),
            ],
            signed_after_secs: 60,
            unknown_ca: false,
            broken_inclusion_proof: false,
            entry_for_other_envelope: false,
            bad_dsse_signature: false,
            bad_sct: false,
        }
    }
}

fn e<E: std::fmt::Display>(err: E) -> String {
    err.to_string()
}

fn utf8_der(s: &str) -> Result<Vec<u8>, String> {
    der::asn1::Utf8StringRef::new(s)
        .and_then(|u| u.to_der())
        .map_err(e)
}

struct Ca {
    params: CertificateParams,
    key: KeyPair,
    der: Vec<u8>,
}

fn ca(name: &str, parent: Option<&Ca>) -> Result<Ca, String> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(e)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "custody test");
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let cert = match parent {
        None => params.self_signed(&key).map_err(e)?,
        Some(p) => params
            .signed_by(&key, &Issuer::from_params(&p.params, &p.key))
            .map_err(e)?,
    };
    Ok(Ca {
        der: cert.der().to_vec(),
        params,
        key,
    })
}

fn subtree_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let mut k = leaves.len().next_power_of_two() / 2;
    if k == leaves.len() {
        k /= 2;
    }
    let mut buf = vec![1u8];
    buf.extend_from_slice(&subtree_root(&leaves[..k]));
    buf.extend_from_slice(&subtree_root(&leaves[k..]));
    sha256(&buf)
}

fn audit_path(leaves: &[[u8; 32]], m: usize) -> Vec<[u8; 32]> {
    if leaves.len() == 1 {
        return Vec::new();
    }
    let mut k = leaves.len().next_power_of_two() / 2;
    if k == leaves.len() {
        k /= 2;
    }
    let (mut path, sibling) = if m < k {
        (audit_path(&leaves[..k], m), subtree_root(&leaves[k..]))
    } else {
        (audit_path(&leaves[k..], m - k), subtree_root(&leaves[..k]))
    };
    path.push(sibling);
    path
}

/// A private Sigstore instance.
pub struct TestSigstore {
    root: Ca,
    intermediate: Ca,
    ct_key: KeyPair,
    log_key: KeyPair,
}

impl TestSigstore {
    /// Creates fresh keys for every party.
    pub fn new() -> Result<TestSigstore, String> {
        let root = ca("custody test fulcio root", None)?;
        let intermediate = ca("custody test fulcio intermediate", Some(&root))?;
        Ok(TestSigstore {
            root,
            intermediate,
            ct_key: KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(e)?,
            log_key: KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(e)?,
        })
    }

    fn log_id(key: &KeyPair) -> [u8; 32] {
        sha256(&key.subject_public_key_info())
    }

    /// The instance's `trusted_root.json`.
    pub fn trusted_root_json(&self) -> String {
        let log = |key: &KeyPair, url: &str| {
            json!({
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64::encode(&key.subject_public_key_info()),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": { "start": "2020-01-01T00:00:00Z" }
                },
                "logId": { "keyId": b64::encode(&Self::log_id(key)) }
            })
        };
        json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log(&self.log_key, "https://rekor.custody.test")],
            "certificateAuthorities": [{
                "subject": { "organization": "custody test", "commonName": "fulcio" },
                "uri": "https://fulcio.custody.test",
                "certChain": { "certificates": [
                    { "rawBytes": b64::encode(&self.intermediate.der) },
                    { "rawBytes": b64::encode(&self.root.der) }
                ]},
                "validFor": { "start": "2020-01-01T00:00:00Z" }
            }],
            "ctlogs": [log(&self.ct_key, "https://ctfe.custody.test")],
            "timestampAuthorities": []
        })
        .to_string()
    }

    fn leaf_cert(&self, leaf: &Leaf, key: &KeyPair) -> Result<Vec<u8>, String> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
        params.distinguished_name = DistinguishedName::new();
        let san = if leaf.subject.contains('@') && !leaf.subject.contains("://") {
            SanType::Rfc822Name(leaf.subject.clone().try_into().map_err(e)?)
        } else {
            SanType::URI(leaf.subject.clone().try_into().map_err(e)?)
        };
        params.subject_alt_names = vec![san];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.serial_number = Some(rcgen::SerialNumber::from(0x1234_5678_u64));
        // ISSUED_AT is 2024-01-01T00:00:00Z.
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2024, 1, 1) + std::time::Duration::from_secs(600);
        params.custom_extensions = vec![CustomExtension::from_oid_content(
            FULCIO_ISSUER_V2,
            utf8_der(&leaf.issuer)?,
        )];
        for (arc, value) in &leaf.extensions {
            let oid = [1, 3, 6, 1, 4, 1, 57264, 1, *arc];
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(&oid, utf8_der(value)?));
        }
        let other_ca;
        let issuer_ca = if leaf.unknown_ca {
            other_ca = ca("custody test fulcio intermediate", Some(&self.root))?;
            &other_ca
        } else {
            &self.intermediate
        };
        let issuer = Issuer::from_params(&issuer_ca.params, &issuer_ca.key);
        // The precertificate: everything but the SCT list, which signs it.
        let precert = params.signed_by(key, &issuer).map_err(e)?;
        let parsed = super::x509::Certificate::from_der(precert.der()).map_err(e)?;
        let tbs = parsed.precert_tbs().map_err(e)?;
        let issuer_spki = super::x509::Certificate::from_der(&issuer_ca.der)
            .map_err(e)?
            .spki;
        let timestamp_ms = (ISSUED_AT as u64) * 1000;
        let mut signed = vec![0u8, 0];
        signed.extend_from_slice(&timestamp_ms.to_be_bytes());
        signed.extend_from_slice(&[0, 1]);
        signed.extend_from_slice(&sha256(&issuer_spki));
        signed.extend_from_slice(&(tbs.len() as u32).to_be_bytes()[1..]);
        signed.extend_from_slice(&tbs);
        signed.extend_from_slice(&[0, 0]);
        let mut sig = self.ct_key.sign(&signed).map_err(e)?;
        if leaf.bad_sct {
            let last = sig.len() - 1;
            sig[last] ^= 1;
        }
        let mut sct = vec![0u8];
        sct.extend_from_slice(&Self::log_id(&self.ct_key));
        sct.extend_from_slice(&timestamp_ms.to_be_bytes());
        sct.extend_from_slice(&[0, 0, 4, 3]);
        sct.extend_from_slice(&(sig.len() as u16).to_be_bytes());
        sct.extend_from_slice(&sig);
        let mut list = ((sct.len() + 2) as u16).to_be_bytes().to_vec();
        list.extend_from_slice(&(sct.len() as u16).to_be_bytes());
        list.extend_from_slice(&sct);
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                SCT_LIST,
                der::asn1::OctetString::new(list)
                    .and_then(|o| o.to_der())
                    .map_err(e)?,
            ));
        Ok(params.signed_by(key, &issuer).map_err(e)?.der().to_vec())
    }

    /// A v0.3 bundle holding a DSSE envelope of `payload` signed keyless by `leaf`,
    /// logged with a signed entry timestamp and an inclusion proof.
    pub fn dsse_bundle(
        &self,
        payload_type: &str,
        payload: &[u8],
        leaf: &Leaf,
    ) -> Result<String, String> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(e)?;
        let cert = self.leaf_cert(leaf, &key)?;
        let signed_pae = if leaf.bad_dsse_signature {
            pae(payload_type, b"something else")
        } else {
            pae(payload_type, payload)
        };
        let sig = key.sign(&signed_pae).map_err(e)?;
        let logged_payload: &[u8] = if leaf.entry_for_other_envelope {
            b"another envelope"
        } else {
            payload
        };
        let envelope = json!({
            "payload": b64::encode(payload),
            "payloadType": payload_type,
            "signatures": [{ "sig": b64::encode(&sig) }]
        });
        let body = json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": { "algorithm": "sha256", "value": hex::encode(sha256(envelope.to_string().as_bytes())) },
                "payloadHash": { "algorithm": "sha256", "value": hex::encode(sha256(logged_payload)) },
                "signatures": [{
                    "signature": b64::encode(&sig),
                    "verifier": b64::encode(armor::encode("CERTIFICATE", &cert).map_err(e)?.as_bytes())
                }]
            }
        });
        let body = canonical_json(&body).map_err(e)?;
        let body_b64 = b64::encode(&body);
        let integrated_time = ISSUED_AT + leaf.signed_after_secs;
        let log_id = Self::log_id(&self.log_key);
        let (index, size) = (2usize, 5usize);
        let mut leaves: Vec<[u8; 32]> = (0..size)
            .map(|i| super::tlog::leaf_hash(format!("other entry {i}").as_bytes()))
            .collect();
        leaves[index] = super::tlog::leaf_hash(&body);
        let root_hash = subtree_root(&leaves);
        let mut hashes = audit_path(&leaves, index);
        if leaf.broken_inclusion_proof {
            hashes[0][0] ^= 1;
        }
        let note = format!("{LOG_ORIGIN}\n{size}\n{}\n", b64::encode(&root_hash));
        let mut note_sig = log_id[..4].to_vec();
        note_sig.extend(self.log_key.sign(note.as_bytes()).map_err(e)?);
        let checkpoint = format!("{note}\n\u{2014} {LOG_ORIGIN} {}\n", b64::encode(&note_sig));
        let set_payload = json!({
            "body": body_b64,
            "integratedTime": integrated_time,
            "logID": hex::encode(log_id),
            "logIndex": index,
        });
        let set = self
            .log_key
            .sign(&canonical_json(&set_payload).map_err(e)?)
            .map_err(e)?;
        let bundle: Value = json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": { "rawBytes": b64::encode(&cert) },
                "tlogEntries": [{
                    "logIndex": index.to_string(),
                    "logId": { "keyId": b64::encode(&log_id) },
                    "kindVersion": { "kind": "dsse", "version": "0.0.1" },
                    "integratedTime": integrated_time.to_string(),
                    "inclusionPromise": { "signedEntryTimestamp": b64::encode(&set) },
                    "inclusionProof": {
                        "logIndex": index.to_string(),
                        "rootHash": b64::encode(&root_hash),
                        "treeSize": size.to_string(),
                        "hashes": hashes.iter().map(|h| b64::encode(h)).collect::<Vec<_>>(),
                        "checkpoint": { "envelope": checkpoint }
                    },
                    "canonicalizedBody": body_b64
                }],
                "timestampVerificationData": {}
            },
            "dsseEnvelope": envelope
        });
        Ok(bundle.to_string())
    }
}

/// The legacy cosign layout of a bundle made by [`TestSigstore::dsse_bundle`]: the DSSE
/// envelope (the layer) and the annotations `cosign attest` puts beside it.
pub fn to_legacy_cosign(
    bundle_json: &str,
) -> Result<(Vec<u8>, std::collections::BTreeMap<String, String>), String> {
    let b: Value = serde_json::from_str(bundle_json).map_err(e)?;
    let cert = b
        .pointer("/verificationMaterial/certificate/rawBytes")
        .and_then(Value::as_str)
        .and_then(|s| b64::decode(s).ok())
        .ok_or("no certificate")?;
    let entry = b
        .pointer("/verificationMaterial/tlogEntries/0")
        .ok_or("no tlog entry")?;
    let num = |k: &str| {
        entry
            .get(k)
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or_default()
    };
    let log_id = entry
        .pointer("/logId/keyId")
        .and_then(Value::as_str)
        .and_then(|s| b64::decode(s).ok())
        .ok_or("no log id")?;
    let rekor = json!({
        "SignedEntryTimestamp": entry.pointer("/inclusionPromise/signedEntryTimestamp"),
        "Payload": {
            "body": entry.get("canonicalizedBody"),
            "integratedTime": num("integratedTime"),
            "logIndex": num("logIndex"),
            "logID": hex::encode(log_id),
        }
    });
    let annotations = std::collections::BTreeMap::from([
        (
            super::COSIGN_CERTIFICATE.to_owned(),
            armor::encode("CERTIFICATE", &cert).map_err(e)?,
        ),
        (super::COSIGN_BUNDLE.to_owned(), rekor.to_string()),
    ]);
    Ok((b["dsseEnvelope"].to_string().into_bytes(), annotations))
}

#[cfg(test)]
mod tests {
    use super::super::{Check, IdentityPolicy, TrustedRoot, Verifier, verify_bundle};
    use super::*;

    const STATEMENT: &str = r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"img","digest":{"sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}],"predicateType":"https://example.com/p","predicate":{}}"#;

    fn check(leaf: &Leaf, policy: &IdentityPolicy) -> Result<(), Check> {
        let sigstore = TestSigstore::new().unwrap();
        let root = TrustedRoot::from_json(sigstore.trusted_root_json().as_bytes()).unwrap();
        let bundle = sigstore
            .dsse_bundle("application/vnd.in-toto+json", STATEMENT.as_bytes(), leaf)
            .unwrap();
        verify_bundle(bundle.as_bytes(), None, &Verifier::Identity(policy), &root)
            .map(|_| ())
            .map_err(|e| e.check)
    }

    #[test]
    fn a_private_sigstore_bundle_verifies_and_each_break_is_caught_by_its_check() {
        let good = Leaf::github_workflow("org/repo", "release.yml");
        let policy = IdentityPolicy::exact(&good.subject, &good.issuer);
        assert_eq!(check(&good, &policy), Ok(()));
        let cases: Vec<(Leaf, Check)> = vec![
            (
                Leaf {
                    unknown_ca: true,
                    ..good.clone()
                },
                Check::Chain,
            ),
            (
                Leaf {
                    signed_after_secs: 601,
                    ..good.clone()
                },
                Check::Certificate,
            ),
            (
                Leaf {
                    signed_after_secs: -1,
                    ..good.clone()
                },
                Check::Certificate,
            ),
            (
                Leaf {
                    broken_inclusion_proof: true,
                    ..good.clone()
                },
                Check::InclusionProof,
            ),
            (
                Leaf {
                    entry_for_other_envelope: true,
                    ..good.clone()
                },
                Check::LogEntryBody,
            ),
            (
                Leaf {
                    bad_dsse_signature: true,
                    ..good.clone()
                },
                Check::Signature,
            ),
            (
                Leaf {
                    bad_sct: true,
                    ..good.clone()
                },
                Check::Sct,
            ),
            (
                Leaf::github_workflow("org/other", "release.yml"),
                Check::Identity,
            ),
        ];
        for (leaf, want) in cases {
            assert_eq!(check(&leaf, &policy), Err(want), "{leaf:?}");
        }
    }

    #[test]
    fn the_legacy_cosign_layout_reads_as_the_same_evidence() {
        let sigstore = TestSigstore::new().unwrap();
        let root = TrustedRoot::from_json(sigstore.trusted_root_json().as_bytes()).unwrap();
        let leaf = Leaf::github_workflow("org/repo", "release.yml");
        let policy = IdentityPolicy::exact(&leaf.subject, &leaf.issuer);
        let bundle = sigstore
            .dsse_bundle("application/vnd.in-toto+json", STATEMENT.as_bytes(), &leaf)
            .unwrap();
        let (envelope, mut annotations) = to_legacy_cosign(&bundle).unwrap();
        let legacy = super::super::legacy_cosign_bundle(&envelope, &annotations)
            .unwrap()
            .unwrap();
        let v =
            super::super::verify_bundle_value(&legacy, None, &Verifier::Identity(&policy), &root)
                .unwrap();
        assert_eq!(v.log_entries, 1);
        assert_eq!(v.inclusion_proofs, 0);
        // Without the Rekor bundle annotation there is no log proof: refused offline.
        annotations.remove(super::super::COSIGN_BUNDLE);
        let bare = super::super::legacy_cosign_bundle(&envelope, &annotations)
            .unwrap()
            .unwrap();
        let err =
            super::super::verify_bundle_value(&bare, None, &Verifier::Identity(&policy), &root)
                .unwrap_err();
        assert_eq!(err.check, Check::Tlog);
        // Not keyless at all: no certificate annotation.
        assert!(super::super::legacy_cosign_bundle(&envelope, &Default::default()).is_none());
    }
}
