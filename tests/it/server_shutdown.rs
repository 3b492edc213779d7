//! Graceful shutdown: an in-flight slow review finishes and gets its answer, new
//! connections are refused, and the drain is bounded.

use crate::support;
use std::sync::Arc;
use std::time::Duration;
use support::in_process::{Scripted, start};
use support::tls::{TestCa, client, review_body, review_response};

async fn wait_until_refused(addr: std::net::SocketAddr) {
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the listener was never closed");
}

#[tokio::test]
async fn shutdown_finishes_an_in_flight_review() {
    for http1_only in [false, true] {
        let ca = TestCa::new("shutdown CA");
        let reviewer = Arc::new(Scripted::default());
        let mut srv = start(&ca, reviewer.clone(), vec![], |_| {}).await;
        let http = client(&ca.pem, http1_only);

        let request = http
            .post(srv.url("/validate"))
            .body(review_body("uid-slow", "slow"))
            .send();
        let in_flight = tokio::spawn(request);
        reviewer.started.notified().await;

        srv.shutdown();
        wait_until_refused(srv.addr).await;

        reviewer.release.notify_one();
        let resp = in_flight.await.unwrap().unwrap();
        let r = review_response(resp).await;
        assert_eq!(r["uid"], "uid-slow");
        assert_eq!(r["allowed"], true);
        srv.join().await;
    }
}

#[tokio::test]
async fn the_drain_is_bounded_by_the_grace_period() {
    let ca = TestCa::new("grace CA");
    let reviewer = Arc::new(Scripted::default());
    let mut srv = start(&ca, reviewer.clone(), vec![], |c| {
        c.shutdown_grace = Duration::from_millis(300);
    })
    .await;
    let http = client(&ca.pem, false);
    let request = http
        .post(srv.url("/validate"))
        .body(review_body("uid-stuck", "slow"))
        .send();
    let in_flight = tokio::spawn(request);
    reviewer.started.notified().await;
    srv.shutdown();
    // Never released: the server still stops once the grace period is over.
    srv.join().await;
    in_flight.abort();
}
