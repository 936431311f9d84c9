//! The Microsoft identity platform endpoints `/{tenant}/oauth2/v2.0/{token,devicecode,authorize}`:
//! client credentials (app-only tokens, `…/.default` only, no refresh token), device code (pending,
//! slow_down, declined, expired, approved via `/_admin/graph/device/approve`), authorization code
//! with PKCE (S256), and refresh tokens that rotate on every use. Errors are AADSTS-shaped.
//!
//! Invariants: access tokens are issued through `Ctx::issue_token` (so the Graph endpoints accept
//! them); a refresh token is single-use unless the `refresh_reuse` knob is `allow`; device-code
//! polling speed is measured in real time, lifetimes in emulator time.
use super::uuid;
use crate::common::{Ctx, write};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// A registered application.
#[derive(Debug, Clone, Default)]
pub struct App {
    /// `None` for a public client (device code / auth code without a secret).
    pub secret: Option<String>,
    /// The secret has expired: client credentials get `invalid_client` AADSTS7000222.
    pub secret_expired: bool,
    /// An admin consented to its application permissions. Without consent its app-only tokens
    /// are issued but Graph refuses them: 403 `ErrorAccessDenied` on every mailbox.
    pub consented: bool,
    /// An application access policy: app-only tokens reach only these mailboxes (lower-case);
    /// others give 403 `ErrorAccessDenied`. `None`: every mailbox.
    pub access_policy: Option<Vec<String>>,
}

impl App {
    /// `{"client_id", "client_secret"?, "secret_expired"?, "consent"? (default true),
    /// "access_policy"? [addresses]}` → (client id, app).
    pub fn from_json(v: &Value) -> Result<(String, App), String> {
        let id = v
            .get("client_id")
            .and_then(Value::as_str)
            .ok_or("client_id: required")?;
        let access_policy = match v.get("access_policy") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => Some(
                a.iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_ascii_lowercase)
                            .ok_or("access_policy: expected addresses")
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Some(_) => return Err("access_policy: expected an array of addresses".into()),
        };
        Ok((
            id.to_string(),
            App {
                secret: v
                    .get("client_secret")
                    .and_then(Value::as_str)
                    .map(String::from),
                secret_expired: v
                    .get("secret_expired")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                consented: v.get("consent").and_then(Value::as_bool).unwrap_or(true),
                access_policy,
            },
        ))
    }

    /// Why Graph refuses this app's app-only token for `mailbox`, if it does.
    pub fn refuses(&self, mailbox: &str) -> Option<&'static str> {
        if !self.consented {
            return Some("Access is denied. Check credentials and try again.");
        }
        match &self.access_policy {
            Some(allowed) if !allowed.iter().any(|a| a.eq_ignore_ascii_case(mailbox)) => Some(
                "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.",
            ),
            _ => None,
        }
    }
}

/// State of one device-code sign-in.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceStatus {
    Pending,
    Approved(String),
    Declined,
    Redeemed,
}

/// One device-code flow.
#[derive(Debug, Clone)]
pub struct DeviceFlow {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub user_code: String,
    pub expires_at: DateTime<Utc>,
    pub status: DeviceStatus,
    pub last_poll: Option<Instant>,
    pub interval_secs: u64,
}

/// A refresh token's grant.
#[derive(Debug, Clone)]
pub struct RefreshGrant {
    pub user: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub used: bool,
}

/// An authorization code awaiting redemption.
#[derive(Debug, Clone)]
pub struct AuthCode {
    pub user: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub redirect_uri: String,
    pub challenge: Option<String>,
    pub method: String,
}

/// Apps, device flows, refresh tokens and codes.
#[derive(Debug, Default)]
pub struct IdentityState {
    pub apps: HashMap<String, App>,
    /// device_code → flow.
    pub devices: HashMap<String, DeviceFlow>,
    pub refresh: HashMap<String, RefreshGrant>,
    pub codes: HashMap<String, AuthCode>,
}

const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";

/// An AADSTS-shaped OAuth error.
pub fn aad_error(ctx: &Ctx, status: StatusCode, error: &str, code: u32, text: &str) -> Response {
    let trace = uuid(ctx);
    let corr = uuid(ctx);
    let ts = ctx.now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {corr} Timestamp: {ts}"),
        "error_codes": [code],
        "timestamp": ts,
        "trace_id": trace,
        "correlation_id": corr,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    let mut r = (status, Json(body)).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    r
}

fn scopes_of(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn tenant_ok(t: &str) -> bool {
    !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
}

fn token_response(ctx: &Ctx, user: &str, client_id: &str, scopes: &[String]) -> Value {
    let access = ctx.issue_token(user, false, scopes.to_vec());
    let mut body = json!({
        "token_type": "Bearer",
        "scope": scopes.iter().filter(|s| *s != "offline_access" && *s != "openid" && *s != "profile").cloned().collect::<Vec<_>>().join(" "),
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": access,
    });
    if scopes.iter().any(|s| s == "offline_access") {
        let rt = format!("0.emu-rt-{}", ctx.random_id(48));
        write(&ctx.graph).identity.refresh.insert(
            rt.clone(),
            RefreshGrant {
                user: user.to_string(),
                client_id: client_id.to_string(),
                scopes: scopes.to_vec(),
                used: false,
            },
        );
        body["refresh_token"] = json!(rt);
    }
    body
}

#[allow(clippy::result_large_err)]
fn client_ok(
    ctx: &Ctx,
    f: &HashMap<String, String>,
    client_id: &str,
    confidential: bool,
) -> Result<(), Response> {
    let app = ctx
        .graph
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .identity
        .apps
        .get(client_id)
        .cloned();
    let Some(app) = app else {
        return Err(aad_error(
            ctx,
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory 'emulator'."
            ),
        ));
    };
    let assertion = f.get("client_assertion").is_some_and(|a| !a.is_empty())
        && f.get("client_assertion_type").map(String::as_str)
            == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    match (&app.secret, f.get("client_secret")) {
        (Some(s), Some(given)) if s == given && app.secret_expired => Err(aad_error(
            ctx,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000222,
            &format!(
                "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
            ),
        )),
        (Some(s), Some(given)) if s == given => Ok(()),
        (_, None) if assertion => Ok(()),
        (Some(_), Some(_)) => Err(aad_error(
            ctx,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided.",
        )),
        (Some(_), None) if confidential => Err(aad_error(
            ctx,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )),
        _ => Ok(()),
    }
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub async fn token(
    State(ctx): State<Arc<Ctx>>,
    axum::extract::Path(tenant): axum::extract::Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !tenant_ok(&tenant) {
        return aad_error(
            &ctx,
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    let client_id = f.get("client_id").cloned().unwrap_or_default();
    let grant = f.get("grant_type").cloned().unwrap_or_default();
    let bad_req = |code: u32, text: &str| {
        aad_error(&ctx, StatusCode::BAD_REQUEST, "invalid_request", code, text)
    };
    if client_id.is_empty() {
        return bad_req(
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    }
    match grant.as_str() {
        "client_credentials" => {
            if let Err(r) = client_ok(&ctx, &f, &client_id, true) {
                return r;
            }
            let scope = f.get("scope").cloned().unwrap_or_default();
            if scope != GRAPH_DEFAULT {
                return aad_error(
                    &ctx,
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    70011,
                    &format!(
                        "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
                    ),
                );
            }
            let access = ctx.issue_token(&client_id, true, vec![GRAPH_DEFAULT.to_string()]);
            Json(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": access})).into_response()
        }
        "urn:ietf:params:oauth:grant-type:device_code" => device_poll(&ctx, &f, &client_id),
        "refresh_token" => {
            let rt = f.get("refresh_token").cloned().unwrap_or_default();
            let now_reuse = ctx
                .graph
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .knobs
                .refresh_reuse
                .clone();
            let grant = {
                let mut st = write(&ctx.graph);
                match st.identity.refresh.get_mut(&rt) {
                    Some(g) if g.client_id == client_id && (!g.used || now_reuse == "allow") => {
                        g.used = true;
                        Some(g.clone())
                    }
                    _ => None,
                }
            };
            let Some(g) = grant else {
                return aad_error(
                    &ctx,
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    70000,
                    "Provided grant is invalid or malformed.",
                );
            };
            let scopes = match f.get("scope") {
                Some(s) if !s.is_empty() => {
                    let mut s = scopes_of(s);
                    if !s.iter().any(|x| x == "offline_access") {
                        s.push("offline_access".into());
                    }
                    s
                }
                _ => g.scopes.clone(),
            };
            Json(token_response(&ctx, &g.user, &client_id, &scopes)).into_response()
        }
        "authorization_code" => {
            let code = f.get("code").cloned().unwrap_or_default();
            let Some(c) = write(&ctx.graph).identity.codes.remove(&code) else {
                return aad_error(
                    &ctx,
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    70000,
                    "The provided authorization code is invalid or was already redeemed.",
                );
            };
            if c.client_id != client_id || f.get("redirect_uri") != Some(&c.redirect_uri) {
                return aad_error(
                    &ctx,
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    70000,
                    "The redirect_uri or client_id does not match the authorization request.",
                );
            }
            if let Some(challenge) = &c.challenge {
                let verifier = f.get("code_verifier").cloned().unwrap_or_default();
                let ok = match c.method.as_str() {
                    "S256" => b64url(&sha256(verifier.as_bytes())) == *challenge,
                    _ => verifier == *challenge,
                };
                if !ok {
                    return aad_error(
                        &ctx,
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        501481,
                        "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
                    );
                }
            }
            Json(token_response(&ctx, &c.user, &client_id, &c.scopes)).into_response()
        }
        other => aad_error(
            &ctx,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{other}'."),
        ),
    }
}

fn device_poll(ctx: &Ctx, f: &HashMap<String, String>, client_id: &str) -> Response {
    let code = f.get("device_code").cloned().unwrap_or_default();
    let now = ctx.now();
    let outcome = {
        let mut st = write(&ctx.graph);
        let Some(flow) = st.identity.devices.get_mut(&code) else {
            drop(st);
            return aad_error(
                ctx,
                StatusCode::BAD_REQUEST,
                "bad_verification_code",
                70000,
                "The device code is unknown.",
            );
        };
        if flow.client_id != client_id {
            Err((
                "bad_verification_code",
                70000,
                "The device code was issued to another client.",
            ))
        } else if flow.status == DeviceStatus::Redeemed {
            Err((
                "invalid_grant",
                70000,
                "Provided grant is invalid or malformed: the device code was already redeemed.",
            ))
        } else if now >= flow.expires_at {
            Err((
                "expired_token",
                70020,
                "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
            ))
        } else {
            let too_fast = flow
                .last_poll
                .is_some_and(|t| t.elapsed().as_secs_f64() < flow.interval_secs as f64);
            flow.last_poll = Some(Instant::now());
            match (&flow.status, too_fast) {
                (DeviceStatus::Declined, _) => Err((
                    "authorization_declined",
                    70000,
                    "The user declined to sign in (authorization_declined).",
                )),
                (_, true) => Err((
                    "slow_down",
                    70016,
                    "OAuth 2.0 device flow error. Polling too fast; slow down.",
                )),
                (DeviceStatus::Pending, _) => Err((
                    "authorization_pending",
                    70016,
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                )),
                (DeviceStatus::Approved(user), _) => {
                    let user = user.clone();
                    flow.status = DeviceStatus::Redeemed;
                    Ok((user, flow.scopes.clone()))
                }
                (DeviceStatus::Redeemed, _) => Err((
                    "invalid_grant",
                    70000,
                    "Provided grant is invalid or malformed.",
                )),
            }
        }
    };
    match outcome {
        Ok((user, scopes)) => Json(token_response(ctx, &user, client_id, &scopes)).into_response(),
        Err((error, code, text)) => aad_error(ctx, StatusCode::BAD_REQUEST, error, code, text),
    }
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
pub async fn devicecode(
    State(ctx): State<Arc<Ctx>>,
    axum::extract::Path(tenant): axum::extract::Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !tenant_ok(&tenant) {
        return aad_error(
            &ctx,
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    let client_id = f.get("client_id").cloned().unwrap_or_default();
    if let Err(r) = client_ok(&ctx, &f, &client_id, false) {
        return r;
    }
    let scopes = scopes_of(f.get("scope").map(String::as_str).unwrap_or(""));
    if scopes.is_empty() {
        return aad_error(
            &ctx,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        );
    }
    let device_code = format!("DAQABAAEAAA-emu-{}", ctx.random_id(48));
    let user_code: String = ctx
        .random_id(9)
        .to_ascii_uppercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let uri = format!("{}/devicelogin", ctx.base_url());
    let (interval, expires) = {
        let mut st = write(&ctx.graph);
        let interval = st.knobs.device_interval_secs;
        let expires = st.knobs.device_expires_secs;
        st.identity.devices.insert(
            device_code.clone(),
            DeviceFlow {
                client_id,
                scopes,
                user_code: user_code.clone(),
                expires_at: ctx.now() + Duration::seconds(expires),
                status: DeviceStatus::Pending,
                last_poll: None,
                interval_secs: interval,
            },
        );
        (interval, expires)
    };
    Json(json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": uri,
        "expires_in": expires,
        "interval": interval,
        "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate."),
    }))
    .into_response()
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: consents at once as `login_hint` and redirects with a code.
pub async fn authorize(
    State(ctx): State<Arc<Ctx>>,
    axum::extract::Path(tenant): axum::extract::Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !tenant_ok(&tenant) {
        return aad_error(
            &ctx,
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    let client_id = q.get("client_id").cloned().unwrap_or_default();
    if let Err(r) = client_ok(&ctx, &HashMap::new(), &client_id, false) {
        return r;
    }
    if q.get("response_type").map(String::as_str) != Some("code") {
        return aad_error(
            &ctx,
            StatusCode::BAD_REQUEST,
            "unsupported_response_type",
            70005,
            "response_type must be 'code'.",
        );
    }
    let (Some(redirect), Some(user)) = (q.get("redirect_uri"), q.get("login_hint")) else {
        return aad_error(
            &ctx,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The emulator needs redirect_uri and login_hint (the user who consents).",
        );
    };
    let method = q
        .get("code_challenge_method")
        .cloned()
        .unwrap_or_else(|| "plain".into());
    let code = format!("0.emu-code-{}", ctx.random_id(40));
    write(&ctx.graph).identity.codes.insert(
        code.clone(),
        AuthCode {
            user: user.clone(),
            client_id,
            scopes: scopes_of(q.get("scope").map(String::as_str).unwrap_or("")),
            redirect_uri: redirect.clone(),
            challenge: q.get("code_challenge").cloned(),
            method,
        },
    );
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let mut loc = format!("{redirect}{sep}code={code}");
    if let Some(s) = q.get("state") {
        loc.push_str("&state=");
        loc.push_str(
            &s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>(),
        );
    }
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&loc) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

async fn devicelogin() -> &'static str {
    "Emulator device login: approve with POST /_admin/graph/device/approve {\"user_code\":…,\"user\":…}\n"
}

/// The identity routes.
pub fn router() -> Router<Arc<Ctx>> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(devicecode))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
        .route("/devicelogin", get(devicelogin))
}

/// Base64url without padding.
pub fn b64url(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len() * 4 / 3 + 3);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// SHA-256 (FIPS 180-4), for PKCE S256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks(4).enumerate().take(16) {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_and_pkce_vector() {
        let hex: String = sha256(b"abc").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // Expected value computed with Python hashlib + base64.urlsafe_b64encode.
        assert_eq!(
            b64url(&sha256(b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gXrcWFjzk")),
            "B__NYflmzdeBfz_yzfHflJvXB7lIcHYhS-QMHfS1-58"
        );
    }
}
