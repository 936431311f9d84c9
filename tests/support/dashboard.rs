//! The dashboard tests' fixtures: three pairs with histories, findings and action items in a
//! store, served on the public listener (with sign-in against a real OpenID provider, when asked)
//! and the admin listener, at a fixed time.
#![allow(dead_code)]
use crate::oidc;
use chrono::{DateTime, Duration, TimeZone, Utc};
use oneonone::domain::agenda::{AgendaItem, ItemKind, Section};
use oneonone::domain::rules::ActiveFinding;
use oneonone::domain::{
    Cadence, CancellationPolicy, Enforce, Occurrence, OccurrenceStatus, Pair, meeting_key,
};
use oneonone::store::Store;
use oneonone::web::{SignIn, WebState, admin_router, pair_url, serve};
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use std::sync::{Arc, RwLock};

pub const ANN_BOB: &str = "ann@x.org~bob@x.org";
pub const ANN_CY: &str = "ann@x.org~cy@x.org";
/// A report whose address is hostile to HTML and to spreadsheets.
pub const HOSTILE_REPORT: &str = "=2+5,\"<b>eve</b>\"@x.org";
pub const ADMIN: &str = "root@x.org";
pub const HOSTILE_TITLE: &str = "<script>alert('title')</script> 1:1";
pub const HOSTILE_REASON: &str = "declined by <img src=x onerror=alert(1)>@x.org";

pub fn dan_eve() -> String {
    format!("dan@x.org~{HOSTILE_REPORT}")
}

/// Monday 30 Nov 2026, 12:00 UTC.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

/// The Monday 10:00 UTC `weeks` before now's (negative: after).
pub fn monday(weeks: i64) -> DateTime<Utc> {
    now() - Duration::hours(2) - Duration::weeks(weeks)
}

pub fn pair(id: &str) -> Pair {
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

pub fn occ(
    pair_id: &str,
    weeks: i64,
    status: OccurrenceStatus,
    reason: Option<&str>,
) -> Occurrence {
    Occurrence {
        pair_id: pair_id.into(),
        account: "local".into(),
        meeting: meeting_key("series", Some(monday(weeks))),
        series: Some("series".into()),
        title: HOSTILE_TITLE.into(),
        start: monday(weeks),
        end: monday(weeks) + Duration::minutes(30),
        status,
        cancel_reason: reason.map(str::to_string),
        last_seen: monday(weeks),
        one_on_one: true,
        seen_in: Vec::new(),
        agenda: None,
    }
}

pub fn finding(pair_id: &str, kind: &str) -> ActiveFinding {
    ActiveFinding {
        pair_id: pair_id.into(),
        key: kind.into(),
        kind: kind.into(),
        severity: "warning".into(),
        message: "3 1:1s in a row cancelled or declined".into(),
        occurrence: None,
        first_seen: now(),
        notified_at: None,
        level: 1,
        notified_level: 0,
        details: Vec::new(),
    }
}

pub fn action_item(pair_id: &str, id: &str, done: bool) -> AgendaItem {
    AgendaItem {
        id: id.into(),
        pair_id: pair_id.into(),
        kind: ItemKind::ActionItem,
        section: Section::ActionItems,
        text: "Draft the promo packet".into(),
        origin_meeting: meeting_key("series", Some(monday(1))),
        origin_start: monday(1),
        done_at: done.then(now),
        created_at: monday(1),
        ..AgendaItem::default()
    }
}

/// The three pairs' histories: ann~bob failing (held, held, cancelled, declined, cancelled, and
/// before them nothing since one held 13 weeks ago, just before the dashboard's window, so the
/// slots between are missing), ann~cy healthy (13 held, one upcoming, two open action items), dan~eve at
/// risk (10 of 13 held, one declined with a hostile reason).
pub fn seed(store: &Store) {
    use OccurrenceStatus::{Cancelled, Held, Scheduled};
    let ab = [
        occ(ANN_BOB, 13, Held, None),
        occ(ANN_BOB, 4, Held, None),
        occ(ANN_BOB, 3, Held, None),
        occ(ANN_BOB, 2, Cancelled, Some("cancelled by ann@x.org")),
        occ(ANN_BOB, 1, Cancelled, Some("declined by bob@x.org")),
        occ(ANN_BOB, 0, Cancelled, Some("cancelled by ann@x.org")),
    ];
    store
        .update_occurrences(ANN_BOB, &ab, &[])
        .expect("history");
    store
        .set_findings(ANN_BOB, &[finding(ANN_BOB, "repeated_cancellations")])
        .expect("findings");
    let mut ac: Vec<_> = (0..=12).map(|w| occ(ANN_CY, w, Held, None)).collect();
    ac.push(occ(ANN_CY, -1, Scheduled, None));
    store.update_occurrences(ANN_CY, &ac, &[]).expect("history");
    let items = [
        action_item(ANN_CY, "i1", false),
        action_item(ANN_CY, "i2", false),
        action_item(ANN_CY, "i3", true),
    ];
    store.put_agenda_items(ANN_CY, &items).expect("items");
    let de = dan_eve();
    let mut history: Vec<_> = (0..=12)
        .filter(|w| ![4, 7, 9].contains(w))
        .map(|w| occ(&de, w, Held, None))
        .collect();
    history.push(occ(&de, 7, Cancelled, Some(HOSTILE_REASON)));
    history.push(occ(&de, -1, Scheduled, None));
    store
        .update_occurrences(&de, &history, &[])
        .expect("history");
    for p in [ANN_BOB, ANN_CY, de.as_str()] {
        store.ensure_pair_link(p).expect("link");
    }
}

pub struct Server {
    pub public: String,
    pub admin: String,
    pub store: Store,
    pub client: reqwest::Client,
    _oidc: Option<oidc::Child>,
    _dir: tempfile::TempDir,
}

pub async fn serve_on(app: axum::Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    url
}

/// The two listeners over a seeded store; with sign-in against a real provider when asked.
pub async fn start(with_sign_in: bool) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("db")).expect("store");
    seed(&store);
    let public = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let public_url = format!("http://{}", public.local_addr().expect("addr"));
    let pairs = vec![pair(ANN_BOB), pair(ANN_CY), pair(&dan_eve())];
    let mut state = WebState::new(
        store.clone(),
        Arc::new(RwLock::new(pairs)),
        chrono_tz::UTC,
        public_url.clone(),
        Arc::new(now),
    )
    .with_admins(Arc::new(RwLock::new(vec![ADMIN.to_string()])));
    let mut provider = None;
    if with_sign_in {
        let secret = "dashboard-test-secret";
        let secret_file = dir.path().join("oidc-secret");
        std::fs::write(&secret_file, format!("{secret}\n")).expect("secret");
        let redirect = format!("{public_url}/auth/callback");
        let (child, issuer) = oidc::start_oidc(dir.path(), &redirect, secret);
        let settings = oneonone::config::SignInSettings {
            issuer_url: issuer,
            client_id: oidc::CLIENT_ID.into(),
            client_secret_file: secret_file,
            require_sign_in: true,
            session_lifetime: Duration::days(90),
            allow_unverified_email: false,
        };
        let sign_in = SignIn::new(&settings, &public_url).expect("sign-in");
        state = state.with_sign_in(Arc::new(sign_in));
        provider = Some(child);
    }
    let admin = serve_on(admin_router(state.clone())).await;
    tokio::spawn(serve(public, state, std::future::pending()));
    Server {
        public: public_url,
        admin,
        store,
        client: reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("client"),
        _oidc: provider,
        _dir: dir,
    }
}

pub struct Got {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Server {
    pub async fn get(&self, url: &str, cookie: Option<&str>) -> Got {
        let mut req = self.client.get(url);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let res = req.send().await.expect("GET");
        Got {
            status: res.status(),
            headers: res.headers().clone(),
            body: res.text().await.expect("body"),
        }
    }

    pub async fn json(&self, url: &str, cookie: Option<&str>) -> serde_json::Value {
        let got = self.get(url, cookie).await;
        assert_eq!(got.status, StatusCode::OK, "{url}: {}", got.body);
        serde_json::from_str(&got.body).unwrap_or_else(|e| panic!("{url}: {e}: {}", got.body))
    }

    pub fn link(&self, pair_id: &str) -> String {
        let token = self
            .store
            .pair_link(pair_id)
            .expect("link")
            .expect("a link");
        pair_url(&self.public, &token)
    }
}
