//! The Helm chart, rendered by the test renderer in `deploy_support` and checked against
//! the Kubernetes schemas.

mod deploy_support;

use deploy_support::*;

#[test]
fn default_render_smoke() {
    let objects = render(none());
    for o in &objects {
        println!("---\n{}", yaml_serde::to_string(o).unwrap());
    }
    let (ok, out) = check_k8s(&objects);
    assert!(ok, "{out}");
}
