//! The planner's inputs from the store, and the daemon's memory of them between cycles. The engine
//! is the only writer of histories, findings, write marks and calendar counts, so after the first
//! cycle the daemon keeps them decoded and updates them from each plan instead of re-reading the
//! store; agenda items (which people edit in the web pages meanwhile) are read every cycle. A pair
//! whose store write failed is forgotten and read again next cycle.
use crate::domain::Pair;
use crate::store::{Store, StoreError};
use crate::sync::PairInput;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};

/// Calendar counts of one account: events per calendar, and when last confirmed.
pub(crate) type Counts = BTreeMap<String, (usize, DateTime<Utc>)>;

/// What the daemon remembers between cycles (empty for a one-off `sync --once`).
#[derive(Default)]
pub(crate) struct Memory {
    /// Per pair id: its state as the last cycle left it (items are re-read).
    pairs: HashMap<String, PairInput>,
    /// Per account: its calendar counts.
    counts: HashMap<String, Counts>,
}

impl Memory {
    pub fn forget_pair(&mut self, pair_id: &str) {
        self.pairs.remove(pair_id);
    }

    pub fn remember_pair(&mut self, pair_id: &str, state: PairInput) {
        self.pairs.insert(pair_id.to_string(), state);
    }

    pub fn remember_counts(&mut self, account: &str, counts: Counts) {
        self.counts.insert(account.to_string(), counts);
    }

    pub fn take_counts(&mut self, account: &str) -> Option<Counts> {
        self.counts.remove(account)
    }
}

/// Load (or take from memory) every pair's state. A pair whose state cannot be read gets `None`
/// and an error naming it.
pub(crate) fn load_pairs(
    store: &Store,
    pairs: &[Pair],
    memory: &mut Memory,
) -> (Vec<Option<PairInput>>, Vec<(String, StoreError)>) {
    let mut errors = Vec::new();
    let states = pairs
        .iter()
        .map(|p| {
            let loaded = match memory.pairs.remove(&p.id) {
                Some(mut s) => store.agenda_items(&p.id).map(|items| {
                    s.items = items;
                    s
                }),
                None => load_pair(store, p),
            };
            match loaded {
                Ok(s) => Some(s),
                Err(e) => {
                    errors.push((p.id.clone(), e));
                    None
                }
            }
        })
        .collect();
    (states, errors)
}

fn load_pair(store: &Store, pair: &Pair) -> Result<PairInput, StoreError> {
    Ok(PairInput {
        history: store.occurrences(&pair.id)?,
        findings: store.findings(&pair.id)?,
        items: store.agenda_items(&pair.id)?,
        link: store.ensure_pair_link(&pair.id)?,
        marks: store.write_marks(&pair.id)?,
    })
}

/// The calendar counts of an account, from memory or the store.
pub(crate) fn load_counts(
    store: &Store,
    account: &str,
    memory: &mut Memory,
) -> Result<Counts, StoreError> {
    if let Some(c) = memory.take_counts(account) {
        return Ok(c);
    }
    store.calendar_counts(account)
}
