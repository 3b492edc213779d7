//! Signed in-toto metadata in the forms it travels in, and its signatures.
//!
//! - The legacy metablock `{"signed": {...}, "signatures": [{"keyid", "sig"}]}`: the
//!   signatures (hex) are over the canonical JSON (securesystemslib's) of `signed`,
//!   exactly as it appears in the file.
//! - A DSSE envelope with payload type `application/vnd.in-toto+json` whose payload is
//!   a `_type: link` or `_type: layout` object (what `in-toto-run --use-dsse` writes),
//!   or an in-toto Statement with a link predicate (read as a link, see
//!   [`link_from_statement`]).

use super::error::LoadError;
use super::model::{Artifacts, Link, digest_map};
use crate::attest::{
    Envelope, INTOTO_PAYLOAD_TYPE, MAX_SIGNATURES, PublicKey, Statement, canonical_json, pae,
};
use serde_json::Value;

/// Predicate types read as in-toto links.
pub const LINK_PREDICATE_TYPES: &[&str] = &[
    "https://in-toto.io/attestation/link/v0.3",
    "https://in-toto.io/Link/v0.3",
    "https://in-toto.io/Link/v0.2",
    "https://in-toto.io/Link/v1",
];

/// The form a piece of metadata came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Form {
    /// `{"signed", "signatures"}`.
    Metablock,
    /// A DSSE envelope.
    Dsse,
}

/// What the metadata holds.
#[derive(Debug, Clone)]
pub enum Payload {
    /// A link (from a link object or a link Statement).
    Link(Link),
    /// A layout (the raw object; read with [`super::Layout::from_value`]).
    Layout(Value),
}

/// One signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sig {
    /// The key id it claims (a hint only).
    pub keyid: Option<String>,
    /// The signature bytes.
    pub sig: Vec<u8>,
}

/// Signed in-toto metadata.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// Its form.
    pub form: Form,
    /// What it holds.
    pub payload: Payload,
    /// The bytes the signatures are over (canonical JSON, or the DSSE PAE).
    signed_bytes: Vec<u8>,
    /// The signatures.
    pub signatures: Vec<Sig>,
}

impl Metadata {
    /// Reads metadata in either form; `what` names it in errors.
    pub fn from_json(bytes: &[u8], what: &str) -> Result<Metadata, LoadError> {
        // A DSSE envelope is read in one pass; only what is not one is read again as a
        // value, to tell a metablock from a broken envelope.
        let envelope_error = match Envelope::from_json(bytes) {
            Ok(env) => return Metadata::from_envelope(env, what),
            Err(e) => e,
        };
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| LoadError::format(what, format!("not JSON: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| LoadError::format(what, "not a JSON object"))?;
        if obj.contains_key("payloadType") {
            return Err(LoadError::format(what, envelope_error.to_string()));
        }
        let signed = obj.get("signed").ok_or_else(|| {
            LoadError::format(
                what,
                "neither a DSSE envelope nor a {\"signed\", \"signatures\"} metablock",
            )
        })?;
        let signed_bytes =
            canonical_json(signed).map_err(|e| LoadError::format(what, e.to_string()))?;
        let payload = read_object(signed, what)?;
        let mut signatures = Vec::new();
        for (i, s) in obj
            .get("signatures")
            .and_then(Value::as_array)
            .ok_or_else(|| LoadError::format(what, "signatures is not a list"))?
            .iter()
            .enumerate()
        {
            let sig = s
                .get("sig")
                .and_then(Value::as_str)
                .and_then(|h| hex::decode(h).ok())
                .ok_or_else(|| LoadError::format(what, format!("signature {i} has no hex sig")))?;
            let keyid = s.get("keyid").and_then(Value::as_str).map(str::to_owned);
            signatures.push(Sig { keyid, sig });
        }
        Ok(Metadata {
            form: Form::Metablock,
            payload,
            signed_bytes,
            signatures,
        })
    }

    /// Reads a DSSE envelope (also the one inside a Sigstore bundle).
    pub fn from_envelope(env: Envelope, what: &str) -> Result<Metadata, LoadError> {
        Metadata::from_envelope_with(env, what, None)
    }

    /// Like [`Metadata::from_envelope`]; when `provenance_step` is given, a SLSA
    /// provenance Statement is read as the link of that step ([`link_from_provenance`]).
    pub fn from_envelope_with(
        env: Envelope,
        what: &str,
        provenance_step: Option<&str>,
    ) -> Result<Metadata, LoadError> {
        if env.payload_type != INTOTO_PAYLOAD_TYPE {
            return Err(LoadError::format(
                what,
                format!(
                    "DSSE payload type {:?} is not {INTOTO_PAYLOAD_TYPE}",
                    env.payload_type
                ),
            ));
        }
        let payload = read_dsse_payload(&env.payload, what, provenance_step)?;
        Ok(Metadata {
            form: Form::Dsse,
            payload,
            signed_bytes: env.pae(),
            signatures: env
                .signatures
                .into_iter()
                .map(|s| Sig {
                    keyid: s.keyid,
                    sig: s.sig,
                })
                .collect(),
        })
    }

    /// Reads an attestation found for an image: a DSSE envelope or a Sigstore bundle
    /// holding one. Anything that is not in-toto link metadata is `None`.
    pub fn link_from_attestation(bytes: &[u8]) -> Option<Metadata> {
        let env = match Envelope::from_json(bytes) {
            Ok(env) => env,
            Err(_) => crate::attest::bundle::Bundle::from_json(bytes)
                .ok()?
                .envelope_with_hints(),
        };
        let md = Metadata::from_envelope(env, "attestation").ok()?;
        md.link().is_some().then_some(md)
    }

    /// Whether a signature verifies under `key` (listed under `listed_id`). The
    /// signature claiming that id, or another id of the same key, is tried first; any
    /// signature that verifies counts (a key id is a hint, never a proof).
    pub fn signed_by(&self, key: &PublicKey, listed_id: &str) -> bool {
        let claims = |s: &Sig| {
            s.keyid
                .as_deref()
                .is_some_and(|id| id.eq_ignore_ascii_case(listed_id) || key.answers_to(id))
        };
        let sigs = &self.signatures[..self.signatures.len().min(MAX_SIGNATURES)];
        sigs.iter()
            .filter(|s| claims(s))
            .chain(sigs.iter().filter(|s| !claims(s)))
            .any(|s| key.verify(&self.signed_bytes, &s.sig))
    }

    /// The link, if this is one.
    pub fn link(&self) -> Option<&Link> {
        match &self.payload {
            Payload::Link(l) => Some(l),
            Payload::Layout(_) => None,
        }
    }
}

/// A `_type: link` object read straight into its fields.
#[derive(serde::Deserialize)]
struct RawLink {
    #[serde(rename = "_type")]
    type_: String,
    name: String,
    #[serde(default)]
    command: Option<Vec<String>>,
    #[serde(default)]
    materials: Option<Artifacts>,
    #[serde(default)]
    products: Option<Artifacts>,
    #[serde(default)]
    byproducts: Option<Value>,
    #[serde(default)]
    environment: Option<Value>,
}

fn lowercase_digests(mut artifacts: Artifacts) -> Artifacts {
    for hashes in artifacts.values_mut() {
        for hex in hashes.values_mut() {
            hex.make_ascii_lowercase();
        }
    }
    artifacts
}

fn read_object(v: &Value, what: &str) -> Result<Payload, LoadError> {
    match v.get("_type").and_then(Value::as_str) {
        Some("link") => Ok(Payload::Link(Link::from_value(v, what)?)),
        Some("layout") => Ok(Payload::Layout(v.clone())),
        Some(other) => Err(LoadError::format(
            what,
            format!("_type {other:?} is neither link nor layout"),
        )),
        None => Err(LoadError::format(what, "no _type")),
    }
}

fn read_dsse_payload(
    payload: &[u8],
    what: &str,
    provenance_step: Option<&str>,
) -> Result<Payload, LoadError> {
    // A link is read straight into its fields (one pass); anything else as a value.
    if let Ok(raw) = serde_json::from_slice::<RawLink>(payload)
        && raw.type_ == "link"
    {
        let empty = || Value::Object(serde_json::Map::new());
        return Ok(Payload::Link(Link {
            name: raw.name,
            command: raw.command.unwrap_or_default(),
            materials: lowercase_digests(raw.materials.unwrap_or_default()),
            products: lowercase_digests(raw.products.unwrap_or_default()),
            byproducts: raw
                .byproducts
                .filter(|v| !v.is_null())
                .unwrap_or_else(empty),
            environment: raw
                .environment
                .filter(|v| !v.is_null())
                .unwrap_or_else(empty),
        }));
    }
    let v: Value = serde_json::from_slice(payload)
        .map_err(|e| LoadError::format(what, format!("DSSE payload is not JSON: {e}")))?;
    match v.get("_type").and_then(Value::as_str) {
        Some("link") | Some("layout") => read_object(&v, what),
        _ => {
            let st =
                Statement::parse(payload).map_err(|e| LoadError::format(what, e.to_string()))?;
            match provenance_step {
                Some(step) if st.predicate_type.starts_with(SLSA_PROVENANCE_PREFIX) => {
                    link_from_provenance(&st, step, what).map(Payload::Link)
                }
                _ => link_from_statement(&st, what).map(Payload::Link),
            }
        }
    }
}

/// Reads an in-toto Statement with a link predicate as a link: `predicate.name`,
/// `command`, `byproducts`, `environment` as they are; materials from
/// `predicate.materials` (a list of ResourceDescriptors in v0.3, a name → digests map
/// in older predicates); products from `predicate.products` when present, otherwise
/// the Statement's subjects.
pub fn link_from_statement(st: &Statement, what: &str) -> Result<Link, LoadError> {
    if !LINK_PREDICATE_TYPES.contains(&st.predicate_type.as_str()) {
        return Err(LoadError::format(
            what,
            format!(
                "predicate type {:?} is not an in-toto link",
                st.predicate_type
            ),
        ));
    }
    let p = &st.predicate;
    let name = p
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| LoadError::format(what, "link predicate has no name"))?;
    let mut link = Link::empty(name);
    link.command = p
        .get("command")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if let Some(b) = p.get("byproducts") {
        link.byproducts = b.clone();
    }
    if let Some(e) = p.get("environment") {
        link.environment = e.clone();
    }
    link.materials = descriptors(p.get("materials"), what, "materials")?;
    link.products = match p.get("products") {
        Some(v) if !v.is_null() => descriptors(Some(v), what, "products")?,
        _ => st
            .subjects
            .iter()
            .map(|s| (s.name.clone(), s.digest.clone()))
            .collect(),
    };
    Ok(link)
}

/// Predicate types starting with this are SLSA provenance.
pub const SLSA_PROVENANCE_PREFIX: &str = "https://slsa.dev/provenance/";

/// Reads a SLSA provenance Statement as the link of step `step`, with the mapping of
/// in-toto's attestation-verifier: materials from `buildDefinition.resolvedDependencies`
/// (v1) or `materials` (v0.2), products from the Statement's subjects.
pub fn link_from_provenance(st: &Statement, step: &str, what: &str) -> Result<Link, LoadError> {
    let p = &st.predicate;
    let deps = p
        .get("buildDefinition")
        .and_then(|b| b.get("resolvedDependencies"))
        .or_else(|| p.get("materials"));
    let mut link = Link::empty(step);
    link.materials = descriptors(deps, what, "materials")?;
    link.products = st
        .subjects
        .iter()
        .map(|s| (s.name.clone(), s.digest.clone()))
        .collect();
    Ok(link)
}

/// Artifacts from a ResourceDescriptor list (`name`, else `uri`) or a name → digests map.
pub(crate) fn descriptors(
    v: Option<&Value>,
    what: &str,
    field: &str,
) -> Result<Artifacts, LoadError> {
    let mut out = Artifacts::new();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                let name = item
                    .get("name")
                    .or_else(|| item.get("uri"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        LoadError::format(
                            what,
                            format!("{field}: a descriptor has neither name nor uri"),
                        )
                    })?;
                let digest = match item.get("digest") {
                    Some(d) => digest_map(d, what, field)?,
                    None => Default::default(),
                };
                out.insert(name.to_owned(), digest);
            }
        }
        Some(Value::Object(map)) => {
            for (name, d) in map {
                out.insert(name.clone(), digest_map(d, what, field)?);
            }
        }
        Some(_) => {
            return Err(LoadError::format(
                what,
                format!("{field} is neither a list nor an object"),
            ));
        }
    }
    Ok(out)
}

/// The legacy hex signature entry for `sig` by key id `keyid`.
pub(crate) fn metablock_signature(keyid: &str, sig: &[u8]) -> Value {
    serde_json::json!({ "keyid": keyid, "sig": hex::encode(sig) })
}

/// The bytes a DSSE signature over `payload` covers.
pub(crate) fn dsse_message(payload: &[u8]) -> Vec<u8> {
    pae(INTOTO_PAYLOAD_TYPE, payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(predicate_type: &str, predicate: Value) -> Statement {
        let v = serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "app", "digest": {"sha256": "ab"}}],
            "predicateType": predicate_type,
            "predicate": predicate,
        });
        Statement::parse(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn link_statements_in_their_forms() {
        let v03 = st(
            "https://in-toto.io/attestation/link/v0.3",
            serde_json::json!({"name": "build", "command": ["make"],
                "materials": [{"name": "src/a.c", "digest": {"sha256": "CD"}}, {"uri": "git+https://x", "digest": {"sha1": "ef"}}]}),
        );
        let l = link_from_statement(&v03, "t").unwrap();
        assert_eq!(l.name, "build");
        assert_eq!(l.command, ["make"]);
        assert_eq!(l.materials["src/a.c"]["sha256"], "cd");
        assert!(l.materials.contains_key("git+https://x"));
        assert_eq!(l.products["app"]["sha256"], "ab");
        let v02 = st(
            "https://in-toto.io/Link/v0.2",
            serde_json::json!({"name": "pkg", "materials": {"a": {"sha256": "01"}}, "products": {"b": {"sha256": "02"}}}),
        );
        let l = link_from_statement(&v02, "t").unwrap();
        assert_eq!(l.materials["a"]["sha256"], "01");
        assert_eq!(l.products.keys().collect::<Vec<_>>(), ["b"]);
        let other = st("https://slsa.dev/provenance/v1", serde_json::json!({}));
        assert!(link_from_statement(&other, "t").is_err());
        let prov = st(
            "https://slsa.dev/provenance/v0.2",
            serde_json::json!({"materials": [{"uri": "git+https://src", "digest": {"sha1": "aa"}}]}),
        );
        let l = link_from_provenance(&prov, "build", "t").unwrap();
        assert_eq!(l.name, "build");
        assert!(l.materials.contains_key("git+https://src"));
        assert!(l.products.contains_key("app"));
    }
}
