//! The daemon's small web servers (axum 0.8, maud 0.27).
//!
//! Public routes ([`router`], the listener people reach from their invites):
//! - `GET /p/{token}` — the pair's page at its stable link (the one in every invite): the next
//!   meeting's agenda, development goals, and the history of earlier meetings; `…/rev` (the
//!   agenda revision, polled by the page's script), `…/export.md` (the history as Markdown).
//! - `GET /a/{token}` — one meeting's agenda doc; `…/rev`.
//! - Writes (forms; each 303s back): `POST /a/{token}/items` (add), `…/items/{id}/{action}`
//!   (done, reopen, edit, delete, up, down, defer, drop), `…/notes` (shared notes), `…/private`
//!   (the signed-in author's private note), `…/goals`, `…/goals/{id}/{action}` (edit, progress,
//!   close, reopen).
//! - The JSON API for items: `GET`/`POST /a/{token}/api/items`, `POST …/api/items/{id}`.
//! - Sign-in: `GET /signin`, `GET /auth/callback`, `POST /signout`.
//! - `GET /healthz`, `/static/app.css`, `/static/app.js`.
//!
//! Admin routes ([`admin_router`], only on the admin listener): `GET /` (status of every pair).
//!
//! Invariants:
//! - Every response carries `Cache-Control: no-store` (except the static files),
//!   `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff`
//!   and a strict CSP: scripts and styles only from this server (`/static/…`), no inline script,
//!   no foreign connections, images or frames.
//! - Access (see `auth`): the capability link, plus — when sign-in is configured — a signed-in
//!   person must be one of the pair; `require_sign_in` makes the link alone insufficient. Every
//!   write checks a CSRF token. Unknown tokens and failed sign-ins are rate-limited per client.
//! - Private notes are shown only to their signed-in author: never on the other person's page,
//!   in exports for anyone else, in the invite (the planner never reads them), in logs (no agenda
//!   text is ever logged), or on the admin listener.
//! - Concurrent edits are never silently lost: item, goal and note edits carry the version and the
//!   text they started from; a stale edit is merged field by field or refused with both versions
//!   shown (a 409 page).
//! - All user text is HTML-escaped by maud; notes are Markdown rendered without raw HTML. Every
//!   field has a size limit; input is validated with a 400 page naming the field.
//! - The clock is read only through the injected [`WebState::now`].
//! - Store access (sled, flush) runs on the blocking pool; every change is flushed before the 303.
mod auth;
pub mod export;
mod handlers;
mod limit;
pub mod markdown;
mod pages;

pub use auth::SignIn;

use crate::domain::Pair;
use crate::domain::agenda::Section;
use crate::store::{Store, StoreError};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use std::future::Future;
use std::sync::{Arc, OnceLock, RwLock};

/// The longest accepted item text, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;
/// The longest accepted owner or author name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest shared notes of one meeting, in characters.
pub const MAX_NOTES_CHARS: usize = 20_000;
/// The longest decisions text of one meeting, in characters.
pub const MAX_DECISIONS_CHARS: usize = 5_000;
/// The longest private note, in characters.
pub const MAX_PRIVATE_CHARS: usize = 20_000;
/// The longest goal title, in characters.
pub const MAX_GOAL_CHARS: usize = 300;
/// The longest next step of a goal, in characters.
pub const MAX_STEP_CHARS: usize = 1000;
/// The longest reason for dropping an item, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// A pair's ledger stops accepting new items beyond this many (a guard against abuse).
pub const MAX_ITEMS_PER_PAIR: usize = 5000;
/// A pair stops accepting new goals beyond this many.
pub const MAX_GOALS_PER_PAIR: usize = 500;
/// A goal stops accepting progress notes beyond this many.
pub const MAX_PROGRESS_PER_GOAL: usize = 500;
/// Unknown-token requests a client may make per window before it gets 429s.
pub const MAX_MISSES: u32 = 30;
/// Failed sign-ins a client may have per window before it gets 429s.
pub const MAX_SIGN_IN_FAILURES: u32 = 10;
/// The rate-limit window, in minutes.
pub const LIMIT_WINDOW_MINUTES: i64 = 10;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
const APP_CSS: &str = include_str!("app.css");
const APP_JS: &str = include_str!("app.js");

/// Everything the handlers need. Cheap to clone.
#[derive(Clone)]
pub struct WebState {
    pub store: Store,
    /// The configured pairs; the daemon replaces the vector on config reload.
    pub pairs: Arc<RwLock<Vec<Pair>>>,
    /// The zone dates and times are shown in.
    pub tz: chrono_tz::Tz,
    /// The externally visible base URL (e.g. `https://oneonone.example.org` or
    /// `http://host:8080/oneonone`); its path is the prefix of every link the pages contain.
    pub public_url: String,
    /// The clock (the daemon passes its clock; tests a fixed or movable time).
    pub now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    /// OpenID Connect sign-in, when configured.
    pub sign_in: Option<Arc<SignIn>>,
    key: Arc<OnceLock<Vec<u8>>>,
    misses: Arc<limit::Limiter>,
    sign_in_failures: Arc<limit::Limiter>,
}

impl WebState {
    /// Bundle the state (no sign-in; see [`WebState::with_sign_in`]).
    pub fn new(
        store: Store,
        pairs: Arc<RwLock<Vec<Pair>>>,
        tz: chrono_tz::Tz,
        public_url: impl Into<String>,
        now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    ) -> WebState {
        let window = chrono::Duration::minutes(LIMIT_WINDOW_MINUTES);
        WebState {
            store,
            pairs,
            tz,
            public_url: public_url.into(),
            now,
            sign_in: None,
            key: Arc::new(OnceLock::new()),
            misses: Arc::new(limit::Limiter::new(MAX_MISSES, window)),
            sign_in_failures: Arc::new(limit::Limiter::new(MAX_SIGN_IN_FAILURES, window)),
        }
    }

    /// Enable OpenID Connect sign-in.
    pub fn with_sign_in(mut self, sign_in: Arc<SignIn>) -> WebState {
        self.sign_in = Some(sign_in);
        self
    }

    /// The path prefix of every link: the path of `public_url`, without a trailing slash.
    fn base(&self) -> String {
        base_path(&self.public_url)
    }

    fn pairs(&self) -> Vec<Pair> {
        match self.pairs.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn require_sign_in(&self) -> bool {
        self.sign_in
            .as_ref()
            .is_some_and(|s| s.settings.require_sign_in)
    }

    /// The signing key of cookies and CSRF tokens (from the store, read once).
    fn key(&self) -> Result<Vec<u8>, WebError> {
        if let Some(k) = self.key.get() {
            return Ok(k.clone());
        }
        let k = self.store.web_key()?;
        Ok(self.key.get_or_init(|| k).clone())
    }
}

pub use crate::domain::links::{agenda_url, pair_url};

/// The path part of a URL (`http://h:1/x/` → `/x`, `https://h` → ``).
fn base_path(public_url: &str) -> String {
    let after_scheme = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    let path = path.split(['?', '#']).next().unwrap_or("");
    path.trim_end_matches('/').to_string()
}

/// The public routes (agenda pages), with the security headers on every response.
pub fn router(state: WebState) -> Router {
    use handlers as h;
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/static/app.css", get(app_css))
        .route("/static/app.js", get(app_js))
        .route("/p/{token}", get(h::pair_page))
        .route("/p/{token}/rev", get(h::pair_rev))
        .route("/p/{token}/export.md", get(h::export_md))
        .route("/a/{token}", get(h::doc_page))
        .route("/a/{token}/rev", get(h::doc_rev))
        .route("/a/{token}/items", post(h::add_item))
        .route("/a/{token}/items/{id}/{action}", post(h::item_action))
        .route("/a/{token}/notes", post(h::save_notes))
        .route("/a/{token}/private", post(h::save_private))
        .route("/a/{token}/goals", post(h::add_goal))
        .route("/a/{token}/goals/{id}/{action}", post(h::goal_action))
        .route("/a/{token}/api/items", get(h::api_items).post(h::api_add))
        .route("/a/{token}/api/items/{id}", post(h::api_op))
        .route("/signin", get(h::sign_in))
        .route("/auth/callback", get(h::callback))
        .route("/signout", post(h::sign_out))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(256 * 1024))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// The admin routes (the status page), with the same headers. Only for the admin listener.
pub fn admin_router(state: WebState) -> Router {
    Router::new()
        .route("/", get(handlers::status_page))
        .route("/healthz", get(|| async { "ok" }))
        .route("/static/app.css", get(app_css))
        .route("/static/app.js", get(app_js))
        .fallback(not_found)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Serve `router(state)` on `listener` until `shutdown` completes (then finish open requests).
/// Clients' addresses reach the handlers (rate limiting).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: WebState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    res
}

async fn app_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        APP_CSS,
    )
        .into_response()
}

async fn app_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        APP_JS,
    )
        .into_response()
}

// ---- errors -----------------------------------------------------------------------------------

/// Why a request failed; each becomes a page (or, for the JSON API, a JSON body).
#[derive(Debug)]
enum WebError {
    NotFound,
    BadRequest {
        field: &'static str,
        message: String,
    },
    /// Signed in, but not one of the pair.
    Forbidden {
        email: String,
        signout_csrf: String,
    },
    /// Sign-in is required; come back to `next` afterwards.
    SignInRequired {
        next: String,
    },
    TooMany {
        retry_after: i64,
    },
    Csrf,
    /// The sign-in provider or the sign-in itself failed.
    SignInFailed(String),
    Internal(String),
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> WebError {
        // StoreError messages never contain a whole agenda token.
        WebError::Internal(e.to_string())
    }
}

fn bad(field: &'static str, message: impl Into<String>) -> WebError {
    WebError::BadRequest {
        field,
        message: message.into(),
    }
}

/// `s` percent-encoded for a query value.
pub(crate) fn query_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_./~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

impl WebError {
    fn status(&self) -> StatusCode {
        match self {
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::BadRequest { .. } | WebError::SignInFailed(_) => StatusCode::BAD_REQUEST,
            WebError::Forbidden { .. } | WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::SignInRequired { .. } => StatusCode::UNAUTHORIZED,
            WebError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn text(&self) -> String {
        match self {
            WebError::NotFound => "not found".into(),
            WebError::BadRequest { field, message } => format!("field {field}: {message}"),
            WebError::Forbidden { email, .. } => {
                format!("{email} is not one of this 1:1's two people")
            }
            WebError::SignInRequired { .. } => "sign in first".into(),
            WebError::TooMany { retry_after } => {
                format!("too many failed requests; try again in {retry_after} s")
            }
            WebError::Csrf => {
                "this form is out of date or came from another site; reload the page and try again"
                    .into()
            }
            WebError::SignInFailed(reason) => format!("sign-in did not work: {reason}"),
            WebError::Internal(_) => "the server could not complete this request".into(),
        }
    }

    fn page(self, st: &WebState, json: bool) -> Response {
        let base = st.base();
        if let WebError::Internal(message) = &self {
            tracing::error!(error = %message, "web request failed");
        }
        if json {
            let mut res = json_error(self.status(), &self.text());
            if let WebError::TooMany { retry_after } = &self
                && let Ok(v) = HeaderValue::from_str(&retry_after.to_string())
            {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return res;
        }
        let status = self.status();
        match self {
            WebError::NotFound => (status, pages::not_found(&base)).into_response(),
            WebError::BadRequest { field, message } => {
                (status, pages::bad_request(&base, field, &message)).into_response()
            }
            WebError::Forbidden {
                email,
                signout_csrf,
            } => (status, pages::forbidden(&base, &email, &signout_csrf)).into_response(),
            WebError::SignInRequired { next } => {
                see_other(&format!("{base}/signin?next={}", query_encode(&next)))
            }
            WebError::TooMany { retry_after } => {
                let text = format!(
                    "Too many requests for unknown links or failed sign-ins came from your \
                     address. Try again in {retry_after} seconds."
                );
                let mut res =
                    (status, pages::message(&base, "Slow down", &text, None)).into_response();
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    res.headers_mut().insert(header::RETRY_AFTER, v);
                }
                res
            }
            WebError::Csrf => (
                status,
                pages::message(
                    &base,
                    "Not saved",
                    "This form is out of date or came from another site, so nothing was saved. \
                     Go back, reload the page and try again.",
                    None,
                ),
            )
                .into_response(),
            WebError::SignInFailed(reason) => (
                status,
                pages::message(
                    &base,
                    "Sign-in did not work",
                    &format!("{reason}."),
                    Some((&format!("{base}/"), "Back")),
                ),
            )
                .into_response(),
            WebError::Internal(_) => (status, pages::internal(&base)).into_response(),
        }
    }
}

/// A 303 to `location`.
fn see_other(location: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// Run a synchronous handler on the blocking pool (sled and flush block) and render its error.
async fn blocking<F>(state: WebState, json: bool, f: F) -> Response
where
    F: FnOnce(&WebState) -> Result<Response, WebError> + Send + 'static,
{
    let st = state.clone();
    match tokio::task::spawn_blocking(move || f(&state)).await {
        Ok(Ok(res)) => res,
        Ok(Err(e)) => e.page(&st, json),
        Err(e) => WebError::Internal(format!("handler task failed: {e}")).page(&st, json),
    }
}

async fn not_found(axum::extract::State(state): axum::extract::State<WebState>) -> Response {
    WebError::NotFound.page(&state, false)
}

/// Tokens are 32 hex chars; anything else that is not short and alphanumeric cannot exist.
fn plausible_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn parse_section(s: &str) -> Option<Section> {
    Some(match s {
        "check_in" => Section::CheckIn,
        "report_topics" => Section::ReportTopics,
        "manager_topics" => Section::ManagerTopics,
        "growth" => Section::Growth,
        "feedback" => Section::Feedback,
        "action_items" => Section::ActionItems,
        _ => return None,
    })
}

/// The form value of a section (the inverse of `parse_section`).
fn section_value(s: Section) -> &'static str {
    match s {
        Section::CheckIn => "check_in",
        Section::ReportTopics => "report_topics",
        Section::ManagerTopics => "manager_topics",
        Section::Growth => "growth",
        Section::Feedback => "feedback",
        Section::ActionItems => "action_items",
    }
}

#[cfg(test)]
mod tests;
