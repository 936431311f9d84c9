//! Graph's time zone names: Windows names (`"W. Europe Standard Time"`, CLDR windowsZones through
//! the `windows-timezones` crate), IANA names (Graph accepts a fixed list of them), and
//! `tzone://Microsoft/Custom` (zones defined on a phone, which have no name; Graph gives a bias in
//! minutes where it describes one, e.g. in working hours). Reading is in UTC
//! (`Prefer: outlook.timezone="UTC"`), so a zone matters only where Graph states a local time:
//! working hours, and the start of a series this provider creates.
//!
//! Invariant: an unknown name is an error the caller reports (a `SourceProblem` naming the event),
//! never a silent guess.
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The name Graph uses for zones defined on a device.
pub const CUSTOM: &str = "tzone://Microsoft/Custom";

/// A zone Graph named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Named(Tz),
    /// A custom zone, known only by its offset from UTC (no daylight saving).
    Fixed(FixedOffset),
}

/// Resolve a zone name: a Windows name (exact case, as Graph writes them), then an IANA name.
/// `tzone://Microsoft/Custom` and unknown names are errors (the caller may know a bias).
pub fn resolve(name: &str) -> Result<Zone, String> {
    let name = name.trim();
    if let Ok(w) = name.parse::<windows_timezones::WindowsTimezone>() {
        return Ok(Zone::Named(w.into()));
    }
    if let Ok(tz) = name.parse::<Tz>() {
        return Ok(Zone::Named(tz));
    }
    if name == CUSTOM {
        return Err(format!(
            "the zone is {CUSTOM} (defined on a device) and no offset was given"
        ));
    }
    Err(format!("unknown time zone {name:?}"))
}

/// Resolve a zone, using `bias_minutes` (Graph's `customTimeZone.bias`: UTC = local + bias) for a
/// custom zone.
pub fn resolve_with_bias(name: &str, bias_minutes: Option<i64>) -> Result<Zone, String> {
    match resolve(name) {
        Ok(z) => Ok(z),
        Err(e) => {
            match bias_minutes.and_then(|b| FixedOffset::west_opt(i32::try_from(b * 60).ok()?)) {
                Some(off) => Ok(Zone::Fixed(off)),
                None => Err(e),
            }
        }
    }
}

impl Zone {
    /// The instant of a wall-clock time in this zone: in a repeated hour the first, in a skipped
    /// hour the time an hour later (as calendars do).
    pub fn to_utc(self, local: NaiveDateTime) -> DateTime<Utc> {
        match self {
            Zone::Named(tz) => named_to_utc(tz, local),
            Zone::Fixed(off) => {
                (local - chrono::Duration::seconds(i64::from(off.local_minus_utc()))).and_utc()
            }
        }
    }

    /// The wall-clock time of an instant in this zone.
    pub fn to_local(self, t: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Zone::Named(tz) => t.with_timezone(&tz).naive_local(),
            Zone::Fixed(off) => t.with_timezone(&off).naive_local(),
        }
    }
}

fn named_to_utc(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        chrono::LocalResult::None => {
            let later = local + chrono::Duration::hours(1);
            tz.from_local_datetime(&later)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|| later.and_utc())
        }
    }
}

/// The name to write for a zone: its Windows name where CLDR maps it (what Outlook shows), else
/// the IANA name (Graph accepts the common ones).
pub fn graph_name(tz: Tz) -> String {
    let canonical = if tz == Tz::UTC { Tz::Etc__UTC } else { tz };
    match windows_timezones::WindowsTimezone::try_from(canonical) {
        Ok(w) => w.name().to_string(),
        Err(_) => tz.name().to_string(),
    }
}

/// Parse a `dateTimeTimeZone` (`dateTime` with up to 7 fraction digits and no offset, plus a zone
/// name) into an instant.
pub fn parse_date_time(date_time: &str, zone: &str) -> Result<DateTime<Utc>, String> {
    let s = date_time.trim();
    // An offset or `Z` makes it absolute (not what Graph sends, but unambiguous).
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .map_err(|_| format!("invalid date-time {s:?}"))?;
    let zone = if zone.trim().is_empty() { "UTC" } else { zone };
    Ok(resolve(zone)?.to_utc(local))
}

/// Parse an `Edm.DateTimeOffset` (`2026-11-23T10:00:00.0000000Z`).
pub fn parse_offset(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| parse_date_time(s, "UTC"))
}

/// Graph's `dateTime` form: seven fraction digits, no offset.
pub fn format_local(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S.0000000").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_iana_and_custom_names() {
        assert_eq!(
            resolve("W. Europe Standard Time"),
            Ok(Zone::Named(chrono_tz::Europe::Berlin))
        );
        assert_eq!(
            resolve("Pacific Standard Time"),
            Ok(Zone::Named(chrono_tz::America::Los_Angeles))
        );
        assert_eq!(resolve("UTC"), Ok(Zone::Named(chrono_tz::Etc::UTC)));
        assert_eq!(
            resolve("Europe/Paris"),
            Ok(Zone::Named(chrono_tz::Europe::Paris))
        );
        // Windows names are case-sensitive, as Graph writes them.
        assert!(resolve("pacific standard time").is_err());
        assert!(resolve(CUSTOM).is_err_and(|e| e.contains("device")));
        assert!(resolve("Mars Standard Time").is_err_and(|e| e.contains("Mars")));
        assert_eq!(
            resolve_with_bias(CUSTOM, Some(-330)),
            Ok(Zone::Fixed(
                FixedOffset::east_opt(330 * 60).unwrap_or_else(|| unreachable!())
            ))
        );
    }

    #[test]
    fn date_times_in_zones_and_across_dst() {
        let t = parse_date_time("2026-07-01T10:00:00.0000000", "W. Europe Standard Time");
        assert_eq!(
            t.map(|t| t.to_rfc3339()),
            Ok("2026-07-01T08:00:00+00:00".into())
        );
        let t = parse_date_time("2026-11-23T10:00:00.0000000", "UTC");
        assert_eq!(
            t.map(|t| t.to_rfc3339()),
            Ok("2026-11-23T10:00:00+00:00".into())
        );
        // 02:30 does not exist in Berlin on 29 March 2026: an hour later.
        let t = parse_date_time("2026-03-29T02:30:00.0000000", "W. Europe Standard Time");
        assert_eq!(
            t.map(|t| t.to_rfc3339()),
            Ok("2026-03-29T01:30:00+00:00".into())
        );
        assert!(parse_date_time("yesterday", "UTC").is_err());
        assert!(parse_date_time("2026-11-23T10:00:00.0000000", "Atlantis").is_err());
        assert_eq!(
            parse_offset("2026-11-23T10:00:00.0000000Z").map(|t| t.timestamp()),
            Ok(1_795_428_000)
        );
    }

    #[test]
    fn names_for_writing() {
        assert_eq!(
            graph_name(chrono_tz::Europe::Berlin),
            "W. Europe Standard Time"
        );
        assert_eq!(graph_name(chrono_tz::Europe::London), "GMT Standard Time");
        assert_eq!(graph_name(chrono_tz::UTC), "UTC");
        let local = NaiveDateTime::parse_from_str("2026-11-23T10:00:00", "%Y-%m-%dT%H:%M:%S")
            .unwrap_or_default();
        assert_eq!(format_local(local), "2026-11-23T10:00:00.0000000");
    }
}
