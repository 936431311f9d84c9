//! [`CycleReport`]: what one cycle did, for the log line, `sync --once`'s summary and its exit
//! code. It names what could not be read, so the admin knows where to look.
use std::fmt::Write as _;

/// How many names of unreadable things a summary lists before "and N more".
const NAMES_SHOWN: usize = 10;

/// What one cycle did; `sync --once` prints it and exits 1 when `failed()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CycleReport {
    pub accounts_ok: usize,
    pub accounts_failed: usize,
    pub calendars_ok: usize,
    /// Calendars that could not be read (or were judged a failed read).
    pub calendars_failed: usize,
    pub instances: usize,
    /// Files, events or calendars that could not be read, by name (`what: why`).
    pub unreadable: Vec<String>,
    /// Caveats about data that was read (e.g. an end before its start, swapped).
    pub warnings: usize,
    pub pairs: usize,
    /// Pairs left alone because their stored state could not be read.
    pub pairs_skipped: usize,
    pub writes: usize,
    pub writes_planned_dry_run: usize,
    pub writes_unchanged: usize,
    pub write_failures: usize,
    pub findings_new: usize,
    pub findings_cleared: usize,
    /// Messages newly put in the outbox (findings, digests, nudges).
    pub notifications_queued: usize,
    /// Deliveries given up (set by `sync --once`, which delivers after its cycle).
    pub notify_failures: usize,
    pub store_errors: usize,
}

impl CycleReport {
    /// A partial failure: something could not be read, or a write, notification or store
    /// operation failed.
    pub fn failed(&self) -> bool {
        self.accounts_failed > 0
            || self.calendars_failed > 0
            || !self.unreadable.is_empty()
            || self.pairs_skipped > 0
            || self.write_failures > 0
            || self.notify_failures > 0
            || self.store_errors > 0
    }

    /// Add the counts of a partial report (one thread's share of the pairs).
    pub(super) fn add(&mut self, o: CycleReport) {
        self.accounts_ok += o.accounts_ok;
        self.accounts_failed += o.accounts_failed;
        self.calendars_ok += o.calendars_ok;
        self.calendars_failed += o.calendars_failed;
        self.instances += o.instances;
        self.unreadable.extend(o.unreadable);
        self.warnings += o.warnings;
        self.pairs += o.pairs;
        self.pairs_skipped += o.pairs_skipped;
        self.writes += o.writes;
        self.writes_planned_dry_run += o.writes_planned_dry_run;
        self.writes_unchanged += o.writes_unchanged;
        self.write_failures += o.write_failures;
        self.findings_new += o.findings_new;
        self.findings_cleared += o.findings_cleared;
        self.notifications_queued += o.notifications_queued;
        self.notify_failures += o.notify_failures;
        self.store_errors += o.store_errors;
    }
}

impl std::fmt::Display for CycleReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "accounts ok={} failed={}; calendars ok={} failed={}; {} 1:1-candidate instances, {} unreadable items; \
             {} pairs; writes={} unchanged={} failed={} dry-run={}; findings new={} cleared={}; notifications queued={}",
            self.accounts_ok,
            self.accounts_failed,
            self.calendars_ok,
            self.calendars_failed,
            self.instances,
            self.unreadable.len(),
            self.pairs,
            self.writes,
            self.writes_unchanged,
            self.write_failures,
            self.writes_planned_dry_run,
            self.findings_new,
            self.findings_cleared,
            self.notifications_queued
        )?;
        if self.pairs_skipped > 0 || self.notify_failures > 0 || self.store_errors > 0 {
            write!(
                f,
                "; pairs skipped={} notify failures={} store errors={}",
                self.pairs_skipped, self.notify_failures, self.store_errors
            )?;
        }
        Ok(())
    }
}

impl CycleReport {
    /// The names of what could not be read, one per line, for a summary (at most a few).
    pub fn unreadable_summary(&self) -> String {
        let mut s = String::new();
        for u in self.unreadable.iter().take(NAMES_SHOWN) {
            let _ = writeln!(s, "  unreadable: {u}");
        }
        if self.unreadable.len() > NAMES_SHOWN {
            let _ = writeln!(
                s,
                "  … and {} more (see the log)",
                self.unreadable.len() - NAMES_SHOWN
            );
        }
        s
    }
}
