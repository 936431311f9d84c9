//! Shared helpers for the emulator's HTTP tests: start an in-process emulator on 127.0.0.1:0 and
//! talk to it with reqwest. The PEM keys next to this file are TEST-ONLY keys generated for these
//! tests; they protect nothing.
#![allow(dead_code)]

use oneonone_emulator::{Ctx, FaultConfig};
use serde_json::{Value, json};
use std::sync::Arc;

/// Test-only RSA key pair A (private, PKCS#1 PEM) — never use outside tests.
pub const TEST_KEY_A: &str = include_str!("test-only-sa-a.key.pem");
/// Public half of key A (SPKI PEM).
pub const TEST_PUB_A: &str = include_str!("test-only-sa-a.pub.pem");
/// Test-only RSA key pair B (a different key, for signature failures).
pub const TEST_KEY_B: &str = include_str!("test-only-sa-b.key.pem");

/// A running emulator.
pub struct Emu {
    pub base: String,
    pub http: reqwest::Client,
    pub ctx: Arc<Ctx>,
}

/// Start an emulator with `seed` and `faults`.
pub async fn start_with(seed: u64, faults: FaultConfig) -> Emu {
    let ctx = Arc::new(Ctx::new(seed, faults));
    let addr = oneonone_emulator::start(ctx.clone())
        .await
        .expect("bind 127.0.0.1:0");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client");
    Emu {
        base: format!("http://{addr}"),
        http,
        ctx,
    }
}

/// Start an emulator without faults.
pub async fn start() -> Emu {
    start_with(1, FaultConfig::default()).await
}

/// The scenario `now` most tests use.
pub const NOW: &str = "2026-11-23T08:00:00Z";

impl Emu {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
    /// Calendar v3 URL of `path` (relative to `/calendar/v3/`).
    pub fn cal(&self, path: &str) -> String {
        format!("{}/calendar/v3/{}", self.base, path)
    }
    pub async fn admin(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("admin request");
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "admin {path} failed: {status} {v}");
        v
    }
    pub async fn scenario(&self, google: Value) -> Value {
        self.admin("/_admin/scenario", json!({"now": NOW, "google": google}))
            .await
    }
    pub async fn token(&self, user: &str) -> String {
        let v = self.admin("/_admin/token", json!({"user": user})).await;
        v["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }
    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.cal(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }
    pub async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let r = req.send().await.expect("request");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }
    /// Follow every page of an events.list; returns (items, pages, final nextSyncToken).
    pub async fn list_all(
        &self,
        token: &str,
        path_and_query: &str,
    ) -> (Vec<Value>, usize, Option<String>) {
        let mut items = Vec::new();
        let mut page_token: Option<String> = None;
        let mut pages = 0;
        loop {
            let sep = if path_and_query.contains('?') {
                "&"
            } else {
                "?"
            };
            let url = match &page_token {
                Some(p) => format!("{path_and_query}{sep}pageToken={p}"),
                None => path_and_query.to_string(),
            };
            let (s, v) = self.get(token, &url).await;
            assert_eq!(s, 200, "list {url}: {v}");
            pages += 1;
            items.extend(v["items"].as_array().cloned().unwrap_or_default());
            assert!(
                v.get("nextPageToken").is_none() || v.get("nextSyncToken").is_none(),
                "both tokens on one page: {v}"
            );
            match v["nextPageToken"].as_str() {
                Some(p) => page_token = Some(p.to_string()),
                None => {
                    return (
                        items,
                        pages,
                        v["nextSyncToken"].as_str().map(str::to_string),
                    );
                }
            }
            assert!(pages < 10_000, "paging does not terminate");
        }
    }
    pub async fn log(&self) -> Vec<Value> {
        let v: Value = self
            .http
            .get(self.url("/_admin/log"))
            .send()
            .await
            .expect("log")
            .json()
            .await
            .expect("json");
        v.as_array().cloned().unwrap_or_default()
    }
}

/// The error reason of a Google error body.
pub fn reason(v: &Value) -> &str {
    v["error"]["errors"][0]["reason"].as_str().unwrap_or("")
}

/// Ids of a list of items.
pub fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap_or("").to_string())
        .collect()
}
