//! The agenda pages in a real browser: Debian's Chromium driven by `playwright-core`
//! (`tests/browser/agenda.mjs`), sign-in against a real OpenID provider (`oidc-provider`, run by
//! `tests/browser/oidc-server.mjs`), and this harness around them: a vdir with the pair's weekly
//! series, the real engine (local provider, store, planner) run at an injected time, the public
//! listener with sign-in required, the admin listener (status page and API), and a small control
//! endpoint the script calls to "hold the meeting" (advance the clock, run a cycle, read the
//! invite back from the `.ics` file).
//!
//! Screenshots land in `target/browser-artifacts/`.
//!
//! Prerequisites: `node`, Chromium (`/usr/bin/chromium`, or `$CHROMIUM`), and `npm ci` in
//! `tests/browser`. `.ci/run` installs them. When one is missing the test fails, saying what to
//! install — unless `ONEONONE_SKIP_BROWSER_TESTS=1` is set (never in CI), when it says loudly that
//! it skipped.
use axum::extract::State;
use axum::routing::{get, post};
use chrono::{DateTime, TimeZone, Utc};
use oneonone::daemon::engine::{Engine, EngineOptions};
use oneonone::providers::Progress;
use oneonone::store::Store;
use oneonone::web::{SignIn, WebState, admin_router, pair_url, serve};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, RwLock};

#[path = "support/oidc.rs"]
mod oidc;
use oidc::{CLIENT_ID, chromium, prerequisites_or_skip, root, start_oidc};

const MANAGER: &str = "ann@x.org";
const REPORT: &str = "bob@x.org";
/// The weekly 1:1 of ann (organizer) and bob: Mondays 10:00 UTC from 2 Nov 2026.
fn series_ics() -> String {
    [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//oneonone//browser test//EN",
        "BEGIN:VEVENT",
        "UID:ann-bob-weekly",
        "DTSTAMP:20261101T090000Z",
        "DTSTART:20261102T100000Z",
        "DTEND:20261102T103000Z",
        "RRULE:FREQ=WEEKLY",
        "SUMMARY:Ann / Bob 1:1",
        "ORGANIZER;CN=Ann:mailto:ann@x.org",
        "ATTENDEE;CN=Ann;PARTSTAT=ACCEPTED:mailto:ann@x.org",
        "ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED:mailto:bob@x.org",
        "DESCRIPTION:Our weekly 1:1.",
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
    .join("\r\n")
}

/// An `.ics` file as text people would read: lines unfolded, escapes undone.
fn readable_ics(raw: &str) -> String {
    raw.replace("\r\n ", "")
        .replace("\n ", "")
        .replace("\\n", "\n")
        .replace("\\,", ",")
        .replace("\\;", ";")
}

/// The harness's state: the clock, the engine, the runtime, where the invite is.
#[derive(Clone)]
struct Control {
    clock: Arc<Mutex<DateTime<Utc>>>,
    engine: Arc<Engine>,
    ics: PathBuf,
}

impl Control {
    fn now(&self) -> DateTime<Utc> {
        *self.clock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run one engine cycle at the current time (on a blocking thread).
    async fn cycle(&self) -> String {
        let engine = self.engine.clone();
        let now = self.now();
        let rt = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            engine
                .cycle(now, &rt, &Arc::new(Progress::default()))
                .map(|r| r.to_string())
                .unwrap_or_else(|e| format!("cycle failed: {e}"))
        })
        .await
        .expect("cycle task")
    }
}

#[derive(serde::Deserialize)]
struct Advance {
    to: DateTime<Utc>,
}

/// `POST /advance {"to": TIME}`: set the clock, run a cycle, answer the invite as people read it.
async fn advance(
    State(c): State<Control>,
    axum::Json(a): axum::Json<Advance>,
) -> axum::Json<serde_json::Value> {
    *c.clock.lock().unwrap_or_else(|p| p.into_inner()) = a.to;
    let report = c.cycle().await;
    let ics = std::fs::read_to_string(&c.ics).unwrap_or_default();
    axum::Json(serde_json::json!({ "report": report, "invite": readable_ics(&ics) }))
}

/// `GET /invite`: the invite as people read it.
async fn invite(State(c): State<Control>) -> String {
    readable_ics(&std::fs::read_to_string(&c.ics).unwrap_or_default())
}

async fn serve_on(app: axum::Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agenda_pages_in_a_real_browser() {
    if !prerequisites_or_skip(true) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let cal = dir.path().join("calendars");
    std::fs::create_dir_all(&cal).expect("mkdir");
    let ics = cal.join("ann-bob.ics");
    std::fs::write(&ics, series_ics()).expect("write the series");
    let secret_file = dir.path().join("oidc-secret");
    let secret = "browser-test-client-secret";
    std::fs::write(&secret_file, format!("{secret}\n")).expect("secret");

    // The public listener first: its address is the redirect URI the provider must know.
    let public = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let public_url = format!("http://{}", public.local_addr().expect("addr"));
    let (_oidc, issuer) = start_oidc(dir.path(), &format!("{public_url}/auth/callback"), secret);

    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nstate_dir = \"state\"\ntimezone = \"UTC\"\npublic_url = \"{public_url}\"\n\
             [[accounts]]\nname = \"local\"\nprovider = \"local\"\npath = \"calendars\"\n\
             [[pairs]]\nmanager = \"{MANAGER}\"\nreport = \"{REPORT}\"\naccount = \"local\"\n\
             [web.sign_in]\nissuer_url = \"{issuer}\"\nclient_id = \"{CLIENT_ID}\"\n\
             client_secret_file = \"oidc-secret\"\nrequire_sign_in = true\nsession_lifetime = \"90d\"\n"
        ),
    )
    .expect("config");
    let settings = oneonone::config::load(&config).unwrap_or_else(|e| panic!("{e}"));
    let store = Store::open(&settings.daemon.state_dir).expect("store");
    let providers = Engine::open_providers(&settings, &store, false).expect("providers");
    let engine = Engine::new(
        settings.clone(),
        store.clone(),
        providers,
        EngineOptions {
            dry_run: false,
            keep_in_memory: false,
        },
    )
    .expect("engine");
    // Monday 9 Nov 2026, 09:00 UTC: an hour before the second meeting.
    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 9, 9, 0, 0)
        .single()
        .expect("t0");
    let control = Control {
        clock: Arc::new(Mutex::new(t0)),
        engine: Arc::new(engine),
        ics: ics.clone(),
    };
    let first = control.cycle().await;
    assert!(first.contains("failed=0"), "{first}");

    let clock = control.clock.clone();
    let now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync> =
        Arc::new(move || *clock.lock().unwrap_or_else(|p| p.into_inner()));
    let sign_in = SignIn::new(
        settings.web.sign_in.as_ref().expect("sign-in configured"),
        &public_url,
    )
    .expect("sign-in");
    let state = WebState::new(
        store.clone(),
        Arc::new(RwLock::new(settings.pairs.clone())),
        settings.daemon.timezone,
        public_url.clone(),
        now,
    )
    .with_sign_in(Arc::new(sign_in));
    let admin_app = admin_router(state.clone()).merge(oneonone::daemon::api::router(
        oneonone::daemon::api::ApiState {
            store: store.clone(),
            settings: Arc::new(RwLock::new(Arc::new(settings.clone()))),
            ready: Default::default(),
        },
    ));
    let admin_url = serve_on(admin_app).await;
    tokio::spawn(serve(public, state, std::future::pending()));
    let control_url = serve_on(
        axum::Router::new()
            .route("/advance", post(advance))
            .route("/invite", get(invite))
            .with_state(control.clone()),
    )
    .await;

    let pair_id = format!("{MANAGER}~{REPORT}");
    let link = store.ensure_pair_link(&pair_id).expect("pair link");
    let artifacts = root().join("target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let meeting_end = Utc
        .with_ymd_and_hms(2026, 11, 9, 11, 0, 0)
        .single()
        .expect("end");

    let script = root().join("tests/browser/agenda.mjs");
    let run = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .env("PUBLIC_URL", &public_url)
            .env("PAIR_URL", pair_url(&public_url, &link))
            .env("PAIR_ID", &pair_id)
            .env("ADMIN_URL", &admin_url)
            .env("CONTROL_URL", &control_url)
            .env("HOLD_UNTIL", meeting_end.to_rfc3339())
            .env("NEXT_OCCURRENCE", "20261116T100000Z")
            .env("MANAGER", MANAGER)
            .env("REPORT", REPORT)
            .env("CHROMIUM", chromium())
            .env("ARTIFACTS", &artifacts)
            .output()
            .expect("run node tests/browser/agenda.mjs")
    });
    let out = tokio::time::timeout(std::time::Duration::from_secs(600), run)
        .await
        .expect("the browser test finishes within 10 minutes")
        .expect("browser test task");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "the browser test failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("all browser checks passed"), "{stdout}");

    // What the browser did is in the store: the action item carried into the next meeting's doc
    // (and the invite said so), the private note kept for its author only.
    let items = store
        .agenda_items(&format!("{MANAGER}~{REPORT}"))
        .expect("items");
    assert!(items.iter().any(|i| i.text.contains("for the committee")));
    let private = store
        .private_notes(&format!("{MANAGER}~{REPORT}"), REPORT)
        .expect("notes");
    assert!(private.iter().any(|n| n.text.contains("transfer")));
    assert!(
        store
            .private_notes(&format!("{MANAGER}~{REPORT}"), MANAGER)
            .expect("notes")
            .iter()
            .all(|n| !n.text.contains("transfer"))
    );
    let invite = readable_ics(&std::fs::read_to_string(&ics).expect("ics"));
    assert!(
        !invite.contains("transfer"),
        "no private note in the invite"
    );
}
