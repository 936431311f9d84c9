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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        // Under systemd: the journal adds timestamps; no colours.
        builder.without_time().with_ansi(false).init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
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
