# Rego unit tests for require-provenance (`custody policy test`, `opa test`).
package custody.require_provenance_test

import data.custody.require_provenance as policy

digest := "sha256:0000000000000000000000000000000000000000000000000000000000000003"

opts := {
	"allowedBuilders": ["https://github.com/octo-org/octo-repo/.github/workflows/*"],
	"allowedSourceRepos": ["https://github.com/octo-org/*"],
}

v1(builder, repo) := {
	"predicateType": "https://slsa.dev/provenance/v1",
	"predicate": {
		"buildDefinition": {"externalParameters": {"workflow": {"repository": repo}}},
		"runDetails": {"builder": {"id": builder}},
	},
}

v02(builder, uri) := {
	"predicateType": "https://slsa.dev/provenance/v0.2",
	"predicate": {"builder": {"id": builder}, "invocation": {"configSource": {"uri": uri}}},
}

doc(attestations) := {
	"image": {"digest": digest},
	"attestations": attestations,
	"rejected": [],
	"evaluation": {"options": opts},
}

builder := "https://github.com/octo-org/octo-repo/.github/workflows/build.yml@refs/heads/main"

test_admits_v1_from_an_allowed_builder_and_source if {
	count(policy.deny) == 0 with input as doc([v1(builder, "https://github.com/octo-org/octo-repo")])
}

test_admits_v02_with_a_git_plus_uri if {
	count(policy.deny) == 0 with input as doc([v02(builder, "git+https://github.com/octo-org/octo-repo.git@refs/heads/main")])
}

test_denies_without_provenance if {
	want := sprintf("no verified SLSA provenance (v1 or v0.2) for %s", [digest])
	policy.deny == {want} with input as doc([])
}

test_denies_an_unknown_builder if {
	policy.deny == {`provenance builder "https://evil.example/builder" is not an allowed builder`} with input as doc([v1("https://evil.example/builder", "https://github.com/octo-org/octo-repo")])
}

test_denies_a_source_outside_the_allowed_repositories if {
	policy.deny == {`provenance source ["https://github.com/someone/else"] is not an allowed source repository`} with input as doc([v1(builder, "https://github.com/someone/else")])
}
