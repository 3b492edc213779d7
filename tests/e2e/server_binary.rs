//! `custody serve` as a process: self-signed certificate, a policy directory, probes, a malformed review
//! answered with a 200 AdmissionReview denial, and a clean exit on SIGTERM.

use crate::support::{Serve, fixtures};

#[tokio::test]
async fn the_binary_serves_and_stops_on_sigterm() {
    // /readyz needs loaded policies.
    let mut s = Serve::start(&fixtures::library(), &[]).await;
    assert_eq!(s.get("/healthz").await.0, 200);
    assert_eq!(s.get("/readyz").await.0, 200);

    let (status, answer) = s
        .post_raw("/validate", b"{definitely not an admission review".to_vec())
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["kind"], "AdmissionReview", "{answer}");
    let r = &answer["response"];
    assert_eq!(r["allowed"], false);
    assert_eq!(r["uid"], "");

    let status = s.terminate().await;
    assert!(status.success(), "exit status {status}");
    let log = s.log();
    assert!(log.contains("SIGTERM"), "{log}");
}
