//! in-toto Statements (v0.1 and v1): the layer that says what a signature is about.
//!
//! # Field spellings
//!
//! The spec names the fields `_type` and `predicateType`. in-toto's own Go bindings
//! parse Statements with protobuf JSON, which also accepts the proto field names
//! `type` and `predicate_type`, and some producers (for example the in-toto
//! attestation-verifier's test data) write `"type"`. custody accepts those two
//! spellings as aliases, deliberately: the Statement is only read after its signature
//! verified, and the value must still be a known Statement type URI. A Statement that
//! carries both spellings of one field is rejected, so no two readers can disagree on
//! which one counts.

use crate::digest::{Algorithm, Digest};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The DSSE payload type of in-toto Statements.
pub const INTOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// `_type` of Statement v0.1.
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
/// `_type` of Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// A parsed in-toto Statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// `_type`: [`STATEMENT_V01`] or [`STATEMENT_V1`].
    pub type_uri: String,
    /// The artifacts the statement is about.
    pub subjects: Vec<Subject>,
    /// `predicateType`.
    pub predicate_type: String,
    /// `predicate` (an empty object when absent or null, as the spec says).
    pub predicate: Value,
}

/// One subject: a name (not a binding) and a DigestSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The subject's name (empty when a v1 subject leaves it out).
    pub name: String,
    /// Algorithm name → hex value.
    pub digest: BTreeMap<String, String>,
}

/// Why a payload is not a usable Statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// Not a JSON object.
    #[error("statement is not a JSON object: {0}")]
    Json(String),
    /// A required field is absent.
    #[error("statement field {0} is missing")]
    Missing(String),
    /// A field has the wrong JSON type or an empty value.
    #[error("statement field {field} {problem}")]
    Invalid {
        /// Which field, e.g. `subject[0].digest`.
        field: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Both spellings of one field are present.
    #[error("statement has both {0} and {1}")]
    Ambiguous(&'static str, &'static str),
    /// `_type` is not a Statement version custody reads.
    #[error("statement _type {0:?} is not an in-toto Statement v0.1 or v1")]
    UnknownType(String),
}

fn invalid(field: impl Into<String>, problem: &'static str) -> StatementError {
    StatementError::Invalid {
        field: field.into(),
        problem,
    }
}

/// Takes the field under its spec name, or its protobuf alias when the spec name is absent.
fn aliased<'a>(
    obj: &'a Map<String, Value>,
    name: &'static str,
    alias: &'static str,
) -> Result<&'a Value, StatementError> {
    match (obj.get(name), obj.get(alias)) {
        (Some(_), Some(_)) => Err(StatementError::Ambiguous(name, alias)),
        (Some(v), None) | (None, Some(v)) => Ok(v),
        (None, None) => Err(StatementError::Missing(name.to_owned())),
    }
}

impl Statement {
    /// Parses a Statement, rejecting missing required fields with the field's name.
    pub fn parse(bytes: &[u8]) -> Result<Statement, StatementError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| StatementError::Json(e.to_string()))?;
        let Value::Object(obj) = value else {
            return Err(StatementError::Json(
                "top level is not an object".to_owned(),
            ));
        };
        let type_uri = aliased(&obj, "_type", "type")?
            .as_str()
            .ok_or_else(|| invalid("_type", "is not a string"))?;
        let v01 = match type_uri {
            STATEMENT_V01 => true,
            STATEMENT_V1 => false,
            other => return Err(StatementError::UnknownType(other.to_owned())),
        };
        let predicate_type = aliased(&obj, "predicateType", "predicate_type")?
            .as_str()
            .ok_or_else(|| invalid("predicateType", "is not a string"))?;
        if predicate_type.is_empty() {
            return Err(invalid("predicateType", "is empty"));
        }
        let subjects = match obj.get("subject") {
            None => return Err(StatementError::Missing("subject".to_owned())),
            Some(Value::Array(items)) if items.is_empty() => {
                return Err(invalid(
                    "subject",
                    "is empty (a statement must name its subject)",
                ));
            }
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_subject(i, item, v01))
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(invalid("subject", "is not an array")),
        };
        let predicate = match obj.get("predicate") {
            // Optional in both versions ("unset is treated the same as set-but-empty";
            // the Null predicate type writes `null`).
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(p @ Value::Object(_)) => p.clone(),
            Some(_) => return Err(invalid("predicate", "is not an object")),
        };
        Ok(Statement {
            type_uri: type_uri.to_owned(),
            subjects,
            predicate_type: predicate_type.to_owned(),
            predicate,
        })
    }

    /// Whether some subject's DigestSet has `digest`'s algorithm with the same value.
    /// A subject with no algorithm in common with `digest` does not match.
    pub fn matches_digest(&self, digest: &Digest) -> bool {
        self.subjects.iter().any(|s| s.matches_digest(digest))
    }

    /// The subjects whose digest matches `digest`.
    pub fn matching_subjects(&self, digest: &Digest) -> Vec<&Subject> {
        self.subjects
            .iter()
            .filter(|s| s.matches_digest(digest))
            .collect()
    }
}

impl Subject {
    /// Whether this subject's DigestSet holds `digest`'s algorithm with the same
    /// lowercase hex value (sha256, sha384 or sha512; the name plays no part).
    pub fn matches_digest(&self, digest: &Digest) -> bool {
        self.digest
            .get(digest.algorithm().as_str())
            .is_some_and(|hex| hex == digest.hex())
    }

    /// The subject's digests in algorithms custody accepts and well-formed.
    pub fn accepted_digests(&self) -> Vec<Digest> {
        self.digest
            .iter()
            .filter_map(|(alg, hex)| Digest::new(Algorithm::from_name(alg)?, hex).ok())
            .collect()
    }
}

fn parse_subject(index: usize, item: &Value, v01: bool) -> Result<Subject, StatementError> {
    let field = |f: &str| format!("subject[{index}].{f}");
    let Value::Object(obj) = item else {
        return Err(invalid(format!("subject[{index}]"), "is not an object"));
    };
    let name = match obj.get("name") {
        Some(Value::String(s)) => s.clone(),
        None if !v01 => String::new(),
        None => return Err(StatementError::Missing(field("name"))),
        Some(_) => return Err(invalid(field("name"), "is not a string")),
    };
    let digest = match obj.get("digest") {
        None => return Err(StatementError::Missing(field("digest"))),
        Some(Value::Object(map)) if map.is_empty() => {
            return Err(invalid(field("digest"), "is empty"));
        }
        Some(Value::Object(map)) => map
            .iter()
            .map(|(alg, v)| match v {
                Value::String(s) => Ok((alg.clone(), s.clone())),
                _ => Err(invalid(field(&format!("digest.{alg}")), "is not a string")),
            })
            .collect::<Result<BTreeMap<_, _>, _>>()?,
        Some(_) => return Err(invalid(field("digest"), "is not an object")),
    };
    Ok(Subject { name, digest })
}
