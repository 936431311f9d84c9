//! A small per-client rate limit for requests that fail in ways an attacker would repeat: unknown
//! agenda tokens (guessing capabilities) and failed sign-ins. A fixed window per client address;
//! once a client has failed `max` times in the window, every request of that kind from it gets a
//! 429 until the window ends. The clock is passed in (`now`), so tests control it.
//!
//! Behind a reverse proxy every client has the proxy's address; when the peer is loopback the last
//! `X-Forwarded-For` entry (the one the proxy adds) is used instead (see `client_ip`).
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// The most clients remembered; beyond it, expired entries are dropped, then (if still full) all.
const MAX_CLIENTS: usize = 10_000;

/// Failures per client address within a window.
#[derive(Debug)]
pub struct Limiter {
    max: u32,
    window: Duration,
    hits: Mutex<HashMap<IpAddr, (DateTime<Utc>, u32)>>,
}

impl Limiter {
    /// Allow `max` failures per `window`.
    pub fn new(max: u32, window: Duration) -> Limiter {
        Limiter {
            max,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (DateTime<Utc>, u32)>> {
        self.hits.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds until `ip` may try again, when it is over the limit.
    pub fn blocked(&self, ip: IpAddr, now: DateTime<Utc>) -> Option<i64> {
        let hits = self.lock();
        let (since, n) = hits.get(&ip)?;
        let ends = *since + self.window;
        (*n >= self.max && now < ends).then(|| (ends - now).num_seconds().max(1))
    }

    /// Count one failure of `ip`.
    pub fn record(&self, ip: IpAddr, now: DateTime<Utc>) {
        let mut hits = self.lock();
        if hits.len() >= MAX_CLIENTS {
            let window = self.window;
            hits.retain(|_, (since, _)| *since + window > now);
            if hits.len() >= MAX_CLIENTS {
                hits.clear();
            }
        }
        let entry = hits.entry(ip).or_insert((now, 0));
        if entry.0 + self.window <= now {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

/// The client's address: the peer, or — when the peer is loopback (a reverse proxy on this
/// machine) — the last `X-Forwarded-For` entry, if it parses.
pub fn client_ip(peer: Option<IpAddr>, forwarded_for: Option<&str>) -> IpAddr {
    let peer = peer.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    if !peer.is_loopback() {
        return peer;
    }
    forwarded_for
        .and_then(|v| v.rsplit(',').next())
        .and_then(|last| last.trim().parse::<IpAddr>().ok())
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn blocks_after_max_failures_until_the_window_ends() {
        let t0 = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_default();
        let l = Limiter::new(3, Duration::minutes(10));
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        for _ in 0..2 {
            l.record(a, t0);
        }
        assert_eq!(l.blocked(a, t0), None);
        l.record(a, t0);
        assert_eq!(l.blocked(a, t0 + Duration::minutes(1)), Some(540));
        assert_eq!(l.blocked(b, t0), None, "per client");
        assert_eq!(
            l.blocked(a, t0 + Duration::minutes(10)),
            None,
            "window over"
        );
        l.record(a, t0 + Duration::minutes(11));
        assert_eq!(
            l.blocked(a, t0 + Duration::minutes(11)),
            None,
            "counts anew"
        );
    }

    #[test]
    fn forwarded_for_only_from_a_loopback_peer() {
        let lo: IpAddr = [127, 0, 0, 1].into();
        let far: IpAddr = [192, 0, 2, 7].into();
        assert_eq!(
            client_ip(Some(lo), Some("198.51.100.1, 192.0.2.9")),
            "192.0.2.9".parse::<IpAddr>().unwrap_or(lo)
        );
        assert_eq!(client_ip(Some(far), Some("192.0.2.9")), far);
        assert_eq!(client_ip(Some(lo), Some("nonsense")), lo);
        assert_eq!(client_ip(Some(lo), None), lo);
    }
}
