//! events.list over HTTP: window semantics, paging (short and empty pages), expansion, errors.
mod support;

use serde_json::{Value, json};
use support::{ids, reason, start};

/// Alice (Europe/Berlin, UTC+1 in November) with a single event, a weekly series with a cancelled
/// and a moved exception, and an all-day event. NOW is Monday 2026-11-23 08:00Z.
fn base_scenario() -> Value {
    json!({"calendars": [
        {"id": "alice@example.com", "timeZone": "Europe/Berlin", "events": [
            {"id": "single1", "summary": "Single", "start": "+1d10:00", "end": "+1d10:30",
             "attendees": [{"email": "alice@example.com", "responseStatus": "accepted"}, {"email": "bob@example.com"},
                           {"email": "room1@resource.example.com", "resource": true}]},
            {"id": "weekly1", "summary": "Alice / Bob", "start": "+0d14:00", "end": "+0d14:30",
             "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4"],
             "attendees": [{"email": "alice@example.com"}, {"email": "bob@example.com"}],
             "exceptions": [{"originalStart": "+7d14:00", "status": "cancelled"},
                            {"originalStart": "+14d14:00", "start": "+15d09:00", "end": "+15d09:30"}]},
            {"id": "allday1", "summary": "Offsite", "start": "+2d", "end": "+3d"}
        ]},
        {"id": "bob@example.com", "timeZone": "UTC"}
    ]})
}

#[tokio::test]
async fn time_window_bounds_are_exclusive() {
    let emu = start().await;
    emu.scenario(base_scenario()).await;
    let t = emu.token("alice@example.com").await;
    // single1 is 2026-11-24 09:00Z–09:30Z.
    let cases = [
        (
            "timeMin=2026-11-24T09:30:00Z&timeMax=2026-11-24T12:00:00Z",
            false,
        ),
        (
            "timeMin=2026-11-24T09:29:59Z&timeMax=2026-11-24T12:00:00Z",
            true,
        ),
        (
            "timeMin=2026-11-24T06:00:00Z&timeMax=2026-11-24T09:00:00Z",
            false,
        ),
        (
            "timeMin=2026-11-24T06:00:00Z&timeMax=2026-11-24T09:00:01Z",
            true,
        ),
        (
            "timeMin=2026-11-24T10:29:59%2B01:00&timeMax=2026-11-24T12:00:00Z",
            true,
        ),
    ];
    for (q, expected) in cases {
        let (s, v) = emu
            .get(
                &t,
                &format!("calendars/primary/events?singleEvents=true&{q}"),
            )
            .await;
        assert_eq!(s, 200, "{q}: {v}");
        let got = ids(v["items"].as_array().map(Vec::as_slice).unwrap_or(&[]));
        assert_eq!(
            got.contains(&"single1".to_string()),
            expected,
            "{q}: {got:?}"
        );
    }
}

#[tokio::test]
async fn bad_ranges_orderings_and_parameters_are_rejected() {
    let emu = start().await;
    emu.scenario(base_scenario()).await;
    let t = emu.token("alice@example.com").await;
    let (s, v) = emu
        .get(
            &t,
            "calendars/primary/events?timeMin=2026-11-24T10:00:00Z&timeMax=2026-11-24T10:00:00Z",
        )
        .await;
    assert_eq!((s, reason(&v)), (400, "timeRangeEmpty"));
    assert_eq!(v["error"]["errors"][0]["location"], "timeMax");
    let (s, _) = emu
        .get(&t, "calendars/primary/events?timeMin=2026-11-24T10:00:00")
        .await;
    assert_eq!(s, 400, "offset-less timeMin");
    let (s, v) = emu
        .get(&t, "calendars/primary/events?orderBy=startTime")
        .await;
    assert_eq!(s, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("ordering is not available")
    );
    let (s, _) = emu
        .get(
            &t,
            "calendars/primary/events?orderBy=startTime&singleEvents=true",
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = emu.get(&t, "calendars/primary/events?bogus=1").await;
    assert_eq!(s, 400, "unknown parameter");
    let (s, _) = emu
        .get(&t, "calendars/primary/events?singleEvents=yes")
        .await;
    assert_eq!(s, 400, "bad boolean");
    let (s, v) = emu.get(&t, "calendars/nobody@example.com/events").await;
    assert_eq!((s, reason(&v)), (404, "notFound"));
    let (s, v) = emu.get(&t, "calendars/primary/nothing/here").await;
    assert_eq!(
        (s, reason(&v)),
        (404, "notFound"),
        "unknown paths use Google's envelope"
    );
    let (s, v) = emu.get("not-a-token", "calendars/primary/events").await;
    assert_eq!((s, reason(&v)), (401, "authError"));
    assert_eq!(v["error"]["code"], 401);
    assert_eq!(v["error"]["status"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn single_events_expand_series_with_google_instance_ids() {
    let emu = start().await;
    emu.scenario(base_scenario()).await;
    let t = emu.token("alice@example.com").await;
    let (items, _, _) = emu
        .list_all(
            &t,
            "calendars/primary/events?singleEvents=true&orderBy=startTime",
        )
        .await;
    let got = ids(&items);
    // 14:00 Berlin = 13:00Z. The 2nd occurrence is cancelled; the 3rd moved to the next day 09:00.
    assert_eq!(
        got,
        vec![
            "weekly1_20261123T130000Z",
            "single1",
            "allday1",
            "weekly1_20261207T130000Z",
            "weekly1_20261214T130000Z"
        ]
    );
    let first = &items[0];
    assert_eq!(first["recurringEventId"], "weekly1");
    assert_eq!(
        first["originalStartTime"]["dateTime"],
        "2026-11-23T14:00:00+01:00"
    );
    assert_eq!(first["iCalUID"], "weekly1@google.com");
    assert!(
        first.get("recurrence").is_none(),
        "instances carry no recurrence"
    );
    let moved = &items[3];
    assert_eq!(moved["start"]["dateTime"], "2026-12-08T09:00:00+01:00");
    assert_eq!(
        moved["originalStartTime"]["dateTime"],
        "2026-12-07T14:00:00+01:00"
    );
    assert_eq!(items[2]["start"], json!({"date": "2026-11-25"}));
    assert_eq!(items[2]["end"], json!({"date": "2026-11-26"}));
    assert!(
        items[2].get("attendees").is_none(),
        "no guests, no attendees key"
    );
    // Attendee flags are computed for the calendar's owner.
    let single = &items[1];
    let atts = single["attendees"].as_array().cloned().unwrap_or_default();
    assert_eq!(atts[0]["self"], true);
    assert_eq!(atts[0]["organizer"], true);
    assert!(atts[1].get("self").is_none());
    assert_eq!(atts[1]["responseStatus"], "needsAction");
    assert_eq!(atts[2]["resource"], true);
    assert_eq!(
        single["organizer"],
        json!({"email": "alice@example.com", "self": true})
    );
    // maxAttendees truncates and flags it.
    let (_, v) = emu
        .get(&t, "calendars/primary/events/single1?maxAttendees=1")
        .await;
    assert_eq!(v["attendees"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["attendeesOmitted"], true);
}

#[tokio::test]
async fn unexpanded_listing_returns_masters_and_cancelled_exceptions() {
    let emu = start().await;
    emu.scenario(base_scenario()).await;
    let t = emu.token("alice@example.com").await;
    let (items, _, _) = emu.list_all(&t, "calendars/primary/events").await;
    let mut got = ids(&items);
    got.sort();
    // Quirk: the cancelled exception is listed even with showDeleted=false.
    assert_eq!(
        got,
        vec![
            "allday1",
            "single1",
            "weekly1",
            "weekly1_20261130T130000Z",
            "weekly1_20261207T130000Z"
        ]
    );
    let stub = items
        .iter()
        .find(|i| i["id"] == "weekly1_20261130T130000Z")
        .cloned()
        .unwrap_or_default();
    let mut keys: Vec<&String> = stub
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    keys.sort();
    assert_eq!(
        keys,
        vec!["id", "originalStartTime", "recurringEventId", "status"]
    );
    assert_eq!(stub["status"], "cancelled");
    let master = items
        .iter()
        .find(|i| i["id"] == "weekly1")
        .cloned()
        .unwrap_or_default();
    assert_eq!(master["recurrence"], json!(["RRULE:FREQ=WEEKLY;COUNT=4"]));
    // events.instances: timeMin inclusive on the end.
    let (s, v) = emu
        .get(
            &t,
            "calendars/primary/events/weekly1/instances?timeMin=2026-11-23T13:30:00Z",
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        ids(v["items"].as_array().map(Vec::as_slice).unwrap_or(&[])),
        vec![
            "weekly1_20261123T130000Z",
            "weekly1_20261207T130000Z",
            "weekly1_20261214T130000Z"
        ]
    );
    let (_, v) = emu
        .get(
            &t,
            "calendars/primary/events/weekly1/instances?showDeleted=true",
        )
        .await;
    assert_eq!(v["items"].as_array().map(Vec::len), Some(4));
}

#[tokio::test]
async fn paging_visits_every_event_once_and_ends_with_a_sync_token() {
    let emu = start().await;
    emu.scenario(json!({"generate": {"calendars": 1, "events_per_calendar": 300, "recurring_fraction": 0.0}})).await;
    let t = emu.token("user0000@example.com").await;
    let (items, pages, sync) = emu
        .list_all(&t, "calendars/primary/events?maxResults=7")
        .await;
    assert_eq!(items.len(), 300);
    let mut u = ids(&items);
    u.sort();
    u.dedup();
    assert_eq!(u.len(), 300, "no duplicates across pages");
    assert!(pages >= 43, "7 per page: {pages}");
    assert!(sync.is_some(), "last page carries nextSyncToken");
    // maxResults is capped at 2500 and defaults to 250.
    let (_, v) = emu.get(&t, "calendars/primary/events").await;
    assert_eq!(v["items"].as_array().map(Vec::len), Some(250));
    assert!(v["nextPageToken"].is_string() && v.get("nextSyncToken").is_none());
    let (s, v) = emu
        .get(&t, "calendars/primary/events?maxResults=100000")
        .await;
    assert_eq!((s, v["items"].as_array().map(Vec::len)), (200, Some(300)));
}

#[tokio::test]
async fn short_and_empty_pages_still_carry_a_page_token() {
    let emu = start().await;
    emu.scenario(json!({"quirks": {"short_pages": 0.6},
                        "generate": {"calendars": 1, "events_per_calendar": 200, "recurring_fraction": 0.0}}))
        .await;
    let t = emu.token("user0000@example.com").await;
    let mut page_token: Option<String> = None;
    let (mut seen, mut empty_with_token, mut short_with_token) = (Vec::new(), 0, 0);
    loop {
        let q = match &page_token {
            Some(p) => format!("calendars/primary/events?maxResults=4&pageToken={p}"),
            None => "calendars/primary/events?maxResults=4".to_string(),
        };
        let (s, v) = emu.get(&t, &q).await;
        assert_eq!(s, 200);
        let n = v["items"].as_array().map(Vec::len).unwrap_or(0);
        seen.extend(ids(v["items"].as_array().map(Vec::as_slice).unwrap_or(&[])));
        match v["nextPageToken"].as_str() {
            Some(p) => {
                if n == 0 {
                    empty_with_token += 1;
                } else if n < 4 {
                    short_with_token += 1;
                }
                page_token = Some(p.to_string());
            }
            None => {
                assert!(v["nextSyncToken"].is_string());
                break;
            }
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 200, "short pages lose nothing");
    assert!(
        empty_with_token > 0,
        "expected at least one empty page with nextPageToken"
    );
    assert!(
        short_with_token > 0,
        "expected short pages with nextPageToken"
    );
}

#[tokio::test]
async fn calendar_list_and_free_busy() {
    let emu = start().await;
    let mut sc = base_scenario();
    sc["calendars"][1]["acl"] = json!({"alice@example.com": "reader"});
    emu.scenario(sc).await;
    let t = emu.token("alice@example.com").await;
    let (s, v) = emu.get(&t, "users/me/calendarList").await;
    assert_eq!(s, 200);
    let items = v["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(ids(&items), vec!["alice@example.com", "bob@example.com"]);
    assert_eq!(items[0]["primary"], true);
    assert_eq!(items[1]["accessRole"], "reader");
    assert!(v["nextSyncToken"].is_string());
    let (s, v) = emu
        .send(
            emu.http
                .post(emu.cal("freeBusy"))
                .bearer_auth(&t)
                .json(&json!({
            "timeMin": "2026-11-24T00:00:00Z", "timeMax": "2026-11-24T12:00:00Z",
            "items": [{"id": "alice@example.com"}, {"id": "nobody@example.com"}]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["calendars"]["alice@example.com"]["busy"],
        json!([{"start": "2026-11-24T09:00:00.000Z", "end": "2026-11-24T09:30:00.000Z"}])
    );
    assert_eq!(
        v["calendars"]["nobody@example.com"]["errors"][0]["reason"],
        "notFound"
    );
    // `primary` is the caller's calendar, keyed as requested; query parameters are strict.
    let (s, v) = emu
        .send(
            emu.http
                .post(emu.cal("freeBusy"))
                .bearer_auth(&t)
                .json(&json!({
            "timeMin": "2026-11-24T00:00:00Z", "timeMax": "2026-11-24T12:00:00Z",
            "items": [{"id": "primary"}]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["calendars"]["primary"]["busy"].as_array().map(Vec::len),
        Some(1)
    );
    let (s, _) = emu
        .send(
            emu.http
                .post(emu.cal("freeBusy?timeZone=UTC"))
                .bearer_auth(&t)
                .json(&json!({
            "timeMin": "2026-11-24T00:00:00Z", "timeMax": "2026-11-24T12:00:00Z", "items": []})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = emu
        .send(
            emu.http
                .post(emu.cal("calendars/primary/events/watch?bogus=1"))
                .bearer_auth(&t)
                .json(
                    &json!({"id": "ch1", "type": "web_hook", "address": "https://example.com/h"}),
                ),
        )
        .await;
    assert_eq!(s, 400);
    for bad in [
        json!({"calendarExpansionMax": 51}),
        json!({"groupExpansionMax": 101}),
        json!({"timeZone": "Mars/Olympus"}),
    ] {
        let mut body = json!({"timeMin": "2026-11-24T00:00:00Z", "timeMax": "2026-11-24T12:00:00Z", "items": []});
        if let (Some(o), Some(b)) = (body.as_object_mut(), bad.as_object()) {
            o.extend(b.clone());
        }
        let (s, v) = emu
            .send(
                emu.http
                    .post(emu.cal("freeBusy"))
                    .bearer_auth(&t)
                    .json(&body),
            )
            .await;
        assert_eq!((s, reason(&v)), (400, "invalid"), "{bad}");
    }
    // Push channels call HTTPS endpoints only (plain HTTP only to loopback, for tests).
    let (s, v) = emu
        .send(
            emu.http
                .post(emu.cal("calendars/primary/events/watch"))
                .bearer_auth(&t)
                .json(&json!({"id": "ch2", "type": "web_hook", "address": "http://example.com/h"})),
        )
        .await;
    assert_eq!((s, reason(&v)), (400, "webhookUrlNotHttps"), "{v}");
    // A token with only calendar.events may not query free/busy.
    let narrow = emu
        .admin("/_admin/token", json!({"user": "alice@example.com", "scopes": ["https://www.googleapis.com/auth/calendar.events"]}))
        .await["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (s, v) = emu
        .send(
            emu.http
                .post(emu.cal("freeBusy"))
                .bearer_auth(&narrow)
                .json(&json!({
            "timeMin": "2026-11-24T00:00:00Z", "timeMax": "2026-11-25T00:00:00Z", "items": []})),
        )
        .await;
    assert_eq!((s, reason(&v)), (403, "insufficientPermissions"));
    assert_eq!(
        v["error"]["details"][0]["reason"],
        "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    );
}
