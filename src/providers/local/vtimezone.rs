//! Zones defined by a file's own `VTIMEZONE` (Outlook's `(UTC+02:00) Athens, Bucharest, Istanbul`,
//! Lotus Notes' `Eastern`, `America-Chicago` with a `TZURL`, Exchange's `Customized Time Zone`).
//!
//! A TZID that is not a known name (see `tz::known_zone`) is resolved from the file's VTIMEZONE of
//! that TZID, in this order:
//! 1. `X-LIC-LOCATION` or a `TZURL` naming a tzdata zone: that zone (the producer says which zone
//!    it means; future rule changes then follow tzdata).
//! 2. The definition (STANDARD/DAYLIGHT observances with RRULE or RDATE onsets) is compiled to a
//!    transition table. Zones suggested by the name (a Windows display name or ID, a city of the
//!    display name, `US/<name>`, `America-Chicago` → `America/Chicago`) are tried first, then every
//!    tzdata zone: a zone is used when its offsets agree with the definition in the years around
//!    the file's first value in that zone (`RECENT_BACK` years before it to `RECENT_AHEAD` after:
//!    "recently" as the file sees it, with no clock involved). From the full scan a zone is taken
//!    only when all agreeing zones are the same zone under different names.
//! 3. Otherwise the definition itself is the zone (`Zone::Custom`), read as libical and python
//!    `icalendar` read it: an onset at every DTSTART, RDATE and RRULE instance (RRULE UNTIL in
//!    UTC), the TZOFFSETFROM of the first onset before it; recurrence in it keeps wall-clock time
//!    across its own transitions (gaps and overlaps as RFC 5545 says).
//!
//! Step 1 trusts the named zone even where the definition disagrees (an incomplete or outdated
//! definition); python `icalendar` would read the definition there.
//!
//! Without a usable definition only names that map unambiguously are read (X-LIC-LOCATION, TZURL,
//! an exact Windows display name, a dashed tzdata name); anything else is reported.
//!
//! Resolutions are memoized process-wide by (TZID, hints, definition), so a vdir of 100,000
//! Outlook exports compiles and matches each distinct zone once; compiled custom zones are
//! interned and shared (also when read back from the parse cache).
use super::tz::{WhenError, known_zone, parse_date, parse_date_time};
use chrono::{
    DateTime, Datelike, FixedOffset, MappedLocalTime, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Utc,
};
use chrono_tz::Tz;
use icalendar::parser::{Component, Property};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cell::RefCell;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

/// Onsets of a definition's rules are expanded up to this local year; later instants keep the
/// offset of the last onset.
const LAST_YEAR: i32 = 2200;
/// Cap on the onsets one observance's RRULE may produce (a yearly rule from 1601 makes 600).
const MAX_ONSETS: usize = 5_000;
/// The window, in years around the year of the first value using the zone, over which a
/// definition must agree with a tzdata zone.
const RECENT_BACK: i32 = 5;
const RECENT_AHEAD: i32 = 3;
/// Bound on the process-wide memos (cleared when full: they only save work).
const MEMO_CAP: usize = 4_096;

/// One STANDARD or DAYLIGHT part as written (times are local wall-clock times in `from`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Observance {
    #[serde(rename = "s")]
    pub start: NaiveDateTime,
    #[serde(rename = "f")]
    pub from: i32,
    #[serde(rename = "t")]
    pub to: i32,
    #[serde(rename = "r", default)]
    pub rrule: Option<String>,
    #[serde(rename = "d", default)]
    pub rdates: Vec<NaiveDateTime>,
}

/// A VTIMEZONE's definition: what the cache stores for a custom zone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct ZoneDef {
    #[serde(rename = "i")]
    pub tzid: String,
    #[serde(rename = "o")]
    pub observances: Vec<Observance>,
}

/// A compiled definition: the offset before the first onset, then (UTC second, offset) onsets.
#[derive(Debug)]
pub(crate) struct CustomZone {
    def: ZoneDef,
    initial: i32,
    transitions: Vec<(i64, i32)>,
}

impl CustomZone {
    /// The UTC offset (seconds) in force at a UTC instant (seconds since the epoch).
    fn offset_secs(&self, utc: i64) -> i32 {
        let i = self.transitions.partition_point(|&(t, _)| t <= utc);
        match i.checked_sub(1).and_then(|j| self.transitions.get(j)) {
            Some(&(_, off)) => off,
            None => self.initial,
        }
    }

    /// The offsets a local wall-clock time (seconds, as if UTC) can have: none in a gap, two in
    /// an overlap (the earlier instant first).
    fn local_offsets(&self, local: i64) -> MappedLocalTime<FixedOffset> {
        const SPAN: i64 = 2 * 86_400;
        let mut i = self
            .transitions
            .partition_point(|&(t, _)| t <= local - SPAN);
        let mut cand = match i.checked_sub(1).and_then(|j| self.transitions.get(j)) {
            Some(&(_, off)) => off,
            None => self.initial,
        };
        // Valid offsets, largest (= earliest instant) first.
        let mut best: Option<i32> = None;
        let mut other: Option<i32> = None;
        loop {
            if self.offset_secs(local - i64::from(cand)) == cand {
                match best {
                    None => best = Some(cand),
                    Some(b) if b == cand => {}
                    Some(b) if cand > b => {
                        other = Some(other.map_or(b, |o| o.min(b)));
                        best = Some(cand);
                    }
                    Some(_) => other = Some(other.map_or(cand, |o| o.min(cand))),
                }
            }
            match self.transitions.get(i) {
                Some(&(t, off)) if t <= local + SPAN => {
                    cand = off;
                    i += 1;
                }
                _ => break,
            }
        }
        match (best, other) {
            (None, _) => MappedLocalTime::None,
            (Some(b), None) => MappedLocalTime::Single(fixed(b)),
            (Some(b), Some(o)) => MappedLocalTime::Ambiguous(fixed(b), fixed(o)),
        }
    }
}

fn fixed(secs: i32) -> FixedOffset {
    FixedOffset::east_opt(secs).unwrap_or_else(|| Utc.fix())
}

fn secs_of(n: &NaiveDateTime) -> i64 {
    n.and_utc().timestamp()
}

/// A shared compiled custom zone. Serialized as its definition; deserializing interns it.
#[derive(Clone)]
pub(crate) struct CustomTz(Arc<CustomZone>);

impl CustomTz {
    pub(crate) fn tzid(&self) -> &str {
        &self.0.def.tzid
    }

    pub(crate) fn offset_at(&self, utc: &NaiveDateTime) -> FixedOffset {
        fixed(self.0.offset_secs(secs_of(utc)))
    }

    pub(crate) fn local_offsets(&self, local: &NaiveDateTime) -> MappedLocalTime<FixedOffset> {
        self.0.local_offsets(secs_of(local))
    }
}

impl std::fmt::Debug for CustomTz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CustomTz({:?})", self.tzid())
    }
}

impl PartialEq for CustomTz {
    fn eq(&self, other: &CustomTz) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.def == other.0.def
    }
}

impl Eq for CustomTz {}

impl Serialize for CustomTz {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.def.serialize(s)
    }
}

impl<'de> Deserialize<'de> for CustomTz {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CustomTz, D::Error> {
        let def = ZoneDef::deserialize(d)?;
        intern(def).map_err(serde::de::Error::custom)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The one compiled zone of a definition (compiled on first use).
fn intern(def: ZoneDef) -> Result<CustomTz, String> {
    static ZONES: OnceLock<Mutex<HashMap<ZoneDef, CustomTz>>> = OnceLock::new();
    let zones = ZONES.get_or_init(Default::default);
    if let Some(z) = lock(zones).get(&def) {
        return Ok(z.clone());
    }
    let z = CustomTz(Arc::new(compile(def.clone())?));
    let mut map = lock(zones);
    if map.len() >= MEMO_CAP {
        map.clear();
    }
    Ok(map.entry(def).or_insert(z).clone())
}

/// A zone a wall-clock time is in: tzdata, a file's own definition, or a fixed offset (the last
/// only as chrono's `TimeZone::from_offset` needs it).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Zone {
    Iana(Tz),
    Custom(CustomTz),
    Fixed(FixedOffset),
}

impl Zone {
    /// The instant of a wall-clock time in this zone (RFC 5545: a repeated time is the earlier
    /// instant, a skipped one uses the offset before the gap).
    pub(crate) fn local_to_utc(&self, naive: NaiveDateTime) -> DateTime<Utc> {
        match self {
            Zone::Iana(tz) => super::tz::local_to_utc(*tz, naive),
            Zone::Custom(c) => custom_local_to_utc(c, naive),
            Zone::Fixed(o) => Utc.from_utc_datetime(
                &(naive - chrono::Duration::seconds(i64::from(o.local_minus_utc()))),
            ),
        }
    }
}

pub(crate) fn custom_local_to_utc(c: &CustomTz, naive: NaiveDateTime) -> DateTime<Utc> {
    let local = secs_of(&naive);
    let off = match c.0.local_offsets(local) {
        MappedLocalTime::Single(o) | MappedLocalTime::Ambiguous(o, _) => o.local_minus_utc(),
        // In a gap: the offset in force just before it (as `tz::local_to_utc` does).
        MappedLocalTime::None => [3_600i64, 3 * 3_600, 86_400]
            .iter()
            .find_map(|back| c.0.local_offsets(local - back).earliest())
            .map_or_else(|| c.0.offset_secs(local), |o| o.local_minus_utc()),
    };
    DateTime::from_timestamp(local - i64::from(off), 0).unwrap_or_else(|| naive.and_utc())
}

impl TimeZone for Zone {
    type Offset = FixedOffset;

    fn from_offset(offset: &FixedOffset) -> Zone {
        Zone::Fixed(*offset)
    }

    fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<FixedOffset> {
        self.offset_from_local_datetime(&local.and_time(NaiveTime::MIN))
    }

    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> MappedLocalTime<FixedOffset> {
        match self {
            Zone::Iana(tz) => tz.offset_from_local_datetime(local).map(|o| o.fix()),
            Zone::Custom(c) => c.local_offsets(local),
            Zone::Fixed(o) => MappedLocalTime::Single(*o),
        }
    }

    fn offset_from_utc_date(&self, utc: &NaiveDate) -> FixedOffset {
        self.offset_from_utc_datetime(&utc.and_time(NaiveTime::MIN))
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> FixedOffset {
        match self {
            Zone::Iana(tz) => tz.offset_from_utc_datetime(utc).fix(),
            Zone::Custom(c) => c.offset_at(utc),
            Zone::Fixed(o) => *o,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading a VTIMEZONE.

fn prop<'c>(c: &'c Component<'_>, name: &str) -> Option<&'c Property<'c>> {
    c.properties
        .iter()
        .find(|p| p.name.as_str().eq_ignore_ascii_case(name))
}

fn text<'c>(c: &'c Component<'_>, name: &str) -> Option<&'c str> {
    prop(c, name)
        .map(|p| p.val.as_str().trim())
        .filter(|v| !v.is_empty())
}

/// A TZID as compared between parameters and VTIMEZONEs: trimmed, quotes removed.
pub(crate) fn clean_tzid(t: &str) -> &str {
    t.trim().trim_matches('"').trim()
}

/// `+0200`, `-0500`, `+023000` (and the lenient `+02:00`, `0100`) → seconds east of UTC.
pub(crate) fn parse_offset(s: &str) -> Option<i32> {
    let s = s.trim();
    let (neg, rest) = match s.as_bytes().first()? {
        b'-' => (true, s.get(1..)?),
        b'+' => (false, s.get(1..)?),
        _ => (false, s),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 4 | 6) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| digits.get(r).and_then(|d| d.parse::<i32>().ok());
    let (h, m) = (num(0..2)?, num(2..4)?);
    let sec = if digits.len() == 6 { num(4..6)? } else { 0 };
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let total = h * 3600 + m * 60 + sec;
    Some(if neg { -total } else { total })
}

/// A local date-time of an observance (a `Z` value is turned into wall time with `from`).
fn local_time(v: &str, from: i32) -> Option<NaiveDateTime> {
    let v = v.trim();
    if v.len() == 8 {
        return parse_date(v).map(|d| d.and_time(NaiveTime::MIN));
    }
    let (n, utc) = parse_date_time(v)?;
    Some(if utc {
        n + chrono::Duration::seconds(i64::from(from))
    } else {
        n
    })
}

/// The definition of a VTIMEZONE component, or why it cannot be used.
pub(crate) fn def_of(c: &Component<'_>) -> Result<ZoneDef, String> {
    let tzid = text(c, "TZID")
        .map(clean_tzid)
        .unwrap_or_default()
        .to_string();
    let mut observances = Vec::new();
    for sub in &c.components {
        let kind = sub.name.as_str();
        if !kind.eq_ignore_ascii_case("STANDARD") && !kind.eq_ignore_ascii_case("DAYLIGHT") {
            continue;
        }
        let kind = kind.to_ascii_uppercase();
        let to = text(sub, "TZOFFSETTO")
            .and_then(parse_offset)
            .ok_or_else(|| format!("its {kind} part has no valid TZOFFSETTO"))?;
        let from = match text(sub, "TZOFFSETFROM") {
            None => to,
            Some(v) => parse_offset(v)
                .ok_or_else(|| format!("its {kind} part has an invalid TZOFFSETFROM {v:?}"))?,
        };
        let start = text(sub, "DTSTART")
            .and_then(|v| local_time(v, from))
            .ok_or_else(|| format!("its {kind} part has no valid DTSTART"))?;
        let rrule = text(sub, "RRULE").map(str::to_string);
        let mut rdates = Vec::new();
        for p in sub
            .properties
            .iter()
            .filter(|p| p.name.as_str().eq_ignore_ascii_case("RDATE"))
        {
            for item in p.val.as_str().split(',').filter(|s| !s.trim().is_empty()) {
                let first = item.split('/').next().unwrap_or(item);
                let t = local_time(first, from)
                    .ok_or_else(|| format!("its {kind} part has an invalid RDATE {first:?}"))?;
                rdates.push(t);
            }
        }
        observances.push(Observance {
            start,
            from,
            to,
            rrule,
            rdates,
        });
    }
    if observances.is_empty() {
        return Err("it has no STANDARD or DAYLIGHT part".into());
    }
    Ok(ZoneDef { tzid, observances })
}

/// Expand a definition's onsets into a transition table.
fn compile(def: ZoneDef) -> Result<CustomZone, String> {
    // (UTC second, index of the observance, offset after)
    let mut onsets: Vec<(i64, usize, i32)> = Vec::new();
    for (k, ob) in def.observances.iter().enumerate() {
        let utc_of = |local: &NaiveDateTime| secs_of(local) - i64::from(ob.from);
        onsets.push((utc_of(&ob.start), k, ob.to));
        for r in &ob.rdates {
            onsets.push((utc_of(r), k, ob.to));
        }
        let Some(rule) = &ob.rrule else { continue };
        let from = fixed(ob.from);
        let body = super::expand::normalize_rule(rule, &from)?;
        let dt_start = rrule::Tz::UTC.from_utc_datetime(&ob.start);
        let validated = match rrule::RRule::<rrule::Unvalidated>::from_str(&body)
            .map_err(|e| e.to_string())
            .and_then(|r| r.validate(dt_start).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            // UNTIL before DTSTART: DTSTART is the only onset.
            Err(e) if e.contains("UNTIL") && e.contains("before") => continue,
            Err(e) => return Err(format!("unreadable RRULE {rule:?} in it: {e}")),
        };
        let set = rrule::RRuleSet::new(dt_start).rrule(validated).limit();
        for (n, occ) in (&set).into_iter().enumerate() {
            let local = occ.naive_utc();
            if local.year() > LAST_YEAR || n >= MAX_ONSETS {
                break;
            }
            onsets.push((utc_of(&local), k, ob.to));
        }
    }
    // Onsets at the same instant: the one written last wins.
    onsets.sort_unstable();
    onsets.dedup_by(|later, earlier| {
        if later.0 == earlier.0 {
            *earlier = *later;
            true
        } else {
            false
        }
    });
    let initial = onsets
        .first()
        .and_then(|&(_, k, _)| def.observances.get(k))
        .map(|o| o.from)
        .unwrap_or(0);
    let transitions = onsets.into_iter().map(|(t, _, off)| (t, off)).collect();
    Ok(CustomZone {
        def,
        initial,
        transitions,
    })
}

// ---------------------------------------------------------------------------------------------
// Matching a definition with tzdata.

fn tz_offset(tz: Tz, utc: i64) -> i32 {
    DateTime::from_timestamp(utc, 0)
        .map(|d| {
            tz.offset_from_utc_datetime(&d.naive_utc())
                .fix()
                .local_minus_utc()
        })
        .unwrap_or(0)
}

fn year_start(y: i32) -> i64 {
    NaiveDate::from_ymd_opt(y, 1, 1)
        .map(|d| secs_of(&d.and_time(NaiveTime::MIN)))
        .unwrap_or(0)
}

/// The window over which a definition must agree with a tzdata zone: the years around `year`.
fn recent(year: i32) -> (i64, i64) {
    (
        year_start(year - RECENT_BACK),
        year_start(year + RECENT_AHEAD),
    )
}

/// Do the definition and the tzdata zone give the same offsets throughout `[from, to)`? (Both
/// sides of every onset of the definition, and every 3.5 days, which catches tzdata transitions
/// the definition lacks.)
fn agrees(c: &CustomZone, tz: Tz, (from, to): (i64, i64)) -> bool {
    let start = c.transitions.partition_point(|&(t, _)| t < from);
    for &(t, off) in c.transitions.get(start..).unwrap_or(&[]) {
        if t >= to {
            break;
        }
        if tz_offset(tz, t) != off || tz_offset(tz, t - 1) != c.offset_secs(t - 1) {
            return false;
        }
    }
    let mut s = from;
    while s < to {
        if tz_offset(tz, s) != c.offset_secs(s) {
            return false;
        }
        s += 302_400;
    }
    true
}

/// Are two tzdata zones the same zone (a link), as far as 1970–2040 goes?
fn same_zone(a: Tz, b: Tz) -> bool {
    if a == b {
        return true;
    }
    let (from, to) = (year_start(1970), year_start(2040));
    let mut s = from;
    while s < to {
        if tz_offset(a, s) != tz_offset(b, s) {
            return false;
        }
        s += 86_400;
    }
    true
}

/// Every Windows zone: (display name without its `(UTC…)` prefix, tzdata zone).
fn windows_zones() -> &'static [(String, Tz)] {
    static W: OnceLock<Vec<(String, Tz)>> = OnceLock::new();
    W.get_or_init(|| {
        let mut out: Vec<(String, Tz)> = Vec::new();
        for tz in chrono_tz::TZ_VARIANTS {
            if let Ok(w) = windows_timezones::WindowsTimezone::try_from(tz) {
                let name = strip_utc_prefix(w.description()).to_ascii_lowercase();
                if !out.iter().any(|(n, _)| *n == name) {
                    out.push((name, w.into()));
                }
            }
        }
        out
    })
}

/// `(UTC+02:00) Athens, Bucharest` → `Athens, Bucharest` (also `(GMT-05:00) …`, `(UTC) …`).
fn strip_utc_prefix(name: &str) -> &str {
    let t = name.trim();
    if let Some(inner) = t.strip_prefix('(')
        && let Some(close) = inner.find(')')
    {
        let head = inner.get(..close).unwrap_or("");
        if head
            .get(..3)
            .is_some_and(|h| h.eq_ignore_ascii_case("UTC") || h.eq_ignore_ascii_case("GMT"))
        {
            return inner.get(close + 1..).unwrap_or("").trim();
        }
    }
    t
}

/// Remove `( … )` groups: `Eastern Time (US & Canada)` → `Eastern Time`.
fn without_parentheses(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    for ch in s.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn windows_id(name: &str) -> Option<Tz> {
    windows_timezones::WindowsTimezone::from_str(name)
        .ok()
        .map(Into::into)
}

/// `America-Chicago` → `America/Chicago`, `America-Port-au-Prince` → `America/Port-au-Prince`.
fn dashed_zone(name: &str) -> Option<Tz> {
    if name.contains('/') || !name.contains('-') {
        return None;
    }
    let mut s = name.to_string();
    for _ in 0..3 {
        let i = s.find('-')?;
        s.replace_range(i..=i, "/");
        if let Ok(tz) = Tz::from_str(&s) {
            return Some(tz);
        }
    }
    None
}

/// Names that map to one zone without looking at a definition: an exact Windows display name,
/// a dashed tzdata name.
pub(crate) fn unambiguous_name(tzid: &str) -> Option<Tz> {
    let rest = strip_utc_prefix(tzid);
    if rest.len() < tzid.trim().len() {
        let rest = rest.to_ascii_lowercase();
        if let Some((_, tz)) = windows_zones().iter().find(|(n, _)| *n == rest) {
            return Some(*tz);
        }
    }
    dashed_zone(tzid.trim())
}

/// The tzdata zone a TZURL names (`http://tzurl.org/zoneinfo-outlook/America/Chicago`).
fn zone_from_url(url: &str) -> Option<Tz> {
    let u = url.trim();
    let u = u.split_once("://").map_or(u, |(_, r)| r);
    let path = u.split_once('/').map(|(_, p)| p)?;
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let path = path.trim_end_matches('/').trim_end_matches(".ics");
    if let Some(tz) = known_zone(path) {
        return Some(tz);
    }
    path.rsplit('/').next().and_then(dashed_zone)
}

/// Zones the TZID suggests, best first (each still has to agree with the definition).
fn suggested(tzid: &str) -> Vec<Tz> {
    let mut out: Vec<Tz> = Vec::new();
    let mut add = |tz: Option<Tz>| {
        if let Some(tz) = tz
            && !out.contains(&tz)
        {
            out.push(tz);
        }
    };
    add(unambiguous_name(tzid));
    let rest = without_parentheses(strip_utc_prefix(tzid));
    // "Eastern Time" → "Eastern Standard Time"; "Eastern" → "Eastern Standard Time".
    if let Some(stem) = rest.strip_suffix(" Time") {
        add(windows_id(&format!("{stem} Standard Time")));
    }
    add(windows_id(&format!("{rest} Standard Time")));
    if !rest.is_empty() && !rest.contains([' ', '/', ',']) {
        for prefix in ["US", "Canada", "Australia"] {
            add(Tz::from_str(&format!("{prefix}/{rest}")).ok());
        }
    }
    // Cities of a display name: "Athens, Bucharest, Istanbul".
    for city in rest
        .split([',', '&', ';'])
        .map(str::trim)
        .filter(|c| c.len() > 1)
    {
        let key = city.replace(' ', "_");
        add(chrono_tz::TZ_VARIANTS.iter().copied().find(|tz| {
            tz.name()
                .rsplit('/')
                .next()
                .is_some_and(|last| last.eq_ignore_ascii_case(&key))
        }));
        let lower = city.to_ascii_lowercase();
        for (desc, tz) in windows_zones() {
            if desc.split([',', '&']).any(|c| c.trim() == lower) {
                add(Some(*tz));
            }
        }
    }
    out
}

/// The name to prefer among the names of one zone.
fn preference(tz: Tz) -> (u8, &'static str) {
    const REGIONS: [&str; 9] = [
        "Africa/",
        "America/",
        "Antarctica/",
        "Asia/",
        "Atlantic/",
        "Australia/",
        "Europe/",
        "Indian/",
        "Pacific/",
    ];
    let windows = windows_timezones::WindowsTimezone::try_from(tz).is_ok_and(|w| Tz::from(w) == tz);
    let regional = REGIONS.iter().any(|r| tz.name().starts_with(r));
    (u8::from(!windows) * 2 + u8::from(!regional), tz.name())
}

/// The tzdata zone that agrees with the definition recently, if exactly one zone (under any of
/// its names) does.
fn only_match(c: &CustomZone, window: (i64, i64)) -> Option<Tz> {
    let probes: Vec<i64> = [0i64, 1, 2, 3]
        .iter()
        .map(|k| window.0 + (window.1 - window.0) * (2 * k + 1) / 8)
        .collect();
    let want: Vec<i32> = probes.iter().map(|&p| c.offset_secs(p)).collect();
    let matching: Vec<Tz> = chrono_tz::TZ_VARIANTS
        .iter()
        .copied()
        .filter(|&tz| {
            probes
                .iter()
                .zip(&want)
                .all(|(&p, &w)| tz_offset(tz, p) == w)
        })
        .filter(|&tz| agrees(c, tz, window))
        .collect();
    let first = *matching.first()?;
    if !matching.iter().all(|&tz| same_zone(first, tz)) {
        return None;
    }
    matching.into_iter().min_by_key(|&tz| preference(tz))
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    tzid: String,
    location: Option<String>,
    url: Option<String>,
    def: Result<ZoneDef, String>,
    year: i32,
}

/// Resolve one VTIMEZONE component for values around `year` (memoized process-wide).
pub(crate) fn resolve_vtimezone(c: &Component<'_>, year: i32) -> Result<Zone, WhenError> {
    static MEMO: OnceLock<Mutex<HashMap<Key, Result<Zone, WhenError>>>> = OnceLock::new();
    let key = Key {
        tzid: text(c, "TZID")
            .map(clean_tzid)
            .unwrap_or_default()
            .to_string(),
        location: text(c, "X-LIC-LOCATION").map(str::to_string),
        url: text(c, "TZURL").map(str::to_string),
        def: def_of(c),
        year,
    };
    let memo = MEMO.get_or_init(Default::default);
    if let Some(r) = lock(memo).get(&key) {
        return r.clone();
    }
    let r = resolve_key(&key);
    let mut map = lock(memo);
    if map.len() >= MEMO_CAP {
        map.clear();
    }
    map.insert(key, r.clone());
    r
}

fn resolve_key(key: &Key) -> Result<Zone, WhenError> {
    let named = key
        .location
        .as_deref()
        .and_then(known_zone)
        .or_else(|| key.url.as_deref().and_then(zone_from_url));
    if let Some(tz) = named {
        return Ok(Zone::Iana(tz));
    }
    let unusable = |reason: &str| match unambiguous_name(&key.tzid) {
        Some(tz) => Ok(Zone::Iana(tz)),
        None => Err(WhenError::BadVtimezone(
            key.tzid.clone(),
            reason.to_string(),
        )),
    };
    let def = match &key.def {
        Ok(d) => d.clone(),
        Err(reason) => return unusable(reason),
    };
    let custom = match intern(def) {
        Ok(c) => c,
        Err(reason) => return unusable(&reason),
    };
    let window = recent(key.year);
    if let Some(tz) = suggested(&key.tzid)
        .into_iter()
        .find(|&tz| agrees(&custom.0, tz, window))
    {
        return Ok(Zone::Iana(tz));
    }
    if let Some(tz) = only_match(&custom.0, window) {
        return Ok(Zone::Iana(tz));
    }
    Ok(Zone::Custom(custom))
}

/// The TZIDs of one file: known names, then the file's VTIMEZONEs (memoized per file, so each
/// TZID is resolved once per file, not once per value).
pub(crate) struct FileZones<'c, 'x> {
    vtimezones: Vec<&'c Component<'x>>,
    memo: RefCell<Vec<(String, Result<Zone, WhenError>)>>,
}

impl<'c, 'x> FileZones<'c, 'x> {
    pub(crate) fn new(vtimezones: Vec<&'c Component<'x>>) -> Self {
        FileZones {
            vtimezones,
            memo: RefCell::new(Vec::new()),
        }
    }

    /// No VTIMEZONE at all.
    #[cfg(test)]
    pub(crate) fn none() -> Self {
        FileZones::new(Vec::new())
    }

    /// The zone of a TZID parameter. `near` is the value being read: the first value of a TZID
    /// in the file sets the years over which its definition is compared with tzdata.
    pub(crate) fn resolve(&self, tzid: &str, near: NaiveDateTime) -> Result<Zone, WhenError> {
        let t = clean_tzid(tzid);
        if let Some((_, r)) = self.memo.borrow().iter().find(|(k, _)| k == t) {
            return r.clone();
        }
        let r = self.resolve_uncached(t, tzid, near.year());
        self.memo.borrow_mut().push((t.to_string(), r.clone()));
        r
    }

    fn resolve_uncached(&self, t: &str, raw: &str, year: i32) -> Result<Zone, WhenError> {
        if let Some(tz) = known_zone(t) {
            return Ok(Zone::Iana(tz));
        }
        let own = |exact: bool| {
            self.vtimezones.iter().find(|c| {
                text(c, "TZID").map(clean_tzid).is_some_and(|id| {
                    if exact {
                        id == t
                    } else {
                        id.eq_ignore_ascii_case(t)
                    }
                })
            })
        };
        if let Some(c) = own(true).or_else(|| own(false)) {
            return resolve_vtimezone(c, year);
        }
        unambiguous_name(t)
            .map(Zone::Iana)
            .ok_or_else(|| WhenError::UnknownTzid(raw.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::local::parse::parse_text;
    use crate::providers::local::tz::When;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/ics/{name}.ics",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// The zone each event's DTSTART was read in: a tzdata name, or `custom:TZID`.
    fn zones_of(text: &str) -> Vec<String> {
        let f = parse_text(text);
        f.events
            .iter()
            .map(|e| match &e.start {
                When::Zoned(name, _) => name.clone(),
                When::Custom(c, _) => format!("custom:{}", c.tzid()),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn fixture_zones_resolve_as_documented() {
        for (name, want) in [
            (
                "outlook_display_name_tz",
                vec!["Europe/Athens", "America/New_York", "America/New_York"],
            ),
            (
                "outlook2007_stale_dst_rules",
                vec![
                    "custom:(GMT-05:00) Eastern Time (US & Canada)",
                    "custom:(GMT-05:00) Eastern Time (US & Canada)",
                ],
            ),
            (
                "lotus_notes_eastern",
                vec!["America/New_York", "America/New_York"],
            ),
            ("tzurl_dash_tzid", vec!["America/Chicago"]),
            (
                "exchange_customized_tz",
                vec!["custom:Customized Time Zone", "Australia/Lord_Howe"],
            ),
            (
                "apple_rdate_tz",
                vec![
                    "custom:Mitteleuropäische Zeit",
                    "custom:Mitteleuropäische Zeit",
                ],
            ),
        ] {
            assert_eq!(zones_of(&fixture(name)), want, "{name}");
        }
    }

    /// Resolve `tzid` against the VTIMEZONEs of a calendar text.
    fn resolve_in(text: &str, tzid: &str) -> Result<Zone, WhenError> {
        let unfolded = icalendar::parser::unfold(text);
        let roots = icalendar::parser::read_calendar_simple(&unfolded).unwrap_or_default();
        let vt: Vec<&Component<'_>> = roots
            .iter()
            .flat_map(|r| r.components.iter())
            .filter(|c| c.name.as_str() == "VTIMEZONE")
            .collect();
        FileZones::new(vt).resolve(tzid, at(2026, 3, 1, 12, 0))
    }

    fn custom(text: &str, tzid: &str) -> CustomTz {
        match resolve_in(text, tzid) {
            Ok(Zone::Custom(c)) => c,
            other => panic!("expected a custom zone, got {other:?}"),
        }
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .and_then(|d| d.and_hms_opt(h, mi, 0))
            .unwrap_or_default()
    }

    /// Central European rules under a name nothing maps: many tzdata zones agree, so the
    /// definition itself is used.
    const CUSTOM_CET: &str = "BEGIN:VCALENDAR\nBEGIN:VTIMEZONE\nTZID:Office Time\nBEGIN:STANDARD\nDTSTART:16010101T030000\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\nEND:STANDARD\nBEGIN:DAYLIGHT\nDTSTART:16010101T020000\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0200\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\nEND:DAYLIGHT\nEND:VTIMEZONE\nEND:VCALENDAR\n";

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+0200"), Some(7200));
        assert_eq!(parse_offset("-0500"), Some(-18_000));
        assert_eq!(parse_offset("+053000"), Some(19_800));
        assert_eq!(parse_offset("+05:45"), Some(20_700));
        assert_eq!(parse_offset("0100"), Some(3600));
        for bad in [
            "", "+", "+2", "+2500", "+0260", "+02x0", "ü0200", "+0200000",
        ] {
            assert_eq!(parse_offset(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_custom_zone_has_gaps_and_overlaps_like_tzdata() {
        let c = custom(CUSTOM_CET, "Office Time");
        let z = Zone::Custom(c.clone());
        let berlin = Tz::Europe__Berlin;
        // Same instants as tzdata's Berlin everywhere in 2026, gap and overlap included.
        let mut t = at(2026, 1, 1, 0, 15);
        while t < at(2027, 1, 1, 0, 0) {
            assert_eq!(
                z.local_to_utc(t),
                super::super::tz::local_to_utc(berlin, t),
                "{t}"
            );
            t += chrono::Duration::minutes(97);
        }
        assert_eq!(
            c.local_offsets(&at(2026, 3, 29, 2, 30)),
            MappedLocalTime::None
        );
        assert_eq!(
            c.local_offsets(&at(2026, 10, 25, 2, 30)),
            MappedLocalTime::Ambiguous(fixed(7200), fixed(3600))
        );
        assert_eq!(
            z.local_to_utc(at(2026, 3, 29, 2, 30)),
            at(2026, 3, 29, 1, 30).and_utc()
        );
        assert_eq!(
            z.local_to_utc(at(2026, 10, 25, 2, 30)),
            at(2026, 10, 25, 0, 30).and_utc()
        );
        // chrono's TimeZone: with_timezone and from_local_datetime work on it.
        let summer = at(2026, 7, 1, 10, 0).and_utc().with_timezone(&z);
        assert_eq!(summer.naive_local(), at(2026, 7, 1, 12, 0));
        assert_eq!(summer.offset().local_minus_utc(), 7200);
    }

    #[test]
    fn custom_zones_survive_the_cache_and_are_shared() {
        let c = custom(CUSTOM_CET, "Office Time");
        let w = When::Custom(c.clone(), at(2026, 3, 2, 10, 0));
        let bytes = postcard::to_allocvec(&w).unwrap_or_default();
        let back: When = postcard::from_bytes(&bytes).unwrap_or(When::Floating(at(1, 1, 1, 0, 0)));
        assert_eq!(back, w);
        match back {
            When::Custom(b, _) => assert!(Arc::ptr_eq(&b.0, &c.0)),
            other => panic!("{other:?}"),
        }
        // A broken definition in the bytes is an error, not a panic.
        let mut def = c.0.def.clone();
        if let Some(o) = def.observances.first_mut() {
            o.rrule = Some("FREQ=NEVER".into());
        }
        let bytes = postcard::to_allocvec(&def).unwrap_or_default();
        assert!(postcard::from_bytes::<CustomTz>(&bytes).is_err());
    }

    #[test]
    fn names_suggest_zones() {
        assert_eq!(
            suggested("(UTC-05:00) Eastern Time (US & Canada)").first(),
            Some(&Tz::America__New_York)
        );
        assert_eq!(suggested("Eastern").first(), Some(&Tz::America__New_York));
        assert_eq!(
            suggested("(UTC+02:00) Athens, Bucharest, Istanbul").first(),
            Some(&Tz::Europe__Athens)
        );
        assert!(
            suggested("(UTC+02:00) Athens, Bucharest, Istanbul").contains(&Tz::Europe__Istanbul)
        );
        assert_eq!(
            zone_from_url("http://tzurl.org/zoneinfo-outlook/America/Chicago"),
            Some(Tz::America__Chicago)
        );
        assert_eq!(
            zone_from_url("http://example.com/tz/America-Chicago"),
            Some(Tz::America__Chicago)
        );
        assert_eq!(zone_from_url("https://example.com/calendar.ics"), None);
        assert_eq!(
            dashed_zone("America-Port-au-Prince"),
            Some(Tz::America__PortauPrince)
        );
        // Odd input never panics.
        for t in ["(", "(Ü", "(ÜTC+1) x", "()", "-", "--/-", "(UTC", "  "] {
            let _ = suggested(t);
            let _ = unambiguous_name(t);
        }
    }

    #[test]
    fn a_named_zone_that_contradicts_the_rules_is_not_taken() {
        // Istanbul is named, but the definition keeps EU daylight saving time: Athens fits.
        let text = "BEGIN:VCALENDAR\nBEGIN:VTIMEZONE\nTZID:(UTC+02:00) Istanbul, Athens\nBEGIN:STANDARD\nDTSTART:16010101T040000\nTZOFFSETFROM:+0300\nTZOFFSETTO:+0200\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\nEND:STANDARD\nBEGIN:DAYLIGHT\nDTSTART:16010101T030000\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0300\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\nEND:DAYLIGHT\nEND:VTIMEZONE\nEND:VCALENDAR\n";
        assert_eq!(
            resolve_in(text, "(UTC+02:00) Istanbul, Athens"),
            Ok(Zone::Iana(Tz::Europe__Athens))
        );
    }

    #[test]
    fn unusable_definitions_are_reported_unless_the_name_maps() {
        let broken = "BEGIN:VCALENDAR\nBEGIN:VTIMEZONE\nTZID:Zone A\nBEGIN:STANDARD\nDTSTART:16010101T000000\nEND:STANDARD\nEND:VTIMEZONE\nBEGIN:VTIMEZONE\nTZID:Zone B\nEND:VTIMEZONE\nBEGIN:VTIMEZONE\nTZID:Zone C\nBEGIN:DAYLIGHT\nDTSTART:20260101T000000\nTZOFFSETTO:+0100\nRRULE:FREQ=YEARLY;BYMONTH=14\nEND:DAYLIGHT\nEND:VTIMEZONE\nBEGIN:VTIMEZONE\nTZID:(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi\nEND:VTIMEZONE\nBEGIN:VTIMEZONE\nTZID:Zone D\nX-LIC-LOCATION:Europe/Paris\nEND:VTIMEZONE\nEND:VCALENDAR\n";
        let why = |tzid: &str| match resolve_in(broken, tzid) {
            Err(WhenError::BadVtimezone(t, why)) if t == tzid => why,
            other => panic!("{tzid}: {other:?}"),
        };
        assert_eq!(why("Zone A"), "its STANDARD part has no valid TZOFFSETTO");
        assert_eq!(why("Zone B"), "it has no STANDARD or DAYLIGHT part");
        assert!(
            why("Zone C").contains("unreadable RRULE"),
            "{}",
            why("Zone C")
        );
        assert_eq!(
            resolve_in(broken, "(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi"),
            // (Windows maps to tzdata's older name of Kolkata.)
            Ok(Zone::Iana(Tz::Asia__Calcutta))
        );
        assert_eq!(
            resolve_in(broken, "Zone D"),
            Ok(Zone::Iana(Tz::Europe__Paris))
        );
        assert_eq!(
            resolve_in(broken, "Zone E"),
            Err(WhenError::UnknownTzid("Zone E".into()))
        );
    }

    #[test]
    fn a_definition_without_rules_is_a_fixed_offset_or_its_onsets() {
        // One STANDARD, no RRULE: a fixed offset from its DTSTART on (ambiguous in tzdata).
        let text = "BEGIN:VCALENDAR\nBEGIN:VTIMEZONE\nTZID:Plain\nBEGIN:STANDARD\nDTSTART:19700101T000000\nTZOFFSETFROM:+0545\nTZOFFSETTO:+0545\nEND:STANDARD\nEND:VTIMEZONE\nEND:VCALENDAR\n";
        match resolve_in(text, "Plain") {
            // +05:45 all year is Nepal's alone (the name Windows uses for it is preferred).
            Ok(Zone::Iana(tz)) => assert_eq!(tz, Tz::Asia__Katmandu),
            other => panic!("{other:?}"),
        }
        let text = text.replace("+0545", "+0300");
        let c = custom(&text, "Plain");
        assert_eq!(c.offset_at(&at(2026, 6, 1, 0, 0)).local_minus_utc(), 10_800);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
            /// Damaged or odd definitions never panic; whatever zone comes out gives instants.
            #[test]
            fn odd_definitions_never_panic(
                from in "[-+]?[0-9:]{0,7}",
                to in "[-+]?[0-9:]{0,7}",
                start in proptest::sample::select(vec!["16010101T020000", "19700308T020000Z", "20260329", "garbage", "99991231T235959", "00010101T000000"]),
                rule in proptest::sample::select(vec!["", "FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3", "FREQ=DAILY", "FREQ=SECONDLY;INTERVAL=1", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "FREQ=YEARLY;UNTIL=19000101T000000Z", "FREQ=MONTHLY;COUNT=0", "X=1", "FREQ=YEARLY;BYDAY=5SU;BYMONTH=2"]),
                rdate in proptest::sample::select(vec!["", "20260101T000000,20270101T000000", "bad", "20260329T020000/PT1H"]),
                name in "[ -~]{0,20}",
                y in 1i32..9999,
            ) {
                let mut text = format!("BEGIN:VCALENDAR\nBEGIN:VTIMEZONE\nTZID:Z{name}\nBEGIN:DAYLIGHT\nDTSTART:{start}\nTZOFFSETFROM:{from}\nTZOFFSETTO:{to}\n");
                if !rule.is_empty() {
                    text.push_str(&format!("RRULE:{rule}\n"));
                }
                if !rdate.is_empty() {
                    text.push_str(&format!("RDATE:{rdate}\n"));
                }
                text.push_str("END:DAYLIGHT\nEND:VTIMEZONE\nEND:VCALENDAR\n");
                let near = at(y, 6, 15, 12, 0);
                let unfolded = icalendar::parser::unfold(&text);
                let roots = icalendar::parser::read_calendar_simple(&unfolded).unwrap_or_default();
                let vt: Vec<&Component<'_>> = roots.iter().flat_map(|r| r.components.iter()).collect();
                let zones = FileZones::new(vt);
                if let Ok(z) = zones.resolve(&format!("Z{name}"), near) {
                    let t = z.local_to_utc(near);
                    let _ = t.with_timezone(&z).naive_local();
                    let _ = z.offset_from_local_datetime(&at(y, 3, 29, 2, 30));
                }
            }
        }
    }
}
