//! # oneonone-emulator
//!
//! A test-only emulator of the Google Calendar v3 API (plus Google's OAuth token endpoint) and of the
//! Microsoft Graph v1.0 calendar API (plus the Microsoft identity platform), served together on one
//! loopback address. It exists so that oneonone's providers can be tested over real HTTP against
//! something that behaves like the real services, quirks included.
//!
//! ## Layout
//! - `common`: what both APIs share: the access-token table, the request/write log, fault injection.
//! - `admin`:  the test-only admin API under `/_admin/…` (scenarios, tokens, state, log, expiry, reset).
//! - `google`: Calendar v3 under `/calendar/v3/…` and the OAuth endpoints `/token`, `/o/oauth2/…`.
//! - `graph`:  Graph v1.0 under `/v1.0/…` and the identity platform under `/{tenant}/oauth2/v2.0/…`.
//!
//! The two API modules share no logic with the oneonone providers (see ARCHITECTURE.md).

pub mod admin;
pub mod common;
pub mod google;
pub mod graph;

use std::sync::Arc;

pub use common::{Ctx, FaultConfig};

/// Build the whole application: both APIs and the admin API over one shared context.
pub fn app(ctx: Arc<Ctx>) -> axum::Router {
    axum::Router::new()
        .merge(admin::router())
        .merge(google::router())
        .merge(graph::router())
        .with_state(ctx)
}

/// Start the emulator in-process on `127.0.0.1:0` (for tests and benchmarks): binds, records the
/// base URL in `ctx`, spawns the server on the current tokio runtime and returns the bound address.
pub async fn start(ctx: Arc<Ctx>) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let local = listener.local_addr()?;
    ctx.set_base_url(format!("http://{local}"));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app(ctx)).await {
            tracing::error!("emulator server stopped: {e}");
        }
    });
    Ok(local)
}

/// Bind `addr`, print `listening on http://HOST:PORT` and serve until the process ends.
pub async fn serve(addr: &str, ctx: Arc<Ctx>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    ctx.set_base_url(format!("http://{local}"));
    println!("listening on http://{local}");
    use std::io::Write;
    std::io::stdout().flush()?;
    axum::serve(listener, app(ctx)).await?;
    Ok(())
}
