//! Canonical JSON as securesystemslib and in-toto sign it (OLPC canonical JSON):
//! object keys sorted by their bytes, no insignificant whitespace, strings escaping only
//! `"` and `\` (every other character, newlines included, written as is), integers
//! only. Used for in-toto key ids and for legacy (pre-DSSE) in-toto metadata, whose
//! signatures are over the canonical form of the `signed` object.

use serde_json::Value;

/// Why a value has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("canonical JSON has no floating-point numbers (found {0})")]
pub struct CanonicalError(pub String);

/// A JSON string in canonical form.
pub(crate) fn canonical_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The canonical JSON bytes of `value`.
pub fn canonical_json(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = String::new();
    write_value(value, &mut out)?;
    Ok(out.into_bytes())
}

fn write_value(value: &Value, out: &mut String) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_f64() {
                return Err(CanonicalError(n.to_string()));
            }
            out.push_str(&n.to_string());
        }
        Value::String(s) => out.push_str(&canonical_string(s)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&canonical_string(key));
                out.push(':');
                if let Some(v) = map.get(key) {
                    write_value(v, out)?;
                }
            }
            out.push('}');
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_compacts_and_escapes_minimally() {
        let v: Value = serde_json::from_str(r#"{"b": [1, true, null], "a": "x\"y\\z\n"}"#).unwrap();
        assert_eq!(
            String::from_utf8(canonical_json(&v).unwrap()).unwrap(),
            "{\"a\":\"x\\\"y\\\\z\n\",\"b\":[1,true,null]}"
        );
        assert!(canonical_json(&serde_json::json!({"f": 1.5})).is_err());
    }
}
