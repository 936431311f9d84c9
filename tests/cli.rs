//! CLI integration tests on temporary vdirs: `check` exit codes and `PATH:LINE:COL` errors, a
//! `sync --once` that writes agenda blocks without touching anything else and is idempotent,
//! malformed files (reported, exit 1, their meetings kept), an emptied folder, the `--json` shapes,
//! agenda carry-over end to end, dry-run, webhook notifications once per finding, and `discover`.
use oneonone::domain::agenda::{AgendaItem, ItemKind, Section};
use oneonone::store::Store;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_oneonone");

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("cal")).expect("mkdir");
        Env { _dir: dir, root }
    }
    fn cal(&self) -> PathBuf {
        self.root.join("cal")
    }
    fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    fn write_config(&self, pairs: &str, extra: &str) {
        let text = format!(
            r#"[daemon]
state_dir = "state"
timezone = "Europe/London"
public_url = "http://agenda.test"
listen = "127.0.0.1:0"
{extra}
[[accounts]]
name = "local"
provider = "local"
path = "cal"

[defaults]
cadence = "weekly"
duration = "30m"
[defaults.cancellations]
max_consecutive = 2
max_in_window = 3
window = "90d"

{pairs}
"#
        );
        std::fs::write(self.config(), text).expect("write config");
    }
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(self.config())
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .output()
            .expect("run oneonone");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

const PAIR_AB: &str = r#"[[pairs]]
manager = "alice@acme.test"
report = "bob@acme.test"
account = "local"
"#;

/// A weekly series starting `first` (YYYYMMDD) at 10:00 London, with optional extra VEVENTs.
fn series(
    uid: &str,
    first: &str,
    people: &[&str],
    description: Option<&str>,
    overrides: &str,
) -> String {
    let mut s =
        String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n");
    s.push_str(&format!("UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"));
    s.push_str(&format!(
        "DTSTART;TZID=Europe/London:{first}T100000\r\nDTEND;TZID=Europe/London:{first}T103000\r\n"
    ));
    s.push_str("RRULE:FREQ=WEEKLY\r\nSUMMARY:Weekly 1:1\r\nX-CUSTOM-PROP;X-PARAM=keep:me\r\n");
    if let Some(o) = people.first() {
        s.push_str(&format!("ORGANIZER:mailto:{o}\r\n"));
    }
    for p in people {
        s.push_str(&format!("ATTENDEE;PARTSTAT=ACCEPTED:mailto:{p}\r\n"));
    }
    if let Some(d) = description {
        s.push_str(&format!("DESCRIPTION:{d}\r\n"));
    }
    s.push_str("BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT10M\r\nDESCRIPTION:reminder\r\nEND:VALARM\r\n");
    s.push_str("END:VEVENT\r\n");
    s.push_str(overrides);
    s.push_str("END:VCALENDAR\r\n");
    s
}

fn cancelled_override(uid: &str, day: &str) -> String {
    format!(
        "BEGIN:VEVENT\r\nUID:{uid}\r\nRECURRENCE-ID;TZID=Europe/London:{day}T100000\r\nDTSTAMP:20260101T000000Z\r\n\
DTSTART;TZID=Europe/London:{day}T100000\r\nDTEND;TZID=Europe/London:{day}T103000\r\nSUMMARY:Weekly 1:1\r\n\
ORGANIZER:mailto:alice@acme.test\r\nATTENDEE:mailto:alice@acme.test\r\nATTENDEE:mailto:bob@acme.test\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\n"
    )
}

/// `s1.ics`: Alice and Bob weekly at 10:00 London from `first` (YYYYMMDD), with the occurrences on
/// `cancelled` days (YYYYMMDD) cancelled.
fn write_weekly(env: &Env, first: &str, cancelled: &[&str]) {
    let overrides: String = cancelled
        .iter()
        .map(|d| cancelled_override("s1", d))
        .collect();
    let people = ["alice@acme.test", "bob@acme.test"];
    std::fs::write(
        env.cal().join("s1.ics"),
        series("s1", first, &people, None, &overrides),
    )
    .expect("write");
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(Result::ok)
        .map(|e| {
            let p = e.path();
            let bytes = std::fs::read(&p).expect("read");
            let mtime = e.metadata().and_then(|m| m.modified()).expect("mtime");
            (p, bytes, mtime)
        })
        .collect();
    v.sort();
    v
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[test]
fn check_accepts_valid_and_rejects_invalid_with_positions() {
    let env = Env::new();
    env.write_config(PAIR_AB, "");
    let (code, out, _) = env.run(&["check"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok (1 account, 1 pair)"), "{out}");

    env.write_config(
        "[[pairs]]\nmanager = \"alice@acme.test\"\nreport = \"bob@acme.test\"\naccount = \"nope\"\ncadense = \"weekly\"\n",
        "",
    );
    let (code, out, _) = env.run(&["check"]);
    assert_eq!(code, 2, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let path = env.config().display().to_string();
    for l in &lines {
        let rest = l
            .strip_prefix(&format!("{path}:"))
            .unwrap_or_else(|| panic!("no path prefix: {l}"));
        let mut parts = rest.splitn(3, ':');
        let line: usize = parts
            .next()
            .and_then(|x| x.parse().ok())
            .unwrap_or_else(|| panic!("no line: {l}"));
        let col: usize = parts
            .next()
            .and_then(|x| x.parse().ok())
            .unwrap_or_else(|| panic!("no col: {l}"));
        assert!(line >= 20 && col >= 1, "{l}");
    }
    assert!(out.contains("nope"), "{out}");
    assert!(out.contains("cadense"), "{out}");
}

#[test]
fn sync_writes_the_block_once_and_touches_nothing_else() {
    let env = Env::new();
    env.write_config(PAIR_AB, "");
    let original = series(
        "s1",
        "20261103",
        &["alice@acme.test", "bob@acme.test"],
        Some("Dial-in: 555\\, ext 1"),
        "",
    );
    std::fs::write(env.cal().join("s1.ics"), &original).expect("write");
    std::fs::write(
        env.cal().join("unrelated.ics"),
        series(
            "s2",
            "20261103",
            &["x@acme.test", "y@acme.test", "z@acme.test"],
            None,
            "",
        ),
    )
    .expect("write");

    let now = "2026-11-22T12:00:00Z";
    let (code, out, err) = env.run(&["sync", "--once", "--now", now]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("writes=2"), "{out}");
    let written = std::fs::read_to_string(env.cal().join("s1.ics")).expect("read");
    // The master changes in its DESCRIPTION only (the pair's stable link); every other line of it
    // is byte-identical. The next occurrence gets an override with its own doc's block.
    let master_end = original.find("END:VEVENT\r\n").expect("master") + "END:VEVENT\r\n".len();
    let master = |t: &str| -> Vec<String> {
        t[..t.find("END:VEVENT\r\n").map_or(0, |i| i + 12)]
            .replace("\r\n ", "")
            .split("\r\n")
            .filter(|l| !l.starts_with("DESCRIPTION:"))
            .map(String::from)
            .collect()
    };
    assert_eq!(master(&written), master(&original[..master_end]));
    assert!(
        written.contains("RECURRENCE-ID;TZID=Europe/London:20261124T100000"),
        "{written}"
    );
    let unfolded = written.replace("\r\n ", "");
    assert!(unfolded.contains("DESCRIPTION:Dial-in: 555\\, ext 1\\n\\n-- oneonone agenda --\\nAgenda for your 1:1s: http://agenda.test/p/"), "{unfolded}");
    assert!(unfolded.contains("DESCRIPTION:Dial-in: 555\\, ext 1\\n\\n-- oneonone agenda --\\nAgenda for this 1:1: http://agenda.test/a/"), "{unfolded}");
    assert_eq!(
        unfolded.matches("-- end oneonone agenda --").count(),
        2,
        "{unfolded}"
    );
    assert_eq!(
        written.matches("X-CUSTOM-PROP;X-PARAM=keep:me").count(),
        2,
        "custom property kept (and copied into the override)"
    );
    assert_eq!(
        std::fs::read_to_string(env.cal().join("unrelated.ics")).expect("read"),
        series(
            "s2",
            "20261103",
            &["x@acme.test", "y@acme.test", "z@acme.test"],
            None,
            ""
        )
    );

    // A second cycle changes nothing: same bytes, same mtimes.
    let before = snapshot(&env.cal());
    std::thread::sleep(std::time::Duration::from_millis(20));
    let (code, out, err) = env.run(&["sync", "--once", "--now", now]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("writes=0"), "{out}");
    assert_eq!(snapshot(&env.cal()), before);

    // meetings --json: the next one carries the agenda link that is in the file.
    let (code, out, _) = env.run(&["meetings", "--json", "--now", now]);
    assert_eq!(code, 0);
    let list = json(&out);
    let arr = list.as_array().expect("array");
    let next = arr
        .iter()
        .find(|m| m["start"] == "2026-11-24T10:00:00Z")
        .expect("next occurrence listed");
    assert_eq!(next["status"], "scheduled");
    assert_eq!(next["pair"], "alice@acme.test~bob@acme.test");
    assert_eq!(next["series_id"], "s1");
    let url = next["agenda_url"].as_str().expect("agenda url");
    assert!(unfolded.contains(url), "{url}");
    let token = url.rsplit('/').next().unwrap_or("");
    assert!(token.len() >= 32, "token has at least 128 bits: {token}");
    for m in arr {
        for key in [
            "pair",
            "event_id",
            "series_id",
            "start",
            "end",
            "status",
            "agenda_url",
            "title",
        ] {
            assert!(m.get(key).is_some(), "missing {key} in {m}");
        }
    }
    assert!(arr.iter().any(|m| m["status"] == "held"));
}

#[test]
fn status_json_has_the_documented_shape() {
    let env = Env::new();
    env.write_config(PAIR_AB, "");
    write_weekly(&env, "20261006", &["20261110", "20261117"]);
    let (code, _, err) = env.run(&["sync", "--once", "--now", "2026-11-22T12:00:00Z"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = env.run(&["status", "--json", "--now", "2026-11-22T12:00:00Z"]);
    assert_eq!(code, 0);
    let v = json(&out);
    assert_eq!(v["generated_at"], "2026-11-22T12:00:00Z");
    let p = &v["pairs"][0];
    assert_eq!(p["id"], "alice@acme.test~bob@acme.test");
    assert_eq!(p["manager"], "alice@acme.test");
    assert_eq!(p["report"], "bob@acme.test");
    assert_eq!(p["account"], "local");
    assert_eq!(p["cadence"], "weekly");
    assert_eq!(p["duration_minutes"], 30);
    assert_eq!(p["last_held"], "2026-11-03T10:00:00Z");
    assert_eq!(p["next_scheduled"], "2026-11-24T10:00:00Z");
    assert_eq!(p["consecutive_cancellations"], 2);
    assert_eq!(p["cancelled_in_window"], 2);
    assert_eq!(p["held_in_window"], 5);
    let kinds: Vec<&str> = p["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["kind"].as_str())
        .collect();
    assert_eq!(kinds, vec!["cadence_gap", "repeated_cancellations"]);
    for f in p["findings"].as_array().expect("findings") {
        assert_eq!(f["severity"], "warning");
        assert!(f["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(f.get("occurrence").is_some());
    }
}

#[test]
fn malformed_files_are_reported_and_the_rest_is_processed() {
    let env = Env::new();
    env.write_config(PAIR_AB, "");
    std::fs::write(
        env.cal().join("garbage.ics"),
        "this is not a calendar\n\u{0}\u{1}",
    )
    .expect("write");
    std::fs::write(
        env.cal().join("nostart.ics"),
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:nostart\r\nSUMMARY:x\r\nATTENDEE:mailto:alice@acme.test\r\nATTENDEE:mailto:bob@acme.test\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .expect("write");
    std::fs::write(
        env.cal().join("badtz.ics"),
        series(
            "badtz",
            "20261103",
            &["alice@acme.test", "bob@acme.test"],
            None,
            "",
        )
        .replace("Europe/London", "Mars/Olympus_Mons"),
    )
    .expect("write");
    std::fs::write(
        env.cal().join("good.ics"),
        series(
            "good",
            "20261103",
            &["alice@acme.test", "bob@acme.test"],
            None,
            "",
        ),
    )
    .expect("write");
    let (code, out, err) = env.run(&["sync", "--once", "--now", "2026-11-22T12:00:00Z"]);
    assert_eq!(
        code, 1,
        "unreadable files make the run a partial failure\n{out}\n{err}"
    );
    assert!(out.contains("writes=2"), "{out}");
    for name in ["garbage.ics", "nostart.ics", "badtz.ics"] {
        assert!(err.contains(name), "{name} not reported:\n{err}");
        assert!(
            out.contains(name),
            "{name} not named in the summary:\n{out}"
        );
    }
    assert!(err.contains("Mars/Olympus_Mons"), "{err}");
    assert!(
        std::fs::read_to_string(env.cal().join("good.ics"))
            .expect("read")
            .contains("oneonone agenda")
    );
    assert_eq!(
        std::fs::read(env.cal().join("garbage.ics")).expect("read"),
        b"this is not a calendar\n\x00\x01"
    );
}

#[test]
fn dry_run_plans_but_writes_nothing() {
    let env = Env::new();
    env.write_config(PAIR_AB, "");
    write_weekly(&env, "20261103", &[]);
    let before = snapshot(&env.cal());
    let (code, out, err) = env.run(&[
        "sync",
        "--once",
        "--dry-run",
        "--now",
        "2026-11-22T12:00:00Z",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dry-run=2"), "{out}");
    assert!(err.contains("dry run: would write"), "{err}");
    assert_eq!(snapshot(&env.cal()), before);
}

#[test]
fn open_items_carry_over_into_the_next_invite() {
    let env = Env::new();
    env.write_config(PAIR_AB, "");
    write_weekly(&env, "20261103", &[]);
    let (code, _, err) = env.run(&["sync", "--once", "--now", "2026-11-22T12:00:00Z"]);
    assert_eq!(code, 0, "{err}");

    // Someone adds two items to the doc of the 24 Nov meeting and ticks one off (as the web form does).
    {
        let store = Store::open(&env.root.join("state")).expect("store");
        let pair = "alice@acme.test~bob@acme.test";
        let token = store
            .occurrences(pair)
            .expect("read")
            .into_iter()
            .find(|o| o.meeting == "s1_20261124T100000Z")
            .and_then(|o| o.agenda)
            .expect("the next occurrence names its doc");
        let doc = store
            .agenda_doc(&token)
            .expect("read")
            .expect("doc exists for the next occurrence");
        let start = doc.start;
        let item = |id: &str, kind, text: &str, owner: Option<&str>| AgendaItem {
            id: id.into(),
            pair_id: pair.into(),
            kind,
            section: if kind == ItemKind::ActionItem {
                Section::ActionItems
            } else {
                Section::ReportTopics
            },
            text: text.into(),
            owner: owner.map(String::from),
            author: None,
            origin_meeting: doc.meeting.clone(),
            origin_start: start,
            done_in: None,
            done_start: None,
            done_at: None,
            created_at: start - chrono::Duration::days(1),
            ..AgendaItem::default()
        };
        store
            .put_agenda_item(&item(
                "a1",
                ItemKind::ActionItem,
                "Draft the promo packet",
                Some("bob@acme.test"),
            ))
            .expect("put");
        let mut done = item("t1", ItemKind::TalkingPoint, "Conference budget", None);
        done.done_in = Some(doc.meeting.clone());
        done.done_start = Some(start);
        done.done_at = Some(start);
        store.put_agenda_item(&done).expect("put");
        store.flush().expect("flush");
    }

    // After the 24 Nov meeting is held, the next invite (1 Dec) shows the open action item only.
    let (code, out, err) = env.run(&["sync", "--once", "--now", "2026-11-25T12:00:00Z"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let text = std::fs::read_to_string(env.cal().join("s1.ics"))
        .expect("read")
        .replace("\r\n ", "");
    let dec1 = text
        .split("BEGIN:VEVENT")
        .find(|c| c.contains("RECURRENCE-ID;TZID=Europe/London:20261201T100000"))
        .expect("override for 1 Dec");
    assert!(dec1.contains("Carried over from earlier 1:1s:\\n- [action] Draft the promo packet (owner: bob@acme.test) — from 24 Nov"), "{dec1}");
    assert!(!dec1.contains("Conference budget"), "{dec1}");
    // The 24 Nov override keeps its own block (its link) untouched.
    let nov24 = text
        .split("BEGIN:VEVENT")
        .find(|c| c.contains("RECURRENCE-ID;TZID=Europe/London:20261124T100000"))
        .expect("override for 24 Nov");
    assert!(nov24.contains("Nothing carried over"), "{nov24}");
}

#[test]
fn findings_are_notified_once_per_streak() {
    use std::sync::{Arc, Mutex};
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let addr = rt.block_on(async move {
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
                let sink = sink.clone();
                async move {
                    sink.lock().expect("lock").push(v);
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    });

    let env = Env::new();
    env.write_config(
        &format!("{PAIR_AB}\n[notify]\nwebhook_url = \"http://{addr}/hook\"\n"),
        "",
    );
    write_weekly(&env, "20261006", &["20261110", "20261117"]);
    let (code, _, err) = env.run(&["sync", "--once", "--now", "2026-11-22T12:00:00Z"]);
    assert_eq!(code, 0, "{err}");
    let kinds = |v: &[Value]| -> Vec<String> {
        v.iter()
            .filter_map(|x| x["kind"].as_str().map(String::from))
            .collect()
    };
    assert_eq!(
        kinds(&received.lock().expect("lock")),
        vec!["cadence_gap", "repeated_cancellations"]
    );
    let first = received.lock().expect("lock")[1].clone();
    assert_eq!(first["pair"], "alice@acme.test~bob@acme.test");
    assert!(
        first["text"]
            .as_str()
            .is_some_and(|t| t.contains("2 1:1s in a row")),
        "{first}"
    );

    // Same state again: nothing new is sent.
    let (code, _, _) = env.run(&["sync", "--once", "--now", "2026-11-22T13:00:00Z"]);
    assert_eq!(code, 0);
    assert_eq!(received.lock().expect("lock").len(), 2);

    // The streak grows to three: the same streak at the same level (3 of at most 2 is still
    // "over once"), so it is not re-sent; the gap since the last 1:1 has grown a whole cadence
    // period, which is worse, so that one is sent again, once, marked as worse.
    write_weekly(&env, "20261006", &["20261110", "20261117", "20261124"]);
    let (code, _, err) = env.run(&["sync", "--once", "--now", "2026-11-25T12:00:00Z"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        kinds(&received.lock().expect("lock")),
        vec!["cadence_gap", "repeated_cancellations", "cadence_gap"]
    );
    let worse = received.lock().expect("lock")[2].clone();
    assert_eq!(worse["event"], "worse", "{worse}");
    let (code, _, err) = env.run(&["sync", "--once", "--now", "2026-11-25T13:00:00Z"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(received.lock().expect("lock").len(), 3);
}

#[test]
fn discover_prints_unconfigured_one_on_ones_as_toml() {
    let env = Env::new();
    env.write_config(PAIR_AB, "");
    write_weekly(&env, "20261103", &[]);
    std::fs::write(
        env.cal().join("gh.ics"),
        series(
            "gh",
            "20261103",
            &["Grace@Acme.test", "heidi@acme.test"],
            None,
            "",
        ),
    )
    .expect("write");
    let (code, out, err) = env.run(&["discover", "--now", "2026-11-22T12:00:00Z"]);
    assert_eq!(code, 0, "{err}");
    let doc: toml::Table =
        toml::from_str(&out).unwrap_or_else(|e| panic!("not TOML ({e}):\n{out}"));
    let pairs = doc["pairs"].as_array().expect("pairs");
    assert_eq!(pairs.len(), 1, "{out}");
    assert_eq!(pairs[0]["manager"].as_str(), Some("grace@acme.test"));
    assert_eq!(pairs[0]["report"].as_str(), Some("heidi@acme.test"));
    assert_eq!(pairs[0]["cadence"].as_str(), Some("weekly"));
    assert_eq!(pairs[0]["duration"].as_str(), Some("30m"));
}

#[test]
fn fix_mode_corrects_lengths_and_creates_a_missing_series_once() {
    let env = Env::new();
    env.write_config(
        r#"[[pairs]]
manager = "alice@acme.test"
report = "bob@acme.test"
account = "local"
duration = "45m"
enforce = "fix"

[[pairs]]
manager = "alice@acme.test"
report = "erin@acme.test"
account = "local"
cadence = "biweekly"
enforce = "fix"
"#,
        "",
    );
    // Alice and Bob meet weekly for 30 minutes (should be 45); Alice and Erin have nothing.
    write_weekly(&env, "20261103", &[]);
    let now = "2026-11-22T12:00:00Z";
    let (code, out, err) = env.run(&["sync", "--once", "--now", now]);
    assert_eq!(code, 0, "{out}\n{err}");

    let text = std::fs::read_to_string(env.cal().join("s1.ics")).expect("read");
    // The master keeps its 30 minutes (past meetings are history); upcoming ones become 45.
    assert!(
        text.contains(
            "DTSTART;TZID=Europe/London:20261103T100000\r\nDTEND;TZID=Europe/London:20261103T103000"
        ),
        "{text}"
    );
    for day in ["20261124", "20261201", "20261208"] {
        assert!(
            text.contains(&format!("RECURRENCE-ID;TZID=Europe/London:{day}T100000")),
            "no override for {day}:\n{text}"
        );
        assert!(
            text.contains(&format!("DTEND;TZID=Europe/London:{day}T104500")),
            "{day} not 45 min:\n{text}"
        );
    }

    // A new biweekly series for Alice and Erin, on a weekday, not clashing with Alice's 10:00 1:1s.
    let created: Vec<PathBuf> = std::fs::read_dir(env.cal())
        .expect("read dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("oneonone-"))
        })
        .collect();
    assert_eq!(created.len(), 1, "{created:?}");
    let new = std::fs::read_to_string(&created[0]).expect("read new series");
    assert!(new.contains("RRULE:FREQ=WEEKLY;INTERVAL=2"), "{new}");
    assert!(
        new.to_lowercase().contains("mailto:erin@acme.test"),
        "{new}"
    );
    assert!(
        new.to_lowercase().contains("organizer")
            && new.to_lowercase().contains("mailto:alice@acme.test"),
        "{new}"
    );
    assert!(
        !new.contains("T100000\r\n"),
        "clashes with the 10:00 series:\n{new}"
    );

    // The next cycle sees the new series and puts the agenda into it: the pair's link into the
    // series, its first occurrence's doc into that occurrence …
    let (code, out, err) = env.run(&["sync", "--once", "--now", now]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("writes=2"), "{out}");
    assert!(out.contains("cleared=2"), "{out}");
    // … and from then on nothing is created or rewritten.
    let before = snapshot(&env.cal());
    let (code, out, err) = env.run(&["sync", "--once", "--now", now]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("writes=0"), "{out}");
    assert_eq!(snapshot(&env.cal()), before);
    let (code, out, _) = env.run(&["status", "--json", "--now", now]);
    assert_eq!(code, 0);
    let v = json(&out);
    for p in v["pairs"].as_array().expect("pairs") {
        let kinds: Vec<&str> = p["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter_map(|f| f["kind"].as_str())
            .collect();
        assert!(!kinds.contains(&"duration_mismatch"), "{p}");
        assert!(!kinds.contains(&"no_upcoming_meeting"), "{p}");
    }
}

#[test]
fn check_warns_when_a_secret_is_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    env.write_config(
        &format!("{PAIR_AB}\n[notify]\nwebhook_url = \"https://hooks.example/T000/B000/XXXX\"\n"),
        "",
    );
    std::fs::set_permissions(env.config(), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (code, out, _) = env.run(&["check"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("warning: holds a webhook URL"), "{out}");
    assert!(
        !out.contains("XXXX"),
        "the secret itself is never printed: {out}"
    );
    std::fs::set_permissions(env.config(), std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let (code, out, _) = env.run(&["check"]);
    assert_eq!(code, 0);
    assert!(!out.contains("warning"), "{out}");
}

/// `status --json` of the one pair: (next_scheduled, cancelled_in_window, finding kinds).
fn pair_status(env: &Env, now: &str) -> (Value, Value, Vec<String>) {
    let (code, out, err) = env.run(&["status", "--json", "--now", now]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    let p = &v["pairs"][0];
    let kinds = p["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["kind"].as_str().map(String::from))
        .collect();
    (
        p["next_scheduled"].clone(),
        p["cancelled_in_window"].clone(),
        kinds,
    )
}

#[test]
fn a_file_that_stops_parsing_keeps_its_meetings_and_fix_mode_creates_nothing() {
    let env = Env::new();
    env.write_config(&format!("{PAIR_AB}enforce = \"fix\"\n"), "");
    write_weekly(&env, "20261103", &[]);
    let (code, out, err) = env.run(&["sync", "--once", "--now", "2026-11-22T12:00:00Z"]);
    assert_eq!(code, 0, "{out}\n{err}");
    // The file breaks (a sync tool wrote half of it): its meetings are unknown, not cancelled.
    let text = std::fs::read_to_string(env.cal().join("s1.ics")).expect("read");
    std::fs::write(env.cal().join("s1.ics"), &text[..text.len() / 3]).expect("truncate");
    let (code, out, err) = env.run(&["sync", "--once", "--now", "2026-11-23T12:00:00Z"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("s1.ics"), "the summary names the file: {out}");
    let (next, cancelled, kinds) = pair_status(&env, "2026-11-23T12:00:00Z");
    assert_eq!(next, "2026-11-24T10:00:00Z");
    assert_eq!(cancelled, 0);
    assert!(kinds.is_empty(), "{kinds:?}");
    let created = std::fs::read_dir(env.cal())
        .expect("read dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("oneonone-"))
        .count();
    assert_eq!(created, 0, "fix mode must not create a second series");
}

#[test]
fn an_emptied_folder_is_a_failed_read_not_cancellations() {
    let env = Env::new();
    env.write_config(PAIR_AB, "");
    write_weekly(&env, "20261103", &[]);
    let (code, out, err) = env.run(&["sync", "--once", "--now", "2026-11-22T12:00:00Z"]);
    assert_eq!(code, 0, "{out}\n{err}");
    // The folder is emptied (an unmounted disk looks the same).
    std::fs::remove_file(env.cal().join("s1.ics")).expect("rm");
    let (code, out, err) = env.run(&["sync", "--once", "--now", "2026-11-23T12:00:00Z"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("held 1 events when last read and now returns none"),
        "{out}"
    );
    let (next, cancelled, kinds) = pair_status(&env, "2026-11-23T12:00:00Z");
    assert_eq!(next, "2026-11-24T10:00:00Z");
    assert_eq!(cancelled, 0);
    assert!(kinds.is_empty(), "{kinds:?}");
}

#[test]
fn fix_mode_books_around_the_owners_own_time() {
    let env = Env::new();
    env.write_config(
        "[[pairs]]\nmanager = \"alice@acme.test\"\nreport = \"erin@acme.test\"\naccount = \"local\"\nenforce = \"fix\"\n",
        "",
    );
    // Alice's own calendar folder (named by her address): blocked every weekday morning.
    let mine = env.cal().join("alice@acme.test");
    std::fs::create_dir_all(&mine).expect("mkdir");
    std::fs::write(
        mine.join("focus.ics"),
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:focus\r\nDTSTAMP:20260101T000000Z\r\n\
DTSTART;TZID=Europe/London:20261102T090000\r\nDTEND;TZID=Europe/London:20261102T120000\r\n\
RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR\r\nSUMMARY:Focus time\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .expect("write");
    let (code, out, err) = env.run(&["sync", "--once", "--now", "2026-11-22T12:00:00Z"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let created: Vec<PathBuf> = std::fs::read_dir(env.cal())
        .expect("read dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("oneonone-"))
        .collect();
    assert_eq!(created.len(), 1, "{created:?}\n{err}");
    let new = std::fs::read_to_string(&created[0]).expect("read");
    let start = new
        .lines()
        .find_map(|l| l.strip_prefix("DTSTART;TZID=Europe/London:"))
        .expect("a start");
    let hour: u32 = start.get(9..11).and_then(|h| h.parse().ok()).expect("hour");
    assert!(
        hour >= 12,
        "the new series must not sit in Alice's focus time: {start}"
    );
}
