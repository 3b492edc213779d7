# Require SLSA provenance (v1 or v0.2) from an allowed builder and source repository.
package custody.require_provenance

slsa_v1 := "https://slsa.dev/provenance/v1"

slsa_v02 := "https://slsa.dev/provenance/v0.2"

provenance_types := {slsa_v1, slsa_v02}

opts := input.evaluation.options

provenance contains att if {
	some att in input.attestations
	att.predicateType in provenance_types
}

builder_id(att) := id if {
	att.predicateType == slsa_v1
	id := att.predicate.runDetails.builder.id
} else := id if {
	att.predicateType == slsa_v02
	id := att.predicate.builder.id
}

# Source repositories named by a provenance statement, normalised to plain URLs. Each
# chain of `else` stops at the first body that holds (cheaper than separate bodies,
# which are all evaluated).
raw_sources(att) := uris if {
	att.predicateType == slsa_v1
	def := att.predicate.buildDefinition
	uris := {uri | uri := def.externalParameters.workflow.repository} | {uri | uri := def.externalParameters.source.uri} | {dep.uri | some dep in def.resolvedDependencies}
} else := uris if {
	att.predicateType == slsa_v02
	uris := {uri | uri := att.predicate.invocation.configSource.uri} | {m.uri | some m in att.predicate.materials}
}

normalise(uri) := repo if {
	plain := trim_prefix(uri, "git+")
	repo := trim_suffix(split(plain, "@")[0], ".git")
}

sources(att) := {normalise(u) | some u in raw_sources(att)}

# Whether value equals one of patterns, or starts with one ending in * (minus the *).
# One call per value rather than one per pattern: user-function calls are the costly
# part of an evaluation.
matches_any(patterns, value) if value in patterns

matches_any(patterns, value) if {
	some pattern in patterns
	endswith(pattern, "*")
	startswith(value, trim_suffix(pattern, "*"))
}

builder_allowed(att) if matches_any(opts.allowedBuilders, builder_id(att))

source_allowed(att) if count(object.get(opts, "allowedSourceRepos", [])) == 0

source_allowed(att) if {
	some repo in sources(att)
	matches_any(opts.allowedSourceRepos, repo)
}

acceptable contains att if {
	some att in provenance
	builder_allowed(att)
	source_allowed(att)
}

rejected_hint := msg if {
	bad := [sprintf("%s (%s)", [r.category, r.reason]) |
		some r in input.rejected
		r.claimedPredicateType in provenance_types
	]
	count(bad) > 0
	msg := sprintf("; provenance was found but not accepted: %s", [concat(", ", bad)])
} else := ""

deny contains msg if {
	count(provenance) == 0
	msg := sprintf("no verified SLSA provenance (v1 or v0.2) for %s%s", [input.image.digest, rejected_hint])
}

deny contains msg if {
	count(provenance) > 0
	count(acceptable) == 0
	some att in provenance
	not builder_allowed(att)
	msg := sprintf("provenance builder %q is not an allowed builder", [object.get(att, ["predicate", "runDetails", "builder", "id"], object.get(att, ["predicate", "builder", "id"], "<none>"))])
}

deny contains msg if {
	count(provenance) > 0
	count(acceptable) == 0
	some att in provenance
	builder_allowed(att)
	not source_allowed(att)
	msg := sprintf("provenance source %v is not an allowed source repository", [sort(sources(att))])
}
