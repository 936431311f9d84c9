//! Data-driven tests of `config::load_with_env`: every `tests/fixtures/config/NAME.toml` is loaded
//! with the environment in `NAME.env` (optional; `KEY=VALUE` lines, `#` comments) and the outcome is
//! compared with `NAME.expected`: the exact error lines, or `ok` followed by a dump of the settings.
//! Paths are machine-independent: the fixtures directory prints as `$DIR`, the crate root as
//! `$ROOT`. Adding a case means adding files. `UPDATE_EXPECT=1` rewrites the expected files (review
//! the diff before committing).
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use oneonone::config::{self, ProviderSettings, Settings, format_chrono};
use proptest::prelude::*;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config")
}

fn read_env(path: &Path) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A stable, line-per-setting rendering of what was loaded.
fn render(s: &Settings) -> String {
    let mut out = String::from("ok\n");
    let d = &s.daemon;
    let _ = writeln!(out, "source = {}", s.source.display());
    let _ = writeln!(out, "daemon.state_dir = {}", d.state_dir.display());
    let _ = writeln!(
        out,
        "daemon.poll_interval = {}",
        humantime::format_duration(d.poll_interval)
    );
    let _ = writeln!(out, "daemon.horizon = {}", format_chrono(d.horizon));
    let _ = writeln!(out, "daemon.lookback = {}", format_chrono(d.lookback));
    let _ = writeln!(out, "daemon.timezone = {}", d.timezone.name());
    let _ = writeln!(out, "daemon.public_url = {}", d.public_url);
    let _ = writeln!(out, "daemon.listen = {}", d.listen);
    let _ = writeln!(out, "daemon.admin_listen = {}", d.admin_listen);
    let _ = writeln!(out, "daemon.dry_run = {}", d.dry_run);
    for a in &s.accounts {
        match &a.provider {
            ProviderSettings::Local(l) => {
                let owners: Vec<String> =
                    l.owners.iter().map(|(f, e)| format!("{f}={e}")).collect();
                let _ = writeln!(
                    out,
                    "account {} = local path={} example={} owners=[{}]",
                    a.name,
                    l.path.display(),
                    l.example,
                    owners.join(",")
                );
            }
            ProviderSettings::Google(g) => {
                let _ = writeln!(out, "account {} = google {}", a.name, google(g));
            }
            ProviderSettings::Microsoft(m) => {
                let _ = writeln!(
                    out,
                    "account {} = microsoft auth={} tenant={} client_id={} client_secret_file={} api_base_url={} authority_url={} max_concurrent_requests={} requests_per_10min={}",
                    a.name,
                    m.auth.as_str(),
                    m.tenant,
                    m.client_id,
                    m.client_secret_file
                        .as_ref()
                        .map_or("none".into(), |p| p.display().to_string()),
                    m.api_base_url,
                    m.authority_url,
                    m.max_concurrent_requests,
                    m.requests_per_10min
                );
            }
        }
    }
    let f = &s.defaults;
    let c = &f.cancellations;
    let _ = writeln!(
        out,
        "defaults = cadence={} duration={} enforce={:?} cancellations={}/{}/{} working_hours={}",
        f.cadence,
        format_chrono(f.duration),
        f.enforce,
        c.max_consecutive,
        c.max_in_window,
        format_chrono(c.window),
        f.working_hours
    );
    for p in &s.pairs {
        let c = &p.cancellations;
        let _ = writeln!(
            out,
            "pair {} = manager={} report={} account={} cadence={} duration={} enforce={:?} cancellations={}/{}/{} timezone={} working_hours={}",
            p.id,
            p.manager,
            p.report,
            p.account,
            p.cadence,
            format_chrono(p.duration),
            p.enforce,
            c.max_consecutive,
            c.max_in_window,
            format_chrono(c.window),
            p.timezone.name(),
            p.working_hours
        );
    }
    render_notify(&mut out, &s.notify);
    if let Some(admins) = &s.web.admins {
        let _ = writeln!(out, "web.admins = {}", admins.join(","));
    }
    if let Some(w) = &s.web.sign_in {
        let _ = writeln!(
            out,
            "web.sign_in = issuer={} client_id={} secret_file={} require_sign_in={} session_lifetime={} allow_unverified_email={}",
            w.issuer_url,
            w.client_id,
            w.client_secret_file.display(),
            w.require_sign_in,
            format_chrono(w.session_lifetime),
            w.allow_unverified_email
        );
    }
    out
}

fn render_notify(out: &mut String, n: &oneonone::config::NotifySettings) {
    let path = |p: &Option<PathBuf>| {
        p.as_ref()
            .map_or("-".to_string(), |p| p.display().to_string())
    };
    for w in &n.webhooks {
        let _ = writeln!(
            out,
            "notify.webhook {} = {:?} url={} url_file={} secret_file={}",
            w.name,
            w.format,
            w.url,
            path(&w.url_file),
            path(&w.secret_file)
        );
    }
    if let Some(e) = &n.email {
        let _ = writeln!(
            out,
            "notify.email = {}:{} tls={:?} from={} credentials_file={} ca_file={}",
            e.host,
            e.port,
            e.tls,
            e.from,
            path(&e.credentials_file),
            path(&e.ca_file)
        );
    }
    if !n.admins.is_empty() {
        let _ = writeln!(out, "notify.admins = {}", n.admins.join(","));
    }
    for r in &n.routes {
        let _ = writeln!(
            out,
            "notify.route = kinds=[{}] severity>={:?} to={:?} digest={} resolved={}",
            r.kinds.join(","),
            r.min_severity,
            r.to,
            r.digest,
            r.resolved
        );
    }
    if let Some((a, b)) = n.quiet_hours {
        let _ = writeln!(
            out,
            "notify.quiet_hours = {}-{}",
            a.format("%H:%M"),
            b.format("%H:%M")
        );
    }
    let _ = writeln!(
        out,
        "notify.digest = {} {}",
        n.digest_at.0,
        n.digest_at.1.format("%H:%M")
    );
    if let Some(nudge) = n.nudge {
        let _ = writeln!(
            out,
            "notify.nudge = before={} manager_too={}",
            format_chrono(nudge.before),
            nudge.manager_too
        );
    }
}

fn google(g: &oneonone::providers::google::GoogleSettings) -> String {
    use oneonone::providers::google::GoogleAuth;
    let auth = match &g.auth {
        GoogleAuth::ServiceAccount {
            key_file,
            client_email,
        } => format!(
            "service_account key={} client_email={client_email}",
            key_file.display()
        ),
        GoogleAuth::OAuth {
            user,
            client_id,
            client_secret_file,
            auth_url,
        } => format!(
            "oauth user={user} client_id={client_id} client_secret_file={} auth_url={auth_url}",
            client_secret_file
                .as_ref()
                .map_or("none".into(), |p| p.display().to_string())
        ),
    };
    let l = &g.limits;
    format!(
        "{auth} api_base_url={} token_url={} per_user={}/min per_account={}/min concurrency={} retry_initial_delay={}",
        g.api_base_url,
        g.token_url,
        l.per_user_per_minute,
        l.per_minute,
        l.concurrency,
        humantime::format_duration(l.retry_delay)
    )
}

fn outcome(path: &Path, env: &[(String, String)]) -> String {
    let text = match config::load_with_env(path, env) {
        Ok(s) => render(&s),
        Err(e) => format!("{e}\n"),
    };
    let dir = fixtures_dir();
    text.replace(&dir.display().to_string(), "$DIR")
        .replace(env!("CARGO_MANIFEST_DIR"), "$ROOT")
}

#[test]
fn fixtures() {
    let dir = fixtures_dir();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "fixtures missing: {cases:?}");
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let env = read_env(&case.with_extension("env"));
        let got = outcome(case, &env);
        let expected_path = case.with_extension("expected");
        if update {
            std::fs::write(&expected_path, &got).expect("write expected");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!(
                "== {}\n-- expected:\n{expected}-- got:\n{got}",
                case.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unreadable_file_is_one_error_at_1_1() {
    let path = fixtures_dir().join("does-not-exist.toml");
    let got = outcome(&path, &[]);
    assert_eq!(
        got,
        "$DIR/does-not-exist.toml:1:1: cannot read: No such file or directory (os error 2)\n"
    );
    // A directory is unreadable as a file too.
    let got = outcome(&fixtures_dir(), &[]);
    assert!(got.starts_with("$DIR:1:1: cannot read: "), "{got}");
}

#[test]
fn load_reads_the_process_environment() {
    // Only meaningful when the test runner's environment has no overrides of its own.
    let ours = std::env::vars_os().any(|(k, _)| {
        k.to_string_lossy()
            .to_ascii_uppercase()
            .starts_with("ONEONONE__")
    });
    if ours {
        return;
    }
    let path = fixtures_dir().join("full_valid.toml");
    assert_eq!(config::load(&path), config::load_with_env(&path, &[]));
    assert!(config::load(&path).is_ok());
}

#[test]
fn errors_are_typed_and_displayed_one_per_line() {
    let path = fixtures_dir().join("bad_values.toml");
    let errors = config::load_with_env(&path, &[]).expect_err("bad values");
    assert!(errors.len() > 5);
    let shown = errors.to_string();
    assert_eq!(shown.lines().count(), errors.len());
    for (e, line) in errors.iter().zip(shown.lines()) {
        assert_eq!(e.file, path);
        assert!(e.line >= 1 && e.col >= 1, "{e:?}");
        assert_eq!(line, e.to_string());
    }
    let as_error: &dyn std::error::Error = &errors;
    assert!(!as_error.to_string().is_empty());
}

/// Lines that look like our config, to reach deep into validation.
fn configish() -> impl Strategy<Value = String> {
    let header = prop::sample::select(vec![
        "[daemon]",
        "[[accounts]]",
        "[defaults]",
        "[defaults.cancellations]",
        "[[pairs]]",
        "[pairs.cancellations]",
        "[notify]",
        "[accounts]",
        "[pairs]",
    ])
    .prop_map(str::to_string);
    let key = prop::sample::select(vec![
        "state_dir",
        "poll_interval",
        "horizon",
        "lookback",
        "timezone",
        "public_url",
        "listen",
        "dry_run",
        "name",
        "provider",
        "path",
        "example",
        "cadence",
        "duration",
        "enforce",
        "max_consecutive",
        "max_in_window",
        "window",
        "manager",
        "report",
        "account",
        "webhook_url",
        "cancellations",
        "daemon",
        "pairs",
    ]);
    let value = prop_oneof![
        "\"[a-zA-Z0-9@./: _~é-]{0,20}\"".prop_map(|s| s),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("true".to_string()),
        Just("{}".to_string()),
        Just("[]".to_string()),
        Just("[{}]".to_string()),
        Just("\"local\"".to_string()),
        Just("\"1h 30m\"".to_string()),
        Just("\"99999999999999999999w\"".to_string()),
        Just("1.5".to_string()),
        Just("1979-05-27".to_string()),
    ];
    let assignment = (key, value).prop_map(|(k, v)| format!("{k} = {v}"));
    prop::collection::vec(prop_oneof![header, assignment.clone(), assignment], 0..30)
        .prop_map(|lines| lines.join("\n"))
}

fn load_text(bytes: &[u8], env: &[(String, String)]) -> Result<Settings, config::ConfigErrors> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("oneonone.toml");
    std::fs::write(&path, bytes).expect("write");
    config::load_with_env(&path, env)
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Err(e) = load_text(&bytes, &[]) {
            prop_assert!(!e.is_empty());
        }
    }

    #[test]
    fn arbitrary_strings_never_panic(text in "\\PC{0,300}") {
        if let Err(e) = load_text(text.as_bytes(), &[]) {
            prop_assert!(!e.is_empty());
            for err in &e {
                prop_assert!(err.line >= 1 && err.col >= 1);
            }
        }
    }

    #[test]
    fn configish_text_and_env_never_panic(
        text in configish(),
        env_key in prop::sample::select(vec![
            "ONEONONE__DAEMON__HORIZON", "ONEONONE__DAEMON__DRY_RUN", "ONEONONE__DAEMON__LISTEN",
            "ONEONONE__DEFAULTS__CANCELLATIONS__MAX_CONSECUTIVE", "ONEONONE__PAIRS",
            "ONEONONE__", "ONEONONE____", "oneonone__daemon__state_dir", "ONEONONE__DAEMON",
        ]),
        env_value in "\\PC{0,20}",
    ) {
        let env = vec![(env_key.to_string(), env_value)];
        match load_text(text.as_bytes(), &env) {
            Ok(s) => {
                for p in &s.pairs {
                    prop_assert_eq!(&p.id, &format!("{}~{}", p.manager, p.report));
                }
            }
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }
}

#[test]
fn huge_keys_and_values_are_rejected_quickly() {
    let long = "x".repeat(200_000);
    let text = format!("[daemon]\ntimezone = \"{long}\"\n{long} = 1\n");
    let start = std::time::Instant::now();
    let errors = load_text(text.as_bytes(), &[]).expect_err("invalid");
    assert_eq!(errors.len(), 2, "{errors}");
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    let env = vec![(format!("ONEONONE__DAEMON__{long}"), long.clone())];
    let errors = load_text(b"", &env).expect_err("unknown variable");
    assert_eq!(errors.len(), 1);
}
