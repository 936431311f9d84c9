//! STUB (replaced by the store branch).
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::sync::{Arc, RwLock};
#[derive(Clone)]
pub struct WebState {
    pub store: Store,
    pub pairs: Arc<RwLock<Vec<crate::domain::Pair>>>,
    pub tz: chrono_tz::Tz,
    pub public_url: String,
    pub now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
}
pub async fn serve(
    _listener: tokio::net::TcpListener,
    _state: WebState,
    _shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    todo!()
}
pub fn agenda_url(public_url: &str, token: &str) -> String {
    format!("{}/a/{token}", public_url.trim_end_matches('/'))
}
