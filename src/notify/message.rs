//! [`Message`]: one thing to deliver — to one channel, once, identified by its idempotency key. It
//! is what the outbox keeps (as JSON, opaque to the store) and what the senders render into each
//! channel's shape.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A finding appeared.
    Finding,
    /// A finding got worse (a longer streak, a longer gap).
    Worse,
    /// A finding cleared.
    Resolved,
    /// The weekly summary of a manager's pairs.
    Digest,
    /// The reminder before a 1:1 to add topics to its agenda.
    Nudge,
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Channel {
    /// The configured webhook of this name.
    Webhook { name: String },
    /// An email to these addresses.
    Email { to: Vec<String> },
}

/// One message to deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Idempotency key: never sent twice under one key (a crash between sending and recording
    /// re-sends it with the same key, which receivers can use to drop the repeat).
    pub key: String,
    pub channel: Channel,
    pub event: Event,
    /// One line (email subject, the headline of a chat message).
    pub subject: String,
    /// The body, line by line.
    pub lines: Vec<String>,
    /// The pair it is about (`MANAGER~REPORT`), if one.
    pub pair: Option<String>,
    /// The finding's kind, severity and message, for findings.
    pub kind: Option<String>,
    pub severity: Option<String>,
    pub message: Option<String>,
    pub occurrence: Option<DateTime<Utc>>,
    /// A link to open (the agenda doc), if any.
    pub link: Option<String>,
    /// Not before this instant (quiet hours).
    pub not_before: DateTime<Utc>,
    /// Drop it instead of sending when this occurrence (pair, meeting key) has been cancelled by
    /// then (nudges).
    pub unless_cancelled: Option<(String, String)>,
}
