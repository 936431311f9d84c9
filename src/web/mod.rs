//! The daemon's small web servers (axum 0.8, maud 0.27).
//!
//! Public routes ([`router`], the listener people reach from their invites): `GET /a/{token}` (one
//! occurrence's agenda), `POST /a/{token}/items` (add), `POST /a/{token}/items/{id}/done` and
//! `…/reopen` (tick), `GET /p/{token}` (the pair's stable link: the doc of its next meeting),
//! `GET /healthz`, `GET /static/app.css`. Admin routes ([`admin_router`], only on the admin
//! listener): `GET /` (status of every pair), plus the same health and stylesheet.
//!
//! Invariants:
//! - The agenda URL is the capability: every response carries `Cache-Control: no-store`,
//!   `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff` and
//!   a strict `Content-Security-Policy` (no script at all; CSS only from `/static/app.css`). Tokens
//!   and agenda text are never logged.
//! - The status page shows no agenda content (agendas are private to the pair), and is never
//!   routed on the public listener.
//! - All user text is HTML-escaped by maud; input is validated (non-empty, length, known section,
//!   the item belongs to the doc's pair and is on this doc) with a 400 page naming the field.
//! - The clock is read only through the injected [`WebState::now`].
//! - Store access (sled, flush) runs on the blocking pool; every change is flushed before the 303.
mod pages;

use crate::domain::agenda::{self, AgendaDoc, AgendaItem, ItemKind, Section};
use crate::domain::{OccurrenceStatus, Pair};
use crate::store::{Store, StoreError};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};

/// The longest accepted item text, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;
/// The longest accepted owner or author name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// A pair's ledger stops accepting new items beyond this many (a guard against abuse).
pub const MAX_ITEMS_PER_PAIR: usize = 5000;

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   base-uri 'none'; frame-ancestors 'none'";
const APP_CSS: &str = include_str!("app.css");

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
    /// The clock (the daemon passes its clock; tests a fixed time).
    pub now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
}

impl WebState {
    /// Bundle the state.
    pub fn new(
        store: Store,
        pairs: Arc<RwLock<Vec<Pair>>>,
        tz: chrono_tz::Tz,
        public_url: impl Into<String>,
        now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    ) -> WebState {
        WebState {
            store,
            pairs,
            tz,
            public_url: public_url.into(),
            now,
        }
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
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/static/app.css", get(app_css))
        .route("/p/{token}", get(pair_page))
        .route("/a/{token}", get(doc_page))
        .route("/a/{token}/items", post(add_item))
        .route("/a/{token}/items/{id}/done", post(mark_done))
        .route("/a/{token}/items/{id}/reopen", post(reopen))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// The admin routes (the status page), with the same headers. Only for the admin listener.
pub fn admin_router(state: WebState) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/healthz", get(|| async { "ok" }))
        .route("/static/app.css", get(app_css))
        .fallback(not_found)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Serve `router(state)` on `listener` until `shutdown` completes (then finish open requests).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: WebState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
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

// ---- errors -----------------------------------------------------------------------------------

/// Why a request failed; each becomes a page.
#[derive(Debug)]
enum WebError {
    NotFound,
    BadRequest {
        field: &'static str,
        message: String,
    },
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

impl WebError {
    fn page(self, base: &str) -> Response {
        match self {
            WebError::NotFound => (StatusCode::NOT_FOUND, pages::not_found(base)).into_response(),
            WebError::BadRequest { field, message } => (
                StatusCode::BAD_REQUEST,
                pages::bad_request(base, field, &message),
            )
                .into_response(),
            WebError::Internal(message) => {
                tracing::error!(error = %message, "web request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, pages::internal(base)).into_response()
            }
        }
    }
}

/// Run a synchronous handler on the blocking pool (sled and flush block) and render its error.
async fn blocking<F>(state: WebState, f: F) -> Response
where
    F: FnOnce(&WebState) -> Result<Response, WebError> + Send + 'static,
{
    let base = state.base();
    match tokio::task::spawn_blocking(move || f(&state)).await {
        Ok(Ok(res)) => res,
        Ok(Err(e)) => e.page(&base),
        Err(e) => WebError::Internal(format!("handler task failed: {e}")).page(&base),
    }
}

async fn not_found(State(state): State<WebState>) -> Response {
    WebError::NotFound.page(&state.base())
}

// ---- handlers ---------------------------------------------------------------------------------

async fn status_page(State(state): State<WebState>) -> Response {
    blocking(state, |st| {
        let now = (st.now)();
        let mut views = Vec::new();
        for pair in st.pairs() {
            let findings = st.store.findings(&pair.id)?;
            let history = st.store.occurrences(&pair.id)?;
            views.push(pages::PairStatus {
                pair,
                findings,
                history,
            });
        }
        Ok(pages::status(&st.base(), st.tz, now, &views).into_response())
    })
    .await
}

/// Tokens are 32 hex chars; anything else that is not short and alphanumeric cannot exist.
fn plausible_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn load_doc(st: &WebState, token: &str) -> Result<AgendaDoc, WebError> {
    if !plausible_id(token) {
        return Err(WebError::NotFound);
    }
    st.store.agenda_doc(token)?.ok_or(WebError::NotFound)
}

/// The pair's stable link: 303 to the doc of its next (or current) meeting; without one, a page
/// listing the earlier meetings' docs.
async fn pair_page(State(state): State<WebState>, Path(token): Path<String>) -> Response {
    blocking(state, move |st| {
        if !plausible_id(&token) {
            return Err(WebError::NotFound);
        }
        let pair_id = st.store.pair_of_link(&token)?.ok_or(WebError::NotFound)?;
        let history = st.store.occurrences(&pair_id)?;
        let now = (st.now)();
        let next = history.iter().find(|o| {
            o.one_on_one
                && o.end > now
                && o.status != OccurrenceStatus::Cancelled
                && o.agenda.is_some()
        });
        if let Some(doc) = next.and_then(|o| o.agenda.as_deref()) {
            return Ok(see_doc(st, doc));
        }
        let (manager, report) = people_of(st, &pair_id);
        Ok(
            pages::pair_without_next(&st.base(), st.tz, &manager, &report, &history)
                .into_response(),
        )
    })
    .await
}

/// The two people of a pair (from the configuration, else from its id).
fn people_of(st: &WebState, pair_id: &str) -> (String, String) {
    match st.pairs().into_iter().find(|p| p.id == pair_id) {
        Some(p) => (p.manager, p.report),
        None => {
            let (m, r) = pair_id.split_once('~').unwrap_or((pair_id, ""));
            (m.to_string(), r.to_string())
        }
    }
}

async fn doc_page(State(state): State<WebState>, Path(token): Path<String>) -> Response {
    blocking(state, move |st| {
        let doc = load_doc(st, &token)?;
        let items = st.store.agenda_items(&doc.pair_id)?;
        let history = st.store.occurrences(&doc.pair_id)?;
        let occurrence = history.iter().find(|o| o.meeting == doc.meeting);
        let start = occurrence.map_or(doc.start, |o| o.start);
        let shown = agenda::doc_items(&items, &history, &doc.meeting, start);
        let (manager, report) = people_of(st, &doc.pair_id);
        let view = pages::DocView {
            base: st.base(),
            token: &doc.token,
            manager: &manager,
            report: &report,
            tz: st.tz,
            start,
            occurrence,
            items: &shown,
            history: &history,
        };
        Ok(pages::doc(&view).into_response())
    })
    .await
}

/// The 303 back to the doc.
fn see_doc(st: &WebState, token: &str) -> Response {
    let location = format!("{}/a/{}", st.base(), token);
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
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

/// A required text field: trimmed, non-empty, at most `max` characters.
fn required(
    form: &HashMap<String, String>,
    field: &'static str,
    max: usize,
) -> Result<String, WebError> {
    let value = form.get(field).map(|v| v.trim()).unwrap_or("");
    if value.is_empty() {
        return Err(bad(field, "is required and may not be empty"));
    }
    check_len(field, value, max)?;
    Ok(value.to_string())
}

/// An optional text field: trimmed; empty means absent; at most `max` characters.
fn optional(
    form: &HashMap<String, String>,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, WebError> {
    let value = form.get(field).map(|v| v.trim()).unwrap_or("");
    if value.is_empty() {
        return Ok(None);
    }
    check_len(field, value, max)?;
    Ok(Some(value.to_string()))
}

fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), WebError> {
    let n = value.chars().count();
    if n > max {
        return Err(bad(
            field,
            format!("is {n} characters long; at most {max} are allowed"),
        ));
    }
    Ok(())
}

type FormResult = Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>;

async fn add_item(
    State(state): State<WebState>,
    Path(token): Path<String>,
    form: FormResult,
) -> Response {
    blocking(state, move |st| {
        let doc = load_doc(st, &token)?;
        let Form(form) = form.map_err(|e| bad("form", format!("could not be read: {e}")))?;
        let kind = match form.get("kind").map(String::as_str) {
            Some("talking_point") => ItemKind::TalkingPoint,
            Some("action_item") => ItemKind::ActionItem,
            Some(other) => {
                return Err(bad(
                    "kind",
                    format!("{other:?} is not talking_point or action_item"),
                ));
            }
            None => return Err(bad("kind", "is required")),
        };
        let text = required(&form, "text", MAX_TEXT_CHARS)?;
        let author = optional(&form, "author", MAX_NAME_CHARS)?;
        let (section, owner) = match kind {
            ItemKind::TalkingPoint => {
                let raw = form.get("section").map(|s| s.trim()).unwrap_or("");
                let section = parse_section(raw).ok_or_else(|| {
                    bad(
                        "section",
                        format!(
                            "{raw:?} is not a section of the agenda (check_in, report_topics, \
                             manager_topics, growth, feedback)"
                        ),
                    )
                })?;
                if section == Section::ActionItems {
                    return Err(bad(
                        "section",
                        "action items are added with the action item form (they need an owner)",
                    ));
                }
                (section, optional(&form, "owner", MAX_NAME_CHARS)?)
            }
            ItemKind::ActionItem => {
                if let Some(raw) = form.get("section").map(|s| s.trim())
                    && !raw.is_empty()
                    && raw != section_value(Section::ActionItems)
                {
                    return Err(bad("section", "an action item belongs to action_items"));
                }
                (
                    Section::ActionItems,
                    Some(required(&form, "owner", MAX_NAME_CHARS)?),
                )
            }
        };
        if st.store.agenda_items(&doc.pair_id)?.len() >= MAX_ITEMS_PER_PAIR {
            return Err(bad(
                "text",
                format!("this pair's agenda already holds {MAX_ITEMS_PER_PAIR} items"),
            ));
        }
        let start = doc_start(st, &doc)?;
        let item = AgendaItem {
            id: crate::store::random_hex(8)?,
            pair_id: doc.pair_id.clone(),
            kind,
            section,
            text,
            owner,
            author,
            origin_meeting: doc.meeting.clone(),
            origin_start: start,
            done_in: None,
            done_start: None,
            done_at: None,
            created_at: (st.now)(),
        };
        st.store.put_agenda_item(&item)?;
        st.store.flush()?;
        Ok(see_doc(st, &doc.token))
    })
    .await
}

/// The current start of a doc's occurrence (it may have moved since the doc was made).
fn doc_start(st: &WebState, doc: &AgendaDoc) -> Result<DateTime<Utc>, WebError> {
    Ok(st
        .store
        .occurrences(&doc.pair_id)?
        .iter()
        .find(|o| o.meeting == doc.meeting)
        .map_or(doc.start, |o| o.start))
}

/// The item `id` as shown on this doc, or a 400 naming the `item` field.
fn doc_item(st: &WebState, doc: &AgendaDoc, id: &str) -> Result<(AgendaItem, bool), WebError> {
    if !plausible_id(id) {
        return Err(bad("item", "is not an item id"));
    }
    let Some(item) = st.store.agenda_item(&doc.pair_id, id)? else {
        return Err(bad("item", "is not an item of this agenda"));
    };
    let history = st.store.occurrences(&doc.pair_id)?;
    let start = history
        .iter()
        .find(|o| o.meeting == doc.meeting)
        .map_or(doc.start, |o| o.start);
    let all = [item];
    let shown = agenda::doc_items(&all, &history, &doc.meeting, start);
    let Some(done_here) = shown.first().map(|d| d.done_here) else {
        return Err(bad(
            "item",
            "is not on this agenda (it belongs to a later meeting or was done earlier)",
        ));
    };
    let [item] = all;
    Ok((item, done_here))
}

async fn mark_done(
    State(state): State<WebState>,
    Path((token, id)): Path<(String, String)>,
) -> Response {
    blocking(state, move |st| {
        let doc = load_doc(st, &token)?;
        let (mut item, done_here) = doc_item(st, &doc, &id)?;
        if !done_here {
            item.done_in = Some(doc.meeting.clone());
            item.done_start = Some(doc_start(st, &doc)?);
            item.done_at = Some((st.now)());
            st.store.put_agenda_item(&item)?;
            st.store.flush()?;
        }
        Ok(see_doc(st, &doc.token))
    })
    .await
}

async fn reopen(
    State(state): State<WebState>,
    Path((token, id)): Path<(String, String)>,
) -> Response {
    blocking(state, move |st| {
        let doc = load_doc(st, &token)?;
        let (mut item, done_here) = doc_item(st, &doc, &id)?;
        if done_here {
            item.done_in = None;
            item.done_start = None;
            item.done_at = None;
            st.store.put_agenda_item(&item)?;
            st.store.flush()?;
        } else if item.done_in.is_some() {
            return Err(bad(
                "item",
                "was ticked done in a later meeting's agenda; reopen it there",
            ));
        }
        Ok(see_doc(st, &doc.token))
    })
    .await
}

#[cfg(test)]
mod tests;
