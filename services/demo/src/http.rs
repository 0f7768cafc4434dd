//! A small JSON client for the two zones' APIs (bearer sessions, as tools sign in).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// A reqwest client with rustls on ring (the workspace's only TLS provider); the demo talks
/// plain HTTP on 127.0.0.1.
pub fn client() -> anyhow::Result<reqwest::Client> {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(120))
        .build()?)
}

/// One zone's API at `base` (`http://127.0.0.1:port`).
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    zone: &'static str,
}

/// A signed-in user's bearer token.
#[derive(Clone, Debug)]
pub struct Session(pub String);

impl Api {
    /// The API of `zone` (for messages) at `base`.
    pub fn new(http: reqwest::Client, base: String, zone: &'static str) -> Api {
        Api { http, base, zone }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Waits until `/api/live` (online) or `/api/health` answers.
    pub async fn wait_up(&self) -> anyhow::Result<()> {
        for _ in 0..200 {
            for path in ["/api/health", "/api/live"] {
                if let Ok(r) = self.http.get(format!("{}{path}", self.base)).send().await {
                    if r.status().is_success() {
                        return Ok(());
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the {} API at {} did not come up", self.zone, self.base)
    }

    /// Sends a request; returns (status, body).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        session: Option<&Session>,
        body: Option<Value>,
    ) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let mut rb = self
            .http
            .request(method, format!("{}/api{path}", self.base));
        if let Some(Session(token)) = session {
            rb = rb.bearer_auth(token);
        }
        if let Some(body) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&body)?);
        }
        let resp = rb
            .send()
            .await
            .with_context(|| format!("{} API {path}", self.zone))?;
        let status = resp.status();
        let text = resp.text().await?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, value))
    }

    /// Sends a request that must succeed; returns its body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        session: Option<&Session>,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (status, value) = self.send(method.clone(), path, session, body).await?;
        if !status.is_success() {
            bail!(
                "{} API {method} {path} answered {status}: {value}",
                self.zone
            );
        }
        Ok(value)
    }

    /// POST that must succeed.
    pub async fn post(&self, path: &str, s: &Session, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, Some(s), Some(body))
            .await
    }

    /// The second person of a four-eyes change: `proposal` is what the proposing call returned
    /// (a PENDING proposal); `approver`, a different privileged user, approves it with their
    /// password. Returns the decided proposal (its `result` names what the change produced).
    pub async fn approve(
        &self,
        proposal: &Value,
        approver: &Session,
        password: &str,
    ) -> anyhow::Result<Value> {
        if proposal.get("status").and_then(Value::as_str) != Some("PENDING") {
            bail!(
                "expected a pending proposal from the {} API, got {proposal}",
                self.zone
            );
        }
        let id = str_field(proposal, "id")?;
        let decided = self
            .post(
                &format!("/proposals/{id}/approve"),
                approver,
                json!({"password": password}),
            )
            .await?;
        if decided.get("status").and_then(Value::as_str) != Some("APPROVED") {
            bail!(
                "the {} API did not approve proposal {id}: {decided}",
                self.zone
            );
        }
        Ok(decided)
    }

    /// PUT that must succeed.
    pub async fn put(&self, path: &str, s: &Session, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::PUT, path, Some(s), Some(body))
            .await
    }

    /// GET that must succeed.
    pub async fn get(&self, path: &str, s: &Session) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, Some(s), None).await
    }

    /// Signs in with a bearer session.
    pub async fn login(&self, username: &str, password: &str) -> anyhow::Result<Session> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/auth/login",
                None,
                Some(json!({"username": username, "password": password, "client": "bearer"})),
            )
            .await?;
        Ok(Session(str_field(&v, "session_token")?))
    }
}

/// A string field of a JSON object.
pub fn str_field(v: &Value, name: &str) -> anyhow::Result<String> {
    v.get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no string field {name:?} in {v}"))
}
