//! The Microsoft 365 provider reading mailboxes through the engine, over real HTTP against the
//! Graph emulator: delta rounds that page and whose delta link is reused, occurrence skeletons
//! resolved through their series master (fetched once per change), replays, removals and
//! cancellations, a lost delta state (410) and a slid window read afresh without touching the
//! history.
use chrono::Duration;
use serde_json::json;

mod msgraph_support;
use msgraph_support::*;

const AB: &str = "alice@contoso.com~bob@contoso.com";
const CD: &str = "carol@contoso.com~dan@contoso.com";

fn master_gets(log: &[serde_json::Value], mailbox: &str, id: &str) -> usize {
    let path = format!("/v1.0/users/{mailbox}/events/{id}");
    log.iter()
        .filter(|e| e["method"] == "GET" && e["path"].as_str() == Some(path.as_str()))
        .filter(|e| {
            e["query"]
                .as_str()
                .is_some_and(|q| q.starts_with("$select=id,type"))
        })
        .count()
}

#[test]
fn delta_rounds_page_reuse_their_link_and_fetch_each_master_once_per_change() {
    let emu = Emu::start(11);
    // Replays and empty pages, as the real service sends them.
    emu.load(&scenario(
        150,
        json!({"replay_fraction": 0.2, "empty_page_fraction": 0.05}),
    ));
    let env = Env::standard(&emu, "");
    let engine = env.engine();

    let r1 = cycle(&emu, &engine, now());
    assert!(!r1.failed(), "{r1}");
    assert_eq!(r1.calendars_ok, 4, "{r1}");
    let log1 = emu.log();
    // Alice's ~170 items come in several pages, all followed; the first carries the window.
    let alice: Vec<_> = log1
        .iter()
        .filter(|e| {
            e["path"]
                .as_str()
                .is_some_and(|p| p.contains("alice@contoso.com/calendarView/delta"))
        })
        .collect();
    assert!(alice.len() >= 3, "pages: {}", alice.len());
    assert!(
        alice[0]["query"]
            .as_str()
            .is_some_and(|q| q.contains("startDateTime="))
    );
    assert!(alice[1..].iter().all(|e| {
        e["query"]
            .as_str()
            .is_some_and(|q| q.contains("$skiptoken="))
    }));
    // Every occurrence is a skeleton: its series master is fetched once per mailbox.
    assert_eq!(master_gets(&log1, "alice@contoso.com", "AAMkAGab"), 1);
    assert_eq!(master_gets(&log1, "bob@contoso.com", "AAMkAGabcopy"), 1);
    // The series' subject and people come from the master: the pair's 1:1 is known, and both
    // copies (Alice's and Bob's) are one meeting each week.
    let store = engine.store.clone();
    let h = history(&store, AB);
    assert!(h.len() >= 10, "{h:?}");
    assert!(
        h.contains(&("2026-11-23T09:00:00+00:00".into(), "Scheduled".into())),
        "{h:?}"
    );
    assert!(
        h.contains(&("2026-11-09T09:00:00+00:00".into(), "Held".into())),
        "{h:?}"
    );
    assert_eq!(
        history(&store, CD),
        vec![("2026-11-24T23:00:00+00:00".into(), "Scheduled".into())]
    );
    // The series block went into Alice's master, the single's into Carol's event: two writes.
    let mut written = notifying(&log1);
    written.sort();
    assert_eq!(
        written,
        vec![
            "/v1.0/users/alice@contoso.com/events/AAMkAGab",
            "/v1.0/users/carol@contoso.com/events/AAMkAGcd"
        ]
    );

    // Next cycle: each mailbox's round starts from its stored delta link. Alice's master changed
    // (the block), so its occurrences come again and it is fetched once more; nothing written.
    let n1 = emu.log().len();
    let r2 = cycle(&emu, &engine, now() + Duration::minutes(5));
    assert!(!r2.failed(), "{r2}");
    let log2 = since(&emu.log(), n1);
    let deltas: Vec<&serde_json::Value> = log2
        .iter()
        .filter(|e| e["path"].as_str().is_some_and(|p| p.contains("/delta")))
        .collect();
    for mb in ["alice", "bob", "carol", "dan"] {
        let first = deltas
            .iter()
            .find(|e| e["path"].as_str().is_some_and(|p| p.contains(mb)))
            .map(|e| e["query"].as_str().unwrap_or(""));
        assert!(
            first.is_some_and(|q| q.starts_with("$deltatoken=")),
            "{mb}: {first:?}"
        );
    }
    assert!(
        deltas
            .iter()
            .all(|e| !e["query"].as_str().unwrap_or("").contains("startDateTime"))
    );
    assert_eq!(master_gets(&log2, "alice@contoso.com", "AAMkAGab"), 1);
    assert_eq!(master_gets(&log2, "bob@contoso.com", "AAMkAGabcopy"), 0);
    assert!(notifying(&log2).is_empty() && log2.iter().all(|e| e["write"] == false));

    // Nothing changed: exactly one request per mailbox.
    let n2 = emu.log().len();
    cycle(&emu, &engine, now() + Duration::minutes(10));
    let log3 = since(&emu.log(), n2);
    assert_eq!(log3.len(), 4, "{log3:?}");

    // Bob renames his copy of the series: his master is fetched once, the 1:1 keeps its history.
    emu.edit(
        "bob@contoso.com",
        "AAMkAGabcopy",
        json!({"subject": "1:1 Bob & Alice"}),
    );
    let n3 = emu.log().len();
    let r4 = cycle(&emu, &engine, now() + Duration::minutes(15));
    assert!(!r4.failed(), "{r4}");
    let log4 = since(&emu.log(), n3);
    assert_eq!(master_gets(&log4, "bob@contoso.com", "AAMkAGabcopy"), 1);
    assert_eq!(master_gets(&log4, "alice@contoso.com", "AAMkAGab"), 0);
    assert_eq!(history(&store, AB), h);
}

#[test]
fn removed_and_cancelled_occurrences_count_as_cancellations_and_far_changes_do_not() {
    let emu = Emu::start(12);
    emu.load(&scenario(5, json!({})));
    let env = Env::standard(&emu, "");
    let engine = env.engine();
    cycle(&emu, &engine, now());
    let store = engine.store.clone();
    let monday = at("2026-11-23T09:00:00Z");
    let occ = |master: &str| format!("{master}_{}", monday.timestamp());
    let before = history(&store, AB);
    assert!(before.contains(&(monday.to_rfc3339(), "Scheduled".into())));

    // Alice deletes Monday's occurrence (delta: @removed); Bob's copy shows it cancelled.
    emu.post(
        "/_admin/graph/edit",
        &json!({"mailbox": "alice@contoso.com", "id": occ("AAMkAGab"), "delete": true}),
    );
    emu.edit(
        "bob@contoso.com",
        &occ("AAMkAGabcopy"),
        json!({"isCancelled": true}),
    );
    // Carol cancels the single 1:1 through the API (her copy goes, Dan's becomes cancelled).
    let app = emu.token("daemon", true);
    let (status, _) = emu.api(
        "POST",
        "/users/carol@contoso.com/events/AAMkAGcd/cancel",
        &app,
        Some(&json!({"Comment": "sorry"})),
    );
    assert_eq!(status, 202);
    // A 1:1 of Alice and Bob far beyond the window is made and deleted, and a noise event is
    // deleted: delta reports both as @removed; neither is anything's cancellation.
    let far = emu.post(
        "/_admin/graph/edit",
        &json!({"mailbox": "alice@contoso.com", "create": {"subject": "Far 1:1",
            "start": {"days": 300, "time": "10:00", "timeZone": "UTC"}, "duration_minutes": 30,
            "attendees": [{"address": "bob@contoso.com"}]}}),
    );
    let far_id = far["id"].as_str().unwrap_or("").to_string();
    emu.post(
        "/_admin/graph/edit",
        &json!({"mailbox": "alice@contoso.com", "id": far_id, "delete": true}),
    );
    emu.post(
        "/_admin/graph/edit",
        &json!({"mailbox": "alice@contoso.com", "id": "AAMkAGnoise1", "delete": true}),
    );

    let n = emu.log().len();
    let r = cycle(&emu, &engine, now() + Duration::minutes(5));
    assert!(!r.failed(), "{r} {:?}", r.unreadable);
    let after = history(&store, AB);
    let changed: Vec<_> = after.iter().filter(|x| !before.contains(x)).collect();
    assert_eq!(
        changed,
        vec![&(monday.to_rfc3339(), "Cancelled".to_string())],
        "{after:?}"
    );
    assert_eq!(after.len(), before.len());
    assert_eq!(
        history(&store, CD),
        vec![("2026-11-24T23:00:00+00:00".into(), "Cancelled".into())]
    );
    // Nothing was written because of it.
    assert!(notifying(&since(&emu.log(), n)).is_empty());
}

#[test]
fn a_lost_delta_state_or_a_slid_window_is_read_afresh_and_the_history_stays() {
    let emu = Emu::start(13);
    emu.load(&scenario(20, json!({})));
    let env = Env::standard(&emu, "");
    let engine = env.engine();
    cycle(&emu, &engine, now());
    cycle(&emu, &engine, now() + Duration::minutes(5));
    let store = engine.store.clone();
    let before = (history(&store, AB), history(&store, CD));
    let written = notifying(&emu.log()).len();

    for style in ["syncStateNotFound", "invalidDeltaToken", "resyncRequired"] {
        emu.knobs(json!({"expired_token_style": style}));
        emu.post("/_admin/expire-sync-state", &json!({}));
        let n = emu.log().len();
        let r = cycle(&emu, &engine, now() + Duration::minutes(10));
        assert!(!r.failed(), "{style}: {r}");
        let log = since(&emu.log(), n);
        let expired = log
            .iter()
            .filter(|e| e["status"] == 410 || e["status"] == 400)
            .count();
        assert_eq!(expired, 4, "{style}: one refused link per mailbox: {log:?}");
        let fresh = log
            .iter()
            .filter(|e| {
                e["query"]
                    .as_str()
                    .is_some_and(|q| q.contains("startDateTime="))
            })
            .count();
        assert_eq!(fresh, 4, "{style}: a fresh round per mailbox");
        assert_eq!(
            (history(&store, AB), history(&store, CD)),
            before,
            "{style}"
        );
        assert_eq!(
            notifying(&emu.log()).len(),
            written,
            "{style}: nothing rewritten"
        );
    }

    // Five weeks on, the window has slid past the delta link's: fresh rounds, no 410 needed, the
    // earlier meetings still remembered, nothing written again.
    let later = now() + Duration::days(35);
    let n = emu.log().len();
    let r = cycle(&emu, &engine, later);
    assert!(!r.failed(), "{r}");
    let log = since(&emu.log(), n);
    assert!(log.iter().all(|e| e["status"] == 200), "{log:?}");
    let fresh = log
        .iter()
        .filter(|e| {
            e["query"]
                .as_str()
                .is_some_and(|q| q.contains("startDateTime="))
        })
        .count();
    assert_eq!(fresh, 4);
    let h = history(&store, AB);
    assert!(
        before
            .0
            .iter()
            .all(|(start, _)| h.iter().any(|(s, _)| s == start)),
        "{h:?}"
    );
    assert_eq!(notifying(&emu.log()).len(), written);
}
