//! `start`/`end`/`originalStartTime` come back as RFC 3339 with the offset of the `EventDateTime`'s
//! `timeZone` at that instant (else of the calendar's zone), whatever form the client sent: every
//! response that returns events (insert, get, patch, update, list, instances, incremental sync).
mod support;

use serde_json::{Value, json};
use support::start;

fn scenario() -> Value {
    json!({"calendars": [
        {"id": "alice@example.com", "timeZone": "Europe/Berlin"},
        {"id": "bob@example.com", "timeZone": "UTC"}
    ]})
}

fn dt(v: &Value, k: &str) -> String {
    v[k]["dateTime"].as_str().unwrap_or("").to_string()
}

#[tokio::test]
async fn written_times_come_back_with_the_zone_offset() {
    let emu = start().await;
    emu.scenario(scenario()).await;
    let t = emu.token("alice@example.com").await;
    let insert = |body: Value| {
        emu.http
            .post(emu.cal("calendars/primary/events?sendUpdates=none"))
            .bearer_auth(&t)
            .json(&body)
    };
    // Local time plus timeZone: the offset of that zone at that instant (CET in December).
    let (s, v) = emu
        .send(insert(json!({"id": "local01",
            "start": {"dateTime": "2026-12-14T10:00:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2026-12-14T10:30:00", "timeZone": "Europe/Berlin"}})))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["start"],
        json!({"dateTime": "2026-12-14T10:00:00+01:00", "timeZone": "Europe/Berlin"})
    );
    assert_eq!(dt(&v, "end"), "2026-12-14T10:30:00+01:00");
    // An offset (or Z) without timeZone: rendered in the calendar's zone, no timeZone added.
    let (s, v) = emu
        .send(insert(json!({"id": "utcin01",
            "start": {"dateTime": "2026-12-14T09:00:00.000Z"},
            "end": {"dateTime": "2026-12-14T04:30:00-05:00"}})))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["start"], json!({"dateTime": "2026-12-14T10:00:00+01:00"}));
    assert_eq!(dt(&v, "end"), "2026-12-14T10:30:00+01:00");
    // Summer time, and a start and an end in different zones.
    let (s, v) = emu
        .send(insert(json!({"id": "multi01",
            "start": {"dateTime": "2026-07-01T10:00:00", "timeZone": "America/New_York"},
            "end": {"dateTime": "2026-07-01T23:30:00", "timeZone": "Asia/Tokyo"}})))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(dt(&v, "start"), "2026-07-01T10:00:00-04:00");
    assert_eq!(dt(&v, "end"), "2026-07-01T23:30:00+09:00");
    // get, list (both views) and an incremental sync return the same form.
    let (_, g) = emu.get(&t, "calendars/primary/events/local01").await;
    assert_eq!(dt(&g, "start"), "2026-12-14T10:00:00+01:00");
    let (items, _, sync) = emu.list_all(&t, "calendars/primary/events").await;
    let (single, _, _) = emu
        .list_all(&t, "calendars/primary/events?singleEvents=true")
        .await;
    for it in items.iter().chain(single.iter()) {
        if it["id"] == "utcin01" {
            assert_eq!(dt(it, "start"), "2026-12-14T10:00:00+01:00", "{it}");
        }
    }
    // patch with a local time; update (PUT) with a UTC time and a zone.
    let (s, v) = emu
        .send(
            emu.http
                .patch(emu.cal("calendars/primary/events/local01?sendUpdates=none"))
                .bearer_auth(&t)
                .json(&json!({"start": {"dateTime": "2026-12-14T09:00:00", "timeZone": "Europe/London"}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["start"],
        json!({"dateTime": "2026-12-14T09:00:00Z", "timeZone": "Europe/London"})
    );
    let (s, v) = emu
        .send(
            emu.http
                .put(emu.cal("calendars/primary/events/utcin01?sendUpdates=none"))
                .bearer_auth(&t)
                .json(&json!({
                    "start": {"dateTime": "2026-12-15T08:00:00Z", "timeZone": "Asia/Kolkata"},
                    "end": {"dateTime": "2026-12-15T14:00:00", "timeZone": "Asia/Kolkata"}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(dt(&v, "start"), "2026-12-15T13:30:00+05:30");
    assert_eq!(dt(&v, "end"), "2026-12-15T14:00:00+05:30");
    let sync = sync.unwrap_or_default();
    let (s, inc) = emu
        .get(&t, &format!("calendars/primary/events?syncToken={sync}"))
        .await;
    assert_eq!(s, 200, "{inc}");
    let items = inc["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2, "{inc}");
    for it in &items {
        let start = dt(it, "start");
        assert!(
            start == "2026-12-14T09:00:00Z" || start == "2026-12-15T13:30:00+05:30",
            "{it}"
        );
    }
    // A UTC calendar writes Z.
    let tb = emu.token("bob@example.com").await;
    let (s, v) = emu
        .send(
            emu.http
                .post(emu.cal("calendars/primary/events"))
                .bearer_auth(&tb)
                .json(&json!({
                    "start": {"dateTime": "2026-12-14T10:00:00+01:00"},
                    "end": {"dateTime": "2026-12-14T10:30:00+01:00"}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(dt(&v, "start"), "2026-12-14T09:00:00Z");
}

#[tokio::test]
async fn series_instances_and_exceptions_carry_offsets_across_dst() {
    let emu = start().await;
    emu.scenario(scenario()).await;
    let t = emu.token("alice@example.com").await;
    let (s, v) = emu
        .send(
            emu.http
                .post(emu.cal("calendars/primary/events?sendUpdates=none"))
                .bearer_auth(&t)
                .json(
                    &json!({"id": "series01", "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3"],
                    "start": {"dateTime": "2026-10-19T10:00:00", "timeZone": "Europe/Berlin"},
                    "end": {"dateTime": "2026-10-19T10:30:00", "timeZone": "Europe/Berlin"}}),
                ),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(dt(&v, "start"), "2026-10-19T10:00:00+02:00");
    let expect = [
        ("series01_20261019T080000Z", "2026-10-19T10:00:00+02:00"),
        ("series01_20261026T090000Z", "2026-10-26T10:00:00+01:00"),
        ("series01_20261102T090000Z", "2026-11-02T10:00:00+01:00"),
    ];
    let (_, inst) = emu
        .get(&t, "calendars/primary/events/series01/instances")
        .await;
    let (single, _, _) = emu
        .list_all(&t, "calendars/primary/events?singleEvents=true")
        .await;
    for items in [
        inst["items"].as_array().cloned().unwrap_or_default(),
        single,
    ] {
        assert_eq!(items.len(), 3, "{items:?}");
        for (it, (id, start)) in items.iter().zip(expect) {
            assert_eq!(it["id"], id);
            assert_eq!(dt(it, "start"), start, "{it}");
            assert_eq!(it["originalStartTime"]["dateTime"], start, "{it}");
            assert_eq!(it["start"]["timeZone"], "Europe/Berlin");
        }
    }
    // Moving one instance (a local time) makes an exception; both times carry offsets.
    let (s, ex) = emu
        .send(
            emu.http
                .patch(
                    emu.cal("calendars/primary/events/series01_20261026T090000Z?sendUpdates=none"),
                )
                .bearer_auth(&t)
                .json(&json!({
                    "start": {"dateTime": "2026-10-26T11:00:00", "timeZone": "Europe/Berlin"},
                    "end": {"dateTime": "2026-10-26T11:30:00", "timeZone": "Europe/Berlin"}})),
        )
        .await;
    assert_eq!(s, 200, "{ex}");
    assert_eq!(dt(&ex, "start"), "2026-10-26T11:00:00+01:00");
    assert_eq!(
        ex["originalStartTime"]["dateTime"],
        "2026-10-26T10:00:00+01:00"
    );
    let (_, got) = emu
        .get(&t, "calendars/primary/events/series01_20261026T090000Z")
        .await;
    assert_eq!(dt(&got, "start"), "2026-10-26T11:00:00+01:00");
    // A cancelled instance's stub keeps the offset form too.
    let (s, _) = emu
        .send(
            emu.http
                .delete(
                    emu.cal("calendars/primary/events/series01_20261102T090000Z?sendUpdates=none"),
                )
                .bearer_auth(&t),
        )
        .await;
    assert_eq!(s, 204);
    let (items, _, _) = emu.list_all(&t, "calendars/primary/events").await;
    let stub = items
        .iter()
        .find(|i| i["id"] == "series01_20261102T090000Z")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        stub["originalStartTime"]["dateTime"], "2026-11-02T10:00:00+01:00",
        "{stub}"
    );
}
