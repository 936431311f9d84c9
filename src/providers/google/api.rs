//! The Calendar API client: one call = pacing (`pace`), an access token for the person acted as
//! (`auth`), the request, and Google's retry rule. Errors are classified here, once:
//! - 403/429 with domain `usageLimits` (`rateLimitExceeded`, `userRateLimitExceeded`,
//!   `quotaExceeded`), 429, 5xx, and lost connections are retried with exponential backoff and
//!   jitter (`providers::http::Backoff`), a `Retry-After` honoured exactly;
//! - 401 drops the cached token and tries once more with a fresh one, then is a refusal;
//! - 400, other 403s (`forbidden`, `insufficientPermissions`), 404, 409, 410 and 412 are never
//!   retried: they are answers the caller acts on.
//!
//! Every write oneonone makes is idempotent (a patch carries `If-Match`, an insert a deterministic
//! id), so retrying one whose answer was lost is safe; when retries run out, the caller learns
//! whether an attempt may have been applied.
//!
//! Invariant: URLs (they carry sync tokens) and tokens never appear in errors or logs.
use super::auth::{TokenError, Tokens};
use super::pace::Pacer;
use super::wire::ErrorInfo;
use crate::providers::http::{Backoff, retry_after};
use reqwest::{Method, StatusCode};
use tokio::sync::Semaphore;
use tracing::debug;

/// One request.
pub struct Call<'a> {
    pub method: Method,
    /// Relative to the API base, already encoded (see [`seg`]).
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<serde_json::Value>,
    pub if_match: Option<&'a str>,
    /// The person the request acts as (a service account impersonates them).
    pub subject: &'a str,
}

impl<'a> Call<'a> {
    pub fn get(path: String, subject: &'a str) -> Call<'a> {
        Call {
            method: Method::GET,
            path,
            query: Vec::new(),
            body: None,
            if_match: None,
            subject,
        }
    }
}

/// What a call can end in, besides a 2xx body.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// 410: a sync token no longer valid, or a resource that was deleted.
    Gone,
    /// 404.
    NotFound,
    /// 409: the id exists already.
    Duplicate,
    /// 412: the etag in `If-Match` is no longer the event's.
    PreconditionFailed,
    /// The credentials were refused; `action` tells the admin what to do.
    Refused { action: String },
    /// Any other 4xx: a request Google will not do.
    Rejected { status: u16, info: ErrorInfo },
    /// Retries ran out (5xx, rate limits, lost connections); `maybe_applied`: an attempt may have
    /// reached Google.
    Failed { reason: String, maybe_applied: bool },
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Gone => f.write_str("gone (410)"),
            ApiError::NotFound => f.write_str("not found (404)"),
            ApiError::Duplicate => f.write_str("already exists (409)"),
            ApiError::PreconditionFailed => f.write_str("changed since it was read (412)"),
            ApiError::Refused { action } => write!(f, "sign-in refused: {action}"),
            ApiError::Rejected { status, info } => {
                write!(f, "Google refused the request ({status}")?;
                if !info.reason.is_empty() {
                    write!(f, " {}", info.reason)?;
                }
                if !info.message.is_empty() {
                    write!(f, ": {}", info.message)?;
                }
                f.write_str(")")
            }
            ApiError::Failed { reason, .. } => write!(f, "{reason}"),
        }
    }
}

/// Encode one path segment (calendar and event ids).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'@') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The account's API client.
pub struct Api {
    http: reqwest::Client,
    base: String,
    pub tokens: Tokens,
    pacer: Pacer,
    backoff: Backoff,
    slots: Semaphore,
}

/// How one attempt ended.
enum Attempt {
    Done(Vec<u8>),
    Final(ApiError),
    /// Worth retrying; `maybe_applied` if the request may have reached Google.
    Retry {
        reason: String,
        after: Option<std::time::Duration>,
        maybe_applied: bool,
    },
    Unauthorized,
}

impl Api {
    pub fn new(
        http: reqwest::Client,
        base: String,
        tokens: Tokens,
        pacer: Pacer,
        backoff: Backoff,
        concurrency: u32,
    ) -> Api {
        Api {
            http,
            base,
            tokens,
            pacer,
            backoff,
            slots: Semaphore::new(concurrency.max(1) as usize),
        }
    }

    /// Make a call, retrying per Google's rule; the 2xx body.
    pub async fn call(&self, c: &Call<'_>) -> Result<Vec<u8>, ApiError> {
        let mut attempt = 0u32;
        let mut refreshed = false;
        let mut maybe_applied = false;
        loop {
            match self.attempt(c).await {
                Attempt::Done(body) => return Ok(body),
                Attempt::Final(e) => return Err(e),
                Attempt::Unauthorized if !refreshed => {
                    refreshed = true;
                    self.tokens.forget(c.subject);
                }
                Attempt::Unauthorized => {
                    return Err(ApiError::Refused {
                        action: format!(
                            "Google refused fresh access tokens acting as {} (401); check the account's \
                             credentials and, for a service account, its domain-wide delegation",
                            c.subject
                        ),
                    });
                }
                Attempt::Retry {
                    reason,
                    after,
                    maybe_applied: m,
                } => {
                    maybe_applied |= m;
                    if !self.backoff.may_retry(attempt) {
                        return Err(ApiError::Failed {
                            reason: format!("{reason} (after {} retries)", attempt),
                            maybe_applied,
                        });
                    }
                    let wait = self.backoff.delay(attempt, after);
                    debug!(subject = c.subject, %reason, ?wait, "retrying a Calendar API call");
                    let cause = if after.is_some() {
                        "retry_after"
                    } else {
                        "backoff"
                    };
                    crate::metrics::rate_limit_wait("google", cause, wait);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt(&self, c: &Call<'_>) -> Attempt {
        self.pacer.admit(c.subject).await;
        let token = match self.tokens.get(c.subject).await {
            Ok(t) => t,
            Err(TokenError::Refused { action }) => {
                return Attempt::Final(ApiError::Refused { action });
            }
            Err(TokenError::Unavailable { reason }) => {
                return Attempt::Final(ApiError::Failed {
                    reason,
                    maybe_applied: false,
                });
            }
        };
        let Ok(_slot) = self.slots.acquire().await else {
            return Attempt::Final(ApiError::Failed {
                reason: "the client is shutting down".into(),
                maybe_applied: false,
            });
        };
        let mut req = self
            .http
            .request(c.method.clone(), format!("{}{}", self.base, c.path))
            .bearer_auth(token)
            .query(&c.query);
        if let Some(etag) = c.if_match {
            req = req.header(reqwest::header::IF_MATCH, etag);
        }
        if let Some(body) = &c.body {
            req = req.json(body);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                crate::metrics::request("google", None);
                return Attempt::Retry {
                    maybe_applied: !e.is_connect() && c.method != Method::GET,
                    reason: format!("request failed: {}", e.without_url()),
                    after: None,
                };
            }
        };
        let status = resp.status();
        crate::metrics::request("google", Some(status.as_u16()));
        let after = retry_after(resp.headers(), super::auth::wall_now());
        let body = match resp.bytes().await {
            Ok(b) => Vec::from(b),
            Err(e) => {
                return Attempt::Retry {
                    maybe_applied: c.method != Method::GET,
                    reason: format!("reading the answer failed: {}", e.without_url()),
                    after: None,
                };
            }
        };
        classify(status, body, after, c.method != Method::GET)
    }
}

/// Google's retry rule, as an outcome of one attempt.
fn classify(
    status: StatusCode,
    body: Vec<u8>,
    after: Option<std::time::Duration>,
    write: bool,
) -> Attempt {
    if status.is_success() {
        return Attempt::Done(body);
    }
    let info = ErrorInfo::parse(&body);
    let code = status.as_u16();
    let retry = |reason: String| Attempt::Retry {
        reason,
        after,
        maybe_applied: write && code >= 500,
    };
    match code {
        401 => Attempt::Unauthorized,
        429 => retry(format!("rate limited (429 {})", info.reason)),
        403 if info.domain == "usageLimits"
            && matches!(
                info.reason.as_str(),
                "rateLimitExceeded" | "userRateLimitExceeded" | "quotaExceeded"
            ) =>
        {
            retry(format!("rate limited (403 {})", info.reason))
        }
        403 if info.reason == "insufficientPermissions" => Attempt::Final(ApiError::Refused {
            action: format!(
                "the access token lacks the scope {}: grant it (domain-wide delegation for a service account; \
                 `oneonone auth` again for a personal sign-in)",
                super::settings::SCOPE
            ),
        }),
        500..=599 => retry(format!("Google failed ({code} {})", info.reason)),
        404 => Attempt::Final(ApiError::NotFound),
        409 => Attempt::Final(ApiError::Duplicate),
        410 => Attempt::Final(ApiError::Gone),
        412 => Attempt::Final(ApiError::PreconditionFailed),
        _ => Attempt::Final(ApiError::Rejected { status: code, info }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(domain: &str, reason: &str) -> Vec<u8> {
        format!(r#"{{"error":{{"errors":[{{"domain":"{domain}","reason":"{reason}"}}],"code":403,"message":"m"}}}}"#)
            .into_bytes()
    }

    fn retried(a: &Attempt) -> bool {
        matches!(a, Attempt::Retry { .. })
    }

    #[test]
    fn only_rate_limits_and_server_errors_are_retried() {
        let s = |c: u16| StatusCode::from_u16(c).unwrap_or(StatusCode::IM_A_TEAPOT);
        assert!(retried(&classify(
            s(403),
            body("usageLimits", "rateLimitExceeded"),
            None,
            false
        )));
        assert!(retried(&classify(
            s(403),
            body("usageLimits", "userRateLimitExceeded"),
            None,
            false
        )));
        assert!(retried(&classify(
            s(429),
            body("usageLimits", "rateLimitExceeded"),
            None,
            false
        )));
        assert!(retried(&classify(s(503), b"<html>".to_vec(), None, false)));
        assert!(!retried(&classify(
            s(403),
            body("calendar", "forbiddenForNonOrganizer"),
            None,
            false
        )));
        assert!(!retried(&classify(
            s(403),
            body("usageLimits", "dailyLimitExceeded"),
            None,
            false
        )));
        assert!(!retried(&classify(
            s(400),
            body("global", "invalid"),
            None,
            false
        )));
        assert!(!retried(&classify(s(404), Vec::new(), None, false)));
        assert!(matches!(
            classify(s(401), Vec::new(), None, false),
            Attempt::Unauthorized
        ));
        assert!(matches!(
            classify(s(410), Vec::new(), None, false),
            Attempt::Final(ApiError::Gone)
        ));
        assert!(matches!(
            classify(
                s(403),
                body("global", "insufficientPermissions"),
                None,
                false
            ),
            Attempt::Final(ApiError::Refused { .. })
        ));
        assert!(matches!(
            classify(s(500), Vec::new(), None, true),
            Attempt::Retry {
                maybe_applied: true,
                ..
            }
        ));
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(seg("alice@acme.test"), "alice@acme.test");
        assert_eq!(seg("a/b c"), "a%2Fb%20c");
    }
}
