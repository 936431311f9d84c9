//! Fix mode (`enforce = "fix"`): the repairs that are safe to make without asking anyone. It corrects
//! the length of upcoming occurrences (only where the longer slot is free for both people; never the
//! series master, never a past occurrence) and, for a pair with no series at all, creates one in the
//! first slot that is free for both people for every occurrence within the horizon. Pure: `now` and
//! the busy times come in as arguments.
use super::PairUpdate;
use crate::domain::detect::people;
use crate::domain::{Cadence, Instance, Pair};
use crate::providers::NewSeries;
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

/// Busy intervals of one person, from every meeting they are on (not cancelled).
pub fn busy_of(email: &str, instances: &[Instance]) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out: Vec<_> = instances
        .iter()
        .filter(|i| !i.cancelled && !i.all_day)
        .filter(|i| people(i).emails.contains(email))
        .map(|i| (i.start, i.end))
        .collect();
    out.sort();
    out
}

fn overlaps(busy: &[(DateTime<Utc>, DateTime<Utc>)], s: DateTime<Utc>, e: DateTime<Utc>) -> bool {
    busy.iter().any(|(bs, be)| *bs < e && s < *be)
}

/// The stable uid of the series fix mode creates for a pair, so a retry finds it instead of
/// creating a duplicate.
pub fn series_uid(pair: &Pair) -> String {
    let h = crate::domain::hash::fnv1a64(pair.id.as_bytes());
    format!("oneonone-{h:016x}@oneonone")
}

fn rrule_for(c: Cadence) -> String {
    match c {
        Cadence::Weeks(n) => format!("FREQ=WEEKLY;INTERVAL={n}"),
        Cadence::Monthly => "FREQ=MONTHLY".to_string(),
    }
}

fn local_name(email: &str) -> &str {
    email.split('@').next().unwrap_or(email)
}

/// Plan the repairs for one pair. `instances` are all instances of the pair's account (busy times).
pub fn plan_fixes(
    pair: &Pair,
    update: &PairUpdate,
    instances: &[Instance],
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
    horizon: Duration,
) -> Vec<FixAction> {
    let mut actions = Vec::new();
    let busy_m = busy_of(&pair.manager, instances);
    let busy_r = busy_of(&pair.report, instances);

    for inst in &update.upcoming {
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
            if !free(&busy_m) || !free(&busy_r) {
                continue;
            }
        }
        actions.push(FixAction::SetEnd {
            target: inst.clone(),
            end: new_end,
        });
    }

    let has_series_or_upcoming = !update.series.is_empty() || !update.upcoming.is_empty();
    if !has_series_or_upcoming
        && let Some(start) = free_slot(pair, &busy_m, &busy_r, now, tz, horizon)
    {
        actions.push(FixAction::CreateSeries(NewSeries {
            uid: series_uid(pair),
            title: format!(
                "1:1 {} / {}",
                local_name(&pair.manager),
                local_name(&pair.report)
            ),
            organizer: pair.manager.clone(),
            attendee: pair.report.clone(),
            first_start: start,
            duration: pair.duration,
            rrule: rrule_for(pair.cadence),
            description: String::new(),
        }));
    }
    actions
}

/// The first weekday slot from tomorrow (09:00–17:00 local, on the half hour, up to 14 days out) in
/// which every occurrence of the new series within the horizon is free for both people.
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
        for half_hour in 18..34 {
            let time = NaiveTime::from_hms_opt(half_hour / 2, (half_hour % 2) * 30, 0)?;
            let end_time = time + pair.duration;
            if end_time > NaiveTime::from_hms_opt(17, 0, 0)? || end_time < time {
                continue;
            }
            // Every occurrence within the horizon must be free (wall-clock time kept across DST).
            let mut ok = true;
            let mut first = None;
            let mut k = 0i64;
            loop {
                let d = match pair.cadence {
                    Cadence::Weeks(n) => day + Duration::weeks(k * i64::from(n)),
                    Cadence::Monthly => match day.checked_add_months(chrono::Months::new(k as u32))
                    {
                        Some(d) => d,
                        None => break,
                    },
                };
                let Some(start) = tz.from_local_datetime(&d.and_time(time)).earliest() else {
                    ok = false;
                    break;
                };
                let s = start.with_timezone(&Utc);
                if s > now + horizon {
                    break;
                }
                let e = s + pair.duration;
                if overlaps(busy_m, s, e) || overlaps(busy_r, s, e) {
                    ok = false;
                    break;
                }
                first.get_or_insert(start);
                k += 1;
            }
            if ok && let Some(f) = first {
                return Some(f);
            }
        }
    }
    None
}
