//! The daemon's admin JSON API: `GET /api/status` and `GET /api/meetings`, the same views as the
//! CLI's `--json` output (`crate::views`), so `oneonone status` works while the daemon holds the
//! store; `GET /metrics` (Prometheus text) and `GET /readyz` (200 after the first complete
//! cycle, 503 before). These routes list pairs and agenda links, so they are mounted only on the admin listener
//! (loopback or a Unix socket), never on the public one that serves the agenda pages.
use crate::config::Settings;
use crate::store::Store;
use crate::views::{MeetingFilter, meetings_from_store, status_from_store};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
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
