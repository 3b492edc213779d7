//! Who signed: the identity in a Fulcio certificate (SAN, OIDC issuer, Fulcio's
//! extensions) and the policy it must satisfy.

use super::error::{Check, SigstoreError};
use super::x509::{Certificate, OID_SAN};
use der::Decode;
use der::asn1::Utf8StringRef;
use std::collections::BTreeMap;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

/// Fulcio's OID arc 1.3.6.1.4.1.57264.1, DER-encoded.
const FULCIO_ARC: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x01];

/// Fulcio extensions by their last arc: (arc, name, value is a DER UTF8String).
const FULCIO_EXTENSIONS: &[(u8, &str, bool)] = &[
    (1, "issuerV1", false),
    (2, "githubWorkflowTrigger", false),
    (3, "githubWorkflowSHA", false),
    (4, "githubWorkflowName", false),
    (5, "githubWorkflowRepository", false),
    (6, "githubWorkflowRef", false),
    (8, "issuer", true),
    (9, "buildSignerURI", true),
    (10, "buildSignerDigest", true),
    (11, "runnerEnvironment", true),
    (12, "sourceRepositoryURI", true),
    (13, "sourceRepositoryDigest", true),
    (14, "sourceRepositoryRef", true),
    (15, "sourceRepositoryIdentifier", true),
    (16, "sourceRepositoryOwnerURI", true),
    (17, "sourceRepositoryOwnerIdentifier", true),
    (18, "buildConfigURI", true),
    (19, "buildConfigDigest", true),
    (20, "buildTrigger", true),
    (21, "runInvocationURI", true),
    (22, "sourceRepositoryVisibilityAtSigning", true),
];

/// The names of the Fulcio extensions a policy may constrain.
pub fn extension_names() -> impl Iterator<Item = &'static str> {
    FULCIO_EXTENSIONS.iter().map(|(_, name, _)| *name)
}

/// The identity a Fulcio certificate binds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CertificateIdentity {
    /// The subject alternative names (URIs, emails, Fulcio usernames).
    pub sans: Vec<String>,
    /// The OIDC issuer (extension .1.8, else the legacy .1.1).
    pub issuer: Option<String>,
    /// Fulcio extensions by name (e.g. `sourceRepositoryURI`), `issuerV1` excluded.
    pub extensions: BTreeMap<String, String>,
}

fn utf8(bytes: &[u8]) -> Option<String> {
    String::from_utf8(bytes.to_vec()).ok()
}

impl CertificateIdentity {
    /// Reads the identity from a DER certificate, without verifying anything.
    pub fn from_der(der: &[u8]) -> Result<Self, SigstoreError> {
        Self::from_certificate(&Certificate::from_der(der)?)
    }

    /// Reads the identity from a certificate.
    pub(crate) fn from_certificate(cert: &Certificate) -> Result<Self, SigstoreError> {
        let bad = |r: &str| SigstoreError::new(Check::Certificate, r.to_owned());
        let mut id = CertificateIdentity::default();
        if let Some(san) = cert.extension(OID_SAN) {
            let names = SubjectAltName::from_der(&san.value)
                .map_err(|e| bad(&format!("malformed subjectAltName: {e}")))?;
            for name in names.0 {
                match name {
                    GeneralName::Rfc822Name(s) | GeneralName::UniformResourceIdentifier(s) => {
                        id.sans.push(s.to_string());
                    }
                    GeneralName::OtherName(other) => {
                        if let Ok(s) = other.value.decode_as::<Utf8StringRef<'_>>() {
                            id.sans.push(s.as_str().to_owned());
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut legacy_issuer = None;
        for ext in &cert.extensions {
            let Some(arc) = ext
                .oid
                .strip_prefix(FULCIO_ARC)
                .and_then(|rest| <[u8; 1]>::try_from(rest).ok())
            else {
                continue;
            };
            let Some((_, name, is_der)) = FULCIO_EXTENSIONS.iter().find(|(a, _, _)| *a == arc[0])
            else {
                continue;
            };
            let value = if *is_der {
                Utf8StringRef::from_der(&ext.value)
                    .map(|s| s.as_str().to_owned())
                    .map_err(|_| bad("a Fulcio extension is not a UTF8String"))?
            } else {
                utf8(&ext.value).ok_or_else(|| bad("a Fulcio extension is not UTF-8"))?
            };
            if arc[0] == 1 {
                legacy_issuer = Some(value);
            } else if arc[0] == 8 {
                id.issuer = Some(value);
            } else {
                id.extensions.insert((*name).to_owned(), value);
            }
        }
        if id.issuer.is_none() {
            id.issuer = legacy_issuer;
        }
        Ok(id)
    }
}

/// How a string is matched: exactly, or by a regular expression over the whole string.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Equal strings.
    Exact(String),
    /// The whole string matches (the pattern is anchored at both ends).
    Regex(regex::Regex),
}

impl Matcher {
    /// A regular-expression matcher; the pattern must match the whole value.
    pub fn regex(pattern: &str) -> Result<Matcher, regex::Error> {
        Ok(Matcher::Regex(regex::Regex::new(&format!(
            "^(?:{pattern})$"
        ))?))
    }

    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(s) => s == value,
            Matcher::Regex(r) => r.is_match(value),
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Matcher::Exact(s) => write!(f, "{s:?}"),
            Matcher::Regex(r) => write!(f, "/{}/", r.as_str()),
        }
    }
}

/// The identity a policy accepts: a SAN, an OIDC issuer, and optionally exact values of
/// Fulcio extensions.
#[derive(Debug, Clone)]
pub struct IdentityPolicy {
    /// The SAN (URI or email) that must be in the certificate.
    pub subject: Matcher,
    /// The OIDC issuer.
    pub issuer: Matcher,
    /// Fulcio extensions by name (see [`extension_names`]) and their required values.
    pub extensions: BTreeMap<String, String>,
}

impl IdentityPolicy {
    /// An exact subject and issuer, as `--certificate-identity` and
    /// `--certificate-oidc-issuer` give them.
    pub fn exact(subject: &str, issuer: &str) -> IdentityPolicy {
        IdentityPolicy {
            subject: Matcher::Exact(subject.to_owned()),
            issuer: Matcher::Exact(issuer.to_owned()),
            extensions: BTreeMap::new(),
        }
    }

    /// Checks `id` against the policy; the error says which part differed.
    pub fn check(&self, id: &CertificateIdentity) -> Result<(), SigstoreError> {
        let bad = |r: String| Err(SigstoreError::new(Check::Identity, r));
        if !id.sans.iter().any(|s| self.subject.matches(s)) {
            return bad(format!(
                "the certificate's identity {:?} is not {}",
                id.sans, self.subject
            ));
        }
        match &id.issuer {
            Some(issuer) if self.issuer.matches(issuer) => {}
            other => {
                return bad(format!(
                    "the certificate's OIDC issuer {:?} is not {}",
                    other.as_deref().unwrap_or("(none)"),
                    self.issuer
                ));
            }
        }
        for (name, want) in &self.extensions {
            let have = id.extensions.get(name);
            if have != Some(want) {
                return bad(format!(
                    "the certificate's {name} is {:?}, not {want:?}",
                    have.map(String::as_str).unwrap_or("(absent)")
                ));
            }
        }
        Ok(())
    }
}
