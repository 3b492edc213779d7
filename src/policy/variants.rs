//! Deterministic variants of an input document for the differential run
//! ([`super::vm_diff`]): the same `(case, variant)` numbers always give the same document.
//!
//! A variant applies one to three mutations, each chosen among: drop an attestation,
//! change a field under a `predicate`, shift a timestamp, change a string, change a
//! number, empty a list, flip a boolean or null a value. A kind with nothing to act on
//! falls through to the next.

use serde_json::Value;

/// A mutation kind; the name appears in the variant's description.
const KINDS: [&str; 8] = [
    "drop-attestation",
    "predicate",
    "timestamp",
    "string",
    "number",
    "empty-list",
    "bool",
    "null",
];

/// splitmix64: a small, well-mixed deterministic sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next() % n as u64) as usize
    }
}

/// A node of the document: its JSON pointer and what it is.
struct Node {
    pointer: String,
    key: String,
    under_predicate: bool,
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn walk(v: &Value, pointer: &str, key: &str, under_predicate: bool, out: &mut Vec<Node>) {
    out.push(Node {
        pointer: pointer.to_owned(),
        key: key.to_owned(),
        under_predicate,
    });
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{pointer}/{}", escape(k));
                walk(child, &p, k, under_predicate || k == "predicate", out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                walk(child, &format!("{pointer}/{i}"), key, under_predicate, out);
            }
        }
        _ => {}
    }
}

/// Variant `n` of case `case` of `doc`, and a description of its mutations.
pub(crate) fn variant(doc: &Value, case: u64, n: u64) -> (Value, String) {
    let mut rng = Rng(case.wrapping_mul(0x1_0000_0001).wrapping_add(n) ^ 0xC057_0D1E);
    let mut out = doc.clone();
    let steps = 1 + rng.below(3);
    let mut done = Vec::new();
    for _ in 0..steps {
        let first = rng.below(KINDS.len());
        for k in 0..KINDS.len() {
            let kind = (first + k) % KINDS.len();
            if let Some(how) = mutate(&mut out, kind, &mut rng) {
                done.push(how);
                break;
            }
        }
    }
    (out, done.join("; "))
}

/// Applies mutation `kind` somewhere in `doc`; `None` when nothing fits.
fn mutate(doc: &mut Value, kind: usize, rng: &mut Rng) -> Option<String> {
    let mut nodes = Vec::new();
    walk(doc, "", "", false, &mut nodes);
    let fits = |n: &Node, v: &Value| -> bool {
        match KINDS[kind] {
            "drop-attestation" => {
                n.key == "attestations" && v.as_array().is_some_and(|a| !a.is_empty())
            }
            "predicate" => n.under_predicate && !v.is_object() && !v.is_array(),
            "timestamp" => v
                .as_str()
                .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
            "string" => v.is_string(),
            "number" => v.is_number(),
            "empty-list" => v.as_array().is_some_and(|a| !a.is_empty()),
            "bool" => v.is_boolean(),
            _ => !n.pointer.is_empty() && !v.is_null(),
        }
    };
    let candidates: Vec<&Node> = nodes
        .iter()
        .filter(|n| doc.pointer(&n.pointer).is_some_and(|v| fits(n, v)))
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let pointer = candidates[rng.below(candidates.len())].pointer.clone();
    let choice = rng.next();
    let slot = doc.pointer_mut(&pointer)?;
    let shown = if pointer.is_empty() { "/" } else { &pointer };
    let how = match KINDS[kind] {
        "drop-attestation" => {
            let a = slot.as_array_mut()?;
            let i = (choice % a.len() as u64) as usize;
            a.remove(i);
            format!("drop {shown}/{i}")
        }
        "predicate" => {
            *slot = changed_leaf(slot, choice);
            format!("predicate field {shown}")
        }
        "timestamp" => {
            let t = chrono::DateTime::parse_from_rfc3339(slot.as_str()?).ok()?;
            let days = [-400i64, -30, -8, -1, 1, 7, 30, 365][(choice % 8) as usize];
            let shifted = t + chrono::Duration::days(days);
            *slot = Value::String(shifted.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            format!("timestamp {shown} {days:+}d")
        }
        "string" | "number" | "bool" => {
            *slot = changed_leaf(slot, choice);
            format!("{} {shown}", KINDS[kind])
        }
        "empty-list" => {
            *slot = Value::Array(Vec::new());
            format!("empty {shown}")
        }
        _ => {
            *slot = Value::Null;
            format!("null {shown}")
        }
    };
    Some(how)
}

/// Another value of the same kind (a string, number or boolean), or a kind change.
fn changed_leaf(v: &Value, choice: u64) -> Value {
    let c = (choice % 5) as usize;
    match v {
        Value::Bool(b) => Value::Bool(!b),
        Value::String(s) => match c {
            0 => Value::String(String::new()),
            1 => Value::String(format!("{s}x")),
            2 => Value::String(s.to_uppercase()),
            3 => Value::String(s.chars().rev().collect()),
            _ => Value::String("latest".to_owned()),
        },
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            match c {
                0 => serde_json::json!(0),
                1 => {
                    serde_json::json!(n.as_i64().map_or(x + 1.0, |i| (i.saturating_add(1)) as f64))
                }
                2 => serde_json::json!(-1),
                3 => serde_json::json!(x * 1000.0),
                _ => serde_json::json!(x + 0.5),
            }
        }
        Value::Null => Value::Bool(true),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "evaluation": {"time": "2026-06-01T00:00:00Z", "timeNs": 1},
            "image": {"tag": "1.0", "attestations": [
                {"predicateType": "a", "predicate": {"ok": true, "n": 3}},
                {"predicateType": "b", "predicate": {"ok": false}}
            ]}
        })
    }

    #[test]
    fn variants_are_deterministic_and_differ() {
        let d = doc();
        let mut distinct = std::collections::BTreeSet::new();
        for n in 0..50 {
            let (a, how_a) = variant(&d, 3, n);
            let (b, how_b) = variant(&d, 3, n);
            assert_eq!((a.clone(), how_a.clone()), (b, how_b));
            assert!(!how_a.is_empty());
            distinct.insert(a.to_string());
        }
        assert!(distinct.len() > 30, "{}", distinct.len());
        assert_ne!(variant(&d, 1, 0).0, variant(&d, 2, 0).0);
    }

    #[test]
    fn every_kind_acts_on_a_document_that_has_it() {
        let d = doc();
        for (kind, name) in KINDS.iter().enumerate() {
            let mut out = d.clone();
            let how = mutate(&mut out, kind, &mut Rng(7)).unwrap_or_else(|| panic!("{name}"));
            assert_ne!(out, d, "{name}: {how}");
        }
        let mut out = d.clone();
        let how = mutate(&mut out, 0, &mut Rng(1)).unwrap();
        assert!(how.starts_with("drop /image/attestations/"), "{how}");
        assert_eq!(out["image"]["attestations"].as_array().unwrap().len(), 1);
        let mut flat = json!({"a": 1});
        assert!(mutate(&mut flat, 0, &mut Rng(1)).is_none());
    }
}
