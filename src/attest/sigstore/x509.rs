//! X.509 certificates as Sigstore verification needs them, read with `x509-cert` (on
//! the `der` crate's strict DER). The signed TBSCertificate and the names are kept as
//! their DER bytes so names compare byte for byte and the TBS can be rebuilt without
//! the SCT extension.

use super::error::{Check, SigstoreError};
use super::sigalg::VerifyKey;
use super::time::UnixTime;
use der::asn1::{AnyRef, BitStringRef};
use der::{Decode, Encode, Sequence};
use spki::AlgorithmIdentifierRef;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};
use x509_cert::time::Time;

/// `basicConstraints`.
pub(crate) const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
/// `keyUsage`.
pub(crate) const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
/// `extKeyUsage`.
pub(crate) const OID_EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
/// `subjectAltName`.
pub(crate) const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];
/// The embedded SCT list (1.3.6.1.4.1.11129.2.4.2).
pub(crate) const OID_SCT_LIST: &[u8] =
    &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02];
/// id-kp-codeSigning.
pub(crate) const OID_KP_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
/// id-kp-timeStamping.
pub(crate) const OID_KP_TIME_STAMPING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// One extension, as DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Extension {
    /// The extension OID (content bytes).
    pub(crate) oid: Vec<u8>,
    /// Whether it is marked critical.
    pub(crate) critical: bool,
    /// The extnValue OCTET STRING's contents.
    pub(crate) value: Vec<u8>,
}

/// A parsed certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Certificate {
    /// The whole certificate DER.
    pub(crate) der: Vec<u8>,
    /// The TBSCertificate element (tag and length included): what the issuer signed.
    pub(crate) tbs: Vec<u8>,
    /// The issuer Name DER.
    pub(crate) issuer: Vec<u8>,
    /// The subject Name DER.
    pub(crate) subject: Vec<u8>,
    /// notBefore, Unix seconds.
    pub(crate) not_before: UnixTime,
    /// notAfter, Unix seconds.
    pub(crate) not_after: UnixTime,
    /// The SubjectPublicKeyInfo DER.
    pub(crate) spki: Vec<u8>,
    /// The outer signatureAlgorithm OID.
    pub(crate) sig_alg: Vec<u8>,
    /// The signature bits.
    pub(crate) signature: Vec<u8>,
    /// The extensions, in order.
    pub(crate) extensions: Vec<Extension>,
}

fn err(what: &str) -> SigstoreError {
    SigstoreError::new(Check::Certificate, format!("malformed certificate: {what}"))
}

fn derr(what: &'static str) -> impl Fn(der::Error) -> SigstoreError {
    move |e| err(&format!("{what}: {e}"))
}

/// A certificate's outer SEQUENCE, with the TBSCertificate kept as it was signed.
#[derive(Sequence)]
struct Signed<'a> {
    tbs: AnyRef<'a>,
    algorithm: AlgorithmIdentifierRef<'a>,
    signature: BitStringRef<'a>,
}

/// A TBSCertificate split into its fields as DER, for rebuilding it with other
/// extensions (RFC 5280 §4.1).
#[derive(Sequence)]
struct TbsParts<'a> {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    version: Option<AnyRef<'a>>,
    serial_number: AnyRef<'a>,
    signature: AnyRef<'a>,
    issuer: AnyRef<'a>,
    validity: AnyRef<'a>,
    subject: AnyRef<'a>,
    subject_public_key_info: AnyRef<'a>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    issuer_unique_id: Option<BitStringRef<'a>>,
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", optional = "true")]
    subject_unique_id: Option<BitStringRef<'a>>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Vec<x509_cert::ext::Extension>>,
}

fn unix(t: Time) -> UnixTime {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

impl Certificate {
    /// Parses a DER certificate.
    pub(crate) fn from_der(data: &[u8]) -> Result<Certificate, SigstoreError> {
        let signed = Signed::from_der(data).map_err(derr("certificate"))?;
        let tbs = signed.tbs.to_der().map_err(derr("tbsCertificate"))?;
        let t = x509_cert::TbsCertificate::from_der(&tbs).map_err(derr("tbsCertificate"))?;
        let sig_alg = signed.algorithm.oid.as_bytes().to_vec();
        if t.signature().oid.as_bytes() != sig_alg.as_slice() {
            return Err(err("the two signature algorithms differ"));
        }
        let signature = signed
            .signature
            .as_bytes()
            .ok_or_else(|| err("signature has unused bits"))?
            .to_vec();
        let mut extensions: Vec<Extension> = Vec::new();
        for ext in t.extensions().map(Vec::as_slice).unwrap_or_default() {
            let oid = ext.extn_id.as_bytes().to_vec();
            if extensions.iter().any(|x| x.oid == oid) {
                return Err(err("an extension appears twice"));
            }
            extensions.push(Extension {
                oid,
                critical: ext.critical,
                value: ext.extn_value.as_bytes().to_vec(),
            });
        }
        Ok(Certificate {
            der: data.to_vec(),
            issuer: t.issuer().to_der().map_err(derr("issuer"))?,
            subject: t.subject().to_der().map_err(derr("subject"))?,
            not_before: unix(t.validity().not_before),
            not_after: unix(t.validity().not_after),
            spki: t
                .subject_public_key_info()
                .to_der()
                .map_err(derr("subjectPublicKeyInfo"))?,
            tbs,
            sig_alg,
            signature,
            extensions,
        })
    }

    /// The extension with `oid`, if present.
    pub(crate) fn extension(&self, oid: &[u8]) -> Option<&Extension> {
        self.extensions.iter().find(|e| e.oid == oid)
    }

    /// Whether `issuer`'s key signed this certificate (names must match too).
    pub(crate) fn is_issued_by(&self, issuer: &Certificate) -> bool {
        if self.issuer != issuer.subject {
            return false;
        }
        match VerifyKey::from_spki(&issuer.spki) {
            Ok(key) => key.verify_with_oid(&self.sig_alg, &self.tbs, &self.signature),
            Err(_) => false,
        }
    }

    /// Whether the certificate is self-signed (a root).
    pub(crate) fn is_self_signed(&self) -> bool {
        self.is_issued_by(self)
    }

    /// Whether `t` lies within notBefore..=notAfter.
    pub(crate) fn valid_at(&self, t: UnixTime) -> bool {
        t >= self.not_before && t <= self.not_after
    }

    /// `basicConstraints.cA`.
    pub(crate) fn is_ca(&self) -> Result<bool, SigstoreError> {
        let Some(ext) = self.extension(OID_BASIC_CONSTRAINTS) else {
            return Ok(false);
        };
        let bc = BasicConstraints::from_der(&ext.value).map_err(derr("basicConstraints"))?;
        Ok(bc.ca)
    }

    /// Whether keyUsage (if present) allows digitalSignature.
    pub(crate) fn allows_digital_signature(&self) -> Result<bool, SigstoreError> {
        let Some(ext) = self.extension(OID_KEY_USAGE) else {
            return Ok(true);
        };
        let usage = KeyUsage::from_der(&ext.value).map_err(derr("keyUsage"))?;
        Ok(usage.digital_signature())
    }

    /// The extended key usages, if the extension is present.
    pub(crate) fn ext_key_usages(&self) -> Result<Option<Vec<Vec<u8>>>, SigstoreError> {
        let Some(ext) = self.extension(OID_EXT_KEY_USAGE) else {
            return Ok(None);
        };
        let ekus = ExtendedKeyUsage::from_der(&ext.value).map_err(derr("extKeyUsage"))?;
        Ok(Some(ekus.0.iter().map(|o| o.as_bytes().to_vec()).collect()))
    }

    /// The TBSCertificate with the SCT-list extension removed: what a CT log signed
    /// for the precertificate (RFC 6962 §3.2).
    pub(crate) fn precert_tbs(&self) -> Result<Vec<u8>, SigstoreError> {
        let mut parts = TbsParts::from_der(&self.tbs).map_err(derr("tbsCertificate"))?;
        parts.extensions = parts
            .extensions
            .map(|exts| {
                exts.into_iter()
                    .filter(|e| e.extn_id.as_bytes() != OID_SCT_LIST)
                    .collect::<Vec<_>>()
            })
            .filter(|exts| !exts.is_empty());
        parts.to_der().map_err(derr("tbsCertificate"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed() -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(vec!["a.test".to_owned()]).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn reads_a_certificate_and_rebuilds_its_tbs_byte_for_byte() {
        let der = self_signed();
        let cert = Certificate::from_der(&der).unwrap();
        assert!(cert.is_self_signed());
        assert_eq!(cert.issuer, cert.subject);
        assert!(cert.extension(OID_SAN).is_some());
        // No SCT list: the precertificate TBS is the TBS itself.
        assert_eq!(cert.precert_tbs().unwrap(), cert.tbs);
    }

    #[test]
    fn refuses_ber_lengths_and_trailing_bytes() {
        let der = self_signed();
        assert_eq!(&der[..2], &[0x30, 0x82]);
        let content = &der[4..];
        let mut trailing = der.clone();
        trailing.push(0);
        let mut indefinite = vec![0x30, 0x80];
        indefinite.extend_from_slice(content);
        indefinite.extend_from_slice(&[0, 0]);
        let mut non_minimal = vec![0x30, 0x83, 0x00, der[2], der[3]];
        non_minimal.extend_from_slice(content);
        for (what, bytes) in [
            ("trailing", trailing),
            ("indefinite", indefinite),
            ("non-minimal", non_minimal),
        ] {
            let err = Certificate::from_der(&bytes).unwrap_err();
            assert!(
                err.to_string().contains("malformed certificate"),
                "{what}: {err}"
            );
        }
    }
}
