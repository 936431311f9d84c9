//! `oneonone agenda rotate-link` and `oneonone agenda export` from the command line, with the
//! store free (direct) and while the daemon holds it (through its admin socket); and the example
//! organisation's first run, which shows carry-over, goals and history.
use oneonone::domain::agenda::{AgendaItem, ItemKind, Section};
use oneonone::domain::notes::{PrivateNote, SharedNotes};
use oneonone::store::{Store, Write};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_oneonone");
const PAIR: &str = "alice@acme.test~bob@acme.test";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn run(cfg: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(cfg)
        .output()
        .expect("run oneonone")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn links(ics: &Path, port: u16, kind: &str) -> Vec<String> {
    let text = std::fs::read_to_string(ics)
        .expect("ics")
        .replace("\r\n ", "");
    let prefix = format!("http://127.0.0.1:{port}/{kind}/");
    text.match_indices(&prefix)
        .map(|(i, _)| {
            text[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || ":/.".contains(*c))
                .collect()
        })
        .collect()
}

fn get(url: &str) -> (u16, String) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let r = reqwest::get(url).await.expect("GET");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    })
}

/// Give the pair an open item, shared notes and bob's private note, straight into the store.
fn seed(state: &Path) {
    let store = Store::open(state).expect("store");
    let occ = store.occurrences(PAIR).expect("history");
    let past = occ
        .iter()
        .rev()
        .find(|o| o.status == oneonone::domain::OccurrenceStatus::Held)
        .expect("a held meeting");
    store
        .put_agenda_item(&AgendaItem {
            id: "i1".into(),
            pair_id: PAIR.into(),
            kind: ItemKind::ActionItem,
            section: Section::ActionItems,
            text: "Book the offsite venue".into(),
            owner: Some("bob@acme.test".into()),
            origin_meeting: past.meeting.clone(),
            origin_start: past.start,
            created_at: past.start,
            ..AgendaItem::default()
        })
        .expect("item");
    store
        .change_shared_notes(PAIR, &past.meeting, |_| {
            (
                Write::Put(SharedNotes {
                    pair_id: PAIR.into(),
                    meeting: past.meeting.clone(),
                    notes: "Talked about the offsite.".into(),
                    ..SharedNotes::default()
                }),
                (),
            )
        })
        .expect("notes");
    store
        .change_private_note(PAIR, &past.meeting, "bob@acme.test", |_| {
            (
                Write::Put(PrivateNote {
                    pair_id: PAIR.into(),
                    meeting: past.meeting.clone(),
                    author: "bob@acme.test".into(),
                    text: "I may apply elsewhere".into(),
                    ..PrivateNote::default()
                }),
                (),
            )
        })
        .expect("private");
    store.flush().expect("flush");
}

#[test]
fn agenda_commands_with_the_store_free_and_through_the_running_daemon() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("cal")).expect("mkdir");
    let ics = root.join("cal/s1.ics");
    std::fs::write(
        &ics,
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:s1\r\nDTSTAMP:20250101T000000Z\r\n\
DTSTART:20251103T100000Z\r\nDTEND:20251103T103000Z\r\nRRULE:FREQ=WEEKLY\r\nSUMMARY:1:1\r\n\
ORGANIZER:mailto:alice@acme.test\r\nATTENDEE:mailto:alice@acme.test\r\nATTENDEE:mailto:bob@acme.test\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .expect("ics");
    let port = free_port();
    let cfg = root.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[daemon]\nstate_dir = \"state\"\npoll_interval = \"1h\"\ntimezone = \"UTC\"\n\
             public_url = \"http://127.0.0.1:{port}\"\nlisten = \"127.0.0.1:{port}\"\n\
             admin_listen = \"unix:admin.sock\"\n\
             [[accounts]]\nname = \"local\"\nprovider = \"local\"\npath = \"cal\"\n\
             [[pairs]]\nmanager = \"alice@acme.test\"\nreport = \"bob@acme.test\"\naccount = \"local\"\n"
        ),
    )
    .expect("config");
    assert!(run(&cfg, &["sync", "--once"]).status.success());
    seed(&root.join("state"));

    // Export, store free: the shared history, never the private note; a file is 0600.
    let out = run(&cfg, &["agenda", "export", PAIR]);
    assert!(out.status.success(), "{out:?}");
    let md = stdout(&out);
    assert!(
        md.contains("Book the offsite venue") && md.contains("Talked about the offsite."),
        "{md}"
    );
    assert!(
        !md.contains("apply elsewhere"),
        "no private notes in the admin's export"
    );
    let file = root.join("export.md");
    let out = run(
        &cfg,
        &[
            "agenda",
            "export",
            PAIR,
            "--output",
            file.to_str().unwrap_or(""),
        ],
    );
    assert!(out.status.success());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file)
        .expect("export file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let out = run(&cfg, &["agenda", "export", "nobody@x~y@x"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no pair"),
        "{out:?}"
    );

    // Rotate, store free: a new link; the next sync writes it into the series.
    let old = links(&ics, port, "p");
    assert_eq!(old.len(), 1, "{old:?}");
    let out = run(&cfg, &["agenda", "rotate-link", PAIR]);
    let text = stdout(&out);
    assert!(out.status.success(), "{out:?}");
    assert!(
        text.contains("New stable link for alice@acme.test~bob@acme.test"),
        "{text}"
    );
    assert!(text.contains("stopped working"), "{text}");
    assert!(
        text.contains("the next sync cycle writes the new link"),
        "{text}"
    );
    assert!(text.contains("oneonone sync --once"), "{text}");
    let new = text
        .split_whitespace()
        .find(|w| w.contains("/p/"))
        .expect("new link printed")
        .to_string();
    assert_ne!(new, old[0]);
    assert!(run(&cfg, &["sync", "--once"]).status.success());
    assert_eq!(
        links(&ics, port, "p"),
        vec![new.clone()],
        "the series now has the new link"
    );

    // While the daemon runs, both commands go through its admin socket.
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("daemon");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while Instant::now() < deadline && !seen.iter().any(|l: &String| l.contains("cycle finished")) {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(l);
        }
    }
    assert!(
        seen.iter().any(|l| l.contains("cycle finished")),
        "{}",
        seen.join("\n")
    );
    let out = run(&cfg, &["agenda", "export", PAIR]);
    assert!(out.status.success(), "{out:?}");
    let md = stdout(&out);
    assert!(
        md.contains("Book the offsite venue") && !md.contains("apply elsewhere"),
        "{md}"
    );
    let out = run(&cfg, &["agenda", "rotate-link", PAIR]);
    let text = stdout(&out);
    assert!(out.status.success(), "{out:?}");
    assert!(
        !text.contains("oneonone sync --once"),
        "the daemon's next cycle writes it: {text}"
    );
    let newer = text
        .split_whitespace()
        .find(|w| w.contains("/p/"))
        .expect("link")
        .to_string();
    assert_eq!(get(&new).0, 404, "the previous link stopped working");
    assert_eq!(get(&newer).0, 200, "the new one works");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().expect("wait").success());
    // The reader thread ends when the daemon's stderr closes: take every line it read.
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(10)) {
        seen.push(l);
    }
    assert!(
        seen.iter().any(|l| l.contains("stopped")),
        "{}",
        seen.join("\n")
    );
    assert!(
        seen.iter()
            .all(|l| !l.contains("apply elsewhere") && !l.contains("offsite")),
        "no agenda text, let alone a private note, in the daemon's log"
    );
}

#[test]
fn the_example_shows_carry_over_goals_and_history_on_first_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("example.toml");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml"),
        &cfg,
    )
    .expect("copy the example config");
    let out = run(&cfg, &["sync", "--once"]);
    assert!(out.status.success(), "{out:?}");
    let ics = std::fs::read_to_string(dir.path().join("example-calendars/example-alice-bob.ics"))
        .expect("ics")
        .replace("\r\n ", "")
        .replace("\\n", "\n")
        .replace("\\,", ",");
    assert!(ics.contains("Carried over from earlier 1:1s:"), "{ics}");
    assert!(
        ics.contains("- Conference budget for next year — from"),
        "{ics}"
    );
    assert!(
        ics.contains("[action] Draft the promo packet outline (owner: bob@acme.test)"),
        "{ics}"
    );
    assert!(
        !ics.contains("Team offsite dates"),
        "a dropped item is not carried"
    );
    let out = run(&cfg, &["agenda", "export", PAIR]);
    let md = stdout(&out);
    assert!(out.status.success(), "{out:?}");
    assert!(
        md.contains("**Lead a design review end to end** (open)"),
        "{md}"
    );
    assert!(
        md.contains("**Get comfortable being on call** (closed"),
        "{md}"
    );
    assert!(md.contains("[dropped] Team offsite dates"), "{md}");
    assert!(
        md.contains("[deferred] Could I mentor the new joiner?"),
        "{md}"
    );
    assert!(md.contains("### Decisions"), "{md}");
    // A second run seeds nothing more.
    assert!(run(&cfg, &["sync", "--once"]).status.success());
    let again = stdout(&run(&cfg, &["agenda", "export", PAIR]));
    assert_eq!(
        again.matches("Conference budget for next year").count(),
        md.matches("Conference budget for next year").count()
    );
}

#[test]
fn check_warns_when_the_sign_in_client_secret_is_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("oidc-secret");
    std::fs::write(&secret, "s3cr3t-value\n").expect("secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "[web.sign_in]\nissuer_url = \"https://idp.example\"\nclient_id = \"x\"\nclient_secret_file = \"oidc-secret\"\n",
    )
    .expect("config");
    let out = run(&cfg, &["check"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{out:?}");
    assert!(
        text.contains("warning: web.sign_in:") && text.contains("chmod 600"),
        "{text}"
    );
    assert!(!text.contains("s3cr3t"), "the secret is never printed");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert!(!stdout(&run(&cfg, &["check"])).contains("warning"));
}
