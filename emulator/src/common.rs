//! What both emulated APIs share: the access-token table, the request/write log, fault injection and
//! the emulator's notion of "now". Each API renders faults in its own error envelope; this module only
//! decides *whether* a request fails, deterministically from the seed.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, RwLock};

/// Fault injection settings; fractions are of API requests (admin requests are never faulted).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultConfig {
    pub fraction_5xx: f64,
    pub fraction_throttle: f64,
    /// Fraction of requests whose sync token / delta state is treated as expired.
    pub fraction_expired_sync: f64,
    /// Fraction of requests whose connection is dropped without a response.
    pub fraction_drop: f64,
    pub latency_ms: u64,
    /// Fraction of requests delayed by a further `slow_ms` ("slow responses").
    pub fraction_slow: f64,
    pub slow_ms: u64,
}

/// The fault chosen for one request, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    ServerError,
    Throttle,
    ExpiredSync,
    Drop,
}

/// One access token issued by the emulator.
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    /// The user (email) the token acts as; for app-only Graph tokens, the app's client id.
    pub user: String,
    /// Graph app-only token (client credentials): `/me` is rejected, `/users/{id}` allowed.
    pub app_only: bool,
    pub scopes: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

/// One logged request. `write` is true for methods that change state; `notifying` is true when the
/// real service would have mailed attendees because of it.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub seq: u64,
    pub api: &'static str,
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub if_match: bool,
    pub send_updates: Option<String>,
    pub write: bool,
    pub notifying: bool,
    pub user: Option<String>,
}

/// Shared state of one emulator process.
pub struct Ctx {
    pub seed: u64,
    pub faults: RwLock<FaultConfig>,
    rng: Mutex<u64>,
    pub tokens: RwLock<HashMap<String, TokenInfo>>,
    pub log: Mutex<Vec<LogEntry>>,
    base_url: OnceLock<String>,
    /// The emulator's "now": set by a scenario, else the wall clock.
    pub now_override: RwLock<Option<DateTime<Utc>>>,
    pub google: RwLock<crate::google::GoogleState>,
    pub graph: RwLock<crate::graph::GraphState>,
}

impl Ctx {
    /// A fresh context: empty state, the given seed and fault configuration.
    pub fn new(seed: u64, faults: FaultConfig) -> Self {
        Ctx {
            seed,
            faults: RwLock::new(faults),
            rng: Mutex::new(seed ^ 0x9E37_79B9_7F4A_7C15),
            tokens: RwLock::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            base_url: OnceLock::new(),
            now_override: RwLock::new(None),
            google: RwLock::new(crate::google::GoogleState::default()),
            graph: RwLock::new(crate::graph::GraphState::default()),
        }
    }

    /// Record the address the server is bound to (first call wins).
    pub fn set_base_url(&self, url: String) {
        let _ = self.base_url.set(url);
    }

    /// `http://HOST:PORT` of this emulator, for absolute links (`@odata.nextLink`, verification URIs).
    pub fn base_url(&self) -> String {
        self.base_url
            .get()
            .cloned()
            .unwrap_or_else(|| "http://127.0.0.1:8025".to_string())
    }

    /// The emulator's current time.
    #[allow(clippy::disallowed_methods)]
    pub fn now(&self) -> DateTime<Utc> {
        read(&self.now_override).unwrap_or_else(Utc::now)
    }

    /// Next deterministic pseudo-random number (splitmix64 over the seed).
    pub fn next_u64(&self) -> u64 {
        let mut s = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform float in [0, 1).
    pub fn next_f64(&self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A fresh random token string of `n` lowercase alphanumerics.
    pub fn random_id(&self, n: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..n)
            .map(|_| ALPHABET[(self.next_u64() % ALPHABET.len() as u64) as usize] as char)
            .collect()
    }

    /// Decide the fault (if any) for one API request, and apply the configured latency.
    pub async fn roll_fault(&self) -> Option<Fault> {
        let f = read(&self.faults);
        let mut delay = f.latency_ms;
        if f.fraction_slow > 0.0 && self.next_f64() < f.fraction_slow {
            delay += f.slow_ms;
        }
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        let checks = [
            (f.fraction_drop, Fault::Drop),
            (f.fraction_5xx, Fault::ServerError),
            (f.fraction_throttle, Fault::Throttle),
            (f.fraction_expired_sync, Fault::ExpiredSync),
        ];
        for (fraction, fault) in checks {
            if fraction > 0.0 && self.next_f64() < fraction {
                return Some(fault);
            }
        }
        None
    }

    /// Issue an access token for `user`, valid for one hour of emulator time. A token for a person
    /// (not app-only) provisions them on both APIs, see [`Ctx::provision_person`].
    pub fn issue_token(&self, user: &str, app_only: bool, scopes: Vec<String>) -> String {
        let token = format!("ya29.emu-{}", self.random_id(40));
        let info = TokenInfo {
            user: user.to_string(),
            app_only,
            scopes,
            expires_at: self.now() + chrono::Duration::hours(1),
        };
        write(&self.tokens).insert(token.clone(), info);
        if !app_only {
            self.provision_person(user);
        }
        token
    }

    /// Make sure `user` (an email address) exists on both APIs, as a real account would: an empty
    /// primary calendar on Google and a mailbox with an empty default calendar on Graph. Existing
    /// data is left alone. Callers must not hold the `google` or `graph` lock.
    pub fn provision_person(&self, user: &str) {
        if !user.contains('@') {
            return;
        }
        let now = self.now();
        write(&self.google).ensure_calendar(&user.to_ascii_lowercase(), now);
        write(&self.graph).ensure_mailbox(self, user);
    }

    /// Provision every person a token was ever issued to (after a scenario replaced the data).
    pub fn provision_token_holders(&self) {
        let mut users: Vec<String> = read_guard(&self.tokens)
            .values()
            .filter(|t| !t.app_only)
            .map(|t| t.user.to_ascii_lowercase())
            .collect();
        users.sort();
        users.dedup();
        for u in users {
            self.provision_person(&u);
        }
    }

    /// Look up a bearer token from an `Authorization` header value.
    pub fn token_from_header(&self, header: Option<&str>) -> Option<TokenInfo> {
        let token = header?.strip_prefix("Bearer ")?.trim();
        let info = read(&self.tokens).get(token).cloned()?;
        (info.expires_at > self.now()).then_some(info)
    }

    /// Append an entry to the request log (seq is assigned here).
    pub fn log(&self, mut entry: LogEntry) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        entry.seq = log.len() as u64 + 1;
        log.push(entry);
    }
}

/// Read a lock, recovering from poisoning (a panicking handler must not wedge the emulator).
pub fn read<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Read-lock without cloning, recovering from poisoning.
pub fn read_guard<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

/// Write-lock, recovering from poisoning.
pub fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}
