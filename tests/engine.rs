//! Data-driven tests of the pure planner (`sync::plan`): detection, history reconciliation,
//! completeness, the merging of copies, health rules, findings, the link policy and fix mode. Each
//! `tests/cases/engine/*.toml` file is one case: a pair, the calendars at one or more moments, and
//! the expected health and writes after the last one. State carries over between cycles as the
//! daemon would keep it (history, findings as notified, write-once marks). Adding a case means
//! adding a file.
use chrono::{DateTime, Duration, Utc};
use oneonone::domain::rules::FindingKind;
use oneonone::domain::{
    Attendee, Cadence, CancellationPolicy, Enforce, Instance, MarkState, Pair, ParticipantKind,
    Response, Rhythm, SeriesMaster, WriteMark,
};
use oneonone::providers::{CalendarRead, Snapshot, SourceProblem};
use oneonone::sync::{PairInput, Plan};
use serde::Deserialize;
use std::collections::BTreeMap;

mod support;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    pair: CasePair,
    /// The calendars as seen at successive cycles; state carries over between them.
    cycles: Vec<Cycle>,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CasePair {
    manager: String,
    report: String,
    #[serde(default = "weekly")]
    cadence: String,
    #[serde(default = "thirty")]
    duration_minutes: i64,
    #[serde(default = "two")]
    max_consecutive: u32,
    #[serde(default = "three")]
    max_in_window: u32,
    #[serde(default = "ninety")]
    window_days: i64,
    #[serde(default)]
    fix: bool,
    /// The account's provider notifies attendees on writes (like Microsoft Graph).
    #[serde(default)]
    notify: bool,
}
fn weekly() -> String {
    "weekly".into()
}
fn thirty() -> i64 {
    30
}
fn two() -> u32 {
    2
}
fn three() -> u32 {
    3
}
fn ninety() -> i64 {
    90
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cycle {
    now: DateTime<Utc>,
    #[serde(default)]
    events: Vec<Event>,
    /// Expand weekly series: `[[cycles.series]]`.
    #[serde(default)]
    series: Vec<Series>,
    /// False: the whole account could not be read this cycle.
    #[serde(default = "yes")]
    complete: bool,
    /// The calendars and how they read; by default one calendar "cal", read completely, holding
    /// as many events as the cycle lists.
    #[serde(default)]
    calendars: Vec<CalendarSpec>,
    /// Sources (files) that could not be read: their events are not returned.
    #[serde(default)]
    unreadable: Vec<String>,
    /// The account's credentials were refused: what the admin must do.
    #[serde(default)]
    auth_failed: Option<String>,
}
fn yes() -> bool {
    true
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct CalendarSpec {
    id: String,
    #[serde(default)]
    owner: Option<String>,
    /// Events it holds (default: those the cycle lists in it).
    #[serde(default)]
    events: Option<usize>,
    /// It could not be read, for this reason.
    #[serde(default)]
    failed: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Event {
    id: String,
    #[serde(default)]
    series: Option<String>,
    start: DateTime<Utc>,
    minutes: i64,
    people: Vec<String>,
    #[serde(default)]
    organizer: Option<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    declined: Vec<String>,
    #[serde(default)]
    cancelled: bool,
    #[serde(default)]
    all_day: bool,
    #[serde(default)]
    rhythm: Option<String>,
    #[serde(default = "cal")]
    calendar: String,
    #[serde(default)]
    source: Option<String>,
}
fn cal() -> String {
    "cal".into()
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Series {
    id: String,
    first: DateTime<Utc>,
    count: u32,
    #[serde(default = "one")]
    every_weeks: u32,
    minutes: i64,
    people: Vec<String>,
    #[serde(default)]
    organizer: Option<String>,
    /// Occurrence numbers (0-based) that are cancelled / declined by the report / absent.
    #[serde(default)]
    cancelled: Vec<u32>,
    #[serde(default)]
    declined: Vec<u32>,
    #[serde(default)]
    removed: Vec<u32>,
    /// The calendars holding a copy (default: "cal").
    #[serde(default)]
    calendars: Vec<String>,
    #[serde(default)]
    source: Option<String>,
}
fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    findings: Vec<String>,
    #[serde(default)]
    last_held: Option<DateTime<Utc>>,
    #[serde(default)]
    next_scheduled: Option<DateTime<Utc>>,
    #[serde(default)]
    held_in_window: Option<u32>,
    #[serde(default)]
    cancelled_in_window: Option<u32>,
    #[serde(default)]
    consecutive_cancellations: Option<u32>,
    /// Substrings that must appear in the finding messages, by kind.
    #[serde(default)]
    messages: BTreeMap<String, String>,
    /// The keys of the writes planned in the last cycle (any order); unchecked when absent.
    #[serde(default)]
    writes: Option<Vec<String>>,
    /// Every write of every cycle, by key: how many times each was planned (unchecked when absent).
    #[serde(default)]
    writes_over_all_cycles: Option<BTreeMap<String, usize>>,
    /// Substrings of the last cycle's write descriptions, by key.
    #[serde(default)]
    write_contains: BTreeMap<String, String>,
    /// The number of occurrences the history holds after the last cycle.
    #[serde(default)]
    history_len: Option<usize>,
    /// Calendars judged a failed read in the last cycle.
    #[serde(default)]
    suspect_calendars: Option<Vec<String>>,
    /// The kinds of the findings tracked (notified) after the last cycle, sorted; unchecked when
    /// absent. Differs from `findings` when the calendars could not be read: then nothing is
    /// raised or cleared.
    #[serde(default)]
    active: Option<Vec<String>>,
}

fn attendees(people: &[String], declined: &[String], resources: &[String]) -> Vec<Attendee> {
    let mut out: Vec<Attendee> = people
        .iter()
        .map(|p| Attendee {
            email: p.clone(),
            kind: ParticipantKind::Person,
            response: if declined.contains(p) {
                Response::Declined
            } else {
                Response::Accepted
            },
            optional: false,
        })
        .collect();
    out.extend(resources.iter().map(|r| Attendee {
        email: r.clone(),
        kind: ParticipantKind::Resource,
        response: Response::Accepted,
        optional: false,
    }));
    out
}

fn rhythm(r: Option<&str>) -> Option<Rhythm> {
    match r {
        Some("weekly") => Some(Rhythm::Weeks(1)),
        Some("biweekly") => Some(Rhythm::Weeks(2)),
        Some("monthly") => Some(Rhythm::Months(1)),
        Some(other) => match other.parse::<Cadence>() {
            Ok(Cadence::Weeks(n)) => Some(Rhythm::Weeks(n)),
            _ => Some(Rhythm::Other(other.into())),
        },
        None => None,
    }
}

fn instance(e: &Event, owners: &BTreeMap<String, String>) -> Instance {
    let uid = e.series.clone().unwrap_or_else(|| e.id.clone());
    Instance {
        account: "local".into(),
        calendar: e.calendar.as_str().into(),
        owner: owners.get(&e.calendar).map(|o| o.as_str().into()),
        id: e.id.clone(),
        series_id: e.series.as_deref().map(Into::into),
        uid: uid.as_str().into(),
        original_start: e.series.as_ref().map(|_| e.start),
        title: format!("event {}", uid).into(),
        organizer: e
            .organizer
            .clone()
            .or_else(|| e.people.first().cloned())
            .map(Into::into),
        attendees: attendees(&e.people, &e.declined, &e.resources).into(),
        start: e.start,
        end: e.start + Duration::minutes(e.minutes),
        all_day: e.all_day,
        cancelled: e.cancelled,
        rhythm: rhythm(e.rhythm.as_deref()),
        description: "".into(),
        version: "v1".into(),
        source: e
            .source
            .clone()
            .unwrap_or_else(|| format!("{}/{uid}.ics", e.calendar))
            .into(),
    }
}

/// The copies of one series occurrence in each of its calendars.
fn expand(s: &Series) -> Vec<Event> {
    let calendars = if s.calendars.is_empty() {
        vec![cal()]
    } else {
        s.calendars.clone()
    };
    let mut out = Vec::new();
    for k in (0..s.count).filter(|k| !s.removed.contains(k)) {
        let start = s.first + Duration::weeks(i64::from(k * s.every_weeks));
        for c in &calendars {
            out.push(Event {
                id: oneonone::domain::meeting_key(&s.id, Some(start)),
                series: Some(s.id.clone()),
                start,
                minutes: s.minutes,
                people: s.people.clone(),
                organizer: s.organizer.clone(),
                resources: vec![],
                declined: if s.declined.contains(&k) {
                    s.people.get(1).cloned().into_iter().collect()
                } else {
                    vec![]
                },
                cancelled: s.cancelled.contains(&k),
                all_day: false,
                rhythm: Some(match s.every_weeks {
                    1 => "weekly".into(),
                    2 => "biweekly".into(),
                    n => format!("every {n} weeks"),
                }),
                calendar: c.clone(),
                source: s.source.clone(),
            });
        }
    }
    out
}

/// The masters of the cycle's series, one per calendar.
fn masters(cycle: &Cycle, owners: &BTreeMap<String, String>) -> Vec<SeriesMaster> {
    let mut out = Vec::new();
    for s in &cycle.series {
        let calendars = if s.calendars.is_empty() {
            vec![cal()]
        } else {
            s.calendars.clone()
        };
        for c in calendars {
            let source = s
                .source
                .clone()
                .unwrap_or_else(|| format!("{c}/{}.ics", s.id));
            if cycle.unreadable.contains(&source) {
                continue;
            }
            out.push(SeriesMaster {
                account: "local".into(),
                calendar: c.as_str().into(),
                owner: owners.get(&c).map(|o| o.as_str().into()),
                id: s.id.clone(),
                uid: s.id.as_str().into(),
                title: format!("event {}", s.id).into(),
                organizer: s
                    .organizer
                    .clone()
                    .or_else(|| s.people.first().cloned())
                    .map(Into::into),
                description: "".into(),
                version: "v1".into(),
                source: source.into(),
            });
        }
    }
    out
}

/// The snapshot of one cycle, or `None` when the account could not be read.
fn snapshot(cycle: &Cycle) -> Option<Snapshot> {
    if !cycle.complete {
        return None;
    }
    let specs = if cycle.calendars.is_empty() {
        vec![CalendarSpec {
            id: cal(),
            owner: None,
            events: None,
            failed: None,
        }]
    } else {
        cycle.calendars.clone()
    };
    let owners: BTreeMap<String, String> = specs
        .iter()
        .filter_map(|c| Some((c.id.clone(), c.owner.clone()?)))
        .collect();
    let mut events = cycle.events.clone();
    for s in &cycle.series {
        events.extend(expand(s));
    }
    let window_start = cycle.now - Duration::weeks(26);
    let window_end = cycle.now + Duration::weeks(8);
    let failed = |c: &str| specs.iter().any(|s| s.id == c && s.failed.is_some());
    let instances: Vec<Instance> = events
        .iter()
        .map(|e| instance(e, &owners))
        .filter(|i| i.end > window_start && i.start < window_end)
        .filter(|i| !cycle.unreadable.contains(&i.source.to_string()) && !failed(&i.calendar))
        .collect();
    let calendars = specs
        .iter()
        .map(|c| CalendarRead {
            id: c.id.clone(),
            owner: c.owner.clone(),
            events: match &c.failed {
                Some(reason) => Err(reason.clone()),
                None => Ok(c
                    .events
                    .unwrap_or_else(|| events.iter().filter(|e| e.calendar == c.id).count())),
            },
        })
        .collect();
    let problems = cycle
        .unreadable
        .iter()
        .map(|s| SourceProblem {
            calendar: None,
            source: s.clone(),
            message: "cannot be parsed".into(),
            kind: oneonone::providers::ProblemKind::Unreadable,
        })
        .collect();
    Some(Snapshot {
        series: masters(cycle, &owners),
        instances,
        calendars,
        problems,
        busy: Vec::new(),
    })
}

fn make_pair(case: &Case) -> Pair {
    Pair {
        id: Pair::make_id(&case.pair.manager, &case.pair.report),
        manager: case.pair.manager.clone(),
        report: case.pair.report.clone(),
        account: "local".into(),
        cadence: case.pair.cadence.parse::<Cadence>().expect("case cadence"),
        duration: Duration::minutes(case.pair.duration_minutes),
        enforce: if case.pair.fix {
            Enforce::Fix
        } else {
            Enforce::Warn
        },
        cancellations: CancellationPolicy {
            max_consecutive: case.pair.max_consecutive,
            max_in_window: case.pair.max_in_window,
            window: Duration::days(case.pair.window_days),
        },
        timezone: chrono_tz::UTC,
        working_hours: Default::default(),
    }
}

/// Run every cycle, carrying state over as the daemon does; the last plan and every write key.
fn run_cycles(case: &Case) -> (Plan, BTreeMap<String, usize>) {
    let pair = make_pair(case);
    let pairs = vec![pair.clone()];
    let settings = support::settings(Duration::weeks(8), Duration::weeks(26));
    let tokens = support::CountingTokens::default();
    let mut state = PairInput {
        link: "pairlink".into(),
        ..PairInput::default()
    };
    let mut counts = BTreeMap::new();
    let mut all_writes: BTreeMap<String, usize> = BTreeMap::new();
    let mut last = None;
    for cycle in &case.cycles {
        let snap = snapshot(cycle);
        let mut account = support::account("local", snap.as_ref(), case.pair.notify, &counts);
        if cycle.auth_failed.is_some() {
            account.snapshot = None;
            account.auth_failure = cycle.auth_failed.as_deref();
        }
        let accounts = [account];
        let plan = support::plan(
            cycle.now,
            &settings,
            &pairs,
            &accounts,
            vec![Some(state.clone())],
            &tokens,
        );
        for w in &plan.writes {
            *all_writes.entry(w.key.clone()).or_default() += 1;
        }
        let pp = plan.pairs.first().expect("one pair, one plan");
        let mut marks = pp.marks.clone();
        marks.extend(plan.writes.iter().filter(|w| w.once).map(|w| WriteMark {
            key: w.key.clone(),
            state: MarkState::Done,
            at: cycle.now,
        }));
        let mut findings = pp.findings.active.clone();
        for f in &mut findings {
            f.notified_at.get_or_insert(cycle.now);
        }
        state = PairInput {
            history: pp.history.clone(),
            findings,
            items: Vec::new(),
            link: pp.link.clone(),
            marks,
        };
        if let Some((_, c)) = plan.calendars.first() {
            counts = c.counts.clone();
        }
        last = Some(plan);
    }
    (last.expect("at least one cycle"), all_writes)
}

fn check_health(name: &str, case: &Case, plan: &Plan) {
    let pp = plan.pairs.first().expect("one pair");
    let h = &pp.health;
    let kinds: Vec<&str> = h.findings.iter().map(|f| f.kind.as_str()).collect();
    let order = [
        FindingKind::NoUpcomingMeeting,
        FindingKind::CadenceGap,
        FindingKind::CadenceMismatch,
        FindingKind::DurationMismatch,
        FindingKind::RepeatedCancellations,
        FindingKind::NotOneOnOne,
        FindingKind::AgendaBlockDamaged,
        FindingKind::OrganizerOutside,
        FindingKind::AuthFailed,
    ];
    let mut expected: Vec<&str> = case.expect.findings.iter().map(String::as_str).collect();
    expected.sort_by_key(|k| order.iter().position(|f| f.as_str() == *k).unwrap_or(99));
    assert_eq!(kinds, expected, "{name}: findings {:#?}", h.findings);
    let e = &case.expect;
    if let Some(t) = e.last_held {
        assert_eq!(h.last_held, Some(t), "{name}: last_held");
    }
    if let Some(t) = e.next_scheduled {
        assert_eq!(h.next_scheduled, Some(t), "{name}: next_scheduled");
    }
    if let Some(n) = e.held_in_window {
        assert_eq!(h.held_in_window, n, "{name}: held_in_window");
    }
    if let Some(n) = e.cancelled_in_window {
        assert_eq!(h.cancelled_in_window, n, "{name}: cancelled_in_window");
    }
    if let Some(n) = e.consecutive_cancellations {
        assert_eq!(h.consecutive_cancellations, n, "{name}: consecutive");
    }
    if let Some(want) = &e.active {
        let mut got: Vec<&str> = pp.findings.active.iter().map(|f| f.kind.as_str()).collect();
        got.sort_unstable();
        let mut want: Vec<&str> = want.iter().map(String::as_str).collect();
        want.sort_unstable();
        assert_eq!(got, want, "{name}: active findings");
    }
    if let Some(n) = e.history_len {
        assert_eq!(pp.history.len(), n, "{name}: history {:#?}", pp.history);
    }
    for (kind, needle) in &e.messages {
        let f = h
            .findings
            .iter()
            .find(|f| f.kind.as_str() == kind)
            .unwrap_or_else(|| panic!("{name}: no {kind} finding"));
        assert!(
            f.message.contains(needle.as_str()),
            "{name}: {kind} message {:?} lacks {needle:?}",
            f.message
        );
    }
}

fn check_writes(name: &str, case: &Case, plan: &Plan, all: &BTreeMap<String, usize>) {
    let e = &case.expect;
    if let Some(want) = &e.writes {
        let mut got: Vec<&str> = plan.writes.iter().map(|w| w.key.as_str()).collect();
        let mut want: Vec<&str> = want.iter().map(String::as_str).collect();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "{name}: writes {:#?}", plan.writes);
    }
    if let Some(want) = &e.writes_over_all_cycles {
        assert_eq!(all, want, "{name}: writes over all cycles");
    }
    for (key, needle) in &e.write_contains {
        let w = plan
            .writes
            .iter()
            .find(|w| &w.key == key)
            .unwrap_or_else(|| panic!("{name}: no write {key}"));
        let text = format!("{:?}", w.op);
        assert!(
            text.contains(needle.as_str()),
            "{name}: {key} lacks {needle:?}: {text}"
        );
    }
    if let Some(want) = &e.suspect_calendars {
        let got: Vec<&str> = plan
            .calendars
            .iter()
            .flat_map(|(_, c)| c.suspect.iter().map(|s| s.calendar.as_str()))
            .collect();
        assert_eq!(got, *want, "{name}: suspect calendars");
    }
}

#[test]
fn engine_cases() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/engine");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("cases dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "expected the engine cases, found {}",
        files.len()
    );
    for f in files {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let text = std::fs::read_to_string(&f).expect("read case");
        let case: Case = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (plan, all) = run_cycles(&case);
        check_health(&name, &case, &plan);
        check_writes(&name, &case, &plan, &all);
    }
}
