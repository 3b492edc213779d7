# Rego unit tests for require-sbom (`custody policy test`, `opa test`).
package custody.require_sbom_test

import data.custody.require_sbom as policy

digest := "sha256:0000000000000000000000000000000000000000000000000000000000000001"

doc(attestations, rejected) := {
	"image": {"digest": digest},
	"attestations": attestations,
	"rejected": rejected,
	"evaluation": {"options": {"formats": ["spdx", "cyclonedx"], "warnOnEmpty": true}},
}

spdx(packages) := {"predicateType": "https://spdx.dev/Document", "predicate": {"packages": packages}}

test_admits_an_spdx_sbom if {
	count(policy.deny) == 0 with input as doc([spdx([{"name": "openssl"}])], [])
	count(policy.warn) == 0 with input as doc([spdx([{"name": "openssl"}])], [])
}

test_admits_a_cyclonedx_sbom if {
	count(policy.deny) == 0 with input as doc([{"predicateType": "https://cyclonedx.org/bom/v1.5", "predicate": {"components": [{"name": "zlib"}]}}], [])
}

test_denies_without_an_sbom if {
	want := sprintf("no verified SBOM (spdx or cyclonedx) for %s", [digest])
	policy.deny == {want} with input as doc([], [])
}

test_says_why_a_found_sbom_was_not_accepted if {
	some msg in policy.deny with input as doc([], [{"claimedPredicateType": "https://spdx.dev/Document", "category": "signature", "reason": "unknown key"}])
	endswith(msg, "; an SBOM was found but not accepted: signature (unknown key)")
}

test_warns_on_an_empty_sbom if {
	policy.warn == {"the SBOM lists no packages or components"} with input as doc([spdx([])], [])
}
