//! Writes over HTTP: client ids, etags and If-Match, patch vs update, shared properties, the log.
mod support;

use serde_json::{Value, json};
use support::{reason, start};

fn scenario() -> Value {
    json!({"calendars": [
        {"id": "alice@example.com", "timeZone": "Europe/Berlin", "events": [
            {"id": "oneonone1", "summary": "Alice / Bob", "description": "notes", "start": "+1d10:00", "end": "+1d10:30",
             "attendees": [{"email": "alice@example.com"}, {"email": "bob@example.com"}],
             "extendedProperties": {"private": {"keep": "1"}, "shared": {"s": "1"}}, "mirror": true},
            {"id": "weekly1", "summary": "Weekly", "start": "+0d14:00", "end": "+0d14:30",
             "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3"],
             "attendees": [{"email": "alice@example.com"}, {"email": "bob@example.com"}]}
        ]},
        {"id": "bob@example.com", "timeZone": "UTC"}
    ]})
}

fn event_body(id: Option<&str>) -> Value {
    let mut v = json!({"summary": "New", "start": {"dateTime": "2026-11-26T10:00:00Z"}, "end": {"dateTime": "2026-11-26T11:00:00Z"}});
    if let (Some(id), Some(o)) = (id, v.as_object_mut()) {
        o.insert("id".into(), json!(id));
    }
    v
}

#[tokio::test]
async fn insert_with_client_ids() {
    let emu = start().await;
    emu.scenario(scenario()).await;
    let t = emu.token("alice@example.com").await;
    let post = |body: Value| {
        emu.http
            .post(emu.cal("calendars/primary/events?sendUpdates=none"))
            .bearer_auth(&t)
            .json(&body)
    };
    let (s, v) = emu.send(post(event_body(Some("abcdef0123")))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], "abcdef0123");
    assert_eq!(v["status"], "confirmed");
    assert_eq!(v["organizer"]["email"], "alice@example.com");
    assert!(v["etag"].is_string() && v["updated"].is_string() && v["iCalUID"].is_string());
    let (s, v) = emu.send(post(event_body(Some("abcdef0123")))).await;
    assert_eq!((s, reason(&v)), (409, "duplicate"));
    for bad in ["abc", "ABCDEF0123", "abcdefwxyz", "abc_def12"] {
        let (s, v) = emu.send(post(event_body(Some(bad)))).await;
        assert_eq!((s, reason(&v)), (400, "invalid"), "{bad}");
    }
    // A deleted id stays reserved.
    let (s, _) = emu
        .send(
            emu.http
                .delete(emu.cal("calendars/primary/events/abcdef0123"))
                .bearer_auth(&t),
        )
        .await;
    assert_eq!(s, 204);
    let (s, v) = emu.send(post(event_body(Some("abcdef0123")))).await;
    assert_eq!((s, reason(&v)), (409, "duplicate"));
    // Server-chosen ids are base32hex.
    let (s, v) = emu.send(post(event_body(None))).await;
    assert_eq!(s, 200);
    let id = v["id"].as_str().unwrap_or_default();
    assert!(
        id.len() >= 5 && id.bytes().all(|b| matches!(b, b'a'..=b'v' | b'0'..=b'9')),
        "{id}"
    );
    // Start and end are required; end before start is an empty range.
    let (s, _) = emu
        .send(post(
            json!({"summary": "x", "start": {"dateTime": "2026-11-26T10:00:00Z"}}),
        ))
        .await;
    assert_eq!(s, 400);
    let (s, v) = emu
        .send(post(json!({"start": {"dateTime": "2026-11-26T10:00:00Z"}, "end": {"dateTime": "2026-11-26T09:00:00Z"}})))
        .await;
    assert_eq!((s, reason(&v)), (400, "timeRangeEmpty"));
    // A recurring event needs a time zone.
    let (s, _) = emu
        .send(post(json!({"start": {"dateTime": "2026-11-26T10:00:00Z"}, "end": {"dateTime": "2026-11-26T11:00:00Z"},
                          "recurrence": ["RRULE:FREQ=WEEKLY"]})))
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn patch_merges_and_if_match_guards() {
    let emu = start().await;
    emu.scenario(scenario()).await;
    let t = emu.token("alice@example.com").await;
    let (_, before) = emu.get(&t, "calendars/primary/events/oneonone1").await;
    let etag = before["etag"].as_str().unwrap_or_default().to_string();
    let url = emu.cal("calendars/primary/events/oneonone1?sendUpdates=none");
    // Wrong etag: 412.
    let (s, v) = emu
        .send(
            emu.http
                .patch(&url)
                .bearer_auth(&t)
                .header("If-Match", "\"3000000000000099\"")
                .json(&json!({"description": "x"})),
        )
        .await;
    assert_eq!((s, reason(&v)), (412, "conditionNotMet"));
    // Right etag: merged key by key, null deletes.
    let (s, v) = emu
        .send(
            emu.http
                .patch(&url)
                .bearer_auth(&t)
                .header("If-Match", &etag)
                .json(&json!({
            "description": "notes\n-- oneonone agenda --",
            "extendedProperties": {"private": {"oneonone": "v1", "keep": null}}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["extendedProperties"],
        json!({"private": {"oneonone": "v1"}, "shared": {"s": "1"}})
    );
    assert_eq!(v["summary"], "Alice / Bob");
    assert_ne!(v["etag"].as_str(), Some(etag.as_str()));
    assert_ne!(v["updated"], before["updated"]);
    // The old etag is now stale.
    let (s, _) = emu
        .send(
            emu.http
                .patch(&url)
                .bearer_auth(&t)
                .header("If-Match", &etag)
                .json(&json!({"description": "y"})),
        )
        .await;
    assert_eq!(s, 412);
    // If-None-Match with the current etag: 304.
    let new_etag = v["etag"].as_str().unwrap_or_default().to_string();
    let r = emu
        .http
        .get(emu.cal("calendars/primary/events/oneonone1"))
        .bearer_auth(&t)
        .header("If-None-Match", &new_etag)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 304);
    // update (PUT) drops what it omits.
    let (s, v) = emu
        .send(emu.http.put(&url).bearer_auth(&t).json(&json!({
            "summary": "Replaced", "start": before["start"], "end": before["end"]})))
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        v.get("extendedProperties").is_none(),
        "PUT dropped extendedProperties: {v}"
    );
    assert!(v.get("description").is_none());
    assert_eq!(v["id"], "oneonone1");
    let (s, _) = emu
        .send(
            emu.http
                .patch(emu.cal("calendars/primary/events/nope1"))
                .bearer_auth(&t)
                .json(&json!({})),
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn only_the_organizer_changes_shared_properties() {
    let emu = start().await;
    emu.scenario(scenario()).await;
    let bob = emu.token("bob@example.com").await;
    // Bob's mirrored copy: he is not the organizer.
    let (s, v) = emu.get(&bob, "calendars/primary/events/oneonone1").await;
    assert_eq!(s, 200);
    assert!(v["organizer"].get("self").is_none());
    assert!(
        v["extendedProperties"].get("private").is_none(),
        "private properties stay on alice's copy"
    );
    let url = emu.cal("calendars/primary/events/oneonone1?sendUpdates=none");
    let (s, v) = emu
        .send(
            emu.http
                .patch(&url)
                .bearer_auth(&bob)
                .json(&json!({"extendedProperties": {"shared": {"s": "2"}}})),
        )
        .await;
    assert_eq!((s, reason(&v)), (403, "forbiddenForNonOrganizer"));
    let (s, _) = emu
        .send(
            emu.http
                .patch(&url)
                .bearer_auth(&bob)
                .json(&json!({"extendedProperties": {"private": {"mine": "1"}}})),
        )
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn event_types_are_immutable_and_birthdays_take_no_private_properties() {
    let emu = start().await;
    emu.scenario(scenario()).await;
    let t = emu.token("alice@example.com").await;
    let (s, v) = emu
        .send(
            emu.http
                .patch(emu.cal("calendars/primary/events/oneonone1?sendUpdates=none"))
                .bearer_auth(&t)
                .json(&json!({"eventType": "focusTime"})),
        )
        .await;
    assert_eq!((s, reason(&v)), (400, "invalid"), "{v}");
    let birthday = json!({"id": "birthd001", "eventType": "birthday", "summary": "Bob",
        "start": {"date": "2026-12-01"}, "end": {"date": "2026-12-02"},
        "recurrence": ["RRULE:FREQ=YEARLY"]});
    let mut tagged = birthday.clone();
    tagged["extendedProperties"] = json!({"private": {"oneonone": "x"}});
    let post = |b: &Value| {
        emu.http
            .post(emu.cal("calendars/primary/events?sendUpdates=none"))
            .bearer_auth(&t)
            .json(b)
    };
    let (s, v) = emu.send(post(&tagged)).await;
    assert_eq!((s, reason(&v)), (400, "invalid"), "{v}");
    assert_eq!(
        v["error"]["errors"][0]["location"],
        "extendedProperties.private"
    );
    let (s, v) = emu.send(post(&birthday)).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = emu
        .send(
            emu.http
                .patch(emu.cal("calendars/primary/events/birthd001?sendUpdates=none"))
                .bearer_auth(&t)
                .json(&json!({"extendedProperties": {"private": {"oneonone": "x"}}})),
        )
        .await;
    assert_eq!((s, reason(&v)), (400, "invalid"), "{v}");
}

#[tokio::test]
async fn patching_an_instance_creates_an_exception() {
    let emu = start().await;
    emu.scenario(scenario()).await;
    let t = emu.token("alice@example.com").await;
    let (s, v) = emu
        .send(
            emu.http
                .patch(
                    emu.cal("calendars/primary/events/weekly1_20261130T130000Z?sendUpdates=none"),
                )
                .bearer_auth(&t)
                .json(&json!({"description": "agenda"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["recurringEventId"], "weekly1");
    assert_eq!(v["iCalUID"], "weekly1@google.com");
    let (_, v) = emu
        .get(&t, "calendars/primary/events/weekly1/instances")
        .await;
    let items = v["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 3);
    assert_eq!(items[1]["description"], "agenda");
    assert!(items[0].get("description").is_none());
    // An id that is not an occurrence is not found.
    let (s, _) = emu
        .get(&t, "calendars/primary/events/weekly1_20261201T130000Z")
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn the_log_records_every_write_and_whether_it_notified() {
    let emu = start().await;
    emu.scenario(scenario()).await;
    let t = emu.token("alice@example.com").await;
    let base = "calendars/primary/events/oneonone1";
    for (q, body) in [
        ("?sendUpdates=none", json!({"description": "a"})),
        ("", json!({"description": "b"})),
        (
            "?sendUpdates=all",
            json!({"extendedProperties": {"private": {"k": "v"}}}),
        ),
        ("?sendUpdates=all", json!({"description": "c"})),
    ] {
        let (s, _) = emu
            .send(
                emu.http
                    .patch(emu.cal(&format!("{base}{q}")))
                    .bearer_auth(&t)
                    .header("If-Match", "*")
                    .json(&body),
            )
            .await;
        assert_eq!(s, 200);
    }
    let log = emu.log().await;
    let writes: Vec<&Value> = log.iter().filter(|e| e["write"] == true).collect();
    assert_eq!(writes.len(), 4);
    let notifying: Vec<bool> = writes.iter().map(|e| e["notifying"] == true).collect();
    // A write without sendUpdates counts as notifying (observed default).
    assert_eq!(notifying, vec![false, true, false, true]);
    assert_eq!(writes[0]["send_updates"], "none");
    assert!(writes[1]["send_updates"].is_null());
    assert!(writes.iter().all(|e| e["if_match"] == true
        && e["method"] == "PATCH"
        && e["user"] == "alice@example.com"));
    // The deprecated sendNotifications=false counts as none, =true as all.
    for (q, want) in [
        ("?sendNotifications=false", false),
        ("?sendNotifications=true", true),
    ] {
        let (s, _) = emu
            .send(
                emu.http
                    .patch(emu.cal(&format!("{base}{q}")))
                    .bearer_auth(&t)
                    .json(&json!({"description": q})),
            )
            .await;
        assert_eq!(s, 200);
        let log = emu.log().await;
        assert_eq!(
            log.last().map(|e| e["notifying"] == true),
            Some(want),
            "{q}"
        );
    }
    // The quirk switched off: a write without sendUpdates counts as none.
    emu.admin(
        "/_admin/google/quirks",
        json!({"missing_send_updates_notifies": false}),
    )
    .await;
    let (s, _) = emu
        .send(
            emu.http
                .patch(emu.cal(base))
                .bearer_auth(&t)
                .json(&json!({"description": "d"})),
        )
        .await;
    assert_eq!(s, 200);
    let log = emu.log().await;
    assert_eq!(log.last().map(|e| e["notifying"] == true), Some(false));
    // The full state shows the event.
    let state: Value = emu
        .http
        .get(emu.url("/_admin/state"))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    let cals = state["google"]["calendars"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(cals.len(), 2);
}

#[tokio::test]
async fn a_token_for_a_person_provisions_their_primary_calendar() {
    let emu = start().await;
    emu.scenario(scenario()).await;
    let alice = emu.token("alice@example.com").await;
    let (s, v) = emu.get(&alice, "calendars/carol@example.com/events").await;
    assert_eq!((s, reason(&v)), (404, "notFound"));
    // Carol's token creates her (empty, UTC) primary calendar at once, visible to others too.
    let _carol = emu.token("carol@example.com").await;
    let (s, v) = emu.get(&alice, "calendars/carol@example.com/events").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["items"], json!([]));
    assert_eq!(v["timeZone"], "UTC");
    let (s, v) = emu
        .send(emu.http.post(emu.cal("freeBusy")).bearer_auth(&alice).json(
            &json!({"timeMin": "2026-11-23T00:00:00Z", "timeMax": "2026-11-24T00:00:00Z",
                    "items": [{"id": "carol@example.com"}, {"id": "dan@example.com"}]}),
        ))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["calendars"]["carol@example.com"], json!({"busy": []}));
    assert_eq!(
        v["calendars"]["dan@example.com"]["errors"][0]["reason"],
        "notFound"
    );
    // A client can write its own test data there.
    let (s, v) = emu
        .send(
            emu.http
                .post(emu.cal("calendars/carol@example.com/events?sendUpdates=none"))
                .bearer_auth(&alice)
                .json(&event_body(None)),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // Reloading a scenario keeps her provisioned (empty again).
    emu.scenario(scenario()).await;
    let (s, v) = emu.get(&alice, "calendars/carol@example.com/events").await;
    assert_eq!((s, v["items"].clone()), (200, json!([])));
}
