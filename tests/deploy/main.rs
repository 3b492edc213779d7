//! Deployment tests: the Helm chart (rendered and linted by Helm via helm-python-sdk), the kustomize tree in
//! `deploy/`, the container image, the shipped policies, checked against the Kubernetes
//! schemas (python3 kubernetes-validate) and started with the chart's environment.

#[path = "../support/mod.rs"]
mod support;

mod deploy_chart;
mod deploy_chart_options;
mod deploy_conventions;
mod deploy_helm;
mod deploy_image;
mod deploy_manifests;
mod deploy_policies;
mod deploy_serve;
mod deploy_values;
