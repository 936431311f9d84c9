//! The agenda web server end to end: real listeners on 127.0.0.1:0 (the public one and the admin
//! one), a temporary store, reqwest.
use chrono::{DateTime, Duration, TimeZone, Utc};
use oneonone::domain::agenda::Section;
use oneonone::domain::{Cadence, CancellationPolicy, Enforce, Occurrence, OccurrenceStatus, Pair};
use oneonone::store::Store;
use oneonone::web::{WebState, admin_router, agenda_url, pair_url, serve};
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use std::sync::{Arc, RwLock};

const PAIR: &str = "ann@x.org~bob@x.org";
const OTHER: &str = "ann@x.org~cy@x.org";

/// Occurrence `n` of the weekly 1:1: Mondays from 2 Nov 2026 10:00 UTC.
fn start(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0)
        .single()
        .unwrap_or_default()
        + Duration::weeks(n)
}

fn now() -> DateTime<Utc> {
    start(1) + Duration::hours(2)
}

fn pair(id: &str) -> Pair {
    let (manager, report) = id.split_once('~').unwrap_or((id, ""));
    Pair {
        id: id.into(),
        manager: manager.into(),
        report: report.into(),
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

fn occurrence(pair_id: &str, n: i64, status: OccurrenceStatus) -> Occurrence {
    Occurrence {
        pair_id: pair_id.into(),
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
    /// The admin listener (status page).
    admin: String,
    store: Store,
    client: reqwest::Client,
    /// Doc tokens of PAIR's occurrences 0..=3, and of OTHER's occurrence 0.
    tokens: Vec<String>,
    other_token: String,
    _dir: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

async fn start_server() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("db")).expect("store");
    // Occurrence 0 held, 1 held (today, earlier), 2 cancelled, 3 scheduled.
    let statuses = [
        OccurrenceStatus::Held,
        OccurrenceStatus::Held,
        OccurrenceStatus::Cancelled,
        OccurrenceStatus::Scheduled,
    ];
    let history: Vec<_> = statuses
        .iter()
        .enumerate()
        .map(|(n, s)| occurrence(PAIR, n as i64, *s))
        .collect();
    store
        .update_occurrences(PAIR, &history, &[])
        .expect("history");
    let mut tokens = Vec::new();
    for n in 0..4 {
        let doc = store
            .ensure_agenda_doc(PAIR, &format!("w{n}"), start(n), now())
            .expect("doc");
        tokens.push(doc.token);
    }
    let other_token = store
        .ensure_agenda_doc(OTHER, "w0", start(0), now())
        .expect("other doc")
        .token;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let state = WebState::new(
        store.clone(),
        Arc::new(RwLock::new(vec![pair(PAIR), pair(OTHER)])),
        chrono_tz::Europe::Berlin,
        format!("{base}/"),
        Arc::new(now),
    );
    let admin_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind admin");
    let admin = format!("http://{}", admin_listener.local_addr().expect("addr"));
    let admin_app = admin_router(state.clone());
    tokio::spawn(async move {
        let _ = axum::serve(admin_listener, admin_app).await;
    });
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = serve(listener, state, async {
            let _ = rx.await;
        })
        .await;
    });
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    Server {
        base,
        admin,
        store,
        client,
        tokens,
        other_token,
        _dir: dir,
        _shutdown: tx,
    }
}

impl Server {
    fn doc_url(&self, n: usize) -> String {
        agenda_url(&self.base, self.tokens.get(n).map_or("", String::as_str))
    }

    async fn get(&self, url: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let res = self.client.get(url).send().await.expect("GET");
        let status = res.status();
        let headers = res.headers().clone();
        (status, headers, res.text().await.expect("body"))
    }

    /// The CSRF token of the forms of the doc a `/a/{token}/…` URL belongs to (from its page).
    async fn csrf_for(&self, url: &str) -> String {
        let token = url
            .split("/a/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("");
        let (_, _, body) = self.get(&agenda_url(&self.base, token)).await;
        csrf_of(&body)
    }

    /// POST a form (with the doc's CSRF token added).
    async fn post(&self, url: &str, form: &[(&str, &str)]) -> (StatusCode, Option<String>, String) {
        let csrf = self.csrf_for(url).await;
        let mut form: Vec<(&str, &str)> = form.to_vec();
        form.push(("csrf", &csrf));
        self.post_raw(url, &form).await
    }

    /// POST a form as given.
    async fn post_raw(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, Option<String>, String) {
        let res = self.client.post(url).form(form).send().await.expect("POST");
        let status = res.status();
        let location = res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        (status, location, res.text().await.expect("body"))
    }

    async fn add(&self, n: usize, form: &[(&str, &str)]) -> (StatusCode, Option<String>, String) {
        self.post(&format!("{}/items", self.doc_url(n)), form).await
    }

    /// The id of PAIR's item with this text.
    fn item_id(&self, text: &str) -> String {
        self.store
            .agenda_items(PAIR)
            .expect("items")
            .into_iter()
            .find(|i| i.text == text)
            .map(|i| i.id)
            .unwrap_or_else(|| panic!("no item {text:?}"))
    }
}

/// The CSRF token in a page's forms.
fn csrf_of(body: &str) -> String {
    body.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
        .to_string()
}

fn assert_security_headers(headers: &reqwest::header::HeaderMap, what: &str) {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(h("cache-control"), "no-store", "{what}");
    assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(h("x-frame-options"), "DENY", "{what}");
    assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
    let csp = h("content-security-policy");
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert!(
        csp.contains("script-src 'self';"),
        "{what}: scripts only from this server: {csp}"
    );
}

#[tokio::test]
async fn unknown_token_is_404_with_headers() {
    let s = start_server().await;
    for url in [
        agenda_url(&s.base, "0123456789abcdef0123456789abcdef"),
        agenda_url(&s.base, "not-even-hex!"),
        format!("{}/nowhere", s.base),
    ] {
        let (status, headers, body) = s.get(&url).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{url}");
        assert!(body.contains("Not found"), "{body}");
        assert_security_headers(&headers, &url);
    }
    let (status, _, _) = s
        .post(
            &format!(
                "{}/items",
                agenda_url(&s.base, "ffffffffffffffffffffffffffffffff")
            ),
            &[
                ("kind", "talking_point"),
                ("section", "growth"),
                ("text", "x"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn health_css_and_status_pages() {
    let s = start_server().await;
    let (status, headers, body) = s.get(&format!("{}/healthz", s.base)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    assert_security_headers(&headers, "healthz");

    let (status, headers, css) = s.get(&format!("{}/static/app.css", s.base)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(css.contains("li.item"));
    assert!(
        headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/css"))
    );

    s.add(
        1,
        &[
            ("kind", "talking_point"),
            ("section", "growth"),
            ("text", "Private topic"),
        ],
    )
    .await;
    // The status page and the API are not on the public listener, whoever asks.
    for path in ["/", "/api/status", "/api/meetings"] {
        let (status, _, body) = s.get(&format!("{}{path}", s.base)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "public {path}");
        assert!(!body.contains("ann@x.org"), "public {path}");
    }
    let (status, headers, body) = s.get(&format!("{}/", s.admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_security_headers(&headers, "status");
    assert!(body.contains("ann@x.org") && body.contains("bob@x.org") && body.contains("cy@x.org"));
    assert!(body.contains("weekly, 30 min"));
    assert!(body.contains("class=\"occ cancelled future\""), "{body}");
    assert!(
        !body.contains("Private topic"),
        "no agenda content on the status page"
    );
    for t in &s.tokens {
        assert!(
            !body.contains(t.as_str()),
            "no agenda token on the status page"
        );
    }
}

#[tokio::test]
async fn doc_shows_pair_time_and_sections_in_order() {
    let s = start_server().await;
    let (status, headers, body) = s.get(&s.doc_url(1)).await;
    assert_eq!(status, StatusCode::OK);
    assert_security_headers(&headers, "doc");
    assert!(body.contains("Ann / Bob weekly"));
    assert!(body.contains("ann@x.org") && body.contains("bob@x.org"));
    // 10:00 UTC on 9 Nov is 11:00 in Berlin.
    assert!(
        body.contains("Monday 9 November 2026, 11:00–11:30 (Europe/Berlin)"),
        "{body}"
    );
    assert!(body.contains("How are you, really?"));
    let order = [
        "Check-in",
        "bob@x.org’s topics",
        "ann@x.org’s topics",
        "Growth and career",
        "Feedback, both ways",
        "Action items",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|h| {
            body.find(&format!("<h2>{h}</h2>"))
                .unwrap_or_else(|| panic!("{h} missing"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert_eq!(
        body.matches("<script").count(),
        body.matches("<script src=\"/static/app.js\" defer>")
            .count(),
        "no inline script: {body}"
    );

    let (_, _, cancelled) = s.get(&s.doc_url(2)).await;
    assert!(cancelled.contains("This meeting was cancelled"));
}

#[tokio::test]
async fn add_item_redirects_and_shows_escaped() {
    let s = start_server().await;
    let evil = "<script>alert('x')</script> & more";
    let (status, location, _) = s
        .add(
            1,
            &[
                ("kind", "talking_point"),
                ("section", "report_topics"),
                ("text", evil),
                ("author", "<b>bob</b>"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some(format!("{}#report_topics", s.doc_url(1).trim_start_matches(&s.base)).as_str())
    );
    let (_, _, body) = s.get(&s.doc_url(1)).await;
    assert!(
        body.contains("&lt;script&gt;alert('x')&lt;/script&gt; &amp; more"),
        "{body}"
    );
    assert!(!body.contains("<script>"));
    assert!(body.contains("added by &lt;b&gt;bob&lt;/b&gt;"));

    let (status, _, _) = s
        .add(
            1,
            &[
                ("kind", "action_item"),
                ("text", "Write the design doc"),
                ("owner", "bob"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let items = s.store.agenda_items(PAIR).expect("items");
    assert_eq!(items.len(), 2);
    let action = items
        .iter()
        .find(|i| i.text == "Write the design doc")
        .expect("action item");
    assert_eq!(action.section, Section::ActionItems);
    assert_eq!(action.owner.as_deref(), Some("bob"));
    assert_eq!(action.origin_meeting, "w1");
    assert_eq!(action.origin_start, start(1));
    assert_eq!(action.created_at, now());
    let (_, _, body) = s.get(&s.doc_url(1)).await;
    assert!(body.contains("Owner: bob"));
}

#[tokio::test]
async fn invalid_input_is_a_400_naming_the_field() {
    let s = start_server().await;
    let long = "x".repeat(2001);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("kind", "talking_point"),
                ("section", "growth"),
                ("text", "  "),
            ],
            "text",
        ),
        (
            vec![("kind", "talking_point"), ("section", "growth")],
            "text",
        ),
        (
            vec![
                ("kind", "talking_point"),
                ("section", "growth"),
                ("text", &long),
            ],
            "text",
        ),
        (
            vec![
                ("kind", "talking_point"),
                ("section", "gossip"),
                ("text", "hi"),
            ],
            "section",
        ),
        (vec![("kind", "talking_point"), ("text", "hi")], "section"),
        (
            vec![
                ("kind", "talking_point"),
                ("section", "action_items"),
                ("text", "hi"),
            ],
            "section",
        ),
        (vec![("kind", "action_item"), ("text", "do it")], "owner"),
        (
            vec![("kind", "action_item"), ("text", "do it"), ("owner", " ")],
            "owner",
        ),
        (vec![("kind", "rumour"), ("text", "hi")], "kind"),
        (vec![("text", "hi")], "kind"),
    ];
    for (form, field) in cases {
        let (status, _, body) = s.add(1, &form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form:?}");
        assert!(
            body.contains(&format!("<code>{field}</code>")),
            "{form:?}: {body}"
        );
    }
    let ok = "y".repeat(2000);
    let (status, _, _) = s
        .add(
            1,
            &[
                ("kind", "talking_point"),
                ("section", "growth"),
                ("text", &ok),
            ],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "exactly 2000 characters is fine"
    );
    assert_eq!(s.store.agenda_items(PAIR).expect("items").len(), 1);
    // Not a form at all.
    let res = s
        .client
        .post(format!("{}/items", s.doc_url(1)))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn tick_done_and_reopen() {
    let s = start_server().await;
    s.add(
        1,
        &[
            ("kind", "action_item"),
            ("text", "Book the training"),
            ("owner", "ann"),
        ],
    )
    .await;
    let id = s.item_id("Book the training");
    let (status, location, _) = s
        .post(&format!("{}/items/{id}/done", s.doc_url(1)), &[])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location,
        Some(format!("/a/{}#item-{id}", s.tokens[1])),
        "back to the item"
    );
    let item = s.store.agenda_item(PAIR, &id).expect("read").expect("item");
    assert_eq!(item.done_in.as_deref(), Some("w1"));
    assert_eq!(item.done_start, Some(start(1)));
    assert_eq!(item.done_at, Some(now()));
    let (_, _, body) = s.get(&s.doc_url(1)).await;
    assert!(body.contains("class=\"item done\""), "{body}");
    assert!(body.contains(&format!("items/{id}/reopen")));

    // Ticking again is harmless.
    let (status, _, _) = s
        .post(&format!("{}/items/{id}/done", s.doc_url(1)), &[])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let (status, _, _) = s
        .post(&format!("{}/items/{id}/reopen", s.doc_url(1)), &[])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let item = s.store.agenda_item(PAIR, &id).expect("read").expect("item");
    assert_eq!(
        (item.done_in, item.done_start, item.done_at),
        (None, None, None)
    );
    let (_, _, body) = s.get(&s.doc_url(1)).await;
    assert!(!body.contains("class=\"item done\""));
    assert!(body.contains(&format!("items/{id}/done")));
}

#[tokio::test]
async fn carry_over_is_visible_in_the_next_docs() {
    let s = start_server().await;
    s.add(
        0,
        &[
            ("kind", "talking_point"),
            ("section", "feedback"),
            ("text", "Retro feedback"),
        ],
    )
    .await;
    s.add(
        2,
        &[
            ("kind", "talking_point"),
            ("section", "growth"),
            ("text", "Future topic"),
        ],
    )
    .await;
    let (_, _, doc0) = s.get(&s.doc_url(0)).await;
    assert!(doc0.contains("Retro feedback") && !doc0.contains("carried over"));
    assert!(
        !doc0.contains("Future topic"),
        "items of later docs stay out of earlier ones"
    );

    let (_, _, doc1) = s.get(&s.doc_url(1)).await;
    assert!(doc1.contains("Retro feedback"));
    assert!(
        doc1.contains("carried over from Mon 2 Nov 2026 · carried 1×"),
        "{doc1}"
    );

    // Occurrence 2 was cancelled: still carried, count unchanged at occurrence 3 is 2 (0 and 1 held).
    let (_, _, doc3) = s.get(&s.doc_url(3)).await;
    assert!(
        doc3.contains("carried over from Mon 2 Nov 2026 · carried 2×"),
        "{doc3}"
    );
    assert!(doc3.contains("Future topic"));
    assert!(doc3.contains("carried over from Mon 16 Nov 2026 · carried 0×"));

    // Done in doc 1: shown done there, gone from doc 3, still open in doc 0's view.
    let id = s.item_id("Retro feedback");
    let (status, _, _) = s
        .post(&format!("{}/items/{id}/done", s.doc_url(1)), &[])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, doc1) = s.get(&s.doc_url(1)).await;
    assert!(doc1.contains("Retro feedback") && doc1.contains("class=\"item done\""));
    let (_, _, doc3) = s.get(&s.doc_url(3)).await;
    assert!(!doc3.contains("Retro feedback"));
    let (_, _, doc0) = s.get(&s.doc_url(0)).await;
    assert!(doc0.contains("Retro feedback") && !doc0.contains("class=\"item done\""));

    // It cannot be reopened from doc 0 (it was done later), nor ticked in doc 3 (not shown there).
    let (status, _, body) = s
        .post(&format!("{}/items/{id}/reopen", s.doc_url(0)), &[])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("<code>item</code>"));
    let (status, _, _) = s
        .post(&format!("{}/items/{id}/done", s.doc_url(3)), &[])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A future item cannot be ticked from an earlier doc.
    let future = s.item_id("Future topic");
    let (status, _, _) = s
        .post(&format!("{}/items/{future}/done", s.doc_url(1)), &[])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn items_of_another_pair_cannot_be_ticked() {
    let s = start_server().await;
    s.add(
        1,
        &[
            ("kind", "talking_point"),
            ("section", "growth"),
            ("text", "Bob only"),
        ],
    )
    .await;
    let id = s.item_id("Bob only");
    let other_doc = agenda_url(&s.base, &s.other_token);
    for action in ["done", "reopen"] {
        let (status, _, body) = s
            .post(&format!("{other_doc}/items/{id}/{action}"), &[])
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{action}");
        assert!(body.contains("<code>item</code>"), "{body}");
    }
    let item = s.store.agenda_item(PAIR, &id).expect("read").expect("item");
    assert_eq!(item.done_in, None);
    let (_, _, body) = s.get(&other_doc).await;
    assert!(
        !body.contains("Bob only"),
        "agendas are private to their pair"
    );
    let (status, _, _) = s
        .post(&format!("{}/items/nope%2F..%2Fx/done", s.doc_url(1)), &[])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn serve_stops_on_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("db")).expect("store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state = WebState::new(
        store,
        Arc::new(RwLock::new(Vec::new())),
        chrono_tz::UTC,
        format!("http://{addr}"),
        Arc::new(now),
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, state, async {
        let _ = rx.await;
    }));
    let body = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .expect("GET /healthz")
        .text()
        .await
        .expect("body");
    assert_eq!(body, "ok");
    tx.send(()).expect("signal shutdown");
    let finished = tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .expect("serve returns after shutdown")
        .expect("serve task");
    assert!(finished.is_ok(), "{finished:?}");
}

#[tokio::test]
async fn the_pair_link_shows_the_next_meeting_and_the_history() {
    let s = start_server().await;
    let link = s.store.ensure_pair_link(PAIR).expect("pair link");
    s.add(
        0,
        &[
            ("kind", "talking_point"),
            ("section", "growth"),
            ("text", "Learning budget"),
        ],
    )
    .await;
    // Now is after occurrence 1; 2 was cancelled, so the next meeting is 3.
    let (status, _, body) = s.get_no_follow(&pair_url(&s.base, &link)).await;
    assert_eq!(status, StatusCode::OK);
    let doc3 = s.tokens.get(3).cloned().unwrap_or_default();
    assert!(body.contains("Next 1:1"), "{body}");
    assert!(
        body.contains("Monday 23 November 2026, 11:00–11:30"),
        "{body}"
    );
    assert!(
        body.contains(&format!("action=\"/a/{doc3}/items\"")),
        "forms act on the next doc"
    );
    assert!(body.contains("name=\"back\" value=\"pair\""));
    assert!(
        body.contains("carried over from Mon 2 Nov 2026 · carried 2×"),
        "the open item carried into the next meeting: {body}"
    );
    // The history lists the earlier meetings, newest first, with their docs and what was on them.
    assert!(body.contains("Earlier 1:1s"));
    // (Occurrence 2, cancelled but still ahead, is not history yet.)
    for t in s.tokens.iter().take(2) {
        assert!(body.contains(&format!("/a/{t}")), "link to {t}");
    }
    let history = body.split("Earlier 1:1s").nth(1).unwrap_or("");
    let (at1, at0) = (
        history.find("Mon 9 Nov 2026").unwrap_or(usize::MAX),
        history.find("Mon 2 Nov 2026").unwrap_or(0),
    );
    assert!(at1 < at0, "newest first");
    assert!(history.contains("Learning budget"));
    assert!(!body.contains(&s.other_token));
    // The doc links back to the pair's page.
    let (_, _, doc) = s.get(&s.doc_url(3)).await;
    assert!(doc.contains(&format!("/p/{link}")), "{doc}");
    assert!(doc.contains("Other meetings"));
    // An unknown or rotated link is a 404; the new one works.
    let (status, _, _) = s.get_no_follow(&pair_url(&s.base, &"0".repeat(32))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let rotated = s.store.replace_pair_link(PAIR).expect("rotate");
    let (status, _, _) = s.get_no_follow(&pair_url(&s.base, &link)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = s.get_no_follow(&pair_url(&s.base, &rotated)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_pair_link_without_a_next_meeting_lists_the_earlier_ones() {
    let s = start_server().await;
    let link = s.store.ensure_pair_link(OTHER).expect("pair link");
    let (status, _, body) = s.get_no_follow(&pair_url(&s.base, &link)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("No upcoming 1:1"), "{body}");
}

impl Server {
    /// GET without following redirects: (status, Location, body).
    async fn get_no_follow(&self, url: &str) -> (StatusCode, Option<String>, String) {
        let res = self.client.get(url).send().await.expect("request");
        let status = res.status();
        let location = res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        (status, location, res.text().await.expect("body"))
    }
}
