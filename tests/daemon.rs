//! The daemon end to end: `run` writes the agenda blocks on its first cycle, serves the agenda page
//! and the pair's page (at its stable link) on the public listener and the status API only on its admin socket (which
//! `oneonone status` uses while the daemon holds the store), reloads its configuration on SIGHUP
//! (rejecting a broken one and keeping the old), and stops cleanly on SIGTERM.
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_oneonone");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn config(port: u16, poll: &str, extra_pair: &str) -> String {
    format!(
        r#"[daemon]
state_dir = "state"
poll_interval = "{poll}"
timezone = "Europe/London"
public_url = "http://127.0.0.1:{port}"
listen = "127.0.0.1:{port}"
admin_listen = "unix:admin.sock"

[[accounts]]
name = "local"
provider = "local"
path = "cal"

[[pairs]]
manager = "alice@acme.test"
report = "bob@acme.test"
account = "local"
{extra_pair}"#
    )
}

/// Wait until a log line containing `needle` arrives (or panic after `secs`).
fn wait_for(lines: &mpsc::Receiver<String>, needle: &str, secs: u64, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            let hit = line.contains(needle);
            seen.push(line);
            if hit {
                return;
            }
        }
    }
    panic!(
        "no log line with {needle:?} within {secs}s; got:\n{}",
        seen.join("\n")
    );
}

#[test]
fn run_serves_reloads_and_stops_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("cal")).expect("mkdir");
    // A weekly series from a year ago that never ends: there is always a next occurrence.
    std::fs::write(
        root.join("cal/s1.ics"),
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:s1\r\nDTSTAMP:20250101T000000Z\r\n\
DTSTART:20251103T100000Z\r\nDTEND:20251103T103000Z\r\nRRULE:FREQ=WEEKLY\r\nSUMMARY:1:1\r\n\
ORGANIZER:mailto:alice@acme.test\r\nATTENDEE:mailto:alice@acme.test\r\nATTENDEE:mailto:bob@acme.test\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .expect("write ics");
    let port = free_port();
    let cfg = root.join("config.toml");
    std::fs::write(&cfg, config(port, "1h", "")).expect("write config");

    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn daemon");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    wait_for(&rx, "cycle finished", 60, &mut seen);

    // The block is in the file and its link serves the agenda page.
    let ics = std::fs::read_to_string(root.join("cal/s1.ics"))
        .expect("read")
        .replace("\r\n ", "");
    let start = ics
        .find(&format!("http://127.0.0.1:{port}/a/"))
        .expect("agenda link written");
    let url: String = ics[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || ":/.".contains(*c))
        .collect();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (status, body) = rt.block_on(async {
        let r = reqwest::get(&url).await.expect("GET agenda");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    });
    assert_eq!(status, 200, "{url}");
    assert!(body.contains("Growth and career"), "{body}");
    // The series carries the pair's stable link: it opens the next meeting's doc.
    let start = ics
        .find(&format!("http://127.0.0.1:{port}/p/"))
        .expect("pair link written");
    let pair_link: String = ics[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || ":/.".contains(*c))
        .collect();
    let (status, page) = rt.block_on(async {
        let r = reqwest::get(&pair_link).await.expect("GET pair link");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    });
    assert_eq!(status, 200, "{pair_link}");
    let doc_path = url.trim_start_matches(&format!("http://127.0.0.1:{port}"));
    assert!(
        page.contains("Next 1:1") && page.contains(&format!("href=\"{doc_path}\"")),
        "the pair link shows the next meeting's agenda and links its doc: {page}"
    );
    // The admin API is not on the public listener …
    for path in ["/api/status", "/api/meetings", "/"] {
        let status = rt.block_on(async {
            reqwest::get(format!("http://127.0.0.1:{port}{path}"))
                .await
                .expect("GET")
                .status()
                .as_u16()
        });
        assert_eq!(status, 404, "public {path}");
    }
    // … but `status` reaches it on the admin socket while the daemon holds the store.
    let out = Command::new(BIN)
        .args(["status", "--json", "--config"])
        .arg(&cfg)
        .output()
        .expect("status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("alice@acme.test~bob@acme.test"), "{text}");

    // A broken config on SIGHUP is rejected and the daemon keeps running.
    std::fs::write(&cfg, "this is = = not toml").expect("write broken config");
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    wait_for(&rx, "reload rejected", 30, &mut seen);

    // A good one is applied, and a new cycle runs with the added pair.
    std::fs::write(&cfg, config(port, "1h", "\n[[pairs]]\nmanager = \"alice@acme.test\"\nreport = \"carol@acme.test\"\naccount = \"local\"\n")).expect("write config");
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    wait_for(&rx, "configuration reloaded", 30, &mut seen);
    wait_for(&rx, "cycle finished", 60, &mut seen);
    assert!(
        seen.iter().any(|l| l.contains("pairs=2")),
        "{}",
        seen.join("\n")
    );

    // SIGTERM: a clean stop.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    wait_for(&rx, "stopped", 30, &mut seen);
    let status = child.wait().expect("wait");
    assert!(status.success(), "exit status {status:?}");
}

#[path = "support/python.rs"]
mod python;

#[test]
fn metrics_and_readiness_are_served_on_the_admin_listener_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("cal")).expect("mkdir");
    std::fs::write(
        root.join("cal/s1.ics"),
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:s1\r\nDTSTAMP:20250101T000000Z\r\n\
DTSTART:20251103T100000Z\r\nDTEND:20251103T104500Z\r\nRRULE:FREQ=WEEKLY\r\nSUMMARY:1:1\r\n\
ORGANIZER:mailto:alice@acme.test\r\nATTENDEE:mailto:alice@acme.test\r\nATTENDEE:mailto:bob@acme.test\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .expect("write ics");
    let (port, admin) = (free_port(), free_port());
    let cfg = root.join("config.toml");
    let text = config(port, "1h", "").replace(
        "admin_listen = \"unix:admin.sock\"",
        &format!("admin_listen = \"127.0.0.1:{admin}\""),
    );
    std::fs::write(&cfg, text).expect("write config");
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn daemon");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    wait_for(&rx, "cycle finished", 60, &mut seen);

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let get = |url: String| {
        rt.block_on(async {
            let r = reqwest::get(&url).await.expect("GET");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        })
    };
    assert_eq!(get(format!("http://127.0.0.1:{admin}/readyz")).0, 200);
    assert_eq!(get(format!("http://127.0.0.1:{port}/readyz")).0, 404);
    assert_eq!(get(format!("http://127.0.0.1:{port}/metrics")).0, 404);
    let (status, text) = get(format!("http://127.0.0.1:{admin}/metrics"));
    assert_eq!(status, 200);

    // The reference parser reads it; the families an operator alerts on are there.
    let parsed: serde_json::Value =
        serde_json::from_str(&python::run_tool("parse_metrics.py", &[], &text)).expect("JSON");
    let fam = |name: &str| parsed["families"][name].clone();
    let sample = |name: &str, sample: &str, labels: serde_json::Value| -> f64 {
        fam(name)["samples"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s[0] == sample && s[1] == labels)
            .and_then(|s| s[2].as_f64())
            .unwrap_or_else(|| panic!("no {sample} {labels} in:\n{text}"))
    };
    assert_eq!(fam("oneonone_cycle_duration_seconds")["type"], "histogram");
    assert_eq!(
        sample(
            "oneonone_cycle_duration_seconds",
            "oneonone_cycle_duration_seconds_count",
            serde_json::json!({})
        ),
        1.0
    );
    assert_eq!(
        sample(
            "oneonone_cycles",
            "oneonone_cycles_total",
            serde_json::json!({"result": "ok"})
        ),
        1.0
    );
    // 45-minute meetings against a 30-minute default: one duration finding.
    assert_eq!(
        sample(
            "oneonone_findings",
            "oneonone_findings",
            serde_json::json!({"kind": "duration_mismatch"})
        ),
        1.0
    );
    assert_eq!(
        sample(
            "oneonone_findings",
            "oneonone_findings",
            serde_json::json!({"kind": "cadence_gap"})
        ),
        0.0
    );
    assert!(
        sample(
            "oneonone_writes",
            "oneonone_writes_total",
            serde_json::json!({"kind": "block", "result": "written"})
        ) >= 1.0
    );
    assert_eq!(
        sample(
            "oneonone_outbox_depth",
            "oneonone_outbox_depth",
            serde_json::json!({})
        ),
        0.0
    );
    assert!(
        sample(
            "oneonone_store_size_bytes",
            "oneonone_store_size_bytes",
            serde_json::json!({})
        ) > 0.0
    );
    let last = sample(
        "oneonone_last_successful_sync_timestamp_seconds",
        "oneonone_last_successful_sync_timestamp_seconds",
        serde_json::json!({"account": "local"}),
    );
    let now = oneonone::daemon::clock::now().timestamp() as f64;
    assert!((now - last).abs() < 120.0, "last sync {last}, now {now}");

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    assert!(status.success());
}
