//! The test-only admin API, under `/_admin/…` and clearly apart from the emulated paths. It loads
//! scenarios, issues tokens, exposes state and the request log, expires sync state and resets.
//! Scenario format: `{"now": RFC3339, "faults": FaultConfig?, "google": {...}?, "graph": {...}?}`;
//! the `google` and `graph` parts are documented in their modules (and in emulator/README.md).
//! Dates inside may be relative to `now`. Admin requests are never faulted and never logged.
use crate::common::{Ctx, FaultConfig, write};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// The `/_admin/…` routes shared by both APIs.
pub fn router() -> Router<Arc<Ctx>> {
    Router::new()
        .route("/_admin/token", post(token))
        .route("/_admin/scenario", post(scenario))
        .route("/_admin/state", get(state))
        .route("/_admin/log", get(log))
        .route("/_admin/expire-sync-state", post(expire))
        .route("/_admin/reset", post(reset))
        .route("/_admin/faults", post(faults))
}

#[derive(Deserialize)]
struct TokenRequest {
    user: String,
    #[serde(default)]
    app_only: Option<bool>,
    #[serde(default)]
    scopes: Vec<String>,
}

async fn token(State(ctx): State<Arc<Ctx>>, Json(req): Json<TokenRequest>) -> Json<Value> {
    let token = ctx.issue_token(&req.user, req.app_only.unwrap_or(false), req.scopes);
    Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}))
}

fn bad_request(msg: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": msg}))).into_response()
}

async fn scenario(State(ctx): State<Arc<Ctx>>, Json(body): Json<Value>) -> Response {
    let now = match body.get("now").and_then(Value::as_str) {
        Some(s) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) if (1900..=9000).contains(&chrono::Datelike::year(&t)) => {
                t.with_timezone(&chrono::Utc)
            }
            Ok(_) => return bad_request("scenario.now: year must be within 1900..=9000".into()),
            Err(e) => return bad_request(format!("scenario.now: {e}")),
        },
        None => ctx.now(),
    };
    *write(&ctx.now_override) = Some(now);
    if let Some(f) = body.get("faults") {
        match serde_json::from_value::<FaultConfig>(f.clone()) {
            Ok(f) => *write(&ctx.faults) = f,
            Err(e) => return bad_request(format!("scenario.faults: {e}")),
        }
    }
    if let Some(g) = body.get("google")
        && let Err(e) = write(&ctx.google).load_scenario(&ctx, now, g)
    {
        return bad_request(format!("scenario.google: {e}"));
    }
    if let Some(g) = body.get("graph")
        && let Err(e) = write(&ctx.graph).load_scenario(&ctx, now, g)
    {
        return bad_request(format!("scenario.graph: {e}"));
    }
    // People who already hold a token keep their (now empty) calendar and mailbox.
    ctx.provision_token_holders();
    Json(json!({"ok": true, "now": now.to_rfc3339()})).into_response()
}

async fn state(State(ctx): State<Arc<Ctx>>) -> Json<Value> {
    let google = ctx
        .google
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .state_json();
    let graph = ctx
        .graph
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .state_json();
    Json(json!({"now": ctx.now().to_rfc3339(), "google": google, "graph": graph}))
}

async fn log(State(ctx): State<Arc<Ctx>>) -> Json<Value> {
    let log = ctx.log.lock().unwrap_or_else(|e| e.into_inner());
    Json(json!(*log))
}

async fn expire(State(ctx): State<Arc<Ctx>>) -> Json<Value> {
    write(&ctx.google).expire_sync_state();
    write(&ctx.graph).expire_sync_state();
    Json(json!({"ok": true}))
}

async fn reset(State(ctx): State<Arc<Ctx>>) -> Json<Value> {
    {
        // Keep sync tokens from before the reset invalid: the epoch only moves forward.
        let mut g = write(&ctx.google);
        let epoch = g.sync_epoch + 1;
        *g = Default::default();
        g.sync_epoch = epoch;
    }
    *write(&ctx.graph) = Default::default();
    write(&ctx.tokens).clear();
    ctx.log.lock().unwrap_or_else(|e| e.into_inner()).clear();
    *write(&ctx.now_override) = None;
    Json(json!({"ok": true}))
}

async fn faults(State(ctx): State<Arc<Ctx>>, Json(f): Json<FaultConfig>) -> Json<Value> {
    *write(&ctx.faults) = f;
    Json(json!({"ok": true}))
}
