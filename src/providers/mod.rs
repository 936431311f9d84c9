//! Calendar providers: the only code that knows a calendar's wire or file format. Each provider turns
//! what it reads into `domain::Instance`s (and the series masters behind them), says which calendars
//! it read completely, and carries out the writes the planner decides.
//!
//! API Boundary: the [`Provider`] trait and its data — [`Snapshot`], [`CalendarRead`],
//! [`SourceProblem`], [`Window`], [`OccurrenceWrite`], [`SeriesWrite`], [`NewSeries`],
//! [`WriteOutcome`], [`ProviderError`] — plus [`open`], the one place that matches on the kind of
//! an account, and [`parse_settings`], which hands each account's keys to its provider.
//!
//! Architecture Invariants:
//! - A provider owns its wire format and its sync state (through the `AccountState` handle it is
//!   opened with); nothing outside `providers/*` reads a file or API format.
//! - Every write is conditional on what was read (`Instance::version`, the description it had): a
//!   target that changed since is a `Conflict`, never an overwrite.
//! - A calendar that could not be read is reported as such (`CalendarRead::events` is `Err`), never
//!   as an empty calendar; a file or event that could not be read is a `SourceProblem` of kind
//!   `Unreadable`, naming the same `source` its instances carry.
pub mod google;
pub mod http;
pub mod local;
pub mod memory;
pub mod msgraph;
mod progress;

pub use progress::Progress;

use crate::config::AccountKeys;
use crate::domain::{Cadence, Instance, SeriesMaster};
use crate::store::AccountState;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The future every provider method returns (providers are used as `Arc<dyn Provider>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A calendar source for one `[[accounts]]` entry.
pub trait Provider: Send + Sync {
    /// The account's name.
    fn account(&self) -> &str;

    /// Does a description write by the organizer notify (email) the attendees? Local: no;
    /// Google with `sendUpdates=none`: no; Microsoft Graph: yes. The planner writes a block at
    /// most once per event on providers where it does.
    fn writes_notify_attendees(&self) -> bool;

    /// Anything to do once before the first cycle (the local provider generates the example
    /// organisation there). Returns a line for the log, if something was done.
    fn prepare(&self, _now: DateTime<Utc>) -> BoxFuture<'_, Result<Option<String>, ProviderError>> {
        Box::pin(async { Ok(None) })
    }

    /// Read every calendar of the account for `window`, many at once within the provider's
    /// limits, reporting each calendar read to `progress`. `Err` only when nothing at all could
    /// be read (the account is unreachable); a calendar that failed is a `CalendarRead` with an
    /// `Err`, the others still count.
    fn fetch<'a>(
        &'a self,
        window: Window,
        progress: &'a Progress,
    ) -> BoxFuture<'a, Result<Snapshot, ProviderError>>;

    /// Change one occurrence or single event (description and/or end). For a series occurrence
    /// only that occurrence changes (an exception), never the series.
    fn write_occurrence<'a>(
        &'a self,
        w: &'a OccurrenceWrite,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>>;

    /// Change the description of a series master (every occurrence without its own text).
    fn write_series<'a>(
        &'a self,
        w: &'a SeriesWrite,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>>;

    /// Create a new recurring series, idempotently by `NewSeries::key`: when an event made with
    /// that key exists already, `Unchanged`.
    fn create_series<'a>(
        &'a self,
        s: &'a NewSeries,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>>;
}

/// The validated, provider-specific keys of one `[[accounts]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderSettings {
    /// `provider = "local"`: a vdir of `.ics` files.
    Local(local::LocalSettings),
    /// `provider = "google"`: Google Calendar (a service account, or one person's consent).
    Google(google::GoogleSettings),
    /// `provider = "microsoft"`: Microsoft 365 mailboxes through Microsoft Graph.
    Microsoft(msgraph::MicrosoftSettings),
}

impl ProviderSettings {
    /// The `provider = "…"` value.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderSettings::Local(_) => "local",
            ProviderSettings::Google(_) => "google",
            ProviderSettings::Microsoft(_) => "microsoft",
        }
    }

    /// Files holding secrets (keys, client secrets): `oneonone check` warns when they are
    /// readable by group or others.
    pub fn secret_files(&self) -> Vec<&std::path::Path> {
        match self {
            ProviderSettings::Local(_) => Vec::new(),
            ProviderSettings::Google(g) => g.secret_files(),
            ProviderSettings::Microsoft(m) => {
                m.client_secret_file.iter().map(|p| p.as_path()).collect()
            }
        }
    }
}

/// The provider kinds `provider = "…"` accepts.
pub const KINDS: &[&str] = &["local", "google", "microsoft"];

/// Hand the keys of an `[[accounts]]` entry to the provider of `kind`, which reads and validates
/// them (each problem reported at its key). `None` when something was wrong (already reported).
pub fn parse_settings(
    kind: &str,
    keys: &mut AccountKeys<'_, '_, '_, '_>,
) -> Option<ProviderSettings> {
    match kind {
        "local" => local::LocalSettings::parse(keys).map(ProviderSettings::Local),
        "google" => google::GoogleSettings::parse(keys).map(ProviderSettings::Google),
        "microsoft" => msgraph::MicrosoftSettings::parse(keys).map(ProviderSettings::Microsoft),
        _ => None,
    }
}

/// What a provider is opened with.
#[derive(Debug, Clone)]
pub struct OpenContext {
    /// The account's persistent state.
    pub state: AccountState,
    /// The zone of floating times.
    pub default_tz: chrono_tz::Tz,
    /// Keep decoded state (caches, mirrors) in memory between fetches: the daemon does, a one-off
    /// `sync --once` does not (it has no next fetch and would only raise its peak memory).
    pub keep_in_memory: bool,
    /// The people named in the account's pairs (lower-case emails): whose calendars an account
    /// that reads one calendar per person (a Google service account) reads.
    pub people: Vec<String>,
    /// The configured pairs that use this account: a remote provider reads their people's
    /// calendars, and may leave out events that concern no pair (they are never meetings of one).
    pub pairs: Vec<crate::domain::Pair>,
    /// The daemon's state directory (`auth::TokenStore` keeps an account's refresh token there).
    pub state_dir: std::path::PathBuf,
    /// How far ahead the daemon looks (`daemon.horizon`): the span free/busy is read for.
    pub horizon: chrono::Duration,
    /// The reads serve `discover`: two-person meetings that are no configured pair's are
    /// wanted too.
    pub discover: bool,
}

impl OpenContext {
    /// The context of `account` in `settings`, over `state` (`discover` off).
    pub fn new(
        settings: &crate::config::Settings,
        account: &str,
        state: AccountState,
        keep_in_memory: bool,
    ) -> OpenContext {
        let mut people: Vec<String> = settings
            .pairs
            .iter()
            .filter(|p| p.account == account)
            .flat_map(|p| [p.manager.clone(), p.report.clone()])
            .collect();
        people.sort();
        people.dedup();
        OpenContext {
            state,
            default_tz: settings.daemon.timezone,
            keep_in_memory,
            people,
            pairs: settings
                .pairs
                .iter()
                .filter(|p| p.account == account)
                .cloned()
                .collect(),
            state_dir: settings.daemon.state_dir.clone(),
            horizon: settings.daemon.horizon,
            discover: false,
        }
    }
}

/// Open the provider of one account. The one place that matches on the kind of an account.
pub fn open(
    account: &crate::config::AccountSettings,
    ctx: OpenContext,
) -> Result<Arc<dyn Provider>, ProviderError> {
    match &account.provider {
        ProviderSettings::Local(s) => {
            Ok(Arc::new(local::LocalAccount::open(&account.name, s, ctx)))
        }
        ProviderSettings::Google(s) => Ok(Arc::new(google::GoogleAccount::open(
            &account.name,
            s,
            ctx,
        )?)),
        ProviderSettings::Microsoft(s) => Ok(Arc::new(msgraph::GraphAccount::open(
            &account.name,
            s,
            ctx,
        )?)),
    }
}

/// What `oneonone auth --account NAME` works with.
#[derive(Debug, Clone)]
pub struct AuthContext {
    /// Where the account's credentials (refresh tokens) are kept: `auth::TokenStore`.
    pub state_dir: std::path::PathBuf,
    pub now: DateTime<Utc>,
}

/// `oneonone auth --account NAME`: the interactive sign-in of an account that needs one (OAuth
/// consent, device code), printing what the person must do on stdout. Returns a line saying what
/// was stored. Matches on the kind of the account, like `open`.
pub fn authenticate<'a>(
    account: &'a crate::config::AccountSettings,
    ctx: AuthContext,
) -> BoxFuture<'a, Result<String, ProviderError>> {
    Box::pin(async move {
        match &account.provider {
            ProviderSettings::Local(_) => Err(ProviderError::Unavailable {
                what: format!("account {}", account.name),
                reason: "a local account needs no sign-in".into(),
            }),
            ProviderSettings::Google(s) => {
                google::GoogleAccount::sign_in(&account.name, s, &ctx.state_dir).await
            }
            ProviderSettings::Microsoft(s) => msgraph::authenticate(&account.name, s, &ctx).await,
        }
    })
}

/// Everything a provider saw in one fetch of one account.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Instances overlapping the requested window, recurring series expanded; one per copy.
    pub instances: Vec<Instance>,
    /// The masters of the recurring series the instances belong to.
    pub series: Vec<SeriesMaster>,
    /// Busy time of the pairs' people that is no meeting of any pair, where a provider keeps it
    /// apart from the instances (Google: merged intervals, far smaller than an instance each).
    /// Fix mode and rebooking slots count it together with the instances' busy time.
    pub busy: Vec<BusyTime>,
    /// Every calendar the provider tried to read, and how that went.
    pub calendars: Vec<CalendarRead>,
    /// Things that could not be read, or were read with a caveat; each names where and why.
    pub problems: Vec<SourceProblem>,
}

impl Snapshot {
    /// Is this calendar in the snapshot and read completely?
    pub fn calendar_complete(&self, calendar: &str) -> bool {
        self.calendars
            .iter()
            .any(|c| c.id == calendar && c.events.is_ok())
    }
}

/// One busy interval of one person, read from a calendar: never a meeting of anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusyTime {
    /// Lower-case email.
    pub person: Arc<str>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// One calendar of an account in one fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarRead {
    /// The id instances carry in `Instance::calendar`.
    pub id: String,
    /// Whose calendar it is, when known (lower-case email).
    pub owner: Option<String>,
    /// Read completely, holding this many events (of any kind, in or out of the window, meetings
    /// or not); or could not be read completely, and why.
    pub events: Result<usize, String>,
}

/// A piece of calendar data that could not be used (or only with a caveat), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceProblem {
    /// The calendar it belongs to, if known.
    pub calendar: Option<String>,
    /// The unit of reading: a file path, an event id (the `Instance::source` of what it holds).
    pub source: String,
    pub message: String,
    pub kind: ProblemKind,
}

/// How bad a `SourceProblem` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// It could not be read (wholly or partly): what it held keeps its last known state, and
    /// nothing is written to it.
    Unreadable,
    /// It was read, but with a caveat that makes rewriting it unsafe (an end before its start,
    /// read swapped): its events count, nothing is written to it.
    NotWritable,
}

impl std::fmt::Display for SourceProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.source, self.message)
    }
}

/// The time window a fetch covers: instances that end after `start` and begin before `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Change one instance. For a series occurrence the provider writes an exception (a RECURRENCE-ID
/// override, a Google instance patch, a Graph occurrence PATCH) for that occurrence only, never the
/// series master. `None` fields are left as they are.
#[derive(Debug, Clone, PartialEq)]
pub struct OccurrenceWrite {
    /// The instance as last fetched (id, calendar, version, current description).
    pub target: Instance,
    /// The complete new description (user text outside the managed block unchanged).
    pub description: Option<String>,
    /// A corrected end (fix mode: duration correction); the start never moves.
    pub end: Option<DateTime<Utc>>,
}

/// Change the description of a series master.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesWrite {
    /// The master as last fetched (id, calendar, version, current description).
    pub target: SeriesMaster,
    /// The complete new description (user text outside the managed block unchanged).
    pub description: String,
}

/// A new recurring 1:1 series (fix mode: the pair has no series at all), in neutral terms: each
/// provider renders its own format (an RRULE, Google `recurrence`, Graph `patternedRecurrence`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewSeries {
    /// Deterministic idempotency key (derived from the pair): the provider uses it as the event's
    /// UID / client id / transactionId, so a retried or crashed create never makes a second one.
    pub key: String,
    pub title: String,
    pub organizer: String,
    /// The other person (the organizer is added as an attendee too where the format wants it).
    pub attendee: String,
    /// First occurrence start, as a wall-clock time in the pair's zone.
    pub first_start: DateTime<chrono_tz::Tz>,
    pub duration: chrono::Duration,
    pub cadence: Cadence,
    pub description: String,
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    /// The stored content already equals what would be written: nothing was touched.
    Unchanged,
}

/// Errors at the provider boundary, named for what the caller can do about them.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The account's source cannot be read at all (missing folder, permission denied).
    #[error("cannot read {what}: {reason}")]
    Unavailable { what: String, reason: String },
    /// The target changed since it was read (or cannot be safely rewritten): re-read and re-plan.
    #[error("{what} changed since it was read or cannot be safely rewritten: {reason}")]
    Conflict { what: String, reason: String },
    #[error("{0} not found")]
    NotFound(String),
    #[error("I/O error on {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The request was sent but its outcome is unknown (a lost response): it may have happened.
    #[error("{what}: the outcome is unknown ({reason})")]
    Uncertain { what: String, reason: String },
    /// The account's credentials were refused (revoked consent, expired secret, deleted key):
    /// nothing works until the admin acts. `action` says exactly what to do; it never holds a
    /// secret. The account's pairs get an `auth_failed` finding.
    #[error("{what}: sign-in failed: {action}")]
    AuthFailed { what: String, action: String },
}

impl ProviderError {
    /// The write certainly did not happen (so trying again cannot make it happen twice).
    pub fn certainly_not_applied(&self) -> bool {
        !matches!(self, ProviderError::Uncertain { .. })
    }
}
