//! The Google provider's sync through the real engine over real HTTP (in-process emulator): one
//! full sync per calendar, then one incremental request per calendar in a cycle where nothing
//! changed, and no writes; both copies of a meeting counted once; a person's change arrives
//! incrementally; an expired sync token (410, with or without a reason) gives a fresh full sync
//! that keeps the history and the agenda links; deletions arrive as tombstones; a calendar that
//! cannot be read is unknown, never empty.
mod google_support;

use google_support::{Emu, Org, assert_all_writes_silent, cycle, now, scenario};
use oneonone::views::{MeetingFilter, meetings_from_store};
use oneonone_emulator::FaultConfig;
use serde_json::{Value, json};

fn meetings(
    engine: &oneonone::daemon::engine::Engine,
    pair: &str,
) -> Vec<oneonone::views::MeetingView> {
    let filter = MeetingFilter {
        pair: Some(pair.into()),
        ..MeetingFilter::default()
    };
    meetings_from_store(
        &engine.settings,
        &engine.settings.pairs,
        &engine.store,
        &filter,
    )
    .expect("meetings")
}

fn lists(requests: &[Value]) -> Vec<&Value> {
    requests
        .iter()
        .filter(|e| {
            e["method"] == "GET" && e["path"].as_str().is_some_and(|p| p.ends_with("/events"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_then_incremental_one_request_per_calendar_and_copies_counted_once() {
    let emu = Emu::start(1, FaultConfig::default()).await;
    emu.scenario(scenario()).await;
    let org = Org::standard(&emu);
    let engine = org.engine();

    let r1 = cycle(&engine).await;
    assert_eq!(
        (r1.accounts_ok, r1.calendars_ok, r1.calendars_failed),
        (1, 4, 0),
        "{r1}"
    );
    let first = emu.api_requests_since(0).await;
    let first_lists = lists(&first);
    assert_eq!(
        first_lists.len(),
        4,
        "one full listing per calendar: {first_lists:?}"
    );
    for l in &first_lists {
        let q = l["query"].as_str().unwrap_or("");
        assert!(q.contains("timeMin=") && !q.contains("syncToken"), "{q}");
    }
    // The series got the pair's stable link, its next occurrence and dan's single their own doc;
    // the people's text is kept.
    assert!(r1.writes >= 3, "{r1}");
    let master = emu.event("alice@acme.test", "alicebob1").await;
    let text = master["description"].as_str().unwrap_or("");
    assert!(
        text.starts_with("Bob drives the agenda.\n\n-- oneonone agenda --"),
        "{text}"
    );
    assert!(text.contains("http://agenda.test/p/"), "{text}");
    assert_eq!(
        master["extendedProperties"]["private"]["oneonone"],
        "agenda"
    );
    let next = emu
        .event("alice@acme.test", "alicebob1_20261124T100000Z")
        .await;
    assert!(
        next["description"]
            .as_str()
            .unwrap_or("")
            .contains("http://agenda.test/a/"),
        "{next}"
    );
    let single = emu.event("dan@acme.test", "dancarol1").await;
    assert!(
        single["description"]
            .as_str()
            .unwrap_or("")
            .contains("http://agenda.test/a/")
    );
    // Attendees' copies are never written.
    assert!(emu.event("carol@acme.test", "dancarol1").await["description"].is_null());
    assert!(
        emu.event("bob@acme.test", "alicebob1").await["description"]
            .as_str()
            .is_none_or(|d| !d.contains("oneonone agenda"))
    );

    // Both copies (alice's and bob's calendars) of each occurrence: one meeting.
    let ab = meetings(&engine, "alice@acme.test~bob@acme.test");
    let mut starts: Vec<&str> = ab.iter().map(|m| m.start.as_str()).collect();
    let n = starts.len();
    starts.dedup();
    assert_eq!(starts.len(), n, "a meeting counted twice: {ab:?}");
    // Weekly from 24 Nov to the 8-week horizon: 8 occurrences, one cancelled, one moved.
    assert_eq!(n, 8, "{ab:?}");
    assert_eq!(
        ab.iter().filter(|m| m.status == "cancelled").count(),
        1,
        "{ab:?}"
    );
    assert!(
        ab.iter().any(|m| m.start == "2026-12-09T09:00:00Z"),
        "the moved occurrence: {ab:?}"
    );
    assert_eq!(meetings(&engine, "carol@acme.test~dan@acme.test").len(), 1);

    // Nothing changed: exactly one incremental request per calendar, no writes.
    let before = emu.log().await.len();
    let r2 = cycle(&engine).await;
    assert_eq!((r2.writes, r2.calendars_ok), (0, 4), "{r2}");
    let second = emu.api_requests_since(before).await;
    assert_eq!(second.len(), 4, "{second:?}");
    for l in &second {
        assert_eq!(l["method"], "GET");
        assert!(
            l["query"].as_str().unwrap_or("").contains("syncToken="),
            "{l}"
        );
    }

    // A person cancels an occurrence: it arrives incrementally.
    emu.edit(
        "alice@acme.test",
        "alicebob1_20261215T100000Z",
        json!({"status": "cancelled"}),
    )
    .await;
    let before = emu.log().await.len();
    let r3 = cycle(&engine).await;
    assert_eq!(r3.writes, 0, "{r3}");
    assert_eq!(emu.api_requests_since(before).await.len(), 4);
    let ab = meetings(&engine, "alice@acme.test~bob@acme.test");
    let m = ab
        .iter()
        .find(|m| m.start == "2026-12-15T10:00:00Z")
        .expect("the occurrence");
    assert_eq!(m.status, "cancelled", "{ab:?}");
    assert_eq!(ab.len(), 8);
    assert_all_writes_silent(&emu.log().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_sync_token_gives_a_fresh_full_sync_that_keeps_history_and_links() {
    let emu = Emu::start(2, FaultConfig::default()).await;
    emu.scenario(scenario()).await;
    let org = Org::standard(&emu);
    let engine = org.engine();
    cycle(&engine).await;
    cycle(&engine).await;
    let known = meetings(&engine, "alice@acme.test~bob@acme.test");
    let master_before = emu.event("alice@acme.test", "alicebob1").await["description"].clone();

    for without_reason in [false, true] {
        emu.admin(
            "/_admin/google/quirks",
            json!({"full_sync_without_reason": without_reason}),
        )
        .await;
        emu.admin("/_admin/expire-sync-state", json!({})).await;
        let before = emu.log().await.len();
        let r = cycle(&engine).await;
        assert_eq!((r.calendars_ok, r.writes), (4, 0), "{r}");
        let reqs = emu.api_requests_since(before).await;
        let gone = reqs.iter().filter(|e| e["status"] == 410).count();
        let full = reqs
            .iter()
            .filter(|e| {
                e["status"] == 200 && e["query"].as_str().unwrap_or("").contains("timeMin=")
            })
            .count();
        assert_eq!((gone, full), (4, 4), "{reqs:?}");
        assert_eq!(meetings(&engine, "alice@acme.test~bob@acme.test"), known);
        assert_eq!(
            emu.event("alice@acme.test", "alicebob1").await["description"],
            master_before
        );
        // And incremental again afterwards.
        let before = emu.log().await.len();
        let r = cycle(&engine).await;
        assert_eq!(r.writes, 0);
        let reqs = emu.api_requests_since(before).await;
        assert!(
            reqs.iter()
                .all(|e| e["query"].as_str().unwrap_or("").contains("syncToken="))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_meeting_arrives_as_a_tombstone_and_counts_as_cancelled() {
    let emu = Emu::start(3, FaultConfig::default()).await;
    // Other events in both calendars, so deleting the 1:1 does not empty them (an emptied
    // calendar is judged a failed read).
    let mut s = scenario();
    for cal in s["calendars"].as_array_mut().into_iter().flatten() {
        if cal["id"] == "carol@acme.test" || cal["id"] == "dan@acme.test" {
            cal["events"] = json!(
                cal["events"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .chain([json!({"summary": "Focus", "start": "+1d13:00", "end": "+1d15:00"})])
                    .collect::<Vec<_>>()
            );
        }
    }
    emu.scenario(s).await;
    let org = Org::standard(&emu);
    let engine = org.engine();
    cycle(&engine).await;
    let cd = meetings(&engine, "carol@acme.test~dan@acme.test");
    assert_eq!(cd.len(), 1);
    assert_eq!(cd[0].status, "scheduled");
    for cal in ["dan@acme.test", "carol@acme.test"] {
        emu.admin(
            "/_admin/google/edit",
            json!({"calendar": cal, "event": "dancarol1", "delete": true}),
        )
        .await;
    }
    let r = cycle(&engine).await;
    assert_eq!((r.calendars_ok, r.writes), (4, 0), "{r}");
    let cd = meetings(&engine, "carol@acme.test~dan@acme.test");
    assert_eq!(cd.len(), 1, "the history keeps it: {cd:?}");
    assert_eq!(cd[0].status, "cancelled", "{cd:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calendar_that_cannot_be_read_is_unknown_not_empty() {
    let emu = Emu::start(4, FaultConfig::default()).await;
    emu.scenario(scenario()).await;
    let org = Org::standard(&emu);
    let engine = org.engine();
    cycle(&engine).await;
    let known = meetings(&engine, "alice@acme.test~bob@acme.test");
    // Alice's calendar now fails every time (retries run out), and was emptied meanwhile.
    emu.admin(
        "/_admin/google/fault-script",
        json!([{"path_contains": "alice@acme.test", "times": 1000, "error": "backendError"}]),
    )
    .await;
    emu.admin(
        "/_admin/google/edit",
        json!({"calendar": "alice@acme.test", "event": "alicebob1", "delete": true}),
    )
    .await;
    let r = cycle(&engine).await;
    assert_eq!((r.calendars_ok, r.calendars_failed), (3, 1), "{r}");
    assert!(r.failed());
    assert!(
        r.unreadable.iter().any(|u| u.contains("alice@acme.test")),
        "{:?}",
        r.unreadable
    );
    // Bob's copies are still there: nothing of the pair counts as cancelled or removed.
    assert_eq!(meetings(&engine, "alice@acme.test~bob@acme.test"), known);
    let _ = now();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_series_that_began_before_the_lookback_is_expanded_into_the_window() {
    let emu = Emu::start(5, FaultConfig::default()).await;
    let mut s = scenario();
    for cal in s["calendars"].as_array_mut().into_iter().flatten() {
        if cal["id"] == "carol@acme.test" {
            cal["events"] = json!([{
                "id": "oldseries1", "summary": "Carol / Dan (since last year)",
                "start": "-400d15:00", "end": "-400d15:30", "recurrence": ["RRULE:FREQ=WEEKLY;INTERVAL=2"],
                "attendees": [{"email": "carol@acme.test", "responseStatus": "accepted"},
                              {"email": "dan@acme.test", "responseStatus": "accepted"}]}]);
        }
    }
    emu.scenario(s).await;
    let org = Org::standard(&emu);
    let engine = org.engine();
    let r = cycle(&engine).await;
    assert_eq!(r.calendars_ok, 4, "{r}");
    let cd = meetings(&engine, "carol@acme.test~dan@acme.test");
    let series: Vec<_> = cd.iter().filter(|m| m.series_id.is_some()).collect();
    // Every other week over 26 weeks back and 8 ahead: 17 occurrences, all in the window.
    assert_eq!(series.len(), 17, "{cd:?}");
    // 15:00 in New York all year (19:00Z in summer, 20:00Z in winter).
    for m in &series {
        let t = chrono::DateTime::parse_from_rfc3339(&m.start).expect("start");
        let local = t.with_timezone(&chrono_tz::America::New_York);
        assert_eq!(local.format("%H:%M").to_string(), "15:00", "{m:?}");
    }
    let master = emu.event("carol@acme.test", "oldseries1").await;
    assert!(
        master["description"]
            .as_str()
            .unwrap_or("")
            .contains("http://agenda.test/p/")
    );
}
