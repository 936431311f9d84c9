//! Notes of one meeting: the shared notes and decisions both people see, and private notes that
//! only their author ever sees. Private notes are never part of the invite, the shared page, the
//! other person's export, a log line or the admin API: the types here say whose they are, the web
//! layer shows them only to that signed-in author, and the exports take them as a separate,
//! explicit argument.
//!
//! Architecture Invariant: pure data; no I/O.
use chrono::{DateTime, Utc};

/// The shared notes and decisions of one meeting of a pair (Markdown; rendered safely).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SharedNotes {
    pub pair_id: String,
    /// The meeting key.
    pub meeting: String,
    pub notes: String,
    pub decisions: String,
    /// Bumped by every save (optimistic concurrency).
    pub version: u64,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
}

impl SharedNotes {
    /// Nothing written.
    pub fn is_empty(&self) -> bool {
        self.notes.trim().is_empty() && self.decisions.trim().is_empty()
    }
}

/// A private note of one person about one meeting of their pair.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrivateNote {
    pub pair_id: String,
    pub meeting: String,
    /// The author's verified (signed-in) email, lower-case: the only person who may see it.
    pub author: String,
    pub text: String,
    pub version: u64,
    pub updated_at: Option<DateTime<Utc>>,
}
