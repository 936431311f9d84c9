//! One sync cycle: fetch every account, reconcile with the store, notify findings, write agenda
//! blocks and (fix mode) repairs. This is the shell around the pure planner in `sync`: it fetches,
//! plans, executes, persists. A failing account or file is reported and the rest goes on.
//!
//! Architecture Invariant: every external write is journaled in the store and flushed before and
//! after it is made (intent → flush → write → result → flush), and nothing is written in dry-run.
use super::notify::Notifier;
use crate::config::{AccountSettings, ProviderSettings, Settings};
use crate::domain::agenda::carried_into;
use crate::domain::block::BlockItem;
use crate::domain::hash::fnv1a64;
use crate::domain::{Enforce, Instance, Pair};
use crate::providers::local::{FileCache, LocalProvider};
use crate::providers::{
    NewSeries, OccurrenceWrite, ProviderError, Snapshot, SourceProblem, Window, WriteOutcome,
};
use crate::store::{ItemKind, OccurrenceRecord, Store, StoreError, WriteRecord, WriteState};
use crate::sync::fix::{FixAction, plan_fixes};
use crate::sync::{AccountView, AgendaWrite, diff_findings, plan_agenda_write, reconcile};
use crate::web::agenda_url;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use tracing::{debug, error, info, warn};

/// The key under which an account's local file cache is kept in the store.
const LOCAL_CACHE_KEY: &str = "local-file-cache";

/// Give memory freed by large temporaries (the file cache) back to the system (glibc keeps it).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// What one cycle did; `sync --once` prints it and exits 1 when `failed()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CycleReport {
    pub accounts_ok: usize,
    pub accounts_failed: usize,
    pub instances: usize,
    pub problems: usize,
    pub pairs: usize,
    pub writes: usize,
    pub writes_planned_dry_run: usize,
    pub writes_unchanged: usize,
    pub write_failures: usize,
    pub findings_new: usize,
    pub findings_cleared: usize,
    pub notify_failures: usize,
    pub store_errors: usize,
}

impl CycleReport {
    /// A partial failure: some account, write, notification or store operation failed.
    pub fn failed(&self) -> bool {
        self.accounts_failed > 0
            || self.write_failures > 0
            || self.notify_failures > 0
            || self.store_errors > 0
    }
}

impl CycleReport {
    /// Add the counts of a partial report (one thread's share of the pairs).
    fn add(&mut self, o: &CycleReport) {
        self.accounts_ok += o.accounts_ok;
        self.accounts_failed += o.accounts_failed;
        self.instances += o.instances;
        self.problems += o.problems;
        self.pairs += o.pairs;
        self.writes += o.writes;
        self.writes_planned_dry_run += o.writes_planned_dry_run;
        self.writes_unchanged += o.writes_unchanged;
        self.write_failures += o.write_failures;
        self.findings_new += o.findings_new;
        self.findings_cleared += o.findings_cleared;
        self.notify_failures += o.notify_failures;
        self.store_errors += o.store_errors;
    }
}

impl std::fmt::Display for CycleReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "accounts ok={} failed={}; {} 1:1-candidate instances, {} unreadable items; {} pairs; \
             writes={} unchanged={} failed={} dry-run={}; findings new={} cleared={}",
            self.accounts_ok,
            self.accounts_failed,
            self.instances,
            self.problems,
            self.pairs,
            self.writes,
            self.writes_unchanged,
            self.write_failures,
            self.writes_planned_dry_run,
            self.findings_new,
            self.findings_cleared
        )?;
        if self.notify_failures > 0 || self.store_errors > 0 {
            write!(
                f,
                "; notify failures={} store errors={}",
                self.notify_failures, self.store_errors
            )?;
        }
        Ok(())
    }
}

/// A calendar source, whatever its kind.
pub enum Source {
    Local(LocalProvider),
}

impl Source {
    pub fn for_account(account: &AccountSettings, tz: chrono_tz::Tz) -> Source {
        match &account.provider {
            ProviderSettings::Local { path, .. } => {
                Source::Local(LocalProvider::new(account.name.clone(), path.clone(), tz))
            }
        }
    }

    fn fetch(
        &self,
        account: &str,
        store: &Store,
        window: Window,
    ) -> Result<Snapshot, ProviderError> {
        match self {
            Source::Local(p) => {
                let t = std::time::Instant::now();
                let stored = store.read_cache(account, LOCAL_CACHE_KEY).unwrap_or_else(|e| {
                    warn!(account, error = %e, "cannot read the file cache; reading every file");
                    None
                });
                let had_cache = stored.is_some();
                let mut cache = stored
                    .as_deref()
                    .map(FileCache::from_bytes)
                    .unwrap_or_default();
                drop(stored);
                let loaded_ms = t.elapsed().as_millis() as u64;
                let snapshot = p.fetch(window, &mut cache)?;
                let fetched_ms = t.elapsed().as_millis() as u64;
                if cache.last_fetch_changed() || !had_cache {
                    let bytes = cache.to_bytes();
                    if let Err(e) = store.write_cache(account, LOCAL_CACHE_KEY, &bytes) {
                        warn!(account, error = %e, "cannot save the file cache");
                    }
                }
                debug!(
                    account,
                    rss_mb = rss_mb(),
                    cache_load_ms = loaded_ms,
                    fetch_ms = fetched_ms - loaded_ms,
                    save_ms = t.elapsed().as_millis() as u64 - fetched_ms,
                    "local fetch"
                );
                Ok(snapshot)
            }
        }
    }

    fn write_occurrence(&self, w: &OccurrenceWrite) -> Result<WriteOutcome, ProviderError> {
        match self {
            Source::Local(p) => p.write_occurrence(w),
        }
    }

    fn create_series(&self, s: &NewSeries) -> Result<WriteOutcome, ProviderError> {
        match self {
            Source::Local(p) => p.create_series(s),
        }
    }
}

/// Everything one cycle needs; cheap to rebuild on reload.
pub struct Engine {
    pub settings: Settings,
    pub store: Store,
    pub sources: Vec<(String, Source)>,
    pub notifier: Notifier,
    pub dry_run: bool,
}

/// Identifies written content in the write journal.
fn content_hash(s: &str) -> String {
    format!("{:016x}", fnv1a64(s.as_bytes()))
}

impl Engine {
    pub fn new(settings: Settings, store: Store, dry_run: bool) -> Engine {
        let tz = settings.daemon.timezone;
        let sources = settings
            .accounts
            .iter()
            .map(|a| (a.name.clone(), Source::for_account(a, tz)))
            .collect();
        let notifier = Notifier::new(settings.notify.webhook_url.clone());
        Engine {
            dry_run: dry_run || settings.daemon.dry_run,
            settings,
            store,
            sources,
            notifier,
        }
    }

    /// The window every fetch covers at `now`.
    pub fn window(&self, now: DateTime<Utc>) -> Window {
        Window {
            start: now - self.settings.daemon.lookback,
            end: now + self.settings.daemon.horizon,
        }
    }

    /// Read every pair's occurrence history from the store.
    fn load_histories(&self) -> Vec<(&Pair, Result<Vec<OccurrenceRecord>, StoreError>)> {
        self.settings
            .pairs
            .iter()
            .map(|p| (p, self.store.occurrences(&p.id)))
            .collect()
    }

    /// Fetch every account in parallel (one thread per account). Failures are per account.
    pub fn fetch_all(&self, now: DateTime<Utc>) -> Vec<(String, Result<Snapshot, ProviderError>)> {
        let window = self.window(now);
        std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .sources
                .iter()
                .map(|(name, source)| {
                    let store = &self.store;
                    let h = scope.spawn(move || source.fetch(name, store, window));
                    (name.clone(), h)
                })
                .collect();
            handles
                .into_iter()
                .map(|(name, h)| {
                    let r = h.join().unwrap_or_else(|_| {
                        Err(ProviderError::Unavailable {
                            what: format!("account {name}"),
                            reason: "the reader thread panicked".into(),
                        })
                    });
                    (name, r)
                })
                .collect()
        })
    }

    /// Run one full cycle at `now`. `rt` runs the webhook calls.
    pub fn cycle(&self, now: DateTime<Utc>, rt: &tokio::runtime::Handle) -> CycleReport {
        let mut report = CycleReport {
            pairs: self.settings.pairs.len(),
            ..CycleReport::default()
        };
        let window = self.window(now);
        let started = std::time::Instant::now();
        let pairs = &self.settings.pairs;
        // Fetch the calendars and load the pairs' histories at the same time: they are independent.
        let (fetched, loaded) = std::thread::scope(|scope| {
            let history = scope.spawn(|| self.load_histories());
            let fetched = self.fetch_all(now);
            let loaded = history.join().unwrap_or_default();
            (fetched, loaded)
        });
        release_free_memory();
        debug!(
            ms = started.elapsed().as_millis() as u64,
            rss_mb = rss_mb(),
            "phase: fetched calendars and loaded histories"
        );
        let mut snapshots: Vec<(String, Snapshot, bool)> = Vec::new();
        for (name, result) in fetched {
            match result {
                Ok(s) => {
                    report.accounts_ok += 1;
                    report.instances += s.instances.len();
                    report.problems += s.problems.len();
                    log_problems(&name, &s.problems);
                    snapshots.push((name, s, true));
                }
                Err(e) => {
                    report.accounts_failed += 1;
                    error!(account = %name, error = %e, "account sync failed; its pairs keep their last known state");
                    snapshots.push((name, Snapshot::default(), false));
                }
            }
        }
        let views: Vec<AccountView<'_>> = snapshots
            .iter()
            .map(|(name, s, complete)| AccountView {
                account: name,
                window,
                instances: &s.instances,
                complete: *complete,
            })
            .collect();

        let mut history = HashMap::new();
        let mut unreadable: std::collections::HashSet<String> = Default::default();
        for (p, result) in loaded {
            match result {
                Ok(h) => {
                    history.insert(p.id.clone(), h);
                }
                Err(e) => {
                    report.store_errors += 1;
                    unreadable.insert(p.id.clone());
                    error!(pair = %p.id, error = %e, "cannot read the pair's history");
                }
            }
        }
        debug!(
            ms = started.elapsed().as_millis() as u64,
            "phase: history loaded"
        );
        let updates = reconcile(
            now,
            pairs,
            &views,
            history,
            self.settings.daemon.horizon,
            self.settings.daemon.lookback,
        );

        debug!(
            ms = started.elapsed().as_millis() as u64,
            "phase: reconciled"
        );
        // Persist, notify and plan per pair; pairs are independent, so two threads share them.
        let handle_pairs = |part: &[crate::sync::PairUpdate]| {
            let mut report = CycleReport::default();
            let mut planned: Vec<PlannedWrite> = Vec::new();
            for update in part {
                let Some(pair) = pairs.get(update.pair_index) else {
                    continue;
                };
                if unreadable.contains(&pair.id) {
                    // Its history could not be read: don't overwrite what we cannot see.
                    continue;
                }
                if (!update.upsert.is_empty() || !update.remove.is_empty())
                    && let Err(e) =
                        self.store
                            .update_occurrences(&pair.id, &update.upsert, &update.remove)
                {
                    report.store_errors += 1;
                    error!(pair = %pair.id, error = %e, "cannot save the pair's history");
                }
                self.handle_findings(pair, update, now, rt, &mut report);
                let instances: &[Instance] = snapshots
                    .iter()
                    .find(|(n, _, _)| *n == pair.account)
                    .map(|(_, s, _)| s.instances.as_slice())
                    .unwrap_or(&[]);
                let fixes = if pair.enforce == Enforce::Fix {
                    plan_fixes(
                        pair,
                        update,
                        instances,
                        now,
                        self.settings.daemon.timezone,
                        self.settings.daemon.horizon,
                    )
                } else {
                    Vec::new()
                };
                planned.extend(self.handle_agenda(pair, update, &fixes, now, &mut report));
                planned.extend(self.handle_fixes(pair, update, fixes, &mut report));
            }
            (planned, report)
        };
        let (first, second) = updates.split_at(updates.len() / 2);
        let (mut planned, part) = std::thread::scope(|scope| {
            let other = scope.spawn(|| handle_pairs(second));
            let (mut planned, mut part) = handle_pairs(first);
            match other.join() {
                Ok((more, rest)) => {
                    planned.extend(more);
                    part.add(&rest);
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
            (planned, part)
        });
        report.add(&part);
        planned.sort_by(|a, b| a.key.cmp(&b.key));
        debug!(
            ms = started.elapsed().as_millis() as u64,
            rss_mb = rss_mb(),
            "phase: planned"
        );
        self.execute_writes(planned, now, &mut report);
        debug!(
            ms = started.elapsed().as_millis() as u64,
            rss_mb = rss_mb(),
            "phase: written"
        );
        if let Err(e) = self.store.flush() {
            report.store_errors += 1;
            error!(error = %e, "cannot flush the store");
        }
        debug!(
            ms = started.elapsed().as_millis() as u64,
            rss_mb = rss_mb(),
            "phase: flushed"
        );
        // Freeing a large organisation's instances and histories takes a noticeable moment; nothing
        // waits for it, so another thread does it (a one-shot `sync` simply exits meanwhile).
        drop(views);
        std::thread::spawn(move || drop((snapshots, updates)));
        report
    }

    fn handle_findings(
        &self,
        pair: &Pair,
        update: &crate::sync::PairUpdate,
        now: DateTime<Utc>,
        rt: &tokio::runtime::Handle,
        report: &mut CycleReport,
    ) {
        let stored = match self.store.findings(&pair.id) {
            Ok(f) => f,
            Err(e) => {
                report.store_errors += 1;
                error!(pair = %pair.id, error = %e, "cannot read the pair's findings");
                return;
            }
        };
        let mut diff = diff_findings(&pair.id, &update.health.findings, &stored, now);
        for cleared in &diff.cleared {
            report.findings_cleared += 1;
            info!(pair = %pair.id, kind = %cleared.kind, message = %cleared.message, "finding resolved");
        }
        for f in &diff.to_notify {
            let fresh = !stored.iter().any(|s| s.key == f.key);
            if fresh {
                report.findings_new += 1;
                warn!(pair = %pair.id, kind = %f.kind, severity = %f.severity, message = %f.message, "finding");
            }
            let delivered = if self.dry_run || !self.notifier.has_webhook() {
                true
            } else {
                match rt.block_on(self.notifier.send(f)) {
                    Ok(()) => true,
                    Err(e) => {
                        report.notify_failures += 1;
                        warn!(pair = %pair.id, kind = %f.kind, error = %e, "webhook delivery failed; retrying next cycle");
                        false
                    }
                }
            };
            if delivered && let Some(active) = diff.active.iter_mut().find(|a| a.key == f.key) {
                active.notified_at = Some(now);
            }
        }
        if diff.active != stored {
            if self.dry_run {
                debug!(pair = %pair.id, "dry run: findings state not saved");
            } else if let Err(e) = self.store.set_findings(&pair.id, &diff.active) {
                report.store_errors += 1;
                error!(pair = %pair.id, error = %e, "cannot save the pair's findings");
            }
        }
    }

    fn source(&self, account: &str) -> Option<&Source> {
        self.sources
            .iter()
            .find(|(n, _)| n == account)
            .map(|(_, s)| s)
    }

    /// Carry out the planned writes: journal every intent and flush once, perform the writes (in
    /// parallel across files), then journal every result and flush once. A crash in between leaves
    /// intents without results; the next cycle re-reads the calendar and re-plans from what is
    /// actually there, so nothing is written twice and nothing is lost.
    fn execute_writes(
        &self,
        planned: Vec<PlannedWrite>,
        now: DateTime<Utc>,
        report: &mut CycleReport,
    ) {
        if planned.is_empty() {
            return;
        }
        let mut records: Vec<WriteRecord> = planned
            .iter()
            .map(|p| WriteRecord {
                account: p.account.clone(),
                instance_id: p.key.clone(),
                content_hash: content_hash(&p.content),
                state: WriteState::Intent,
                at: now,
            })
            .collect();
        let journal = |records: &[WriteRecord]| -> Result<(), StoreError> {
            for r in records {
                self.store.put_write_record(r)?;
            }
            self.store.flush()
        };
        if let Err(e) = journal(&records) {
            report.store_errors += 1;
            error!(error = %e, "cannot journal the planned writes; writing nothing this cycle");
            return;
        }
        // Writes to the same file go to the same worker, in order; different files in parallel.
        let workers = planned.len().clamp(1, WRITE_WORKERS);
        let mut buckets: Vec<Vec<usize>> = vec![Vec::new(); workers];
        for (i, p) in planned.iter().enumerate() {
            buckets[(fnv1a64(p.op.file().as_bytes()) % workers as u64) as usize].push(i);
        }
        let mut results: Vec<Option<Result<WriteOutcome, ProviderError>>> =
            (0..planned.len()).map(|_| None).collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = buckets
                .iter()
                .map(|bucket| {
                    let planned = &planned;
                    scope.spawn(move || {
                        bucket
                            .iter()
                            .map(|&i| {
                                let p = &planned[i];
                                let r = match self.source(&p.account) {
                                    Some(source) => p.op.run(source),
                                    None => Err(ProviderError::NotFound(format!(
                                        "account {}",
                                        p.account
                                    ))),
                                };
                                (i, r)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for h in handles {
                if let Ok(done) = h.join() {
                    for (i, r) in done {
                        results[i] = Some(r);
                    }
                }
            }
        });
        let results = results.into_iter().map(|r| {
            r.unwrap_or_else(|| {
                Err(ProviderError::Unavailable {
                    what: "a calendar write".into(),
                    reason: "the writer thread panicked".into(),
                })
            })
        });
        for ((p, rec), result) in planned.iter().zip(records.iter_mut()).zip(results) {
            let (account, what) = (&p.account, &p.what);
            let ok = match result {
                Ok(WriteOutcome::Written) => {
                    report.writes += 1;
                    info!(%account, %what, "written");
                    true
                }
                Ok(WriteOutcome::Unchanged) => {
                    report.writes_unchanged += 1;
                    debug!(%account, %what, "already up to date");
                    true
                }
                Err(e @ ProviderError::Conflict { .. }) => {
                    report.write_failures += 1;
                    warn!(%account, %what, error = %e, "not written; will re-read and retry next cycle");
                    false
                }
                Err(e) => {
                    report.write_failures += 1;
                    error!(%account, %what, error = %e, "write failed");
                    false
                }
            };
            rec.state = if ok {
                WriteState::Done
            } else {
                WriteState::Failed
            };
        }
        if let Err(e) = journal(&records) {
            report.store_errors += 1;
            error!(error = %e, "cannot journal the write results");
        }
    }

    fn handle_agenda(
        &self,
        pair: &Pair,
        update: &crate::sync::PairUpdate,
        fixes: &[FixAction],
        now: DateTime<Utc>,
        report: &mut CycleReport,
    ) -> Option<PlannedWrite> {
        let target = update.next_instance.as_ref()?;
        let doc = match self
            .store
            .ensure_agenda_doc(&pair.id, &target.id, target.start, now)
        {
            Ok(d) => d,
            Err(e) => {
                report.store_errors += 1;
                error!(pair = %pair.id, error = %e, "cannot create the agenda doc");
                return None;
            }
        };
        let items = match self.store.agenda_items(&pair.id) {
            Ok(i) => i,
            Err(e) => {
                report.store_errors += 1;
                error!(pair = %pair.id, error = %e, "cannot read agenda items");
                return None;
            }
        };
        let carried: Vec<BlockItem> =
            carried_into(&items, &update.history, &target.id, target.start)
                .into_iter()
                .map(|d| BlockItem {
                    text: d.item.text.clone(),
                    action: d.item.kind == ItemKind::ActionItem,
                    owner: d.item.owner.clone(),
                    origin_start: d.item.origin_start,
                    times_carried: d.times_carried,
                })
                .collect();
        let url = agenda_url(&self.settings.daemon.public_url, &doc.token);
        let description = match plan_agenda_write(
            target,
            &url,
            &carried,
            self.settings.daemon.timezone,
        ) {
            AgendaWrite::UpToDate => return None,
            AgendaWrite::Damaged(reason) => {
                warn!(pair = %pair.id, event = %target.id, source = %target.source, reason = %reason,
                      "the agenda block in this event's description is damaged; leaving it alone (remove the marker lines to let oneonone rewrite it)");
                return None;
            }
            AgendaWrite::Write(d) => d,
        };
        // Fold a duration fix of the same occurrence into the same write.
        let end = fixes.iter().find_map(|f| match f {
            FixAction::SetEnd { target: t, end } if t.id == target.id => Some(*end),
            _ => None,
        });
        let what = format!(
            "agenda block of \"{}\" on {} ({})",
            target.title,
            target.start.to_rfc3339(),
            target.source
        );
        if self.dry_run {
            report.writes_planned_dry_run += 1;
            info!(pair = %pair.id, what = %what, "dry run: would write");
            return None;
        }
        Some(PlannedWrite {
            account: target.account.to_string(),
            key: target.id.clone(),
            content: description.clone(),
            what,
            op: WriteOp::Occurrence(OccurrenceWrite {
                target: target.clone(),
                description: Some(description),
                end,
            }),
        })
    }

    fn handle_fixes(
        &self,
        pair: &Pair,
        update: &crate::sync::PairUpdate,
        fixes: Vec<FixAction>,
        report: &mut CycleReport,
    ) -> Vec<PlannedWrite> {
        let mut planned = Vec::new();
        for fix in fixes {
            match fix {
                FixAction::SetEnd { target, end } => {
                    if update
                        .next_instance
                        .as_ref()
                        .is_some_and(|n| n.id == target.id)
                    {
                        continue; // done together with the agenda write
                    }
                    let what = format!(
                        "length of \"{}\" on {} → {} min",
                        target.title,
                        target.start.to_rfc3339(),
                        (end - target.start).num_minutes()
                    );
                    if self.dry_run {
                        report.writes_planned_dry_run += 1;
                        info!(pair = %pair.id, what = %what, "dry run: would fix");
                        continue;
                    }
                    planned.push(PlannedWrite {
                        account: target.account.to_string(),
                        key: format!("{}#end", target.id),
                        content: end.to_rfc3339(),
                        what,
                        op: WriteOp::Occurrence(OccurrenceWrite {
                            target,
                            description: None,
                            end: Some(end),
                        }),
                    });
                }
                FixAction::CreateSeries(series) => {
                    let key = format!("create:{}", pair.id);
                    match self.store.write_record(&pair.account, &key) {
                        Ok(Some(rec)) if rec.state == WriteState::Done => {
                            // Created once already; if it is gone, someone deleted it: don't fight them.
                            debug!(pair = %pair.id, "series was created before; not recreating");
                            continue;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            report.store_errors += 1;
                            error!(pair = %pair.id, error = %e, "cannot read the write journal");
                            continue;
                        }
                    }
                    let what = format!(
                        "new {} series \"{}\" from {}",
                        pair.cadence,
                        series.title,
                        series.first_start.to_rfc3339()
                    );
                    if self.dry_run {
                        report.writes_planned_dry_run += 1;
                        info!(pair = %pair.id, what = %what, "dry run: would create");
                        continue;
                    }
                    planned.push(PlannedWrite {
                        account: pair.account.clone(),
                        key,
                        content: series.uid.clone(),
                        what,
                        op: WriteOp::Create(series),
                    });
                }
            }
        }
        planned
    }
}

/// How many files are written at once (writes are fsync-bound, not CPU-bound).
const WRITE_WORKERS: usize = 8;

/// One external write the cycle decided on.
pub struct PlannedWrite {
    account: String,
    /// Journal key: the instance id (or `create:PAIR`, `INSTANCE#end`).
    key: String,
    /// What is written, hashed into the journal.
    content: String,
    /// For logs.
    what: String,
    op: WriteOp,
}

enum WriteOp {
    Occurrence(OccurrenceWrite),
    Create(NewSeries),
}

impl WriteOp {
    /// The file (or other unit) the write touches: writes to one file are never concurrent.
    fn file(&self) -> &str {
        match self {
            WriteOp::Occurrence(w) => &w.target.source,
            WriteOp::Create(s) => &s.uid,
        }
    }

    fn run(&self, source: &Source) -> Result<WriteOutcome, ProviderError> {
        match self {
            WriteOp::Occurrence(w) => source.write_occurrence(w),
            WriteOp::Create(s) => source.create_series(s),
        }
    }
}

/// Resident memory of this process in MB (Linux), for the debug-level phase timings.
fn rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096 / (1024 * 1024))
}

fn log_problems(account: &str, problems: &[SourceProblem]) {
    const MAX_LOGGED: usize = 50;
    for p in problems.iter().take(MAX_LOGGED) {
        warn!(account, source = %p.source, "{}", p.message);
    }
    if problems.len() > MAX_LOGGED {
        warn!(
            account,
            "… and {} more unreadable items",
            problems.len() - MAX_LOGGED
        );
    }
}
