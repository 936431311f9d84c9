//! The 1:1 health dashboard's rows: for one pair at `now`, what its last 90 days look like against
//! its cadence — last held, next scheduled, adherence, the current cancellation streak, open action
//! items, a health label, and the marks of its timeline picture. The web layer renders the rows
//! (HTML with an SVG timeline, CSV, JSON); this module owns only the computation.
//!
//! How it counts:
//! - **The cadence grid.** Slots are the pair's expected meeting times: anchored at the original
//!   start of its latest 1:1 (a series occurrence preferred, since a one-off may be at any time),
//!   stepped by the cadence in the pair's zone (N weeks, or calendar months for `monthly`), so the
//!   wall-clock time stays fixed across DST. Each 1:1 belongs to the slot nearest to its
//!   *original* start (from the meeting key), so a moved meeting still fills its own slot.
//! - **Adherence** = held slots ÷ expected slots, where the expected slots are the grid's slots in
//!   `[now − 90 days, now]`, and a slot is held when at least one 1:1 assigned to it was held. An
//!   extra 1:1 in the same slot does not count twice, so adherence never exceeds 100%. Slots
//!   before the slot of the pair's first known 1:1 are not expected (a new pair whose first 1:1
//!   is next week is not behind); a pair with no 1:1 at all is expected at every slot. With no
//!   expected slot (a brand-new pair) adherence is unknown, not 0.
//! - **Marks.** Each 1:1 from the window's start to one period after `now` (up to two, to show
//!   the next 1:1) is one mark: `held`, `moved` (held or scheduled at another time than its
//!   original start), `cancelled`, `declined` (cancelled because one of the two declined: its
//!   reason says "declined by"), `scheduled` (not yet held); each past expected slot without any
//!   1:1 is a `missing` mark.
//! - **The streak** is the one the `repeated_cancellations` finding counts
//!   ([`rules::evaluate`]): cancelled or declined 1:1s in a row, walking back from the latest one
//!   that is past or cancelled in advance. Missing slots do not extend it.
//! - **Health** (see [`Health`]) comes from the pair's active findings and its adherence.
//!
//! Architecture Invariant: pure. No I/O, no clock (`now` is an argument), never fails: odd data
//! (an unparsable meeting key, a pair without history) just yields fewer marks.
use super::agenda::{AgendaItem, ItemKind};
use super::history::{Occurrence, OccurrenceStatus};
use super::model::{Cadence, Pair, original_start_of};
use super::rules::{self, ActiveFinding};
use chrono::{DateTime, Duration, Months, NaiveDateTime, TimeZone, Utc};

/// The window the adherence and the timeline look back over.
pub const WINDOW_DAYS: i64 = 90;
/// Adherence below this (in percent) makes a pair at least at risk.
pub const AT_RISK_BELOW_PERCENT: u32 = 80;
/// Adherence below this (in percent) makes a pair failing.
pub const FAILING_BELOW_PERCENT: u32 = 50;
/// Finding kinds that mean the 1:1s are not happening: any of them active makes a pair failing.
pub const FAILING_KINDS: [&str; 3] = [
    "cadence_gap",
    "no_upcoming_meeting",
    "repeated_cancellations",
];

/// A pair's health label.
///
/// - `Failing`: a finding that says the 1:1s are not happening is active ([`FAILING_KINDS`]), or
///   adherence is below [`FAILING_BELOW_PERCENT`].
/// - `AtRisk`: otherwise, any other active warning finding, adherence below
///   [`AT_RISK_BELOW_PERCENT`], or the latest 1:1 was cancelled or declined (a streak of 1 or more).
/// - `Healthy`: none of that (findings of severity `info` do not count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Health {
    Failing,
    AtRisk,
    Healthy,
}

impl Health {
    pub const ALL: [Health; 3] = [Health::Healthy, Health::AtRisk, Health::Failing];

    /// The value in URLs and exports: `healthy`, `at_risk`, `failing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Failing => "failing",
            Health::AtRisk => "at_risk",
            Health::Healthy => "healthy",
        }
    }

    /// The label people read.
    pub fn label(self) -> &'static str {
        match self {
            Health::Failing => "Failing",
            Health::AtRisk => "At risk",
            Health::Healthy => "Healthy",
        }
    }

    pub fn parse(s: &str) -> Option<Health> {
        Health::ALL.into_iter().find(|h| h.as_str() == s)
    }
}

/// What one mark of the timeline shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarkState {
    Held,
    Moved,
    Cancelled,
    Declined,
    Scheduled,
    Missing,
}

impl MarkState {
    pub const ALL: [MarkState; 6] = [
        MarkState::Held,
        MarkState::Moved,
        MarkState::Cancelled,
        MarkState::Declined,
        MarkState::Missing,
        MarkState::Scheduled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MarkState::Held => "held",
            MarkState::Moved => "moved",
            MarkState::Cancelled => "cancelled",
            MarkState::Declined => "declined",
            MarkState::Scheduled => "scheduled",
            MarkState::Missing => "missing",
        }
    }
}

/// One mark of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// Where it sits on the time axis: the 1:1's start, or the missing slot's time.
    pub at: DateTime<Utc>,
    pub state: MarkState,
    /// For a moved 1:1, where it was originally; for any 1:1 whether it was held (moved ones).
    pub original: Option<DateTime<Utc>>,
    /// Held (a moved one may be held or still to come).
    pub held: bool,
    /// Why it counts as cancelled ("cancelled by x", "declined by y").
    pub reason: Option<String>,
}

/// Held slots against expected slots over the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adherence {
    pub held: u32,
    pub expected: u32,
}

impl Adherence {
    /// Whole percent, rounded down; `None` when no slot was expected yet.
    pub fn percent(self) -> Option<u32> {
        (self.expected > 0).then(|| self.held * 100 / self.expected)
    }
}

/// One pair's row of the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub struct PairRow {
    pub pair_id: String,
    pub manager: String,
    pub report: String,
    pub cadence: Cadence,
    pub last_held: Option<DateTime<Utc>>,
    pub next_scheduled: Option<DateTime<Utc>>,
    pub adherence: Adherence,
    pub cancellation_streak: u32,
    pub open_action_items: u32,
    pub health: Health,
    /// Why the health is what it is (empty when healthy).
    pub reasons: Vec<String>,
    /// The kinds of the pair's active findings, sorted.
    pub findings: Vec<String>,
    /// The timeline's span: `[from, to]`.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The grid's slots within the span (past and upcoming), in order.
    pub slots: Vec<DateTime<Utc>>,
    /// The marks, in time order.
    pub marks: Vec<Mark>,
}

/// What the store knows about one pair.
#[derive(Debug, Clone, Copy)]
pub struct PairData<'a> {
    pub pair: &'a Pair,
    pub history: &'a [Occurrence],
    pub findings: &'a [ActiveFinding],
    pub items: &'a [AgendaItem],
}

/// The dashboard row of one pair at `now`.
pub fn pair_row(data: PairData<'_>, now: DateTime<Utc>) -> PairRow {
    let pair = data.pair;
    let from = now - Duration::days(WINDOW_DAYS);
    let occ: Vec<&Occurrence> = data.history.iter().filter(|o| o.one_on_one).collect();
    let next = next_scheduled(&occ, now);
    let period = pair.cadence.period();
    // One period ahead, further when the next 1:1 is later (up to two periods).
    let to = next.map_or(now + period, |n| n.clamp(now + period, now + period * 2));
    let grid = grid(pair, &occ, now, from, to);
    let slot_of = |o: &Occurrence| nearest(&grid, planned_start(o));
    // Slots before the pair's first known 1:1 were not expected of it (a new pair, or one whose
    // earlier 1:1s are older than what the calendars were read for); a pair with none at all
    // is expected at every slot.
    let first = occ.iter().filter_map(|o| slot_of(o)).min();
    let expected: Vec<DateTime<Utc>> = grid
        .iter()
        .copied()
        .filter(|s| *s >= from && *s <= now && first.is_none_or(|f| *s >= f))
        .collect();
    let held_slots = expected
        .iter()
        .filter(|s| {
            occ.iter()
                .any(|o| o.status == OccurrenceStatus::Held && slot_of(o) == Some(**s))
        })
        .count() as u32;
    let filled: Vec<DateTime<Utc>> = occ.iter().filter_map(|o| slot_of(o)).collect();
    let mut marks: Vec<Mark> = occ
        .iter()
        .filter(|o| o.start >= from && o.start <= to)
        .map(|o| mark(o))
        .collect();
    marks.extend(
        expected
            .iter()
            .filter(|s| !filled.contains(s))
            .map(|s| Mark {
                at: *s,
                state: MarkState::Missing,
                original: None,
                held: false,
                reason: None,
            }),
    );
    marks.sort_by_key(|m| m.at);
    let health = rules::evaluate(pair, data.history, &[], now, Duration::days(3660));
    let adherence = Adherence {
        held: held_slots,
        expected: expected.len() as u32,
    };
    let (label, reasons) = health_of(data.findings, adherence, health.consecutive_cancellations);
    let mut findings: Vec<String> = data.findings.iter().map(|f| f.kind.clone()).collect();
    findings.sort();
    findings.dedup();
    PairRow {
        pair_id: pair.id.clone(),
        manager: pair.manager.clone(),
        report: pair.report.clone(),
        cadence: pair.cadence,
        last_held: health.last_held,
        next_scheduled: next,
        adherence,
        cancellation_streak: health.consecutive_cancellations,
        open_action_items: open_action_items(data.items),
        health: label,
        reasons,
        findings,
        from,
        to,
        slots: grid
            .into_iter()
            .filter(|s| *s >= from && *s <= to)
            .collect(),
        marks,
    }
}

/// The earliest upcoming 1:1 that is not cancelled.
fn next_scheduled(occ: &[&Occurrence], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    occ.iter()
        .filter(|o| o.status == OccurrenceStatus::Scheduled && o.start > now)
        .map(|o| o.start)
        .min()
}

/// Open action items: of kind action item, neither done nor dropped.
pub fn open_action_items(items: &[AgendaItem]) -> u32 {
    items
        .iter()
        .filter(|i| i.kind == ItemKind::ActionItem && !i.is_closed())
        .count() as u32
}

/// The health label and its reasons (see [`Health`]).
pub fn health_of(
    findings: &[ActiveFinding],
    adherence: Adherence,
    streak: u32,
) -> (Health, Vec<String>) {
    let mut failing = Vec::new();
    let mut at_risk = Vec::new();
    for f in findings {
        if FAILING_KINDS.contains(&f.kind.as_str()) {
            failing.push(format!("finding {}", f.kind));
        } else if f.severity == "warning" {
            at_risk.push(format!("finding {}", f.kind));
        }
    }
    if let Some(p) = adherence.percent() {
        let text = format!(
            "adherence {p}% ({} of {} slots held)",
            adherence.held, adherence.expected
        );
        if p < FAILING_BELOW_PERCENT {
            failing.push(text);
        } else if p < AT_RISK_BELOW_PERCENT {
            at_risk.push(text);
        }
    }
    if streak > 0 && failing.is_empty() {
        at_risk.push(format!("{streak} cancelled or declined in a row"));
    }
    if !failing.is_empty() {
        failing.extend(at_risk);
        (Health::Failing, failing)
    } else if !at_risk.is_empty() {
        (Health::AtRisk, at_risk)
    } else {
        (Health::Healthy, Vec::new())
    }
}

/// When a 1:1 was planned: its original start (series occurrence), else its start.
fn planned_start(o: &Occurrence) -> DateTime<Utc> {
    o.series
        .as_deref()
        .and_then(|uid| original_start_of(&o.meeting, uid))
        .unwrap_or(o.start)
}

/// The mark of one 1:1.
fn mark(o: &Occurrence) -> Mark {
    let planned = planned_start(o);
    let moved = planned != o.start;
    let held = o.status == OccurrenceStatus::Held;
    let declined = o
        .cancel_reason
        .as_deref()
        .is_some_and(|r| r.contains("declined by"));
    let state = match o.status {
        OccurrenceStatus::Cancelled if declined => MarkState::Declined,
        OccurrenceStatus::Cancelled => MarkState::Cancelled,
        _ if moved => MarkState::Moved,
        OccurrenceStatus::Held => MarkState::Held,
        OccurrenceStatus::Scheduled => MarkState::Scheduled,
    };
    Mark {
        at: o.start,
        state,
        original: moved.then_some(planned),
        held,
        reason: o.cancel_reason.clone(),
    }
}

/// The slot nearest to `t`.
fn nearest(grid: &[DateTime<Utc>], t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    grid.iter().copied().min_by_key(|s| (*s - t).abs())
}

/// The grid's anchor: the planned start of the latest 1:1 up to `to` (series first), else `now`.
fn anchor(occ: &[&Occurrence], now: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
    let latest = |series_only: bool| {
        occ.iter()
            .filter(|o| !series_only || o.series.is_some())
            .map(|o| planned_start(o))
            .filter(|t| *t <= to)
            .max()
    };
    latest(true).or_else(|| latest(false)).unwrap_or(now)
}

/// The cadence grid's slots from one period before `from` to `to` (the extra slot before the
/// window catches 1:1s that belong to it rather than to the window's first slot).
fn grid(
    pair: &Pair,
    occ: &[&Occurrence],
    now: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let tz = pair.timezone;
    let anchor_utc = anchor(occ, now, to);
    let anchor_local = anchor_utc.with_timezone(&tz).naive_local();
    let lower = from - pair.cadence.period();
    // A period never shorter than this, so the step range below covers [lower, to].
    let shortest = match pair.cadence {
        Cadence::Weeks(n) => Duration::weeks(i64::from(n)),
        Cadence::Monthly => Duration::days(28),
    }
    .num_seconds()
    .max(1);
    let k_lo = (lower - anchor_utc).num_seconds().div_euclid(shortest) - 2;
    let k_hi = (to - anchor_utc).num_seconds().div_euclid(shortest) + 2;
    let mut out: Vec<DateTime<Utc>> = (k_lo..=k_hi)
        .filter_map(|k| step(pair.cadence, anchor_local, k))
        .filter_map(|local| tz.from_local_datetime(&local).earliest())
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| *t >= lower && *t <= to)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `k` cadence periods from `local` (wall-clock time, so DST does not shift the slots).
fn step(cadence: Cadence, local: NaiveDateTime, k: i64) -> Option<NaiveDateTime> {
    match cadence {
        Cadence::Weeks(n) => local.checked_add_signed(Duration::weeks(k * i64::from(n))),
        Cadence::Monthly => {
            let months = Months::new(u32::try_from(k.unsigned_abs()).ok()?);
            if k >= 0 {
                local.checked_add_months(months)
            } else {
                local.checked_sub_months(months)
            }
        }
    }
}

#[cfg(test)]
mod tests;
