//! The subcommands: `run`, `check`, `sync --once`, `status`, `meetings`, `discover`, `auth`,
//! `agenda rotate-link`, `agenda export`. This is the
//! edge: it reads the configuration, opens the store, calls the engine, and renders output. The
//! `--json` shapes are an API Boundary (scripts and monitoring depend on them); they are the
//! view structs of `crate::views`.
pub mod agenda;
mod progress;
pub mod views;

use crate::config::Settings;
use crate::daemon::clock;
use crate::daemon::engine::{Engine, EngineOptions};
use crate::store::Store;
use anyhow::{Context, anyhow};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Default configuration path (systemd deployments).
pub const DEFAULT_CONFIG: &str = "/etc/oneonone/config.toml";

#[derive(Parser, Debug)]
#[command(
    name = "oneonone",
    version,
    about = "Keeps managers' 1:1 meetings healthy: cadence, duration, cancellations and a shared agenda in every invite."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Plan and log every write, perform none.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Evaluate as if it were this time (RFC 3339), for what-if checks and tests. Not for `run`.
    #[arg(long, global = true, value_name = "TIME")]
    pub now: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon in the foreground (systemd runs this).
    Run(ConfigArg),
    /// Validate the configuration: exit 0, or exit 2 printing "PATH:LINE:COL: message".
    Check(ConfigArg),
    /// One sync + evaluate + write cycle (exit 0 ok, 1 partial failure).
    Sync {
        #[command(flatten)]
        config: ConfigArg,
        /// Run a single cycle and exit (required: the loop is `oneonone run`).
        #[arg(long, required = true)]
        once: bool,
    },
    /// Per-pair health from the store (no calendar access).
    Status {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        json: bool,
    },
    /// The 1:1 occurrences the store knows, with their status and agenda links.
    Meetings {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        json: bool,
        /// Only this pair (MANAGER~REPORT).
        #[arg(long)]
        pair: Option<String>,
        /// From this date (YYYY-MM-DD in the configured time zone, or RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Up to this date (inclusive when a date).
        #[arg(long)]
        to: Option<String>,
    },
    /// 1:1s seen on calendars but not configured, printed as [[pairs]] TOML.
    Discover(ConfigArg),
    /// Sign an account in (OAuth consent, device code) and store its refresh token (0600).
    Auth {
        #[command(flatten)]
        config: ConfigArg,
        /// The `[[accounts]]` name.
        #[arg(long)]
        account: String,
    },
    /// The pairs' shared agendas: rotate a pair's stable link, export its history.
    Agenda {
        #[command(subcommand)]
        action: AgendaCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum AgendaCommand {
    /// Give the pair a new stable link (the old one stops working at once); the next cycle
    /// writes it into the pair's series where edits are silent.
    RotateLink {
        #[command(flatten)]
        config: ConfigArg,
        /// The pair (MANAGER~REPORT).
        pair: String,
    },
    /// The pair's shared history (agendas, notes, decisions, goals) as Markdown; never anyone's
    /// private notes.
    Export {
        #[command(flatten)]
        config: ConfigArg,
        /// The pair (MANAGER~REPORT).
        pair: String,
        /// Write to this file (created 0600) instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug, Clone)]
pub struct ConfigArg {
    /// Path of the configuration file.
    #[arg(long, default_value = DEFAULT_CONFIG, env = "ONEONONE_CONFIG")]
    pub config: PathBuf,
}

/// Load the configuration or explain every error.
fn load_settings(path: &std::path::Path) -> anyhow::Result<Settings> {
    crate::config::load(path).map_err(|e| anyhow!("invalid configuration:\n{e}"))
}

fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let dir = &settings.daemon.state_dir;
    Store::open(dir).map_err(|e| {
        anyhow!(
            "cannot open the store in {}: {e}\n(if the daemon is running it holds the store; stop it, or use `oneonone status`, which asks the running daemon)",
            dir.display()
        )
    })
}

/// Dispatch a parsed command line.
pub async fn main(cli: Cli) -> anyhow::Result<ExitCode> {
    let now = cli.now.unwrap_or_else(clock::now);
    match cli.command {
        Command::Run(_) if cli.now.is_some() => Err(anyhow!("--now is not supported with `run`")),
        Command::Run(c) => {
            crate::daemon::run(c.config, cli.dry_run).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(c) => Ok(check(&c.config)),
        Command::Sync { config, .. } => sync_once(&config.config, cli.dry_run, now).await,
        Command::Status { config, json } => {
            let settings = load_settings(&config.config)?;
            let view = views::status(&settings, now).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                print!("{}", crate::views::status_text(&view));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Meetings {
            config,
            json,
            pair,
            from,
            to,
        } => {
            let settings = load_settings(&config.config)?;
            let filter = crate::views::MeetingFilter::parse(
                pair.as_deref(),
                from.as_deref(),
                to.as_deref(),
                settings.daemon.timezone,
            )?;
            let list = views::meetings(&settings, &filter).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print!(
                    "{}",
                    crate::views::meetings_text(&list, settings.daemon.timezone)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Auth { config, account } => {
            let settings = load_settings(&config.config)?;
            let acc = settings
                .accounts
                .iter()
                .find(|a| a.name == account)
                .ok_or_else(|| {
                    let names: Vec<&str> =
                        settings.accounts.iter().map(|a| a.name.as_str()).collect();
                    anyhow!(
                        "no account {account:?} in the configuration (accounts: {})",
                        names.join(", ")
                    )
                })?;
            let line = crate::providers::authenticate(
                acc,
                crate::providers::AuthContext {
                    state_dir: settings.daemon.state_dir.clone(),
                    now,
                },
            )
            .await?;
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Agenda { action } => agenda_command(action, now).await,
        Command::Discover(c) => {
            let settings = load_settings(&c.config)?;
            print!("{}", views::discover(&settings, now).await?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn agenda_command(
    action: AgendaCommand,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<ExitCode> {
    match action {
        AgendaCommand::RotateLink { config, pair } => {
            let settings = load_settings(&config.config)?;
            print!("{}", agenda::rotate_link(&settings, &pair).await?);
        }
        AgendaCommand::Export {
            config,
            pair,
            output,
        } => {
            let settings = load_settings(&config.config)?;
            let text = agenda::export(&settings, &pair, now).await?;
            match output {
                Some(path) => agenda::write_private(&path, &text)?,
                None => print!("{text}"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `check`: exit 0 when valid, else 2 with one `PATH:LINE:COL: message` line per error.
fn check(path: &std::path::Path) -> ExitCode {
    match crate::config::load(path) {
        Ok(s) => {
            if let Some(warning) = secret_permissions_warning(&s, path) {
                println!("{warning}");
            }
            if let Some(sign_in) = &s.web.sign_in
                && let Some(w) = crate::auth::secret_file_too_open(&sign_in.client_secret_file)
            {
                println!("{}: warning: web.sign_in: {w}", path.display());
            }
            for a in &s.accounts {
                for f in a.provider.secret_files() {
                    if let Some(w) = crate::auth::secret_file_too_open(f) {
                        println!("{}: warning: account {}: {w}", path.display(), a.name);
                    }
                }
            }
            for f in s.notify.secret_files() {
                if let Some(w) = crate::auth::secret_file_too_open(f) {
                    println!("{}: warning: notify: {w}", path.display());
                }
            }
            println!(
                "{}: ok ({} account{}, {} pair{})",
                path.display(),
                s.accounts.len(),
                if s.accounts.len() == 1 { "" } else { "s" },
                s.pairs.len(),
                if s.pairs.len() == 1 { "" } else { "s" }
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors.0 {
                println!("{e}");
            }
            ExitCode::from(2)
        }
    }
}

/// A webhook URL is a secret (anyone holding it can post to the channel): a config file that
/// holds one inline should not be readable by others.
fn secret_permissions_warning(settings: &Settings, path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    settings
        .notify
        .webhooks
        .iter()
        .find(|w| w.url_file.is_none())?;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "{}: warning: holds a webhook URL (a secret) but is readable by group or others (mode {:o}); run chmod 600",
            path.display(),
            mode & 0o777
        )
    })
}

async fn sync_once(
    path: &std::path::Path,
    dry_run: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<ExitCode> {
    let settings = load_settings(path)?;
    let store = open_store(&settings)?;
    let senders = crate::notify::Senders::new(&settings.notify)?;
    let providers = Engine::open_providers(&settings, &store, false)?;
    let engine = Engine::new(
        settings,
        store,
        providers,
        EngineOptions {
            dry_run,
            keep_in_memory: false,
        },
    )?;
    engine.prepare(now).await?;
    crate::daemon::seed_example(&engine.store, &engine.settings);
    let engine = std::sync::Arc::new(engine);
    let progress = std::sync::Arc::new(crate::providers::Progress::default());
    let line = progress::ProgressLine::start(progress.clone());
    let report = crate::daemon::run_cycle(engine.clone(), now, progress).await;
    drop(line);
    let mut report = report.context("running the sync cycle")?;
    if !engine.dry_run() {
        // Deliver what this cycle (or an earlier run) enqueued and is due.
        let d = crate::notify::outbox::deliver_due(&engine.store, &senders, now).await;
        report.notify_failures += d.retrying + d.failed + d.store_errors;
        if d != crate::notify::outbox::DeliveryReport::default() {
            println!(
                "notifications: sent={} retrying={} failed={} dropped={}",
                d.sent, d.retrying, d.failed, d.dropped
            );
        }
    }
    engine.store.flush().context("flushing the store")?;
    println!("{report}");
    print!("{}", report.unreadable_summary());
    Ok(if report.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
