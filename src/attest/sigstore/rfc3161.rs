//! RFC 3161 timestamps: a token (or a whole TimeStampResp) whose TSTInfo imprints the
//! bundle's signature, signed by a timestamp authority of the trusted root, gives a
//! trusted signing time.

use super::error::{Check, SigstoreError, fail};
use super::sigalg::{Hash, VerifyKey, signature_oid_hash};
use super::time::{UnixTime, parse_der_time};
use super::trusted_root::TrustedRoot;
use super::x509::OID_KP_TIME_STAMPING;
use der::asn1::{AnyRef, IntRef, ObjectIdentifier, OctetStringRef};
use der::{Decode, Encode, Reader, Sequence, SliceReader, Tag, Tagged};
use spki::AlgorithmIdentifierRef;

// CMS (RFC 5652) and TSP (RFC 3161) are read with `der`, through the few structures
// below: the RustCrypto `cms`/`x509-tsp` crates are not on the `der` 0.8 line yet
// (a release candidate and a 0.7-based release), and `der`'s GeneralizedTime refuses
// the fractional seconds timestamp authorities write in genTime.

const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
const OID_TST_INFO: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04,
];
const OID_MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
const OID_CONTENT_TYPE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03];
const CONTEXT_0: u8 = 0xa0;

fn bad(reason: impl Into<String>) -> SigstoreError {
    SigstoreError::new(Check::Timestamp, reason)
}

fn derr(what: &'static str) -> impl Fn(der::Error) -> SigstoreError {
    move |e| bad(format!("malformed timestamp ({what}): {e}"))
}

/// `ContentInfo` (RFC 5652 §3).
#[derive(Sequence)]
struct ContentInfo<'a> {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: AnyRef<'a>,
}

/// `PKIStatusInfo` (RFC 3161 §2.4.2).
#[derive(Sequence)]
struct StatusInfo<'a> {
    status: u32,
    #[asn1(optional = "true")]
    status_string: Option<Vec<der::asn1::Utf8StringRef<'a>>>,
    #[asn1(optional = "true")]
    fail_info: Option<der::asn1::BitStringRef<'a>>,
}

/// `TimeStampResp` (RFC 3161 §2.4.2).
#[derive(Sequence)]
struct TimeStampResp<'a> {
    status: StatusInfo<'a>,
    #[asn1(optional = "true")]
    token: Option<ContentInfo<'a>>,
}

/// `EncapsulatedContentInfo` (RFC 5652 §5.2).
#[derive(Sequence)]
struct EncapContentInfo<'a> {
    e_content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    e_content: Option<AnyRef<'a>>,
}

/// `MessageImprint` (RFC 3161 §2.4.1).
#[derive(Sequence)]
struct MessageImprint<'a> {
    hash_algorithm: AlgorithmIdentifierRef<'a>,
    hashed_message: &'a OctetStringRef,
}

/// `Attribute` (RFC 5652 §5.3).
#[derive(Sequence)]
struct Attribute<'a> {
    attr_type: ObjectIdentifier,
    attr_values: AnyRef<'a>,
}

/// Reads and discards the rest of a SEQUENCE (fields custody does not use).
fn skip_rest(r: &mut SliceReader<'_>) -> Result<(), der::Error> {
    while !r.is_finished() {
        r.decode::<AnyRef<'_>>()?;
    }
    Ok(())
}

/// The first value of an attribute's SET.
fn first_value<'a, T: Decode<'a, Error = der::Error>>(set: AnyRef<'a>) -> Result<T, der::Error> {
    set.tag().assert_eq(Tag::Set)?;
    SliceReader::new(set.value())?.decode()
}

/// The parts of a timestamp token that verification needs.
struct Token<'a> {
    tst_info: &'a [u8],
    digest_alg: Hash,
    signed_attrs: Option<AnyRef<'a>>,
    sig_hash: Hash,
    signature: &'a [u8],
}

/// The SignedData of a token, or of the token in a whole TimeStampResp.
fn signed_data(data: &[u8]) -> Result<AnyRef<'_>, SigstoreError> {
    let outer = AnyRef::from_der(data).map_err(derr("outer"))?;
    outer
        .tag()
        .assert_eq(Tag::Sequence)
        .map_err(derr("outer"))?;
    // A TimeStampResp starts with PKIStatusInfo (a SEQUENCE); a token with its OID.
    let first = SliceReader::new(outer.value())
        .map(|r| r.peek_byte())
        .map_err(derr("outer"))?;
    let content_info = if first == Some(0x30) {
        let resp = TimeStampResp::from_der(data).map_err(derr("response"))?;
        if resp.status.status > 1 {
            return Err(bad("the timestamp response does not grant a timestamp"));
        }
        resp.token
            .ok_or_else(|| bad("the timestamp response carries no token"))?
    } else {
        ContentInfo::from_der(data).map_err(derr("token"))?
    };
    if content_info.content_type.as_bytes() != OID_SIGNED_DATA {
        return Err(bad("the timestamp token is not CMS SignedData"));
    }
    Ok(content_info.content)
}

fn parse_token(data: &[u8]) -> Result<Token<'_>, SigstoreError> {
    let sd = signed_data(data)?;
    let (tst_info, info) = sd
        .sequence(|r| {
            let _version: u8 = r.decode()?;
            r.decode::<AnyRef<'_>>()?.tag().assert_eq(Tag::Set)?; // digestAlgorithms
            let encap: EncapContentInfo<'_> = r.decode()?;
            while matches!(r.peek_byte(), Some(0xa0) | Some(0xa1)) {
                r.decode::<AnyRef<'_>>()?; // certificates, crls: never trusted
            }
            let infos: AnyRef<'_> = r.decode()?;
            infos.tag().assert_eq(Tag::Set)?;
            Ok::<_, der::Error>((encap, infos))
        })
        .map_err(derr("SignedData"))?;
    if tst_info.e_content_type.as_bytes() != OID_TST_INFO {
        return Err(bad("the signed content is not a TSTInfo"));
    }
    let econtent = tst_info
        .e_content
        .ok_or_else(|| bad("the timestamp token has no content"))?;
    econtent
        .tag()
        .assert_eq(Tag::OctetString)
        .map_err(derr("eContent"))?;
    let mut infos = SliceReader::new(info.value()).map_err(derr("signerInfos"))?;
    let info: AnyRef<'_> = infos.decode().map_err(derr("signerInfo"))?;
    if !infos.is_finished() {
        return Err(bad("the timestamp has more than one signer"));
    }
    let (digest_alg, signed_attrs, sig_alg, signature) = info
        .sequence(|si| {
            let _version: u8 = si.decode()?;
            si.decode::<AnyRef<'_>>()?; // sid
            let digest_alg: AlgorithmIdentifierRef<'_> = si.decode()?;
            let signed_attrs = if si.peek_byte() == Some(CONTEXT_0) {
                Some(si.decode::<AnyRef<'_>>()?)
            } else {
                None
            };
            let sig_alg: AlgorithmIdentifierRef<'_> = si.decode()?;
            let signature: &OctetStringRef = si.decode()?;
            skip_rest(si)?; // unsignedAttrs
            Ok::<_, der::Error>((digest_alg, signed_attrs, sig_alg, signature))
        })
        .map_err(derr("signerInfo"))?;
    let digest_alg = Hash::from_oid(digest_alg.oid.as_bytes())
        .ok_or_else(|| bad("unsupported timestamp digest algorithm"))?;
    Ok(Token {
        tst_info: econtent.value(),
        digest_alg,
        signed_attrs,
        sig_hash: signature_oid_hash(sig_alg.oid.as_bytes()).unwrap_or(digest_alg),
        signature: signature.as_bytes(),
    })
}

/// The message imprint (hash, digest) and genTime of a TSTInfo.
fn parse_tst_info(tst: &[u8]) -> Result<(Hash, &[u8], UnixTime), SigstoreError> {
    let (imprint, gen_time) = AnyRef::from_der(tst)
        .and_then(|t| {
            t.sequence(|r| {
                let _version: u8 = r.decode()?;
                let _policy: ObjectIdentifier = r.decode()?;
                let imprint: MessageImprint<'_> = r.decode()?;
                let _serial: IntRef<'_> = r.decode()?;
                let gen_time: AnyRef<'_> = r.decode()?;
                gen_time.tag().assert_eq(Tag::GeneralizedTime)?;
                skip_rest(r)?; // accuracy, ordering, nonce, tsa, extensions
                Ok::<_, der::Error>((imprint, gen_time))
            })
        })
        .map_err(derr("TSTInfo"))?;
    let hash = Hash::from_oid(imprint.hash_algorithm.oid.as_bytes())
        .ok_or_else(|| bad("unsupported message imprint algorithm"))?;
    // GeneralizedTime's tag number; `der` refuses fractional seconds, so the text is
    // read by `parse_der_time`.
    let gen_time = parse_der_time(0x18, gen_time.value()).map_err(|_| bad("bad genTime"))?;
    Ok((hash, imprint.hashed_message.as_bytes(), gen_time))
}

/// The signed attributes' messageDigest must be the TSTInfo's digest.
fn check_signed_attrs(attrs: AnyRef<'_>, tst: &[u8], hash: Hash) -> Result<(), SigstoreError> {
    let mut r = SliceReader::new(attrs.value()).map_err(derr("signedAttrs"))?;
    let mut digest_ok = false;
    while !r.is_finished() {
        let attr: Attribute<'_> = r.decode().map_err(derr("attribute"))?;
        let oid = attr.attr_type.as_bytes();
        if oid == OID_MESSAGE_DIGEST {
            let value: &OctetStringRef =
                first_value(attr.attr_values).map_err(derr("messageDigest"))?;
            digest_ok = value.as_bytes() == hash.digest(tst).as_slice();
        } else if oid == OID_CONTENT_TYPE {
            let value: ObjectIdentifier =
                first_value(attr.attr_values).map_err(derr("contentType"))?;
            if value.as_bytes() != OID_TST_INFO {
                return Err(bad("the signed content type is not TSTInfo"));
            }
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
            // Signed as a SET OF (RFC 5652 §5.4), not with the [0] tag it is sent with.
            AnyRef::new(Tag::Set, attrs.value())
                .and_then(|set| set.to_der())
                .map_err(derr("signedAttrs"))?
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
