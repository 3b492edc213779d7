# Rego unit tests for allowed-registries (`custody policy test`, `opa test`).
package custody.allowed_registries_test

import data.custody.allowed_registries as policy

opts := {"allowed": ["ghcr.io/acme/", "registry.example", "127.0.0.1"]}

image(registry, repository) := {
	"image": {"registry": registry, "repository": repository},
	"evaluation": {"options": opts},
}

test_admits_a_listed_registry if {
	count(policy.deny) == 0 with input as image("registry.example", "team/app")
}

test_admits_a_repository_under_a_listed_prefix if {
	count(policy.deny) == 0 with input as image("ghcr.io", "acme/shop/api")
}

test_admits_a_listed_host_on_any_port if {
	count(policy.deny) == 0 with input as image("127.0.0.1:5000", "demo/app")
}

test_denies_docker_hub if {
	policy.deny == {"image docker.io/library/nginx is not from an allowed registry (allowed: ghcr.io/acme/, registry.example, 127.0.0.1)"} with input as image("docker.io", "library/nginx")
}

test_a_prefix_ends_at_a_path_boundary if {
	count(policy.deny) == 1 with input as image("ghcr.io", "acme-evil/api")
}

test_no_allowed_list_denies_everything if {
	count(policy.deny) == 1 with input as {"image": {"registry": "registry.example", "repository": "a"}, "evaluation": {"options": {}}}
}
