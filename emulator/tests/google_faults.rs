//! Fault injection over HTTP: deterministic per seed, Google's envelope, dropped connections,
//! expired sync tokens and slow responses.
mod support;

use oneonone_emulator::FaultConfig;
use serde_json::json;
use support::{reason, start, start_with};

async fn statuses(seed: u64) -> Vec<(u16, String)> {
    let emu = start_with(
        seed,
        FaultConfig {
            fraction_5xx: 0.3,
            fraction_throttle: 0.2,
            ..FaultConfig::default()
        },
    )
    .await;
    emu.scenario(json!({"calendars": [{"id": "alice@example.com"}]}))
        .await;
    let t = emu.token("alice@example.com").await;
    let mut out = Vec::new();
    for _ in 0..40 {
        let (s, v) = emu.get(&t, "calendars/primary/events").await;
        if s != 200 {
            let e = &v["error"];
            assert_eq!(e["code"], s, "{v}");
            assert!(e["message"].is_string() && e["status"].is_string(), "{v}");
            match s {
                500 | 503 => assert_eq!(
                    (e["errors"][0]["domain"].as_str(), reason(&v)),
                    (Some("global"), "backendError")
                ),
                403 | 429 => assert_eq!(e["errors"][0]["domain"], "usageLimits"),
                other => panic!("unexpected status {other}: {v}"),
            }
        }
        out.push((s, reason(&v).to_string()));
    }
    out
}

#[tokio::test]
async fn faults_are_deterministic_per_seed() {
    let a = statuses(7).await;
    let b = statuses(7).await;
    let c = statuses(8).await;
    assert_eq!(a, b, "same seed, same faults");
    assert_ne!(a, c, "another seed, other faults");
    let failures = a.iter().filter(|(s, _)| *s != 200).count();
    assert!((5..=35).contains(&failures), "about half fail: {failures}");
    assert!(a.iter().any(|(s, _)| *s == 200));
}

#[tokio::test]
async fn dropped_connections_are_connection_errors() {
    let emu = start_with(
        1,
        FaultConfig {
            fraction_drop: 1.0,
            ..FaultConfig::default()
        },
    )
    .await;
    let t = emu.token("alice@example.com").await;
    let r = emu
        .http
        .get(emu.cal("calendars/primary/events"))
        .bearer_auth(&t)
        .send()
        .await;
    let err = r.expect_err("the connection must close without a response");
    assert!(!err.is_status(), "{err}");
    // The emulator survives: turn faults off and ask again.
    emu.admin("/_admin/faults", json!({})).await;
    assert_eq!(emu.get(&t, "calendars/primary/events").await.0, 200);
    let log = emu.log().await;
    assert_eq!(
        log.first().map(|e| e["status"].clone()),
        Some(json!(0)),
        "dropped request logged with status 0"
    );
}

#[tokio::test]
async fn scenario_faults_expire_sync_tokens_and_slow_responses() {
    let emu = start_with(3, FaultConfig::default()).await;
    emu.scenario(json!({"calendars": [{"id": "alice@example.com"}]}))
        .await;
    let t = emu.token("alice@example.com").await;
    let (_, _, sync) = emu.list_all(&t, "calendars/primary/events").await;
    let sync = sync.expect("token");
    emu.admin(
        "/_admin/scenario",
        json!({"now": support::NOW, "faults": {"fraction_expired_sync": 1.0},
                                         "google": {"reset": false}}),
    )
    .await;
    let (s, v) = emu
        .get(&t, &format!("calendars/primary/events?syncToken={sync}"))
        .await;
    assert_eq!((s, reason(&v)), (410, "fullSyncRequired"));
    assert_eq!(
        emu.get(&t, "calendars/primary/events").await.0,
        200,
        "only sync requests are affected"
    );
    emu.admin(
        "/_admin/faults",
        json!({"fraction_slow": 1.0, "slow_ms": 300}),
    )
    .await;
    let started = std::time::Instant::now();
    assert_eq!(emu.get(&t, "calendars/primary/events").await.0, 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
}

#[tokio::test]
async fn scripted_faults_hit_the_nth_matching_request() {
    let emu = start_with(1, FaultConfig::default()).await;
    emu.scenario(json!({
        "calendars": [{"id": "alice@example.com", "events": [{"id": "ev001", "start": "+1d10:00", "end": "+1d11:00"}]}],
        "fault_script": [
            {"method": "PATCH", "path_contains": "/events/", "nth": 2, "times": 2, "error": "conditionNotMet"},
            {"method": "GET", "nth": 1, "error": "tooManyRequests"}
        ]}))
        .await;
    let t = emu.token("alice@example.com").await;
    let (s, v) = emu.get(&t, "calendars/primary/events").await;
    assert_eq!((s, reason(&v)), (429, "rateLimitExceeded"));
    assert_eq!(emu.get(&t, "calendars/primary/events").await.0, 200);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (s, _) = emu
            .send(
                emu.http
                    .patch(emu.cal("calendars/primary/events/ev001?sendUpdates=none"))
                    .bearer_auth(&t)
                    .json(&json!({"description": "x"})),
            )
            .await;
        statuses.push(s);
    }
    assert_eq!(statuses, vec![200, 412, 412, 200]);
    let (s, _) = emu
        .send(
            emu.http
                .post(emu.url("/_admin/google/fault-script"))
                .json(&json!([{"error": "nonsense"}])),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn per_user_rate_limit_quirk() {
    let emu = start().await;
    emu.scenario(json!({"quirks": {"user_rate_limit_per_minute": 3},
        "calendars": [{"id": "alice@example.com"}, {"id": "bob@example.com"}]}))
        .await;
    let alice = emu.token("alice@example.com").await;
    let bob = emu.token("bob@example.com").await;
    for _ in 0..3 {
        assert_eq!(emu.get(&alice, "calendars/primary/events").await.0, 200);
    }
    let (s, v) = emu.get(&alice, "calendars/primary/events").await;
    assert_eq!((s, reason(&v)), (403, "userRateLimitExceeded"));
    assert_eq!(v["error"]["errors"][0]["domain"], "usageLimits");
    assert_eq!(emu.get(&bob, "calendars/primary/events").await.0, 200);
    // The next minute of emulator time has a fresh budget.
    emu.admin("/_admin/scenario", json!({"now": "2026-11-23T08:01:00Z"}))
        .await;
    assert_eq!(emu.get(&alice, "calendars/primary/events").await.0, 200);
}

#[tokio::test]
async fn a_stalled_answer_comes_after_the_change_was_made() {
    let emu = start_with(1, FaultConfig::default()).await;
    emu.scenario(json!({
        "calendars": [{"id": "alice@example.com"}],
        "fault_script": [{"method": "POST", "path_contains": "/events", "error": "stallAfter"}]}))
        .await;
    let t = emu.token("alice@example.com").await;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(300))
        .build()
        .expect("client");
    let body = json!({"id": "stalled001", "start": {"dateTime": "2026-11-24T10:00:00Z"},
                      "end": {"dateTime": "2026-11-24T10:30:00Z"}});
    let url = emu.cal("calendars/primary/events?sendUpdates=none");
    let r = client.post(&url).bearer_auth(&t).json(&body).send().await;
    assert!(r.is_err_and(|e| e.is_timeout()), "the answer must not come");
    // The insert was made: the same id again is a duplicate, and it is listed.
    let (s, v) = emu
        .send(emu.http.post(&url).bearer_auth(&t).json(&body))
        .await;
    assert_eq!((s, reason(&v)), (409, "duplicate"));
    let (items, _, _) = emu.list_all(&t, "calendars/primary/events").await;
    assert_eq!(support::ids(&items), vec!["stalled001".to_string()]);
}
