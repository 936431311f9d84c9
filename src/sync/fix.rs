//! Fix mode (`enforce = "fix"`): the repairs that are safe to make without asking anyone. It corrects
//! the length of upcoming occurrences (only where the longer slot is free for both people; never the
//! series master, never a past occurrence; only through the organizer's copy) and, for a pair with
//! no series at all, creates one in the first slot that is free for both people for every
//! occurrence within the horizon. Pure: `now` and the busy times come in as arguments.
//!
//! Architecture Invariant: a series is created only when every calendar of both people was read
//! completely this cycle, neither the calendars nor the stored history show a series for the pair,
//! and no earlier create for the pair is known to have succeeded; the create carries a
//! deterministic key, so a retried or crashed create never makes a second one.
use super::calendars::Completeness;
use super::meetings::Meeting;
use crate::domain::detect::people;
use crate::domain::history::MarkState;
use crate::domain::{Cadence, Instance, Occurrence, OccurrenceStatus, Pair, Response, WriteMark};
use crate::providers::{BusyTime, NewSeries};
use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};

/// A repair to carry out.
#[derive(Debug, Clone, PartialEq)]
pub enum FixAction {
    /// Set this upcoming occurrence's end (its start stays).
    SetEnd {
        target: Instance,
        end: DateTime<Utc>,
    },
    CreateSeries(NewSeries),
}

/// Busy intervals of one person: every meeting they are on and have not declined, and every event
/// of their own calendar (providers return a person's own events where they know whose calendar
/// it is). Cancelled and all-day events are never busy.
pub fn busy_of(email: &str, instances: &[Instance]) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let declined = |i: &Instance| {
        i.attendees
            .iter()
            .any(|a| a.email == email && a.response == Response::Declined)
    };
    let mut out: Vec<_> = instances
        .iter()
        .filter(|i| !i.cancelled && !i.all_day && !declined(i))
        .filter(|i| i.owner.as_deref() == Some(email) || people(i).emails.contains(email))
        .map(|i| (i.start, i.end))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Busy intervals of every person of an account's instances and busy times, built in one pass:
/// `of(email)` is exactly `busy_of(email, instances)` plus `email`'s busy times, sorted (so
/// planning many pairs does not rescan every instance per pair).
#[derive(Debug, Default)]
pub struct BusyIndex {
    by_person: std::collections::HashMap<String, Vec<Span>>,
}

/// A busy interval.
type Span = (DateTime<Utc>, DateTime<Utc>);

impl BusyIndex {
    pub fn new(instances: &[Instance], times: &[BusyTime]) -> BusyIndex {
        let mut by_person: std::collections::HashMap<String, Vec<_>> =
            std::collections::HashMap::new();
        for i in instances.iter().filter(|i| !i.cancelled && !i.all_day) {
            let mut who = people(i).emails;
            if let Some(owner) = i.owner.as_deref() {
                who.insert(owner.to_string());
            }
            for email in who {
                let declined = i
                    .attendees
                    .iter()
                    .any(|a| a.email == email && a.response == Response::Declined);
                if !declined {
                    by_person.entry(email).or_default().push((i.start, i.end));
                }
            }
        }
        for t in times {
            by_person
                .entry(t.person.to_string())
                .or_default()
                .push((t.start, t.end));
        }
        for busy in by_person.values_mut() {
            busy.sort();
            busy.dedup();
        }
        BusyIndex { by_person }
    }

    /// The busy intervals of `email`, sorted.
    pub fn of(&self, email: &str) -> &[(DateTime<Utc>, DateTime<Utc>)] {
        self.by_person.get(email).map_or(&[], Vec::as_slice)
    }
}

fn overlaps(busy: &[(DateTime<Utc>, DateTime<Utc>)], s: DateTime<Utc>, e: DateTime<Utc>) -> bool {
    busy.iter().any(|(bs, be)| *bs < e && s < *be)
}

/// The idempotency key of the series fix mode creates for a pair, so a retry finds it instead of
/// creating a duplicate.
pub fn series_key(pair: &Pair) -> String {
    let h = crate::domain::hash::fnv1a64(pair.id.as_bytes());
    format!("oneonone-{h:016x}@oneonone")
}

/// The journal and write-mark key of a pair's series creation.
pub fn create_key(pair: &Pair) -> String {
    format!("create:{}", pair.id)
}

fn local_name(email: &str) -> &str {
    email.split('@').next().unwrap_or(email)
}

/// What fix mode looks at for one pair.
pub(crate) struct FixInput<'a> {
    pub pair: &'a Pair,
    pub upcoming: &'a [&'a Meeting<'a>],
    /// The pair's series as the calendars and the history show them.
    pub has_series: bool,
    pub history: &'a [Occurrence],
    /// The busy times of the pair's account (from every instance).
    pub busy: &'a BusyIndex,
    pub completeness: &'a Completeness<'a>,
    /// Calendars owned by either person, if the provider knows owners.
    pub their_calendars: Vec<&'a str>,
    /// Sources that must not be written.
    pub not_writable: &'a std::collections::HashSet<&'a str>,
    pub marks: &'a [WriteMark],
    /// The description a new series is created with (on a provider whose writes notify
    /// attendees, the series block: its one write is the creation itself).
    pub description: String,
}

/// Plan the repairs for one pair.
pub(crate) fn plan_fixes(
    input: &FixInput<'_>,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
    horizon: Duration,
) -> Vec<FixAction> {
    let pair = input.pair;
    let busy_m = input.busy.of(&pair.manager);
    let busy_r = input.busy.of(&pair.report);
    let mut actions = length_fixes(pair, input.upcoming, busy_m, busy_r, now);
    actions.retain(|a| match a {
        FixAction::SetEnd { target, .. } => !input.not_writable.contains(&*target.source),
        FixAction::CreateSeries(_) => true,
    });
    if may_create(input, now)
        && let Some(start) = free_slot(pair, busy_m, busy_r, now, tz, horizon)
    {
        actions.push(FixAction::CreateSeries(NewSeries {
            key: series_key(pair),
            title: format!(
                "1:1 {} / {}",
                local_name(&pair.manager),
                local_name(&pair.report)
            ),
            organizer: pair.manager.clone(),
            attendee: pair.report.clone(),
            first_start: start,
            duration: pair.duration,
            cadence: pair.cadence,
            description: input.description.clone(),
        }));
    }
    actions
}

/// Length corrections of upcoming occurrences, through the copy that may be written.
fn length_fixes(
    pair: &Pair,
    upcoming: &[&Meeting<'_>],
    busy_m: &[(DateTime<Utc>, DateTime<Utc>)],
    busy_r: &[(DateTime<Utc>, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Vec<FixAction> {
    let mut actions = Vec::new();
    for m in upcoming {
        let Some(inst) = m.writable else { continue };
        if inst.duration() == pair.duration || inst.start <= now {
            continue;
        }
        let new_end = inst.start + pair.duration;
        if new_end > inst.end {
            // Lengthening: only into time that is free for both (ignoring this meeting itself).
            let free = |busy: &[(DateTime<Utc>, DateTime<Utc>)]| {
                let others: Vec<_> = busy
                    .iter()
                    .copied()
                    .filter(|(s, e)| !(*s == inst.start && *e == inst.end))
                    .collect();
                !overlaps(&others, inst.end, new_end)
            };
            if !free(busy_m) || !free(busy_r) {
                continue;
            }
        }
        actions.push(FixAction::SetEnd {
            target: inst.clone(),
            end: new_end,
        });
    }
    actions
}

/// May a series be created for the pair now? (See the module's invariant.)
fn may_create(input: &FixInput<'_>, now: DateTime<Utc>) -> bool {
    if input.has_series || !input.upcoming.is_empty() {
        return false;
    }
    let cals = (!input.their_calendars.is_empty()).then_some(input.their_calendars.as_slice());
    if !input.completeness.all_read(cals) {
        return false;
    }
    let history_shows_series = input
        .history
        .iter()
        .any(|o| o.series.is_some() && o.status == OccurrenceStatus::Scheduled && o.start > now);
    let created_before = input
        .marks
        .iter()
        .any(|m| m.key == create_key(input.pair) && m.state == MarkState::Done);
    !history_shows_series && !created_before
}

/// The half-hour starts within the pair's working hours of `day` where its meeting fits.
fn starts_in_working_hours(pair: &Pair) -> impl Iterator<Item = NaiveTime> + '_ {
    let wh = pair.working_hours;
    (0..48u32)
        .filter_map(|h| NaiveTime::from_hms_opt(h / 2, (h % 2) * 30, 0))
        .filter(move |t| *t >= wh.start)
        .filter(move |t| {
            let end = *t + pair.duration;
            end <= wh.end && end > *t
        })
}

/// The first weekday slot from tomorrow (within the pair's working hours, in its zone, on the
/// half hour, up to 14 days out) in which every occurrence of the new series within the horizon is
/// free for both people.
pub fn free_slot(
    pair: &Pair,
    busy_m: &[(DateTime<Utc>, DateTime<Utc>)],
    busy_r: &[(DateTime<Utc>, DateTime<Utc>)],
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
    horizon: Duration,
) -> Option<DateTime<chrono_tz::Tz>> {
    let today = now.with_timezone(&tz).date_naive();
    for day_offset in 1..=14 {
        let day = today + Duration::days(day_offset);
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            continue;
        }
        for time in starts_in_working_hours(pair) {
            if let Some(first) =
                first_if_all_free(pair, day, time, busy_m, busy_r, now, tz, horizon)
            {
                return Some(first);
            }
        }
    }
    None
}

/// Up to `max` slots, each on its own weekday, within the current cadence period from now (the
/// pair's working hours, in its zone, at least an hour ahead), free for both people: where a
/// cancelled 1:1 can be rebooked.
pub fn free_slots_this_period(
    pair: &Pair,
    busy_m: &[(DateTime<Utc>, DateTime<Utc>)],
    busy_r: &[(DateTime<Utc>, DateTime<Utc>)],
    now: DateTime<Utc>,
    max: usize,
) -> Vec<DateTime<chrono_tz::Tz>> {
    let tz = pair.timezone;
    let today = now.with_timezone(&tz).date_naive();
    let mut out = Vec::new();
    for day_offset in 0..pair.cadence.period().num_days() {
        let day = today + Duration::days(day_offset);
        if out.len() >= max {
            break;
        }
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            continue;
        }
        let slot = starts_in_working_hours(pair).find_map(|t| {
            let start = tz.from_local_datetime(&day.and_time(t)).earliest()?;
            let s = start.with_timezone(&Utc);
            let e = s + pair.duration;
            let free =
                s >= now + Duration::hours(1) && !overlaps(busy_m, s, e) && !overlaps(busy_r, s, e);
            free.then_some(start)
        });
        out.extend(slot);
    }
    out
}

/// The first occurrence of a series starting on `day` at `time`, when every occurrence within the
/// horizon is free for both (wall-clock time kept across DST).
#[allow(clippy::too_many_arguments)]
fn first_if_all_free(
    pair: &Pair,
    day: chrono::NaiveDate,
    time: NaiveTime,
    busy_m: &[(DateTime<Utc>, DateTime<Utc>)],
    busy_r: &[(DateTime<Utc>, DateTime<Utc>)],
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
    horizon: Duration,
) -> Option<DateTime<chrono_tz::Tz>> {
    let mut first = None;
    let mut k = 0i64;
    loop {
        let d = match pair.cadence {
            Cadence::Weeks(n) => day + Duration::weeks(k * i64::from(n)),
            Cadence::Monthly => {
                day.checked_add_months(chrono::Months::new(u32::try_from(k).ok()?))?
            }
        };
        let start = tz.from_local_datetime(&d.and_time(time)).earliest()?;
        let s = start.with_timezone(&Utc);
        if s > now + horizon {
            return first;
        }
        let e = s + pair.duration;
        if overlaps(busy_m, s, e) || overlaps(busy_r, s, e) {
            return None;
        }
        first.get_or_insert(start);
        k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Attendee, ParticipantKind};
    use std::sync::Arc;

    fn inst(n: i64, owner: &str, people: &[(&str, Response)], cancelled: bool) -> Instance {
        let start =
            DateTime::<Utc>::from_timestamp(1_800_000_000 + n * 3600, 0).unwrap_or_default();
        let attendees: Vec<Attendee> = people
            .iter()
            .map(|(e, r)| Attendee {
                email: (*e).to_string(),
                kind: ParticipantKind::Person,
                response: *r,
                optional: false,
            })
            .collect();
        Instance {
            account: "a".into(),
            calendar: owner.into(),
            owner: Some(owner.into()),
            id: format!("e{n}"),
            series_id: None,
            uid: format!("e{n}").into(),
            original_start: None,
            title: "t".into(),
            organizer: people.first().map(|(e, _)| Arc::from(*e)),
            attendees: attendees.into(),
            start,
            end: start + Duration::minutes(30),
            all_day: false,
            cancelled,
            rhythm: None,
            description: "".into(),
            version: "".into(),
            source: format!("e{n}").into(),
        }
    }

    #[test]
    fn the_busy_index_is_busy_of_for_everyone() {
        use Response::{Accepted, Declined};
        let all = vec![
            inst(0, "a@x", &[("a@x", Accepted), ("b@x", Accepted)], false),
            inst(1, "a@x", &[("a@x", Accepted), ("b@x", Declined)], false),
            inst(2, "b@x", &[("c@x", Accepted), ("b@x", Accepted)], false),
            inst(3, "b@x", &[("a@x", Accepted), ("b@x", Accepted)], true),
            inst(4, "c@x", &[("A@X", Declined), ("c@x", Accepted)], false),
            inst(0, "b@x", &[("a@x", Accepted), ("b@x", Accepted)], false),
        ];
        // Busy times kept beside the instances: one overlapping a's meeting, one of d's own.
        let at = |n: i64| inst(n, "x", &[], false).start;
        let times = vec![
            BusyTime {
                person: "d@x".into(),
                start: at(7),
                end: at(8),
            },
            BusyTime {
                person: "a@x".into(),
                start: at(-1),
                end: at(0),
            },
        ];
        let index = BusyIndex::new(&all, &times);
        for who in ["a@x", "b@x", "c@x", "d@x", "A@X"] {
            let mut want = busy_of(who, &all);
            want.extend(
                times
                    .iter()
                    .filter(|t| &*t.person == who)
                    .map(|t| (t.start, t.end)),
            );
            want.sort();
            assert_eq!(index.of(who), want.as_slice(), "{who}");
        }
        assert_eq!(index.of("d@x"), [(at(7), at(8))]);
        assert_eq!(index.of("a@x").first(), Some(&(at(-1), at(0))));
    }
}
