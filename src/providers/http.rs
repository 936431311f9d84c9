//! Waiting between retries of remote calls. Which answers are worth retrying is each provider's
//! call (it classifies its own API's errors); how long to wait is decided here: exponential backoff
//! with jitter, capped, or exactly what the server's `Retry-After` says when it says something.
use chrono::{DateTime, Utc};
use std::time::Duration;

/// An exponential backoff: attempt `n` (from 0) waits `base·2ⁿ` plus up to one `base` of jitter,
/// at most `cap`; after `max_retries` retries the caller gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    pub max_retries: u32,
}

impl Default for Backoff {
    /// Google's Workspace template: 1 s, 2 s, 4 s … plus up to 1 s of jitter, at most 64 s, 6 retries.
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(64),
            max_retries: 6,
        }
    }
}

impl Backoff {
    /// How long to wait before retry number `attempt` (0 for the first retry). A `Retry-After`
    /// from the server is honoured exactly (never shortened), even beyond the cap.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            return d;
        }
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX));
        let jitter = self.base.mul_f64(random_fraction());
        exp.saturating_add(jitter).min(self.cap)
    }

    /// Is there a retry left after `attempt` retries?
    pub fn may_retry(&self, attempt: u32) -> bool {
        attempt < self.max_retries
    }
}

/// A uniformly random fraction in [0, 1) (0 when the system gives no randomness).
fn random_fraction() -> f64 {
    let mut b = [0u8; 4];
    match getrandom::fill(&mut b) {
        Ok(()) => f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.0,
    }
}

/// The `Retry-After` of a response: delay-seconds, or an HTTP date (relative to `now`).
pub fn retry_after(headers: &reqwest::header::HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let b = Backoff::default();
        for attempt in 0..10 {
            let d = b.delay(attempt, None);
            let floor = Duration::from_secs(1u64 << attempt.min(6)).min(b.cap);
            assert!(d >= floor, "attempt {attempt}: {d:?} < {floor:?}");
            assert!(d <= b.cap, "attempt {attempt}: {d:?}");
            assert!(d < floor + Duration::from_secs(1) || d == b.cap);
        }
        assert!(b.may_retry(5) && !b.may_retry(6));
    }

    #[test]
    fn retry_after_is_honoured_exactly() {
        let b = Backoff::default();
        assert_eq!(
            b.delay(0, Some(Duration::from_secs(120))),
            Duration::from_secs(120)
        );
        let now = Utc
            .with_ymd_and_hms(2026, 12, 6, 12, 0, 0)
            .single()
            .unwrap_or_default();
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            reqwest::header::RETRY_AFTER,
            "7".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Sun, 06 Dec 2026 12:00:30 GMT"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "soon".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(retry_after(&h, now), None);
    }
}
