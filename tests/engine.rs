//! Data-driven tests of the pure core (detection, history reconciliation, health rules, findings).
//! Each `tests/cases/engine/*.toml` file is one case: a pair, the calendar at one or more moments,
//! and the expected health after the last one. Adding a case means adding a file.
use chrono::{DateTime, Duration, Utc};
use oneonone::domain::rules::FindingKind;
use oneonone::domain::{
    Attendee, Cadence, CancellationPolicy, Enforce, Instance, Pair, ParticipantKind, Response,
    Rhythm,
};
use oneonone::providers::Window;
use oneonone::store::OccurrenceRecord;
use oneonone::sync::{AccountView, reconcile};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    pair: CasePair,
    /// The calendar as seen at successive cycles; history carries over between them.
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
    #[serde(default = "yes")]
    complete: bool,
}
fn yes() -> bool {
    true
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
    /// Occurrence numbers (0-based) that are cancelled / declined by the report / absent.
    #[serde(default)]
    cancelled: Vec<u32>,
    #[serde(default)]
    declined: Vec<u32>,
    #[serde(default)]
    removed: Vec<u32>,
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
    messages: HashMap<String, String>,
}

fn instance(e: &Event) -> Instance {
    let mut attendees: Vec<Attendee> = e
        .people
        .iter()
        .map(|p| Attendee {
            email: p.clone(),
            kind: ParticipantKind::Person,
            response: if e.declined.contains(p) {
                Response::Declined
            } else {
                Response::Accepted
            },
            optional: false,
        })
        .collect();
    attendees.extend(e.resources.iter().map(|r| Attendee {
        email: r.clone(),
        kind: ParticipantKind::Resource,
        response: Response::Accepted,
        optional: false,
    }));
    Instance {
        account: "local".into(),
        id: e.id.clone(),
        series_id: e.series.clone(),
        original_start: e.series.as_ref().map(|_| e.start),
        title: format!("event {}", e.id).into(),
        organizer: e
            .organizer
            .clone()
            .or_else(|| e.people.first().cloned())
            .map(Into::into),
        attendees: attendees.into(),
        start: e.start,
        end: e.start + Duration::minutes(e.minutes),
        all_day: e.all_day,
        cancelled: e.cancelled,
        rhythm: match e.rhythm.as_deref() {
            Some("weekly") => Some(Rhythm::Weeks(1)),
            Some("biweekly") => Some(Rhythm::Weeks(2)),
            Some("monthly") => Some(Rhythm::Months(1)),
            Some(other) => match other.parse::<Cadence>() {
                Ok(Cadence::Weeks(n)) => Some(Rhythm::Weeks(n)),
                _ => Some(Rhythm::Other(other.into())),
            },
            None => None,
        },
        description: "".into(),
        source: "case".into(),
    }
}

fn expand(s: &Series) -> Vec<Event> {
    (0..s.count)
        .filter(|k| !s.removed.contains(k))
        .map(|k| {
            let start = s.first + Duration::weeks(i64::from(k * s.every_weeks));
            Event {
                id: format!("{}_{}", s.id, start.format("%Y%m%dT%H%M%SZ")),
                series: Some(s.id.clone()),
                start,
                minutes: s.minutes,
                people: s.people.clone(),
                organizer: None,
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
            }
        })
        .collect()
}

fn run_case(name: &str, case: &Case) {
    let pair = Pair {
        id: Pair::make_id(&case.pair.manager, &case.pair.report),
        manager: case.pair.manager.clone(),
        report: case.pair.report.clone(),
        account: "local".into(),
        cadence: case.pair.cadence.parse::<Cadence>().expect("case cadence"),
        duration: Duration::minutes(case.pair.duration_minutes),
        enforce: Enforce::Warn,
        cancellations: CancellationPolicy {
            max_consecutive: case.pair.max_consecutive,
            max_in_window: case.pair.max_in_window,
            window: Duration::days(case.pair.window_days),
        },
    };
    let pairs = vec![pair.clone()];
    let horizon = Duration::weeks(8);
    let lookback = Duration::weeks(26);
    let mut history: HashMap<String, Vec<OccurrenceRecord>> = HashMap::new();
    let mut last = None;
    for cycle in &case.cycles {
        let mut events = cycle.events.clone();
        for s in &cycle.series {
            events.extend(expand(s));
        }
        let window = Window {
            start: cycle.now - lookback,
            end: cycle.now + horizon,
        };
        let instances: Vec<Instance> = events
            .iter()
            .map(instance)
            .filter(|i| i.end > window.start && i.start < window.end)
            .collect();
        let views = [AccountView {
            account: "local",
            window,
            instances: &instances,
            complete: cycle.complete,
        }];
        let updates = reconcile(
            cycle.now,
            &pairs,
            &views,
            history.clone(),
            horizon,
            lookback,
        );
        let update = updates.into_iter().next().expect("one pair, one update");
        history.insert(pair.id.clone(), update.history.clone());
        last = Some(update);
    }
    let update = last.expect("at least one cycle");
    let h = &update.health;
    let kinds: Vec<&str> = h.findings.iter().map(|f| f.kind.as_str()).collect();
    let mut expected: Vec<&str> = case.expect.findings.iter().map(String::as_str).collect();
    expected.sort_by_key(|k| {
        [
            FindingKind::NoUpcomingMeeting,
            FindingKind::CadenceGap,
            FindingKind::CadenceMismatch,
            FindingKind::DurationMismatch,
            FindingKind::RepeatedCancellations,
            FindingKind::NotOneOnOne,
        ]
        .iter()
        .position(|f| f.as_str() == *k)
        .unwrap_or(99)
    });
    assert_eq!(kinds, expected, "{name}: findings {:#?}", h.findings);
    if let Some(t) = case.expect.last_held {
        assert_eq!(h.last_held, Some(t), "{name}: last_held");
    }
    if let Some(t) = case.expect.next_scheduled {
        assert_eq!(h.next_scheduled, Some(t), "{name}: next_scheduled");
    }
    if let Some(n) = case.expect.held_in_window {
        assert_eq!(h.held_in_window, n, "{name}: held_in_window");
    }
    if let Some(n) = case.expect.cancelled_in_window {
        assert_eq!(h.cancelled_in_window, n, "{name}: cancelled_in_window");
    }
    if let Some(n) = case.expect.consecutive_cancellations {
        assert_eq!(h.consecutive_cancellations, n, "{name}: consecutive");
    }
    for (kind, needle) in &case.expect.messages {
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
        files.len() >= 10,
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
        run_case(&name, &case);
    }
}
