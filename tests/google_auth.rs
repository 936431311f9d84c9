//! Credentials of the Google provider over real HTTP: a revoked service-account key gives the
//! account's pairs an `auth_failed` finding telling the admin what to do while the other accounts
//! go on, and a new key clears it; a person the service account may not impersonate makes their
//! calendar unreadable, not the account; `oneonone auth` runs the installed-app flow (consent URL,
//! loopback redirect, PKCE) and stores the refresh token 0600, whose revocation (`invalid_grant`)
//! is again an `auth_failed` finding; `check` warns about a key file others can read.
mod google_support;

use google_support::{Emu, Org, cycle, pairs, scenario, set_mode};
use oneonone::views::status_from_store;
use oneonone_emulator::FaultConfig;
use serde_json::json;
use std::io::BufRead;

const BIN: &str = env!("CARGO_BIN_EXE_oneonone");

fn findings(engine: &oneonone::daemon::engine::Engine) -> Vec<(String, String, String)> {
    status_from_store(
        &engine.settings,
        &engine.settings.pairs,
        &engine.store,
        google_support::now(),
    )
    .expect("status")
    .pairs
    .into_iter()
    .flat_map(|p| {
        let id = p.id.clone();
        p.findings
            .into_iter()
            .map(move |f| (id.clone(), f.kind, f.message))
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_is_an_auth_failed_finding_with_instructions_and_other_accounts_go_on() {
    let emu = Emu::start(31, FaultConfig::default()).await;
    emu.scenario(scenario()).await;
    let local = "[[accounts]]\nname = \"vdir\"\nprovider = \"local\"\npath = \"vdir\"\n";
    let p = pairs("workspace", &[("alice", "bob"), ("carol", "dan")], "")
        + &pairs("vdir", &[("gina", "hank")], "");
    let org = Org::new(&emu, "", local, &p);
    std::fs::create_dir_all(org.dir.path().join("vdir")).expect("mkdir");
    {
        let engine = org.engine();
        let r = cycle(&engine).await;
        assert_eq!((r.accounts_ok, r.accounts_failed), (2, 0), "{r}");
    }
    // The key is deleted in the Cloud console: Google now knows another key only.
    emu.register_key(google_support::PUB_B).await;
    let engine = org.engine();
    let r = cycle(&engine).await;
    assert_eq!((r.accounts_ok, r.accounts_failed), (1, 1), "{r}");
    assert!(r.failed());
    let f = findings(&engine);
    let auth: Vec<&(String, String, String)> = f.iter().filter(|x| x.1 == "auth_failed").collect();
    assert_eq!(auth.len(), 2, "{f:?}");
    let key_path = org.dir.path().join("sa.json");
    for (pair, _, message) in &auth {
        assert!(
            pair.ends_with("@acme.test") && !pair.contains("gina"),
            "{pair}"
        );
        assert!(message.contains("create a new JSON key"), "{message}");
        assert!(
            message.contains(&key_path.display().to_string()),
            "{message}"
        );
        assert!(message.contains(google_support::SA), "{message}");
        assert!(!message.contains("PRIVATE KEY"), "{message}");
    }
    // The workspace's meetings are kept as they were.
    let view = status_from_store(
        &engine.settings,
        &engine.settings.pairs,
        &engine.store,
        google_support::now(),
    )
    .expect("status");
    assert!(
        view.pairs
            .iter()
            .any(|p| p.id == "alice@acme.test~bob@acme.test" && p.next_scheduled.is_some())
    );
    drop(engine);

    // The admin puts a working key back: the finding clears.
    emu.register_key(google_support::PUB_A).await;
    let engine = org.engine();
    let r = cycle(&engine).await;
    assert_eq!((r.accounts_ok, r.accounts_failed), (2, 0), "{r}");
    assert!(findings(&engine).iter().all(|x| x.1 != "auth_failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_outside_the_delegation_is_one_unreadable_calendar() {
    let emu = Emu::start(32, FaultConfig::default()).await;
    emu.scenario(scenario()).await;
    emu.admin(
        "/_admin/google/service-account",
        json!({"client_email": google_support::SA, "public_key_pem": google_support::PUB_A,
               "private_key_id": "key-a", "subjects": ["alice@acme.test", "bob@acme.test", "carol@acme.test"]}),
    )
    .await;
    let org = Org::standard(&emu);
    let engine = org.engine();
    let r = cycle(&engine).await;
    assert_eq!(
        (r.accounts_ok, r.calendars_ok, r.calendars_failed),
        (1, 3, 1),
        "{r}"
    );
    let why = r
        .unreadable
        .iter()
        .find(|u| u.contains("dan@acme.test"))
        .expect("dan unreadable");
    assert!(
        why.contains("domain-wide delegation") && why.contains("calendar.events"),
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oneonone_auth_stores_a_private_refresh_token_whose_revocation_is_reported() {
    let emu = Emu::start(33, FaultConfig::default()).await;
    emu.scenario(scenario()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("client-secret"), "desktop-secret\n").expect("secret");
    set_mode(&dir.path().join("client-secret"), 0o600);
    emu.admin(
        "/_admin/google/oauth-client",
        json!({"client_id": "desktop-client", "client_secret": "desktop-secret"}),
    )
    .await;
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"[daemon]
state_dir = "state"
timezone = "Europe/London"
public_url = "http://agenda.test"

[[accounts]]
name = "me"
provider = "google"
auth = "oauth"
user = "alice@acme.test"
client_id = "desktop-client"
client_secret_file = "client-secret"
auth_url = "{base}/o/oauth2/v2/auth"
token_url = "{base}/token"
api_base_url = "{base}/calendar/v3/"
retry_initial_delay = "5ms"

[[pairs]]
manager = "alice@acme.test"
report = "bob@acme.test"
account = "me"
"#,
            base = emu.base
        ),
    )
    .expect("config");
    let settings = oneonone::config::load_with_env(&config, &[]).expect("settings");
    let open_engine = || {
        let store = oneonone::store::Store::open(&settings.daemon.state_dir).expect("store");
        let providers = oneonone::daemon::engine::Engine::open_providers(&settings, &store, false)
            .expect("open");
        std::sync::Arc::new(
            oneonone::daemon::engine::Engine::new(
                settings.clone(),
                store,
                providers,
                oneonone::daemon::engine::EngineOptions::default(),
            )
            .expect("engine"),
        )
    };

    // Before any sign-in: the account asks for one.
    {
        let engine = open_engine();
        let r = cycle(&engine).await;
        assert_eq!(r.accounts_failed, 1, "{r}");
        let f = findings(&engine);
        assert!(
            f.iter()
                .any(|x| x.1 == "auth_failed" && x.2.contains("oneonone auth --account me")),
            "{f:?}"
        );
    }

    // `oneonone auth`: the consent URL on stdout; the browser (here: reqwest) follows it back
    // to the loopback listener.
    let mut child = std::process::Command::new(BIN)
        .args(["auth", "--account", "me", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let url = tokio::task::spawn_blocking(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        let url = lines
            .by_ref()
            .map_while(Result::ok)
            .find(|l| l.starts_with("http"))
            .expect("a consent URL");
        (url, lines)
    })
    .await
    .expect("join");
    let (url, rest) = url;
    assert!(
        url.starts_with(&format!("{}/o/oauth2/v2/auth?", emu.base)),
        "{url}"
    );
    for part in [
        "code_challenge_method=S256",
        "code_challenge=",
        "state=",
        "access_type=offline",
        "login_hint=alice%40acme.test",
        "calendar.events",
        "redirect_uri=http%3A%2F%2F127.0.0.1%3A",
    ] {
        assert!(url.contains(part), "{part} missing from {url}");
    }
    let page = reqwest::get(&url)
        .await
        .expect("browser")
        .text()
        .await
        .expect("page");
    assert!(page.contains("signed in"), "{page}");
    let status = tokio::task::spawn_blocking(move || {
        let tail: Vec<String> = rest.map_while(Result::ok).collect();
        (child.wait().expect("wait"), tail)
    })
    .await
    .expect("join");
    assert!(status.0.success(), "{:?}", status.1);
    assert!(
        status
            .1
            .iter()
            .any(|l| l.contains("Signed in as alice@acme.test")),
        "{:?}",
        status.1
    );
    let token_file = oneonone::auth::TokenStore::new(&settings.daemon.state_dir, "me");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(token_file.path())
        .expect("token file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // Signed in: the person's calendar is read (theirs only).
    {
        let engine = open_engine();
        let r = cycle(&engine).await;
        assert_eq!((r.accounts_ok, r.calendars_ok), (1, 1), "{r}");
        assert!(findings(&engine).iter().all(|x| x.1 != "auth_failed"));
    }
    // Fix mode cannot create a series from one person's calendar: the other's free time is unknown.
    let account = settings.accounts.first().expect("account");
    let provider = oneonone::providers::open(
        account,
        oneonone::providers::OpenContext::new(
            &settings,
            "me",
            oneonone::store::AccountState::in_memory("me"),
            false,
        ),
    )
    .expect("open");
    let refused = provider
        .create_series(&oneonone::providers::NewSeries {
            key: "k".into(),
            title: "1:1".into(),
            organizer: "alice@acme.test".into(),
            attendee: "bob@acme.test".into(),
            first_start: chrono::TimeZone::with_ymd_and_hms(&chrono_tz::UTC, 2026, 12, 1, 10, 0, 0)
                .single()
                .expect("time"),
            duration: chrono::Duration::minutes(30),
            cadence: oneonone::domain::Cadence::Weeks(1),
            description: String::new(),
        })
        .await;
    let e = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("service-account"), "{e}");
    assert!(!emu.log().await.iter().any(|e| {
        e["method"] == "POST"
            && e["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/calendar"))
    }));

    // The person revokes the access: invalid_grant, reported with what to do.
    let refresh = token_file.load().expect("load").expect("a token");
    emu.admin(&format!("/revoke?token={refresh}"), json!({}))
        .await;
    let engine = open_engine();
    let r = cycle(&engine).await;
    assert_eq!(r.accounts_failed, 1, "{r}");
    let f = findings(&engine);
    let auth = f
        .iter()
        .find(|x| x.1 == "auth_failed")
        .expect("auth_failed");
    assert!(
        auth.2.contains("invalid_grant") && auth.2.contains("oneonone auth --account me"),
        "{auth:?}"
    );
    assert!(!auth.2.contains(&refresh), "a token in a message: {auth:?}");
}

#[test]
fn check_warns_when_the_key_file_is_readable_by_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = json!({"type": "service_account", "client_email": google_support::SA,
                     "private_key": google_support::KEY_A, "private_key_id": "key-a"});
    std::fs::write(dir.path().join("sa.json"), key.to_string()).expect("key");
    set_mode(&dir.path().join("sa.json"), 0o644);
    std::fs::write(
        dir.path().join("config.toml"),
        "[daemon]\nstate_dir = \"state\"\n\n[[accounts]]\nname = \"workspace\"\nprovider = \"google\"\n\
         auth = \"service_account\"\nservice_account_key = \"sa.json\"\n",
    )
    .expect("config");
    let out = std::process::Command::new(BIN)
        .args(["check", "--config"])
        .arg(dir.path().join("config.toml"))
        .output()
        .expect("check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("sa.json holds a secret but is readable by group or others"),
        "{text}"
    );
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    set_mode(&dir.path().join("sa.json"), 0o600);
    let out = std::process::Command::new(BIN)
        .args(["check", "--config"])
        .arg(dir.path().join("config.toml"))
        .output()
        .expect("check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("warning"), "{text}");
}
