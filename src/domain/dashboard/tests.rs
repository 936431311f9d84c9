//! Unit tests of the dashboard rows: adherence counting, the streak, mark classification (held,
//! moved, cancelled, declined, missing, scheduled) and the monthly grid.
use super::*;
use crate::domain::agenda::AgendaItem;
use crate::domain::model::{CancellationPolicy, Enforce, meeting_key};
use chrono::TimeZone;

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .unwrap_or_default()
}

fn pair(cadence: Cadence, tz: chrono_tz::Tz) -> Pair {
    Pair {
        id: "ann@x.org~bob@x.org".into(),
        manager: "ann@x.org".into(),
        report: "bob@x.org".into(),
        account: "local".into(),
        cadence,
        duration: Duration::minutes(30),
        enforce: Enforce::Warn,
        cancellations: CancellationPolicy {
            max_consecutive: 2,
            max_in_window: 3,
            window: Duration::days(90),
        },
        timezone: tz,
        working_hours: Default::default(),
    }
}

/// A series occurrence planned at `planned`, starting at `start`.
fn occ(planned: DateTime<Utc>, start: DateTime<Utc>, status: OccurrenceStatus) -> Occurrence {
    Occurrence {
        pair_id: "ann@x.org~bob@x.org".into(),
        account: "local".into(),
        meeting: meeting_key("weekly_1", Some(planned)),
        series: Some("weekly_1".into()),
        title: "1:1".into(),
        start,
        end: start + Duration::minutes(30),
        status,
        cancel_reason: None,
        last_seen: start,
        one_on_one: true,
        seen_in: Vec::new(),
        agenda: None,
    }
}

fn at(planned: DateTime<Utc>, status: OccurrenceStatus) -> Occurrence {
    occ(planned, planned, status)
}

fn cancelled(planned: DateTime<Utc>, reason: &str) -> Occurrence {
    let mut o = at(planned, OccurrenceStatus::Cancelled);
    o.cancel_reason = Some(reason.into());
    o
}

/// Monday 30 Nov 2026, 12:00 UTC; the weekly 1:1 is on Mondays at 10:00 UTC.
fn now() -> DateTime<Utc> {
    utc(2026, 11, 30, 12, 0)
}

fn monday(weeks_before_now: i64) -> DateTime<Utc> {
    utc(2026, 11, 30, 10, 0) - Duration::weeks(weeks_before_now)
}

fn row(
    p: &Pair,
    history: &[Occurrence],
    findings: &[ActiveFinding],
    now: DateTime<Utc>,
) -> PairRow {
    pair_row(
        PairData {
            pair: p,
            history,
            findings,
            items: &[],
        },
        now,
    )
}

fn states(r: &PairRow) -> Vec<&'static str> {
    r.marks.iter().map(|m| m.state.as_str()).collect()
}

#[test]
fn weekly_adherence_counts_held_slots_over_the_expected_slots_of_90_days() {
    let p = pair(Cadence::Weeks(1), chrono_tz::UTC);
    // 90 days before Monday 12:00 is a Tuesday: the window holds 13 Mondays (0..=12 weeks ago).
    let mut history: Vec<Occurrence> = (0..=12)
        .filter(|w| *w != 5)
        .map(|w| match w {
            3 | 8 => cancelled(monday(w), "cancelled by ann@x.org"),
            _ => at(monday(w), OccurrenceStatus::Held),
        })
        .collect();
    // The next one, and one from before the window (neither is expected in the window).
    history.push(at(monday(-1), OccurrenceStatus::Scheduled));
    history.push(at(monday(13), OccurrenceStatus::Held));
    let r = row(&p, &history, &[], now());
    assert_eq!(
        r.adherence,
        Adherence {
            held: 10,
            expected: 13
        }
    );
    assert_eq!(r.adherence.percent(), Some(76));
    assert_eq!(r.health, Health::AtRisk, "{:?}", r.reasons);
    assert_eq!(r.last_held, Some(monday(0)));
    assert_eq!(r.next_scheduled, Some(monday(-1)));
    assert_eq!(r.cancellation_streak, 0);
    let missing: Vec<_> = r
        .marks
        .iter()
        .filter(|m| m.state == MarkState::Missing)
        .collect();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].at, monday(5));
    assert_eq!(
        r.marks.len(),
        14,
        "12 seen in the window, 1 missing, 1 upcoming"
    );
    assert_eq!(r.marks.last().map(|m| m.state), Some(MarkState::Scheduled));
    assert_eq!(r.slots.len(), 14, "13 expected and the next one");
}

#[test]
fn a_cancellation_streak_is_counted_and_each_mark_classified_in_order() {
    let p = pair(Cadence::Weeks(1), chrono_tz::UTC);
    let history = vec![
        at(monday(4), OccurrenceStatus::Held),
        at(monday(3), OccurrenceStatus::Held),
        cancelled(monday(2), "cancelled by ann@x.org"),
        cancelled(monday(1), "declined by bob@x.org"),
        cancelled(monday(0), "removed from the calendar"),
    ];
    let r = row(&p, &history, &[], now());
    assert_eq!(r.cancellation_streak, 3);
    let tail: Vec<_> = states(&r).into_iter().rev().take(5).collect();
    assert_eq!(
        tail,
        ["cancelled", "declined", "cancelled", "held", "held"],
        "{:?}",
        r.marks
    );
    assert_eq!(
        r.marks
            .iter()
            .filter(|m| m.state == MarkState::Missing)
            .count(),
        0,
        "no slot is missing from the first known 1:1 on"
    );
    assert_eq!(
        r.adherence,
        Adherence {
            held: 2,
            expected: 5
        }
    );
    assert_eq!(r.health, Health::Failing);
    assert!(
        r.reasons.iter().any(|x| x.starts_with("adherence 40%")),
        "{:?}",
        r.reasons
    );
}

#[test]
fn a_held_one_breaks_the_streak_and_missing_slots_do_not_extend_it() {
    let p = pair(Cadence::Weeks(1), chrono_tz::UTC);
    let history = vec![
        cancelled(monday(3), "cancelled by ann@x.org"),
        at(monday(2), OccurrenceStatus::Held),
        // monday(1): nothing at all.
        cancelled(monday(0), "declined by bob@x.org"),
    ];
    let r = row(&p, &history, &[], now());
    assert_eq!(r.cancellation_streak, 1);
    let last3: Vec<_> = states(&r).into_iter().rev().take(3).collect();
    assert_eq!(last3, ["declined", "missing", "held"]);
}

#[test]
fn a_moved_meeting_fills_its_own_slot_and_counts_as_held() {
    let p = pair(Cadence::Weeks(1), chrono_tz::UTC);
    let history: Vec<Occurrence> = (0..=12)
        .map(|w| {
            if w == 2 {
                // Planned Monday 10:00, held on Thursday 15:00 (nearer the next slot by start).
                occ(
                    monday(2),
                    monday(2) + Duration::hours(77),
                    OccurrenceStatus::Held,
                )
            } else {
                at(monday(w), OccurrenceStatus::Held)
            }
        })
        .collect();
    let r = row(&p, &history, &[], now());
    assert_eq!(
        r.adherence,
        Adherence {
            held: 13,
            expected: 13
        }
    );
    assert_eq!(r.health, Health::Healthy, "{:?}", r.reasons);
    let moved: Vec<_> = r
        .marks
        .iter()
        .filter(|m| m.state == MarkState::Moved)
        .collect();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].at, monday(2) + Duration::hours(77));
    assert_eq!(moved[0].original, Some(monday(2)));
    assert!(moved[0].held);
    assert!(!r.marks.iter().any(|m| m.state == MarkState::Missing));
}

#[test]
fn a_moved_cancelled_meeting_is_cancelled_and_an_upcoming_moved_one_is_moved() {
    let p = pair(Cadence::Weeks(1), chrono_tz::UTC);
    let mut gone = occ(
        monday(1),
        monday(1) + Duration::days(1),
        OccurrenceStatus::Cancelled,
    );
    gone.cancel_reason = Some("cancelled by ann@x.org".into());
    let next = occ(
        monday(-1),
        monday(-1) + Duration::hours(3),
        OccurrenceStatus::Scheduled,
    );
    let r = row(
        &p,
        &[at(monday(2), OccurrenceStatus::Held), gone, next],
        &[],
        now(),
    );
    let last3: Vec<_> = states(&r).into_iter().rev().take(3).collect();
    assert_eq!(last3, ["moved", "missing", "cancelled"]);
    assert!(!r.marks.last().is_some_and(|m| m.held));
}

#[test]
fn monthly_slots_keep_their_wall_clock_time_across_dst() {
    let tz = chrono_tz::Europe::Berlin;
    let p = pair(Cadence::Monthly, tz);
    let local = |m: u32| {
        tz.with_ymd_and_hms(2026, m, 15, 9, 0, 0)
            .single()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    };
    let history = vec![
        at(local(9), OccurrenceStatus::Held),
        at(local(10), OccurrenceStatus::Held),
        // November: nothing.
        at(local(12), OccurrenceStatus::Held),
    ];
    let r = row(&p, &history, &[], utc(2026, 12, 16, 12, 0));
    // From 17 Sep: the slots of 15 Oct, 15 Nov and 15 Dec are expected.
    assert_eq!(
        r.adherence,
        Adherence {
            held: 2,
            expected: 3
        }
    );
    let missing: Vec<_> = r
        .marks
        .iter()
        .filter(|m| m.state == MarkState::Missing)
        .collect();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].at, utc(2026, 11, 15, 8, 0), "09:00 CET");
    assert_eq!(local(10), utc(2026, 10, 15, 7, 0), "09:00 CEST");
    assert!(r.slots.contains(&utc(2027, 1, 15, 8, 0)), "{:?}", r.slots);
    assert_eq!(r.health, Health::AtRisk);
}

#[test]
fn a_pair_without_history_has_every_slot_missing() {
    let p = pair(Cadence::Weeks(2), chrono_tz::UTC);
    let r = row(&p, &[], &[], now());
    assert_eq!(r.adherence.held, 0);
    assert_eq!(
        r.adherence.expected, 7,
        "90 days of biweekly slots ending now"
    );
    assert!(r.marks.iter().all(|m| m.state == MarkState::Missing));
    assert_eq!(r.health, Health::Failing);
    assert_eq!(r.last_held, None);
    assert_eq!(r.next_scheduled, None);
}

#[test]
fn slots_before_the_first_known_one_on_one_are_not_expected() {
    let p = pair(Cadence::Weeks(1), chrono_tz::UTC);
    // A new pair: its first 1:1 is next week. Nothing was expected of it yet.
    let new_pair = [at(monday(-1), OccurrenceStatus::Scheduled)];
    let r = row(&p, &new_pair, &[], now());
    assert_eq!(
        r.adherence,
        Adherence {
            held: 0,
            expected: 0
        }
    );
    assert_eq!(r.adherence.percent(), None);
    assert!(r.marks.iter().all(|m| m.state != MarkState::Missing));
    assert_eq!(r.health, Health::Healthy, "{:?}", r.reasons);
    // A pair that started three weeks ago and skipped one week since: four slots expected (3, 2,
    // 1 and 0 weeks ago), three held, the skipped one missing; none before the first.
    let started: Vec<Occurrence> = [3, 2, 0]
        .into_iter()
        .map(|w| at(monday(w), OccurrenceStatus::Held))
        .collect();
    let r = row(&p, &started, &[], now());
    assert_eq!(
        r.adherence,
        Adherence {
            held: 3,
            expected: 4
        }
    );
    let missing: Vec<_> = r
        .marks
        .iter()
        .filter(|m| m.state == MarkState::Missing)
        .map(|m| m.at)
        .collect();
    assert_eq!(missing, vec![monday(1)]);
}

fn finding(kind: &str, severity: &str) -> ActiveFinding {
    ActiveFinding {
        pair_id: "p".into(),
        key: kind.into(),
        kind: kind.into(),
        severity: severity.into(),
        message: String::new(),
        occurrence: None,
        first_seen: now(),
        notified_at: None,
        level: 1,
        notified_level: 0,
        details: Vec::new(),
    }
}

#[test]
fn health_comes_from_findings_adherence_and_the_streak() {
    let full = Adherence {
        held: 10,
        expected: 10,
    };
    assert_eq!(health_of(&[], full, 0), (Health::Healthy, vec![]));
    assert_eq!(
        health_of(
            &[],
            Adherence {
                held: 0,
                expected: 0
            },
            0
        )
        .0,
        Health::Healthy,
        "unknown adherence is no reason"
    );
    assert_eq!(
        health_of(&[finding("duration_mismatch", "info")], full, 0).0,
        Health::Healthy
    );
    let (h, why) = health_of(&[finding("duration_mismatch", "warning")], full, 0);
    assert_eq!(
        (h, why),
        (
            Health::AtRisk,
            vec!["finding duration_mismatch".to_string()]
        )
    );
    assert_eq!(health_of(&[], full, 1).0, Health::AtRisk);
    assert_eq!(
        health_of(
            &[],
            Adherence {
                held: 7,
                expected: 10
            },
            0
        )
        .0,
        Health::AtRisk
    );
    assert_eq!(
        health_of(
            &[],
            Adherence {
                held: 4,
                expected: 10
            },
            0
        )
        .0,
        Health::Failing
    );
    for kind in FAILING_KINDS {
        let (h, why) = health_of(&[finding(kind, "warning")], full, 2);
        assert_eq!(h, Health::Failing, "{kind}");
        assert_eq!(why, vec![format!("finding {kind}")]);
    }
    for h in Health::ALL {
        assert_eq!(Health::parse(h.as_str()), Some(h));
    }
    assert_eq!(Health::parse("ok"), None);
}

#[test]
fn open_action_items_are_open_items_of_kind_action_item() {
    let item = |kind, done: bool| AgendaItem {
        kind,
        done_at: done.then(now),
        ..AgendaItem::default()
    };
    let items = [
        item(ItemKind::ActionItem, false),
        item(ItemKind::ActionItem, false),
        item(ItemKind::ActionItem, true),
        item(ItemKind::TalkingPoint, false),
    ];
    assert_eq!(open_action_items(&items), 2);
}

#[test]
fn the_original_start_is_read_back_from_the_meeting_key() {
    let t = utc(2026, 11, 2, 10, 0);
    let key = meeting_key("a_b@x", Some(t));
    assert_eq!(original_start_of(&key, "a_b@x"), Some(t));
    assert_eq!(original_start_of(&key, "a"), None, "another uid");
    assert_eq!(original_start_of("a_b@x", "a_b@x"), None, "a single event");
    assert_eq!(original_start_of("u_2026110XT100000Z", "u"), None);
}
