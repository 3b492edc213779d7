//! Building each policy's input document as a regorus value without converting the
//! shared parts again: the image, workload, namespace and request are converted once per
//! image, each verified predicate once per image, and only the small per-policy parts
//! (evaluation, the attestation list, rejections) per policy.

use super::verify::VerifyCache;
use crate::policy::Bundle;
use crate::policy::input::{
    EvaluationInfo, PolicyInput, RejectedEvidence, SignerInfo, SourceInfo, SubjectInfo,
    VerifiedAttestation,
};
use serde::Serialize;
use std::collections::HashMap;

fn rv<T: Serialize>(t: &T) -> regorus::Value {
    match serde_json::to_value(t) {
        Ok(v) => regorus::Value::from(v),
        Err(_) => regorus::Value::Undefined,
    }
}

/// A verified attestation without its predicate (which is converted once and shared).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Head<'a> {
    statement_type: &'a str,
    predicate_type: &'a str,
    subjects: &'a [SubjectInfo],
    subject_digest: &'a str,
    attestors: &'a [String],
    signers: &'a [SignerInfo],
    source: &'a SourceInfo,
}

/// Builds per-policy input values over one image's shared base.
pub(crate) struct InputBuilder<'c> {
    base: regorus::Value,
    evaluation: EvaluationInfo,
    predicates: HashMap<(Option<String>, String), regorus::Value>,
    /// Predicates already converted by earlier requests, by blob digest.
    shared: Option<&'c VerifyCache>,
}

impl<'c> InputBuilder<'c> {
    /// `base` has everything but `evaluation`'s policy fields, `attestations` and `rejected`.
    pub(crate) fn new(base: &PolicyInput) -> InputBuilder<'c> {
        InputBuilder {
            base: rv(base),
            evaluation: base.evaluation.clone(),
            predicates: HashMap::new(),
            shared: None,
        }
    }

    /// Takes converted predicates from, and gives them to, the engine's shared cache.
    pub(crate) fn with_shared(mut self, cache: &'c VerifyCache) -> InputBuilder<'c> {
        self.shared = Some(cache);
        self
    }

    fn attestation(&mut self, a: &VerifiedAttestation) -> regorus::Value {
        let key = (a.source.blob_digest.clone(), a.subject_digest.clone());
        let shared = self.shared;
        let predicate = self
            .predicates
            .entry(key)
            .or_insert_with(|| match (shared, &a.source.blob_digest) {
                // The blob's bytes fix the statement, and so its predicate.
                (Some(cache), Some(blob)) => {
                    cache.predicate_value(&a.source.format, blob, || rv(&a.predicate))
                }
                _ => rv(&a.predicate),
            })
            .clone();
        let mut v = rv(&Head {
            statement_type: &a.statement_type,
            predicate_type: &a.predicate_type,
            subjects: &a.subjects,
            subject_digest: &a.subject_digest,
            attestors: &a.attestors,
            signers: &a.signers,
            source: &a.source,
        });
        if let Ok(obj) = v.as_object_mut() {
            obj.insert(regorus::Value::from("predicate"), predicate);
        }
        v
    }

    /// The input document of `bundle`.
    pub(crate) fn build(
        &mut self,
        bundle: &Bundle,
        attestations: &[VerifiedAttestation],
        rejected: &[RejectedEvidence],
    ) -> regorus::Value {
        let mut evaluation = self.evaluation.clone();
        evaluation.set_policy(bundle.spec());
        let atts: Vec<regorus::Value> = attestations.iter().map(|a| self.attestation(a)).collect();
        let mut v = self.base.clone();
        if let Ok(obj) = v.as_object_mut() {
            obj.insert(regorus::Value::from("evaluation"), rv(&evaluation));
            obj.insert(
                regorus::Value::from("attestations"),
                regorus::Value::from(atts),
            );
            obj.insert(regorus::Value::from("rejected"), rv(&rejected));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_input_equals_the_plain_conversion() {
        let text = include_str!("../../docs/policy-input.example.json");
        let doc: PolicyInput = serde_json::from_str(text).unwrap();
        let mut files = std::collections::BTreeMap::new();
        files.insert(
            "policy.yaml".to_owned(),
            "apiVersion: custody.dev/v1\nkind: Policy\nname: vulnerability-gate\noptions: {maxHigh: 0, maxAgeDays: 7}\n".to_owned(),
        );
        files.insert(
            "p.rego".to_owned(),
            "package custody.vulnerability_gate\n\ndeny contains \"x\" if false\n".to_owned(),
        );
        let bundle = Bundle::from_files("t", &files).unwrap();
        let mut b = InputBuilder::new(&doc);
        let built = b.build(&bundle, &doc.attestations, &doc.rejected);
        assert_eq!(built, crate::policy::to_rego_value(&doc));
    }
}
