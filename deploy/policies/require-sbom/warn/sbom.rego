# Require a signed SBOM in SPDX or CycloneDX format.
package custody.require_sbom

opts := input.evaluation.options

format_of(pt) := "spdx" if startswith(pt, "https://spdx.dev/Document")

format_of(pt) := "cyclonedx" if startswith(pt, "https://cyclonedx.org/bom")

sboms contains att if {
	some att in input.attestations
	format_of(att.predicateType) in object.get(opts, "formats", ["spdx", "cyclonedx"])
}

entries(att) := object.get(att.predicate, "packages", []) if format_of(att.predicateType) == "spdx"

entries(att) := object.get(att.predicate, "components", []) if format_of(att.predicateType) == "cyclonedx"

rejected_hint := msg if {
	bad := [sprintf("%s (%s)", [r.category, r.reason]) |
		some r in input.rejected
		format_of(r.claimedPredicateType)
	]
	count(bad) > 0
	msg := sprintf("; an SBOM was found but not accepted: %s", [concat(", ", bad)])
} else := ""

deny contains msg if {
	count(sboms) == 0
	accepted := concat(" or ", object.get(opts, "formats", ["spdx", "cyclonedx"]))
	msg := sprintf("no verified SBOM (%s) for %s%s", [accepted, input.image.digest, rejected_hint])
}

warn contains msg if {
	object.get(opts, "warnOnEmpty", true)
	count(sboms) > 0
	every att in sboms {
		count(entries(att)) == 0
	}
	msg := "the SBOM lists no packages or components"
}
