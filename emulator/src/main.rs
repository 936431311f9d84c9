//! `oneonone-emulator`: serves the Google Calendar and Microsoft Graph emulators on one address.
use clap::Parser;
use oneonone_emulator::{Ctx, FaultConfig};
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "oneonone-emulator",
    about = "Google Calendar v3 and Microsoft Graph emulator (test-only)"
)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8025")]
    listen: String,
    /// Seed for every random choice (fault injection, ids), so runs are reproducible.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Fraction of API requests answered with a 5xx error (0.0–1.0).
    #[arg(long, default_value_t = 0.0)]
    fault_5xx: f64,
    /// Fraction of API requests answered with a rate-limit error (0.0–1.0).
    #[arg(long, default_value_t = 0.0)]
    fault_throttle: f64,
    /// Fraction of API requests whose sync token / delta state is treated as expired (0.0–1.0).
    #[arg(long, default_value_t = 0.0)]
    fault_expired_sync: f64,
    /// Fraction of API requests whose connection is dropped without a response (0.0–1.0).
    #[arg(long, default_value_t = 0.0)]
    fault_drop: f64,
    /// Fraction of API requests delayed by a further `--slow-ms` (0.0–1.0).
    #[arg(long, default_value_t = 0.0)]
    fault_slow: f64,
    /// Extra delay of a slow response, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    slow_ms: u64,
    /// Added latency per API request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let faults = FaultConfig {
        fraction_5xx: args.fault_5xx,
        fraction_throttle: args.fault_throttle,
        latency_ms: args.latency,
        fraction_expired_sync: args.fault_expired_sync,
        fraction_drop: args.fault_drop,
        fraction_slow: args.fault_slow,
        slow_ms: args.slow_ms,
    };
    let ctx = Arc::new(Ctx::new(args.seed, faults));
    oneonone_emulator::serve(&args.listen, ctx).await
}
