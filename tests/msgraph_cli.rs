//! The command line with a Microsoft 365 account, against the Graph emulator: `check` reports the
//! account's key errors at `PATH:LINE:COL` and warns about a readable secret file; `sync --once`
//! run twice (no state kept in memory: the mirror and delta links come from the store) asks each
//! mailbox once the second time and writes nothing; `discover` finds unconfigured 1:1s; `auth`
//! runs the device code flow (printing the code, polling until approved, storing the refresh token
//! 0600) and stops with what to do when the sign-in is declined or the code expires.
use serde_json::json;
use std::io::BufRead;
use std::process::{Command, Stdio};

mod msgraph_support;
use msgraph_support::*;

const BIN: &str = env!("CARGO_BIN_EXE_oneonone");

fn run(env: &Env, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(&env.config)
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

#[test]
fn check_reports_key_errors_at_their_position_and_warns_about_an_open_secret() {
    let emu = Emu::start(51);
    let env = Env::standard(&emu, "");
    let (code, out, _) = run(&env, &["check"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("warning"), "{out}");
    use std::os::unix::fs::PermissionsExt;
    let secret = env.dir.path().join("m365-secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (code, out, _) = run(&env, &["check"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: account m365:") && out.contains("chmod 600"),
        "{out}"
    );
    assert!(!out.contains(SECRET));

    std::fs::write(
        &env.config,
        "[[accounts]]\nname = \"m365\"\nprovider = \"microsoft\"\nauth = \"password\"\ntenant = \"common\"\n\
         client_id = \"app\"\napi_base_url = \"http://graph.example.com/v1.0\"\nmax_concurrent_requests = 8\n",
    )
    .expect("config");
    let (code, out, _) = run(&env, &["check"]);
    assert_eq!(code, 2, "{out}");
    let path = env.config.display().to_string();
    assert!(
        out.contains(&format!(
            "{path}:4:8: accounts.auth: unknown sign-in \"password\""
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("{path}:7:16: accounts.api_base_url:")) && out.contains("clear text"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{path}:8:27: accounts.max_concurrent_requests: 8 is too many"
        )),
        "{out}"
    );
}

#[test]
fn sync_once_twice_reads_each_mailbox_once_the_second_time_and_discover_finds_unconfigured_ones() {
    let emu = Emu::start(52);
    let mut s = scenario(20, json!({}));
    // Alice also meets Erin, who is in no pair.
    if let Some(events) = s["graph"]["mailboxes"][0]["events"].as_array_mut() {
        events.push(
            json!({"id": "AAMkAGae", "iCalUId": "UID-AE", "subject": "Alice / Erin",
            "start": {"days": 2, "time": "11:00", "timeZone": "UTC"}, "duration_minutes": 30,
            "attendees": [{"address": "erin@contoso.com"}],
            "recurrence": {"pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["sunday"]},
                           "range": {"type": "noEnd"}}}),
        );
    }
    emu.load(&s);
    let env = Env::standard(&emu, "");
    let (code, out, err) = run(&env, &["sync", "--once", "--now", NOW]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(notifying(&emu.log()).len(), 2);
    // A second run, a fresh process: it starts from the stored delta links (after its own writes,
    // Alice's master and Carol's event come again; after that, one request per mailbox).
    let (code, _, err) = run(&env, &["sync", "--once", "--now", "2026-11-20T12:05:00Z"]);
    assert_eq!(code, 0, "{err}");
    let n = emu.log().len();
    let (code, _, err) = run(&env, &["sync", "--once", "--now", "2026-11-20T12:10:00Z"]);
    assert_eq!(code, 0, "{err}");
    let third = since(&emu.log(), n);
    assert_eq!(third.len(), 4, "{third:?}");
    assert!(third.iter().all(|e| {
        e["query"]
            .as_str()
            .is_some_and(|q| q.starts_with("$deltatoken="))
    }));
    assert_eq!(notifying(&emu.log()).len(), 2);

    let (code, out, err) = run(&env, &["discover", "--now", NOW]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("manager = \"alice@contoso.com\"")
            && out.contains("report = \"erin@contoso.com\""),
        "{out}"
    );
    assert!(out.contains("cadence = \"biweekly\""), "{out}");
}

fn device_env(emu: &Emu) -> Env {
    Env::new(&format!(
        "\n[[accounts]]\nname = \"me\"\nprovider = \"microsoft\"\nauth = \"device_code\"\n\
         tenant = \"organizations\"\nclient_id = \"cli\"\napi_base_url = \"{b}/v1.0\"\nauthority_url = \"{b}\"\n{}",
        pair_toml("alice@contoso.com", "bob@contoso.com", "me", ""),
        b = emu.base
    ))
}

/// Run `auth`, and when it prints the code, do `then(code)`; returns exit code, stdout, stderr.
fn auth(env: &Env, then: impl FnOnce(&str)) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(["auth", "--account", "me", "--config"])
        .arg(&env.config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let code = first
        .split("enter the code ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or("")
        .to_string();
    assert!(!code.is_empty(), "{first}");
    assert!(first.contains("/devicelogin"), "{first}");
    then(&code);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        format!("{first}\n{}", rest.join("\n")),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn device_code_sign_in_stores_a_rotating_refresh_token_the_daemon_uses() {
    let emu = Emu::start(53);
    let mut s = scenario(2, json!({"device_interval_secs": 1}));
    s["graph"]["apps"] = json!([{"client_id": "cli"}]);
    emu.load(&s);
    let env = device_env(&emu);

    // Not signed in yet: the account's pairs are told what to do.
    let (code, out, err) = run(&env, &["sync", "--once", "--now", NOW]);
    assert_eq!(code, 1, "{out}");
    assert!(
        format!("{out}{err}").contains("oneonone auth --account me"),
        "{out}\n{err}"
    );

    let (code, out, err) = auth(&env, |user_code| {
        emu.post(
            "/_admin/graph/device/approve",
            &json!({"user_code": user_code, "user": "alice@contoso.com"}),
        );
    });
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("signed in"), "{out}");
    let creds = env.dir.path().join("state/credentials");
    let file = std::fs::read_dir(&creds)
        .expect("credentials")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "token"))
        .expect("a token file");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let first_token = std::fs::read_to_string(&file).expect("token");
    assert!(!out.contains(first_token.trim()) && !err.contains(first_token.trim()));

    // The daemon redeems it; the identity platform rotates it (the old one now refused) and the
    // new one replaced it on disk; a second run uses the new one.
    let (code, out, err) = run(&env, &["sync", "--once", "--now", NOW]);
    assert_eq!(code, 0, "{out}\n{err}");
    let second_token = std::fs::read_to_string(&file).expect("token");
    assert_ne!(first_token, second_token);
    let (code, out, err) = run(&env, &["sync", "--once", "--now", "2026-11-20T12:05:00Z"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        notifying(&emu.log()),
        vec!["/v1.0/users/alice@contoso.com/events/AAMkAGab"]
    );
}

#[test]
fn a_declined_or_expired_device_code_stops_with_what_to_do() {
    let emu = Emu::start(54);
    let mut s = scenario(0, json!({"device_interval_secs": 1}));
    s["graph"]["apps"] = json!([{"client_id": "cli"}]);
    emu.load(&s);
    let env = device_env(&emu);
    let (code, out, err) = auth(&env, |c| {
        emu.post("/_admin/graph/device/decline", &json!({"user_code": c}));
    });
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("declined"), "{err}");
    let (code, out, err) = auth(&env, |c| {
        emu.post("/_admin/graph/device/expire", &json!({"user_code": c}));
    });
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("expired") && err.contains("oneonone auth --account me"),
        "{err}"
    );
    assert!(std::fs::read_dir(env.dir.path().join("state/credentials")).is_err());
}
