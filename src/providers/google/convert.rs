//! From one calendar's mirror to domain data: single events that overlap the window become
//! [`Instance`]s; series masters are expanded locally (`recur`) into their occurrences, each with
//! Google's instance id (`{seriesId}_{YYYYMMDDTHHMMSSZ}`, all-day `{seriesId}_{YYYYMMDD}`), an
//! exception (moved, edited or cancelled occurrence) replacing the occurrence it was made from; the
//! masters become [`SeriesMaster`]s (where the series-wide link is written).
//!
//! Every copy is owned by the calendar's person; `uid` is the iCalUID (shared by every copy of the
//! meeting in every calendar), `version` the etag (an occurrence without its own exception carries
//! its master's), `source` the series master's id or the single event's id. A master whose
//! recurrence cannot be read is a `SourceProblem` of kind `Unreadable` naming that source, so its
//! meetings keep their last known state.
use super::mirror::{Answer, StoredEvent, When};
use super::recur::{self, SeriesStart};
use crate::domain::{Attendee, Instance, ParticipantKind, Response, SeriesMaster};
use crate::providers::{BusyTime, ProblemKind, SourceProblem, Window};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Which calendar is being converted.
pub struct CalendarCtx<'a> {
    pub account: &'a Arc<str>,
    /// The calendar id (the person's email for a primary calendar).
    pub calendar: &'a Arc<str>,
    /// Whose calendar it is.
    pub owner: &'a Arc<str>,
    /// The calendar's zone (all-day dates, zone-less series).
    pub zone: Tz,
    pub window: Window,
    /// Which events are kept as instances; the others only as busy time.
    pub relevance: &'a Relevance,
    /// Busy time is kept from here on (the planner's "now": the window's end minus the horizon).
    pub busy_from: DateTime<Utc>,
}

/// Which events concern the configured pairs (the same rule as
/// `domain::detect::PairIndex::classify`, so nothing the planner would count is left out): those
/// whose people include both members of a pair, and for `discover` every two-person meeting.
/// All-day events never do. Everything else is kept only as busy time (merged intervals per
/// person of a pair, from `busy_from` on), which is all that fix mode and rebooking slots read of
/// it.
#[derive(Debug, Clone, Default)]
pub struct Relevance {
    partners: HashMap<String, Vec<String>>,
    discover: bool,
    /// The people of the account's pairs whose calendar is not read (an OAuth account reads one):
    /// their busy time is kept from the events they are on in the calendars read. A person whose
    /// own calendar is read has their busy time from it (Google puts every event they are invited
    /// to there).
    others: std::collections::HashSet<String>,
    /// Keep every event as an instance (unit tests of conversion).
    keep_all: bool,
}

impl Relevance {
    /// `people`: of the account's pairs; `calendars`: the calendars read (a person's email).
    pub fn new(
        pairs: &[crate::domain::Pair],
        people: &[String],
        calendars: &[String],
        discover: bool,
    ) -> Relevance {
        let read: std::collections::HashSet<String> =
            calendars.iter().map(|c| c.to_lowercase()).collect();
        let mut partners: HashMap<String, Vec<String>> = HashMap::new();
        for p in pairs {
            let (m, r) = (p.manager.to_lowercase(), p.report.to_lowercase());
            partners.entry(m.clone()).or_default().push(r.clone());
            partners.entry(r).or_default().push(m);
        }
        Relevance {
            partners,
            discover,
            others: people
                .iter()
                .map(|p| p.to_lowercase())
                .filter(|p| !read.contains(p))
                .collect(),
            keep_all: false,
        }
    }

    /// Everything is relevant (unit tests of conversion).
    #[cfg(test)]
    pub fn everything() -> Relevance {
        Relevance {
            keep_all: true,
            ..Relevance::default()
        }
    }

    /// Does this instance concern a pair (or, for `discover`, is it a two-person meeting)?
    fn concerns(&self, i: &Instance) -> bool {
        if self.keep_all {
            return true;
        }
        if i.all_day {
            return false;
        }
        let emails = people_of(i);
        if self.discover && emails.len() == 2 {
            return true;
        }
        emails.iter().any(|e| {
            self.partners
                .get(*e)
                .is_some_and(|ps| ps.iter().any(|p| emails.binary_search(&p.as_str()).is_ok()))
        })
    }
}

/// The people of an instance as `classify` counts them (organizer unless a resource, attendees
/// but resources), sorted and unique.
fn people_of(i: &Instance) -> Vec<&str> {
    let mut emails: Vec<&str> = Vec::with_capacity(i.attendees.len() + 1);
    if let Some(org) = i.organizer.as_deref().filter(|o| !o.is_empty()) {
        let is_resource = i
            .attendees
            .iter()
            .any(|a| a.email == org && a.kind == ParticipantKind::Resource);
        if !is_resource {
            emails.push(org);
        }
    }
    for a in i.attendees.iter() {
        if a.kind != ParticipantKind::Resource && !a.email.is_empty() {
            emails.push(&a.email);
        }
    }
    emails.sort_unstable();
    emails.dedup();
    emails
}

/// What one calendar contributes to a snapshot.
#[derive(Debug, Default)]
pub struct Converted {
    pub instances: Vec<Instance>,
    pub series: Vec<SeriesMaster>,
    pub problems: Vec<SourceProblem>,
    /// The busy time of the events that concern no pair.
    pub busy: Vec<BusyTime>,
}

/// Convert a calendar's mirror (event id → event).
pub fn convert(ctx: &CalendarCtx<'_>, events: &BTreeMap<String, StoredEvent>) -> Converted {
    let mut out = Converted::default();
    let mut busy = Busy::default();
    let mut exceptions: HashMap<&str, Vec<(&str, &StoredEvent)>> = HashMap::new();
    for (id, e) in events {
        if let Some(series) = e.recurring_event_id.as_deref() {
            exceptions.entry(series).or_default().push((id, e));
        }
    }
    let empty: Arc<str> = Arc::from("");
    for (id, e) in events {
        if e.ignored || e.cancelled {
            continue;
        }
        match e.recurring_event_id.as_deref() {
            Some(series) if events.contains_key(series) => {} // with its master
            Some(series) => {
                // An exception whose master is not in the mirror: shown as it is.
                let shared = Shared::of(ctx, id, e, Some(series), &empty);
                let original = e.original_start.as_ref().map(|w| w.instant(ctx.zone));
                let inst = shared.instance(ctx, id, e, original, false);
                push_if_visible(ctx, &mut out, &mut busy, inst);
            }
            None if !e.recurrence.is_empty() => {
                let ex = exceptions.remove(id.as_str()).unwrap_or_default();
                expand(ctx, id, e, ex, &empty, &mut out, &mut busy);
            }
            None => {
                let shared = Shared::of(ctx, id, e, None, &empty);
                let inst = shared.instance(ctx, id, e, None, false);
                push_if_visible(ctx, &mut out, &mut busy, inst);
            }
        }
    }
    busy.merge_into(&mut out.busy);
    out
}

/// Push an instance in the window: as itself when it concerns a pair (`true`), else as busy time.
fn push_if_visible(
    ctx: &CalendarCtx<'_>,
    out: &mut Converted,
    busy: &mut Busy,
    inst: Option<Instance>,
) -> bool {
    let Some(i) = inst else { return false };
    if i.end <= ctx.window.start || i.start >= ctx.window.end {
        return false;
    }
    if ctx.relevance.concerns(&i) {
        out.instances.push(i);
        return true;
    }
    busy.add(ctx, &i);
    false
}

/// The busy time of events that concern no pair, per person of a pair.
#[derive(Default)]
struct Busy {
    by_person: BTreeMap<String, Vec<Span>>,
}

/// A busy interval.
type Span = (DateTime<Utc>, DateTime<Utc>);

impl Busy {
    /// What `sync::fix::busy_of` would count of `i`: not cancelled, not all-day, for the calendar's
    /// owner and every person on it whose own calendar is not read, unless they declined.
    fn add(&mut self, ctx: &CalendarCtx<'_>, i: &Instance) {
        if i.cancelled || i.all_day || i.end <= ctx.busy_from {
            return;
        }
        let mut who = people_of(i);
        who.retain(|p| ctx.relevance.others.contains(*p));
        who.push(ctx.owner);
        who.dedup();
        for p in who {
            let declined = i
                .attendees
                .iter()
                .any(|a| a.email == p && a.response == Response::Declined);
            if !declined {
                let list = match self.by_person.get_mut(p) {
                    Some(l) => l,
                    None => self.by_person.entry(p.to_string()).or_default(),
                };
                list.push((i.start, i.end));
            }
        }
    }

    /// Each person's intervals, merged where they overlap or touch.
    fn merge_into(self, out: &mut Vec<BusyTime>) {
        for (person, mut spans) in self.by_person {
            spans.sort();
            let person: Arc<str> = Arc::from(person.as_str());
            let first = out.len();
            for (start, end) in spans {
                match out[first..].last_mut() {
                    Some(last) if start <= last.end => last.end = last.end.max(end),
                    _ => out.push(BusyTime {
                        person: person.clone(),
                        start,
                        end,
                    }),
                }
            }
        }
    }
}

/// The parts every occurrence of a series (or a single event) shares, allocated once.
struct Shared {
    series_id: Option<Arc<str>>,
    uid: Arc<str>,
    title: Arc<str>,
    organizer: Option<Arc<str>>,
    attendees: Arc<[Attendee]>,
    description: Arc<str>,
    version: Arc<str>,
    source: Arc<str>,
    rhythm: Option<crate::domain::Rhythm>,
}

impl Shared {
    /// `series`: the series id of an occurrence (its master's id), `None` for a single event.
    fn of(
        _ctx: &CalendarCtx<'_>,
        id: &str,
        e: &StoredEvent,
        series: Option<&str>,
        empty: &Arc<str>,
    ) -> Shared {
        let source: Arc<str> = Arc::from(series.unwrap_or(id));
        let text = |s: &str| -> Arc<str> {
            if s.is_empty() {
                empty.clone()
            } else {
                Arc::from(s)
            }
        };
        Shared {
            series_id: series.map(|_| source.clone()),
            uid: Arc::from(e.uid.as_str()),
            title: text(&e.summary),
            organizer: e.organizer.as_deref().map(Arc::from),
            attendees: attendees(e),
            description: text(&e.description),
            version: Arc::from(e.etag.as_str()),
            source,
            rhythm: recur::rhythm(&e.recurrence),
        }
    }

    /// One instance with these shared parts, at the event's own times (or `times`).
    fn instance(
        &self,
        ctx: &CalendarCtx<'_>,
        id: &str,
        e: &StoredEvent,
        original: Option<DateTime<Utc>>,
        cancelled: bool,
    ) -> Option<Instance> {
        let (start, end) = (e.start.as_ref()?, e.end.as_ref()?);
        Some(self.at(
            ctx,
            id.to_string(),
            start.instant(ctx.zone),
            end.instant(ctx.zone),
            matches!(start, When::Date(_)),
            original,
            cancelled,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn at(
        &self,
        ctx: &CalendarCtx<'_>,
        id: String,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        all_day: bool,
        original: Option<DateTime<Utc>>,
        cancelled: bool,
    ) -> Instance {
        Instance {
            account: ctx.account.clone(),
            calendar: ctx.calendar.clone(),
            owner: Some(ctx.owner.clone()),
            id,
            series_id: self.series_id.clone(),
            uid: self.uid.clone(),
            original_start: original,
            title: self.title.clone(),
            organizer: self.organizer.clone(),
            attendees: self.attendees.clone(),
            start,
            end: end.max(start),
            all_day,
            cancelled,
            rhythm: self.rhythm.clone(),
            description: self.description.clone(),
            version: self.version.clone(),
            source: self.source.clone(),
        }
    }
}

fn attendees(e: &StoredEvent) -> Arc<[Attendee]> {
    let mut list: Vec<Attendee> = e
        .attendees
        .iter()
        .map(|a| Attendee {
            email: a.email.clone(),
            kind: if a.resource {
                ParticipantKind::Resource
            } else {
                ParticipantKind::Person
            },
            response: match a.response {
                Answer::Accepted => Response::Accepted,
                Answer::Tentative => Response::Tentative,
                Answer::Declined => Response::Declined,
                Answer::NeedsAction => Response::NeedsAction,
            },
            optional: a.optional,
        })
        .collect();
    if e.attendees_omitted {
        // Google left attendees out: whoever they are, this is not a 1:1.
        list.push(Attendee {
            email: "(attendees omitted by google)".into(),
            kind: ParticipantKind::Group,
            response: Response::NeedsAction,
            optional: false,
        });
    }
    list.into()
}

/// Expand one series master and its exceptions.
fn expand(
    ctx: &CalendarCtx<'_>,
    id: &str,
    master: &StoredEvent,
    exceptions: Vec<(&str, &StoredEvent)>,
    empty: &Arc<str>,
    out: &mut Converted,
    busy: &mut Busy,
) {
    let (Some(start), Some(end)) = (&master.start, &master.end) else {
        return;
    };
    let shared = Shared::of(ctx, id, master, Some(id), empty);
    let all_day = matches!(start, When::Date(_));
    let zone = start.zone().unwrap_or(ctx.zone);
    let first = start.instant(ctx.zone);
    let duration = end.instant(ctx.zone) - first;
    let series_start = SeriesStart {
        local: first.with_timezone(&zone).naive_local(),
        zone,
        all_day,
    };
    let from = ctx.window.start - duration.max(chrono::Duration::zero());
    let starts = match recur::occurrences(&series_start, &master.recurrence, from, ctx.window.end) {
        Ok(s) => s,
        Err(message) => {
            out.problems.push(SourceProblem {
                calendar: Some(ctx.calendar.to_string()),
                source: id.to_string(),
                message: format!("series \"{}\": {message}", master.summary),
                kind: ProblemKind::Unreadable,
            });
            return;
        }
    };
    let mut by_id: HashMap<&str, &StoredEvent> = exceptions.into_iter().collect();
    let mut kept = false;
    for t in starts {
        let original = if all_day {
            When::Date(t.with_timezone(&ctx.zone).date_naive())
        } else {
            When::At { utc: t, zone: None }
        };
        let iid = super::mirror::instance_id(id, &original);
        let inst = match by_id.remove(iid.as_str()) {
            Some(ex) => exception(ctx, &shared, &iid, ex, t, duration, empty),
            None => Some(shared.at(ctx, iid, t, t + duration, all_day, Some(t), false)),
        };
        kept |= push_if_visible(ctx, out, busy, inst);
    }
    // Exceptions of occurrences the rule no longer produces in the window (moved into it from
    // elsewhere, or made before a rule change): shown where they are.
    let mut rest: Vec<(&str, &StoredEvent)> = by_id.into_iter().collect();
    rest.sort_by_key(|(iid, _)| *iid);
    for (iid, ex) in rest {
        let original = ex
            .original_start
            .as_ref()
            .map(|w| w.instant(ctx.zone))
            .or_else(|| super::mirror::parse_instance_id(iid).map(|(_, w)| w.instant(ctx.zone)));
        let Some(original) = original else { continue };
        if ex.cancelled {
            continue; // the cancellation of an occurrence outside the window
        }
        let inst = exception(ctx, &shared, iid, ex, original, duration, empty);
        kept |= push_if_visible(ctx, out, busy, inst);
    }
    if kept {
        out.series.push(SeriesMaster {
            account: ctx.account.clone(),
            calendar: ctx.calendar.clone(),
            owner: Some(ctx.owner.clone()),
            id: id.to_string(),
            uid: shared.uid.clone(),
            title: shared.title.clone(),
            organizer: shared.organizer.clone(),
            description: shared.description.clone(),
            version: shared.version.clone(),
            source: shared.source.clone(),
        });
    }
}

/// The instance of an exception: a cancellation keeps the master's data at the original time; an
/// edited or moved occurrence has its own.
fn exception(
    ctx: &CalendarCtx<'_>,
    master: &Shared,
    iid: &str,
    ex: &StoredEvent,
    original: DateTime<Utc>,
    duration: chrono::Duration,
    empty: &Arc<str>,
) -> Option<Instance> {
    if ex.cancelled {
        let mut i = master.at(
            ctx,
            iid.to_string(),
            original,
            original + duration,
            false,
            Some(original),
            true,
        );
        if !ex.etag.is_empty() {
            i.version = Arc::from(ex.etag.as_str());
        }
        return Some(i);
    }
    let own = Shared::of(ctx, iid, ex, master.series_id.as_deref(), empty);
    let mut i = own.instance(ctx, iid, ex, Some(original), false)?;
    i.rhythm = master.rhythm.clone();
    if i.uid.is_empty() {
        i.uid = master.uid.clone();
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::google::mirror::{Change, change};
    use crate::providers::google::wire;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn mirror(items: &[&str]) -> BTreeMap<String, StoredEvent> {
        let mut m = BTreeMap::new();
        for json in items {
            let ev: wire::Event = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
            match change(ev, Tz::UTC, |s| m.contains_key(s)) {
                Ok(Change::Upsert(id, e)) => {
                    m.insert(id, *e);
                }
                other => panic!("{other:?}"),
            }
        }
        m
    }

    fn run(m: &BTreeMap<String, StoredEvent>) -> Converted {
        let account: Arc<str> = "g".into();
        let cal: Arc<str> = "alice@acme.test".into();
        let ctx = CalendarCtx {
            account: &account,
            calendar: &cal,
            owner: &cal,
            zone: Tz::UTC,
            window: Window {
                start: at("2026-11-01T00:00:00Z"),
                end: at("2026-12-01T00:00:00Z"),
            },
            relevance: &Relevance::everything(),
            busy_from: at("2026-11-01T00:00:00Z"),
        };
        convert(&ctx, m)
    }

    const MASTER: &str = r#"{"id":"s1","etag":"\"m1\"","iCalUID":"s1@google.com","summary":"1:1",
        "organizer":{"email":"alice@acme.test"},
        "attendees":[{"email":"alice@acme.test","responseStatus":"accepted"},{"email":"bob@acme.test","responseStatus":"accepted"}],
        "start":{"dateTime":"2026-11-03T10:00:00Z","timeZone":"Europe/London"},
        "end":{"dateTime":"2026-11-03T10:30:00Z","timeZone":"Europe/London"},
        "recurrence":["RRULE:FREQ=WEEKLY"]}"#;

    #[test]
    fn a_series_expands_with_google_ids_and_exceptions_replace_occurrences() {
        let m = mirror(&[
            MASTER,
            r#"{"id":"s1_20261110T100000Z","status":"cancelled","recurringEventId":"s1",
                "originalStartTime":{"dateTime":"2026-11-10T10:00:00Z"}}"#,
            r#"{"id":"s1_20261117T100000Z","etag":"\"x1\"","iCalUID":"s1@google.com","summary":"1:1 moved",
                "organizer":{"email":"alice@acme.test"},"recurringEventId":"s1",
                "originalStartTime":{"dateTime":"2026-11-17T10:00:00Z"},
                "start":{"dateTime":"2026-11-18T15:00:00Z"},"end":{"dateTime":"2026-11-18T15:45:00Z"}}"#,
        ]);
        let c = run(&m);
        let ids: Vec<&str> = c.instances.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "s1_20261103T100000Z",
                "s1_20261110T100000Z",
                "s1_20261117T100000Z",
                "s1_20261124T100000Z"
            ]
        );
        assert!(c.instances[1].cancelled);
        let moved = &c.instances[2];
        assert_eq!(moved.start, at("2026-11-18T15:00:00Z"));
        assert_eq!(moved.original_start, Some(at("2026-11-17T10:00:00Z")));
        assert_eq!(&*moved.version, "\"x1\"");
        assert_eq!(&*moved.source, "s1");
        assert_eq!(&*c.instances[0].version, "\"m1\"");
        assert_eq!(&*c.instances[0].uid, "s1@google.com");
        assert_eq!(c.instances[0].owner.as_deref(), Some("alice@acme.test"));
        assert_eq!(c.series.len(), 1);
        assert_eq!(c.series[0].id, "s1");
        assert!(c.problems.is_empty());
    }

    #[test]
    fn unreadable_rules_are_problems_of_their_series() {
        let bad = MASTER.replace("FREQ=WEEKLY", "FREQ=SOMETIMES");
        let c = run(&mirror(&[&bad]));
        assert!(c.instances.is_empty());
        assert_eq!(c.problems.len(), 1);
        assert_eq!(c.problems[0].source, "s1");
        assert_eq!(c.problems[0].kind, ProblemKind::Unreadable);
    }

    #[test]
    fn singles_outside_the_window_and_ignored_kinds_are_left_out() {
        let c = run(&mirror(&[
            r#"{"id":"in","start":{"dateTime":"2026-11-05T10:00:00Z"},"end":{"dateTime":"2026-11-05T11:00:00Z"}}"#,
            r#"{"id":"out","start":{"dateTime":"2026-12-05T10:00:00Z"},"end":{"dateTime":"2026-12-05T11:00:00Z"}}"#,
            r#"{"id":"wl","eventType":"workingLocation","start":{"date":"2026-11-05"},"end":{"date":"2026-11-06"}}"#,
            r#"{"id":"many","attendeesOmitted":true,"start":{"dateTime":"2026-11-06T10:00:00Z"},"end":{"dateTime":"2026-11-06T11:00:00Z"}}"#,
        ]));
        let ids: Vec<&str> = c.instances.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["in", "many"]);
        assert!(
            c.instances[1]
                .attendees
                .iter()
                .any(|a| a.kind == ParticipantKind::Group)
        );
        assert_eq!(&*c.instances[0].source, "in");
        assert!(c.instances[0].series_id.is_none());
    }
}
