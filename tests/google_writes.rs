//! Writes of the Google provider through the real engine over real HTTP: a person's edit that
//! lands between the read and the write survives (412 → re-read → the block merged into their
//! text), and the next cycle writes nothing; fix mode inserts a missing series with a deterministic
//! id, a second insert of it is `Unchanged` (409), and a process killed between the insert and
//! the store commit creates no duplicate when restarted. Every write carries `sendUpdates=none`.
mod google_support;

use google_support::{Emu, Org, assert_all_writes_silent, cycle, pairs, scenario};
use oneonone::domain::Cadence;
use oneonone::providers::{
    BoxFuture, NewSeries, OccurrenceWrite, OpenContext, Progress, Provider, ProviderError,
    SeriesWrite, Snapshot, Window, WriteOutcome,
};
use oneonone::store::AccountState;
use oneonone_emulator::FaultConfig;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A provider that, on its first series write, lets the organizer edit the event first (as if
/// they typed in Google Calendar between oneonone's read and its write).
struct EditsFirst {
    inner: Arc<dyn Provider>,
    base: String,
    done: AtomicBool,
}

impl Provider for EditsFirst {
    fn account(&self) -> &str {
        self.inner.account()
    }
    fn writes_notify_attendees(&self) -> bool {
        self.inner.writes_notify_attendees()
    }
    fn fetch<'a>(
        &'a self,
        w: Window,
        p: &'a Progress,
    ) -> BoxFuture<'a, Result<Snapshot, ProviderError>> {
        self.inner.fetch(w, p)
    }
    fn write_occurrence<'a>(
        &'a self,
        w: &'a OccurrenceWrite,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        self.inner.write_occurrence(w)
    }
    fn write_series<'a>(
        &'a self,
        w: &'a SeriesWrite,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        Box::pin(async move {
            if !self.done.swap(true, Ordering::SeqCst) {
                let r = reqwest::Client::new()
                    .post(format!("{}/_admin/google/edit", self.base))
                    .json(&json!({"calendar": &*w.target.calendar, "event": w.target.id,
                                  "patch": {"description": "Bob drives the agenda. Bring the Q4 numbers!"}}))
                    .send()
                    .await
                    .expect("edit");
                assert!(r.status().is_success());
            }
            self.inner.write_series(w).await
        })
    }
    fn create_series<'a>(
        &'a self,
        s: &'a NewSeries,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        self.inner.create_series(s)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_between_read_and_write_survives_and_the_next_cycle_writes_nothing() {
    let emu = Emu::start(11, FaultConfig::default()).await;
    emu.scenario(scenario()).await;
    let org = Org::standard(&emu);
    let settings = org.settings();
    let store = oneonone::store::Store::open(&settings.daemon.state_dir).expect("store");
    let real =
        oneonone::daemon::engine::Engine::open_providers(&settings, &store, true).expect("open");
    let wrapped: Vec<Arc<dyn Provider>> = real
        .into_iter()
        .map(|p| {
            Arc::new(EditsFirst {
                inner: p,
                base: emu.base.clone(),
                done: AtomicBool::new(false),
            }) as Arc<dyn Provider>
        })
        .collect();
    let engine = Arc::new(
        oneonone::daemon::engine::Engine::new(
            settings,
            store,
            wrapped,
            oneonone::daemon::engine::EngineOptions {
                dry_run: false,
                keep_in_memory: true,
            },
        )
        .expect("engine"),
    );
    let r1 = cycle(&engine).await;
    assert_eq!(r1.write_failures, 0, "{r1}");
    let master = emu.event("alice@acme.test", "alicebob1").await;
    let text = master["description"].as_str().unwrap_or("");
    assert!(
        text.starts_with("Bob drives the agenda. Bring the Q4 numbers!\n\n-- oneonone agenda --\n"),
        "the person's edit was lost or the block not merged: {text}"
    );
    assert!(text.contains("http://agenda.test/p/") && text.ends_with("-- end oneonone agenda --"));
    let log = emu.log().await;
    let patches: Vec<&Value> = log
        .iter()
        .filter(|e| {
            e["method"] == "PATCH"
                && e["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("/alicebob1"))
        })
        .collect();
    assert_eq!(patches.len(), 2, "{patches:?}");
    assert_eq!(
        (patches[0]["status"].as_u64(), patches[1]["status"].as_u64()),
        (Some(412), Some(200))
    );
    assert!(patches.iter().all(|p| p["if_match"] == true));

    let before = emu.log().await.len();
    let r2 = cycle(&engine).await;
    assert_eq!(r2.writes, 0, "{r2}");
    let after = emu.api_requests_since(before).await;
    assert!(after.iter().all(|e| e["method"] == "GET"), "{after:?}");
    assert_all_writes_silent(&emu.log().await);
}

/// The erin~frank pair in fix mode, with calendars and no series.
fn fix_scenario() -> Value {
    let mut s = scenario();
    if let Some(cals) = s["calendars"].as_array_mut() {
        cals.push(
            json!({"id": "erin@acme.test", "timeZone": "Europe/London", "events": [
            {"summary": "Focus", "start": "+1d09:00", "end": "+1d12:00"}]}),
        );
        cals.push(
            json!({"id": "frank@acme.test", "timeZone": "Europe/London", "events": [
            {"summary": "Dentist", "start": "+1d13:00", "end": "+1d14:00"}]}),
        );
    }
    s
}

fn fix_org(emu: &Emu) -> Org {
    let p = pairs("workspace", &[("alice", "bob"), ("carol", "dan")], "")
        + &pairs("workspace", &[("erin", "frank")], "enforce = \"fix\"\n");
    Org::new(emu, "", "", &p)
}

/// The series oneonone made (tagged by its private extended property; a later patch of its
/// description re-tags it `agenda`).
fn created(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["recurrence"].is_array() && e["summary"] == "1:1 erin / frank")
        .filter(|e| e["extendedProperties"]["private"]["oneonone"].is_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fix_mode_inserts_a_missing_series_once_with_a_deterministic_id() {
    let emu = Emu::start(12, FaultConfig::default()).await;
    emu.scenario(fix_scenario()).await;
    let org = fix_org(&emu);
    let engine = org.engine();
    let r1 = cycle(&engine).await;
    assert_eq!(r1.write_failures, 0, "{r1}");
    let erin = emu.events("erin@acme.test").await;
    let made = created(&erin);
    assert_eq!(made.len(), 1, "{erin:?}");
    let series = made[0];
    assert_eq!(
        series["recurrence"],
        json!(["RRULE:FREQ=WEEKLY;INTERVAL=1"])
    );
    assert_eq!(series["start"]["timeZone"], "Europe/London");
    // The first slot in working hours free for both: not during erin's "Focus" (Tuesday 09–12)
    // nor frank's "Dentist" (13–14), events of no pair, known only as busy time.
    assert_eq!(series["start"]["dateTime"], "2026-11-24T12:00:00Z");
    let id = series["id"].as_str().unwrap_or("").to_string();
    assert!(
        id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='v')) && id.len() >= 5,
        "{id}"
    );
    // The next cycle sees it (and writes its link into it), but never inserts again.
    let before = emu.log().await.len();
    cycle(&engine).await;
    cycle(&engine).await;
    let posts = emu
        .api_requests_since(before)
        .await
        .into_iter()
        .filter(|e| e["method"] == "POST")
        .count();
    assert_eq!(posts, 0);
    assert_eq!(created(&emu.events("erin@acme.test").await).len(), 1);

    // The same create again (a retry whose first answer was lost): 409 → Unchanged.
    let settings = org.settings();
    let account = settings.accounts.first().expect("account");
    let provider = oneonone::providers::open(
        account,
        OpenContext::new(
            &settings,
            &account.name,
            AccountState::in_memory("workspace"),
            false,
        ),
    )
    .expect("open");
    let pair = settings
        .pairs
        .iter()
        .find(|p| p.manager == "erin@acme.test")
        .expect("pair");
    let again = NewSeries {
        key: oneonone::sync::fix::series_key(pair),
        title: "1:1 erin / frank".into(),
        organizer: "erin@acme.test".into(),
        attendee: "frank@acme.test".into(),
        first_start: chrono::TimeZone::with_ymd_and_hms(
            &chrono_tz::Europe::London,
            2026,
            12,
            2,
            11,
            0,
            0,
        )
        .single()
        .expect("time"),
        duration: chrono::Duration::minutes(30),
        cadence: Cadence::Weeks(1),
        description: String::new(),
    };
    assert_eq!(
        provider.create_series(&again).await.expect("create"),
        WriteOutcome::Unchanged
    );
    assert_eq!(created(&emu.events("erin@acme.test").await).len(), 1);
    let log = emu.log().await;
    assert_eq!(
        log.iter()
            .filter(|e| e["method"] == "POST" && e["status"] == 409)
            .count(),
        1
    );
    assert_all_writes_silent(&log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_between_insert_and_commit_creates_no_duplicate() {
    const BIN: &str = env!("CARGO_BIN_EXE_oneonone");
    let emu = Emu::start(13, FaultConfig::default()).await;
    emu.scenario(fix_scenario()).await;
    let org = fix_org(&emu);
    // Google makes the insert, then its answer never comes.
    emu.admin(
        "/_admin/google/fault-script",
        json!([{"method": "POST", "path_contains": "/events", "error": "stallAfter"}]),
    )
    .await;
    let run = |config: std::path::PathBuf| {
        std::process::Command::new(BIN)
            .args(["sync", "--once", "--now", google_support::NOW, "--config"])
            .arg(config)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn oneonone")
    };
    let mut child = run(org.config());
    let mut inserted = false;
    for _ in 0..600 {
        if !created(&emu.events("erin@acme.test").await).is_empty() {
            inserted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(inserted, "the insert never happened");
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    emu.admin("/_admin/google/fault-script", json!([])).await;

    for _ in 0..2 {
        let out = tokio::task::spawn_blocking({
            let config = org.config();
            move || run(config).wait_with_output().expect("run")
        })
        .await
        .expect("join");
        assert!(
            out.status.success(),
            "restart failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let erin = emu.events("erin@acme.test").await;
    assert_eq!(created(&erin).len(), 1, "a duplicate series: {erin:?}");
    let log = emu.log().await;
    let inserts: Vec<&Value> = log
        .iter()
        .filter(|e| {
            e["method"] == "POST"
                && e["path"]
                    .as_str()
                    .is_some_and(|p| p.contains("erin@acme.test"))
        })
        .collect();
    assert!(
        inserts.iter().skip(1).all(|e| e["status"] == 409),
        "a second insert that was not refused: {inserts:?}"
    );
    assert_all_writes_silent(&log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fix_mode_lengthens_upcoming_occurrences_through_instance_patches_once() {
    let emu = Emu::start(14, FaultConfig::default()).await;
    emu.scenario(scenario()).await;
    let p = pairs(
        "workspace",
        &[("alice", "bob")],
        "duration = \"45m\"\nenforce = \"fix\"\n",
    ) + &pairs("workspace", &[("carol", "dan")], "");
    let org = Org::new(&emu, "", "", &p);
    let engine = org.engine();
    let bob_before = emu.events("bob@acme.test").await;
    let r1 = cycle(&engine).await;
    assert_eq!(r1.write_failures, 0, "{r1}");
    let end = |e: &Value| {
        chrono::DateTime::parse_from_rfc3339(e["end"]["dateTime"].as_str().unwrap_or(""))
            .map(|t| t.with_timezone(&chrono::Utc).to_rfc3339())
            .unwrap_or_default()
    };
    for (id, want) in [
        ("alicebob1_20261124T100000Z", "2026-11-24T10:45:00+00:00"),
        ("alicebob1_20261222T100000Z", "2026-12-22T10:45:00+00:00"),
        ("alicebob1_20261208T100000Z", "2026-12-09T09:45:00+00:00"), // the moved one
    ] {
        let e = emu.event("alice@acme.test", id).await;
        assert_eq!(end(&e), want, "{id}: {e}");
    }
    // The series itself keeps its length; the attendee's copy is not written.
    let master = emu.event("alice@acme.test", "alicebob1").await;
    assert_eq!(end(&master), "2026-11-24T10:30:00+00:00");
    assert_eq!(emu.events("bob@acme.test").await, bob_before);
    let before = emu.log().await.len();
    let r2 = cycle(&engine).await;
    assert_eq!(r2.writes, 0, "{r2}");
    assert!(
        emu.api_requests_since(before)
            .await
            .iter()
            .all(|e| e["method"] == "GET")
    );
    assert_all_writes_silent(&emu.log().await);
}
