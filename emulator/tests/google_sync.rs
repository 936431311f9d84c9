//! Incremental sync over HTTP: sync tokens, tombstones, restrictions, 410 and paging within a sync.
mod support;

use serde_json::{Value, json};
use support::{ids, reason, start};

fn scenario() -> Value {
    json!({"calendars": [{"id": "alice@example.com", "timeZone": "Europe/Berlin", "events": [
        {"id": "single1", "summary": "One", "start": "+1d10:00", "end": "+1d10:30",
         "attendees": [{"email": "alice@example.com"}, {"email": "bob@example.com"}]},
        {"id": "single2", "summary": "Two", "start": "+2d10:00", "end": "+2d10:30"},
        {"id": "weekly1", "summary": "Alice / Bob", "start": "+0d14:00", "end": "+0d14:30",
         "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4"],
         "attendees": [{"email": "alice@example.com"}, {"email": "bob@example.com"}]}
    ]}]})
}

#[tokio::test]
async fn incremental_sync_reports_changes_and_tombstones() {
    let emu = start().await;
    emu.scenario(scenario()).await;
    let t = emu.token("alice@example.com").await;
    let (items, _, sync) = emu.list_all(&t, "calendars/primary/events").await;
    assert_eq!(items.len(), 3);
    let sync = sync.expect("nextSyncToken after full sync");
    // Nothing changed: no items and the same token.
    let (s, v) = emu
        .get(&t, &format!("calendars/primary/events?syncToken={sync}"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["items"], json!([]));
    assert_eq!(v["nextSyncToken"].as_str(), Some(sync.as_str()));
    // A user edit, an API delete and a cancelled instance.
    emu.admin("/_admin/google/edit", json!({"calendar": "alice@example.com", "event": "single1", "patch": {"summary": "Renamed"}}))
        .await;
    let (s, _) = emu
        .send(
            emu.http
                .delete(emu.cal("calendars/primary/events/single2?sendUpdates=none"))
                .bearer_auth(&t),
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = emu
        .send(
            emu.http
                .delete(
                    emu.cal("calendars/primary/events/weekly1_20261130T130000Z?sendUpdates=none"),
                )
                .bearer_auth(&t),
        )
        .await;
    assert_eq!(s, 204);
    let (s, v) = emu
        .get(&t, &format!("calendars/primary/events?syncToken={sync}"))
        .await;
    assert_eq!(s, 200, "{v}");
    let items = v["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        ids(&items),
        vec!["single1", "single2", "weekly1_20261130T130000Z"]
    );
    assert_eq!(items[0]["summary"], "Renamed");
    assert_eq!(items[0]["sequence"], 1);
    assert_eq!(
        items[1],
        json!({"id": "single2", "status": "cancelled"}),
        "bare tombstone"
    );
    assert_eq!(items[2]["status"], "cancelled");
    assert_eq!(items[2]["recurringEventId"], "weekly1");
    assert_eq!(
        items[2]["originalStartTime"]["dateTime"],
        "2026-11-30T14:00:00+01:00"
    );
    let next = v["nextSyncToken"].as_str().expect("new token").to_string();
    assert_ne!(next, sync);
    // events.get still returns the deleted event, as cancelled; deleting again is 410.
    let (s, v) = emu.get(&t, "calendars/primary/events/single2").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("cancelled")));
    let (s, v) = emu
        .send(
            emu.http
                .delete(emu.cal("calendars/primary/events/single2"))
                .bearer_auth(&t),
        )
        .await;
    assert_eq!((s, reason(&v)), (410, "deleted"));
    // The expanded view drops the cancelled instance; showDeleted brings it back.
    let (items, _, _) = emu
        .list_all(&t, "calendars/primary/events?singleEvents=true")
        .await;
    assert!(!ids(&items).contains(&"weekly1_20261130T130000Z".to_string()));
    let (items, _, _) = emu
        .list_all(
            &t,
            "calendars/primary/events?singleEvents=true&showDeleted=true",
        )
        .await;
    assert!(ids(&items).contains(&"weekly1_20261130T130000Z".to_string()));
}

#[tokio::test]
async fn sync_token_restrictions_and_expiry() {
    let emu = start().await;
    emu.scenario(scenario()).await;
    let t = emu.token("alice@example.com").await;
    let (_, _, sync) = emu
        .list_all(&t, "calendars/primary/events?timeMin=2026-11-01T00:00:00Z")
        .await;
    let sync = sync.expect("token");
    for extra in [
        "timeMin=2026-11-01T00:00:00Z",
        "timeMax=2027-01-01T00:00:00Z",
        "q=x",
        "orderBy=updated",
        "iCalUID=a",
        "privateExtendedProperty=a%3Db",
        "sharedExtendedProperty=a%3Db",
        "updatedMin=2026-11-01T00:00:00Z",
        "showDeleted=false",
    ] {
        let (s, v) = emu
            .get(
                &t,
                &format!("calendars/primary/events?syncToken={sync}&{extra}"),
            )
            .await;
        assert_eq!(
            (s, reason(&v)),
            (400, "syncTokenWithRequestRestrictions"),
            "{extra}"
        );
    }
    let (s, _) = emu
        .get(
            &t,
            &format!(
                "calendars/primary/events?syncToken={sync}&showDeleted=true&singleEvents=true"
            ),
        )
        .await;
    assert_eq!(s, 200);
    emu.admin("/_admin/expire-sync-state", json!({})).await;
    let (s, v) = emu
        .get(&t, &format!("calendars/primary/events?syncToken={sync}"))
        .await;
    assert_eq!((s, reason(&v)), (410, "fullSyncRequired"));
    assert_eq!(v["error"]["errors"][0]["location"], "syncToken");
    // The observed variant without a reason.
    emu.admin(
        "/_admin/google/quirks",
        json!({"full_sync_without_reason": true}),
    )
    .await;
    let (s, v) = emu
        .get(&t, &format!("calendars/primary/events?syncToken={sync}"))
        .await;
    assert_eq!(s, 410);
    assert!(v["error"]["errors"][0].get("reason").is_none(), "{v}");
}

#[tokio::test]
async fn incremental_results_paginate_and_expand_series() {
    let emu = start().await;
    emu.scenario(scenario()).await;
    let t = emu.token("alice@example.com").await;
    let (_, _, sync) = emu
        .list_all(&t, "calendars/primary/events?singleEvents=true")
        .await;
    let sync = sync.expect("token");
    // Changing the master changes every instance.
    emu.admin("/_admin/google/edit", json!({"calendar": "alice@example.com", "event": "weekly1", "patch": {"location": "Room 1"}}))
        .await;
    emu.admin("/_admin/google/edit", json!({"calendar": "alice@example.com", "event": "single1", "patch": {"location": "Room 2"}}))
        .await;
    let (items, pages, next) = emu
        .list_all(
            &t,
            &format!("calendars/primary/events?singleEvents=true&maxResults=2&syncToken={sync}"),
        )
        .await;
    assert_eq!(pages, 3);
    assert_eq!(
        ids(&items),
        vec![
            "weekly1_20261123T130000Z",
            "weekly1_20261130T130000Z",
            "weekly1_20261207T130000Z",
            "weekly1_20261214T130000Z",
            "single1"
        ]
    );
    assert!(items.iter().all(|i| i["location"].is_string()));
    assert!(next.is_some());
    // Bare tombstones for instances, as sometimes observed.
    emu.admin(
        "/_admin/google/quirks",
        json!({"bare_instance_tombstones": 1.0}),
    )
    .await;
    let next = next.unwrap_or_default();
    let (s, _) = emu
        .send(
            emu.http
                .delete(emu.cal("calendars/primary/events/weekly1_20261207T130000Z"))
                .bearer_auth(&t),
        )
        .await;
    assert_eq!(s, 204);
    let (_, v) = emu
        .get(&t, &format!("calendars/primary/events?syncToken={next}"))
        .await;
    assert_eq!(
        v["items"],
        json!([{"id": "weekly1_20261207T130000Z", "status": "cancelled"}])
    );
}

#[tokio::test]
async fn purged_tombstones_keep_ids_reserved_and_expire_older_tokens() {
    let emu = start().await;
    emu.scenario(scenario()).await;
    let t = emu.token("alice@example.com").await;
    let (_, _, before) = emu.list_all(&t, "calendars/primary/events").await;
    let before = before.expect("token");
    let (s, _) = emu
        .send(
            emu.http
                .delete(emu.cal("calendars/primary/events/single2"))
                .bearer_auth(&t),
        )
        .await;
    assert_eq!(s, 204);
    let (_, v) = emu
        .get(&t, &format!("calendars/primary/events?syncToken={before}"))
        .await;
    let after = v["nextSyncToken"].as_str().expect("token").to_string();
    // Two days later the tombstone is purged.
    emu.admin(
        "/_admin/scenario",
        json!({"now": "2026-11-25T08:00:00Z", "google": {"reset": false}}),
    )
    .await;
    let v = emu
        .admin(
            "/_admin/google/purge-tombstones",
            json!({"older_than_secs": 86400}),
        )
        .await;
    assert_eq!(v["purged"], 1);
    // Access tokens live one hour of emulator time: get a fresh one.
    let t = emu.token("alice@example.com").await;
    let (s, v) = emu
        .get(&t, &format!("calendars/primary/events?syncToken={before}"))
        .await;
    assert_eq!(
        (s, reason(&v)),
        (410, "fullSyncRequired"),
        "a token from before the tombstone"
    );
    let (s, v) = emu
        .get(&t, &format!("calendars/primary/events?syncToken={after}"))
        .await;
    assert_eq!((s, v["items"].clone()), (200, json!([])));
    assert_eq!(emu.get(&t, "calendars/primary/events/single2").await.0, 404);
    let (s, v) = emu
        .send(
            emu.http
                .post(emu.cal("calendars/primary/events"))
                .bearer_auth(&t)
                .json(&json!({
            "id": "single2", "start": {"date": "2026-12-01"}, "end": {"date": "2026-12-02"}})),
        )
        .await;
    assert_eq!((s, reason(&v)), (409, "duplicate"));
}

#[tokio::test]
async fn updated_min_includes_deletions_and_must_be_recent() {
    let emu = start().await;
    emu.scenario(scenario()).await;
    let t = emu.token("alice@example.com").await;
    let (s, _) = emu
        .send(
            emu.http
                .delete(emu.cal("calendars/primary/events/single2?sendUpdates=none"))
                .bearer_auth(&t),
        )
        .await;
    assert_eq!(s, 204);
    // Deletions since updatedMin come back as cancelled whatever showDeleted says.
    let (items, _, _) = emu
        .list_all(
            &t,
            "calendars/primary/events?updatedMin=2026-11-22T00:00:00Z&showDeleted=false",
        )
        .await;
    let gone: Vec<&Value> = items.iter().filter(|i| i["id"] == "single2").collect();
    assert_eq!(gone.len(), 1, "{items:?}");
    assert_eq!(gone[0]["status"], "cancelled");
    let (s, v) = emu
        .get(
            &t,
            "calendars/primary/events?updatedMin=2026-10-20T00:00:00Z",
        )
        .await;
    assert_eq!((s, reason(&v)), (410, "updatedMinTooLongAgo"), "{v}");
    assert_eq!(v["error"]["errors"][0]["domain"], "calendar");
    // eventTypes is an enum.
    let (s, _) = emu
        .get(&t, "calendars/primary/events?eventTypes=meeting")
        .await;
    assert_eq!(s, 400);
}
