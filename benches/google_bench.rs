//! The Google provider benchmark (`cargo bench --bench google_bench`): the emulator, in a child
//! process on loopback (so this process's memory and CPU are the client's alone), generates an
//! organisation of 1,000 people × 500 events (singles, weekly series, all-day events, team
//! meetings with rooms, among random colleagues outside the person's own team, so no generated
//! event is a meeting between a manager and a report). On top of them, the pairs: each `user{8k}`
//! manages `user{8k+1..8k+7}` and organises a weekly 30-minute 1:1 series with each (875 at full
//! size), present in both calendars with the same id and iCalUID, as Google copies an invited
//! event into the attendee's calendar. Every person is in a pair, so a service-account account
//! reads all 1,000 calendars. Measured:
//! - the initial sync (the provider's first fetch into an empty store): wall and CPU time;
//! - the daemon's engine: a first cycle (which writes the agenda blocks), a second (which reads
//!   its own writes back), then a cycle where nothing changed: requests per calendar (target
//!   exactly 1) and writes (target 0);
//! - peak RSS of this process (target < 150 MB);
//! - client CPU per event of the initial sync against a bare `serde_json::Value` parse of the same
//!   pages (target ≤ 3×).
//!
//! `GOOGLE_BENCH_CALENDARS` and `GOOGLE_BENCH_EVENTS` change the sizes.
use chrono::{DateTime, Utc};
use oneonone::daemon::engine::{Engine, EngineOptions};
use oneonone::providers::{OpenContext, Progress, Window};
use oneonone::store::{AccountState, Store};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
mod support;
use support::{
    Emulator, cpu, env_usize, phase_logs_if_asked, rss_mb, runtime, serve_emulator_if_child,
    thread_cpu,
};

const NOW: &str = "2026-11-23T08:00:00Z";
const SA: &str = "bench@bench-project.iam.gserviceaccount.com";
const KEY_A: &str = include_str!("../emulator/tests/support/test-only-sa-a.key.pem");
const PUB_A: &str = include_str!("../emulator/tests/support/test-only-sa-a.pub.pem");
const EMULATOR_MODE: &str = "GOOGLE_BENCH_EMULATOR";

fn user(n: usize) -> String {
    format!("user{n:04}@example.com")
}

fn main() {
    let rt = runtime();
    if serve_emulator_if_child(&rt, EMULATOR_MODE) {
        return;
    }
    phase_logs_if_asked();
    rt.block_on(bench());
}

/// The emulator's request log, whole.
async fn log(emu: &Emulator) -> Vec<Value> {
    emu.http
        .get(format!("{}/_admin/log", emu.base))
        .send()
        .await
        .expect("log")
        .json::<Vec<Value>>()
        .await
        .expect("log json")
}

/// The weekly 30-minute 1:1 of manager `m` with report `r`, organised by the manager, in the
/// manager's calendar and (`mirror`) the report's: same id and iCalUID, like Google's copies.
fn one_on_one(m: usize, r: usize) -> Value {
    let j = r - m;
    // NOW (2026-11-23) is a Monday: the series began three weeks earlier, one weekday per report.
    let day = 21 - ((j - 1) % 5) as i64;
    let hour = 9 + j;
    json!({
        "calendar": user(m), "id": format!("pair{r:04}"), "summary": "1:1",
        "timeZone": "Europe/London",
        "start": format!("-{day}d{hour:02}:00"), "end": format!("-{day}d{hour:02}:30"),
        "recurrence": ["RRULE:FREQ=WEEKLY"],
        "organizer": user(m),
        "attendees": [{"email": user(m), "responseStatus": "accepted"},
                      {"email": user(r), "responseStatus": "accepted"}],
        "mirror": true
    })
}

fn write_config(dir: &std::path::Path, base: &str, calendars: usize) -> std::path::PathBuf {
    let key = json!({"type": "service_account", "client_email": SA, "private_key": KEY_A,
                     "private_key_id": "key-a"});
    std::fs::write(dir.join("sa.json"), key.to_string()).expect("key");
    let mut text = format!(
        "[daemon]\nstate_dir = \"state\"\ntimezone = \"Europe/London\"\npublic_url = \"http://agenda.test\"\n\n\
         [[accounts]]\nname = \"workspace\"\nprovider = \"google\"\nauth = \"service_account\"\n\
         service_account_key = \"sa.json\"\napi_base_url = \"{base}/calendar/v3/\"\ntoken_url = \"{base}/token\"\n\n"
    );
    for c in 0..calendars {
        let manager = (c / 8) * 8;
        if c != manager {
            text.push_str(&format!(
                "[[pairs]]\nmanager = \"{}\"\nreport = \"{}\"\naccount = \"workspace\"\n",
                user(manager),
                user(c)
            ));
        }
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("config");
    path
}

async fn cycle(
    engine: &Arc<Engine>,
    now: DateTime<Utc>,
) -> (oneonone::daemon::engine::CycleReport, Duration) {
    let t = Instant::now();
    let r = oneonone::daemon::run_cycle(engine.clone(), now, Arc::new(Progress::default()))
        .await
        .expect("cycle");
    (r, t.elapsed())
}

async fn bench() {
    let calendars = env_usize("GOOGLE_BENCH_CALENDARS", 1000);
    let events = env_usize("GOOGLE_BENCH_EVENTS", 500);
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339(NOW)
        .map(|t| t.with_timezone(&Utc))
        .expect("now");
    let emu = Emulator::spawn(EMULATOR_MODE);
    let t = Instant::now();
    let series: Vec<Value> = (0..calendars)
        .filter(|c| c % 8 != 0)
        .map(|c| one_on_one((c / 8) * 8, c))
        .collect();
    let pairs = series.len();
    emu.admin(
        "/_admin/scenario",
        &json!({"now": NOW, "google": {
            "generate": {"calendars": calendars, "events_per_calendar": events,
                         "domain": "example.com", "pair_meetings": false},
            "events": series}}),
    )
    .await;
    emu.admin(
        "/_admin/google/service-account",
        &json!({"client_email": SA, "public_key_pem": PUB_A, "private_key_id": "key-a"}),
    )
    .await;
    println!(
        "google_bench: {calendars} calendars × {events} generated events, plus {pairs} weekly 1:1 series with a copy each, seeded in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &emu.base, calendars);
    let settings = oneonone::config::load_with_env(&config, &[]).expect("settings");
    let window = Window {
        start: now - settings.daemon.lookback,
        end: now + settings.daemon.horizon,
    };

    // 1. The initial sync: the provider's first fetch into an empty store.
    let store = Store::open(&settings.daemon.state_dir).expect("store");
    let account = settings.accounts.first().expect("account");
    let (initial_wall, initial_cpu, instances, series, busy) = {
        let provider = oneonone::providers::open(
            account,
            OpenContext::new(
                &settings,
                &account.name,
                AccountState::for_account(&store, &account.name),
                true,
            ),
        )
        .expect("provider");
        let (c0, t0) = (cpu(), Instant::now());
        let snapshot = provider
            .fetch(window, &Progress::default())
            .await
            .expect("initial sync");
        let out = (
            t0.elapsed(),
            cpu() - c0,
            snapshot.instances.len(),
            snapshot.series.len(),
            snapshot.busy.len(),
        );
        let ok = snapshot
            .calendars
            .iter()
            .filter(|c| c.events.is_ok())
            .count();
        assert_eq!(ok, calendars, "every calendar read");
        out
    };
    let (rss_after_sync, peak_sync) = rss_mb();
    store.flush().expect("flush");
    drop(store);

    // 2. The daemon's engine over the synced store: first cycle (writes), second (reads its own
    //    writes back), third (nothing changed).
    let store = Store::open(&settings.daemon.state_dir).expect("store");
    let providers = Engine::open_providers(&settings, &store, true).expect("providers");
    let engine = Arc::new(
        Engine::new(
            settings.clone(),
            store,
            providers,
            EngineOptions {
                dry_run: false,
                keep_in_memory: true,
            },
        )
        .expect("engine"),
    );
    let (r1, w1) = cycle(&engine, now).await;
    let (r2, w2) = cycle(&engine, now).await;
    // The daemon's cycles are a poll interval apart (minutes); back to back, the third would wait
    // for the account's pacer (a burst of 1,000 requests, then 150 a second) to refill after the
    // first two cycles' 3,750 requests. Let it refill, as a poll interval would.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let before = log(&emu).await.len();
    let (c0, _) = (cpu(), ());
    let (r3, w3) = cycle(&engine, now).await;
    let cpu3 = cpu() - c0;
    let quiet: Vec<Value> = log(&emu).await.into_iter().skip(before).collect();
    let api = quiet
        .iter()
        .filter(|e| {
            e["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/calendar/v3/"))
        })
        .count();
    let writes = quiet.iter().filter(|e| e["write"] == true).count();
    let (_, peak) = rss_mb();

    // 3. A bare serde_json parse of the same pages (the full sync's listing), page by page.
    let mut parse_cpu = Duration::ZERO;
    let mut items = 0usize;
    let time_min = window
        .start
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for c in 0..calendars {
        let token = emu.admin("/_admin/token", &json!({"user": user(c)})).await["access_token"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let mut page: Option<String> = None;
        loop {
            let mut q = vec![
                ("maxResults", "2500".to_string()),
                ("timeMin", time_min.clone()),
            ];
            if let Some(p) = &page {
                q.push(("pageToken", p.clone()));
            }
            let body = emu
                .http
                .get(format!(
                    "{}/calendar/v3/calendars/{}/events",
                    emu.base,
                    user(c)
                ))
                .bearer_auth(&token)
                .query(&q)
                .send()
                .await
                .expect("page")
                .bytes()
                .await
                .expect("body");
            let t0 = thread_cpu();
            let v: Value = serde_json::from_slice(&body).expect("json");
            parse_cpu += thread_cpu() - t0;
            items += v["items"].as_array().map_or(0, Vec::len);
            match v["nextPageToken"].as_str() {
                Some(p) => page = Some(p.to_string()),
                None => break,
            }
        }
    }
    let per_event = |d: Duration| d.as_secs_f64() * 1e6 / items.max(1) as f64;

    println!(
        "initial sync (provider fetch, empty store): {:.2} s wall, {:.2} s CPU; {items} events received, {instances} instances and {busy} merged busy intervals, {series} series in the window; RSS after it {rss_after_sync} MB, peak so far {peak_sync} MB",
        initial_wall.as_secs_f64(),
        initial_cpu.as_secs_f64()
    );
    println!(
        "engine cycle 1 (writes the blocks): {:.2} s, {} writes, {} failures; {}",
        w1.as_secs_f64(),
        r1.writes,
        r1.write_failures,
        r1
    );
    println!(
        "engine cycle 2 (reads its own writes back): {:.2} s, {} writes",
        w2.as_secs_f64(),
        r2.writes
    );
    println!(
        "engine cycle 3 (nothing changed): {:.2} s wall, {:.2} s CPU; {api} Calendar API requests for {calendars} calendars = {:.2} per calendar (target 1); {writes} writes (target 0); report writes {}",
        w3.as_secs_f64(),
        cpu3.as_secs_f64(),
        api as f64 / calendars as f64,
        r3.writes
    );
    println!("peak RSS of this process: {peak} MB (target < 150 MB)");
    println!(
        "client CPU per event (initial sync): {:.2} µs; bare serde_json parse of the same pages: {:.2} µs per event; ratio {:.2} (target ≤ 3)",
        per_event(initial_cpu),
        per_event(parse_cpu),
        initial_cpu.as_secs_f64() / parse_cpu.as_secs_f64().max(1e-9)
    );
    // The request and write targets are exact: a quiet cycle that reads more or writes anything
    // is a regression, whatever the machine.
    if api != calendars || writes != 0 || r3.writes != 0 {
        eprintln!(
            "FAILED: the cycle where nothing changed made {api} requests for {calendars} calendars and {writes} writes"
        );
        std::process::exit(1);
    }
}
