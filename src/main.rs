//! `oneonone`: parse the command line, set up logging, dispatch to `cli`.
use clap::Parser;
use std::process::ExitCode;

fn init_tracing(command: &oneonone::cli::Command) {
    use tracing_subscriber::EnvFilter;
    // The daemon and sync log their work at info; the read-only commands stay quiet unless asked.
    let default = match command {
        oneonone::cli::Command::Run(_) | oneonone::cli::Command::Sync { .. } => "info",
        _ => "warn",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        // Under systemd: structured entries straight to the journal, so a finding's pair, kind
        // and severity are journal fields (`journalctl PAIR=… KIND=…`); if the journal socket
        // cannot be reached, plain lines on stderr (the journal adds timestamps; no colours).
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        match tracing_journald::layer() {
            Ok(journal) => {
                let journal = journal
                    .with_field_prefix(None)
                    .with_syslog_identifier("oneonone".into());
                tracing_subscriber::registry()
                    .with(filter)
                    .with(journal)
                    .init();
            }
            Err(_) => tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .without_time()
                .with_ansi(false)
                .init(),
        }
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
}

fn main() -> ExitCode {
    oneonone::memory::limit_malloc_arenas();
    let cli = oneonone::cli::Cli::parse();
    init_tracing(&cli.command);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("oneonone: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(oneonone::cli::main(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("oneonone: {e:#}");
            ExitCode::FAILURE
        }
    }
}
