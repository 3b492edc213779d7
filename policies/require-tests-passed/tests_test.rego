# Rego unit tests for require-tests-passed (`custody policy test`).
package custody.require_tests_passed_test

import data.custody.require_tests_passed as policy

result_type := "https://in-toto.io/attestation/test-result/v0.1"

doc(predicates, options) := {
	"image": {"digest": "sha256:ab"},
	"attestations": [{"predicateType": result_type, "predicate": p} | some p in predicates],
	"rejected": [],
	"evaluation": {"options": options},
}

test_admits_passed_tests if {
	count(policy.deny) == 0 with input as doc([{"result": "PASSED"}], {})
}

test_denies_failed_tests_and_names_them if {
	policy.deny == {"test result is FAILED, not PASSED: failed a, b"} with input as doc([{"result": "FAILED", "failedTests": ["a", "b"]}], {})
}

test_denies_without_test_results if {
	count(policy.deny) == 1 with input as doc([], {})
}

test_warned_is_denied_unless_allowed if {
	count(policy.deny) == 1 with input as doc([{"result": "WARNED"}], {})
	count(policy.deny) == 0 with input as doc([{"result": "WARNED"}], {"allowWarned": true})
	policy.warn == {"tests passed with warnings"} with input as doc([{"result": "WARNED"}], {"allowWarned": true})
}
