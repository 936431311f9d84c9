//! The calendar endpoints other than delta: GET/PATCH/DELETE one event (or occurrence), list
//! events, calendarView, instances, POST (with `transactionId` idempotency), cancel and getSchedule.
//!
//! Invariants: a PATCH of an occurrence turns it into an exception with the same id; deleting an
//! occurrence records it on the master (and changes the master); every write goes through
//! `Mailbox::touch`/`Mailbox::tombstone` so delta sees it; `If-Match` is compared with the target's
//! current `@odata.etag` (an occurrence's is its master's).
use super::model::{
    Event, Kind, Mailbox, View, apply_patch, event_from_json, parse_dtz, parse_occurrence_id,
};
use super::{Call, Out, begin, finish, graph_error, ok_json, tz};
use crate::common::{Ctx, write};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

type Params = Path<HashMap<String, String>>;
type Q = Query<HashMap<String, String>>;

fn err(ctx: &Ctx, call: &Call, status: StatusCode, code: &str, msg: &str) -> Out {
    Out::read(graph_error(
        ctx,
        status,
        code,
        msg,
        call.client_request_id.as_deref(),
    ))
}

fn not_found(ctx: &Ctx, call: &Call) -> Out {
    err(
        ctx,
        call,
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    )
}

fn malformed(id: &str) -> bool {
    id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-=+/".contains(c))
}

fn qget<'a>(q: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    q.iter()
        .find(|(qk, _)| qk.eq_ignore_ascii_case(k))
        .map(|(_, v)| v.as_str())
}

/// The quoted string following `needle` (case-insensitive) in `s`.
fn quoted_after(s: &str, needle: &str) -> Option<String> {
    let lower = s.to_ascii_lowercase();
    let at = lower.find(&needle.to_ascii_lowercase())? + needle.len();
    let rest = s.get(at..)?.trim_start();
    let rest = rest.strip_prefix('\'')?;
    let end = rest.find('\'')?;
    rest.get(..end).map(String::from)
}

/// `$expand=singleValueExtendedProperties($filter=id eq '…')` → ids (empty = all).
fn expand_ext(q: &HashMap<String, String>) -> Option<Vec<String>> {
    let e = qget(q, "$expand")?;
    if !e
        .to_ascii_lowercase()
        .contains("singlevalueextendedproperties")
    {
        return None;
    }
    let mut ids = Vec::new();
    let mut rest = e;
    while let Some(id) = quoted_after(rest, "id eq") {
        let lower = rest.to_ascii_lowercase();
        let Some(pos) = lower.find("id eq") else {
            break;
        };
        rest = rest.get(pos + 5 + id.len() + 2..).unwrap_or("");
        ids.push(id);
    }
    Some(ids)
}

/// `$filter=singleValueExtendedProperties/Any(ep: ep/id eq '…' and ep/value eq '…')`.
fn ext_filter(q: &HashMap<String, String>) -> Result<Option<(String, Option<String>)>, String> {
    let Some(f) = qget(q, "$filter") else {
        return Ok(None);
    };
    if !f
        .to_ascii_lowercase()
        .contains("singlevalueextendedproperties/any(")
    {
        return Err(format!("Unsupported $filter: {f}"));
    }
    let id = quoted_after(f, "/id eq").ok_or_else(|| format!("Unsupported $filter: {f}"))?;
    Ok(Some((id, quoted_after(f, "/value eq"))))
}

/// Every property of Graph's `event` (structural and navigation), as `$select` may name them.
const EVENT_PROPERTIES: &[&str] = &[
    "allowNewTimeProposals",
    "attachments",
    "attendees",
    "body",
    "bodyPreview",
    "calendar",
    "cancelledOccurrences",
    "categories",
    "changeKey",
    "createdDateTime",
    "end",
    "exceptionOccurrences",
    "extensions",
    "hasAttachments",
    "hideAttendees",
    "iCalUId",
    "id",
    "importance",
    "instances",
    "isAllDay",
    "isCancelled",
    "isDraft",
    "isOnlineMeeting",
    "isOrganizer",
    "isReminderOn",
    "lastModifiedDateTime",
    "location",
    "locations",
    "multiValueExtendedProperties",
    "onlineMeeting",
    "onlineMeetingProvider",
    "onlineMeetingUrl",
    "organizer",
    "originalEndTimeZone",
    "originalStart",
    "originalStartTimeZone",
    "recurrence",
    "reminderMinutesBeforeStart",
    "responseRequested",
    "responseStatus",
    "sensitivity",
    "seriesMasterId",
    "showAs",
    "singleValueExtendedProperties",
    "start",
    "subject",
    "transactionId",
    "type",
    "webLink",
];

/// `$select=a,b`: the canonical names (matched case-insensitively), `None` without `$select`, or
/// the message of the 400 for a property `event` does not have.
fn parse_select(q: &HashMap<String, String>) -> Result<Option<Vec<&'static str>>, String> {
    let Some(sel) = qget(q, "$select") else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for p in sel.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match EVENT_PROPERTIES.iter().find(|k| k.eq_ignore_ascii_case(p)) {
            Some(k) => out.push(*k),
            None => {
                return Err(format!(
                    "Could not find a property named '{p}' on type 'microsoft.graph.event'."
                ));
            }
        }
    }
    Ok(Some(out))
}

/// Keep only the selected properties (plus `@odata.*`, `id` and `$expand`ed extended properties),
/// as Graph does: a client that forgets to select a field it reads gets nothing.
fn apply_select(v: Value, sel: &Option<Vec<&'static str>>) -> Value {
    let (Some(sel), Value::Object(o)) = (sel, &v) else {
        return v;
    };
    let kept = o
        .iter()
        .filter(|(k, _)| {
            k.starts_with('@')
                || *k == "id"
                || *k == "singleValueExtendedProperties"
                || sel.contains(&k.as_str())
        })
        .map(|(k, x)| (k.clone(), x.clone()))
        .collect();
    Value::Object(kept)
}

/// A 400 for a bad `$select`, as Graph's URI parser words it.
fn bad_select(ctx: &Ctx, call: &Call, msg: &str) -> Out {
    err(
        ctx,
        call,
        StatusCode::BAD_REQUEST,
        "RequestBroker--ParseUri",
        msg,
    )
}

fn view_for(mb: &Mailbox, call: &Call, q: &HashMap<String, String>) -> View {
    View {
        tz_name: call.prefer.tz.clone(),
        body_text: call.prefer.body_text,
        owner: mb.address.clone(),
        expand_ext: expand_ext(q),
    }
}

fn applied(call: &Call) -> Option<String> {
    let tz = call
        .prefer
        .tz
        .as_deref()
        .filter(|t| tz::resolve(t).is_some());
    Some(call.prefer.applied(None, tz))
}

/// `Preference-Applied` of a paged list: `odata.maxpagesize` too when it set the page size
/// (`$top` wins over it).
fn applied_paged(call: &Call, q: &HashMap<String, String>) -> Option<String> {
    let tz = call
        .prefer
        .tz
        .as_deref()
        .filter(|t| tz::resolve(t).is_some());
    let size = call
        .prefer
        .max_page_size
        .filter(|_| qget(q, "$top").is_none());
    Some(call.prefer.applied(size, tz))
}

/// A stored event or an occurrence of a master.
pub(crate) enum Target<'a> {
    Stored(&'a Event),
    Occurrence(&'a Event, DateTime<Utc>),
}

pub(crate) fn find<'a>(mb: &'a Mailbox, id: &str) -> Option<Target<'a>> {
    if let Some(e) = mb.events.get(id) {
        return Some(Target::Stored(e));
    }
    let (master, os) = parse_occurrence_id(id)?;
    let m = mb.events.get(master)?;
    (m.kind == Kind::Master && !m.deleted_occurrences.contains(&os) && m.has_occurrence_at(os))
        .then_some(Target::Occurrence(m, os))
}

fn render(t: &Target, view: &View) -> Value {
    match t {
        Target::Stored(e) => e.to_json(view, None),
        Target::Occurrence(m, os) => m.to_json(view, Some(*os)),
    }
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~$".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A page of a list: `$top` (default the knob) and `$skip`, with an absolute nextLink.
fn paged(
    ctx: &Ctx,
    call: &Call,
    q: &HashMap<String, String>,
    all: Vec<Value>,
    default_top: usize,
) -> Value {
    let top = qget(q, "$top")
        .and_then(|t| t.parse::<usize>().ok())
        .or(call.prefer.max_page_size)
        .unwrap_or(default_top)
        .max(1);
    let skip = qget(q, "$skip")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0);
    let total = all.len();
    let page: Vec<Value> = all.into_iter().skip(skip).take(top).collect();
    let mut body =
        json!({"@odata.context": format!("{}/v1.0/$metadata#Collection(event)", ctx.base_url())});
    if skip + top < total {
        let mut pairs: Vec<String> = q
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skip"))
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        pairs.sort();
        pairs.push(format!("$skip={}", skip + top));
        body["@odata.nextLink"] = json!(format!(
            "{}{}?{}",
            ctx.base_url(),
            call.path,
            pairs.join("&")
        ));
    }
    body["value"] = Value::Array(page);
    body
}

/// Everything of `mb` in the window as targets, sorted by start (full occurrences, no masters).
fn window_targets<'a>(
    mb: &'a Mailbox,
    ws: DateTime<Utc>,
    we: DateTime<Utc>,
    only_master: Option<&str>,
) -> Vec<(DateTime<Utc>, Target<'a>)> {
    let mut out = Vec::new();
    for e in mb.events.values() {
        match &e.kind {
            Kind::Master => {
                if only_master.is_some_and(|m| m != e.id) {
                    continue;
                }
                let ex = mb.exceptions_of(&e.id);
                for os in e.occurrences_in(ws, we) {
                    if !ex.contains_key(&os) {
                        out.push((os, Target::Occurrence(e, os)));
                    }
                }
            }
            Kind::Exception { master, .. } => {
                if only_master.is_none_or(|m| m == master)
                    && Event::overlaps(e.start, e.end, ws, we)
                {
                    out.push((e.start, Target::Stored(e)));
                }
            }
            Kind::Single => {
                if only_master.is_none() && Event::overlaps(e.start, e.end, ws, we) {
                    out.push((e.start, Target::Stored(e)));
                }
            }
        }
    }
    out.sort_by_key(|a| a.0);
    out
}

fn target_matches(t: &Target, filter: &Option<(String, Option<String>)>) -> bool {
    match (filter, t) {
        (None, _) => true,
        (Some((id, v)), Target::Stored(e)) | (Some((id, v)), Target::Occurrence(e, _)) => {
            e.matches_ext(id, v.as_deref())
        }
    }
}

/// `GET …/calendarView?startDateTime=&endDateTime=`.
pub async fn calendar_view(
    State(ctx): State<Arc<Ctx>>,
    Path(p): Params,
    Query(q): Q,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let call = match begin(
        &ctx,
        &headers,
        p.get("uid").map(String::as_str),
        "GET",
        &uri,
    )
    .await
    {
        Ok(c) => c,
        Err(r) => return r,
    };
    let out = (|| {
        let (ws, we) = match super::delta::window(&q) {
            Ok(w) => w,
            Err(m) => {
                return err(
                    &ctx,
                    &call,
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidParameter",
                    &m,
                );
            }
        };
        // Observed on the real service: a range over 1825 days is refused.
        if we - ws > Duration::days(1825) {
            return err(
                &ctx,
                &call,
                StatusCode::BAD_REQUEST,
                "ErrorInvalidRequest",
                "The calendarView time range must not exceed 1825 days.",
            );
        }
        let filter = match ext_filter(&q) {
            Ok(f) => f,
            Err(m) => return err(&ctx, &call, StatusCode::BAD_REQUEST, "BadRequest", &m),
        };
        let st = ctx.graph.read().unwrap_or_else(|e| e.into_inner());
        let Some(mb) = st.mailboxes.get(&call.mailbox) else {
            return not_found(&ctx, &call);
        };
        let sel = match parse_select(&q) {
            Ok(s) => s,
            Err(m) => return bad_select(&ctx, &call, &m),
        };
        let view = view_for(mb, &call, &q);
        let all: Vec<Value> = window_targets(mb, ws, we, None)
            .iter()
            .filter(|(_, t)| target_matches(t, &filter))
            .map(|(_, t)| apply_select(render(t, &view), &sel))
            .collect();
        let body = paged(&ctx, &call, &q, all, st.knobs.default_page_size);
        Out::read(ok_json(
            StatusCode::OK,
            body,
            &call,
            applied_paged(&call, &q),
        ))
    })();
    finish(&ctx, call, out)
}

/// `GET …/events` (single instances and series masters).
pub async fn list(
    State(ctx): State<Arc<Ctx>>,
    Path(p): Params,
    Query(q): Q,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let call = match begin(
        &ctx,
        &headers,
        p.get("uid").map(String::as_str),
        "GET",
        &uri,
    )
    .await
    {
        Ok(c) => c,
        Err(r) => return r,
    };
    let out = (|| {
        let filter = match ext_filter(&q) {
            Ok(f) => f,
            Err(m) => return err(&ctx, &call, StatusCode::BAD_REQUEST, "BadRequest", &m),
        };
        let st = ctx.graph.read().unwrap_or_else(|e| e.into_inner());
        let Some(mb) = st.mailboxes.get(&call.mailbox) else {
            return not_found(&ctx, &call);
        };
        let sel = match parse_select(&q) {
            Ok(s) => s,
            Err(m) => return bad_select(&ctx, &call, &m),
        };
        let view = view_for(mb, &call, &q);
        let mut evs: Vec<&Event> = mb
            .events
            .values()
            .filter(|e| !matches!(e.kind, Kind::Exception { .. }))
            .filter(|e| {
                filter
                    .as_ref()
                    .is_none_or(|(id, v)| e.matches_ext(id, v.as_deref()))
            })
            .collect();
        evs.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
        let all = evs
            .iter()
            .map(|e| apply_select(e.to_json(&view, None), &sel))
            .collect();
        let body = paged(&ctx, &call, &q, all, st.knobs.default_page_size);
        Out::read(ok_json(
            StatusCode::OK,
            body,
            &call,
            applied_paged(&call, &q),
        ))
    })();
    finish(&ctx, call, out)
}

/// `GET …/events/{id}` (also occurrences; `$expand=singleValueExtendedProperties(...)`).
pub async fn get_one(
    State(ctx): State<Arc<Ctx>>,
    Path(p): Params,
    Query(q): Q,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let call = match begin(
        &ctx,
        &headers,
        p.get("uid").map(String::as_str),
        "GET",
        &uri,
    )
    .await
    {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = p.get("eid").cloned().unwrap_or_default();
    let out = (|| {
        if malformed(&id) {
            return err(
                &ctx,
                &call,
                StatusCode::BAD_REQUEST,
                "ErrorInvalidIdMalformed",
                "Id is malformed.",
            );
        }
        let st = ctx.graph.read().unwrap_or_else(|e| e.into_inner());
        let Some(mb) = st.mailboxes.get(&call.mailbox) else {
            return not_found(&ctx, &call);
        };
        let Some(t) = find(mb, &id) else {
            return not_found(&ctx, &call);
        };
        let sel = match parse_select(&q) {
            Ok(s) => s,
            Err(m) => return bad_select(&ctx, &call, &m),
        };
        let mut body = render(&t, &view_for(mb, &call, &q));
        // A master's deleted occurrences, only when selected: `OID.{masterId}.{local date}`.
        if let (Some(sel), Target::Stored(e)) = (&sel, &t)
            && sel.contains(&"cancelledOccurrences")
            && e.kind == Kind::Master
            && let Some(o) = body.as_object_mut()
        {
            let zone = tz::resolve_or_utc(
                e.recurrence
                    .as_ref()
                    .map_or(&*e.start_tz, |r| &*r.time_zone),
            );
            let mut dates: Vec<DateTime<Utc>> = e.deleted_occurrences.clone();
            dates.sort();
            let oids: Vec<String> = dates
                .iter()
                .map(|d| {
                    let day = if e.all_day {
                        d.date_naive()
                    } else {
                        tz::utc_to_local(zone, *d).date()
                    };
                    format!("OID.{}.{}", e.id, day.format("%Y-%m-%d"))
                })
                .collect();
            o.insert("cancelledOccurrences".into(), json!(oids));
        }
        let mut body = apply_select(body, &sel);
        if let Some(o) = body.as_object_mut() {
            o.insert(
                "@odata.context".into(),
                format!(
                    "{}/v1.0/$metadata#users('{}')/events/$entity",
                    ctx.base_url(),
                    mb.address
                )
                .into(),
            );
        }
        Out::read(ok_json(StatusCode::OK, body, &call, applied(&call)))
    })();
    finish(&ctx, call, out)
}

/// `GET …/events/{masterId}/instances?startDateTime=&endDateTime=`.
pub async fn instances(
    State(ctx): State<Arc<Ctx>>,
    Path(p): Params,
    Query(q): Q,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let call = match begin(
        &ctx,
        &headers,
        p.get("uid").map(String::as_str),
        "GET",
        &uri,
    )
    .await
    {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = p.get("eid").cloned().unwrap_or_default();
    let out = (|| {
        if malformed(&id) {
            return err(
                &ctx,
                &call,
                StatusCode::BAD_REQUEST,
                "ErrorInvalidIdMalformed",
                "Id is malformed.",
            );
        }
        let (ws, we) = match super::delta::window(&q) {
            Ok(w) => w,
            Err(m) => {
                return err(
                    &ctx,
                    &call,
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidParameter",
                    &m,
                );
            }
        };
        let st = ctx.graph.read().unwrap_or_else(|e| e.into_inner());
        let Some(mb) = st.mailboxes.get(&call.mailbox) else {
            return not_found(&ctx, &call);
        };
        let Some(master) = mb.events.get(&id) else {
            return not_found(&ctx, &call);
        };
        let sel = match parse_select(&q) {
            Ok(s) => s,
            Err(m) => return bad_select(&ctx, &call, &m),
        };
        let view = view_for(mb, &call, &q);
        let all: Vec<Value> = if master.kind == Kind::Master {
            window_targets(mb, ws, we, Some(&id))
                .iter()
                .map(|(_, t)| apply_select(render(t, &view), &sel))
                .collect()
        } else {
            Vec::new()
        };
        let body = paged(&ctx, &call, &q, all, st.knobs.default_page_size);
        Out::read(ok_json(
            StatusCode::OK,
            body,
            &call,
            applied_paged(&call, &q),
        ))
    })();
    finish(&ctx, call, out)
}

fn fingerprint(body: &Value) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.to_string().hash(&mut h);
    h.finish()
}

/// New ids for an event: `(id, iCalUId, changeKey)`.
pub fn new_ids(ctx: &Ctx) -> (String, String, String) {
    (
        format!("AAMkAG{}", ctx.random_id(40)),
        format!(
            "040000008200E00074C5B7101A82E008{}",
            ctx.random_id(24).to_ascii_uppercase()
        ),
        ctx.random_id(22),
    )
}

/// Graph's own checks on a POST/PATCH body, which the lenient scenario parser (relative times,
/// `duration_minutes`, attendee and body shorthands) does not make: `start`/`end` must be
/// `{dateTime, timeZone}` with a known zone (400 `TimeZoneNotSupportedException` otherwise), complex
/// properties must be objects of their type's properties (400 `RequestBodyRead`), and a new event
/// needs `start` and `end`. Returns `(code, message)` of the 400.
pub(crate) fn check_api_body(v: &Value, creating: bool) -> Result<(), (&'static str, String)> {
    fn unknown(ty: &str, k: &str) -> (&'static str, String) {
        (
            "RequestBodyRead",
            format!(
                "The property '{k}' does not exist on type 'microsoft.graph.{ty}'. Make sure to only use property names that are defined by the type or mark the type as open type."
            ),
        )
    }
    fn object<'a>(
        v: &'a Value,
        ty: &str,
        allowed: &[&str],
    ) -> Result<&'a serde_json::Map<String, Value>, (&'static str, String)> {
        let o = v.as_object().ok_or_else(|| {
            (
                "RequestBodyRead",
                format!(
                    "Cannot convert a primitive value to the expected type 'microsoft.graph.{ty}'. See the inner exception for more details."
                ),
            )
        })?;
        match o
            .keys()
            .find(|k| !k.starts_with("@odata.") && !allowed.contains(&k.as_str()))
        {
            Some(k) => Err(unknown(ty, k)),
            None => Ok(o),
        }
    }
    let o = v.as_object().ok_or((
        "BadRequest",
        "Empty Payload. JSON content expected.".to_string(),
    ))?;
    for k in ["start", "end"] {
        let Some(d) = o.get(k) else {
            if creating {
                return Err((
                    "ErrorInvalidRequest",
                    format!("The {k} property is required."),
                ));
            }
            continue;
        };
        let d = object(d, "dateTimeTimeZone", &["dateTime", "timeZone"])?;
        let zone = d.get("timeZone").and_then(Value::as_str).unwrap_or("");
        if tz::resolve(zone).is_none() {
            return Err((
                "TimeZoneNotSupportedException",
                format!(
                    "A valid TimeZone value must be specified. The following TimeZone value is not supported: '{zone}'."
                ),
            ));
        }
        if !d.get("dateTime").is_some_and(Value::is_string) {
            return Err((
                "ErrorInvalidRequest",
                format!("{k}.dateTime: a date and time is required."),
            ));
        }
    }
    if let Some(b) = o.get("body") {
        object(b, "itemBody", &["contentType", "content"])?;
    }
    if let Some(l) = o.get("location") {
        object(
            l,
            "location",
            &[
                "displayName",
                "locationType",
                "uniqueId",
                "uniqueIdType",
                "locationUri",
                "locationEmailAddress",
                "address",
                "coordinates",
            ],
        )?;
    }
    if let Some(list) = o.get("attendees").and_then(Value::as_array) {
        for a in list {
            let a = object(
                a,
                "attendee",
                &["type", "status", "emailAddress", "proposedNewTime"],
            )?;
            match a.get("emailAddress") {
                Some(e) => {
                    object(e, "emailAddress", &["name", "address"])?;
                }
                None => {
                    return Err((
                        "ErrorInvalidRecipients",
                        "At least one recipient isn't valid: an attendee has no emailAddress."
                            .into(),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Map a model error to Graph's code: an end before its start fails property validation.
fn model_error_code(msg: &str) -> &'static str {
    if msg.starts_with("end: must not be before start") {
        "ErrorPropertyValidationFailure"
    } else {
        "ErrorInvalidRequest"
    }
}

#[allow(clippy::result_large_err)]
fn parse_body(ctx: &Ctx, call: &Call, body: &Bytes) -> Result<Value, Out> {
    serde_json::from_slice::<Value>(body).map_err(|e| {
        err(
            ctx,
            call,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Unable to read JSON request payload: {e}"),
        )
    })
}

/// `POST …/events` (201; `transactionId` makes it idempotent).
pub async fn create(
    State(ctx): State<Arc<Ctx>>,
    Path(p): Params,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let call = match begin(
        &ctx,
        &headers,
        p.get("uid").map(String::as_str),
        "POST",
        &uri,
    )
    .await
    {
        Ok(c) => c,
        Err(r) => return r,
    };
    let out = (|| {
        let v = match parse_body(&ctx, &call, &body) {
            Ok(v) => v,
            Err(o) => return o,
        };
        if let Err((code, m)) = check_api_body(&v, true) {
            return err(&ctx, &call, StatusCode::BAD_REQUEST, code, &m);
        }
        let now = ctx.now();
        let mut st = write(&ctx.graph);
        let retry = st.knobs.transaction_retry.clone();
        let Some(mb) = st.mailboxes.get_mut(&call.mailbox) else {
            return not_found(&ctx, &call);
        };
        let fp = fingerprint(&v);
        let txid = v
            .get("transactionId")
            .and_then(Value::as_str)
            .map(String::from);
        if let Some(tx) = &txid
            && let Some((eid, efp)) = mb.transactions.get(tx)
        {
            {
                let existing = mb.events.get(eid);
                if *efp == fp && retry == "return" && existing.is_some() {
                    let view = view_for(mb, &call, &HashMap::new());
                    let body = existing
                        .map(|e| e.to_json(&view, None))
                        .unwrap_or(Value::Null);
                    return Out::read(ok_json(StatusCode::CREATED, body, &call, applied(&call)));
                }
                return err(
                    &ctx,
                    &call,
                    StatusCode::BAD_REQUEST,
                    "ErrorDuplicateTransactionId",
                    "Your request can't be completed. The TransactionId specified in the request has already been used to create a different event.",
                );
            }
        }
        let (id, uid, ck) = new_ids(&ctx);
        let mut ev = match event_from_json(&v, mb, now, id, uid, ck.clone()) {
            Ok(e) => e,
            Err(m) => {
                return err(
                    &ctx,
                    &call,
                    StatusCode::BAD_REQUEST,
                    model_error_code(&m),
                    &m,
                );
            }
        };
        // Read-only on create: the owner organizes; attendees have not answered; not cancelled.
        ev.organizer = mb.email();
        ev.cancelled = false;
        for a in &mut ev.attendees {
            a.response = "none";
            a.time = None;
        }
        mb.touch(&mut ev, ck, now);
        if let Some(tx) = txid {
            mb.transactions.insert(tx, (ev.id.clone(), fp));
        }
        let notifying = !ev.attendees.is_empty();
        let view = view_for(mb, &call, &HashMap::new());
        let json = ev.to_json(&view, None);
        mb.events.insert(ev.id.clone(), ev);
        Out {
            resp: ok_json(StatusCode::CREATED, json, &call, applied(&call)),
            write: true,
            notifying,
        }
    })();
    finish(&ctx, call, out)
}

pub(crate) fn exception_from(master: &Event, os: DateTime<Utc>) -> Event {
    let mut ex = master.clone();
    ex.id = super::model::occurrence_id(&master.id, os);
    ex.kind = Kind::Exception {
        master: master.id.clone(),
        original_start: os,
    };
    ex.start = os;
    ex.end = os + (master.end - master.start);
    ex.recurrence = None;
    ex.deleted_occurrences = Vec::new();
    ex.transaction_id = None;
    ex
}

/// `PATCH …/events/{id}` (200 with the full event; `If-Match` → 412 on mismatch).
pub async fn patch(
    State(ctx): State<Arc<Ctx>>,
    Path(p): Params,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let call = match begin(
        &ctx,
        &headers,
        p.get("uid").map(String::as_str),
        "PATCH",
        &uri,
    )
    .await
    {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = p.get("eid").cloned().unwrap_or_default();
    let out = (|| {
        if malformed(&id) {
            return err(
                &ctx,
                &call,
                StatusCode::BAD_REQUEST,
                "ErrorInvalidIdMalformed",
                "Id is malformed.",
            );
        }
        let v = match parse_body(&ctx, &call, &body) {
            Ok(v) => v,
            Err(o) => return o,
        };
        if let Err((code, m)) = check_api_body(&v, false) {
            return err(&ctx, &call, StatusCode::BAD_REQUEST, code, &m);
        }
        let now = ctx.now();
        let mut st = write(&ctx.graph);
        let knobs = st.knobs.clone();
        let Some(mb) = st.mailboxes.get_mut(&call.mailbox) else {
            return not_found(&ctx, &call);
        };
        let (base, etag) = match find(mb, &id) {
            None => return not_found(&ctx, &call),
            Some(Target::Stored(e)) => (e.clone(), e.etag()),
            Some(Target::Occurrence(m, os)) => (exception_from(m, os), m.etag()),
        };
        let conflict = match call.if_match.as_deref() {
            Some("*") | None => false,
            Some(tag) => {
                tag.trim() != etag
                    && tag.trim().trim_start_matches("W/") != etag.trim_start_matches("W/")
            }
        };
        if conflict
            || (knobs.spurious_412_fraction > 0.0 && ctx.next_f64() < knobs.spurious_412_fraction)
        {
            return err(
                &ctx,
                &call,
                StatusCode::PRECONDITION_FAILED,
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
            );
        }
        let mut ev = base;
        let before = ev.attendees.clone();
        let fx = match apply_patch(&mut ev, &v, now) {
            Ok(fx) => fx,
            Err(m) => {
                return err(
                    &ctx,
                    &call,
                    StatusCode::BAD_REQUEST,
                    model_error_code(&m),
                    &m,
                );
            }
        };
        // Responses belong to the attendees: kept for those already invited, `none` for new ones.
        for a in &mut ev.attendees {
            match before
                .iter()
                .find(|b| b.email.address.eq_ignore_ascii_case(&a.email.address))
            {
                Some(b) => {
                    a.response = b.response;
                    a.time = b.time;
                }
                None => {
                    a.response = "none";
                    a.time = None;
                }
            }
        }
        mb.touch(&mut ev, ctx.random_id(22), now);
        let is_org = ev.organizer.address.eq_ignore_ascii_case(&mb.address);
        let others = ev
            .attendees
            .iter()
            .any(|a| !a.email.address.eq_ignore_ascii_case(&mb.address));
        let notifying = is_org && others && (fx.notifying || knobs.ext_only_patch_notifies);
        let view = view_for(mb, &call, &HashMap::new());
        let json = ev.to_json(&view, None);
        mb.events.insert(ev.id.clone(), ev);
        Out {
            resp: ok_json(StatusCode::OK, json, &call, applied(&call)),
            write: true,
            notifying,
        }
    })();
    finish(&ctx, call, out)
}

/// Remove event or occurrence `id` from `mb`; returns whether the owner organizes it with attendees.
/// With `silent`, deleting a (not yet changed) occurrence leaves no trace delta could report.
pub(crate) fn remove(
    ctx: &Ctx,
    mb: &mut Mailbox,
    id: &str,
    now: DateTime<Utc>,
    silent: bool,
) -> Option<(bool, String)> {
    let target = match find(mb, id)? {
        Target::Stored(e) => (
            e.id.clone(),
            e.kind.clone(),
            e.ical_uid.clone(),
            e.organizer.address.clone(),
            !e.attendees.is_empty(),
        ),
        Target::Occurrence(m, os) => (
            super::model::occurrence_id(&m.id, os),
            Kind::Exception {
                master: m.id.clone(),
                original_start: os,
            },
            m.ical_uid.clone(),
            m.organizer.address.clone(),
            !m.attendees.is_empty(),
        ),
    };
    let (eid, kind, uid, org, has_att) = target;
    let was_stored = mb.events.remove(&eid).is_some();
    match kind {
        Kind::Exception {
            master,
            original_start,
        } => {
            if let Some(mut m) = mb.events.remove(&master) {
                m.deleted_occurrences.push(original_start);
                if silent && !was_stored {
                    // The real service sometimes never reports this (microsoft-graph-docs#4501).
                    mb.silent.insert(eid);
                    mb.events.insert(master, m);
                    return Some((org.eq_ignore_ascii_case(&mb.address) && has_att, uid));
                }
                mb.touch(&mut m, ctx.random_id(22), now);
                mb.events.insert(master, m);
            }
        }
        Kind::Master => {
            let ex: Vec<String> = mb
                .exceptions_of(&eid)
                .values()
                .map(|e| e.id.clone())
                .collect();
            for x in ex {
                mb.events.remove(&x);
                mb.tombstone(x);
            }
        }
        Kind::Single => {}
    }
    mb.tombstone(eid);
    Some((org.eq_ignore_ascii_case(&mb.address) && has_att, uid))
}

/// `DELETE …/events/{id}` (204).
pub async fn delete(
    State(ctx): State<Arc<Ctx>>,
    Path(p): Params,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let call = match begin(
        &ctx,
        &headers,
        p.get("uid").map(String::as_str),
        "DELETE",
        &uri,
    )
    .await
    {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = p.get("eid").cloned().unwrap_or_default();
    let out = (|| {
        if malformed(&id) {
            return err(
                &ctx,
                &call,
                StatusCode::BAD_REQUEST,
                "ErrorInvalidIdMalformed",
                "Id is malformed.",
            );
        }
        let now = ctx.now();
        let mut st = write(&ctx.graph);
        let f = st.knobs.silent_occurrence_delete_fraction;
        let silent = f > 0.0 && ctx.next_f64() < f;
        let Some(mb) = st.mailboxes.get_mut(&call.mailbox) else {
            return not_found(&ctx, &call);
        };
        match remove(&ctx, mb, &id, now, silent) {
            None => not_found(&ctx, &call),
            Some((notifying, _)) => Out {
                resp: StatusCode::NO_CONTENT.into_response(),
                write: true,
                notifying,
            },
        }
    })();
    finish(&ctx, call, out)
}

/// `POST …/events/{id}/cancel` (202, organizer only; attendees' copies become `isCancelled`).
pub async fn cancel(
    State(ctx): State<Arc<Ctx>>,
    Path(p): Params,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let call = match begin(
        &ctx,
        &headers,
        p.get("uid").map(String::as_str),
        "POST",
        &uri,
    )
    .await
    {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = p.get("eid").cloned().unwrap_or_default();
    let out = (|| {
        if malformed(&id) {
            return err(
                &ctx,
                &call,
                StatusCode::BAD_REQUEST,
                "ErrorInvalidIdMalformed",
                "Id is malformed.",
            );
        }
        let now = ctx.now();
        let mut st = write(&ctx.graph);
        let Some(mb) = st.mailboxes.get_mut(&call.mailbox) else {
            return not_found(&ctx, &call);
        };
        let organizer = match find(mb, &id) {
            None => return not_found(&ctx, &call),
            Some(Target::Stored(e)) | Some(Target::Occurrence(e, _)) => {
                e.organizer.address.eq_ignore_ascii_case(&mb.address)
            }
        };
        if !organizer {
            return err(
                &ctx,
                &call,
                StatusCode::BAD_REQUEST,
                "ErrorInvalidRequest",
                "Your request can't be completed. You need to be an organizer to cancel a meeting.",
            );
        }
        let whole = mb.events.contains_key(&id);
        let Some((_, uid)) = remove(&ctx, mb, &id, now, false) else {
            return not_found(&ctx, &call);
        };
        if whole {
            let me = call.mailbox.clone();
            for (key, other) in st.mailboxes.iter_mut() {
                if *key == me {
                    continue;
                }
                let ids: Vec<String> = other
                    .events
                    .values()
                    .filter(|e| e.ical_uid == uid)
                    .map(|e| e.id.clone())
                    .collect();
                for eid in ids {
                    if let Some(mut e) = other.events.remove(&eid) {
                        e.cancelled = true;
                        e.subject = format!("Canceled: {}", e.subject).into();
                        other.touch(&mut e, ctx.random_id(22), now);
                        other.events.insert(eid, e);
                    }
                }
            }
        }
        Out {
            resp: StatusCode::ACCEPTED.into_response(),
            write: true,
            notifying: true,
        }
    })();
    finish(&ctx, call, out)
}

/// `POST …/calendar/getSchedule`.
pub async fn get_schedule(
    State(ctx): State<Arc<Ctx>>,
    Path(p): Params,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let call = match begin(
        &ctx,
        &headers,
        p.get("uid").map(String::as_str),
        "POST",
        &uri,
    )
    .await
    {
        Ok(c) => c,
        Err(r) => return r,
    };
    let out = (|| {
        let v = match parse_body(&ctx, &call, &body) {
            Ok(v) => v,
            Err(o) => return o,
        };
        let now = ctx.now();
        let field = |k: &str| {
            v.as_object().and_then(|o| {
                o.iter()
                    .find(|(ok, _)| ok.eq_ignore_ascii_case(k))
                    .map(|(_, x)| x)
            })
        };
        let schedules: Vec<String> = field("schedules")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let (Some(sv), Some(ev)) = (field("startTime"), field("endTime")) else {
            return err(
                &ctx,
                &call,
                StatusCode::BAD_REQUEST,
                "ErrorInvalidParameter",
                "StartTime and EndTime are required.",
            );
        };
        let (ws, we) = match (
            parse_dtz(sv, now, "startTime"),
            parse_dtz(ev, now, "endTime"),
        ) {
            (Ok(a), Ok(b)) => (a.0, b.0),
            (Err(m), _) | (_, Err(m)) => {
                return err(
                    &ctx,
                    &call,
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidParameter",
                    &m,
                );
            }
        };
        let interval = field("availabilityViewInterval")
            .and_then(Value::as_i64)
            .unwrap_or(30);
        if !(5..=1440).contains(&interval) || we <= ws {
            return err(
                &ctx,
                &call,
                StatusCode::BAD_REQUEST,
                "ErrorInvalidParameter",
                "availabilityViewInterval must be 5-1440 and EndTime after StartTime.",
            );
        }
        // Observed on the real service: at most 62 days (63 is ErrorTimeIntervalTooBig).
        if we - ws > Duration::days(62) {
            return err(
                &ctx,
                &call,
                StatusCode::BAD_REQUEST,
                "ErrorTimeIntervalTooBig",
                "The requested time interval is too big; it must not exceed 62 days.",
            );
        }
        if schedules.is_empty() || schedules.len() > 20 {
            return err(
                &ctx,
                &call,
                StatusCode::BAD_REQUEST,
                "ErrorInvalidParameter",
                "Schedules must name between 1 and 20 SMTP addresses.",
            );
        }
        let st = ctx.graph.read().unwrap_or_else(|e| e.into_inner());
        let view = View {
            tz_name: call.prefer.tz.clone(),
            ..View::default()
        };
        let mut value = Vec::new();
        for addr in schedules {
            let Some(mb) = st.resolve_user(&addr).and_then(|k| st.mailboxes.get(&k)) else {
                // Observed: an unknown user (or one without a mailbox) is error 5016, items null.
                value.push(json!({"scheduleId": addr, "availabilityView": "", "scheduleItems": null,
                    "error": {"message": format!("The mailbox {addr} was not found or has no calendar."), "responseCode": "5016"}}));
                continue;
            };
            // Observed: someone else's calendar shows only times and status (a delegated caller
            // without sharing); the caller's own calendar, or an app-only token, sees details.
            let details = call.token.app_only || mb.address.eq_ignore_ascii_case(&call.token.user);
            let mut items = Vec::new();
            let mut busy: Vec<(DateTime<Utc>, DateTime<Utc>, &str)> = Vec::new();
            for (_, t) in window_targets(mb, ws, we, None) {
                let (e, s, en) = match t {
                    Target::Stored(e) => (e, e.start, e.end),
                    Target::Occurrence(m, os) => (m, os, os + (m.end - m.start)),
                };
                if e.cancelled {
                    continue;
                }
                busy.push((s, en, e.show_as));
                let mut item = json!({"status": e.show_as,
                    "start": view.dtz(s, e.all_day), "end": view.dtz(en, e.all_day)});
                if details && let Some(o) = item.as_object_mut() {
                    for (k, v) in [
                        ("isPrivate", json!(e.sensitivity == "private")),
                        ("subject", json!(&*e.subject)),
                        ("location", json!(e.location.as_deref().unwrap_or(""))),
                        ("isMeeting", json!(!e.attendees.is_empty())),
                        ("isRecurring", json!(e.kind != Kind::Single)),
                        (
                            "isException",
                            json!(matches!(e.kind, Kind::Exception { .. })),
                        ),
                        ("isReminderSet", json!(true)),
                    ] {
                        o.insert(k.into(), v);
                    }
                }
                items.push(item);
            }
            let mut av = String::new();
            let mut t = ws;
            while t < we {
                let slot_end = t + Duration::minutes(interval);
                let rank = |s: &str| match s {
                    "tentative" => 1,
                    "busy" => 2,
                    "oof" => 3,
                    "workingElsewhere" => 4,
                    _ => 0,
                };
                let c = busy
                    .iter()
                    .filter(|(s, e, _)| *s < slot_end && *e > t)
                    .map(|(_, _, st)| rank(st))
                    .max()
                    .unwrap_or(0);
                av.push(char::from(b'0' + c as u8));
                t = slot_end;
            }
            let zone = view.tz_name.clone().unwrap_or_else(|| "UTC".into());
            value.push(json!({"scheduleId": addr, "availabilityView": av, "scheduleItems": items,
                "workingHours": {"daysOfWeek": ["monday","tuesday","wednesday","thursday","friday"], "startTime": "08:00:00.0000000", "endTime": "17:00:00.0000000",
                    "timeZone": {"name": &*mb.time_zone}}, "timeZoneRequested": zone}));
        }
        let body = json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.scheduleInformation)", "value": value});
        Out::read(ok_json(StatusCode::OK, body, &call, applied(&call)))
    })();
    finish(&ctx, call, out)
}

/// Admin edit helper: `Json` error for the admin API.
pub fn admin_error(msg: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": msg}))).into_response()
}
