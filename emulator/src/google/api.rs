//! HTTP handlers of Calendar v3 under `/calendar/v3/`: events (list, get, insert, patch, update,
//! delete, instances, watch), channels.stop, calendarList, calendars.get and freeBusy.
//!
//! Every request goes through [`api`]: fault injection first (a dropped connection unwinds the
//! connection task without a response), then the bearer token and its scopes, strict query
//! parameters, the operation, and finally one [`LogEntry`]. List responses are assembled from the
//! cached JSON of each item, so a page costs work proportional to its size.
use super::GoogleState;
use super::error::GError;
use super::ops::{WriteOpts, WriteOutcome};
use super::store::{self, Calendar, Entry, EntryKind, StoredEvent};
use crate::common::{Ctx, Fault, LogEntry, TokenInfo};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::sync::Arc;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Parameters every Google API accepts.
const STANDARD_PARAMS: &[&str] = &[
    "alt",
    "fields",
    "key",
    "oauth_token",
    "prettyPrint",
    "quotaUser",
    "userIp",
    "access_token",
    "callback",
    "upload_protocol",
    "uploadType",
    "$.xgafv",
];

/// Which endpoint a request is for.
#[derive(Debug, Clone)]
pub enum Op {
    Events { cal: String },
    Event { cal: String, id: String },
    Instances { cal: String, id: String },
    Watch { cal: String },
    Stop,
    CalendarList,
    CalendarListEntry { cal: String },
    Calendar { cal: String },
    FreeBusy,
}

/// The routes of Calendar v3.
pub fn router() -> Router<Arc<Ctx>> {
    Router::new()
        .route(
            "/calendar/v3/calendars/{cal}/events",
            get(h_events).post(h_events),
        )
        .route("/calendar/v3/calendars/{cal}/events/watch", post(h_watch))
        .route(
            "/calendar/v3/calendars/{cal}/events/{id}",
            get(h_event).patch(h_event).put(h_event).delete(h_event),
        )
        .route(
            "/calendar/v3/calendars/{cal}/events/{id}/instances",
            get(h_instances),
        )
        .route("/calendar/v3/calendars/{cal}", get(h_calendar))
        .route("/calendar/v3/channels/stop", post(h_stop))
        .route("/calendar/v3/users/me/calendarList", get(h_calendar_list))
        .route(
            "/calendar/v3/users/me/calendarList/{cal}",
            get(h_calendar_list_entry),
        )
        .route("/calendar/v3/freeBusy", post(h_freebusy))
        .route("/calendar/v3/{*rest}", axum::routing::any(h_unknown))
}

/// Anything else under `/calendar/v3/`: Google's 404 envelope.
async fn h_unknown() -> Response {
    GError::not_found().into_response()
}

async fn h_events(State(ctx): State<Arc<Ctx>>, Path(cal): Path<String>, req: Request) -> Response {
    api(ctx, Op::Events { cal }, req).await
}
async fn h_watch(State(ctx): State<Arc<Ctx>>, Path(cal): Path<String>, req: Request) -> Response {
    api(ctx, Op::Watch { cal }, req).await
}
async fn h_event(
    State(ctx): State<Arc<Ctx>>,
    Path((cal, id)): Path<(String, String)>,
    req: Request,
) -> Response {
    api(ctx, Op::Event { cal, id }, req).await
}
async fn h_instances(
    State(ctx): State<Arc<Ctx>>,
    Path((cal, id)): Path<(String, String)>,
    req: Request,
) -> Response {
    api(ctx, Op::Instances { cal, id }, req).await
}
async fn h_calendar(
    State(ctx): State<Arc<Ctx>>,
    Path(cal): Path<String>,
    req: Request,
) -> Response {
    api(ctx, Op::Calendar { cal }, req).await
}
async fn h_stop(State(ctx): State<Arc<Ctx>>, req: Request) -> Response {
    api(ctx, Op::Stop, req).await
}
async fn h_calendar_list(State(ctx): State<Arc<Ctx>>, req: Request) -> Response {
    api(ctx, Op::CalendarList, req).await
}
async fn h_calendar_list_entry(
    State(ctx): State<Arc<Ctx>>,
    Path(cal): Path<String>,
    req: Request,
) -> Response {
    api(ctx, Op::CalendarListEntry { cal }, req).await
}
async fn h_freebusy(State(ctx): State<Arc<Ctx>>, req: Request) -> Response {
    api(ctx, Op::FreeBusy, req).await
}

/// Decoded query parameters (repeatable).
#[derive(Debug, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
    pub fn all(&self, k: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn has(&self, k: &str) -> bool {
        self.0.iter().any(|(n, _)| n == k)
    }
    fn bool(&self, k: &str) -> Result<Option<bool>, GError> {
        match self.get(k) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => Err(GError::bad_param(
                k,
                format!("Invalid boolean value: '{v}'."),
            )),
        }
    }
    fn int(&self, k: &str) -> Result<Option<i64>, GError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| GError::bad_param(k, format!("Invalid value '{v}'. Values must match the following regular expression: '-?\\d+'"))),
        }
    }
    fn time(&self, k: &str) -> Result<Option<DateTime<Utc>>, GError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => DateTime::parse_from_rfc3339(v)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| {
                    GError::bad_param(
                        k,
                        format!("Bad Request: invalid {k} '{v}' (RFC 3339 with offset required)"),
                    )
                }),
        }
    }
    fn check_allowed(&self, allowed: &[&str]) -> Result<(), GError> {
        for (k, _) in &self.0 {
            if !allowed.contains(&k.as_str()) && !STANDARD_PARAMS.contains(&k.as_str()) {
                return Err(GError::new(
                    400,
                    "global",
                    "badRequest",
                    format!("Invalid JSON payload received. Unknown name \"{k}\": Cannot bind query parameter."),
                )
                .at("parameter", k.clone()));
            }
        }
        Ok(())
    }
}

/// What a handler reports back for the log and for push notifications.
#[derive(Debug, Default)]
struct Outcome {
    write: bool,
    notifying: bool,
    changed_calendar: Option<String>,
}

/// Run one API request: faults, auth, operation, log.
pub async fn api(ctx: Arc<Ctx>, op: Op, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let params = Query::<Vec<(String, String)>>::try_from_uri(req.uri())
        .map(|q| Params(q.0))
        .map_err(|e| GError::invalid(format!("Bad query string: {e}")));
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let body = axum::body::to_bytes(body, 32 * 1024 * 1024).await;
    let fault = ctx.roll_fault().await;
    let has_script = !ctx
        .google
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .script
        .is_empty();
    let scripted = if has_script {
        let mut g = crate::common::write(&ctx.google);
        let with_reason = !g.quirks.full_sync_without_reason;
        g.scripted_fault(method.as_str(), &path)
            .map(|e| (e, with_reason))
    } else {
        None
    };
    let send_updates = params
        .as_ref()
        .ok()
        .and_then(|p| p.get("sendUpdates").map(str::to_string));
    let user_token = ctx.token_from_header(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok()),
    );
    let mut entry = LogEntry {
        seq: 0,
        api: "google",
        method: method.to_string(),
        path,
        query,
        status: 0,
        if_match: headers.contains_key(header::IF_MATCH),
        send_updates,
        write: false,
        notifying: false,
        user: user_token.as_ref().map(|t| t.user.clone()),
    };
    if fault == Some(Fault::Drop) || matches!(scripted, Some((super::ScriptedError::Drop, _))) {
        ctx.log(entry);
        // Unwind the connection task: the client sees the connection close without a response.
        std::panic::resume_unwind(Box::new("oneonone-emulator: injected dropped connection"));
    }
    let stall = matches!(scripted, Some((super::ScriptedError::StallAfter, _)));
    let mut out = Outcome::default();
    let result = (|| -> Result<Response, GError> {
        let params = params?;
        let body = body.map_err(|_| GError::invalid("Request body too large or unreadable."))?;
        if let Some(e) = scripted.and_then(|(e, r)| e.to_error(r)) {
            return Err(e);
        }
        let tok = user_token.ok_or_else(GError::auth)?;
        let limited = ctx
            .google
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .quirks
            .user_rate_limit_per_minute
            > 0;
        if limited && !crate::common::write(&ctx.google).admit_user(&tok.user, ctx.now()) {
            return Err(GError::rate_limit(403, "userRateLimitExceeded"));
        }
        match fault {
            Some(Fault::ServerError) => {
                return Err(GError::backend(if ctx.next_u64().is_multiple_of(2) {
                    500
                } else {
                    503
                }));
            }
            Some(Fault::Throttle) => {
                return Err(match ctx.next_u64() % 3 {
                    0 => GError::rate_limit(403, "rateLimitExceeded"),
                    1 => GError::rate_limit(403, "userRateLimitExceeded"),
                    _ => GError::rate_limit(429, "rateLimitExceeded"),
                });
            }
            _ => {}
        }
        handle(
            &ctx,
            &op,
            &method,
            &params,
            &headers,
            &body,
            &tok,
            fault == Some(Fault::ExpiredSync),
            &mut out,
        )
    })();
    let resp = result.unwrap_or_else(IntoResponse::into_response);
    entry.status = resp.status().as_u16();
    entry.write = out.write;
    entry.notifying = out.notifying;
    ctx.log(entry);
    if let Some(cal) = out.changed_calendar {
        super::notify::on_change(&ctx, &cal);
    }
    if stall {
        tokio::time::sleep(super::STALL).await;
    }
    resp
}

/// Scopes that allow an operation (an empty token scope list means "everything", as admin tokens).
fn required_scopes(op: &Op, method: &Method) -> &'static [&'static str] {
    const READ: &[&str] = &[
        "calendar",
        "calendar.readonly",
        "calendar.events",
        "calendar.events.readonly",
        "calendar.events.owned",
        "calendar.events.owned.readonly",
    ];
    const WRITE: &[&str] = &["calendar", "calendar.events", "calendar.events.owned"];
    const LIST: &[&str] = &[
        "calendar",
        "calendar.readonly",
        "calendar.calendarlist",
        "calendar.calendarlist.readonly",
    ];
    const FB: &[&str] = &[
        "calendar",
        "calendar.readonly",
        "calendar.freebusy",
        "calendar.events.freebusy",
    ];
    match op {
        Op::FreeBusy => FB,
        Op::CalendarList | Op::CalendarListEntry { .. } | Op::Calendar { .. } => LIST,
        Op::Watch { .. } | Op::Stop => READ,
        _ if *method == Method::GET => READ,
        _ => WRITE,
    }
}

fn scope_ok(tok: &TokenInfo, allowed: &[&str]) -> bool {
    if tok.scopes.is_empty() {
        return true;
    }
    tok.scopes.iter().any(|s| {
        let short = s
            .strip_prefix("https://www.googleapis.com/auth/")
            .unwrap_or(s);
        allowed.contains(&short)
    })
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    r
}

fn parse_body(body: &Bytes) -> Result<Map<String, Value>, GError> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(GError::new(
            400,
            "global",
            "parseError",
            "This API does not support parsing form-encoded input.",
        )),
        Err(e) => Err(GError::new(
            400,
            "global",
            "parseError",
            format!("Parse Error: {e}"),
        )),
    }
}

/// Resolve `primary` to the token's user and make sure the calendar exists.
fn resolve_cal(ctx: &Ctx, cal: &str, tok: &TokenInfo) -> Result<String, GError> {
    let id = if cal == "primary" {
        tok.user.to_ascii_lowercase()
    } else {
        cal.to_string()
    };
    let exists = ctx
        .google
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .calendars
        .contains_key(&id);
    if exists {
        return Ok(id);
    }
    if id.eq_ignore_ascii_case(&tok.user) {
        let now = ctx.now();
        crate::common::write(&ctx.google).ensure_calendar(&id, now);
        return Ok(id);
    }
    Err(GError::not_found())
}

#[allow(clippy::too_many_arguments)]
fn handle(
    ctx: &Ctx,
    op: &Op,
    method: &Method,
    params: &Params,
    headers: &HeaderMap,
    body: &Bytes,
    tok: &TokenInfo,
    expired_sync: bool,
    out: &mut Outcome,
) -> Result<Response, GError> {
    if !scope_ok(tok, required_scopes(op, method)) {
        return Err(GError::scope());
    }
    let now = ctx.now();
    let if_match = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok());
    match op {
        Op::Events { cal } if *method == Method::GET => {
            let cal = resolve_cal(ctx, cal, tok)?;
            let g = ctx.google.read().unwrap_or_else(|e| e.into_inner());
            let c = g.calendars.get(&cal).ok_or_else(GError::not_found)?;
            let body = list_events(ctx, &g, c, params, tok, expired_sync)?;
            Ok(json_response(StatusCode::OK, body))
        }
        Op::Events { cal } => {
            params.check_allowed(&[
                "conferenceDataVersion",
                "maxAttendees",
                "sendNotifications",
                "sendUpdates",
                "supportsAttachments",
            ])?;
            check_send_updates(params)?;
            let cal = resolve_cal(ctx, cal, tok)?;
            let req = parse_body(body)?;
            let new_id = base32hex_id(ctx);
            let opts = WriteOpts {
                if_match: None,
                send_updates: effective_send_updates(params),
                force_sequence: false,
            };
            let mut g = crate::common::write(&ctx.google);
            let missing = g.quirks.missing_send_updates_notifies;
            let r = g.insert_event(&cal, req, &opts, new_id, now, missing)?;
            drop(g);
            finish_write(r, &cal, params, out, StatusCode::OK)
        }
        Op::Event { cal, id } => {
            let cal = resolve_cal(ctx, cal, tok)?;
            if *method == Method::GET {
                params.check_allowed(&["alwaysIncludeEmail", "maxAttendees", "timeZone"])?;
                let g = ctx.google.read().unwrap_or_else(|e| e.into_inner());
                let c = g.calendars.get(&cal).ok_or_else(GError::not_found)?;
                let (res, _) = g.current(c, id).ok_or_else(GError::not_found)?;
                let etag = res
                    .get("etag")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if let Some(inm) = headers
                    .get(header::IF_NONE_MATCH)
                    .and_then(|v| v.to_str().ok())
                    && (inm.trim() == etag || inm.trim() == "*")
                {
                    let mut r = Response::new(Body::empty());
                    *r.status_mut() = StatusCode::NOT_MODIFIED;
                    return Ok(r);
                }
                let res = apply_max_attendees(res, params)?;
                return Ok(json_response(
                    StatusCode::OK,
                    Value::Object(res).to_string(),
                ));
            }
            let allowed: &[&str] = if *method == Method::DELETE {
                &["sendNotifications", "sendUpdates"]
            } else {
                &[
                    "alwaysIncludeEmail",
                    "conferenceDataVersion",
                    "maxAttendees",
                    "sendNotifications",
                    "sendUpdates",
                    "supportsAttachments",
                ]
            };
            params.check_allowed(allowed)?;
            check_send_updates(params)?;
            let opts = WriteOpts {
                if_match,
                send_updates: effective_send_updates(params),
                force_sequence: false,
            };
            let mut g = crate::common::write(&ctx.google);
            let missing = g.quirks.missing_send_updates_notifies;
            let r = if *method == Method::DELETE {
                g.delete_event(&cal, id, &opts, now, missing)?
            } else {
                let req = parse_body(body)?;
                g.modify_event(&cal, id, &req, *method == Method::PUT, &opts, now, missing)?
            };
            drop(g);
            let status = if *method == Method::DELETE {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::OK
            };
            finish_write(r, &cal, params, out, status)
        }
        Op::Instances { cal, id } => {
            let cal = resolve_cal(ctx, cal, tok)?;
            let g = ctx.google.read().unwrap_or_else(|e| e.into_inner());
            let c = g.calendars.get(&cal).ok_or_else(GError::not_found)?;
            Ok(json_response(
                StatusCode::OK,
                list_instances(&g, c, id, params, now)?,
            ))
        }
        Op::Watch { cal } => {
            params.check_allowed(LIST_PARAMS)?;
            let cal = resolve_cal(ctx, cal, tok)?;
            let req = parse_body(body)?;
            let v = super::notify::watch(ctx, &cal, &req, now)?;
            Ok(json_response(StatusCode::OK, v.to_string()))
        }
        Op::Stop => {
            params.check_allowed(&[])?;
            let req = parse_body(body)?;
            super::notify::stop(ctx, &req)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Op::CalendarList => {
            params.check_allowed(&[
                "maxResults",
                "minAccessRole",
                "pageToken",
                "showDeleted",
                "showHidden",
                "syncToken",
            ])?;
            let me = tok.user.to_ascii_lowercase();
            let _ = resolve_cal(ctx, "primary", tok)?;
            let g = ctx.google.read().unwrap_or_else(|e| e.into_inner());
            Ok(json_response(
                StatusCode::OK,
                calendar_list(&g, &me, params, expired_sync)?,
            ))
        }
        Op::CalendarListEntry { cal } | Op::Calendar { cal } => {
            params.check_allowed(&[])?;
            let cal = resolve_cal(ctx, cal, tok)?;
            let me = tok.user.to_ascii_lowercase();
            let g = ctx.google.read().unwrap_or_else(|e| e.into_inner());
            let c = g.calendars.get(&cal).ok_or_else(GError::not_found)?;
            let v = if matches!(op, Op::Calendar { .. }) {
                json!({"kind": "calendar#calendar", "etag": format!("\"{}\"", c.max_seq), "id": c.id,
                       "summary": c.summary, "timeZone": c.time_zone})
            } else {
                list_entry(c, &me)
            };
            Ok(json_response(StatusCode::OK, v.to_string()))
        }
        Op::FreeBusy => {
            params.check_allowed(&[])?;
            let req = parse_body(body)?;
            let g = ctx.google.read().unwrap_or_else(|e| e.into_inner());
            Ok(json_response(
                StatusCode::OK,
                free_busy(&g, &req, &tok.user)?.to_string(),
            ))
        }
    }
}

fn check_send_updates(params: &Params) -> Result<(), GError> {
    params.bool("sendNotifications")?;
    match params.get("sendUpdates") {
        None | Some("all" | "externalOnly" | "none") => Ok(()),
        Some(v) => Err(GError::bad_param(
            "sendUpdates",
            format!("Invalid value for sendUpdates: {v}"),
        )),
    }
}

/// `sendUpdates`, else the deprecated `sendNotifications` (`true` = all, `false` = none), else
/// nothing (whether that notifies is the quirk `missing_send_updates_notifies`).
fn effective_send_updates(params: &Params) -> Option<&'static str> {
    match (params.get("sendUpdates"), params.get("sendNotifications")) {
        (Some("all"), _) | (None, Some("true")) => Some("all"),
        (Some("externalOnly"), _) => Some("externalOnly"),
        (Some(_), _) | (None, Some("false")) => Some("none"),
        (None, _) => None,
    }
}

fn finish_write(
    r: WriteOutcome,
    cal: &str,
    params: &Params,
    out: &mut Outcome,
    status: StatusCode,
) -> Result<Response, GError> {
    out.write = true;
    out.notifying = r.notifying;
    out.changed_calendar = Some(cal.to_string());
    match r.resource {
        Some(res) => {
            let res = apply_max_attendees(res, params)?;
            Ok(json_response(status, Value::Object(res).to_string()))
        }
        None => Ok(status.into_response()),
    }
}

/// A fresh 26-character base32hex event id.
fn base32hex_id(ctx: &Ctx) -> String {
    const A: &[u8] = b"0123456789abcdefghijklmnopqrstuv";
    (0..26)
        .map(|_| A[(ctx.next_u64() % 32) as usize] as char)
        .collect()
}

/// `maxAttendees`: truncate the list and flag `attendeesOmitted`.
fn apply_max_attendees(
    mut res: Map<String, Value>,
    params: &Params,
) -> Result<Map<String, Value>, GError> {
    let Some(n) = params.int("maxAttendees")? else {
        return Ok(res);
    };
    if n < 1 {
        return Err(GError::bad_param(
            "maxAttendees",
            "Invalid value for maxAttendees",
        ));
    }
    if let Some(Value::Array(list)) = res.get_mut("attendees")
        && list.len() > n as usize
    {
        list.truncate(n as usize);
        res.insert("attendeesOmitted".into(), json!(true));
    }
    Ok(res)
}

// ---------------------------------------------------------------------------------------------
// events.list

const LIST_PARAMS: &[&str] = &[
    "alwaysIncludeEmail",
    "eventTypes",
    "iCalUID",
    "maxAttendees",
    "maxResults",
    "orderBy",
    "pageToken",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "showDeleted",
    "showHiddenInvitations",
    "singleEvents",
    "syncToken",
    "timeMax",
    "timeMin",
    "timeZone",
    "updatedMin",
];
const SYNC_FORBIDDEN: &[&str] = &[
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
];
/// How far back `updatedMin` may reach (the emulator's tombstone retention).
const UPDATED_MIN_DAYS: i64 = 28;
/// Most entries one page request looks at before answering with a (short) page.
const SCAN_LIMIT: usize = 5000;

/// The parsed, validated query of an events.list request.
struct ListQuery<'a> {
    single: bool,
    show_deleted: Option<bool>,
    max_results: usize,
    order_by: Option<&'a str>,
    time_min: Option<i64>,
    time_max: Option<i64>,
    updated_min: Option<DateTime<Utc>>,
    q: Option<String>,
    ical_uid: Option<&'a str>,
    private_props: Vec<(&'a str, &'a str)>,
    shared_props: Vec<(&'a str, &'a str)>,
    event_types: Vec<&'a str>,
    or_props: bool,
}

impl ListQuery<'_> {
    /// Does any filter need the parsed resource?
    fn filters_content(&self) -> bool {
        self.has_filters() || self.updated_min.is_some() || !self.event_types.is_empty()
    }
    fn has_filters(&self) -> bool {
        self.q.is_some()
            || self.ical_uid.is_some()
            || !self.private_props.is_empty()
            || !self.shared_props.is_empty()
    }
    /// Do the non-window filters accept this resource?
    fn accepts(&self, res: &Map<String, Value>) -> bool {
        if let Some(u) = self.ical_uid
            && res.get("iCalUID").and_then(Value::as_str) != Some(u)
        {
            return false;
        }
        if let Some(q) = &self.q {
            let hay = ["summary", "description", "location"]
                .iter()
                .filter_map(|k| res.get(*k).and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase();
            if !q.split_whitespace().all(|w| hay.contains(w)) {
                return false;
            }
        }
        if !self.event_types.is_empty() {
            let t = res
                .get("eventType")
                .and_then(Value::as_str)
                .unwrap_or("default");
            if !self.event_types.contains(&t) {
                return false;
            }
        }
        let props = |scope: &str, wanted: &[(&str, &str)]| -> Option<Vec<bool>> {
            if wanted.is_empty() {
                return None;
            }
            let m = res.get("extendedProperties").and_then(|e| e.get(scope));
            Some(
                wanted
                    .iter()
                    .map(|(k, v)| m.and_then(|m| m.get(*k)).and_then(Value::as_str) == Some(*v))
                    .collect(),
            )
        };
        let mut hits = Vec::new();
        hits.extend(props("private", &self.private_props).unwrap_or_default());
        hits.extend(props("shared", &self.shared_props).unwrap_or_default());
        if !hits.is_empty() {
            let ok = if self.or_props {
                hits.iter().any(|h| *h)
            } else {
                hits.iter().all(|h| *h)
            };
            if !ok {
                return false;
            }
        }
        if let Some(um) = self.updated_min {
            let upd = res
                .get("updated")
                .and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc));
            if upd.is_none_or(|u| u < um) {
                return false;
            }
        }
        true
    }
}

fn prop_filters<'a>(params: &'a Params, k: &str) -> Result<Vec<(&'a str, &'a str)>, GError> {
    params
        .all(k)
        .into_iter()
        .map(|p| {
            p.split_once('=')
                .ok_or_else(|| GError::bad_param(k, format!("Invalid {k}: expected name=value")))
        })
        .collect()
}

fn enc_token(prefix: &str, text: String) -> String {
    format!("{prefix}{}", B64.encode(text))
}

fn dec_token(prefix: &str, token: &str) -> Option<Vec<String>> {
    let raw = token.strip_prefix(prefix)?;
    let bytes = B64.decode(raw).ok()?;
    let s = String::from_utf8(bytes).ok()?;
    Some(s.split('\u{1}').map(str::to_string).collect())
}

fn sync_token(epoch: u64, seq: u64) -> String {
    enc_token("CK", format!("{epoch}\u{1}{seq}"))
}

fn events_envelope(
    c: &Calendar,
    role: &str,
    items: &[Arc<str>],
    next_page: Option<String>,
    next_sync: Option<String>,
) -> String {
    let mut s = String::with_capacity(256 + items.iter().map(|i| i.len() + 1).sum::<usize>());
    s.push_str("{\"kind\":\"calendar#events\",\"etag\":");
    s.push_str(&json!(format!("\"{}\"", c.max_seq)).to_string());
    s.push_str(",\"summary\":");
    s.push_str(&json!(c.summary).to_string());
    s.push_str(",\"description\":");
    s.push_str(&json!(c.description.clone().unwrap_or_default()).to_string());
    s.push_str(",\"updated\":");
    s.push_str(&json!(store::fmt_utc(c.updated)).to_string());
    s.push_str(",\"timeZone\":");
    s.push_str(&json!(c.time_zone).to_string());
    s.push_str(",\"accessRole\":");
    s.push_str(&json!(role).to_string());
    s.push_str(",\"defaultReminders\":[{\"method\":\"popup\",\"minutes\":10}]");
    if let Some(p) = next_page {
        s.push_str(",\"nextPageToken\":");
        s.push_str(&json!(p).to_string());
    }
    if let Some(t) = next_sync {
        s.push_str(",\"nextSyncToken\":");
        s.push_str(&json!(t).to_string());
    }
    s.push_str(",\"items\":[");
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(it);
    }
    s.push_str("]}");
    s
}

fn access_role(c: &Calendar, user: &str) -> String {
    if c.id.eq_ignore_ascii_case(user) {
        "owner".into()
    } else {
        c.acl
            .get(&user.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| "writer".into())
    }
}

/// The resource behind a list entry (for filters): the stored event or the series master.
fn entry_source<'a>(_c: &Calendar, e: &'a Entry) -> Option<&'a StoredEvent> {
    Some(e.kind.source())
}

fn render_entry(c: &Calendar, e: &Entry) -> Arc<str> {
    match &e.kind {
        EntryKind::Stored(ev) => ev.list_json(),
        EntryKind::Instance { master, orig } => e
            .json
            .get_or_init(|| master.instance_json(*orig, c.tz))
            .clone(),
    }
}

/// Re-render with `maxAttendees` applied (only when the parameter is present).
fn with_max_attendees(item: Arc<str>, params: &Params) -> Result<Arc<str>, GError> {
    if !params.has("maxAttendees") {
        return Ok(item);
    }
    let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&item) else {
        return Ok(item);
    };
    let m = apply_max_attendees(m, params)?;
    Ok(Arc::from(Value::Object(m).to_string()))
}

fn list_events(
    ctx: &Ctx,
    g: &GoogleState,
    c: &Calendar,
    params: &Params,
    tok: &TokenInfo,
    expired_sync: bool,
) -> Result<String, GError> {
    params.check_allowed(LIST_PARAMS)?;
    let max_results = match params.int("maxResults")? {
        None => 250,
        Some(n) if n < 1 => {
            return Err(GError::bad_param(
                "maxResults",
                "Invalid value for maxResults",
            ));
        }
        Some(n) => n.min(2500) as usize,
    };
    let order_by = params.get("orderBy");
    if let Some(o) = order_by
        && o != "startTime"
        && o != "updated"
    {
        return Err(GError::bad_param(
            "orderBy",
            format!("Invalid value for orderBy: {o}"),
        ));
    }
    let single = params.bool("singleEvents")?.unwrap_or(false);
    if order_by == Some("startTime") && !single {
        return Err(GError::new(
            400,
            "global",
            "badRequest",
            "The requested ordering is not available for the particular query.",
        ));
    }
    let time_min = params.time("timeMin")?;
    let time_max = params.time("timeMax")?;
    if let (Some(a), Some(b)) = (time_min, time_max)
        && b <= a
    {
        return Err(GError::time_range_empty("timeMax"));
    }
    let updated_min = params.time("updatedMin")?;
    if updated_min.is_some_and(|u| u < ctx.now() - chrono::Duration::days(UPDATED_MIN_DAYS)) {
        return Err(GError::new(
            410,
            "calendar",
            "updatedMinTooLongAgo",
            "The requested minimum modification time lies too far in the past.",
        )
        .at("parameter", "updatedMin"));
    }
    for t in params.all("eventTypes") {
        if ![
            "birthday",
            "default",
            "focusTime",
            "fromGmail",
            "outOfOffice",
            "workingLocation",
        ]
        .contains(&t)
        {
            return Err(GError::bad_param(
                "eventTypes",
                format!("Invalid value for eventTypes: {t}"),
            ));
        }
    }
    let q = ListQuery {
        single,
        show_deleted: params.bool("showDeleted")?,
        max_results,
        order_by,
        time_min: time_min.map(|t| t.timestamp()),
        time_max: time_max.map(|t| t.timestamp()),
        updated_min,
        q: params.get("q").map(str::to_lowercase),
        ical_uid: params.get("iCalUID"),
        private_props: prop_filters(params, "privateExtendedProperty")?,
        shared_props: prop_filters(params, "sharedExtendedProperty")?,
        event_types: params.all("eventTypes"),
        or_props: g.quirks.extended_property_filters_or,
    };
    let role = access_role(c, &tok.user);
    if let Some(token) = params.get("syncToken") {
        if SYNC_FORBIDDEN.iter().any(|k| params.has(k)) || q.show_deleted == Some(false) {
            return Err(GError::new(
                400,
                "calendar",
                "syncTokenWithRequestRestrictions",
                "Sync token cannot be used with other request restrictions.",
            )
            .at("parameter", "syncToken"));
        }
        let parts = dec_token("CK", token)
            .ok_or_else(|| GError::bad_param("syncToken", "Invalid sync token value."))?;
        let (epoch, seq) = match parts.as_slice() {
            [e, s] => (e.parse::<u64>().ok(), s.parse::<u64>().ok()),
            _ => (None, None),
        };
        let (Some(epoch), Some(seq)) = (epoch, seq) else {
            return Err(GError::bad_param("syncToken", "Invalid sync token value."));
        };
        if epoch != g.sync_epoch || expired_sync || seq > c.max_seq || seq < c.purged_seq {
            return Err(GError::full_sync(!g.quirks.full_sync_without_reason));
        }
        return incremental(ctx, g, c, &q, params, seq, &role);
    }
    if order_by == Some("updated") || updated_min.is_some() {
        return list_by_offset(ctx, g, c, &q, params, &role);
    }
    let view = if single {
        &c.index.expanded
    } else {
        &c.index.flat
    };
    let (snap, start_idx) = match params.get("pageToken") {
        Some(pt) => {
            let parts = dec_token("EF", pt)
                .ok_or_else(|| GError::bad_param("pageToken", "Invalid page token."))?;
            let [snap, start, id] = parts.as_slice() else {
                return Err(GError::bad_param("pageToken", "Invalid page token."));
            };
            let snap: u64 = snap
                .parse()
                .map_err(|_| GError::bad_param("pageToken", "Invalid page token."))?;
            let start: i64 = start
                .parse()
                .map_err(|_| GError::bad_param("pageToken", "Invalid page token."))?;
            let idx = view.partition_point(|e| (e.start, &*e.id) <= (start, id.as_str()));
            (snap, idx)
        }
        None => {
            let idx = match q.time_min {
                Some(tm) => view.partition_point(|e| e.max_end <= tm),
                None => 0,
            };
            (c.max_seq, idx)
        }
    };
    let mut page = q.max_results;
    if g.quirks.short_pages > 0.0 && ctx.next_f64() < g.quirks.short_pages {
        page = (ctx.next_u64() % (q.max_results as u64 + 1)) as usize;
    }
    let show_deleted = q.show_deleted.unwrap_or(false);
    let mut items = Vec::with_capacity(page.min(view.len()));
    let mut last: Option<&Entry> = None;
    let mut more = false;
    for (scanned, e) in view[start_idx.min(view.len())..].iter().enumerate() {
        if q.time_max.is_some_and(|tm| e.start >= tm) {
            break;
        }
        if items.len() >= page || scanned >= SCAN_LIMIT {
            more = true;
            break;
        }
        last = Some(e);
        if q.time_min.is_some_and(|tm| e.end <= tm) {
            continue;
        }
        let Some(src) = entry_source(c, e) else {
            continue;
        };
        if e.cancelled && !show_deleted {
            // Quirk (observed): cancelled exceptions still come back in non-expanded listings.
            let is_exception = matches!(e.kind, EntryKind::Stored(_)) && src.meta.parent.is_some();
            if single || !is_exception {
                continue;
            }
        }
        if q.filters_content() && !q.accepts(&src.res()) {
            continue;
        }
        items.push(with_max_attendees(render_entry(c, e), params)?);
    }
    if more {
        // Resume after the last entry looked at; on an empty page, where this page began.
        let before = start_idx.checked_sub(1).and_then(|i| view.get(i));
        let (ls, lid) = last
            .or(before)
            .map(|e| (e.start, e.id.to_string()))
            .unwrap_or((i64::MIN, String::new()));
        let pt = enc_token("EF", format!("{snap}\u{1}{ls}\u{1}{lid}"));
        return Ok(events_envelope(c, &role, &items, Some(pt), None));
    }
    let omit = g.quirks.omit_sync_token_after_filters && (q.order_by.is_some() || q.has_filters());
    let st = (!omit).then(|| sync_token(g.sync_epoch, snap));
    Ok(events_envelope(c, &role, &items, None, st))
}

/// orderBy=updated and updatedMin listings: collect, sort, page by offset (rare, not on hot paths).
fn list_by_offset(
    ctx: &Ctx,
    g: &GoogleState,
    c: &Calendar,
    q: &ListQuery,
    params: &Params,
    role: &str,
) -> Result<String, GError> {
    let _ = ctx;
    let view = if q.single {
        &c.index.expanded
    } else {
        &c.index.flat
    };
    let show_deleted = q.show_deleted.unwrap_or(false) || q.updated_min.is_some();
    let mut rows: Vec<(String, &Entry)> = Vec::new();
    for e in view {
        if q.time_max.is_some_and(|tm| e.start >= tm) || q.time_min.is_some_and(|tm| e.end <= tm) {
            continue;
        }
        let Some(src) = entry_source(c, e) else {
            continue;
        };
        if e.cancelled && !show_deleted {
            continue;
        }
        if q.filters_content() && !q.accepts(&src.res()) {
            continue;
        }
        let upd = src
            .res()
            .get("updated")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        rows.push((upd, e));
    }
    if q.order_by == Some("updated") {
        rows.sort_by(|a, b| (&a.0, &a.1.id).cmp(&(&b.0, &b.1.id)));
    }
    let (snap, offset) = match params.get("pageToken") {
        Some(pt) => {
            let parts = dec_token("EO", pt)
                .ok_or_else(|| GError::bad_param("pageToken", "Invalid page token."))?;
            match parts.as_slice() {
                [s, o] => (
                    s.parse().unwrap_or(c.max_seq),
                    o.parse::<usize>().unwrap_or(0),
                ),
                _ => return Err(GError::bad_param("pageToken", "Invalid page token.")),
            }
        }
        None => (c.max_seq, 0),
    };
    let end = (offset + q.max_results).min(rows.len());
    let items: Vec<Arc<str>> = rows
        .get(offset..end)
        .unwrap_or(&[])
        .iter()
        .map(|(_, e)| with_max_attendees(render_entry(c, e), params))
        .collect::<Result<_, _>>()?;
    if end < rows.len() {
        let pt = enc_token("EO", format!("{snap}\u{1}{end}"));
        return Ok(events_envelope(c, role, &items, Some(pt), None));
    }
    let omit = g.quirks.omit_sync_token_after_filters;
    let st = (!omit).then(|| sync_token(g.sync_epoch, snap));
    Ok(events_envelope(c, role, &items, None, st))
}

/// The items one change contributes to an incremental listing.
fn change_items(
    ctx: &Ctx,
    g: &GoogleState,
    c: &Calendar,
    ev: &StoredEvent,
    single: bool,
) -> Vec<Arc<str>> {
    let bare = |stub: Value| -> Arc<str> {
        let f = g.quirks.bare_instance_tombstones;
        if f > 0.0 && ctx.next_f64() < f {
            let id = stub.get("id").cloned().unwrap_or(Value::Null);
            Arc::from(json!({"id": id, "status": "cancelled"}).to_string())
        } else {
            Arc::from(stub.to_string())
        }
    };
    if ev.meta.parent.is_some() && ev.meta.cancelled {
        return vec![bare(store::cancelled_stub(&ev.res()))];
    }
    if !single || !ev.is_master() {
        return vec![ev.list_json()];
    }
    let horizon = g.horizon(ctx.now());
    let occ = store::occurrences(&ev.meta, c.tz, horizon).unwrap_or_default();
    let mut out = Vec::with_capacity(occ.len());
    for o in occ {
        let iid = store::instance_id(ev.id(), o, ev.meta.all_day, c.tz);
        if c.events.contains_key(&iid) {
            continue;
        }
        if ev.deleted {
            out.push(bare(store::cancelled_stub(&store::render_instance(
                ev, o, c.tz,
            ))));
        } else {
            out.push(ev.instance_json(o, c.tz));
        }
    }
    out
}

fn incremental(
    ctx: &Ctx,
    g: &GoogleState,
    c: &Calendar,
    q: &ListQuery,
    params: &Params,
    since: u64,
    role: &str,
) -> Result<String, GError> {
    let (snap, cur_seq, cur_sub) = match params.get("pageToken") {
        Some(pt) => {
            let parts = dec_token("EI", pt)
                .ok_or_else(|| GError::bad_param("pageToken", "Invalid page token."))?;
            let nums: Vec<u64> = parts.iter().filter_map(|p| p.parse().ok()).collect();
            match nums.as_slice() {
                [a, b, s] => (*a, *b, *s as usize),
                _ => return Err(GError::bad_param("pageToken", "Invalid page token.")),
            }
        }
        None => (c.max_seq, since, usize::MAX),
    };
    let changes = &c.index.changes;
    // Resume at the change we stopped in (cur_sub items of it already sent), or after `since`.
    let start = if cur_sub == usize::MAX {
        changes.partition_point(|(s, _)| *s <= cur_seq)
    } else {
        changes.partition_point(|(s, _)| *s < cur_seq)
    };
    let mut items: Vec<Arc<str>> = Vec::new();
    for (seq, id) in changes[start.min(changes.len())..].iter() {
        if *seq > snap {
            break;
        }
        let Some(ev) = c.events.get(&**id) else {
            continue;
        };
        let all = change_items(ctx, g, c, ev, q.single);
        let skip = if *seq == cur_seq && cur_sub != usize::MAX {
            cur_sub
        } else {
            0
        };
        for (i, it) in all.into_iter().enumerate().skip(skip) {
            if items.len() >= q.max_results {
                let pt = enc_token("EI", format!("{snap}\u{1}{seq}\u{1}{i}"));
                return Ok(events_envelope(c, role, &items, Some(pt), None));
            }
            items.push(with_max_attendees(it, params)?);
        }
    }
    Ok(events_envelope(
        c,
        role,
        &items,
        None,
        Some(sync_token(g.sync_epoch, snap)),
    ))
}

// ---------------------------------------------------------------------------------------------
// events.instances

fn list_instances(
    g: &GoogleState,
    c: &Calendar,
    id: &str,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<String, GError> {
    params.check_allowed(&[
        "alwaysIncludeEmail",
        "maxAttendees",
        "maxResults",
        "originalStart",
        "pageToken",
        "showDeleted",
        "timeMax",
        "timeMin",
        "timeZone",
    ])?;
    let master = c.events.get(id).ok_or_else(GError::not_found)?;
    if master.deleted {
        return Err(GError::deleted());
    }
    let max_results = match params.int("maxResults")? {
        None => 250,
        Some(n) if n < 1 => {
            return Err(GError::bad_param(
                "maxResults",
                "Invalid value for maxResults",
            ));
        }
        Some(n) => n.min(2500) as usize,
    };
    let show_deleted = params.bool("showDeleted")?.unwrap_or(false);
    let time_min = params.time("timeMin")?;
    let time_max = params.time("timeMax")?;
    let original_start = params.time("originalStart")?;
    if let (Some(a), Some(b)) = (time_min, time_max)
        && b <= a
    {
        return Err(GError::time_range_empty("timeMax"));
    }
    let mut rows: Vec<(DateTime<Utc>, Arc<str>)> = Vec::new();
    if master.is_master() {
        let horizon = time_max.map_or(g.horizon(now), |t| t.max(g.horizon(now)));
        let occ = store::occurrences(&master.meta, c.tz, horizon).unwrap_or_default();
        let dur = master.meta.end - master.meta.start;
        for o in occ {
            if original_start.is_some_and(|os| os != o) {
                continue;
            }
            let iid = store::instance_id(id, o, master.meta.all_day, c.tz);
            let (start, end, json) = match c.events.get(&iid) {
                Some(ex) => {
                    if ex.meta.cancelled && !show_deleted {
                        continue;
                    }
                    (ex.meta.start, ex.meta.end, ex.list_json())
                }
                None => (o, o + dur, master.instance_json(o, c.tz)),
            };
            // instances: timeMin is inclusive on the end, timeMax exclusive on the start.
            if time_min.is_some_and(|t| end < t) || time_max.is_some_and(|t| start >= t) {
                continue;
            }
            rows.push((start, with_max_attendees(json, params)?));
        }
    }
    rows.sort_by_key(|a| a.0);
    let offset = match params.get("pageToken") {
        Some(pt) => dec_token("EN", pt)
            .and_then(|p| p.first().and_then(|s| s.parse::<usize>().ok()))
            .ok_or_else(|| GError::bad_param("pageToken", "Invalid page token."))?,
        None => 0,
    };
    let end = (offset + max_results).min(rows.len());
    let items: Vec<Arc<str>> = rows
        .get(offset..end)
        .unwrap_or(&[])
        .iter()
        .map(|r| r.1.clone())
        .collect();
    let next = (end < rows.len()).then(|| enc_token("EN", end.to_string()));
    Ok(events_envelope(c, "owner", &items, next, None))
}

// ---------------------------------------------------------------------------------------------
// calendarList and freeBusy

fn list_entry(c: &Calendar, me: &str) -> Value {
    let own = c.id.eq_ignore_ascii_case(me);
    let mut v = json!({
        "kind": "calendar#calendarListEntry",
        "etag": format!("\"{}\"", c.max_seq),
        "id": c.id,
        "summary": c.summary,
        "timeZone": c.time_zone,
        "accessRole": access_role(c, me),
        "defaultReminders": [],
        "selected": true,
    });
    if own && let Some(o) = v.as_object_mut() {
        o.insert("primary".into(), json!(true));
        o.insert("dataOwner".into(), json!(c.id));
    }
    v
}

fn calendar_list(
    g: &GoogleState,
    me: &str,
    params: &Params,
    expired_sync: bool,
) -> Result<String, GError> {
    let max = match params.int("maxResults")? {
        None => 100,
        Some(n) if n < 1 => {
            return Err(GError::bad_param(
                "maxResults",
                "Invalid value for maxResults",
            ));
        }
        Some(n) => n.min(250) as usize,
    };
    let rank = |r: &str| match r {
        "freeBusyReader" => 0,
        "reader" => 1,
        "writer" => 2,
        _ => 3,
    };
    let min_role = params.get("minAccessRole");
    if let Some(m) = min_role
        && !["freeBusyReader", "reader", "writer", "owner"].contains(&m)
    {
        return Err(GError::bad_param(
            "minAccessRole",
            format!("Invalid value for minAccessRole: {m}"),
        ));
    }
    if let Some(t) = params.get("syncToken") {
        if min_role.is_some() {
            return Err(GError::new(
                400,
                "calendar",
                "syncTokenWithRequestRestrictions",
                "Sync token cannot be used with other request restrictions.",
            ));
        }
        let ok = dec_token("CL", t).and_then(|p| p.first().and_then(|e| e.parse::<u64>().ok()))
            == Some(g.sync_epoch);
        if !ok || expired_sync {
            return Err(GError::full_sync(!g.quirks.full_sync_without_reason));
        }
        // Calendar-list entries only change through scenarios, which start a new epoch.
        return Ok(
            json!({"kind": "calendar#calendarList", "etag": "\"0\"", "items": [],
                          "nextSyncToken": enc_token("CL", g.sync_epoch.to_string())})
            .to_string(),
        );
    }
    let mut cals: Vec<&Calendar> = g
        .calendars
        .values()
        .filter(|c| c.id.eq_ignore_ascii_case(me) || c.acl.contains_key(me))
        .filter(|c| min_role.is_none_or(|m| rank(&access_role(c, me)) >= rank(m)))
        .collect();
    cals.sort_by(|a, b| {
        (!a.id.eq_ignore_ascii_case(me), &a.id).cmp(&(!b.id.eq_ignore_ascii_case(me), &b.id))
    });
    let offset = match params.get("pageToken") {
        Some(pt) => dec_token("CP", pt)
            .and_then(|p| p.first().and_then(|s| s.parse::<usize>().ok()))
            .ok_or_else(|| GError::bad_param("pageToken", "Invalid page token."))?,
        None => 0,
    };
    let end = (offset + max).min(cals.len());
    let items: Vec<Value> = cals
        .get(offset..end)
        .unwrap_or(&[])
        .iter()
        .map(|c| list_entry(c, me))
        .collect();
    let mut v =
        json!({"kind": "calendar#calendarList", "etag": format!("\"{}\"", g.seq), "items": items});
    if let Some(o) = v.as_object_mut() {
        if end < cals.len() {
            o.insert(
                "nextPageToken".into(),
                json!(enc_token("CP", end.to_string())),
            );
        } else {
            o.insert(
                "nextSyncToken".into(),
                json!(enc_token("CL", g.sync_epoch.to_string())),
            );
        }
    }
    Ok(v.to_string())
}

fn free_busy(g: &GoogleState, req: &Map<String, Value>, me: &str) -> Result<Value, GError> {
    let t = |k: &str| -> Result<DateTime<Utc>, GError> {
        let s = req
            .get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| GError::required(k))?;
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| GError::bad_param(k, format!("Invalid {k}")))
    };
    let (tmin, tmax) = (t("timeMin")?, t("timeMax")?);
    if tmax <= tmin {
        return Err(GError::time_range_empty("timeMax"));
    }
    for (k, max) in [("calendarExpansionMax", 50), ("groupExpansionMax", 100)] {
        if let Some(v) = req.get(k)
            && !v.as_i64().is_some_and(|n| (1..=max).contains(&n))
        {
            return Err(GError::invalid(format!("Invalid {k}: at most {max}.")).at("parameter", k));
        }
    }
    if let Some(z) = req.get("timeZone")
        && z.as_str()
            .is_none_or(|z| z.parse::<chrono_tz::Tz>().is_err())
    {
        return Err(GError::invalid("Invalid time zone.").at("parameter", "timeZone"));
    }
    let items = req
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut cals = Map::new();
    for (n, it) in items.iter().enumerate() {
        let Some(id) = it.get("id").and_then(Value::as_str) else {
            continue;
        };
        if n >= 50 {
            cals.insert(id.into(), json!({"busy": [], "errors": [{"domain": "calendar", "reason": "tooManyCalendarsRequested"}]}));
            continue;
        }
        // `primary` is the caller's calendar; the answer is keyed by the id as requested.
        let cal_id = if id == "primary" {
            me.to_ascii_lowercase()
        } else {
            id.to_string()
        };
        let Some(c) = g.calendars.get(&cal_id) else {
            cals.insert(
                id.into(),
                json!({"busy": [], "errors": [{"domain": "global", "reason": "notFound"}]}),
            );
            continue;
        };
        let view = &c.index.expanded;
        let from = view.partition_point(|e| e.max_end <= tmin.timestamp());
        let mut spans: Vec<(i64, i64)> = Vec::new();
        for e in &view[from.min(view.len())..] {
            if e.start >= tmax.timestamp() {
                break;
            }
            if e.end <= tmin.timestamp() || e.cancelled {
                continue;
            }
            let Some(src) = entry_source(c, e) else {
                continue;
            };
            if src.meta.transparent || src.meta.self_declined {
                continue;
            }
            spans.push((e.start.max(tmin.timestamp()), e.end.min(tmax.timestamp())));
        }
        spans.sort();
        let mut merged: Vec<(i64, i64)> = Vec::new();
        for (s, e) in spans {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        let fmt = |x: i64| {
            DateTime::from_timestamp(x, 0)
                .map(store::fmt_utc)
                .unwrap_or_default()
        };
        let busy: Vec<Value> = merged
            .iter()
            .map(|(s, e)| json!({"start": fmt(*s), "end": fmt(*e)}))
            .collect();
        cals.insert(id.into(), json!({"busy": busy}));
    }
    Ok(
        json!({"kind": "calendar#freeBusy", "timeMin": store::fmt_utc(tmin), "timeMax": store::fmt_utc(tmax), "calendars": cals}),
    )
}
