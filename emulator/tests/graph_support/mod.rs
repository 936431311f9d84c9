//! Shared helpers for the Graph emulator's HTTP tests: start the app on 127.0.0.1:0, load
//! scenarios, get tokens, and make requests that return `(status, headers, json)`.
#![allow(dead_code)]

use oneonone_emulator::{Ctx, FaultConfig};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::sync::Arc;

pub struct Emu {
    pub base: String,
    pub http: reqwest::Client,
    pub ctx: Arc<Ctx>,
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    }
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

pub async fn start() -> Emu {
    let ctx = Arc::new(Ctx::new(7, FaultConfig::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    ctx.set_base_url(format!("http://{addr}"));
    let app = oneonone_emulator::app(ctx.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Emu {
        base: format!("http://{addr}"),
        http,
        ctx,
    }
}

/// The scenario "now": Monday 2026-01-05 12:00 UTC.
pub const NOW: &str = "2026-01-05T12:00:00Z";

/// Alice (manager) and Bob, with a single 1:1, a weekly series with an exception and a deleted
/// occurrence, an event far outside the usual window, and Bob's copy of the 1:1.
pub fn standard_scenario() -> Value {
    json!({
        "now": NOW,
        "graph": {
            "mailboxes": [
                {"address": "alice@contoso.com", "name": "Alice", "id": "11111111-1111-4111-8111-111111111111",
                 "timeZone": "W. Europe Standard Time",
                 "events": [
                    {"id": "AAMkAGsingle1", "iCalUId": "UID-ONE", "subject": "1:1 Alice / Bob",
                     "body": "<html><body><p>hello</p></body></html>",
                     "start": {"days": 1, "time": "10:00", "timeZone": "W. Europe Standard Time"}, "duration_minutes": 30,
                     "attendees": [{"address": "bob@contoso.com", "name": "Bob", "response": "accepted"},
                                   {"address": "room1@contoso.com", "type": "resource", "response": "accepted"}]},
                    {"id": "AAMkAGseries1", "subject": "Weekly 1:1 Alice / Carol",
                     "start": {"dateTime": "2026-01-05T09:00:00", "timeZone": "Pacific Standard Time"}, "duration_minutes": 30,
                     "attendees": [{"address": "carol@contoso.com", "name": "Carol"}],
                     "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday"},
                                    "range": {"type": "numbered", "numberOfOccurrences": 6}},
                     "exceptions": [{"occurrence": 1, "subject": "Moved 1:1", "shiftMinutes": 60},
                                    {"occurrence": 2, "deleted": true}]},
                    {"id": "AAMkAGfar1", "subject": "Far away", "start": {"days": 100, "time": "10:00"}, "duration_minutes": 60},
                    {"id": "AAMkAGtz1", "subject": "Custom zone", "start": {"dateTime": "2026-01-07T15:00:00", "timeZone": "tzone://Microsoft/Custom"},
                     "duration_minutes": 45}
                 ]},
                {"address": "bob@contoso.com", "name": "Bob",
                 "events": [
                    {"id": "AAMkAGbobcopy", "iCalUId": "UID-ONE", "subject": "1:1 Alice / Bob",
                     "organizer": {"address": "alice@contoso.com", "name": "Alice"},
                     "start": {"days": 1, "time": "10:00", "timeZone": "W. Europe Standard Time"}, "duration_minutes": 30,
                     "attendees": [{"address": "bob@contoso.com", "name": "Bob", "response": "accepted"}]}
                 ]}
            ]
        }
    })
}

impl Emu {
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        }
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

    pub async fn scenario(&self, v: Value) {
        self.admin("/_admin/scenario", v).await;
    }

    pub async fn knobs(&self, v: Value) {
        self.admin("/_admin/graph/knobs", v).await;
    }

    pub async fn faults(&self, v: Value) {
        self.admin("/_admin/faults", v).await;
    }

    pub async fn token(&self, user: &str, app_only: bool) -> String {
        let v = self
            .admin("/_admin/token", json!({"user": user, "app_only": app_only}))
            .await;
        v["access_token"].as_str().expect("token").to_string()
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            json,
        }
    }

    pub async fn get(&self, path: &str, token: &str, prefer: &[&str]) -> Resp {
        let mut req = self.http.get(self.url(path)).bearer_auth(token);
        for p in prefer {
            req = req.header("Prefer", *p);
        }
        self.send(req).await
    }

    /// Follow a delta round from `first` to its deltaLink; returns (pages, deltaLink).
    pub async fn round(&self, first: &str, token: &str, prefer: &[&str]) -> (Vec<Value>, String) {
        let mut pages = Vec::new();
        let mut url = first.to_string();
        for _ in 0..500 {
            let r = self.get(&url, token, prefer).await;
            assert_eq!(r.status, 200, "delta page {url}: {}", r.json);
            let next = r.json["@odata.nextLink"].as_str().map(String::from);
            let delta = r.json["@odata.deltaLink"].as_str().map(String::from);
            assert!(
                next.is_some() != delta.is_some(),
                "exactly one link per page: {}",
                r.json
            );
            pages.push(r.json);
            match (next, delta) {
                (Some(n), _) => {
                    assert!(
                        n.starts_with(&self.base),
                        "absolute nextLink from the base url: {n}"
                    );
                    url = n;
                }
                (_, Some(d)) => {
                    assert!(d.starts_with(&self.base), "absolute deltaLink: {d}");
                    return (pages, d);
                }
                _ => unreachable!(),
            }
        }
        panic!("delta round did not finish");
    }
}

/// All items of a round's pages.
pub fn items(pages: &[Value]) -> Vec<Value> {
    pages
        .iter()
        .flat_map(|p| p["value"].as_array().cloned().unwrap_or_default())
        .collect()
}

pub fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i["id"].as_str().map(String::from))
        .collect()
}
