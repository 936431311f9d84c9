//! [`Progress`]: counters a cycle's long work reports into (calendars read, writes done), shared by
//! the providers and the engine and shown by `sync --once` on a terminal. Lock-free; reading it
//! never blocks the work.
use std::sync::atomic::{AtomicUsize, Ordering};

/// How far a cycle has got.
#[derive(Debug, Default)]
pub struct Progress {
    calendars_total: AtomicUsize,
    calendars_done: AtomicUsize,
    writes_total: AtomicUsize,
    writes_done: AtomicUsize,
}

/// A consistent-enough reading of [`Progress`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    pub calendars_total: usize,
    pub calendars_done: usize,
    pub writes_total: usize,
    pub writes_done: usize,
}

impl Progress {
    /// `n` more calendars are going to be read.
    pub fn add_calendars(&self, n: usize) {
        self.calendars_total.fetch_add(n, Ordering::Relaxed);
    }

    /// One calendar has been read (or has failed).
    pub fn calendar_done(&self) {
        self.calendars_done.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` more writes are going to be made.
    pub fn add_writes(&self, n: usize) {
        self.writes_total.fetch_add(n, Ordering::Relaxed);
    }

    /// One write has been made (or has failed).
    pub fn write_done(&self) {
        self.writes_done.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            calendars_total: self.calendars_total.load(Ordering::Relaxed),
            calendars_done: self.calendars_done.load(Ordering::Relaxed),
            writes_total: self.writes_total.load(Ordering::Relaxed),
            writes_done: self.writes_done.load(Ordering::Relaxed),
        }
    }
}
