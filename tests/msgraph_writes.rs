//! Writes of the Microsoft 365 provider through the engine, against the Graph emulator: the
//! agenda block goes into an Outlook/Teams body once, as one inserted fragment (the Teams join
//! section and everything else byte for byte as it was); later cycles write nothing; a person's
//! edit made while the block is being written survives (412 → re-read → re-merge); over ten
//! eventful cycles no series or single event is written twice; a series created in fix mode is
//! made once, in a slot free/busy says is free, even when the answer to its creation is lost.
use chrono::Duration;
use oneonone::domain::Cadence;
use oneonone::providers::{
    BoxFuture, NewSeries, OccurrenceWrite, Progress, Provider, ProviderError, SeriesWrite,
    Snapshot, Window, WriteOutcome,
};
use serde_json::{Value, json};
use std::sync::Arc;

mod msgraph_support;
use msgraph_support::*;

const ALICE_SERIES: &str = "/v1.0/users/alice@contoso.com/events/AAMkAGab";
const CAROL_SINGLE: &str = "/v1.0/users/carol@contoso.com/events/AAMkAGcd";

/// The body without the one fragment oneonone inserted (and the line break before it).
fn without_fragment(body: &str) -> String {
    let Some(start) = body.find("<div class=\"oneonone-agenda\"") else {
        return body.to_string();
    };
    let end_marker = "-- end oneonone agenda --</div>\r\n</div>\r\n";
    let end = body[start..]
        .find(end_marker)
        .map(|e| start + e + end_marker.len());
    let end = end.expect("the fragment ends");
    format!("{}{}", &body[..start], &body[end..])
}

fn body(emu: &Emu, mailbox: &str, id: &str) -> String {
    emu.event(mailbox, id)["body"]["content"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn the_block_is_inserted_once_and_outlook_and_teams_bodies_stay_intact() {
    let emu = Emu::start(21);
    emu.load(&scenario(3, json!({})));
    let env = Env::standard(&emu, "");
    let engine = env.engine();
    let before_series = body(&emu, "alice@contoso.com", "AAMkAGab");
    let before_single = body(&emu, "carol@contoso.com", "AAMkAGcd");
    let r = cycle(&emu, &engine, now());
    assert_eq!(r.writes, 2, "{r}");

    let log = emu.log();
    let patches: Vec<&Value> = log.iter().filter(|e| e["method"] == "PATCH").collect();
    assert_eq!(patches.len(), 2);
    assert!(
        patches
            .iter()
            .all(|e| e["if_match"] == true && e["status"] == 200)
    );
    let mut written = notifying(&log);
    written.sort();
    assert_eq!(written, vec![ALICE_SERIES, CAROL_SINGLE]);

    // The Teams invite: the block is one inserted fragment, every other byte as it was.
    let series = body(&emu, "alice@contoso.com", "AAMkAGab");
    assert_eq!(without_fragment(&series), before_series);
    assert_eq!(before_series, TEAMS);
    assert!(series.contains("<div>-- oneonone agenda --</div>"));
    assert!(series.contains("Agenda for your 1:1s: <a href=\"http://agenda.test/p/"));
    let join = "<a href=\"https://teams.microsoft.com/l/meetup-join/19%3ameeting_NmQ1ZTk4YjMtNDE3OC00YzRmLWI1NjEtMjM0NTY3ODlhYmNk%40thread.v2/0?context=";
    assert!(series.contains(join));
    // After the Teams section, just before </body>.
    assert!(series.find("Reset dial-in PIN") < series.find("-- oneonone agenda --"));
    assert!(series.contains("-- end oneonone agenda --</div>\r\n</div>\r\n</body>"));
    // The single written in Outlook desktop: the link-only block, nothing else changed.
    let single = body(&emu, "carol@contoso.com", "AAMkAGcd");
    assert_eq!(without_fragment(&single), before_single);
    assert!(single.contains("Agenda for this 1:1: <a href=\"http://agenda.test/a/"));
    // Tagged as written by oneonone.
    let props = emu.event("alice@contoso.com", "AAMkAGab")["singleValueExtendedProperties"].clone();
    assert_eq!(props[0]["id"], oneonone::providers::msgraph::PROPERTY);

    // Later cycles find the block (Outlook's copy of it, as read back) and write nothing.
    let n = emu.log().len();
    for k in 1..=3 {
        let r = cycle(&emu, &engine, now() + Duration::minutes(5 * k));
        assert!(!r.failed(), "{r}");
        assert_eq!(r.writes, 0, "{r}");
    }
    let later = since(&emu.log(), n);
    assert!(later.iter().all(|e| e["method"] == "GET"), "{later:?}");
    // Bob's and Dan's copies were never touched.
    assert!(emu.log().iter().all(|e| {
        let p = e["path"].as_str().unwrap_or("");
        e["method"] == "GET" || !(p.contains("bob@") || p.contains("dan@"))
    }));
}

/// Wraps the account's provider: while the series block is being written, the organizer edits the
/// body in Outlook, after oneonone read it and before its PATCH arrives.
struct EditsDuringWrite {
    inner: Arc<dyn Provider>,
    base: String,
    http: reqwest::Client,
}

impl EditsDuringWrite {
    async fn admin(&self, path: &str, body: Value) -> Value {
        self.http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("admin")
            .json()
            .await
            .unwrap_or(Value::Null)
    }

    async fn requests(&self) -> Vec<Value> {
        let v: Value = self
            .http
            .get(format!("{}/_admin/graph/requests", self.base))
            .send()
            .await
            .expect("requests")
            .json()
            .await
            .unwrap_or(Value::Null);
        v.as_array().cloned().unwrap_or_default()
    }

    /// Once oneonone has read the master again (just before its PATCH), edit its body.
    async fn edit_after_the_read(&self, seen: usize) {
        loop {
            let reqs = self.requests().await;
            let read =
                reqs.get(seen..).unwrap_or_default().iter().any(|r| {
                    r["method"] == "GET" && r["path"] == ALICE_SERIES && r["status"] == 200
                });
            if read {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let state: Value = self
            .http
            .get(format!("{}/_admin/state", self.base))
            .send()
            .await
            .expect("state")
            .json()
            .await
            .expect("json");
        let body = state["graph"]["mailboxes"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|m| m["events"].as_array().cloned().unwrap_or_default())
            .find(|e| e["id"] == "AAMkAGab")
            .and_then(|e| e["body"]["content"].as_str().map(String::from))
            .unwrap_or_default();
        let edited = body.replacen("<body>\n", "<body>\n<p>Bring the Q3 numbers.</p>\n", 1);
        assert_ne!(edited, body);
        self.admin(
            "/_admin/graph/edit",
            json!({"mailbox": "alice@contoso.com", "id": "AAMkAGab",
                   "patch": {"body": {"contentType": "html", "content": edited}}}),
        )
        .await;
    }
}

impl Provider for EditsDuringWrite {
    fn account(&self) -> &str {
        self.inner.account()
    }
    fn writes_notify_attendees(&self) -> bool {
        self.inner.writes_notify_attendees()
    }
    fn fetch<'a>(
        &'a self,
        w: Window,
        p: &'a Progress,
    ) -> BoxFuture<'a, Result<Snapshot, ProviderError>> {
        self.inner.fetch(w, p)
    }
    fn write_occurrence<'a>(
        &'a self,
        w: &'a OccurrenceWrite,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        self.inner.write_occurrence(w)
    }
    fn write_series<'a>(
        &'a self,
        w: &'a SeriesWrite,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        Box::pin(async move {
            let seen = self.requests().await.len();
            // Every request now waits a little: the PATCH is admitted only after the edit.
            self.admin("/_admin/faults", json!({"latency_ms": 700}))
                .await;
            let (r, ()) = tokio::join!(self.inner.write_series(w), self.edit_after_the_read(seen));
            self.admin("/_admin/faults", json!({})).await;
            r
        })
    }
    fn create_series<'a>(
        &'a self,
        s: &'a NewSeries,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        self.inner.create_series(s)
    }
}

#[test]
fn a_persons_edit_during_the_write_survives() {
    let emu = Emu::start(22);
    emu.load(&scenario(0, json!({})));
    let env = Env::standard(&emu, "");
    let store = env.store();
    let inner = env.providers(&store).pop().expect("provider");
    let wrapped: Arc<dyn Provider> = Arc::new(EditsDuringWrite {
        inner,
        base: emu.base.clone(),
        http: reqwest::Client::new(),
    });
    let engine = env.engine_with(store, vec![wrapped]);
    let r = cycle(&emu, &engine, now());
    assert!(!r.failed(), "{r}");
    let series = body(&emu, "alice@contoso.com", "AAMkAGab");
    assert!(
        series.contains("<p>Bring the Q3 numbers.</p>"),
        "the edit was lost: {series}"
    );
    assert!(series.contains("-- oneonone agenda --"));
    // The first PATCH met the edit (412), the merge into the edited body went through: one mail.
    let patches: Vec<u64> = emu
        .requests()
        .iter()
        .filter(|r| r["method"] == "PATCH" && r["path"] == ALICE_SERIES)
        .map(|r| r["status"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(patches, vec![412, 200]);
    assert_eq!(
        notifying(&emu.log())
            .iter()
            .filter(|p| *p == ALICE_SERIES)
            .count(),
        1
    );
    // The edit and the block both stay over later cycles.
    let r = cycle(&emu, &engine, now() + Duration::minutes(5));
    assert_eq!(r.writes, 0, "{r}");
    assert_eq!(body(&emu, "alice@contoso.com", "AAMkAGab"), series);
}

#[test]
fn over_ten_eventful_cycles_no_series_or_single_is_written_twice() {
    let emu = Emu::start(23);
    // The first write's answer is lost (it happened); some PATCHes meet a 412 anyway.
    emu.load(&scenario(
        30,
        json!({"lose_write_answers": 1, "spurious_412_fraction": 0.3,
        "replay_fraction": 0.1}),
    ));
    let env = Env::standard(&emu, "");
    let engine = env.engine();
    let mut t = now();
    for k in 0..10 {
        match k {
            2 => {
                // Bob edits his copy's body; Alice edits the subject of the series.
                emu.edit(
                    "bob@contoso.com",
                    "AAMkAGabcopy",
                    json!({"body": {"contentType": "html", "content": "<p>mine</p>"}}),
                );
                emu.edit(
                    "alice@contoso.com",
                    "AAMkAGab",
                    json!({"subject": "1:1 Alice / Bob (weekly)"}),
                );
            }
            3 => {
                // A new single 1:1 of Alice and Bob on Thursday.
                emu.post(
                    "/_admin/graph/edit",
                    &json!({"mailbox": "alice@contoso.com", "create": {
                    "id": "AAMkAGextra", "iCalUId": "UID-EXTRA", "subject": "Extra 1:1",
                    "start": {"days": 6, "time": "14:00", "timeZone": "W. Europe Standard Time"},
                    "duration_minutes": 30, "attendees": [{"address": "bob@contoso.com"}]}}),
                );
            }
            4 => {
                emu.post("/_admin/expire-sync-state", &json!({}));
            }
            5 => {
                // Carol removes the agenda block from her event altogether.
                let b = body(&emu, "carol@contoso.com", "AAMkAGcd");
                emu.edit(
                    "carol@contoso.com",
                    "AAMkAGcd",
                    json!({"body": {"contentType": "html", "content": without_fragment(&b)}}),
                );
            }
            6 => {
                // Alice moves next Monday's occurrence by an hour.
                let occ = format!("AAMkAGab_{}", at("2026-11-30T09:00:00Z").timestamp());
                emu.edit("alice@contoso.com", &occ, json!({"start": {"dateTime": "2026-11-30T11:00:00", "timeZone": "W. Europe Standard Time"},
                    "end": {"dateTime": "2026-11-30T11:30:00", "timeZone": "W. Europe Standard Time"}}));
            }
            _ => {}
        }
        let r = cycle(&emu, &engine, t);
        assert!(!r.failed() || r.write_failures > 0, "cycle {k}: {r}");
        t += Duration::hours(6);
    }
    let written = notifying(&emu.log());
    let mut per_event: std::collections::BTreeMap<&str, usize> = Default::default();
    for p in &written {
        *per_event.entry(p.as_str()).or_default() += 1;
    }
    assert!(per_event.values().all(|n| *n == 1), "{per_event:?}");
    let events: Vec<&str> = per_event.keys().copied().collect();
    assert_eq!(
        events,
        vec![
            "/v1.0/users/alice@contoso.com/events/AAMkAGab",
            "/v1.0/users/alice@contoso.com/events/AAMkAGextra",
            "/v1.0/users/carol@contoso.com/events/AAMkAGcd"
        ]
    );
    // Carol's removal of the block is respected: it is not written again.
    assert!(!body(&emu, "carol@contoso.com", "AAMkAGcd").contains("oneonone agenda"));
}

/// Erin and Frank (fix mode) have no 1:1. Erin works 09:00–11:00 Berlin every day on something
/// only free/busy shows (an event that concerns no pair).
fn fix_scenario(knobs: Value) -> Value {
    json!({"now": NOW, "graph": {"knobs": knobs,
    "apps": [{"client_id": "daemon", "client_secret": SECRET}],
    "mailboxes": [
        {"address": "erin@contoso.com", "name": "Erin", "timeZone": "W. Europe Standard Time", "events": [
            {"id": "AAMkAGdeep", "subject": "Deep work", "showAs": "busy",
             "start": {"days": -30, "time": "09:00", "timeZone": "W. Europe Standard Time"}, "duration_minutes": 120,
             "recurrence": {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "noEnd"}}}]},
        {"address": "frank@contoso.com", "name": "Frank", "timeZone": "GMT Standard Time", "events": [
            {"id": "AAMkAGlunchf", "subject": "Lunch", "start": {"days": 1, "time": "12:00", "timeZone": "UTC"}, "duration_minutes": 30}]}
    ]}})
}

fn fix_env(emu: &Emu) -> Env {
    Env::new(&format!(
        "{}{}",
        account_toml(emu, "m365", "daemon", "m365-secret"),
        pair_toml(
            "erin@contoso.com",
            "frank@contoso.com",
            "m365",
            "enforce = \"fix\"\ncadence = \"biweekly\"\n"
        )
    ))
}

fn created(emu: &Emu) -> Vec<Value> {
    emu.events("erin@contoso.com")
        .into_iter()
        .filter(|e| {
            e["subject"]
                .as_str()
                .is_some_and(|s| s.starts_with("1:1 erin"))
        })
        .collect()
}

#[test]
fn fix_mode_creates_the_series_once_in_a_free_slot_even_when_the_answer_is_lost() {
    let emu = Emu::start(24);
    emu.load(&fix_scenario(json!({"lose_write_answers": 1})));
    let env = fix_env(&emu);
    let engine = env.engine();
    let r = cycle(&emu, &engine, now());
    assert!(!r.failed(), "{r} {:?}", r.unreadable);
    let log = emu.log();
    assert!(
        log.iter()
            .any(|e| e["path"] == "/v1.0/users/erin@contoso.com/calendar/getSchedule")
    );
    // The POST was applied and its answer lost; the retry carried the same transactionId and got
    // the same event: one series.
    let posts: Vec<&Value> = log
        .iter()
        .filter(|e| e["method"] == "POST" && e["path"] == "/v1.0/users/erin@contoso.com/events")
        .collect();
    assert_eq!(posts.len(), 2, "{posts:?}");
    let made = created(&emu);
    assert_eq!(made.len(), 1, "{made:?}");
    let s = &made[0];
    // Monday 23 November, the first slot free for both: after Erin's deep work (09:00–11:00).
    assert_eq!(s["start"]["dateTime"], "2026-11-23T10:00:00.0000000");
    assert_eq!(s["start"]["timeZone"], "UTC");
    assert_eq!(s["recurrence"]["pattern"]["type"], "weekly");
    assert_eq!(s["recurrence"]["pattern"]["interval"], 2);
    assert_eq!(
        s["recurrence"]["range"]["recurrenceTimeZone"],
        "W. Europe Standard Time"
    );
    let key = s["singleValueExtendedProperties"][0]["value"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(key.starts_with("oneonone-"), "{s}");
    assert_eq!(
        s["transactionId"],
        oneonone::providers::msgraph::transaction_id(&key)
    );
    // It carries the pair's link from the start: the invitation is its one mail.
    let b = s["body"]["content"].as_str().unwrap_or("");
    assert!(
        b.contains("Agenda for your 1:1s: <a href=\"http://agenda.test/p/"),
        "{b}"
    );
    let mails = |emu: &Emu| notifying(&emu.log()).len();
    assert_eq!(mails(&emu), 1);

    // Later cycles: the series is seen, nothing is created or written again.
    for k in 1..=3 {
        let r = cycle(&emu, &engine, now() + Duration::hours(k));
        assert_eq!(r.writes, 0, "{r}");
    }
    assert_eq!(mails(&emu), 1);

    // After a crash that lost everything (a fresh state directory), creating the same series again
    // finds it by its key instead of making a second one.
    let fresh = fix_env(&emu);
    let store = fresh.store();
    let provider = fresh.providers(&store).pop().expect("provider");
    let first = at("2026-11-23T10:00:00Z").with_timezone(&chrono_tz::Europe::Berlin);
    let again = NewSeries {
        key: key.clone(),
        title: "1:1 erin / frank".into(),
        organizer: "erin@contoso.com".into(),
        attendee: "frank@contoso.com".into(),
        first_start: first,
        duration: Duration::minutes(30),
        cadence: Cadence::Weeks(2),
        description: String::new(),
    };
    let outcome = emu.rt.block_on(provider.create_series(&again));
    assert_eq!(outcome.ok(), Some(WriteOutcome::Unchanged));
    assert_eq!(created(&emu).len(), 1);
    assert_eq!(mails(&emu), 1);
}
