//! The keys of a `provider = "microsoft"` account, read and validated here (each problem reported
//! at its key, `PATH:LINE:COL`):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `auth` | `client_credentials` | `client_credentials` (app-only, the whole organisation) or `device_code` (one person, `oneonone auth`) |
//! | `tenant` | (required) | the tenant id or a verified domain |
//! | `client_id` | (required) | the app registration's application (client) id |
//! | `client_secret_file` | (required for `client_credentials`) | a file holding the client secret alone (0600) |
//! | `api_base_url` | `https://graph.microsoft.com/v1.0` | Graph's base URL |
//! | `authority_url` | `https://login.microsoftonline.com` | the identity platform |
//! | `max_concurrent_requests` | `4` | requests in flight per mailbox (Outlook allows 4) |
//! | `requests_per_10min` | `9000` | requests per mailbox per 10 minutes (Outlook allows 10,000) |
//!
//! The secret itself is never kept here (settings are logged in debug output): it is read from its
//! file when a token is requested. URLs must be `https`, except on a loopback host (tests, an
//! emulator), so tokens never travel in clear text.
use crate::config::AccountKeys;
use std::path::PathBuf;

/// How the account signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// App-only (client credentials): every pair's mailbox as `/users/{email}`.
    ClientCredentials,
    /// One person's delegated sign-in (device code, `oneonone auth --account NAME`); other
    /// mailboxes are readable only when shared with them.
    DeviceCode,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::ClientCredentials => "client_credentials",
            AuthMode::DeviceCode => "device_code",
        }
    }
}

/// A Microsoft 365 account's validated keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MicrosoftSettings {
    pub auth: AuthMode,
    pub tenant: String,
    pub client_id: String,
    /// The file holding the client secret (absolute).
    pub client_secret_file: Option<PathBuf>,
    /// Graph's base URL, without a trailing slash.
    pub api_base_url: String,
    /// The identity platform's base URL, without a trailing slash.
    pub authority_url: String,
    /// Requests in flight per mailbox, 1 to 4.
    pub max_concurrent_requests: u32,
    /// Requests per mailbox per 10 minutes, below Outlook's 10,000.
    pub requests_per_10min: u32,
}

/// Outlook's limits per app and mailbox.
const OUTLOOK_CONCURRENCY: u32 = 4;
const OUTLOOK_REQUESTS_PER_10MIN: u32 = 10_000;

impl MicrosoftSettings {
    /// The keys a Microsoft account may have besides `name` and `provider`.
    pub const KEYS: &'static [&'static str] = &[
        "auth",
        "tenant",
        "client_id",
        "client_secret_file",
        "api_base_url",
        "authority_url",
        "max_concurrent_requests",
        "requests_per_10min",
    ];
    pub const DEFAULT_API_BASE_URL: &'static str = "https://graph.microsoft.com/v1.0";
    pub const DEFAULT_AUTHORITY_URL: &'static str = "https://login.microsoftonline.com";

    /// Read the keys; `None` when something was wrong (reported).
    pub fn parse(keys: &mut AccountKeys<'_, '_, '_, '_>) -> Option<MicrosoftSettings> {
        keys.reject_unknown("microsoft", Self::KEYS);
        let mut ok = true;
        let auth = match keys.string("auth", false).as_deref().map(str::trim) {
            None | Some("client_credentials") => Some(AuthMode::ClientCredentials),
            Some("device_code") => Some(AuthMode::DeviceCode),
            Some(other) => {
                keys.error(
                    "auth",
                    &format!("unknown sign-in {other:?}; expected \"client_credentials\" or \"device_code\""),
                );
                None
            }
        };
        let tenant = keys
            .string("tenant", true)
            .and_then(|t| check(keys, "tenant", tenant_problem(t.trim(), auth), t.trim()));
        let client_id = keys
            .string("client_id", true)
            .and_then(|c| check(keys, "client_id", id_problem(c.trim()), c.trim()));
        let secret = keys.path("client_secret_file", false);
        if let Some(p) = &secret
            && let Err(e) = crate::auth::read_secret_file(p)
        {
            keys.error("client_secret_file", &e.to_string());
            ok = false;
        }
        if secret.is_none() && auth == Some(AuthMode::ClientCredentials) {
            keys.error(
                "client_secret_file",
                "auth = \"client_credentials\" needs client_secret_file (a file holding the app's client secret)",
            );
            ok = false;
        }
        let api_base_url = url_key(keys, "api_base_url", Self::DEFAULT_API_BASE_URL);
        let authority_url = url_key(keys, "authority_url", Self::DEFAULT_AUTHORITY_URL);
        let max_concurrent_requests = bounded(
            keys,
            "max_concurrent_requests",
            OUTLOOK_CONCURRENCY,
            OUTLOOK_CONCURRENCY,
            "Outlook allows at most 4 concurrent requests per mailbox",
        );
        let requests_per_10min = bounded(
            keys,
            "requests_per_10min",
            9_000,
            OUTLOOK_REQUESTS_PER_10MIN - 1,
            "Outlook throttles at 10,000 requests per mailbox per 10 minutes",
        );
        Some(MicrosoftSettings {
            auth: auth?,
            tenant: tenant?,
            client_id: client_id?,
            client_secret_file: secret,
            api_base_url: api_base_url?,
            authority_url: authority_url?,
            max_concurrent_requests: max_concurrent_requests?,
            requests_per_10min: requests_per_10min?,
        })
        .filter(|_| ok)
    }

    /// The identity platform's token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.authority_url, self.tenant)
    }

    /// The identity platform's device-code endpoint.
    pub fn device_code_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/devicecode",
            self.authority_url, self.tenant
        )
    }
}

/// `Some(value)` when `problem` is `None`, else report it at `key`.
fn check(
    keys: &mut AccountKeys<'_, '_, '_, '_>,
    key: &str,
    problem: Option<String>,
    value: &str,
) -> Option<String> {
    match problem {
        None => Some(value.to_string()),
        Some(p) => {
            keys.error(key, &p);
            None
        }
    }
}

fn id_problem(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("must not be empty".into());
    }
    let bad = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-._".contains(*c)));
    bad.map(|c| format!("{s:?} contains {c:?}; expected letters, digits, '-', '.' and '_'"))
}

fn tenant_problem(s: &str, auth: Option<AuthMode>) -> Option<String> {
    if let Some(p) = id_problem(s) {
        return Some(p);
    }
    let multi = ["common", "organizations", "consumers"];
    (auth == Some(AuthMode::ClientCredentials) && multi.contains(&s.to_ascii_lowercase().as_str()))
        .then(|| {
            format!(
                "{s:?} names no tenant; client credentials need your tenant's id or domain (e.g. \"contoso.onmicrosoft.com\")"
            )
        })
}

/// An http(s) base URL (https unless the host is loopback), without a trailing slash.
pub(crate) fn parse_base_url(s: &str) -> Result<String, String> {
    let u = reqwest::Url::parse(s.trim()).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    let host = u.host_str().unwrap_or("");
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match u.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "{s:?} is plain http; tokens would travel in clear text (http is accepted only for a loopback host)"
            ));
        }
        other => return Err(format!("{s:?} has scheme {other:?}; expected https")),
    }
    if host.is_empty() || u.query().is_some() || u.fragment().is_some() {
        return Err(format!(
            "{s:?} must be a base URL (a host, no query or fragment)"
        ));
    }
    Ok(u.as_str().trim_end_matches('/').to_string())
}

fn url_key(keys: &mut AccountKeys<'_, '_, '_, '_>, key: &str, default: &str) -> Option<String> {
    let Some(s) = keys.string(key, false) else {
        return Some(default.to_string());
    };
    match parse_base_url(&s) {
        Ok(u) => Some(u),
        Err(e) => {
            keys.error(key, &e);
            None
        }
    }
}

/// A count from 1 to `max` (default when absent).
fn bounded(
    keys: &mut AccountKeys<'_, '_, '_, '_>,
    key: &str,
    default: u32,
    max: u32,
    why: &str,
) -> Option<u32> {
    // An invalid value is reported by `count` (the load then fails): the default only lets the
    // walk go on.
    match keys.count(key) {
        Some(n) if n <= max => Some(n),
        Some(n) => {
            keys.error(key, &format!("{n} is too many: at most {max} ({why})"));
            None
        }
        None => Some(default),
    }
}
