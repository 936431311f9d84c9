//! Carrying out a plan: persist each pair's history and new docs, enqueue its notifications and
//! record its findings, enqueue the weekly digests,
//! make the planned writes with their journal and marks, remember the calendar counts, and keep
//! the state for the next cycle (daemon).
use super::{CycleError, CycleReport, Engine, execute};
use crate::domain::history::MarkState;
use crate::domain::{Occurrence, Pair, WriteMark};
use crate::notify::outbox;
use crate::notify::routing::{self, DigestEntry};
use crate::providers::{Progress, ProviderError, WriteOutcome};
use crate::store::{StoreError, WriteRecord, WriteState};
use crate::sync::{PairInput, PairPlan, Plan, PlannedWrite};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use tracing::{debug, error, info, warn};

impl Engine {
    /// Persist, notify and write everything `plan` decided.
    pub(super) fn carry_out(
        &self,
        plan: Plan,
        now: DateTime<Utc>,
        rt: &tokio::runtime::Handle,
        progress: &Arc<Progress>,
        report: &mut CycleReport,
    ) -> Result<(), CycleError> {
        let Plan {
            pairs: mut pair_plans,
            writes,
            calendars,
        } = plan;
        self.persist_counts(&calendars, report);
        // Pairs are independent: two threads share them.
        let half = pair_plans.len() / 2;
        let (first, second) = pair_plans.split_at_mut(half);
        let (saved, part) = std::thread::scope(|scope| {
            let other = scope.spawn(|| self.persist_pairs(second, now));
            let (mut saved, mut part) = self.persist_pairs(first, now);
            match other.join() {
                Ok((more, rest)) => {
                    saved.extend(more);
                    part.add(rest);
                    Ok((saved, part))
                }
                Err(_) => Err(CycleError::Panicked("saving the pairs' state")),
            }
        })?;
        report.add(part);
        self.enqueue_digests(&pair_plans, now, report);
        tracing::debug!(
            upserts = pair_plans.iter().map(|p| p.upsert.len()).sum::<usize>(),
            removes = pair_plans.iter().map(|p| p.remove.len()).sum::<usize>(),
            new_docs = pair_plans.iter().map(|p| p.new_docs.len()).sum::<usize>(),
            "phase: saved the pairs"
        );
        let marks = self.make_writes(&writes, now, rt, progress, report);
        self.remember(pair_plans, &saved, marks);
        Ok(())
    }

    fn persist_counts(
        &self,
        calendars: &[(String, crate::sync::CalendarsPlan)],
        report: &mut CycleReport,
    ) {
        let mut memory = self.memory();
        for (account, cal) in calendars {
            if cal.changed
                && let Err(e) = self.store.set_calendar_counts(account, &cal.counts)
            {
                report.store_errors += 1;
                error!(%account, error = %e, "cannot save the calendar counts");
                continue;
            }
            if self.options.keep_in_memory {
                memory.remember_counts(account, cal.counts.clone());
            }
        }
    }

    /// Persist each pair; returns whether each one's state was saved completely.
    fn persist_pairs(
        &self,
        plans: &mut [PairPlan],
        now: DateTime<Utc>,
    ) -> (Vec<bool>, CycleReport) {
        let mut report = CycleReport::default();
        let saved = plans
            .iter_mut()
            .map(|pp| {
                let Some(pair) = self.settings.pairs.get(pp.pair) else {
                    return false;
                };
                let ok = match self.persist_history(&pair.id, pp) {
                    Ok(()) => true,
                    Err(e) => {
                        report.store_errors += 1;
                        error!(pair = %pair.id, error = %e, "cannot save the pair's history");
                        false
                    }
                };
                ok & self.handle_findings(pair, pp, now, &mut report)
            })
            .collect();
        (saved, report)
    }

    /// New docs first (a record never names a doc that does not exist), then the history.
    fn persist_history(&self, pair: &str, pp: &mut PairPlan) -> Result<(), StoreError> {
        if self.options.dry_run {
            // No doc is made in a dry run: the records must not name one.
            let new: Vec<&str> = pp.new_docs.iter().map(|d| d.meeting.as_str()).collect();
            let strip = |o: &mut Occurrence| {
                if new.contains(&o.meeting.as_str()) {
                    o.agenda = None;
                }
            };
            pp.upsert.iter_mut().for_each(strip);
            pp.history.iter_mut().for_each(strip);
        } else {
            self.store.put_agenda_docs(&pp.new_docs)?;
        }
        if !pp.upsert.is_empty() || !pp.remove.is_empty() {
            self.store
                .update_occurrences(pair, &pp.upsert, &pp.remove)?;
        }
        Ok(())
    }

    /// Log new and cleared findings, enqueue the messages they (and the pair's due nudges) call
    /// for, then record the active set with what was notified. Enqueuing comes first: a crash in
    /// between enqueues the same keys again, which the outbox ignores.
    fn handle_findings(
        &self,
        pair: &Pair,
        pp: &mut PairPlan,
        now: DateTime<Utc>,
        report: &mut CycleReport,
    ) -> bool {
        let id = pair.id.as_str();
        let diff = &mut pp.findings;
        for cleared in &diff.cleared {
            report.findings_cleared += 1;
            info!(pair = %id, kind = %cleared.kind, severity = %cleared.severity, message = %cleared.message, "finding resolved");
        }
        for f in diff
            .to_notify
            .iter()
            .filter(|f| diff.new_keys.contains(&f.key))
        {
            report.findings_new += 1;
            warn!(pair = %id, kind = %f.kind, severity = %f.severity, message = %f.message, "finding");
        }
        let notify = &self.settings.notify;
        let mut messages = routing::finding_messages(notify, pair, diff, now);
        let public_url = &self.settings.daemon.public_url;
        messages.extend(routing::nudge_messages(
            notify, pair, &pp.nudges, public_url, now,
        ));
        if self.options.dry_run {
            for m in &messages {
                info!(pair = %id, key = %m.key, subject = %m.subject, "dry run: would notify");
            }
            return true;
        }
        match outbox::enqueue(&self.store, &messages, now) {
            Ok(n) => report.notifications_queued += n,
            Err(e) => {
                report.store_errors += 1;
                error!(pair = %id, error = %e, "cannot enqueue notifications; retrying next cycle");
                return false;
            }
        }
        for f in &diff.to_notify {
            if let Some(a) = diff.active.iter_mut().find(|a| a.key == f.key) {
                a.notified_at = Some(now);
                a.notified_level = a.level;
            }
        }
        if !diff.changed && diff.to_notify.is_empty() {
            return true;
        }
        match self.store.set_findings(id, &diff.active) {
            Ok(()) => true,
            Err(e) => {
                report.store_errors += 1;
                error!(pair = %id, error = %e, "cannot save the pair's findings");
                false
            }
        }
    }

    /// Enqueue the weekly digests that are due (once a week per manager and target: the key
    /// carries the week).
    fn enqueue_digests(&self, plans: &[PairPlan], now: DateTime<Utc>, report: &mut CycleReport) {
        let notify = &self.settings.notify;
        if !notify.routes.iter().any(|r| r.digest) {
            return;
        }
        let entries: Vec<DigestEntry> = plans
            .iter()
            .filter_map(|pp| {
                let pair = self.settings.pairs.get(pp.pair)?;
                Some(DigestEntry {
                    pair: pair.clone(),
                    last_held: pp.health.last_held,
                    next_scheduled: pp.health.next_scheduled,
                    consecutive_cancellations: pp.health.consecutive_cancellations,
                    findings: pp
                        .findings
                        .active
                        .iter()
                        .map(|f| (f.severity.clone(), f.message.clone()))
                        .collect(),
                })
            })
            .collect();
        let messages = routing::digest_messages(notify, &entries, now);
        if self.options.dry_run {
            for m in &messages {
                debug!(key = %m.key, "dry run: would send the digest");
            }
            return;
        }
        match outbox::enqueue(&self.store, &messages, now) {
            Ok(n) => report.notifications_queued += n,
            Err(e) => {
                report.store_errors += 1;
                error!(error = %e, "cannot enqueue the weekly digests; retrying next cycle");
            }
        }
    }

    /// Journal, make and record the planned writes. Returns the marks written, by pair.
    fn make_writes(
        &self,
        writes: &[PlannedWrite],
        now: DateTime<Utc>,
        rt: &tokio::runtime::Handle,
        progress: &Arc<Progress>,
        report: &mut CycleReport,
    ) -> HashMap<String, Vec<WriteMark>> {
        let mut marks: HashMap<String, Vec<WriteMark>> = HashMap::new();
        if writes.is_empty() {
            return marks;
        }
        if self.options.dry_run {
            for w in writes {
                report.writes_planned_dry_run += 1;
                info!(pair = %w.pair, what = %w.what, "dry run: would write");
            }
            return marks;
        }
        let mut records: Vec<WriteRecord> = writes
            .iter()
            .map(|w| WriteRecord {
                account: w.account.clone(),
                instance_id: w.key.clone(),
                content_hash: w.content_hash.clone(),
                state: WriteState::Intent,
                at: now,
            })
            .collect();
        let intents = once_marks(writes.iter().map(|w| (w, Some(MarkState::Intent))), now);
        if let Err(e) = self.journal(&records, &intents) {
            report.store_errors += 1;
            error!(error = %e, "cannot journal the planned writes; writing nothing this cycle");
            return marks;
        }
        let results = rt.block_on(execute::execute(&self.providers, writes, progress));
        let states: Vec<Option<MarkState>> = writes
            .iter()
            .zip(&results)
            .zip(records.iter_mut())
            .map(|((w, r), rec)| {
                let (state, mark) = outcome(w, r, report);
                rec.state = state;
                mark
            })
            .collect();
        let results_marks = once_marks(writes.iter().zip(states), now);
        if let Err(e) = self.journal(&records, &results_marks) {
            report.store_errors += 1;
            error!(error = %e, "cannot journal the write results");
        }
        // The marks as stored now: every intent, replaced by its result where there is one (an
        // unknown outcome keeps its intent, so it is never written again).
        for (pair, ms) in intents.into_iter().chain(results_marks) {
            let kept = marks.entry(pair).or_default();
            for m in ms {
                kept.retain(|k| k.key != m.key);
                kept.push(m);
            }
        }
        marks
    }

    fn journal(
        &self,
        records: &[WriteRecord],
        marks: &HashMap<String, Vec<WriteMark>>,
    ) -> Result<(), StoreError> {
        self.store.put_write_records(records)?;
        for (pair, ms) in marks {
            self.store.put_write_marks(pair, ms)?;
        }
        self.store.flush()
    }

    /// Keep every fully saved pair's state for the next cycle (daemon only).
    fn remember(
        &self,
        plans: Vec<PairPlan>,
        saved: &[bool],
        mut marks: HashMap<String, Vec<WriteMark>>,
    ) {
        let mut memory = self.memory();
        for (pp, ok) in plans.into_iter().zip(saved) {
            let Some(pair) = self.settings.pairs.get(pp.pair) else {
                continue;
            };
            if !self.options.keep_in_memory || !ok || self.options.dry_run {
                memory.forget_pair(&pair.id);
                continue;
            }
            let mut all_marks = pp.marks;
            for m in marks.remove(&pair.id).unwrap_or_default() {
                all_marks.retain(|x| x.key != m.key);
                all_marks.push(m);
            }
            memory.remember_pair(
                &pair.id,
                PairInput {
                    history: pp.history,
                    findings: pp.findings.active,
                    items: Vec::new(),
                    link: pp.link,
                    marks: all_marks,
                },
            );
        }
    }
}

/// The write-once marks of the once-only writes, by pair, in the given states (None: no mark).
fn once_marks<'w>(
    writes: impl Iterator<Item = (&'w PlannedWrite, Option<MarkState>)>,
    now: DateTime<Utc>,
) -> HashMap<String, Vec<WriteMark>> {
    let mut out: HashMap<String, Vec<WriteMark>> = HashMap::new();
    for (w, state) in writes {
        if !w.once {
            continue;
        }
        if let Some(state) = state {
            out.entry(w.pair.clone()).or_default().push(WriteMark {
                key: w.key.clone(),
                state,
                at: now,
            });
        }
    }
    out
}

/// Log and count one write's outcome: its journal state, and its mark (None: keep the intent).
fn outcome(
    w: &PlannedWrite,
    r: &Result<WriteOutcome, ProviderError>,
    report: &mut CycleReport,
) -> (WriteState, Option<MarkState>) {
    let (account, what) = (&w.account, &w.what);
    let kind = w.key.split(':').next().unwrap_or("other").to_string();
    let result = match r {
        Ok(WriteOutcome::Written) => "written",
        Ok(WriteOutcome::Unchanged) => "unchanged",
        Err(e) if !e.certainly_not_applied() => "unknown",
        Err(_) => "failed",
    };
    metrics::counter!(crate::metrics::WRITES, "kind" => kind, "result" => result).increment(1);
    match r {
        Ok(WriteOutcome::Written) => {
            report.writes += 1;
            info!(%account, %what, "written");
            (WriteState::Done, Some(MarkState::Done))
        }
        Ok(WriteOutcome::Unchanged) => {
            report.writes_unchanged += 1;
            debug!(%account, %what, "already up to date");
            (WriteState::Done, Some(MarkState::Done))
        }
        Err(e @ ProviderError::Conflict { .. }) => {
            report.write_failures += 1;
            warn!(%account, %what, error = %e, "not written; will re-read and retry next cycle");
            (WriteState::Failed, Some(MarkState::Failed))
        }
        Err(e) if !e.certainly_not_applied() => {
            report.write_failures += 1;
            error!(%account, %what, error = %e, "the write may or may not have happened; a write-once write is not retried");
            (WriteState::Intent, None)
        }
        Err(e) => {
            report.write_failures += 1;
            error!(%account, %what, error = %e, "write failed");
            (WriteState::Failed, Some(MarkState::Failed))
        }
    }
}
