//! Warm connections: with the first request to a registry that has not been asked for a
//! while, a few `GET /v2/` requests (the distribution spec's API version check) open
//! extra connections at the same time, so that the lookup's parallel manifest and blob
//! fetches, two round trips later, find idle connections in the pool instead of each
//! opening its own on the critical path. A cold image then costs one connect and one
//! round trip per sequential request.
//!
//! Nothing is warmed for a registry known to answer over HTTP/2 (ALPN on TLS): there one
//! connection multiplexes every request. The warm-ups are off the lookup's path (spawned,
//! never awaited), outside its byte budget (each answer is read up to 4 KiB, so that the
//! connection goes back to the pool) and outside its request log; they are counted in
//! [`super::RequestStats::warm_ups`].

use super::http::{Transport, read_body};
use reqwest::{Method, Url, Version};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A registry that was asked nothing for this long gets warm connections again (the
/// pool keeps an idle connection 60 s; registries often close them sooner).
const IDLE_BEFORE_REWARM: Duration = Duration::from_secs(20);
const MAX_ORIGINS: usize = 10_000;
const MAX_BODY: u64 = 4096;

#[derive(Clone, Copy)]
struct Origin {
    last_request: Instant,
    http2: bool,
}

/// Which registries (by origin) were asked recently, and which speak HTTP/2.
#[derive(Default)]
pub(crate) struct Warmer {
    origins: Mutex<HashMap<String, Origin>>,
}

impl Warmer {
    /// Whether a request to `origin` at `now` should open warm connections; notes the
    /// request either way.
    fn due(&self, origin: &str, now: Instant) -> bool {
        let Ok(mut map) = self.origins.lock() else {
            return false;
        };
        if map.len() >= MAX_ORIGINS && !map.contains_key(origin) {
            map.clear();
        }
        match map.get_mut(origin) {
            Some(o) => {
                let idle = now.saturating_duration_since(o.last_request) >= IDLE_BEFORE_REWARM;
                o.last_request = now;
                idle && !o.http2
            }
            None => {
                map.insert(
                    origin.to_owned(),
                    Origin {
                        last_request: now,
                        http2: false,
                    },
                );
                true
            }
        }
    }

    fn note_http2(&self, origin: &str) {
        if let Ok(mut map) = self.origins.lock()
            && let Some(o) = map.get_mut(origin)
        {
            o.http2 = true;
        }
    }
}

impl Transport {
    /// Before a `GET`/`HEAD` to `url`: when its registry is due, opens
    /// `warm_connections` connections to it alongside.
    pub(crate) fn warm_up(&self, method: &Method, url: &Url) {
        let n = self.cfg.warm_connections;
        if n == 0 || (*method != Method::GET && *method != Method::HEAD) {
            return;
        }
        let origin = url.origin().ascii_serialization();
        if !self.warmer.due(&origin, Instant::now()) {
            return;
        }
        let (Ok(ping), Ok(runtime)) = (url.join("/v2/"), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        self.recorder.note_warm_ups(n as u64);
        for _ in 0..n {
            let (client, ping, warmer, origin) = (
                self.client.clone(),
                ping.clone(),
                Arc::clone(&self.warmer),
                origin.clone(),
            );
            runtime.spawn(async move {
                match client.get(ping).send().await {
                    Ok(resp) => {
                        if resp.version() == Version::HTTP_2 {
                            warmer.note_http2(&origin);
                        }
                        // Read to the end so an HTTP/1.1 connection returns to the pool.
                        let _ = read_body(resp, MAX_BODY, None, None, &origin, "warm up").await;
                    }
                    Err(e) => tracing::debug!(%origin, error = %e, "warm-up request failed"),
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_on_first_contact_and_after_idling_never_for_http2() {
        let w = Warmer::default();
        let t0 = Instant::now();
        let a = "http://127.0.0.1:5000";
        assert!(w.due(a, t0), "first contact");
        assert!(!w.due(a, t0 + Duration::from_secs(1)), "asked a second ago");
        assert!(!w.due(a, t0 + Duration::from_secs(15)));
        assert!(
            w.due(a, t0 + Duration::from_secs(15) + IDLE_BEFORE_REWARM),
            "idle long enough for the pool to have lost its connections"
        );
        assert!(w.due("https://other.example", t0), "per origin");
        w.note_http2("https://other.example");
        assert!(!w.due("https://other.example", t0 + Duration::from_secs(3600)));
    }
}
