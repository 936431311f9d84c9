//! Expanding a Google series locally: the master's `recurrence` lines (`RRULE`, `EXRULE`,
//! `RDATE`, `EXDATE`; no `DTSTART`, the master's `start` is it) in the series' own zone (its
//! `start.timeZone`, which Google requires for recurring events), so a weekly 10:00
//! Europe/London meeting stays at 10:00 local across DST. Rules run on wall-clock times through the
//! `rrule` crate; each result is then placed in the zone (a time inside a DST gap moves forward by
//! the gap, a repeated time takes its first instant), as Google does.
//!
//! Bounded: expansion stops at the end of the wanted range and after [`MAX_OCCURRENCES`]
//! generated occurrences (an error naming the rule).
use crate::domain::Rhythm;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use std::collections::BTreeSet;
use std::str::FromStr;

/// Per-series cap on generated occurrences (guards against FREQ=SECONDLY and friends).
pub const MAX_OCCURRENCES: usize = 50_000;

/// Where a series starts.
#[derive(Debug, Clone, Copy)]
pub struct SeriesStart {
    /// Wall-clock start in `zone` (midnight for all-day series).
    pub local: NaiveDateTime,
    pub zone: Tz,
    pub all_day: bool,
}

impl SeriesStart {
    /// Place a wall-clock time in the zone (gap: forward by the gap; fold: the first instant).
    pub fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        place(self.zone, local)
    }
}

/// A wall-clock time in `zone` as an instant (RFC 5545 / Google: a time in a DST gap is read with
/// the offset before the gap, a repeated time is its first occurrence).
pub fn place(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        chrono::LocalResult::None => {
            // Inside a gap: the offset in force just before it.
            let before = zone
                .from_local_datetime(&(local - Duration::hours(3)))
                .earliest()
                .map(|t| t.offset().fix());
            match before {
                Some(off) => (local - off).and_utc(),
                None => local.and_utc(),
            }
        }
    }
}

/// The original starts of a series' occurrences that begin in `[from, to)`, sorted.
pub fn occurrences(
    start: &SeriesStart,
    lines: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, String> {
    let mut set = BTreeSet::new();
    let mut excluded = BTreeSet::new();
    let first = start.instant(start.local);
    let mut has_rule = false;
    for line in lines {
        let (name, params, value) = split_line(line);
        match name.as_str() {
            "RRULE" => {
                has_rule = true;
                rule_starts(start, &value, from, to, &mut set)
                    .map_err(|e| format!("unreadable RRULE {line:?}: {e}"))?;
            }
            "EXRULE" => rule_starts(start, &value, from, to, &mut excluded)
                .map_err(|e| format!("unreadable EXRULE {line:?}: {e}"))?,
            "RDATE" => {
                for t in date_list(start, &params, &value)
                    .map_err(|e| format!("unreadable RDATE {line:?}: {e}"))?
                {
                    if t >= from && t < to {
                        set.insert(t);
                    }
                }
            }
            "EXDATE" => excluded.extend(
                date_list(start, &params, &value)
                    .map_err(|e| format!("unreadable EXDATE {line:?}: {e}"))?,
            ),
            _ => {}
        }
    }
    // DTSTART is always an occurrence (RFC 5545), whatever the rule says.
    if first >= from && first < to {
        set.insert(first);
    }
    if !has_rule
        && lines
            .iter()
            .all(|l| !l.to_ascii_uppercase().starts_with("RDATE"))
    {
        return Err("a recurring event without RRULE or RDATE".into());
    }
    Ok(set.into_iter().filter(|t| !excluded.contains(t)).collect())
}

/// `NAME;PARAMS:VALUE` → (upper-case name, params, value).
fn split_line(line: &str) -> (String, String, String) {
    let line = line.trim();
    let (head, value) = line.split_once(':').unwrap_or((line, ""));
    let (name, params) = head.split_once(';').unwrap_or((head, ""));
    (
        name.trim().to_ascii_uppercase(),
        params.trim().to_string(),
        value.trim().to_string(),
    )
}

/// The instants of an RDATE/EXDATE value list.
fn date_list(start: &SeriesStart, params: &str, value: &str) -> Result<Vec<DateTime<Utc>>, String> {
    let zone = params
        .split(';')
        .find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim().eq_ignore_ascii_case("TZID").then_some(v.trim())
        })
        .map(|z| {
            z.trim_matches('"')
                .parse::<Tz>()
                .map_err(|_| format!("unknown zone {z}"))
        })
        .transpose()?
        .unwrap_or(start.zone);
    let mut out = Vec::new();
    for v in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        if v.len() == 8 {
            let d = NaiveDate::parse_from_str(v, "%Y%m%d").map_err(|_| format!("bad date {v}"))?;
            out.push(start.instant(d.and_time(start.local.time())));
        } else if let Some(utc) = v.strip_suffix('Z') {
            let n = NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S")
                .map_err(|_| format!("bad date-time {v}"))?;
            out.push(n.and_utc());
        } else {
            let n = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S")
                .map_err(|_| format!("bad date-time {v}"))?;
            out.push(place(zone, n));
        }
    }
    Ok(out)
}

/// Rewrite an RRULE body for the `rrule` crate, run on wall-clock times: drop unknown parts and
/// express UNTIL as a wall time in the series' zone (written with `Z`, as the crate wants for a
/// UTC start).
fn normalize_rule(body: &str, zone: Tz, all_day: bool) -> Result<String, String> {
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
    for part in body.split(';') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let key = k.trim().to_ascii_uppercase();
        if !KNOWN.contains(&key.as_str()) {
            continue;
        }
        let v = v.trim();
        if key == "UNTIL" {
            let until = if v.len() == 8 {
                NaiveDate::parse_from_str(v, "%Y%m%d")
                    .map_err(|_| format!("bad UNTIL {v:?}"))?
                    .and_hms_opt(23, 59, 59)
                    .ok_or_else(|| format!("bad UNTIL {v:?}"))?
            } else if let Some(utc) = v.strip_suffix('Z') {
                let n = NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S")
                    .map_err(|_| format!("bad UNTIL {v:?}"))?;
                if all_day {
                    n
                } else {
                    Utc.from_utc_datetime(&n).with_timezone(&zone).naive_local()
                }
            } else {
                NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S")
                    .map_err(|_| format!("bad UNTIL {v:?}"))?
            };
            parts.push(format!("UNTIL={}", until.format("%Y%m%dT%H%M%SZ")));
        } else {
            parts.push(format!("{key}={}", v.to_ascii_uppercase()));
        }
    }
    Ok(parts.join(";"))
}

/// Add the instants in `[from, to)` of one rule to `into`.
fn rule_starts(
    start: &SeriesStart,
    body: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    into: &mut BTreeSet<DateTime<Utc>>,
) -> Result<(), String> {
    let dt_start = rrule::Tz::UTC.from_utc_datetime(&start.local);
    let body = normalize_rule(body, start.zone, start.all_day)?;
    let rule = match rrule::RRule::<rrule::Unvalidated>::from_str(&body)
        .map_err(|e| e.to_string())
        .and_then(|r| r.validate(dt_start).map_err(|e| e.to_string()))
    {
        Ok(r) => r,
        // UNTIL before the start: the rule adds nothing beyond the start.
        Err(e) if e.contains("UNTIL") && e.contains("before") => return Ok(()),
        Err(e) => return Err(e),
    };
    let set = rrule::RRuleSet::new(dt_start).rrule(rule).limit();
    for (n, occ) in (&set).into_iter().enumerate() {
        if n >= MAX_OCCURRENCES {
            return Err(format!(
                "more than {MAX_OCCURRENCES} occurrences before {}",
                to.format("%Y-%m-%d")
            ));
        }
        let t = start.instant(occ.naive_utc());
        if t >= to {
            // Wall-clock order can differ from instant order by a DST shift: look a bit on.
            if t >= to + Duration::hours(3) {
                break;
            }
            continue;
        }
        if t >= from {
            into.insert(t);
        }
    }
    Ok(())
}

/// The rhythm of a series, from its first RRULE.
pub fn rhythm(lines: &[String]) -> Option<Rhythm> {
    let rule = lines.iter().find_map(|l| {
        let (name, _, value) = split_line(l);
        (name == "RRULE").then_some(value)
    })?;
    let mut freq = String::new();
    let mut interval = 1u32;
    for part in rule.split(';') {
        match part.split_once('=') {
            Some((k, v)) if k.eq_ignore_ascii_case("FREQ") => freq = v.trim().to_ascii_uppercase(),
            Some((k, v)) if k.eq_ignore_ascii_case("INTERVAL") => {
                interval = v.trim().parse().unwrap_or(1).max(1);
            }
            _ => {}
        }
    }
    Some(match freq.as_str() {
        "WEEKLY" => Rhythm::Weeks(interval),
        "DAILY" if interval.is_multiple_of(7) => Rhythm::Weeks(interval / 7),
        "MONTHLY" => Rhythm::Months(interval),
        other => {
            let word = other.to_ascii_lowercase();
            if interval == 1 {
                Rhythm::Other(word)
            } else {
                Rhythm::Other(format!("{word} (every {interval})"))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn start(local: &str, zone: Tz) -> SeriesStart {
        SeriesStart {
            local: NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S")
                .unwrap_or_else(|e| panic!("{e}")),
            zone,
            all_day: false,
        }
    }

    #[test]
    fn weekly_keeps_wall_time_across_dst() {
        let s = start("2026-10-19T10:00:00", chrono_tz::Europe::London);
        let occ = occurrences(
            &s,
            &["RRULE:FREQ=WEEKLY;COUNT=3".into()],
            at("2026-01-01T00:00:00Z"),
            at("2027-01-01T00:00:00Z"),
        )
        .unwrap_or_default();
        // 19 Oct BST (09:00Z), 26 Oct GMT (10:00Z), 2 Nov GMT.
        assert_eq!(
            occ,
            vec![
                at("2026-10-19T09:00:00Z"),
                at("2026-10-26T10:00:00Z"),
                at("2026-11-02T10:00:00Z")
            ]
        );
    }

    #[test]
    fn exdate_rdate_and_until_in_utc() {
        let s = start("2026-11-02T10:00:00", chrono_tz::Europe::Berlin);
        let lines = vec![
            "RRULE:FREQ=WEEKLY;UNTIL=20261117T090000Z".to_string(),
            "EXDATE;TZID=Europe/Berlin:20261109T100000".to_string(),
            "RDATE:20261120T150000Z".to_string(),
        ];
        let occ = occurrences(
            &s,
            &lines,
            at("2026-01-01T00:00:00Z"),
            at("2027-01-01T00:00:00Z"),
        )
        .unwrap_or_default();
        assert_eq!(
            occ,
            vec![
                at("2026-11-02T09:00:00Z"),
                at("2026-11-16T09:00:00Z"),
                at("2026-11-20T15:00:00Z")
            ]
        );
    }

    #[test]
    fn window_bounds_and_runaway_rules() {
        let s = start("2020-01-06T09:00:00", chrono_tz::UTC);
        let occ = occurrences(
            &s,
            &["RRULE:FREQ=WEEKLY;INTERVAL=2".into()],
            at("2026-11-01T00:00:00Z"),
            at("2026-12-01T00:00:00Z"),
        )
        .unwrap_or_default();
        assert_eq!(
            occ,
            vec![
                at("2026-11-02T09:00:00Z"),
                at("2026-11-16T09:00:00Z"),
                at("2026-11-30T09:00:00Z")
            ]
        );
        let bad = occurrences(
            &s,
            &["RRULE:FREQ=SECONDLY".into()],
            at("2026-11-01T00:00:00Z"),
            at("2026-12-01T00:00:00Z"),
        );
        assert!(bad.is_err());
        let garbage = occurrences(
            &s,
            &["RRULE:FREQ=FORTNIGHTLY".into()],
            at("2026-11-01T00:00:00Z"),
            at("2026-12-01T00:00:00Z"),
        );
        assert!(garbage.is_err());
    }

    #[test]
    fn rhythms() {
        assert_eq!(
            rhythm(&["RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TU".into()]),
            Some(Rhythm::Weeks(2))
        );
        assert_eq!(
            rhythm(&["RRULE:FREQ=MONTHLY".into()]),
            Some(Rhythm::Months(1))
        );
        assert_eq!(
            rhythm(&["RRULE:FREQ=DAILY;INTERVAL=14".into()]),
            Some(Rhythm::Weeks(2))
        );
        assert_eq!(rhythm(&["EXDATE:20261109T100000Z".into()]), None);
    }

    #[test]
    fn a_time_in_the_spring_gap_moves_forward() {
        let t = place(
            chrono_tz::Europe::London,
            NaiveDateTime::parse_from_str("2026-03-29T01:30:00", "%Y-%m-%dT%H:%M:%S")
                .unwrap_or_default(),
        );
        assert_eq!(t, at("2026-03-29T01:30:00Z"));
    }
}
