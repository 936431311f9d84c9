//! The validating walk over the spanned TOML document. It reads every key once, merges the
//! environment overrides of scalar keys, and turns the result into [`Settings`], collecting every
//! problem with the position of the offending key, value or table instead of stopping at the first.
//!
//! Invariants: nothing here panics on any input (no indexing, no unwrap on parsed data); a value
//! that fails to parse is reported once, and a fallback is used only so that the walk can go on
//! (the result is an error whenever anything was reported).
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::duration::{parse_chrono, parse_std};
use super::env::{Overrides, collect};
use super::error::{ConfigError, ConfigErrors, LineIndex};
mod notify;

use super::{
    AccountSettings, AdminListen, DaemonSettings, Defaults, Settings, SignInSettings, WebSettings,
};
use crate::domain::{Cadence, CancellationPolicy, Enforce, Pair, WorkingHours};

const TOP_KEYS: &[&str] = &["daemon", "accounts", "defaults", "pairs", "notify", "web"];
const WEB_KEYS: &[&str] = &["sign_in", "admins"];
const SIGN_IN_KEYS: &[&str] = &[
    "issuer_url",
    "client_id",
    "client_secret_file",
    "require_sign_in",
    "session_lifetime",
    "allow_unverified_email",
];
const DAEMON_KEYS: &[&str] = &[
    "state_dir",
    "poll_interval",
    "horizon",
    "lookback",
    "timezone",
    "public_url",
    "listen",
    "admin_listen",
    "dry_run",
];
/// The keys every account has; the rest belong to its provider.
const ACCOUNT_KEYS: &[&str] = &["name", "provider"];
const DEFAULTS_KEYS: &[&str] = &[
    "cadence",
    "duration",
    "enforce",
    "cancellations",
    "working_hours",
];
const CANCELLATION_KEYS: &[&str] = &["max_consecutive", "max_in_window", "window"];
const PAIR_KEYS: &[&str] = &[
    "manager",
    "report",
    "account",
    "cadence",
    "duration",
    "enforce",
    "cancellations",
    "timezone",
    "working_hours",
];

/// The shortest accepted poll interval.
const MIN_POLL: std::time::Duration = std::time::Duration::from_secs(10);

/// The closest candidate to `key` if it is within a small edit distance (a likely typo).
pub(crate) fn suggest<'c>(
    key: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    // Typos are short; long input is not worth (quadratic) comparing.
    if key.len() > 64 {
        return None;
    }
    let key_l = key.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&key_l, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= 2 || (*d <= 3 && c.len() >= 10))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

/// Where a value came from.
#[derive(Debug, Clone)]
enum Origin {
    /// Byte offset in the file.
    File(usize),
    /// Environment variable name.
    Env(String),
}

/// A raw value found for a key: from the file, or (for overridable scalars) from the environment.
struct Found<'t, 'i> {
    /// Dotted key for messages, e.g. `daemon.horizon`, `pairs.manager`.
    key: String,
    origin: Origin,
    raw: Raw<'t, 'i>,
}

enum Raw<'t, 'i> {
    File(&'t DeValue<'i>),
    Env(String),
}

fn a_type(v: &DeValue<'_>) -> String {
    let t = v.type_str();
    let article = if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {t}")
}

struct Ctx<'a> {
    file: &'a Path,
    /// The config file's directory (absolute when possible), for relative paths from the file.
    base_dir: &'a Path,
    index: LineIndex<'a>,
    env: Overrides,
    errors: Vec<ConfigError>,
}

impl<'a> Ctx<'a> {
    fn err(&mut self, origin: &Origin, message: String) {
        let e = match origin {
            Origin::File(offset) => ConfigError::at(
                self.file.to_path_buf(),
                self.index.position(*offset),
                message,
            ),
            Origin::Env(name) => ConfigError::env(self.file.to_path_buf(), name.clone(), message),
        };
        self.errors.push(e);
    }

    fn err_at(&mut self, offset: usize, message: String) {
        self.err(&Origin::File(offset), message);
    }

    /// Report keys of `table` that are not in `known`; `label` says where, e.g. `in [daemon]`.
    fn unknown_keys(&mut self, table: &DeTable<'_>, known: &[&str], label: &str) {
        for (k, _) in table.iter() {
            let name: &str = k.get_ref();
            if known.contains(&name) {
                continue;
            }
            let hint = suggest(name, known.iter().copied())
                .map(|s| format!("; did you mean \"{s}\"?"))
                .unwrap_or_else(|| format!("; known keys: {}", known.join(", ")));
            self.err_at(
                k.span().start,
                format!("unknown key \"{name}\" {label}{hint}"),
            );
        }
    }

    /// The sub-table `key` of `parent`, if present and a table (else a type error).
    fn table<'t, 'i>(
        &mut self,
        parent: Option<&'t DeTable<'i>>,
        key: &str,
        dotted: &str,
    ) -> Option<&'t Spanned<DeValue<'i>>> {
        let v = parent?.get(key)?;
        if v.get_ref().is_table() {
            Some(v)
        } else {
            let found = a_type(v.get_ref());
            self.err_at(
                v.span().start,
                format!("{dotted}: expected a table ([{dotted}]), found {found}"),
            );
            None
        }
    }

    /// The value for `key` in `table`, or its environment override (`env_key`, dotted) if set.
    fn find<'t, 'i>(
        &self,
        table: Option<&'t DeTable<'i>>,
        key: &str,
        dotted: &str,
        env_key: Option<&str>,
    ) -> Option<Found<'t, 'i>> {
        if let Some(o) = env_key.and_then(|k| self.env.get(k)) {
            return Some(Found {
                key: dotted.to_string(),
                origin: Origin::Env(o.name.clone()),
                raw: Raw::Env(o.value.clone()),
            });
        }
        let v = table?.get(key)?;
        Some(Found {
            key: dotted.to_string(),
            origin: Origin::File(v.span().start),
            raw: Raw::File(v.get_ref()),
        })
    }

    /// A scalar of the `[section]` tables: looked up in the file and overridable by env.
    fn scalar<'t, 'i>(
        &self,
        table: Option<&'t DeTable<'i>>,
        dotted: &str,
    ) -> Option<Found<'t, 'i>> {
        let key = dotted.rsplit('.').next().unwrap_or(dotted);
        self.find(table, key, dotted, Some(dotted))
    }

    /// Report a problem with a found value: `key: problem` in the file; for an environment
    /// variable the variable name already says which key.
    fn problem(&mut self, f: &Found<'_, '_>, problem: String) {
        let message = match f.origin {
            Origin::File(_) => format!("{}: {problem}", f.key),
            Origin::Env(_) => problem,
        };
        self.err(&f.origin, message);
    }

    fn string(&mut self, f: &Found<'_, '_>) -> Option<String> {
        match &f.raw {
            Raw::Env(s) => Some(s.clone()),
            Raw::File(DeValue::String(s)) => Some(s.to_string()),
            Raw::File(v) => {
                self.problem(f, format!("expected a string, found {}", a_type(v)));
                None
            }
        }
    }

    fn boolean(&mut self, f: &Found<'_, '_>) -> Option<bool> {
        match &f.raw {
            Raw::Env(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => {
                    self.problem(f, format!("expected true or false, found {s:?}"));
                    None
                }
            },
            Raw::File(DeValue::Boolean(b)) => Some(*b),
            Raw::File(v) => {
                let found = a_type(v);
                self.problem(
                    f,
                    format!("expected a boolean (true or false), found {found}"),
                );
                None
            }
        }
    }

    /// A count of at least 1 that fits in a `u32`.
    fn count(&mut self, f: &Found<'_, '_>) -> Option<u32> {
        let n: Option<i128> = match &f.raw {
            Raw::Env(s) => s.trim().parse::<i128>().ok(),
            Raw::File(DeValue::Integer(i)) => i128::from_str_radix(i.as_str(), i.radix()).ok(),
            Raw::File(v) => {
                self.problem(f, format!("expected an integer, found {}", a_type(v)));
                return None;
            }
        };
        let Some(n) = n else {
            let shown = match &f.raw {
                Raw::Env(s) => format!("{s:?}"),
                Raw::File(_) => "a number out of range".to_string(),
            };
            self.problem(f, format!("expected a whole number, found {shown}"));
            return None;
        };
        if n < 1 {
            self.problem(f, format!("must be at least 1, found {n}"));
            return None;
        }
        match u32::try_from(n) {
            Ok(n) => Some(n),
            Err(_) => {
                self.problem(f, format!("{n} is too large (at most {})", u32::MAX));
                None
            }
        }
    }

    /// A string parsed by `parse`, whose error message says what is wrong with it.
    fn parsed<T>(
        &mut self,
        f: Option<Found<'_, '_>>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let f = f?;
        let s = self.string(&f)?;
        match parse(&s) {
            Ok(v) => Some(v),
            Err(e) => {
                self.problem(&f, e);
                None
            }
        }
    }

    /// A path: relative ones are resolved against the config file's directory when they come from
    /// the file, and against the current directory when they come from the environment.
    fn path(&mut self, f: Option<Found<'_, '_>>) -> Option<PathBuf> {
        let from_env = matches!(f.as_ref().map(|f| &f.origin), Some(Origin::Env(_)));
        let base = self.base_dir.to_path_buf();
        self.parsed(f, |s| {
            if s.trim().is_empty() {
                return Err("must not be empty".to_string());
            }
            let p = PathBuf::from(s);
            let joined = if p.is_absolute() {
                p
            } else if from_env {
                std::path::absolute(&p).unwrap_or(p)
            } else {
                base.join(p)
            };
            Ok(std::path::absolute(&joined).unwrap_or(joined))
        })
    }
}

fn positive_chrono(s: &str) -> Result<chrono::Duration, String> {
    let d = parse_chrono(s)?;
    if d <= chrono::Duration::zero() {
        return Err(format!("must be longer than zero, found {s:?}"));
    }
    Ok(d)
}

fn parse_poll(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_std(s)?;
    if d < MIN_POLL {
        return Err(format!("must be at least 10s, found {s:?}"));
    }
    Ok(d)
}

fn parse_enforce(s: &str) -> Result<Enforce, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "warn" => Ok(Enforce::Warn),
        "fix" => Ok(Enforce::Fix),
        _ => Err(format!("invalid value {s:?}: expected \"warn\" or \"fix\"")),
    }
}

fn parse_timezone(s: &str) -> Result<chrono_tz::Tz, String> {
    let t = s.trim();
    if let Ok(tz) = chrono_tz::Tz::from_str(t) {
        return Ok(tz);
    }
    let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
    let hint = names
        .clone()
        .find(|n| n.eq_ignore_ascii_case(t))
        .or_else(|| suggest(t, names))
        .map(|n| format!("; did you mean \"{n}\"?"))
        .unwrap_or_default();
    Err(format!(
        "unknown time zone {s:?}: expected an IANA name like \"Europe/London\" or \"UTC\"{hint}"
    ))
}

fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    SocketAddr::from_str(s.trim()).map_err(|_| {
        format!(
            "invalid socket address {s:?}: expected IP:PORT, e.g. \"127.0.0.1:8080\" or \"[::1]:8080\""
        )
    })
}

/// `admin_listen`: a loopback socket address, or `unix:PATH` (relative to `state_dir`). The admin
/// surface has no authentication of its own, so it never listens beyond this machine.
fn parse_admin_listen(s: &str, state_dir: &Path) -> Result<AdminListen, String> {
    let t = s.trim();
    if let Some(path) = t.strip_prefix("unix:") {
        if path.trim().is_empty() {
            return Err("\"unix:\" needs a socket path, e.g. \"unix:admin.sock\"".into());
        }
        return Ok(AdminListen::Unix(state_dir.join(path.trim())));
    }
    let addr = parse_listen(t)?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address: the status page and API have no sign-in, so they \
             listen on loopback (e.g. \"127.0.0.1:8081\") or a Unix socket (\"unix:admin.sock\")"
        ));
    }
    Ok(AdminListen::Tcp(addr))
}

/// An http(s) URL with a host. `base` URLs (public_url) may not carry a query or fragment and lose
/// any trailing slash.
fn parse_http_url(s: &str, base: bool) -> Result<String, String> {
    let t = s.trim();
    let url = reqwest::Url::parse(t).map_err(|e| format!("invalid URL {s:?}: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!("{s:?} is not an http:// or https:// URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("URL {s:?} has no host"));
    }
    if base {
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("URL {s:?} must not have a query or fragment"));
        }
        return Ok(t.trim_end_matches('/').to_string());
    }
    Ok(t.to_string())
}

/// A lower-cased, trimmed email of the form `x@y`.
fn parse_email(s: &str) -> Result<String, String> {
    let e = s.trim().to_lowercase();
    let ok = match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if ok {
        Ok(e)
    } else {
        Err(format!("invalid email {s:?}: expected name@domain"))
    }
}

/// The cancellation policy of a `cancellations` table, each key falling back to `fallback`.
fn cancellations(
    ctx: &mut Ctx<'_>,
    table: Option<&DeTable<'_>>,
    prefix: &str,
    overridable: bool,
    fallback: CancellationPolicy,
) -> CancellationPolicy {
    if let Some(t) = table {
        ctx.unknown_keys(t, CANCELLATION_KEYS, &format!("in [{prefix}]"));
    }
    let get = |ctx: &mut Ctx<'_>, key: &str| {
        let dotted = format!("{prefix}.{key}");
        let env_key = overridable.then_some(dotted.as_str());
        ctx.find(table, key, &dotted, env_key)
    };
    let max_consecutive = get(ctx, "max_consecutive")
        .and_then(|f| ctx.count(&f))
        .unwrap_or(fallback.max_consecutive);
    let max_in_window = get(ctx, "max_in_window")
        .and_then(|f| ctx.count(&f))
        .unwrap_or(fallback.max_in_window);
    let f = get(ctx, "window");
    let window = ctx.parsed(f, positive_chrono).unwrap_or(fallback.window);
    CancellationPolicy {
        max_consecutive,
        max_in_window,
        window,
    }
}

/// The elements of an array-of-tables key (`accounts`, `pairs`) with their spans; reports
/// non-array values and non-table elements.
fn array_of_tables<'t, 'i>(
    ctx: &mut Ctx<'_>,
    root: &'t DeTable<'i>,
    key: &str,
) -> Vec<(&'t DeTable<'i>, usize)> {
    let Some(v) = root.get(key) else {
        return Vec::new();
    };
    let DeValue::Array(items) = v.get_ref() else {
        let found = a_type(v.get_ref());
        ctx.err_at(
            v.span().start,
            format!("{key}: expected an array of tables ([[{key}]]), found {found}"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items.iter() {
        match item.get_ref() {
            DeValue::Table(t) => out.push((t, item.span().start)),
            other => {
                let found = a_type(other);
                ctx.err_at(
                    item.span().start,
                    format!("{key}: expected a table, found {found}"),
                );
            }
        }
    }
    out
}

/// Validate a config file's text (already read) with an explicit environment.
pub(crate) fn validate(
    file: &Path,
    base_dir: &Path,
    text: &str,
    env: &[(String, String)],
) -> Result<Settings, ConfigErrors> {
    let Overrides { values, problems } = collect(env);
    let mut ctx = Ctx {
        file,
        base_dir,
        index: LineIndex::new(text),
        env: Overrides {
            values,
            problems: Vec::new(),
        },
        errors: Vec::new(),
    };
    for (name, message) in problems {
        ctx.err(&Origin::Env(name), message);
    }

    let (doc, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        for e in syntax {
            let offset = e.span().map_or(0, |s| s.start);
            ctx.err_at(offset, format!("invalid TOML: {}", e.message()));
        }
        return Err(ConfigErrors::sorted(ctx.errors));
    }
    let root = doc.get_ref();
    ctx.unknown_keys(root, TOP_KEYS, "at the top level");

    let daemon = daemon(&mut ctx, root);
    let (accounts, account_names) = accounts(&mut ctx, root);
    let defaults = defaults(&mut ctx, root);
    let pairs = pairs(&mut ctx, root, &account_names, &defaults, daemon.timezone);
    let notify = notify::notify(&mut ctx, root);
    let web = web(&mut ctx, root);

    if !ctx.errors.is_empty() {
        return Err(ConfigErrors::sorted(ctx.errors));
    }
    Ok(Settings {
        source: file.to_path_buf(),
        daemon,
        accounts,
        defaults,
        pairs,
        notify,
        web,
    })
}

fn daemon(ctx: &mut Ctx<'_>, root: &DeTable<'_>) -> DaemonSettings {
    let t = ctx.table(Some(root), "daemon", "daemon");
    let t = t.and_then(|v| v.get_ref().as_table());
    if let Some(t) = t {
        ctx.unknown_keys(t, DAEMON_KEYS, "in [daemon]");
    }
    let d = DaemonSettings::default();
    let f = ctx.scalar(t, "daemon.state_dir");
    let state_dir = ctx.path(f).unwrap_or(d.state_dir);
    let f = ctx.scalar(t, "daemon.poll_interval");
    let poll_interval = ctx.parsed(f, parse_poll).unwrap_or(d.poll_interval);
    let f = ctx.scalar(t, "daemon.horizon");
    let horizon = ctx.parsed(f, positive_chrono).unwrap_or(d.horizon);
    let f = ctx.scalar(t, "daemon.lookback");
    let lookback = ctx.parsed(f, parse_chrono).unwrap_or(d.lookback);
    let f = ctx.scalar(t, "daemon.timezone");
    let timezone = ctx.parsed(f, parse_timezone).unwrap_or(d.timezone);
    let f = ctx.scalar(t, "daemon.public_url");
    let public_url = ctx
        .parsed(f, |s| parse_http_url(s, true))
        .unwrap_or(d.public_url);
    let f = ctx.scalar(t, "daemon.listen");
    let listen = ctx.parsed(f, parse_listen).unwrap_or(d.listen);
    let f = ctx.scalar(t, "daemon.admin_listen");
    let admin_f = f.as_ref().map(|f| (f.origin.clone(), f.key.clone()));
    let admin_listen = ctx
        .parsed(f, |s| parse_admin_listen(s, &state_dir))
        .unwrap_or(d.admin_listen);
    if admin_listen == AdminListen::Tcp(listen) {
        let origin = admin_f.map_or(Origin::File(0), |(o, _)| o);
        ctx.err(
            &origin,
            format!(
                "daemon.admin_listen: {listen} is also daemon.listen; the admin surface never shares \
                 a listener with the agenda pages"
            ),
        );
    }
    let f = ctx.scalar(t, "daemon.dry_run");
    let dry_run = f.and_then(|f| ctx.boolean(&f)).unwrap_or(d.dry_run);
    DaemonSettings {
        state_dir,
        poll_interval,
        horizon,
        lookback,
        timezone,
        public_url,
        listen,
        admin_listen,
        dry_run,
    }
}

/// The keys of one `[[accounts]]` entry, as its provider reads them: every read names its key,
/// every problem is reported at the key (or at the entry when the key is missing), so provider
/// errors are `PATH:LINE:COL` like all others.
pub struct AccountKeys<'c, 'a, 't, 'i> {
    ctx: &'c mut Ctx<'a>,
    table: &'t DeTable<'i>,
    /// Offset of the entry, for missing keys.
    at: usize,
}

impl<'t, 'i> AccountKeys<'_, '_, 't, 'i> {
    fn found(&mut self, key: &str, required: bool) -> Option<Found<'t, 'i>> {
        let f = self
            .ctx
            .find(Some(self.table), key, &format!("accounts.{key}"), None);
        if f.is_none() && required {
            self.ctx.err_at(
                self.at,
                format!("[[accounts]] entry is missing required key \"{key}\""),
            );
        }
        f
    }

    /// A string value (required keys that are missing are reported).
    pub fn string(&mut self, key: &str, required: bool) -> Option<String> {
        let f = self.found(key, required)?;
        self.ctx.string(&f)
    }

    /// A path; relative ones are resolved against the config file's directory.
    pub fn path(&mut self, key: &str, required: bool) -> Option<PathBuf> {
        let f = self.found(key, required);
        self.ctx.path(f)
    }

    /// A boolean (`true`/`false`).
    pub fn boolean(&mut self, key: &str) -> Option<bool> {
        let f = self.found(key, false)?;
        self.ctx.boolean(&f)
    }

    /// A table of strings (`key = { "a" = "x", … }`), in file order; entries that are not strings
    /// are reported at their value.
    pub fn string_map(&mut self, key: &str) -> Option<Vec<(String, String)>> {
        let v = self.table.get(key)?;
        let DeValue::Table(t) = v.get_ref() else {
            let found = a_type(v.get_ref());
            self.ctx.err_at(
                v.span().start,
                format!("accounts.{key}: expected a table of strings, found {found}"),
            );
            return None;
        };
        let mut out = Vec::new();
        for (k, val) in t.iter() {
            match val.get_ref() {
                DeValue::String(s) => out.push((k.get_ref().to_string(), s.to_string())),
                other => {
                    let found = a_type(other);
                    self.ctx.err_at(
                        val.span().start,
                        format!(
                            "accounts.{key}.{}: expected a string, found {found}",
                            k.get_ref()
                        ),
                    );
                }
            }
        }
        Some(out)
    }

    /// Report a problem at the entry `key` of the table `table_key` (or at the table itself).
    pub fn error_in_table(&mut self, table_key: &str, key: &str, message: &str) {
        let at = self.table.get(table_key).map_or(self.at, |t| {
            t.get_ref()
                .as_table()
                .and_then(|tt| tt.get(key))
                .map_or(t.span().start, |v| v.span().start)
        });
        self.ctx
            .err_at(at, format!("accounts.{table_key}.{key}: {message}"));
    }

    /// A whole number of at least 1 (absent: `None`; a bad value is reported).
    pub fn count(&mut self, key: &str) -> Option<u32> {
        let f = self.found(key, false)?;
        self.ctx.count(&f)
    }

    /// Report a problem with the value of `key` (at the value, or at the entry when absent).
    pub fn error(&mut self, key: &str, message: &str) {
        let origin = self
            .table
            .get(key)
            .map_or(Origin::File(self.at), |v| Origin::File(v.span().start));
        self.ctx.err(&origin, format!("accounts.{key}: {message}"));
    }

    /// Report the keys of the entry that are neither common nor in `known` (the provider's own).
    pub fn reject_unknown(&mut self, provider: &str, known: &[&str]) {
        let all: Vec<&str> = ACCOUNT_KEYS.iter().chain(known).copied().collect();
        self.ctx.unknown_keys(
            self.table,
            &all,
            &format!("in [[accounts]] (provider \"{provider}\")"),
        );
    }
}

/// The accounts that have a name. Accounts with a bad provider or keys still count as named (so
/// pairs naming them get no second error); the load fails on their own errors anyway.
fn accounts(ctx: &mut Ctx<'_>, root: &DeTable<'_>) -> (Vec<AccountSettings>, Vec<String>) {
    let mut out: Vec<AccountSettings> = Vec::new();
    let mut named: Vec<String> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (t, at) in array_of_tables(ctx, root, "accounts") {
        let required = |ctx: &mut Ctx<'_>, key: &str| {
            let f = ctx.find(Some(t), key, &format!("accounts.{key}"), None);
            if f.is_none() {
                ctx.err_at(
                    at,
                    format!("[[accounts]] entry is missing required key \"{key}\""),
                );
            }
            f
        };
        let name_f = required(ctx, "name");
        let provider_f = required(ctx, "provider");

        let name_origin = name_f.as_ref().map(|f| f.origin.clone());
        let name = ctx.parsed(name_f, |s| {
            let n = s.trim();
            if n.is_empty() {
                Err("must not be empty".to_string())
            } else {
                Ok(n.to_string())
            }
        });
        if let (Some(n), Some(Origin::File(offset))) = (&name, &name_origin) {
            if let Some(first) = seen.get(n) {
                let msg = format!(
                    "accounts.name: duplicate account name {n:?} (first defined at line {first})"
                );
                ctx.err_at(*offset, msg);
            } else {
                seen.insert(n.clone(), ctx.index.line(*offset));
            }
        }
        let kind = ctx.parsed(provider_f, |s| {
            let k = s.trim().to_ascii_lowercase();
            if crate::providers::KINDS.contains(&k.as_str()) {
                Ok(k)
            } else {
                Err(format!(
                    "unknown provider {s:?}; known providers: {}",
                    crate::providers::KINDS.join(", ")
                ))
            }
        });
        let settings = kind.as_deref().and_then(|k| {
            let mut keys = AccountKeys { ctx, table: t, at };
            crate::providers::parse_settings(k, &mut keys)
        });
        if let Some(name) = name {
            named.push(name.clone());
            if let Some(provider) = settings {
                out.push(AccountSettings { name, provider });
            }
        }
    }
    (out, named)
}

fn defaults(ctx: &mut Ctx<'_>, root: &DeTable<'_>) -> Defaults {
    let t = ctx.table(Some(root), "defaults", "defaults");
    let t = t.and_then(|v| v.get_ref().as_table());
    if let Some(t) = t {
        ctx.unknown_keys(t, DEFAULTS_KEYS, "in [defaults]");
    }
    let d = Defaults::default();
    let f = ctx.scalar(t, "defaults.cadence");
    let cadence = ctx.parsed(f, Cadence::from_str).unwrap_or(d.cadence);
    let f = ctx.scalar(t, "defaults.duration");
    let duration = ctx.parsed(f, positive_chrono).unwrap_or(d.duration);
    let f = ctx.scalar(t, "defaults.enforce");
    let enforce = ctx.parsed(f, parse_enforce).unwrap_or(d.enforce);
    let c = ctx.table(t, "cancellations", "defaults.cancellations");
    let c = c.and_then(|v| v.get_ref().as_table());
    let cancellations = cancellations(ctx, c, "defaults.cancellations", true, d.cancellations);
    let f = ctx.scalar(t, "defaults.working_hours");
    let working_hours = ctx
        .parsed(f, WorkingHours::from_str)
        .unwrap_or(d.working_hours);
    Defaults {
        cadence,
        duration,
        enforce,
        cancellations,
        working_hours,
    }
}

fn pairs(
    ctx: &mut Ctx<'_>,
    root: &DeTable<'_>,
    account_names: &[String],
    defaults: &Defaults,
    daemon_tz: chrono_tz::Tz,
) -> Vec<Pair> {
    let known: Vec<&str> = account_names.iter().map(String::as_str).collect();
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    let mut out = Vec::new();
    for (t, at) in array_of_tables(ctx, root, "pairs") {
        ctx.unknown_keys(t, PAIR_KEYS, "in [[pairs]]");
        let required = |ctx: &mut Ctx<'_>, key: &str| {
            let f = ctx.find(Some(t), key, &format!("pairs.{key}"), None);
            if f.is_none() {
                ctx.err_at(
                    at,
                    format!("[[pairs]] entry is missing required key \"{key}\""),
                );
            }
            f
        };
        let manager_f = required(ctx, "manager");
        let report_f = required(ctx, "report");
        let account_f = required(ctx, "account");

        let manager = ctx.parsed(manager_f, parse_email);
        let report_origin = report_f.as_ref().map(|f| f.origin.clone());
        let report = ctx.parsed(report_f, parse_email);
        let account = ctx.parsed(account_f, |s| {
            if known.contains(&s) {
                Ok(s.to_string())
            } else if known.is_empty() {
                Err(format!(
                    "unknown account {s:?}: no [[accounts]] are configured"
                ))
            } else {
                let list: Vec<String> = known.iter().map(|k| format!("{k:?}")).collect();
                Err(format!(
                    "unknown account {s:?}; known accounts: {}",
                    list.join(", ")
                ))
            }
        });

        let f = ctx.find(Some(t), "cadence", "pairs.cadence", None);
        let cadence = ctx.parsed(f, Cadence::from_str).unwrap_or(defaults.cadence);
        let f = ctx.find(Some(t), "duration", "pairs.duration", None);
        let duration = ctx.parsed(f, positive_chrono).unwrap_or(defaults.duration);
        let f = ctx.find(Some(t), "enforce", "pairs.enforce", None);
        let enforce = ctx.parsed(f, parse_enforce).unwrap_or(defaults.enforce);
        let c = ctx.table(Some(t), "cancellations", "pairs.cancellations");
        let c = c.and_then(|v| v.get_ref().as_table());
        let cancellations =
            cancellations(ctx, c, "pairs.cancellations", false, defaults.cancellations);
        let f = ctx.find(Some(t), "timezone", "pairs.timezone", None);
        let timezone = ctx.parsed(f, parse_timezone).unwrap_or(daemon_tz);
        let f = ctx.find(Some(t), "working_hours", "pairs.working_hours", None);
        let working_hours = ctx
            .parsed(f, WorkingHours::from_str)
            .unwrap_or(defaults.working_hours);

        let (Some(manager), Some(report)) = (manager, report) else {
            continue;
        };
        if manager == report {
            let origin = report_origin.unwrap_or(Origin::File(at));
            ctx.err(
                &origin,
                format!("pairs.report: manager and report are the same person ({manager})"),
            );
            continue;
        }
        let key = if manager < report {
            (manager.clone(), report.clone())
        } else {
            (report.clone(), manager.clone())
        };
        if let Some(first) = seen.get(&key) {
            let msg =
                format!("duplicate pair {manager} and {report} (first configured at line {first})");
            ctx.err_at(at, msg);
            continue;
        }
        seen.insert(key, ctx.index.line(at));
        let Some(account) = account else {
            continue;
        };
        out.push(Pair {
            id: Pair::make_id(&manager, &report),
            manager,
            report,
            account,
            cadence,
            duration,
            enforce,
            cancellations,
            timezone,
            working_hours,
        });
    }
    out
}

/// The shortest accepted sign-in session.
const MIN_SESSION: chrono::Duration = chrono::Duration::minutes(5);

/// An OpenID issuer: https, or http on a loopback host (a provider run for tests).
fn parse_issuer(s: &str) -> Result<String, String> {
    let url = parse_http_url(s, true)?;
    let parsed = reqwest::Url::parse(&url).map_err(|e| format!("invalid URL {s:?}: {e}"))?;
    let host = parsed.host_str().unwrap_or("");
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if parsed.scheme() != "https" && !loopback {
        return Err(format!(
            "{s:?} is not an https:// URL (OpenID issuers are https; http only on loopback)"
        ));
    }
    // Discovery compares the issuer exactly as the provider spells it: keep the text as given.
    Ok(s.trim().to_string())
}

/// `[web]`: the dashboard's admins, and `[web.sign_in]`.
fn web(ctx: &mut Ctx<'_>, root: &DeTable<'_>) -> WebSettings {
    let t = ctx.table(Some(root), "web", "web");
    let t = t.and_then(|v| v.get_ref().as_table());
    if let Some(t) = t {
        ctx.unknown_keys(t, WEB_KEYS, "in [web]");
    }
    let admins = t
        .filter(|t| t.get("admins").is_some())
        .map(|t| notify::string_list(ctx, t, "web.admins", "admins", parse_email));
    WebSettings {
        admins,
        ..sign_in(ctx, t)
    }
}

/// `[web.sign_in]`.
fn sign_in(ctx: &mut Ctx<'_>, t: Option<&DeTable<'_>>) -> WebSettings {
    let s = ctx.table(t, "sign_in", "web.sign_in");
    let s_at = s.map(|v| v.span().start);
    let s = s.and_then(|v| v.get_ref().as_table());
    if let Some(s) = s {
        ctx.unknown_keys(s, SIGN_IN_KEYS, "in [web.sign_in]");
    }
    let issuer_f = ctx.scalar(s, "web.sign_in.issuer_url");
    let client_id_f = ctx.scalar(s, "web.sign_in.client_id");
    let secret_f = ctx.scalar(s, "web.sign_in.client_secret_file");
    let require_f = ctx.scalar(s, "web.sign_in.require_sign_in");
    let lifetime_f = ctx.scalar(s, "web.sign_in.session_lifetime");
    let unverified_f = ctx.scalar(s, "web.sign_in.allow_unverified_email");
    let any = s.is_some()
        || [
            &issuer_f,
            &client_id_f,
            &secret_f,
            &require_f,
            &lifetime_f,
            &unverified_f,
        ]
        .iter()
        .any(|f| f.is_some());
    if !any {
        return WebSettings::default();
    }
    let missing = |ctx: &mut Ctx<'_>, key: &str| {
        ctx.err_at(
            s_at.unwrap_or(0),
            format!("[web.sign_in] is missing required key \"{key}\""),
        );
    };
    if issuer_f.is_none() {
        missing(ctx, "issuer_url");
    }
    if client_id_f.is_none() {
        missing(ctx, "client_id");
    }
    if secret_f.is_none() {
        missing(ctx, "client_secret_file");
    }
    let issuer_url = ctx.parsed(issuer_f, parse_issuer);
    let client_id = ctx.parsed(client_id_f, |v| {
        if v.trim().is_empty() {
            Err("must not be empty".to_string())
        } else {
            Ok(v.trim().to_string())
        }
    });
    let secret_origin = secret_f.as_ref().map(|f| (f.origin.clone(), f.key.clone()));
    let client_secret_file = ctx.path(secret_f);
    if let (Some(path), Some((origin, key))) = (&client_secret_file, secret_origin)
        && let Err(e) = std::fs::metadata(path)
    {
        let message = match origin {
            Origin::File(_) => format!("{key}: cannot read {}: {e}", path.display()),
            Origin::Env(_) => format!("cannot read {}: {e}", path.display()),
        };
        ctx.err(&origin, message);
    }
    let require_sign_in = require_f.and_then(|f| ctx.boolean(&f)).unwrap_or(false);
    let allow_unverified_email = unverified_f.and_then(|f| ctx.boolean(&f)).unwrap_or(false);
    let session_lifetime = ctx
        .parsed(lifetime_f, |v| {
            let d = parse_chrono(v)?;
            if d < MIN_SESSION {
                return Err(format!("must be at least 5m, found {v:?}"));
            }
            Ok(d)
        })
        .unwrap_or(chrono::Duration::days(7));
    match (issuer_url, client_id, client_secret_file) {
        (Some(issuer_url), Some(client_id), Some(client_secret_file)) => WebSettings {
            sign_in: Some(SignInSettings {
                issuer_url,
                client_id,
                client_secret_file,
                require_sign_in,
                session_lifetime,
                allow_unverified_email,
            }),
            admins: None,
        },
        _ => WebSettings::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(
            suggest("pol_interval", DAEMON_KEYS.iter().copied()),
            Some("poll_interval")
        );
        assert_eq!(
            suggest("Horizon", DAEMON_KEYS.iter().copied()),
            Some("horizon")
        );
        assert_eq!(suggest("colour", DAEMON_KEYS.iter().copied()), None);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn emails_urls_and_addresses() {
        assert_eq!(
            parse_email(" Bob@Acme.Test "),
            Ok("bob@acme.test".to_string())
        );
        assert!(parse_email("bob").is_err());
        assert!(parse_email("@acme").is_err());
        assert!(parse_email("a@b@c").is_err());
        assert!(parse_email("a b@c").is_err());
        assert_eq!(
            parse_http_url("https://x.test/base/", true),
            Ok("https://x.test/base".to_string())
        );
        assert!(parse_http_url("ftp://x.test", true).is_err());
        assert!(parse_http_url("https://x.test/?a=1", true).is_err());
        assert!(parse_http_url("https://x.test/?a=1", false).is_ok());
        assert!(parse_http_url("not a url", false).is_err());
        assert!(parse_listen("127.0.0.1:8080").is_ok());
        assert!(parse_listen("localhost:8080").is_err());
        assert!(parse_issuer("https://accounts.google.com").is_ok());
        assert!(parse_issuer("http://127.0.0.1:4000").is_ok());
        assert!(parse_issuer("http://idp.example").is_err());
        assert!(
            parse_timezone("europe/london")
                .unwrap_err()
                .contains("Europe/London")
        );
        assert_eq!(
            parse_timezone("Europe/London"),
            Ok(chrono_tz::Europe::London)
        );
    }
}
