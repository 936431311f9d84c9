//! Putting messages in the store's outbox and delivering what is due, outside the sync cycle.
//! Each message is flushed as `Sending` before it is handed to its channel and recorded as `Sent`
//! (flushed) after, so a crash in between re-sends only that message, under the same key. Failed
//! attempts that may succeed later back off (1 min, doubling, at most 1 h; given up after
//! [`MAX_ATTEMPTS`]); a refusal fails the message at once. A nudge whose meeting was cancelled (or
//! has started) by the time it is due is dropped, not sent.
use super::message::Message;
use super::send::{SendError, Senders};
use crate::domain::history::OccurrenceStatus;
use crate::store::{OutboxItem, OutboxState, Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use tracing::{info, warn};

/// Attempts before a message is given up (about a day of backoff).
pub const MAX_ATTEMPTS: u32 = 30;

/// Put `messages` in the outbox; ones already there (same key) are left alone. Returns how many
/// were new. Flushed before it returns: whoever records "notified" next can rely on it.
pub fn enqueue(
    store: &Store,
    messages: &[Message],
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut added = 0;
    for m in messages {
        let payload = serde_json::to_value(m).map_err(|e| StoreError::InvalidInput {
            what: "outbox message",
            value: m.key.clone(),
            reason: e.to_string(),
        })?;
        if store.outbox_enqueue(&m.key, &payload, m.not_before, now)? {
            added += 1;
        }
    }
    if added > 0 {
        store.flush()?;
    }
    Ok(added)
}

/// What one delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub sent: usize,
    /// Failed this time, tried again later.
    pub retrying: usize,
    /// Given up.
    pub failed: usize,
    pub dropped: usize,
    /// Store errors (the message stays where it was and is tried again).
    pub store_errors: usize,
}

/// Deliver every message due at `now`, one at a time (oldest due first).
pub async fn deliver_due(store: &Store, senders: &Senders, now: DateTime<Utc>) -> DeliveryReport {
    let mut report = DeliveryReport::default();
    let due = match store.outbox_due(now) {
        Ok(d) => d,
        Err(e) => {
            warn!(error = %e, "cannot read the outbox; delivery waits");
            report.store_errors += 1;
            return report;
        }
    };
    for item in due {
        if let Err(e) = deliver_one(store, senders, item, now, &mut report).await {
            report.store_errors += 1;
            warn!(error = %e, "cannot record a delivery in the outbox; it is tried again");
        }
    }
    report
}

async fn deliver_one(
    store: &Store,
    senders: &Senders,
    mut item: OutboxItem,
    now: DateTime<Utc>,
    report: &mut DeliveryReport,
) -> Result<(), StoreError> {
    let message: Message = match serde_json::from_value(item.payload.clone()) {
        Ok(m) => m,
        Err(e) => {
            report.failed += 1;
            return finish(
                store,
                item,
                OutboxState::Failed,
                Some(format!("unreadable message: {e}")),
                now,
            );
        }
    };
    if let Some(reason) = obsolete(store, &message, now)? {
        report.dropped += 1;
        info!(key = %item.key, reason, "message dropped");
        return finish(store, item, OutboxState::Dropped, Some(reason.into()), now);
    }
    item.state = OutboxState::Sending;
    item.attempts += 1;
    store.outbox_put(&item)?;
    store.flush()?;
    match senders.send(&message).await {
        Ok(()) => {
            report.sent += 1;
            info!(key = %item.key, event = ?message.event, "message delivered");
            metrics::counter!("oneonone_notifications_sent_total", "event" => event_label(&message)).increment(1);
            finish(store, item, OutboxState::Sent, None, now)
        }
        Err(SendError::Retry(e)) if item.attempts < MAX_ATTEMPTS => {
            report.retrying += 1;
            let wait = backoff(item.attempts);
            warn!(key = %item.key, error = %e, retry_in_s = wait.num_seconds(), "delivery failed; retrying later");
            metrics::counter!("oneonone_notification_failures_total", "outcome" => "retry")
                .increment(1);
            item.state = OutboxState::Pending;
            item.next_attempt = now + wait;
            item.last_error = Some(e);
            store.outbox_put(&item)?;
            store.flush()
        }
        Err(SendError::Retry(e) | SendError::Permanent(e)) => {
            report.failed += 1;
            warn!(key = %item.key, error = %e, attempts = item.attempts, "delivery failed; giving up");
            metrics::counter!("oneonone_notification_failures_total", "outcome" => "failed")
                .increment(1);
            finish(store, item, OutboxState::Failed, Some(e), now)
        }
    }
}

fn event_label(m: &Message) -> &'static str {
    match m.event {
        super::message::Event::Finding => "finding",
        super::message::Event::Worse => "worse",
        super::message::Event::Resolved => "resolved",
        super::message::Event::Digest => "digest",
        super::message::Event::Nudge => "nudge",
    }
}

fn finish(
    store: &Store,
    mut item: OutboxItem,
    state: OutboxState,
    error: Option<String>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    item.state = state;
    item.done_at = Some(now);
    if error.is_some() {
        item.last_error = error;
    }
    store.outbox_put(&item)?;
    store.flush()
}

/// Why a message is no longer worth sending, if it is not: a nudge for a meeting that has been
/// cancelled or has already started.
fn obsolete(
    store: &Store,
    m: &Message,
    now: DateTime<Utc>,
) -> Result<Option<&'static str>, StoreError> {
    let Some((pair, meeting)) = &m.unless_cancelled else {
        return Ok(None);
    };
    if m.occurrence.is_some_and(|start| start <= now) {
        return Ok(Some("the meeting has started"));
    }
    let history = store.occurrences(pair)?;
    let occ = history.iter().find(|o| o.meeting == *meeting);
    Ok(match occ {
        Some(o) if o.status == OccurrenceStatus::Cancelled => Some("the meeting was cancelled"),
        None => Some("the meeting is gone from the calendar"),
        Some(_) => None,
    })
}

/// The wait after `attempts` failed attempts: 1 min, doubling, at most 1 h.
pub fn backoff(attempts: u32) -> Duration {
    let minutes = 1i64 << attempts.saturating_sub(1).min(6);
    Duration::minutes(minutes.min(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_minute_up_to_an_hour() {
        let waits: Vec<i64> = (1..=9).map(|a| backoff(a).num_minutes()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
