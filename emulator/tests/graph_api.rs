//! Graph calendar endpoints over real HTTP: PATCH with If-Match (412), the notification log,
//! transactionId idempotency, cancel, extended properties, instances, getSchedule, errors, and
//! throttling (injected 429/5xx/drops, the 4-concurrent MailboxConcurrency limit, the request budget).
mod graph_support;

use graph_support::{Emu, ids, items, standard_scenario, start};
use serde_json::{Value, json};

const EXT_ID: &str = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name oneonone";

async fn log(emu: &Emu) -> Vec<Value> {
    let v: Value = emu
        .http
        .get(emu.url("/_admin/log"))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    v.as_array().cloned().unwrap_or_default()
}

async fn patch(
    emu: &Emu,
    tok: &str,
    path: &str,
    if_match: Option<&str>,
    body: Value,
) -> graph_support::Resp {
    let mut req = emu.http.patch(emu.url(path)).bearer_auth(tok).json(&body);
    if let Some(m) = if_match {
        req = req.header("If-Match", m);
    }
    emu.send(req).await
}

#[tokio::test]
async fn patch_if_match_and_notification_log() {
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    let tok = emu.token("daemon-app", true).await;
    let path = "/v1.0/users/alice@contoso.com/events/AAMkAGsingle1";
    let ev = emu.get(path, &tok, &[]).await;
    let etag = ev.json["@odata.etag"].as_str().unwrap_or("").to_string();
    assert!(etag.starts_with("W/\""));

    let r = patch(
        &emu,
        &tok,
        path,
        Some("W/\"stale\""),
        json!({"body": {"contentType": "html", "content": "<p>agenda</p>"}}),
    )
    .await;
    assert_eq!(r.status, 412);
    assert_eq!(r.code(), "ErrorIrresolvableConflict");

    let body = json!({"body": {"contentType": "html", "content": "<p>agenda</p>"},
                      "singleValueExtendedProperties": [{"id": EXT_ID, "value": "held"}]});
    let r = patch(&emu, &tok, path, Some(&etag), body).await;
    assert_eq!(r.status, 200, "{}", r.json);
    // Exchange returns an HTML document around the fragment that was written.
    let content = r.json["body"]["content"].as_str().unwrap_or_default();
    assert!(content.starts_with("<html>"), "{content}");
    assert!(
        content.contains("<body>\r\n<p>agenda</p>\r\n</body>"),
        "{content}"
    );
    assert_eq!(r.json["bodyPreview"], "agenda");
    assert_eq!(
        r.json["subject"], "1:1 Alice / Bob",
        "unsupplied properties unchanged"
    );
    assert_eq!(r.json["attendees"].as_array().map(Vec::len), Some(2));
    let new_etag = r.json["@odata.etag"].as_str().unwrap_or("").to_string();
    assert_ne!(new_etag, etag, "etag changes on every write");
    assert!(
        r.json.get("singleValueExtendedProperties").is_none(),
        "extended properties only via $expand"
    );

    // The old etag now conflicts.
    let r = patch(&emu, &tok, path, Some(&etag), json!({"subject": "x"})).await;
    assert_eq!(r.status, 412);

    // Extended property via $expand with $filter, and search via $filter=…/Any(…).
    let expand = format!(
        "{path}?$expand=singleValueExtendedProperties($filter=id%20eq%20'{}')",
        EXT_ID.replace(' ', "%20")
    );
    let r = emu.get(&expand, &tok, &[]).await;
    assert_eq!(
        r.json["singleValueExtendedProperties"],
        json!([{"id": EXT_ID, "value": "held"}])
    );
    let filter = format!(
        "/v1.0/users/alice@contoso.com/events?$filter=singleValueExtendedProperties/Any(ep:%20ep/id%20eq%20'{}'%20and%20ep/value%20eq%20'held')",
        EXT_ID.replace(' ', "%20")
    );
    let r = emu.get(&filter, &tok, &[]).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let found: Vec<&str> = r.json["value"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(found, vec!["AAMkAGsingle1"]);

    // The organizer's PATCH notified attendees; an attendee's PATCH of their copy does not.
    let r = patch(
        &emu,
        &tok,
        "/v1.0/users/bob@contoso.com/events/AAMkAGbobcopy",
        None,
        json!({"categories": ["1:1"]}),
    )
    .await;
    assert_eq!(r.status, 200);
    let writes: Vec<Value> = log(&emu)
        .await
        .into_iter()
        .filter(|e| e["write"] == true)
        .collect();
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert_eq!(writes[0]["notifying"], true);
    assert_eq!(writes[0]["if_match"], true);
    assert_eq!(writes[0]["api"], "graph");
    assert_eq!(writes[1]["notifying"], false);

    // Spurious 412 knob.
    emu.knobs(json!({"spurious_412_fraction": 1.0})).await;
    let r = patch(&emu, &tok, path, None, json!({"subject": "y"})).await;
    assert_eq!(r.status, 412);
}

#[tokio::test]
async fn patching_an_occurrence_makes_an_exception() {
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    let tok = emu.token("daemon-app", true).await;
    let r = emu
        .get(
            "/v1.0/users/alice@contoso.com/events/AAMkAGseries1/instances?startDateTime=2026-01-01T00:00:00Z&endDateTime=2026-03-01T00:00:00Z",
            &tok,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let inst = r.json["value"].as_array().cloned().unwrap_or_default();
    let types: Vec<&str> = inst.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        vec![
            "occurrence",
            "exception",
            "occurrence",
            "occurrence",
            "occurrence"
        ],
        "6 numbered, one deleted: {inst:?}"
    );
    let occ = inst[0]["id"].as_str().unwrap_or("").to_string();
    let r = patch(
        &emu,
        &tok,
        &format!("/v1.0/users/alice@contoso.com/events/{occ}"),
        None,
        json!({"body": {"content": "agenda"}}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["type"], "exception");
    assert_eq!(r.json["id"], occ.as_str());
    assert_eq!(r.json["seriesMasterId"], "AAMkAGseries1");
    // Instances without a window → 400; unknown and malformed ids.
    let r = emu
        .get(
            "/v1.0/users/alice@contoso.com/events/AAMkAGseries1/instances",
            &tok,
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    let r = emu
        .get(
            "/v1.0/users/alice@contoso.com/events/AAMkAGnothere",
            &tok,
            &[],
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "ErrorItemNotFound");
    let r = emu
        .get("/v1.0/users/alice@contoso.com/events/bad%20id!", &tok, &[])
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "ErrorInvalidIdMalformed");
    let r = emu
        .get("/v1.0/users/nobody@contoso.com/events", &tok, &[])
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn transaction_ids_are_idempotent() {
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    let tok = emu.token("daemon-app", true).await;
    let body = json!({"subject": "New 1:1", "transactionId": "tx-1",
        "start": {"dateTime": "2026-01-08T10:00:00.0000000", "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": "2026-01-08T10:30:00.0000000", "timeZone": "Pacific Standard Time"},
        "attendees": [{"emailAddress": {"address": "bob@contoso.com", "name": "Bob"}, "type": "required"}]});
    let url = emu.url("/v1.0/users/alice@contoso.com/events");
    let a = emu
        .send(emu.http.post(&url).bearer_auth(&tok).json(&body))
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    assert_eq!(a.json["transactionId"], "tx-1");
    assert_eq!(a.json["start"]["dateTime"], "2026-01-08T18:00:00.0000000");
    assert_eq!(
        a.json["organizer"]["emailAddress"]["address"],
        "alice@contoso.com"
    );
    assert_eq!(a.json["isOrganizer"], true);
    let b = emu
        .send(emu.http.post(&url).bearer_auth(&tok).json(&body))
        .await;
    assert_eq!(b.status, 201);
    assert_eq!(
        a.json["id"], b.json["id"],
        "identical retry returns the same event"
    );
    let mut other = body.clone();
    other["subject"] = json!("Different");
    let c = emu
        .send(emu.http.post(&url).bearer_auth(&tok).json(&other))
        .await;
    assert_eq!(c.status, 400);
    assert_eq!(c.code(), "ErrorDuplicateTransactionId");
    emu.knobs(json!({"transaction_retry": "conflict"})).await;
    let d = emu
        .send(emu.http.post(&url).bearer_auth(&tok).json(&body))
        .await;
    assert_eq!(d.code(), "ErrorDuplicateTransactionId");
    // Without transactionId, it is null.
    let mut plain = body.clone();
    plain.as_object_mut().map(|o| o.remove("transactionId"));
    let e = emu
        .send(emu.http.post(&url).bearer_auth(&tok).json(&plain))
        .await;
    assert_eq!(e.status, 201);
    assert_eq!(e.json["transactionId"], Value::Null);
    assert_ne!(e.json["id"], a.json["id"]);
}

#[tokio::test]
async fn cancel_by_organizer_and_attendee() {
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    let tok = emu.token("daemon-app", true).await;
    let window = "startDateTime=2026-01-01T00:00:00Z&endDateTime=2026-02-01T00:00:00Z";
    let (_, alice_link) = emu
        .round(
            &format!("/v1.0/users/alice@contoso.com/calendarView/delta?{window}"),
            &tok,
            &[],
        )
        .await;
    let r = emu
        .send(
            emu.http
                .post(emu.url("/v1.0/users/bob@contoso.com/events/AAMkAGbobcopy/cancel"))
                .bearer_auth(&tok)
                .json(&json!({"Comment": "x"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json["error"]["message"],
        "Your request can't be completed. You need to be an organizer to cancel a meeting."
    );
    let r = emu
        .send(
            emu.http
                .post(emu.url("/v1.0/users/alice@contoso.com/events/AAMkAGsingle1/cancel"))
                .bearer_auth(&tok)
                .json(&json!({"Comment": "sorry"})),
        )
        .await;
    assert_eq!(r.status, 202);
    let (pages, _) = emu.round(&alice_link, &tok, &[]).await;
    let got = graph_support::items(&pages);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["id"], "AAMkAGsingle1");
    assert_eq!(got[0]["@removed"]["reason"], "deleted");
    let bob = emu
        .get(
            "/v1.0/users/bob@contoso.com/events/AAMkAGbobcopy",
            &tok,
            &[],
        )
        .await;
    assert_eq!(bob.json["isCancelled"], true);
    assert_eq!(bob.json["isOrganizer"], false);
    assert_eq!(bob.json["responseStatus"]["response"], "accepted");
    let notifying: Vec<Value> = log(&emu)
        .await
        .into_iter()
        .filter(|e| e["notifying"] == true)
        .collect();
    assert_eq!(notifying.len(), 1);
}

#[tokio::test]
async fn calendar_view_paging_and_get_schedule() {
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    let tok = emu.token("alice@contoso.com", false).await;
    let r = emu
        .get("/v1.0/me/calendarView?startDateTime=2025-12-29T12:00:00Z&endDateTime=2026-02-02T12:00:00Z&$top=2", &tok, &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["value"].as_array().map(Vec::len), Some(2));
    let next = r.json["@odata.nextLink"].as_str().unwrap_or("").to_string();
    assert!(
        next.starts_with(&emu.base) && next.contains("$skip=2"),
        "{next}"
    );
    let r2 = emu.get(&next, &tok, &[]).await;
    assert_eq!(r2.json["value"].as_array().map(Vec::len), Some(2));
    // calendarView gives full occurrences (with subject), never masters.
    let all = [
        r.json["value"].as_array().cloned().unwrap_or_default(),
        r2.json["value"].as_array().cloned().unwrap_or_default(),
    ]
    .concat();
    assert!(
        all.iter()
            .all(|e| e["type"] != "seriesMaster" && e["subject"].is_string())
    );

    let body = json!({"schedules": ["alice@contoso.com", "ghost@contoso.com"],
        "startTime": {"dateTime": "2026-01-06T08:00:00", "timeZone": "UTC"},
        "endTime": {"dateTime": "2026-01-06T10:00:00", "timeZone": "UTC"}, "availabilityViewInterval": 30});
    let r = emu
        .send(
            emu.http
                .post(emu.url("/v1.0/me/calendar/getSchedule"))
                .bearer_auth(&tok)
                .json(&body),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["value"][0]["availabilityView"], "0020");
    assert_eq!(
        r.json["value"][0]["scheduleItems"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(r.json["value"][1]["error"]["responseCode"], "5016");
    assert_eq!(r.json["value"][1]["scheduleItems"], Value::Null);
    assert_eq!(
        r.json["value"][0]["scheduleItems"][0]["subject"], "1:1 Alice / Bob",
        "own calendar: details"
    );
    // Someone else's calendar: times and status only.
    let bob = emu.token("bob@contoso.com", false).await;
    let r = emu
        .send(
            emu.http
                .post(emu.url("/v1.0/me/calendar/getSchedule"))
                .bearer_auth(&bob)
                .json(&body),
        )
        .await;
    let item = &r.json["value"][0]["scheduleItems"][0];
    assert_eq!(item["status"], "busy", "{}", r.json);
    assert!(
        item.get("subject").is_none() && item.get("location").is_none(),
        "{item}"
    );
    // At most 62 days and 20 schedules; calendarView at most 1825 days.
    let mut long = body.clone();
    long["endTime"] = json!({"dateTime": "2026-03-10T09:00:00", "timeZone": "UTC"});
    let mut many = body.clone();
    many["schedules"] = json!(
        (0..21)
            .map(|i| format!("u{i}@contoso.com"))
            .collect::<Vec<_>>()
    );
    for (b, code) in [
        (long, "ErrorTimeIntervalTooBig"),
        (many, "ErrorInvalidParameter"),
    ] {
        let r = emu
            .send(
                emu.http
                    .post(emu.url("/v1.0/me/calendar/getSchedule"))
                    .bearer_auth(&tok)
                    .json(&b),
            )
            .await;
        assert_eq!((r.status, r.code()), (400, code), "{}", r.json);
    }
    let r = emu
        .get(
            "/v1.0/me/calendarView?startDateTime=2026-01-01T00:00:00Z&endDateTime=2031-01-01T00:00:00Z",
            &tok,
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "ErrorInvalidRequest"));
}

#[tokio::test]
async fn injected_faults_render_in_graph_envelope() {
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    let tok = emu.token("daemon-app", true).await;
    let path = "/v1.0/users/alice@contoso.com/events/AAMkAGsingle1";
    emu.faults(json!({"fraction_throttle": 1.0})).await;
    let r = emu.get(path, &tok, &[]).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.code(), "TooManyRequests");
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    emu.faults(json!({"fraction_5xx": 1.0})).await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..30 {
        let r = emu.get(path, &tok, &[]).await;
        assert!([500, 503, 504].contains(&r.status), "{}", r.status);
        if r.status == 503 {
            assert!(r.header("retry-after").is_some());
        } else {
            assert_eq!(
                (r.code(), r.json["error"]["message"].as_str()),
                ("UnknownError", Some(""))
            );
        }
        assert!(r.json["error"]["innerError"]["request-id"].is_string());
        seen.insert(r.status);
    }
    assert_eq!(seen.len(), 3, "500, 503 and 504 all occur: {seen:?}");
    emu.faults(json!({"fraction_drop": 1.0})).await;
    let res = emu.http.get(emu.url(path)).bearer_auth(&tok).send().await;
    assert!(res.is_err(), "connection closed without a response");
    emu.faults(json!({})).await;
    let r = emu.get(path, &tok, &[]).await;
    assert_eq!(r.status, 200, "the server survives dropped connections");
}

#[tokio::test]
async fn mailbox_concurrency_limit() {
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    let tok = emu.token("daemon-app", true).await;
    emu.faults(json!({"latency_ms": 400})).await;
    let path = "/v1.0/users/alice@contoso.com/events/AAMkAGsingle1";
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let http = emu.http.clone();
        let url = emu.url(path);
        let tok = tok.clone();
        tasks.push(tokio::spawn(async move {
            let r = http.get(url).bearer_auth(tok).send().await.expect("send");
            let status = r.status().as_u16();
            let retry = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(String::from);
            let v: Value = r.json().await.unwrap_or(Value::Null);
            (status, retry, v)
        }));
    }
    let mut ok = 0;
    let mut throttled = 0;
    for t in tasks {
        let (status, retry, v) = t.await.expect("join");
        match status {
            200 => ok += 1,
            429 => {
                throttled += 1;
                assert_eq!(v["error"]["code"], "ApplicationThrottled");
                assert_eq!(
                    v["error"]["message"],
                    "Application is over its MailboxConcurrency limit."
                );
                assert!(retry.is_some());
            }
            s => panic!("unexpected {s}"),
        }
    }
    assert_eq!((ok, throttled), (4, 2));
    // Another mailbox is not affected; after the burst, alice is admitted again.
    emu.faults(json!({})).await;
    assert_eq!(emu.get(path, &tok, &[]).await.status, 200);
    assert_eq!(
        emu.get("/v1.0/users/bob@contoso.com/events", &tok, &[])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn request_budget_per_ten_minutes() {
    let emu = start().await;
    let mut sc = standard_scenario();
    sc["graph"]["knobs"] = json!({"requests_per_10min": 3});
    emu.scenario(sc).await;
    let tok = emu.token("daemon-app", true).await;
    let path = "/v1.0/users/alice@contoso.com/events";
    for _ in 0..3 {
        assert_eq!(emu.get(path, &tok, &[]).await.status, 200);
    }
    let r = emu.get(path, &tok, &[]).await;
    assert_eq!(r.status, 429);
    // now = 12:00:00, so the window ends in 600 s.
    assert_eq!(r.header("retry-after").as_deref(), Some("600"));
    assert_eq!(
        emu.get("/v1.0/users/bob@contoso.com/events", &tok, &[])
            .await
            .status,
        200
    );
    // Ten minutes of emulator time later, the budget is back.
    emu.scenario({
        let mut s = standard_scenario();
        s["now"] = json!("2026-01-05T12:10:00Z");
        s["graph"]["knobs"] = json!({"requests_per_10min": 3});
        s
    })
    .await;
    assert_eq!(emu.get(path, &tok, &[]).await.status, 200);
}

#[tokio::test]
async fn a_token_for_a_person_provisions_their_mailbox() {
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    let daemon = emu.token("daemon", true).await;
    let dave_events = "/v1.0/users/dave@contoso.com/events";
    let r = emu.get(dave_events, &daemon, &[]).await;
    assert_eq!(
        (r.status, r.code()),
        (404, "ErrorInvalidUser"),
        "{}",
        r.json
    );
    // An app-only token provisions nobody.
    let r = emu.get("/v1.0/users/daemon/events", &daemon, &[]).await;
    assert_eq!(r.status, 404);
    // Minting Dave's token creates his mailbox: empty, usable through /users and /me.
    let dave = emu.token("Dave@contoso.com", false).await;
    let r = emu.get(dave_events, &daemon, &[]).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["value"], json!([]));
    let r = emu.get("/v1.0/me/events", &dave, &[]).await;
    assert_eq!(r.status, 200, "{}", r.json);
    // A client can create its own data there, and sees it in calendarView and delta.
    let body = json!({"subject": "Made by the client",
        "start": {"dateTime": "2026-01-06T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-01-06T10:30:00", "timeZone": "UTC"}});
    let r = emu
        .send(
            emu.http
                .post(emu.url(dave_events))
                .bearer_auth(&daemon)
                .json(&body),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(
        r.json["organizer"]["emailAddress"]["address"],
        "Dave@contoso.com"
    );
    let window = "startDateTime=2026-01-05T00:00:00Z&endDateTime=2026-01-12T00:00:00Z";
    let r = emu
        .get(
            &format!("/v1.0/users/dave@contoso.com/calendarView?{window}"),
            &daemon,
            &[],
        )
        .await;
    assert_eq!(
        ids(&r.json["value"].as_array().cloned().unwrap_or_default()).len(),
        1
    );
    let (pages, _) = emu
        .round(
            &format!("/v1.0/users/dave@contoso.com/calendarView/delta?{window}"),
            &daemon,
            &[],
        )
        .await;
    assert_eq!(items(&pages).len(), 1);
    // getSchedule knows him too.
    let r = emu
        .send(
            emu.http
                .post(emu.url("/v1.0/users/alice@contoso.com/calendar/getSchedule"))
                .bearer_auth(&daemon)
                .json(&json!({"schedules": ["dave@contoso.com"],
                    "startTime": {"dateTime": "2026-01-06T00:00:00", "timeZone": "UTC"},
                    "endTime": {"dateTime": "2026-01-07T00:00:00", "timeZone": "UTC"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(r.json["value"][0].get("error").is_none(), "{}", r.json);
    // Reloading a scenario keeps token holders provisioned (with empty mailboxes) ...
    emu.scenario(standard_scenario()).await;
    let r = emu.get(dave_events, &daemon, &[]).await;
    assert_eq!((r.status, r.json["value"].clone()), (200, json!([])));
    // ... and scenario mailboxes are not replaced by empty ones.
    let alice = emu.token("alice@contoso.com", false).await;
    let r = emu.get("/v1.0/me/events", &alice, &[]).await;
    assert!(
        !r.json["value"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .is_empty()
    );
    // Nobody else appeared.
    let r = emu
        .get("/v1.0/users/erin@contoso.com/events", &daemon, &[])
        .await;
    assert_eq!((r.status, r.code()), (404, "ErrorInvalidUser"));
}

#[tokio::test]
async fn bodies_come_back_as_html_documents() {
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    let tok = emu.token("daemon-app", true).await;
    let path = "/v1.0/users/alice@contoso.com/events/AAMkAGsingle1";
    // A text body comes back as HTML unless text is asked for.
    let r = patch(
        &emu,
        &tok,
        path,
        None,
        json!({"body": {"contentType": "text", "content": "line 1\n<b>line 2</b>"}}),
    )
    .await;
    assert_eq!(r.json["body"]["contentType"], "html");
    let content = r.json["body"]["content"].as_str().unwrap_or_default();
    assert!(
        content.contains("line 1<br>\r\n&lt;b&gt;line 2&lt;/b&gt;"),
        "{content}"
    );
    let r = emu
        .get(path, &tok, &["outlook.body-content-type=\"text\""])
        .await;
    assert_eq!(
        r.json["body"],
        json!({"contentType": "text", "content": "line 1\n<b>line 2</b>"})
    );
    // An unknown outlook.timezone is a 400, not a fallback to UTC.
    let r = emu
        .get(path, &tok, &["outlook.timezone=\"Mars Standard Time\""])
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "TimeZoneNotSupportedException"),
        "{}",
        r.json
    );
}

#[tokio::test]
async fn api_bodies_are_checked_like_graph() {
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    let tok = emu.token("daemon-app", true).await;
    let url = emu.url("/v1.0/users/alice@contoso.com/events");
    let post = |body: Value| emu.http.post(&url).bearer_auth(&tok).json(&body);
    let utc = |dt: &str| json!({"dateTime": dt, "timeZone": "UTC"});
    let ok_start = utc("2026-01-08T10:00:00");
    let ok_end = utc("2026-01-08T10:30:00");
    // The scenario's shorthands are not Graph: relative times, bare strings, attendee shorthand.
    for (body, code) in [
        (
            json!({"start": {"days": 1, "time": "10:00", "timeZone": "UTC"}, "duration_minutes": 30}),
            "RequestBodyRead",
        ),
        (
            json!({"start": ok_start, "end": ok_end, "body": "<p>x</p>"}),
            "RequestBodyRead",
        ),
        (
            json!({"start": ok_start, "end": ok_end, "location": "Room 1"}),
            "RequestBodyRead",
        ),
        (
            json!({"start": ok_start, "end": ok_end, "attendees": [{"address": "bob@contoso.com"}]}),
            "RequestBodyRead",
        ),
        (
            json!({"start": {"dateTime": "2026-01-08T10:00:00"}, "end": ok_end}),
            "TimeZoneNotSupportedException",
        ),
        (
            json!({"start": ok_start, "end": {"dateTime": "2026-01-08T10:30:00", "timeZone": "Mars"}}),
            "TimeZoneNotSupportedException",
        ),
        (json!({"subject": "no times"}), "ErrorInvalidRequest"),
        (
            json!({"start": ok_start, "end": utc("2026-01-08T09:00:00")}),
            "ErrorPropertyValidationFailure",
        ),
    ] {
        let r = emu.send(post(body.clone())).await;
        assert_eq!((r.status, r.code()), (400, code), "{body}: {}", r.json);
    }
    // Read-only parts of a new event are the server's: responses, isCancelled, organizer.
    let r = emu
        .send(post(
            json!({"subject": "New", "start": ok_start, "end": ok_end, "isCancelled": true,
            "organizer": {"emailAddress": {"address": "mallory@contoso.com"}},
            "attendees": [{"type": "required", "status": {"response": "accepted"},
                           "emailAddress": {"address": "bob@contoso.com", "name": "Bob"}}]}),
        ))
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["isCancelled"], false);
    assert_eq!(r.json["attendees"][0]["status"]["response"], "none");
    assert_eq!(
        r.json["organizer"]["emailAddress"]["address"],
        "alice@contoso.com"
    );
    // PATCH: same checks; existing attendees keep their answers, new ones have none.
    let path = "/v1.0/users/alice@contoso.com/events/AAMkAGsingle1";
    let r = patch(&emu, &tok, path, None, json!({"start": {"minutes": 5}})).await;
    assert_eq!((r.status, r.code()), (400, "RequestBodyRead"));
    let r = patch(
        &emu,
        &tok,
        path,
        None,
        json!({"attendees": [
            {"type": "required", "emailAddress": {"address": "bob@contoso.com", "name": "Bob"}},
            {"type": "optional", "status": {"response": "accepted"},
             "emailAddress": {"address": "carol@contoso.com", "name": "Carol"}}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["attendees"][0]["status"]["response"], "accepted");
    assert_eq!(r.json["attendees"][1]["status"]["response"], "none");
}

#[tokio::test]
async fn select_returns_only_the_selected_properties() {
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    let tok = emu.token("daemon-app", true).await;
    let base = "/v1.0/users/alice@contoso.com";
    let r = emu
        .get(
            &format!("{base}/events/AAMkAGsingle1?$select=Subject,start"),
            &tok,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let mut keys: Vec<String> = r
        .json
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    assert_eq!(
        keys,
        vec!["@odata.context", "@odata.etag", "id", "start", "subject"]
    );
    let r = emu
        .get(
            &format!("{base}/events/AAMkAGsingle1?$select=nope"),
            &tok,
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "RequestBroker--ParseUri"));
    let window = "startDateTime=2026-01-01T00:00:00Z&endDateTime=2026-02-01T00:00:00Z";
    for path in [
        format!("{base}/calendarView?{window}&$select=subject"),
        format!("{base}/events?$select=subject"),
        format!("{base}/events/AAMkAGseries1/instances?{window}&$select=subject"),
    ] {
        let r = emu.get(&path, &tok, &[]).await;
        assert_eq!(r.status, 200, "{path}: {}", r.json);
        let items = r.json["value"].as_array().cloned().unwrap_or_default();
        assert!(!items.is_empty(), "{path}");
        assert!(
            items.iter().all(|i| i.get("body").is_none()
                && i["subject"].is_string()
                && i["id"].is_string()),
            "{path}: {items:?}"
        );
    }
    // A master's deleted occurrences, only on $select.
    let r = emu
        .get(
            &format!("{base}/events/AAMkAGseries1?$select=cancelledOccurrences"),
            &tok,
            &[],
        )
        .await;
    assert_eq!(
        r.json["cancelledOccurrences"],
        json!(["OID.AAMkAGseries1.2026-01-19"]),
        "{}",
        r.json
    );
    let r = emu
        .get(&format!("{base}/events/AAMkAGseries1"), &tok, &[])
        .await;
    assert!(r.json.get("cancelledOccurrences").is_none());
}

#[tokio::test]
async fn delegated_scopes_are_enforced() {
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    let token = |user: &'static str, scopes: &'static [&'static str]| {
        let emu = &emu;
        async move {
            emu.admin("/_admin/token", json!({"user": user, "scopes": scopes}))
                .await["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
    };
    let read_only = token("alice@contoso.com", &["Calendars.Read"]).await;
    let path = "/v1.0/me/events/AAMkAGsingle1";
    assert_eq!(emu.get(path, &read_only, &[]).await.status, 200);
    let r = patch(&emu, &read_only, path, None, json!({"subject": "x"})).await;
    assert_eq!((r.status, r.code()), (403, "ErrorAccessDenied"));
    let rw = token(
        "alice@contoso.com",
        &["https://graph.microsoft.com/Calendars.ReadWrite"],
    )
    .await;
    let r = patch(&emu, &rw, path, None, json!({"subject": "x"})).await;
    assert_eq!(r.status, 200, "{}", r.json);
    // Someone else's mailbox needs a .Shared scope (standing in for "shared with me").
    let bob_path = "/v1.0/users/bob@contoso.com/events";
    let r = emu.get(bob_path, &rw, &[]).await;
    assert_eq!((r.status, r.code()), (403, "ErrorAccessDenied"));
    let shared = token("alice@contoso.com", &["Calendars.Read.Shared"]).await;
    assert_eq!(emu.get(bob_path, &shared, &[]).await.status, 200);
    // A Google scope is no Graph permission.
    let google = token(
        "alice@contoso.com",
        &["https://www.googleapis.com/auth/calendar"],
    )
    .await;
    assert_eq!(emu.get(path, &google, &[]).await.status, 403);
}

#[tokio::test]
async fn an_unanswered_invitee_sees_not_responded() {
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    let tok = emu.token("daemon-app", true).await;
    let created = emu
        .admin(
            "/_admin/graph/edit",
            json!({"mailbox": "bob@contoso.com", "create": {"subject": "Invite",
                "organizer": {"address": "alice@contoso.com", "name": "Alice"},
                "start": {"days": 2, "time": "09:00", "timeZone": "UTC"}, "duration_minutes": 30,
                "attendees": [{"address": "bob@contoso.com", "name": "Bob"},
                              {"address": "room2@contoso.com", "type": "resource"}]}}),
        )
        .await;
    let id = created["id"].as_str().unwrap_or_default();
    let r = emu
        .get(
            &format!("/v1.0/users/bob@contoso.com/events/{id}"),
            &tok,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["responseStatus"]["response"], "notResponded");
    assert_eq!(r.json["isOrganizer"], false);
    assert_eq!(r.json["attendees"][0]["status"]["response"], "none");
    assert_eq!(r.json["attendees"][1]["type"], "resource");
}
