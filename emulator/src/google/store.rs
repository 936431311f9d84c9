//! Calendars, stored events, recurrence expansion and the per-calendar index that list requests use.
//!
//! Invariants:
//! - Each calendar holds its own copy of every event on it (keyed by event id, deleted ones included:
//!   ids stay reserved), stored as the exact resource Google would return for that copy (`self`
//!   flags already computed for the calendar's owner).
//! - After every change the calendar's [`Index`] is rebuilt: `flat` (series masters, single events,
//!   exceptions) and `expanded` (single events and instances) are sorted by `(start, id)` with a
//!   running maximum of `end`, so a list request finds its window by binary search and then does work
//!   proportional to the page; `changes` is sorted by change sequence for incremental sync.
//! - Recurring series are expanded in the event's IANA `timeZone` up to a horizon (the emulator's
//!   now + `expand_days`), at most [`MAX_INSTANCES`] instances per series.
use super::error::GError;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

/// Upper bound on instances materialised per series.
pub const MAX_INSTANCES: usize = 2000;

/// Every property of the discovery document's `Event` schema; anything else is dropped on write.
pub const EVENT_FIELDS: &[&str] = &[
    "anyoneCanAddSelf",
    "attachments",
    "attendees",
    "attendeesOmitted",
    "birthdayProperties",
    "colorId",
    "conferenceData",
    "created",
    "creator",
    "description",
    "end",
    "endTimeUnspecified",
    "etag",
    "eventLabelId",
    "eventType",
    "extendedProperties",
    "focusTimeProperties",
    "gadget",
    "guestsCanInviteOthers",
    "guestsCanModify",
    "guestsCanSeeOtherGuests",
    "hangoutLink",
    "htmlLink",
    "iCalUID",
    "id",
    "kind",
    "location",
    "locked",
    "organizer",
    "originalStartTime",
    "outOfOfficeProperties",
    "privateCopy",
    "recurrence",
    "recurringEventId",
    "reminders",
    "sequence",
    "source",
    "start",
    "status",
    "summary",
    "transparency",
    "updated",
    "visibility",
    "workingLocationProperties",
];

/// Fields the client cannot set (server-computed); ignored in insert/update/patch bodies.
pub const READ_ONLY_FIELDS: &[&str] = &[
    "kind",
    "etag",
    "created",
    "updated",
    "htmlLink",
    "creator",
    "organizer",
    "attendeesOmitted",
    "hangoutLink",
    "privateCopy",
    "locked",
];

/// Parsed facts about a stored event, derived from its resource on every write.
#[derive(Debug, Clone)]
pub struct Meta {
    pub all_day: bool,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Zone the series expands in (start.timeZone, else the calendar's zone).
    pub zone: Tz,
    /// Wall-clock start in `zone` (midnight for all-day events).
    pub local_start: NaiveDateTime,
    /// RRULE/EXRULE/RDATE/EXDATE lines; empty for non-recurring events.
    pub recurrence: Vec<String>,
    /// For exceptions: (recurringEventId, originalStartTime as an instant).
    pub parent: Option<(String, DateTime<Utc>)>,
    pub cancelled: bool,
    pub transparent: bool,
    /// The calendar's owner declined (free/busy ignores it).
    pub self_declined: bool,
    /// The `timeZone` fields of `start`/`end`, as given (instances repeat them).
    pub start_tz_field: Option<String>,
    pub end_tz_field: Option<String>,
}

/// One event copy on one calendar.
///
/// The resource is kept as its JSON text, laid out as
/// `{"id":…,"start":…,"end":…[,"recurrence":…],<rest>}` so that list responses copy it as is and
/// a series instance is `{"id":…,"start":…,"end":…,"originalStartTime":…,"recurringEventId":…,<rest>}`
/// without parsing anything; writes and filters parse it back with [`StoredEvent::res`].
#[derive(Debug)]
pub struct StoredEvent {
    id: Box<str>,
    text: Arc<str>,
    /// Byte offset of `<rest>` in `text`.
    rest: usize,
    /// Global change sequence of the last write to this copy.
    pub seq: u64,
    /// Deleted with events.delete (a tombstone; the id stays reserved).
    pub deleted: bool,
    pub meta: Meta,
}

const HEAD_FIELDS: &[&str] = &["id", "start", "end", "recurrence"];

impl StoredEvent {
    /// Store `res` (already normalised; it must contain `id`).
    pub fn new(res: &Map<String, Value>, seq: u64, deleted: bool, meta: Meta) -> Self {
        let mut buf: Vec<u8> = Vec::with_capacity(1024);
        buf.push(b'{');
        for k in HEAD_FIELDS {
            if let Some(v) = res.get(*k) {
                push_field(&mut buf, k, v);
            }
        }
        let rest = buf.len();
        for (k, v) in res {
            if !HEAD_FIELDS.contains(&k.as_str()) {
                push_field(&mut buf, k, v);
            }
        }
        if buf.last() == Some(&b',') {
            buf.pop();
        }
        buf.push(b'}');
        // serde_json only writes valid UTF-8.
        let text = String::from_utf8(buf).unwrap_or_default();
        StoredEvent {
            id: res.get("id").and_then(Value::as_str).unwrap_or("").into(),
            text: Arc::from(text),
            rest,
            seq,
            deleted,
            meta,
        }
    }
    /// A stored event from JSON text already laid out as described on [`StoredEvent`]
    /// (`rest` is the byte offset of the non-head fields). Used by the generator.
    pub fn from_parts(id: &str, text: String, rest: usize, seq: u64, meta: Meta) -> Self {
        StoredEvent {
            id: id.into(),
            text: Arc::from(text),
            rest,
            seq,
            deleted: false,
            meta,
        }
    }
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The full resource JSON.
    pub fn text(&self) -> &str {
        &self.text
    }
    /// The resource, parsed.
    pub fn res(&self) -> Map<String, Value> {
        match serde_json::from_str::<Value>(&self.text) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }
    pub fn is_master(&self) -> bool {
        !self.meta.recurrence.is_empty()
    }
    /// What list/sync responses show for this copy: deleted events as a bare `{id,status}`
    /// tombstone, cancelled exceptions as `{id,status,recurringEventId,originalStartTime}`.
    pub fn list_json(&self) -> Arc<str> {
        if self.deleted && self.meta.parent.is_none() {
            Arc::from(json!({"id": self.id(), "status": "cancelled"}).to_string())
        } else if self.meta.cancelled && self.meta.parent.is_some() {
            Arc::from(cancelled_stub(&self.res()).to_string())
        } else {
            self.text.clone()
        }
    }
    /// The JSON of the instance of this series that starts at `orig` (fast path for listings:
    /// string concatenation, no parsing).
    pub fn instance_json(&self, orig: DateTime<Utc>, cal_tz: Tz) -> Arc<str> {
        let dur = self.meta.end - self.meta.start;
        let edt = |t: DateTime<Utc>, tz: &Option<String>, end: bool| -> String {
            if self.meta.all_day {
                let mut d = orig.with_timezone(&cal_tz).date_naive();
                if end {
                    d += Duration::days(dur.num_days().max(1));
                }
                return format!(
                    "{{\"date\":\"{:04}-{:02}-{:02}\"}}",
                    d.year(),
                    d.month(),
                    d.day()
                );
            }
            // `meta.zone` is the start's zone (or the calendar's); an end may name its own.
            let zone = if end && tz != &self.meta.start_tz_field {
                zone_of(tz, self.meta.zone)
            } else {
                self.meta.zone
            };
            let dt = fmt_local(t, zone);
            match tz {
                Some(z) => format!(
                    "{{\"dateTime\":\"{dt}\",\"timeZone\":{}}}",
                    Value::from(z.as_str())
                ),
                None => format!("{{\"dateTime\":\"{dt}\"}}"),
            }
        };
        let start = edt(orig, &self.meta.start_tz_field, false);
        let end = edt(orig + dur, &self.meta.end_tz_field, true);
        let iid = instance_id(self.id(), orig, self.meta.all_day, cal_tz);
        let rest = self.text.get(self.rest..).unwrap_or("}");
        let mut s = String::with_capacity(self.text.len() + 2 * start.len() + 96);
        s.push_str("{\"id\":");
        s.push_str(&Value::from(iid).to_string());
        s.push_str(",\"start\":");
        s.push_str(&start);
        s.push_str(",\"end\":");
        s.push_str(&end);
        s.push_str(",\"originalStartTime\":");
        s.push_str(&start);
        s.push_str(",\"recurringEventId\":");
        s.push_str(&Value::from(self.id()).to_string());
        s.push(',');
        s.push_str(rest);
        Arc::from(s)
    }
}

fn push_field(out: &mut Vec<u8>, k: &str, v: &Value) {
    // Writing JSON into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, k);
    out.push(b':');
    let _ = serde_json::to_writer(&mut *out, v);
    out.push(b',');
}

/// `{id,status,recurringEventId,originalStartTime}` of a cancelled instance.
pub fn cancelled_stub(res: &Map<String, Value>) -> Value {
    let mut m = Map::new();
    for k in ["id", "status", "recurringEventId", "originalStartTime"] {
        if let Some(v) = res.get(k) {
            m.insert(k.to_string(), v.clone());
        }
    }
    m.insert("status".into(), json!("cancelled"));
    Value::Object(m)
}

/// Where a list entry's JSON comes from.
#[derive(Debug, Clone)]
pub enum EntryKind {
    /// A stored event (single, master or exception).
    Stored(Arc<StoredEvent>),
    /// An instance generated from a series master.
    Instance {
        master: Arc<StoredEvent>,
        orig: DateTime<Utc>,
    },
}

impl EntryKind {
    /// The stored event behind the row (the master, for an instance).
    pub fn source(&self) -> &StoredEvent {
        match self {
            EntryKind::Stored(e) => e,
            EntryKind::Instance { master, .. } => master,
        }
    }
}

/// One row of a list view.
#[derive(Debug)]
pub struct Entry {
    pub start: i64,
    pub end: i64,
    pub id: Arc<str>,
    pub kind: EntryKind,
    pub cancelled: bool,
    /// Running maximum of `end` over this and all earlier rows.
    pub max_end: i64,
    /// An instance's JSON, rendered on first use (stored events need no cache).
    pub json: OnceLock<Arc<str>>,
}

/// The sorted views of one calendar.
#[derive(Debug, Default)]
pub struct Index {
    pub flat: Vec<Entry>,
    pub expanded: Vec<Entry>,
    /// (change seq, event id), ascending.
    pub changes: Vec<(u64, Arc<str>)>,
}

/// One calendar, keyed by its owner's email.
#[derive(Debug)]
pub struct Calendar {
    pub id: String,
    pub summary: String,
    pub description: Option<String>,
    pub time_zone: String,
    pub tz: Tz,
    /// Other users who see this calendar in their calendarList: email → accessRole.
    pub acl: BTreeMap<String, String>,
    pub events: HashMap<String, Arc<StoredEvent>>,
    pub index: Index,
    /// Highest change seq on this calendar (the sync token's position).
    pub max_seq: u64,
    /// Tombstones up to this change seq were purged: older sync tokens get 410.
    pub purged_seq: u64,
    /// Ids of purged tombstones: still reserved (inserting them again is 409).
    pub reserved: std::collections::HashSet<String>,
    pub updated: DateTime<Utc>,
}

impl Calendar {
    pub fn new(
        id: &str,
        summary: Option<&str>,
        time_zone: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, String> {
        let tz: Tz = time_zone
            .parse()
            .map_err(|_| format!("unknown time zone {time_zone:?} for calendar {id}"))?;
        Ok(Calendar {
            id: id.to_string(),
            summary: summary.unwrap_or(id).to_string(),
            description: None,
            time_zone: time_zone.to_string(),
            tz,
            acl: BTreeMap::new(),
            events: HashMap::new(),
            index: Index::default(),
            max_seq: 0,
            purged_seq: 0,
            reserved: Default::default(),
            updated: now,
        })
    }

    /// Rebuild the sorted views after a change (see the module invariants).
    pub fn rebuild(&mut self, horizon: DateTime<Utc>) {
        let mut flat = Vec::with_capacity(self.events.len());
        let mut expanded = Vec::with_capacity(self.events.len());
        let mut changes = Vec::with_capacity(self.events.len());
        // Exceptions by (series id, original start).
        let mut exceptions: HashMap<(&str, i64), ()> = HashMap::new();
        for e in self.events.values() {
            if let Some((series, orig)) = &e.meta.parent {
                exceptions.insert((series.as_str(), orig.timestamp()), ());
            }
        }
        for (id, e) in &self.events {
            let aid: Arc<str> = Arc::from(id.as_str());
            changes.push((e.seq, aid.clone()));
            let cancelled = e.deleted || e.meta.cancelled;
            let (s, en) = (e.meta.start.timestamp(), e.meta.end.timestamp());
            if e.is_master() && !e.deleted {
                let occ = occurrences(&e.meta, self.tz, horizon).unwrap_or_default();
                let dur = en - s;
                let last_end = occ.last().map(|o| o.timestamp() + dur).unwrap_or(en);
                flat.push(entry(
                    s,
                    last_end.max(en),
                    aid.clone(),
                    EntryKind::Stored(e.clone()),
                    cancelled,
                ));
                for o in occ {
                    if exceptions.contains_key(&(id.as_str(), o.timestamp())) {
                        continue;
                    }
                    let iid: Arc<str> =
                        Arc::from(instance_id(id, o, e.meta.all_day, self.tz).as_str());
                    let kind = EntryKind::Instance {
                        master: e.clone(),
                        orig: o,
                    };
                    expanded.push(entry(o.timestamp(), o.timestamp() + dur, iid, kind, false));
                }
                continue;
            }
            if let Some((series, _)) = &e.meta.parent {
                // An exception whose series is gone is not listed at all.
                let live_master = self.events.get(series).is_some_and(|m| !m.deleted);
                if !live_master {
                    continue;
                }
            }
            flat.push(entry(
                s,
                en,
                aid.clone(),
                EntryKind::Stored(e.clone()),
                cancelled,
            ));
            if !e.is_master() {
                expanded.push(entry(s, en, aid, EntryKind::Stored(e.clone()), cancelled));
            }
        }
        for v in [&mut flat, &mut expanded] {
            v.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
            let mut m = i64::MIN;
            for e in v.iter_mut() {
                m = m.max(e.end);
                e.max_end = m;
            }
        }
        changes.sort();
        self.index = Index {
            flat,
            expanded,
            changes,
        };
    }
}

fn entry(start: i64, end: i64, id: Arc<str>, kind: EntryKind, cancelled: bool) -> Entry {
    Entry {
        start,
        end,
        id,
        kind,
        cancelled,
        max_end: end,
        json: OnceLock::new(),
    }
}

/// Google's instance id: `{seriesId}_{YYYYMMDDTHHMMSSZ}` (timed) or `{seriesId}_{YYYYMMDD}` (all-day).
pub fn instance_id(series: &str, orig: DateTime<Utc>, all_day: bool, cal_tz: Tz) -> String {
    if all_day {
        let d = orig.with_timezone(&cal_tz).date_naive();
        format!("{series}_{:04}{:02}{:02}", d.year(), d.month(), d.day())
    } else {
        format!(
            "{series}_{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            orig.year(),
            orig.month(),
            orig.day(),
            orig.hour(),
            orig.minute(),
            orig.second()
        )
    }
}

/// Split an instance id into (series id, original start); `None` if it is not one.
pub fn parse_instance_id(id: &str, cal_tz: Tz) -> Option<(&str, DateTime<Utc>)> {
    let (series, stamp) = id.rsplit_once('_')?;
    if let Ok(t) = NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ") {
        return Some((series, t.and_utc()));
    }
    let d = NaiveDate::parse_from_str(stamp, "%Y%m%d").ok()?;
    Some((series, local_midnight(d, cal_tz)))
}

/// The instant of local midnight of `d` in `tz` (the first valid instant that day).
pub fn local_midnight(d: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let naive = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    localize(naive, tz)
}

/// Interpret a wall-clock time in `tz`: earliest of an ambiguous pair; a skipped time moves forward.
pub fn localize(naive: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    use chrono::LocalResult;
    for shift in 0..=4 {
        match tz.from_local_datetime(&(naive + Duration::minutes(30 * shift))) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(a, _) => return a.with_timezone(&Utc),
            LocalResult::None => continue,
        }
    }
    naive.and_utc()
}

/// RFC 3339 with milliseconds and `Z`, as Google writes `updated`/`created`.
pub fn fmt_utc(t: DateTime<Utc>) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.timestamp_subsec_millis()
    )
}

/// Parse one `EventDateTime`; returns (instant, all_day, explicit zone, wall-clock start).
fn parse_edt(
    v: Option<&Value>,
    field: &str,
    cal_tz: Tz,
) -> Result<(DateTime<Utc>, bool, Option<Tz>, NaiveDateTime), GError> {
    let obj = v
        .and_then(Value::as_object)
        .ok_or_else(|| GError::required(field))?;
    let zone = match obj.get("timeZone") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.parse::<Tz>().map_err(|_| {
            GError::invalid(format!("Invalid time zone definition for {field} time."))
                .at("parameter", field)
        })?),
        Some(_) => return Err(GError::invalid(format!("Invalid {field}.timeZone"))),
    };
    if let Some(d) = obj.get("date").and_then(Value::as_str) {
        let d = NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
            GError::invalid(format!("Invalid {field}.date: {d:?}")).at("parameter", field)
        })?;
        let naive = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        return Ok((local_midnight(d, cal_tz), true, zone, naive));
    }
    let Some(s) = obj.get("dateTime").and_then(Value::as_str) else {
        return Err(GError::required(&format!("{field}.dateTime")));
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        let utc = t.with_timezone(&Utc);
        let z = zone.unwrap_or(cal_tz);
        return Ok((utc, false, zone, utc.with_timezone(&z).naive_local()));
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").map_err(|_| {
        GError::invalid(format!("Invalid {field}.dateTime: {s:?}")).at("parameter", field)
    })?;
    let Some(z) = zone else {
        return Err(
            GError::invalid(format!("Missing time zone definition for {field} time."))
                .at("parameter", field),
        );
    };
    Ok((localize(naive, z), false, Some(z), naive))
}

/// `t` as RFC 3339 in `tz` with that zone's offset at `t` (`Z` for a zero offset), whole seconds:
/// how Google writes every `dateTime` it returns.
pub fn fmt_local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Rewrite the `dateTime` of `start`, `end` and `originalStartTime` as Google returns it: the
/// instant with the UTC offset of that `EventDateTime`'s `timeZone` (else the calendar's zone),
/// whatever form the client sent (local time plus `timeZone`, another offset, `Z`, fractions).
/// Values that do not parse are left alone ([`parse_meta`] rejects them).
pub fn canonicalize_times(res: &mut Map<String, Value>, cal_tz: Tz) {
    for key in ["start", "end", "originalStartTime"] {
        let Ok((t, all_day, zone, _)) = parse_edt(res.get(key), key, cal_tz) else {
            continue;
        };
        if all_day {
            continue;
        }
        if let Some(Value::Object(o)) = res.get_mut(key) {
            o.insert(
                "dateTime".into(),
                json!(fmt_local(t, zone.unwrap_or(cal_tz))),
            );
        }
    }
}

/// The zone of an `EventDateTime`'s `timeZone` field, else `fallback`.
fn zone_of(field: &Option<String>, fallback: Tz) -> Tz {
    field
        .as_deref()
        .and_then(|s| s.parse::<Tz>().ok())
        .unwrap_or(fallback)
}

fn tz_field(v: Option<&Value>) -> Option<String> {
    v.and_then(|v| v.get("timeZone"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Derive [`Meta`] from a resource; this is also the validation of start/end/recurrence.
pub fn parse_meta(res: &Map<String, Value>, cal_tz: Tz) -> Result<Meta, GError> {
    let (start, all_day, zone, local_start) = parse_edt(res.get("start"), "start", cal_tz)?;
    let (end, end_all_day, _, _) = parse_edt(res.get("end"), "end", cal_tz)?;
    if all_day != end_all_day {
        return Err(GError::invalid(
            "Start and end times must either both be date or both be dateTime.",
        ));
    }
    if end < start {
        return Err(GError::time_range_empty("end"));
    }
    let recurrence: Vec<String> = match res.get("recurrence") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|l| {
                l.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| GError::invalid("Invalid recurrence rule."))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(GError::invalid("Invalid recurrence rule.")),
    };
    let parent = match res.get("recurringEventId").and_then(Value::as_str) {
        Some(series) => {
            let (orig, _, _, _) =
                parse_edt(res.get("originalStartTime"), "originalStartTime", cal_tz)?;
            Some((series.to_string(), orig))
        }
        None => None,
    };
    let meta = Meta {
        all_day,
        start,
        end,
        zone: zone.unwrap_or(cal_tz),
        local_start,
        recurrence,
        parent,
        cancelled: res.get("status").and_then(Value::as_str) == Some("cancelled"),
        transparent: res.get("transparency").and_then(Value::as_str) == Some("transparent"),
        self_declined: res
            .get("attendees")
            .and_then(Value::as_array)
            .is_some_and(|l| {
                l.iter().any(|a| {
                    a.get("self").and_then(Value::as_bool) == Some(true)
                        && a.get("responseStatus").and_then(Value::as_str) == Some("declined")
                })
            }),
        start_tz_field: tz_field(res.get("start")),
        end_tz_field: tz_field(res.get("end")),
    };
    if !meta.recurrence.is_empty() {
        if meta.parent.is_some() {
            return Err(GError::invalid(
                "An instance of a recurring event cannot itself recur.",
            ));
        }
        if !all_day && zone.is_none() {
            return Err(
                GError::invalid("Missing time zone definition for start time.")
                    .at("parameter", "start"),
            );
        }
        occurrences(&meta, cal_tz, start + Duration::days(1))
            .map_err(|e| GError::invalid(format!("Invalid recurrence rule: {e}")))?;
    }
    Ok(meta)
}

/// Rewrite one RDATE/EXDATE line for the rrule parser: all-day `VALUE=DATE` values become UTC
/// midnights (matching how all-day series are expanded).
fn date_line(line: &str, all_day: bool) -> String {
    let Some((head, values)) = line.split_once(':') else {
        return line.to_string();
    };
    let name = head.split(';').next().unwrap_or(head);
    let is_date = head.contains("VALUE=DATE") && !head.contains("VALUE=DATE-TIME");
    if all_day || is_date {
        let vals: Vec<String> = values
            .split(',')
            .map(|v| {
                let d: String = v.chars().take(8).collect();
                format!("{d}T000000Z")
            })
            .collect();
        return format!("{name}:{}", vals.join(","));
    }
    line.to_string()
}

/// Occurrence starts of a series up to `until` (inclusive), at most [`MAX_INSTANCES`].
pub fn occurrences(
    meta: &Meta,
    cal_tz: Tz,
    until: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, String> {
    let dtstart = if meta.all_day {
        format!("DTSTART:{}", meta.local_start.format("%Y%m%dT000000Z"))
    } else {
        format!(
            "DTSTART;TZID={}:{}",
            meta.zone.name(),
            meta.local_start.format("%Y%m%dT%H%M%S")
        )
    };
    let mut text = dtstart;
    for line in &meta.recurrence {
        let line = line.trim();
        let upper = line.to_ascii_uppercase();
        text.push('\n');
        if upper.starts_with("RDATE") || upper.starts_with("EXDATE") {
            text.push_str(&date_line(line, meta.all_day));
        } else if meta.all_day && upper.starts_with("RRULE") {
            // UNTIL must be a UTC date-time when DTSTART is one.
            let fixed: Vec<String> = line
                .split(';')
                .map(|p| match p.split_once('=') {
                    Some((k, v)) if k.eq_ignore_ascii_case("UNTIL") && v.len() == 8 => {
                        format!("{k}={v}T235959Z")
                    }
                    _ => p.to_string(),
                })
                .collect();
            text.push_str(&fixed.join(";"));
        } else {
            text.push_str(line);
        }
    }
    let set: rrule::RRuleSet = text.parse().map_err(|e: rrule::RRuleError| e.to_string())?;
    let mut out = Vec::new();
    for o in set.into_iter() {
        let o_utc = if meta.all_day {
            local_midnight(o.with_timezone(&Utc).date_naive(), cal_tz)
        } else {
            o.with_timezone(&Utc)
        };
        if o_utc > until || out.len() >= MAX_INSTANCES {
            break;
        }
        out.push(o_utc);
    }
    Ok(out)
}

/// `start` and `end` of the instance of `master` at `orig`, as `EventDateTime` values.
fn instance_times(master: &StoredEvent, orig: DateTime<Utc>, cal_tz: Tz) -> (Value, Value) {
    let dur = master.meta.end - master.meta.start;
    if master.meta.all_day {
        let d = orig.with_timezone(&cal_tz).date_naive();
        let e = d + Duration::days(dur.num_days().max(1));
        return (
            json!({"date": d.format("%Y-%m-%d").to_string()}),
            json!({"date": e.format("%Y-%m-%d").to_string()}),
        );
    }
    let edt = |t: DateTime<Utc>, tz: &Option<String>| -> Value {
        let zone = if tz != &master.meta.start_tz_field {
            zone_of(tz, master.meta.zone)
        } else {
            master.meta.zone
        };
        let dt = fmt_local(t, zone);
        match tz {
            Some(tz) => json!({"dateTime": dt, "timeZone": tz}),
            None => json!({"dateTime": dt}),
        }
    };
    (
        edt(orig, &master.meta.start_tz_field),
        edt(orig + dur, &master.meta.end_tz_field),
    )
}

/// Render a series instance from its master as a resource (no `recurrence`, with
/// `recurringEventId` and `originalStartTime`; the same `iCalUID`).
pub fn render_instance(
    master: &StoredEvent,
    orig: DateTime<Utc>,
    cal_tz: Tz,
) -> Map<String, Value> {
    let mut m = master.res();
    let series = master.id().to_string();
    let (start, end) = instance_times(master, orig, cal_tz);
    m.insert(
        "id".into(),
        json!(instance_id(&series, orig, master.meta.all_day, cal_tz)),
    );
    m.remove("recurrence");
    m.insert("recurringEventId".into(), json!(series));
    m.insert("originalStartTime".into(), start.clone());
    m.insert("start".into(), start);
    m.insert("end".into(), end);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(res: Value) -> Meta {
        let map = res.as_object().cloned().unwrap_or_default();
        match parse_meta(&map, Tz::UTC) {
            Ok(m) => m,
            Err(e) => panic!("parse_meta: {}", e.message),
        }
    }

    #[test]
    fn weekly_expansion_keeps_wall_time_across_dst() {
        let m = meta(json!({
            "start": {"dateTime": "2026-10-19T10:00:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2026-10-19T10:30:00", "timeZone": "Europe/Berlin"},
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3", "EXDATE;TZID=Europe/Berlin:20261026T100000"]
        }));
        let occ = occurrences(
            &m,
            Tz::UTC,
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
        )
        .unwrap();
        let got: Vec<String> = occ.iter().map(|t| t.to_rfc3339()).collect();
        // 10:00 CEST = 08:00Z; after the switch 10:00 CET = 09:00Z; 26 Oct is excluded.
        assert_eq!(
            got,
            vec!["2026-10-19T08:00:00+00:00", "2026-11-02T09:00:00+00:00"]
        );
    }

    #[test]
    fn all_day_series_with_until_and_rdate() {
        let m = meta(json!({
            "start": {"date": "2026-12-01"}, "end": {"date": "2026-12-02"},
            "recurrence": ["RRULE:FREQ=DAILY;UNTIL=20261203", "RDATE;VALUE=DATE:20261210"]
        }));
        let occ = occurrences(
            &m,
            Tz::UTC,
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
        )
        .unwrap();
        assert_eq!(occ.len(), 4);
        assert_eq!(instance_id("abc", occ[3], true, Tz::UTC), "abc_20261210");
    }

    #[test]
    fn recurring_without_time_zone_is_rejected() {
        let map = json!({
            "start": {"dateTime": "2026-10-19T10:00:00Z"}, "end": {"dateTime": "2026-10-19T10:30:00Z"},
            "recurrence": ["RRULE:FREQ=WEEKLY"]
        });
        assert!(parse_meta(map.as_object().unwrap(), Tz::UTC).is_err());
    }

    #[test]
    fn instance_ids_round_trip() {
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
        let id = instance_id("series1", t, false, Tz::UTC);
        assert_eq!(id, "series1_20261124T090000Z");
        assert_eq!(parse_instance_id(&id, Tz::UTC), Some(("series1", t)));
    }
}
