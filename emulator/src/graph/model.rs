//! The Graph data model: mailboxes and their events (single instances, series masters, exceptions),
//! how occurrences are derived from masters, how events render as Graph JSON, and how PATCH bodies
//! and scenario descriptions apply to them.
//!
//! Invariants: times are stored as UTC instants (all-day events as UTC midnights, rendered floating);
//! every change to an event goes through `Mailbox::touch`, which gives it a new `version` (the
//! mailbox's change sequence), a new `changeKey` and a new `lastModifiedDateTime`; occurrence ids
//! are `{masterId}_{unix seconds of the original start}` and exceptions keep their occurrence's id.
use super::recur::Recurrence;
use super::tz;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Deterministic splitmix64, for ids and the scenario generator.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (0 when `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// `n` characters from `[A-Za-z0-9]`.
    pub fn id(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut s = String::with_capacity(n);
        let mut bits = 0u64;
        let mut left = 0;
        for _ in 0..n {
            if left == 0 {
                bits = self.next_u64();
                left = 10;
            }
            s.push(A[(bits % 62) as usize] as char);
            bits /= 62;
            left -= 1;
        }
        s
    }
}

/// `emailAddress`.
#[derive(Debug, Clone)]
pub struct Email {
    pub name: Arc<str>,
    pub address: Arc<str>,
}

impl Email {
    /// Parse `{name?, address}` (or `{"emailAddress": {...}}`).
    pub fn parse(v: &Value, what: &str) -> Result<Email, String> {
        let v = v.get("emailAddress").unwrap_or(v);
        let address = v
            .get("address")
            .and_then(Value::as_str)
            .filter(|a| a.contains('@'))
            .ok_or_else(|| format!("{what}: missing or invalid emailAddress.address"))?;
        let name = v.get("name").and_then(Value::as_str).unwrap_or(address);
        Ok(Email {
            name: name.into(),
            address: address.into(),
        })
    }
}

/// `attendeeType` values.
pub const ATTENDEE_TYPES: &[&str] = &["required", "optional", "resource"];
/// `responseType` values.
pub const RESPONSES: &[&str] = &[
    "none",
    "organizer",
    "tentativelyAccepted",
    "accepted",
    "declined",
    "notResponded",
];
/// `freeBusyStatus` values.
pub const SHOW_AS: &[&str] = &[
    "unknown",
    "free",
    "tentative",
    "busy",
    "oof",
    "workingElsewhere",
];
/// `sensitivity` values.
pub const SENSITIVITY: &[&str] = &["normal", "personal", "private", "confidential"];
/// `importance` values.
pub const IMPORTANCE: &[&str] = &["low", "normal", "high"];

/// The `&'static` spelling of `s` among `allowed` (exact case), or an error naming `what`.
pub fn pick(s: &str, allowed: &[&'static str], what: &str) -> Result<&'static str, String> {
    allowed.iter().find(|a| **a == s).copied().ok_or_else(|| {
        format!(
            "{what}: invalid value {s:?} (expected one of {})",
            allowed.join(", ")
        )
    })
}

/// One attendee.
#[derive(Debug, Clone)]
pub struct Attendee {
    pub email: Email,
    pub kind: &'static str,
    pub response: &'static str,
    pub time: Option<DateTime<Utc>>,
}

impl Attendee {
    /// Parse Graph's attendee JSON, or the scenario shorthand `{address, name?, type?, response?}`.
    pub fn parse(v: &Value, what: &str) -> Result<Attendee, String> {
        let email = Email::parse(v, what)?;
        let kind = pick(
            v.get("type").and_then(Value::as_str).unwrap_or("required"),
            ATTENDEE_TYPES,
            &format!("{what}.type"),
        )?;
        let resp = v
            .get("status")
            .and_then(|s| s.get("response"))
            .or_else(|| v.get("response"))
            .and_then(Value::as_str)
            .unwrap_or("none");
        let response = pick(resp, RESPONSES, &format!("{what}.status.response"))?;
        Ok(Attendee {
            email,
            kind,
            response,
            time: None,
        })
    }
}

/// What kind of stored event this is. Occurrences are never stored; they derive from masters.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Single,
    Master,
    Exception {
        master: String,
        original_start: DateTime<Utc>,
    },
}

/// One stored event.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub ical_uid: String,
    pub change_key: String,
    /// The mailbox change sequence number of the last change.
    pub version: u64,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub subject: Arc<str>,
    /// Body content; `body_html` says whether it is HTML (the default) or text.
    pub body: Arc<str>,
    pub body_html: bool,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub start_tz: Arc<str>,
    pub end_tz: Arc<str>,
    pub all_day: bool,
    pub cancelled: bool,
    pub organizer: Email,
    pub attendees: Vec<Attendee>,
    pub show_as: &'static str,
    pub sensitivity: &'static str,
    pub importance: &'static str,
    pub location: Option<Arc<str>>,
    pub categories: Vec<String>,
    pub recurrence: Option<Box<Recurrence>>,
    pub kind: Kind,
    pub transaction_id: Option<String>,
    /// Single-value extended properties `(id, value)`.
    pub ext: Vec<(String, String)>,
    /// On masters: original starts of deleted occurrences.
    pub deleted_occurrences: Vec<DateTime<Utc>>,
}

/// The 7-digit-fraction form Graph uses in `dateTimeTimeZone.dateTime`.
pub fn fmt7(t: NaiveDateTime) -> String {
    // Hand-rolled: this runs for every start/end of every rendered event.
    fn push(out: &mut String, mut n: u32, width: usize) {
        let mut digits = [b'0'; 10];
        for slot in digits.iter_mut().take(width).rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
        for d in digits.iter().take(width) {
            out.push(char::from(*d));
        }
    }
    let mut s = String::with_capacity(28);
    let year = t.year();
    if (0..=9999).contains(&year) {
        push(&mut s, year as u32, 4);
    } else {
        s.push_str(&format!("{year:04}"));
    }
    for (sep, n) in [
        ('-', t.month()),
        ('-', t.day()),
        ('T', t.hour()),
        (':', t.minute()),
        (':', t.second()),
    ] {
        s.push(sep);
        push(&mut s, n, 2);
    }
    s.push('.');
    push(&mut s, t.nanosecond() % 1_000_000_000 / 100, 7);
    s
}

/// `Edm.DateTimeOffset` in UTC with a 7-digit fraction and `Z`.
pub fn fmt_offset(t: DateTime<Utc>) -> String {
    format!("{}Z", fmt7(t.naive_utc()))
}

/// The occurrence id for `master` at `original_start`.
pub fn occurrence_id(master: &str, original_start: DateTime<Utc>) -> String {
    format!("{master}_{}", original_start.timestamp())
}

/// Split an occurrence id into master id and original start.
pub fn parse_occurrence_id(id: &str) -> Option<(&str, DateTime<Utc>)> {
    let (master, secs) = id.rsplit_once('_')?;
    let t = DateTime::from_timestamp(secs.parse().ok()?, 0)?;
    Some((master, t))
}

/// How to render events for one request.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// `Prefer: outlook.timezone` (as given); `None` = UTC.
    pub tz_name: Option<String>,
    /// `Prefer: outlook.body-content-type="text"`.
    pub body_text: bool,
    /// The mailbox whose copy this is (for `isOrganizer` and `responseStatus`).
    pub owner: Arc<str>,
    /// `$expand=singleValueExtendedProperties(...)`: `Some(ids)` to include those (empty = all).
    pub expand_ext: Option<Vec<String>>,
}

impl View {
    /// A `dateTimeTimeZone` for an instant in the requested zone.
    pub fn dtz_out(&self, t: DateTime<Utc>, all_day: bool) -> DtzOut<'_> {
        match (&self.tz_name, all_day) {
            (Some(name), false) => {
                let zone = tz::resolve_or_utc(name);
                DtzOut {
                    date_time: fmt7(tz::utc_to_local(zone, t)),
                    time_zone: name,
                }
            }
            (Some(name), true) => DtzOut {
                date_time: fmt7(t.naive_utc()),
                time_zone: name,
            },
            (None, _) => DtzOut {
                date_time: fmt7(t.naive_utc()),
                time_zone: "UTC",
            },
        }
    }

    /// A `dateTimeTimeZone` as a `Value`.
    pub fn dtz(&self, t: DateTime<Utc>, all_day: bool) -> Value {
        serde_json::to_value(self.dtz_out(t, all_day)).unwrap_or(Value::Null)
    }
}

/// A body as Exchange returns it in HTML: a whole document (`<html><head><meta …></head><body>…`)
/// around HTML fragments, and text bodies escaped with `<br>` line breaks inside it. Bodies that
/// already are documents, and empty bodies, come back as stored.
pub fn html_document(body: &str, is_html: bool) -> Cow<'_, str> {
    const HEAD: &str = "<html>\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n</head>\r\n<body>\r\n";
    const TAIL: &str = "\r\n</body>\r\n</html>\r\n";
    if body.is_empty() {
        return Cow::Borrowed(body);
    }
    if is_html {
        let t = body.trim_start();
        let doc = t.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("<html"))
            || t.get(..9)
                .is_some_and(|p| p.eq_ignore_ascii_case("<!doctype"));
        if doc {
            return Cow::Borrowed(body);
        }
        return Cow::Owned(format!("{HEAD}{body}{TAIL}"));
    }
    let mut out = String::with_capacity(body.len() + HEAD.len() + TAIL.len() + 32);
    out.push_str(HEAD);
    out.push_str("<div class=\"PlainText\">");
    for c in body.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("<br>\r\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push_str("</div>");
    out.push_str(TAIL);
    Cow::Owned(out)
}

/// Plain text from HTML: tags dropped, common entities decoded, whitespace collapsed.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    let mut pending_space = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                pending_space = true;
            }
            _ if in_tag => {}
            c if c.is_whitespace() => pending_space = true,
            c => {
                if pending_space && !out.is_empty() {
                    out.push(' ');
                }
                pending_space = false;
                out.push(c);
            }
        }
    }
    if out.contains('&') {
        out = out
            .replace("&nbsp;", " ")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&");
    }
    out
}

impl Event {
    /// `W/"<changeKey>"`.
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.change_key)
    }

    /// Graph's `type`.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Single => "singleInstance",
            Kind::Master => "seriesMaster",
            Kind::Exception { .. } => "exception",
        }
    }

    /// True when `[start, end)` touches the window (zero-length events count at their start).
    pub fn overlaps(
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        ws: DateTime<Utc>,
        we: DateTime<Utc>,
    ) -> bool {
        start < we && (end > ws || (start == end && start >= ws))
    }

    /// Original starts of this master's occurrences (deleted ones excluded) that overlap the window.
    pub fn occurrences_in(&self, ws: DateTime<Utc>, we: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let Some(rec) = &self.recurrence else {
            return Vec::new();
        };
        let zone = tz::resolve_or_utc(&rec.time_zone);
        let dur = self.end - self.start;
        let (time, floating) = if self.all_day {
            (NaiveTime::MIN, true)
        } else {
            (tz::utc_to_local(zone, self.start).time(), false)
        };
        let until = tz::utc_to_local(zone, we).date() + Duration::days(1);
        let mut out = Vec::new();
        for d in rec.dates_until(until, 20_000) {
            let local = d.and_time(time);
            let s = if floating {
                local.and_utc()
            } else {
                tz::local_to_utc(zone, local)
            };
            if Self::overlaps(s, s + dur, ws, we) && !self.deleted_occurrences.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    /// True when this master has an occurrence (deleted or not) starting at `t`.
    pub fn has_occurrence_at(&self, t: DateTime<Utc>) -> bool {
        let lo = t - Duration::days(1);
        let hi = t + Duration::days(1);
        let saved = self.deleted_occurrences.contains(&t);
        saved || self.occurrences_in(lo, hi).contains(&t)
    }

    fn response_for(&self, owner: &str) -> &'static str {
        if self.organizer.address.eq_ignore_ascii_case(owner) {
            return "organizer";
        }
        match self
            .attendees
            .iter()
            .find(|a| a.email.address.eq_ignore_ascii_case(owner))
        {
            Some(a) if a.response == "none" => "notResponded",
            Some(a) => a.response,
            None => "none",
        }
    }

    /// The full Graph shape of this stored event (or, with `occurrence`, of one of its occurrences),
    /// borrowed and ready to serialize.
    pub fn out<'a>(&'a self, view: &'a View, occurrence: Option<DateTime<Utc>>) -> EventOut<'a> {
        let (id, start, end, type_name): (Cow<'a, str>, _, _, _) = match occurrence {
            Some(os) => (
                occurrence_id(&self.id, os).into(),
                os,
                os + (self.end - self.start),
                "occurrence",
            ),
            None => (
                self.id.as_str().into(),
                self.start,
                self.end,
                self.type_name(),
            ),
        };
        let series_master_id = match (&self.kind, occurrence) {
            (_, Some(_)) => Some(self.id.as_str()),
            (Kind::Exception { master, .. }, None) => Some(master.as_str()),
            _ => None,
        };
        let original_start = match (&self.kind, occurrence) {
            (_, Some(os)) => Some(fmt_offset(os)),
            (Kind::Exception { original_start, .. }, None) => Some(fmt_offset(*original_start)),
            _ => None,
        };
        let text: Cow<'a, str> = if self.body_html {
            Cow::Owned(html_to_text(&self.body))
        } else {
            Cow::Borrowed(&self.body)
        };
        let body_preview: String = text.chars().take(255).collect();
        let body = if view.body_text {
            BodyOut {
                content_type: "text",
                content: text,
            }
        } else {
            // HTML unless the client asks for text, whatever was written (as Exchange stores it).
            BodyOut {
                content_type: "html",
                content: html_document(&self.body, self.body_html),
            }
        };
        let loc = self.location.as_deref().unwrap_or("");
        let web_link = format!(
            "https://outlook.office365.com/owa/?itemid={}&exvsurl=1&path=/calendar/item",
            id.replace('_', "%5F")
        );
        let single_value_extended_properties = view.expand_ext.as_ref().and_then(|ids| {
            let props: Vec<ExtOut<'a>> = self
                .ext
                .iter()
                .filter(|(id, _)| ids.is_empty() || ids.iter().any(|w| w.eq_ignore_ascii_case(id)))
                .map(|(id, value)| ExtOut { id, value })
                .collect();
            (!props.is_empty()).then_some(props)
        });
        EventOut {
            odata_type: None,
            etag: self.etag(),
            id,
            created_date_time: fmt_offset(self.created),
            last_modified_date_time: fmt_offset(self.modified),
            change_key: &self.change_key,
            categories: &self.categories,
            transaction_id: self.transaction_id.as_deref(),
            original_start_time_zone: &self.start_tz,
            original_end_time_zone: &self.end_tz,
            ical_uid: &self.ical_uid,
            reminder_minutes_before_start: 15,
            is_reminder_on: true,
            has_attachments: false,
            subject: &self.subject,
            body_preview,
            importance: self.importance,
            sensitivity: self.sensitivity,
            is_all_day: self.all_day,
            is_cancelled: self.cancelled,
            is_organizer: self.organizer.address.eq_ignore_ascii_case(&view.owner),
            response_requested: true,
            series_master_id,
            show_as: self.show_as,
            type_name,
            web_link,
            online_meeting_url: None,
            is_online_meeting: false,
            online_meeting_provider: "unknown",
            allow_new_time_proposals: true,
            is_draft: false,
            hide_attendees: false,
            original_start,
            response_status: StatusOut {
                response: self.response_for(&view.owner),
                time: NO_TIME.into(),
            },
            body,
            start: view.dtz_out(start, self.all_day),
            end: view.dtz_out(end, self.all_day),
            location: LocationOut::new(loc),
            locations: if loc.is_empty() {
                Vec::new()
            } else {
                vec![LocationOut::new(loc)]
            },
            recurrence: match (&self.recurrence, occurrence) {
                (Some(r), None) => Some(r.to_json()),
                _ => None,
            },
            attendees: self
                .attendees
                .iter()
                .map(|a| AttendeeOut {
                    kind: a.kind,
                    status: StatusOut {
                        response: a.response,
                        time: a
                            .time
                            .map(fmt_offset)
                            .map(Cow::Owned)
                            .unwrap_or(Cow::Borrowed(NO_TIME)),
                    },
                    email_address: EmailOut {
                        name: &a.email.name,
                        address: &a.email.address,
                    },
                })
                .collect(),
            organizer: RecipientOut {
                email_address: EmailOut {
                    name: &self.organizer.name,
                    address: &self.organizer.address,
                },
            },
            online_meeting: None,
            single_value_extended_properties,
        }
    }

    /// The full Graph JSON of this stored event (or of one of its occurrences), as a `Value`.
    pub fn to_json(&self, view: &View, occurrence: Option<DateTime<Utc>>) -> Value {
        serde_json::to_value(self.out(view, occurrence)).unwrap_or(Value::Null)
    }

    /// The delta skeleton of one occurrence of this master.
    pub fn skeleton<'a>(
        &'a self,
        view: &'a View,
        original_start: DateTime<Utc>,
    ) -> SkeletonOut<'a> {
        SkeletonOut {
            odata_type: ODATA_EVENT,
            etag: self.etag(),
            id: occurrence_id(&self.id, original_start),
            series_master_id: &self.id,
            type_name: "occurrence",
            start: view.dtz_out(original_start, self.all_day),
            end: view.dtz_out(original_start + (self.end - self.start), self.all_day),
        }
    }

    /// The delta skeleton of one occurrence of this master, as a `Value`.
    pub fn skeleton_json(&self, view: &View, original_start: DateTime<Utc>) -> Value {
        serde_json::to_value(self.skeleton(view, original_start)).unwrap_or(Value::Null)
    }

    /// True when this event or occurrence's extended properties match a `$filter=…/Any(…)`.
    pub fn matches_ext(&self, id: &str, value: Option<&str>) -> bool {
        self.ext
            .iter()
            .any(|(i, v)| i.eq_ignore_ascii_case(id) && value.is_none_or(|want| want == v))
    }
}

/// `@odata.type` of events in delta responses.
pub const ODATA_EVENT: &str = "#microsoft.graph.event";
const NO_TIME: &str = "0001-01-01T00:00:00Z";

/// A `@removed` entry.
#[derive(Serialize)]
pub struct RemovedOut<'a> {
    #[serde(rename = "@odata.type")]
    pub odata_type: &'static str,
    pub id: &'a str,
    #[serde(rename = "@removed")]
    pub removed: Reason,
}

/// `{"reason": "deleted"}`.
#[derive(Serialize)]
pub struct Reason {
    pub reason: &'static str,
}

/// The `@removed` entry for `id`.
pub fn removed(id: &str) -> RemovedOut<'_> {
    RemovedOut {
        odata_type: ODATA_EVENT,
        id,
        removed: Reason { reason: "deleted" },
    }
}

/// A `@removed` entry as a `Value`.
pub fn removed_json(id: &str) -> Value {
    serde_json::to_value(removed(id)).unwrap_or(Value::Null)
}

/// `dateTimeTimeZone`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DtzOut<'a> {
    pub date_time: String,
    pub time_zone: &'a str,
}

/// `itemBody`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BodyOut<'a> {
    pub content_type: &'static str,
    pub content: Cow<'a, str>,
}

/// `emailAddress`.
#[derive(Serialize)]
pub struct EmailOut<'a> {
    pub name: &'a str,
    pub address: &'a str,
}

/// `recipient`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientOut<'a> {
    pub email_address: EmailOut<'a>,
}

/// `responseStatus`.
#[derive(Serialize)]
pub struct StatusOut {
    pub response: &'static str,
    pub time: Cow<'static, str>,
}

/// `attendee`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttendeeOut<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub status: StatusOut,
    pub email_address: EmailOut<'a>,
}

/// `location` (only `displayName` is modelled).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocationOut<'a> {
    pub display_name: &'a str,
    pub location_type: &'static str,
    pub unique_id_type: &'static str,
    pub address: Map<String, Value>,
    pub coordinates: Map<String, Value>,
}

impl<'a> LocationOut<'a> {
    fn new(name: &'a str) -> Self {
        LocationOut {
            display_name: name,
            location_type: "default",
            unique_id_type: "unknown",
            address: Map::new(),
            coordinates: Map::new(),
        }
    }
}

/// `singleValueLegacyExtendedProperty`.
#[derive(Serialize)]
pub struct ExtOut<'a> {
    pub id: &'a str,
    pub value: &'a str,
}

/// An occurrence skeleton in delta.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SkeletonOut<'a> {
    #[serde(rename = "@odata.type")]
    pub odata_type: &'static str,
    #[serde(rename = "@odata.etag")]
    pub etag: String,
    pub id: String,
    pub series_master_id: &'a str,
    #[serde(rename = "type")]
    pub type_name: &'static str,
    pub start: DtzOut<'a>,
    pub end: DtzOut<'a>,
}

/// The full event, in Graph's property order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventOut<'a> {
    #[serde(rename = "@odata.type", skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<&'static str>,
    #[serde(rename = "@odata.etag")]
    pub etag: String,
    pub id: Cow<'a, str>,
    pub created_date_time: String,
    pub last_modified_date_time: String,
    pub change_key: &'a str,
    pub categories: &'a [String],
    pub transaction_id: Option<&'a str>,
    pub original_start_time_zone: &'a str,
    pub original_end_time_zone: &'a str,
    #[serde(rename = "iCalUId")]
    pub ical_uid: &'a str,
    pub reminder_minutes_before_start: i32,
    pub is_reminder_on: bool,
    pub has_attachments: bool,
    pub subject: &'a str,
    pub body_preview: String,
    pub importance: &'static str,
    pub sensitivity: &'static str,
    pub is_all_day: bool,
    pub is_cancelled: bool,
    pub is_organizer: bool,
    pub response_requested: bool,
    pub series_master_id: Option<&'a str>,
    pub show_as: &'static str,
    #[serde(rename = "type")]
    pub type_name: &'static str,
    pub web_link: String,
    pub online_meeting_url: Option<&'a str>,
    pub is_online_meeting: bool,
    pub online_meeting_provider: &'static str,
    pub allow_new_time_proposals: bool,
    pub is_draft: bool,
    pub hide_attendees: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_start: Option<String>,
    pub response_status: StatusOut,
    pub body: BodyOut<'a>,
    pub start: DtzOut<'a>,
    pub end: DtzOut<'a>,
    pub location: LocationOut<'a>,
    pub locations: Vec<LocationOut<'a>>,
    pub recurrence: Option<Value>,
    pub attendees: Vec<AttendeeOut<'a>>,
    pub organizer: RecipientOut<'a>,
    pub online_meeting: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub single_value_extended_properties: Option<Vec<ExtOut<'a>>>,
}

/// Parse a `dateTimeTimeZone` (`{"dateTime","timeZone"}`), or the scenario's relative forms
/// `{"days": n, "time": "HH:MM", "timeZone"?}` (local date of `now` + n days) and `{"minutes": n}`
/// (now + n minutes). Returns the instant and the zone name to record.
pub fn parse_dtz(
    v: &Value,
    now: DateTime<Utc>,
    what: &str,
) -> Result<(DateTime<Utc>, Arc<str>), String> {
    let zone_name = v.get("timeZone").and_then(Value::as_str).unwrap_or("UTC");
    let zone = tz::resolve_or_utc(zone_name);
    if let Some(mins) = v.get("minutes").and_then(Value::as_i64) {
        return Ok((now + Duration::minutes(mins), zone_name.into()));
    }
    if let Some(days) = v.get("days").and_then(Value::as_i64) {
        let time = v.get("time").and_then(Value::as_str).unwrap_or("00:00");
        let time = NaiveTime::parse_from_str(time, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(time, "%H:%M:%S"))
            .map_err(|e| format!("{what}.time: {e}"))?;
        let date = tz::utc_to_local(zone, now).date() + Duration::days(days);
        return Ok((
            tz::local_to_utc(zone, date.and_time(time)),
            zone_name.into(),
        ));
    }
    let s = v
        .get("dateTime")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{what}: expected {{dateTime, timeZone}} or {{days, time}}"))?;
    Ok((
        parse_local_or_offset(s, zone).map_err(|e| format!("{what}.dateTime: {e}"))?,
        zone_name.into(),
    ))
}

/// An ISO 8601 date-time: with an offset or `Z` it is absolute, else local in `zone`.
pub fn parse_local_or_offset(s: &str, zone: chrono_tz::Tz) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(tz::local_to_utc(zone, t));
        }
        if f == "%Y-%m-%d"
            && let Ok(d) = NaiveDate::parse_from_str(s, f)
        {
            return Ok(tz::local_to_utc(zone, d.and_time(NaiveTime::MIN)));
        }
    }
    Err(format!("invalid date-time {s:?}"))
}

/// What a PATCH changed, for the notification log.
#[derive(Debug, Default, Clone, Copy)]
pub struct PatchEffect {
    /// Subject, body, times, location, attendees or recurrence changed (attendees get mail).
    pub notifying: bool,
    /// Anything at all (including extended properties only).
    pub changed: bool,
}

/// Apply a Graph PATCH body to `ev`, changing only the supplied properties.
pub fn apply_patch(
    ev: &mut Event,
    patch: &Value,
    now: DateTime<Utc>,
) -> Result<PatchEffect, String> {
    let obj = patch
        .as_object()
        .ok_or("request body must be a JSON object")?;
    let mut fx = PatchEffect::default();
    // Validate everything first, so a bad property leaves the event untouched.
    let mut next = ev.clone();
    for (k, v) in obj {
        match k.as_str() {
            "subject" => {
                next.subject = v.as_str().ok_or("subject: expected a string")?.into();
                fx.notifying = true;
            }
            "body" => {
                let content = v
                    .get("content")
                    .and_then(Value::as_str)
                    .ok_or("body.content: expected a string")?;
                let ct = v
                    .get("contentType")
                    .and_then(Value::as_str)
                    .unwrap_or("html");
                next.body_html = match ct {
                    "html" => true,
                    "text" => false,
                    other => return Err(format!("body.contentType: invalid value {other:?}")),
                };
                next.body = content.into();
                fx.notifying = true;
            }
            "start" | "end" => {
                let (t, z) = parse_dtz(v, now, k)?;
                if k == "start" {
                    next.start = t;
                    next.start_tz = z;
                } else {
                    next.end = t;
                    next.end_tz = z;
                }
                fx.notifying = true;
            }
            "isAllDay" => next.all_day = v.as_bool().ok_or("isAllDay: expected a boolean")?,
            "location" => {
                next.location = v
                    .get("displayName")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(Into::into);
                fx.notifying = true;
            }
            "attendees" => {
                let arr = v.as_array().ok_or("attendees: expected an array")?;
                if arr.len() > 500 {
                    return Err("attendees: at most 500".into());
                }
                next.attendees = arr
                    .iter()
                    .enumerate()
                    .map(|(i, a)| Attendee::parse(a, &format!("attendees[{i}]")))
                    .collect::<Result<_, _>>()?;
                fx.notifying = true;
            }
            "showAs" => next.show_as = pick(v.as_str().unwrap_or(""), SHOW_AS, "showAs")?,
            "sensitivity" => {
                next.sensitivity = pick(v.as_str().unwrap_or(""), SENSITIVITY, "sensitivity")?
            }
            "importance" => {
                next.importance = pick(v.as_str().unwrap_or(""), IMPORTANCE, "importance")?
            }
            "categories" => {
                next.categories = v
                    .as_array()
                    .ok_or("categories: expected an array")?
                    .iter()
                    .map(|c| {
                        c.as_str()
                            .map(String::from)
                            .ok_or("categories: expected strings")
                    })
                    .collect::<Result<_, _>>()?;
            }
            "recurrence" => {
                if ev.kind != Kind::Master {
                    return Err("recurrence: only a series master has a recurrence".into());
                }
                let zone = tz::resolve_or_utc(&next.start_tz);
                let start_date = tz::utc_to_local(zone, next.start).date();
                next.recurrence = Some(Box::new(Recurrence::parse(v, start_date, &next.start_tz)?));
                fx.notifying = true;
            }
            "singleValueExtendedProperties" => {
                for (i, p) in v
                    .as_array()
                    .ok_or("singleValueExtendedProperties: expected an array")?
                    .iter()
                    .enumerate()
                {
                    let id = p.get("id").and_then(Value::as_str).ok_or_else(|| {
                        format!("singleValueExtendedProperties[{i}].id: expected a string")
                    })?;
                    let value = p.get("value").and_then(Value::as_str).ok_or_else(|| {
                        format!("singleValueExtendedProperties[{i}].value: expected a string")
                    })?;
                    match next
                        .ext
                        .iter_mut()
                        .find(|(e, _)| e.eq_ignore_ascii_case(id))
                    {
                        Some(slot) => slot.1 = value.to_string(),
                        None => next.ext.push((id.to_string(), value.to_string())),
                    }
                }
            }
            "transactionId" if ev.transaction_id.as_deref() != v.as_str() => {
                return Err("transactionId: immutable once set".into());
            }
            // Read-only or unknown properties: tolerated (event is an open type), ignored.
            _ => {}
        }
    }
    if next.end < next.start {
        return Err("end: must not be before start".into());
    }
    fx.changed = true;
    *ev = next;
    Ok(fx)
}

/// One mailbox (one user's primary calendar).
#[derive(Debug, Clone)]
pub struct Mailbox {
    /// The user's object id (a GUID).
    pub id: String,
    pub address: Arc<str>,
    pub name: Arc<str>,
    /// `mailboxSettings.timeZone` (informational; used by getSchedule defaults).
    pub time_zone: Arc<str>,
    pub events: HashMap<String, Event>,
    /// Change sequence; every change to an event takes the next number.
    pub seq: u64,
    /// Deleted event ids with the sequence number of their deletion.
    pub tombstones: Vec<(String, u64)>,
    /// transactionId → (event id, fingerprint of the creating request).
    pub transactions: HashMap<String, (String, u64)>,
    /// Occurrence ids deleted without a delta signal (knob `silent_occurrence_delete_fraction`).
    pub silent: std::collections::HashSet<String>,
}

impl Mailbox {
    /// An empty mailbox.
    pub fn new(id: String, address: &str, name: &str, time_zone: &str) -> Self {
        Mailbox {
            id,
            address: address.into(),
            name: name.into(),
            time_zone: time_zone.into(),
            events: HashMap::new(),
            seq: 0,
            tombstones: Vec::new(),
            transactions: HashMap::new(),
            silent: Default::default(),
        }
    }

    /// Record a change to `ev`: new version, changeKey and modification time.
    pub fn touch(&mut self, ev: &mut Event, change_key: String, now: DateTime<Utc>) {
        self.seq += 1;
        ev.version = self.seq;
        ev.change_key = change_key;
        ev.modified = now;
    }

    /// Record the deletion of `id`.
    pub fn tombstone(&mut self, id: String) {
        self.seq += 1;
        self.tombstones.push((id, self.seq));
    }

    /// Exceptions of master `id`, by original start.
    pub fn exceptions_of(&self, id: &str) -> HashMap<DateTime<Utc>, &Event> {
        self.events
            .values()
            .filter_map(|e| match &e.kind {
                Kind::Exception {
                    master,
                    original_start,
                } if master == id => Some((*original_start, e)),
                _ => None,
            })
            .collect()
    }

    /// The owner as an email address.
    pub fn email(&self) -> Email {
        Email {
            name: self.name.clone(),
            address: self.address.clone(),
        }
    }
}

/// Build an event from a scenario description (or a POST body; both are Graph-shaped, the
/// scenario also accepts relative times, `duration_minutes` and attendee shorthand).
pub fn event_from_json(
    v: &Value,
    owner: &Mailbox,
    now: DateTime<Utc>,
    id: String,
    ical_uid: String,
    change_key: String,
) -> Result<Event, String> {
    let start_v = v.get("start").ok_or("start: required")?;
    let (start, start_tz) = parse_dtz(start_v, now, "start")?;
    let (end, end_tz) = match (
        v.get("end"),
        v.get("duration_minutes").and_then(Value::as_i64),
    ) {
        (Some(e), _) => parse_dtz(e, now, "end")?,
        (None, Some(m)) => (start + Duration::minutes(m), start_tz.clone()),
        (None, None) => return Err("end: required (or duration_minutes)".into()),
    };
    if end < start {
        return Err("end: must not be before start".into());
    }
    let all_day = v.get("isAllDay").and_then(Value::as_bool).unwrap_or(false);
    let (start, end) = if all_day {
        // Store all-day events as floating UTC midnights of their local dates.
        let zone = tz::resolve_or_utc(&start_tz);
        let sd = tz::utc_to_local(zone, start).date();
        let ed = tz::utc_to_local(zone, end)
            .date()
            .max(sd + Duration::days(1));
        (
            sd.and_time(NaiveTime::MIN).and_utc(),
            ed.and_time(NaiveTime::MIN).and_utc(),
        )
    } else {
        (start, end)
    };
    let organizer = match v.get("organizer") {
        Some(o) => Email::parse(o, "organizer")?,
        None => owner.email(),
    };
    let attendees = match v.get("attendees") {
        Some(Value::Array(a)) => {
            if a.len() > 500 {
                return Err("attendees: at most 500".into());
            }
            a.iter()
                .enumerate()
                .map(|(i, x)| Attendee::parse(x, &format!("attendees[{i}]")))
                .collect::<Result<_, _>>()?
        }
        Some(_) => return Err("attendees: expected an array".into()),
        None => Vec::new(),
    };
    let (body, body_html) = match v.get("body") {
        Some(Value::String(s)) => (s.as_str().into(), true),
        Some(b) => {
            let ct = b
                .get("contentType")
                .and_then(Value::as_str)
                .unwrap_or("html");
            if ct != "html" && ct != "text" {
                return Err(format!("body.contentType: invalid value {ct:?}"));
            }
            (
                b.get("content")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .into(),
                ct == "html",
            )
        }
        None => ("".into(), true),
    };
    let location = match v.get("location") {
        Some(Value::String(s)) => Some(s.as_str().into()),
        Some(l) => l
            .get("displayName")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(Into::into),
        None => None,
    };
    let recurrence = match v.get("recurrence") {
        Some(Value::Null) | None => None,
        Some(r) => {
            let zone = tz::resolve_or_utc(&start_tz);
            let date = tz::utc_to_local(zone, start).date();
            Some(Box::new(Recurrence::parse(r, date, &start_tz)?))
        }
    };
    let str_enum =
        |key: &str, allowed: &[&'static str], dflt: &'static str| -> Result<&'static str, String> {
            match v.get(key).and_then(Value::as_str) {
                Some(s) => pick(s, allowed, key),
                None => Ok(dflt),
            }
        };
    let mut ext = Vec::new();
    if let Some(props) = v
        .get("singleValueExtendedProperties")
        .and_then(Value::as_array)
    {
        for p in props {
            if let (Some(i), Some(val)) = (
                p.get("id").and_then(Value::as_str),
                p.get("value").and_then(Value::as_str),
            ) {
                ext.push((i.to_string(), val.to_string()));
            }
        }
    }
    let categories = v
        .get("categories")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    Ok(Event {
        id,
        ical_uid,
        change_key,
        version: 0,
        created: now,
        modified: now,
        subject: v
            .get("subject")
            .and_then(Value::as_str)
            .unwrap_or("")
            .into(),
        body,
        body_html,
        start,
        end,
        start_tz,
        end_tz,
        all_day,
        cancelled: v
            .get("isCancelled")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        organizer,
        attendees,
        show_as: str_enum("showAs", SHOW_AS, "busy")?,
        sensitivity: str_enum("sensitivity", SENSITIVITY, "normal")?,
        importance: str_enum("importance", IMPORTANCE, "normal")?,
        location,
        categories,
        kind: if recurrence.is_some() {
            Kind::Master
        } else {
            Kind::Single
        },
        recurrence,
        transaction_id: v
            .get("transactionId")
            .and_then(Value::as_str)
            .map(String::from),
        ext,
        deleted_occurrences: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_digit_fractions() {
        let t = NaiveDate::from_ymd_opt(2016, 12, 9)
            .and_then(|d| d.and_hms_milli_opt(20, 30, 0, 5))
            .unwrap_or_default();
        assert_eq!(fmt7(t), "2016-12-09T20:30:00.0050000");
        assert_eq!(fmt_offset(t.and_utc()), "2016-12-09T20:30:00.0050000Z");
    }

    #[test]
    fn occurrence_ids_round_trip() {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let id = occurrence_id("AAMkAGabc", t);
        assert_eq!(parse_occurrence_id(&id), Some(("AAMkAGabc", t)));
        assert_eq!(parse_occurrence_id("AAMkAGabc"), None);
    }

    #[test]
    fn bodies_come_back_as_html_documents() {
        let doc = html_document("<p>agenda</p>", true);
        assert!(doc.starts_with("<html>\r\n<head>\r\n<meta http-equiv=\"Content-Type\""));
        assert!(doc.contains("<body>\r\n<p>agenda</p>\r\n</body>"));
        assert_eq!(
            html_document("<html><body>x</body></html>", true),
            "<html><body>x</body></html>"
        );
        assert_eq!(html_document("", false), "");
        let text = html_document("a < b\nc & d", false);
        assert!(
            text.contains("<div class=\"PlainText\">a &lt; b<br>\r\nc &amp; d</div>"),
            "{text}"
        );
    }

    #[test]
    fn html_to_text_strips_tags() {
        assert_eq!(
            html_to_text("<html><body><p>Hi&nbsp;there</p><p>x &amp; y</p></body></html>"),
            "Hi there x & y"
        );
    }
}
