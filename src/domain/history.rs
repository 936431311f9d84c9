//! What the daemon remembers about each occurrence of a pair's 1:1, after the calendars forget it:
//! the occurrence history that cadence and cancellation rules are computed from. Pure data; the
//! store serialises it with its own versioned records.
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// What became of one occurrence of a pair's 1:1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OccurrenceStatus {
    Held,
    Scheduled,
    Cancelled,
}

impl OccurrenceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OccurrenceStatus::Held => "held",
            OccurrenceStatus::Scheduled => "scheduled",
            OccurrenceStatus::Cancelled => "cancelled",
        }
    }
}

/// Where a copy of the meeting was last read: its calendar and its unit of reading (file, series).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeenIn {
    pub calendar: Arc<str>,
    pub source: Arc<str>,
}

/// One occurrence of a pair's 1:1, remembered even after the calendar forgets it (so a cancellation
/// still counts after the event is deleted or EXDATE'd).
#[derive(Debug, Clone, PartialEq)]
/// The identifiers every record of a pair repeats (pair, account, series, calendars, files) are
/// shared (`Arc<str>`): a large organisation's history holds tens of thousands of records.
pub struct Occurrence {
    pub pair_id: Arc<str>,
    /// The account whose calendars show it.
    pub account: Arc<str>,
    /// The meeting key (`Instance::meeting_key`): the same for every copy in every calendar, and
    /// stable across moves of the occurrence.
    pub meeting: String,
    /// The series it belongs to (the series UID), if recurring.
    pub series: Option<Arc<str>>,
    pub title: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub status: OccurrenceStatus,
    /// Why it counts as cancelled: "cancelled by x@y", "declined by x@y", "removed from the calendar".
    pub cancel_reason: Option<String>,
    /// The last time a sync saw it on a calendar.
    pub last_seen: DateTime<Utc>,
    /// The people on it at last sight were exactly the pair.
    pub one_on_one: bool,
    /// Where its copies were read at last sight (empty for records older than this field): its
    /// absence counts only when every one of these was read completely.
    pub seen_in: Vec<SeenIn>,
    /// The token of its agenda doc, once one was made.
    pub agenda: Option<String>,
}

impl Occurrence {
    /// The key grouping it with the other occurrences of its series (or itself, when single).
    pub fn group(&self) -> &str {
        self.series.as_deref().unwrap_or(&self.meeting)
    }
}

/// What happened to a write the planner allows only once (a block on a provider whose writes
/// notify attendees, the creation of a missing series): the planner's memory of it, per pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteMark {
    /// The write's key (the same as its journal key).
    pub key: String,
    pub state: MarkState,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkState {
    /// Sent, outcome unknown (a crash or a lost response): it may have happened.
    Intent,
    Done,
    /// Refused by the provider with a definite answer: it did not happen.
    Failed,
}
