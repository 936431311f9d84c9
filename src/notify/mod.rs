//! Notifications: what findings, weekly digests and pre-meeting nudges say, to whom and when
//! (`routing`, pure), in each channel's shape (`render`, pure), kept in the store's outbox until
//! delivered (`outbox`), and handed to webhooks and SMTP (`send`).
//!
//! Architecture Invariants:
//! - The sync cycle only enqueues; delivery runs on its own, so a slow or failing channel never
//!   holds up a cycle.
//! - Every message has a deterministic idempotency key; enqueuing is insert-if-absent, so a
//!   repeated cycle never sends a thing twice, and a crash mid-send repeats at most that one
//!   message, with the same key (webhook `Idempotency-Key` header, email Message-ID).
pub mod message;
pub mod outbox;
pub mod render;
pub mod routing;
pub mod send;

pub use message::{Channel, Event, Message};
pub use send::Senders;
