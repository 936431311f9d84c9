//! The collaborative agenda over real HTTP (public listener on 127.0.0.1:0, a temporary store, no
//! sign-in configured, so the capability link is the access): CSRF on every write, rate limiting
//! of unknown tokens, concurrent edits merged or refused, delete/defer/drop/reorder, shared notes
//! (Markdown without raw HTML), goals, private notes needing sign-in, the JSON API, size limits
//! and the Markdown export.
use chrono::{DateTime, Duration, TimeZone, Utc};
use oneonone::domain::{Cadence, CancellationPolicy, Enforce, Occurrence, OccurrenceStatus, Pair};
use oneonone::store::Store;
use oneonone::web::{WebState, agenda_url, pair_url, serve};
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use std::sync::{Arc, RwLock};

const PAIR: &str = "ann@x.org~bob@x.org";

fn start(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0)
        .single()
        .unwrap_or_default()
        + Duration::weeks(n)
}

fn now() -> DateTime<Utc> {
    start(1) + Duration::hours(2)
}

fn pair() -> Pair {
    Pair {
        id: PAIR.into(),
        manager: "ann@x.org".into(),
        report: "bob@x.org".into(),
        account: "local".into(),
        cadence: Cadence::Weeks(1),
        duration: Duration::minutes(30),
        enforce: Enforce::Warn,
        cancellations: CancellationPolicy {
            max_consecutive: 2,
            max_in_window: 3,
            window: Duration::weeks(8),
        },
        timezone: chrono_tz::UTC,
        working_hours: Default::default(),
    }
}

fn occurrence(n: i64, status: OccurrenceStatus) -> Occurrence {
    Occurrence {
        pair_id: PAIR.into(),
        account: "local".into(),
        meeting: format!("w{n}"),
        series: Some("series".into()),
        title: "Ann / Bob weekly".into(),
        start: start(n),
        end: start(n) + Duration::minutes(30),
        status,
        cancel_reason: None,
        last_seen: start(n),
        one_on_one: true,
        seen_in: Vec::new(),
        agenda: None,
    }
}

struct Server {
    base: String,
    store: Store,
    client: reqwest::Client,
    /// Doc tokens of occurrences 0 (held), 1 (held) and 2 (scheduled).
    docs: Vec<String>,
    link: String,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("db")).expect("store");
    let history: Vec<_> = [
        OccurrenceStatus::Held,
        OccurrenceStatus::Held,
        OccurrenceStatus::Scheduled,
    ]
    .iter()
    .enumerate()
    .map(|(n, s)| occurrence(n as i64, *s))
    .collect();
    store
        .update_occurrences(PAIR, &history, &[])
        .expect("history");
    let docs = (0..3)
        .map(|n| {
            store
                .ensure_agenda_doc(PAIR, &format!("w{n}"), start(n), now())
                .expect("doc")
                .token
        })
        .collect();
    let link = store.ensure_pair_link(PAIR).expect("link");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let state = WebState::new(
        store.clone(),
        Arc::new(RwLock::new(vec![pair()])),
        chrono_tz::UTC,
        base.clone(),
        Arc::new(now),
    );
    tokio::spawn(serve(listener, state, std::future::pending()));
    Server {
        base,
        store,
        client: reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("client"),
        docs,
        link,
        _dir: dir,
    }
}

fn csrf_of(body: &str) -> String {
    body.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
        .to_string()
}

impl Server {
    fn doc(&self, n: usize) -> String {
        agenda_url(&self.base, &self.docs[n])
    }

    async fn get(&self, url: &str) -> (StatusCode, String) {
        let res = self.client.get(url).send().await.expect("GET");
        (res.status(), res.text().await.expect("body"))
    }

    async fn csrf(&self) -> String {
        csrf_of(&self.get(&self.doc(2)).await.1)
    }

    /// POST a form to `path` under doc `n`, with the CSRF token.
    async fn post(&self, n: usize, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let csrf = self.csrf().await;
        let mut form = form.to_vec();
        form.push(("csrf", &csrf));
        let res = self
            .client
            .post(format!("{}{path}", self.doc(n)))
            .form(&form)
            .send()
            .await
            .expect("POST");
        (res.status(), res.text().await.expect("body"))
    }

    async fn add(&self, n: usize, text: &str) -> String {
        let (status, body) = self
            .post(
                n,
                "/items",
                &[
                    ("kind", "talking_point"),
                    ("section", "growth"),
                    ("text", text),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        self.item(text).id
    }

    fn item(&self, text: &str) -> oneonone::domain::agenda::AgendaItem {
        self.store
            .agenda_items(PAIR)
            .expect("items")
            .into_iter()
            .find(|i| i.text == text)
            .unwrap_or_else(|| panic!("no item {text:?}"))
    }
}

#[tokio::test]
async fn every_write_needs_the_csrf_token_and_a_same_site_request() {
    let s = server().await;
    let url = format!("{}/items", s.doc(2));
    let form = [
        ("kind", "talking_point"),
        ("section", "growth"),
        ("text", "forged"),
    ];
    let res = s.client.post(&url).form(&form).send().await.expect("POST");
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "no token");
    let mut with_wrong = form.to_vec();
    with_wrong.push(("csrf", "00ff"));
    let res = s
        .client
        .post(&url)
        .form(&with_wrong)
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "wrong token");
    let csrf = s.csrf().await;
    let mut good = form.to_vec();
    good.push(("csrf", &csrf));
    let res = s
        .client
        .post(&url)
        .header("sec-fetch-site", "cross-site")
        .form(&good)
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "from another site");
    assert!(
        s.store.agenda_items(PAIR).expect("items").is_empty(),
        "nothing stored"
    );
    let res = s.client.post(&url).form(&good).send().await.expect("POST");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(s.store.agenda_items(PAIR).expect("items").len(), 1);
}

#[tokio::test]
async fn unknown_tokens_are_rate_limited_per_client() {
    let s = server().await;
    let guess = |i: usize| agenda_url(&s.base, &format!("{i:032x}"));
    for i in 0..oneonone::web::MAX_MISSES as usize {
        let res = s
            .client
            .get(guess(i))
            .header("x-forwarded-for", "198.51.100.7")
            .send()
            .await
            .expect("GET");
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "guess {i}");
    }
    // Now even a real link is refused to that client, with a Retry-After …
    let res = s
        .client
        .get(s.doc(1))
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(retry > 0 && retry <= 600, "{retry}");
    // … while other clients are served.
    let res = s
        .client
        .get(s.doc(1))
        .header("x-forwarded-for", "198.51.100.8")
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn concurrent_edits_merge_by_field_and_conflicts_are_refused_with_both_texts() {
    let s = server().await;
    let (status, _) = s
        .post(
            2,
            "/items",
            &[("kind", "action_item"), ("text", "Draft"), ("owner", "bob")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let id = s.item("Draft").id;
    let path = format!("/items/{id}/edit");
    let base = [
        ("version", "0"),
        ("base_text", "Draft"),
        ("base_owner", "bob"),
        ("base_due", ""),
        ("base_section", "action_items"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut f: Vec<(&str, &str)> = base.to_vec();
        f.extend_from_slice(extra);
        f
    };
    // Ann changes the text, Bob (still at version 0) the owner and due date: both kept.
    let (status, _) = s
        .post(
            2,
            &path,
            &with(&[
                ("text", "Draft the packet"),
                ("owner", "bob"),
                ("section", "action_items"),
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = s
        .post(
            2,
            &path,
            &with(&[
                ("text", "Draft"),
                ("owner", "ann"),
                ("due", "2026-11-30"),
                ("section", "action_items"),
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "merged");
    let item = s.item("Draft the packet");
    assert_eq!(item.owner.as_deref(), Some("ann"));
    assert_eq!(
        item.due.map(|d| d.to_string()).as_deref(),
        Some("2026-11-30")
    );
    assert_eq!(item.version, 2);
    // A third edit from version 0 changing the text differently is a conflict: 409, both shown.
    let (status, body) = s
        .post(
            2,
            &path,
            &with(&[
                ("text", "Draft it by Friday"),
                ("owner", "bob"),
                ("section", "action_items"),
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body.contains("Draft the packet") && body.contains("Draft it by Friday"),
        "{body}"
    );
    assert!(
        body.contains("name=\"version\" value=\"2\""),
        "resubmittable at the current version"
    );
    assert_eq!(
        s.item("Draft the packet").version,
        2,
        "nothing was overwritten"
    );
    // Deleting from a stale version is refused too; from the current one it works.
    let (status, _) = s
        .post(2, &format!("/items/{id}/delete"), &[("version", "1")])
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = s
        .post(2, &format!("/items/{id}/delete"), &[("version", "2")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(s.store.agenda_items(PAIR).expect("items").is_empty());
}

#[tokio::test]
async fn defer_drop_and_reorder() {
    let s = server().await;
    let a = s.add(2, "First").await;
    let b = s.add(2, "Second").await;
    let (_, body) = s.get(&s.doc(2)).await;
    assert!(body.find("First") < body.find("Second"));
    let (status, _) = s.post(2, &format!("/items/{b}/up"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, body) = s.get(&s.doc(2)).await;
    assert!(body.find("Second") < body.find("First"), "moved up");

    let (status, _) = s.post(2, &format!("/items/{a}/defer"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, body) = s.get(&s.doc(2)).await;
    assert!(body.contains("deferred to the next 1:1"), "{body}");
    assert!(body.contains("Undo defer"));
    assert_eq!(s.item("First").deferred.len(), 1);

    let (status, body) = s
        .post(2, &format!("/items/{b}/drop"), &[("reason", " ")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("<code>reason</code>"), "{body}");
    let (status, _) = s
        .post(
            2,
            &format!("/items/{b}/drop"),
            &[("reason", "not needed now")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, body) = s.get(&s.doc(2)).await;
    assert!(body.contains("dropped: not needed now"), "{body}");
    let dropped = s.item("Second");
    assert_eq!(dropped.drop_reason.as_deref(), Some("not needed now"));
    assert_eq!(dropped.done_in.as_deref(), Some("w2"));
}

#[tokio::test]
async fn shared_notes_render_markdown_safely_and_merge() {
    let s = server().await;
    let notes = "**Launch** went well\n\n<script>alert(1)</script> [x](javascript:alert(1))";
    let (status, _) = s
        .post(
            1,
            "/notes",
            &[
                ("version", "0"),
                ("base_notes", ""),
                ("base_decisions", ""),
                ("notes", notes),
                ("decisions", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, body) = s.get(&s.doc(1)).await;
    assert!(body.contains("<strong>Launch</strong>"), "{body}");
    assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!body.contains("<script>alert") && !body.contains("href=\"javascript:"));
    // From version 0, someone adds decisions (notes untouched): merged.
    let (status, _) = s
        .post(
            1,
            "/notes",
            &[
                ("version", "0"),
                ("base_notes", ""),
                ("base_decisions", ""),
                ("notes", ""),
                ("decisions", "Ship it"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let saved = s.store.shared_notes(PAIR).expect("notes");
    assert_eq!(saved.len(), 1);
    assert_eq!(
        (saved[0].notes.as_str(), saved[0].decisions.as_str()),
        (notes, "Ship it")
    );
    // From version 0, someone else rewrites the notes: a conflict, nothing lost.
    let (status, body) = s
        .post(
            1,
            "/notes",
            &[
                ("version", "0"),
                ("base_notes", ""),
                ("base_decisions", ""),
                ("notes", "Other notes"),
                ("decisions", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("Other notes") && body.contains("went well"));
    assert_eq!(s.store.shared_notes(PAIR).expect("notes")[0].notes, notes);
    // Size limits name the field.
    let long = "n".repeat(oneonone::web::MAX_NOTES_CHARS + 1);
    let (status, body) = s
        .post(1, "/notes", &[("notes", &long), ("decisions", "")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("<code>notes</code>") && body.contains("at most 20000"),
        "{body}"
    );
}

#[tokio::test]
async fn goals_persist_until_closed_and_stay_in_the_history() {
    let s = server().await;
    let (status, _) = s
        .post(
            0,
            "/goals",
            &[
                ("title", "Lead a design review"),
                ("next_step", "Pick a service"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let goal = s.store.goals(PAIR).expect("goals").remove(0);
    let (status, _) = s
        .post(
            1,
            &format!("/goals/{}/progress", goal.id),
            &[("text", "Shadowed a review")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    for n in [1, 2] {
        let (_, body) = s.get(&s.doc(n)).await;
        assert!(
            body.contains("Lead a design review") && body.contains("Next step: Pick a service"),
            "doc {n}"
        );
    }
    let (status, _) = s.post(1, &format!("/goals/{}/close", goal.id), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, doc1) = s.get(&s.doc(1)).await;
    assert!(doc1.contains("Lead a design review (closed)"), "{doc1}");
    let (_, doc2) = s.get(&s.doc(2)).await;
    assert!(
        !doc2.contains("Lead a design review"),
        "closed goals leave later agendas"
    );
    let (_, page) = s.get(&pair_url(&s.base, &s.link)).await;
    assert!(page.contains("Closed goals") && page.contains("Lead a design review"));
    assert!(
        page.contains("Shadowed a review"),
        "progress in the history"
    );
    // Progress on a goal from a doc where it is not shown is refused.
    let (status, _) = s
        .post(
            2,
            &format!("/goals/{}/progress", goal.id),
            &[("text", "late")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn private_notes_need_sign_in() {
    let s = server().await;
    let (_, body) = s.get(&pair_url(&s.base, &s.link)).await;
    assert!(
        body.contains("Private notes need sign-in, which this server has not set up"),
        "{body}"
    );
    let (status, body) = s.post(2, "/private", &[("text", "secret")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("sign in"));
    let (status, _) = s
        .get(&format!("{}/signin?next=/p/{}", s.base, s.link))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no sign-in configured");
}

#[tokio::test]
async fn the_json_api_adds_edits_and_reports_conflicts() {
    let s = server().await;
    let api = format!("{}/api/items", s.doc(2));
    let listing: serde_json::Value = s
        .client
        .get(&api)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let csrf = listing["csrf"].as_str().unwrap_or_default().to_string();
    assert!(listing["items"].as_array().is_some_and(|a| a.is_empty()));
    let res = s
        .client
        .post(&api)
        .json(&serde_json::json!({"kind": "action_item", "text": "Book the room", "owner": "ann"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "no CSRF header");
    let res = s
        .client
        .post(&api)
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({"kind": "action_item", "text": "Book the room", "owner": "ann", "due": "2026-11-20"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: serde_json::Value = res.json().await.expect("json");
    let id = created["item"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(created["item"]["due"], "2026-11-20");
    let op = |body: serde_json::Value| {
        s.client
            .post(format!("{api}/{id}"))
            .header("x-csrf-token", &csrf)
            .json(&body)
            .send()
    };
    let res = op(serde_json::json!({"op": "edit", "version": 0, "text": "Book the big room"}))
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::OK);
    let res = op(serde_json::json!({"op": "edit", "version": 0, "text": "Book a small room"}))
        .await
        .expect("POST");
    assert_eq!(
        res.status(),
        StatusCode::CONFLICT,
        "stale, no base: refused"
    );
    let conflict: serde_json::Value = res.json().await.expect("json");
    assert_eq!(conflict["current"]["text"], "Book the big room");
    let res = op(serde_json::json!({"op": "done"})).await.expect("POST");
    let done: serde_json::Value = res.json().await.expect("json");
    assert_eq!(done["item"]["done"], true);
    let res = s
        .client
        .post(&api)
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({"kind": "talking_point", "section": "growth", "text": "x".repeat(2001)}))
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let err: serde_json::Value = res.json().await.expect("json");
    assert!(
        err["error"]
            .as_str()
            .is_some_and(|e| e.contains("text") && e.contains("2000")),
        "{err}"
    );
}

#[tokio::test]
async fn the_export_has_the_shared_history() {
    let s = server().await;
    s.add(0, "Career path").await;
    s.post(
        0,
        "/notes",
        &[("notes", "We talked."), ("decisions", "Try the lead role")],
    )
    .await;
    let res = s
        .client
        .get(format!("{}/export.md", pair_url(&s.base, &s.link)))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("attachment") && v.ends_with(".md\""))
    );
    let md = res.text().await.expect("text");
    assert!(md.starts_with("# 1:1s of ann@x.org and bob@x.org"), "{md}");
    assert!(md.contains("## Mon 2 Nov 2026, 10:00 — held"), "{md}");
    assert!(md.contains("- [ ] Career path"), "{md}");
    assert!(md.contains("### Decisions\n\nTry the lead role"), "{md}");
    assert!(
        !md.contains("private notes"),
        "no private notes for a link-only reader"
    );
}

/// A server with sign-in configured against an issuer that is not there (nothing here needs it).
async fn server_with_sign_in(require: bool) -> (Server, String) {
    let s = server().await;
    let secret = s._dir.path().join("secret");
    std::fs::write(&secret, "s3cr3t\n").expect("secret");
    let settings = oneonone::config::SignInSettings {
        issuer_url: "http://127.0.0.1:9".into(),
        client_id: "c".into(),
        client_secret_file: secret,
        require_sign_in: require,
        session_lifetime: Duration::days(1),
        allow_unverified_email: false,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let state = WebState::new(
        s.store.clone(),
        Arc::new(RwLock::new(vec![pair()])),
        chrono_tz::UTC,
        base.clone(),
        Arc::new(now),
    )
    .with_sign_in(Arc::new(
        oneonone::web::SignIn::new(&settings, &base).expect("sign-in"),
    ));
    tokio::spawn(serve(listener, state, std::future::pending()));
    (s, base)
}

#[tokio::test]
async fn require_sign_in_sends_the_link_alone_to_sign_in() {
    let (s, base) = server_with_sign_in(true).await;
    for url in [pair_url(&base, &s.link), agenda_url(&base, &s.docs[1])] {
        let res = s.client.get(&url).send().await.expect("GET");
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{url}");
        let location = res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let path = url.trim_start_matches(&base);
        assert_eq!(location, format!("/signin?next={path}"));
        assert!(!res.text().await.unwrap_or_default().contains("Ann / Bob"));
    }
    // The JSON API says so instead of redirecting.
    let res = s
        .client
        .get(format!("{}/api/items", agenda_url(&base, &s.docs[1])))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Sign-in only ever comes back to this server's agenda pages, and says when the provider is
    // unreachable.
    let res = s
        .client
        .get(format!(
            "{base}/signin?next=https%3A%2F%2Fevil.example%2Fp%2Fx"
        ))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = s
        .client
        .get(format!("{base}/signin?next=%2Fp%2F{}", s.link))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = res.text().await.unwrap_or_default();
    assert!(body.contains("could not be reached"), "{body}");
    assert!(!body.contains("s3cr3t"), "the client secret is never shown");
}

#[tokio::test]
async fn failed_sign_ins_are_rate_limited_and_link_access_still_works_without_require() {
    let (s, base) = server_with_sign_in(false).await;
    let (status, body) = s.get(&pair_url(&base, &s.link)).await;
    assert_eq!(status, StatusCode::OK, "the link alone is enough");
    assert!(
        body.contains("Sign in") && body.contains("to keep notes only you can see"),
        "{body}"
    );
    let callback = format!("{base}/auth/callback?state=forged&code=stolen");
    for i in 0..oneonone::web::MAX_SIGN_IN_FAILURES {
        let res = s
            .client
            .get(&callback)
            .header("cookie", "oneonone_login=another")
            .send()
            .await
            .expect("GET");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "attempt {i}");
    }
    let res = s.client.get(&callback).send().await.expect("GET");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    // A forged session cookie is no session.
    let res = s
        .client
        .get(pair_url(&base, &s.link))
        .header(
            "cookie",
            format!("oneonone_session={}.{}", "a".repeat(64), "b".repeat(64)),
        )
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        !res.text()
            .await
            .unwrap_or_default()
            .contains("Signed in as")
    );
}
