//! The Google Calendar provider (Calendar API v3), for a whole Workspace organisation (a service
//! account with domain-wide delegation reading the primary calendar of every person named in the
//! account's pairs, acting as each) or for one person (their OAuth consent, their calendar only).
//!
//! Layout:
//! - `settings`: the account's keys.
//! - `auth`:     access tokens per person (service-account JWT grant, or a stored refresh token);
//!   `consent`:  `oneonone auth --account NAME`, the installed-app flow (loopback, PKCE S256).
//! - `api`:      one call: pacing (`pace`), token, request, Google's retry rule, error classes.
//! - `sync`:     per calendar, full then incremental sync into the `mirror`, committed with the
//!   token; `wire` holds the DTOs.
//! - `convert`:  mirror → instances and series masters, series expanded locally (`recur`).
//! - `write`:    description patches (`If-Match`, `sendUpdates=none`, re-merge on 412) and inserts.
//!
//! Invariants: every write carries `sendUpdates=none` and is conditional (an etag, or a
//! deterministic id); a calendar whose sync did not complete this cycle is reported unreadable
//! (never empty) and contributes no instances; a refused credential is `AuthFailed` with the
//! admin's instruction, and no token or key ever reaches a log line or an error.
pub mod settings;

mod api;
mod auth;
mod consent;
mod convert;
mod mirror;
mod pace;
mod recur;
mod sync;
mod wire;
mod write;

pub use settings::{GoogleAuth, GoogleSettings, Limits};

use crate::providers::http::Backoff;
use crate::providers::{
    BoxFuture, CalendarRead, NewSeries, OccurrenceWrite, OpenContext, ProblemKind, Progress,
    Provider, ProviderError, SeriesWrite, Snapshot, SourceProblem, Window, WriteOutcome,
};
use crate::store::AccountState;
use std::sync::Arc;
use tracing::{debug, warn};

/// A Google account.
pub struct GoogleAccount {
    inner: Arc<Inner>,
}

struct Inner {
    name: Arc<str>,
    settings: GoogleSettings,
    api: api::Api,
    state: AccountState,
    /// The calendars read: the primary calendar of each person (their email).
    calendars: Vec<String>,
    default_tz: chrono_tz::Tz,
    /// Which events become instances (the others: busy time only).
    relevance: convert::Relevance,
    /// How far ahead the daemon looks: busy time is kept for that span.
    horizon: chrono::Duration,
}

/// How one calendar's read went.
struct CalendarOutcome {
    calendar: String,
    result: Result<(convert::Converted, usize), sync::SyncError>,
    unreadable: Vec<(String, String)>,
}

impl GoogleAccount {
    /// Open an account. `ctx.people` are the people of the account's pairs: a service account
    /// reads their calendars; an OAuth account reads its own person's only.
    pub fn open(
        name: &str,
        settings: &GoogleSettings,
        ctx: OpenContext,
    ) -> Result<GoogleAccount, ProviderError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(60))
            .connect_timeout(std::time::Duration::from_secs(10))
            .user_agent(concat!("oneonone/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProviderError::Unavailable {
                what: format!("account {name}"),
                reason: format!("cannot build an HTTP client: {e}"),
            })?;
        let backoff = Backoff {
            base: settings.limits.retry_delay,
            ..Backoff::default()
        };
        let (creds, calendars) = match &settings.auth {
            GoogleAuth::ServiceAccount {
                key_file,
                client_email,
            } => {
                let mut people: Vec<String> =
                    ctx.people.iter().map(|p| p.to_ascii_lowercase()).collect();
                people.sort();
                people.dedup();
                (
                    auth::Credentials::ServiceAccount {
                        key_file: key_file.clone(),
                        client_email: client_email.clone(),
                    },
                    people,
                )
            }
            GoogleAuth::OAuth {
                user,
                client_id,
                client_secret_file,
                ..
            } => (
                auth::Credentials::OAuth {
                    account: name.to_string(),
                    user: user.clone(),
                    client_id: client_id.clone(),
                    secret_file: client_secret_file.clone(),
                    store: crate::auth::TokenStore::new(&ctx.state_dir, name),
                },
                vec![user.clone()],
            ),
        };
        let tokens = auth::Tokens::new(creds, settings.token_url.clone(), http.clone(), backoff);
        let pacer = pace::Pacer::new(
            settings.limits.per_user_per_minute,
            settings.limits.per_minute,
        );
        let api = api::Api::new(
            http,
            settings.api_base_url.clone(),
            tokens,
            pacer,
            backoff,
            settings.limits.concurrency,
        );
        Ok(GoogleAccount {
            inner: Arc::new(Inner {
                name: name.into(),
                settings: settings.clone(),
                api,
                state: ctx.state,
                relevance: convert::Relevance::new(
                    &ctx.pairs,
                    &ctx.people,
                    &calendars,
                    ctx.discover,
                ),
                horizon: ctx.horizon,
                calendars,
                default_tz: ctx.default_tz,
            }),
        })
    }

    /// `oneonone auth --account NAME`: the installed-app sign-in of an OAuth account.
    pub async fn sign_in(
        name: &str,
        settings: &GoogleSettings,
        state_dir: &std::path::Path,
    ) -> Result<String, ProviderError> {
        consent::sign_in(name, settings, state_dir).await
    }
}

impl Inner {
    /// Whom requests about `calendar` act as.
    fn subject_for<'a>(&'a self, calendar: &'a str) -> &'a str {
        match &self.settings.auth {
            GoogleAuth::ServiceAccount { .. } => calendar,
            GoogleAuth::OAuth { user, .. } => user,
        }
    }

    async fn read_calendar(self: Arc<Self>, calendar: String, window: Window) -> CalendarOutcome {
        let subject = self.subject_for(&calendar).to_string();
        let s = sync::CalendarSync {
            api: &self.api,
            state: &self.state,
            calendar: &calendar,
            subject: &subject,
            window,
            default_tz: self.default_tz,
        };
        let synced = match s.run().await {
            Ok(x) => x,
            Err(e) => {
                return CalendarOutcome {
                    calendar,
                    result: Err(e),
                    unreadable: Vec::new(),
                };
            }
        };
        debug!(
            account = %self.name,
            calendar,
            full = synced.full,
            received = synced.received,
            events = synced.events.len(),
            "google calendar synced"
        );
        let cal: Arc<str> = Arc::from(calendar.as_str());
        let ctx = convert::CalendarCtx {
            account: &self.name,
            calendar: &cal,
            owner: &cal,
            zone: synced.zone,
            window,
            relevance: &self.relevance,
            busy_from: window.end - self.horizon,
        };
        let converted = convert::convert(&ctx, &synced.events);
        CalendarOutcome {
            result: Ok((converted, synced.events.len())),
            unreadable: synced.unreadable,
            calendar,
        }
    }

    async fn fetch(
        self: Arc<Self>,
        window: Window,
        progress: &Progress,
    ) -> Result<Snapshot, ProviderError> {
        progress.add_calendars(self.calendars.len());
        let mut tasks = tokio::task::JoinSet::new();
        let gate = Arc::new(tokio::sync::Semaphore::new(
            self.settings.limits.concurrency.max(1) as usize * 2,
        ));
        for cal in &self.calendars {
            let inner = self.clone();
            let cal = cal.clone();
            let gate = gate.clone();
            tasks.spawn(async move {
                let _turn = gate.acquire_owned().await;
                inner.read_calendar(cal, window).await
            });
        }
        let mut snapshot = Snapshot::default();
        let mut refused: Option<String> = None;
        let mut failed = 0usize;
        while let Some(joined) = tasks.join_next().await {
            progress.calendar_done();
            let outcome = match joined {
                Ok(o) => o,
                Err(e) => {
                    failed += 1;
                    warn!(account = %self.name, error = %e, "a calendar reader failed");
                    continue;
                }
            };
            failed += usize::from(outcome.result.is_err());
            self.add(&mut snapshot, outcome, &mut refused);
        }
        // A reader that panicked left its calendar out: name it as unreadable.
        for cal in &self.calendars {
            if !snapshot.calendars.iter().any(|c| &c.id == cal) {
                snapshot.calendars.push(CalendarRead {
                    id: cal.clone(),
                    owner: Some(cal.clone()),
                    events: Err("its reader failed".into()),
                });
            }
        }
        snapshot.calendars.sort_by(|a, b| a.id.cmp(&b.id));
        if !self.calendars.is_empty() && failed >= self.calendars.len() {
            let what = format!("account {}", self.name);
            return Err(match refused {
                Some(action) => ProviderError::AuthFailed { what, action },
                None => ProviderError::Unavailable {
                    what,
                    reason: snapshot
                        .calendars
                        .iter()
                        .find_map(|c| c.events.clone().err())
                        .unwrap_or_else(|| "no calendar could be read".into()),
                },
            });
        }
        Ok(snapshot)
    }

    /// Add one calendar's outcome to the snapshot.
    fn add(&self, snapshot: &mut Snapshot, o: CalendarOutcome, refused: &mut Option<String>) {
        for (id, message) in o.unreadable {
            let source =
                mirror::parse_instance_id(&id).map_or(id.clone(), |(series, _)| series.to_string());
            snapshot.problems.push(SourceProblem {
                calendar: Some(o.calendar.clone()),
                source,
                message: format!("event {id}: {message}"),
                kind: ProblemKind::Unreadable,
            });
        }
        match o.result {
            Ok((converted, count)) => {
                snapshot.instances.extend(converted.instances);
                snapshot.busy.extend(converted.busy);
                snapshot.series.extend(converted.series);
                snapshot.problems.extend(converted.problems);
                snapshot.calendars.push(CalendarRead {
                    id: o.calendar.clone(),
                    owner: Some(o.calendar),
                    events: Ok(count),
                });
            }
            Err(e) => {
                if let sync::SyncError::Api(api::ApiError::Refused { action }) = &e {
                    refused.get_or_insert_with(|| action.clone());
                }
                warn!(account = %self.name, calendar = %o.calendar, error = %e, "calendar could not be synced");
                snapshot.calendars.push(CalendarRead {
                    id: o.calendar.clone(),
                    owner: Some(o.calendar),
                    events: Err(e.to_string()),
                });
            }
        }
    }
}

impl Provider for GoogleAccount {
    fn account(&self) -> &str {
        &self.inner.name
    }

    /// Every write carries `sendUpdates=none`: nobody is emailed.
    fn writes_notify_attendees(&self) -> bool {
        false
    }

    fn fetch<'a>(
        &'a self,
        window: Window,
        progress: &'a Progress,
    ) -> BoxFuture<'a, Result<Snapshot, ProviderError>> {
        Box::pin(self.inner.clone().fetch(window, progress))
    }

    fn write_occurrence<'a>(
        &'a self,
        w: &'a OccurrenceWrite,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        Box::pin(async move {
            let t = &w.target;
            if w.description.is_none() && w.end.is_none() {
                return Ok(WriteOutcome::Unchanged);
            }
            write::Patch {
                calendar: &t.calendar,
                id: &t.id,
                subject: self.inner.subject_for(&t.calendar),
                etag: &t.version,
                description: w.description.as_deref(),
                end: w.end.map(|e| (e, t.start)),
            }
            .run(&self.inner.api)
            .await
        })
    }

    fn write_series<'a>(
        &'a self,
        w: &'a SeriesWrite,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        Box::pin(async move {
            let t = &w.target;
            write::Patch {
                calendar: &t.calendar,
                id: &t.id,
                subject: self.inner.subject_for(&t.calendar),
                etag: &t.version,
                description: Some(&w.description),
                end: None,
            }
            .run(&self.inner.api)
            .await
        })
    }

    fn create_series<'a>(
        &'a self,
        s: &'a NewSeries,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        Box::pin(async move {
            let organizer = s.organizer.to_ascii_lowercase();
            if let GoogleAuth::OAuth { user, .. } = &self.inner.settings.auth {
                // One person's consent shows one calendar: the other person's free time is not
                // known, so no slot can be trusted to be free for both.
                return Err(ProviderError::Unavailable {
                    what: format!("account {}", self.inner.name),
                    reason: format!(
                        "it reads only {user}'s calendar, so it cannot see whether a slot is free for both \
                         {} and {}; fix mode creates series only on a service-account account (create this \
                         one by hand, or set enforce = \"warn\" for the pair)",
                        organizer,
                        s.attendee.to_ascii_lowercase()
                    ),
                });
            }
            write::create_series(&self.inner.api, &organizer, s).await
        })
    }
}
