//! The mirror: what oneonone keeps of each event of a calendar between syncs, in the account's
//! `AccountState` (one entry per event id, committed together with the sync token that covers it).
//! Only the fields conversion needs are kept, as a version byte plus postcard bytes; an entry that
//! does not decode (another version) makes the calendar sync from scratch.
//!
//! [`Change`] is what one listed item does to the mirror: an upsert, or a deletion. A cancelled
//! item is a deletion unless it is an exception of a series (it has a `recurringEventId`, or its id
//! is `{seriesId}_{stamp}` of a series in the mirror: Google's bare tombstones): then it is kept as
//! the cancellation of that occurrence.
use super::wire;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The format version of a mirror entry.
const VERSION: u8 = 1;

/// One event as the mirror keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub cancelled: bool,
    pub etag: String,
    pub uid: String,
    pub summary: String,
    pub description: String,
    pub organizer: Option<String>,
    pub attendees: Vec<StoredAttendee>,
    pub attendees_omitted: bool,
    pub start: Option<When>,
    pub end: Option<When>,
    /// `RRULE`/`EXRULE`/`RDATE`/`EXDATE` lines of a series master.
    pub recurrence: Vec<String>,
    /// The series of an exception.
    pub recurring_event_id: Option<String>,
    pub original_start: Option<When>,
    /// A working-location or birthday entry: never a meeting, never busy time.
    pub ignored: bool,
}

/// An attendee as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAttendee {
    /// Lower-case.
    pub email: String,
    pub resource: bool,
    pub optional: bool,
    pub response: Answer,
}

/// `responseStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    Accepted,
    Tentative,
    Declined,
    NeedsAction,
}

/// A start or end: an all-day date, or an instant with the IANA zone it was given in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum When {
    Date(NaiveDate),
    At {
        #[serde(with = "chrono::serde::ts_seconds")]
        utc: DateTime<Utc>,
        zone: Option<String>,
    },
}

impl When {
    /// Read an `EventDateTime`.
    pub fn parse(t: &wire::EventTime, cal_tz: Tz) -> Result<When, String> {
        if let Some(d) = &t.date_time {
            let zone = t.time_zone.clone().filter(|z| !z.is_empty());
            let utc = match DateTime::parse_from_rfc3339(d) {
                Ok(v) => v.with_timezone(&Utc),
                Err(_) => {
                    // A local time: in its own zone, else the calendar's.
                    let n = NaiveDateTime::parse_from_str(d, "%Y-%m-%dT%H:%M:%S")
                        .map_err(|_| format!("unreadable dateTime {d:?}"))?;
                    let tz = zone
                        .as_deref()
                        .and_then(|z| z.parse::<Tz>().ok())
                        .unwrap_or(cal_tz);
                    super::recur::place(tz, n)
                }
            };
            return Ok(When::At { utc, zone });
        }
        if let Some(d) = &t.date {
            return NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map(When::Date)
                .map_err(|_| format!("unreadable date {d:?}"));
        }
        Err("a time with neither date nor dateTime".into())
    }

    /// The instant (an all-day date: midnight in `cal_tz`).
    pub fn instant(&self, cal_tz: Tz) -> DateTime<Utc> {
        match self {
            When::At { utc, .. } => *utc,
            When::Date(d) => super::recur::place(cal_tz, d.and_time(chrono::NaiveTime::MIN)),
        }
    }

    /// The zone it names (all-day dates and zone-less times: none).
    pub fn zone(&self) -> Option<Tz> {
        match self {
            When::At { zone: Some(z), .. } => z.parse().ok(),
            _ => None,
        }
    }
}

/// Encode an entry for the mirror.
pub fn encode(e: &StoredEvent) -> Vec<u8> {
    let mut out = vec![VERSION];
    // Serialising plain owned data into a Vec cannot fail; an empty entry would not decode and
    // would make the calendar sync from scratch, which is safe.
    if let Ok(bytes) = postcard::to_stdvec(e) {
        out.extend(bytes);
    }
    out
}

/// Decode a mirror entry; `None` when it is not of this version or damaged.
pub fn decode(bytes: &[u8]) -> Option<StoredEvent> {
    let (&v, rest) = bytes.split_first()?;
    if v != VERSION {
        return None;
    }
    postcard::from_bytes(rest).ok()
}

/// What one listed item does to the mirror.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Upsert(String, Box<StoredEvent>),
    /// Remove the event (and, for a series master, its exceptions).
    Delete(String),
}

/// Split an instance id `{series}_{YYYYMMDDTHHMMSSZ}` / `{series}_{YYYYMMDD}`.
pub fn parse_instance_id(id: &str) -> Option<(&str, When)> {
    let (series, stamp) = id.rsplit_once('_')?;
    if series.is_empty() {
        return None;
    }
    if let Some(t) = stamp.strip_suffix('Z')
        && let Ok(n) = NaiveDateTime::parse_from_str(t, "%Y%m%dT%H%M%S")
    {
        return Some((
            series,
            When::At {
                utc: n.and_utc(),
                zone: None,
            },
        ));
    }
    let d = NaiveDate::parse_from_str(stamp, "%Y%m%d").ok()?;
    (stamp.len() == 8).then_some((series, When::Date(d)))
}

/// The instance id of the occurrence of `series` originally at `original`.
pub fn instance_id(series: &str, original: &When) -> String {
    match original {
        When::Date(d) => format!("{series}_{}", d.format("%Y%m%d")),
        When::At { utc, .. } => format!("{series}_{}", utc.format("%Y%m%dT%H%M%SZ")),
    }
}

/// Turn one listed item into a mirror change. `is_master` says whether an id is a series master in
/// the mirror (for bare tombstones of instances).
pub fn change(
    ev: wire::Event,
    cal_tz: Tz,
    is_master: impl Fn(&str) -> bool,
) -> Result<Change, String> {
    if ev.id.is_empty() {
        return Err("an event without an id".into());
    }
    let cancelled = ev.status.as_deref() == Some("cancelled");
    if cancelled {
        let series = match (&ev.recurring_event_id, &ev.original_start_time) {
            (Some(s), Some(t)) => Some((s.clone(), When::parse(t, cal_tz)?)),
            _ => parse_instance_id(&ev.id)
                .filter(|(s, _)| ev.recurring_event_id.as_deref() == Some(*s) || is_master(s))
                .map(|(s, w)| (s.to_string(), w)),
        };
        let Some((series, original)) = series else {
            return Ok(Change::Delete(ev.id));
        };
        let stub = StoredEvent {
            cancelled: true,
            etag: ev.etag.unwrap_or_default(),
            uid: ev.ical_uid.unwrap_or_default(),
            summary: String::new(),
            description: String::new(),
            organizer: None,
            attendees: Vec::new(),
            attendees_omitted: false,
            start: None,
            end: None,
            recurrence: Vec::new(),
            recurring_event_id: Some(series),
            original_start: Some(original),
            ignored: false,
        };
        return Ok(Change::Upsert(ev.id, Box::new(stub)));
    }
    let stored = stored(&ev, cal_tz)?;
    Ok(Change::Upsert(ev.id, Box::new(stored)))
}

/// The stored form of a live event.
fn stored(ev: &wire::Event, cal_tz: Tz) -> Result<StoredEvent, String> {
    let start = ev
        .start
        .as_ref()
        .ok_or("an event without a start")
        .and_then(|t| When::parse(t, cal_tz).map_err(|_| "an unreadable start"))?;
    let end = ev
        .end
        .as_ref()
        .ok_or("an event without an end")
        .and_then(|t| When::parse(t, cal_tz).map_err(|_| "an unreadable end"))?;
    let original_start = ev
        .original_start_time
        .as_ref()
        .map(|t| When::parse(t, cal_tz))
        .transpose()?;
    let attendees = ev
        .attendees
        .iter()
        .filter_map(|a| {
            let email = a.email.as_deref()?.trim().to_ascii_lowercase();
            Some(StoredAttendee {
                email,
                resource: a.resource,
                optional: a.optional,
                response: match a.response_status.as_deref() {
                    Some("accepted") => Answer::Accepted,
                    Some("declined") => Answer::Declined,
                    Some("tentative") => Answer::Tentative,
                    _ => Answer::NeedsAction,
                },
            })
        })
        .collect();
    Ok(StoredEvent {
        cancelled: false,
        etag: ev.etag.clone().unwrap_or_default(),
        uid: ev.ical_uid.clone().unwrap_or_else(|| ev.id.clone()),
        summary: ev.summary.clone().unwrap_or_default(),
        description: ev.description.clone().unwrap_or_default(),
        organizer: ev
            .organizer
            .as_ref()
            .and_then(|o| o.email.as_deref())
            .map(|e| e.trim().to_ascii_lowercase()),
        attendees,
        attendees_omitted: ev.attendees_omitted,
        start: Some(start),
        end: Some(end),
        recurrence: ev.recurrence.clone(),
        recurring_event_id: ev.recurring_event_id.clone(),
        original_start,
        ignored: matches!(
            ev.event_type.as_deref(),
            Some("workingLocation" | "birthday")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(json: &str) -> wire::Event {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn entries_roundtrip_and_other_versions_do_not_decode() {
        let c = change(
            ev(
                r#"{"id":"e1","etag":"\"1\"","iCalUID":"e1@google.com","summary":"1:1",
                "organizer":{"email":"Alice@Acme.test"},
                "attendees":[{"email":"alice@acme.test","responseStatus":"accepted"},
                             {"email":"room@resource.acme.test","resource":true}],
                "start":{"dateTime":"2026-12-14T10:00:00+01:00","timeZone":"Europe/Berlin"},
                "end":{"dateTime":"2026-12-14T10:30:00+01:00","timeZone":"Europe/Berlin"}}"#,
            ),
            Tz::UTC,
            |_| false,
        );
        let Ok(Change::Upsert(id, e)) = c else {
            panic!("{c:?}")
        };
        assert_eq!(id, "e1");
        assert_eq!(e.organizer.as_deref(), Some("alice@acme.test"));
        assert_eq!(e.attendees.len(), 2);
        let bytes = encode(&e);
        assert_eq!(decode(&bytes).as_ref(), Some(&*e));
        let mut other = bytes.clone();
        other[0] = 99;
        assert_eq!(decode(&other), None);
        assert_eq!(decode(&[]), None);
    }

    #[test]
    fn cancelled_items_are_deletions_or_occurrence_cancellations() {
        let bare = ev(r#"{"id":"series1_20261124T090000Z","status":"cancelled"}"#);
        let c = change(bare, Tz::UTC, |s| s == "series1");
        assert!(
            matches!(&c, Ok(Change::Upsert(id, e)) if id == "series1_20261124T090000Z"
                && e.cancelled && e.recurring_event_id.as_deref() == Some("series1")),
            "{c:?}"
        );
        let unknown_series = ev(r#"{"id":"other_20261124T090000Z","status":"cancelled"}"#);
        assert_eq!(
            change(unknown_series, Tz::UTC, |s| s == "series1"),
            Ok(Change::Delete("other_20261124T090000Z".into()))
        );
        let deleted = ev(r#"{"id":"single","status":"cancelled"}"#);
        assert_eq!(
            change(deleted, Tz::UTC, |_| true),
            Ok(Change::Delete("single".into()))
        );
        let stub = ev(
            r#"{"id":"s_20261201","status":"cancelled","recurringEventId":"s",
            "originalStartTime":{"date":"2026-12-01"}}"#,
        );
        assert!(matches!(
            change(stub, Tz::UTC, |_| false),
            Ok(Change::Upsert(..))
        ));
    }

    #[test]
    fn instance_ids_roundtrip() {
        let w = When::At {
            utc: DateTime::parse_from_rfc3339("2026-11-24T09:00:00Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            zone: None,
        };
        let id = instance_id("abc", &w);
        assert_eq!(id, "abc_20261124T090000Z");
        assert_eq!(parse_instance_id(&id), Some(("abc", w)));
        let d = When::Date(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default());
        assert_eq!(instance_id("abc", &d), "abc_20261201");
        assert_eq!(parse_instance_id("abc_20261201"), Some(("abc", d)));
        assert_eq!(parse_instance_id("plain"), None);
        assert_eq!(parse_instance_id("x_notastamp"), None);
    }

    #[test]
    fn malformed_events_are_errors_not_panics() {
        assert!(change(ev(r#"{"id":"x"}"#), Tz::UTC, |_| false).is_err());
        assert!(
            change(
                ev(r#"{"id":"x","start":{"dateTime":"tomorrow"},"end":{"date":"2026-01-01"}}"#),
                Tz::UTC,
                |_| false
            )
            .is_err()
        );
        assert!(change(ev(r#"{"id":""}"#), Tz::UTC, |_| false).is_err());
    }
}
