//! Google's OAuth 2.0 endpoints: `POST /token` (jwt-bearer for service accounts with RS256
//! verification, authorization_code with S256 PKCE, refresh_token), `GET /o/oauth2/v2/auth` (no
//! browser: `login_hint=EMAIL` redirects straight back with a code), `POST /revoke`, and a device
//! endpoint that refuses calendar scopes as Google does.
//!
//! Invariants: access tokens live in `Ctx::tokens` (shared with Graph and the admin API); codes are
//! single-use; a revoked refresh token also revokes the access tokens minted from it. The JWT's
//! `iat`/`exp` are checked against the wall clock (clients sign with it), not the scenario's `now`.
use crate::common::{Ctx, LogEntry, write};
use aws_lc_rs::digest;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// A service account registered by a test.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceAccount {
    pub client_email: String,
    /// SPKI or PKCS#1 PEM of the account's public key.
    pub public_key_pem: String,
    /// If set, the JWT header's `kid` must equal it.
    #[serde(default)]
    pub private_key_id: Option<String>,
    /// Users it may impersonate (`sub`); empty = anyone (domain-wide delegation).
    #[serde(default)]
    pub subjects: Vec<String>,
}

/// A registered OAuth client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OAuthClient {
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
}

#[derive(Debug, Clone)]
struct AuthCode {
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
    method: String,
    user: String,
    scopes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
struct RefreshToken {
    user: String,
    client_id: String,
    scopes: Vec<String>,
    issued: DateTime<Utc>,
    revoked: bool,
    #[serde(skip)]
    access_tokens: Vec<String>,
}

/// OAuth state of the Google emulator.
#[derive(Debug, Default)]
pub struct AuthState {
    pub service_accounts: HashMap<String, ServiceAccount>,
    /// Registered clients; when empty, any client id is accepted.
    pub clients: HashMap<String, OAuthClient>,
    codes: HashMap<String, AuthCode>,
    refresh: HashMap<String, RefreshToken>,
}

impl AuthState {
    pub fn state_json(&self) -> Value {
        json!({
            "serviceAccounts": self.service_accounts.keys().collect::<Vec<_>>(),
            "clients": self.clients.keys().collect::<Vec<_>>(),
            "refreshTokens": self.refresh.values().collect::<Vec<_>>(),
        })
    }
}

/// The OAuth routes and their admin registration routes.
pub fn router() -> Router<Arc<Ctx>> {
    Router::new()
        .route("/token", post(token))
        .route("/o/oauth2/v2/auth", get(authorize))
        .route("/o/oauth2/auth", get(authorize))
        .route("/revoke", post(revoke))
        .route("/o/oauth2/revoke", post(revoke))
        .route("/device/code", post(device_code))
        .route("/_admin/google/service-account", post(register_sa))
        .route("/_admin/google/oauth-client", post(register_client))
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn log(ctx: &Ctx, method: &str, path: &str, status: u16, user: Option<String>) {
    ctx.log(LogEntry {
        seq: 0,
        api: "google",
        method: method.into(),
        path: path.into(),
        query: String::new(),
        status,
        if_match: false,
        send_updates: None,
        write: false,
        notifying: false,
        user,
    });
}

async fn register_sa(State(ctx): State<Arc<Ctx>>, Json(sa): Json<ServiceAccount>) -> Response {
    if let Err(e) = jsonwebtoken::DecodingKey::from_rsa_pem(sa.public_key_pem.as_bytes()) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("public_key_pem: {e}")})),
        )
            .into_response();
    }
    write(&ctx.google)
        .auth
        .service_accounts
        .insert(sa.client_email.clone(), sa);
    Json(json!({"ok": true})).into_response()
}

async fn register_client(State(ctx): State<Arc<Ctx>>, Json(c): Json<OAuthClient>) -> Json<Value> {
    write(&ctx.google)
        .auth
        .clients
        .insert(c.client_id.clone(), c);
    Json(json!({"ok": true}))
}

fn client_ok(ctx: &Ctx, id: Option<&str>, secret: Option<&str>) -> bool {
    let g = ctx.google.read().unwrap_or_else(|e| e.into_inner());
    if g.auth.clients.is_empty() {
        return id.is_some();
    }
    match id.and_then(|id| g.auth.clients.get(id)) {
        Some(c) => match (&c.client_secret, secret) {
            (Some(want), Some(got)) => want == got,
            (Some(_), None) => true, // desktop clients: the secret is not confidential
            (None, _) => true,
        },
        None => false,
    }
}

/// `GET /o/oauth2/v2/auth`: with `login_hint`, consent is implied and the browser is redirected.
async fn authorize(
    State(ctx): State<Arc<Ctx>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str);
    let (Some(client_id), Some(redirect_uri)) = (get("client_id"), get("redirect_uri")) else {
        return (
            StatusCode::BAD_REQUEST,
            "Error 400: invalid_request (client_id and redirect_uri are required)",
        )
            .into_response();
    };
    if !client_ok(&ctx, Some(client_id), None) {
        return (
            StatusCode::UNAUTHORIZED,
            "Error 401: invalid_client. The OAuth client was not found.",
        )
            .into_response();
    }
    if get("response_type") != Some("code") {
        return (
            StatusCode::BAD_REQUEST,
            "Error 400: invalid_request (response_type must be code)",
        )
            .into_response();
    }
    let Some(user) = get("login_hint") else {
        return (
            StatusCode::BAD_REQUEST,
            "oneonone-emulator: add login_hint=EMAIL to sign in without a browser",
        )
            .into_response();
    };
    let method = get("code_challenge_method").unwrap_or("plain").to_string();
    if get("code_challenge").is_some() && method != "S256" && method != "plain" {
        return (
            StatusCode::BAD_REQUEST,
            "Error 400: invalid_request (code_challenge_method)",
        )
            .into_response();
    }
    let scopes: Vec<String> = get("scope")
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let code = format!("4/0emu-{}", ctx.random_id(40));
    write(&ctx.google).auth.codes.insert(
        code.clone(),
        AuthCode {
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            challenge: get("code_challenge").map(str::to_string),
            method,
            user: user.to_ascii_lowercase(),
            scopes: scopes.clone(),
        },
    );
    let mut url = format!(
        "{redirect_uri}{}code={}&scope={}",
        if redirect_uri.contains('?') { "&" } else { "?" },
        enc(&code),
        enc(&scopes.join(" "))
    );
    if let Some(state) = get("state") {
        url.push_str(&format!("&state={}", enc(state)));
    }
    log(
        &ctx,
        "GET",
        "/o/oauth2/v2/auth",
        302,
        Some(user.to_string()),
    );
    Redirect::to(&url).into_response()
}

/// Percent-encode a query value.
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn token_ok(access: &str, scopes: &[String], refresh: Option<&str>) -> Response {
    let mut v = json!({"access_token": access, "expires_in": 3599, "token_type": "Bearer", "scope": scopes.join(" ")});
    if let (Some(r), Some(o)) = (refresh, v.as_object_mut()) {
        o.insert("refresh_token".into(), json!(r));
    }
    let mut resp = Json(v).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    resp
}

/// `POST /token`.
async fn token(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let _ = headers;
    let get = |k: &str| form.get(k).map(String::as_str);
    let (resp, user) = match get("grant_type") {
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => jwt_bearer(&ctx, get("assertion")),
        Some("authorization_code") => auth_code(&ctx, &form),
        Some("refresh_token") => refresh(&ctx, &form),
        Some("urn:ietf:params:oauth:grant-type:device_code") => (
            oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Malformed device code.",
            ),
            None,
        ),
        Some(other) => (
            oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("Invalid grant_type: {other}"),
            ),
            None,
        ),
        None => (
            oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: grant_type",
            ),
            None,
        ),
    };
    log(&ctx, "POST", "/token", resp.status().as_u16(), user);
    resp
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Value>,
    scope: Option<String>,
    iat: Option<i64>,
    exp: Option<i64>,
}

fn jwt_bearer(ctx: &Ctx, assertion: Option<&str>) -> (Response, Option<String>) {
    let bad = |d: &str| {
        (
            oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", d),
            None,
        )
    };
    let Some(jwt) = assertion else {
        return (
            oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: assertion",
            ),
            None,
        );
    };
    let Ok(header) = jsonwebtoken::decode_header(jwt) else {
        return bad("Invalid JWT: malformed header.");
    };
    if header.alg != jsonwebtoken::Algorithm::RS256 {
        return bad("Invalid JWT Signature.");
    }
    let Ok(unverified) = jsonwebtoken::dangerous::insecure_decode::<Claims>(jwt) else {
        return bad("Invalid JWT: malformed claims.");
    };
    let Some(iss) = unverified.claims.iss.clone() else {
        return bad("Invalid JWT: no iss claim.");
    };
    let sa = ctx
        .google
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .auth
        .service_accounts
        .get(&iss)
        .cloned();
    let Some(sa) = sa else {
        return bad("Invalid grant: account not found");
    };
    if let (Some(want), Some(got)) = (&sa.private_key_id, &header.kid)
        && want != got
    {
        return bad("Invalid JWT Signature.");
    }
    let Ok(key) = jsonwebtoken::DecodingKey::from_rsa_pem(sa.public_key_pem.as_bytes()) else {
        return bad("Invalid JWT Signature.");
    };
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_exp = false;
    v.validate_aud = false;
    v.validate_nbf = false;
    v.required_spec_claims.clear();
    let claims = match jsonwebtoken::decode::<Claims>(jwt, &key, &v) {
        Ok(d) => d.claims,
        Err(_) => return bad("Invalid JWT Signature."),
    };
    let token_url = format!("{}/token", ctx.base_url());
    let aud_ok = match &claims.aud {
        Some(Value::String(a)) => a == "https://oauth2.googleapis.com/token" || *a == token_url,
        Some(Value::Array(l)) => l.iter().any(|a| {
            a.as_str()
                .is_some_and(|a| a == "https://oauth2.googleapis.com/token" || a == token_url)
        }),
        _ => false,
    };
    if !aud_ok {
        return bad("Invalid JWT: Failed audience check.");
    }
    #[allow(clippy::disallowed_methods)]
    let wall = Utc::now().timestamp();
    let timeframe = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.";
    let (Some(iat), Some(exp)) = (claims.iat, claims.exp) else {
        return bad(timeframe);
    };
    if exp - iat > 3600 || exp <= iat || iat > wall + 300 || exp < wall - 300 {
        return bad(timeframe);
    }
    let user = claims
        .sub
        .clone()
        .unwrap_or_else(|| iss.clone())
        .to_ascii_lowercase();
    if claims.sub.is_some()
        && !sa.subjects.is_empty()
        && !sa.subjects.iter().any(|s| s.eq_ignore_ascii_case(&user))
    {
        return (
            oauth_error(
                StatusCode::UNAUTHORIZED,
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
            ),
            None,
        );
    }
    let scopes: Vec<String> = claims
        .scope
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let access = ctx.issue_token(&user, false, scopes.clone());
    let mut resp = json!({"access_token": access, "expires_in": 3599, "token_type": "Bearer"});
    if let Some(o) = resp.as_object_mut() {
        o.insert("scope".into(), json!(scopes.join(" ")));
    }
    (Json(resp).into_response(), Some(user))
}

fn s256(verifier: &str) -> String {
    let d = digest::digest(&digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d.as_ref())
}

fn auth_code(ctx: &Ctx, form: &HashMap<String, String>) -> (Response, Option<String>) {
    let get = |k: &str| form.get(k).map(String::as_str);
    if !client_ok(ctx, get("client_id"), get("client_secret")) {
        return (
            oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "The OAuth client was not found.",
            ),
            None,
        );
    }
    let Some(code) = get("code") else {
        return (
            oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: code",
            ),
            None,
        );
    };
    // Codes are single-use: take it out whatever happens next.
    let entry = write(&ctx.google).auth.codes.remove(code);
    let Some(c) = entry else {
        return (
            oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Malformed auth code.",
            ),
            None,
        );
    };
    if get("client_id") != Some(c.client_id.as_str())
        || get("redirect_uri") != Some(c.redirect_uri.as_str())
    {
        return (
            oauth_error(
                StatusCode::BAD_REQUEST,
                "redirect_uri_mismatch",
                "Bad Request",
            ),
            None,
        );
    }
    if let Some(challenge) = &c.challenge {
        let Some(verifier) = get("code_verifier") else {
            return (
                oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Missing code verifier.",
                ),
                None,
            );
        };
        let computed = if c.method == "S256" {
            s256(verifier)
        } else {
            verifier.to_string()
        };
        if &computed != challenge {
            return (
                oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Invalid code verifier.",
                ),
                None,
            );
        }
    }
    let access = ctx.issue_token(&c.user, false, c.scopes.clone());
    let refresh = format!("1//0emu-{}", ctx.random_id(48));
    write(&ctx.google).auth.refresh.insert(
        refresh.clone(),
        RefreshToken {
            user: c.user.clone(),
            client_id: c.client_id.clone(),
            scopes: c.scopes.clone(),
            issued: ctx.now(),
            revoked: false,
            access_tokens: vec![access.clone()],
        },
    );
    (token_ok(&access, &c.scopes, Some(&refresh)), Some(c.user))
}

fn refresh(ctx: &Ctx, form: &HashMap<String, String>) -> (Response, Option<String>) {
    let get = |k: &str| form.get(k).map(String::as_str);
    if !client_ok(ctx, get("client_id"), get("client_secret")) {
        return (
            oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "The OAuth client was not found.",
            ),
            None,
        );
    }
    let Some(rt) = get("refresh_token") else {
        return (
            oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: refresh_token",
            ),
            None,
        );
    };
    let now = ctx.now();
    let (user, scopes) = {
        let mut g = write(&ctx.google);
        let ttl = g.quirks.refresh_token_ttl_secs;
        let Some(r) = g.auth.refresh.get_mut(rt) else {
            return (
                oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Token has been expired or revoked.",
                ),
                None,
            );
        };
        let expired = ttl.is_some_and(|t| {
            Duration::try_seconds(t)
                .and_then(|d| r.issued.checked_add_signed(d))
                .is_some_and(|deadline| now >= deadline)
        });
        if r.revoked || expired || get("client_id") != Some(r.client_id.as_str()) {
            return (
                oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Token has been expired or revoked.",
                ),
                None,
            );
        }
        (r.user.clone(), r.scopes.clone())
    };
    let access = ctx.issue_token(&user, false, scopes.clone());
    if let Some(r) = write(&ctx.google).auth.refresh.get_mut(rt) {
        r.access_tokens.push(access.clone());
    }
    (token_ok(&access, &scopes, None), Some(user))
}

/// `POST /revoke` (`token` as a query or form parameter): a refresh token or an access token.
async fn revoke(
    State(ctx): State<Arc<Ctx>>,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let form: HashMap<String, String> = serde_urlencoded_pairs(&body);
    let Some(tok) = q.get("token").or_else(|| form.get("token")).cloned() else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: token",
        );
    };
    let mut found = false;
    let mut to_drop = Vec::new();
    {
        let mut g = write(&ctx.google);
        if let Some(r) = g.auth.refresh.get_mut(&tok) {
            r.revoked = true;
            to_drop.append(&mut r.access_tokens);
            found = true;
        }
    }
    {
        let mut t = write(&ctx.tokens);
        if t.remove(&tok).is_some() {
            found = true;
        }
        for a in to_drop {
            t.remove(&a);
        }
    }
    let status = if found { 200 } else { 400 };
    log(&ctx, "POST", "/revoke", status, None);
    if found {
        Json(json!({})).into_response()
    } else {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "Token expired or revoked",
        )
    }
}

fn serde_urlencoded_pairs(body: &[u8]) -> HashMap<String, String> {
    let s = String::from_utf8_lossy(body);
    let uri = format!("/?{s}");
    uri.parse::<axum::http::Uri>()
        .ok()
        .and_then(|u| Query::<HashMap<String, String>>::try_from_uri(&u).ok())
        .map(|q| q.0)
        .unwrap_or_default()
}

/// `POST /device/code`: Google refuses the device flow for calendar scopes.
async fn device_code(Form(form): Form<HashMap<String, String>>) -> Response {
    const ALLOWED: &[&str] = &[
        "email",
        "openid",
        "profile",
        "https://www.googleapis.com/auth/drive.appdata",
        "https://www.googleapis.com/auth/drive.file",
        "https://www.googleapis.com/auth/youtube",
        "https://www.googleapis.com/auth/youtube.readonly",
        "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/userinfo.profile",
    ];
    let scope = form.get("scope").cloned().unwrap_or_default();
    for s in scope.split_whitespace() {
        if !ALLOWED.contains(&s) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                &format!("Invalid device flow scope: {s}"),
            );
        }
    }
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "oneonone-emulator: the device flow is only emulated for its refusal",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_example() {
        // RFC 7636 appendix B.
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
