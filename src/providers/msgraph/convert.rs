//! From Graph's JSON to the provider's records ([`parse_item`], [`master_rec`]), and from the
//! records to the planner's `Instance`s and `SeriesMaster`s ([`add_mailbox`]): the owner is the
//! mailbox's person, `uid` the iCalUId (a series' for its occurrences and exceptions), `version`
//! the changeKey, `source` the series master's or the single event's id, the description the
//! body's text (`html::to_text`). Occurrences of one series share their master's text.
use super::html;
use super::mirror::{
    EventRec, MailboxState, MasterRec, OccRec, People, Person, ProblemRec, Relevance, RhythmRec,
};
use super::wire;
use super::zones;
use crate::domain::{Attendee, Instance, ParticipantKind, Response, Rhythm, SeriesMaster};
use crate::providers::{CalendarRead, ProblemKind, Snapshot, SourceProblem, Window};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// One delta item, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Removed,
    /// A single event or an exception that concerns a pair.
    Event(EventRec),
    /// An occurrence skeleton (whether it concerns a pair is its master's to say).
    Occurrence(OccRec),
    /// Concerns no pair.
    Ignored,
    Bad(ProblemRec),
}

fn response_code(r: Option<&str>) -> Option<u8> {
    Some(match r? {
        "accepted" | "organizer" => 1,
        "tentativelyAccepted" => 2,
        "declined" => 3,
        _ => 0,
    })
}

fn people(e: &wire::Event) -> People {
    let email = |a: &wire::EmailAddress| {
        a.address
            .as_deref()
            .map(|s| s.trim().to_lowercase())
            .unwrap_or_default()
    };
    People {
        organizer: e
            .organizer
            .as_ref()
            .map(|o| email(&o.email_address))
            .filter(|s| !s.is_empty()),
        attendees: e
            .attendees
            .iter()
            .flatten()
            .map(|a| Person {
                email: email(&a.email_address),
                resource: a.kind.as_deref() == Some("resource"),
                optional: a.kind.as_deref() == Some("optional"),
                response: response_code(a.status.as_ref().and_then(|s| s.response.as_deref()))
                    .unwrap_or(0),
            })
            .collect(),
        own_response: response_code(
            e.response_status
                .as_ref()
                .and_then(|s| s.response.as_deref()),
        ),
    }
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn time(d: &Option<wire::DateTimeTimeZone>, what: &str) -> Result<i64, String> {
    let d = d.as_ref().ok_or_else(|| format!("no {what}"))?;
    zones::parse_date_time(&d.date_time, &d.time_zone)
        .map(millis)
        .map_err(|e| format!("{what}: {e}"))
}

fn body_html(e: &wire::Event) -> String {
    match &e.body {
        Some(b) if b.content_type.eq_ignore_ascii_case("text") => html::text_to_html(&b.content),
        Some(b) => b.content.clone(),
        None => String::new(),
    }
}

/// A full event (single or exception) as a record.
pub fn event_rec(e: &wire::Event) -> Result<EventRec, String> {
    let start = time(&e.start, "start")?;
    let end = time(&e.end, "end")?;
    let original_start = match &e.original_start {
        Some(s) => Some(
            zones::parse_offset(s)
                .map(millis)
                .map_err(|x| format!("originalStart: {x}"))?,
        ),
        None => None,
    };
    Ok(EventRec {
        master: e.series_master_id.clone(),
        original_start,
        version: e.version().ok_or("no changeKey")?,
        start,
        end: end.max(start),
        all_day: e.is_all_day.unwrap_or(false),
        cancelled: e.is_cancelled.unwrap_or(false),
        subject: e.subject.clone().unwrap_or_default(),
        people: people(e),
        ical_uid: e
            .ical_uid
            .clone()
            .or_else(|| e.id.clone())
            .unwrap_or_default(),
        body: body_html(e),
    })
}

fn rhythm(r: &Option<wire::Recurrence>) -> RhythmRec {
    let Some(p) = r.as_ref().map(|r| &r.pattern) else {
        return RhythmRec::Other(String::new());
    };
    let n = p.interval.max(1);
    match p.kind.as_str() {
        "weekly" => RhythmRec::Weeks(n),
        "daily" if n % 7 == 0 => RhythmRec::Weeks(n / 7),
        "absoluteMonthly" | "relativeMonthly" => RhythmRec::Months(n),
        "daily" => RhythmRec::Other(if n == 1 {
            "daily".into()
        } else {
            format!("daily (every {n})")
        }),
        "absoluteYearly" | "relativeYearly" => RhythmRec::Other("yearly".into()),
        other => RhythmRec::Other(other.to_string()),
    }
}

/// A series master (`GET events/{id}`) as a record.
pub fn master_rec(e: &wire::Event) -> Result<MasterRec, String> {
    if e.kind.as_deref().is_some_and(|k| k != "seriesMaster") {
        return Err(format!(
            "expected a series master, got an event of type {:?}",
            e.kind.as_deref().unwrap_or("")
        ));
    }
    Ok(MasterRec {
        version: e.version().ok_or("no changeKey")?,
        ical_uid: e
            .ical_uid
            .clone()
            .or_else(|| e.id.clone())
            .unwrap_or_default(),
        subject: e.subject.clone().unwrap_or_default(),
        people: people(e),
        body: body_html(e),
        rhythm: rhythm(&e.recurrence),
        cancelled: e.is_cancelled.unwrap_or(false),
        all_day: e.is_all_day.unwrap_or(false),
    })
}

/// Read one delta item: its id and what it says.
pub fn parse_item(v: Value, relevance: &Relevance) -> Option<(String, Parsed)> {
    let id = v.get("id").and_then(Value::as_str)?.to_string();
    if v.get("@removed").is_some() {
        return Some((id, Parsed::Removed));
    }
    let master_hint = v
        .get("seriesMasterId")
        .and_then(Value::as_str)
        .map(String::from);
    let e: wire::Event = match serde_json::from_value(v) {
        Ok(e) => e,
        Err(err) => {
            let source = master_hint.unwrap_or_else(|| id.clone());
            return Some((
                id,
                Parsed::Bad(bad(source, format!("unreadable event: {err}"))),
            ));
        }
    };
    let source = e.series_master_id.clone().unwrap_or_else(|| id.clone());
    let parsed = match e.kind.as_deref() {
        Some("occurrence") => match (
            &e.series_master_id,
            time(&e.start, "start"),
            time(&e.end, "end"),
        ) {
            (Some(m), Ok(start), Ok(end)) => Parsed::Occurrence(OccRec {
                master: m.clone(),
                start,
                end: end.max(start),
                version: e.version().unwrap_or_default(),
            }),
            (None, _, _) => Parsed::Bad(bad(source, "an occurrence without seriesMasterId".into())),
            (_, Err(x), _) | (_, _, Err(x)) => Parsed::Bad(bad(source, x)),
        },
        Some("seriesMaster") => Parsed::Ignored,
        _ => match event_rec(&e) {
            Ok(rec) if relevance.concerns(&rec.people, rec.all_day) => Parsed::Event(rec),
            Ok(_) => Parsed::Ignored,
            Err(x) => Parsed::Bad(bad(source, x)),
        },
    };
    Some((id, parsed))
}

fn bad(source: String, message: String) -> ProblemRec {
    ProblemRec { source, message }
}

fn instant(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn to_rhythm(r: &RhythmRec) -> Rhythm {
    match r {
        RhythmRec::Weeks(n) => Rhythm::Weeks(*n),
        RhythmRec::Months(n) => Rhythm::Months(*n),
        RhythmRec::Other(s) => Rhythm::Other(s.clone()),
    }
}

fn response(code: u8) -> Response {
    match code {
        1 => Response::Accepted,
        2 => Response::Tentative,
        3 => Response::Declined,
        _ => Response::NeedsAction,
    }
}

/// The attendees as the planner sees them; the owner's own answer comes from `responseStatus`.
fn attendees(p: &People, owner: &str) -> Arc<[Attendee]> {
    p.attendees
        .iter()
        .map(|a| {
            let own = (a.email == owner).then_some(p.own_response).flatten();
            Attendee {
                email: a.email.clone(),
                kind: if a.resource {
                    ParticipantKind::Resource
                } else {
                    ParticipantKind::Person
                },
                response: response(own.unwrap_or(a.response)),
                optional: a.optional,
            }
        })
        .collect()
}

/// What every occurrence of one series shares.
struct Series {
    id: Arc<str>,
    uid: Arc<str>,
    title: Arc<str>,
    organizer: Option<Arc<str>>,
    attendees: Arc<[Attendee]>,
    description: Arc<str>,
    rhythm: Rhythm,
    cancelled: bool,
    all_day: bool,
    version: Arc<str>,
}

impl Series {
    fn new(id: &str, m: &MasterRec, owner: &str) -> Series {
        Series {
            id: id.into(),
            uid: m.ical_uid.as_str().into(),
            title: m.subject.as_str().into(),
            organizer: m.people.organizer.as_deref().map(Into::into),
            attendees: attendees(&m.people, owner),
            description: html::to_text(&m.body).into(),
            rhythm: to_rhythm(&m.rhythm),
            cancelled: m.cancelled,
            all_day: m.all_day,
            version: m.version.as_str().into(),
        }
    }
}

/// Add one mailbox's instances (those overlapping `want`), the masters of their series, its
/// problems and its `CalendarRead` to `out`.
pub fn add_mailbox(
    account: &Arc<str>,
    mailbox: &str,
    st: &MailboxState,
    want: Window,
    read: Result<(), String>,
    out: &mut Snapshot,
) {
    let calendar: Arc<str> = mailbox.into();
    let owner = Some(calendar.clone());
    let overlaps = |s: i64, e: i64| instant(e) > want.start && instant(s) < want.end;
    let mut series: HashMap<&str, Series> = HashMap::new();
    let mut used: Vec<&str> = Vec::new();
    for (id, o) in &st.occurrences {
        let Some(m) = st.masters.get(&o.master) else {
            continue;
        };
        if !overlaps(o.start, o.end) {
            continue;
        }
        let s = series
            .entry(o.master.as_str())
            .or_insert_with(|| Series::new(&o.master, m, mailbox));
        if !used.contains(&o.master.as_str()) {
            used.push(o.master.as_str());
        }
        let start = instant(o.start);
        out.instances.push(Instance {
            account: account.clone(),
            calendar: calendar.clone(),
            owner: owner.clone(),
            id: id.clone(),
            series_id: Some(s.id.clone()),
            uid: s.uid.clone(),
            original_start: Some(start),
            title: s.title.clone(),
            organizer: s.organizer.clone(),
            attendees: s.attendees.clone(),
            start,
            end: instant(o.end),
            all_day: s.all_day,
            cancelled: s.cancelled,
            rhythm: Some(s.rhythm.clone()),
            description: s.description.clone(),
            version: o.version.as_str().into(),
            source: s.id.clone(),
        });
    }
    for (id, e) in &st.events {
        if !overlaps(e.start, e.end) {
            continue;
        }
        let master = e
            .master
            .as_deref()
            .and_then(|m| st.masters.get(m).map(|rec| (m, rec)));
        let (series_id, uid, rhythm, source) = match (e.master.as_deref(), master) {
            (Some(m), Some((_, rec))) => {
                if !used.contains(&m) {
                    used.push(m);
                }
                let s = series
                    .entry(m)
                    .or_insert_with(|| Series::new(m, rec, mailbox));
                (
                    Some(s.id.clone()),
                    s.uid.clone(),
                    Some(s.rhythm.clone()),
                    s.id.clone(),
                )
            }
            (Some(m), None) => (
                Some(Arc::from(m)),
                Arc::from(e.ical_uid.as_str()),
                None,
                Arc::from(m),
            ),
            (None, _) => (
                None,
                Arc::from(e.ical_uid.as_str()),
                None,
                Arc::from(id.as_str()),
            ),
        };
        out.instances.push(Instance {
            account: account.clone(),
            calendar: calendar.clone(),
            owner: owner.clone(),
            id: id.clone(),
            series_id,
            uid,
            original_start: e.original_start.map(instant),
            title: e.subject.as_str().into(),
            organizer: e.people.organizer.as_deref().map(Into::into),
            attendees: attendees(&e.people, mailbox),
            start: instant(e.start),
            end: instant(e.end),
            all_day: e.all_day,
            cancelled: e.cancelled,
            rhythm,
            description: html::to_text(&e.body).into(),
            version: e.version.as_str().into(),
            source,
        });
    }
    for m in used {
        let Some(s) = series.get(m) else { continue };
        out.series.push(SeriesMaster {
            account: account.clone(),
            calendar: calendar.clone(),
            owner: owner.clone(),
            id: m.to_string(),
            uid: s.uid.clone(),
            title: s.title.clone(),
            organizer: s.organizer.clone(),
            description: s.description.clone(),
            version: s.version.clone(),
            source: s.id.clone(),
        });
    }
    for p in st.problems.values() {
        out.problems.push(SourceProblem {
            calendar: Some(mailbox.to_string()),
            source: p.source.clone(),
            message: p.message.clone(),
            kind: ProblemKind::Unreadable,
        });
    }
    out.calendars.push(CalendarRead {
        id: mailbox.to_string(),
        owner: Some(mailbox.to_string()),
        events: read.map(|()| st.count()),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rel() -> Relevance {
        let p = crate::domain::Pair {
            id: "a@x.test~b@x.test".into(),
            manager: "a@x.test".into(),
            report: "b@x.test".into(),
            account: "m".into(),
            cadence: crate::domain::Cadence::Weeks(1),
            duration: chrono::Duration::minutes(30),
            enforce: crate::domain::Enforce::Warn,
            cancellations: crate::domain::CancellationPolicy {
                max_consecutive: 2,
                max_in_window: 3,
                window: chrono::Duration::days(90),
            },
            timezone: chrono_tz::UTC,
            working_hours: Default::default(),
        };
        Relevance::new(&[p], false)
    }

    #[test]
    fn items_read_as_graph_sends_them() {
        let skeleton = json!({"@odata.type":"#microsoft.graph.event","@odata.etag":"W/\"ck1\"",
            "id":"M_1795428000","seriesMasterId":"M","type":"occurrence",
            "start":{"dateTime":"2026-11-23T10:00:00.0000000","timeZone":"UTC"},
            "end":{"dateTime":"2026-11-23T10:30:00.0000000","timeZone":"UTC"}});
        let Some((id, Parsed::Occurrence(o))) = parse_item(skeleton, &rel()) else {
            panic!("not an occurrence");
        };
        assert_eq!(
            (id.as_str(), o.master.as_str(), o.version.as_str()),
            ("M_1795428000", "M", "ck1")
        );
        assert_eq!(o.end - o.start, 30 * 60 * 1000);
        let removed = json!({"@odata.type":"#microsoft.graph.event","id":"E","@removed":{"reason":"deleted"}});
        assert_eq!(
            parse_item(removed, &rel()),
            Some(("E".into(), Parsed::Removed))
        );
        let single = json!({"id":"S","type":"singleInstance","changeKey":"ck","iCalUId":"UID1",
            "subject":"1:1","isCancelled":false,
            "start":{"dateTime":"2026-11-23T11:00:00.0000000","timeZone":"W. Europe Standard Time"},
            "end":{"dateTime":"2026-11-23T11:30:00.0000000","timeZone":"W. Europe Standard Time"},
            "organizer":{"emailAddress":{"address":"A@x.test"}},
            "attendees":[{"type":"required","status":{"response":"declined"},"emailAddress":{"address":"b@x.test"}}],
            "body":{"contentType":"html","content":"<p>hi</p>"}});
        let Some((_, Parsed::Event(e))) = parse_item(single, &rel()) else {
            panic!("not an event");
        };
        assert_eq!(instant(e.start).to_rfc3339(), "2026-11-23T10:00:00+00:00");
        assert_eq!(e.people.organizer.as_deref(), Some("a@x.test"));
        assert_eq!(e.people.attendees.first().map(|a| a.response), Some(3));
        let other = json!({"id":"T","type":"singleInstance","changeKey":"ck",
            "start":{"dateTime":"2026-11-23T11:00:00","timeZone":"UTC"},
            "end":{"dateTime":"2026-11-23T11:30:00","timeZone":"UTC"},
            "organizer":{"emailAddress":{"address":"c@x.test"}}});
        assert_eq!(
            parse_item(other, &rel()),
            Some(("T".into(), Parsed::Ignored))
        );
        let zone = json!({"id":"Z","type":"singleInstance","changeKey":"ck",
            "start":{"dateTime":"2026-11-23T11:00:00","timeZone":"Mars Standard Time"},
            "end":{"dateTime":"2026-11-23T11:30:00","timeZone":"UTC"}});
        let Some((_, Parsed::Bad(p))) = parse_item(zone, &rel()) else {
            panic!("an unknown zone is a problem");
        };
        assert!(p.message.contains("Mars Standard Time") && p.source == "Z");
        let odd = json!({"id":"O","seriesMasterId":"M2","isCancelled":"yes"});
        let Some((_, Parsed::Bad(p))) = parse_item(odd, &rel()) else {
            panic!("a wrongly typed field is a problem");
        };
        assert_eq!(p.source, "M2");
        assert_eq!(parse_item(json!({"no":"id"}), &rel()), None);
    }

    #[test]
    fn rhythms_from_patterns() {
        let r = |kind: &str, interval: u32| {
            rhythm(&Some(wire::Recurrence {
                pattern: wire::RecurrencePattern {
                    kind: kind.into(),
                    interval,
                },
            }))
        };
        assert_eq!(r("weekly", 2), RhythmRec::Weeks(2));
        assert_eq!(r("daily", 14), RhythmRec::Weeks(2));
        assert_eq!(r("relativeMonthly", 1), RhythmRec::Months(1));
        assert_eq!(r("daily", 1), RhythmRec::Other("daily".into()));
    }
}
