//! Outlook's per-mailbox limits: at most `concurrency_limit` requests in flight (429
//! `ApplicationThrottled`, "MailboxConcurrency") and `requests_per_10min` requests per fixed
//! 10-minute window of emulator time (429 `TooManyRequests`).
//!
//! Invariant: every admitted request holds a [`Slot`]; dropping it (also when the client goes away
//! and the handler future is dropped) releases the concurrency place.
use super::Knobs;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Counter {
    in_flight: u32,
    window: i64,
    count: u32,
}

/// Counters of every mailbox.
#[derive(Debug, Default)]
pub struct Limits {
    inner: Mutex<HashMap<String, Counter>>,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy)]
pub struct Rejection {
    pub code: &'static str,
    pub message: &'static str,
    pub retry_after: u64,
}

/// A concurrency place held by one request.
#[derive(Debug)]
pub struct Slot {
    limits: Arc<Limits>,
    key: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut m = self.limits.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = m.get_mut(&self.key) {
            c.in_flight = c.in_flight.saturating_sub(1);
        }
    }
}

const WINDOW_SECS: i64 = 600;

impl Limits {
    /// Admit a request to `mailbox` at emulator time `now`, or refuse it.
    pub fn acquire(
        this: &Arc<Limits>,
        mailbox: &str,
        now: DateTime<Utc>,
        knobs: &Knobs,
    ) -> Result<Slot, Rejection> {
        let mut m = this.inner.lock().unwrap_or_else(|e| e.into_inner());
        let c = match m.get_mut(mailbox) {
            Some(c) => c,
            None => m.entry(mailbox.to_string()).or_default(),
        };
        if c.in_flight >= knobs.concurrency_limit {
            return Err(Rejection {
                code: "ApplicationThrottled",
                message: "Application is over its MailboxConcurrency limit.",
                retry_after: knobs.retry_after_secs,
            });
        }
        let window = now.timestamp().div_euclid(WINDOW_SECS);
        if c.window != window {
            c.window = window;
            c.count = 0;
        }
        if c.count >= knobs.requests_per_10min {
            let left = (window + 1) * WINDOW_SECS - now.timestamp();
            return Err(Rejection {
                code: "ApplicationThrottled",
                message: "Application is over its MailboxRequests limit.",
                retry_after: left.max(1) as u64,
            });
        }
        c.count += 1;
        c.in_flight += 1;
        Ok(Slot {
            limits: this.clone(),
            key: mailbox.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_and_budget() {
        let l = Arc::new(Limits::default());
        let knobs = Knobs {
            requests_per_10min: 6,
            ..Knobs::default()
        };
        let now = DateTime::from_timestamp(1_200, 0).unwrap_or_default();
        let slots: Vec<_> = (0..4)
            .filter_map(|_| Limits::acquire(&l, "a", now, &knobs).ok())
            .collect();
        assert_eq!(slots.len(), 4);
        assert!(Limits::acquire(&l, "a", now, &knobs).is_err());
        assert!(Limits::acquire(&l, "b", now, &knobs).is_ok());
        drop(slots);
        assert!(Limits::acquire(&l, "a", now, &knobs).is_ok());
        assert!(Limits::acquire(&l, "a", now, &knobs).is_ok());
        let rej = Limits::acquire(&l, "a", now, &knobs).err();
        assert_eq!(rej.map(|r| r.retry_after), Some(600));
        let later = DateTime::from_timestamp(1_800, 0).unwrap_or_default();
        assert!(Limits::acquire(&l, "a", later, &knobs).is_ok());
    }
}
