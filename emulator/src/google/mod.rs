//! Google Calendar v3 emulator (under `/calendar/v3/…`), Google's OAuth endpoints (`/token`,
//! `/o/oauth2/v2/auth`, `/revoke`) and the Google part of the admin API (`/_admin/google/…`).
//!
//! Layout:
//! - `store`:    calendars, stored events, recurrence expansion, the sorted per-calendar index.
//! - `ops`:      writes (insert, patch, update, delete, admin edits) and their notification rules.
//! - `api`:      the HTTP handlers: auth, faults, strict parameters, listing, paging, sync tokens.
//! - `oauth`:    token endpoint (jwt-bearer, authorization code + PKCE, refresh), authorize, revoke.
//! - `scenario`: the `google` part of a scenario (relative dates, generator) and admin routes.
//! - `notify`:   push-channel notifications (plain HTTP POSTs to the channel address).
//! - `error`:    Google's error envelope.
//!
//! Invariants: all state lives in [`GoogleState`] behind `Ctx::google` (a std `RwLock`); handlers
//! never hold it across an `.await`. Every change bumps a global change sequence; sync tokens carry
//! (epoch, calendar sequence), so `expire_sync_state` (a new epoch) invalidates all of them.
// Errors are cold paths and `GError` carries Google's whole envelope; boxing buys nothing here.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod error;
pub mod notify;
pub mod oauth;
pub mod ops;
pub mod scenario;
pub mod store;

use crate::common::Ctx;
use axum::Router;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use store::Calendar;

/// Behaviour switches for observed (undocumented) Google behaviour; all off by default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quirks {
    /// Fraction of events.list pages cut short (to a random size, possibly empty) while a
    /// `nextPageToken` is still returned.
    pub short_pages: f64,
    /// Fraction of cancelled instances rendered as bare `{id,status}` in incremental results.
    pub bare_instance_tombstones: f64,
    /// Send the 410 for expired sync tokens without `errors[].reason`.
    pub full_sync_without_reason: bool,
    /// Omit `nextSyncToken` after `orderBy` or filter (`q`, extended property, iCalUID) queries.
    pub omit_sync_token_after_filters: bool,
    /// Count writes without `sendUpdates` as notifying, as observed (calcom/cal.diy#30112): the
    /// default, so a client that forgets `sendUpdates=none` shows up in the log; `false` treats a
    /// missing `sendUpdates` like `none`.
    pub missing_send_updates_notifies: bool,
    /// Repeated extended-property filters are ORed instead of ANDed.
    pub extended_property_filters_or: bool,
    /// Keep notifying a channel after channels.stop.
    pub notify_after_stop: bool,
    /// Series are expanded up to now + this many days.
    pub expand_days: i64,
    /// Refresh tokens expire after this many seconds ("Testing" apps: 7 days); `None` = never.
    pub refresh_token_ttl_secs: Option<i64>,
    /// Calendar API requests per user per minute of emulator time before 403
    /// `usageLimits/userRateLimitExceeded` (Google's quota: 600); 0 = no limit.
    pub user_rate_limit_per_minute: u32,
}

impl Default for Quirks {
    fn default() -> Self {
        Quirks {
            short_pages: 0.0,
            bare_instance_tombstones: 0.0,
            full_sync_without_reason: false,
            omit_sync_token_after_filters: false,
            missing_send_updates_notifies: true,
            extended_property_filters_or: false,
            notify_after_stop: false,
            expand_days: 366,
            refresh_token_ttl_secs: None,
            user_rate_limit_per_minute: 0,
        }
    }
}

/// What a scripted fault answers with.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ScriptedError {
    /// 500 backendError.
    BackendError,
    /// 503 backendError (UNAVAILABLE).
    Unavailable,
    /// 403 usageLimits/rateLimitExceeded.
    RateLimitExceeded,
    /// 403 usageLimits/userRateLimitExceeded.
    UserRateLimitExceeded,
    /// 403 usageLimits/quotaExceeded.
    QuotaExceeded,
    /// 429 usageLimits/rateLimitExceeded.
    TooManyRequests,
    /// 403 global/insufficientPermissions.
    InsufficientPermissions,
    /// 401 global/authError.
    AuthError,
    /// 404 global/notFound.
    NotFound,
    /// 412 global/conditionNotMet.
    ConditionNotMet,
    /// 410 calendar/fullSyncRequired.
    FullSyncRequired,
    /// Close the connection without a response.
    Drop,
    /// Carry the request out, then hold the answer back for [`STALL`]: a lost answer (the client,
    /// or its process, gives up first) after the change was made.
    StallAfter,
}

/// How long a `stallAfter` answer is held back.
pub const STALL: std::time::Duration = std::time::Duration::from_secs(600);

impl ScriptedError {
    /// The error to render (`None` for a dropped connection or a stalled answer: the caller
    /// handles those).
    pub fn to_error(self, with_reason: bool) -> Option<error::GError> {
        use error::GError;
        Some(match self {
            ScriptedError::BackendError => GError::backend(500),
            ScriptedError::Unavailable => GError::backend(503),
            ScriptedError::RateLimitExceeded => GError::rate_limit(403, "rateLimitExceeded"),
            ScriptedError::UserRateLimitExceeded => {
                GError::rate_limit(403, "userRateLimitExceeded")
            }
            ScriptedError::QuotaExceeded => GError::rate_limit(403, "quotaExceeded"),
            ScriptedError::TooManyRequests => GError::rate_limit(429, "rateLimitExceeded"),
            ScriptedError::InsufficientPermissions => GError::scope(),
            ScriptedError::AuthError => GError::auth(),
            ScriptedError::NotFound => GError::not_found(),
            ScriptedError::ConditionNotMet => GError::precondition(),
            ScriptedError::FullSyncRequired => GError::full_sync(with_reason),
            ScriptedError::Drop | ScriptedError::StallAfter => return None,
        })
    }
}

fn one() -> u64 {
    1
}

/// A fault for specific requests: the `nth` request (1-based) matching `method` and
/// `path_contains`, and the `times - 1` matching requests after it, get `error`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedFault {
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub path_contains: Option<String>,
    #[serde(default = "one")]
    pub nth: u64,
    #[serde(default = "one")]
    pub times: u64,
    pub error: ScriptedError,
    /// Matching requests seen so far.
    #[serde(default)]
    pub seen: u64,
}

/// A push channel registered with events.watch.
#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    pub id: String,
    pub resource_id: String,
    pub resource_uri: String,
    pub calendar: String,
    pub address: String,
    pub token: Option<String>,
    /// Milliseconds since the epoch.
    pub expiration: i64,
    pub stopped: bool,
    pub message_number: u64,
}

/// All Google data of the emulator.
#[derive(Default)]
pub struct GoogleState {
    pub calendars: HashMap<String, Calendar>,
    /// Global change sequence (every write takes the next value).
    pub seq: u64,
    /// Sync tokens from an older epoch are answered with 410.
    pub sync_epoch: u64,
    pub last_write: Option<DateTime<Utc>>,
    pub channels: BTreeMap<String, Channel>,
    pub quirks: Quirks,
    pub auth: oauth::AuthState,
    /// Scripted faults, checked in order on every Calendar API request.
    pub script: Vec<ScriptedFault>,
    /// Per-user request counts for `user_rate_limit_per_minute`: user → (minute, count).
    pub rate: HashMap<String, (i64, u32)>,
}

impl GoogleState {
    /// Load the `google` part of a scenario (see `scenario` for the format).
    pub fn load_scenario(
        &mut self,
        ctx: &Ctx,
        now: DateTime<Utc>,
        v: &Value,
    ) -> Result<(), String> {
        scenario::load(self, ctx, now, v)
    }

    /// The full state, for `GET /_admin/state`.
    pub fn state_json(&self) -> Value {
        let mut cals: Vec<&Calendar> = self.calendars.values().collect();
        cals.sort_by(|a, b| a.id.cmp(&b.id));
        let calendars: Vec<Value> = cals
            .iter()
            .map(|c| {
                let mut evs: Vec<&store::StoredEvent> = c.events.values().map(|e| &**e).collect();
                evs.sort_by(|a, b| a.id().cmp(b.id()));
                let events: Vec<Value> = evs
                    .iter()
                    .map(|e| json!({"deleted": e.deleted, "seq": e.seq, "resource": Value::Object(e.res())}))
                    .collect();
                json!({
                    "id": c.id, "summary": c.summary, "timeZone": c.time_zone, "acl": c.acl,
                    "maxSeq": c.max_seq, "events": events,
                })
            })
            .collect();
        json!({
            "calendars": calendars,
            "syncEpoch": self.sync_epoch,
            "channels": self.channels.values().collect::<Vec<_>>(),
            "quirks": self.quirks,
            "script": self.script,
            "auth": self.auth.state_json(),
        })
    }

    /// The scripted fault for this request, if one fires (counts the request for every match).
    pub fn scripted_fault(&mut self, method: &str, path: &str) -> Option<ScriptedError> {
        let mut fired = None;
        for f in &mut self.script {
            let m = f
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && f.path_contains.as_deref().is_none_or(|p| path.contains(p));
            if !m {
                continue;
            }
            f.seen += 1;
            if fired.is_none() && f.seen >= f.nth && f.seen < f.nth.saturating_add(f.times) {
                fired = Some(f.error);
            }
        }
        fired
    }

    /// Drop tombstones (deleted events) last written before `before`; their ids stay reserved and
    /// sync tokens older than the newest dropped tombstone get 410. Returns how many were dropped.
    pub fn purge_tombstones(&mut self, before: DateTime<Utc>, now: DateTime<Utc>) -> usize {
        let horizon = self.horizon(now);
        let mut n = 0;
        for cal in self.calendars.values_mut() {
            let old: Vec<(String, u64)> = cal
                .events
                .values()
                .filter(|e| e.deleted)
                .filter(|e| {
                    e.res()
                        .get("updated")
                        .and_then(Value::as_str)
                        .and_then(|u| DateTime::parse_from_rfc3339(u).ok())
                        .is_some_and(|u| u < before)
                })
                .map(|e| (e.id().to_string(), e.seq))
                .collect();
            if old.is_empty() {
                continue;
            }
            for (id, seq) in old {
                cal.events.remove(&id);
                cal.purged_seq = cal.purged_seq.max(seq);
                cal.reserved.insert(id);
                n += 1;
            }
            cal.rebuild(horizon);
        }
        n
    }

    /// Count one request of `user` at `now`; false when it exceeds the per-user limit.
    pub fn admit_user(&mut self, user: &str, now: DateTime<Utc>) -> bool {
        let limit = self.quirks.user_rate_limit_per_minute;
        if limit == 0 {
            return true;
        }
        let minute = now.timestamp().div_euclid(60);
        let slot = self
            .rate
            .entry(user.to_ascii_lowercase())
            .or_insert((minute, 0));
        if slot.0 != minute {
            *slot = (minute, 0);
        }
        slot.1 += 1;
        slot.1 <= limit
    }

    /// Expire every sync token (the next incremental sync gets 410 fullSyncRequired).
    pub fn expire_sync_state(&mut self) {
        self.sync_epoch += 1;
    }

    /// The expansion horizon for `now`.
    pub fn horizon(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + Duration::days(self.quirks.expand_days.clamp(1, 3660))
    }

    /// Take the next change sequence number.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// A strictly increasing `updated` time for an API write at `now`.
    pub fn write_time(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        let t = match self.last_write {
            Some(last) if last >= now => last + Duration::milliseconds(1),
            _ => now,
        };
        self.last_write = Some(t);
        t
    }

    /// The calendar for `id`, creating an empty one for a user's own (primary) calendar.
    pub fn ensure_calendar(&mut self, id: &str, now: DateTime<Utc>) -> &mut Calendar {
        self.calendars.entry(id.to_string()).or_insert_with(|| {
            let mut c = Calendar::new(id, Some(id), "UTC", now)
                .unwrap_or_else(|_| unreachable_utc(id, now));
            c.max_seq = 0;
            c
        })
    }
}

/// A UTC calendar (UTC always parses; this only exists to avoid a panic path).
fn unreachable_utc(id: &str, now: DateTime<Utc>) -> Calendar {
    Calendar {
        id: id.to_string(),
        summary: id.to_string(),
        description: None,
        time_zone: "UTC".into(),
        tz: chrono_tz::Tz::UTC,
        acl: BTreeMap::new(),
        events: HashMap::new(),
        index: store::Index::default(),
        max_seq: 0,
        purged_seq: 0,
        reserved: Default::default(),
        updated: now,
    }
}

/// Calendar v3, OAuth and the Google admin routes.
pub fn router() -> Router<Arc<Ctx>> {
    api::router()
        .merge(oauth::router())
        .merge(scenario::admin_router())
}
