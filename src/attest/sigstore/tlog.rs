//! Transparency-log proofs: the signed entry timestamp (Rekor's inclusion promise), the
//! RFC 6962 inclusion proof, and the checkpoint (a C2SP signed note) it ends in.

use super::bundle::{InclusionProof, TlogEntry};
use super::error::{Check, SigstoreError, fail};
use super::sigalg::{Hash, sha256};
use super::trusted_root::LogKey;
use crate::attest::{b64, canonical_json};
use serde_json::json;

/// Verifies the entry's signed entry timestamp: the log's signature over the canonical
/// JSON `{body, integratedTime, logID, logIndex}`.
pub(crate) fn verify_set(entry: &TlogEntry, log: &LogKey, set: &[u8]) -> Result<(), SigstoreError> {
    let payload = json!({
        "body": entry.body_b64,
        "integratedTime": entry.integrated_time,
        "logID": hex::encode(&entry.log_id),
        "logIndex": entry.log_index,
    });
    let bytes = canonical_json(&payload)
        .map_err(|e| SigstoreError::new(Check::SignedEntryTimestamp, e.to_string()))?;
    if !log.key.verify(Hash::Sha256, &bytes, set) {
        return fail(
            Check::SignedEntryTimestamp,
            format!(
                "the signed entry timestamp does not verify under the key of {}",
                log.base_url
            ),
        );
    }
    Ok(())
}

fn node(left: &[u8], right: &[u8]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(65);
    buf.push(1);
    buf.extend_from_slice(left);
    buf.extend_from_slice(right);
    sha256(&buf)
}

/// The RFC 6962 leaf hash of an entry body.
pub(crate) fn leaf_hash(body: &[u8]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(body.len() + 1);
    buf.push(0);
    buf.extend_from_slice(body);
    sha256(&buf)
}

/// The root an inclusion proof yields (RFC 9162 §2.1.3.2), if the proof is well formed
/// for `index` in a tree of `size`.
pub(crate) fn root_from_proof(
    index: u64,
    size: u64,
    leaf: [u8; 32],
    proof: &[Vec<u8>],
) -> Option<[u8; 32]> {
    if index >= size {
        return None;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf;
    for p in proof {
        if p.len() != 32 || s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

/// A parsed checkpoint.
struct Checkpoint<'a> {
    origin: &'a str,
    size: u64,
    root: Vec<u8>,
    signed: &'a str,
    signatures: Vec<(&'a str, Vec<u8>)>,
}

fn parse_checkpoint(text: &str) -> Result<Checkpoint<'_>, SigstoreError> {
    let bad = |r: &str| SigstoreError::new(Check::Checkpoint, r.to_owned());
    let split = text
        .find("\n\n")
        .ok_or_else(|| bad("the checkpoint has no blank line before its signatures"))?;
    let signed = &text[..split + 1];
    let mut lines = signed.lines();
    let origin = lines.next().unwrap_or_default();
    let size_line = lines.next().unwrap_or_default();
    let root_line = lines.next().unwrap_or_default();
    if origin.is_empty() || origin.parse::<u64>().is_ok() {
        return Err(bad("the checkpoint has no origin line"));
    }
    let size = size_line
        .parse::<u64>()
        .map_err(|_| bad("the checkpoint's second line is not a tree size"))?;
    let root =
        b64::decode(root_line).map_err(|_| bad("the checkpoint's root hash is not base64"))?;
    let mut signatures = Vec::new();
    for line in text[split + 2..].lines() {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            return Err(bad(
                "a checkpoint signature line does not start with an em dash",
            ));
        };
        let (name, sig) = rest
            .rsplit_once(' ')
            .ok_or_else(|| bad("a checkpoint signature line has no signature"))?;
        let sig = b64::decode(sig).map_err(|_| bad("a checkpoint signature is not base64"))?;
        if sig.len() < 5 {
            return Err(bad("a checkpoint signature is too short"));
        }
        signatures.push((name, sig));
    }
    Ok(Checkpoint {
        origin,
        size,
        root,
        signed,
        signatures,
    })
}

/// Verifies the inclusion proof of `entry` and the checkpoint it ends in: the proof
/// yields the proof's root hash, and the log signed a checkpoint for that root and size.
/// Signature lines from other keys (witnesses) are ignored.
pub(crate) fn verify_inclusion(
    entry: &TlogEntry,
    proof: &InclusionProof,
    log: &LogKey,
) -> Result<(), SigstoreError> {
    let (Ok(index), Ok(size)) = (
        u64::try_from(proof.log_index),
        u64::try_from(proof.tree_size),
    ) else {
        return fail(Check::InclusionProof, "negative log index or tree size");
    };
    let root = root_from_proof(index, size, leaf_hash(&entry.body), &proof.hashes);
    if root.is_none_or(|r| r.as_slice() != proof.root_hash.as_slice()) {
        return fail(
            Check::InclusionProof,
            "the inclusion proof does not lead to the proof's root hash",
        );
    }
    let Some(text) = proof.checkpoint.as_deref() else {
        return fail(Check::Checkpoint, "the inclusion proof has no checkpoint");
    };
    let cp = parse_checkpoint(text)?;
    let hint = log.log_id.get(..4).unwrap_or_default();
    let signed = cp.signatures.iter().any(|(_, sig)| {
        sig[..4] == *hint
            && log
                .key
                .verify(Hash::Sha256, cp.signed.as_bytes(), &sig[4..])
    });
    if !signed {
        return fail(
            Check::Checkpoint,
            format!(
                "no signature of the log {} on checkpoint {:?} verifies",
                log.base_url, cp.origin
            ),
        );
    }
    if cp.size != size || cp.root != proof.root_hash {
        return fail(
            Check::Checkpoint,
            "the checkpoint's tree size or root hash differs from the inclusion proof's",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree_root(leaves: &[[u8; 32]]) -> [u8; 32] {
        if leaves.len() == 1 {
            return leaves[0];
        }
        let k = leaves.len().next_power_of_two() / 2;
        let k = if k == leaves.len() { k / 2 } else { k };
        node(&tree_root(&leaves[..k]), &tree_root(&leaves[k..]))
    }

    fn proof(leaves: &[[u8; 32]], m: usize) -> Vec<Vec<u8>> {
        if leaves.len() == 1 {
            return vec![];
        }
        let k = leaves.len().next_power_of_two() / 2;
        let k = if k == leaves.len() { k / 2 } else { k };
        if m < k {
            let mut p = proof(&leaves[..k], m);
            p.push(tree_root(&leaves[k..]).to_vec());
            p
        } else {
            let mut p = proof(&leaves[k..], m - k);
            p.push(tree_root(&leaves[..k]).to_vec());
            p
        }
    }

    #[test]
    fn inclusion_proofs_of_every_leaf_in_trees_up_to_nine() {
        for n in 1..=9usize {
            let leaves: Vec<[u8; 32]> = (0..n).map(|i| leaf_hash(&[i as u8])).collect();
            let root = tree_root(&leaves);
            for m in 0..n {
                let p = proof(&leaves, m);
                assert_eq!(
                    root_from_proof(m as u64, n as u64, leaves[m], &p),
                    Some(root)
                );
                if !p.is_empty() {
                    let mut broken = p.clone();
                    broken[0][0] ^= 1;
                    assert_ne!(
                        root_from_proof(m as u64, n as u64, leaves[m], &broken),
                        Some(root)
                    );
                }
                assert_eq!(root_from_proof(n as u64, n as u64, leaves[m], &p), None);
            }
        }
    }

    #[test]
    fn checkpoints_need_an_origin_a_size_and_signature_lines() {
        let ok = "origin\n5\nAAAA\n\n\u{2014} origin AAAAAAA=\n";
        let cp = parse_checkpoint(ok).unwrap();
        assert_eq!((cp.origin, cp.size, cp.signatures.len()), ("origin", 5, 1));
        assert!(parse_checkpoint("5\nAAAA\n\n\u{2014} origin AAAAAAA=\n").is_err());
        assert!(parse_checkpoint("origin\nAAAA\n\n\u{2014} origin AAAAAAA=\n").is_err());
        assert!(parse_checkpoint("origin\n5\nAAAA\n").is_err());
    }
}
