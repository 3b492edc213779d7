//! Fetching bearer tokens from a registry's token service (anonymous, HTTP Basic, or an
//! OAuth2 refresh token), for the challenge flow in [`super::http`].

use super::auth::{Auth, basic_header};
use super::error::RegistryError;
use super::http::{Target, Transport, map_reqwest, read_body};
use super::stats::{RequestRecord, current_phase, current_round};
use super::token::TokenResponse;
use reqwest::header;
use reqwest::{StatusCode, Url};
use std::time::Duration;

const MAX_TOKEN_BODY: u64 = 64 * 1024;

impl Transport {
    pub(super) async fn fetch_token(
        &self,
        t: &Target<'_>,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        step: &'static str,
    ) -> Result<(String, Duration), RegistryError> {
        let label = t.label();
        let auth_err = |status: u16| RegistryError::Auth {
            image: label.clone(),
            step,
            status,
            hint: if t.auth.is_some() {
                " (token service refused the credentials)"
            } else {
                " (token service refused anonymous access)"
            },
        };
        let mut url = Url::parse(realm).map_err(|_| RegistryError::Protocol {
            image: label.clone(),
            step,
            reason: "the bearer challenge names an invalid token realm".into(),
        })?;
        let realm_host = url.host_str().unwrap_or("").to_owned();
        let realm_hostport = match url.port() {
            Some(p) => format!("{realm_host}:{p}"),
            None => realm_host.clone(),
        };
        if url.scheme() != "https" && t.auth.is_some() && !self.cfg.is_insecure(&realm_hostport) {
            return Err(RegistryError::Config(format!(
                "{label}: refusing to send credentials to plain-HTTP token service {realm_host}"
            )));
        }
        let mut rb = match t.auth {
            Some(Auth::IdentityToken(refresh)) => {
                let mut form = vec![
                    ("grant_type", "refresh_token".to_owned()),
                    ("refresh_token", refresh.clone()),
                    ("client_id", "custody".to_owned()),
                    ("scope", scope.to_owned()),
                ];
                if let Some(s) = service {
                    form.push(("service", s.to_owned()));
                }
                let body = form
                    .iter()
                    .map(|(k, v)| format!("{k}={}", urlencode(v)))
                    .collect::<Vec<_>>()
                    .join("&");
                self.client
                    .post(url.clone())
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body)
            }
            _ => {
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = service {
                        q.append_pair("service", s);
                    }
                    q.append_pair("scope", scope);
                }
                let mut rb = self.client.get(url.clone());
                if let Some(h) = basic_header(t.auth) {
                    rb = rb.header(header::AUTHORIZATION, h);
                }
                rb
            }
        };
        rb = rb.header(header::ACCEPT, "application/json");
        let sent = self.recorder.tick();
        let result = rb.send().await;
        let answered = self.recorder.tick();
        self.recorder.record(RequestRecord {
            method: "GET".into(),
            kind: "token",
            sent,
            answered,
            status: result.as_ref().ok().map(|r| r.status().as_u16()),
            phase: current_phase(),
            round: current_round(),
        });
        let resp = result.map_err(|e| map_reqwest(e, &label, step))?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(auth_err(status.as_u16()));
        }
        if !status.is_success() {
            return Err(RegistryError::Status {
                image: label,
                step,
                status: status.as_u16(),
                detail: " from the token service".into(),
            });
        }
        let body = read_body(resp, MAX_TOKEN_BODY, None, None, &label, step).await?;
        let parsed: TokenResponse =
            serde_json::from_slice(&body).map_err(|_| RegistryError::Protocol {
                image: label.clone(),
                step,
                reason: "token service answer is not JSON".into(),
            })?;
        parsed.into_token().ok_or_else(|| auth_err(status.as_u16()))
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
