//! Time values of iCalendar files: TZID resolution (IANA names, Windows names, vendor-prefixed
//! paths, and the file's own VTIMEZONEs: see `vtimezone`) and DATE / DATE-TIME values in their
//! forms (UTC, zoned, custom-zoned, floating). Resolving a wall-clock time to an instant follows
//! RFC 5545: an ambiguous local time (the repeated hour) takes the earlier instant, a non-existent
//! one (the skipped hour) is read with the offset in force before the gap.
use super::vtimezone::{CustomTz, FileZones, Zone, custom_local_to_utc};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// A DATE or DATE-TIME value as written in the file, with its zone already resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum When {
    /// `…Z`
    Utc(NaiveDateTime),
    /// `TZID=…` resolved to an IANA zone name.
    Zoned(String, NaiveDateTime),
    /// No TZID, no `Z`: interpreted in the provider's default zone.
    Floating(NaiveDateTime),
    /// `VALUE=DATE`: all-day.
    Date(NaiveDate),
    /// `TZID=…` of a zone only the file's own VTIMEZONE defines (no tzdata zone matches it).
    Custom(CustomTz, NaiveDateTime),
}

impl When {
    /// The zone the value's wall-clock time is in (UTC for `Utc`, `default_tz` for floating/date).
    pub(crate) fn zone(&self, default_tz: Tz) -> Zone {
        match self {
            When::Utc(_) => Zone::Iana(Tz::UTC),
            When::Zoned(name, _) => Zone::Iana(Tz::from_str(name).unwrap_or(default_tz)),
            When::Custom(c, _) => Zone::Custom(c.clone()),
            When::Floating(_) | When::Date(_) => Zone::Iana(default_tz),
        }
    }

    /// The wall-clock time (midnight for a date).
    pub(crate) fn naive(&self) -> NaiveDateTime {
        match self {
            When::Utc(n) | When::Zoned(_, n) | When::Floating(n) | When::Custom(_, n) => *n,
            When::Date(d) => d.and_time(NaiveTime::MIN),
        }
    }

    /// The instant this value denotes.
    pub(crate) fn instant(&self, default_tz: Tz) -> DateTime<Utc> {
        match self {
            When::Utc(n) => Utc.from_utc_datetime(n),
            When::Zoned(name, n) => local_to_utc(Tz::from_str(name).unwrap_or(default_tz), *n),
            When::Custom(c, n) => custom_local_to_utc(c, *n),
            When::Floating(n) => local_to_utc(default_tz, *n),
            When::Date(d) => local_to_utc(default_tz, d.and_time(NaiveTime::MIN)),
        }
    }

    pub(crate) fn is_date(&self) -> bool {
        matches!(self, When::Date(_))
    }
}

/// Resolve a wall-clock time in `tz` to an instant (RFC 5545 §3.3.5 rules for gaps and overlaps).
pub(crate) fn local_to_utc(tz: Tz, naive: NaiveDateTime) -> DateTime<Utc> {
    local_to_utc_in(&tz, naive)
}

/// `local_to_utc` for any zone.
pub(crate) fn local_to_utc_in<Z: TimeZone>(tz: &Z, naive: NaiveDateTime) -> DateTime<Utc> {
    if let Some(dt) = tz.from_local_datetime(&naive).earliest() {
        return dt.with_timezone(&Utc);
    }
    // In a gap: use the offset in force just before it.
    for back in [1, 3, 24] {
        if let Some(before) = tz
            .from_local_datetime(&(naive - Duration::hours(back)))
            .earliest()
        {
            let off = before.offset().fix();
            return Utc
                .from_utc_datetime(&(naive - Duration::seconds(i64::from(off.local_minus_utc()))));
        }
    }
    Utc.from_utc_datetime(&naive)
}

/// A TZID that names a zone by itself: IANA (any case), Windows, or vendor-prefixed IANA.
pub(crate) fn known_zone(name: &str) -> Option<Tz> {
    if name.is_empty() {
        return None;
    }
    if let Ok(tz) = Tz::from_str(name) {
        return Some(tz);
    }
    if let Ok(w) = windows_timezones::WindowsTimezone::from_str(name) {
        return Some(w.into());
    }
    // Vendor prefixes: "/mozilla.org/20050126_1/Europe/London",
    // "/freeassociation.sourceforge.net/Tzfile/Europe/London": try ever shorter path suffixes.
    if name.contains('/') {
        let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
        for i in 1..parts.len() {
            let suffix = parts[i..].join("/");
            if let Ok(tz) = Tz::from_str(&suffix) {
                return Some(tz);
            }
        }
    }
    // Case-insensitive IANA name ("europe/london").
    chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(name))
        .copied()
}

/// Parse an iCalendar DATE (`YYYYMMDD`).
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y%m%d").ok()
}

/// Parse the body of a DATE-TIME (`YYYYMMDDTHHMMSS`, optional trailing `Z`); returns (time, is_utc).
pub(crate) fn parse_date_time(s: &str) -> Option<(NaiveDateTime, bool)> {
    let s = s.trim();
    let (body, utc) = match s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        Some(b) => (b, true),
        None => (s, false),
    };
    // Some producers omit the seconds.
    let parsed = NaiveDateTime::parse_from_str(body, "%Y%m%dT%H%M%S")
        .or_else(|_| NaiveDateTime::parse_from_str(body, "%Y%m%dT%H%M"))
        .ok()?;
    Some((parsed, utc))
}

/// Why a date value could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WhenError {
    UnknownTzid(String),
    Malformed(String),
    /// The file's VTIMEZONE for this TZID cannot be used (why).
    BadVtimezone(String, String),
}

/// Build a `When` from a value, its TZID parameter and its VALUE parameter.
pub(crate) fn when_from(
    value: &str,
    tzid: Option<&str>,
    value_type: Option<&str>,
    zones: &FileZones<'_, '_>,
) -> Result<When, WhenError> {
    let v = value.trim();
    let is_date = value_type.is_some_and(|t| t.eq_ignore_ascii_case("DATE"))
        || (v.len() == 8 && v.bytes().all(|b| b.is_ascii_digit()));
    if is_date {
        return parse_date(v)
            .map(When::Date)
            .ok_or_else(|| WhenError::Malformed(v.to_string()));
    }
    let (naive, utc) = parse_date_time(v).ok_or_else(|| WhenError::Malformed(v.to_string()))?;
    if utc {
        return Ok(When::Utc(naive));
    }
    match tzid {
        Some(id) => match zones.resolve(id, naive)? {
            Zone::Iana(Tz::UTC) => Ok(When::Utc(naive)),
            Zone::Iana(tz) => Ok(When::Zoned(tz.name().to_string(), naive)),
            Zone::Custom(c) => Ok(When::Custom(c, naive)),
            Zone::Fixed(o) => Ok(When::Utc(
                naive - Duration::seconds(i64::from(o.local_minus_utc())),
            )),
        },
        None => Ok(When::Floating(naive)),
    }
}

/// Parse an RFC 5545 DURATION (`[+-]P[nW][nD][T[nH][nM][nS]]`).
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let rest = rest.strip_prefix('P').or_else(|| rest.strip_prefix('p'))?;
    let mut total: i64 = 0;
    let mut num: Option<i64> = None;
    let mut in_time = false;
    let mut any = false;
    for c in rest.chars() {
        match c {
            '0'..='9' => {
                let d = i64::from(c.to_digit(10)?);
                num = Some(num.unwrap_or(0).checked_mul(10)?.checked_add(d)?);
            }
            'T' | 't' => in_time = true,
            _ => {
                let n = num.take()?;
                let unit = match (c.to_ascii_uppercase(), in_time) {
                    ('W', false) => 7 * 86_400,
                    ('D', false) => 86_400,
                    ('H', true) => 3_600,
                    ('M', true) => 60,
                    ('S', true) => 1,
                    _ => return None,
                };
                total = total.checked_add(n.checked_mul(unit)?)?;
                any = true;
            }
        }
    }
    if num.is_some() || !any {
        return None;
    }
    Some(Duration::seconds(if neg { -total } else { total }))
}

/// Format an instant as a DATE-TIME value in the same form as `like`: UTC (`Z`), zoned (wall time
/// in that zone) or floating (wall time in `default_tz`). The caller keeps the original TZID text.
pub(crate) fn format_like(like: &When, t: DateTime<Utc>, default_tz: Tz) -> String {
    match like {
        When::Utc(_) | When::Date(_) => t.format("%Y%m%dT%H%M%SZ").to_string(),
        When::Zoned(..) | When::Floating(_) | When::Custom(..) => t
            .with_timezone(&like.zone(default_tz))
            .format("%Y%m%dT%H%M%S")
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noon() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 3, 2)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .unwrap_or_default()
    }

    fn no_vtz() -> FileZones<'static, 'static> {
        FileZones::none()
    }

    #[test]
    fn resolves_iana_windows_and_vendor_names() {
        assert_eq!(known_zone("Europe/London"), Some(Tz::Europe__London));
        assert_eq!(known_zone("europe/london"), Some(Tz::Europe__London));
        assert_eq!(
            known_zone("W. Europe Standard Time"),
            Some(Tz::Europe__Berlin)
        );
        assert_eq!(
            known_zone("/mozilla.org/20050126_1/Europe/London"),
            Some(Tz::Europe__London)
        );
        assert_eq!(
            known_zone("/freeassociation.sourceforge.net/Tzfile/America/New_York"),
            Some(Tz::America__New_York)
        );
        assert_eq!(known_zone("Mars/Olympus_Mons"), None);
        let v = no_vtz();
        assert_eq!(
            v.resolve("\"Europe/Paris\"", noon()),
            Ok(Zone::Iana(Tz::Europe__Paris))
        );
        // Names that map without a VTIMEZONE: an exact Windows display name, a dashed name.
        assert_eq!(
            v.resolve(
                "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna",
                noon()
            ),
            Ok(Zone::Iana(Tz::Europe__Berlin))
        );
        assert_eq!(
            v.resolve("America-Chicago", noon()),
            Ok(Zone::Iana(Tz::America__Chicago))
        );
        assert_eq!(
            v.resolve("Eastern", noon()),
            Err(WhenError::UnknownTzid("Eastern".into()))
        );
    }

    #[test]
    fn parses_values_in_every_form() {
        let v = no_vtz();
        let n = NaiveDate::from_ymd_opt(2026, 3, 2)
            .and_then(|d| d.and_hms_opt(10, 0, 0))
            .unwrap();
        assert_eq!(
            when_from("20260302T100000Z", None, None, &v),
            Ok(When::Utc(n))
        );
        assert_eq!(
            when_from("20260302T100000", Some("Europe/London"), None, &v),
            Ok(When::Zoned("Europe/London".into(), n))
        );
        assert_eq!(
            when_from("20260302T100000", None, None, &v),
            Ok(When::Floating(n))
        );
        assert_eq!(
            when_from("20260302", None, Some("DATE"), &v),
            Ok(When::Date(n.date()))
        );
        assert_eq!(
            when_from("20260302T100000", Some("Nowhere/Land"), None, &v),
            Err(WhenError::UnknownTzid("Nowhere/Land".into()))
        );
        assert!(matches!(
            when_from("garbage", None, None, &v),
            Err(WhenError::Malformed(_))
        ));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("PT30M"), Some(Duration::minutes(30)));
        assert_eq!(parse_duration("PT1H30M"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("P1D"), Some(Duration::days(1)));
        assert_eq!(parse_duration("P1W"), Some(Duration::weeks(1)));
        assert_eq!(parse_duration("-PT5M"), Some(Duration::minutes(-5)));
        assert_eq!(parse_duration("PT"), None);
        assert_eq!(parse_duration("P5"), None);
        assert_eq!(parse_duration("30M"), None);
    }

    #[test]
    fn gap_and_overlap_resolution() {
        // 2026-03-29 01:30 does not exist in London (clocks go 01:00 -> 02:00): read with GMT.
        let gap = NaiveDate::from_ymd_opt(2026, 3, 29)
            .and_then(|d| d.and_hms_opt(1, 30, 0))
            .unwrap();
        let t = local_to_utc(Tz::Europe__London, gap);
        assert_eq!(t.format("%H:%M").to_string(), "01:30");
        // 2026-10-25 01:30 happens twice: the earlier (BST) one.
        let amb = NaiveDate::from_ymd_opt(2026, 10, 25)
            .and_then(|d| d.and_hms_opt(1, 30, 0))
            .unwrap();
        assert_eq!(
            local_to_utc(Tz::Europe__London, amb)
                .format("%H:%M")
                .to_string(),
            "00:30"
        );
    }

    #[test]
    fn formats_in_the_same_form() {
        let t = Utc.with_ymd_and_hms(2026, 7, 1, 9, 0, 0).unwrap();
        let z = When::Zoned("Europe/London".into(), t.naive_utc());
        assert_eq!(format_like(&z, t, Tz::UTC), "20260701T100000");
        assert_eq!(
            format_like(&When::Utc(t.naive_utc()), t, Tz::UTC),
            "20260701T090000Z"
        );
        assert_eq!(
            format_like(&When::Floating(t.naive_utc()), t, Tz::America__New_York),
            "20260701T050000"
        );
    }
}
