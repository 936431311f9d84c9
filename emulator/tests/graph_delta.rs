//! calendarView delta over real HTTP: paging, deltaLink round trips, `@removed`, skeleton
//! occurrences, replays, empty pages, time zones, expired tokens, and the JSON shape against the
//! machine-readable schema (tests/oracles/graph-event.schema.json).
mod graph_support;

use graph_support::{NOW, ids, items, standard_scenario, start};
use serde_json::{Value, json};
use std::collections::HashSet;

const WINDOW: &str = "startDateTime=2025-12-29T12:00:00Z&endDateTime=2026-02-02T12:00:00Z";

fn first(user: &str, op: &str) -> String {
    format!("/v1.0/users/{user}/calendarView/{op}?{WINDOW}")
}

fn is_7digit(s: &str) -> bool {
    // 2026-01-05T17:00:00.0000000
    s.len() == 27
        && s.as_bytes().get(19) == Some(&b'.')
        && s[20..].chars().all(|c| c.is_ascii_digit())
        && !s.contains('Z')
}

#[tokio::test]
async fn paging_skeletons_and_delta_round_trip() {
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    let tok = emu.token("daemon-app", true).await;
    let (pages, delta_link) = emu
        .round(
            &first("alice@contoso.com", "delta()"),
            &tok,
            &["odata.maxpagesize=2"],
        )
        .await;
    assert!(pages.len() >= 3, "5 items at 2 per page need 3 pages");
    assert!(
        pages
            .iter()
            .all(|p| p["value"].as_array().map(|a| a.len() <= 2).unwrap_or(false))
    );
    let all = items(&pages);
    let got: HashSet<String> = ids(&all).into_iter().collect();
    let t = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|d| d.timestamp())
            .unwrap_or(0)
    };
    let expected: HashSet<String> = [
        "AAMkAGsingle1".to_string(),
        "AAMkAGtz1".to_string(),
        format!("AAMkAGseries1_{}", t("2026-01-05T17:00:00Z")),
        format!("AAMkAGseries1_{}", t("2026-01-12T17:00:00Z")),
        format!("AAMkAGseries1_{}", t("2026-01-26T17:00:00Z")),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        got, expected,
        "single, custom-zone event, two occurrences and the exception; no master, no deleted occurrence"
    );
    for it in &all {
        assert_ne!(it["type"], "seriesMaster");
        assert_eq!(it["@odata.type"], "#microsoft.graph.event");
        let start = it["start"]["dateTime"].as_str().unwrap_or("");
        assert!(is_7digit(start), "7-digit fraction, no offset: {start}");
        assert_eq!(it["start"]["timeZone"], "UTC");
        match it["type"].as_str() {
            Some("occurrence") => {
                let keys: HashSet<&str> = it
                    .as_object()
                    .map(|o| o.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                let want: HashSet<&str> = [
                    "@odata.type",
                    "@odata.etag",
                    "id",
                    "seriesMasterId",
                    "type",
                    "start",
                    "end",
                ]
                .into_iter()
                .collect();
                assert_eq!(keys, want, "occurrences in delta are skeletons");
                assert_eq!(it["seriesMasterId"], "AAMkAGseries1");
            }
            Some("exception") => {
                assert_eq!(it["subject"], "Moved 1:1");
                assert_eq!(it["start"]["dateTime"], "2026-01-12T18:00:00.0000000");
                assert_eq!(it["originalStart"], "2026-01-12T17:00:00.0000000Z");
            }
            Some("singleInstance") => {
                assert!(it["subject"].is_string());
                let etag = it["@odata.etag"].as_str().unwrap_or("");
                assert_eq!(
                    etag,
                    format!("W/\"{}\"", it["changeKey"].as_str().unwrap_or("?"))
                );
            }
            other => panic!("unexpected type {other:?}"),
        }
    }
    let single = all
        .iter()
        .find(|i| i["id"] == "AAMkAGsingle1")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        single["start"]["dateTime"], "2026-01-06T09:00:00.0000000",
        "10:00 Berlin is 09:00 UTC"
    );
    assert_eq!(single["originalStartTimeZone"], "W. Europe Standard Time");
    assert_eq!(single["body"]["contentType"], "html");
    let custom = all
        .iter()
        .find(|i| i["id"] == "AAMkAGtz1")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(custom["originalStartTimeZone"], "tzone://Microsoft/Custom");

    // The master, fetched separately, carries the recurrence; subject and attendees come only from it.
    let master = emu
        .get(
            "/v1.0/users/alice@contoso.com/events/AAMkAGseries1",
            &tok,
            &[],
        )
        .await;
    assert_eq!(master.status, 200);
    assert_eq!(master.json["type"], "seriesMaster");
    assert_eq!(master.json["subject"], "Weekly 1:1 Alice / Carol");
    assert_eq!(master.json["recurrence"]["pattern"]["dayOfMonth"], 0);
    assert_eq!(master.json["recurrence"]["pattern"]["month"], 0);
    assert_eq!(master.json["recurrence"]["range"]["numberOfOccurrences"], 6);
    assert_eq!(
        master.json["recurrence"]["range"]["recurrenceTimeZone"],
        "Pacific Standard Time"
    );
    let occ_id = format!("AAMkAGseries1_{}", t("2026-01-05T17:00:00Z"));
    let occ = emu
        .get(
            &format!("/v1.0/users/alice@contoso.com/events/{occ_id}"),
            &tok,
            &[],
        )
        .await;
    assert_eq!(occ.status, 200);
    assert_eq!(occ.json["type"], "occurrence");
    assert_eq!(occ.json["recurrence"], Value::Null);
    assert_eq!(occ.json["subject"], "Weekly 1:1 Alice / Carol");

    // No changes: the next round is empty and ends with a deltaLink.
    let (pages2, delta2) = emu.round(&delta_link, &tok, &[]).await;
    assert!(items(&pages2).is_empty(), "no changes: {:?}", pages2);

    // Changes as a user would make them: an edit, a deletion and an out-of-window change.
    emu.admin("/_admin/graph/edit", json!({"mailbox": "alice@contoso.com", "id": "AAMkAGsingle1", "patch": {"subject": "Renamed"}}))
        .await;
    emu.admin(
        "/_admin/graph/edit",
        json!({"mailbox": "alice@contoso.com", "id": "AAMkAGtz1", "delete": true}),
    )
    .await;
    emu.admin("/_admin/graph/edit", json!({"mailbox": "alice@contoso.com", "id": "AAMkAGfar1", "patch": {"subject": "Still far"}}))
        .await;
    let (pages3, delta3) = emu.round(&delta2, &tok, &[]).await;
    let got3 = items(&pages3);
    let renamed = got3
        .iter()
        .find(|i| i["id"] == "AAMkAGsingle1")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(renamed["subject"], "Renamed");
    for gone in ["AAMkAGtz1", "AAMkAGfar1"] {
        let it = got3
            .iter()
            .find(|i| i["id"] == gone)
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(
            it["@removed"]["reason"], "deleted",
            "{gone} arrives as @removed: {got3:?}"
        );
    }
    assert_eq!(got3.len(), 3, "only the changes: {got3:?}");

    // Moving the single out of the window removes it; the window is pinned by the token.
    emu.admin(
        "/_admin/graph/edit",
        json!({"mailbox": "alice@contoso.com", "id": "AAMkAGsingle1",
               "patch": {"start": {"dateTime": "2026-03-01T10:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2026-03-01T10:30:00", "timeZone": "UTC"}}}),
    )
    .await;
    let (pages4, _) = emu.round(&delta3, &tok, &[]).await;
    let got4 = items(&pages4);
    assert_eq!(got4.len(), 1);
    assert_eq!(got4[0]["id"], "AAMkAGsingle1");
    assert_eq!(got4[0]["@removed"]["reason"], "deleted");
    assert_eq!(NOW, "2026-01-05T12:00:00Z");
}

#[tokio::test]
async fn path_forms_me_and_window_rules() {
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    let app = emu.token("daemon-app", true).await;
    let alice = emu.token("alice@contoso.com", false).await;
    for op in ["delta", "delta()", "microsoft.graph.delta()"] {
        let r = emu.get(&first("alice@contoso.com", op), &app, &[]).await;
        assert_eq!(r.status, 200, "{op}: {}", r.json);
    }
    // By object id, and /me for a delegated token.
    let r = emu
        .get(
            &first("11111111-1111-4111-8111-111111111111", "delta"),
            &app,
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    let r = emu
        .get(
            &format!("/v1.0/me/calendarView/delta?{WINDOW}"),
            &alice,
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.json["@odata.deltaLink"]
            .as_str()
            .unwrap_or("")
            .contains("/v1.0/me/calendarView/delta?$deltatoken=")
    );
    // /me with an app-only token.
    let r = emu
        .get(&format!("/v1.0/me/calendarView/delta?{WINDOW}"), &app, &[])
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "BadRequest");
    assert_eq!(
        r.json["error"]["message"],
        "/me request is only valid with delegated authentication flow."
    );
    // The first call needs a window; OData options are rejected.
    let r = emu
        .get(
            "/v1.0/users/alice@contoso.com/calendarView/delta",
            &app,
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    let r = emu
        .get(
            &format!("{}&$select=subject", first("alice@contoso.com", "delta")),
            &app,
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    // Offsets in the window are honoured: 13:00+01:00 is 12:00Z.
    let r = emu
        .get(
            "/v1.0/users/alice@contoso.com/calendarView/delta?startDateTime=2026-01-06T09:30:00%2B01:00&endDateTime=2026-01-06T23:00:00",
            &app,
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        ids(r.json["value"].as_array().map(Vec::as_slice).unwrap_or(&[])),
        vec!["AAMkAGsingle1"]
    );
    // No token → 401.
    let r = emu
        .send(emu.http.get(emu.url(&first("alice@contoso.com", "delta"))))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "InvalidAuthenticationToken");
}

#[tokio::test]
async fn outlook_timezone_and_body_preferences() {
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    let tok = emu.token("daemon-app", true).await;
    let r = emu
        .get(
            &first("alice@contoso.com", "delta"),
            &tok,
            &[
                "outlook.timezone=\"Pacific Standard Time\", odata.maxpagesize=50",
                "outlook.body-content-type=\"text\"",
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    let applied = r.header("preference-applied").unwrap_or_default();
    assert!(
        applied.contains("outlook.timezone=\"Pacific Standard Time\""),
        "{applied}"
    );
    assert!(applied.contains("odata.maxpagesize=50"), "{applied}");
    let single = r.json["value"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["id"] == "AAMkAGsingle1").cloned())
        .unwrap_or(Value::Null);
    assert_eq!(single["start"]["timeZone"], "Pacific Standard Time");
    assert_eq!(single["start"]["dateTime"], "2026-01-06T01:00:00.0000000");
    assert_eq!(
        single["body"],
        json!({"contentType": "text", "content": "hello"})
    );
    // The follow-up pages keep the pinned options even without the header.
    let link = r.json["@odata.deltaLink"]
        .as_str()
        .unwrap_or("")
        .to_string();
    emu.admin(
        "/_admin/graph/edit",
        json!({"mailbox": "alice@contoso.com", "id": "AAMkAGsingle1", "patch": {"subject": "x"}}),
    )
    .await;
    let r2 = emu.get(&link, &tok, &[]).await;
    assert_eq!(
        r2.json["value"][0]["start"]["timeZone"],
        "Pacific Standard Time"
    );
}

#[tokio::test]
async fn replays_and_empty_pages() {
    let emu = start().await;
    let mut sc = standard_scenario();
    sc["graph"]["knobs"] = json!({"replay_fraction": 0.6, "empty_page_fraction": 0.5});
    emu.scenario(sc).await;
    let tok = emu.token("daemon-app", true).await;
    let (pages, _) = emu
        .round(
            &first("alice@contoso.com", "delta"),
            &tok,
            &["odata.maxpagesize=3"],
        )
        .await;
    let all = ids(&items(&pages));
    let unique: HashSet<&String> = all.iter().collect();
    assert!(
        all.len() > unique.len(),
        "some item is replayed within the round: {all:?}"
    );
    assert_eq!(unique.len(), 5);
    let empty_with_next = pages.iter().any(|p| {
        p["value"].as_array().map(|a| a.is_empty()).unwrap_or(false)
            && p["@odata.nextLink"].is_string()
    });
    assert!(empty_with_next, "an empty page carrying a nextLink");
    // Retrying the same nextLink gives the same page.
    let r = emu
        .get(
            &first("alice@contoso.com", "delta"),
            &tok,
            &["odata.maxpagesize=3"],
        )
        .await;
    if let Some(next) = r.json["@odata.nextLink"].as_str() {
        let a = emu.get(next, &tok, &["odata.maxpagesize=3"]).await;
        let b = emu.get(next, &tok, &["odata.maxpagesize=3"]).await;
        assert_eq!(a.json["value"], b.json["value"]);
    }
}

#[tokio::test]
async fn expired_tokens() {
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    let tok = emu.token("daemon-app", true).await;
    let (_, link) = emu
        .round(&first("alice@contoso.com", "delta"), &tok, &[])
        .await;
    emu.admin("/_admin/expire-sync-state", json!({})).await;
    let r = emu
        .send(
            emu.http
                .get(&link)
                .bearer_auth(&tok)
                .header("client-request-id", "abc-123"),
        )
        .await;
    assert_eq!(r.status, 410);
    assert_eq!(r.code(), "SyncStateNotFound");
    let inner = &r.json["error"]["innerError"];
    assert!(inner["date"].is_string() && inner["request-id"].is_string());
    assert_eq!(inner["client-request-id"], "abc-123");

    // Injected ExpiredSync faults hit requests that carry a token, not initial ones.
    let r = emu
        .get(
            &first("alice@contoso.com", "delta"),
            &tok,
            &["odata.maxpagesize=1"],
        )
        .await;
    let next = r.json["@odata.nextLink"].as_str().unwrap_or("").to_string();
    emu.faults(json!({"fraction_expired_sync": 1.0})).await;
    let r = emu
        .get(&first("alice@contoso.com", "delta"), &tok, &[])
        .await;
    assert_eq!(r.status, 200);
    let r = emu.get(&next, &tok, &[]).await;
    assert_eq!(r.status, 410);
    emu.faults(json!({})).await;

    // The other reporting styles.
    let (_, link) = emu
        .round(&first("alice@contoso.com", "delta"), &tok, &[])
        .await;
    emu.admin("/_admin/expire-sync-state", json!({})).await;
    emu.knobs(json!({"expired_token_style": "resyncRequired"}))
        .await;
    let r = emu.get(&link, &tok, &[]).await;
    assert_eq!(r.status, 410);
    assert!(
        r.header("location")
            .unwrap_or_default()
            .ends_with("$deltatoken=")
    );
    emu.knobs(json!({"expired_token_style": "invalidDeltaToken"}))
        .await;
    let r = emu.get(&link, &tok, &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "InvalidDeltaToken");
}

// ---- schema check ----

struct Checker {
    root: Value,
    errors: Vec<String>,
}

impl Checker {
    fn def(&self, r: &str) -> Value {
        let name = r.trim_start_matches("#/$defs/");
        self.root["$defs"][name].clone()
    }

    /// True when `v` matches `schema`; records problems when `record`.
    fn check(&mut self, schema: &Value, v: &Value, path: &str, record: bool) -> bool {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let d = self.def(r);
            return self.check(&d, v, path, record);
        }
        if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
            let any = any.clone();
            if any.iter().any(|s| self.check(s, v, path, false)) {
                return true;
            }
            // Re-run the non-null branch to record why.
            if record && let Some(s) = any.iter().find(|s| s.get("type") != Some(&json!("null"))) {
                self.check(s, v, path, true);
            }
            return false;
        }
        if let Some(e) = schema.get("enum").and_then(Value::as_array) {
            let ok = e.contains(v);
            if !ok && record {
                self.errors.push(format!("{path}: {v} not in enum {e:?}"));
            }
            return ok;
        }
        let types: Vec<String> = match schema.get("type") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        if !types.is_empty() {
            let actual = match v {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            let ok = types
                .iter()
                .any(|t| t == actual || (t == "number" && actual == "integer"));
            if !ok {
                if record {
                    self.errors
                        .push(format!("{path}: {actual} where {types:?} expected"));
                }
                return false;
            }
        }
        let mut ok = true;
        if let (Some(props), Some(obj)) = (
            schema.get("properties").and_then(Value::as_object),
            v.as_object(),
        ) {
            let props = props.clone();
            for (k, x) in obj {
                match props.get(k) {
                    Some(s) => ok &= self.check(s, x, &format!("{path}.{k}"), record),
                    None => {
                        // The event type is open in CSDL, but the emulator must not invent properties.
                        ok = false;
                        if record {
                            self.errors
                                .push(format!("{path}.{k}: property not in the schema"));
                        }
                    }
                }
            }
        }
        if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
            let items = items.clone();
            for (i, x) in arr.iter().enumerate() {
                ok &= self.check(&items, x, &format!("{path}[{i}]"), record);
            }
        }
        ok
    }
}

#[tokio::test]
async fn emitted_events_match_the_schema() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/oracles/graph-event.schema.json"
    ))
    .expect("schema");
    let root: Value = serde_json::from_str(&text).expect("schema json");
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    let tok = emu.token("daemon-app", true).await;
    emu.send(
        emu.http
            .patch(emu.url("/v1.0/users/alice@contoso.com/events/AAMkAGsingle1"))
            .bearer_auth(&tok)
            .json(&json!({"singleValueExtendedProperties": [{"id": "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name oneonone", "value": "v1"}]})),
    )
    .await;
    let mut events: Vec<Value> = Vec::new();
    let (pages, _) = emu
        .round(
            &first("alice@contoso.com", "delta"),
            &tok,
            &["outlook.timezone=\"Tokyo Standard Time\""],
        )
        .await;
    events.extend(items(&pages));
    let cv = emu
        .get(
            &format!("/v1.0/users/alice@contoso.com/calendarView?{WINDOW}&$top=50"),
            &tok,
            &[],
        )
        .await;
    events.extend(cv.json["value"].as_array().cloned().unwrap_or_default());
    for path in [
        "/v1.0/users/alice@contoso.com/events/AAMkAGseries1",
        "/v1.0/users/alice@contoso.com/events?$top=50",
        "/v1.0/users/bob@contoso.com/events?$top=50",
        "/v1.0/users/alice@contoso.com/events/AAMkAGsingle1?$expand=singleValueExtendedProperties($filter=id%20eq%20'String%20{66f5a359-4659-4830-9070-00047ec6ac6e}%20Name%20oneonone')",
    ] {
        let r = emu.get(path, &tok, &[]).await;
        assert_eq!(r.status, 200, "{path}");
        match r.json["value"].as_array() {
            Some(a) => events.extend(a.iter().cloned()),
            None => events.push(r.json.clone()),
        }
    }
    assert!(
        events
            .iter()
            .any(|e| e["singleValueExtendedProperties"].is_array()),
        "expanded extended property present"
    );
    assert!(
        events
            .iter()
            .any(|e| e["@removed"].is_null() && e["type"] == "seriesMaster")
    );
    let event_schema = root["$defs"]["event"].clone();
    let mut checker = Checker {
        root,
        errors: Vec::new(),
    };
    for (i, e) in events.iter().enumerate() {
        checker.check(&event_schema, e, &format!("event[{i}]"), true);
    }
    assert!(
        checker.errors.is_empty(),
        "schema violations: {:#?}",
        checker.errors
    );

    // The checker itself catches wrong enum case and unknown properties.
    let mut bad = events
        .iter()
        .find(|e| e["showAs"].is_string())
        .cloned()
        .unwrap_or(Value::Null);
    bad["showAs"] = json!("Busy");
    bad["subjectt"] = json!("typo");
    let mut c2 = Checker {
        root: checker.root.clone(),
        errors: Vec::new(),
    };
    c2.check(&event_schema, &bad, "bad", true);
    assert_eq!(c2.errors.len(), 2, "{:?}", c2.errors);
}

#[tokio::test]
async fn overrun_loop_and_silent_delete_knobs() {
    let emu = start().await;
    let mut sc = standard_scenario();
    sc["graph"]["knobs"] = json!({"page_overrun": true});
    emu.scenario(sc).await;
    let tok = emu.token("daemon-app", true).await;
    let prefer = ["odata.maxpagesize=2"];
    // Overrun: the page with the series' first occurrence also carries its later one (3 > 2),
    // and a later page repeats it.
    let (pages, _) = emu
        .round(&first("alice@contoso.com", "delta"), &tok, &prefer)
        .await;
    let sizes: Vec<usize> = pages
        .iter()
        .map(|p| p["value"].as_array().map_or(0, Vec::len))
        .collect();
    assert!(sizes.iter().any(|n| *n > 2), "{sizes:?}");
    let all = ids(&items(&pages));
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), 5);
    assert!(all.len() > unique.len(), "a repeated id: {all:?}");
    // nextLink loop: the link points back at the same page, with the same payload.
    emu.knobs(json!({"page_overrun": false, "nextlink_loop_fraction": 1.0}))
        .await;
    let a = emu
        .get(&first("alice@contoso.com", "delta"), &tok, &prefer)
        .await;
    let next = a.json["@odata.nextLink"].as_str().unwrap_or("").to_string();
    let b = emu.get(&next, &tok, &prefer).await;
    assert_eq!(a.json["value"], b.json["value"]);
    assert_eq!(b.json["@odata.nextLink"].as_str(), Some(next.as_str()));
    // Silent delete: deleting an occurrence leaves delta with nothing to report.
    emu.knobs(json!({"nextlink_loop_fraction": 0.0, "silent_occurrence_delete_fraction": 1.0}))
        .await;
    let (pages, link) = emu
        .round(&first("alice@contoso.com", "delta"), &tok, &[])
        .await;
    let occurrence = items(&pages)
        .into_iter()
        .rev()
        .find(|i| i["type"] == "occurrence")
        .and_then(|i| i["id"].as_str().map(String::from))
        .unwrap_or_default();
    let r = emu
        .send(
            emu.http
                .delete(emu.url(&format!(
                    "/v1.0/users/alice@contoso.com/events/{occurrence}"
                )))
                .bearer_auth(&tok),
        )
        .await;
    assert_eq!(r.status, 204);
    let (pages, _) = emu.round(&link, &tok, &[]).await;
    assert_eq!(items(&pages), Vec::<Value>::new(), "no signal at all");
    // The occurrence is gone all the same.
    let r = emu
        .get(
            &format!("/v1.0/users/alice@contoso.com/events/{occurrence}"),
            &tok,
            &[],
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn a_token_expiring_mid_paging_gives_401() {
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    let tok = emu.token("daemon-app", true).await;
    let r = emu
        .get(
            &first("alice@contoso.com", "delta"),
            &tok,
            &["odata.maxpagesize=2"],
        )
        .await;
    let next = r.json["@odata.nextLink"].as_str().unwrap_or("").to_string();
    // Two hours later (emulator time) the one-hour token is dead; the nextLink needs a new one.
    emu.admin("/_admin/scenario", json!({"now": "2026-01-05T14:00:00Z"}))
        .await;
    let r = emu.get(&next, &tok, &["odata.maxpagesize=2"]).await;
    assert_eq!((r.status, r.code()), (401, "InvalidAuthenticationToken"));
    let fresh = emu.token("daemon-app", true).await;
    let r = emu.get(&next, &fresh, &["odata.maxpagesize=2"]).await;
    assert_eq!(r.status, 200, "{}", r.json);
}
