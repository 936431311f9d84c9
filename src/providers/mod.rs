//! Calendar providers: the only code that knows a calendar's wire or file format. Each provider turns
//! what it reads into `domain::Instance`s and carries out description writes planned by `sync`.
//!
//! API Boundary: `Snapshot`, `SourceProblem`, `OccurrenceWrite`, `NewSeries`, `WriteOutcome`, `ProviderError`.
pub mod local;

use crate::domain::Instance;
use chrono::{DateTime, Utc};

/// Everything a provider saw in one fetch of one account.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Instances overlapping the requested window, recurring series expanded.
    pub instances: Vec<Instance>,
    /// Things that could not be read (a malformed file, an event without DTSTART, an unknown TZID);
    /// each names where and why. The rest of the snapshot is still valid.
    pub problems: Vec<SourceProblem>,
}

/// A piece of calendar data that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceProblem {
    /// File path, calendar id or event id.
    pub source: String,
    pub message: String,
}

impl std::fmt::Display for SourceProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.source, self.message)
    }
}

/// The time window a fetch covers: instances that end after `start` and begin before `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Change one instance. For a series occurrence the provider writes an exception (a RECURRENCE-ID
/// override, a Google instance patch, a Graph occurrence PATCH) for that occurrence only, never the
/// series master. `None` fields are left as they are.
#[derive(Debug, Clone, PartialEq)]
pub struct OccurrenceWrite {
    /// The instance as last fetched (id, series, original start, source, current description).
    pub target: Instance,
    /// The complete new description (user text outside the managed block unchanged).
    pub description: Option<String>,
    /// A corrected end (fix mode: duration correction); the start never moves.
    pub end: Option<DateTime<Utc>>,
}

/// A new recurring 1:1 series (fix mode: the pair has no series at all).
#[derive(Debug, Clone, PartialEq)]
pub struct NewSeries {
    /// Globally unique id for the new event (the planner derives it from the pair id, so a retry
    /// after a crash finds the event it already created instead of creating a duplicate).
    pub uid: String,
    pub title: String,
    pub organizer: String,
    /// The other person (the organizer is added as an attendee too where the format wants it).
    pub attendee: String,
    /// First occurrence start, as a wall-clock time in `timezone`.
    pub first_start: DateTime<chrono_tz::Tz>,
    pub duration: chrono::Duration,
    /// RRULE body, e.g. `FREQ=WEEKLY;INTERVAL=2`.
    pub rrule: String,
    pub description: String,
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    /// The stored content already equals what would be written: nothing was touched.
    Unchanged,
}

/// Errors at the provider boundary, named for what the caller can do about them.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The account's source cannot be read at all (missing folder, permission denied).
    #[error("cannot read {what}: {reason}")]
    Unavailable { what: String, reason: String },
    /// The target changed since it was read (or cannot be safely rewritten): re-read and re-plan.
    #[error("{what} changed since it was read or cannot be safely rewritten: {reason}")]
    Conflict { what: String, reason: String },
    #[error("{0} not found")]
    NotFound(String),
    #[error("I/O error on {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}
