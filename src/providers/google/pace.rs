//! Client-side pacing within Google's quotas: a token bucket per impersonated person (Google: 600
//! requests per minute per user) and one for the whole account (10,000 per minute per project).
//! Each bucket holds a tenth of its limit as burst and refills the rest evenly over the minute, so
//! no sliding minute ever sees more than the limit, and a large account's requests spread over the
//! cycle instead of tripping `rateLimitExceeded`. Time is tokio's (tests can pause it).
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The current instant of tokio's clock (the one place the provider's pacing reads a clock).
#[allow(clippy::disallowed_methods)] // pacing must read a monotonic clock; tokio's, so tests can pause it
pub fn mono_now() -> Instant {
    Instant::now()
}

#[derive(Debug)]
struct Bucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A bucket that admits at most `per_minute` in any 60 s.
    fn new(per_minute: u32, now: Instant) -> Bucket {
        let limit = f64::from(per_minute.max(1));
        let capacity = (limit / 10.0).floor().max(1.0);
        Bucket {
            capacity,
            per_sec: ((limit - capacity) / 60.0).max(limit / 600.0),
            tokens: capacity,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.per_sec).min(self.capacity);
        self.last = now;
    }

    /// How long until a token is there (zero: now).
    fn wait(&self) -> Duration {
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.per_sec)
        }
    }
}

/// The account's pacer.
#[derive(Debug)]
pub struct Pacer {
    per_user: u32,
    inner: Mutex<(Bucket, HashMap<String, Bucket>)>,
}

impl Pacer {
    pub fn new(per_user_per_minute: u32, per_minute: u32) -> Pacer {
        let now = mono_now();
        Pacer {
            per_user: per_user_per_minute,
            inner: Mutex::new((Bucket::new(per_minute, now), HashMap::new())),
        }
    }

    /// Wait until one request as `user` fits both quotas, and take it.
    pub async fn admit(&self, user: &str) {
        loop {
            let wait = {
                let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                let (project, users) = &mut *guard;
                let now = mono_now();
                let per_user = self.per_user;
                let mine = users
                    .entry(user.to_string())
                    .or_insert_with(|| Bucket::new(per_user, now));
                project.refill(now);
                mine.refill(now);
                let wait = project.wait().max(mine.wait());
                if wait.is_zero() {
                    project.tokens -= 1.0;
                    mine.tokens -= 1.0;
                    return;
                }
                wait
            };
            crate::metrics::rate_limit_wait("google", "pacing", wait);
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn no_minute_sees_more_than_the_limit() {
        let p = Pacer::new(60, 1000);
        let t0 = mono_now();
        let mut times = Vec::new();
        for _ in 0..130 {
            p.admit("alice@acme.test").await;
            times.push(mono_now() - t0);
        }
        // 6 at once (a tenth), then 54 per minute.
        assert!(times[5] < Duration::from_millis(1));
        assert!(times[6] > Duration::from_millis(900));
        for (i, t) in times.iter().enumerate() {
            let in_minute = times
                .iter()
                .filter(|u| **u >= *t && **u < *t + Duration::from_secs(60))
                .count();
            assert!(
                in_minute <= 60,
                "{in_minute} requests in the minute from #{i}"
            );
        }
        // Another person is not held up by alice's quota.
        let before = mono_now();
        p.admit("bob@acme.test").await;
        assert_eq!(mono_now(), before);
    }

    #[tokio::test(start_paused = true)]
    async fn the_project_quota_binds_everyone() {
        let p = Pacer::new(600, 20);
        let t0 = mono_now();
        for i in 0..10 {
            p.admit(&format!("user{i}@acme.test")).await;
        }
        // Burst of 2, then 18 per minute: the tenth request comes after 8 × 60/18 s.
        let took = mono_now() - t0;
        assert!(took >= Duration::from_secs(26), "{took:?}");
        assert!(took <= Duration::from_secs(27), "{took:?}");
    }
}
