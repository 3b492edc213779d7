//! Certificate rotation while a client keeps its connection open: new connections get
//! the new certificate, the open connection keeps working with the old one, and an
//! invalid replacement is ignored.

use crate::support;
use std::sync::Arc;
use std::time::Duration;
use support::in_process::{Scripted, start};
use support::tls::{TestCa, client, peer_cert, write_leaf};

/// Retries a fresh-connection request until it succeeds (bounded): the watcher polls.
async fn eventually_ok(http: &reqwest::Client, url: &str) -> reqwest::Response {
    for _ in 0..600 {
        if let Ok(resp) = http.get(url).send().await {
            return resp;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the new certificate was never served");
}

#[tokio::test]
async fn rotation_serves_new_connections_and_keeps_open_ones() {
    for http1_only in [false, true] {
        let old_ca = TestCa::new("old CA");
        let srv = start(&old_ca, Arc::new(Scripted::default()), vec![], |_| {}).await;
        let url = srv.url("/healthz");

        // A client that trusts only the old CA opens a connection and keeps it.
        let old_client = client(&old_ca.pem, http1_only);
        let first = old_client.get(&url).send().await.unwrap();
        assert_eq!(first.status(), 200);
        let old_cert = peer_cert(&first);
        first.text().await.unwrap();

        // An invalid replacement (certificate without matching key) is ignored.
        let junk = old_ca.leaf();
        std::fs::write(srv._dir.path().join("tls.crt"), &junk.cert_pem).unwrap();

        // Rotate to a certificate from a different CA.
        let new_ca = TestCa::new("new CA");
        let new_leaf = new_ca.leaf();
        write_leaf(srv._dir.path(), &new_leaf);

        let new_client = client(&new_ca.pem, http1_only);
        let fresh = eventually_ok(&new_client, &url).await;
        assert_eq!(fresh.status(), 200);
        assert_eq!(
            peer_cert(&fresh),
            new_leaf.der,
            "a new connection gets the new certificate"
        );

        // The old connection is still open and still works: a new handshake would fail,
        // because this client does not trust the new CA.
        let again = old_client.get(&url).send().await.unwrap();
        assert_eq!(again.status(), 200);
        assert_eq!(peer_cert(&again), old_cert);

        let mut srv = srv;
        srv.shutdown();
        srv.join().await;
    }
}

#[tokio::test]
async fn an_invalid_certificate_keeps_the_old_one() {
    let ca = TestCa::new("keep CA");
    let srv = start(&ca, Arc::new(Scripted::default()), vec![], |_| {}).await;
    let url = srv.url("/healthz");
    let before = client(&ca.pem, false).get(&url).send().await.unwrap();
    let served = peer_cert(&before);

    // A key that does not match, then garbage: both rejected.
    let other = ca.leaf();
    std::fs::write(srv._dir.path().join("tls.key"), &other.key_pem).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(srv._dir.path().join("tls.crt"), "garbage").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // New connections still get the original certificate.
    let after = client(&ca.pem, false).get(&url).send().await.unwrap();
    assert_eq!(after.status(), 200);
    assert_eq!(peer_cert(&after), served);
    let metrics = client(&ca.pem, false)
        .get(srv.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"custody_tls_reloads_total{result="error"}"#),
        "{metrics}"
    );
    let mut srv = srv;
    srv.shutdown();
    srv.join().await;
}
