//! Signing in to Microsoft 365 through the `oauth2` crate over our one reqwest (`auth::OAuthHttp`):
//! - client credentials (app-only) with the scope `https://graph.microsoft.com/.default`, the
//!   secret read from `client_secret_file` each time a token is requested;
//! - the device code flow (`oneonone auth --account NAME`, [`sign_in`]): prints the code and the
//!   URL, polls as the identity platform says (`authorization_pending`, `slow_down`), stops on
//!   `authorization_declined` and `expired_token`, and stores the refresh token;
//! - the daemon then redeems the stored refresh token ([`Tokens`]); every new refresh token it gets
//!   replaces the old one atomically (`auth::TokenStore`) before the access token is used.
//!
//! Refusals become [`AuthFailure::Refused`] with what the admin must do (an `auth_failed` finding);
//! an unreachable identity platform is [`AuthFailure::Unreachable`] (retried next cycle).
//!
//! Invariant: no secret, access token or refresh token appears in an error or a log line.
use super::settings::{AuthMode, MicrosoftSettings};
use crate::auth::{OAuthHttp, TokenStore};
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{
    AuthType, ClientId, ClientSecret, DeviceAuthorizationUrl, RefreshToken, RequestTokenError,
    Scope, StandardDeviceAuthorizationResponse, TokenResponse, TokenUrl,
};
use std::time::Duration;
use tokio::time::Instant;

/// The only scope client credentials may ask for.
pub const APP_SCOPE: &str = "https://graph.microsoft.com/.default";
/// What a delegated sign-in asks for: the person's calendar and calendars shared with them, and a
/// refresh token.
pub const DELEGATED_SCOPES: &[&str] = &[
    "offline_access",
    "Calendars.ReadWrite",
    "Calendars.ReadWrite.Shared",
];
/// Tokens are renewed this long before they expire.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// The credentials were refused: nothing works until the admin acts (`action`).
    Refused { action: String },
    /// The identity platform could not be reached or answered nonsense: try again later.
    Unreachable { reason: String },
}

impl std::fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthFailure::Refused { action } => write!(f, "sign-in refused: {action}"),
            AuthFailure::Unreachable { reason } => {
                write!(f, "the identity platform could not be reached: {reason}")
            }
        }
    }
}

/// An account's access tokens: cached, renewed before they expire.
pub struct Tokens {
    account: String,
    settings: MicrosoftSettings,
    http: OAuthHttp,
    store: TokenStore,
    cached: tokio::sync::Mutex<Option<(String, Instant)>>,
}

type RequestError = RequestTokenError<oauth2::HttpClientError<reqwest::Error>, BasicErrorResponse>;

impl Tokens {
    pub fn new(
        account: &str,
        settings: &MicrosoftSettings,
        http: OAuthHttp,
        store: TokenStore,
    ) -> Tokens {
        Tokens {
            account: account.to_string(),
            settings: settings.clone(),
            http,
            store,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// A valid access token (one request to the identity platform when the cached one is due).
    pub async fn bearer(&self) -> Result<String, AuthFailure> {
        let mut slot = self.cached.lock().await;
        if let Some((token, expires)) = slot.as_ref()
            && Instant::now() + RENEW_BEFORE < *expires
        {
            return Ok(token.clone());
        }
        let response = match self.settings.auth {
            AuthMode::ClientCredentials => self.client_credentials().await?,
            AuthMode::DeviceCode => self.refresh().await?,
        };
        let ttl = response.expires_in().unwrap_or(Duration::from_secs(3600));
        let token = response.access_token().secret().clone();
        *slot = Some((token.clone(), Instant::now() + ttl));
        Ok(token)
    }

    /// Drop the cached token (Graph refused it).
    pub async fn forget(&self) {
        *self.cached.lock().await = None;
    }

    async fn client_credentials(&self) -> Result<BasicTokenResponse, AuthFailure> {
        let secret = self.secret()?;
        let client = client(&self.settings)?.set_client_secret(ClientSecret::new(secret));
        client
            .exchange_client_credentials()
            .add_scope(Scope::new(APP_SCOPE.into()))
            .request_async(&self.http)
            .await
            .map_err(|e| refused(&e, &self.settings, &self.account))
    }

    async fn refresh(&self) -> Result<BasicTokenResponse, AuthFailure> {
        let stored = self.store.load().map_err(|e| AuthFailure::Unreachable {
            reason: e.to_string(),
        })?;
        let Some(stored) = stored else {
            return Err(AuthFailure::Refused {
                action: format!(
                    "nobody has signed in yet: run `oneonone auth --account {}` and follow its instructions",
                    self.account
                ),
            });
        };
        let mut client = client(&self.settings)?;
        if self.settings.client_secret_file.is_some() {
            client = client.set_client_secret(ClientSecret::new(self.secret()?));
        }
        let rt = RefreshToken::new(stored);
        let response = client
            .exchange_refresh_token(&rt)
            .add_scopes(DELEGATED_SCOPES.iter().map(|s| Scope::new((*s).into())))
            .request_async(&self.http)
            .await
            .map_err(|e| refused(&e, &self.settings, &self.account))?;
        // The new refresh token replaces the old one before anything else happens: a crash now
        // must not leave only a spent token behind.
        if let Some(new) = response.refresh_token() {
            self.store
                .save(new.secret())
                .map_err(|e| AuthFailure::Unreachable {
                    reason: e.to_string(),
                })?;
        }
        Ok(response)
    }

    fn secret(&self) -> Result<String, AuthFailure> {
        let Some(path) = &self.settings.client_secret_file else {
            return Err(AuthFailure::Refused {
                action: "set client_secret_file to a file holding the app's client secret".into(),
            });
        };
        crate::auth::read_secret_file(path).map_err(|e| AuthFailure::Refused {
            action: format!("{e}; write the app's client secret into it (mode 0600)"),
        })
    }
}

type Configured = oauth2::Client<
    BasicErrorResponse,
    BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

fn client(s: &MicrosoftSettings) -> Result<Configured, AuthFailure> {
    let url = TokenUrl::new(s.token_url()).map_err(|e| AuthFailure::Refused {
        action: format!("authority_url and tenant give no valid token URL ({e})"),
    })?;
    Ok(BasicClient::new(ClientId::new(s.client_id.clone()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(url))
}

/// The AADSTS number in an identity-platform error description.
fn aadsts(description: Option<&str>) -> Option<u32> {
    let d = description?;
    let at = d.find("AADSTS")? + 6;
    let digits: String = d
        .get(at..)?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// What the admin must do about a refused token request.
fn refused(e: &RequestError, s: &MicrosoftSettings, account: &str) -> AuthFailure {
    let (error, code) = match e {
        RequestTokenError::ServerResponse(r) => (
            r.error().to_string(),
            aadsts(r.error_description().map(String::as_str)),
        ),
        RequestTokenError::Request(inner) => {
            let reason = match inner {
                oauth2::HttpClientError::Reqwest(r) => WithoutUrl(r).to_string(),
                _ => "the request could not be made".to_string(),
            };
            return AuthFailure::Unreachable { reason };
        }
        RequestTokenError::Parse(_, _) => {
            return AuthFailure::Unreachable {
                reason: "the token endpoint's answer could not be read".into(),
            };
        }
        RequestTokenError::Other(o) => return AuthFailure::Unreachable { reason: o.clone() },
    };
    AuthFailure::Refused {
        action: action_for(&error, code, s, account),
    }
}

/// A reqwest error shown without its URL.
struct WithoutUrl<'a>(&'a reqwest::Error);

impl std::fmt::Display for WithoutUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = self.0;
        if e.is_connect() {
            write!(f, "cannot connect")
        } else if e.is_timeout() {
            write!(f, "timed out")
        } else {
            write!(f, "request failed")
        }
    }
}

fn secret_file(s: &MicrosoftSettings) -> String {
    s.client_secret_file
        .as_ref()
        .map_or_else(|| "client_secret_file".into(), |p| p.display().to_string())
}

/// The instruction for an identity-platform error (`error`, AADSTS `code`).
pub fn action_for(error: &str, code: Option<u32>, s: &MicrosoftSettings, account: &str) -> String {
    let app = &s.client_id;
    let tenant = &s.tenant;
    let file = secret_file(s);
    match (error, code) {
        (_, Some(7_000_222)) => format!(
            "the client secret of app {app} has expired: create a new one (Entra admin center → App registrations → {app} → Certificates & secrets), write its value into {file} (mode 0600) and reload the daemon"
        ),
        (_, Some(7_000_215)) => format!(
            "the client secret in {file} is not valid for app {app}: copy the secret's Value (not its Secret ID) into the file and reload the daemon"
        ),
        (_, Some(7_000_218)) => format!(
            "app {app} is a confidential client: set client_secret_file to a file holding its secret"
        ),
        (_, Some(700_016)) | ("unauthorized_client", _) => format!(
            "there is no app {app} in tenant {tenant}: check client_id and tenant (and that the app is registered in that tenant)"
        ),
        (_, Some(90_002)) | ("invalid_tenant", _) => {
            format!("tenant {tenant} was not found: check the tenant id or domain")
        }
        (_, Some(65_001)) | ("consent_required", _) => format!(
            "app {app} has no consent: an admin must grant it (Entra admin center → App registrations → {app} → API permissions → Grant admin consent)"
        ),
        (_, Some(70_011)) | ("invalid_scope", _) => format!(
            "the identity platform refused the requested permissions for app {app}: check the app's API permissions"
        ),
        ("invalid_grant", _) | (_, Some(700_082 | 70_000 | 50_173)) => format!(
            "the stored sign-in has expired or was revoked: run `oneonone auth --account {account}` to sign in again"
        ),
        ("invalid_client", _) => format!(
            "app {app} refused its credentials: check the secret in {file} (and that it has not expired)"
        ),
        _ => format!(
            "the identity platform refused to sign in app {app} ({error}{}): check tenant, client_id and the client secret",
            code.map(|c| format!(", AADSTS{c}")).unwrap_or_default()
        ),
    }
}

/// The instruction when Graph refuses the app's token on every mailbox (no admin consent, or an
/// application access policy that leaves the pairs out).
pub fn consent_action(s: &MicrosoftSettings) -> String {
    let app = &s.client_id;
    match s.auth {
        AuthMode::ClientCredentials => format!(
            "Microsoft Graph refused app {app} access to the pairs' calendars: grant it the application permission Calendars.ReadWrite with admin consent (Entra admin center → App registrations → {app} → API permissions → Grant admin consent); if an application access policy restricts the app, add the pairs' mailboxes to its group"
        ),
        AuthMode::DeviceCode => format!(
            "Microsoft Graph refused the signed-in person's token: consent to Calendars.ReadWrite for app {app} and sign in again with `oneonone auth`"
        ),
    }
}

/// `oneonone auth --account NAME`: the device code flow (or, for client credentials, a check that
/// the app's credentials work). Prints what the person must do; returns what was stored.
pub async fn sign_in(
    account: &str,
    s: &MicrosoftSettings,
    state_dir: &std::path::Path,
) -> Result<String, AuthFailure> {
    let http = OAuthHttp::new().map_err(|e| AuthFailure::Unreachable {
        reason: e.without_url().to_string(),
    })?;
    let store = TokenStore::new(state_dir, account);
    if s.auth == AuthMode::ClientCredentials {
        let tokens = Tokens::new(account, s, http, store);
        tokens.bearer().await?;
        return Ok(format!(
            "account {account}: app {} signs in with its client secret (client credentials need no interactive sign-in)",
            s.client_id
        ));
    }
    let device_url =
        DeviceAuthorizationUrl::new(s.device_code_url()).map_err(|e| AuthFailure::Refused {
            action: format!("authority_url and tenant give no valid device-code URL ({e})"),
        })?;
    let mut client = client(s)?.set_device_authorization_url(device_url);
    if let Some(path) = &s.client_secret_file {
        let secret = crate::auth::read_secret_file(path).map_err(|e| AuthFailure::Refused {
            action: e.to_string(),
        })?;
        client = client.set_client_secret(ClientSecret::new(secret));
    }
    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scopes(DELEGATED_SCOPES.iter().map(|x| Scope::new((*x).into())))
        .request_async(&http)
        .await
        .map_err(|e| refused(&e, s, account))?;
    let minutes = details.expires_in().as_secs().div_ceil(60);
    println!(
        "To sign in account {account}, open {} in a browser and enter the code {} (valid for {minutes} minutes).",
        details.verification_uri().as_str(),
        details.user_code().secret()
    );
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let token = client
        .exchange_device_access_token(&details)
        .request_async(&http, tokio::time::sleep, None)
        .await
        .map_err(|e| device_refused(&e, s, account))?;
    let Some(rt) = token.refresh_token() else {
        return Err(AuthFailure::Refused {
            action: "the identity platform issued no refresh token (offline_access was not granted): check the app's delegated permissions".into(),
        });
    };
    store
        .save(rt.secret())
        .map_err(|e| AuthFailure::Unreachable {
            reason: e.to_string(),
        })?;
    Ok(format!(
        "account {account}: signed in; the refresh token is stored in {} (mode 0600)",
        store.path().display()
    ))
}

type DeviceError =
    RequestTokenError<oauth2::HttpClientError<reqwest::Error>, oauth2::DeviceCodeErrorResponse>;

fn device_refused(e: &DeviceError, s: &MicrosoftSettings, account: &str) -> AuthFailure {
    use oauth2::DeviceCodeErrorResponseType as T;
    let RequestTokenError::ServerResponse(r) = e else {
        return AuthFailure::Unreachable {
            reason: "the sign-in could not be completed (no answer from the identity platform)"
                .into(),
        };
    };
    let action = match r.error() {
        T::ExpiredToken => format!(
            "the code expired before the sign-in was completed: run `oneonone auth --account {account}` again"
        ),
        T::AccessDenied => "the sign-in was declined".to_string(),
        T::Basic(b) if b.to_string() == "authorization_declined" => {
            "the sign-in was declined (authorization_declined): run `oneonone auth` again and accept".to_string()
        }
        T::Basic(b) if b.to_string() == "bad_verification_code" => format!(
            "the identity platform did not recognise the device code: run `oneonone auth --account {account}` again"
        ),
        other => action_for(
            other.as_ref(),
            aadsts(r.error_description().map(String::as_str)),
            s,
            account,
        ),
    };
    AuthFailure::Refused { action }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> MicrosoftSettings {
        MicrosoftSettings {
            auth: AuthMode::ClientCredentials,
            tenant: "contoso.onmicrosoft.com".into(),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            client_secret_file: Some("/etc/oneonone/m365-secret".into()),
            api_base_url: MicrosoftSettings::DEFAULT_API_BASE_URL.into(),
            authority_url: MicrosoftSettings::DEFAULT_AUTHORITY_URL.into(),
            max_concurrent_requests: 4,
            requests_per_10min: 9000,
        }
    }

    #[test]
    fn refusals_say_what_to_do() {
        let s = settings();
        assert_eq!(
            aadsts(Some(
                "AADSTS7000222: The provided client secret keys are expired. Trace ID: x"
            )),
            Some(7_000_222)
        );
        let expired = action_for("invalid_client", Some(7_000_222), &s, "m365");
        assert!(expired.contains("has expired") && expired.contains("/etc/oneonone/m365-secret"));
        let wrong = action_for("invalid_client", Some(7_000_215), &s, "m365");
        assert!(wrong.contains("Value (not its Secret ID)"));
        let revoked = action_for("invalid_grant", Some(700_082), &s, "m365");
        assert!(revoked.contains("oneonone auth --account m365"));
        assert!(consent_action(&s).contains("Grant admin consent"));
    }
}
