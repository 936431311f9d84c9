//! The keys of a `provider = "google"` account, read and validated here (each problem reported at
//! its key, `PATH:LINE:COL`):
//!
//! ```toml
//! [[accounts]]
//! name = "workspace"
//! provider = "google"
//! auth = "service_account"                 # or "oauth"
//! service_account_key = "/etc/oneonone/google-sa.json"   # service_account: the JSON key
//! # user = "alice@acme.test"              # oauth: whose calendar (the person who consents)
//! # client_id = "….apps.googleusercontent.com"           # oauth: the desktop OAuth client
//! # client_secret_file = "/etc/oneonone/google-client-secret"
//! # api_base_url = "https://www.googleapis.com/calendar/v3/"
//! # token_url = "https://oauth2.googleapis.com/token"
//! # auth_url = "https://accounts.google.com/o/oauth2/v2/auth"   # oauth
//! # requests_per_minute_per_user = 600
//! # requests_per_minute = 10000
//! # max_concurrent_requests = 8
//! # retry_initial_delay = "1s"           # first retry's wait; doubles up to 64 s, 6 retries
//! ```
//!
//! The service-account key is read here once (readable, a service-account key whose private key
//! parses) so a wrong file is a `check` error; its content never appears in a message. URLs must be
//! `https`, or plain `http` to a loopback host (tests, a local proxy).
use crate::config::AccountKeys;
use std::path::PathBuf;

/// Google's Calendar API base.
pub const DEFAULT_API_BASE_URL: &str = "https://www.googleapis.com/calendar/v3/";
/// Google's token endpoint (also the `aud` of a service-account assertion).
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Google's consent page for installed apps.
pub const DEFAULT_AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
/// The one scope oneonone asks for: read events, patch descriptions, insert series.
pub const SCOPE: &str = "https://www.googleapis.com/auth/calendar.events";

/// A Google account's validated keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleSettings {
    pub auth: GoogleAuth,
    /// The Calendar API base, ending with `/`.
    pub api_base_url: String,
    pub token_url: String,
    pub limits: Limits,
}

/// How the account signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoogleAuth {
    /// A service account with domain-wide delegation: it impersonates every person named in the
    /// account's pairs and reads their primary calendars.
    ServiceAccount {
        /// The JSON key file (absolute).
        key_file: PathBuf,
        /// The service account's email (`client_email` of the key), for messages.
        client_email: String,
    },
    /// One person's consent (installed-app flow, `oneonone auth --account NAME`): that person's
    /// calendar only.
    OAuth {
        /// Whose calendar (lower-case email).
        user: String,
        client_id: String,
        client_secret_file: Option<PathBuf>,
        auth_url: String,
    },
}

/// Request pacing and concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Calendar API requests per minute per impersonated person (Google: 600).
    pub per_user_per_minute: u32,
    /// Calendar API requests per minute for the whole account (Google: 10,000 per project).
    pub per_minute: u32,
    /// Requests in flight at once.
    pub concurrency: u32,
    /// The wait before the first retry of a failed request (doubling, with jitter, up to 64 s).
    pub retry_delay: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_user_per_minute: 600,
            per_minute: 10_000,
            concurrency: 8,
            retry_delay: std::time::Duration::from_secs(1),
        }
    }
}

impl GoogleSettings {
    /// The keys a Google account may have besides `name` and `provider`.
    pub const KEYS: &'static [&'static str] = &[
        "auth",
        "service_account_key",
        "user",
        "client_id",
        "client_secret_file",
        "auth_url",
        "api_base_url",
        "token_url",
        "requests_per_minute_per_user",
        "requests_per_minute",
        "max_concurrent_requests",
        "retry_initial_delay",
    ];

    /// Read the keys; `None` when something was wrong (reported).
    pub fn parse(keys: &mut AccountKeys<'_, '_, '_, '_>) -> Option<GoogleSettings> {
        keys.reject_unknown("google", Self::KEYS);
        let api_base_url = url_key(keys, "api_base_url", DEFAULT_API_BASE_URL)
            .map(|u| if u.ends_with('/') { u } else { format!("{u}/") });
        let token_url = url_key(keys, "token_url", DEFAULT_TOKEN_URL);
        let limits = limits(keys);
        let auth = match keys.string("auth", true)?.trim() {
            "service_account" => service_account(keys),
            "oauth" => oauth(keys),
            other => {
                keys.error(
                    "auth",
                    &format!("unknown auth {other:?}: expected \"service_account\" or \"oauth\""),
                );
                None
            }
        };
        Some(GoogleSettings {
            auth: auth?,
            api_base_url: api_base_url?,
            token_url: token_url?,
            limits: limits?,
        })
    }

    /// The files holding secrets: the service-account key, the OAuth client secret.
    pub fn secret_files(&self) -> Vec<&std::path::Path> {
        match &self.auth {
            GoogleAuth::ServiceAccount { key_file, .. } => vec![key_file.as_path()],
            GoogleAuth::OAuth {
                client_secret_file, ..
            } => client_secret_file.iter().map(PathBuf::as_path).collect(),
        }
    }
}

/// Keys that belong to the other auth mode are reported, not silently ignored.
fn reject_other_mode(keys: &mut AccountKeys<'_, '_, '_, '_>, mode: &str, other: &[&str]) {
    for k in other {
        if keys.string(k, false).is_some() || keys.path(k, false).is_some() {
            keys.error(k, &format!("is not used with auth = \"{mode}\""));
        }
    }
}

fn service_account(keys: &mut AccountKeys<'_, '_, '_, '_>) -> Option<GoogleAuth> {
    reject_other_mode(
        keys,
        "service_account",
        &["user", "client_id", "client_secret_file", "auth_url"],
    );
    let key_file = keys.path("service_account_key", true)?;
    match super::auth::ServiceAccountKey::load(&key_file) {
        Ok(key) => Some(GoogleAuth::ServiceAccount {
            key_file,
            client_email: key.client_email,
        }),
        Err(e) => {
            keys.error("service_account_key", &e);
            None
        }
    }
}

fn oauth(keys: &mut AccountKeys<'_, '_, '_, '_>) -> Option<GoogleAuth> {
    reject_other_mode(keys, "oauth", &["service_account_key"]);
    let user = keys.string("user", true).and_then(|u| {
        let u = u.trim().to_ascii_lowercase();
        if is_email(&u) {
            Some(u)
        } else {
            keys.error(
                "user",
                &format!("invalid email {u:?}: expected name@domain"),
            );
            None
        }
    });
    let client_id = keys.string("client_id", true).and_then(|c| {
        let c = c.trim().to_string();
        if c.is_empty() {
            keys.error("client_id", "must not be empty");
            None
        } else {
            Some(c)
        }
    });
    let client_secret_file = keys.path("client_secret_file", false);
    if let Some(p) = &client_secret_file
        && let Err(e) = crate::auth::read_secret_file(p)
    {
        keys.error("client_secret_file", &e.to_string());
        return None;
    }
    let auth_url = url_key(keys, "auth_url", DEFAULT_AUTH_URL);
    Some(GoogleAuth::OAuth {
        user: user?,
        client_id: client_id?,
        client_secret_file,
        auth_url: auth_url?,
    })
}

/// The pacing keys (a bad value is reported, and the load fails on it).
fn limits(keys: &mut AccountKeys<'_, '_, '_, '_>) -> Option<Limits> {
    let d = Limits::default();
    Some(Limits {
        per_user_per_minute: keys
            .count("requests_per_minute_per_user")
            .unwrap_or(d.per_user_per_minute),
        per_minute: keys.count("requests_per_minute").unwrap_or(d.per_minute),
        concurrency: keys
            .count("max_concurrent_requests")
            .unwrap_or(d.concurrency),
        retry_delay: match keys.string("retry_initial_delay", false) {
            None => d.retry_delay,
            Some(s) => match humantime::parse_duration(s.trim()) {
                Ok(v) if v <= std::time::Duration::from_secs(60) => v,
                Ok(_) => {
                    keys.error("retry_initial_delay", "must be at most 60s");
                    return None;
                }
                Err(e) => {
                    keys.error(
                        "retry_initial_delay",
                        &format!("invalid duration {s:?}: {e} (e.g. \"1s\", \"200ms\")"),
                    );
                    return None;
                }
            },
        },
    })
}

/// An http(s) URL key, defaulting to `default`.
fn url_key(keys: &mut AccountKeys<'_, '_, '_, '_>, key: &str, default: &str) -> Option<String> {
    let Some(raw) = keys.string(key, false) else {
        return Some(default.to_string());
    };
    match check_url(raw.trim()) {
        Ok(()) => Some(raw.trim().to_string()),
        Err(e) => {
            keys.error(key, &e);
            None
        }
    }
}

/// `https`, or `http` to a loopback host (tokens never cross a network in the clear).
fn check_url(s: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(s).map_err(|e| format!("invalid URL {s:?}: {e}"))?;
    let host = url.host_str().unwrap_or("");
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
    match url.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!(
            "{s:?} is plain http to a host that is not loopback; tokens would cross the network in the clear: use https"
        )),
        _ => Err(format!("invalid URL {s:?}: expected an https URL")),
    }
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c == '/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_https_or_loopback_http() {
        assert!(check_url("https://www.googleapis.com/calendar/v3/").is_ok());
        assert!(check_url("http://127.0.0.1:4000/calendar/v3/").is_ok());
        assert!(check_url("http://localhost:4000/token").is_ok());
        assert!(check_url("http://[::1]:4000/token").is_ok());
        let e = check_url("http://proxy.example.com/token")
            .err()
            .unwrap_or_default();
        assert!(e.contains("use https"), "{e}");
        assert!(check_url("ftp://example.com/").is_err());
        assert!(check_url("not a url").is_err());
    }
}
