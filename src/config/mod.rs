//! The TOML settings file, its environment overrides, and `file:line:col` validation errors.
//!
//! [`load`] reads the file once with spans (`toml::de::DeTable`), overlays the environment
//! overrides collected through the `config` crate's `Environment` source, validates everything in
//! one pass and returns either typed [`Settings`] or *all* the problems found ([`ConfigErrors`]),
//! each pointing at the offending key, value or table (`PATH:LINE:COL: message`) or at the
//! environment variable (`ONEONONE__DAEMON__HORIZON: message`). `oneonone check` prints them.
//!
//! # The file
//! ```toml
//! [daemon]
//! state_dir = "/var/lib/oneonone"      # default "/var/lib/oneonone"
//! poll_interval = "5m"                  # default 5m; at least 10s
//! horizon = "8w"                        # look this far ahead (default 8w)
//! lookback = "26w"                      # and this far back (default 26w)
//! timezone = "Europe/London"            # IANA name (default "UTC")
//! public_url = "http://127.0.0.1:8080"  # http(s) base of agenda links (default shown)
//! listen = "127.0.0.1:8080"             # the public web server: agenda pages only (default shown)
//! admin_listen = "127.0.0.1:8081"       # status page and API: loopback, or "unix:PATH" (a socket;
//!                                       # a relative PATH is inside state_dir) (default shown)
//! dry_run = false
//!
//! [[accounts]]
//! name = "local"
//! provider = "local"                    # the provider reads the rest of the keys: see
//! path = "calendars"                    # `providers::*::…Settings::parse`
//! example = false
//!
//! [defaults]                            # for pairs that do not say otherwise
//! cadence = "weekly"                    # weekly | biweekly | monthly | "every N weeks"
//! duration = "30m"
//! enforce = "warn"                      # warn | fix
//! working_hours = "09:00-17:00"         # when the pair may meet, in its zone (default shown)
//! [defaults.cancellations]
//! max_consecutive = 2
//! max_in_window = 3
//! window = "90d"
//!
//! [[pairs]]
//! manager = "alice@acme.test"
//! report = "bob@acme.test"
//! account = "local"
//! cadence = "biweekly"                  # optional; cadence, duration, enforce and each key of
//! duration = "45m"                      # [pairs.cancellations] fall back to [defaults]
//! timezone = "America/New_York"         # optional: the pair's zone (default: daemon.timezone)
//! working_hours = "08:30-16:00"         # optional
//!
//! [notify]
//! webhook_url = "https://hooks.example/x"  # optional; an empty value means none
//!
//! [web.sign_in]                          # optional: OpenID Connect sign-in to the agenda pages
//! issuer_url = "https://accounts.google.com"  # https (http only for a loopback issuer)
//! client_id = "…"
//! client_secret_file = "/etc/oneonone/oidc-secret"  # 0600; `check` warns when more open
//! require_sign_in = false                # true: the link in the invite alone is not enough
//! session_lifetime = "7d"                # at least 5m
//! allow_unverified_email = false         # true only for providers that omit email_verified
//! ```
//! Durations use humantime syntax (`"30m"`, `"1h 30m"`, `"8w"`, `"90d"`).
//!
//! # Paths
//! Relative paths in the file (`daemon.state_dir`, `accounts.path`) are resolved against the
//! directory of the config file; relative paths from environment variables against the current
//! directory. The resolved paths in [`Settings`] are absolute (when the current directory can be
//! determined).
//!
//! # Environment overrides
//! Every scalar key can be overridden by `ONEONONE__SECTION__KEY`, e.g. `ONEONONE__DAEMON__DRY_RUN=true`,
//! `ONEONONE__DAEMON__STATE_DIR=/tmp/x`, `ONEONONE__DEFAULTS__CADENCE=monthly`,
//! `ONEONONE__DEFAULTS__CANCELLATIONS__WINDOW=60d`, `ONEONONE__NOTIFY__WEBHOOK_URL=…` (empty: none).
//! Names are case-insensitive. The arrays `[[accounts]]` and `[[pairs]]` cannot be overridden, and
//! a `ONEONONE__…` variable naming no overridable key is an error (typos do not go unnoticed).
//! When a key is overridden, only the override is validated; the file's value for it is ignored.
//!
//! Invariant: loading never panics, whatever the bytes of the file or the environment.
mod duration;
mod env;
mod error;
mod validate;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::domain::{Cadence, CancellationPolicy, Enforce, Pair, WorkingHours};

pub use duration::format_chrono;
pub use error::{ConfigError, ConfigErrors};
pub use validate::AccountKeys;

pub use crate::providers::ProviderSettings;

/// Everything the program is configured with, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The config file this was loaded from (as given to [`load`]).
    pub source: PathBuf,
    pub daemon: DaemonSettings,
    pub accounts: Vec<AccountSettings>,
    pub defaults: Defaults,
    /// The pairs, in file order, with defaults applied; emails lower-case, ids `MANAGER~REPORT`.
    pub pairs: Vec<Pair>,
    pub notify: NotifySettings,
    pub web: WebSettings,
}

/// `[web]`: the agenda pages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebSettings {
    /// OpenID Connect sign-in, when configured.
    pub sign_in: Option<SignInSettings>,
}

/// `[web.sign_in]`: OpenID Connect sign-in (authorization code flow with PKCE). The redirect URI
/// to register with the provider is `{public_url}/auth/callback`.
#[derive(Debug, Clone, PartialEq)]
pub struct SignInSettings {
    /// The issuer; its `/.well-known/openid-configuration` is read at start.
    pub issuer_url: String,
    pub client_id: String,
    /// A file holding the client secret (should be 0600).
    pub client_secret_file: PathBuf,
    /// The capability link alone is not enough: people must sign in as one of the pair.
    pub require_sign_in: bool,
    /// How long a sign-in lasts.
    pub session_lifetime: chrono::Duration,
    /// Accept an email the provider does not mark verified (`email_verified` absent or false).
    pub allow_unverified_email: bool,
}
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSettings {
    /// Where the embedded database lives.
    pub state_dir: PathBuf,
    /// Time between sync rounds; at least 10 seconds.
    pub poll_interval: std::time::Duration,
    /// How far ahead to look; longer than zero.
    pub horizon: chrono::Duration,
    /// How far back to look.
    pub lookback: chrono::Duration,
    /// The zone used to show times and reason about local dates.
    pub timezone: chrono_tz::Tz,
    /// The http(s) base of agenda links, without a trailing slash.
    pub public_url: String,
    /// The public web server's socket address (agenda pages, static files, `/healthz`).
    pub listen: SocketAddr,
    /// Where the admin surface (status page, `/api/*`) listens: never the public listener.
    pub admin_listen: AdminListen,
    /// Plan and log, but never write to a calendar.
    pub dry_run: bool,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        DaemonSettings {
            state_dir: PathBuf::from("/var/lib/oneonone"),
            poll_interval: std::time::Duration::from_secs(5 * 60),
            horizon: chrono::Duration::weeks(8),
            lookback: chrono::Duration::weeks(26),
            timezone: chrono_tz::UTC,
            public_url: "http://127.0.0.1:8080".to_string(),
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080),
            admin_listen: AdminListen::Tcp(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8081)),
            dry_run: false,
        }
    }
}

/// Where the admin surface listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminListen {
    /// A loopback socket address.
    Tcp(SocketAddr),
    /// A Unix socket (absolute path).
    Unix(PathBuf),
}

impl std::fmt::Display for AdminListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminListen::Tcp(a) => write!(f, "{a}"),
            AdminListen::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// One `[[accounts]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountSettings {
    /// Unique among the accounts; pairs refer to it.
    pub name: String,
    /// The provider's own validated keys.
    pub provider: ProviderSettings,
}

/// `[defaults]`: what pairs get unless they say otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Defaults {
    pub cadence: Cadence,
    pub duration: chrono::Duration,
    pub enforce: Enforce,
    pub cancellations: CancellationPolicy,
    pub working_hours: WorkingHours,
}

impl Default for Defaults {
    /// weekly, 30 minutes, warn; at most 2 consecutive and 3 cancellations in 90 days.
    fn default() -> Self {
        Defaults {
            cadence: Cadence::Weeks(1),
            duration: chrono::Duration::minutes(30),
            enforce: Enforce::Warn,
            cancellations: CancellationPolicy {
                max_consecutive: 2,
                max_in_window: 3,
                window: chrono::Duration::days(90),
            },
            working_hours: WorkingHours::default(),
        }
    }
}

/// `[notify]`: where findings, digests and nudges go.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifySettings {
    /// `[[notify.webhooks]]` (and the older `webhook_url`, as a generic JSON webhook named
    /// "webhook").
    pub webhooks: Vec<WebhookSettings>,
    /// `[notify.email]`: the SMTP server, when email is used.
    pub email: Option<EmailSettings>,
    /// Who gets email for admins (`"admins"` in a route).
    pub admins: Vec<String>,
    /// `[[notify.routes]]`; when none are configured: every finding to every webhook, at once.
    pub routes: Vec<RouteSettings>,
    /// No messages to people in these hours of their zone (start, end; may wrap midnight).
    pub quiet_hours: Option<(chrono::NaiveTime, chrono::NaiveTime)>,
    /// When weekly digests go out (in each manager's pairs' zone).
    pub digest_at: (chrono::Weekday, chrono::NaiveTime),
    /// `[notify.nudge]`: remind before each 1:1 to prepare the agenda (off when `None`).
    pub nudge: Option<NudgeSettings>,
}

impl NotifySettings {
    /// The files holding its secrets (webhook URLs and keys, SMTP credentials).
    pub fn secret_files(&self) -> Vec<&Path> {
        let hooks = self
            .webhooks
            .iter()
            .flat_map(|w| [w.url_file.as_deref(), w.secret_file.as_deref()]);
        let email = self.email.iter().map(|e| e.credentials_file.as_deref());
        hooks.chain(email).flatten().collect()
    }
}

impl Default for NotifySettings {
    /// Nothing configured: findings go to the log only; digests (if routed) Mondays at 09:00.
    fn default() -> Self {
        NotifySettings {
            webhooks: Vec::new(),
            email: None,
            admins: Vec::new(),
            routes: Vec::new(),
            quiet_hours: None,
            digest_at: (
                chrono::Weekday::Mon,
                chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
            ),
            nudge: None,
        }
    }
}

/// One webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    pub name: String,
    pub format: WebhookFormat,
    /// The URL (a secret: never logged).
    pub url: String,
    /// HMAC-SHA256 key for the generic JSON format (`X-Oneonone-Signature: sha256=…`).
    pub secret_file: Option<PathBuf>,
    /// Where the URL came from, if it was read from a file (`url_file`), for `check`'s warning.
    pub url_file: Option<PathBuf>,
}

/// The payload shape of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// Slack incoming webhook (Block Kit).
    Slack,
    /// Microsoft Teams Workflows webhook (an Adaptive Card).
    Teams,
    /// Our own JSON, signed when a secret is configured.
    Json,
}

/// `[notify.email]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    pub host: String,
    pub port: u16,
    pub tls: EmailTls,
    /// The From address (`Name <addr>` allowed).
    pub from: String,
    /// `user` and `password` on two lines (a secret file, 0600).
    pub credentials_file: Option<PathBuf>,
    /// A PEM file of extra CA certificates to trust (a relay with a private CA).
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTls {
    StartTls,
    Implicit,
    /// Plain SMTP: only to a server on this machine.
    None,
}

/// One `[[notify.routes]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSettings {
    /// Finding kinds it applies to (empty: all).
    pub kinds: Vec<String>,
    /// The least severity it routes (`info` routes everything).
    pub min_severity: crate::domain::rules::Severity,
    pub to: Vec<RouteTarget>,
    /// Collect into the weekly digest instead of sending at once.
    pub digest: bool,
    /// Also say when the finding is resolved.
    pub resolved: bool,
}

/// Where a route sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    Webhook(String),
    /// Email to the pair's manager.
    Manager,
    /// Email to the pair's report.
    Report,
    /// Email to every address in `notify.admins`.
    Admins,
}

/// `[notify.nudge]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NudgeSettings {
    /// How long before a 1:1 the reminder goes out.
    pub before: chrono::Duration,
    /// The report always gets it; the manager too when set.
    pub manager_too: bool,
}

/// Load the config file, apply the `ONEONONE__…` overrides from the process environment, and
/// validate. Returns every problem, not just the first.
pub fn load(path: &Path) -> Result<Settings, ConfigErrors> {
    // `vars_os`, not `vars`: a non-Unicode variable anywhere must not panic. Others' such
    // variables are skipped; one of ours with a non-Unicode value is an error.
    let mut env = Vec::new();
    let mut bad = Vec::new();
    for (k, v) in std::env::vars_os() {
        let Ok(k) = k.into_string() else { continue };
        match v.into_string() {
            Ok(v) => env.push((k, v)),
            Err(_) if k.to_ascii_uppercase().starts_with("ONEONONE__") => bad.push(
                ConfigError::env(path.to_path_buf(), k, "the value is not valid Unicode"),
            ),
            Err(_) => {}
        }
    }
    let result = load_with_env(path, &env);
    if bad.is_empty() {
        return result;
    }
    let mut errors = result.err().map(|e| e.0).unwrap_or_default();
    errors.extend(bad);
    Err(ConfigErrors::sorted(errors))
}

/// [`load`] with an explicit environment instead of the process's (for tests).
pub fn load_with_env(path: &Path, env: &[(String, String)]) -> Result<Settings, ConfigErrors> {
    let fail = |message: String| {
        Err(ConfigErrors(vec![ConfigError::at(
            path.to_path_buf(),
            (1, 1),
            message,
        )]))
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return fail(format!("cannot read: {e}")),
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let prefix = e.as_bytes().get(..valid).unwrap_or_default();
            let text = String::from_utf8_lossy(prefix);
            let pos = error::LineIndex::new(&text).position(valid);
            return Err(ConfigErrors(vec![ConfigError::at(
                path.to_path_buf(),
                pos,
                "invalid TOML: the file is not valid UTF-8",
            )]));
        }
    };
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base_dir = std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf());
    validate::validate(path, &base_dir, &text, env)
}
