//! Which calendars of an account count as read completely this cycle, and which sources in them
//! could not be read. Absence of a remembered occurrence proves something only inside a calendar
//! read completely and outside an unreadable source. A calendar that held events when last read and
//! now returns none (an emptied or unmounted folder, a mailbox answering with nothing) is judged a
//! failed read, not a wave of cancellations; so is a known calendar that is no longer listed.
use super::AccountInput;
use crate::domain::SeenIn;
use crate::providers::ProblemKind;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashSet};

/// The completeness of one account's fetch.
#[derive(Debug, Clone, Default)]
pub(crate) struct Completeness<'a> {
    /// The fetch returned a snapshot at all.
    pub fetched: bool,
    /// Calendars read completely (and not suspect).
    pub complete: HashSet<&'a str>,
    /// Sources (files, series) that could not be read.
    pub unreadable: HashSet<&'a str>,
    /// Calendars holding an unreadable source (`None`: a source of an unknown calendar).
    pub unreadable_in: HashSet<Option<&'a str>>,
    /// Sources that must not be written: unreadable, or read with a caveat.
    pub not_writable: HashSet<&'a str>,
    /// Every calendar the snapshot lists, complete or not.
    pub listed: HashSet<&'a str>,
}

impl Completeness<'_> {
    /// Does the absence of a remembered occurrence last seen in `seen_in` prove it is gone? Only
    /// when every place it was seen was read completely. Records from before `seen_in` was kept
    /// (empty) need the whole account read completely.
    pub fn absence_counts(&self, seen_in: &[SeenIn]) -> bool {
        if !self.fetched {
            return false;
        }
        if seen_in.is_empty() {
            return self.unreadable.is_empty() && self.complete.len() == self.listed.len();
        }
        seen_in
            .iter()
            .all(|s| self.complete.contains(&*s.calendar) && !self.unreadable.contains(&*s.source))
    }

    /// Were these calendars (or, for `None`, every calendar of the account) read completely, with
    /// nothing unreadable in them?
    pub fn all_read(&self, calendars: Option<&[&str]>) -> bool {
        if !self.fetched || self.unreadable_in.contains(&None) {
            return false;
        }
        match calendars {
            Some(cals) => cals
                .iter()
                .all(|c| self.complete.contains(c) && !self.unreadable_in.contains(&Some(*c))),
            None => self.unreadable.is_empty() && self.complete.len() == self.listed.len(),
        }
    }
}

/// A calendar judged unreadable although the provider read it "successfully".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuspectCalendar {
    pub calendar: String,
    /// Events it held when last read completely.
    pub had: usize,
    pub reason: String,
}

/// What to remember about an account's calendars after this cycle.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CalendarsPlan {
    /// Events per calendar to store (calendars not read completely keep their old count).
    pub counts: BTreeMap<String, (usize, DateTime<Utc>)>,
    /// The counts differ from the stored ones.
    pub changed: bool,
    /// Calendars treated as failed reads although the provider returned them.
    pub suspect: Vec<SuspectCalendar>,
}

/// Judge the calendars of one account.
pub(crate) fn judge<'a>(
    now: DateTime<Utc>,
    forget_after: Duration,
    input: &AccountInput<'a>,
) -> (Completeness<'a>, CalendarsPlan) {
    let mut c = Completeness::default();
    let mut plan = CalendarsPlan {
        counts: input.known_counts.clone(),
        ..CalendarsPlan::default()
    };
    let Some(snapshot) = input.snapshot else {
        return (c, plan);
    };
    c.fetched = true;
    for cal in &snapshot.calendars {
        c.listed.insert(cal.id.as_str());
        let Ok(events) = cal.events else { continue };
        let had = input.known_counts.get(&cal.id).map_or(0, |(n, _)| *n);
        if events == 0 && had > 0 {
            plan.suspect.push(SuspectCalendar {
                calendar: cal.id.clone(),
                had,
                reason: format!(
                    "it held {had} events when last read and now returns none; treated as a failed read \
                     (an emptied or unmounted calendar), so nothing in it counts as cancelled"
                ),
            });
            continue;
        }
        c.complete.insert(cal.id.as_str());
        // Refresh the time of a confirmed count once a day, not every cycle.
        let at = match input.known_counts.get(&cal.id) {
            Some((n, at)) if *n == events && now - *at < Duration::days(1) => *at,
            _ => now,
        };
        plan.counts.insert(cal.id.clone(), (events, at));
    }
    for (cal, (had, at)) in input.known_counts.iter() {
        if c.listed.contains(cal.as_str()) || *had == 0 {
            continue;
        }
        if now - *at > forget_after {
            plan.counts.remove(cal);
            continue;
        }
        plan.suspect.push(SuspectCalendar {
            calendar: cal.clone(),
            had: *had,
            reason: format!(
                "it held {had} events when last read and is no longer found; treated as a failed read"
            ),
        });
    }
    for p in &snapshot.problems {
        match p.kind {
            ProblemKind::Unreadable => {
                c.unreadable.insert(p.source.as_str());
                c.unreadable_in.insert(p.calendar.as_deref());
            }
            ProblemKind::NotWritable => {}
        }
        c.not_writable.insert(p.source.as_str());
    }
    plan.changed = plan.counts != *input.known_counts;
    (c, plan)
}
