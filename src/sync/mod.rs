//! The pure planner: `plan(inputs) -> Plan`. Given `now`, the configured pairs, what each
//! account's calendars show and what the store remembers, it decides everything a cycle does: the
//! updated occurrence history of every pair, its health and findings (which are new, to notify, and
//! which cleared), the agenda docs to make, the description blocks to write and where, the fix-mode
//! repairs, the journal key of every write, and what to remember about each calendar. The shell
//! (`daemon`) reads the inputs, calls `plan`, and carries the plan out; dry-run is one branch there.
//!
//! Architecture Invariants: no I/O, no clock, no randomness here (fresh tokens come from the
//! injected `TokenSource`); every function is deterministic; `sync` imports nothing from `store`,
//! `daemon`, `cli` or `web`. Absence of a meeting counts only inside a calendar read completely.
pub mod blocks;
pub mod calendars;
pub mod fix;
mod history;
mod meetings;

pub use calendars::{CalendarsPlan, SuspectCalendar};

use crate::domain::agenda::{AgendaDoc, AgendaItem};
use crate::domain::detect::{Classification, PairIndex};
use crate::domain::hash::fnv1a64;
use crate::domain::links::TokenSource;
use crate::domain::rules::{ActiveFinding, Finding, PairHealth, SeriesView, evaluate};
use crate::domain::{
    Instance, Occurrence, OccurrenceStatus, Pair, Rhythm, SeriesMaster, WriteMark,
};
use crate::providers::{BusyTime, NewSeries, OccurrenceWrite, SeriesWrite, Snapshot, Window};
use calendars::Completeness;
use chrono::{DateTime, Duration, Utc};
use fix::{FixAction, FixInput};
use meetings::{Crowded, Meeting};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A removed occurrence counts as cancelled when it was due within this long; one removed further
/// ahead (a series shortened or deleted) is simply forgotten.
pub const REMOVAL_COUNTS_WITHIN: Duration = Duration::days(7);

/// History older than lookback plus this margin is pruned.
pub const HISTORY_MARGIN: Duration = Duration::days(30);

/// The settings the planner reads.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSettings {
    pub horizon: Duration,
    pub lookback: Duration,
    /// The zone of messages and of new series.
    pub timezone: chrono_tz::Tz,
    /// The base of the agenda links written into events.
    pub public_url: String,
    /// Remind this long before each 1:1 (`None`: no reminders).
    pub nudge_before: Option<Duration>,
}

impl PlanSettings {
    /// The window every fetch covers at `now`.
    pub fn window(&self, now: DateTime<Utc>) -> Window {
        Window {
            start: now - self.lookback,
            end: now + self.horizon,
        }
    }
}

/// What one account's fetch returned, and what the planner needs to know about the account.
#[derive(Debug, Clone, Copy)]
pub struct AccountInput<'a> {
    pub name: &'a str,
    /// `None` when the account could not be read at all this cycle.
    pub snapshot: Option<&'a Snapshot>,
    /// Description writes by the organizer email the attendees (Microsoft Graph).
    pub writes_notify: bool,
    /// Events per calendar when each was last read completely, and when that was.
    pub known_counts: &'a BTreeMap<String, (usize, DateTime<Utc>)>,
    /// The account's credentials were refused: what the admin must do (an `auth_failed` finding
    /// on each of its pairs; their other findings stay as they were).
    pub auth_failure: Option<&'a str>,
}

/// What the store remembers about one pair.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PairInput {
    pub history: Vec<Occurrence>,
    pub findings: Vec<ActiveFinding>,
    pub items: Vec<AgendaItem>,
    /// The token of the pair's stable link.
    pub link: String,
    pub marks: Vec<WriteMark>,
}

/// Everything `plan` reads.
pub struct PlanInputs<'a> {
    pub now: DateTime<Utc>,
    pub settings: &'a PlanSettings,
    pub pairs: &'a [Pair],
    pub accounts: &'a [AccountInput<'a>],
    /// One per pair, in the same order; `None` when the pair's state could not be read (the pair
    /// is then left alone this cycle: nothing is decided from an empty history).
    pub state: Vec<Option<PairInput>>,
    pub tokens: &'a dyn TokenSource,
}

/// Everything a cycle does, decided.
#[derive(Debug, Default)]
pub struct Plan {
    /// One per pair whose state could be read, in pair order.
    pub pairs: Vec<PairPlan>,
    /// Every external write, in execution order (per unit: occurrences before series).
    pub writes: Vec<PlannedWrite>,
    /// Per account (in input order): what to remember about its calendars.
    pub calendars: Vec<(String, CalendarsPlan)>,
}

/// The plan of one pair.
#[derive(Debug, Clone)]
pub struct PairPlan {
    /// Index into the configured pairs.
    pub pair: usize,
    /// History records to write (new or changed).
    pub upsert: Vec<Occurrence>,
    /// Meeting keys of history records to delete.
    pub remove: Vec<String>,
    /// The full history after the update, sorted by start.
    pub history: Vec<Occurrence>,
    pub health: PairHealth,
    pub findings: FindingsDiff,
    /// Agenda docs to create (their tokens are already in the history records).
    pub new_docs: Vec<AgendaDoc>,
    /// The pair's stable link token and write marks, as they came in (the shell updates the marks
    /// after the writes and keeps the state for the next cycle).
    pub link: String,
    pub marks: Vec<WriteMark>,
    /// Meetings whose reminder is due (scheduled, starting within `nudge_before`).
    pub nudges: Vec<Nudge>,
}

/// A meeting whose "add your topics" reminder is due.
#[derive(Debug, Clone, PartialEq)]
pub struct Nudge {
    pub meeting: String,
    pub start: DateTime<Utc>,
    pub title: String,
    /// Its agenda doc's token, if it has one.
    pub doc: Option<String>,
    /// The items carried into its doc, one line each.
    pub carried: Vec<String>,
}

/// One external write.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedWrite {
    pub account: String,
    pub pair: String,
    /// Journal key: `block:MEETING`, `series:UID`, `end:MEETING`, `create:PAIR`.
    pub key: String,
    /// A write-once write (notifying provider, series creation): recorded in the pair's marks.
    pub once: bool,
    /// Identifies the written content in the journal.
    pub content_hash: String,
    /// For logs.
    pub what: String,
    /// Writes with the same unit (file, event) are made one after another, in plan order.
    pub unit: String,
    pub op: WriteOp,
}

/// What a planned write does.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    Occurrence(OccurrenceWrite),
    Series(SeriesWrite),
    Create(NewSeries),
}

impl WriteOp {
    /// Execution order within a unit: an occurrence's own text is written before its series'.
    fn phase(&self) -> u8 {
        match self {
            WriteOp::Occurrence(_) => 0,
            WriteOp::Series(_) => 1,
            WriteOp::Create(_) => 2,
        }
    }
}

/// Identifies written content in the write journal.
pub fn content_hash(s: &str) -> String {
    format!("{:016x}", fnv1a64(s.as_bytes()))
}

/// What planning one pair needs besides its own state.
pub(crate) struct PairCtx<'a> {
    pub now: DateTime<Utc>,
    pub pair: &'a Pair,
    pub settings: &'a PlanSettings,
    pub notify: bool,
    /// The account's series masters by (calendar, series id).
    pub masters: &'a HashMap<(&'a str, &'a str), &'a SeriesMaster>,
    pub link: &'a str,
    pub items: &'a [AgendaItem],
    pub marks: &'a [WriteMark],
    pub tokens: &'a dyn TokenSource,
    /// Sources that must not be written (unreadable, or read with a caveat).
    pub not_writable: &'a std::collections::HashSet<&'a str>,
}

/// One account, prepared for its pairs.
struct AccountPrep<'a> {
    input: &'a AccountInput<'a>,
    completeness: Completeness<'a>,
    masters: HashMap<(&'a str, &'a str), &'a SeriesMaster>,
    instances: &'a [Instance],
    /// The provider's busy times beside the instances.
    busy_times: &'a [BusyTime],
    /// Busy times per person, built on first use (fix mode, rebooking slots).
    busy: std::sync::OnceLock<fix::BusyIndex>,
}

impl AccountPrep<'_> {
    fn busy(&self) -> &fix::BusyIndex {
        self.busy
            .get_or_init(|| fix::BusyIndex::new(self.instances, self.busy_times))
    }
}

/// Decide a cycle.
pub fn plan(inputs: PlanInputs<'_>) -> Plan {
    let now = inputs.now;
    let mut out = Plan::default();
    let preps: Vec<AccountPrep<'_>> = inputs
        .accounts
        .iter()
        .map(|a| {
            let (completeness, cal_plan) = calendars::judge(now, inputs.settings.lookback, a);
            out.calendars.push((a.name.to_string(), cal_plan));
            prepare_account(a, completeness)
        })
        .collect();
    let views: Vec<(&str, &[Instance])> =
        preps.iter().map(|p| (p.input.name, p.instances)).collect();
    let buckets = meetings::bucket(inputs.pairs, &views);
    let work: Vec<(usize, &Pair, PairInput, meetings::PairInstances<'_>)> = inputs
        .state
        .into_iter()
        .zip(buckets)
        .enumerate()
        .filter_map(|(i, (state, b))| Some((i, inputs.pairs.get(i)?, state?, b)))
        .collect();
    let run = |(i, pair, state, b): (usize, &Pair, PairInput, meetings::PairInstances<'_>)| {
        let prep = preps.iter().find(|p| p.input.name == pair.account);
        plan_pair(
            i,
            pair,
            state,
            &b,
            prep,
            inputs.settings,
            inputs.tokens,
            now,
        )
    };
    let results = map_on_two_threads(work, run);
    for (pair_plan, writes) in results {
        out.pairs.push(pair_plan);
        out.writes.extend(writes);
    }
    out.writes.sort_by(|a, b| {
        (a.unit.as_str(), a.op.phase(), a.key.as_str()).cmp(&(
            b.unit.as_str(),
            b.op.phase(),
            b.key.as_str(),
        ))
    });
    out
}

fn prepare_account<'a>(
    input: &'a AccountInput<'a>,
    completeness: Completeness<'a>,
) -> AccountPrep<'a> {
    let (instances, busy_times, masters): (&[Instance], &[BusyTime], HashMap<_, _>) =
        match input.snapshot {
            Some(s) => (
                &s.instances,
                &s.busy,
                s.series
                    .iter()
                    .map(|m| ((&*m.calendar, m.id.as_str()), m))
                    .collect(),
            ),
            None => (&[], &[], HashMap::new()),
        };
    AccountPrep {
        input,
        completeness,
        masters,
        instances,
        busy_times,
        busy: std::sync::OnceLock::new(),
    }
}

/// From this many pairs on, `plan` uses a second thread (same result, in order).
const PARALLEL_FROM: usize = 200;

fn map_on_two_threads<T: Send, R: Send>(mut work: Vec<T>, run: impl Fn(T) -> R + Sync) -> Vec<R> {
    if work.len() < PARALLEL_FROM {
        return work.into_iter().map(run).collect();
    }
    let second = work.split_off(work.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| second.into_iter().map(&run).collect::<Vec<_>>());
        let mut out: Vec<R> = work.into_iter().map(&run).collect();
        match other.join() {
            Ok(rest) => out.extend(rest),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        out
    })
}

/// Plan one pair: history, health, docs and blocks, fixes, findings.
#[allow(clippy::too_many_arguments)]
fn plan_pair(
    index: usize,
    pair: &Pair,
    state: PairInput,
    instances: &meetings::PairInstances<'_>,
    prep: Option<&AccountPrep<'_>>,
    settings: &PlanSettings,
    tokens: &dyn TokenSource,
    now: DateTime<Utc>,
) -> (PairPlan, Vec<PlannedWrite>) {
    let empty_completeness = Completeness::default();
    let completeness = prep.map_or(&empty_completeness, |p| &p.completeness);
    let merged = meetings::merge(&instances.ones, pair, now);
    let crowded = meetings::merge_crowded(&instances.others);
    let window = settings.window(now);
    let PairInput {
        history: stored_history,
        findings: stored_findings,
        items,
        link,
        marks,
    } = state;
    let mut rec = history::reconcile(
        now,
        pair,
        &merged,
        &crowded,
        stored_history,
        completeness,
        (window.start, window.end),
        settings.lookback,
    );
    let series = series_views(&merged, &crowded, &rec.history, now);
    let mut health = evaluate(pair, &rec.history, &series, now, settings.horizon);
    let upcoming: Vec<&Meeting<'_>> = upcoming(&merged, now, settings.horizon);
    let notify = prep.is_some_and(|p| p.input.writes_notify);
    let no_masters = HashMap::new();
    let ctx = PairCtx {
        not_writable: &completeness.not_writable,
        now,
        pair,
        settings,
        notify,
        masters: prep.map_or(&no_masters, |p| &p.masters),
        link: &link,
        items: &items,
        marks: &marks,
        tokens,
    };
    let mut planned = blocks::plan(&ctx, &upcoming, &mut rec.history);
    note_new_docs(&mut rec, &planned.docs_for);
    if pair.enforce == crate::domain::Enforce::Fix
        && let Some(prep) = prep
    {
        let fixes = fix::plan_fixes(
            &FixInput {
                pair,
                upcoming: &upcoming,
                has_series: !series.is_empty(),
                history: &rec.history,
                busy: prep.busy(),
                completeness: &prep.completeness,
                their_calendars: their_calendars(prep, pair),
                not_writable: &prep.completeness.not_writable,
                marks: &marks,
                description: if notify {
                    crate::domain::block::render_series_block(&crate::domain::links::pair_url(
                        &settings.public_url,
                        &link,
                    ))
                } else {
                    String::new()
                },
            },
            now,
            pair.timezone,
            settings.horizon,
        );
        apply_fixes(pair, fixes, &mut planned.writes);
    }
    health.findings.extend(planned.findings);
    if let Some(prep) = prep {
        add_rebooking_slots(pair, &mut health.findings, prep, now);
    }
    let nudges = settings
        .nudge_before
        .map(|before| nudges_due(&ctx, &upcoming, &rec.history, before))
        .unwrap_or_default();
    health
        .findings
        .sort_by(|a, b| a.kind.cmp(&b.kind).then(a.key.cmp(&b.key)));
    health.findings.dedup_by(|a, b| a.key == b.key);
    // A pair whose calendars could not all be read is unknown, not healthy or empty: its findings
    // stay exactly as they were (none raised from missing data, none cleared to come back later).
    let findings = match prep {
        Some(p) if pair_readable(p, pair) => {
            diff_findings(&pair.id, &health.findings, &stored_findings, now)
        }
        Some(AccountPrep {
            input:
                AccountInput {
                    auth_failure: Some(action),
                    ..
                },
            ..
        }) => auth_failed(pair, action, stored_findings, now),
        _ => FindingsDiff::unchanged(stored_findings),
    };
    let plan = PairPlan {
        pair: index,
        upsert: rec.upsert,
        remove: rec.remove,
        history: rec.history,
        health,
        findings,
        new_docs: planned.new_docs,
        link,
        marks,
        nudges,
    };
    (plan, planned.writes)
}

/// A repeated-cancellations finding offers up to three slots in the current cadence period that are
/// free for both people (so the manager can rebook in one step).
fn add_rebooking_slots(
    pair: &Pair,
    findings: &mut [Finding],
    prep: &AccountPrep<'_>,
    now: DateTime<Utc>,
) {
    use crate::domain::rules::FindingKind;
    let Some(f) = findings
        .iter_mut()
        .find(|f| f.kind == FindingKind::RepeatedCancellations)
    else {
        return;
    };
    let busy = prep.busy();
    let slots =
        fix::free_slots_this_period(pair, busy.of(&pair.manager), busy.of(&pair.report), now, 3);
    if slots.is_empty() {
        f.details
            .push("No slot free for both in the working hours of the coming days.".into());
    } else {
        let list: Vec<String> = slots
            .iter()
            .map(|s| s.format("%a %-d %b %H:%M").to_string())
            .collect();
        f.details.push(format!(
            "Free for both to rebook: {} ({})",
            list.join(", "),
            pair.timezone
        ));
    }
}

/// The meetings whose reminder is due: scheduled, starting within `before` from now.
fn nudges_due(
    ctx: &PairCtx<'_>,
    upcoming: &[&Meeting<'_>],
    history: &[Occurrence],
    before: Duration,
) -> Vec<Nudge> {
    upcoming
        .iter()
        .filter(|m| m.start() - ctx.now <= before)
        .map(|m| {
            let doc = history
                .iter()
                .find(|o| o.meeting == m.key)
                .and_then(|o| o.agenda.clone());
            let carried =
                crate::domain::agenda::carried_into(ctx.items, history, &m.key, m.start())
                    .into_iter()
                    .map(|d| {
                        let action = if d.item.kind == crate::domain::agenda::ItemKind::ActionItem {
                            "[action] "
                        } else {
                            ""
                        };
                        let owner = d
                            .item
                            .owner
                            .as_deref()
                            .map(|o| format!(" (owner: {o})"))
                            .unwrap_or_default();
                        format!("{action}{}{owner}", d.item.text.replace(['\n', '\r'], " "))
                    })
                    .collect();
            Nudge {
                meeting: m.key.clone(),
                start: m.start(),
                title: m.primary.title.to_string(),
                doc,
                carried,
            }
        })
        .collect()
}

/// The pair's scheduled meetings within the horizon, soonest first.
fn upcoming<'m, 'a>(
    meetings: &'m [Meeting<'a>],
    now: DateTime<Utc>,
    horizon: Duration,
) -> Vec<&'m Meeting<'a>> {
    let mut v: Vec<&Meeting<'a>> = meetings
        .iter()
        .filter(|m| m.status == OccurrenceStatus::Scheduled)
        .filter(|m| m.start() > now && m.start() <= now + horizon)
        .collect();
    v.sort_by(|a, b| a.start().cmp(&b.start()).then(a.key.cmp(&b.key)));
    v
}

/// History records that now name a new doc are written too.
fn note_new_docs(rec: &mut history::Reconciled, docs_for: &[String]) {
    for key in docs_for {
        let Some(updated) = rec.history.iter().find(|o| &o.meeting == key) else {
            continue;
        };
        match rec.upsert.iter_mut().find(|o| &o.meeting == key) {
            Some(u) => *u = updated.clone(),
            None => rec.upsert.push(updated.clone()),
        }
    }
}

/// Were the pair's calendars (its people's, or every calendar when owners are unknown) read?
/// Unreadable single sources do not count: their meetings keep their state in the history.
fn pair_readable(prep: &AccountPrep<'_>, pair: &Pair) -> bool {
    let c = &prep.completeness;
    if !c.fetched {
        return false;
    }
    let theirs = their_calendars(prep, pair);
    if theirs.is_empty() {
        c.complete.len() == c.listed.len()
    } else {
        theirs.iter().all(|cal| c.complete.contains(cal))
    }
}

/// Calendars owned by either person of the pair (empty when the provider knows no owners).
fn their_calendars<'a>(prep: &AccountPrep<'a>, pair: &Pair) -> Vec<&'a str> {
    let Some(s) = prep.input.snapshot else {
        return Vec::new();
    };
    s.calendars
        .iter()
        .filter(|c| {
            c.owner
                .as_deref()
                .is_some_and(|o| o == pair.manager || o == pair.report)
        })
        .map(|c| c.id.as_str())
        .collect()
}

/// Turn fixes into writes; a length fix of an occurrence that also gets a block rides along.
fn apply_fixes(pair: &Pair, fixes: Vec<FixAction>, writes: &mut Vec<PlannedWrite>) {
    for f in fixes {
        match f {
            FixAction::SetEnd { target, end } => {
                let same = writes.iter_mut().find_map(|w| match &mut w.op {
                    WriteOp::Occurrence(o)
                        if o.target.id == target.id && o.target.calendar == target.calendar =>
                    {
                        Some(o)
                    }
                    _ => None,
                });
                if let Some(o) = same {
                    o.end = Some(end);
                    continue;
                }
                writes.push(PlannedWrite {
                    account: target.account.to_string(),
                    pair: pair.id.clone(),
                    key: format!("end:{}", target.meeting_key()),
                    once: false,
                    content_hash: content_hash(&end.to_rfc3339()),
                    what: format!(
                        "length of \"{}\" on {} → {} min",
                        target.title,
                        target.start.to_rfc3339(),
                        (end - target.start).num_minutes()
                    ),
                    unit: target.source.to_string(),
                    op: WriteOp::Occurrence(OccurrenceWrite {
                        target,
                        description: None,
                        end: Some(end),
                    }),
                });
            }
            FixAction::CreateSeries(series) => writes.push(PlannedWrite {
                account: pair.account.clone(),
                pair: pair.id.clone(),
                key: fix::create_key(pair),
                once: true,
                content_hash: content_hash(&series.key),
                what: format!(
                    "new {} series \"{}\" from {}",
                    pair.cadence,
                    series.title,
                    series.first_start.to_rfc3339()
                ),
                unit: series.key.clone(),
                op: WriteOp::Create(series),
            }),
        }
    }
}

/// What the calendar says about each of the pair's series (or single events that gained people).
fn series_views(
    meetings: &[Meeting<'_>],
    crowded: &[Crowded<'_>],
    history: &[Occurrence],
    now: DateTime<Utc>,
) -> Vec<SeriesView> {
    let group = |i: &Instance| i.series_key();
    // The pair's groups: seen as a 1:1 now or in history (records are only ever created from 1:1s).
    let mut known: BTreeSet<String> = meetings.iter().map(|m| group(m.primary)).collect();
    for r in history {
        known.insert(r.group().to_string());
    }
    let mut views: BTreeMap<String, SeriesView> = BTreeMap::new();
    let mut touch = |inst: &Instance, cancelled: bool, extra: &[String]| {
        let key = group(inst);
        if !known.contains(&key) {
            return;
        }
        let v = views.entry(key.clone()).or_insert_with(|| SeriesView {
            series_id: key,
            title: inst.title.to_string(),
            rhythm: None,
            next_start: None,
            others: Vec::new(),
        });
        if v.rhythm.is_none() {
            v.rhythm = inst
                .rhythm
                .clone()
                .filter(|r| !matches!(r, Rhythm::Other(s) if s.is_empty()));
        }
        if inst.start > now && !cancelled {
            v.next_start = Some(v.next_start.map_or(inst.start, |s| s.min(inst.start)));
            for e in extra {
                if !v.others.contains(e) {
                    v.others.push(e.clone());
                }
            }
        }
    };
    for m in meetings {
        touch(m.primary, m.status == OccurrenceStatus::Cancelled, &[]);
    }
    for c in crowded {
        touch(c.primary, c.primary.cancelled, &c.others);
    }
    let mut out: Vec<SeriesView> = views.into_values().collect();
    for v in &mut out {
        v.others.sort();
    }
    out
}

/// Findings compared with what was already notified.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FindingsDiff {
    /// Findings to notify now: new ones, and active ones whose notification has not succeeded yet.
    pub to_notify: Vec<ActiveFinding>,
    /// Findings that were active and are now resolved.
    pub cleared: Vec<ActiveFinding>,
    /// The complete active set to store (the shell sets `notified_at` when delivery succeeds).
    pub active: Vec<ActiveFinding>,
    /// Which of `to_notify` appear for the first time.
    pub new_keys: Vec<String>,
    /// `active` differs from the stored set (before any delivery).
    pub changed: bool,
}

/// The findings of a pair whose account's credentials were refused: the stored ones as they were,
/// plus (once) an `auth_failed` finding saying what the admin must do.
fn auth_failed(
    pair: &Pair,
    action: &str,
    stored: Vec<ActiveFinding>,
    now: DateTime<Utc>,
) -> FindingsDiff {
    let key = format!("auth_failed:{}", pair.account);
    let mut diff = FindingsDiff::unchanged(stored);
    if diff.active.iter().any(|f| f.key == key) {
        return diff;
    }
    let f = ActiveFinding {
        pair_id: pair.id.clone(),
        key: key.clone(),
        kind: crate::domain::rules::FindingKind::AuthFailed
            .as_str()
            .into(),
        severity: crate::domain::rules::Severity::Warning.as_str().into(),
        message: format!(
            "account {} cannot sign in, so this pair's calendars are not read: {action}",
            pair.account
        ),
        occurrence: None,
        first_seen: now,
        notified_at: None,
        level: 1,
        notified_level: 0,
        details: Vec::new(),
    };
    diff.new_keys.push(key);
    diff.to_notify.push(f.clone());
    diff.active.push(f);
    diff.changed = true;
    diff
}

impl FindingsDiff {
    /// Keep the stored findings as they are (only undelivered ones are offered again).
    pub fn unchanged(stored: Vec<ActiveFinding>) -> FindingsDiff {
        FindingsDiff {
            to_notify: stored
                .iter()
                .filter(|f| f.notified_at.is_none() || f.level > f.notified_level)
                .cloned()
                .collect(),
            active: stored,
            ..FindingsDiff::default()
        }
    }
}

/// Compare the current findings of a pair with its stored active findings.
pub fn diff_findings(
    pair_id: &str,
    current: &[Finding],
    stored: &[ActiveFinding],
    now: DateTime<Utc>,
) -> FindingsDiff {
    let by_key: HashMap<&str, &ActiveFinding> =
        stored.iter().map(|f| (f.key.as_str(), f)).collect();
    let mut diff = FindingsDiff::default();
    for f in current {
        let rec = match by_key.get(f.key.as_str()) {
            Some(old) => ActiveFinding {
                message: f.message.clone(),
                severity: f.severity.as_str().into(),
                occurrence: f.occurrence,
                level: f.level,
                details: f.details.clone(),
                ..(*old).clone()
            },
            None => {
                diff.new_keys.push(f.key.clone());
                ActiveFinding {
                    pair_id: pair_id.to_string(),
                    key: f.key.clone(),
                    kind: f.kind.as_str().into(),
                    severity: f.severity.as_str().into(),
                    message: f.message.clone(),
                    occurrence: f.occurrence,
                    first_seen: now,
                    notified_at: None,
                    level: f.level,
                    notified_level: 0,
                    details: f.details.clone(),
                }
            }
        };
        // Not notified yet, or worse than when it was: notify (again).
        if rec.notified_at.is_none() || rec.level > rec.notified_level {
            diff.to_notify.push(rec.clone());
        }
        diff.active.push(rec);
    }
    let current_keys: BTreeSet<&str> = current.iter().map(|f| f.key.as_str()).collect();
    diff.cleared = stored
        .iter()
        .filter(|f| !current_keys.contains(f.key.as_str()))
        .cloned()
        .collect();
    diff.changed = diff.active != stored;
    diff
}

/// A 1:1 seen on a calendar whose two people are not a configured pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovered {
    pub account: String,
    /// The probable manager: whoever organises most of them.
    pub organizer: String,
    pub other: String,
    pub occurrences: usize,
    pub rhythm: Option<Rhythm>,
    /// The most common length.
    pub duration: Duration,
    pub title: String,
}

/// Find 1:1s between people who are not a configured pair (for `discover`). Copies of one meeting
/// in several calendars count once.
pub fn discover(pairs: &[Pair], accounts: &[(&str, &Snapshot)]) -> Vec<Discovered> {
    let index = PairIndex::new(pairs);
    #[derive(Default)]
    struct Acc {
        meetings: BTreeSet<String>,
        organizers: BTreeMap<String, usize>,
        durations: BTreeMap<i64, usize>,
        rhythm: Option<Rhythm>,
        title: String,
    }
    let mut found: BTreeMap<(String, String, String), Acc> = BTreeMap::new();
    for (account, snapshot) in accounts {
        for inst in &snapshot.instances {
            if inst.cancelled {
                continue;
            }
            if let Classification::UnconfiguredTwo(a, b) = index.classify(inst) {
                let acc = found
                    .entry((account.to_string(), a.clone(), b.clone()))
                    .or_default();
                if !acc.meetings.insert(inst.meeting_key()) {
                    continue;
                }
                if let Some(org) = &inst.organizer {
                    *acc.organizers.entry(org.to_string()).or_default() += 1;
                }
                *acc.durations
                    .entry(inst.duration().num_minutes())
                    .or_default() += 1;
                if acc.rhythm.is_none() {
                    acc.rhythm = inst.rhythm.clone();
                }
                if acc.title.is_empty() {
                    acc.title = inst.title.to_string();
                }
            }
        }
    }
    found
        .into_iter()
        .map(|((account, a, b), acc)| {
            let organizer = acc
                .organizers
                .iter()
                .max_by_key(|(email, n)| (**n, std::cmp::Reverse((*email).clone())))
                .map(|(e, _)| e.clone())
                .unwrap_or_else(|| a.clone());
            let other = if organizer == a { b } else { a };
            let minutes = acc
                .durations
                .iter()
                .max_by_key(|(m, n)| (**n, std::cmp::Reverse(**m)))
                .map(|(m, _)| *m)
                .unwrap_or(30);
            Discovered {
                account,
                organizer,
                other,
                occurrences: acc.meetings.len(),
                rhythm: acc.rhythm,
                duration: Duration::minutes(minutes),
                title: acc.title,
            }
        })
        .collect()
}
