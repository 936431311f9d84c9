//! Loading the `graph` part of a scenario, the deterministic organisation generator for
//! benchmarks, `GET /_admin/state`'s Graph part, and the Graph admin hooks under `/_admin/graph/…`
//! (edit an event as a user would, register apps, approve/decline/expire device codes, knobs).
//! The format is documented in `emulator/GRAPH.md`.
//!
//! Invariants: loading a scenario replaces all mailboxes and forgets every delta round; the
//! generator depends only on the seed and its parameters; admin edits go through the same
//! `Mailbox::touch`/`tombstone` bookkeeping as API writes (so delta sees them) but are not logged.
use super::model::{
    Attendee, Email, Event, Kind, Mailbox, Rng, View, apply_patch, event_from_json,
};
use super::recur::{PatternType, RangeType, Recurrence};
use super::{GraphState, Knobs, events, identity, tz, uuid};
use crate::common::{Ctx, write};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc, Weekday};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

fn merge_knobs(base: &Knobs, patch: &Value) -> Result<Knobs, String> {
    let mut v = serde_json::to_value(base).map_err(|e| e.to_string())?;
    let (Some(obj), Some(p)) = (v.as_object_mut(), patch.as_object()) else {
        return Err("knobs: expected an object".into());
    };
    for (k, x) in p {
        if !obj.contains_key(k) {
            return Err(format!("knobs.{k}: unknown knob"));
        }
        obj.insert(k.clone(), x.clone());
    }
    serde_json::from_value(v).map_err(|e| format!("knobs: {e}"))
}

/// Load a scenario's `graph` part into `st` (replacing mailboxes and delta state).
pub fn load(st: &mut GraphState, ctx: &Ctx, now: DateTime<Utc>, v: &Value) -> Result<(), String> {
    let knobs = match v.get("knobs") {
        Some(k) => merge_knobs(&Knobs::default(), k)?,
        None => Knobs::default(),
    };
    let mut mailboxes: HashMap<String, Mailbox> = HashMap::new();
    if let Some(list) = v.get("mailboxes") {
        let list = list.as_array().ok_or("mailboxes: expected an array")?;
        for (i, m) in list.iter().enumerate() {
            let what = format!("mailboxes[{i}]");
            let address = m
                .get("address")
                .and_then(Value::as_str)
                .filter(|a| a.contains('@'))
                .ok_or_else(|| format!("{what}.address: required (an email address)"))?;
            let name = m.get("name").and_then(Value::as_str).unwrap_or(address);
            let id = m
                .get("id")
                .and_then(Value::as_str)
                .map(String::from)
                .unwrap_or_else(|| uuid(ctx));
            let zone = m.get("timeZone").and_then(Value::as_str).unwrap_or("UTC");
            let mut mb = Mailbox::new(id, address, name, zone);
            if let Some(evs) = m.get("events") {
                let evs = evs
                    .as_array()
                    .ok_or_else(|| format!("{what}.events: expected an array"))?;
                for (j, e) in evs.iter().enumerate() {
                    add_scenario_event(ctx, &mut mb, now, e)
                        .map_err(|err| format!("{what}.events[{j}]: {err}"))?;
                }
            }
            mailboxes.insert(address.to_ascii_lowercase(), mb);
        }
    }
    if let Some(g) = v.get("generate") {
        let n = g
            .get("mailboxes")
            .and_then(Value::as_u64)
            .ok_or("generate.mailboxes: expected a count")?;
        let m = g
            .get("events_per_mailbox")
            .and_then(Value::as_u64)
            .ok_or("generate.events_per_mailbox: expected a count")?;
        let domain = g
            .get("domain")
            .and_then(Value::as_str)
            .unwrap_or("contoso.com");
        if n > 100_000 || m > 100_000 {
            return Err("generate: at most 100000 mailboxes and 100000 events per mailbox".into());
        }
        for mb in generate(ctx.seed, now, n as usize, m as usize, domain) {
            mailboxes.insert(mb.address.to_ascii_lowercase(), mb);
        }
    }
    if let Some(apps) = v.get("apps") {
        for (i, a) in apps
            .as_array()
            .ok_or("apps: expected an array")?
            .iter()
            .enumerate()
        {
            let (id, app) = identity::App::from_json(a).map_err(|e| format!("apps[{i}].{e}"))?;
            st.identity.apps.insert(id, app);
        }
    }
    st.ids = mailboxes
        .iter()
        .map(|(k, m)| (m.id.to_ascii_lowercase(), k.clone()))
        .collect();
    st.mailboxes = mailboxes;
    st.knobs = knobs;
    st.timings.lock().unwrap_or_else(|e| e.into_inner()).clear();
    st.expire_sync_state();
    Ok(())
}

/// The original start of a master's `n`-th occurrence (0-based).
fn nth_occurrence(master: &Event, n: usize) -> Option<DateTime<Utc>> {
    let rec = master.recurrence.as_ref()?;
    let zone = tz::resolve_or_utc(&rec.time_zone);
    let time = if master.all_day {
        NaiveTime::MIN
    } else {
        tz::utc_to_local(zone, master.start).time()
    };
    let far = rec.start_date + Duration::days(366 * 30);
    let d = *rec.dates_until(far, n + 1).get(n)?;
    Some(if master.all_day {
        d.and_time(time).and_utc()
    } else {
        tz::local_to_utc(zone, d.and_time(time))
    })
}

fn add_scenario_event(
    ctx: &Ctx,
    mb: &mut Mailbox,
    now: DateTime<Utc>,
    e: &Value,
) -> Result<String, String> {
    let (gid, guid, ck) = events::new_ids(ctx);
    let id = e
        .get("id")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or(gid);
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-=+/".contains(c))
    {
        return Err(format!(
            "id: {id:?} must be non-empty [A-Za-z0-9-=+/] (no '_', which marks occurrence ids)"
        ));
    }
    if mb.events.contains_key(&id) {
        return Err(format!("id: duplicate {id:?}"));
    }
    let uid = e
        .get("iCalUId")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or(guid);
    let mut ev = event_from_json(e, mb, now, id.clone(), uid, ck.clone())?;
    mb.touch(&mut ev, ck, now);
    if let Some(tx) = &ev.transaction_id {
        mb.transactions.insert(tx.clone(), (id.clone(), 0));
    }
    let exceptions = e
        .get("exceptions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (k, x) in exceptions.iter().enumerate() {
        let n = x
            .get("occurrence")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("exceptions[{k}].occurrence: expected an index"))?;
        let os = nth_occurrence(&ev, n as usize).ok_or_else(|| {
            format!("exceptions[{k}].occurrence: the series has no occurrence {n}")
        })?;
        if x.get("deleted").and_then(Value::as_bool).unwrap_or(false) {
            ev.deleted_occurrences.push(os);
            continue;
        }
        let mut ex = events::exception_from(&ev, os);
        let mut patch = x.clone();
        if let Some(o) = patch.as_object_mut() {
            o.remove("occurrence");
            if let Some(shift) = o.remove("shiftMinutes").and_then(|s| s.as_i64()) {
                ex.start += Duration::minutes(shift);
                ex.end += Duration::minutes(shift);
            }
            if let Some(c) = o.remove("isCancelled").and_then(|c| c.as_bool()) {
                ex.cancelled = c;
            }
        }
        apply_patch(&mut ex, &patch, now).map_err(|err| format!("exceptions[{k}]: {err}"))?;
        let ck = ctx.random_id(22);
        mb.touch(&mut ex, ck, now);
        mb.events.insert(ex.id.clone(), ex);
    }
    mb.events.insert(id.clone(), ev);
    Ok(id)
}

const GEN_ZONES: &[&str] = &[
    "Pacific Standard Time",
    "Eastern Standard Time",
    "Central Standard Time",
    "GMT Standard Time",
    "W. Europe Standard Time",
    "Romance Standard Time",
    "India Standard Time",
    "Tokyo Standard Time",
    "AUS Eastern Standard Time",
    "UTC",
];

/// A deterministic organisation: `n` mailboxes (`user00000@domain`…) with `m` events each,
/// spread over −60…+120 days around `now`; ~8% are weekly series (some with an exception or a
/// deleted occurrence), the rest single meetings with 1–3 colleagues (sometimes a room).
pub fn generate(seed: u64, now: DateTime<Utc>, n: usize, m: usize, domain: &str) -> Vec<Mailbox> {
    let mut rng = Rng(seed ^ 0x6A09_E667_F3BC_C908);
    let width = n.saturating_sub(1).to_string().len().max(5);
    let people: Vec<Email> = (0..n)
        .map(|i| {
            let addr = format!("user{i:0width$}@{domain}");
            Email {
                name: format!("User {i}").into(),
                address: addr.into(),
            }
        })
        .collect();
    let rooms: Vec<Email> = (0..8)
        .map(|i| Email {
            name: format!("Room {i}").into(),
            address: format!("room{i}@{domain}").into(),
        })
        .collect();
    let subjects: Vec<Arc<str>> = [
        "1:1",
        "Weekly sync",
        "Design review",
        "Planning",
        "Retro",
        "Coffee chat",
        "Customer call",
        "Interview",
    ]
    .iter()
    .map(|s| Arc::from(*s))
    .collect();
    let bodies: Vec<Arc<str>> = [
        "<html><body><p>Agenda to follow.</p></body></html>",
        "<html><body><p>Let's catch up.</p><ul><li>Status</li><li>Blockers</li></ul></body></html>",
        "",
    ]
    .iter()
    .map(|s| Arc::from(*s))
    .collect();
    let zones: Vec<Arc<str>> = GEN_ZONES.iter().map(|z| Arc::from(*z)).collect();
    let responses = ["accepted", "tentativelyAccepted", "declined", "none"];
    let mut out = Vec::with_capacity(n);
    for (i, owner) in people.iter().enumerate() {
        let zone_name = zones
            .get(rng.below(zones.len() as u64) as usize)
            .cloned()
            .unwrap_or_else(|| "UTC".into());
        let zone = tz::resolve_or_utc(&zone_name);
        let mut id_rng = Rng(rng.next_u64());
        let mb_id = format!(
            "{:08x}-0000-4000-8000-{:012x}",
            i,
            id_rng.next_u64() & 0xffff_ffff_ffff
        );
        let mut mb = Mailbox::new(mb_id, &owner.address, &owner.name, &zone_name);
        mb.events.reserve(m);
        let today = tz::utc_to_local(zone, now).date();
        for _ in 0..m {
            let day = today + Duration::days(rng.below(181) as i64 - 60);
            let minutes = 8 * 60 + 30 * rng.below(19) as u32;
            let time =
                NaiveTime::from_hms_opt(minutes / 60, minutes % 60, 0).unwrap_or(NaiveTime::MIN);
            let start = tz::local_to_utc(zone, day.and_time(time));
            let dur = [30, 45, 60][rng.below(3) as usize];
            let mut attendees = Vec::new();
            let k = 1 + rng.below(3) as usize;
            for _ in 0..k {
                let j = rng.below(n as u64) as usize;
                if j != i
                    && let Some(p) = people.get(j)
                {
                    attendees.push(Attendee {
                        email: p.clone(),
                        kind: "required",
                        response: responses[rng.below(4) as usize],
                        time: None,
                    });
                }
            }
            if rng.f64() < 0.1
                && let Some(room) = rooms.get(rng.below(rooms.len() as u64) as usize)
            {
                attendees.push(Attendee {
                    email: room.clone(),
                    kind: "resource",
                    response: "accepted",
                    time: None,
                });
            }
            let organizer = if rng.f64() < 0.3 && !attendees.is_empty() {
                let org = attendees.remove(0).email;
                attendees.push(Attendee {
                    email: owner.clone(),
                    kind: "required",
                    response: responses[rng.below(4) as usize],
                    time: None,
                });
                org
            } else {
                owner.clone()
            };
            let is_series = rng.f64() < 0.08;
            let recurrence = is_series.then(|| {
                let wd = day.weekday();
                let (range, count, end_date) = match rng.below(3) {
                    0 => (RangeType::NoEnd, 0, None),
                    1 => (RangeType::Numbered, 5 + rng.below(20) as u32, None),
                    _ => (
                        RangeType::EndDate,
                        0,
                        Some(day + Duration::days(30 + rng.below(150) as i64)),
                    ),
                };
                Box::new(Recurrence {
                    pattern: PatternType::Weekly,
                    interval: 1 + rng.below(2) as u32,
                    month: 0,
                    day_of_month: 0,
                    days_of_week: vec![wd],
                    first_day_of_week: Weekday::Sun,
                    index: 0,
                    range,
                    start_date: day,
                    end_date,
                    count,
                    time_zone: zone_name.clone(),
                })
            });
            let id = format!("AAMkAG{}", id_rng.id(40));
            let mut ev = Event {
                ical_uid: format!("040000008200E00074C5B7101A82E008{}", id_rng.id(24)),
                change_key: String::new(),
                version: 0,
                created: now - Duration::days(90),
                modified: now - Duration::days(90),
                subject: subjects
                    .get(rng.below(subjects.len() as u64) as usize)
                    .cloned()
                    .unwrap_or_else(|| "".into()),
                body: bodies
                    .get(rng.below(bodies.len() as u64) as usize)
                    .cloned()
                    .unwrap_or_else(|| "".into()),
                body_html: true,
                start,
                end: start + Duration::minutes(dur),
                start_tz: zone_name.clone(),
                end_tz: zone_name.clone(),
                all_day: false,
                cancelled: false,
                organizer,
                attendees,
                show_as: "busy",
                sensitivity: "normal",
                importance: "normal",
                location: None,
                categories: Vec::new(),
                kind: if recurrence.is_some() {
                    Kind::Master
                } else {
                    Kind::Single
                },
                recurrence,
                transaction_id: None,
                ext: Vec::new(),
                deleted_occurrences: Vec::new(),
                id: id.clone(),
            };
            let ck = id_rng.id(16);
            let stamp = ev.modified;
            mb.touch(&mut ev, ck, stamp);
            mb.events.insert(id, ev);
        }
        out.push(mb);
    }
    out
}

/// The Graph part of `GET /_admin/state`.
pub fn state_json(st: &GraphState) -> Value {
    let total: usize = st.mailboxes.values().map(|m| m.events.len()).sum();
    let with_events = total <= 10_000;
    let mut keys: Vec<&String> = st.mailboxes.keys().collect();
    keys.sort();
    let mailboxes: Vec<Value> = keys
        .iter()
        .filter_map(|k| st.mailboxes.get(*k))
        .map(|mb| {
            let mut o = json!({"address": &*mb.address, "id": mb.id, "name": &*mb.name, "timeZone": &*mb.time_zone,
                "seq": mb.seq, "event_count": mb.events.len()});
            if with_events {
                let view = View { owner: mb.address.clone(), expand_ext: Some(Vec::new()), ..View::default() };
                let mut evs: Vec<&Event> = mb.events.values().collect();
                evs.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
                o["events"] = evs.iter().map(|e| e.to_json(&view, None)).collect::<Vec<_>>().into();
            }
            o
        })
        .collect();
    let mut apps: Vec<&String> = st.identity.apps.keys().collect();
    apps.sort();
    json!({
        "mailboxes": mailboxes,
        "event_count": total,
        "knobs": st.knobs,
        "apps": apps,
        "delta_rounds": st.rounds.lock().unwrap_or_else(|e| e.into_inner()).len(),
    })
}

fn admin_err(msg: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": msg.into()}))).into_response()
}

/// `POST /_admin/graph/edit`: `{"mailbox", "id", "patch": {...}}` (a PATCH as the user would make
/// in Outlook), `{"mailbox", "create": {...}}` (scenario event format) or `{"mailbox", "id", "delete": true}`.
async fn edit(State(ctx): State<Arc<Ctx>>, Json(v): Json<Value>) -> Response {
    let now = ctx.now();
    let mut st = write(&ctx.graph);
    let knobs = st.knobs.clone();
    let Some(key) = v
        .get("mailbox")
        .and_then(Value::as_str)
        .and_then(|m| st.resolve_user(m))
    else {
        return admin_err("mailbox: unknown or missing");
    };
    let Some(mb) = st.mailboxes.get_mut(&key) else {
        return admin_err("mailbox: unknown");
    };
    let view = View {
        owner: mb.address.clone(),
        expand_ext: Some(Vec::new()),
        ..View::default()
    };
    if let Some(c) = v.get("create") {
        return match add_scenario_event(&ctx, mb, now, c) {
            Ok(id) => Json(
                mb.events
                    .get(&id)
                    .map(|e| e.to_json(&view, None))
                    .unwrap_or(Value::Null),
            )
            .into_response(),
            Err(e) => admin_err(format!("create: {e}")),
        };
    }
    let Some(id) = v.get("id").and_then(Value::as_str) else {
        return admin_err("id: required");
    };
    if v.get("delete").and_then(Value::as_bool).unwrap_or(false) {
        let f = knobs.silent_occurrence_delete_fraction;
        let silent = f > 0.0 && ctx.next_f64() < f;
        return match events::remove(&ctx, mb, id, now, silent) {
            Some(_) => Json(json!({"ok": true})).into_response(),
            None => admin_err(format!("id: no event {id:?}")),
        };
    }
    let Some(patch) = v.get("patch") else {
        return admin_err("one of patch, create, delete is required");
    };
    let base = match events::find(mb, id) {
        None => return admin_err(format!("id: no event {id:?}")),
        Some(events::Target::Stored(e)) => e.clone(),
        Some(events::Target::Occurrence(m, os)) => events::exception_from(m, os),
    };
    let mut ev = base;
    let mut patch = patch.clone();
    if let Some(c) = patch
        .as_object_mut()
        .and_then(|o| o.remove("isCancelled"))
        .and_then(|c| c.as_bool())
    {
        ev.cancelled = c;
    }
    if let Err(e) = apply_patch(&mut ev, &patch, now) {
        return admin_err(format!("patch: {e}"));
    }
    mb.touch(&mut ev, ctx.random_id(22), now);
    let out = ev.to_json(&view, None);
    mb.events.insert(ev.id.clone(), ev);
    Json(out).into_response()
}

/// `POST /_admin/graph/app`: `{"client_id", "client_secret"?}`.
async fn app(State(ctx): State<Arc<Ctx>>, Json(v): Json<Value>) -> Response {
    let (id, app) = match identity::App::from_json(&v) {
        Ok(x) => x,
        Err(e) => return admin_err(e),
    };
    write(&ctx.graph).identity.apps.insert(id, app);
    Json(json!({"ok": true})).into_response()
}

/// `GET /_admin/graph/requests`: every API request with its mailbox, arrival and answer times
/// (microseconds since the emulator started) and `Retry-After`.
async fn requests(State(ctx): State<Arc<Ctx>>) -> Response {
    let st = ctx.graph.read().unwrap_or_else(|e| e.into_inner());
    let list = st.timings.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Json(json!(list)).into_response()
}

fn device_update(
    ctx: &Ctx,
    v: &Value,
    f: impl FnOnce(&mut identity::DeviceFlow, &Ctx),
) -> Response {
    let Some(code) = v.get("user_code").and_then(Value::as_str) else {
        return admin_err("user_code: required");
    };
    let mut st = write(&ctx.graph);
    match st
        .identity
        .devices
        .values_mut()
        .find(|d| d.user_code.eq_ignore_ascii_case(code))
    {
        Some(d) => {
            f(d, ctx);
            Json(json!({"ok": true})).into_response()
        }
        None => admin_err(format!("user_code: unknown {code:?}")),
    }
}

/// `POST /_admin/graph/device/approve`: `{"user_code", "user"}` completes the sign-in as `user`.
async fn device_approve(State(ctx): State<Arc<Ctx>>, Json(v): Json<Value>) -> Response {
    let Some(user) = v.get("user").and_then(Value::as_str).map(String::from) else {
        return admin_err("user: required");
    };
    device_update(&ctx, &v, |d, _| {
        d.status = identity::DeviceStatus::Approved(user)
    })
}

/// `POST /_admin/graph/device/decline`: `{"user_code"}`.
async fn device_decline(State(ctx): State<Arc<Ctx>>, Json(v): Json<Value>) -> Response {
    device_update(&ctx, &v, |d, _| d.status = identity::DeviceStatus::Declined)
}

/// `POST /_admin/graph/device/expire`: `{"user_code"}` makes the code expired now.
async fn device_expire(State(ctx): State<Arc<Ctx>>, Json(v): Json<Value>) -> Response {
    device_update(&ctx, &v, |d, c| {
        d.expires_at = c.now() - Duration::seconds(1)
    })
}

/// `POST /_admin/graph/knobs`: merge a partial knob object.
async fn knobs(State(ctx): State<Arc<Ctx>>, Json(v): Json<Value>) -> Response {
    let mut st = write(&ctx.graph);
    match merge_knobs(&st.knobs, &v) {
        Ok(k) => {
            st.knobs = k;
            Json(json!(st.knobs)).into_response()
        }
        Err(e) => admin_err(e),
    }
}

/// `POST /_admin/graph/refresh/revoke`: `{"refresh_token"}`.
async fn revoke(State(ctx): State<Arc<Ctx>>, Json(v): Json<Value>) -> Response {
    let Some(rt) = v.get("refresh_token").and_then(Value::as_str) else {
        return admin_err("refresh_token: required");
    };
    match write(&ctx.graph).identity.refresh.remove(rt) {
        Some(_) => Json(json!({"ok": true})).into_response(),
        None => admin_err("refresh_token: unknown"),
    }
}

/// The `/_admin/graph/…` routes.
pub fn admin_router() -> Router<Arc<Ctx>> {
    Router::new()
        .route("/_admin/graph/edit", post(edit))
        .route("/_admin/graph/app", post(app))
        .route("/_admin/graph/requests", axum::routing::get(requests))
        .route("/_admin/graph/device/approve", post(device_approve))
        .route("/_admin/graph/device/decline", post(device_decline))
        .route("/_admin/graph/device/expire", post(device_expire))
        .route("/_admin/graph/knobs", post(knobs))
        .route("/_admin/graph/refresh/revoke", post(revoke))
}
