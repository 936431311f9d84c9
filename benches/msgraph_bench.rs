//! The Microsoft 365 provider benchmark (`cargo bench --bench msgraph_bench`). The emulator runs
//! in a child process on loopback (this binary again, with `MSGRAPH_BENCH_EMULATOR` set), so this
//! process's memory and CPU time are the client's alone. The organisation comes from the Graph
//! emulator's generator (its fastest loading path: built in the emulator, no JSON of the events
//! travels): 1,000 mailboxes × 500 events (singles and weekly series among random colleagues and
//! rooms, random Windows zones). On top of them, the pairs: each `user{8k}` manages
//! `user{8k+1..8k+7}` and organises a weekly 1:1 series with each (a Teams invite body), with the
//! report's copy in the report's mailbox, so every mailbox belongs to a pair and is read. The
//! provider is an app-only (`client_credentials`) account, driven through the `Provider` boundary
//! and the daemon's engine. Measured:
//! - the initial sync (the provider's first fetch into an empty store: `calendarView/delta` per
//!   mailbox, every page, and the master of every series with occurrences in the window, since
//!   an occurrence alone does not say who is in it): wall and CPU time (getrusage);
//! - the engine: a first cycle (which writes each series' block once), a second (which reads its
//!   own writes back), then a cycle where nothing changed: Graph requests per mailbox (target
//!   exactly one delta request each) and writes (target 0), from the emulator's request log;
//! - peak RSS of this process (target < 150 MB), also per phase (the kernel's high-water mark is
//!   reset between the initial sync and the engine's cycles). The request log is read by a child
//!   process, so its size never counts here.
//!
//! The benchmark fails (exit status 1) if the no-change cycle makes anything but exactly one
//! delta request per mailbox, or any write. `MSGRAPH_BENCH_MAILBOXES` and `MSGRAPH_BENCH_EVENTS`
//! change the sizes; `RUST_LOG=oneonone=debug` logs the engine's phases with their resident memory.
use chrono::{DateTime, Utc};
use oneonone::daemon::engine::{CycleReport, Engine, EngineOptions};
use oneonone::providers::{OpenContext, Progress, Window};
use oneonone::store::{AccountState, Store};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
mod support;
use support::{
    Emulator, cpu, env_usize, phase_logs_if_asked, reset_peak, rss_mb, runtime,
    serve_emulator_if_child,
};

/// Friday 20 November 2026, 12:00 UTC.
const NOW: &str = "2026-11-20T12:00:00Z";
const DOMAIN: &str = "contoso.com";
const CLIENT_ID: &str = "bench-daemon";
const SECRET: &str = "bench-s3cret";
const TEAMS: &str = include_str!("../tests/fixtures/msgraph/teams_invite.html");
const EMULATOR_MODE: &str = "MSGRAPH_BENCH_EMULATOR";
/// Set (to a log position) in the child that reads the emulator's request log, so its parsing
/// never adds to this process's memory.
const LOG_MODE: &str = "MSGRAPH_BENCH_LOG_FROM";
/// A manager and the seven reports after them.
const TEAM: usize = 8;

/// The generator's address of mailbox `i` (at least five digits).
fn user(i: usize, mailboxes: usize) -> String {
    let width = mailboxes.saturating_sub(1).to_string().len().max(5);
    format!("user{i:0width$}@{DOMAIN}")
}

fn main() {
    let rt = runtime();
    if serve_emulator_if_child(&rt, EMULATOR_MODE) {
        return;
    }
    if let Some(from) = std::env::var_os(LOG_MODE) {
        let from = from.to_str().and_then(|f| f.parse().ok()).unwrap_or(0);
        let base = std::env::args().nth(1).expect("the emulator's address");
        let summary = rt.block_on(summarise_log(&base, from));
        println!("{}", serde_json::to_string(&summary).expect("summary"));
        return;
    }
    phase_logs_if_asked();
    let failures = rt.block_on(bench());
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("msgraph_bench: FAILED: {f}");
        }
        std::process::exit(1);
    }
}

/// The fields of a logged request the benchmark looks at.
#[derive(Deserialize)]
struct Logged {
    api: String,
    method: String,
    path: String,
    write: bool,
    notifying: bool,
}

impl Logged {
    /// The mailbox of a `/v1.0/users/{mailbox}/…` request.
    fn mailbox(&self) -> Option<&str> {
        let rest = self.path.split_once("/users/")?.1;
        Some(rest.split('/').next().unwrap_or(rest))
    }

    fn is_delta(&self) -> bool {
        self.method == "GET" && self.path.ends_with("/calendarView/delta")
    }
}

impl Emulator {
    /// What the Graph API requests logged from position `from` on were, read by a child process.
    fn log_summary(&self, from: usize) -> Summary {
        let out = std::process::Command::new(std::env::current_exe().expect("exe"))
            .env(LOG_MODE, from.to_string())
            .env_remove("LD_PRELOAD")
            .arg(&self.base)
            .output()
            .expect("run the log reader");
        assert!(
            out.status.success(),
            "the log reader failed: {}",
            out.status
        );
        serde_json::from_slice(&out.stdout).expect("the log reader's summary")
    }
}

/// The Graph API requests of a stretch of the emulator's log.
#[derive(Serialize, Deserialize, Default)]
struct Summary {
    /// Graph requests logged in all (the position after this stretch).
    end: usize,
    total: usize,
    delta: usize,
    writes: usize,
    notifying: usize,
    /// Requests that are no delta request of a mailbox.
    others: usize,
    /// Mailboxes with exactly one delta request, and with more than one.
    mailboxes_once: usize,
    mailboxes_more: usize,
}

async fn summarise_log(base: &str, from: usize) -> Summary {
    let all: Vec<Logged> = reqwest::Client::new()
        .get(format!("{base}/_admin/log"))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("log json");
    let graph: Vec<Logged> = all.into_iter().filter(|e| e.api == "graph").collect();
    let part = graph.get(from..).unwrap_or_default();
    let mut per_mailbox: BTreeMap<&str, usize> = BTreeMap::new();
    let mut others = 0usize;
    for e in part {
        match e.mailbox() {
            Some(mb) if e.is_delta() => *per_mailbox.entry(mb).or_default() += 1,
            _ => others += 1,
        }
    }
    Summary {
        end: graph.len(),
        total: part.len(),
        delta: part.iter().filter(|e| e.is_delta()).count(),
        writes: part.iter().filter(|e| e.write).count(),
        notifying: part.iter().filter(|e| e.notifying).count(),
        others,
        mailboxes_once: per_mailbox.values().filter(|&&n| n == 1).count(),
        mailboxes_more: per_mailbox.values().filter(|&&n| n > 1).count(),
    }
}

/// Manager `m`'s weekly 1:1 with report `r` (`j`-th of the team, 1…7): Monday to Friday in turn,
/// 10:00 to 16:00 UTC, started three weeks ago, no end. `copy`: the report's copy.
fn one_on_one(m: &str, r: &str, j: usize, n: usize, copy: bool) -> Value {
    const DAYS: [&str; 5] = ["monday", "tuesday", "wednesday", "thursday", "friday"];
    let weekday = (j - 1) % DAYS.len();
    let id = format!("AAMkAGpair{n}{}", if copy { "copy" } else { "" });
    json!({
        "id": id, "iCalUId": format!("BENCH-PAIR-{n}"), "subject": "1:1", "body": TEAMS,
        "organizer": {"address": m, "name": m},
        // 2026-11-02 is a Monday.
        "start": {"days": -18 + weekday as i64, "time": format!("{:02}:00", 9 + j), "timeZone": "UTC"},
        "duration_minutes": 30,
        "attendees": [{"address": r, "name": r, "response": "accepted"}],
        "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [DAYS[weekday]],
                                   "firstDayOfWeek": "sunday"},
                       "range": {"type": "noEnd"}}
    })
}

fn write_config(
    dir: &std::path::Path,
    base: &str,
    pairs: &[(String, String)],
) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let secret = dir.join("m365-secret");
    std::fs::write(&secret, format!("{SECRET}\n")).expect("secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let mut text = format!(
        "[daemon]\nstate_dir = \"state\"\ntimezone = \"Europe/London\"\npublic_url = \"http://agenda.test\"\n\n\
         [[accounts]]\nname = \"m365\"\nprovider = \"microsoft\"\nauth = \"client_credentials\"\n\
         tenant = \"contoso.onmicrosoft.com\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_file = \"m365-secret\"\n\
         api_base_url = \"{base}/v1.0\"\nauthority_url = \"{base}\"\n\n"
    );
    for (m, r) in pairs {
        text.push_str(&format!(
            "[[pairs]]\nmanager = \"{m}\"\nreport = \"{r}\"\naccount = \"m365\"\n"
        ));
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("config");
    path
}

async fn cycle(engine: &Arc<Engine>, now: DateTime<Utc>) -> (CycleReport, Duration, Duration) {
    let (c0, t0) = (cpu(), Instant::now());
    let r = oneonone::daemon::run_cycle(engine.clone(), now, Arc::new(Progress::default()))
        .await
        .expect("cycle");
    (r, t0.elapsed(), cpu() - c0)
}

async fn bench() -> Vec<String> {
    let mailboxes = env_usize("MSGRAPH_BENCH_MAILBOXES", 1000).max(2);
    let events = env_usize("MSGRAPH_BENCH_EVENTS", 500);
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339(NOW)
        .map(|t| t.with_timezone(&Utc))
        .expect("now");
    let emu = Emulator::spawn(EMULATOR_MODE);

    // The organisation, generated inside the emulator, then the pairs' series.
    let t = Instant::now();
    emu.admin(
        "/_admin/scenario",
        &json!({"now": NOW, "graph": {
            "generate": {"mailboxes": mailboxes, "events_per_mailbox": events, "domain": DOMAIN},
            "apps": [{"client_id": CLIENT_ID, "client_secret": SECRET}]}}),
    )
    .await;
    let generated = t.elapsed();
    let mut pairs = Vec::new();
    for i in 0..mailboxes {
        let manager = (i / TEAM) * TEAM;
        if i != manager {
            pairs.push((user(manager, mailboxes), user(i, mailboxes), i - manager));
        }
    }
    for (n, (m, r, j)) in pairs.iter().enumerate() {
        let edit = |mailbox: &str, copy: bool| json!({"mailbox": mailbox, "create": one_on_one(m, r, *j, n, copy)});
        emu.admin("/_admin/graph/edit", &edit(m, false)).await;
        emu.admin("/_admin/graph/edit", &edit(r, true)).await;
    }
    let pairs: Vec<(String, String)> = pairs.into_iter().map(|(m, r, _)| (m, r)).collect();
    println!(
        "msgraph_bench: {mailboxes} mailboxes × {events} generated events (in {:.1} s), plus {} weekly 1:1 series with a copy each (in {:.1} s)",
        generated.as_secs_f64(),
        pairs.len(),
        (t.elapsed() - generated).as_secs_f64()
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &emu.base, &pairs);
    let settings = oneonone::config::load_with_env(&config, &[]).expect("settings");
    let window = Window {
        start: now - settings.daemon.lookback,
        end: now + settings.daemon.horizon,
    };

    // 1. The initial sync: the provider's first fetch into an empty store.
    let store = Store::open(&settings.daemon.state_dir).expect("store");
    let account = settings.accounts.first().expect("account");
    let (initial_wall, initial_cpu, instances, calendars_ok) = {
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
        let wall = t0.elapsed();
        let cpu_used = cpu() - c0;
        let ok = snapshot
            .calendars
            .iter()
            .filter(|c| c.events.is_ok())
            .count();
        (wall, cpu_used, snapshot.instances.len(), ok)
    };
    let (rss_after_sync, peak_sync) = rss_mb();
    store.flush().expect("flush");
    drop(store);
    reset_peak();
    let initial = emu.log_summary(0);

    // 2. The daemon's engine over the synced store: a first cycle (writes each series' block), a
    //    second (reads its own writes back), a third (nothing changed).
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
    let (r1, w1, cpu1) = cycle(&engine, now).await;
    let c1 = emu.log_summary(initial.end);
    let (r2, w2, cpu2) = cycle(&engine, now).await;
    let c2 = emu.log_summary(c1.end);
    let (r3, w3, cpu3) = cycle(&engine, now).await;
    let (rss_end, peak_engine) = rss_mb();
    let peak = peak_sync.max(peak_engine);
    let c3 = emu.log_summary(c2.end);
    let one_each = c3.mailboxes_once == mailboxes && c3.mailboxes_more == 0 && c3.others == 0;

    let ok = |b: bool| if b { "ok" } else { "MISSED" };
    println!();
    println!("| Microsoft 365, {mailboxes} mailboxes × {events} events | measured | target |");
    println!("|---|---|---|");
    println!(
        "| initial sync (empty store): wall | {:.2} s | |",
        initial_wall.as_secs_f64()
    );
    println!(
        "| initial sync: CPU of this process | {:.2} s | |",
        initial_cpu.as_secs_f64()
    );
    println!(
        "| initial sync: Graph requests | {} ({} delta pages, {} others: series masters) | |",
        initial.total, initial.delta, initial.others
    );
    println!("| initial sync: mailboxes read completely | {calendars_ok} of {mailboxes} | all |");
    println!("| initial sync: instances (the pairs' meetings) | {instances} | |");
    println!(
        "| engine cycle 1 (writes the blocks) | {:.2} s wall, {:.2} s CPU; {} writes ({} mailing attendees), {} failed | once per series or single event |",
        w1.as_secs_f64(),
        cpu1.as_secs_f64(),
        r1.writes,
        c1.notifying,
        r1.write_failures
    );
    println!(
        "| engine cycle 2 (reads its writes back) | {:.2} s wall, {:.2} s CPU; {} requests, {} writes (engine reports {}) | 0 writes |",
        w2.as_secs_f64(),
        cpu2.as_secs_f64(),
        c2.total,
        c2.writes,
        r2.writes
    );
    println!(
        "| no-change cycle | {:.2} s wall, {:.2} s CPU | |",
        w3.as_secs_f64(),
        cpu3.as_secs_f64()
    );
    println!(
        "| no-change cycle: requests | {} ({} delta, {:.2} per mailbox; {} others) | 1 delta per mailbox: {} |",
        c3.total,
        c3.delta,
        c3.total as f64 / mailboxes as f64,
        c3.others,
        ok(one_each)
    );
    println!(
        "| no-change cycle: writes | {} (engine reports {}) | 0: {} |",
        c3.writes,
        r3.writes,
        ok(c3.writes == 0 && r3.writes == 0)
    );
    println!(
        "| peak RSS during the initial sync (RSS after it) | {peak_sync} MB ({rss_after_sync} MB) | |"
    );
    println!(
        "| peak RSS during the engine's three cycles (RSS after them) | {peak_engine} MB ({rss_end} MB) | |"
    );
    println!(
        "| peak RSS of this process | {peak} MB | < 150 MB: {} |",
        ok(peak < 150)
    );
    println!();
    if r1.write_failures > 0 || r1.accounts_failed > 0 {
        println!("cycle 1: {r1}");
    }

    let mut failures = Vec::new();
    if !one_each {
        failures.push(format!(
            "the no-change cycle made {} requests for {mailboxes} mailboxes ({} mailboxes with exactly one delta request, {} with more, {} other requests); expected exactly one delta request per mailbox",
            c3.total, c3.mailboxes_once, c3.mailboxes_more, c3.others
        ));
    }
    if c3.writes > 0 || r3.writes > 0 {
        failures.push(format!(
            "the no-change cycle wrote: {} write requests logged, {} writes reported",
            c3.writes, r3.writes
        ));
    }
    failures
}
