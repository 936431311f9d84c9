//! One sync cycle: read the inputs (every account's calendars, concurrently, and every pair's
//! remembered state), call the pure planner (`sync::plan`), and carry the plan out (persist,
//! enqueue notifications, write). This is the shell around the planner; it decides nothing itself. A failing account, file
//! or write is reported and the rest goes on; a panic or error in the cycle's own machinery fails
//! the cycle loudly (it never goes on with an empty history).
//!
//! Architecture Invariants:
//! - The engine receives its providers (injected); it never matches on a provider's kind.
//! - Every external write is journaled in the store and flushed before and after it is made
//!   (intent → flush → write → result → flush); write-once writes also leave a mark on their pair,
//!   and a write whose outcome is unknown keeps its intent (it may have happened), so a
//!   notifying provider is never written twice.
//! - Dry-run is one branch at execution: the plan is the same, nothing is written to a calendar,
//!   no doc is made, nothing is enqueued and no finding is recorded as notified.
//! - Notifications are only enqueued here (in the store's outbox, before the finding is recorded
//!   as notified); `notify::outbox` delivers them outside the cycle.
mod execute;
mod persist;
mod report;
mod state;

pub use report::CycleReport;

use crate::config::Settings;
use crate::domain::links::TokenSource;
use crate::memory::release_free_memory;
use crate::providers::{OpenContext, ProblemKind, Progress, Provider, ProviderError, Snapshot};
use crate::store::{AccountState, Store};
use crate::sync::{AccountInput, Plan, PlanInputs, PlanSettings, SuspectCalendar};
use chrono::{DateTime, Utc};
use state::{Counts, Memory};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tracing::{debug, error, warn};

/// Why a cycle failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    /// A part of the cycle's own machinery panicked; nothing was decided from partial state.
    #[error("the sync cycle failed: {0} panicked")]
    Panicked(&'static str),
}

/// How an engine runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineOptions {
    /// Plan and log every write, perform none.
    pub dry_run: bool,
    /// Keep decoded state between cycles (the daemon); a one-off cycle does not.
    pub keep_in_memory: bool,
}

/// Everything a cycle needs; rebuilt on reload.
pub struct Engine {
    pub settings: Settings,
    pub store: Store,
    /// The account providers, by account name.
    providers: BTreeMap<String, Arc<dyn Provider>>,
    options: EngineOptions,
    plan_settings: PlanSettings,
    memory: Mutex<Memory>,
}

/// Fresh agenda tokens from the operating system's random generator (128 bits, hex).
struct OsTokens;

impl TokenSource for OsTokens {
    fn fresh_token(&self) -> Option<String> {
        match crate::store::random_hex(16) {
            Ok(t) => Some(t),
            Err(e) => {
                error!(error = %e, "no randomness for a new agenda token; the doc is made next cycle");
                None
            }
        }
    }
}

impl Engine {
    /// Open every account's provider (the one place they are made: `providers::open`).
    pub fn open_providers(
        settings: &Settings,
        store: &Store,
        keep_in_memory: bool,
    ) -> Result<Vec<Arc<dyn Provider>>, ProviderError> {
        settings
            .accounts
            .iter()
            .map(|a| {
                crate::providers::open(
                    a,
                    OpenContext::new(
                        settings,
                        &a.name,
                        AccountState::for_account(store, &a.name),
                        keep_in_memory,
                    ),
                )
            })
            .collect()
    }

    /// An engine over these providers (one per account, any order).
    pub fn new(
        settings: Settings,
        store: Store,
        providers: Vec<Arc<dyn Provider>>,
        options: EngineOptions,
    ) -> anyhow::Result<Engine> {
        let plan_settings = PlanSettings {
            horizon: settings.daemon.horizon,
            lookback: settings.daemon.lookback,
            timezone: settings.daemon.timezone,
            public_url: settings.daemon.public_url.clone(),
            nudge_before: settings.notify.nudge.map(|n| n.before),
        };
        Ok(Engine {
            options: EngineOptions {
                dry_run: options.dry_run || settings.daemon.dry_run,
                ..options
            },
            providers: providers
                .into_iter()
                .map(|p| (p.account().to_string(), p))
                .collect(),
            settings,
            store,
            plan_settings,
            memory: Mutex::new(Memory::default()),
        })
    }

    pub fn dry_run(&self) -> bool {
        self.options.dry_run
    }

    /// Run each provider's one-time preparation (e.g. the example organisation).
    pub async fn prepare(&self, now: DateTime<Utc>) -> Result<(), ProviderError> {
        for p in self.providers.values() {
            p.prepare(now).await?;
        }
        Ok(())
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run one full cycle at `now` on the calling (blocking) thread; `rt` runs the providers.
    pub fn cycle(
        &self,
        now: DateTime<Utc>,
        rt: &tokio::runtime::Handle,
        progress: &Arc<Progress>,
    ) -> Result<CycleReport, CycleError> {
        let started = std::time::Instant::now();
        let pairs = &self.settings.pairs;
        let mut report = CycleReport {
            pairs: pairs.len(),
            ..CycleReport::default()
        };
        let window = self.plan_settings.window(now);
        // Read the calendars and the pairs' state at the same time: they are independent.
        let (fetched, loaded) = std::thread::scope(|scope| {
            let loading = scope.spawn(|| {
                let mut memory = self.memory();
                let (states, errors) = state::load_pairs(&self.store, pairs, &mut memory);
                let counts: Vec<Result<Counts, _>> = self
                    .settings
                    .accounts
                    .iter()
                    .map(|a| state::load_counts(&self.store, &a.name, &mut memory))
                    .collect();
                debug!(
                    ms = started.elapsed().as_millis() as u64,
                    rss_mb = rss_mb(),
                    "phase: pair state loaded"
                );
                (states, errors, counts)
            });
            let fetched = rt.block_on(self.fetch_all(window, progress));
            (fetched, loading.join())
        });
        let Ok((states, load_errors, counts)) = loaded else {
            return Err(CycleError::Panicked("loading the pairs' state"));
        };
        release_free_memory();
        debug!(
            ms = started.elapsed().as_millis() as u64,
            "phase: read calendars and state"
        );
        for (pair, e) in &load_errors {
            report.pairs_skipped += 1;
            error!(pair = %pair, error = %e, "cannot read the pair's state; it is left alone this cycle");
        }
        // Accounts whose credentials were refused: their pairs get `auth_failed`.
        let auth_failures: BTreeMap<String, String> = fetched
            .iter()
            .filter_map(|(name, r)| match r {
                Err(ProviderError::AuthFailed { action, .. }) => {
                    Some((name.clone(), action.clone()))
                }
                _ => None,
            })
            .collect();
        let snapshots = self.account_results(fetched, now, &mut report);
        let counts: Vec<Counts> = counts
            .into_iter()
            .zip(&self.settings.accounts)
            .map(|(c, a)| {
                c.unwrap_or_else(|e| {
                    report.store_errors += 1;
                    error!(account = %a.name, error = %e, "cannot read the calendar counts");
                    Counts::new()
                })
            })
            .collect();
        let inputs: Vec<AccountInput<'_>> = self
            .settings
            .accounts
            .iter()
            .zip(&snapshots)
            .zip(&counts)
            .map(|((a, s), c)| AccountInput {
                name: &a.name,
                snapshot: s.as_ref(),
                writes_notify: self
                    .providers
                    .get(&a.name)
                    .is_some_and(|p| p.writes_notify_attendees()),
                known_counts: c,
                auth_failure: auth_failures.get(&a.name).map(String::as_str),
            })
            .collect();
        let plan = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::sync::plan(PlanInputs {
                now,
                settings: &self.plan_settings,
                pairs,
                accounts: &inputs,
                state: states,
                tokens: &OsTokens,
            })
        }))
        .map_err(|_| CycleError::Panicked("planning"))?;
        debug!(
            ms = started.elapsed().as_millis() as u64,
            rss_mb = rss_mb(),
            "phase: planned"
        );
        self.note_calendars(&plan, &mut report);
        record_findings(&plan);
        self.carry_out(plan, now, rt, progress, &mut report)?;
        metrics::histogram!(crate::metrics::CYCLE_DURATION).record(started.elapsed().as_secs_f64());
        debug!(
            ms = started.elapsed().as_millis() as u64,
            rss_mb = rss_mb(),
            "phase: done"
        );
        Ok(report)
    }

    /// Fetch every account concurrently; a provider that fails or panics fails its account only.
    async fn fetch_all(
        &self,
        window: crate::providers::Window,
        progress: &Arc<Progress>,
    ) -> Vec<(String, Result<Snapshot, ProviderError>)> {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, a) in self.settings.accounts.iter().enumerate() {
            let provider = self.providers.get(&a.name).cloned();
            let progress = progress.clone();
            let name = a.name.clone();
            tasks.spawn(async move {
                let r = match provider {
                    Some(p) => p.fetch(window, &progress).await,
                    None => Err(ProviderError::NotFound(format!(
                        "a provider for account {name}"
                    ))),
                };
                (i, r)
            });
        }
        let mut results: Vec<Option<Result<Snapshot, ProviderError>>> =
            self.settings.accounts.iter().map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            if let Ok((i, r)) = joined
                && let Some(slot) = results.get_mut(i)
            {
                *slot = Some(r);
            }
        }
        self.settings
            .accounts
            .iter()
            .zip(results)
            .map(|(a, r)| {
                let r = r.unwrap_or_else(|| {
                    Err(ProviderError::Unavailable {
                        what: format!("account {}", a.name),
                        reason: "its reader panicked".into(),
                    })
                });
                (a.name.clone(), r)
            })
            .collect()
    }

    /// Count and log what each account's fetch returned; the snapshots, `None` for failed ones.
    fn account_results(
        &self,
        fetched: Vec<(String, Result<Snapshot, ProviderError>)>,
        now: DateTime<Utc>,
        report: &mut CycleReport,
    ) -> Vec<Option<Snapshot>> {
        fetched
            .into_iter()
            .map(|(name, r)| match r {
                Ok(s) => {
                    report.accounts_ok += 1;
                    report.instances += s.instances.len();
                    for c in &s.calendars {
                        match &c.events {
                            Ok(_) => report.calendars_ok += 1,
                            Err(reason) => {
                                report.calendars_failed += 1;
                                report.unreadable.push(format!("calendar {}: {reason}", c.id));
                                warn!(account = %name, calendar = %c.id, reason = %reason, "calendar could not be read; its meetings keep their last known state");
                            }
                        }
                    }
                    log_problems(&name, &s, report);
                    let complete = s.calendars.iter().all(|c| c.events.is_ok())
                        && !s.problems.iter().any(|p| p.kind == ProblemKind::Unreadable);
                    if complete {
                        metrics::gauge!(crate::metrics::LAST_SYNC, "account" => name.clone())
                            .set(now.timestamp() as f64);
                    }
                    Some(s)
                }
                Err(e) => {
                    report.accounts_failed += 1;
                    report.unreadable.push(format!("account {name}: {e}"));
                    error!(account = %name, error = %e, "account sync failed; its pairs keep their last known state");
                    None
                }
            })
            .collect()
    }

    /// Log the calendars the planner judged failed reads (emptied, vanished).
    fn note_calendars(&self, plan: &Plan, report: &mut CycleReport) {
        for (account, cal) in &plan.calendars {
            for SuspectCalendar {
                calendar, reason, ..
            } in &cal.suspect
            {
                report.calendars_failed += 1;
                report.calendars_ok = report.calendars_ok.saturating_sub(1);
                report
                    .unreadable
                    .push(format!("calendar {calendar}: {reason}"));
                warn!(%account, %calendar, "{reason}");
            }
        }
    }
}

/// Set the active-findings gauge of every kind (zero included, so a cleared kind drops).
fn record_findings(plan: &Plan) {
    use crate::domain::rules::FindingKind;
    for kind in FindingKind::ALL {
        let n = plan
            .pairs
            .iter()
            .flat_map(|p| &p.findings.active)
            .filter(|f| f.kind == kind.as_str())
            .count();
        metrics::gauge!(crate::metrics::FINDINGS, "kind" => kind.as_str()).set(n as f64);
    }
}

/// Resident memory of this process in MB (Linux), for the debug-level phase timings.
fn rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096 / (1024 * 1024))
}

fn log_problems(account: &str, s: &Snapshot, report: &mut CycleReport) {
    const MAX_LOGGED: usize = 50;
    let mut logged = 0;
    for p in &s.problems {
        match p.kind {
            ProblemKind::Unreadable => report.unreadable.push(p.to_string()),
            ProblemKind::NotWritable => report.warnings += 1,
        }
        if logged < MAX_LOGGED {
            logged += 1;
            warn!(account, source = %p.source, kind = ?p.kind, "{}", p.message);
        }
    }
    if s.problems.len() > MAX_LOGGED {
        warn!(
            account,
            "… and {} more problems",
            s.problems.len() - MAX_LOGGED
        );
    }
}
