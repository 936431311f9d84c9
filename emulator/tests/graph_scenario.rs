//! Scenario loading and recurrence expansion over real HTTP: errors that name the bad field,
//! the deterministic generator, DST-correct weekly series, monthly patterns, `/_admin/state`.
mod graph_support;

use graph_support::start;
use serde_json::{Value, json};

#[tokio::test]
async fn bad_scenarios_name_the_field() {
    let emu = start().await;
    let cases = [
        (
            json!({"mailboxes": [{"name": "no address"}]}),
            "mailboxes[0].address",
        ),
        (
            json!({"mailboxes": [{"address": "a@x.com", "events": [{"subject": "s", "start": {"days": 1, "time": "10:00"}}]}]}),
            "mailboxes[0].events[0]: end",
        ),
        (
            json!({"mailboxes": [{"address": "a@x.com", "events": [{"start": {"days": 1}, "duration_minutes": 30, "showAs": "Busy"}]}]}),
            "showAs",
        ),
        (
            json!({"mailboxes": [{"address": "a@x.com", "events": [{"start": {"days": 1}, "duration_minutes": 30,
                "recurrence": {"pattern": {"type": "weekly"}, "range": {"type": "noEnd"}}}]}]}),
            "daysOfWeek",
        ),
        (json!({"knobs": {"no_such_knob": 1}}), "knobs.no_such_knob"),
    ];
    for (graph, needle) in cases {
        let r = emu
            .http
            .post(emu.url("/_admin/scenario"))
            .json(&json!({"now": graph_support::NOW, "graph": graph}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 400);
        let v: Value = r.json().await.unwrap_or(Value::Null);
        let msg = v["error"].as_str().unwrap_or("");
        assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
    }
}

#[tokio::test]
async fn generator_is_deterministic_from_the_seed() {
    let a = start().await;
    let b = start().await;
    let sc = json!({"now": graph_support::NOW, "graph": {"generate": {"mailboxes": 5, "events_per_mailbox": 40}}});
    a.scenario(sc.clone()).await;
    b.scenario(sc).await;
    let sa: Value = a
        .http
        .get(a.url("/_admin/state"))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    let sb: Value = b
        .http
        .get(b.url("/_admin/state"))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    assert_eq!(sa["graph"]["event_count"], 200);
    assert_eq!(
        sa["graph"]["mailboxes"], sb["graph"]["mailboxes"],
        "same seed, same organisation"
    );
    let first = &sa["graph"]["mailboxes"][0];
    assert_eq!(first["address"], "user00000@contoso.com");
    let events = first["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 40);
    assert!(
        events
            .iter()
            .all(|e| e["attendees"].as_array().is_some_and(|a| !a.is_empty())
                || e["organizer"].is_object())
    );
    // The generated mailboxes serve delta.
    let tok = a.token("app", true).await;
    let (pages, _) = a
        .round(
            "/v1.0/users/user00003@contoso.com/calendarView/delta?startDateTime=2025-11-01T00:00:00Z&endDateTime=2026-05-10T00:00:00Z",
            &tok,
            &["odata.maxpagesize=25"],
        )
        .await;
    assert!(
        graph_support::items(&pages).len() >= 40,
        "every event of the mailbox is in the half-year window"
    );
}

#[tokio::test]
async fn weekly_series_keeps_local_time_across_dst_and_monthly_patterns() {
    let emu = start().await;
    emu.scenario(json!({"now": "2026-03-01T00:00:00Z", "graph": {"mailboxes": [{"address": "a@contoso.com", "events": [
        {"id": "weekly", "subject": "Weekly", "start": {"dateTime": "2026-03-02T09:00:00", "timeZone": "Pacific Standard Time"}, "duration_minutes": 30,
         "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday"},
                        "range": {"type": "endDate", "endDate": "2026-03-16"}}},
        {"id": "monthly", "subject": "Monthly", "start": {"dateTime": "2026-03-27T15:00:00", "timeZone": "UTC"}, "duration_minutes": 60,
         "recurrence": {"pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["friday"], "index": "last"},
                        "range": {"type": "numbered", "numberOfOccurrences": 3}}},
        {"id": "daily", "subject": "Daily", "start": {"dateTime": "2026-03-02T08:00:00", "timeZone": "W. Europe Standard Time"}, "duration_minutes": 15,
         "recurrence": {"pattern": {"type": "daily", "interval": 2}, "range": {"type": "noEnd"}}}
    ]}]}}))
    .await;
    let tok = emu.token("app", true).await;
    let starts = |id: &'static str| {
        let emu = &emu;
        let tok = tok.clone();
        async move {
            let r = emu
                .get(
                    &format!("/v1.0/users/a@contoso.com/events/{id}/instances?startDateTime=2026-03-01T00:00:00Z&endDateTime=2026-06-01T00:00:00Z&$top=100"),
                    &tok,
                    &[],
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.json);
            r.json["value"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|e| e["start"]["dateTime"].as_str().map(String::from))
                .collect::<Vec<_>>()
        }
    };
    // US DST starts 2026-03-08: 09:00 PST is 17:00Z, 09:00 PDT is 16:00Z.
    assert_eq!(
        starts("weekly").await,
        [
            "2026-03-02T17:00:00.0000000",
            "2026-03-09T16:00:00.0000000",
            "2026-03-16T16:00:00.0000000"
        ]
    );
    assert_eq!(
        starts("monthly").await,
        [
            "2026-03-27T15:00:00.0000000",
            "2026-04-24T15:00:00.0000000",
            "2026-05-29T15:00:00.0000000"
        ]
    );
    let daily = starts("daily").await;
    assert_eq!(
        daily.first().map(String::as_str),
        Some("2026-03-02T07:00:00.0000000")
    );
    // Europe switches on 2026-03-29: 08:00 CEST is 06:00Z. Every second day from 03-02 hits 03-30.
    assert!(
        daily.contains(&"2026-03-30T06:00:00.0000000".to_string()),
        "{daily:?}"
    );
    assert_eq!(daily.len(), 46, "noEnd series expand up to the window end");
}
