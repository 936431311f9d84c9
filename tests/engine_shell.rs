//! The engine (the shell around the planner) against injected providers: the in-memory provider
//! and the failing wrapper, both real implementations of `Provider`. One account failing or
//! panicking leaves the others alone; a create whose answer was lost is never repeated; a provider
//! whose writes notify attendees gets each block at most once, however many cycles run, even when
//! a write's outcome is unknown; a definite failure is retried; dry-run writes nothing.
use chrono::{DateTime, Duration, TimeZone, Utc};
use oneonone::config::Settings;
use oneonone::daemon::engine::{Engine, EngineOptions};
use oneonone::domain::{Instance, Response, SeriesMaster};
use oneonone::providers::memory::{FailingProvider, MemoryProvider, RecordedWrite};
use oneonone::providers::{Progress, Provider};
use oneonone::store::Store;
use std::sync::Arc;

mod support;

struct Env {
    dir: tempfile::TempDir,
    settings: Settings,
}

/// Settings with accounts `names` (each a local account over an empty folder, replaced by the
/// injected providers) and one pair per account: alice with bob on the first, carol with dan on
/// the second. `pair_extra` is added to every pair.
fn env(names: &[&str], pair_extra: &str) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = String::from(
        "[daemon]\nstate_dir = \"state\"\ntimezone = \"Europe/London\"\npublic_url = \"http://agenda.test\"\n",
    );
    for n in names {
        std::fs::create_dir_all(dir.path().join(n)).expect("mkdir");
        text.push_str(&format!(
            "\n[[accounts]]\nname = \"{n}\"\nprovider = \"local\"\npath = \"{n}\"\n"
        ));
    }
    let people = [("alice", "bob"), ("carol", "dan")];
    for (n, (m, r)) in names.iter().zip(people) {
        text.push_str(&format!(
            "\n[[pairs]]\nmanager = \"{m}@acme.test\"\nreport = \"{r}@acme.test\"\naccount = \"{n}\"\n{pair_extra}"
        ));
    }
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).expect("write config");
    let settings = oneonone::config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    Env { dir, settings }
}

impl Env {
    fn engine(&self, providers: Vec<Arc<dyn Provider>>, dry_run: bool) -> Engine {
        let store = Store::open(&self.dir.path().join("state")).expect("store");
        Engine::new(
            self.settings.clone(),
            store,
            providers,
            EngineOptions {
                dry_run,
                keep_in_memory: true,
            },
        )
        .expect("engine")
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A weekly series (uid `uid`) of `m` with `r` in `cal` (owned by the organizer `m`): its master
/// and 12 occurrences from 3 Nov 2026.
fn weekly(account: &str, uid: &str, m: &str, r: &str, cal: &str) -> (Vec<Instance>, SeriesMaster) {
    let first = Utc
        .with_ymd_and_hms(2026, 11, 3, 10, 0, 0)
        .single()
        .unwrap_or_default();
    let people = || {
        vec![
            support::person(m, Response::Accepted),
            support::person(r, Response::Accepted),
        ]
    };
    let instances = (0..12)
        .map(|k| {
            let mut i = support::occurrence(
                uid,
                first + Duration::weeks(k),
                30,
                m,
                people(),
                cal,
                Some(m),
                false,
            );
            i.account = account.into();
            i
        })
        .collect();
    let master = SeriesMaster {
        account: account.into(),
        calendar: cal.into(),
        owner: Some(m.into()),
        id: uid.into(),
        uid: uid.into(),
        title: format!("1:1 {uid}").into(),
        organizer: Some(m.into()),
        description: "".into(),
        version: "v1".into(),
        source: format!("{cal}/{uid}.ics").into(),
    };
    (instances, master)
}

fn memory(account: &str, notify: bool, series: &[(&str, &str, &str)]) -> Arc<MemoryProvider> {
    let p = Arc::new(MemoryProvider::new(account, notify));
    for (uid, m, r) in series {
        let cal = format!("{m}-cal");
        let (instances, master) = weekly(account, uid, m, r, &cal);
        p.set_calendar(&cal, Some(m), instances, vec![master]);
        p.set_calendar(&format!("{r}-cal"), Some(r), Vec::new(), Vec::new());
    }
    p
}

fn cycle(engine: &Engine, at: DateTime<Utc>) -> oneonone::daemon::engine::CycleReport {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    engine
        .cycle(at, rt.handle(), &Arc::new(Progress::default()))
        .expect("cycle")
}

#[test]
fn one_failing_account_leaves_the_others_alone() {
    let e = env(&["a", "b"], "");
    let a = memory("a", false, &[("s1", "alice@acme.test", "bob@acme.test")]);
    let failing = Arc::new(FailingProvider::new(a.clone()));
    failing.fail_fetches(1);
    let b = memory("b", false, &[("s2", "carol@acme.test", "dan@acme.test")]);
    let engine = e.engine(vec![failing.clone(), b.clone()], false);
    let report = cycle(&engine, now());
    assert_eq!(
        (report.accounts_ok, report.accounts_failed),
        (1, 1),
        "{report}"
    );
    assert!(
        report.failed(),
        "a failed account makes the cycle a partial failure"
    );
    assert!(a.writes().is_empty());
    assert_eq!(b.writes().len(), 2, "{:?}", b.writes());
    // The failed account's pair raised nothing from the missing data.
    let store = &engine.store;
    assert!(
        store
            .findings("alice@acme.test~bob@acme.test")
            .expect("findings")
            .is_empty()
    );
    // Next cycle it is read again and gets its blocks.
    let report = cycle(&engine, now());
    assert!(!report.failed(), "{report}");
    assert_eq!(a.writes().len(), 2, "{:?}", a.writes());
    assert_eq!(b.writes().len(), 2, "nothing new for b");
}

#[test]
fn a_panicking_provider_fails_its_account_only() {
    let e = env(&["a", "b"], "");
    let a = memory("a", false, &[("s1", "alice@acme.test", "bob@acme.test")]);
    let failing = Arc::new(FailingProvider::new(a.clone()));
    failing.panic_fetches(1);
    let b = memory("b", false, &[("s2", "carol@acme.test", "dan@acme.test")]);
    let engine = e.engine(vec![failing, b.clone()], false);
    let report = cycle(&engine, now());
    assert_eq!(
        (report.accounts_ok, report.accounts_failed),
        (1, 1),
        "{report}"
    );
    assert_eq!(b.writes().len(), 2);
}

#[test]
fn a_create_whose_answer_was_lost_is_never_repeated() {
    let e = env(&["a"], "enforce = \"fix\"\n");
    let a = Arc::new(MemoryProvider::new("a", false));
    a.set_calendar("alice-cal", Some("alice@acme.test"), Vec::new(), Vec::new());
    a.set_calendar("bob-cal", Some("bob@acme.test"), Vec::new(), Vec::new());
    a.set_other_events("alice-cal", 4);
    let failing = Arc::new(FailingProvider::new(a.clone()));
    failing.lose_write_answers(1);
    let engine = e.engine(vec![failing], false);
    let report = cycle(&engine, now());
    assert_eq!(
        report.write_failures, 1,
        "the create's answer was lost: {report}"
    );
    let creates = |w: &[RecordedWrite]| {
        w.iter()
            .filter(|w| matches!(w, RecordedWrite::Create(_)))
            .count()
    };
    assert_eq!(creates(&a.writes()), 1);
    // The series is there now: later cycles write its agenda, and never create another.
    for day in 0..3 {
        cycle(&engine, now() + Duration::days(day));
    }
    assert_eq!(creates(&a.writes()), 1, "{:?}", a.writes());
    let marks = engine
        .store
        .write_marks("alice@acme.test~bob@acme.test")
        .expect("marks");
    assert!(
        marks.iter().any(|m| m.key.starts_with("create:")),
        "{marks:?}"
    );
}

#[test]
fn a_notifying_provider_gets_each_block_at_most_once() {
    let e = env(&["a"], "");
    let a = memory("a", true, &[("s1", "alice@acme.test", "bob@acme.test")]);
    let engine = e.engine(vec![a.clone()], false);
    for week in 0..6 {
        let report = cycle(&engine, now() + Duration::weeks(week));
        assert!(!report.failed(), "{report}");
    }
    let writes = a.writes();
    assert_eq!(writes.len(), 1, "one write ever: {writes:?}");
    assert!(
        matches!(&writes[0], RecordedWrite::Series { description, .. } if description.contains("http://agenda.test/p/"))
    );
    // Someone removes the block by hand: it is not written again (that would mail everyone).
    let cal = "alice@acme.test-cal";
    a.set_calendar(
        cal,
        Some("alice@acme.test"),
        weekly("a", "s1", "alice@acme.test", "bob@acme.test", cal).0,
        vec![weekly("a", "s1", "alice@acme.test", "bob@acme.test", cal).1],
    );
    cycle(&engine, now() + Duration::weeks(7));
    assert_eq!(a.writes().len(), 1, "{:?}", a.writes());
}

#[test]
fn an_uncertain_write_on_a_notifying_provider_is_never_retried() {
    let e = env(&["a"], "");
    let a = memory("a", true, &[("s1", "alice@acme.test", "bob@acme.test")]);
    let failing = Arc::new(FailingProvider::new(a.clone()));
    failing.lose_write_answers(1);
    let engine = e.engine(vec![failing], false);
    let report = cycle(&engine, now());
    assert_eq!(report.write_failures, 1, "{report}");
    // Undo the write the server did make: the daemon still must not try again.
    let cal = "alice@acme.test-cal";
    let (instances, master) = weekly("a", "s1", "alice@acme.test", "bob@acme.test", cal);
    a.set_calendar(cal, Some("alice@acme.test"), instances, vec![master]);
    let before = a.writes().len();
    for day in 1..4 {
        cycle(&engine, now() + Duration::days(day));
    }
    assert_eq!(a.writes().len(), before, "{:?}", a.writes());
}

#[test]
fn a_definitely_failed_write_is_retried() {
    let e = env(&["a"], "");
    let a = memory("a", true, &[("s1", "alice@acme.test", "bob@acme.test")]);
    let failing = Arc::new(FailingProvider::new(a.clone()));
    failing.fail_writes(1);
    let engine = e.engine(vec![failing], false);
    let report = cycle(&engine, now());
    assert_eq!(report.write_failures, 1, "{report}");
    assert!(a.writes().is_empty());
    let report = cycle(&engine, now() + Duration::hours(1));
    assert_eq!(report.writes, 1, "{report}");
    assert_eq!(a.writes().len(), 1);
}

#[test]
fn a_concurrent_edit_is_never_overwritten() {
    let e = env(&["a"], "");
    let a = memory("a", false, &[("s1", "alice@acme.test", "bob@acme.test")]);
    let engine = e.engine(vec![a.clone()], false);
    cycle(&engine, now());
    // The next week's occurrence is edited by its owner after the daemon wrote it; next cycle the
    // daemon re-merges its block into the person's text, keeping the text.
    let cal = "alice@acme.test-cal";
    let next = oneonone::domain::meeting_key(
        "s1",
        Some(
            Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0)
                .single()
                .unwrap_or_default(),
        ),
    );
    let current = a.description(cal, &next).expect("next occurrence");
    a.user_edits_description(cal, &next, &format!("Bring the roadmap.\n\n{current}"));
    cycle(&engine, now() + Duration::hours(1));
    let text = a.description(cal, &next).expect("next occurrence");
    assert!(text.starts_with("Bring the roadmap."), "{text}");
    assert_eq!(text.matches("-- oneonone agenda --").count(), 1, "{text}");
}

#[test]
fn dry_run_writes_nothing_and_makes_no_doc() {
    let e = env(&["a"], "");
    let a = memory("a", false, &[("s1", "alice@acme.test", "bob@acme.test")]);
    let engine = e.engine(vec![a.clone()], true);
    let report = cycle(&engine, now());
    assert_eq!(report.writes_planned_dry_run, 2, "{report}");
    assert!(a.writes().is_empty());
    let history = engine
        .store
        .occurrences("alice@acme.test~bob@acme.test")
        .expect("history");
    assert!(!history.is_empty());
    assert!(
        history.iter().all(|o| o.agenda.is_none()),
        "no doc in a dry run"
    );
}
