//! The long-running shell: the poll loop, the web server, signals and systemd notification. It owns
//! the only clock (`clock::now`). One cycle at a time runs on a blocking thread; SIGTERM/SIGINT let
//! the running cycle finish (so in-flight writes complete), flush the store and exit; SIGHUP reloads
//! the configuration (a bad new config is reported and the old one kept).
pub mod api;
pub mod clock;
pub mod engine;
pub mod notify;

use crate::config::Settings;
use crate::store::Store;
use crate::web::WebState;
use anyhow::Context;
use engine::Engine;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

/// Prepare what a cycle needs before the first run: the example organisation, if configured.
pub fn prepare(settings: &Settings, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<()> {
    for account in &settings.accounts {
        let crate::config::ProviderSettings::Local { path, example } = &account.provider;
        if *example {
            let today = now.with_timezone(&settings.daemon.timezone).date_naive();
            if crate::example::ensure(path, today, settings.daemon.timezone).with_context(|| {
                format!("generating the example calendars in {}", path.display())
            })? {
                info!(account = %account.name, path = %path.display(), "generated the example organisation");
            }
        }
    }
    Ok(())
}

fn sd_notify(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(state) {
        warn!(error = %e, "cannot notify systemd");
    }
}

/// Run one cycle on a blocking thread (so the runtime keeps serving the web pages).
pub async fn run_cycle(
    engine: Arc<Engine>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<engine::CycleReport> {
    let rt = tokio::runtime::Handle::current();
    let report = tokio::task::spawn_blocking(move || engine.cycle(now, &rt))
        .await
        .context("the sync cycle panicked")?;
    Ok(report)
}

/// `oneonone run`: serve until SIGTERM/SIGINT.
pub async fn run(config_path: std::path::PathBuf, dry_run: bool) -> anyhow::Result<()> {
    let settings = crate::config::load(&config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    prepare(&settings, clock::now())?;
    let store = Store::open(&settings.daemon.state_dir).with_context(|| {
        format!(
            "opening the store in {}",
            settings.daemon.state_dir.display()
        )
    })?;

    let pairs = Arc::new(RwLock::new(settings.pairs.clone()));
    let web_state = WebState {
        store: store.clone(),
        pairs: pairs.clone(),
        tz: settings.daemon.timezone,
        public_url: settings.daemon.public_url.clone(),
        now: Arc::new(clock::now),
    };
    let listener = tokio::net::TcpListener::bind(settings.daemon.listen)
        .await
        .with_context(|| format!("listening on {}", settings.daemon.listen))?;
    info!(listen = %settings.daemon.listen, public_url = %settings.daemon.public_url, "web server listening");
    let (stop_web_tx, stop_web_rx) = tokio::sync::oneshot::channel::<()>();
    let shared_settings = Arc::new(RwLock::new(Arc::new(settings.clone())));
    let app = crate::web::router(web_state)
        .merge(api::router(api::ApiState {
            store: store.clone(),
            settings: shared_settings.clone(),
        }))
        .layer(axum::middleware::from_fn(api::loopback_only_for_admin));
    let web = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop_web_rx.await;
        })
        .await
    });

    let mut poll = settings.daemon.poll_interval;
    let mut engine = Arc::new(Engine::new(settings, store.clone(), dry_run));
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut sighup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;

    let watchdog_period = sd_notify::watchdog_enabled();
    let watchdog = watchdog_period.is_some();
    let mut watchdog_tick = tokio::time::interval(
        watchdog_period
            .map(|d| (d / 2).max(Duration::from_millis(500)))
            .unwrap_or(Duration::from_secs(3600)),
    );

    let mut ready = false;
    let mut next_cycle = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next_cycle) => {
                let cycle = run_cycle(engine.clone(), clock::now());
                tokio::pin!(cycle);
                // Keep the watchdog fed while a long cycle runs; a stop signal waits for it to finish.
                let mut stop_requested = false;
                let result = loop {
                    tokio::select! {
                        r = &mut cycle => break r,
                        _ = watchdog_tick.tick(), if watchdog => sd_notify(&[sd_notify::NotifyState::Watchdog]),
                        _ = sigterm.recv() => { stop_requested = true; info!("SIGTERM: finishing the running cycle, then stopping"); }
                        _ = sigint.recv() => { stop_requested = true; info!("SIGINT: finishing the running cycle, then stopping"); }
                    }
                };
                match result {
                    Ok(report) if report.failed() => warn!(%report, "cycle finished with failures"),
                    Ok(report) => info!(%report, "cycle finished"),
                    Err(e) => error!(error = %e, "cycle failed"),
                }
                if !ready {
                    sd_notify(&[sd_notify::NotifyState::Ready]);
                    ready = true;
                }
                if stop_requested {
                    break;
                }
                next_cycle = tokio::time::Instant::now() + poll;
            }
            _ = watchdog_tick.tick(), if watchdog => sd_notify(&[sd_notify::NotifyState::Watchdog]),
            _ = sigterm.recv() => { info!("SIGTERM: stopping"); break; }
            _ = sigint.recv() => { info!("SIGINT: stopping"); break; }
            _ = sighup.recv() => {
                match crate::config::load(&config_path) {
                    Ok(new) => {
                        if new.daemon.state_dir != engine.settings.daemon.state_dir
                            || new.daemon.listen != engine.settings.daemon.listen
                        {
                            warn!("state_dir and listen changes take effect after a restart");
                        }
                        if let Err(e) = prepare(&new, clock::now()) {
                            error!(error = %e, "reload: cannot prepare the example calendars");
                        }
                        poll = new.daemon.poll_interval;
                        if let Ok(mut p) = pairs.write() {
                            *p = new.pairs.clone();
                        }
                        info!(pairs = new.pairs.len(), accounts = new.accounts.len(), "configuration reloaded");
                        if let Ok(mut s) = shared_settings.write() {
                            *s = Arc::new(new.clone());
                        }
                        engine = Arc::new(Engine::new(new, store.clone(), dry_run));
                        next_cycle = tokio::time::Instant::now();
                    }
                    Err(errors) => {
                        for e in &errors.0 {
                            error!("reload rejected, keeping the running configuration: {e}");
                        }
                    }
                }
            }
        }
    }
    sd_notify(&[sd_notify::NotifyState::Stopping]);
    let _ = stop_web_tx.send(());
    match tokio::time::timeout(Duration::from_secs(10), web).await {
        Ok(Ok(Err(e))) => warn!(error = %e, "web server stopped with an error"),
        Err(_) => warn!("web server did not stop within 10 s"),
        _ => {}
    }
    store.flush().context("flushing the store")?;
    info!("stopped");
    Ok(())
}
