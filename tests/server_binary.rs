//! `custody serve` as a process: self-signed certificate, a policy directory, probes, a malformed review
//! answered with a 200 AdmissionReview denial, and a clean exit on SIGTERM.

mod server_common;

use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn the_binary_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_custody"))
        .args([
            "--log",
            "info",
            "serve",
            "--self-signed",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--self-signed-ca-out")
        .arg(&ca_path)
        // /readyz needs loaded policies.
        .arg("--policy-dir")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/policies"))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting custody serve");

    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.split("serving https://").nth(1) {
                return rest.trim().to_owned();
            }
        }
        panic!("custody serve exited before listening");
    })
    .await
    .expect("custody serve did not start");
    let log = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            all.push(line);
        }
        all
    });
    let port = addr.rsplit(':').next().unwrap().to_owned();
    let base = format!("https://localhost:{port}");

    let ca = std::fs::read_to_string(&ca_path).unwrap();
    let http = server_common::client(&ca, false);
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let resp = http
        .post(format!("{base}/validate"))
        .body("{definitely not an admission review")
        .send()
        .await
        .unwrap();
    let r = server_common::review_response(resp).await;
    assert_eq!(r["allowed"], false);
    assert_eq!(r["uid"], "");

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("running kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("custody serve did not stop after SIGTERM")
        .unwrap();
    assert!(status.success(), "exit status {status}");
    let log = log.await.unwrap().join("\n");
    assert!(log.contains("SIGTERM"), "{log}");
}
