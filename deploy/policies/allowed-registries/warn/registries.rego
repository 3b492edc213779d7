# Images may only come from approved registries or repository prefixes.
package custody.allowed_registries

allowed := object.get(input.evaluation.options, "allowed", [])

name := sprintf("%s/%s", [input.image.registry, input.image.repository])

# The host without a port, so `127.0.0.1` allows any local port.
host := split(input.image.registry, ":")[0]

permitted if {
	some entry in allowed
	not endswith(entry, "/")
	entry in {input.image.registry, host}
}

permitted if {
	some entry in allowed
	endswith(entry, "/")
	startswith(name, entry)
}

deny contains msg if {
	not permitted
	msg := sprintf("image %s is not from an allowed registry (allowed: %s)", [name, concat(", ", allowed)])
}
