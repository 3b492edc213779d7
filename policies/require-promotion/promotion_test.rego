# Rego unit tests for require-promotion (`custody policy test`, `opa test`).
package custody.require_promotion_test

import data.custody.require_promotion as policy

digest := "sha256:0000000000000000000000000000000000000000000000000000000000000002"

promotion(env, attestors, subject) := {
	"predicateType": "https://custody.dev/attestation/promotion/v1",
	"attestors": attestors,
	"subjectDigest": subject,
	"predicate": {"environment": env},
}

doc(attestations) := {
	"image": {"digest": digest},
	"namespace": {"name": "prod"},
	"attestations": attestations,
	"rejected": [],
	"evaluation": {"options": {"attestor": "release", "environments": ["staging"]}},
}

test_admits_a_release_promotion_from_staging if {
	count(policy.deny) == 0 with input as doc([promotion("staging", ["release"], digest)])
}

test_denies_without_a_promotion if {
	want := sprintf("namespace prod requires a promotion of %s signed by the release attestor from staging", [digest])
	policy.deny == {want} with input as doc([])
}

test_denies_a_promotion_by_another_attestor if {
	policy.deny == {"promotion attestation not accepted: it is not signed by the release attestor"} with input as doc([promotion("staging", ["ci"], digest)])
}

test_denies_a_promotion_from_another_environment if {
	policy.deny == {`promotion attestation not accepted: it promotes from "dev", expected one of ["staging"]`} with input as doc([promotion("dev", ["release"], digest)])
}
