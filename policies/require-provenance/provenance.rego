# Require SLSA provenance (v1 or v0.2) from an allowed builder and source repository.
package custody.require_provenance

# Per-attestation facts are rules keyed by the attestation's index, computed once per
# evaluation, rather than functions called per attestation: in regorus a function call
# costs several times a rule lookup (docs/benchmarks.md).

slsa_v1 := "https://slsa.dev/provenance/v1"

slsa_v02 := "https://slsa.dev/provenance/v0.2"

provenance_types := {slsa_v1, slsa_v02}

opts := input.evaluation.options

# Index -> provenance attestation.
provenance[i] := att if {
	some i, att in input.attestations
	att.predicateType in provenance_types
}

# Index -> builder id.
builder[i] := att.predicate.runDetails.builder.id if {
	some i, att in provenance
	att.predicateType == slsa_v1
}

builder[i] := att.predicate.builder.id if {
	some i, att in provenance
	att.predicateType == slsa_v02
}

# [index, source URI as written] for every source a statement names.
raw_source contains [i, uri] if {
	some i, att in provenance
	att.predicateType == slsa_v1
	uri := att.predicate.buildDefinition.externalParameters.workflow.repository
}

raw_source contains [i, uri] if {
	some i, att in provenance
	att.predicateType == slsa_v1
	uri := att.predicate.buildDefinition.externalParameters.source.uri
}

raw_source contains [i, dep.uri] if {
	some i, att in provenance
	att.predicateType == slsa_v1
	some dep in att.predicate.buildDefinition.resolvedDependencies
}

raw_source contains [i, uri] if {
	some i, att in provenance
	att.predicateType == slsa_v02
	uri := att.predicate.invocation.configSource.uri
}

raw_source contains [i, m.uri] if {
	some i, att in provenance
	att.predicateType == slsa_v02
	some m in att.predicate.materials
}

# [index, repository] with git+ and @ref and .git removed.
source contains [i, repo] if {
	some [i, uri] in raw_source
	repo := trim_suffix(split(trim_prefix(uri, "git+"), "@")[0], ".git")
}

# Patterns: exact values, or prefixes written with a trailing *.
exact_builders := {p | some p in opts.allowedBuilders; not endswith(p, "*")}

builder_prefixes := {trim_suffix(p, "*") | some p in opts.allowedBuilders; endswith(p, "*")}

source_patterns := object.get(opts, "allowedSourceRepos", [])

exact_sources := {p | some p in source_patterns; not endswith(p, "*")}

source_prefixes := {trim_suffix(p, "*") | some p in source_patterns; endswith(p, "*")}

builder_ok contains i if {
	some i, id in builder
	id in exact_builders
}

builder_ok contains i if {
	some i, id in builder
	some prefix in builder_prefixes
	startswith(id, prefix)
}

source_ok contains i if {
	count(source_patterns) == 0
	some i, _ in provenance
}

source_ok contains i if {
	some [i, repo] in source
	repo in exact_sources
}

source_ok contains i if {
	some [i, repo] in source
	some prefix in source_prefixes
	startswith(repo, prefix)
}

acceptable contains i if {
	some i in builder_ok
	i in source_ok
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
	some i, _ in provenance
	not i in builder_ok
	msg := sprintf("provenance builder %q is not an allowed builder", [object.get(builder, i, "<none>")])
}

deny contains msg if {
	count(provenance) > 0
	count(acceptable) == 0
	some i in builder_ok
	not i in source_ok
	msg := sprintf("provenance source %v is not an allowed source repository", [sort({pair[1] | some pair in source; pair[0] == i})])
}
