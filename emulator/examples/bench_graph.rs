//! Benchmark of the Graph emulator: starts the app in-process on 127.0.0.1:0, seeds a generated
//! organisation through `POST /_admin/scenario` (timed), then drives calendarView/delta page
//! requests from a bounded number of concurrent reqwest clients for a bounded time, spreading the
//! load over mailboxes (Outlook's limit is 4 concurrent requests per mailbox). Prints the seed
//! time and the page requests per second.
//!
//! `cargo run --release -p oneonone-emulator --example bench_graph -- [secs] [workers] [mailboxes] [events] [pagesize]`
//! (defaults: 10 s, 32 workers, 1000 mailboxes, 500 events, page size 10).
use oneonone_emulator::{Ctx, FaultConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Only what the driver needs from a delta page (items are skipped, not built).
#[derive(serde::Deserialize)]
struct Page {
    #[serde(rename = "@odata.nextLink")]
    next: Option<String>,
    value: Vec<serde::de::IgnoredAny>,
}

/// CPU seconds used by this process so far (Linux `/proc/self/stat`, 100 ticks per second),
/// so the figure can be normalised when the machine is shared.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secs = arg(1, 10);
    let workers = arg(2, 32);
    let mailboxes = arg(3, 1000);
    let events = arg(4, 500);
    let page_size = arg(5, 10);

    let ctx = Arc::new(Ctx::new(42, FaultConfig::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    ctx.set_base_url(base.clone());
    let app = oneonone_emulator::app(ctx.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let admin = reqwest::Client::new();
    let t0 = Instant::now();
    let r = admin
        .post(format!("{base}/_admin/scenario"))
        .json(&json!({"now": "2026-01-05T12:00:00Z",
            "graph": {"generate": {"mailboxes": mailboxes, "events_per_mailbox": events}}}))
        .send()
        .await?;
    anyhow::ensure!(
        r.status().is_success(),
        "seeding failed: {}",
        r.text().await?
    );
    let seed_time = t0.elapsed();
    println!(
        "seeded {mailboxes} mailboxes x {events} events in {:.2} s",
        seed_time.as_secs_f64()
    );

    let tok: Value = admin
        .post(format!("{base}/_admin/token"))
        .json(&json!({"user": "bench-app", "app_only": true}))
        .send()
        .await?
        .json()
        .await?;
    let token = tok["access_token"].as_str().unwrap_or_default().to_string();

    let pages = Arc::new(AtomicU64::new(0));
    let items = Arc::new(AtomicU64::new(0));
    let rounds = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let cpu0 = cpu_seconds();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (base, token) = (base.clone(), token.clone());
        let (pages, items, rounds, errors) =
            (pages.clone(), items.clone(), rounds.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut k = w;
            while Instant::now() < deadline {
                let mb = k % mailboxes;
                k += workers;
                let mut url = format!(
                    "{base}/v1.0/users/user{mb:05}@contoso.com/calendarView/delta?startDateTime=2025-12-22T00:00:00Z&endDateTime=2026-02-02T00:00:00Z"
                );
                loop {
                    let res = client
                        .get(&url)
                        .bearer_auth(&token)
                        .header("Prefer", format!("odata.maxpagesize={page_size}"))
                        .send()
                        .await;
                    let Ok(res) = res else {
                        errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    };
                    if !res.status().is_success() {
                        errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    let Ok(page) = res.json::<Page>().await else {
                        errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    };
                    pages.fetch_add(1, Ordering::Relaxed);
                    items.fetch_add(page.value.len() as u64, Ordering::Relaxed);
                    match page.next.as_deref() {
                        Some(n) if Instant::now() < deadline => url = n.to_string(),
                        Some(_) => break,
                        None => {
                            rounds.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    let p = pages.load(Ordering::Relaxed);
    println!(
        "{p} delta page requests in {elapsed:.1} s with {workers} clients: {:.0} req/s; {} items, {} complete rounds, {} errors",
        p as f64 / elapsed,
        items.load(Ordering::Relaxed),
        rounds.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed)
    );
    if let Some(cpu) = cpu.filter(|c| *c > 0.0) {
        println!(
            "process CPU during the drive (server and clients together): {cpu:.1} s = {:.2} cores; {:.0} req per CPU-second",
            cpu / elapsed,
            p as f64 / cpu
        );
    }
    Ok(())
}
