//! The daemon's local JSON API: `GET /api/status` and `GET /api/meetings`, the same views as the
//! CLI's `--json` output, so `oneonone status` works while the daemon holds the store. These routes
//! and the status page list pairs and agenda links, so they answer only loopback clients; the agenda
//! pages themselves (`/a/{token}`) are capability URLs and answer anyone who has the link.
use crate::cli::views::{MeetingFilter, meetings_from_store, status_from_store};
use crate::config::Settings;
use crate::store::Store;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

/// What the API reads: the store and the current (reloadable) settings.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub settings: Arc<RwLock<Arc<Settings>>>,
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
        .with_state(state)
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

/// Refuse the status page and the API to anything but loopback clients.
pub async fn loopback_only_for_admin(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let admin = path == "/" || path.starts_with("/api/");
    if admin && !peer.ip().is_loopback() {
        return (
            StatusCode::FORBIDDEN,
            "The status page and API answer only on loopback (use an SSH tunnel).\n",
        )
            .into_response();
    }
    next.run(req).await
}
