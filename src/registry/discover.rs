//! Discovery of the evidence attached to a digest: the Referrers API, on 404 the
//! `sha256-<hex>` tag schema, and cosign's `sha256-<hex>.att` tag; every referrer's
//! `subject` checked, every blob digest-checked, sources recorded.

use super::config::CosignTagMode;
use super::error::RegistryError;
use super::fetch::{Fetcher, header_str};
use super::http::{Req, read_body};
use super::manifest::{
    Descriptor, Index, Manifest, OCI_INDEX_MEDIA_TYPE, artifact_type_may_carry_evidence,
    classify_media_type, is_index,
};
use super::stats::in_round;
use super::types::{Discovery, Evidence, MAX_SKIPPED_RECORDED, SkipReason, Skipped, Source};
use crate::digest::Digest;
use futures::StreamExt;
use reqwest::{Method, Url};
use std::collections::HashSet;
use std::sync::Mutex;

const MAX_PAGES: u32 = 16;
const PARALLEL_FETCHES: usize = 16;

/// The tag under which the referrers tag schema (and cosign, with `.att`) file a digest.
pub(crate) fn schema_tag(digest: &Digest) -> String {
    let tag = format!("{}-{}", digest.algorithm().as_str(), digest.hex());
    tag.chars().take(128).collect()
}

/// Runs the whole discovery for `subject`.
pub(crate) async fn discover(
    f: &Fetcher<'_>,
    subject: &Digest,
) -> Result<Discovery, RegistryError> {
    let mut out = Discovery {
        subject: subject.clone(),
        evidence: Vec::new(),
        skipped: Vec::new(),
        skipped_omitted: 0,
        consulted: Vec::new(),
    };
    let referrers = async {
        let (source, listing, round) = list(f, subject).await?;
        let fetched_any = !listing.is_empty();
        let found = from_referrers(f, subject, source, listing, round).await;
        let last = if fetched_any { round + 2 } else { round };
        Ok::<_, RegistryError>((source, found, last))
    };
    let cosign_first = f.cfg.cosign_tag == CosignTagMode::Always;
    let (ref_result, cosign_result) = if cosign_first {
        let (r, c) = futures::join!(referrers, from_cosign_tag(f, subject, 0));
        (r, Some(c))
    } else {
        (referrers.await, None)
    };
    let (source, (evidence, skipped), last_round) = ref_result?;
    out.consulted.push(source);
    out.evidence.extend(evidence);
    skipped.into_discovery(&mut out);
    let cosign_result = match cosign_result {
        Some(c) => Some(c),
        None if f.cfg.cosign_tag == CosignTagMode::Auto && out.evidence.is_empty() => {
            Some(from_cosign_tag(f, subject, last_round).await)
        }
        None => None,
    };
    if let Some(c) = cosign_result {
        let (evidence, skipped) = c?;
        out.consulted.push(Source::CosignTag);
        out.evidence.extend(evidence);
        skipped.into_discovery(&mut out);
    }
    let mut seen = HashSet::new();
    out.evidence.retain(|e| seen.insert(e.blob_digest.clone()));
    Ok(out)
}

/// Lists referrers with the Referrers API, falling back to the tag schema on 404; also
/// returns the round trips the listing took.
async fn list(
    f: &Fetcher<'_>,
    subject: &Digest,
) -> Result<(Source, Vec<Descriptor>, u32), RegistryError> {
    let mut round = 1;
    if !f.http.lacks_referrers_api(f.target.image) {
        match referrers_api(f, subject).await {
            Ok(Some((list, pages))) => return Ok((Source::ReferrersApi, list, pages)),
            Ok(None) => f.http.note_no_referrers_api(f.target.image),
            Err(e) => return Err(e),
        }
        round = 2;
    }
    let tag = schema_tag(subject);
    let fetched = in_round(
        round,
        f.manifest(
            &tag,
            None,
            OCI_INDEX_MEDIA_TYPE,
            "read referrers tag schema",
        ),
    )
    .await;
    match fetched {
        Ok(fetched) => match serde_json::from_slice::<Index>(&fetched.bytes) {
            Ok(index) => Ok((Source::TagSchema, index.manifests, round)),
            Err(_) => Ok((Source::TagSchema, Vec::new(), round)),
        },
        Err(RegistryError::NotFound { .. }) => Ok((Source::TagSchema, Vec::new(), round)),
        Err(e) => Err(e),
    }
}

/// `GET /v2/<name>/referrers/<digest>`, following `Link: rel="next"`. `None` when the
/// registry has no Referrers API.
async fn referrers_api(
    f: &Fetcher<'_>,
    subject: &Digest,
) -> Result<Option<(Vec<Descriptor>, u32)>, RegistryError> {
    let step = "list referrers";
    let mut url = f
        .http
        .url(f.target.image, &format!("referrers/{subject}"))?;
    if let Some(t) = &f.cfg.referrers_artifact_type {
        url.query_pairs_mut().append_pair("artifactType", t);
    }
    let mut all = Vec::new();
    let mut pages = 0;
    while pages < MAX_PAGES {
        pages += 1;
        let request = Req {
            method: Method::GET,
            url: url.clone(),
            accept: Some(OCI_INDEX_MEDIA_TYPE),
            content_type: None,
            body: None,
            step,
        };
        let sent = in_round(pages, f.http.send(&f.target, request)).await;
        let resp = match sent {
            Ok(r) => r,
            Err(RegistryError::NotFound { .. }) if all.is_empty() => return Ok(None),
            Err(RegistryError::Status {
                status: 400 | 405 | 406 | 501,
                ..
            }) if all.is_empty() => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let next = header_str(&resp, "link").and_then(|l| next_link(&url, &l));
        let body = read_body(
            resp,
            f.cfg.max_manifest_bytes,
            None,
            Some(&f.budget),
            &f.label(),
            step,
        )
        .await?;
        let index: Index = serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
            image: f.label(),
            step,
            reason: format!("referrers listing is not an image index: {e}"),
        })?;
        all.extend(index.manifests);
        match next {
            Some(n) if all.len() <= f.cfg.max_referrers => url = n,
            _ => break,
        }
    }
    Ok(Some((all, pages)))
}

/// The `rel="next"` target of a `Link` header, resolved against `base`.
pub fn next_link(base: &Url, header: &str) -> Option<Url> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|p| {
            p.trim()
                .replace(' ', "")
                .eq_ignore_ascii_case("rel=\"next\"")
                || p.trim().eq_ignore_ascii_case("rel=next")
        });
        if !is_next {
            return None;
        }
        let next = base.join(target).ok()?;
        // Stay on the same registry: a listing cannot send us elsewhere.
        (next.host_str() == base.host_str()
            && next.port_or_known_default() == base.port_or_known_default())
        .then_some(next)
    })
}

type Found = (Vec<Evidence>, SkipLog);

/// Skipped entries, at most [`MAX_SKIPPED_RECORDED`] kept and the rest counted, so a
/// listing of thousands of junk referrers never becomes a list of thousands.
#[derive(Debug, Default)]
struct SkipLog {
    items: Vec<Skipped>,
    omitted: usize,
}

impl SkipLog {
    fn one(s: Skipped) -> SkipLog {
        SkipLog {
            items: vec![s],
            omitted: 0,
        }
    }

    fn push(&mut self, s: Skipped) {
        if self.items.len() < MAX_SKIPPED_RECORDED {
            self.items.push(s);
        } else {
            self.omitted += 1;
        }
    }

    fn extend(&mut self, other: SkipLog) {
        self.omitted += other.omitted;
        for s in other.items {
            self.push(s);
        }
    }

    fn into_discovery(self, out: &mut Discovery) {
        out.skipped_omitted += self.omitted;
        for s in self.items {
            out.skip(s);
        }
    }
}

/// Fetches each referrer manifest (checking its subject) and then its evidence blobs,
/// referrers in parallel.
async fn from_referrers(
    f: &Fetcher<'_>,
    subject: &Digest,
    source: Source,
    listing: Vec<Descriptor>,
    round: u32,
) -> Found {
    let mut skipped = SkipLog::default();
    let mut wanted = Vec::new();
    let mut beyond_limit = 0usize;
    for d in listing {
        let filtered_out = f
            .cfg
            .referrers_artifact_type
            .as_ref()
            .is_some_and(|want| d.artifact_type.as_ref() != Some(want));
        if filtered_out
            || !artifact_type_may_carry_evidence(d.artifact_type.as_deref())
            || is_index(&d.media_type)
        {
            skipped.push(Skipped {
                source,
                manifest_digest: Some(d.digest.clone()),
                media_type: d.artifact_type.clone().or(Some(d.media_type.clone())),
                reason: SkipReason::UnsupportedMediaType,
            });
        } else if wanted.len() >= f.cfg.max_referrers {
            beyond_limit += 1;
        } else {
            wanted.push(d);
        }
    }
    if beyond_limit > 0 {
        // One entry for all of them: how many, not which.
        skipped.push(Skipped {
            source,
            manifest_digest: None,
            media_type: None,
            reason: SkipReason::TooManyReferrers {
                limit: f.cfg.max_referrers,
            },
        });
        skipped.omitted += beyond_limit - 1;
    }
    // Blobs already being fetched for this subject (two referrers may share a layer).
    let fetched = Mutex::new(HashSet::new());
    let results: Vec<Found> = futures::stream::iter(wanted)
        .map(|d| one_referrer(f, subject, source, d, round, &fetched))
        .buffered(PARALLEL_FETCHES)
        .collect()
        .await;
    let mut evidence = Vec::new();
    for (e, s) in results {
        evidence.extend(e);
        skipped.extend(s);
    }
    (evidence, skipped)
}

async fn one_referrer(
    f: &Fetcher<'_>,
    subject: &Digest,
    source: Source,
    d: Descriptor,
    round: u32,
    fetched_blobs: &Mutex<HashSet<Digest>>,
) -> Found {
    let skip = |reason: SkipReason| Skipped {
        source,
        manifest_digest: Some(d.digest.clone()),
        media_type: d.artifact_type.clone(),
        reason,
    };
    if d.size > f.cfg.max_manifest_bytes {
        let reason = SkipReason::TooLarge {
            size: d.size,
            limit: f.cfg.max_manifest_bytes,
        };
        return (Vec::new(), SkipLog::one(skip(reason)));
    }
    let reference = d.digest.to_string();
    let fetch = f.manifest(
        &reference,
        Some(&d.digest),
        super::manifest::MANIFEST_ACCEPT,
        "fetch referrer manifest",
    );
    let fetched = match in_round(round + 1, fetch).await {
        Ok(m) => m,
        Err(e) => return (Vec::new(), SkipLog::one(skip(fetch_failed(&e)))),
    };
    let manifest: Manifest = match serde_json::from_slice(&fetched.bytes) {
        Ok(m) => m,
        Err(e) => {
            let reason = SkipReason::Malformed {
                message: e.to_string(),
            };
            return (Vec::new(), SkipLog::one(skip(reason)));
        }
    };
    match &manifest.subject {
        Some(s) if s.digest == *subject => {}
        other => {
            let reason = SkipReason::SubjectMismatch {
                found: other.as_ref().map(|s| s.digest.to_string()),
            };
            return (Vec::new(), SkipLog::one(skip(reason)));
        }
    }
    layers(
        f,
        subject,
        source,
        &d.digest,
        &manifest,
        round + 2,
        fetched_blobs,
    )
    .await
}

/// cosign's legacy `sha256-<hex>.att` tag: an image manifest whose layers are DSSE
/// envelopes; the tag name is what binds it to the digest.
async fn from_cosign_tag(
    f: &Fetcher<'_>,
    subject: &Digest,
    round: u32,
) -> Result<Found, RegistryError> {
    let tag = format!("{}.att", schema_tag(subject));
    let fetch = f.manifest_any(&tag, "read cosign attestation tag");
    let fetched = match in_round(round + 1, fetch).await {
        Ok(m) => m,
        Err(RegistryError::NotFound { .. }) => return Ok((Vec::new(), SkipLog::default())),
        Err(e) => return Err(e),
    };
    let manifest: Manifest = match serde_json::from_slice(&fetched.bytes) {
        Ok(m) => m,
        Err(e) => {
            let skip = Skipped {
                source: Source::CosignTag,
                manifest_digest: Some(fetched.digest),
                media_type: fetched.media_type,
                reason: SkipReason::Malformed {
                    message: e.to_string(),
                },
            };
            return Ok((Vec::new(), SkipLog::one(skip)));
        }
    };
    let none_yet = Mutex::new(HashSet::new());
    let found = layers(
        f,
        subject,
        Source::CosignTag,
        &fetched.digest,
        &manifest,
        round + 2,
        &none_yet,
    );
    Ok(found.await)
}

/// Downloads the evidence layers of one manifest in parallel: at most
/// `max_referrer_layers` of them (the rest counted), each blob digest once per subject.
async fn layers(
    f: &Fetcher<'_>,
    subject: &Digest,
    source: Source,
    manifest_digest: &Digest,
    m: &Manifest,
    round: u32,
    fetched_blobs: &Mutex<HashSet<Digest>>,
) -> Found {
    let artifact_type = m.artifact_type.clone().or_else(|| {
        (m.config.media_type != super::manifest::EMPTY_MEDIA_TYPE)
            .then(|| m.config.media_type.clone())
    });
    let mut skipped = SkipLog::default();
    let mut wanted = Vec::new();
    let mut beyond_limit = 0usize;
    for layer in &m.layers {
        match classify_media_type(&layer.media_type) {
            Some(_) if wanted.len() >= f.cfg.max_referrer_layers => beyond_limit += 1,
            Some(format) => {
                let first = fetched_blobs
                    .lock()
                    .map(|mut seen| seen.insert(layer.digest.clone()))
                    .unwrap_or(true);
                if first {
                    wanted.push((layer, format));
                }
            }
            None => skipped.push(Skipped {
                source,
                manifest_digest: Some(manifest_digest.clone()),
                media_type: Some(layer.media_type.clone()),
                reason: SkipReason::UnsupportedMediaType,
            }),
        }
    }
    if beyond_limit > 0 {
        skipped.push(Skipped {
            source,
            manifest_digest: Some(manifest_digest.clone()),
            media_type: None,
            reason: SkipReason::TooManyLayers {
                count: beyond_limit + wanted.len(),
                limit: f.cfg.max_referrer_layers,
            },
        });
    }
    let fetches = wanted.iter().map(|(layer, _)| {
        in_round(
            round,
            f.blob(&layer.digest, layer.size, "fetch attestation blob"),
        )
    });
    let blobs = futures::future::join_all(fetches).await;
    let mut evidence = Vec::new();
    for ((layer, format), blob) in wanted.into_iter().zip(blobs) {
        match blob {
            Ok(bytes) => {
                let mut annotations = m.annotations.clone();
                annotations.extend(layer.annotations.clone());
                evidence.push(Evidence {
                    subject: subject.clone(),
                    source,
                    format,
                    artifact_type: artifact_type.clone(),
                    manifest_digest: manifest_digest.clone(),
                    blob_digest: layer.digest.clone(),
                    annotations,
                    bytes,
                });
            }
            Err(e) => skipped.push(Skipped {
                source,
                manifest_digest: Some(manifest_digest.clone()),
                media_type: Some(layer.media_type.clone()),
                reason: match e {
                    RegistryError::TooLarge { size, limit, .. } => {
                        SkipReason::TooLarge { size, limit }
                    }
                    other => fetch_failed(&other),
                },
            }),
        }
    }
    (evidence, skipped)
}

fn fetch_failed(e: &RegistryError) -> SkipReason {
    match e {
        RegistryError::TooLarge { size, limit, .. } => SkipReason::TooLarge {
            size: *size,
            limit: *limit,
        },
        other => SkipReason::FetchFailed {
            category: other.category(),
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_tags_and_links() {
        let d = Digest::sha256(b"");
        assert_eq!(schema_tag(&d), format!("sha256-{}", d.hex()));
        let base = Url::parse("https://r.example/v2/a/referrers/sha256:x").unwrap();
        let n = next_link(&base, r#"</v2/a/referrers/sha256:x?last=y>; rel="next""#).unwrap();
        assert_eq!(
            n.as_str(),
            "https://r.example/v2/a/referrers/sha256:x?last=y"
        );
        assert_eq!(
            next_link(&base, r#"<https://evil.example/x>; rel="next""#),
            None
        );
        assert_eq!(next_link(&base, r#"</x>; rel="prev""#), None);
    }
}
