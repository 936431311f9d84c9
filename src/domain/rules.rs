//! Health rules for one pair: cadence, duration, repeated cancellations, gained attendees, and the
//! counts shown by `status`. Input is the pair's occurrence history (already reconciled with the
//! latest calendar snapshot) and what the snapshot says about the pair's series; `now` is an argument.
//! Each finding has a stable `key` so that the shell notifies it once when it appears (not every
//! cycle), and again only for a *new* streak/gap, and forgets it when it clears.
use super::history::{Occurrence, OccurrenceStatus};
use super::model::{Cadence, Pair, Rhythm};
use chrono::{DateTime, Duration, Utc};
use std::fmt;

/// The fixed vocabulary of findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingKind {
    NoUpcomingMeeting,
    CadenceGap,
    CadenceMismatch,
    DurationMismatch,
    RepeatedCancellations,
    NotOneOnOne,
    /// The managed block in an event's description has unbalanced or repeated markers: it is left
    /// alone until someone removes the stray marker.
    AgendaBlockDamaged,
    /// The organizer's copy of the meeting is not on any calendar oneonone reads (the organizer is
    /// outside the organisation): nothing is written to it.
    OrganizerOutside,
    /// The account's credentials were refused: nothing is read or written until the admin acts.
    AuthFailed,
}

impl FindingKind {
    /// Every kind, in declaration order.
    pub const ALL: [FindingKind; 9] = [
        FindingKind::NoUpcomingMeeting,
        FindingKind::CadenceGap,
        FindingKind::CadenceMismatch,
        FindingKind::DurationMismatch,
        FindingKind::RepeatedCancellations,
        FindingKind::NotOneOnOne,
        FindingKind::AgendaBlockDamaged,
        FindingKind::OrganizerOutside,
        FindingKind::AuthFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::NoUpcomingMeeting => "no_upcoming_meeting",
            FindingKind::CadenceGap => "cadence_gap",
            FindingKind::CadenceMismatch => "cadence_mismatch",
            FindingKind::DurationMismatch => "duration_mismatch",
            FindingKind::RepeatedCancellations => "repeated_cancellations",
            FindingKind::NotOneOnOne => "not_one_on_one",
            FindingKind::AgendaBlockDamaged => "agenda_block_damaged",
            FindingKind::OrganizerOutside => "organizer_outside",
            FindingKind::AuthFailed => "auth_failed",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
        }
    }
}

/// One finding about a pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    /// Stable identity: the same situation yields the same key on every cycle.
    pub key: String,
    pub message: String,
    pub occurrence: Option<DateTime<Utc>>,
    /// How bad it is (a streak's length, the periods a gap is overdue): it is notified again only
    /// when this grows past what was notified.
    pub level: u32,
    /// Lines that explain it in a notification (who cancelled when, free slots to rebook).
    pub details: Vec<String>,
}

/// A finding the daemon has seen and is tracking until it clears: notified once (when the delivery
/// succeeded, `notified_at` is set), forgotten when it no longer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveFinding {
    pub pair_id: String,
    /// Identity of the finding (`Finding::key`): a new streak notifies again, a growing one not.
    pub key: String,
    pub kind: String,
    pub severity: String,
    pub message: String,
    pub occurrence: Option<DateTime<Utc>>,
    pub first_seen: DateTime<Utc>,
    /// When it was handed to delivery (None: not yet).
    pub notified_at: Option<DateTime<Utc>>,
    /// Its current level, and the level last notified: a worse level is notified again.
    pub level: u32,
    pub notified_level: u32,
    /// The explanation lines of its notification.
    pub details: Vec<String>,
}

/// What the current calendar says about one of the pair's recurring series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesView {
    pub series_id: String,
    pub title: String,
    pub rhythm: Option<Rhythm>,
    /// Start of its next upcoming (not cancelled) instance, if any.
    pub next_start: Option<DateTime<Utc>>,
    /// Other people on its upcoming instances (the series "gained" them), sorted, de-duplicated.
    pub others: Vec<String>,
}

/// The health of one pair at `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct PairHealth {
    pub last_held: Option<DateTime<Utc>>,
    pub next_scheduled: Option<DateTime<Utc>>,
    pub held_in_window: u32,
    pub cancelled_in_window: u32,
    pub consecutive_cancellations: u32,
    pub findings: Vec<Finding>,
}

/// One line per cancelled occurrence: when (in the pair's zone) and who cancelled or declined.
fn who_cancelled<'a>(occ: impl Iterator<Item = &'a Occurrence>, tz: chrono_tz::Tz) -> Vec<String> {
    occ.map(|o| {
        format!(
            "{}: {}",
            o.start.with_timezone(&tz).format("%a %-d %b %H:%M"),
            o.cancel_reason.as_deref().unwrap_or("cancelled")
        )
    })
    .collect()
}

/// How late a 1:1 may be before the gap since the last one is a finding: half a period.
pub fn gap_tolerance(cadence: Cadence) -> Duration {
    cadence.period() / 2
}

fn fmt_minutes(d: Duration) -> String {
    let m = d.num_minutes();
    if m % 60 == 0 && m >= 60 {
        format!("{} h", m / 60)
    } else {
        format!("{m} min")
    }
}

fn fmt_day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// Evaluate one pair. `history` holds the pair's occurrence records (any order); `series` the pair's
/// series as seen now; `horizon` is how far ahead the daemon looks.
pub fn evaluate(
    pair: &Pair,
    history: &[Occurrence],
    series: &[SeriesView],
    now: DateTime<Utc>,
    horizon: Duration,
) -> PairHealth {
    let mut occ: Vec<&Occurrence> = history.iter().filter(|o| o.one_on_one).collect();
    occ.sort_by(|a, b| a.start.cmp(&b.start).then(a.meeting.cmp(&b.meeting)));

    let last_held = occ
        .iter()
        .filter(|o| o.status == OccurrenceStatus::Held && o.start <= now)
        .map(|o| o.start)
        .max();
    let upcoming: Vec<&&Occurrence> = occ
        .iter()
        .filter(|o| o.status == OccurrenceStatus::Scheduled && o.start > now)
        .collect();
    let next_scheduled = upcoming
        .iter()
        .map(|o| o.start)
        .filter(|s| *s <= now + horizon)
        .min();

    let window_start = now - pair.cancellations.window;
    let held_in_window = occ
        .iter()
        .filter(|o| o.start >= window_start && o.start <= now)
        .filter(|o| o.status == OccurrenceStatus::Held)
        .count() as u32;
    // Cancellations count when they are past, or decided in advance for an upcoming occurrence.
    let cancelled_in_window: Vec<&&Occurrence> = occ
        .iter()
        .filter(|o| o.status == OccurrenceStatus::Cancelled)
        .filter(|o| o.start >= window_start && o.start <= now + horizon)
        .collect();

    // The streak: walk back from the latest decided occurrence (past, or cancelled in advance).
    let decided: Vec<&&Occurrence> = occ
        .iter()
        .filter(|o| o.start <= now || o.status == OccurrenceStatus::Cancelled)
        .collect();
    let streak: Vec<&&&Occurrence> = decided
        .iter()
        .rev()
        .take_while(|o| o.status == OccurrenceStatus::Cancelled)
        .collect();
    let consecutive = streak.len() as u32;

    let mut findings = Vec::new();

    if next_scheduled.is_none() {
        findings.push(Finding {
            kind: FindingKind::NoUpcomingMeeting,
            severity: Severity::Warning,
            key: "no_upcoming_meeting".into(),
            message: format!(
                "{} and {} have no 1:1 scheduled in the next {} days",
                pair.manager,
                pair.report,
                horizon.num_days()
            ),
            occurrence: None,
            level: 1,
            details: Vec::new(),
        });
    }

    if let Some(last) = last_held {
        let limit = pair.cadence.period() + gap_tolerance(pair.cadence);
        if now - last > limit {
            findings.push(Finding {
                kind: FindingKind::CadenceGap,
                severity: Severity::Warning,
                key: format!("cadence_gap:{}", last.to_rfc3339()),
                message: format!(
                    "last 1:1 held on {} ({} days ago); cadence is {}",
                    fmt_day(last),
                    (now - last).num_days(),
                    pair.cadence
                ),
                occurrence: Some(last),
                level: u32::try_from(
                    (now - last).num_days() / pair.cadence.period().num_days().max(1),
                )
                .unwrap_or(u32::MAX),
                details: Vec::new(),
            });
        }
    }

    for s in series {
        if s.next_start.is_none() {
            continue;
        }
        if let Some(r) = &s.rhythm
            && !pair.cadence.matches(r)
        {
            findings.push(Finding {
                kind: FindingKind::CadenceMismatch,
                severity: Severity::Warning,
                key: format!("cadence_mismatch:{}:{r}", s.series_id),
                message: format!(
                    "series \"{}\" repeats {r}; configured cadence is {}",
                    s.title, pair.cadence
                ),
                occurrence: s.next_start,
                level: 1,
                details: Vec::new(),
            });
        }
        if !s.others.is_empty() {
            findings.push(Finding {
                kind: FindingKind::NotOneOnOne,
                severity: Severity::Warning,
                key: format!("not_one_on_one:{}:{}", s.series_id, s.others.join(",")),
                message: format!(
                    "series \"{}\" is no longer a 1:1: it also invites {}",
                    s.title,
                    s.others.join(", ")
                ),
                occurrence: s.next_start,
                level: 1,
                details: Vec::new(),
            });
        }
    }

    // Duration: one finding per series (or single event) whose upcoming instances have the wrong length.
    let mut seen_groups: Vec<String> = Vec::new();
    for o in upcoming.iter().filter(|o| o.start <= now + horizon) {
        let length = o.end - o.start;
        if length == pair.duration {
            continue;
        }
        let group = o.group().to_string();
        if seen_groups.contains(&group) {
            continue;
        }
        seen_groups.push(group.clone());
        let severity = if length < pair.duration {
            Severity::Warning
        } else {
            Severity::Info
        };
        findings.push(Finding {
            kind: FindingKind::DurationMismatch,
            severity,
            key: format!("duration_mismatch:{group}:{}", length.num_minutes()),
            message: format!(
                "\"{}\" on {} is {}; configured duration is {}",
                o.title,
                fmt_day(o.start),
                fmt_minutes(length),
                fmt_minutes(pair.duration)
            ),
            occurrence: Some(o.start),
            level: 1,
            details: Vec::new(),
        });
    }

    let policy = pair.cancellations;
    if policy.max_consecutive > 0 && consecutive >= policy.max_consecutive {
        // Keyed by the first cancellation of the streak: the same streak, growing, is the same
        // finding; it is notified again only each time it grows by another threshold.
        let first = streak.last().map(|o| o.start);
        let first_id = streak.last().map(|o| o.meeting.as_str()).unwrap_or("");
        findings.push(Finding {
            kind: FindingKind::RepeatedCancellations,
            severity: Severity::Warning,
            key: format!("repeated_cancellations:streak:{first_id}"),
            message: format!(
                "{consecutive} 1:1s in a row cancelled or declined (since {})",
                first.map(fmt_day).unwrap_or_default()
            ),
            occurrence: first,
            level: consecutive / policy.max_consecutive,
            details: who_cancelled(streak.iter().rev().map(|o| ***o), pair.timezone),
        });
    } else if policy.max_in_window > 0 && cancelled_in_window.len() as u32 >= policy.max_in_window {
        let first = cancelled_in_window.first().map(|o| o.start);
        findings.push(Finding {
            kind: FindingKind::RepeatedCancellations,
            severity: Severity::Warning,
            key: "repeated_cancellations:window".into(),
            message: format!(
                "{} 1:1s cancelled or declined in the last {} days",
                cancelled_in_window.len(),
                policy.window.num_days()
            ),
            occurrence: first,
            level: cancelled_in_window.len() as u32 / policy.max_in_window,
            details: who_cancelled(cancelled_in_window.iter().map(|o| **o), pair.timezone),
        });
    }

    findings.sort_by(|a, b| a.kind.cmp(&b.kind).then(a.key.cmp(&b.key)));
    PairHealth {
        last_held,
        next_scheduled,
        held_in_window,
        cancelled_in_window: cancelled_in_window.len() as u32,
        consecutive_cancellations: consecutive,
        findings,
    }
}
