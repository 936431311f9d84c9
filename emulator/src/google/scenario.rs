//! The `google` part of a scenario, the benchmark generator, and the Google admin routes
//! (`/_admin/google/edit`, `/_admin/google/notify`, `/_admin/google/quirks`).
//!
//! Scenario format (all keys optional):
//! ```json
//! {"reset": true,
//!  "quirks": {"short_pages": 0.3},
//!  "fault_script": [{"method": "PATCH", "nth": 1, "error": "conditionNotMet"}],
//!  "service_accounts": [{"client_email": "sa@p.iam.gserviceaccount.com", "public_key_pem": "-----BEGIN PUBLIC KEY-----…"}],
//!  "oauth_clients": [{"client_id": "desktop", "client_secret": "s"}],
//!  "calendars": [{"id": "alice@example.com", "summary": "Alice", "timeZone": "Europe/Berlin",
//!                 "acl": {"bob@example.com": "reader"},
//!                 "events": [{"id": "oneonone1", "summary": "Alice / Bob", "start": "+2d10:00", "end": "+2d10:30",
//!                             "attendees": [{"email": "alice@example.com"}, {"email": "bob@example.com"}],
//!                             "recurrence": ["RRULE:FREQ=WEEKLY"], "mirror": true,
//!                             "exceptions": [{"originalStart": "+9d10:00", "status": "cancelled"}]}]}],
//!  "generate": {"calendars": 1000, "events_per_calendar": 500, "domain": "example.com"},
//!  "events": [{"calendar": "user0000@example.com", "summary": "1:1", "start": "-18d10:00", "end": "-18d10:30",
//!              "attendees": ["user0000@example.com", "user0001@example.com"], "mirror": true}]}
//! ```
//! Top-level `events` (each with its `calendar`) are added after the calendars and the generator,
//! so they can go into generated calendars.
//! Times: `"+2d10:00"` = two days after the scenario's `now` (its date in the event's zone: the
//! event's `timeZone` key, else the calendar's), 10:00 wall-clock; `"-1d"` (no time) = an all-day
//! date; absolute RFC 3339 strings and full `EventDateTime` objects (whose `date`/`dateTime` may
//! themselves be relative) are accepted too. `mirror: true` copies the event to every attendee's
//! calendar that the scenario defines (same id and iCalUID; its private properties stay behind).
//! `reset` (default true) replaces all calendars and channels and invalidates every sync token.
use super::GoogleState;
use super::ops::WriteOpts;
use super::store::{self, Calendar};
use crate::common::{Ctx, write};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Parse `[+-]Nd[HH:MM[:SS]]`; returns (day offset, optional wall time).
fn parse_relative(s: &str) -> Option<(i64, Option<NaiveTime>)> {
    let sign = match s.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let rest = s.get(1..)?;
    let d = rest.find('d')?;
    let days: i64 = rest.get(..d)?.parse().ok()?;
    if days.abs() > 100_000 {
        return None;
    }
    let time = rest.get(d + 1..)?;
    let t = if time.is_empty() {
        None
    } else {
        Some(
            NaiveTime::parse_from_str(time, "%H:%M")
                .or_else(|_| NaiveTime::parse_from_str(time, "%H:%M:%S"))
                .ok()?,
        )
    };
    Some((sign * days, t))
}

/// Resolve one scenario time into an `EventDateTime`.
fn resolve_edt(v: &Value, tz: Tz, now: DateTime<Utc>, what: &str) -> Result<Value, String> {
    let local_today = now.with_timezone(&tz).date_naive();
    let from_str = |s: &str| -> Result<Value, String> {
        if let Some((days, time)) = parse_relative(s) {
            let date = local_today + Duration::days(days);
            return Ok(match time {
                Some(t) => {
                    let inst = store::localize(date.and_time(t), tz);
                    json!({"dateTime": inst.with_timezone(&tz).to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "timeZone": tz.name()})
                }
                None => json!({"date": date.format("%Y-%m-%d").to_string()}),
            });
        }
        if DateTime::parse_from_rfc3339(s).is_ok() {
            return Ok(json!({"dateTime": s, "timeZone": tz.name()}));
        }
        if NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() {
            return Ok(json!({"date": s}));
        }
        Err(format!(
            "{what}: {s:?} is neither relative (+2d10:00, -1d) nor RFC 3339 nor a date"
        ))
    };
    match v {
        Value::String(s) => from_str(s),
        Value::Object(o) => {
            let mut out = o.clone();
            for k in ["date", "dateTime"] {
                if let Some(Value::String(s)) = o.get(k)
                    && parse_relative(s).is_some()
                {
                    let r = from_str(s)?;
                    out.remove("date");
                    out.remove("dateTime");
                    if let Some(ro) = r.as_object() {
                        for (rk, rv) in ro {
                            if rk != "timeZone" || !out.contains_key("timeZone") {
                                out.insert(rk.clone(), rv.clone());
                            }
                        }
                    }
                }
            }
            Ok(Value::Object(out))
        }
        _ => Err(format!(
            "{what}: expected a string or an EventDateTime object"
        )),
    }
}

/// Load a scenario (see the module doc).
pub fn load(g: &mut GoogleState, ctx: &Ctx, now: DateTime<Utc>, v: &Value) -> Result<(), String> {
    let obj = v.as_object().ok_or("expected an object")?;
    if obj.get("reset").and_then(Value::as_bool).unwrap_or(true) {
        g.calendars.clear();
        g.channels.clear();
        g.sync_epoch += 1;
    }
    if let Some(q) = obj.get("quirks") {
        g.quirks = serde_json::from_value(q.clone()).map_err(|e| format!("quirks: {e}"))?;
    }
    if let Some(sc) = obj.get("fault_script") {
        g.script = serde_json::from_value(sc.clone()).map_err(|e| format!("fault_script: {e}"))?;
    }
    if let Some(list) = obj.get("service_accounts") {
        let sas: Vec<super::oauth::ServiceAccount> =
            serde_json::from_value(list.clone()).map_err(|e| format!("service_accounts: {e}"))?;
        for sa in sas {
            jsonwebtoken::DecodingKey::from_rsa_pem(sa.public_key_pem.as_bytes()).map_err(|e| {
                format!("service_accounts[{}].public_key_pem: {e}", sa.client_email)
            })?;
            g.auth.service_accounts.insert(sa.client_email.clone(), sa);
        }
    }
    if let Some(list) = obj.get("oauth_clients") {
        let cs: Vec<super::oauth::OAuthClient> =
            serde_json::from_value(list.clone()).map_err(|e| format!("oauth_clients: {e}"))?;
        for c in cs {
            g.auth.clients.insert(c.client_id.clone(), c);
        }
    }
    let cals = obj
        .get("calendars")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, c) in cals.iter().enumerate() {
        let id = c
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("calendars[{i}].id: missing"))?
            .to_ascii_lowercase();
        let tz = c.get("timeZone").and_then(Value::as_str).unwrap_or("UTC");
        let mut cal = Calendar::new(&id, c.get("summary").and_then(Value::as_str), tz, now)
            .map_err(|e| format!("calendars[{i}]: {e}"))?;
        cal.description = c
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(Value::Object(acl)) = c.get("acl") {
            for (k, v) in acl {
                cal.acl.insert(
                    k.to_ascii_lowercase(),
                    v.as_str().unwrap_or("reader").to_string(),
                );
            }
        }
        g.calendars.insert(id, cal);
    }
    for (i, c) in cals.iter().enumerate() {
        let id = c
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let events = c
            .get("events")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (j, ev) in events.iter().enumerate() {
            load_event(g, ctx, now, &id, ev)
                .map_err(|e| format!("calendars[{i}].events[{j}]: {e}"))?;
        }
    }
    if let Some(gen_spec) = obj.get("generate") {
        let spec: Generate =
            serde_json::from_value(gen_spec.clone()).map_err(|e| format!("generate: {e}"))?;
        if !(0..=3650).contains(&spec.spread_days) {
            return Err("generate.spread_days: must be within 0..=3650".into());
        }
        if spec.calendars > 100_000 || spec.events_per_calendar > 100_000 {
            return Err("generate: at most 100000 calendars and 100000 events per calendar".into());
        }
        generate(g, ctx.seed, now, &spec)?;
    }
    // Events for calendars that already exist (generated ones included), after the generator.
    if let Some(list) = obj.get("events") {
        let list = list.as_array().ok_or("events: expected an array")?;
        for (j, ev) in list.iter().enumerate() {
            let mut ev = ev.clone();
            let cal = ev
                .as_object_mut()
                .and_then(|m| m.remove("calendar"))
                .and_then(|c| c.as_str().map(str::to_ascii_lowercase))
                .ok_or_else(|| format!("events[{j}].calendar: missing"))?;
            if !g.calendars.contains_key(&cal) {
                return Err(format!("events[{j}]: calendar {cal} not defined"));
            }
            load_event(g, ctx, now, &cal, &ev).map_err(|e| format!("events[{j}]: {e}"))?;
        }
    }
    rebuild_all(g, now);
    Ok(())
}

/// Rebuild every calendar's index, spread over the available cores.
pub fn rebuild_all(g: &mut GoogleState, now: DateTime<Utc>) {
    let horizon = g.horizon(now);
    let mut cals: Vec<&mut Calendar> = g.calendars.values_mut().collect();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1);
    let chunk = cals.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for part in cals.chunks_mut(chunk) {
            s.spawn(move || {
                for c in part.iter_mut() {
                    c.rebuild(horizon);
                }
            });
        }
    });
}

fn load_event(
    g: &mut GoogleState,
    ctx: &Ctx,
    now: DateTime<Utc>,
    cal_id: &str,
    ev: &Value,
) -> Result<(), String> {
    let mut m = ev.as_object().cloned().ok_or("expected an object")?;
    let cal_tz = g.calendars.get(cal_id).map(|c| c.tz).unwrap_or(Tz::UTC);
    let tz = match m.remove("timeZone") {
        Some(Value::String(s)) => s
            .parse::<Tz>()
            .map_err(|_| format!("timeZone: unknown zone {s:?}"))?,
        _ => cal_tz,
    };
    for k in ["start", "end"] {
        let v = m.get(k).ok_or_else(|| format!("{k}: missing"))?;
        let r = resolve_edt(v, tz, now, k)?;
        m.insert(k.into(), r);
    }
    let mirror = m
        .remove("mirror")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let exceptions = m.remove("exceptions");
    let id = match m.get("id").and_then(Value::as_str) {
        Some(id) => id.to_string(),
        None => {
            const A: &[u8] = b"0123456789abcdefghijklmnopqrstuv";
            (0..26)
                .map(|_| A[(ctx.next_u64() % 32) as usize] as char)
                .collect()
        }
    };
    if let Some(Value::Array(atts)) = m.get_mut("attendees") {
        for a in atts.iter_mut() {
            if let Value::String(s) = a {
                *a = json!({"email": s});
            }
        }
    }
    if let Some(Value::String(o)) = m.get("organizer") {
        let o = o.clone();
        m.insert("organizer".into(), json!({"email": o}));
    }
    let mut targets = vec![cal_id.to_string()];
    if mirror {
        for a in m
            .get("attendees")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let email = a
                .get("email")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_ascii_lowercase();
            let resource = a.get("resource").and_then(Value::as_bool).unwrap_or(false);
            if !resource
                && email != cal_id
                && g.calendars.contains_key(&email)
                && !targets.contains(&email)
            {
                targets.push(email);
            }
        }
    }
    let organizer = m
        .get("organizer")
        .and_then(|o| o.get("email"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| cal_id.to_string());
    for (n, target) in targets.iter().enumerate() {
        let mut copy = m.clone();
        copy.insert("organizer".into(), json!({"email": organizer}));
        if n > 0
            && let Some(Value::Object(ep)) = copy.get_mut("extendedProperties")
        {
            ep.remove("private");
        }
        let cal = g
            .calendars
            .get(target)
            .ok_or_else(|| format!("calendar {target} not defined"))?;
        if cal.events.contains_key(&id) {
            return Err(format!("duplicate event id {id:?} on {target}"));
        }
        g.store_event(target, &id, copy, false, now, now, false)
            .map_err(|e| e.message)?;
        for (k, ex) in exceptions
            .as_ref()
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            load_exception(g, now, target, &id, tz, ex)
                .map_err(|e| format!("exceptions[{k}]: {e}"))?;
        }
    }
    Ok(())
}

fn load_exception(
    g: &mut GoogleState,
    now: DateTime<Utc>,
    cal_id: &str,
    series: &str,
    tz: Tz,
    ex: &Value,
) -> Result<(), String> {
    let mut m = ex.as_object().cloned().ok_or("expected an object")?;
    let orig_v = m.remove("originalStart").ok_or("originalStart: missing")?;
    let orig_edt = resolve_edt(&orig_v, tz, now, "originalStart")?;
    let cal = g.calendars.get(cal_id).ok_or("calendar vanished")?;
    let master = cal.events.get(series).ok_or("series vanished")?;
    let orig = match (
        orig_edt.get("dateTime").and_then(Value::as_str),
        orig_edt.get("date").and_then(Value::as_str),
    ) {
        (Some(dt), _) => DateTime::parse_from_rfc3339(dt)
            .map_err(|e| e.to_string())?
            .with_timezone(&Utc),
        (None, Some(d)) => store::local_midnight(
            NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|e| e.to_string())?,
            cal.tz,
        ),
        _ => return Err("originalStart: bad value".into()),
    };
    let occ = store::occurrences(&master.meta, cal.tz, orig)?;
    if !occ.contains(&orig) {
        return Err(format!(
            "originalStart {orig} is not an occurrence of {series}"
        ));
    }
    let mut res = store::render_instance(master, orig, cal.tz);
    let iid = store::instance_id(series, orig, master.meta.all_day, cal.tz);
    for k in ["start", "end"] {
        if let Some(v) = m.remove(k) {
            res.insert(k.into(), resolve_edt(&v, tz, now, k)?);
        }
    }
    for (k, v) in m {
        res.insert(k, v);
    }
    g.store_event(cal_id, &iid, res, false, now, now, false)
        .map_err(|e| e.message)
}

/// The benchmark organisation generator.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Generate {
    pub calendars: usize,
    pub events_per_calendar: usize,
    pub domain: String,
    /// Fraction of events that are weekly series (12 occurrences each).
    pub recurring_fraction: f64,
    /// Events are spread over now ± this many days.
    pub spread_days: i64,
    /// True (the default): a "1:1" event is with the calendar owner's "manager" `user{8k}`.
    /// False: no generated event has a colleague from the owner's own team (`user{8k}` …
    /// `user{8k+7}`), so the generated events form no meeting between a manager and a report;
    /// a benchmark adds the pairs' own 1:1s (top-level `events`).
    pub pair_meetings: bool,
}

impl Default for Generate {
    fn default() -> Self {
        Generate {
            calendars: 10,
            events_per_calendar: 50,
            domain: "example.com".into(),
            recurring_fraction: 0.05,
            spread_days: 90,
            pair_meetings: true,
        }
    }
}

/// A tiny deterministic generator (splitmix64), independent of request-time randomness.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// Seed `spec.calendars` users `user0000@domain…`, each with `events_per_calendar` events
/// (1:1s with a manager, team meetings with a room, all-day events, some weekly series).
/// Calendars are generated in parallel; each has its own random stream derived from the seed, so
/// the result does not depend on the number of threads.
pub fn generate(
    g: &mut GoogleState,
    seed: u64,
    now: DateTime<Utc>,
    spec: &Generate,
) -> Result<(), String> {
    let user = |n: usize| format!("user{n:04}@{}", spec.domain);
    for c in 0..spec.calendars {
        let id = user(c);
        let tz = ZONES[c % ZONES.len()];
        if g.calendars.contains_key(&id) {
            return Err(format!("generate: calendar {id} already exists"));
        }
        let cal = Calendar::new(&id, Some(&format!("User {c:04}")), tz.name(), now)?;
        g.calendars.insert(id, cal);
    }
    let base_seq = g.seq;
    let per_cal = spec.events_per_calendar as u64;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1);
    let chunk = spec.calendars.div_ceil(threads).max(1);
    let indices: Vec<usize> = (0..spec.calendars).collect();
    let results: Vec<Result<Vec<GeneratedCalendar>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = indices
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|&c| {
                            let evs = generate_calendar(
                                seed,
                                now,
                                spec,
                                c,
                                base_seq + c as u64 * per_cal,
                            )?;
                            Ok((format!("user{c:04}@{}", spec.domain), evs))
                        })
                        .collect::<Result<Vec<_>, String>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("generator thread panicked".to_string()))
            })
            .collect()
    });
    for part in results {
        for (cal_id, events) in part? {
            let cal = g
                .calendars
                .get_mut(&cal_id)
                .ok_or("generated calendar vanished")?;
            for e in events {
                cal.max_seq = cal.max_seq.max(e.seq);
                cal.events.insert(e.id().to_string(), Arc::new(e));
            }
        }
    }
    g.seq = base_seq + spec.calendars as u64 * per_cal;
    g.last_write = Some(g.last_write.map_or(now, |l| l.max(now)));
    Ok(())
}

const ZONES: &[Tz] = &[
    Tz::Europe__Berlin,
    Tz::America__New_York,
    Tz::Europe__London,
    Tz::Asia__Tokyo,
    Tz::UTC,
];

/// A generated calendar's id and events.
type GeneratedCalendar = (String, Vec<store::StoredEvent>);

/// The events of generated calendar `c` (sequence numbers from `first_seq + 1`).
fn generate_calendar(
    seed: u64,
    now: DateTime<Utc>,
    spec: &Generate,
    c: usize,
    first_seq: u64,
) -> Result<Vec<store::StoredEvent>, String> {
    const TOPICS: &[&str] = &[
        "1:1",
        "Team sync",
        "Planning",
        "Review",
        "Interview",
        "Lunch",
        "Focus",
        "Offsite",
    ];
    let mut rng =
        Rng(seed ^ 0xA076_1D64_78BD_642F ^ (c as u64).wrapping_mul(0xE703_7ED1_A0B4_28DB));
    let user = |n: usize| format!("user{n:04}@{}", spec.domain);
    let owner = user(c);
    let tz = ZONES[c % ZONES.len()];
    let manager = user((c / 8) * 8);
    // A random colleague: anyone, or (without pair meetings) anyone outside the owner's team.
    let people = spec.calendars.max(1);
    let team = (c / 8) * 8..((c / 8) * 8 + 8).min(people);
    let colleague = |rng: &mut Rng| -> usize {
        if spec.pair_meetings || people <= team.len() {
            return rng.below(people as u64) as usize;
        }
        let k = rng.below((people - team.len()) as u64) as usize;
        if k >= team.start { k + team.len() } else { k }
    };
    let today = now.date_naive();
    let stamp = store::fmt_utc(now);
    let ymd = |d: NaiveDate| format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day());
    let mut out = Vec::with_capacity(spec.events_per_calendar);
    // The resource is written directly (not through `ops::normalize`) because seeding 500k events
    // must be fast; `generated_events_match_normalize` below keeps the two in agreement.
    for e in 0..spec.events_per_calendar {
        let day = today
            + Duration::days(
                rng.below((2 * spec.spread_days).max(1) as u64) as i64 - spec.spread_days,
            );
        let topic = TOPICS[rng.below(TOPICS.len() as u64) as usize];
        let id = format!("gen{c:04}e{e:05}");
        let seq = first_seq + e as u64 + 1;
        let mut text = String::with_capacity(900);
        text.push_str("{\"id\":\"");
        text.push_str(&id);
        text.push('"');
        let mut meta = if rng.chance(0.05) {
            let next = day + Duration::days(1);
            text.push_str(&format!(
                ",\"start\":{{\"date\":\"{}\"}},\"end\":{{\"date\":\"{}\"}}",
                ymd(day),
                ymd(next)
            ));
            store::Meta {
                all_day: true,
                start: store::local_midnight(day, tz),
                end: store::local_midnight(next, tz),
                zone: tz,
                local_start: day.and_hms_opt(0, 0, 0).unwrap_or_default(),
                recurrence: Vec::new(),
                parent: None,
                cancelled: false,
                transparent: false,
                self_declined: false,
                start_tz_field: None,
                end_tz_field: None,
            }
        } else {
            let hour = 8 + rng.below(9) as u32;
            let minutes = if rng.chance(0.5) { 30 } else { 60 };
            let start = store::localize(day.and_hms_opt(hour, 0, 0).unwrap_or_default(), tz);
            let end = start + Duration::minutes(minutes);
            let fmt = |t: DateTime<Utc>| {
                t.with_timezone(&tz)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            };
            text.push_str(&format!(
                ",\"start\":{{\"dateTime\":\"{}\",\"timeZone\":\"{}\"}},\"end\":{{\"dateTime\":\"{}\",\"timeZone\":\"{}\"}}",
                fmt(start),
                tz.name(),
                fmt(end),
                tz.name()
            ));
            let mut recurrence = Vec::new();
            if rng.chance(spec.recurring_fraction) {
                recurrence.push("RRULE:FREQ=WEEKLY;COUNT=12".to_string());
                text.push_str(",\"recurrence\":[\"RRULE:FREQ=WEEKLY;COUNT=12\"]");
            }
            store::Meta {
                all_day: false,
                start,
                end,
                zone: tz,
                local_start: start.with_timezone(&tz).naive_local(),
                recurrence,
                parent: None,
                cancelled: false,
                transparent: false,
                self_declined: false,
                start_tz_field: Some(tz.name().to_string()),
                end_tz_field: Some(tz.name().to_string()),
            }
        };
        text.push(',');
        let rest = text.len();
        let other = if spec.pair_meetings && topic == "1:1" && manager != owner {
            manager.clone()
        } else {
            user(colleague(&mut rng))
        };
        let organizer = if rng.chance(0.5) {
            owner.clone()
        } else {
            other.clone()
        };
        // (email, responseStatus, resource, optional)
        let mut atts: Vec<(String, &str, bool, bool)> = vec![
            (owner.clone(), "accepted", false, false),
            (
                other.clone(),
                if rng.chance(0.1) {
                    "declined"
                } else {
                    "accepted"
                },
                false,
                false,
            ),
        ];
        if topic == "Team sync" {
            atts.push((
                format!("room-{}@resource.{}", rng.below(20), spec.domain),
                "accepted",
                true,
                false,
            ));
            atts.push((user(colleague(&mut rng)), "needsAction", false, true));
        }
        meta.self_declined = atts.iter().any(|a| a.0 == owner && a.1 == "declined");
        text.push_str("\"attendees\":[");
        for (i, (email, status, resource, optional)) in atts.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&format!("{{\"email\":\"{email}\""));
            if *optional {
                text.push_str(",\"optional\":true");
            }
            if *email == organizer {
                text.push_str(",\"organizer\":true");
            }
            if *resource {
                text.push_str(",\"resource\":true");
            }
            text.push_str(&format!(",\"responseStatus\":\"{status}\""));
            if *email == owner {
                text.push_str(",\"self\":true");
            }
            text.push('}');
        }
        text.push_str(&format!(
            "],\"created\":\"{stamp}\",\"creator\":{{\"email\":\"{owner}\",\"self\":true}}"
        ));
        if rng.chance(0.2) {
            text.push_str(&format!(",\"description\":\"Agenda for {topic}\""));
        }
        let org_self = if organizer == owner {
            ",\"self\":true"
        } else {
            ""
        };
        text.push_str(&format!(
            ",\"etag\":\"\\\"3{seq:015}\\\"\",\"eventType\":\"default\",\"htmlLink\":\"https://www.google.com/calendar/event?eid={id}\",\"iCalUID\":\"{id}@google.com\",\"kind\":\"calendar#event\",\"organizer\":{{\"email\":\"{organizer}\"{org_self}}},\"reminders\":{{\"useDefault\":true}},\"sequence\":0,\"status\":\"confirmed\",\"summary\":\"{topic} #{e}\",\"updated\":\"{stamp}\"}}"
        ));
        out.push(store::StoredEvent::from_parts(&id, text, rest, seq, meta));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generator writes resources by hand; they must be exactly what `normalize` makes of them.
    #[test]
    fn without_pair_meetings_no_event_has_a_teammate() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let spec = Generate {
            calendars: 40,
            events_per_calendar: 300,
            pair_meetings: false,
            ..Generate::default()
        };
        for c in [0, 9, 37] {
            let team: Vec<String> = ((c / 8) * 8..((c / 8) * 8 + 8).min(40))
                .filter(|&t| t != c)
                .map(|t| format!("user{t:04}@example.com"))
                .collect();
            for ev in generate_calendar(5, now, &spec, c, 1000).unwrap_or_default() {
                for t in &team {
                    assert!(!ev.text().contains(t.as_str()), "{c}: {}", ev.text());
                }
            }
        }
    }

    #[test]
    fn generated_events_match_normalize() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let spec = Generate {
            calendars: 16,
            events_per_calendar: 200,
            recurring_fraction: 0.2,
            ..Generate::default()
        };
        for c in [0, 3, 9] {
            let events = generate_calendar(5, now, &spec, c, 1000).unwrap_or_default();
            assert_eq!(events.len(), 200);
            let owner = format!("user{c:04}@example.com");
            for ev in events {
                let res = ev.res();
                assert!(!res.is_empty(), "generated JSON parses: {}", ev.text());
                let again = crate::google::ops::build_new(
                    res.clone(),
                    &owner,
                    ZONES[c % ZONES.len()],
                    ev.id(),
                    ev.seq,
                    now,
                )
                .unwrap_or_else(|e| panic!("{}: {}", ev.id(), e.message));
                assert_eq!(again.res(), res, "{}", ev.id());
                let (a, b) = (&ev.meta, &again.meta);
                assert_eq!(
                    (
                        a.all_day,
                        a.start,
                        a.end,
                        a.zone,
                        a.local_start,
                        &a.recurrence,
                        a.self_declined,
                        &a.start_tz_field,
                        &a.end_tz_field
                    ),
                    (
                        b.all_day,
                        b.start,
                        b.end,
                        b.zone,
                        b.local_start,
                        &b.recurrence,
                        b.self_declined,
                        &b.start_tz_field,
                        &b.end_tz_field
                    ),
                    "{}",
                    ev.id()
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// admin routes

/// `/_admin/google/…` routes for edits, notifications and quirks.
pub fn admin_router() -> Router<Arc<Ctx>> {
    Router::new()
        .route("/_admin/google/edit", post(edit))
        .route("/_admin/google/notify", post(notify))
        .route("/_admin/google/quirks", post(quirks))
        .route("/_admin/google/fault-script", post(fault_script))
        .route("/_admin/google/purge-tombstones", post(purge))
}

#[derive(Deserialize)]
struct PurgeRequest {
    /// Drop tombstones last written more than this many seconds before the emulator's now.
    older_than_secs: i64,
}

/// Let tombstones "eventually disappear" (their ids stay reserved; older sync tokens get 410).
async fn purge(State(ctx): State<Arc<Ctx>>, Json(req): Json<PurgeRequest>) -> Response {
    let now = ctx.now();
    let Some(before) =
        Duration::try_seconds(req.older_than_secs).and_then(|d| now.checked_sub_signed(d))
    else {
        return admin_err(
            StatusCode::BAD_REQUEST,
            "older_than_secs out of range".into(),
        );
    };
    let n = write(&ctx.google).purge_tombstones(before, now);
    Json(json!({"ok": true, "purged": n})).into_response()
}

/// Replace the scripted faults (`[]` clears them).
async fn fault_script(State(ctx): State<Arc<Ctx>>, Json(v): Json<Value>) -> Response {
    match serde_json::from_value::<Vec<super::ScriptedFault>>(v) {
        Ok(s) => {
            write(&ctx.google).script = s;
            Json(json!({"ok": true})).into_response()
        }
        Err(e) => admin_err(StatusCode::BAD_REQUEST, format!("fault script: {e}")),
    }
}

fn admin_err(status: StatusCode, msg: String) -> Response {
    (status, Json(json!({"error": msg}))).into_response()
}

#[derive(Deserialize)]
struct EditRequest {
    calendar: String,
    event: String,
    #[serde(default)]
    patch: Option<Map<String, Value>>,
    #[serde(default)]
    delete: bool,
}

/// Edit an event as its user would in the UI: bumps etag/updated/sequence, shows up in incremental
/// sync and notifies channels. Not logged as an API write.
async fn edit(State(ctx): State<Arc<Ctx>>, Json(req): Json<EditRequest>) -> Response {
    let now = ctx.now();
    let cal = req.calendar.to_ascii_lowercase();
    let opts = WriteOpts {
        if_match: None,
        send_updates: None,
        force_sequence: true,
    };
    let result = {
        let mut g = write(&ctx.google);
        if req.delete {
            g.delete_event(&cal, &req.event, &opts, now, false)
        } else {
            g.modify_event(
                &cal,
                &req.event,
                &req.patch.unwrap_or_default(),
                false,
                &opts,
                now,
                false,
            )
        }
    };
    match result {
        Ok(r) => {
            super::notify::on_change(&ctx, &cal);
            Json(json!({"ok": true, "resource": r.resource})).into_response()
        }
        Err(e) => admin_err(
            StatusCode::from_u16(e.code).unwrap_or(StatusCode::BAD_REQUEST),
            e.message,
        ),
    }
}

#[derive(Deserialize)]
struct NotifyRequest {
    #[serde(default)]
    calendar: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

/// Fire a push message (`exists` by default) at matching channels and report each delivery.
async fn notify(State(ctx): State<Arc<Ctx>>, Json(req): Json<NotifyRequest>) -> Json<Value> {
    let state = req.state.unwrap_or_else(|| "exists".into());
    let res = super::notify::fire(
        &ctx,
        req.calendar.as_deref(),
        req.channel.as_deref(),
        &state,
    )
    .await;
    Json(json!({"deliveries": res}))
}

async fn quirks(State(ctx): State<Arc<Ctx>>, Json(q): Json<Value>) -> Response {
    match serde_json::from_value::<super::Quirks>(q) {
        Ok(q) => {
            write(&ctx.google).quirks = q;
            Json(json!({"ok": true})).into_response()
        }
        Err(e) => admin_err(StatusCode::BAD_REQUEST, format!("quirks: {e}")),
    }
}
