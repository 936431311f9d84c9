//! Access tokens for the Calendar API, one per person the account acts as:
//! - a service account with domain-wide delegation signs a JWT (RS256, `jsonwebtoken`, `sub` = the
//!   person) and exchanges it at the token endpoint (the JWT-bearer grant); no refresh token, a new
//!   assertion each time. The key file is read again for every new token, so a replaced key is
//!   picked up without a restart.
//! - an installed-app OAuth sign-in (`consent`) refreshes its stored refresh token
//!   (`auth::TokenStore`) through the `oauth2` crate.
//!
//! Tokens are cached in memory and renewed five minutes before they expire; one request per person
//! at a time. A refusal (`invalid_grant`, an unauthorised client, no stored sign-in) is
//! [`TokenError::Refused`] with the admin's instruction; a token endpoint that cannot be reached is
//! `Unavailable` and is retried with backoff first.
//!
//! Invariant: no token, key or secret is ever formatted into an error or a log line.
use super::settings::SCOPE;
use crate::auth::{OAuthHttp, TokenStore};
use crate::providers::http::Backoff;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The wall clock, for JWT `iat`/`exp` (Google checks them against its own clock).
#[allow(clippy::disallowed_methods)] // a signed assertion must carry the real time
pub fn wall_now() -> DateTime<Utc> {
    Utc::now()
}

/// A service-account key file (the JSON the Cloud console downloads).
pub struct ServiceAccountKey {
    pub client_email: String,
    key_id: Option<String>,
    key: jsonwebtoken::EncodingKey,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
}

impl ServiceAccountKey {
    /// Read and check a key file. The message names the file and what is wrong, never content.
    pub fn load(path: &Path) -> Result<ServiceAccountKey, String> {
        let text = crate::auth::read_secret_file(path).map_err(|e| e.to_string())?;
        let f: KeyFile = serde_json::from_str(&text).map_err(|_| {
            format!(
                "{} is not a service-account key (JSON, as the Cloud console downloads it)",
                path.display()
            )
        })?;
        if f.kind.as_deref().is_some_and(|k| k != "service_account") {
            return Err(format!(
                "{} is not a service-account key (its \"type\" is not \"service_account\")",
                path.display()
            ));
        }
        let client_email = f
            .client_email
            .filter(|e| e.contains('@'))
            .ok_or_else(|| format!("{} has no \"client_email\"", path.display()))?;
        let pem = f
            .private_key
            .ok_or_else(|| format!("{} has no \"private_key\"", path.display()))?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| {
            format!(
                "the \"private_key\" in {} is not an RSA private key in PEM form",
                path.display()
            )
        })?;
        Ok(ServiceAccountKey {
            client_email,
            key_id: f.private_key_id.filter(|k| !k.is_empty()),
            key,
        })
    }

    /// The signed JWT-bearer assertion acting as `subject`, valid for an hour from `now`.
    pub fn assertion(
        &self,
        subject: &str,
        audience: &str,
        now: DateTime<Utc>,
    ) -> Result<String, String> {
        #[derive(serde::Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            sub: &'a str,
            scope: &'a str,
            aud: &'a str,
            iat: i64,
            exp: i64,
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.key_id.clone();
        let iat = now.timestamp();
        let claims = Claims {
            iss: &self.client_email,
            sub: subject,
            scope: SCOPE,
            aud: audience,
            iat,
            exp: iat + 3600,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| format!("cannot sign the service-account assertion: {e}"))
    }
}

/// How the account gets tokens.
pub enum Credentials {
    ServiceAccount {
        key_file: PathBuf,
        client_email: String,
    },
    OAuth {
        account: String,
        user: String,
        client_id: String,
        secret_file: Option<PathBuf>,
        store: TokenStore,
    },
}

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The credentials were refused: nothing works until the admin acts (`action` says how).
    Refused { action: String },
    /// The token endpoint could not be reached or failed (after retries).
    Unavailable { reason: String },
}

struct Cached {
    token: String,
    renew_at: Instant,
}

/// The account's access tokens, per person.
pub struct Tokens {
    creds: Credentials,
    token_url: String,
    http: reqwest::Client,
    oauth_http: OAuthHttp,
    backoff: Backoff,
    cache: Mutex<HashMap<String, Cached>>,
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Tokens {
    pub fn new(
        creds: Credentials,
        token_url: String,
        http: reqwest::Client,
        backoff: Backoff,
    ) -> Tokens {
        Tokens {
            creds,
            token_url,
            oauth_http: OAuthHttp::from_client(http.clone()),
            http,
            backoff,
            cache: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, subject: &str) -> Option<String> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(subject)
            .filter(|c| super::pace::mono_now() < c.renew_at)
            .map(|c| c.token.clone())
    }

    /// A valid access token acting as `subject`.
    pub async fn get(&self, subject: &str) -> Result<String, TokenError> {
        if let Some(t) = self.cached(subject) {
            return Ok(t);
        }
        let flight = {
            let mut f = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            f.entry(subject.to_string()).or_default().clone()
        };
        let _one_at_a_time = flight.lock().await;
        if let Some(t) = self.cached(subject) {
            return Ok(t);
        }
        let mut attempt = 0;
        let (token, lifetime) = loop {
            match self.fetch(subject).await {
                Ok(t) => break t,
                Err(TokenError::Unavailable { reason }) if self.backoff.may_retry(attempt) => {
                    tracing::debug!(subject, %reason, "token endpoint failed; retrying");
                    tokio::time::sleep(self.backoff.delay(attempt, None)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        let renew_at = super::pace::mono_now()
            + lifetime
                .saturating_sub(Duration::from_secs(300))
                .max(Duration::from_secs(30));
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
            subject.to_string(),
            Cached {
                token: token.clone(),
                renew_at,
            },
        );
        Ok(token)
    }

    /// Drop the cached token of `subject` (Google answered 401 with it).
    pub fn forget(&self, subject: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(subject);
    }

    /// Ask the token endpoint once.
    async fn fetch(&self, subject: &str) -> Result<(String, Duration), TokenError> {
        match &self.creds {
            Credentials::ServiceAccount {
                key_file,
                client_email,
            } => self.jwt_bearer(subject, key_file, client_email).await,
            Credentials::OAuth {
                account,
                user,
                client_id,
                secret_file,
                store,
            } => {
                self.refresh(account, user, client_id, secret_file.as_deref(), store)
                    .await
            }
        }
    }

    async fn jwt_bearer(
        &self,
        subject: &str,
        key_file: &Path,
        client_email: &str,
    ) -> Result<(String, Duration), TokenError> {
        let key = ServiceAccountKey::load(key_file).map_err(|e| TokenError::Refused {
            action: format!(
                "{e}. Put the JSON key of the service account {client_email} there (chmod 600)"
            ),
        })?;
        let assertion = key
            .assertion(subject, &self.token_url, wall_now())
            .map_err(|e| TokenError::Refused { action: e })?;
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ];
        let resp = self
            .http
            .post(&self.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| TokenError::Unavailable {
                reason: format!("token endpoint: {}", e.without_url()),
            })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| TokenError::Unavailable {
            reason: format!("token endpoint: {}", e.without_url()),
        })?;
        let answer: super::wire::TokenAnswer = serde_json::from_slice(&body).unwrap_or_default();
        if status.is_success()
            && let Some(t) = answer.access_token
        {
            let secs = answer.expires_in.unwrap_or(3600).clamp(60, 86_400);
            return Ok((t, Duration::from_secs(secs.unsigned_abs())));
        }
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(TokenError::Unavailable {
                reason: format!("token endpoint answered {status}"),
            });
        }
        Err(TokenError::Refused {
            action: service_account_action(
                answer.error.as_deref().unwrap_or("unknown_error"),
                answer.error_description.as_deref().unwrap_or(""),
                key_file,
                client_email,
                subject,
            ),
        })
    }

    async fn refresh(
        &self,
        account: &str,
        user: &str,
        client_id: &str,
        secret_file: Option<&Path>,
        store: &TokenStore,
    ) -> Result<(String, Duration), TokenError> {
        use oauth2::TokenResponse;
        let again = format!("run `oneonone auth --account {account}` and sign in as {user}");
        let refresh = match store.load() {
            Ok(Some(t)) => t,
            Ok(None) => {
                return Err(TokenError::Refused {
                    action: format!("no Google sign-in is stored for account {account}: {again}"),
                });
            }
            Err(e) => {
                return Err(TokenError::Refused {
                    action: format!("{e}; {again}"),
                });
            }
        };
        let client = super::consent::client(client_id, secret_file, &self.token_url)
            .map_err(|e| TokenError::Refused { action: e })?;
        let result = client
            .exchange_refresh_token(&oauth2::RefreshToken::new(refresh))
            .request_async(&self.oauth_http)
            .await;
        match result {
            Ok(t) => {
                if let Some(rotated) = t.refresh_token()
                    && let Err(e) = store.save(rotated.secret())
                {
                    tracing::warn!(account, error = %e, "cannot store the rotated refresh token");
                }
                let lifetime = t.expires_in().unwrap_or(Duration::from_secs(3600));
                Ok((t.access_token().secret().clone(), lifetime))
            }
            Err(oauth2::RequestTokenError::ServerResponse(e)) => {
                use oauth2::basic::BasicErrorResponseType as T;
                Err(TokenError::Refused {
                    action: match e.error() {
                        T::InvalidGrant => format!(
                            "Google refused the stored sign-in of {user} (invalid_grant: it was revoked, expired, \
                             or unused for six months; an OAuth app in \"Testing\" status gets sign-ins that expire \
                             after 7 days, so publish it): {again}"
                        ),
                        T::InvalidClient | T::UnauthorizedClient => format!(
                            "Google does not accept the OAuth client {client_id} ({}): check client_id and \
                             client_secret_file of account {account} against the Cloud console, then {again}",
                            e.error()
                        ),
                        other => format!("Google refused the sign-in ({other}): {again}"),
                    },
                })
            }
            Err(e) => Err(TokenError::Unavailable {
                reason: format!("token endpoint: {}", oauth_error_text(&e)),
            }),
        }
    }
}

/// A transport or parse failure of the `oauth2` crate, without URLs or bodies.
pub fn oauth_error_text<E: oauth2::ErrorResponse + 'static>(
    e: &oauth2::RequestTokenError<oauth2::HttpClientError<reqwest::Error>, E>,
) -> String {
    match e {
        oauth2::RequestTokenError::Request(oauth2::HttpClientError::Reqwest(r)) => {
            let r: &reqwest::Error = r;
            match r.url() {
                Some(_) => "the request failed (connection or timeout)".to_string(),
                None => r.to_string(),
            }
        }
        oauth2::RequestTokenError::Request(_) => "the request failed".to_string(),
        oauth2::RequestTokenError::Parse(_, _) => "the answer could not be read".to_string(),
        oauth2::RequestTokenError::ServerResponse(_) => "the server refused".to_string(),
        oauth2::RequestTokenError::Other(s) => s.clone(),
    }
}

/// What the admin must do when the token endpoint refuses a service-account assertion.
fn service_account_action(
    error: &str,
    description: &str,
    key_file: &Path,
    client_email: &str,
    subject: &str,
) -> String {
    let said: String = description.chars().take(200).collect();
    match error {
        "invalid_grant" if said.contains("Signature") || said.contains("not found") => format!(
            "Google refused the key of service account {client_email} ({error}: {said}): the key was deleted \
             or revoked, or the account no longer exists. In the Google Cloud console (IAM & Admin → Service \
             Accounts → {client_email} → Keys) create a new JSON key, save it as {} (chmod 600); the next \
             cycle uses it",
            key_file.display()
        ),
        "invalid_grant" => format!(
            "Google refused the assertion of service account {client_email} acting as {subject} ({error}: {said}). \
             If the message is about time, set this machine's clock right (NTP); if {subject} does not exist \
             in your Workspace, remove the pairs naming them"
        ),
        "unauthorized_client" | "access_denied" => format!(
            "the service account {client_email} may not act as {subject} ({error}): grant it domain-wide \
             delegation in the Google Admin console (Security → Access and data control → API controls → \
             Domain-wide delegation) for its client ID with the scope {SCOPE}"
        ),
        _ => format!(
            "Google refused service account {client_email} acting as {subject} ({error}: {said}); check the \
             key in {} and the account's domain-wide delegation (scope {SCOPE})",
            key_file.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_checked_without_showing_their_content() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("sa.json");
        std::fs::write(&p, r#"{"type":"service_account","client_email":"sa@p.iam.gserviceaccount.com","private_key":"SECRET-NOT-PEM"}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        let e = ServiceAccountKey::load(&p).err().unwrap_or_default();
        assert!(e.contains("not an RSA private key"), "{e}");
        assert!(!e.contains("SECRET"), "{e}");
        std::fs::write(&p, "not json SECRET").unwrap_or_else(|e| panic!("{e}"));
        let e = ServiceAccountKey::load(&p).err().unwrap_or_default();
        assert!(
            e.contains("is not a service-account key") && !e.contains("SECRET"),
            "{e}"
        );
        let missing = ServiceAccountKey::load(&dir.path().join("none.json"));
        assert!(missing.is_err());
    }

    #[test]
    fn refusals_tell_the_admin_what_to_do() {
        let p = Path::new("/etc/oneonone/sa.json");
        let a = service_account_action("invalid_grant", "Invalid JWT Signature.", p, "sa@x", "a@b");
        assert!(
            a.contains("create a new JSON key") && a.contains("/etc/oneonone/sa.json"),
            "{a}"
        );
        let a = service_account_action("unauthorized_client", "", p, "sa@x", "a@b");
        assert!(a.contains("domain-wide") && a.contains(SCOPE), "{a}");
    }
}
