//! Notifications end to end against real servers on loopback, driven through `sync --once`: a
//! real SMTP server (aiosmtpd, STARTTLS with a private CA, AUTH required) receiving the weekly
//! digest, the nudge before the 1:1 and a cancellation warning; a nudge whose meeting was cancelled
//! while it waited out the quiet hours is dropped; webhooks in the three shapes, the JSON one
//! signed (checked with Python's hmac), Slack's checked with Slack's SDK models and Teams' with
//! the published Adaptive Card schema; and the outbox never sends a thing twice across runs.
#[path = "support/python.rs"]
mod python;

use python::{Server, free_port, oracle};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

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

    fn write_config(&self, notify: &str) {
        let text = format!(
            r#"[daemon]
state_dir = "state"
timezone = "Europe/London"
public_url = "http://agenda.test"
listen = "127.0.0.1:0"

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

[[pairs]]
manager = "alice@acme.test"
report = "bob@acme.test"
account = "local"

[[pairs]]
manager = "alice@acme.test"
report = "carol@acme.test"
account = "local"

{notify}
"#
        );
        std::fs::write(self.root.join("config.toml"), text).expect("write config");
    }

    /// `name.ics`: `manager` and `report` weekly at 10:00 London from `first` (YYYYMMDD), the
    /// occurrences on `cancelled` days cancelled by the organizer.
    fn weekly(&self, name: &str, report: &str, first: &str, cancelled: &[&str]) {
        let head = |extra: &str| {
            format!(
                "BEGIN:VEVENT\r\nUID:{name}\r\nDTSTAMP:20260101T000000Z\r\n{extra}SUMMARY:1:1 alice / {report}\r\n\
ORGANIZER:mailto:alice@acme.test\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@acme.test\r\n\
ATTENDEE;PARTSTAT=ACCEPTED:mailto:{report}\r\n"
            )
        };
        let mut s = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n");
        s.push_str(&head(&format!(
            "DTSTART;TZID=Europe/London:{first}T100000\r\nDTEND;TZID=Europe/London:{first}T103000\r\nRRULE:FREQ=WEEKLY\r\n"
        )));
        s.push_str("END:VEVENT\r\n");
        for day in cancelled {
            s.push_str(&head(&format!(
                "RECURRENCE-ID;TZID=Europe/London:{day}T100000\r\nDTSTART;TZID=Europe/London:{day}T100000\r\n\
DTEND;TZID=Europe/London:{day}T103000\r\nSTATUS:CANCELLED\r\n"
            )));
            s.push_str("END:VEVENT\r\n");
        }
        s.push_str("END:VCALENDAR\r\n");
        std::fs::write(self.root.join("cal").join(format!("{name}.ics")), s).expect("write ics");
    }

    fn sync(&self, now: &str) -> (i32, String, String) {
        let out = Command::new(BIN)
            .args(["sync", "--once", "--now", now, "--config"])
            .arg(self.root.join("config.toml"))
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

    /// A 0600 file holding a secret.
    fn secret(&self, name: &str, content: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.root.join(name);
        std::fs::write(&p, content).expect("write secret");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        p
    }
}

/// An open action item from the pair's 1:1 of 3 Nov, put in the store before the first run.
fn carried_item(env: &Env, pair: &str, text: &str) {
    use oneonone::domain::agenda::{AgendaItem, ItemKind, Section};
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-03T10:00:00Z")
        .expect("time")
        .to_utc();
    let store = oneonone::store::Store::open(&env.root.join("state")).expect("store");
    store
        .put_agenda_item(&AgendaItem {
            id: "a1".into(),
            pair_id: pair.into(),
            kind: ItemKind::ActionItem,
            section: Section::ActionItems,
            text: text.into(),
            owner: Some("bob@acme.test".into()),
            author: None,
            origin_meeting: "earlier".into(),
            origin_start: at,
            done_in: None,
            done_start: None,
            done_at: None,
            created_at: at,
            due: None,
            rank: 0,
            version: 1,
            deferred: Vec::new(),
            drop_reason: None,
            done_by: None,
            updated_at: None,
        })
        .expect("put item");
    store.flush().expect("flush");
}

/// A real SMTP server requiring STARTTLS and AUTH, and the `[notify.email]` that reaches it.
fn smtp(env: &Env) -> (Server, String) {
    let port = free_port();
    let ca = env.root.join("smtp-ca.pem");
    let ca_arg = ca.to_string_lossy().into_owned();
    let server = Server::start(
        "smtp_server.py",
        &[&port.to_string(), &ca_arg, "oneonone", "s3cret pass"],
    );
    let creds = env.secret("smtp-credentials", "oneonone\ns3cret pass\n");
    let email = format!(
        "[notify.email]\nsmtp = \"localhost:{port}\"\ntls = \"starttls\"\nfrom = \"oneonone <oneonone@acme.test>\"\n\
credentials_file = \"{}\"\nca_file = \"{}\"\n",
        creds.display(),
        ca.display()
    );
    (server, email)
}

/// A header's value, unfolded.
fn header(data: &str, name: &str) -> Option<String> {
    let head = data.split("\r\n\r\n").next().unwrap_or(data);
    head.replace("\r\n ", " ")
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
        .map(|l| l[name.len() + 1..].trim().to_string())
}

/// The plain-text body with quoted-printable soft breaks undone.
fn body(data: &str) -> String {
    let b = data.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let qp = data.to_ascii_lowercase().contains("quoted-printable");
    let b = b.replace("=\r\n", "");
    if !qp {
        return b;
    }
    // Decode =XX escapes (UTF-8 bytes).
    let bytes = b.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(v) = u8::from_str_radix(&b[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn to(record: &Value) -> Vec<String> {
    record["to"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn digest_nudge_and_warning_reach_a_real_smtp_server_once() {
    let env = Env::new();
    let (server, email) = smtp(&env);
    env.write_config(&format!(
        r#"[notify]
digest = "monday 09:00"
{email}
[[notify.routes]]
kinds = ["repeated_cancellations"]
to = ["manager"]

[[notify.routes]]
to = ["manager"]
delivery = "digest"

[notify.nudge]
before = "36h"
"#
    ));
    // Bob's last two 1:1s were cancelled; Carol's are all held. Both meet on Tuesday 24 Nov.
    env.weekly(
        "bob",
        "bob@acme.test",
        "20261006",
        &["20261110", "20261117"],
    );
    env.weekly("carol", "carol@acme.test", "20261006", &[]);
    carried_item(
        &env,
        "alice@acme.test~bob@acme.test",
        "Draft the promo packet",
    );

    // Monday 23 Nov 09:30 London: the digest is due (09:00), Tuesday's 1:1s are 24.5 h away.
    let (code, out, err) = env.sync("2026-11-23T09:30:00Z");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("sent=4"), "{out}");
    let mails = server.records(4, Duration::from_secs(20));
    assert_eq!(mails.len(), 4, "{mails:#?}");
    for m in &mails {
        assert_eq!(m["tls"], true, "sent before STARTTLS: {m}");
        assert_eq!(m["auth"], "oneonone", "{m}");
        assert_eq!(m["from"], "oneonone@acme.test");
        let data = m["data"].as_str().unwrap_or_default();
        assert!(
            header(data, "Message-ID").is_some_and(|id| id.ends_with("@acme.test>")),
            "{data}"
        );
    }
    let subject =
        |m: &Value| header(m["data"].as_str().unwrap_or_default(), "Subject").unwrap_or_default();
    let find = |pred: &dyn Fn(&Value) -> bool| -> Value {
        mails
            .iter()
            .find(|m| pred(m))
            .cloned()
            .unwrap_or_else(|| panic!("no such mail in {mails:#?}"))
    };

    let digest = find(&|m| subject(m).contains("Your 1:1s this week"));
    assert_eq!(to(&digest), vec!["alice@acme.test"]);
    let text = body(digest["data"].as_str().unwrap_or_default());
    assert!(text.contains("bob@acme.test — needs attention"), "{text}");
    assert!(text.contains("2 cancelled in a row"), "{text}");
    assert!(text.contains("carol@acme.test — ok"), "{text}");

    let warning = find(&|m| subject(m).contains("in a row"));
    assert_eq!(to(&warning), vec!["alice@acme.test"]);
    let text = body(warning["data"].as_str().unwrap_or_default());
    // Who cancelled, and up to three slots free for both this week.
    assert!(text.contains("Tue 17 Nov 10:00"), "{text}");
    assert!(text.contains("alice@acme.test"), "{text}");
    assert!(text.contains("Free for both to rebook:"), "{text}");

    let nudge_bob = find(&|m| to(m) == vec!["bob@acme.test"]);
    assert!(
        subject(&nudge_bob).contains("add your topics"),
        "{nudge_bob}"
    );
    let text = body(nudge_bob["data"].as_str().unwrap_or_default());
    assert!(text.contains("Add your topics"), "{text}");
    assert!(text.contains("Agenda: http://agenda.test/a/"), "{text}");
    assert!(
        text.contains("- [action] Draft the promo packet (owner: bob@acme.test)"),
        "{text}"
    );
    let nudge_carol = find(&|m| to(m) == vec!["carol@acme.test"]);
    assert!(
        body(nudge_carol["data"].as_str().unwrap_or_default())
            .contains("Tuesday 24 November, 10:00")
    );

    // Another run the same day: everything was sent once, nothing goes out again.
    let (code, out, err) = env.sync("2026-11-23T10:30:00Z");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!out.contains("notifications:"), "{out}");
    assert!(server.records(1, Duration::from_secs(3)).is_empty());
}

#[test]
fn a_nudge_waiting_out_quiet_hours_is_dropped_when_its_meeting_is_cancelled() {
    let env = Env::new();
    let (server, email) = smtp(&env);
    env.write_config(&format!(
        "[notify]\nquiet_hours = \"20:00-08:00\"\n{email}\n[notify.nudge]\nbefore = \"24h\"\n"
    ));
    env.weekly("bob", "bob@acme.test", "20261006", &[]);
    env.weekly("carol", "carol@acme.test", "20261006", &[]);

    // Monday 21:00 London: both nudges are due, but wait for 08:00.
    let (code, out, err) = env.sync("2026-11-23T21:00:00Z");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(server.records(1, Duration::from_secs(3)).is_empty());

    // Overnight Bob's 1:1 is cancelled; at 08:30 only Carol's nudge goes out.
    env.weekly("bob", "bob@acme.test", "20261006", &["20261124"]);
    let (code, out, err) = env.sync("2026-11-24T08:30:00Z");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("sent=1") && out.contains("dropped=1"), "{out}");
    let mails = server.records(2, Duration::from_secs(5));
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_eq!(to(&mails[0]), vec!["carol@acme.test"]);
}

/// A webhook receiver checking signatures and payload shapes.
fn receiver() -> (Server, u16) {
    let port = free_port();
    let schema = oracle("adaptive-card-1.4.schema.json");
    let server = Server::start(
        "webhook_receiver.py",
        &[
            &port.to_string(),
            "hmac-key-for-tests",
            &schema.to_string_lossy(),
        ],
    );
    (server, port)
}

#[test]
fn webhooks_are_signed_and_valid_for_slack_teams_and_json() {
    let env = Env::new();
    let (server, port) = receiver();
    let key = env.secret("hook.key", "hmac-key-for-tests\n");
    env.write_config(&format!(
        r#"[notify]
[[notify.webhooks]]
name = "slack"
format = "slack"
url = "http://127.0.0.1:{port}/slack"

[[notify.webhooks]]
name = "teams"
format = "teams"
url = "http://127.0.0.1:{port}/teams"

[[notify.webhooks]]
name = "audit"
format = "json"
url = "http://127.0.0.1:{port}/json"
secret_file = "{}"
"#,
        key.display()
    ));
    env.weekly(
        "bob",
        "bob@acme.test",
        "20261006",
        &["20261110", "20261117"],
    );
    env.weekly("carol", "carol@acme.test", "20261006", &[]);
    let (code, out, err) = env.sync("2026-11-23T09:30:00Z");
    assert_eq!(code, 0, "{out}\n{err}");

    // Bob's pair has two findings (the streak, the gap since the last 1:1): each to each webhook.
    let got = server.records(7, Duration::from_secs(20));
    assert_eq!(got.len(), 6, "{got:#?}");
    for r in &got {
        assert_eq!(r["errors"], serde_json::json!([]), "{r:#}");
        let path = r["path"].as_str().unwrap_or_default();
        let signed = if path == "/json" {
            Value::Bool(true)
        } else {
            Value::Null
        };
        assert_eq!(r["signature_ok"], signed, "{r:#}");
        assert!(
            r["key"].as_str().is_some_and(|k| k.starts_with("finding:")),
            "{r}"
        );
    }
    let keys: std::collections::BTreeSet<&str> =
        got.iter().filter_map(|r| r["key"].as_str()).collect();
    assert_eq!(keys.len(), 6, "one key per message: {keys:?}");
    let json = got
        .iter()
        .find(|r| r["path"] == "/json" && r["body"]["kind"] == "repeated_cancellations")
        .expect("the JSON warning");
    assert_eq!(json["body"]["pair"], "alice@acme.test~bob@acme.test");
    assert_eq!(json["body"]["event"], "finding");
    let lines = json["body"]["lines"].to_string();
    assert!(lines.contains("Tue 17 Nov 10:00"), "{lines}");
    let slack = got
        .iter()
        .find(|r| r["path"] == "/slack")
        .expect("a Slack message");
    assert_eq!(slack["body"]["blocks"][0]["type"], "header");

    // The checks themselves catch what they are for: a bad signature, an over-long Slack
    // header, a card element the schema does not know.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let post = |path: &str, body: Value, sig: Option<&str>| {
        let mut req = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}{path}"))
            .json(&body);
        if let Some(s) = sig {
            req = req.header("X-Oneonone-Signature", s);
        }
        rt.block_on(req.send()).expect("post");
    };
    post("/json", serde_json::json!({"a": 1}), Some("sha256=00"));
    post(
        "/slack",
        serde_json::json!({"text": "x", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x".repeat(151)}}]}),
        None,
    );
    post(
        "/teams",
        serde_json::json!({"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
            "content": {"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlok", "text": "x"}]}}]}),
        None,
    );
    let bad = server.records(3, Duration::from_secs(10));
    assert_eq!(bad.len(), 3);
    assert_eq!(bad[0]["signature_ok"], false);
    assert_ne!(bad[1]["errors"], serde_json::json!([]), "{:#}", bad[1]);
    assert_ne!(bad[2]["errors"], serde_json::json!([]), "{:#}", bad[2]);

    // Nothing is sent twice.
    let (code, _, err) = env.sync("2026-11-23T10:00:00Z");
    assert_eq!(code, 0, "{err}");
    assert!(server.records(1, Duration::from_secs(3)).is_empty());
}
