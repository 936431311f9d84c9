//! Property tests of the pure core: detection is independent of attendee order, cancellation
//! counts never exceed occurrences, and a weekly series at a fixed local time is on cadence in
//! every zone across DST changes (cadence is judged on instants, wall time stays fixed).
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use oneonone::domain::detect::{Classification, PairIndex};
use oneonone::domain::rules::FindingKind;
use oneonone::domain::{
    Attendee, Cadence, CancellationPolicy, Enforce, Instance, Pair, ParticipantKind, Response,
    Rhythm,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

mod support;

fn pair() -> Pair {
    Pair {
        id: Pair::make_id("alice@acme.test", "bob@acme.test"),
        manager: "alice@acme.test".into(),
        report: "bob@acme.test".into(),
        account: "local".into(),
        cadence: Cadence::Weeks(1),
        duration: Duration::minutes(30),
        enforce: Enforce::Warn,
        cancellations: CancellationPolicy {
            max_consecutive: 2,
            max_in_window: 3,
            window: Duration::days(90),
        },
        timezone: chrono_tz::UTC,
        working_hours: Default::default(),
    }
}

fn person(email: &str, response: Response) -> Attendee {
    Attendee {
        email: email.into(),
        kind: ParticipantKind::Person,
        response,
        optional: false,
    }
}

fn inst(
    id: &str,
    start: DateTime<Utc>,
    attendees: Vec<Attendee>,
    organizer: &str,
    cancelled: bool,
) -> Instance {
    Instance {
        account: "local".into(),
        calendar: "cal".into(),
        owner: None,
        id: id.into(),
        series_id: Some("s".into()),
        uid: "s".into(),
        original_start: Some(start),
        title: "1:1".into(),
        organizer: Some(organizer.into()),
        attendees: attendees.into(),
        start,
        end: start + Duration::minutes(30),
        all_day: false,
        cancelled,
        rhythm: Some(Rhythm::Weeks(1)),
        description: "".into(),
        version: "v".into(),
        source: "prop".into(),
    }
}

/// Plan one pair over a complete calendar holding `instances` (fresh state).
fn plan_one(
    now: DateTime<Utc>,
    p: Pair,
    instances: Vec<Instance>,
    lookback: Duration,
) -> oneonone::sync::PairPlan {
    let n = instances.len();
    let snap = support::snapshot(instances, &[("cal", n)]);
    let counts = BTreeMap::new();
    let accounts = [support::account("local", Some(&snap), false, &counts)];
    let pairs = [p];
    let settings = support::settings(Duration::weeks(8), lookback);
    let tokens = support::CountingTokens::default();
    let plan = support::plan(
        now,
        &settings,
        &pairs,
        &accounts,
        support::fresh_states(&pairs),
        &tokens,
    );
    plan.pairs.into_iter().next().expect("one pair, one plan")
}

const ZONES: [chrono_tz::Tz; 4] = [
    chrono_tz::Europe::London,
    chrono_tz::America::New_York,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Asia::Kolkata,
];

proptest! {
    #[test]
    fn detection_ignores_order_and_organizer(
        perm in Just(vec![0usize, 1, 2]).prop_shuffle(),
        org_is_report in any::<bool>(),
        with_third in any::<bool>(),
    ) {
        let pairs = vec![pair()];
        let index = PairIndex::new(&pairs);
        let pool = [
            person("alice@acme.test", Response::Accepted),
            person("bob@acme.test", Response::Accepted),
            Attendee { email: "room@acme.test".into(), kind: ParticipantKind::Resource, response: Response::Accepted, optional: false },
        ];
        let mut attendees: Vec<Attendee> = perm.iter().map(|&i| pool[i].clone()).collect();
        if with_third {
            attendees.insert(1, person("carol@acme.test", Response::Accepted));
        }
        let organizer = if org_is_report { "bob@acme.test" } else { "alice@acme.test" };
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap();
        let c = index.classify(&inst("x", t, attendees, organizer, false));
        if with_third {
            prop_assert_eq!(c, Classification::WithOthers { pair: 0, others: vec!["carol@acme.test".into()] });
        } else {
            prop_assert_eq!(c, Classification::OneOnOne(0));
        }
    }

    #[test]
    fn cancellation_counts_never_exceed_occurrences(
        flags in proptest::collection::vec(0u8..3, 1..40),
        now_offset_weeks in 0i64..45,
    ) {
        let p = pair();
        let first = Utc.with_ymd_and_hms(2026, 1, 6, 10, 0, 0).unwrap();
        let now = first + Duration::weeks(now_offset_weeks) + Duration::hours(3);
        let instances: Vec<Instance> = flags.iter().enumerate().map(|(k, f)| {
            let start = first + Duration::weeks(k as i64);
            let bob = if *f == 2 { Response::Declined } else { Response::Accepted };
            inst(&format!("s_{k}"), start, vec![person("alice@acme.test", Response::Accepted), person("bob@acme.test", bob)], "alice@acme.test", *f == 1)
        }).collect();
        let u = plan_one(now, p, instances.clone(), Duration::weeks(60));
        let h = &u.health;
        let occurrences = instances.len() as u32;
        prop_assert!(h.cancelled_in_window <= occurrences);
        prop_assert!(h.consecutive_cancellations <= occurrences);
        prop_assert!(h.held_in_window + h.cancelled_in_window <= occurrences);
        let streak = h.findings.iter().any(|f| f.kind == FindingKind::RepeatedCancellations);
        prop_assert_eq!(streak, h.consecutive_cancellations >= 2 || h.cancelled_in_window >= 3);
    }

    #[test]
    fn weekly_at_fixed_local_time_is_on_cadence_across_dst(
        zone in 0usize..4,
        start_day in 0i64..365,
        hour in 8u32..18,
    ) {
        let tz = ZONES[zone];
        let day0 = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Duration::days(start_day);
        let time = NaiveTime::from_hms_opt(hour, 0, 0).unwrap();
        // 30 weekly occurrences at the same wall-clock time, crossing at least one DST change.
        let starts: Vec<DateTime<Utc>> = (0..30)
            .filter_map(|k| tz.from_local_datetime(&(day0 + Duration::weeks(k)).and_time(time)).earliest())
            .map(|t| t.with_timezone(&Utc))
            .collect();
        for s in &starts {
            prop_assert_eq!(s.with_timezone(&tz).hour(), hour);
        }
        let now = *starts.get(25).unwrap() + Duration::hours(1);
        let instances: Vec<Instance> = starts.iter().enumerate().map(|(k, s)| inst(&format!("s_{k}"), *s, vec![person("alice@acme.test", Response::Accepted), person("bob@acme.test", Response::Accepted)], "alice@acme.test", false)).collect();
        let u = plan_one(now, pair(), instances, Duration::weeks(40));
        let kinds: Vec<FindingKind> = u.health.findings.iter().map(|f| f.kind).collect();
        prop_assert!(kinds.is_empty(), "findings {:?} in {}", kinds, tz);
        prop_assert_eq!(u.health.last_held, starts.get(25).copied());
    }
}
