//! A pair's occurrence history, brought up to date with what the calendars show: new and changed
//! meetings are upserted, crowded ones flagged, meetings that vanished from calendars read
//! completely become cancellations (when they were due within a week) or are forgotten, and old
//! records are pruned. What could not be read keeps its records exactly as they were.
use super::calendars::Completeness;
use super::meetings::{Crowded, Meeting};
use super::{HISTORY_MARGIN, REMOVAL_COUNTS_WITHIN};
use crate::domain::{Occurrence, OccurrenceStatus, Pair, SeenIn};
use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, HashSet};

/// The outcome of reconciling one pair's history.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reconciled {
    /// Records to write (new or changed).
    pub upsert: Vec<Occurrence>,
    /// Meeting keys of records to delete (pruned, or dropped far-future removals).
    pub remove: Vec<String>,
    /// The full history after the update, sorted by start.
    pub history: Vec<Occurrence>,
}

/// Where the copies of a meeting were read.
fn seen_in(m: &Meeting<'_>) -> Vec<SeenIn> {
    let mut v: Vec<SeenIn> = m
        .copies
        .iter()
        .map(|c| SeenIn {
            calendar: c.calendar.clone(),
            source: c.source.clone(),
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Bring `stored` up to date with `meetings` and `crowded`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn reconcile(
    now: DateTime<Utc>,
    pair: &Pair,
    meetings: &[Meeting<'_>],
    crowded: &[Crowded<'_>],
    stored: Vec<Occurrence>,
    completeness: &Completeness<'_>,
    window: (DateTime<Utc>, DateTime<Utc>),
    lookback: Duration,
) -> Reconciled {
    // Owned, keyed by meeting: records are updated in place, never cloned wholesale.
    let mut merged: HashMap<String, Occurrence> =
        stored.into_iter().map(|r| (r.meeting.clone(), r)).collect();
    let mut upsert = Vec::new();
    let mut seen: HashSet<&str> = HashSet::with_capacity(meetings.len() + crowded.len());
    for m in meetings {
        seen.insert(m.key.as_str());
        if let Some(rec) = upsert_meeting(&mut merged, m, pair, now) {
            upsert.push(rec);
        }
    }
    for c in crowded {
        seen.insert(c.key.as_str());
        if let Some(old) = merged.get_mut(c.key.as_str()) {
            let p = c.primary;
            let unchanged = !old.one_on_one
                && old.start == p.start
                && old.end == p.end
                && *old.title == *p.title;
            if !unchanged {
                old.one_on_one = false;
                old.start = p.start;
                old.end = p.end;
                old.title = p.title.to_string();
                old.last_seen = now;
                upsert.push(old.clone());
            }
        }
    }
    let mut remove = Vec::new();
    for rec in merged.values_mut() {
        if seen.contains(rec.meeting.as_str()) || *rec.account != *pair.account {
            continue;
        }
        let in_window = rec.end > window.0 && rec.start < window.1;
        if !in_window || !rec.one_on_one || rec.status != OccurrenceStatus::Scheduled {
            continue;
        }
        if !completeness.absence_counts(&rec.seen_in) {
            continue; // could not be read: it stays exactly as it was
        }
        if rec.start <= now + REMOVAL_COUNTS_WITHIN {
            rec.status = OccurrenceStatus::Cancelled;
            rec.cancel_reason = Some("removed from the calendar".into());
            rec.last_seen = now;
            upsert.push(rec.clone());
        } else {
            remove.push(rec.meeting.clone());
        }
    }
    let oldest = now - lookback - HISTORY_MARGIN;
    remove.extend(
        merged
            .values()
            .filter(|r| r.start < oldest)
            .map(|r| r.meeting.clone()),
    );
    for id in &remove {
        merged.remove(id);
    }
    if !remove.is_empty() {
        let removed: HashSet<&str> = remove.iter().map(String::as_str).collect();
        upsert.retain(|r| !removed.contains(r.meeting.as_str()));
    }
    let mut history: Vec<Occurrence> = merged.into_values().collect();
    history.sort_by(|a, b| a.start.cmp(&b.start).then(a.meeting.cmp(&b.meeting)));
    Reconciled {
        upsert,
        remove,
        history,
    }
}

/// Update (or create) the record of one meeting; the record to write if anything changed.
fn upsert_meeting(
    merged: &mut HashMap<String, Occurrence>,
    m: &Meeting<'_>,
    pair: &Pair,
    now: DateTime<Utc>,
) -> Option<Occurrence> {
    let p = m.primary;
    let places = seen_in(m);
    match merged.get_mut(m.key.as_str()) {
        Some(old) => {
            let unchanged = old.series == m.series
                && *old.title == *p.title
                && old.start == p.start
                && old.end == p.end
                && old.status == m.status
                && old.cancel_reason == m.cancel_reason
                && old.one_on_one
                && *old.account == *p.account
                && old.seen_in == places;
            if unchanged {
                return None;
            }
            old.series.clone_from(&m.series);
            old.title = p.title.to_string();
            old.start = p.start;
            old.end = p.end;
            old.status = m.status;
            old.cancel_reason.clone_from(&m.cancel_reason);
            old.one_on_one = true;
            old.account = p.account.clone();
            old.seen_in = places;
            old.last_seen = now;
            Some(old.clone())
        }
        None => {
            let rec = Occurrence {
                pair_id: pair.id.as_str().into(),
                account: p.account.clone(),
                meeting: m.key.clone(),
                series: m.series.clone(),
                title: p.title.to_string(),
                start: p.start,
                end: p.end,
                status: m.status,
                cancel_reason: m.cancel_reason.clone(),
                last_seen: now,
                one_on_one: true,
                seen_in: places,
                agenda: None,
            };
            merged.insert(rec.meeting.clone(), rec.clone());
            Some(rec)
        }
    }
}
