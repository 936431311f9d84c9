//! Expanding cached candidate events into `Instance`s for a window.
//!
//! Recurrence is computed in the event's own zone (the master DTSTART's TZID, UTC, or the default
//! zone for floating times), so a weekly 10:00 Europe/London meeting stays at 10:00 local across
//! DST. RRULEs go through the `rrule` crate; DTSTART, RDATEs, EXDATEs and RECURRENCE-ID overrides
//! are applied here. An override replaces its original occurrence wherever either of them lies, so
//! overrides move occurrences into and out of the window. Expansion stops at the window end and
//! after `MAX_OCCURRENCES` generated occurrences per series (reported as a problem).
use super::parse::{EndSpec, Ev, Kind, PartStat};
use super::tz::When;
use super::vtimezone::Zone;
use crate::domain::{Attendee, Instance, ParticipantKind, Response, Rhythm};
use crate::providers::{SourceProblem, Window};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;

/// Per-series cap on generated occurrences (guards against FREQ=SECONDLY and friends).
pub(crate) const MAX_OCCURRENCES: usize = 50_000;

/// Where the events come from and which part of time is wanted.
pub(crate) struct Ctx<'a> {
    pub account: &'a str,
    /// The calendar (collection folder) the file is in.
    pub calendar: &'a str,
    /// Whose calendar that folder is, when the configuration says.
    pub owner: Option<&'a str>,
    pub source: &'a str,
    pub default_tz: Tz,
    pub window: Window,
}

/// The parts of an event that all its instances share, built once per event.
#[derive(Clone)]
struct Shared {
    account: std::sync::Arc<str>,
    calendar: std::sync::Arc<str>,
    owner: Option<std::sync::Arc<str>>,
    uid: std::sync::Arc<str>,
    version: std::sync::Arc<str>,
    source: std::sync::Arc<str>,
    title: std::sync::Arc<str>,
    organizer: Option<std::sync::Arc<str>>,
    attendees: std::sync::Arc<[Attendee]>,
    description: std::sync::Arc<str>,
}

thread_local! {
    /// Per-thread memo of the shared parts of the events of the file being expanded (keyed by
    /// address; cleared at the start of every file, whose events stay put while it is expanded).
    static SHARED: std::cell::RefCell<Vec<(usize, String, Shared)>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn shared(ev: &Ev, ctx: &Ctx<'_>) -> Shared {
    let key = ev as *const Ev as usize;
    SHARED.with(|memo| {
        let mut memo = memo.borrow_mut();
        if let Some((_, _, s)) = memo
            .iter()
            .find(|(k, uid, s)| *k == key && *uid == ev.uid && &*s.source == ctx.source)
        {
            return s.clone();
        }
        let s = Shared {
            account: ctx.account.into(),
            calendar: ctx.calendar.into(),
            owner: ctx.owner.map(Into::into),
            uid: ev.uid.as_str().into(),
            version: event_version(ev).into(),
            source: ctx.source.into(),
            title: ev.summary.as_str().into(),
            organizer: ev.organizer.as_deref().map(Into::into),
            attendees: ev
                .attendees
                .iter()
                .map(|a| Attendee {
                    email: a.email.clone(),
                    kind: match a.kind {
                        Kind::Person => ParticipantKind::Person,
                        Kind::Group => ParticipantKind::Group,
                        Kind::Resource => ParticipantKind::Resource,
                    },
                    response: match a.partstat {
                        PartStat::Accepted => Response::Accepted,
                        PartStat::Tentative => Response::Tentative,
                        PartStat::Declined => Response::Declined,
                        PartStat::NeedsAction => Response::NeedsAction,
                    },
                    optional: a.optional,
                })
                .collect(),
            description: ev.description.as_str().into(),
        };
        if memo.len() >= 8 {
            memo.remove(0);
        }
        memo.push((key, ev.uid.clone(), s.clone()));
        s
    })
}

/// The instance id of a series occurrence: `{UID}_{original start UTC}` (the meeting key).
pub(crate) fn occurrence_id(uid: &str, original: DateTime<Utc>) -> String {
    crate::domain::meeting_key(uid, Some(original))
}

/// The version of one event component as read: a fingerprint of what a write depends on (its
/// description). Writes re-check the description itself, so this is informational for local.
pub(crate) fn event_version(ev: &Ev) -> String {
    format!(
        "{:016x}",
        crate::domain::hash::fnv1a64(ev.description.as_bytes())
    )
}

/// The events of a file grouped by UID, in file order: (master, overrides).
pub(crate) fn group(events: &[Ev]) -> Vec<(Option<&Ev>, Vec<&Ev>)> {
    let mut order: Vec<&str> = Vec::new();
    let mut map: HashMap<&str, (Option<&Ev>, Vec<&Ev>)> = HashMap::new();
    for e in events {
        let entry = map.entry(e.uid.as_str()).or_insert_with(|| {
            order.push(e.uid.as_str());
            (None, Vec::new())
        });
        if e.recurrence_id.is_some() {
            entry.1.push(e);
        } else if entry.0.is_none() {
            entry.0 = Some(e);
        }
    }
    order.into_iter().filter_map(|u| map.remove(u)).collect()
}

/// Is this master recurring?
pub(crate) fn is_series(master: &Ev) -> bool {
    !master.rrules.is_empty() || !master.rdates.is_empty()
}

/// Expand every event of one file that overlaps the window.
pub(crate) fn expand_file(
    events: &[Ev],
    ctx: &Ctx<'_>,
    out: &mut Vec<Instance>,
    problems: &mut Vec<SourceProblem>,
) {
    // The memo of shared parts is valid only while this file's events stay where they are.
    SHARED.with(|memo| memo.borrow_mut().clear());
    for (master, overrides) in group(events) {
        match master {
            Some(m) if !is_series(m) && overrides.is_empty() => {
                if m.candidate {
                    let start = m.start.instant(ctx.default_tz);
                    let end = start + m.length(ctx.default_tz).max(Duration::zero());
                    if overlaps(start, end, ctx.window) {
                        out.push(instance(
                            m,
                            ctx,
                            m.uid.clone(),
                            false,
                            None,
                            start,
                            end,
                            m.cancelled,
                            None,
                        ));
                    }
                }
            }
            _ => expand_series(master, &overrides, ctx, out, problems),
        }
    }
}

fn overlaps(start: DateTime<Utc>, end: DateTime<Utc>, w: Window) -> bool {
    // A zero-length event at the window start still counts.
    (end > w.start || (end == start && start >= w.start)) && start < w.end
}

fn expand_series(
    master: Option<&Ev>,
    overrides: &[&Ev],
    ctx: &Ctx<'_>,
    out: &mut Vec<Instance>,
    problems: &mut Vec<SourceProblem>,
) {
    let tz = ctx.default_tz;
    let exdates: Vec<&When> = master
        .map(|m| m.exdates.iter().collect())
        .unwrap_or_default();
    let zone = master.map_or(Zone::Iana(tz), |m| m.start.zone(tz));
    // (Occurrence starts come without EXRULE hits already; an override's original start is
    // checked against the EXRULEs too.)
    let excluded = |t: DateTime<Utc>| is_excluded(t, &exdates, &zone, tz);
    let override_ids: HashSet<DateTime<Utc>> = overrides
        .iter()
        .filter_map(|o| o.recurrence_id.as_ref().map(|r| r.instant(tz)))
        .collect();
    let rhythm = master.and_then(|m| m.rrules.first().map(|r| rhythm_of(r)));
    let uid = master
        .map(|m| m.uid.as_str())
        .or_else(|| overrides.first().map(|o| o.uid.as_str()));
    let Some(uid) = uid else { return };
    if let Some(m) = master {
        let len = m.length(tz).max(Duration::zero());
        // An occurrence overlaps the window if it starts before the end and ends after the start.
        let from = ctx.window.start - len;
        let (starts, problem) = occurrence_starts(m, tz, from, ctx.window.end);
        if let Some(msg) = problem {
            problems.push(SourceProblem {
                calendar: Some(ctx.calendar.to_string()),
                source: ctx.source.to_string(),
                message: format!("event {uid}: {msg}"),
                kind: crate::providers::ProblemKind::Unreadable,
            });
        }
        if m.candidate {
            for s in starts {
                if override_ids.contains(&s) || excluded(s) {
                    continue;
                }
                let e = s + len;
                if overlaps(s, e, ctx.window) {
                    out.push(instance(
                        m,
                        ctx,
                        occurrence_id(uid, s),
                        true,
                        Some(s),
                        s,
                        e,
                        m.cancelled,
                        rhythm.clone(),
                    ));
                }
            }
        }
    }
    for o in overrides {
        let Some(rid) = o.recurrence_id.as_ref().map(|r| r.instant(tz)) else {
            continue;
        };
        if !o.candidate || excluded(rid) || master.is_some_and(|m| exrule_excludes(m, tz, rid)) {
            continue;
        }
        let start = o.start.instant(tz);
        let len = match (&o.end, master) {
            (EndSpec::None, Some(m)) => m.length(tz),
            _ => o.length(tz),
        }
        .max(Duration::zero());
        let end = start + len;
        if overlaps(start, end, ctx.window) {
            let cancelled = o.cancelled || master.is_some_and(|m| m.cancelled);
            out.push(instance(
                o,
                ctx,
                occurrence_id(uid, rid),
                true,
                Some(rid),
                start,
                end,
                cancelled,
                rhythm.clone(),
            ));
        }
    }
}

fn is_excluded(t: DateTime<Utc>, exdates: &[&When], zone: &Zone, default_tz: Tz) -> bool {
    exdates.iter().any(|x| match x {
        When::Date(d) => t.with_timezone(zone).date_naive() == *d,
        other => other.instant(default_tz) == t,
    })
}

#[allow(clippy::too_many_arguments)]
fn instance(
    ev: &Ev,
    ctx: &Ctx<'_>,
    id: String,
    in_series: bool,
    original_start: Option<DateTime<Utc>>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    cancelled: bool,
    rhythm: Option<Rhythm>,
) -> Instance {
    let sh = shared(ev, ctx);
    Instance {
        account: sh.account,
        calendar: sh.calendar,
        owner: sh.owner,
        id,
        series_id: in_series.then(|| sh.uid.clone()),
        uid: sh.uid,
        original_start,
        title: sh.title,
        organizer: sh.organizer,
        attendees: sh.attendees,
        start,
        end,
        all_day: ev.start.is_date(),
        cancelled,
        rhythm,
        description: sh.description,
        version: sh.version,
        source: sh.source,
    }
}

/// The series rhythm from an RRULE body.
pub(crate) fn rhythm_of(rule: &str) -> Rhythm {
    let mut freq = String::new();
    let mut interval: u32 = 1;
    for part in rule.split(';') {
        if let Some((k, v)) = part.split_once('=') {
            if k.trim().eq_ignore_ascii_case("FREQ") {
                freq = v.trim().to_ascii_uppercase();
            } else if k.trim().eq_ignore_ascii_case("INTERVAL") {
                interval = v.trim().parse().unwrap_or(1).max(1);
            }
        }
    }
    match freq.as_str() {
        "WEEKLY" => Rhythm::Weeks(interval),
        "DAILY" if interval.is_multiple_of(7) => Rhythm::Weeks(interval / 7),
        "MONTHLY" => Rhythm::Months(interval),
        "" => Rhythm::Other("unknown".to_string()),
        f => {
            let word = f.to_ascii_lowercase();
            if interval == 1 {
                Rhythm::Other(word)
            } else {
                Rhythm::Other(format!("{word} (every {interval})"))
            }
        }
    }
}

/// Rewrite an RRULE body for the `rrule` crate, which we run on wall-clock times (see
/// `occurrence_starts`): drop unknown parts and express UNTIL as a wall time in the event's zone
/// (written with `Z`, as the crate wants for a UTC start). Producers write UTC, local and DATE
/// UNTILs; all three are accepted.
pub(crate) fn normalize_rule<Z: TimeZone>(rule: &str, zone: &Z) -> Result<String, String> {
    const KNOWN: [&str; 14] = [
        "FREQ",
        "UNTIL",
        "COUNT",
        "INTERVAL",
        "BYSECOND",
        "BYMINUTE",
        "BYHOUR",
        "BYDAY",
        "BYMONTHDAY",
        "BYYEARDAY",
        "BYWEEKNO",
        "BYMONTH",
        "BYSETPOS",
        "WKST",
    ];
    let mut parts = Vec::new();
    for part in rule.trim().trim_start_matches("RRULE:").split(';') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let key = k.trim().to_ascii_uppercase();
        if !KNOWN.contains(&key.as_str()) {
            continue;
        }
        if key == "UNTIL" {
            let v = v.trim();
            let until = if v.len() == 8 {
                let d = NaiveDate::parse_from_str(v, "%Y%m%d")
                    .map_err(|_| format!("bad UNTIL {v:?}"))?;
                d.and_hms_opt(23, 59, 59)
                    .ok_or_else(|| format!("bad UNTIL {v:?}"))?
            } else {
                match super::tz::parse_date_time(v) {
                    // A UTC UNTIL becomes the wall time in the event's zone.
                    Some((n, true)) => Utc.from_utc_datetime(&n).with_timezone(zone).naive_local(),
                    Some((n, false)) => n,
                    None => return Err(format!("bad UNTIL {v:?}")),
                }
            };
            parts.push(format!("UNTIL={}", until.format("%Y%m%dT%H%M%SZ")));
        } else {
            parts.push(format!("{key}={}", v.trim()));
        }
    }
    Ok(parts.join(";"))
}

/// Original starts of a series' occurrences in `[from, to)`: DTSTART, RRULE and RDATE occurrences
/// less those an EXRULE produces (EXDATEs and overrides are applied by the caller). Returns a
/// problem message when a rule is unreadable or too dense.
pub(crate) fn occurrence_starts(
    master: &Ev,
    default_tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> (Vec<DateTime<Utc>>, Option<String>) {
    let zone = master.start.zone(default_tz);
    let first = master.start.instant(default_tz);
    let mut set: BTreeSet<DateTime<Utc>> = BTreeSet::new();
    let mut problem = None;
    if first >= from && first < to {
        set.insert(first);
    }
    for rule in &master.rrules {
        if let Some(p) = rule_starts(master, &zone, rule, "RRULE", from, to, &mut set) {
            problem = Some(p);
        }
    }
    for r in &master.rdates {
        let t = match r {
            When::Date(d) => zone.local_to_utc(d.and_time(master.start.naive().time())),
            other => other.instant(default_tz),
        };
        if t >= from && t < to {
            set.insert(t);
        }
    }
    if !master.exrules.is_empty() && !set.is_empty() {
        let mut excluded = BTreeSet::new();
        for rule in &master.exrules {
            if let Some(p) = rule_starts(master, &zone, rule, "EXRULE", from, to, &mut excluded) {
                problem = Some(p);
            }
        }
        set.retain(|t| !excluded.contains(t));
    }
    (set.into_iter().collect(), problem)
}

/// Does an EXRULE of the master produce `t`? (For overrides, whose original start may lie
/// anywhere.)
fn exrule_excludes(master: &Ev, default_tz: Tz, t: DateTime<Utc>) -> bool {
    if master.exrules.is_empty() {
        return false;
    }
    let zone = master.start.zone(default_tz);
    let mut hits = BTreeSet::new();
    for rule in &master.exrules {
        rule_starts(
            master,
            &zone,
            rule,
            "EXRULE",
            t,
            t + Duration::seconds(1),
            &mut hits,
        );
    }
    hits.contains(&t)
}

/// Add the instants in `[from, to)` of one RRULE/EXRULE of the master to `into`; a problem message
/// when the rule is unreadable or too dense.
fn rule_starts(
    master: &Ev,
    zone: &Zone,
    rule: &str,
    what: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    into: &mut BTreeSet<DateTime<Utc>>,
) -> Option<String> {
    // The rule runs on wall-clock times (as if they were UTC); each result is then placed in the
    // zone with RFC 5545's rules (a time inside a DST gap uses the offset before the gap, a
    // repeated time the first instant). So 10:00 stays 10:00 local all year, also in a zone the
    // file defines itself.
    let dt_start = rrule::Tz::UTC.from_utc_datetime(&master.start.naive());
    let parsed = normalize_rule(rule, zone).and_then(|body| {
        rrule::RRule::<rrule::Unvalidated>::from_str(&body)
            .map_err(|e| e.to_string())
            .and_then(|r| r.validate(dt_start).map_err(|e| e.to_string()))
    });
    let validated = match parsed {
        Ok(v) => v,
        // UNTIL before DTSTART: the rule adds nothing beyond DTSTART.
        Err(e) if e.contains("UNTIL") && e.contains("before") => return None,
        Err(e) => {
            return Some(if what == "RRULE" {
                format!("unreadable RRULE {rule:?}: {e}; only DTSTART and RDATEs used")
            } else {
                format!("unreadable {what} {rule:?}: {e}; ignored")
            });
        }
    };
    let set_iter = rrule::RRuleSet::new(dt_start).rrule(validated).limit();
    let mut n = 0usize;
    for occ in &set_iter {
        let t = zone.local_to_utc(occ.naive_utc());
        if t >= to {
            // Wall-clock order can differ from instant order by a DST shift: look a bit on.
            if t >= to + Duration::hours(3) {
                break;
            }
            continue;
        }
        n += 1;
        if n > MAX_OCCURRENCES {
            return Some(format!(
                "{what} {rule:?} produces more than {MAX_OCCURRENCES} occurrences before {}; expansion stopped",
                to.format("%Y-%m-%d")
            ));
        }
        if t >= from {
            into.insert(t);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::local::parse::parse_text;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap()
    }

    fn run(text: &str, from: &str, to: &str) -> (Vec<Instance>, Vec<SourceProblem>) {
        let f = parse_text(text);
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        let ctx = Ctx {
            account: "acc",
            calendar: "cal",
            owner: None,
            source: "f.ics",
            default_tz: Tz::Europe__Berlin,
            window: Window {
                start: utc(from),
                end: utc(to),
            },
        };
        let mut out = Vec::new();
        let mut problems = Vec::new();
        expand_file(&f.events, &ctx, &mut out, &mut problems);
        out.sort_by_key(|i| i.start);
        (out, problems)
    }

    fn cal(body: &str) -> String {
        format!("BEGIN:VCALENDAR\nVERSION:2.0\n{body}END:VCALENDAR\n")
    }

    const PEOPLE: &str =
        "ORGANIZER:mailto:a@x.org\nATTENDEE:mailto:a@x.org\nATTENDEE:mailto:b@x.org\n";

    #[test]
    fn occurrences_in_a_dst_gap_use_the_offset_before_it() {
        let text = cal(&format!(
            "BEGIN:VEVENT\nUID:g\nDTSTART;TZID=Europe/London:20260301T013000\nDTEND;TZID=Europe/London:20260301T020000\nRRULE:FREQ=WEEKLY;UNTIL=20260405T003000Z\n{PEOPLE}END:VEVENT\n"
        ));
        let (v, _) = run(&text, "2026-03-01T00:00:00Z", "2026-05-01T00:00:00Z");
        let starts: Vec<String> = v
            .iter()
            .map(|i| i.start.format("%m-%d %H:%M").to_string())
            .collect();
        // 03-29 01:30 does not exist in London: read with GMT (= 02:30 BST). UNTIL (UTC) is the
        // 04-05 01:30 BST occurrence itself, so it is included.
        assert_eq!(
            starts,
            vec![
                "03-01 01:30",
                "03-08 01:30",
                "03-15 01:30",
                "03-22 01:30",
                "03-29 01:30",
                "04-05 00:30"
            ]
        );
    }

    #[test]
    fn occurrence_ids() {
        let t = Utc.with_ymd_and_hms(2026, 3, 9, 7, 5, 3).unwrap();
        assert_eq!(occurrence_id("u@x", t), "u@x_20260309T070503Z");
        assert_eq!(
            occurrence_id("u@x", t),
            format!("u@x_{}", t.format("%Y%m%dT%H%M%SZ"))
        );
    }

    #[test]
    fn rhythms() {
        assert_eq!(rhythm_of("FREQ=WEEKLY"), Rhythm::Weeks(1));
        assert_eq!(
            rhythm_of("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO"),
            Rhythm::Weeks(2)
        );
        assert_eq!(rhythm_of("FREQ=DAILY;INTERVAL=14"), Rhythm::Weeks(2));
        assert_eq!(rhythm_of("FREQ=MONTHLY;BYDAY=1MO"), Rhythm::Months(1));
        assert_eq!(rhythm_of("FREQ=DAILY"), Rhythm::Other("daily".into()));
    }

    #[test]
    fn weekly_with_exdate_rdate_and_overrides() {
        let text = cal(&format!(
            "BEGIN:VEVENT\nUID:s1\nDTSTART;TZID=Europe/London:20260302T100000\nDTEND;TZID=Europe/London:20260302T103000\nRRULE:FREQ=WEEKLY;COUNT=6\nEXDATE;TZID=Europe/London:20260309T100000\nRDATE;TZID=Europe/London:20260320T150000\n{PEOPLE}END:VEVENT\n\
             BEGIN:VEVENT\nUID:s1\nRECURRENCE-ID;TZID=Europe/London:20260316T100000\nDTSTART;TZID=Europe/London:20260317T110000\nDTEND;TZID=Europe/London:20260317T113000\n{PEOPLE}END:VEVENT\n\
             BEGIN:VEVENT\nUID:s1\nRECURRENCE-ID;TZID=Europe/London:20260323T100000\nDTSTART;TZID=Europe/London:20260323T100000\nDTEND;TZID=Europe/London:20260323T103000\nSTATUS:CANCELLED\n{PEOPLE}END:VEVENT\n"
        ));
        let (v, p) = run(&text, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
        assert!(p.is_empty());
        let starts: Vec<String> = v
            .iter()
            .map(|i| i.start.format("%m-%d %H:%M").to_string())
            .collect();
        // 03-02, (03-09 excluded), 03-16 moved to 03-17 11:00, 03-20 rdate, 03-23 cancelled, 03-30 (BST), 04-06
        assert_eq!(
            starts,
            vec![
                "03-02 10:00",
                "03-17 11:00",
                "03-20 15:00",
                "03-23 10:00",
                "03-30 09:00",
                "04-06 09:00"
            ]
        );
        assert!(v[3].cancelled);
        assert_eq!(v[1].id, "s1_20260316T100000Z");
        assert_eq!(v[1].original_start, Some(utc("2026-03-16T10:00:00Z")));
        assert_eq!(v[0].rhythm, Some(Rhythm::Weeks(1)));
        assert!(v.iter().all(|i| i.series_id.as_deref() == Some("s1")));
    }

    #[test]
    fn override_moved_into_and_out_of_the_window() {
        let text = cal(&format!(
            "BEGIN:VEVENT\nUID:s2\nDTSTART:20260302T100000Z\nDURATION:PT30M\nRRULE:FREQ=WEEKLY;UNTIL=20260330\n{PEOPLE}END:VEVENT\n\
             BEGIN:VEVENT\nUID:s2\nRECURRENCE-ID:20260309T100000Z\nDTSTART:20260320T100000Z\nDTEND:20260320T110000Z\n{PEOPLE}END:VEVENT\n\
             BEGIN:VEVENT\nUID:s2\nRECURRENCE-ID:20260323T100000Z\nDTSTART:20260305T100000Z\nDTEND:20260305T103000Z\n{PEOPLE}END:VEVENT\n"
        ));
        // Window 03-04 .. 03-12: the 03-09 occurrence moved out; the 03-23 one moved in (03-05).
        let (v, _) = run(&text, "2026-03-04T00:00:00Z", "2026-03-12T00:00:00Z");
        let ids: Vec<&str> = v.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, vec!["s2_20260323T100000Z"]);
        // UNTIL as a date includes that day's occurrence.
        let (v, _) = run(&text, "2026-03-25T00:00:00Z", "2026-04-30T00:00:00Z");
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].duration(), Duration::minutes(30));
    }

    #[test]
    fn pathological_rule_is_capped_and_reported() {
        let text = cal(&format!(
            "BEGIN:VEVENT\nUID:s3\nDTSTART:20260101T000000Z\nRRULE:FREQ=SECONDLY\n{PEOPLE}END:VEVENT\n"
        ));
        let (v, p) = run(&text, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
        assert_eq!(v.len(), MAX_OCCURRENCES);
        assert_eq!(p.len(), 1);
        assert!(p[0].message.contains("expansion stopped"), "{:?}", p);
    }

    #[test]
    fn single_event_and_master_cancel_and_floating() {
        let text = cal(&format!(
            "BEGIN:VEVENT\nUID:one\nDTSTART:20260302T100000\n{PEOPLE}END:VEVENT\n\
             BEGIN:VEVENT\nUID:two\nDTSTART:20260302T100000Z\nDTEND:20260302T110000Z\nSTATUS:CANCELLED\nRRULE:FREQ=DAILY;COUNT=2\n{PEOPLE}END:VEVENT\n"
        ));
        let (v, _) = run(&text, "2026-03-01T00:00:00Z", "2026-03-05T00:00:00Z");
        assert_eq!(v.len(), 3);
        // Floating 10:00 in the default zone (Berlin, UTC+1), zero length.
        assert_eq!(v[0].id, "one");
        assert_eq!(v[0].start, utc("2026-03-02T09:00:00Z"));
        assert_eq!(v[0].end, v[0].start);
        assert_eq!(v[0].series_id, None);
        assert!(v[1].cancelled && v[2].cancelled);
        assert_eq!(v[1].rhythm, Some(Rhythm::Other("daily".into())));
    }
}
