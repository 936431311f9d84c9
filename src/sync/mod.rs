//! The pure planner. Given `now`, the configured pairs, what each account's calendar shows and what
//! the store remembers, it decides: the updated occurrence history of every pair, each pair's health
//! and findings, which findings are new (to notify) or cleared, which occurrence gets the agenda block
//! and with what text, and (in fix mode) which repairs to make. The shell (`daemon`) carries the plan
//! out. Architecture Invariant: no I/O and no clock here; every function is deterministic.
pub mod fix;

use crate::domain::block::{BlockItem, apply_block, render_block};
use crate::domain::detect::{Classification, PairIndex, declined_by};
use crate::domain::rules::{Finding, PairHealth, SeriesView, evaluate};
use crate::domain::{Instance, Pair, Rhythm};
use crate::providers::Window;
use crate::store::{FindingRecord, OccurrenceRecord, OccurrenceStatus};
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// A removed occurrence counts as cancelled when it was due within this long; one removed further
/// ahead (a series shortened or deleted) is simply forgotten.
pub const REMOVAL_COUNTS_WITHIN: Duration = Duration::days(7);

/// History older than lookback plus this margin is pruned.
pub const HISTORY_MARGIN: Duration = Duration::days(30);

/// What one account's calendar showed in this cycle.
#[derive(Debug, Clone, Copy)]
pub struct AccountView<'a> {
    pub account: &'a str,
    pub window: Window,
    pub instances: &'a [Instance],
    /// False when the fetch failed or was partial: absence of an event then proves nothing.
    pub complete: bool,
}

/// The outcome of reconciling one pair.
#[derive(Debug, Clone)]
pub struct PairUpdate {
    pub pair_index: usize,
    /// Records to write (new or changed).
    pub upsert: Vec<OccurrenceRecord>,
    /// Instance ids of records to delete (pruned, or dropped far-future removals).
    pub remove: Vec<String>,
    /// The full history after the update, sorted by start.
    pub history: Vec<OccurrenceRecord>,
    pub series: Vec<SeriesView>,
    pub health: PairHealth,
    /// The next upcoming 1:1 instance (not cancelled or declined) within the horizon: it gets the
    /// agenda block.
    pub next_instance: Option<Instance>,
    /// Every upcoming 1:1 instance within the horizon (for fix mode).
    pub upcoming: Vec<Instance>,
}

fn status_of(
    inst: &Instance,
    pair: &Pair,
    now: DateTime<Utc>,
) -> (OccurrenceStatus, Option<String>) {
    if inst.cancelled {
        (OccurrenceStatus::Cancelled, Some("cancelled".into()))
    } else if let Some(who) = declined_by(inst, pair) {
        (
            OccurrenceStatus::Cancelled,
            Some(format!("declined by {who}")),
        )
    } else if inst.start <= now {
        (OccurrenceStatus::Held, None)
    } else {
        (OccurrenceStatus::Scheduled, None)
    }
}

/// Classify every instance once, bucketed per pair index.
struct Buckets<'a> {
    one_on_one: Vec<Vec<&'a Instance>>,
    with_others: Vec<Vec<(&'a Instance, Vec<String>)>>,
}

fn bucket<'a>(pairs: &[Pair], index: &PairIndex, views: &[AccountView<'a>]) -> Buckets<'a> {
    let mut b = Buckets {
        one_on_one: vec![Vec::new(); pairs.len()],
        with_others: vec![Vec::new(); pairs.len()],
    };
    for view in views {
        for inst in view.instances {
            match index.classify(inst) {
                Classification::OneOnOne(i)
                    if pairs.get(i).is_some_and(|p| p.account == view.account) =>
                {
                    b.one_on_one[i].push(inst);
                }
                Classification::WithOthers { pair, others }
                    if pairs.get(pair).is_some_and(|p| p.account == view.account) =>
                {
                    b.with_others[pair].push((inst, others));
                }
                _ => {}
            }
        }
    }
    b
}

/// Reconcile every pair's history with the calendars and evaluate its health.
pub fn reconcile(
    now: DateTime<Utc>,
    pairs: &[Pair],
    views: &[AccountView<'_>],
    mut history: HashMap<String, Vec<OccurrenceRecord>>,
    horizon: Duration,
    lookback: Duration,
) -> Vec<PairUpdate> {
    let index = PairIndex::new(pairs);
    let buckets = bucket(pairs, &index, views);
    let work: Vec<(usize, &Pair, Vec<OccurrenceRecord>)> = pairs
        .iter()
        .enumerate()
        .map(|(i, pair)| (i, pair, history.remove(&pair.id).unwrap_or_default()))
        .collect();
    let run = |(i, pair, stored): (usize, &Pair, Vec<OccurrenceRecord>)| {
        let view = views.iter().find(|v| v.account == pair.account);
        reconcile_pair(
            now,
            i,
            pair,
            view,
            &buckets.one_on_one[i],
            &buckets.with_others[i],
            stored,
            horizon,
            lookback,
        )
    };
    // Pairs are independent: evaluate large organisations on two threads (same result, in order).
    if work.len() < PARALLEL_FROM {
        return work.into_iter().map(run).collect();
    }
    let mut work = work;
    let second = work.split_off(work.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| second.into_iter().map(run).collect::<Vec<_>>());
        let mut out: Vec<PairUpdate> = work.into_iter().map(run).collect();
        match other.join() {
            Ok(rest) => out.extend(rest),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        out
    })
}

/// From this many pairs on, `reconcile` uses a second thread.
const PARALLEL_FROM: usize = 200;

#[allow(clippy::too_many_arguments)]
fn reconcile_pair(
    now: DateTime<Utc>,
    pair_index: usize,
    pair: &Pair,
    view: Option<&AccountView<'_>>,
    ones: &[&Instance],
    others: &[(&Instance, Vec<String>)],
    stored: Vec<OccurrenceRecord>,
    horizon: Duration,
    lookback: Duration,
) -> PairUpdate {
    // Owned, keyed by instance id: records are updated in place, never cloned wholesale.
    let mut merged: HashMap<String, OccurrenceRecord> = stored
        .into_iter()
        .map(|r| (r.instance_id.clone(), r))
        .collect();
    let mut upsert = Vec::new();
    let mut remove = Vec::new();
    let mut seen: HashSet<&str> = HashSet::with_capacity(ones.len() + others.len());

    for inst in ones {
        seen.insert(inst.id.as_str());
        let (status, cancel_reason) = status_of(inst, pair, now);
        match merged.get_mut(inst.id.as_str()) {
            Some(old) => {
                let unchanged = old.series_id == inst.series_id
                    && *old.title == *inst.title
                    && old.start == inst.start
                    && old.end == inst.end
                    && old.status == status
                    && old.cancel_reason == cancel_reason
                    && old.one_on_one
                    && *old.account == *inst.account;
                if !unchanged {
                    old.series_id.clone_from(&inst.series_id);
                    old.title = inst.title.to_string();
                    old.start = inst.start;
                    old.end = inst.end;
                    old.status = status;
                    old.cancel_reason = cancel_reason;
                    old.one_on_one = true;
                    old.account = inst.account.to_string();
                    old.last_seen = now;
                    upsert.push(old.clone());
                }
            }
            None => {
                let rec = OccurrenceRecord {
                    pair_id: pair.id.clone(),
                    account: inst.account.to_string(),
                    instance_id: inst.id.clone(),
                    series_id: inst.series_id.clone(),
                    title: inst.title.to_string(),
                    start: inst.start,
                    end: inst.end,
                    status,
                    cancel_reason,
                    last_seen: now,
                    one_on_one: true,
                };
                upsert.push(rec.clone());
                merged.insert(rec.instance_id.clone(), rec);
            }
        }
    }
    // Occurrences that were the pair's 1:1 and now have other people: keep them, flagged.
    for (inst, _) in others {
        seen.insert(inst.id.as_str());
        if let Some(old) = merged.get_mut(inst.id.as_str()) {
            let unchanged = !old.one_on_one
                && old.start == inst.start
                && old.end == inst.end
                && *old.title == *inst.title;
            if !unchanged {
                old.one_on_one = false;
                old.start = inst.start;
                old.end = inst.end;
                old.title = inst.title.to_string();
                old.last_seen = now;
                upsert.push(old.clone());
            }
        }
    }

    // Occurrences the calendar no longer shows.
    if let Some(view) = view.filter(|v| v.complete) {
        for rec in merged.values_mut() {
            if seen.contains(rec.instance_id.as_str()) || rec.account != pair.account {
                continue;
            }
            let in_window = rec.end > view.window.start && rec.start < view.window.end;
            if !in_window || !rec.one_on_one || rec.status != OccurrenceStatus::Scheduled {
                continue;
            }
            if rec.start <= now + REMOVAL_COUNTS_WITHIN {
                rec.status = OccurrenceStatus::Cancelled;
                rec.cancel_reason = Some("removed from the calendar".into());
                rec.last_seen = now;
                upsert.push(rec.clone());
            } else {
                remove.push(rec.instance_id.clone());
            }
        }
    }
    // Prune old history.
    let oldest = now - lookback - HISTORY_MARGIN;
    remove.extend(
        merged
            .values()
            .filter(|r| r.start < oldest)
            .map(|r| r.instance_id.clone()),
    );
    for id in &remove {
        merged.remove(id);
    }
    if !remove.is_empty() {
        let removed: HashSet<&str> = remove.iter().map(String::as_str).collect();
        upsert.retain(|r| !removed.contains(r.instance_id.as_str()));
    }

    let mut history: Vec<OccurrenceRecord> = merged.into_values().collect();
    history.sort_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then(a.instance_id.cmp(&b.instance_id))
    });

    let series = series_views(ones, others, &history, now);
    let health = evaluate(pair, &history, &series, now, horizon);

    let mut upcoming: Vec<Instance> = ones
        .iter()
        .filter(|i| i.start > now && i.start <= now + horizon)
        .filter(|i| status_of(i, pair, now).0 == OccurrenceStatus::Scheduled)
        .map(|i| (*i).clone())
        .collect();
    upcoming.sort_by(|a, b| a.start.cmp(&b.start).then(a.id.cmp(&b.id)));
    let next_instance = upcoming.first().cloned();

    PairUpdate {
        pair_index,
        upsert,
        remove,
        history,
        series,
        health,
        next_instance,
        upcoming,
    }
}

/// What the calendar says about each of the pair's series (or single events that gained people).
fn series_views(
    ones: &[&Instance],
    others: &[(&Instance, Vec<String>)],
    history: &[OccurrenceRecord],
    now: DateTime<Utc>,
) -> Vec<SeriesView> {
    let group = |i: &Instance| i.series_id.clone().unwrap_or_else(|| i.id.clone());
    // The pair's groups: seen as a 1:1 now or in history (records are only ever created from 1:1s).
    let mut known: BTreeSet<String> = ones.iter().map(|i| group(i)).collect();
    for r in history {
        known.insert(r.series_id.clone().unwrap_or_else(|| r.instance_id.clone()));
    }
    let mut views: BTreeMap<String, SeriesView> = BTreeMap::new();
    let mut touch = |inst: &Instance, extra: &[String]| {
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
        if inst.start > now && !inst.cancelled {
            v.next_start = Some(v.next_start.map_or(inst.start, |s| s.min(inst.start)));
            for e in extra {
                if !v.others.contains(e) {
                    v.others.push(e.clone());
                }
            }
        }
    };
    for i in ones {
        touch(i, &[]);
    }
    for (i, extra) in others {
        touch(i, extra);
    }
    let mut out: Vec<SeriesView> = views.into_values().collect();
    for v in &mut out {
        v.others.sort();
    }
    out
}

/// Findings compared with what was already notified.
#[derive(Debug, Clone, Default)]
pub struct FindingsDiff {
    /// Findings to notify now: new ones, and active ones whose notification has not succeeded yet.
    pub to_notify: Vec<FindingRecord>,
    /// Findings that were active and are now resolved.
    pub cleared: Vec<FindingRecord>,
    /// The complete active set to store (notified_at as it will be if notification succeeds is
    /// set by the shell).
    pub active: Vec<FindingRecord>,
}

/// Compare the current findings of a pair with its stored active findings.
pub fn diff_findings(
    pair_id: &str,
    current: &[Finding],
    stored: &[FindingRecord],
    now: DateTime<Utc>,
) -> FindingsDiff {
    let by_key: HashMap<&str, &FindingRecord> =
        stored.iter().map(|f| (f.key.as_str(), f)).collect();
    let mut diff = FindingsDiff::default();
    for f in current {
        let rec = match by_key.get(f.key.as_str()) {
            Some(old) => FindingRecord {
                message: f.message.clone(),
                severity: f.severity.as_str().into(),
                occurrence: f.occurrence,
                ..(*old).clone()
            },
            None => FindingRecord {
                pair_id: pair_id.to_string(),
                key: f.key.clone(),
                kind: f.kind.as_str().into(),
                severity: f.severity.as_str().into(),
                message: f.message.clone(),
                occurrence: f.occurrence,
                first_seen: now,
                notified_at: None,
            },
        };
        if rec.notified_at.is_none() {
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
    diff
}

/// What to do with the description of the pair's next 1:1.
#[derive(Debug, Clone, PartialEq)]
pub enum AgendaWrite {
    /// Write this complete description.
    Write(String),
    /// The description already holds exactly this block.
    UpToDate,
    /// The existing block is damaged; leave the description alone and report why.
    Damaged(String),
}

/// Plan the agenda block of `target`.
pub fn plan_agenda_write(
    target: &Instance,
    url: &str,
    carried: &[BlockItem],
    tz: chrono_tz::Tz,
) -> AgendaWrite {
    let block = render_block(url, carried, tz);
    match apply_block(&target.description, &block) {
        Ok(desc) if *desc == *target.description => AgendaWrite::UpToDate,
        Ok(desc) => AgendaWrite::Write(desc),
        Err(reason) => AgendaWrite::Damaged(reason),
    }
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

/// Find 1:1s between people who are not a configured pair (for `discover`).
pub fn discover(pairs: &[Pair], views: &[AccountView<'_>]) -> Vec<Discovered> {
    let index = PairIndex::new(pairs);
    #[derive(Default)]
    struct Acc {
        count: usize,
        organizers: BTreeMap<String, usize>,
        durations: BTreeMap<i64, usize>,
        rhythm: Option<Rhythm>,
        title: String,
    }
    let mut found: BTreeMap<(String, String, String), Acc> = BTreeMap::new();
    for view in views {
        for inst in view.instances {
            if inst.cancelled {
                continue;
            }
            if let Classification::UnconfiguredTwo(a, b) = index.classify(inst) {
                let acc = found
                    .entry((view.account.to_string(), a.clone(), b.clone()))
                    .or_default();
                acc.count += 1;
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
                occurrences: acc.count,
                rhythm: acc.rhythm,
                duration: Duration::minutes(minutes),
                title: acc.title,
            }
        })
        .collect()
}
