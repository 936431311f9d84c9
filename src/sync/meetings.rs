//! From instances to meetings: every instance is classified once (which pair, if any, it is the
//! 1:1 of), and the copies of one meeting in several calendars (the manager's and the report's)
//! are merged into one [`Meeting`] by meeting key. The merge reads the cancellation from the
//! organizer's copy, each person's answer from their own copy, and picks the one copy that may be
//! written: the organizer's.
use crate::domain::detect::{Classification, PairIndex};
use crate::domain::{Instance, OccurrenceStatus, Pair, Response};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// The instances of one pair, as classified.
#[derive(Debug, Default)]
pub(crate) struct PairInstances<'a> {
    /// Copies whose people are exactly the pair.
    pub ones: Vec<&'a Instance>,
    /// Copies with both members and other people too.
    pub others: Vec<(&'a Instance, Vec<String>)>,
}

/// Classify every instance of every account once, bucketed per pair (only instances of the pair's
/// own account count for it).
pub(crate) fn bucket<'a>(
    pairs: &[Pair],
    accounts: &[(&str, &'a [Instance])],
) -> Vec<PairInstances<'a>> {
    let index = PairIndex::new(pairs);
    let mut out: Vec<PairInstances<'a>> =
        (0..pairs.len()).map(|_| PairInstances::default()).collect();
    for (account, instances) in accounts {
        for inst in instances.iter() {
            match index.classify(inst) {
                Classification::OneOnOne(i)
                    if pairs.get(i).is_some_and(|p| p.account == *account) =>
                {
                    if let Some(b) = out.get_mut(i) {
                        b.ones.push(inst);
                    }
                }
                Classification::WithOthers { pair, others }
                    if pairs.get(pair).is_some_and(|p| p.account == *account) =>
                {
                    if let Some(b) = out.get_mut(pair) {
                        b.others.push((inst, others));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// One meeting of a pair, merged from its copies.
#[derive(Debug, Clone)]
pub(crate) struct Meeting<'a> {
    pub key: String,
    /// Its series (the UID), if it is an occurrence.
    pub series: Option<std::sync::Arc<str>>,
    /// Every copy, ordered by calendar.
    pub copies: Vec<&'a Instance>,
    /// The copy whose data (time, title, rhythm) is taken: the organizer's, else the first.
    pub primary: &'a Instance,
    /// The one copy that may be written: the organizer's; or, when no copy's owner is known,
    /// the primary. `None` when owners are known and none is the organizer (organizer outside).
    pub writable: Option<&'a Instance>,
    pub status: OccurrenceStatus,
    pub cancel_reason: Option<String>,
}

impl Meeting<'_> {
    pub fn start(&self) -> DateTime<Utc> {
        self.primary.start
    }
}

/// Group a pair's copies by meeting key and merge each group.
pub(crate) fn merge<'a>(
    copies: &[&'a Instance],
    pair: &Pair,
    now: DateTime<Utc>,
) -> Vec<Meeting<'a>> {
    let mut groups: BTreeMap<String, Vec<&'a Instance>> = BTreeMap::new();
    for c in copies {
        groups.entry(c.meeting_key()).or_default().push(c);
    }
    groups
        .into_iter()
        .filter_map(|(key, mut copies)| {
            copies.sort_by(|a, b| a.calendar.cmp(&b.calendar).then(a.id.cmp(&b.id)));
            merge_one(key, copies, pair, now)
        })
        .collect()
}

fn merge_one<'a>(
    key: String,
    copies: Vec<&'a Instance>,
    pair: &Pair,
    now: DateTime<Utc>,
) -> Option<Meeting<'a>> {
    let organizer_copy = copies.iter().copied().find(|c| c.is_organizer_copy());
    let primary = organizer_copy.or_else(|| copies.first().copied())?;
    let owners_known = copies.iter().any(|c| c.owner.is_some());
    let writable = organizer_copy.or((!owners_known).then_some(primary));
    let cancelled = match organizer_copy {
        Some(o) => o.cancelled,
        None => copies.iter().any(|c| c.cancelled),
    };
    let (status, cancel_reason) = if cancelled {
        let by = primary
            .organizer
            .as_deref()
            .map(|o| format!("cancelled by {o}"))
            .unwrap_or_else(|| "cancelled".into());
        (OccurrenceStatus::Cancelled, Some(by))
    } else if let Some(who) = declined_by(&copies, primary, pair) {
        (
            OccurrenceStatus::Cancelled,
            Some(format!("declined by {who}")),
        )
    } else if primary.start <= now {
        (OccurrenceStatus::Held, None)
    } else {
        (OccurrenceStatus::Scheduled, None)
    };
    Some(Meeting {
        key,
        series: primary.series_id.as_ref().map(|_| primary.uid.clone()),
        copies,
        primary,
        writable,
        status,
        cancel_reason,
    })
}

/// Which member declined: each member's answer is read from their own copy when there is one,
/// else from the primary copy's attendee list.
fn declined_by<'a>(
    copies: &[&'a Instance],
    primary: &'a Instance,
    pair: &'a Pair,
) -> Option<&'a str> {
    [pair.manager.as_str(), pair.report.as_str()]
        .into_iter()
        .find(|member| {
            let own = copies
                .iter()
                .find(|c| c.owner.as_deref() == Some(*member))
                .copied()
                .unwrap_or(primary);
            own.attendees
                .iter()
                .any(|a| a.email == *member && a.response == Response::Declined)
        })
}

/// A pair's meeting that has other people too, merged over its copies.
#[derive(Debug, Clone)]
pub(crate) struct Crowded<'a> {
    pub key: String,
    pub primary: &'a Instance,
    pub others: Vec<String>,
}

/// Group the pair's crowded copies by meeting key.
pub(crate) fn merge_crowded<'a>(copies: &[(&'a Instance, Vec<String>)]) -> Vec<Crowded<'a>> {
    let mut groups: BTreeMap<String, Crowded<'a>> = BTreeMap::new();
    for (inst, others) in copies {
        let key = inst.meeting_key();
        let g = groups.entry(key.clone()).or_insert_with(|| Crowded {
            key,
            primary: inst,
            others: Vec::new(),
        });
        if inst.is_organizer_copy() {
            g.primary = inst;
        }
        for o in others {
            if !g.others.contains(o) {
                g.others.push(o.clone());
            }
        }
    }
    groups.into_values().collect()
}
