//! Every JSON object the Google emulator emits must fit the discovery document (a copy lives in
//! tests/oracles/): each field of every Events/Event/EventAttendee/EventDateTime/CalendarList/
//! FreeBusyResponse/Channel object must exist in the schema, recursively, with the right JSON type.
mod support;

use serde_json::{Value, json};
use support::start;

fn discovery() -> Value {
    let text = include_str!("oracles/google-calendar-v3.discovery.json");
    serde_json::from_str(text).expect("discovery document parses")
}

/// Check `v` against the discovery schema `s`; push "path: problem" strings into `errs`.
fn check(schemas: &Value, s: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        match schemas.get(r) {
            Some(target) => return check(schemas, target, v, path, errs),
            None => return errs.push(format!("{path}: unknown $ref {r}")),
        }
    }
    let ty = s.get("type").and_then(Value::as_str).unwrap_or("any");
    let format = s.get("format").and_then(Value::as_str).unwrap_or("");
    let ok = match ty {
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" if format == "int64" || format == "uint64" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    };
    if !ok {
        errs.push(format!(
            "{path}: expected {ty}{}, got {v}",
            if format.is_empty() {
                String::new()
            } else {
                format!(" ({format})")
            }
        ));
        return;
    }
    match v {
        Value::Object(o) => {
            let props = s.get("properties").and_then(Value::as_object);
            let extra = s.get("additionalProperties");
            for (k, val) in o {
                match (props.and_then(|p| p.get(k)), extra) {
                    (Some(ps), _) => check(schemas, ps, val, &format!("{path}.{k}"), errs),
                    (None, Some(ap)) => check(schemas, ap, val, &format!("{path}[{k}]"), errs),
                    (None, None) => errs.push(format!("{path}.{k}: not in the discovery schema")),
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = s.get("items") {
                for (i, x) in a.iter().enumerate() {
                    check(schemas, items, x, &format!("{path}[{i}]"), errs);
                }
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn emitted_json_matches_the_discovery_document() {
    let d = discovery();
    let schemas = &d["schemas"];
    let emu = start().await;
    emu.scenario(json!({
        "generate": {"calendars": 3, "events_per_calendar": 60, "recurring_fraction": 0.2},
        "calendars": [{"id": "alice@example.com", "timeZone": "Europe/Berlin", "events": [
            {"id": "weekly1", "summary": "Alice / Bob", "description": "<b>x</b>", "start": "+0d14:00", "end": "+0d14:30",
             "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4"], "location": "Room 1", "transparency": "opaque",
             "attendees": [{"email": "alice@example.com", "displayName": "Alice"}, {"email": "bob@example.com", "optional": true},
                           {"email": "room@resource.example.com", "resource": true}],
             "extendedProperties": {"private": {"oneonone": "1"}, "shared": {"x": "y"}},
             "exceptions": [{"originalStart": "+7d14:00", "status": "cancelled"},
                            {"originalStart": "+14d14:00", "start": "+14d15:00", "end": "+14d15:30"}]},
            {"id": "allday1", "start": "+1d", "end": "+2d"}]}]
    }))
    .await;
    let t = emu.token("alice@example.com").await;
    let mut responses: Vec<(&str, Value)> = Vec::new();
    for q in [
        "",
        "?singleEvents=true",
        "?showDeleted=true",
        "?singleEvents=true&showDeleted=true",
        "?maxAttendees=1",
    ] {
        for cal in ["primary", "user0001@example.com"] {
            let (s, v) = emu.get(&t, &format!("calendars/{cal}/events{q}")).await;
            assert_eq!(s, 200);
            responses.push(("Events", v));
        }
    }
    let (_, _, sync) = emu
        .list_all(&t, "calendars/primary/events?singleEvents=true")
        .await;
    let sync = sync.expect("sync token");
    let (s, inserted) = emu
        .send(emu.http.post(emu.cal("calendars/primary/events?sendUpdates=none")).bearer_auth(&t).json(&json!({
            "id": "abcevent1", "start": {"date": "2026-12-01"}, "end": {"date": "2026-12-02"}, "unknownField": 1})))
        .await;
    assert_eq!(s, 200);
    responses.push(("Event", inserted));
    emu.send(
        emu.http
            .delete(emu.cal("calendars/primary/events/abcevent1"))
            .bearer_auth(&t),
    )
    .await;
    emu.send(
        emu.http
            .delete(emu.cal("calendars/primary/events/weekly1_20261123T130000Z"))
            .bearer_auth(&t),
    )
    .await;
    let (_, v) = emu
        .get(
            &t,
            &format!("calendars/primary/events?singleEvents=true&syncToken={sync}"),
        )
        .await;
    assert!(v["items"].as_array().is_some_and(|a| a.len() == 2), "{v}");
    responses.push(("Events", v));
    for path in [
        "calendars/primary/events/weekly1",
        "calendars/primary/events/weekly1_20261207T130000Z",
        "calendars/primary/events/abcevent1",
    ] {
        let (s, v) = emu.get(&t, path).await;
        assert_eq!(s, 200, "{path}");
        responses.push(("Event", v));
    }
    let (_, v) = emu
        .get(
            &t,
            "calendars/primary/events/weekly1/instances?showDeleted=true",
        )
        .await;
    responses.push(("Events", v));
    let (_, v) = emu.get(&t, "users/me/calendarList").await;
    responses.push(("CalendarList", v));
    let (_, v) = emu
        .send(
            emu.http
                .post(emu.cal("freeBusy"))
                .bearer_auth(&t)
                .json(&json!({
            "timeMin": "2026-11-20T00:00:00Z", "timeMax": "2026-12-20T00:00:00Z",
            "items": [{"id": "alice@example.com"}, {"id": "nobody@example.com"}]})),
        )
        .await;
    responses.push(("FreeBusyResponse", v));
    let (_, v) = emu
        .send(
            emu.http
                .post(emu.cal("calendars/primary/events/watch"))
                .bearer_auth(&t)
                .json(&json!({
            "id": "c1", "type": "web_hook", "address": "http://127.0.0.1:9/"})),
        )
        .await;
    responses.push(("Channel", v));

    let mut errs = Vec::new();
    let mut objects = 0;
    for (schema, v) in &responses {
        assert!(v.is_object(), "{schema}: {v}");
        objects += v["items"].as_array().map_or(1, |a| a.len() + 1);
        check(schemas, &schemas[*schema], v, schema, &mut errs);
    }
    assert!(objects > 500, "checked {objects} objects");
    assert!(
        errs.is_empty(),
        "{} schema violations, e.g.:\n{}",
        errs.len(),
        errs.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_checker_rejects_unknown_and_mistyped_fields() {
    let d = discovery();
    let schemas = &d["schemas"];
    let mut errs = Vec::new();
    check(
        schemas,
        &schemas["Event"],
        &json!({"id": "a", "bogus": 1, "sequence": "1", "start": {"dateTime": 5},
                                              "attendees": [{"email": "x", "selfish": true}],
                                              "extendedProperties": {"private": {"k": 1}}}),
        "Event",
        &mut errs,
    );
    errs.sort();
    assert_eq!(errs.len(), 5, "{errs:?}");
}
