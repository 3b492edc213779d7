//! RFC 3161 timestamps: a token (or a whole TimeStampResp) whose TSTInfo imprints the
//! bundle's signature, signed by a timestamp authority of the trusted root, gives a
//! trusted signing time.

use super::error::{Check, SigstoreError, fail};
use super::sigalg::{Hash, VerifyKey, signature_oid_hash};
use super::time::{UnixTime, parse_der_time};
use super::trusted_root::TrustedRoot;
use super::x509::OID_KP_TIME_STAMPING;
use crate::attest::der::{self, Reader};

const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
const OID_TST_INFO: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04,
];
const OID_MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
const OID_CONTENT_TYPE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03];
const SET: u8 = 0x31;
const OCTET_STRING: u8 = 0x04;
const CONTEXT_0: u8 = 0xa0;
const GENERALIZED_TIME: u8 = 0x18;

fn bad(reason: impl Into<String>) -> SigstoreError {
    SigstoreError::new(Check::Timestamp, reason)
}

fn derr(what: &'static str) -> impl Fn(der::DerError) -> SigstoreError {
    move |e| bad(format!("malformed timestamp ({what}): {e}"))
}

fn alg_oid(alg: &[u8]) -> Result<&[u8], SigstoreError> {
    Reader::new(alg).read(der::OID).map_err(derr("algorithm"))
}

/// The parts of a timestamp token that verification needs.
struct Token<'a> {
    tst_info: &'a [u8],
    digest_alg: Hash,
    signed_attrs: Option<&'a [u8]>,
    sig_hash: Hash,
    signature: &'a [u8],
}

fn parse_token(data: &[u8]) -> Result<Token<'_>, SigstoreError> {
    let outer = der::read_single(data, der::SEQUENCE).map_err(derr("outer"))?;
    let mut r = Reader::new(outer);
    // A TimeStampResp starts with PKIStatusInfo (a SEQUENCE); a token with its OID.
    let content_info = if r.peek_tag() == Some(der::SEQUENCE) {
        let status = r.read(der::SEQUENCE).map_err(derr("status"))?;
        if Reader::new(status)
            .read(der::INTEGER)
            .map_err(derr("status"))?
            != [0]
            && Reader::new(status)
                .read(der::INTEGER)
                .map_err(derr("status"))?
                != [1]
        {
            return Err(bad("the timestamp response does not grant a timestamp"));
        }
        let ci = r.read(der::SEQUENCE).map_err(derr("token"))?;
        r.finish().map_err(derr("response"))?;
        ci
    } else {
        outer
    };
    let mut ci = Reader::new(content_info);
    if ci.read(der::OID).map_err(derr("contentType"))? != OID_SIGNED_DATA {
        return Err(bad("the timestamp token is not CMS SignedData"));
    }
    let explicit = ci.read(CONTEXT_0).map_err(derr("content"))?;
    let signed_data = der::read_single(explicit, der::SEQUENCE).map_err(derr("SignedData"))?;
    let mut sd = Reader::new(signed_data);
    sd.read(der::INTEGER).map_err(derr("version"))?;
    sd.read(SET).map_err(derr("digestAlgorithms"))?;
    let mut encap = Reader::new(sd.read(der::SEQUENCE).map_err(derr("encapContentInfo"))?);
    if encap.read(der::OID).map_err(derr("eContentType"))? != OID_TST_INFO {
        return Err(bad("the signed content is not a TSTInfo"));
    }
    let econtent = encap.read(CONTEXT_0).map_err(derr("eContent"))?;
    let tst_info = der::read_single(econtent, OCTET_STRING).map_err(derr("eContent"))?;
    while matches!(sd.peek_tag(), Some(0xa0) | Some(0xa1)) {
        sd.read_any().map_err(derr("certificates"))?;
    }
    let infos = sd.read(SET).map_err(derr("signerInfos"))?;
    let mut infos = Reader::new(infos);
    let info = infos.read(der::SEQUENCE).map_err(derr("signerInfo"))?;
    if !infos.is_empty() {
        return Err(bad("the timestamp has more than one signer"));
    }
    let mut si = Reader::new(info);
    si.read(der::INTEGER).map_err(derr("signerInfo version"))?;
    si.read_any().map_err(derr("sid"))?;
    let digest_alg = Hash::from_oid(alg_oid(
        si.read(der::SEQUENCE).map_err(derr("digestAlgorithm"))?,
    )?)
    .ok_or_else(|| bad("unsupported timestamp digest algorithm"))?;
    let signed_attrs = if si.peek_tag() == Some(CONTEXT_0) {
        Some(si.read_raw(CONTEXT_0).map_err(derr("signedAttrs"))?)
    } else {
        None
    };
    let sig_alg = alg_oid(si.read(der::SEQUENCE).map_err(derr("signatureAlgorithm"))?)?;
    let sig_hash = signature_oid_hash(sig_alg).unwrap_or(digest_alg);
    let signature = si.read(OCTET_STRING).map_err(derr("signature"))?;
    Ok(Token {
        tst_info,
        digest_alg,
        signed_attrs,
        sig_hash,
        signature,
    })
}

/// The message imprint (hash, digest) and genTime of a TSTInfo.
fn parse_tst_info(tst: &[u8]) -> Result<(Hash, &[u8], UnixTime), SigstoreError> {
    let mut r = Reader::new(der::read_single(tst, der::SEQUENCE).map_err(derr("TSTInfo"))?);
    r.read(der::INTEGER).map_err(derr("TSTInfo version"))?;
    r.read(der::OID).map_err(derr("policy"))?;
    let mut imprint = Reader::new(r.read(der::SEQUENCE).map_err(derr("messageImprint"))?);
    let hash = Hash::from_oid(alg_oid(
        imprint.read(der::SEQUENCE).map_err(derr("hashAlgorithm"))?,
    )?)
    .ok_or_else(|| bad("unsupported message imprint algorithm"))?;
    let digest = imprint.read(OCTET_STRING).map_err(derr("hashedMessage"))?;
    r.read(der::INTEGER).map_err(derr("serialNumber"))?;
    let time = r.read(GENERALIZED_TIME).map_err(derr("genTime"))?;
    let gen_time = parse_der_time(GENERALIZED_TIME, time).map_err(|_| bad("bad genTime"))?;
    Ok((hash, digest, gen_time))
}

/// The signed attributes' messageDigest must be the TSTInfo's digest.
fn check_signed_attrs(attrs: &[u8], tst: &[u8], hash: Hash) -> Result<(), SigstoreError> {
    let body = der::read_single(attrs, CONTEXT_0).map_err(derr("signedAttrs"))?;
    let mut r = Reader::new(body);
    let mut digest_ok = false;
    while !r.is_empty() {
        let mut attr = Reader::new(r.read(der::SEQUENCE).map_err(derr("attribute"))?);
        let oid = attr.read(der::OID).map_err(derr("attribute"))?;
        let mut values = Reader::new(attr.read(SET).map_err(derr("attribute values"))?);
        if oid == OID_MESSAGE_DIGEST {
            let value = values.read(OCTET_STRING).map_err(derr("messageDigest"))?;
            digest_ok = value == hash.digest(tst).as_slice();
        } else if oid == OID_CONTENT_TYPE
            && values.read(der::OID).map_err(derr("contentType"))? != OID_TST_INFO
        {
            return Err(bad("the signed content type is not TSTInfo"));
        }
    }
    if !digest_ok {
        return Err(bad("the signed messageDigest is not the TSTInfo's digest"));
    }
    Ok(())
}

/// Verifies one timestamp over `signature` and returns its time. The token must be
/// signed by a timestamp authority of the trusted root (certificates embedded in the
/// token are never trusted), the authority must be trusted at the time, and the
/// authority's certificates valid then.
pub(crate) fn verify_timestamp(
    token: &[u8],
    signature: &[u8],
    root: &TrustedRoot,
) -> Result<UnixTime, SigstoreError> {
    let t = parse_token(token)?;
    let (imprint_hash, imprint, gen_time) = parse_tst_info(t.tst_info)?;
    if imprint != imprint_hash.digest(signature).as_slice() {
        return fail(
            Check::Timestamp,
            "the timestamp's message imprint is not the digest of the bundle's signature",
        );
    }
    let signed: Vec<u8> = match t.signed_attrs {
        Some(attrs) => {
            check_signed_attrs(attrs, t.tst_info, t.digest_alg)?;
            let mut tagged = attrs.to_vec();
            tagged[0] = SET;
            tagged
        }
        None => t.tst_info.to_vec(),
    };
    let mut signed_by_trusted = false;
    for tsa in &root.tsas {
        let leaf = &tsa.chain[0];
        let Ok(key) = VerifyKey::from_spki(&leaf.spki) else {
            continue;
        };
        if !key.verify(t.sig_hash, &signed, t.signature) {
            continue;
        }
        signed_by_trusted = true;
        if !tsa.validity.contains(gen_time) {
            continue;
        }
        let chain_ok = tsa.chain.iter().all(|c| c.valid_at(gen_time))
            && tsa.chain.windows(2).all(|w| w[0].is_issued_by(&w[1]));
        let eku_ok = leaf
            .ext_key_usages()
            .ok()
            .flatten()
            .is_none_or(|ekus| ekus.iter().any(|e| e == OID_KP_TIME_STAMPING));
        if chain_ok && eku_ok {
            return Ok(gen_time);
        }
    }
    if signed_by_trusted {
        fail(
            Check::Timestamp,
            "the timestamp's authority was not trusted, or its certificates not valid, at the timestamp's time",
        )
    } else {
        fail(
            Check::Timestamp,
            "the timestamp is not signed by a timestamp authority of the trusted root",
        )
    }
}
