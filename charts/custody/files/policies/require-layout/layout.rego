# Admission requires the image's supply chain to verify against the bundle's in-toto
# layout (`layout:` in policy.yaml): every step performed by its authorized
# functionaries, every artifact rule satisfied, and the last step's products
# including the image digest. custody verifies the chain; this policy reads the outcome
# from input.layout (docs/policy-input.md) and can be combined with other evidence.
package custody.require_layout

deny contains "this policy requires an in-toto layout: add layout: to policy.yaml and the signed layout to the bundle" if {
	not input.layout
}

deny contains msg if {
	input.layout.verified == false
	msg := sprintf("supply chain of %s does not verify against layout %s: %s", [input.image.digest, input.layout.file, input.layout.failure.message])
}

# Optionally require particular functionaries for a step:
# options.requiredFunctionaries: {"<step>": ["<keyid>", ...]}
deny contains msg if {
	input.layout.verified == true
	some step_name, required in object.get(input.evaluation.options, "requiredFunctionaries", {})
	counted := {k | some s in input.layout.steps; s.name == step_name; some k in s.functionaries}
	some keyid in required
	not keyid in counted
	msg := sprintf("step %s was not performed by required functionary %s", [step_name, keyid])
}

warn contains msg if {
	input.layout.verified == true
	some w in input.layout.warnings
	msg := sprintf("layout %s: %s", [input.layout.file, w])
}
