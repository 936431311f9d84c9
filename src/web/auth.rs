//! Who is asking, and may they: the request facts handlers need ([`Req`]), signed cookies and
//! sessions ([`Viewer`]), CSRF tokens, the per-pair access decision ([`authorize`]), and OpenID
//! Connect sign-in ([`SignIn`]: discovery, authorization code flow with PKCE and nonce, ID token
//! verification by `openidconnect`, over our one reqwest through `auth::OAuthHttp`).
//!
//! Invariants:
//! - A pair's pages answer only the pair: a signed-in person whose verified email is neither the
//!   manager's nor the report's is refused (403), whatever link they hold. With
//!   `require_sign_in`, the capability link alone gets a redirect to sign-in.
//! - Session cookies are `HttpOnly`, `SameSite=Lax`, `Secure` when `public_url` is https, carry
//!   an expiry, and are signed (HMAC-SHA256 with the store's web key); the session itself (email,
//!   expiry) lives in the store, so signing out or expiry ends it server-side.
//! - Every write carries a CSRF token bound to the session (or, without one, to the pair) and is
//!   refused when the browser says it comes from another site (`Sec-Fetch-Site: cross-site`).
//! - No secret (client secret, authorization code, tokens, session ids) is logged or shown.
use super::limit::client_ip;
use super::{WebError, WebState};
use crate::config::SignInSettings;
use crate::store::WebSession;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

type HmacSha256 = Hmac<Sha256>;

pub(super) const SESSION_COOKIE: &str = "oneonone_session";
pub(super) const LOGIN_COOKIE: &str = "oneonone_login";
/// The "pair" the sign-out form's CSRF token is bound to.
pub(super) const SIGNOUT: &str = "\0signout";
/// How long a started sign-in may take.
const LOGIN_MINUTES: i64 = 10;
/// The most sign-ins in progress at once (older ones are dropped first).
const MAX_PENDING: usize = 1000;

// ---- signing ----------------------------------------------------------------------------------

fn mac(key: &[u8], purpose: &str, value: &str) -> HmacSha256 {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut m = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable_mac(),
    };
    m.update(purpose.as_bytes());
    m.update(&[0]);
    m.update(value.as_bytes());
    m
}

#[cold]
fn unreachable_mac() -> HmacSha256 {
    // Only reachable if the hmac crate changed its contract; a fixed key still signs consistently.
    match HmacSha256::new_from_slice(&[0u8; 32]) {
        Ok(m) => m,
        Err(_) => std::process::abort(),
    }
}

/// Hex HMAC of `value` for `purpose`.
pub(super) fn sign(key: &[u8], purpose: &str, value: &str) -> String {
    hex(&mac(key, purpose, value).finalize().into_bytes())
}

/// Does `sig` (hex) sign `value` for `purpose`? Constant-time.
pub(super) fn verify(key: &[u8], purpose: &str, value: &str, sig: &str) -> bool {
    let Some(bytes) = unhex(sig) else {
        return false;
    };
    mac(key, purpose, value).verify_slice(&bytes).is_ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 128 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

// ---- the request ------------------------------------------------------------------------------

/// What handlers need to know about a request besides its path parameters and body.
#[derive(Debug, Clone)]
pub(super) struct Req {
    pub ip: IpAddr,
    /// Path and query, as requested (for "sign in, then come back here").
    pub path: String,
    pub cookies: Vec<(String, String)>,
    /// `Sec-Fetch-Site`, when the browser sent it.
    pub fetch_site: Option<String>,
    /// `X-CSRF-Token` (the JSON API and the page's script send it).
    pub csrf_header: Option<String>,
}

impl Req {
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Req {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Req, Self::Rejection> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded = header("x-forwarded-for");
        let cookies = parts
            .headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        Ok(Req {
            ip: client_ip(peer, forwarded.as_deref()),
            path: parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string()),
            cookies,
            fetch_site: header("sec-fetch-site"),
            csrf_header: header("x-csrf-token"),
        })
    }
}

// ---- sessions ---------------------------------------------------------------------------------

/// The signed-in person behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Viewer {
    pub session_id: String,
    pub email: String,
}

/// The session cookie's value for a session id.
pub(super) fn session_cookie_value(key: &[u8], id: &str) -> String {
    format!("{id}.{}", sign(key, "session", id))
}

/// The signed-in viewer, when sign-in is configured and the request has a valid, unexpired
/// session.
pub(super) fn viewer(st: &WebState, req: &Req) -> Result<Option<Viewer>, WebError> {
    if st.sign_in.is_none() {
        return Ok(None);
    }
    let Some((id, sig)) = req.cookie(SESSION_COOKIE).and_then(|v| v.split_once('.')) else {
        return Ok(None);
    };
    if !verify(&st.key()?, "session", id, sig) {
        return Ok(None);
    }
    let Some(session) = st.store.session(id)? else {
        return Ok(None);
    };
    if session.expires_at <= (st.now)() {
        return Ok(None);
    }
    Ok(Some(Viewer {
        session_id: id.to_string(),
        email: session.email,
    }))
}

/// A `Set-Cookie` value.
pub(super) fn set_cookie(st: &WebState, name: &str, value: &str, max_age_secs: i64) -> String {
    let path = if st.base().is_empty() {
        "/".to_string()
    } else {
        st.base()
    };
    let secure = if st.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path={path}; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}")
}

// ---- access -----------------------------------------------------------------------------------

/// How a request may use a pair's pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Who {
    /// Holds the capability link; not signed in.
    Link,
    /// Signed in as one of the pair (the email).
    Member(String),
}

impl Who {
    pub fn email(&self) -> Option<&str> {
        match self {
            Who::Link => None,
            Who::Member(e) => Some(e),
        }
    }

    /// Who is recorded as the author: the signed-in email, else the name typed (if any).
    pub fn author(&self, typed: Option<String>) -> Option<String> {
        match self {
            Who::Member(e) => Some(e.clone()),
            Who::Link => typed,
        }
    }
}

/// May this request use the pages of `pair_id` (whose people are `manager` and `report`)?
pub(super) fn authorize(
    st: &WebState,
    req: &Req,
    manager: &str,
    report: &str,
) -> Result<(Who, Option<Viewer>), WebError> {
    let v = viewer(st, req)?;
    match &v {
        Some(viewer) if viewer.email == manager || viewer.email == report => {
            Ok((Who::Member(viewer.email.clone()), v))
        }
        Some(viewer) => {
            st.misses.record(req.ip, (st.now)());
            Err(WebError::Forbidden {
                email: viewer.email.clone(),
                signout_csrf: csrf_token(st, Some(viewer), SIGNOUT)?,
            })
        }
        None if st.require_sign_in() => Err(WebError::SignInRequired {
            next: req.path.clone(),
        }),
        None => Ok((Who::Link, None)),
    }
}

/// The CSRF token of forms about `pair_id`: bound to the session when there is one.
pub(super) fn csrf_token(
    st: &WebState,
    viewer: Option<&Viewer>,
    pair_id: &str,
) -> Result<String, WebError> {
    let session = viewer.map_or("-", |v| v.session_id.as_str());
    Ok(sign(&st.key()?, "csrf", &format!("{session}\0{pair_id}")))
}

/// Refuse a write without the right CSRF token, or one the browser says came from another site.
pub(super) fn check_csrf(
    st: &WebState,
    req: &Req,
    viewer: Option<&Viewer>,
    pair_id: &str,
    form_token: Option<&str>,
) -> Result<(), WebError> {
    if req.fetch_site.as_deref() == Some("cross-site") {
        return Err(WebError::Csrf);
    }
    let given = form_token.or(req.csrf_header.as_deref()).unwrap_or("");
    let session = viewer.map_or("-", |v| v.session_id.as_str());
    if verify(&st.key()?, "csrf", &format!("{session}\0{pair_id}"), given) {
        Ok(())
    } else {
        Err(WebError::Csrf)
    }
}

/// A `next` target after sign-in: only this server's agenda pages (no open redirect).
pub(super) fn safe_next(base: &str, next: &str) -> Option<String> {
    let rest = next.strip_prefix(base)?;
    let ok_start = rest.starts_with("/p/") || rest.starts_with("/a/");
    let ok_chars = rest
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/-_.#?=&".contains(&b));
    (ok_start && ok_chars && !rest.contains("//") && rest.len() < 300).then(|| next.to_string())
}

// ---- OpenID Connect ---------------------------------------------------------------------------

/// A sign-in in progress.
struct Pending {
    pkce_verifier: String,
    nonce: String,
    next: String,
    started: DateTime<Utc>,
}

/// OpenID Connect sign-in: the configuration, the provider's metadata (discovered on first use
/// and kept), and the sign-ins in progress.
pub struct SignIn {
    pub settings: SignInSettings,
    secret: String,
    redirect_url: String,
    http: crate::auth::OAuthHttp,
    metadata: tokio::sync::Mutex<Option<openidconnect::core::CoreProviderMetadata>>,
    pending: Mutex<HashMap<String, Pending>>,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("issuer_url", &self.settings.issuer_url)
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

impl SignIn {
    /// Read the client secret and prepare. The redirect URI is `{public_url}/auth/callback`.
    pub fn new(settings: &SignInSettings, public_url: &str) -> Result<SignIn, String> {
        let secret = crate::auth::read_secret_file(&settings.client_secret_file)
            .map_err(|e| e.to_string())?;
        let http = crate::auth::OAuthHttp::new()
            .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))?;
        Ok(SignIn {
            settings: settings.clone(),
            secret,
            redirect_url: format!("{}/auth/callback", public_url.trim_end_matches('/')),
            http,
            metadata: tokio::sync::Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
        })
    }

    /// The provider's metadata (discovery document and keys), fetched once.
    async fn metadata(&self) -> Result<openidconnect::core::CoreProviderMetadata, String> {
        let mut cached = self.metadata.lock().await;
        if let Some(m) = cached.as_ref() {
            return Ok(m.clone());
        }
        let issuer = openidconnect::IssuerUrl::new(self.settings.issuer_url.clone())
            .map_err(|e| format!("invalid issuer URL: {e}"))?;
        let m = openidconnect::core::CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| {
                format!(
                    "discovery at {} failed: {}",
                    self.settings.issuer_url,
                    chain(&e)
                )
            })?;
        *cached = Some(m.clone());
        Ok(m)
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start a sign-in: the provider's authorization URL and the state that names it.
    pub(super) async fn start(
        &self,
        next: String,
        now: DateTime<Utc>,
    ) -> Result<(String, String), String> {
        use openidconnect::core::{CoreAuthenticationFlow, CoreClient};
        use openidconnect::{
            ClientId, ClientSecret, CsrfToken, Nonce, PkceCodeChallenge, RedirectUrl, Scope,
        };
        let metadata = self.metadata().await?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.secret.clone())),
        )
        .set_redirect_uri(RedirectUrl::new(self.redirect_url.clone()).map_err(|e| e.to_string())?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge)
            .url();
        let mut pending = self.pending();
        pending.retain(|_, p| now - p.started < chrono::Duration::minutes(LOGIN_MINUTES));
        if pending.len() >= MAX_PENDING
            && let Some(oldest) = pending
                .iter()
                .min_by_key(|(_, p)| p.started)
                .map(|(k, _)| k.clone())
        {
            pending.remove(&oldest);
        }
        pending.insert(
            state.secret().clone(),
            Pending {
                pkce_verifier: verifier.secret().clone(),
                nonce: nonce.secret().clone(),
                next,
                started: now,
            },
        );
        Ok((url.to_string(), state.secret().clone()))
    }

    /// Finish a sign-in: exchange the code, verify the ID token, and return the verified email
    /// (lower-case) and where to go next.
    pub(super) async fn finish(
        &self,
        state: &str,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, String), String> {
        use openidconnect::core::CoreClient;
        use openidconnect::{
            AuthorizationCode, ClientId, ClientSecret, Nonce, OAuth2TokenResponse,
            PkceCodeVerifier, RedirectUrl, TokenResponse,
        };
        let pending = self
            .pending()
            .remove(state)
            .filter(|p| now - p.started < chrono::Duration::minutes(LOGIN_MINUTES))
            .ok_or("this sign-in expired or was started elsewhere")?;
        let metadata = self.metadata().await?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.secret.clone())),
        )
        .set_redirect_uri(RedirectUrl::new(self.redirect_url.clone()).map_err(|e| e.to_string())?);
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| format!("the provider has no token endpoint: {e}"))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| format!("the code exchange failed: {}", chain(&e)))?;
        let id_token = token
            .id_token()
            .ok_or("the provider returned no ID token")?;
        let claims = id_token
            .claims(&client.id_token_verifier(), &Nonce::new(pending.nonce))
            .map_err(|e| format!("the ID token did not verify: {}", chain(&e)))?;
        let (mut email, mut verified) = (
            claims.email().map(|e| e.as_str().to_string()),
            claims.email_verified(),
        );
        if email.is_none() {
            // Some providers put the email only in the userinfo response.
            let info: openidconnect::core::CoreUserInfoClaims = client
                .user_info(token.access_token().clone(), Some(claims.subject().clone()))
                .map_err(|e| {
                    format!("the ID token has no email and there is no userinfo endpoint: {e}")
                })?
                .request_async(&self.http)
                .await
                .map_err(|e| format!("the userinfo request failed: {}", chain(&e)))?;
            email = info.email().map(|e| e.as_str().to_string());
            verified = info.email_verified();
        }
        let email = email
            .map(|e| e.trim().to_lowercase())
            .filter(|e| e.contains('@'))
            .ok_or(
                "the provider did not say which email address signed in (request the email scope)",
            )?;
        if verified != Some(true) && !self.settings.allow_unverified_email {
            return Err(format!(
                "the provider does not say that {email} is verified (email_verified); set \
                 web.sign_in.allow_unverified_email = true only if it verifies every address"
            ));
        }
        Ok((email, pending.next))
    }

    /// A new session for `email`, stored; its id.
    pub(super) fn new_session(
        &self,
        st: &WebState,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, i64), WebError> {
        let id = crate::store::random_hex(32)?;
        st.store.put_session(
            &id,
            &WebSession {
                email: email.to_string(),
                created_at: now,
                expires_at: now + self.settings.session_lifetime,
            },
        )?;
        st.store.prune_sessions(now)?;
        st.store.flush()?;
        Ok((id, self.settings.session_lifetime.num_seconds()))
    }
}

/// An error and its sources, one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let more = inner.to_string();
        if !s.contains(&more) {
            s.push_str(": ");
            s.push_str(&more);
        }
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_purpose_and_value() {
        let key = [7u8; 32];
        let sig = sign(&key, "session", "abc");
        assert!(verify(&key, "session", "abc", &sig));
        assert!(!verify(&key, "csrf", "abc", &sig));
        assert!(!verify(&key, "session", "abd", &sig));
        assert!(!verify(&[8u8; 32], "session", "abc", &sig));
        assert!(!verify(&key, "session", "abc", "zz"));
        assert!(!verify(&key, "session", "abc", ""));
    }

    #[test]
    fn next_is_only_ever_a_local_agenda_page() {
        assert_eq!(safe_next("", "/p/abc").as_deref(), Some("/p/abc"));
        assert_eq!(
            safe_next("/x", "/x/a/abc#items").as_deref(),
            Some("/x/a/abc#items")
        );
        for bad in [
            "https://evil.example/p/x",
            "//evil.example/p/x",
            "/p//evil",
            "/static/x",
            "/p/<x>",
        ] {
            assert_eq!(safe_next("", bad), None, "{bad}");
        }
    }
}
