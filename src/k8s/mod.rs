//! k8s (being built).
