//! Shared helpers of the Microsoft 365 provider's tests: the Graph emulator in-process on
//! 127.0.0.1:0 (its own runtime, so the engine's blocking cycle can drive it), a configuration
//! with a `provider = "microsoft"` account pointing at it, the engine over real HTTP, and readers
//! of the emulator's request log and state.
#![allow(dead_code)]
use chrono::{DateTime, Utc};
use oneonone::config::Settings;
use oneonone::daemon::engine::{CycleReport, Engine, EngineOptions};
use oneonone::providers::{Progress, Provider};
use oneonone::store::Store;
use oneonone_emulator::{Ctx, FaultConfig};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The scenario's "now": Friday 20 November 2026, 12:00 UTC.
pub const NOW: &str = "2026-11-20T12:00:00Z";
pub const TEAMS: &str = include_str!("../fixtures/msgraph/teams_invite.html");
pub const OUTLOOK: &str = include_str!("../fixtures/msgraph/outlook_desktop.html");
pub const SECRET: &str = "s3cret-value";

pub fn now() -> DateTime<Utc> {
    at(NOW)
}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

/// The emulator, on a runtime of its own.
pub struct Emu {
    pub rt: tokio::runtime::Runtime,
    pub ctx: Arc<Ctx>,
    pub base: String,
    http: reqwest::Client,
}

impl Emu {
    pub fn start(seed: u64) -> Emu {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let ctx = Arc::new(Ctx::new(seed, FaultConfig::default()));
        let addr = rt
            .block_on(oneonone_emulator::start(ctx.clone()))
            .expect("start the emulator");
        Emu {
            rt,
            ctx,
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
        }
    }

    pub fn post(&self, path: &str, body: &Value) -> Value {
        let url = format!("{}{path}", self.base);
        self.rt.block_on(async {
            let r = self.http.post(&url).json(body).send().await.expect("post");
            let status = r.status();
            let v: Value = r.json().await.unwrap_or(Value::Null);
            assert!(status.is_success(), "POST {path}: {status} {v}");
            v
        })
    }

    pub fn get(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.base);
        self.rt.block_on(async {
            self.http
                .get(&url)
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json")
        })
    }

    /// An access token from the emulator's admin API.
    pub fn token(&self, user: &str, app_only: bool) -> String {
        self.post(
            "/_admin/token",
            &json!({"user": user, "app_only": app_only}),
        )["access_token"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// A Graph API request as another client would make it (logged like any).
    pub fn api(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}/v1.0{path}", self.base);
        self.rt.block_on(async {
            let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let mut req = self.http.request(m, &url).bearer_auth(token);
            if let Some(b) = body {
                req = req.json(b);
            }
            let r = req.send().await.expect("api");
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        })
    }

    pub fn load(&self, scenario: &Value) {
        self.post("/_admin/scenario", scenario);
    }

    pub fn knobs(&self, knobs: Value) {
        self.post("/_admin/graph/knobs", &knobs);
    }

    pub fn faults(&self, faults: Value) {
        self.post("/_admin/faults", &faults);
    }

    /// A person's edit in Outlook (not an API write: not logged, never notifying).
    pub fn edit(&self, mailbox: &str, id: &str, patch: Value) {
        self.post(
            "/_admin/graph/edit",
            &json!({"mailbox": mailbox, "id": id, "patch": patch}),
        );
    }

    /// Every logged Graph API request.
    pub fn log(&self) -> Vec<Value> {
        self.get("/_admin/log")
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["api"] == "graph")
            .collect()
    }

    /// Every Graph API request's timing.
    pub fn requests(&self) -> Vec<Value> {
        self.get("/_admin/graph/requests")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The stored events of a mailbox (as `/_admin/state` shows them).
    pub fn events(&self, mailbox: &str) -> Vec<Value> {
        let st = self.get("/_admin/state");
        st["graph"]["mailboxes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["address"].as_str() == Some(mailbox))
            .and_then(|m| m["events"].as_array().cloned())
            .unwrap_or_default()
    }

    /// One stored event.
    pub fn event(&self, mailbox: &str, id: &str) -> Value {
        self.events(mailbox)
            .into_iter()
            .find(|e| e["id"].as_str() == Some(id))
            .unwrap_or(Value::Null)
    }
}

/// Successful writes that mailed attendees, by event path.
pub fn notifying(log: &[Value]) -> Vec<String> {
    log.iter()
        .filter(|e| e["notifying"] == true)
        .map(|e| e["path"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Log entries after the first `from`.
pub fn since(log: &[Value], from: usize) -> Vec<Value> {
    log.get(from..).map(<[Value]>::to_vec).unwrap_or_default()
}

/// A config and state directory with a Microsoft account (`m365`) on the emulator.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub settings: Settings,
}

pub fn account_toml(emu: &Emu, name: &str, client_id: &str, secret_file: &str) -> String {
    format!(
        "\n[[accounts]]\nname = \"{name}\"\nprovider = \"microsoft\"\nauth = \"client_credentials\"\n\
         tenant = \"contoso.onmicrosoft.com\"\nclient_id = \"{client_id}\"\nclient_secret_file = \"{secret_file}\"\n\
         api_base_url = \"{base}/v1.0\"\nauthority_url = \"{base}\"\n",
        base = emu.base
    )
}

pub fn pair_toml(manager: &str, report: &str, account: &str, extra: &str) -> String {
    format!(
        "\n[[pairs]]\nmanager = \"{manager}\"\nreport = \"{report}\"\naccount = \"{account}\"\n{extra}"
    )
}

impl Env {
    /// `accounts_and_pairs` is TOML after the `[daemon]` table.
    pub fn new(accounts_and_pairs: &str) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        write_secret(dir.path(), "m365-secret", SECRET);
        let text = format!(
            "[daemon]\nstate_dir = \"state\"\ntimezone = \"Europe/Berlin\"\npublic_url = \"http://agenda.test\"\n\
             {accounts_and_pairs}"
        );
        let config = dir.path().join("config.toml");
        std::fs::write(&config, text).expect("write config");
        let settings = oneonone::config::load(&config).unwrap_or_else(|e| panic!("{e}"));
        Env {
            dir,
            config,
            settings,
        }
    }

    /// The standard setup: one account, alice with bob and carol with dan.
    pub fn standard(emu: &Emu, pair_extra: &str) -> Env {
        Env::new(&format!(
            "{}{}{}",
            account_toml(emu, "m365", "daemon", "m365-secret"),
            pair_toml("alice@contoso.com", "bob@contoso.com", "m365", pair_extra),
            pair_toml("carol@contoso.com", "dan@contoso.com", "m365", pair_extra)
        ))
    }

    pub fn store(&self) -> Store {
        Store::open(&self.dir.path().join("state")).expect("store")
    }

    /// The engine over the configured providers (the daemon's way: state kept in memory).
    pub fn engine(&self) -> Engine {
        let store = self.store();
        let providers = Engine::open_providers(&self.settings, &store, true).expect("providers");
        self.engine_with(store, providers)
    }

    pub fn providers(&self, store: &Store) -> Vec<Arc<dyn Provider>> {
        Engine::open_providers(&self.settings, store, true).expect("providers")
    }

    pub fn engine_with(&self, store: Store, providers: Vec<Arc<dyn Provider>>) -> Engine {
        Engine::new(
            self.settings.clone(),
            store,
            providers,
            EngineOptions {
                dry_run: false,
                keep_in_memory: true,
            },
        )
        .expect("engine")
    }
}

pub fn write_secret(dir: &Path, name: &str, secret: &str) {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("{secret}\n")).expect("secret");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// One engine cycle at `now`, the providers running on the emulator's runtime.
pub fn cycle(emu: &Emu, engine: &Engine, now: DateTime<Utc>) -> CycleReport {
    engine
        .cycle(now, emu.rt.handle(), &Arc::new(Progress::default()))
        .expect("cycle")
}

/// The standard organisation. Alice (Berlin) organises a weekly 1:1 series with Bob on Mondays
/// 10:00 (its body a Teams invite), Bob has his copy; Carol organises a single 1:1 with Dan next
/// Tuesday (its body written in Outlook desktop), Dan has his copy; `noise` unrelated events fill
/// Alice's calendar (so delta pages), and a team meeting of all four.
pub fn scenario(noise: usize, knobs: Value) -> Value {
    let series = |id: &str, organizer: &str, body: &str| {
        json!({"id": id, "iCalUId": "UID-AB", "subject": "1:1 Alice / Bob", "body": body,
            "organizer": {"address": organizer, "name": organizer},
            "start": {"days": -18, "time": "10:00", "timeZone": "W. Europe Standard Time"},
            "duration_minutes": 30,
            "attendees": [{"address": "bob@contoso.com", "name": "Bob", "response": "accepted"},
                          {"address": "room1@contoso.com", "type": "resource", "response": "accepted"}],
            "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"],
                                       "firstDayOfWeek": "sunday"},
                           "range": {"type": "noEnd"}}})
    };
    let single = |id: &str, organizer: &str, body: &str| {
        json!({"id": id, "iCalUId": "UID-CD", "subject": "Carol / Dan", "body": body,
            "organizer": {"address": organizer, "name": organizer},
            "start": {"days": 4, "time": "15:00", "timeZone": "Pacific Standard Time"},
            "duration_minutes": 30,
            "attendees": [{"address": "dan@contoso.com", "name": "Dan", "response": "tentativelyAccepted"}]})
    };
    let team = json!({"id": "AAMkAGteam", "iCalUId": "UID-TEAM", "subject": "Team sync",
        "start": {"days": 3, "time": "09:00", "timeZone": "W. Europe Standard Time"}, "duration_minutes": 60,
        "attendees": [{"address": "bob@contoso.com"}, {"address": "carol@contoso.com"}, {"address": "dan@contoso.com"}]});
    // Everyone has a calendar of their own besides the 1:1s (an emptied mailbox would be judged
    // a failed read, not a wave of cancellations).
    let lunch = |who: &str| {
        json!({"id": format!("AAMkAGlunch{who}"), "subject": "Lunch",
            "start": {"days": 1, "time": "12:00", "timeZone": "UTC"}, "duration_minutes": 60})
    };
    let mut alice = vec![
        series("AAMkAGab", "alice@contoso.com", TEAMS),
        team,
        lunch("alice"),
    ];
    for k in 0..noise {
        let days = (k as i64 % 90) - 45;
        alice.push(
            json!({"id": format!("AAMkAGnoise{k}"), "subject": format!("Focus {k}"),
            "start": {"days": days, "time": "13:00", "timeZone": "UTC"}, "duration_minutes": 60,
            "attendees": [{"address": format!("someone{k}@fabrikam.com")}]}),
        );
    }
    json!({
        "now": NOW,
        "graph": {
            "knobs": knobs,
            "apps": [{"client_id": "daemon", "client_secret": SECRET}],
            "mailboxes": [
                {"address": "alice@contoso.com", "name": "Alice", "timeZone": "W. Europe Standard Time",
                 "events": alice},
                {"address": "bob@contoso.com", "name": "Bob", "timeZone": "W. Europe Standard Time",
                 "events": [series("AAMkAGabcopy", "alice@contoso.com", TEAMS), lunch("bob")]},
                {"address": "carol@contoso.com", "name": "Carol", "timeZone": "Pacific Standard Time",
                 "events": [single("AAMkAGcd", "carol@contoso.com", OUTLOOK), lunch("carol")]},
                {"address": "dan@contoso.com", "name": "Dan", "timeZone": "Pacific Standard Time",
                 "events": [single("AAMkAGcdcopy", "carol@contoso.com", OUTLOOK), lunch("dan")]}
            ]
        }
    })
}

/// Delta requests (any page) per mailbox in `log`.
pub fn delta_requests(log: &[Value], mailbox: &str) -> usize {
    log.iter()
        .filter(|e| {
            let p = e["path"].as_str().unwrap_or("");
            p.contains(&format!("/users/{mailbox}/")) && p.contains("/delta")
        })
        .count()
}

/// The statuses of a pair's remembered occurrences, by start (RFC 3339) — `scheduled`, …
pub fn history(store: &Store, pair: &str) -> Vec<(String, String)> {
    store
        .occurrences(pair)
        .expect("history")
        .into_iter()
        .map(|o| (o.start.to_rfc3339(), format!("{:?}", o.status)))
        .collect()
}
