//! Signed attestations for tests: in-toto Statements signed as DSSE envelopes with
//! custody's own signer, attached with custody's push API.

use custody::attest::{INTOTO_PAYLOAD_TYPE, SigningKey, sign_envelope};
use custody::digest::Digest;
use custody::registry::{Artifact, Attached, Credentials, DSSE_MEDIA_TYPE, ImageRef, OciRegistry};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// An in-toto Statement v1 about `subject` (JSON bytes).
pub fn statement(subject: &Digest, predicate_type: &str, predicate: Value) -> Vec<u8> {
    let s = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "image", "digest": {subject.algorithm().as_str(): subject.hex()}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    });
    serde_json::to_vec(&s).expect("json")
}

/// `statement` signed by `key` as a DSSE envelope (JSON bytes).
pub fn signed_envelope(key: &SigningKey, statement: &[u8]) -> bytes::Bytes {
    let env = sign_envelope(INTOTO_PAYLOAD_TYPE, statement, &[key]).expect("sign");
    bytes::Bytes::from(env.to_json().into_bytes())
}

/// Signs a statement about `about` (predicate `predicate_type`) and attaches it to
/// `subject` in `image`'s repository as an OCI referrer.
pub async fn attach_statement(
    client: &OciRegistry,
    image: &ImageRef,
    subject: &Digest,
    about: &Digest,
    key: &SigningKey,
    predicate_type: &str,
) -> Attached {
    let predicate = json!({"n": predicate_type});
    attach_predicate(
        client,
        image,
        subject,
        (about, predicate_type, predicate),
        key,
    )
    .await
}

/// The one attach helper: signs a statement `(about, predicate type, predicate)` with
/// `key` and attaches it to `subject` in `image`'s repository (Referrers API where the
/// registry has it, the tag schema otherwise).
pub async fn attach_predicate(
    client: &OciRegistry,
    image: &ImageRef,
    subject: &Digest,
    (about, predicate_type, predicate): (&Digest, &str, Value),
    key: &SigningKey,
) -> Attached {
    let body = statement(about, predicate_type, predicate);
    let artifact = Artifact {
        artifact_type: DSSE_MEDIA_TYPE.to_owned(),
        media_type: DSSE_MEDIA_TYPE.to_owned(),
        data: signed_envelope(key, &body),
        annotations: BTreeMap::from([(
            "in-toto.io/predicate-type".to_owned(),
            predicate_type.to_owned(),
        )]),
    };
    attach(client, image, subject, &artifact).await
}

/// Attaches any artifact (an envelope, a Sigstore bundle, a link) to `subject` in
/// `image`'s repository, anonymously.
pub async fn attach(
    client: &OciRegistry,
    image: &ImageRef,
    subject: &Digest,
    artifact: &Artifact,
) -> Attached {
    client
        .attach(image, subject, artifact, &Credentials::anonymous())
        .await
        .expect("attach an artifact")
}
