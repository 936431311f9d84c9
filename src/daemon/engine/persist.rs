//! Carrying out a plan: persist each pair's history and new docs, notify and record its findings,
//! make the planned writes with their journal and marks, remember the calendar counts, and keep
//! the state for the next cycle (daemon).
use super::{CycleError, CycleReport, Engine, execute};
use crate::domain::history::MarkState;
use crate::domain::{Occurrence, WriteMark};
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
            let other = scope.spawn(|| self.persist_pairs(second, now, rt));
            let (mut saved, mut part) = self.persist_pairs(first, now, rt);
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
        rt: &tokio::runtime::Handle,
    ) -> (Vec<bool>, CycleReport) {
        let mut report = CycleReport::default();
        let saved = plans
            .iter_mut()
            .map(|pp| {
                let pair = self
                    .settings
                    .pairs
                    .get(pp.pair)
                    .map(|p| p.id.clone())
                    .unwrap_or_default();
                let ok = match self.persist_history(&pair, pp) {
                    Ok(()) => true,
                    Err(e) => {
                        report.store_errors += 1;
                        error!(pair = %pair, error = %e, "cannot save the pair's history");
                        false
                    }
                };
                ok & self.handle_findings(&pair, pp, now, rt, &mut report)
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

    /// Log new and cleared findings, deliver the ones not delivered yet, record the active set.
    fn handle_findings(
        &self,
        pair: &str,
        pp: &mut PairPlan,
        now: DateTime<Utc>,
        rt: &tokio::runtime::Handle,
        report: &mut CycleReport,
    ) -> bool {
        let diff = &mut pp.findings;
        for cleared in &diff.cleared {
            report.findings_cleared += 1;
            info!(%pair, kind = %cleared.kind, message = %cleared.message, "finding resolved");
        }
        let mut delivered_any = false;
        for f in &diff.to_notify {
            if diff.new_keys.contains(&f.key) {
                report.findings_new += 1;
                warn!(%pair, kind = %f.kind, severity = %f.severity, message = %f.message, "finding");
            }
            let delivered = if self.options.dry_run || !self.notifier.has_webhook() {
                !self.options.dry_run
            } else {
                match rt.block_on(self.notifier.send(f)) {
                    Ok(()) => true,
                    Err(e) => {
                        report.notify_failures += 1;
                        warn!(%pair, kind = %f.kind, error = %e, "webhook delivery failed; retrying next cycle");
                        false
                    }
                }
            };
            if delivered && let Some(a) = diff.active.iter_mut().find(|a| a.key == f.key) {
                a.notified_at = Some(now);
                delivered_any = true;
            }
        }
        if self.options.dry_run || !(diff.changed || delivered_any) {
            return true;
        }
        match self.store.set_findings(pair, &diff.active) {
            Ok(()) => true,
            Err(e) => {
                report.store_errors += 1;
                error!(%pair, error = %e, "cannot save the pair's findings");
                false
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
