//! The long-running shell: the poll loop, the two web listeners, signals and systemd notification.
//! It owns the only clock (`clock::now`). One cycle at a time runs on a blocking thread; SIGTERM/
//! SIGINT let the running cycle finish (so in-flight writes complete), flush the store and exit;
//! SIGHUP reloads the configuration (a bad new config is reported and the old one kept). The
//! outbox is drained by its own task (`delivery`), woken after each cycle.
//!
//! Architecture Invariant: the admin surface (status page, `/api/*`) is served only on the admin
//! listener (loopback or a Unix socket); the public listener, which people reach from the links in
//! their invites, serves agenda pages, static files and `/healthz` only. `/metrics` and `/readyz`
//! are admin routes too.
pub mod api;
pub mod clock;
mod delivery;
pub mod engine;

use crate::config::{AdminListen, Settings};
use crate::providers::Progress;
use crate::store::Store;
use crate::web::WebState;
use anyhow::Context;
use engine::{CycleReport, Engine, EngineOptions};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

fn sd_notify(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(state) {
        warn!(error = %e, "cannot notify systemd");
    }
}

/// Run one cycle on a blocking thread (so the runtime keeps serving the web pages).
pub async fn run_cycle(
    engine: Arc<Engine>,
    now: chrono::DateTime<chrono::Utc>,
    progress: Arc<Progress>,
) -> anyhow::Result<CycleReport> {
    let rt = tokio::runtime::Handle::current();
    let report = tokio::task::spawn_blocking(move || engine.cycle(now, &rt, &progress))
        .await
        .context("the sync cycle panicked")??;
    Ok(report)
}

/// Build the daemon's engine for `settings` (providers keep their state in memory).
async fn build_engine(settings: Settings, store: &Store, dry_run: bool) -> anyhow::Result<Engine> {
    let providers = Engine::open_providers(&settings, store, true)?;
    let engine = Engine::new(
        settings,
        store.clone(),
        providers,
        EngineOptions {
            dry_run,
            keep_in_memory: true,
        },
    )?;
    engine
        .prepare(clock::now())
        .await
        .context("preparing the accounts")?;
    seed_example(store, &engine.settings);
    Ok(engine)
}

/// Give the example organisation's healthy pair its agenda history, once (see
/// `example::seed_agenda`); a failure is logged, never fatal.
pub fn seed_example(store: &Store, settings: &Settings) {
    match crate::example::seed_agenda(store, settings) {
        Ok(0) => {}
        Ok(_) => info!("seeded the example pair's agenda history"),
        Err(e) => warn!(error = %e, "could not seed the example pair's agenda history"),
    }
}

/// The two listeners: public (agenda pages) and admin (status page, API).
struct Listeners {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

async fn serve_web(
    settings: &Settings,
    store: &Store,
    pairs: Arc<RwLock<Vec<crate::domain::Pair>>>,
    shared_settings: Arc<RwLock<Arc<Settings>>>,
    ready: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<Listeners> {
    let mut web_state = WebState::new(
        store.clone(),
        pairs,
        settings.daemon.timezone,
        settings.daemon.public_url.clone(),
        Arc::new(clock::now),
    );
    if let Some(sign_in) = &settings.web.sign_in {
        let s = crate::web::SignIn::new(sign_in, &settings.daemon.public_url)
            .map_err(|e| anyhow::anyhow!("web.sign_in: {e}"))?;
        info!(issuer = %sign_in.issuer_url, require_sign_in = sign_in.require_sign_in, "sign-in to the agenda pages enabled");
        web_state = web_state.with_sign_in(Arc::new(s));
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let public = tokio::net::TcpListener::bind(settings.daemon.listen)
        .await
        .with_context(|| format!("listening on {}", settings.daemon.listen))?;
    info!(listen = %settings.daemon.listen, public_url = %settings.daemon.public_url, "agenda pages listening");
    let public_app = crate::web::router(web_state.clone());
    let mut tasks = vec![tokio::spawn({
        let w = wait(stopped.clone());
        async move {
            axum::serve(
                public,
                public_app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(w)
            .await
        }
    })];
    let admin_app = crate::web::admin_router(web_state).merge(api::router(api::ApiState {
        store: store.clone(),
        settings: shared_settings,
        ready,
    }));
    let w = wait(stopped);
    match &settings.daemon.admin_listen {
        AdminListen::Tcp(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr} (admin)"))?;
            info!(admin_listen = %addr, "status page and API listening");
            tasks.push(tokio::spawn(async move {
                axum::serve(l, admin_app).with_graceful_shutdown(w).await
            }));
        }
        AdminListen::Unix(path) => {
            let l = bind_unix(path)?;
            info!(admin_listen = %path.display(), "status page and API listening");
            tasks.push(tokio::spawn(async move {
                axum::serve(l, admin_app).with_graceful_shutdown(w).await
            }));
        }
    }
    Ok(Listeners { stop, tasks })
}

/// Bind the admin Unix socket, owner-only, replacing a stale socket file.
fn bind_unix(path: &std::path::Path) -> anyhow::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_socket()
    {
        std::fs::remove_file(path)
            .with_context(|| format!("removing the stale socket {}", path.display()))?;
    }
    let l = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("listening on {} (admin)", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {}", path.display()))?;
    Ok(l)
}

impl Listeners {
    async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            match tokio::time::timeout(Duration::from_secs(10), t).await {
                Ok(Ok(Err(e))) => warn!(error = %e, "web server stopped with an error"),
                Err(_) => warn!("web server did not stop within 10 s"),
                _ => {}
            }
        }
    }
}

/// `oneonone run`: serve until SIGTERM/SIGINT.
pub async fn run(config_path: std::path::PathBuf, dry_run: bool) -> anyhow::Result<()> {
    let settings = crate::config::load(&config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = Store::open(&settings.daemon.state_dir).with_context(|| {
        format!(
            "opening the store in {}",
            settings.daemon.state_dir.display()
        )
    })?;
    crate::metrics::install();
    let mut engine = Arc::new(build_engine(settings.clone(), &store, dry_run).await?);
    let senders = crate::notify::Senders::new(&settings.notify)?;
    // A dry run sends nothing: what is already in the outbox waits for a real run.
    let delivery = (!engine.dry_run()).then(|| delivery::Delivery::spawn(store.clone(), senders));
    let pairs = Arc::new(RwLock::new(settings.pairs.clone()));
    let shared_settings = Arc::new(RwLock::new(Arc::new(settings.clone())));
    let cycled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listeners = serve_web(
        &settings,
        &store,
        pairs.clone(),
        shared_settings.clone(),
        cycled.clone(),
    )
    .await?;

    let mut poll = settings.daemon.poll_interval;
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
                let cycle = run_cycle(engine.clone(), clock::now(), Arc::new(Progress::default()));
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
                let outcome = match result {
                    Ok(report) if report.failed() => { warn!(%report, "cycle finished with failures"); "partial" }
                    Ok(report) => { info!(%report, "cycle finished"); "ok" }
                    Err(e) => { error!(error = %format!("{e:#}"), "cycle failed"); "error" }
                };
                metrics::counter!(crate::metrics::CYCLES, "result" => outcome).increment(1);
                if outcome != "error" {
                    cycled.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                if let Some(d) = &delivery {
                    d.wake();
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
                match reload(&config_path, &engine.settings, &store, dry_run).await {
                    Ok((new, senders)) => {
                        if let Some(d) = &delivery {
                            d.replace_senders(senders);
                        }
                        poll = new.settings.daemon.poll_interval;
                        if let Ok(mut p) = pairs.write() {
                            p.clone_from(&new.settings.pairs);
                        }
                        if let Ok(mut s) = shared_settings.write() {
                            *s = Arc::new(new.settings.clone());
                        }
                        info!(pairs = new.settings.pairs.len(), accounts = new.settings.accounts.len(), "configuration reloaded");
                        engine = Arc::new(new);
                        next_cycle = tokio::time::Instant::now();
                    }
                    Err(e) => error!("reload rejected, keeping the running configuration: {e:#}"),
                }
            }
        }
    }
    sd_notify(&[sd_notify::NotifyState::Stopping]);
    if let Some(d) = delivery {
        d.stop().await;
    }
    listeners.stop().await;
    store.flush().context("flushing the store")?;
    info!("stopped");
    Ok(())
}

/// Load and validate the configuration again, and build a new engine and senders for it.
async fn reload(
    config_path: &std::path::Path,
    running: &Settings,
    store: &Store,
    dry_run: bool,
) -> anyhow::Result<(Engine, crate::notify::Senders)> {
    let new = crate::config::load(config_path).map_err(|errors| {
        anyhow::anyhow!(
            "{}",
            errors
                .0
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    if new.daemon.state_dir != running.daemon.state_dir
        || new.daemon.listen != running.daemon.listen
        || new.daemon.admin_listen != running.daemon.admin_listen
    {
        warn!("state_dir, listen and admin_listen changes take effect after a restart");
    }
    let senders = crate::notify::Senders::new(&new.notify)?;
    Ok((build_engine(new, store, dry_run).await?, senders))
}
