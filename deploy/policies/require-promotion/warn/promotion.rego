# Admission to a production namespace requires a promotion attestation for the same
# digest, signed by the release attestor, naming an environment it passed through.
#
# Predicate (https://custody.dev/attestation/promotion/v1):
#   {"environment": "staging", "promotedAt": "<RFC 3339>", "approvedBy": "<who>"}
package custody.require_promotion

promotion_type := "https://custody.dev/attestation/promotion/v1"

opts := input.evaluation.options

required_attestor := object.get(opts, "attestor", "release")

environments := object.get(opts, "environments", ["staging"])

candidates contains att if {
	some att in input.attestations
	att.predicateType == promotion_type
}

valid contains att if {
	some att in candidates
	required_attestor in att.attestors
	att.subjectDigest == input.image.digest
	att.predicate.environment in environments
}

problem(att) := sprintf("it is not signed by the %s attestor", [required_attestor]) if {
	not required_attestor in att.attestors
} else := "it is for a platform manifest, not the image digest" if {
	att.subjectDigest != input.image.digest
} else := sprintf("it promotes from %q, expected one of %v", [object.get(att.predicate, "environment", "<none>"), environments])

deny contains msg if {
	count(candidates) == 0
	hints := [sprintf("%s (%s)", [r.category, r.reason]) |
		some r in input.rejected
		r.claimedPredicateType == promotion_type
	]
	hint := concat("", [sprintf("; a promotion was found but not accepted: %s", [concat(", ", hints)]) | count(hints) > 0])
	msg := sprintf("namespace %s requires a promotion of %s signed by the %s attestor from %s%s", [
		input.namespace.name, input.image.digest, required_attestor, concat(" or ", environments), hint,
	])
}

deny contains msg if {
	count(candidates) > 0
	count(valid) == 0
	some att in candidates
	msg := sprintf("promotion attestation not accepted: %s", [problem(att)])
}
