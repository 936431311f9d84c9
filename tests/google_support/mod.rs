//! Shared setup of the Google provider's integration tests: an in-process `oneonone-emulator` on
//! 127.0.0.1:0 (real HTTP), a service account registered with it (the emulator's TEST-ONLY key
//! pair), a config file pointing a `provider = "google"` account at it, and the real engine
//! (`Engine::open_providers`) running cycles at the emulator's `now`.
#![allow(dead_code)]
use chrono::{DateTime, Utc};
use oneonone::config::Settings;
use oneonone::daemon::engine::{CycleReport, Engine, EngineOptions};
use oneonone::providers::Progress;
use oneonone::store::Store;
use oneonone_emulator::{Ctx, FaultConfig};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The emulator's and the engine's "now" (a Monday).
pub const NOW: &str = "2026-11-23T08:00:00Z";
/// The service account the tests register.
pub const SA: &str = "oneonone@test-project.iam.gserviceaccount.com";
/// TEST-ONLY keys of the emulator's own tests; they protect nothing.
pub const KEY_A: &str = include_str!("../../emulator/tests/support/test-only-sa-a.key.pem");
pub const PUB_A: &str = include_str!("../../emulator/tests/support/test-only-sa-a.pub.pem");
pub const PUB_B: &str = include_str!("../../emulator/tests/support/test-only-sa-b.pub.pem");

pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(NOW)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// A running emulator.
pub struct Emu {
    pub base: String,
    pub http: reqwest::Client,
    pub ctx: Arc<Ctx>,
}

impl Emu {
    pub async fn start(seed: u64, faults: FaultConfig) -> Emu {
        let ctx = Arc::new(Ctx::new(seed, faults));
        let addr = oneonone_emulator::start(ctx.clone())
            .await
            .expect("bind 127.0.0.1:0");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client");
        let emu = Emu {
            base: format!("http://{addr}"),
            http,
            ctx,
        };
        emu.register_key(PUB_A).await;
        emu
    }

    pub async fn admin(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("admin request");
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "admin {path} failed: {status} {v}");
        v
    }

    /// (Re-)register the service account with this public key: registering another key than
    /// the one in the account's key file is how a revoked key looks.
    pub async fn register_key(&self, public_pem: &str) {
        self.admin(
            "/_admin/google/service-account",
            json!({"client_email": SA, "public_key_pem": public_pem, "private_key_id": "key-a"}),
        )
        .await;
    }

    pub async fn scenario(&self, google: Value) {
        self.admin("/_admin/scenario", json!({"now": NOW, "google": google}))
            .await;
    }

    pub async fn faults(&self, faults: Value) {
        self.admin("/_admin/faults", faults).await;
    }

    pub async fn log(&self) -> Vec<Value> {
        let v: Value = self
            .http
            .get(format!("{}/_admin/log", self.base))
            .send()
            .await
            .expect("log")
            .json()
            .await
            .expect("log json");
        v.as_array().cloned().unwrap_or_default()
    }

    /// Calendar API requests after log entry `since` (a length of an earlier `log()`).
    pub async fn api_requests_since(&self, since: usize) -> Vec<Value> {
        self.log()
            .await
            .into_iter()
            .skip(since)
            .filter(|e| {
                e["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/calendar/v3/"))
            })
            .collect()
    }

    /// Every live (not deleted) event resource of `calendar`, by id.
    pub async fn events(&self, calendar: &str) -> Vec<Value> {
        let v: Value = self
            .http
            .get(format!("{}/_admin/state", self.base))
            .send()
            .await
            .expect("state")
            .json()
            .await
            .expect("state json");
        v["google"]["calendars"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["id"] == calendar)
            .flat_map(|c| c["events"].as_array().cloned().unwrap_or_default())
            .filter(|e| e["deleted"] != true)
            .map(|e| e["resource"].clone())
            .collect()
    }

    pub async fn event(&self, calendar: &str, id: &str) -> Value {
        self.events(calendar)
            .await
            .into_iter()
            .find(|e| e["id"] == id)
            .unwrap_or(Value::Null)
    }

    /// Edit an event as its person would in Google Calendar (not an API write).
    pub async fn edit(&self, calendar: &str, event: &str, patch: Value) {
        self.admin(
            "/_admin/google/edit",
            json!({"calendar": calendar, "event": event, "patch": patch}),
        )
        .await;
    }
}

/// The organisation most tests use: alice manages bob (a weekly series, both calendars, one
/// occurrence cancelled, one moved) and carol manages dan (a single 1:1 organised by dan), plus a
/// team meeting and an all-day event.
pub fn scenario() -> Value {
    let person = |e: &str| json!({"email": e, "responseStatus": "accepted"});
    json!({
        "calendars": [
            {"id": "alice@acme.test", "summary": "Alice", "timeZone": "Europe/London", "events": [
                {"id": "alicebob1", "summary": "Alice / Bob", "start": "+1d10:00", "end": "+1d10:30",
                 "recurrence": ["RRULE:FREQ=WEEKLY"], "mirror": true,
                 "description": "Bob drives the agenda.",
                 "attendees": [person("alice@acme.test"), person("bob@acme.test"),
                               {"email": "room1@resource.acme.test", "resource": true}],
                 "exceptions": [{"originalStart": "+8d10:00", "status": "cancelled"},
                                {"originalStart": "+15d10:00", "start": "+16d09:00", "end": "+16d09:30"}]},
                {"id": "team1", "summary": "Team sync", "start": "+2d14:00", "end": "+2d15:00",
                 "attendees": [person("alice@acme.test"), person("bob@acme.test"), person("carol@acme.test")]},
                {"summary": "Offsite", "start": "+3d", "end": "+4d"}
            ]},
            {"id": "bob@acme.test", "summary": "Bob", "timeZone": "Europe/London"},
            {"id": "carol@acme.test", "summary": "Carol", "timeZone": "America/New_York"},
            {"id": "dan@acme.test", "summary": "Dan", "timeZone": "America/New_York", "events": [
                {"id": "dancarol1", "summary": "Carol / Dan", "start": "+3d11:00", "end": "+3d11:45",
                 "organizer": {"email": "dan@acme.test"}, "mirror": true,
                 "attendees": [person("carol@acme.test"), person("dan@acme.test")]}
            ]}
        ]
    })
}

/// A temporary configuration directory with a service-account key file (0600).
pub struct Org {
    pub dir: tempfile::TempDir,
}

impl Org {
    /// `accounts` is TOML for extra accounts; `pairs` the `[[pairs]]` tables. The Google
    /// account is named `workspace`.
    pub fn new(emu: &Emu, google_extra: &str, accounts: &str, pairs: &str) -> Org {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = json!({
            "type": "service_account", "project_id": "test-project", "private_key_id": "key-a",
            "private_key": KEY_A, "client_email": SA, "token_uri": format!("{}/token", emu.base)
        });
        let key_path = dir.path().join("sa.json");
        std::fs::write(&key_path, key.to_string()).expect("write key");
        set_mode(&key_path, 0o600);
        let text = format!(
            r#"[daemon]
state_dir = "state"
timezone = "Europe/London"
public_url = "http://agenda.test"

[[accounts]]
name = "workspace"
provider = "google"
auth = "service_account"
service_account_key = "sa.json"
api_base_url = "{base}/calendar/v3/"
token_url = "{base}/token"
retry_initial_delay = "5ms"
{google_extra}
{accounts}
{pairs}
"#,
            base = emu.base
        );
        std::fs::write(dir.path().join("config.toml"), text).expect("write config");
        Org { dir }
    }

    /// The usual pairs: alice~bob and carol~dan on `workspace`.
    pub fn standard(emu: &Emu) -> Org {
        Org::new(
            emu,
            "",
            "",
            &pairs("workspace", &[("alice", "bob"), ("carol", "dan")], ""),
        )
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    pub fn settings(&self) -> Settings {
        oneonone::config::load_with_env(&self.config(), &[]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The engine over the real providers, as the daemon builds it (state kept in memory).
    pub fn engine(&self) -> Arc<Engine> {
        let settings = self.settings();
        let store = Store::open(&settings.daemon.state_dir).expect("store");
        let providers = Engine::open_providers(&settings, &store, true).expect("providers");
        Arc::new(
            Engine::new(
                settings,
                store,
                providers,
                EngineOptions {
                    dry_run: false,
                    keep_in_memory: true,
                },
            )
            .expect("engine"),
        )
    }
}

/// `[[pairs]]` tables of `account` (names are `@acme.test` people).
pub fn pairs(account: &str, people: &[(&str, &str)], extra: &str) -> String {
    people
        .iter()
        .map(|(m, r)| {
            format!(
                "[[pairs]]\nmanager = \"{m}@acme.test\"\nreport = \"{r}@acme.test\"\naccount = \"{account}\"\n{extra}\n"
            )
        })
        .collect()
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// One engine cycle at `now`.
pub async fn cycle(engine: &Arc<Engine>) -> CycleReport {
    oneonone::daemon::run_cycle(engine.clone(), now(), Arc::new(Progress::default()))
        .await
        .expect("cycle")
}

/// Every write in the log was silent: `sendUpdates=none`, never notifying.
pub fn assert_all_writes_silent(log: &[Value]) {
    let writes: Vec<&Value> = log
        .iter()
        .filter(|e| {
            e["api"] == "google"
                && matches!(
                    e["method"].as_str(),
                    Some("POST" | "PATCH" | "PUT" | "DELETE")
                )
        })
        .filter(|e| {
            e["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/calendar/v3/"))
        })
        .collect();
    for w in &writes {
        assert_eq!(
            w["send_updates"], "none",
            "a write without sendUpdates=none: {w}"
        );
        assert_eq!(w["notifying"], false, "a notifying write: {w}");
    }
}

/// Agenda tokens (random per run) replaced by a placeholder, for comparing runs.
pub fn without_tokens(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("http://agenda.test/") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + "http://agenda.test/".len()..];
        let kind: String = tail.chars().take(2).collect();
        let skip = tail
            .char_indices()
            .skip(2)
            .find(|(_, c)| !c.is_ascii_hexdigit())
            .map_or(tail.len(), |(j, _)| j);
        out.push_str("http://agenda.test/");
        out.push_str(&kind);
        out.push_str("TOKEN");
        rest = &tail[skip..];
    }
    out.push_str(rest);
    out
}
