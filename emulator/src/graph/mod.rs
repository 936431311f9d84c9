//! Microsoft Graph v1.0 calendar emulator and Microsoft identity platform.
//!
//! Owns everything under `/v1.0/…` (users' and `/me` events, calendarView, calendarView delta,
//! instances, getSchedule), the identity endpoints `/{tenant}/oauth2/v2.0/{token,devicecode,authorize}`
//! and the Graph admin hooks under `/_admin/graph/…`. See `emulator/GRAPH.md` for the scenario format
//! and the knobs.
//!
//! Layout: `model` (events, rendering, PATCH), `recur` (patternedRecurrence expansion), `tz` (Windows
//! zones), `delta` (calendarView delta rounds and tokens), `events` (the other calendar endpoints),
//! `identity` (OAuth), `throttle` (per-mailbox limits), `scenario` (loading, generator, admin hooks).
//!
//! Invariants: every API request passes through [`begin`] (auth, mailbox resolution, per-mailbox
//! limits, fault injection) and [`finish`] (request log); no std lock is held across an `.await`;
//! locks are recovered from poison.
pub mod delta;
pub mod events;
pub mod identity;
pub mod model;
pub mod recur;
pub mod scenario;
pub mod throttle;
pub mod tz;

use crate::common::{Ctx, Fault, LogEntry, TokenInfo};
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use model::Mailbox;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

/// Behaviour switches ("knobs") for quirks of the real service. Set via the scenario's
/// `graph.knobs` or `POST /_admin/graph/knobs` (a partial object merges into the current one).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Knobs {
    /// Fraction of delta items repeated later in the same round.
    pub replay_fraction: f64,
    /// Fraction of delta items before which an empty page (with a nextLink) is inserted.
    pub empty_page_fraction: f64,
    /// Page size when the client sends no `Prefer: odata.maxpagesize` (also `$top` default).
    pub default_page_size: usize,
    /// Concurrent requests per mailbox before 429 `ApplicationThrottled`.
    pub concurrency_limit: u32,
    /// Requests per mailbox per 10 minutes of emulator time before 429 `TooManyRequests`.
    pub requests_per_10min: u32,
    /// `Retry-After` seconds on injected 429/503 faults and on concurrency 429s.
    pub retry_after_secs: u64,
    /// How an expired or unknown delta/skip token is reported: `syncStateNotFound` (410),
    /// `resyncRequired` (410 with a `Location` holding an empty `$deltatoken`) or `invalidDeltaToken` (400).
    pub expired_token_style: String,
    /// Fraction of PATCHes answered 412 `ErrorIrresolvableConflict` even without a mismatch.
    pub spurious_412_fraction: f64,
    /// Identical retry of a POST with a used `transactionId`: `return` (201 with the existing event)
    /// or `conflict` (400 `ErrorDuplicateTransactionId`, as for a different event).
    pub transaction_retry: String,
    /// Reuse of a refresh token after it was rotated: `reject` (invalid_grant) or `allow`.
    pub refresh_reuse: String,
    /// Whether an organizer PATCH that only touches extended properties/categories is logged as
    /// notifying (unverified on the real service; conservative default true).
    pub ext_only_patch_notifies: bool,
    /// Device-code polling interval (seconds, real time) and lifetime (seconds, emulator time).
    pub device_interval_secs: u64,
    pub device_expires_secs: i64,
    /// Reject `$select`, `$expand`, `$filter`, `$orderby`, `$search`, `$top` on delta (400).
    pub strict_delta_options: bool,
    /// Delta rounds kept; older tokens then give the expired-token error (Outlook's cache).
    pub round_cache: usize,
    /// A delta page that holds an occurrence of a series also takes the series' later
    /// occurrences of the round, overrunning `maxpagesize`; the next page repeats them
    /// (msgraph-sdk-dotnet#3070).
    pub page_overrun: bool,
    /// Fraction of delta nextLinks that point back at the page just served, so following it
    /// returns the same payload (msgraph-sdk-dotnet#3082).
    pub nextlink_loop_fraction: f64,
    /// Fraction of occurrence deletions that delta never reports (microsoft-graph-docs#4501).
    pub silent_occurrence_delete_fraction: f64,
    /// The next this many successful writes (PATCH, POST, DELETE) are applied and then their
    /// connection is closed without an answer: a lost response, as after a network failure.
    pub lose_write_answers: u32,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            replay_fraction: 0.0,
            empty_page_fraction: 0.0,
            default_page_size: 10,
            concurrency_limit: 4,
            requests_per_10min: 10_000,
            retry_after_secs: 1,
            expired_token_style: "syncStateNotFound".into(),
            spurious_412_fraction: 0.0,
            transaction_retry: "return".into(),
            refresh_reuse: "reject".into(),
            ext_only_patch_notifies: true,
            device_interval_secs: 5,
            device_expires_secs: 900,
            strict_delta_options: true,
            round_cache: 4096,
            page_overrun: false,
            nextlink_loop_fraction: 0.0,
            silent_occurrence_delete_fraction: 0.0,
            lose_write_answers: 0,
        }
    }
}

/// All Graph data of the emulator.
#[derive(Debug, Default)]
pub struct GraphState {
    /// Mailboxes by lowercase SMTP address.
    pub mailboxes: HashMap<String, Mailbox>,
    /// Lowercase object id → mailbox key.
    pub ids: HashMap<String, String>,
    pub knobs: Knobs,
    pub identity: identity::IdentityState,
    /// Delta rounds (behind their own lock so page requests need only a read lock on the state).
    pub rounds: Mutex<delta::RoundCache>,
    pub limits: Arc<throttle::Limits>,
    pub round_counter: AtomicU64,
    /// Every API request's timing (`GET /_admin/graph/requests`), cleared by a scenario.
    pub timings: Mutex<Vec<Timing>>,
}

/// When one API request arrived and was answered (microseconds since the emulator started), for
/// tests of clients' pacing: concurrency per mailbox, waiting out `Retry-After`.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    /// Mailbox key (lower-case address), or the path's user segment if it named no mailbox.
    pub mailbox: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub arrived_us: u64,
    pub answered_us: u64,
    /// `Retry-After` seconds sent with the answer.
    pub retry_after: Option<u64>,
    pub client_request_id: Option<String>,
}

/// Microseconds since the first request this process timed.
pub fn micros_now() -> u64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let e = EPOCH.get_or_init(std::time::Instant::now);
    u64::try_from(e.elapsed().as_micros()).unwrap_or(u64::MAX)
}

fn record_timing(ctx: &Ctx, t: Timing) {
    let st = ctx.graph.read().unwrap_or_else(|e| e.into_inner());
    st.timings.lock().unwrap_or_else(|e| e.into_inner()).push(t);
}

fn retry_after_of(resp: &Response) -> Option<u64> {
    resp.headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

impl GraphState {
    /// Load the `graph` part of a scenario (dates may be relative to `now`); see GRAPH.md.
    pub fn load_scenario(
        &mut self,
        ctx: &Ctx,
        now: DateTime<Utc>,
        v: &Value,
    ) -> Result<(), String> {
        scenario::load(self, ctx, now, v)
    }

    /// The full state, for `GET /_admin/state` (events only when there are at most 10,000).
    pub fn state_json(&self) -> Value {
        scenario::state_json(self)
    }

    /// Expire every delta token.
    pub fn expire_sync_state(&mut self) {
        self.rounds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Create an empty mailbox (an empty default calendar, zone UTC) for `address` unless one
    /// exists; the object id is a fresh GUID. Returns the mailbox key.
    pub fn ensure_mailbox(&mut self, ctx: &Ctx, address: &str) -> String {
        if let Some(k) = self.resolve_user(address) {
            return k;
        }
        let key = address.to_ascii_lowercase();
        let mb = Mailbox::new(uuid(ctx), address, address, "UTC");
        self.ids.insert(mb.id.to_ascii_lowercase(), key.clone());
        self.mailboxes.insert(key.clone(), mb);
        key
    }

    /// The mailbox key for a path segment (UPN or object id), case-insensitively.
    pub fn resolve_user(&self, seg: &str) -> Option<String> {
        let lower = seg.to_ascii_lowercase();
        if self.mailboxes.contains_key(&lower) {
            return Some(lower);
        }
        self.ids.get(&lower).cloned()
    }
}

/// Parsed `Prefer` header(s).
#[derive(Debug, Clone, Default)]
pub struct Prefer {
    pub max_page_size: Option<usize>,
    pub tz: Option<String>,
    pub body_text: bool,
    pub immutable_id: bool,
}

impl Prefer {
    /// Parse every `Prefer` header (names are case-insensitive; values comma-separated).
    pub fn parse(headers: &HeaderMap) -> Prefer {
        let mut p = Prefer::default();
        for v in headers.get_all("prefer") {
            let Ok(s) = v.to_str() else { continue };
            for part in split_outside_quotes(s) {
                let (k, val) = match part.split_once('=') {
                    Some((k, v)) => (k.trim(), v.trim().trim_matches('"')),
                    None => (part.trim(), ""),
                };
                match k.to_ascii_lowercase().as_str() {
                    "odata.maxpagesize" => p.max_page_size = val.parse().ok().filter(|n| *n > 0),
                    "outlook.timezone" => p.tz = Some(val.to_string()).filter(|s| !s.is_empty()),
                    "outlook.body-content-type" => p.body_text = val.eq_ignore_ascii_case("text"),
                    "idtype" => p.immutable_id = val.eq_ignore_ascii_case("ImmutableId"),
                    _ => {}
                }
            }
        }
        p
    }

    /// The `Preference-Applied` value for what was honoured.
    pub fn applied(&self, page_size: Option<usize>, tz: Option<&str>) -> String {
        let mut parts = Vec::new();
        if let Some(n) = page_size.filter(|_| self.max_page_size.is_some()) {
            parts.push(format!("odata.maxpagesize={n}"));
        }
        if let Some(t) = tz {
            parts.push(format!("outlook.timezone=\"{t}\""));
        }
        if self.body_text {
            parts.push("outlook.body-content-type=\"text\"".into());
        }
        parts.join(", ")
    }
}

fn split_outside_quotes(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// One authenticated, admitted API request.
pub struct Call {
    pub token: TokenInfo,
    /// Mailbox key (lowercase address).
    pub mailbox: String,
    /// `me` or `users/{seg}` as in the request path, for building links.
    pub user_path: String,
    pub prefer: Prefer,
    pub client_request_id: Option<String>,
    pub if_match: Option<String>,
    /// An injected fault the handler must render itself (only `ExpiredSync`).
    pub fault: Option<Fault>,
    pub method: &'static str,
    pub path: String,
    pub query: String,
    /// When it arrived (`micros_now`).
    pub arrived_us: u64,
    _slot: throttle::Slot,
}

/// A handler's result: the response and whether the write would mail attendees.
pub struct Out {
    pub resp: Response,
    pub write: bool,
    pub notifying: bool,
}

impl Out {
    /// A read (or a rejected write).
    pub fn read(resp: Response) -> Out {
        Out {
            resp,
            write: false,
            notifying: false,
        }
    }
}

/// A UUID-shaped id from the context's generator.
pub fn uuid(ctx: &Ctx) -> String {
    let a = ctx.next_u64();
    let b = ctx.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// Graph's error envelope.
pub fn graph_error(
    ctx: &Ctx,
    status: StatusCode,
    code: &str,
    message: &str,
    crid: Option<&str>,
) -> Response {
    let rid = uuid(ctx);
    let crid = crid.map(String::from).unwrap_or_else(|| rid.clone());
    let body = json!({"error": {"code": code, "message": message, "innerError": {
        "date": ctx.now().format("%Y-%m-%dT%H:%M:%S").to_string(),
        "request-id": rid,
        "client-request-id": crid,
    }}});
    let mut resp = (status, axum::Json(body)).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&rid) {
        h.insert("request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&crid) {
        h.insert("client-request-id", v);
    }
    resp
}

/// A 429/503 with `Retry-After`.
pub fn with_retry_after(mut resp: Response, secs: u64) -> Response {
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// A JSON success response with OData headers.
pub fn ok_json(status: StatusCode, body: Value, call: &Call, applied: Option<String>) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    let h = resp.headers_mut();
    h.insert("odata-version", HeaderValue::from_static("4.0"));
    if let Some(crid) = call
        .client_request_id
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.insert("client-request-id", crid);
    }
    if let Some(a) = applied
        .filter(|a| !a.is_empty())
        .and_then(|a| HeaderValue::from_str(&a).ok())
    {
        h.insert("preference-applied", a);
    }
    resp
}

/// A pre-serialized JSON success response with OData headers.
pub fn ok_bytes(
    status: StatusCode,
    body: Vec<u8>,
    call: &Call,
    applied: Option<String>,
) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; odata.metadata=minimal; charset=utf-8"),
    );
    h.insert("odata-version", HeaderValue::from_static("4.0"));
    if let Some(crid) = call
        .client_request_id
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.insert("client-request-id", crid);
    }
    if let Some(a) = applied
        .filter(|a| !a.is_empty())
        .and_then(|a| HeaderValue::from_str(&a).ok())
    {
        h.insert("preference-applied", a);
    }
    resp
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

/// Does a delegated token's scope list allow this request? Tokens without scopes (admin tokens) and
/// app-only tokens (`.default`: the app's consented permissions) may do anything. Reads need
/// `Calendars.Read*` (getSchedule also takes `Calendars.ReadBasic`), writes `Calendars.ReadWrite*`,
/// and another user's mailbox needs a `.Shared` scope (the emulator has no sharing model: a
/// `.Shared` scope stands for "shared with me").
fn delegated_scope_ok(token: &TokenInfo, method: &str, path: &str, other_user: bool) -> bool {
    if token.app_only || token.scopes.is_empty() {
        return true;
    }
    let scopes: Vec<String> = token
        .scopes
        .iter()
        .map(|s| {
            s.strip_prefix("https://graph.microsoft.com/")
                .unwrap_or(s)
                .to_ascii_lowercase()
        })
        .collect();
    let write = method != "GET" && !path.ends_with("/getSchedule");
    let allowed: &[&str] = match (write, path.ends_with("/getSchedule")) {
        (true, _) => &["calendars.readwrite", "calendars.readwrite.shared"],
        (false, true) => &[
            "calendars.readbasic",
            "calendars.read",
            "calendars.readwrite",
            "calendars.read.shared",
            "calendars.readwrite.shared",
        ],
        (false, false) => &[
            "calendars.read",
            "calendars.readwrite",
            "calendars.read.shared",
            "calendars.readwrite.shared",
        ],
    };
    scopes.iter().any(|s| {
        allowed.contains(&s.as_str())
            && (!other_user || s.ends_with(".shared") || path.ends_with("/getSchedule"))
    })
}

/// Admit one API request: authenticate, resolve the mailbox (`who == None` for `/me`), apply the
/// per-mailbox limits and roll the injected fault. `Err` is the (already logged) error response.
pub async fn begin(
    ctx: &Arc<Ctx>,
    headers: &HeaderMap,
    who: Option<&str>,
    method: &'static str,
    uri: &Uri,
) -> Result<Call, Response> {
    let arrived_us = micros_now();
    let crid = header_str(headers, "client-request-id");
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let seg_mailbox = who.unwrap_or("me").to_ascii_lowercase();
    let timing = |mailbox: &str, status: u16, retry_after: Option<u64>| Timing {
        mailbox: mailbox.to_string(),
        method: method.to_string(),
        path: path.clone(),
        status,
        arrived_us,
        answered_us: micros_now(),
        retry_after,
        client_request_id: crid.clone(),
    };
    let fail = |resp: Response, user: Option<String>| {
        record_timing(
            ctx,
            timing(&seg_mailbox, resp.status().as_u16(), retry_after_of(&resp)),
        );
        log(
            ctx,
            method,
            &path,
            &query,
            resp.status().as_u16(),
            user,
            false,
            false,
            false,
        );
        resp
    };
    let auth = header_str(headers, "authorization");
    let Some(token) = ctx.token_from_header(auth.as_deref()) else {
        let msg = if auth.is_none() {
            "Access token is empty."
        } else {
            "Lifetime validation failed, the token is expired."
        };
        let r = graph_error(
            ctx,
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            msg,
            crid.as_deref(),
        );
        return Err(fail(r, None));
    };
    let (mailbox, user_path, limits, knobs) = {
        let st = ctx.graph.read().unwrap_or_else(|e| e.into_inner());
        let (mailbox, user_path) = match who {
            None => {
                if token.app_only {
                    let r = graph_error(
                        ctx,
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "/me request is only valid with delegated authentication flow.",
                        crid.as_deref(),
                    );
                    return Err(fail(r, Some(token.user.clone())));
                }
                match st.resolve_user(&token.user) {
                    Some(k) => (k, "me".to_string()),
                    None => {
                        let msg = format!("The requested user '{}' is invalid.", token.user);
                        let r = graph_error(
                            ctx,
                            StatusCode::NOT_FOUND,
                            "ErrorInvalidUser",
                            &msg,
                            crid.as_deref(),
                        );
                        return Err(fail(r, Some(token.user.clone())));
                    }
                }
            }
            Some(seg) => match st.resolve_user(seg) {
                Some(k) => (k, format!("users/{seg}")),
                None => {
                    let msg = format!("The requested user '{seg}' is invalid.");
                    let r = graph_error(
                        ctx,
                        StatusCode::NOT_FOUND,
                        "ErrorInvalidUser",
                        &msg,
                        crid.as_deref(),
                    );
                    return Err(fail(r, Some(token.user.clone())));
                }
            },
        };
        (mailbox, user_path, st.limits.clone(), st.knobs.clone())
    };
    let refusal = token.app_only.then(|| {
        let st = ctx.graph.read().unwrap_or_else(|e| e.into_inner());
        st.identity
            .apps
            .get(&token.user)
            .and_then(|a| a.refuses(&mailbox))
    });
    if let Some(Some(msg)) = refusal {
        let r = graph_error(
            ctx,
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            msg,
            crid.as_deref(),
        );
        return Err(fail(r, Some(token.user.clone())));
    }
    let other_user = !token.user.eq_ignore_ascii_case(&mailbox);
    if !delegated_scope_ok(&token, method, &path, other_user) {
        let r = graph_error(
            ctx,
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
            crid.as_deref(),
        );
        return Err(fail(r, Some(token.user.clone())));
    }
    let slot = match throttle::Limits::acquire(&limits, &mailbox, ctx.now(), &knobs) {
        Ok(s) => s,
        Err(rej) => {
            let r = graph_error(
                ctx,
                StatusCode::TOO_MANY_REQUESTS,
                rej.code,
                rej.message,
                crid.as_deref(),
            );
            return Err(fail(
                with_retry_after(r, rej.retry_after),
                Some(token.user.clone()),
            ));
        }
    };
    let prefer = Prefer::parse(headers);
    if let Some(zone) = prefer.tz.as_deref().filter(|z| tz::resolve(z).is_none()) {
        // Verified live by others: an unknown zone is a hard 400, not a fallback to UTC.
        let msg = format!(
            "A valid TimeZone value must be specified. The following TimeZone value is not supported: '{zone}'."
        );
        let r = graph_error(
            ctx,
            StatusCode::BAD_REQUEST,
            "TimeZoneNotSupportedException",
            &msg,
            crid.as_deref(),
        );
        return Err(fail(r, Some(token.user.clone())));
    }
    let fault = ctx.roll_fault().await;
    match fault {
        Some(Fault::Drop) => {
            drop(slot);
            record_timing(ctx, timing(&mailbox, 0, None));
            log(
                ctx,
                method,
                &path,
                &query,
                0,
                Some(token.user.clone()),
                false,
                false,
                false,
            );
            // Deliberate: unwinding out of the handler makes hyper drop the connection without
            // writing a response (no panic hook runs for `resume_unwind`).
            std::panic::resume_unwind(Box::new("graph emulator: injected connection drop"));
        }
        Some(Fault::ServerError) => {
            let r = match ctx.next_u64() % 3 {
                0 => with_retry_after(
                    graph_error(
                        ctx,
                        StatusCode::SERVICE_UNAVAILABLE,
                        "ServiceUnavailable",
                        "Service Unavailable",
                        crid.as_deref(),
                    ),
                    knobs.retry_after_secs,
                ),
                // As seen on delta nextLinks (microsoft-graph-docs#3657): no Retry-After, no message.
                1 => graph_error(
                    ctx,
                    StatusCode::GATEWAY_TIMEOUT,
                    "UnknownError",
                    "",
                    crid.as_deref(),
                ),
                _ => graph_error(
                    ctx,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "UnknownError",
                    "",
                    crid.as_deref(),
                ),
            };
            return Err(fail(r, Some(token.user.clone())));
        }
        Some(Fault::Throttle) => {
            let r = graph_error(
                ctx,
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Please retry again later.",
                crid.as_deref(),
            );
            return Err(fail(
                with_retry_after(r, knobs.retry_after_secs),
                Some(token.user.clone()),
            ));
        }
        _ => {}
    }
    Ok(Call {
        token,
        mailbox,
        user_path,
        prefer,
        client_request_id: crid,
        if_match: header_str(headers, "if-match"),
        fault,
        method,
        path,
        query,
        arrived_us,
        _slot: slot,
    })
}

#[allow(clippy::too_many_arguments)]
fn log(
    ctx: &Ctx,
    method: &str,
    path: &str,
    query: &str,
    status: u16,
    user: Option<String>,
    if_match: bool,
    write: bool,
    notifying: bool,
) {
    ctx.log(LogEntry {
        seq: 0,
        api: "graph",
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        status,
        if_match,
        send_updates: None,
        write,
        notifying,
        user,
    });
}

/// Log a finished API request and return its response (or, knob `lose_write_answers`, close the
/// connection without one after a successful write).
pub fn finish(ctx: &Ctx, call: Call, out: Out) -> Response {
    let ok = out.resp.status().is_success();
    let lose = out.write && ok && {
        let mut st = ctx.graph.write().unwrap_or_else(|e| e.into_inner());
        let n = st.knobs.lose_write_answers;
        st.knobs.lose_write_answers = n.saturating_sub(1);
        n > 0
    };
    record_timing(
        ctx,
        Timing {
            mailbox: call.mailbox.clone(),
            method: call.method.to_string(),
            path: call.path.clone(),
            status: if lose { 0 } else { out.resp.status().as_u16() },
            arrived_us: call.arrived_us,
            answered_us: micros_now(),
            retry_after: retry_after_of(&out.resp),
            client_request_id: call.client_request_id.clone(),
        },
    );
    log(
        ctx,
        call.method,
        &call.path,
        &call.query,
        out.resp.status().as_u16(),
        Some(call.token.user.clone()),
        call.if_match.is_some(),
        out.write && ok,
        out.notifying && ok,
    );
    if lose {
        drop(call);
        // As for an injected drop: unwinding out of the handler closes the connection unanswered.
        std::panic::resume_unwind(Box::new("graph emulator: write applied, answer lost"));
    }
    out.resp
}

/// Every Graph, identity and Graph-admin route.
pub fn router() -> Router<Arc<Ctx>> {
    let mut r = Router::new();
    for base in ["/v1.0/users/{uid}", "/v1.0/me"] {
        for cv in ["calendarView", "calendarview", "calendar/calendarView"] {
            r = r
                .route(&format!("{base}/{cv}/{{op}}"), get(delta::handler))
                .route(&format!("{base}/{cv}"), get(events::calendar_view));
        }
        r = r
            .route(
                &format!("{base}/events"),
                get(events::list).post(events::create),
            )
            .route(
                &format!("{base}/calendar/events"),
                get(events::list).post(events::create),
            )
            .route(
                &format!("{base}/events/{{eid}}"),
                get(events::get_one)
                    .patch(events::patch)
                    .delete(events::delete),
            )
            .route(
                &format!("{base}/events/{{eid}}/instances"),
                get(events::instances),
            )
            .route(
                &format!("{base}/events/{{eid}}/cancel"),
                post(events::cancel),
            )
            .route(
                &format!("{base}/calendar/getSchedule"),
                post(events::get_schedule),
            );
    }
    r.merge(identity::router()).merge(scenario::admin_router())
}
