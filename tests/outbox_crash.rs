//! The outbox across a crash: the daemon is killed with SIGKILL while a webhook delivery is in
//! flight (the receiver has the message; the daemon has not recorded it). After a restart every
//! message is delivered, exactly once per idempotency key except the one in flight, which is sent
//! again under the same key (so the receiver can drop it), and nothing is lost.
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_oneonone");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A weekly 1:1 at 10:00 UTC on yesterday's weekday that began ten weeks before yesterday, its
/// last three occurrences cancelled: a streak and a gap, so two findings.
fn series(name: &str, report: &str) -> String {
    let today = oneonone::daemon::clock::now().date_naive();
    let first = today - chrono::Duration::days(71);
    let day = |d: chrono::NaiveDate| d.format("%Y%m%d").to_string();
    let event = |extra: String| {
        format!(
            "BEGIN:VEVENT\r\nUID:{name}\r\nDTSTAMP:20260101T000000Z\r\n{extra}SUMMARY:1:1\r\n\
ORGANIZER:mailto:alice@acme.test\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@acme.test\r\n\
ATTENDEE;PARTSTAT=ACCEPTED:mailto:{report}\r\nEND:VEVENT\r\n"
        )
    };
    let mut s = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n");
    s.push_str(&event(format!(
        "DTSTART:{}T100000Z\r\nDTEND:{}T103000Z\r\nRRULE:FREQ=WEEKLY\r\n",
        day(first),
        day(first)
    )));
    for weeks in [8, 9, 10] {
        let d = day(first + chrono::Duration::weeks(weeks));
        s.push_str(&event(format!(
            "RECURRENCE-ID:{d}T100000Z\r\nDTSTART:{d}T100000Z\r\nDTEND:{d}T103000Z\r\nSTATUS:CANCELLED\r\n"
        )));
    }
    s.push_str("END:VCALENDAR\r\n");
    s
}

fn start(cfg: &std::path::Path) -> Child {
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(cfg)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn daemon");
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("daemon: {line}");
        }
    });
    child
}

fn wait_exit(child: &mut Child, secs: u64) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "the daemon did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_sigkill_between_send_and_record_repeats_only_the_message_in_flight() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("cal")).expect("mkdir");
    let reports = ["bob@acme.test", "carol@acme.test", "dave@acme.test"];
    let mut pairs = String::new();
    for (i, r) in reports.iter().enumerate() {
        std::fs::write(
            root.join(format!("cal/s{i}.ics")),
            series(&format!("s{i}"), r),
        )
        .expect("write ics");
        pairs.push_str(&format!(
            "[[pairs]]\nmanager = \"alice@acme.test\"\nreport = \"{r}\"\naccount = \"local\"\n\n"
        ));
    }

    // The receiver: records each delivery's key; on the second one it kills the daemon before
    // answering, so the daemon never learns it was delivered.
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let daemon_pid = Arc::new(AtomicU32::new(0));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let hook_port = {
        let received = received.clone();
        let pid = daemon_pid.clone();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/hook",
                axum::routing::post(move |headers: axum::http::HeaderMap| {
                    let received = received.clone();
                    let pid = pid.clone();
                    async move {
                        let key = headers
                            .get("idempotency-key")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        let n = {
                            let mut r = received.lock().expect("lock");
                            r.push(key);
                            r.len()
                        };
                        if n == 2 {
                            let target = pid.load(Ordering::SeqCst).to_string();
                            let _ = tokio::process::Command::new("kill")
                                .args(["-9", &target])
                                .status()
                                .await;
                        }
                        "ok"
                    }
                }),
            );
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let port = l.local_addr().expect("addr").port();
            tokio::spawn(async move { axum::serve(l, app).await });
            port
        })
    };

    let port = free_port();
    let cfg = root.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[daemon]
state_dir = "state"
poll_interval = "1h"
timezone = "UTC"
public_url = "http://127.0.0.1:{port}"
listen = "127.0.0.1:{port}"
admin_listen = "unix:admin.sock"

[[accounts]]
name = "local"
provider = "local"
path = "cal"

[defaults]
cadence = "weekly"
[defaults.cancellations]
max_consecutive = 2

{pairs}
[notify]
[[notify.webhooks]]
name = "hook"
format = "json"
url = "http://127.0.0.1:{hook_port}/hook"
"#
        ),
    )
    .expect("write config");

    let mut first = start(&cfg);
    daemon_pid.store(first.id(), Ordering::SeqCst);
    let status = wait_exit(&mut first, 120);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "killed by the receiver"
    );
    assert_eq!(received.lock().expect("lock").len(), 2);

    // Restart: the rest goes out, and the one in flight again.
    let mut second = start(&cfg);
    daemon_pid.store(u32::MAX, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(120);
    let distinct = |r: &[String]| r.iter().collect::<std::collections::BTreeSet<_>>().len();
    while distinct(&received.lock().expect("lock")) < 6 {
        assert!(
            Instant::now() < deadline,
            "not all delivered: {:?}",
            received.lock().expect("lock")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Time for a stray duplicate to show up, then stop cleanly.
    std::thread::sleep(Duration::from_secs(3));
    let _ = Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status();
    assert!(wait_exit(&mut second, 60).success());

    let got = received.lock().expect("lock").clone();
    let mut per_key: BTreeMap<&str, usize> = BTreeMap::new();
    for k in &got {
        *per_key.entry(k.as_str()).or_default() += 1;
    }
    assert_eq!(per_key.len(), 6, "{got:?}");
    assert!(per_key.keys().all(|k| k.starts_with("finding:")), "{got:?}");
    let in_flight = got[1].as_str();
    for (k, n) in &per_key {
        let expected = if *k == in_flight { 2 } else { 1 };
        assert_eq!(*n, expected, "deliveries of {k}: {got:?}");
    }
    assert_eq!(got.len(), 7);

    // The store agrees: six sent, nothing pending.
    let store = oneonone::store::Store::open(&root.join("state")).expect("store");
    let stats = store.outbox_stats().expect("stats");
    assert_eq!((stats.sent, stats.pending, stats.failed), (6, 0, 0));
}
