//! Shared builders for the tests of the pure core: instances, snapshots, and one call of
//! `sync::plan` with a deterministic token source.
#![allow(dead_code)]
use chrono::{DateTime, Duration, Utc};
use oneonone::domain::links::TokenSource;
use oneonone::domain::{Attendee, Instance, Pair, ParticipantKind, Response, Rhythm};
use oneonone::providers::{CalendarRead, Snapshot, SourceProblem};
use oneonone::sync::{AccountInput, PairInput, Plan, PlanInputs, PlanSettings};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Tokens `tok1`, `tok2`, … in order.
#[derive(Default)]
pub struct CountingTokens(AtomicUsize);

impl TokenSource for CountingTokens {
    fn fresh_token(&self) -> Option<String> {
        Some(format!("tok{}", self.0.fetch_add(1, Ordering::SeqCst) + 1))
    }
}

pub fn settings(horizon: Duration, lookback: Duration) -> PlanSettings {
    PlanSettings {
        horizon,
        lookback,
        timezone: chrono_tz::Europe::London,
        public_url: "http://agenda.test".into(),
        nudge_before: None,
    }
}

pub fn person(email: &str, response: Response) -> Attendee {
    Attendee {
        email: email.into(),
        kind: ParticipantKind::Person,
        response,
        optional: false,
    }
}

/// A copy of a weekly series occurrence (uid `series`) in calendar `cal`, owned by `owner`.
#[allow(clippy::too_many_arguments)]
pub fn occurrence(
    series: &str,
    start: DateTime<Utc>,
    minutes: i64,
    organizer: &str,
    attendees: Vec<Attendee>,
    cal: &str,
    owner: Option<&str>,
    cancelled: bool,
) -> Instance {
    Instance {
        account: "local".into(),
        calendar: cal.into(),
        owner: owner.map(Into::into),
        id: oneonone::domain::meeting_key(series, Some(start)),
        series_id: Some(series.into()),
        uid: series.into(),
        original_start: Some(start),
        title: format!("1:1 {series}").into(),
        organizer: Some(organizer.into()),
        attendees: attendees.into(),
        start,
        end: start + Duration::minutes(minutes),
        all_day: false,
        cancelled,
        rhythm: Some(Rhythm::Weeks(1)),
        description: "".into(),
        version: "v1".into(),
        source: format!("{cal}/{series}.ics").into(),
    }
}

/// A snapshot of calendars read completely (each holding `events` events) with these instances.
pub fn snapshot(instances: Vec<Instance>, calendars: &[(&str, usize)]) -> Snapshot {
    Snapshot {
        instances,
        series: Vec::new(),
        calendars: calendars
            .iter()
            .map(|(id, n)| CalendarRead {
                id: (*id).into(),
                owner: None,
                events: Ok(*n),
            })
            .collect(),
        problems: Vec::new(),
        busy: Vec::new(),
    }
}

/// An unreadable source in `cal`.
pub fn unreadable(cal: &str, source: &str) -> SourceProblem {
    SourceProblem {
        calendar: Some(cal.into()),
        source: source.into(),
        message: "broken".into(),
        kind: oneonone::providers::ProblemKind::Unreadable,
    }
}

/// One account's input for `plan`.
pub fn account<'a>(
    name: &'a str,
    snapshot: Option<&'a Snapshot>,
    notify: bool,
    counts: &'a BTreeMap<String, (usize, DateTime<Utc>)>,
) -> AccountInput<'a> {
    AccountInput {
        name,
        snapshot,
        writes_notify: notify,
        known_counts: counts,
        auth_failure: None,
    }
}

/// Plan once with fresh (empty) state for every pair except those in `states`.
pub fn plan(
    now: DateTime<Utc>,
    settings: &PlanSettings,
    pairs: &[Pair],
    accounts: &[AccountInput<'_>],
    states: Vec<Option<PairInput>>,
    tokens: &CountingTokens,
) -> Plan {
    oneonone::sync::plan(PlanInputs {
        now,
        settings,
        pairs,
        accounts,
        state: states,
        tokens,
    })
}

/// Empty state with a link token for each pair.
pub fn fresh_states(pairs: &[Pair]) -> Vec<Option<PairInput>> {
    pairs
        .iter()
        .map(|p| {
            Some(PairInput {
                link: format!("link-{}", p.id),
                ..PairInput::default()
            })
        })
        .collect()
}
