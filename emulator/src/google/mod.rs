//! Google API emulator (skeleton: to be filled in).
use crate::common::Ctx;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::sync::Arc;

/// All Google data of the emulator.
#[derive(Debug, Default)]
pub struct GoogleState {}

impl GoogleState {
    /// Load the `google` part of a scenario (dates may be relative to `now`).
    pub fn load_scenario(
        &mut self,
        _ctx: &Ctx,
        _now: DateTime<Utc>,
        _v: &Value,
    ) -> Result<(), String> {
        Ok(())
    }
    /// The full state, for `GET /_admin/state`.
    pub fn state_json(&self) -> Value {
        json!({})
    }
    /// Expire every sync token / delta state.
    pub fn expire_sync_state(&mut self) {}
}

pub fn router() -> Router<Arc<Ctx>> {
    Router::new()
}
