//! The outbox: messages waiting to be delivered, each under its idempotency key. Enqueuing is
//! insert-if-absent (the same key twice is one message); delivery moves a message through
//! `Pending` → `Sending` (flushed before it is sent) → `Sent`, or back to `Pending` with a later
//! attempt, or to `Failed`/`Dropped`. After a crash, a message left `Sending` is sent again, with
//! the same key: at most the one in flight is repeated. The message itself is opaque JSON here.
use super::{Result, Store, StoreError, T_OUTBOX, check_part, decode, encode, get};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Where a message is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    Pending,
    /// Handed to the channel; if the process died then, it is sent again.
    Sending,
    Sent,
    /// Given up (a permanent refusal, or too many attempts).
    Failed,
    /// Not sent on purpose (the meeting it was about was cancelled).
    Dropped,
}

/// One message in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub key: String,
    pub payload: serde_json::Value,
    pub state: OutboxState,
    pub attempts: u32,
    pub next_attempt: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// How many messages are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: usize,
    pub sent: usize,
    pub failed: usize,
    pub dropped: usize,
}

impl Store {
    /// Add a message under `key` unless one is there already; true when it was added.
    pub fn outbox_enqueue(
        &self,
        key: &str,
        payload: &serde_json::Value,
        not_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        check_part("outbox key", key)?;
        let item = OutboxItem {
            key: key.to_string(),
            payload: payload.clone(),
            state: OutboxState::Pending,
            attempts: 0,
            next_attempt: not_before,
            created_at: now,
            done_at: None,
            last_error: None,
        };
        let bytes = encode(&item)?;
        match self
            .inner
            .outbox
            .compare_and_swap(key.as_bytes(), None as Option<&[u8]>, Some(bytes))
        {
            Ok(Ok(())) => Ok(true),
            Ok(Err(_)) => Ok(false),
            Err(e) => Err(StoreError::io("write of the outbox", e)),
        }
    }

    /// The message under `key`, if any.
    pub fn outbox_get(&self, key: &str) -> Result<Option<OutboxItem>> {
        if key.is_empty() || key.contains('\0') {
            return Ok(None);
        }
        match get(&self.inner.outbox, T_OUTBOX, key.as_bytes())? {
            None => Ok(None),
            Some(raw) => decode(T_OUTBOX, key.as_bytes(), &raw).map(Some),
        }
    }

    /// Replace a message's record (its delivery state).
    pub fn outbox_put(&self, item: &OutboxItem) -> Result<()> {
        check_part("outbox key", &item.key)?;
        self.inner
            .outbox
            .insert(item.key.as_bytes(), encode(item)?)
            .map(|_| ())
            .map_err(|e| StoreError::io("write of the outbox", e))
    }

    /// Messages to try now: pending or left sending, due by `now`, oldest due first.
    pub fn outbox_due(&self, now: DateTime<Utc>) -> Result<Vec<OutboxItem>> {
        let mut out = Vec::new();
        for entry in self.inner.outbox.iter() {
            let (k, v) = entry.map_err(|e| StoreError::io("scan of the outbox", e))?;
            let item: OutboxItem = decode(T_OUTBOX, &k, &v)?;
            let open = matches!(item.state, OutboxState::Pending | OutboxState::Sending);
            if open && item.next_attempt <= now {
                out.push(item);
            }
        }
        out.sort_by(|a, b| a.next_attempt.cmp(&b.next_attempt).then(a.key.cmp(&b.key)));
        Ok(out)
    }

    /// The earliest next attempt of an open message, if any.
    pub fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let mut next: Option<DateTime<Utc>> = None;
        for entry in self.inner.outbox.iter() {
            let (k, v) = entry.map_err(|e| StoreError::io("scan of the outbox", e))?;
            let item: OutboxItem = decode(T_OUTBOX, &k, &v)?;
            if matches!(item.state, OutboxState::Pending | OutboxState::Sending) {
                next = Some(next.map_or(item.next_attempt, |n| n.min(item.next_attempt)));
            }
        }
        Ok(next)
    }

    /// Counts by state.
    pub fn outbox_stats(&self) -> Result<OutboxStats> {
        let mut s = OutboxStats::default();
        for entry in self.inner.outbox.iter() {
            let (k, v) = entry.map_err(|e| StoreError::io("scan of the outbox", e))?;
            let item: OutboxItem = decode(T_OUTBOX, &k, &v)?;
            match item.state {
                OutboxState::Pending | OutboxState::Sending => s.pending += 1,
                OutboxState::Sent => s.sent += 1,
                OutboxState::Failed => s.failed += 1,
                OutboxState::Dropped => s.dropped += 1,
            }
        }
        Ok(s)
    }

    /// Forget delivered (or given-up) messages finished before `now - keep`; their keys may then
    /// be enqueued again (keys carry the week, the level or the occurrence, so that is never a
    /// repeat of the same thing). Returns how many were forgotten.
    pub fn outbox_prune(&self, now: DateTime<Utc>, keep: Duration) -> Result<usize> {
        let mut dels = Vec::new();
        for entry in self.inner.outbox.iter() {
            let (k, v) = entry.map_err(|e| StoreError::io("scan of the outbox", e))?;
            let item: OutboxItem = decode(T_OUTBOX, &k, &v)?;
            if item.done_at.is_some_and(|d| d < now - keep) {
                dels.push(k);
            }
        }
        let n = dels.len();
        let mut batch = sled::Batch::default();
        for k in dels {
            batch.remove(k);
        }
        self.inner
            .outbox
            .apply_batch(batch)
            .map_err(|e| StoreError::io("pruning of the outbox", e))?;
        Ok(n)
    }
}
