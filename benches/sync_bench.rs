//! The engine benchmark (`cargo bench --bench sync_bench`): generates its own vdir of 2,000 weekly
//! 1:1 series (a year each, some with overrides and cancellations) and 100,000 other events, then
//! measures with the release binary `sync --once` cold (empty store), after its own writes, and
//! warm (nothing changed), the peak memory of each run; in-process, a daemon's cycle when nothing
//! changed (its decoded state kept in memory between cycles) and the pure planning of all pairs.
//!
//! Targets (2-core machine): cold < 5 s, warm < 1 s, peak RSS < 300 MB, daemon cycle < 0.5 s,
//! planning < 200 ms. Set `BENCH_SERIES` / `BENCH_OTHER` to change the sizes.
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use oneonone::daemon::engine::{Engine, EngineOptions};
use oneonone::domain::links::TokenSource;
use oneonone::domain::{Cadence, CancellationPolicy, Enforce, Pair};
use oneonone::providers::Progress;
use oneonone::providers::Window;
use oneonone::providers::local::{FileCache, LocalProvider};
use oneonone::sync::{AccountInput, PairInput, PlanInputs, PlanSettings};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

#[path = "support/mod.rs"]
mod support;
use support::{env_usize, phase_logs_if_asked};

fn manager(i: usize) -> String {
    format!("manager{}@bench.test", i / 10)
}
fn report(i: usize) -> String {
    format!("report{i}@bench.test")
}

fn series_file(i: usize, first: NaiveDate) -> String {
    let uid = format!("bench-series-{i}");
    let hour = 9 + (i % 8);
    let mut s = String::with_capacity(2048);
    s.push_str("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n");
    let d = first.format("%Y%m%d");
    let _ = write!(
        s,
        "UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/London:{d}T{hour:02}0000\r\nDTEND;TZID=Europe/London:{d}T{hour:02}3000\r\n\
RRULE:FREQ=WEEKLY;COUNT=52\r\nSUMMARY:1:1 {i}\r\nORGANIZER:mailto:{m}\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:{m}\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:{r}\r\n\
DESCRIPTION:Notes for pair {i}\r\nEND:VEVENT\r\n",
        m = manager(i),
        r = report(i)
    );
    // Every third series has a cancelled occurrence and a moved one; every seventh an EXDATE'd one.
    if i.is_multiple_of(3) {
        for (k, moved) in [(20u32, false), (30, true)] {
            let day = first + Duration::weeks(i64::from(k));
            let dd = day.format("%Y%m%d");
            let start_hour = if moved { hour + 1 } else { hour };
            let _ = write!(
                s,
                "BEGIN:VEVENT\r\nUID:{uid}\r\nRECURRENCE-ID;TZID=Europe/London:{dd}T{hour:02}0000\r\nDTSTAMP:20260101T000000Z\r\n\
DTSTART;TZID=Europe/London:{dd}T{start_hour:02}0000\r\nDTEND;TZID=Europe/London:{dd}T{start_hour:02}3000\r\nSUMMARY:1:1 {i}\r\n\
ORGANIZER:mailto:{m}\r\nATTENDEE:mailto:{m}\r\nATTENDEE:mailto:{r}\r\n{status}END:VEVENT\r\n",
                m = manager(i),
                r = report(i),
                status = if moved { "" } else { "STATUS:CANCELLED\r\n" }
            );
        }
    }
    if i.is_multiple_of(7) {
        let day = first + Duration::weeks(10);
        s = s.replacen(
            "RRULE:",
            &format!(
                "EXDATE;TZID=Europe/London:{}T{hour:02}0000\r\nRRULE:",
                day.format("%Y%m%d")
            ),
            1,
        );
    }
    s.push_str("END:VCALENDAR\r\n");
    s
}

fn other_file(j: usize, day: NaiveDate) -> String {
    let d = day.format("%Y%m%d");
    let hour = 8 + (j % 10);
    let mut s = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\nUID:bench-other-{j}\r\nDTSTAMP:20260101T000000Z\r\n\
DTSTART;TZID=Europe/London:{d}T{hour:02}0000\r\nDTEND;TZID=Europe/London:{d}T{hour:02}4500\r\nSUMMARY:Event {j}\r\n"
    );
    match j % 4 {
        0 => {} // personal: no attendees
        1 => {
            // a team meeting of four
            let _ = write!(s, "ORGANIZER:mailto:{}\r\n", manager(j % 2000));
            for k in 0..4 {
                let _ = write!(s, "ATTENDEE:mailto:{}\r\n", report((j + k) % 2000));
            }
        }
        2 => {
            // a 1:1 between two people who are not a configured pair
            let _ = write!(
                s,
                "ORGANIZER:mailto:peer{}@bench.test\r\nATTENDEE:mailto:peer{}@bench.test\r\nATTENDEE:mailto:other{}@bench.test\r\n",
                j % 500,
                j % 500,
                j % 700
            );
        }
        _ => {
            // a room booking
            let _ = write!(
                s,
                "ORGANIZER:mailto:{}\r\nATTENDEE;CUTYPE=ROOM:mailto:room{}@bench.test\r\n",
                report(j % 2000),
                j % 30
            );
        }
    }
    s.push_str("END:VEVENT\r\nEND:VCALENDAR\r\n");
    s
}

fn generate(dir: &Path, series: usize, other: usize, today: NaiveDate) {
    std::fs::create_dir_all(dir.join("cal")).expect("mkdir");
    let first = today - Duration::weeks(40);
    for i in 0..series {
        std::fs::write(
            dir.join("cal").join(format!("series-{i}.ics")),
            series_file(i, first + Duration::days((i % 5) as i64)),
        )
        .expect("write");
    }
    for j in 0..other {
        let day = today - Duration::days(200) + Duration::days((j % 300) as i64);
        std::fs::write(
            dir.join("cal").join(format!("other-{j}.ics")),
            other_file(j, day),
        )
        .expect("write");
    }
    let mut cfg = String::from(
        "[daemon]\nstate_dir = \"state\"\ntimezone = \"Europe/London\"\npublic_url = \"http://127.0.0.1:8080\"\n\n\
[[accounts]]\nname = \"local\"\nprovider = \"local\"\npath = \"cal\"\n\n",
    );
    for i in 0..series {
        let _ = write!(
            cfg,
            "[[pairs]]\nmanager = \"{}\"\nreport = \"{}\"\naccount = \"local\"\n\n",
            manager(i),
            report(i)
        );
    }
    std::fs::write(dir.join("config.toml"), cfg).expect("write config");
}

/// Run `sync --once`; returns (seconds, peak RSS of that run in MB, its stdout).
/// The child is reaped with `wait4` (for its own rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn sync_once(dir: &Path, now: &str) -> (f64, f64, String) {
    use std::io::Read;
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_oneonone"))
        .args(["sync", "--once", "--now", now, "--config"])
        .arg(dir.join("config.toml"))
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run oneonone");
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    // wait4 gives this child's own resource usage (peak RSS), unlike getrusage(RUSAGE_CHILDREN).
    let mut status = 0;
    // SAFETY: plain FFI call with valid pointers to locals.
    let (pid, rss_kb) = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        let pid = libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut ru);
        (pid, ru.ru_maxrss)
    };
    let secs = t.elapsed().as_secs_f64();
    assert!(
        pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "sync failed (status {status})"
    );
    (secs, rss_kb as f64 / 1024.0, stdout.trim().to_string())
}

#[allow(clippy::disallowed_methods)]
fn main() {
    // As the daemon does (`src/main.rs`), so the in-process cycle runs on the daemon's allocator settings.
    oneonone::memory::limit_malloc_arenas();
    phase_logs_if_asked();
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing useful: only run sizes asked for.
    let series = env_usize("BENCH_SERIES", 2000);
    let other = env_usize("BENCH_OTHER", 100_000);
    let now = Utc::now();
    let today = now.date_naive();
    // BENCH_DIR keeps the generated data (for profiling); otherwise a temporary directory.
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = match std::env::var_os("BENCH_DIR") {
        Some(d) => {
            let d = std::path::PathBuf::from(d);
            let _ = std::fs::remove_dir_all(&d);
            d
        }
        None => temp.path().to_path_buf(),
    };
    let dir = dir.as_path();
    let t = Instant::now();
    generate(dir, series, other, today);
    println!(
        "generated {series} series + {other} other events in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let now_s = now.to_rfc3339();

    let (cold, rss_cold, out) = sync_once(dir, &now_s);
    println!(
        "sync --once cold (empty store, every file read): {cold:.2} s, peak RSS {rss_cold:.0} MB  [{out}]"
    );
    let (after, rss_after, out) = sync_once(dir, &now_s);
    println!(
        "sync --once after its own writes (2,000 files re-read): {after:.2} s, peak RSS {rss_after:.0} MB  [{out}]"
    );
    let mut best = f64::MAX;
    let mut worst_rss: f64 = 0.0;
    for _ in 0..3 {
        let (warm, rss, _) = sync_once(dir, &now_s);
        best = best.min(warm);
        worst_rss = worst_rss.max(rss);
    }
    println!(
        "sync --once nothing changed: {best:.2} s (best of 3), peak RSS {worst_rss:.0} MB (worst of 3)"
    );

    // Pure evaluation of all pairs over the fetched snapshot.
    let tz = chrono_tz::Europe::London;
    let provider = LocalProvider::new("local", dir.join("cal"), tz);
    let window = Window {
        start: now - Duration::weeks(26),
        end: now + Duration::weeks(8),
    };
    let snapshot = provider
        .fetch(window, &mut FileCache::default())
        .expect("fetch");
    let pairs: Vec<Pair> = (0..series)
        .map(|i| Pair {
            id: Pair::make_id(&manager(i), &report(i)),
            manager: manager(i),
            report: report(i),
            account: "local".into(),
            cadence: Cadence::Weeks(1),
            duration: Duration::minutes(30),
            enforce: Enforce::Warn,
            cancellations: CancellationPolicy {
                max_consecutive: 2,
                max_in_window: 3,
                window: Duration::days(90),
            },
            timezone: chrono_tz::UTC,
            working_hours: Default::default(),
        })
        .collect();
    let settings = PlanSettings {
        horizon: Duration::weeks(8),
        lookback: Duration::weeks(26),
        timezone: tz,
        public_url: "http://127.0.0.1:8080".into(),
        nudge_before: None,
    };
    let counts = BTreeMap::new();
    let accounts = [AccountInput {
        name: "local",
        snapshot: Some(&snapshot),
        writes_notify: false,
        known_counts: &counts,
        auth_failure: None,
    }];
    let fresh = || -> Vec<Option<PairInput>> {
        pairs
            .iter()
            .map(|p| {
                Some(PairInput {
                    link: format!("link-{}", p.id),
                    ..PairInput::default()
                })
            })
            .collect()
    };
    let first = oneonone::sync::plan(PlanInputs {
        now,
        settings: &settings,
        pairs: &pairs,
        accounts: &accounts,
        state: fresh(),
        tokens: &BenchTokens,
    });
    let states: Vec<Option<PairInput>> = first
        .pairs
        .into_iter()
        .map(|p| {
            Some(PairInput {
                history: p.history,
                findings: p.findings.active,
                items: Vec::new(),
                link: p.link,
                marks: p.marks,
            })
        })
        .collect();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let input = states.clone();
        let t = Instant::now();
        let plan = oneonone::sync::plan(PlanInputs {
            now,
            settings: &settings,
            pairs: &pairs,
            accounts: &accounts,
            state: input,
            tokens: &BenchTokens,
        });
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(plan.pairs.len(), series);
    }
    println!(
        "pure planning of {series} pairs over {} instances: {:.0} ms (best of 5)",
        snapshot.instances.len(),
        best * 1000.0
    );
    drop(snapshot);
    daemon_cycles(dir, now);
    let _ = Utc.timestamp_opt(0, 0);
}

/// Tokens for the pure planning run (never stored).
struct BenchTokens;

impl TokenSource for BenchTokens {
    fn fresh_token(&self) -> Option<String> {
        Some("0".repeat(32))
    }
}

/// A daemon's cycles in-process: the first reads the store and the cache file, later ones keep
/// the decoded state in memory. Prints the best of three no-change cycles.
fn daemon_cycles(dir: &Path, now: chrono::DateTime<Utc>) {
    let settings = oneonone::config::load(&dir.join("config.toml")).expect("config");
    let store = oneonone::store::Store::open(&settings.daemon.state_dir).expect("store");
    let providers = Engine::open_providers(&settings, &store, true).expect("providers");
    let engine = Engine::new(
        settings,
        store,
        providers,
        EngineOptions {
            dry_run: false,
            keep_in_memory: true,
        },
    )
    .expect("engine");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let progress = Arc::new(Progress::default());
    let t = Instant::now();
    let first = engine.cycle(now, rt.handle(), &progress).expect("cycle");
    println!(
        "daemon first cycle (store and cache file read): {:.2} s  [{first}]",
        t.elapsed().as_secs_f64()
    );
    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..3 {
        let t = Instant::now();
        let r = engine.cycle(now, rt.handle(), &progress).expect("cycle");
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(r);
    }
    let last = last.expect("three cycles");
    assert_eq!(last.writes, 0, "nothing changed: {last}");
    println!("daemon cycle, nothing changed (state in memory): {best:.2} s (best of 3)  [{last}]");
}
