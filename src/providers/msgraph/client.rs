//! The HTTP client every Graph request of an account goes through, fetches and writes alike.
//! Per mailbox (Outlook's limits are per app and mailbox) a [`Gate`] keeps:
//! - at most `max_concurrent_requests` (≤ 4) requests in flight;
//! - the time until which the mailbox is off limits: a `Retry-After` (429, 503) is honoured
//!   exactly, for every request to that mailbox, not just the one that got it;
//! - a request budget below Outlook's 10,000 per 10 minutes (counted per minute over the last ten,
//!   so no 10-minute span ever exceeds it).
//!
//! 429 and 5xx answers and lost connections are retried (exponential backoff with jitter,
//! `providers::http::Backoff`, unless the server said how long to wait). Every request this
//! provider makes is safe to repeat: reads, PATCHes under `If-Match`, creates with a
//! `transactionId`. A retry keeps its `client-request-id`. A 401 gets one fresh token.
//!
//! Invariants: the bearer token goes only to URLs under the configured `api_base_url` (links Graph
//! returns are checked); no token, secret or URL query appears in an error (reqwest errors are
//! stripped of their URL).
use super::auth::{AuthFailure, Tokens};
use super::wire::ErrorEnvelope;
use crate::providers::http::{Backoff, retry_after};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;
use tracing::debug;

/// Why a request failed (after any retries).
#[derive(Debug, Clone)]
pub enum CallError {
    /// Graph answered with an error.
    Status {
        status: u16,
        code: String,
        message: String,
    },
    /// No (complete) answer. `maybe_applied`: the request may have reached Graph.
    Transport { reason: String, maybe_applied: bool },
    /// No token for the account.
    Auth(AuthFailure),
    /// A link Graph returned points outside the configured API (never followed).
    Foreign(String),
}

impl CallError {
    pub fn status(&self) -> Option<u16> {
        match self {
            CallError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Graph's error code (case as sent), or "".
    pub fn code(&self) -> &str {
        match self {
            CallError::Status { code, .. } => code,
            _ => "",
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Status {
                status,
                code,
                message,
            } if message.is_empty() => write!(f, "HTTP {status} {code}"),
            CallError::Status {
                status,
                code,
                message,
            } => write!(f, "HTTP {status} {code}: {message}"),
            CallError::Transport { reason, .. } => write!(f, "no answer: {reason}"),
            CallError::Auth(a) => write!(f, "{a}"),
            CallError::Foreign(u) => write!(f, "refused to follow a link outside the API: {u}"),
        }
    }
}

/// A successful answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, CallError> {
        serde_json::from_slice(&self.body).map_err(|e| CallError::Status {
            status: self.status,
            code: "UnreadableAnswer".into(),
            message: format!("the answer is not the expected JSON: {e}"),
        })
    }
}

/// One request.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    pub method: reqwest::Method,
    /// Absolute URL (under the API base).
    pub url: String,
    /// Whose mailbox it concerns (its limits apply).
    pub mailbox: &'a str,
    pub json: Option<&'a Value>,
    pub if_match: Option<&'a str>,
    pub prefer: &'a str,
}

/// `Prefer` for every read: times in UTC.
pub const PREFER_UTC: &str = "outlook.timezone=\"UTC\"";

/// The per-account Graph client.
pub struct Client {
    http: reqwest::Client,
    base: String,
    tokens: Arc<Tokens>,
    gates: Mutex<HashMap<String, Arc<Gate>>>,
    concurrency: usize,
    budget: u32,
    backoff: Backoff,
}

enum Attempt {
    Done(Reply),
    /// Worth another try; `waited` when the mailbox's gate already holds the next attempt back
    /// (a `Retry-After`).
    Retry {
        error: CallError,
        waited: bool,
    },
    Unauthorized(CallError),
    Fail(CallError),
}

impl Client {
    pub fn new(
        base: &str,
        tokens: Arc<Tokens>,
        concurrency: u32,
        budget: u32,
    ) -> Result<Client, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("oneonone/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            tokens,
            gates: Mutex::new(HashMap::new()),
            concurrency: concurrency.clamp(1, 4) as usize,
            budget: budget.max(1),
            backoff: Backoff {
                base: Duration::from_millis(500),
                cap: Duration::from_secs(60),
                max_retries: 6,
            },
        })
    }

    /// `{api_base_url}{path}`; `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn gate(&self, mailbox: &str) -> Arc<Gate> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates
            .entry(mailbox.to_ascii_lowercase())
            .or_insert_with(|| Arc::new(Gate::new(self.concurrency)))
            .clone()
    }

    /// Is `url` under the API base (so it may carry the token)?
    fn ours(&self, url: &str) -> bool {
        let b = self.base.len();
        url.get(..b)
            .is_some_and(|p| p.eq_ignore_ascii_case(&self.base))
            && matches!(url.as_bytes().get(b), None | Some(b'/' | b'?'))
    }

    /// Send one request, retrying what is worth retrying.
    pub async fn send(&self, call: &Call<'_>) -> Result<Reply, CallError> {
        if !self.ours(&call.url) {
            let shown = call.url.split('?').next().unwrap_or("").to_string();
            return Err(CallError::Foreign(shown));
        }
        let gate = self.gate(call.mailbox);
        let request_id = request_id();
        let mut attempt = 0u32;
        let mut fresh_token = false;
        loop {
            match self.attempt(&gate, call, &request_id).await {
                Attempt::Done(r) => return Ok(r),
                Attempt::Fail(e) => return Err(e),
                Attempt::Unauthorized(e) if fresh_token => return Err(e),
                Attempt::Unauthorized(_) => {
                    fresh_token = true;
                    self.tokens.forget().await;
                }
                Attempt::Retry { error, waited } => {
                    if !self.backoff.may_retry(attempt) {
                        return Err(error);
                    }
                    if !waited {
                        let wait = self.backoff.delay(attempt, None);
                        crate::metrics::rate_limit_wait("microsoft", "backoff", wait);
                        tokio::time::sleep(wait).await;
                    }
                    debug!(mailbox = call.mailbox, attempt, error = %error, "retrying a Graph request");
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt(&self, gate: &Gate, call: &Call<'_>, request_id: &str) -> Attempt {
        let Some(permit) = gate.enter(self.budget).await else {
            return Attempt::Fail(CallError::Transport {
                reason: "the mailbox's request gate is closed".into(),
                maybe_applied: false,
            });
        };
        let token = match self.tokens.bearer().await {
            Ok(t) => t,
            Err(e) => return Attempt::Fail(CallError::Auth(e)),
        };
        let mut req = self
            .http
            .request(call.method.clone(), &call.url)
            .bearer_auth(&token)
            .header("client-request-id", request_id)
            .header("Prefer", call.prefer)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(tag) = call.if_match {
            req = req.header(reqwest::header::IF_MATCH, tag);
        }
        if let Some(j) = call.json {
            req = req.json(j);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                crate::metrics::request("microsoft", None);
                drop(permit);
                return Attempt::Retry {
                    error: CallError::Transport {
                        maybe_applied: !e.is_connect(),
                        reason: e.without_url().to_string(),
                    },
                    waited: false,
                };
            }
        };
        let status = resp.status().as_u16();
        crate::metrics::request("microsoft", Some(status));
        let wait = retry_after(resp.headers(), crate::daemon::clock::now());
        let body = resp.bytes().await;
        drop(permit);
        if matches!(status, 429 | 503) {
            // Every request to this mailbox waits, from now, exactly as long as Graph said (or a
            // backoff when it said nothing).
            let d = wait.unwrap_or(self.backoff.base);
            gate.block_for(d);
        }
        let body = match body {
            Ok(b) => b.to_vec(),
            Err(e) => {
                return Attempt::Retry {
                    error: CallError::Transport {
                        reason: e.without_url().to_string(),
                        maybe_applied: true,
                    },
                    waited: false,
                };
            }
        };
        if (200..300).contains(&status) {
            return Attempt::Done(Reply { status, body });
        }
        let env: ErrorEnvelope = serde_json::from_slice(&body).unwrap_or_default();
        let error = CallError::Status {
            status,
            code: env.error.code,
            message: env.error.message,
        };
        match status {
            429 | 503 => Attempt::Retry {
                error,
                waited: true,
            },
            500 | 502 | 504 => Attempt::Retry {
                error,
                waited: false,
            },
            401 => Attempt::Unauthorized(error),
            _ => Attempt::Fail(error),
        }
    }
}

/// A fresh `client-request-id` (a random UUID).
fn request_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // Only for correlating logs: a constant is harmless.
        return "00000000-0000-4000-8000-000000000000".into();
    }
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// One mailbox's limits.
pub struct Gate {
    permits: Semaphore,
    inner: Mutex<GateInner>,
}

struct GateInner {
    blocked_until: Option<Instant>,
    /// The budget: requests per minute over the last 11 minutes (ring), `minute` the newest.
    origin: Instant,
    minute: u64,
    counts: [u32; BUCKETS],
}

/// Ten minutes plus the current one: their sum bounds any 10-minute span ending now.
const BUCKETS: usize = 11;

impl Gate {
    pub fn new(concurrency: usize) -> Gate {
        Gate {
            permits: Semaphore::new(concurrency),
            inner: Mutex::new(GateInner {
                blocked_until: None,
                origin: Instant::now(),
                minute: 0,
                counts: [0; BUCKETS],
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// No request to the mailbox for `d` from now (never shortens an earlier block).
    pub fn block_for(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut g = self.lock();
        g.blocked_until = Some(g.blocked_until.map_or(until, |u| u.max(until)));
    }

    fn blocked(&self) -> Option<Instant> {
        self.lock().blocked_until.filter(|u| *u > Instant::now())
    }

    /// Count one request against the budget, or say when to try again.
    fn take_budget(&self, budget: u32) -> Result<(), Instant> {
        let mut g = self.lock();
        let now = Instant::now();
        let minute = now.saturating_duration_since(g.origin).as_secs() / 60;
        let steps = minute.saturating_sub(g.minute).min(BUCKETS as u64);
        for k in 1..=steps {
            let idx = ((g.minute + k) % BUCKETS as u64) as usize;
            if let Some(c) = g.counts.get_mut(idx) {
                *c = 0;
            }
        }
        g.minute = g.minute.max(minute);
        let used: u64 = g.counts.iter().map(|c| u64::from(*c)).sum();
        if used >= u64::from(budget) {
            return Err(g.origin + Duration::from_secs((minute + 1) * 60));
        }
        let idx = (minute % BUCKETS as u64) as usize;
        if let Some(c) = g.counts.get_mut(idx) {
            *c += 1;
        }
        Ok(())
    }

    /// Wait until a request may go: no `Retry-After` pending, a free place, budget left. `None`
    /// only if the semaphore was closed (never).
    pub async fn enter(&self, budget: u32) -> Option<SemaphorePermit<'_>> {
        loop {
            if let Some(until) = self.blocked() {
                let wait = until.saturating_duration_since(tokio::time::Instant::now());
                crate::metrics::rate_limit_wait("microsoft", "retry_after", wait);
                tokio::time::sleep_until(until).await;
                continue;
            }
            let permit = self.permits.acquire().await.ok()?;
            if self.blocked().is_some() {
                continue; // a Retry-After arrived while waiting for a place
            }
            match self.take_budget(budget) {
                Ok(()) => return Some(permit),
                Err(at) => {
                    drop(permit);
                    let wait = at.saturating_duration_since(tokio::time::Instant::now());
                    crate::metrics::rate_limit_wait("microsoft", "pacing", wait);
                    tokio::time::sleep_until(at).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_budget_holds_requests_back_until_the_window_allows() {
        let g = Gate::new(4);
        let start = Instant::now();
        for _ in 0..5 {
            assert!(g.enter(5).await.is_some());
        }
        // The sixth waits for the next minute (the oldest requests are still inside the span, so
        // it waits for ten more minutes of buckets to age out).
        assert!(g.enter(5).await.is_some());
        let waited = Instant::now() - start;
        assert!(waited >= Duration::from_secs(60 * 10), "{waited:?}");
        assert!(waited <= Duration::from_secs(60 * 11), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_holds_every_request_to_the_mailbox() {
        let g = Gate::new(4);
        g.block_for(Duration::from_secs(7));
        let start = Instant::now();
        assert!(g.enter(100).await.is_some());
        assert_eq!(Instant::now() - start, Duration::from_secs(7));
        // A shorter block never shortens a longer one.
        g.block_for(Duration::from_secs(30));
        g.block_for(Duration::from_secs(1));
        let start = Instant::now();
        assert!(g.enter(100).await.is_some());
        assert_eq!(Instant::now() - start, Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn at_most_the_concurrency_holds_places() {
        let g = Gate::new(2);
        let a = g.enter(100).await;
        let b = g.enter(100).await;
        assert!(a.is_some() && b.is_some());
        let third = tokio::time::timeout(Duration::from_secs(5), g.enter(100)).await;
        assert!(third.is_err(), "a third place while two are held");
        drop(a);
        assert!(g.enter(100).await.is_some());
    }

    #[test]
    fn request_ids_look_like_uuids() {
        let id = request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_ne!(id, request_id());
    }
}
