# Rego unit tests for require-layout (`custody policy test`, `opa test`).
package custody.require_layout_test

import data.custody.require_layout as policy

doc(layout, options) := {
	"image": {"digest": "sha256:ef"},
	"layout": layout,
	"evaluation": {"options": options},
}

verified := {"verified": true, "file": "root.layout", "warnings": [], "steps": [{"name": "build", "functionaries": ["k1"]}]}

test_admits_a_verified_chain if {
	count(policy.deny) == 0 with input as doc(verified, {})
}

test_denies_a_chain_that_does_not_verify if {
	policy.deny == {"supply chain of sha256:ef does not verify against layout root.layout: step build: no link"} with input as doc({"verified": false, "file": "root.layout", "failure": {"message": "step build: no link"}}, {})
}

test_denies_a_missing_required_functionary if {
	policy.deny == {"step build was not performed by required functionary k2"} with input as doc(verified, {"requiredFunctionaries": {"build": ["k2"]}})
	count(policy.deny) == 0 with input as doc(verified, {"requiredFunctionaries": {"build": ["k1"]}})
}

test_denies_without_a_layout if {
	count(policy.deny) == 1 with input as {"image": {"digest": "sha256:ef"}, "evaluation": {"options": {}}}
}
