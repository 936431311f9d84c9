//! The records kept in the store. Each is serialized with a schema version (see `store`); these are
//! the store's own types, deliberately separate from the domain types and from any wire format.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What became of one occurrence of a pair's 1:1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OccurrenceStatus {
    Held,
    Scheduled,
    Cancelled,
}

/// One occurrence of a pair's 1:1, remembered even after the calendar forgets it (so a cancellation
/// still counts after the event is deleted or EXDATE'd).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OccurrenceRecord {
    pub pair_id: String,
    pub account: String,
    /// Provider instance id (stable across moves of the occurrence).
    pub instance_id: String,
    pub series_id: Option<String>,
    pub title: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub status: OccurrenceStatus,
    /// Why it counts as cancelled: "cancelled", "declined by x@y", "removed from the calendar".
    pub cancel_reason: Option<String>,
    /// The last time a sync saw it on the calendar.
    pub last_seen: DateTime<Utc>,
    /// The people on it at last sight were exactly the pair.
    pub one_on_one: bool,
}

/// A finding that has been notified (log + webhook) and is still active. Removed when it clears.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingRecord {
    pub pair_id: String,
    /// Identity of the finding: kind plus what it is about (e.g. the first cancellation of a streak),
    /// so a new streak notifies again but a growing one does not.
    pub key: String,
    pub kind: String,
    pub severity: String,
    pub message: String,
    pub occurrence: Option<DateTime<Utc>>,
    pub first_seen: DateTime<Utc>,
    /// When the webhook accepted it (None: not delivered yet, retried next cycle).
    pub notified_at: Option<DateTime<Utc>>,
}

/// The agenda document of one occurrence. `token` is the unguessable capability in its URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgendaDocRecord {
    /// ≥128 random bits, URL-safe (hex or base32).
    pub token: String,
    pub pair_id: String,
    pub instance_id: String,
    pub start: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// The kind of an agenda item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    TalkingPoint,
    ActionItem,
}

/// Which section of the doc an item belongs to (the shape of a good 1:1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    CheckIn,
    ReportTopics,
    ManagerTopics,
    Growth,
    Feedback,
    ActionItems,
}

/// One agenda item of a pair. Items live in a per-pair ledger: an item belongs to the occurrence it
/// was added for and shows in every later occurrence's doc until it is done (that is carry-over).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgendaItemRecord {
    /// Unique within the pair (random, URL-safe).
    pub id: String,
    pub pair_id: String,
    pub kind: ItemKind,
    pub section: Section,
    pub text: String,
    /// Action items: who owns it (an email or a name as typed).
    pub owner: Option<String>,
    /// Who added it, as given in the form (free text), if anything.
    pub author: Option<String>,
    /// The occurrence it was added for, and that occurrence's start.
    pub origin_instance: String,
    pub origin_start: DateTime<Utc>,
    /// Set when ticked done / discussed: in which occurrence's doc, and when.
    pub done_in: Option<String>,
    pub done_start: Option<DateTime<Utc>>,
    pub done_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The journal entry of one external write (record the intent, flush, write, record the result,
/// flush). `content_hash` identifies what was (to be) written, so a write is never repeated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteRecord {
    pub account: String,
    pub instance_id: String,
    pub content_hash: String,
    pub state: WriteState,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteState {
    Intent,
    Done,
    Failed,
}
