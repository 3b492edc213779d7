# Require an in-toto test-result (v0.1) attestation whose result is PASSED.
package custody.require_tests_passed

test_result_type := "https://in-toto.io/attestation/test-result/v0.1"

# Lists rather than sets: nothing below depends on duplicates, and a list is built
# without comparing whole attestations.
results := [att | some att in input.attestations; att.predicateType == test_result_type]

good_results := {"PASSED", "WARNED"} if object.get(input.evaluation.options, "allowWarned", false)

else := {"PASSED"}

passing := [att | some att in results; att.predicate.result in good_results]

deny contains msg if {
	results == []
	hints := [sprintf("%s (%s)", [r.category, r.reason]) |
		some r in input.rejected
		r.claimedPredicateType == test_result_type
	]
	hint := concat("", [sprintf("; test results were found but not accepted: %s", [concat(", ", hints)]) | hints != []])
	msg := sprintf("no verified test results (%s) for %s%s", [test_result_type, input.image.digest, hint])
}

deny contains msg if {
	results != []
	passing == []
	some att in results
	failed := object.get(att.predicate, "failedTests", [])
	shown := array.slice(failed, 0, 5)
	more := concat("", [sprintf(" and %d more", [count(failed) - 5]) | count(failed) > 5])
	detail := concat("", [sprintf(": failed %s%s", [concat(", ", shown), more]) | count(failed) > 0])
	msg := sprintf("test result is %s, not PASSED%s", [object.get(att.predicate, "result", "missing"), detail])
}

warn contains "tests passed with warnings" if {
	passing != []
	every att in passing {
		att.predicate.result == "WARNED"
	}
}
