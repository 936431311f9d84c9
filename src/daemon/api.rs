//! The daemon's admin JSON API: `GET /api/status` and `GET /api/meetings`, the same views as the
//! CLI's `--json` output (`crate::views`), so `oneonone status` works while the daemon holds the
//! store; `GET /metrics` (Prometheus text) and `GET /readyz` (200 after the first complete
//! cycle, 503 before); and the agenda commands' side: `GET /api/agenda/export?pair=ID` (the pair's
//! shared history as Markdown — never anyone's private notes) and `POST /api/agenda/rotate-link?pair=ID`
//! (a new stable link; the request must carry `X-Oneonone-Admin: 1`, which a web page on another
//! site cannot send without the browser asking first). These routes list pairs and agenda links, so
//! they are mounted only on the admin listener (loopback or a Unix socket), never on the public one
//! that serves the agenda pages.
use crate::config::Settings;
use crate::store::Store;
use crate::views::{MeetingFilter, meetings_from_store, status_from_store};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::{Arc, RwLock};

/// What the API reads: the store and the current (reloadable) settings.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub settings: Arc<RwLock<Arc<Settings>>>,
    /// Set after the first complete cycle.
    pub ready: Arc<std::sync::atomic::AtomicBool>,
}

impl ApiState {
    fn settings(&self) -> Arc<Settings> {
        match self.settings.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/status", get(status))
        .route("/api/meetings", get(meetings))
        .route("/metrics", get(metrics))
        .route("/readyz", get(readyz))
        .route("/api/agenda/export", get(agenda_export))
        .route("/api/agenda/rotate-link", post(rotate_link))
        .with_state(state)
}

async fn metrics(State(state): State<ApiState>) -> Response {
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || crate::metrics::render(&store)).await {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => error(anyhow::anyhow!("rendering the metrics failed: {e}")),
    }
}

async fn readyz(State(state): State<ApiState>) -> Response {
    if state.ready.load(std::sync::atomic::Ordering::Relaxed) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the first sync cycle has not finished\n",
        )
            .into_response()
    }
}

fn error(e: anyhow::Error) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({"error": format!("{e:#}")})),
    )
        .into_response()
}

async fn status(State(state): State<ApiState>) -> Response {
    let settings = state.settings();
    match status_from_store(
        &settings,
        &settings.pairs,
        &state.store,
        super::clock::now(),
    ) {
        Ok(v) => Json(v).into_response(),
        Err(e) => error(e),
    }
}

#[derive(Deserialize)]
struct MeetingsQuery {
    pair: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

async fn meetings(State(state): State<ApiState>, Query(q): Query<MeetingsQuery>) -> Response {
    let settings = state.settings();
    let filter = match MeetingFilter::parse(
        q.pair.as_deref(),
        q.from.as_deref(),
        q.to.as_deref(),
        settings.daemon.timezone,
    ) {
        Ok(f) => f,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({"error": format!("{e:#}")})),
            )
                .into_response();
        }
    };
    match meetings_from_store(&settings, &settings.pairs, &state.store, &filter) {
        Ok(v) => Json(v).into_response(),
        Err(e) => error(e),
    }
}

#[derive(Deserialize)]
struct PairQuery {
    pair: String,
}

/// The configured pair `id`, or a 404 naming the configured ones.
fn configured_pair(settings: &Settings, id: &str) -> Result<crate::domain::Pair, Box<Response>> {
    settings
        .pairs
        .iter()
        .find(|p| p.id == id)
        .cloned()
        .ok_or_else(|| {
            let known: Vec<&str> = settings.pairs.iter().map(|p| p.id.as_str()).collect();
            Box::new(
                (
                    StatusCode::NOT_FOUND,
                    Json(serde_json::json!({
                        "error": format!("no pair {id:?} is configured (pairs: {})", known.join(", "))
                    })),
                )
                    .into_response(),
            )
        })
}

async fn agenda_export(State(state): State<ApiState>, Query(q): Query<PairQuery>) -> Response {
    let settings = state.settings();
    let pair = match configured_pair(&settings, &q.pair) {
        Ok(p) => p,
        Err(res) => return *res,
    };
    let store = state.store.clone();
    let tz = settings.daemon.timezone;
    let made = tokio::task::spawn_blocking(move || {
        crate::web::export::from_store(
            &store,
            &pair.manager,
            &pair.report,
            &pair.id,
            tz,
            super::clock::now(),
        )
    })
    .await;
    match made {
        Ok(Ok(text)) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/markdown; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Ok(Err(e)) => error(e.into()),
        Err(e) => error(e.into()),
    }
}

async fn rotate_link(
    State(state): State<ApiState>,
    Query(q): Query<PairQuery>,
    headers: axum::http::HeaderMap,
) -> Response {
    if headers
        .get("x-oneonone-admin")
        .and_then(|v| v.to_str().ok())
        != Some("1")
    {
        return (
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({"error": "send the header X-Oneonone-Admin: 1"})),
        )
            .into_response();
    }
    let settings = state.settings();
    let pair = match configured_pair(&settings, &q.pair) {
        Ok(p) => p,
        Err(res) => return *res,
    };
    let store = state.store.clone();
    let made = tokio::task::spawn_blocking(move || {
        let token = store.replace_pair_link(&pair.id)?;
        store.flush()?;
        Ok::<_, crate::store::StoreError>(token)
    })
    .await;
    match made {
        Ok(Ok(token)) => Json(serde_json::json!({
            "pair": q.pair,
            "url": crate::domain::links::pair_url(&settings.daemon.public_url, &token),
        }))
        .into_response(),
        Ok(Err(e)) => error(e.into()),
        Err(e) => error(e.into()),
    }
}
