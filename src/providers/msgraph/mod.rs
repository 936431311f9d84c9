//! Microsoft 365 through Microsoft Graph (`provider = "microsoft"`): the pairs' mailboxes read with
//! `calendarView/delta`, their 1:1s turned into instances, and the agenda block written into
//! Outlook events without ever mailing the attendees twice.
//!
//! # Layout
//! - `settings`: the account's keys (`auth`, `tenant`, `client_id`, `client_secret_file`, URLs,
//!   limits).
//! - `auth`: tokens (client credentials; the device code flow of `oneonone auth` and the rotating
//!   refresh token it stores), and what to tell the admin when they are refused.
//! - `client`: every HTTP request: ≤ 4 in flight per mailbox, `Retry-After` honoured exactly,
//!   backoff with jitter, a per-mailbox budget, `Prefer: outlook.timezone="UTC"`.
//! - `sync`: one mailbox's delta round; `mirror`: what is remembered of it between rounds (only
//!   what concerns a pair); `convert`: JSON → records → `Instance`s; `wire`: the JSON shapes.
//! - `zones`: Windows zone names ↔ IANA; `html`: bodies ↔ the planner's text, the block's HTML.
//! - `write`: adding the block once (`If-Match`, 412 → re-read, re-merge), creating a series
//!   (`transactionId`); `schedule`: free/busy for fix mode (`getSchedule`).
//!
//! Architecture Invariants:
//! - `writes_notify_attendees()` is true: the planner writes each block at most once per series or
//!   single event and never rewrites; this provider keeps that promise on its own side too (a body
//!   is only ever changed by adding a block to a body that has none and was never given one).
//! - Text outside the block is never changed, byte for byte (a Teams join section included).
//! - Every mailbox read is all or nothing: its changes and its delta link are committed together;
//!   a mailbox that could not be read is reported as such, never as empty.
mod auth;
mod client;
mod convert;
mod html;
mod mirror;
mod schedule;
mod settings;
mod sync;
mod wire;
mod write;
mod zones;

pub use auth::AuthFailure;
pub use settings::{AuthMode, MicrosoftSettings};
pub use write::{PROPERTY, transaction_id};

use crate::auth::{OAuthHttp, TokenStore};
use crate::domain::Enforce;
use crate::providers::{
    AuthContext, BoxFuture, NewSeries, OccurrenceWrite, OpenContext, Progress, Provider,
    ProviderError, SeriesWrite, Snapshot, Window, WriteOutcome,
};
use crate::store::AccountState;
use client::Client;
use mirror::{MailboxState, Relevance};
use std::collections::HashMap;
use std::sync::Arc;
use sync::{Failure, Synced};
use tracing::{debug, warn};

/// Mailboxes read at the same time (each with its own ≤ 4 requests in flight).
const MAILBOXES_AT_ONCE: usize = 32;

/// A Microsoft 365 account.
pub struct GraphAccount {
    inner: Arc<Inner>,
}

struct Inner {
    account: Arc<str>,
    settings: MicrosoftSettings,
    client: Arc<Client>,
    store: AccountState,
    keep_in_memory: bool,
    relevance: Relevance,
    /// The mailboxes read: every person of the account's pairs (lower-case, sorted).
    people: Vec<String>,
    /// The people of pairs in fix mode (their free/busy is read).
    fix_people: Vec<String>,
    horizon: chrono::Duration,
    /// Decoded mailbox states between fetches (`keep_in_memory`).
    memory: tokio::sync::Mutex<HashMap<String, MailboxState>>,
}

fn sorted_unique(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

impl GraphAccount {
    pub fn open(
        name: &str,
        settings: &MicrosoftSettings,
        ctx: OpenContext,
    ) -> Result<GraphAccount, ProviderError> {
        let unavailable = |e: reqwest::Error| ProviderError::Unavailable {
            what: format!("account {name}"),
            reason: format!("cannot set up HTTP: {}", e.without_url()),
        };
        let http = OAuthHttp::new().map_err(unavailable)?;
        let tokens = Arc::new(auth::Tokens::new(
            name,
            settings,
            http,
            TokenStore::new(&ctx.state_dir, name),
        ));
        let client = Client::new(
            &settings.api_base_url,
            tokens,
            settings.max_concurrent_requests,
            settings.requests_per_10min,
        )
        .map_err(unavailable)?;
        let people = sorted_unique(
            ctx.pairs
                .iter()
                .flat_map(|p| [p.manager.to_lowercase(), p.report.to_lowercase()])
                .collect(),
        );
        let fix_people = sorted_unique(
            ctx.pairs
                .iter()
                .filter(|p| p.enforce == Enforce::Fix)
                .flat_map(|p| [p.manager.to_lowercase(), p.report.to_lowercase()])
                .collect(),
        );
        Ok(GraphAccount {
            inner: Arc::new(Inner {
                account: name.into(),
                settings: settings.clone(),
                client: Arc::new(client),
                store: ctx.state,
                keep_in_memory: ctx.keep_in_memory,
                relevance: Relevance::new(&ctx.pairs, ctx.discover),
                people,
                fix_people,
                horizon: ctx.horizon,
                memory: tokio::sync::Mutex::new(HashMap::new()),
            }),
        })
    }
}

impl Inner {
    fn what(&self) -> String {
        format!("account {}", self.account)
    }

    /// Read one mailbox: its remembered state (memory or store), then a delta round.
    async fn read_mailbox(
        self: Arc<Self>,
        mailbox: String,
        kept: Option<MailboxState>,
        window: Window,
    ) -> Synced {
        let state = match kept {
            Some(s) => s,
            None => {
                let store = self.store.clone();
                let mb = mailbox.clone();
                match tokio::task::spawn_blocking(move || MailboxState::load(&store, &mb)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        return Synced {
                            state: None,
                            read: Err(Failure::Other(format!("cannot read the stored state: {e}"))),
                        };
                    }
                    Err(e) => {
                        return Synced {
                            state: None,
                            read: Err(Failure::Other(format!("the load task failed: {e}"))),
                        };
                    }
                }
            }
        };
        sync::sync_mailbox(
            &self.client,
            &self.relevance,
            &self.store,
            &mailbox,
            window,
            state,
        )
        .await
    }

    async fn fetch(
        self: Arc<Self>,
        window: Window,
        progress: &Progress,
    ) -> Result<Snapshot, ProviderError> {
        let started = std::time::Instant::now();
        progress.add_calendars(self.people.len());
        let mut kept = if self.keep_in_memory {
            std::mem::take(&mut *self.memory.lock().await)
        } else {
            HashMap::new()
        };
        let limit = Arc::new(tokio::sync::Semaphore::new(MAILBOXES_AT_ONCE));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, mb) in self.people.iter().enumerate() {
            let inner = self.clone();
            let limit = limit.clone();
            let state = kept.remove(mb);
            let mb = mb.clone();
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                (i, inner.read_mailbox(mb, state, window).await)
            });
        }
        let mut results: Vec<Option<Synced>> = self.people.iter().map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            progress.calendar_done();
            if let Ok((i, synced)) = joined
                && let Some(slot) = results.get_mut(i)
            {
                *slot = Some(synced);
            }
        }
        let results: Vec<Synced> = results
            .into_iter()
            .map(|r| {
                r.unwrap_or(Synced {
                    state: None,
                    read: Err(Failure::Other("its reader panicked".into())),
                })
            })
            .collect();
        self.account_failure(&results)?;
        let mut snapshot = Snapshot::default();
        let mut memory = HashMap::new();
        for (mb, synced) in self.people.iter().zip(results) {
            let read = synced.read.map_err(|f| f.to_string());
            if let Err(reason) = &read {
                warn!(account = %self.account, mailbox = %mb, reason = %reason, "mailbox not read completely");
            }
            match synced.state {
                Some(st) => {
                    convert::add_mailbox(&self.account, mb, &st, window, read, &mut snapshot);
                    if self.keep_in_memory {
                        memory.insert(mb.clone(), st);
                    }
                }
                None => snapshot.calendars.push(crate::providers::CalendarRead {
                    id: mb.clone(),
                    owner: Some(mb.clone()),
                    events: Err(read.err().unwrap_or_else(|| "its state was lost".into())),
                }),
            }
        }
        if self.keep_in_memory {
            *self.memory.lock().await = memory;
        }
        self.add_free_busy(window, &mut snapshot).await;
        debug!(
            account = %self.account,
            mailboxes = self.people.len(),
            instances = snapshot.instances.len(),
            ms = started.elapsed().as_millis() as u64,
            "graph fetch"
        );
        Ok(snapshot)
    }

    /// A failure of the whole account: credentials refused, or Graph refusing every mailbox.
    fn account_failure(&self, results: &[Synced]) -> Result<(), ProviderError> {
        for r in results {
            if let Err(Failure::Auth(AuthFailure::Refused { action })) = &r.read {
                return Err(ProviderError::AuthFailed {
                    what: self.what(),
                    action: action.clone(),
                });
            }
        }
        let all = |f: &dyn Fn(&Failure) -> bool| {
            !results.is_empty() && results.iter().all(|r| r.read.as_ref().is_err_and(f))
        };
        if all(&|f| matches!(f, Failure::Denied(_))) {
            return Err(ProviderError::AuthFailed {
                what: self.what(),
                action: auth::consent_action(&self.settings),
            });
        }
        if all(&|f| matches!(f, Failure::Auth(_))) {
            let reason = results
                .iter()
                .find_map(|r| r.read.as_ref().err().map(ToString::to_string))
                .unwrap_or_default();
            return Err(ProviderError::Unavailable {
                what: self.what(),
                reason,
            });
        }
        Ok(())
    }

    /// Fix mode: the free/busy of the people of fix-mode pairs, as busy blocks.
    async fn add_free_busy(&self, window: Window, snapshot: &mut Snapshot) {
        if self.fix_people.is_empty() {
            return;
        }
        // The planner's "now": its window reaches `horizon` beyond it.
        let from = window.end - self.horizon;
        let to = window.end + chrono::Duration::days(1);
        let fb = schedule::read(&self.client, &self.account, &self.fix_people, from, to).await;
        for c in snapshot.calendars.iter_mut() {
            if let (Some(reason), Ok(_)) = (fb.failed.get(&c.id), &c.events) {
                warn!(account = %self.account, mailbox = %c.id, %reason, "free/busy not read; the mailbox counts as not read completely");
                c.events = Err(reason.clone());
            }
        }
        snapshot.instances.extend(fb.busy);
        snapshot.problems.extend(fb.problems);
    }
}

impl Provider for GraphAccount {
    fn account(&self) -> &str {
        &self.inner.account
    }

    fn writes_notify_attendees(&self) -> bool {
        true
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
            let client = &self.inner.client;
            match (&w.description, w.end) {
                (Some(d), end) if **d != *t.description => {
                    write::add_block(client, &t.calendar, &t.id, &t.description, d, end).await
                }
                (_, Some(end)) if end != t.end => {
                    write::set_end(client, &t.calendar, &t.id, &t.version, t.start, end).await
                }
                _ => Ok(WriteOutcome::Unchanged),
            }
        })
    }

    fn write_series<'a>(
        &'a self,
        w: &'a SeriesWrite,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        Box::pin(async move {
            let t = &w.target;
            if *t.description == *w.description {
                return Ok(WriteOutcome::Unchanged);
            }
            write::add_block(
                &self.inner.client,
                &t.calendar,
                &t.id,
                &t.description,
                &w.description,
                None,
            )
            .await
        })
    }

    fn create_series<'a>(
        &'a self,
        s: &'a NewSeries,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        Box::pin(write::create(&self.inner.client, s))
    }
}

/// `oneonone auth --account NAME` for a Microsoft account.
pub async fn authenticate(
    account: &str,
    settings: &MicrosoftSettings,
    ctx: &AuthContext,
) -> Result<String, ProviderError> {
    let what = format!("account {account}");
    auth::sign_in(account, settings, &ctx.state_dir)
        .await
        .map_err(|f| match f {
            AuthFailure::Refused { action } => ProviderError::AuthFailed { what, action },
            AuthFailure::Unreachable { reason } => ProviderError::Unavailable { what, reason },
        })
}
