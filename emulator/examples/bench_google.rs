//! Benchmark of the Google emulator: seed an organisation, then drive events.list page requests
//! with a bounded number of concurrent clients for a bounded time and print requests per second.
//!
//! `cargo run --release -p oneonone-emulator --example bench_google -- [CALENDARS] [EVENTS] [SECONDS] [CONCURRENCY] [MAX_RESULTS]`
//! (defaults: 1000 calendars, 500 events each, 10 s, 32 clients, maxResults 50).
use oneonone_emulator::{Ctx, FaultConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (calendars, events, seconds, concurrency, max_results) = (
        arg(1, 1000),
        arg(2, 500),
        arg(3, 10),
        arg(4, 32),
        arg(5, 50),
    );
    let ctx = Arc::new(Ctx::new(42, FaultConfig::default()));
    let addr = oneonone_emulator::start(ctx.clone()).await?;
    let base = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency as usize)
        .build()?;

    let seed_start = Instant::now();
    let r = http
        .post(format!("{base}/_admin/scenario"))
        .json(&json!({"now": "2026-11-23T08:00:00Z",
                      "google": {"generate": {"calendars": calendars, "events_per_calendar": events}}}))
        .send()
        .await?;
    anyhow::ensure!(
        r.status().is_success(),
        "seeding failed: {}",
        r.text().await?
    );
    let seed_time = seed_start.elapsed();
    println!(
        "seeded {calendars} calendars x {events} events in {:.2} s",
        seed_time.as_secs_f64()
    );

    // One token per calendar owner would be realistic, but a token is just a table lookup; use an
    // admin-style token and address calendars by id.
    let tok: Value = http
        .post(format!("{base}/_admin/token"))
        .json(&json!({"user": "user0000@example.com"}))
        .send()
        .await?
        .json()
        .await?;
    let token = tok["access_token"].as_str().unwrap_or_default().to_string();

    let done = Arc::new(AtomicU64::new(0));
    let items = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        let (done, items, errors) = (done.clone(), items.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut n: u64 = worker;
            let mut page: Option<String> = None;
            let mut cal = 0;
            while Instant::now() < deadline {
                if page.is_none() {
                    cal = (n.wrapping_mul(2_654_435_761)) % calendars;
                    n += concurrency;
                }
                let mut url = format!(
                    "{base}/calendar/v3/calendars/user{cal:04}@example.com/events?maxResults={max_results}&singleEvents=true&timeMin=2026-10-01T00:00:00Z"
                );
                if let Some(p) = &page {
                    url.push_str("&pageToken=");
                    url.push_str(p);
                }
                // Only scan the body for the page token: parsing 50 events per response would make
                // this client, not the emulator, the bottleneck on a small machine.
                match http.get(&url).bearer_auth(&token).send().await {
                    Ok(r) if r.status().is_success() => match r.bytes().await {
                        Ok(body) => {
                            let text = std::str::from_utf8(&body).unwrap_or("");
                            items.fetch_add(text.matches("\"kind\":\"calendar#event\"").count() as u64, Ordering::Relaxed);
                            page = text.split_once("\"nextPageToken\":\"").and_then(|(_, rest)| rest.split_once('"')).map(|(t, _)| t.to_string());
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            page = None;
                        }
                    },
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        page = None;
                    }
                }
            }
        }));
    }
    let started = Instant::now();
    for t in tasks {
        t.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "{n} list-page requests in {elapsed:.2} s with {concurrency} clients, maxResults={max_results}: {:.0} req/s, {:.0} items/s, {} errors",
        n as f64 / elapsed,
        items.load(Ordering::Relaxed) as f64 / elapsed,
        errors.load(Ordering::Relaxed)
    );
    Ok(())
}
