//! The signing certificate: a code-signing leaf, valid at every verified signing time,
//! issued by a Fulcio CA of the trusted root that was trusted at those times.
//! Certificates inside the bundle are never trust anchors, and a root (self-signed)
//! certificate inside the bundle is refused.

use super::error::{Check, SigstoreError, fail};
use super::time::UnixTime;
use super::trusted_root::TrustedRoot;
use super::x509::{Certificate, OID_KP_CODE_SIGNING};

/// Checks the leaf on its own: not a CA, allowed to sign, for code signing, and valid at
/// each of `times`.
pub(crate) fn check_leaf(leaf: &Certificate, times: &[UnixTime]) -> Result<(), SigstoreError> {
    if leaf.is_ca()? {
        return fail(
            Check::Certificate,
            "the signing certificate is a CA certificate",
        );
    }
    if !leaf.allows_digital_signature()? {
        return fail(
            Check::Certificate,
            "the signing certificate's key usage forbids signing",
        );
    }
    match leaf.ext_key_usages()? {
        Some(ekus) if ekus.iter().any(|e| e == OID_KP_CODE_SIGNING) => {}
        _ => {
            return fail(
                Check::Certificate,
                "the signing certificate is not for code signing",
            );
        }
    }
    if let Some(t) = times.iter().find(|&&t| !leaf.valid_at(t)) {
        return fail(
            Check::Certificate,
            format!(
                "signed at {} (Unix time), outside the certificate's validity {}..{}",
                t, leaf.not_before, leaf.not_after
            ),
        );
    }
    Ok(())
}

/// Finds the Fulcio CA of `root` that issued `leaf` and was trusted at every one of
/// `times`, and returns the issuing certificate (for the SCT check). `extra` are the
/// further certificates the bundle carries: ignored as anchors, refused if a root.
pub(crate) fn verify_chain<'r>(
    leaf: &Certificate,
    extra: &[Certificate],
    root: &'r TrustedRoot,
    times: &[UnixTime],
) -> Result<&'r Certificate, SigstoreError> {
    if extra.iter().any(Certificate::is_self_signed) || leaf.is_self_signed() {
        return fail(
            Check::Chain,
            "the bundle carries a root certificate; trust anchors come only from the trusted root",
        );
    }
    let mut issued_by_known_ca = None;
    for ca in &root.cas {
        let issuer = &ca.chain[0];
        if !leaf.is_issued_by(issuer) {
            continue;
        }
        issued_by_known_ca = Some(ca.uri.as_str());
        let trusted_then = times.iter().all(|&t| ca.validity.contains(t));
        let certs_valid = times
            .iter()
            .all(|&t| ca.chain.iter().all(|c| c.valid_at(t)));
        if trusted_then && certs_valid && issuer.is_ca()? {
            return Ok(issuer);
        }
    }
    if let Some(uri) = issued_by_known_ca {
        fail(
            Check::Chain,
            format!("the issuing CA {uri} was not trusted (or not valid) at the signing time"),
        )
    } else {
        fail(
            Check::Chain,
            "the certificate was not issued by a certificate authority of the trusted root",
        )
    }
}
