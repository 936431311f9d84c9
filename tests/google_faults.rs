//! Convergence under faults: the same organisation and the same people's edits, synced once
//! through an emulator that fails 10 % of requests with 5xx, 5 % with rate limits (403/429) and
//! expires 10 % of sync tokens, and once through a fault-free one, end in exactly the same state:
//! the same events (descriptions, tags, times), the same meetings, the same findings — agenda
//! tokens aside, which are random per run. No write is ever made twice, none notifies anyone.
mod google_support;

use google_support::{Emu, Org, assert_all_writes_silent, cycle, scenario, without_tokens};
use oneonone::views::{MeetingFilter, meetings_from_store, status_from_store};
use oneonone_emulator::FaultConfig;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const CALENDARS: [&str; 4] = [
    "alice@acme.test",
    "bob@acme.test",
    "carol@acme.test",
    "dan@acme.test",
];

/// What a run leaves behind, comparable across runs.
#[derive(Debug, PartialEq)]
struct Outcome {
    events: BTreeMap<String, Value>,
    meetings: String,
    findings: String,
}

async fn outcome(emu: &Emu, engine: &oneonone::daemon::engine::Engine) -> Outcome {
    let mut events = BTreeMap::new();
    for cal in CALENDARS {
        for e in emu.events(cal).await {
            let id = e["id"].as_str().unwrap_or("").to_string();
            let kept = json!({
                "status": e["status"], "summary": e["summary"],
                "description": without_tokens(e["description"].as_str().unwrap_or("")),
                "tags": e["extendedProperties"], "start": e["start"], "end": e["end"],
                "recurrence": e["recurrence"],
            });
            events.insert(format!("{cal}/{id}"), kept);
        }
    }
    let meetings = meetings_from_store(
        &engine.settings,
        &engine.settings.pairs,
        &engine.store,
        &MeetingFilter::default(),
    )
    .expect("meetings");
    let status = status_from_store(
        &engine.settings,
        &engine.settings.pairs,
        &engine.store,
        google_support::now(),
    )
    .expect("status");
    Outcome {
        events,
        meetings: without_tokens(&serde_json::to_string_pretty(&meetings).unwrap_or_default()),
        findings: serde_json::to_string_pretty(&status.pairs).unwrap_or_default(),
    }
}

/// Cycles, the people's edits in between, then cycles until one reads and writes everything.
async fn run(faults: FaultConfig) -> (Outcome, Vec<Value>) {
    let emu = Emu::start(21, FaultConfig::default()).await;
    emu.scenario(scenario()).await;
    emu.faults(serde_json::to_value(&faults).unwrap_or_default())
        .await;
    let org = Org::standard(&emu);
    let engine = org.engine();
    cycle(&engine).await;
    cycle(&engine).await;
    // Alice writes into the series' description; carol declines dan's 1:1 in her copy; an
    // occurrence is cancelled.
    let master = emu.event("alice@acme.test", "alicebob1").await;
    let text = master["description"].as_str().unwrap_or("").to_string();
    emu.edit(
        "alice@acme.test",
        "alicebob1",
        json!({"description": format!("Agenda doc is below.\n{text}\nPS: no laptops.")}),
    )
    .await;
    emu.edit(
        "carol@acme.test",
        "dancarol1",
        json!({"attendees": [{"email": "carol@acme.test", "responseStatus": "declined"},
                             {"email": "dan@acme.test", "responseStatus": "accepted"}]}),
    )
    .await;
    emu.edit(
        "alice@acme.test",
        "alicebob1_20261208T100000Z",
        json!({"status": "cancelled"}),
    )
    .await;
    for _ in 0..3 {
        cycle(&engine).await;
    }
    let mut clean = false;
    for _ in 0..10 {
        let r = cycle(&engine).await;
        if !r.failed() {
            clean = true;
            break;
        }
    }
    assert!(clean, "the run never completed a clean cycle");
    // And nothing left to write.
    let r = cycle(&engine).await;
    assert_eq!(r.writes, 0, "{r}");
    (outcome(&emu, &engine).await, emu.log().await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_server_errors_rate_limits_and_expiring_tokens_converges_to_the_fault_free_state()
 {
    let (reference, clean_log) = run(FaultConfig::default()).await;
    let status = |log: &[Value], s: u64| log.iter().filter(|e| e["status"] == s).count();
    assert_eq!(status(&clean_log, 500) + status(&clean_log, 410), 0);
    // The person's text survived, with the block where it was.
    let master = &reference.events["alice@acme.test/alicebob1"]["description"];
    let text = master.as_str().unwrap_or("");
    assert!(text.starts_with("Agenda doc is below.\n"), "{text}");
    assert!(
        text.ends_with("-- end oneonone agenda --\nPS: no laptops."),
        "{text}"
    );
    assert_all_writes_silent(&clean_log);
    // The faults fall at random on about 45 requests, so a run can miss one kind (a rate limit in
    // about one run in ten). Every run must converge; runs go on until one has seen every kind
    // (five runs without are a one in 100,000 chance).
    for _ in 0..5 {
        let (faulty, faulty_log) = run(FaultConfig {
            fraction_5xx: 0.10,
            fraction_throttle: 0.05,
            fraction_expired_sync: 0.10,
            ..FaultConfig::default()
        })
        .await;
        // The meetings and findings, and every event, are the same.
        assert_eq!(faulty.meetings, reference.meetings);
        assert_eq!(faulty.findings, reference.findings);
        assert_eq!(
            faulty.events.keys().collect::<Vec<_>>(),
            reference.events.keys().collect::<Vec<_>>()
        );
        for (k, v) in &reference.events {
            assert_eq!(faulty.events.get(k), Some(v), "{k}");
        }
        // Successful writes: as many as without faults (none twice).
        let ok_writes = |log: &[Value]| {
            log.iter()
                .filter(|e| e["write"] == true && e["status"] == 200)
                .count()
        };
        assert_eq!(ok_writes(&faulty_log), ok_writes(&clean_log));
        assert_all_writes_silent(&faulty_log);
        // Did every kind of fault happen?
        let expired = status(&faulty_log, 410) > 0;
        let server = status(&faulty_log, 500) + status(&faulty_log, 503) > 0;
        let limited = status(&faulty_log, 429) + status(&faulty_log, 403) > 0;
        if expired && server && limited {
            return;
        }
    }
    panic!("five runs converged, but none saw an expired token, a server error and a rate limit");
}
