//! Reading one `.ics` file into meeting-candidate events, with recovery from common damage.
//!
//! Parsing uses `icalendar::parser` on the unfolded text. When the parser rejects a file we repair
//! obvious damage (a folded line that lost its leading space, blank lines, missing `END:` lines) and
//! try again; if it is still rejected, each `VEVENT` block is parsed alone and the ones that fail are
//! reported. An event whose DTEND is before its DTSTART is read with the two swapped (as libical,
//! python `recurring-ical-events` and Thunderbird do) and reported. A file that needed any
//! recovery or such reinterpretation is marked `recovered`: it is read, never rewritten.
//!
//! TZIDs resolve through `tz::known_zone` and the file's own VTIMEZONEs (`vtimezone`), once per
//! TZID per file. EXRULEs are kept and applied when expanding.
//!
//! Only *meeting candidates* are kept: timed VEVENTs with at least two distinct people among
//! organizer and attendees (rooms and resources are not people), plus every other VEVENT sharing a
//! UID with one (the rest of a series). In a folder known to be one person's calendar
//! (`Keep::MeetingsAndOwn`), that person's own timed events (not cancelled, not transparent) are
//! kept too: they are when the person is busy. Problems are reported only for events that look like
//! meetings (two or more people) or for blocks that could not be parsed at all, so a vdir full of
//! personal events does not drown the report.
use super::tz::{When, WhenError, parse_duration, when_from};
use super::vtimezone::FileZones;
use chrono::Duration;
use icalendar::parser::{Component, Property, read_calendar_simple, unfold};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// Which events a file is read for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Keep {
    /// Meeting candidates only.
    #[default]
    Meetings,
    /// Meeting candidates and the folder owner's own busy time.
    MeetingsAndOwn,
}

/// Participant kind, mirrored from `domain::ParticipantKind` for the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Kind {
    Person,
    Group,
    Resource,
}

/// PARTSTAT, mirrored from `domain::Response` for the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum PartStat {
    Accepted,
    Tentative,
    Declined,
    NeedsAction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Person {
    #[serde(rename = "e")]
    pub email: String,
    #[serde(rename = "k")]
    pub kind: Kind,
    #[serde(rename = "p")]
    pub partstat: PartStat,
    #[serde(rename = "o", default)]
    pub optional: bool,
}

/// How an event's end is given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum EndSpec {
    /// No DTEND and no DURATION: zero length for a timed event (RFC 5545 §3.6.1), one day for a date.
    None,
    At(When),
    /// DURATION in seconds.
    Seconds(i64),
}

/// One VEVENT as far as oneonone cares. (Short serde names and skipped defaults keep the
/// persisted cache small: a vdir can hold tens of thousands of meetings.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ev {
    #[serde(rename = "u")]
    pub uid: String,
    #[serde(rename = "t", default)]
    pub summary: String,
    #[serde(rename = "o", default)]
    pub organizer: Option<String>,
    #[serde(rename = "a", default)]
    pub attendees: Vec<Person>,
    #[serde(rename = "s")]
    pub start: When,
    #[serde(rename = "e")]
    pub end: EndSpec,
    #[serde(rename = "c", default)]
    pub cancelled: bool,
    #[serde(rename = "d", default)]
    pub description: String,
    #[serde(rename = "r", default)]
    pub recurrence_id: Option<When>,
    /// RRULE bodies (`FREQ=…`).
    #[serde(rename = "rr", default)]
    pub rrules: Vec<String>,
    /// EXRULE bodies (deprecated by RFC 5545, still emitted): occurrences they produce are removed.
    #[serde(rename = "xr", default)]
    pub exrules: Vec<String>,
    #[serde(rename = "rd", default)]
    pub rdates: Vec<When>,
    #[serde(rename = "xd", default)]
    pub exdates: Vec<When>,
    /// Timed, with two or more distinct people.
    #[serde(rename = "m", default)]
    pub candidate: bool,
    /// Position among the top-level VEVENTs of the file (meaningful for files that parsed cleanly).
    #[serde(rename = "i")]
    pub index: usize,
}

impl Ev {
    /// The exact length of the event, if it can be computed from its own properties.
    pub(crate) fn length(&self, default_tz: chrono_tz::Tz) -> Duration {
        match &self.end {
            EndSpec::None if self.start.is_date() => Duration::days(1),
            EndSpec::None => Duration::zero(),
            EndSpec::Seconds(s) => Duration::seconds(*s),
            EndSpec::At(w) => w.instant(default_tz) - self.start.instant(default_tz),
        }
    }
}

/// The result of reading one file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ParsedFile {
    #[serde(default)]
    pub events: Vec<Ev>,
    /// What could not be read (the file path is added by the caller).
    #[serde(default)]
    pub problems: Vec<String>,
    /// Caveats about what was read (an end before its start, read swapped).
    #[serde(default)]
    pub notes: Vec<String>,
    /// The file needed repair or per-event recovery: never rewrite it.
    #[serde(default)]
    pub recovered: bool,
    /// Which events it was read for.
    #[serde(default)]
    pub kept: Keep,
}

/// Cheap pre-check: can this text contain a meeting at all? (It needs an ATTENDEE line.)
pub(crate) fn may_hold_meeting(bytes: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"ATTENDEE";
    let mut at_line_start = true;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if at_line_start
            && bytes.len() - i >= NEEDLE.len()
            && bytes[i..i + NEEDLE.len()].eq_ignore_ascii_case(NEEDLE)
        {
            return true;
        }
        at_line_start = b == b'\n';
        i += 1;
    }
    false
}

/// Does the file start (after a BOM and blank space) with `BEGIN:VCALENDAR`?
pub(crate) fn starts_like_icalendar(bytes: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"BEGIN:VCALENDAR";
    let b = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(bytes);
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    b.get(start..start + NEEDLE.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(NEEDLE))
}

/// Read a file's bytes for `keep`. Reading for meetings only drops files that cannot hold one
/// without parsing them.
pub(crate) fn parse_bytes(bytes: &[u8], keep: Keep) -> ParsedFile {
    if !starts_like_icalendar(bytes) {
        // Not a calendar at all (a stray file, a truncated download): say so, whatever it holds.
        return ParsedFile {
            problems: vec!["not an iCalendar file: it does not start with BEGIN:VCALENDAR".into()],
            recovered: true,
            ..ParsedFile::default()
        };
    }
    if keep == Keep::Meetings && !may_hold_meeting(bytes) {
        return ParsedFile::default();
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_text_keeping(text, keep),
        Err(e) => {
            let text = String::from_utf8_lossy(bytes);
            let mut out = parse_text_keeping(&text, keep);
            out.recovered = true;
            out.problems.push(format!(
                "not valid UTF-8 (first bad byte at offset {}); read with replacement characters",
                e.valid_up_to()
            ));
            out
        }
    }
}

/// Parse a whole file's text for its meeting candidates, recovering from damage where possible.
pub(crate) fn parse_text(text: &str) -> ParsedFile {
    parse_text_keeping(text, Keep::Meetings)
}

/// Parse a whole file's text for `keep`, recovering from damage where possible.
pub(crate) fn parse_text_keeping(text: &str, keep: Keep) -> ParsedFile {
    let mut out = parse_recovering(text, keep);
    out.kept = keep;
    out
}

fn parse_recovering(text: &str, keep: Keep) -> ParsedFile {
    let unfolded = unfold(text);
    if let Ok(roots) = read_calendar_simple(&unfolded) {
        return extract(&roots, false, Vec::new(), keep);
    }
    let (repaired, notes) = repair(text);
    let unfolded = unfold(&repaired);
    if let Ok(roots) = read_calendar_simple(&unfolded) {
        let mut problems = vec![format!(
            "damaged file read after repair ({}); it will not be rewritten",
            if notes.is_empty() {
                "parser rejected it".to_string()
            } else {
                notes.join("; ")
            }
        )];
        let mut out = extract(&roots, true, Vec::new(), keep);
        problems.append(&mut out.problems);
        out.problems = problems;
        return out;
    }
    // Last resort: every VEVENT (and VTIMEZONE) block alone.
    let mut problems = Vec::new();
    let mut comps: Vec<Component<'static>> = Vec::new();
    for block in blocks(&unfolded) {
        match read_calendar_simple(block.text) {
            Ok(mut roots) if roots.len() == 1 => {
                if let Some(c) = roots.pop() {
                    comps.push(owned_component(c));
                }
            }
            Ok(_) | Err(_) => {
                if block.name == "VEVENT" {
                    let uid = block
                        .text
                        .lines()
                        .find_map(|l| l.strip_prefix("UID:"))
                        .map(|u| format!(" (UID {})", u.trim()))
                        .unwrap_or_default();
                    let first_bad = first_unparsable_line(block.text);
                    problems.push(format!("unreadable event{uid}: {first_bad}; skipped"));
                }
            }
        }
    }
    if comps.is_empty() && problems.is_empty() {
        problems.push("not an iCalendar file (no VEVENT could be found)".to_string());
    }
    let mut head = vec![format!(
        "damaged file: parsed event by event ({}); it will not be rewritten",
        if notes.is_empty() {
            "parser rejected it".to_string()
        } else {
            notes.join("; ")
        }
    )];
    let root = Component {
        name: "VCALENDAR".into(),
        properties: Vec::new(),
        components: comps,
    };
    let mut out = extract(std::slice::from_ref(&root), true, Vec::new(), keep);
    head.append(&mut problems);
    head.append(&mut out.problems);
    out.problems = head;
    out
}

fn owned_component(c: Component<'_>) -> Component<'static> {
    Component {
        name: c.name.into_owned(),
        properties: c
            .properties
            .into_iter()
            .map(|p| Property {
                name: p.name.into_owned(),
                val: p.val.into_owned(),
                params: p
                    .params
                    .into_iter()
                    .map(|q| icalendar::parser::Parameter {
                        key: q.key.into_owned(),
                        val: q.val.map(|v| v.into_owned()),
                    })
                    .collect(),
            })
            .collect(),
        components: c.components.into_iter().map(owned_component).collect(),
    }
}

fn first_unparsable_line(block: &str) -> String {
    for (i, line) in block.lines().enumerate() {
        if !looks_like_content_line(line) {
            return format!(
                "line {} of the event is not a content line: {:?}",
                i + 1,
                shorten(line)
            );
        }
    }
    "the parser rejected it".to_string()
}

fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// `NAME:` or `NAME;` with NAME made of letters, digits and dashes.
pub(crate) fn looks_like_content_line(line: &str) -> bool {
    let name_len = line
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-')
        .count();
    name_len > 0 && matches!(line.as_bytes().get(name_len), Some(b':') | Some(b';'))
}

/// Repair obvious damage at the line level. Returns the repaired text (LF line ends) and notes.
pub(crate) fn repair(text: &str) -> (String, Vec<String>) {
    let mut out: Vec<String> = Vec::new();
    let mut notes = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut joined = 0usize;
    for (n, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            out.push(line.to_string());
            continue;
        }
        if !looks_like_content_line(line) {
            // A continuation that lost its leading space.
            if out.is_empty() {
                notes.push(format!("line {} is not a content line; dropped", n + 1));
            } else {
                out.push(format!(" {line}"));
                joined += 1;
            }
            continue;
        }
        let upper = line.to_ascii_uppercase();
        if let Some(name) = upper.strip_prefix("BEGIN:") {
            let name = name.trim().to_string();
            if name == "VEVENT" || name == "VTIMEZONE" {
                // A new top-level component while another is still open: close it.
                while stack.len() > 1 {
                    if let Some(open) = stack.pop() {
                        notes.push(format!("missing END:{open} added before line {}", n + 1));
                        out.push(format!("END:{open}"));
                    }
                }
            }
            stack.push(name);
            out.push(line.to_string());
        } else if let Some(name) = upper.strip_prefix("END:") {
            let name = name.trim().to_string();
            if stack.contains(&name) {
                while let Some(open) = stack.pop() {
                    if open == name {
                        break;
                    }
                    notes.push(format!("missing END:{open} added before line {}", n + 1));
                    out.push(format!("END:{open}"));
                }
                out.push(format!("END:{name}"));
            } else {
                notes.push(format!("stray END:{name} on line {} dropped", n + 1));
            }
        } else {
            out.push(line.to_string());
        }
    }
    while let Some(open) = stack.pop() {
        notes.push(format!("missing END:{open} added at end of file"));
        out.push(format!("END:{open}"));
    }
    if joined > 0 {
        notes.insert(0, format!("{joined} broken folded line(s) joined"));
    }
    let mut s = out.join("\n");
    s.push('\n');
    (s, notes)
}

struct Block<'a> {
    name: &'static str,
    text: &'a str,
}

/// Top-level VEVENT and VTIMEZONE blocks of unfolded text (by BEGIN/END lines).
fn blocks(text: &str) -> Vec<Block<'_>> {
    let mut out = Vec::new();
    let mut start: Option<(usize, &'static str)> = None;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_end();
        let begin = pos;
        pos += line.len();
        if start.is_none() {
            if t.eq_ignore_ascii_case("BEGIN:VEVENT") {
                start = Some((begin, "VEVENT"));
            } else if t.eq_ignore_ascii_case("BEGIN:VTIMEZONE") {
                start = Some((begin, "VTIMEZONE"));
            }
        } else if let Some((s, name)) = start
            && t.len() == 4 + name.len()
            && t.as_bytes()[..4].eq_ignore_ascii_case(b"END:")
            && t.as_bytes()[4..].eq_ignore_ascii_case(name.as_bytes())
        {
            out.push(Block {
                name,
                text: &text[s..pos],
            });
            start = None;
        }
    }
    out
}

fn prop_named<'c>(c: &'c Component<'_>, name: &str) -> Option<&'c Property<'c>> {
    c.properties
        .iter()
        .find(|p| p.name.as_str().eq_ignore_ascii_case(name))
}

fn props_named<'c, 'n>(
    c: &'c Component<'_>,
    name: &'n str,
) -> impl Iterator<Item = &'c Property<'c>> + use<'c, 'n> {
    c.properties
        .iter()
        .filter(move |p| p.name.as_str().eq_ignore_ascii_case(name))
}

/// A parameter value, quotes removed.
pub(crate) fn param<'p>(p: &'p Property<'_>, key: &str) -> Option<&'p str> {
    p.params
        .iter()
        .find(|q| q.key.as_str().eq_ignore_ascii_case(key))
        .and_then(|q| q.val.as_ref())
        .map(|v| v.as_str().trim_matches('"'))
}

/// `mailto:X` → `x`; falls back to the EMAIL parameter.
pub(crate) fn email_of(p: &Property<'_>) -> Option<String> {
    let v = p.val.as_str().trim();
    let addr = if let Some(rest) = v
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("mailto:"))
        .and_then(|_| v.get(7..))
    {
        rest.trim()
    } else if let Some(e) = param(p, "EMAIL") {
        e.trim()
    } else {
        v
    };
    if addr.is_empty() {
        None
    } else {
        Some(addr.to_lowercase())
    }
}

fn kind_of(p: &Property<'_>) -> Kind {
    match param(p, "CUTYPE").map(str::to_ascii_uppercase).as_deref() {
        Some("ROOM") | Some("RESOURCE") => Kind::Resource,
        Some("GROUP") => Kind::Group,
        _ => Kind::Person,
    }
}

fn partstat_of(p: &Property<'_>) -> PartStat {
    match param(p, "PARTSTAT").map(str::to_ascii_uppercase).as_deref() {
        Some("ACCEPTED") => PartStat::Accepted,
        Some("TENTATIVE") => PartStat::Tentative,
        Some("DECLINED") => PartStat::Declined,
        _ => PartStat::NeedsAction,
    }
}

fn when_of(p: &Property<'_>, vtz: &FileZones<'_, '_>) -> Result<When, WhenError> {
    // RDATE/EXDATE may hold a list; a PERIOD keeps its start.
    let v = p.val.as_str();
    let first = v.split(',').next().unwrap_or(v);
    let first = first.split('/').next().unwrap_or(first);
    when_from(first, param(p, "TZID"), param(p, "VALUE"), vtz)
}

fn whens_of(p: &Property<'_>, vtz: &FileZones<'_, '_>) -> Result<Vec<When>, WhenError> {
    let tzid = param(p, "TZID");
    let vt = param(p, "VALUE");
    p.val
        .as_str()
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|item| {
            let start = item.split('/').next().unwrap_or(item);
            when_from(start, tzid, vt, vtz)
        })
        .collect()
}

fn describe_when_error(e: &WhenError) -> String {
    match e {
        WhenError::UnknownTzid(t) => format!("unknown TZID {t:?}"),
        WhenError::Malformed(v) => format!("malformed date-time {v:?}"),
        WhenError::BadVtimezone(t, why) => format!("unusable VTIMEZONE for TZID {t:?}: {why}"),
    }
}

/// Turn parsed components into candidate events.
fn extract(
    roots: &[Component<'_>],
    recovered: bool,
    mut problems: Vec<String>,
    keep: Keep,
) -> ParsedFile {
    // Gather VTIMEZONEs (resolved lazily, once per TZID) and top-level VEVENTs.
    let mut vtimezones: Vec<&Component<'_>> = Vec::new();
    let mut vevents: Vec<&Component<'_>> = Vec::new();
    for root in roots {
        let children: Vec<&Component<'_>> = if root.name.as_str().eq_ignore_ascii_case("VCALENDAR")
        {
            root.components.iter().collect()
        } else {
            vec![root]
        };
        for c in children {
            let name = c.name.as_str();
            if name.eq_ignore_ascii_case("VTIMEZONE") {
                vtimezones.push(c);
            } else if name.eq_ignore_ascii_case("VEVENT") {
                vevents.push(c);
            }
        }
    }
    let vtz = FileZones::new(vtimezones);
    let mut events = Vec::new();
    let mut swapped = false;
    let mut notes = Vec::new();
    for (index, c) in vevents.into_iter().enumerate() {
        let found = &mut Found {
            problems: &mut problems,
            notes: &mut notes,
            swapped: &mut swapped,
        };
        if let Some(ev) = event_of(c, index, &vtz, found, keep) {
            events.push(ev);
        }
    }
    let candidate_uids: HashSet<String> = events
        .iter()
        .filter(|e| e.candidate)
        .map(|e| e.uid.clone())
        .collect();
    events.retain(|e| candidate_uids.contains(&e.uid));
    let mut masters: HashMap<&str, usize> = HashMap::new();
    for e in events.iter().filter(|e| e.recurrence_id.is_none()) {
        *masters.entry(e.uid.as_str()).or_default() += 1;
    }
    let mut dups: Vec<String> = masters
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(uid, n)| format!("event {uid}: {n} master events with this UID; using the first"))
        .collect();
    dups.sort();
    problems.append(&mut dups);
    ParsedFile {
        events,
        problems,
        notes,
        // An event read with DTEND and DTSTART swapped: never rewrite what we had to reinterpret.
        recovered: recovered || swapped,
        kept: keep,
    }
}

/// Is `end` before `start`? (Values in one zone compare by wall time first: no zone lookup for
/// the usual event.)
fn ends_before_start(start: &When, end: &When) -> bool {
    let same_zone = match (start, end) {
        (When::Zoned(a, _), When::Zoned(b, _)) => a == b,
        (When::Custom(a, _), When::Custom(b, _)) => a == b,
        (When::Utc(_), When::Utc(_))
        | (When::Floating(_), When::Floating(_))
        | (When::Date(_), When::Date(_)) => true,
        _ => false,
    };
    if same_zone && end.naive() >= start.naive() {
        return false;
    }
    // Floating values are compared as if in UTC: the provider's zone is not known here.
    end.instant(chrono_tz::Tz::UTC) < start.instant(chrono_tz::Tz::UTC)
}

/// What reading the events of a file reports besides the events.
struct Found<'a> {
    problems: &'a mut Vec<String>,
    notes: &'a mut Vec<String>,
    swapped: &'a mut bool,
}

fn event_of(
    c: &Component<'_>,
    index: usize,
    vtz: &FileZones<'_, '_>,
    found: &mut Found<'_>,
    keep: Keep,
) -> Option<Ev> {
    let problems = &mut *found.problems;
    let uid = prop_named(c, "UID")
        .map(|p| p.val.as_str().trim().to_string())
        .unwrap_or_default();
    let organizer = prop_named(c, "ORGANIZER").and_then(email_of);
    let mut attendees = Vec::new();
    for p in props_named(c, "ATTENDEE") {
        if let Some(email) = email_of(p) {
            attendees.push(Person {
                email,
                kind: kind_of(p),
                partstat: partstat_of(p),
                optional: param(p, "ROLE")
                    .is_some_and(|r| r.eq_ignore_ascii_case("OPT-PARTICIPANT")),
            });
        }
    }
    let people: HashSet<&str> = organizer
        .as_deref()
        .into_iter()
        .chain(
            attendees
                .iter()
                .filter(|a| a.kind != Kind::Resource)
                .map(|a| a.email.as_str()),
        )
        .collect();
    let meeting_like = people.len() >= 2;
    let label = if uid.is_empty() {
        format!("event #{} (no UID)", index + 1)
    } else {
        format!("event {uid}")
    };
    if uid.is_empty() {
        if meeting_like {
            problems.push(format!("{label}: no UID; skipped"));
        }
        return None;
    }
    let Some(dtstart) = prop_named(c, "DTSTART") else {
        if meeting_like {
            problems.push(format!("{label}: no DTSTART; skipped"));
        }
        return None;
    };
    let fail = |problems: &mut Vec<String>, what: &str, e: &WhenError| {
        if meeting_like {
            problems.push(format!(
                "{label}: {what}: {}; skipped",
                describe_when_error(e)
            ));
        }
    };
    let start = match when_of(dtstart, vtz) {
        Ok(w) => w,
        Err(e) => {
            fail(problems, "DTSTART", &e);
            return None;
        }
    };
    let end = if let Some(p) = prop_named(c, "DTEND") {
        match when_of(p, vtz) {
            Ok(w) => EndSpec::At(w),
            Err(e) => {
                fail(problems, "DTEND", &e);
                return None;
            }
        }
    } else if let Some(p) = prop_named(c, "DURATION") {
        match parse_duration(p.val.as_str()) {
            Some(d) => EndSpec::Seconds(d.num_seconds()),
            None => {
                fail(
                    problems,
                    "DURATION",
                    &WhenError::Malformed(p.val.as_str().to_string()),
                );
                return None;
            }
        }
    } else {
        EndSpec::None
    };
    // DTEND before DTSTART: read the two swapped, as python `recurring-ical-events`, libical and
    // Thunderbird do (so a series then recurs from the earlier of the two).
    let (start, end) = match end {
        EndSpec::At(e) if ends_before_start(&start, &e) => {
            *found.swapped = true;
            if meeting_like {
                let which = prop_named(c, "RECURRENCE-ID")
                    .map(|r| format!(" (occurrence {})", r.val.as_str().trim()))
                    .unwrap_or_default();
                found.notes.push(format!(
                    "{label}{which}: DTEND is before DTSTART; read with the two swapped (the file will not be rewritten)"
                ));
            }
            (e, EndSpec::At(start))
        }
        other => (start, other),
    };
    let recurrence_id = match prop_named(c, "RECURRENCE-ID").map(|p| when_of(p, vtz)) {
        None => None,
        Some(Ok(w)) => Some(w),
        Some(Err(e)) => {
            fail(problems, "RECURRENCE-ID", &e);
            return None;
        }
    };
    let mut rdates = Vec::new();
    let mut exdates = Vec::new();
    for (name, into) in [("RDATE", &mut rdates), ("EXDATE", &mut exdates)] {
        for p in props_named(c, name) {
            match whens_of(p, vtz) {
                Ok(mut v) => into.append(&mut v),
                Err(e) => {
                    fail(problems, name, &e);
                    return None;
                }
            }
        }
    }
    let rules = |name: &str| -> Vec<String> {
        props_named(c, name)
            .map(|p| p.val.as_str().trim().to_string())
            .collect()
    };
    let rrules = rules("RRULE");
    let exrules = rules("EXRULE");
    let cancelled = prop_named(c, "STATUS")
        .is_some_and(|p| p.val.as_str().trim().eq_ignore_ascii_case("CANCELLED"));
    let text = |name: &str| {
        prop_named(c, name)
            .map(|p| p.val.as_str().to_string())
            .unwrap_or_default()
    };
    // The owner's own time counts as busy unless it is marked free (TRANSP:TRANSPARENT).
    let own_busy = keep == Keep::MeetingsAndOwn
        && !cancelled
        && !prop_named(c, "TRANSP")
            .is_some_and(|p| p.val.as_str().trim().eq_ignore_ascii_case("TRANSPARENT"));
    let candidate = (meeting_like || own_busy) && !start.is_date();
    Some(Ev {
        uid,
        summary: text("SUMMARY"),
        organizer,
        attendees,
        start,
        end,
        cancelled,
        description: text("DESCRIPTION"),
        recurrence_id,
        rrules,
        exrules,
        rdates,
        exdates,
        candidate,
        index,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:a1\r\nDTSTART;TZID=Europe/London:20260302T100000\r\nDTEND;TZID=Europe/London:20260302T103000\r\nSUMMARY:1:1\r\nORGANIZER:MAILTO:Ann@Example.com\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:ann@example.com\r\nATTENDEE;PARTSTAT=DECLINED;ROLE=OPT-PARTICIPANT:mailto:Bob@example.com\r\nATTENDEE;CUTYPE=ROOM:mailto:room1@example.com\r\nDESCRIPTION:line1\\nline2\\, and \\; more \\\\ done\r\n with a fold\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn reads_a_clean_file() {
        let f = parse_text(GOOD);
        assert!(!f.recovered, "{:?}", f.problems);
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        assert_eq!(f.events.len(), 1);
        let e = &f.events[0];
        assert_eq!(e.organizer.as_deref(), Some("ann@example.com"));
        assert_eq!(e.attendees.len(), 3);
        assert_eq!(e.attendees[1].email, "bob@example.com");
        assert_eq!(e.attendees[1].partstat, PartStat::Declined);
        assert!(e.attendees[1].optional);
        assert_eq!(e.attendees[2].kind, Kind::Resource);
        assert_eq!(e.description, "line1\nline2, and ; more \\ donewith a fold");
        assert!(e.candidate);
    }

    #[test]
    fn a_room_is_not_a_person() {
        let t = GOOD.replace(
            "ATTENDEE;PARTSTAT=DECLINED;ROLE=OPT-PARTICIPANT:mailto:Bob@example.com\r\n",
            "",
        );
        let f = parse_text(&t);
        assert!(f.events.is_empty());
    }

    #[test]
    fn prefilter_skips_files_without_attendees() {
        assert!(may_hold_meeting(GOOD.as_bytes()));
        assert!(!may_hold_meeting(
            b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nEND:VEVENT\nEND:VCALENDAR\n"
        ));
        assert!(may_hold_meeting(b"X:1\nattendee:mailto:a@b\n"));
        assert!(starts_like_icalendar(
            b"\xEF\xBB\xBF\r\nbegin:vcalendar\r\n"
        ));
        assert!(!starts_like_icalendar(b"this is not a calendar"));
        assert!(!starts_like_icalendar(b""));
    }

    #[test]
    fn repairs_a_broken_fold() {
        let t = GOOD.replace("\r\n with a fold", "\r\nwith a fold and no leading space");
        let f = parse_text(&t);
        assert!(f.recovered);
        assert_eq!(f.events.len(), 1);
        assert!(
            f.events[0]
                .description
                .ends_with("donewith a fold and no leading space")
        );
        assert!(f.problems[0].contains("broken folded"), "{:?}", f.problems);
    }

    #[test]
    fn repairs_a_missing_end() {
        let t = GOOD.replace("END:VEVENT\r\n", "");
        let f = parse_text(&t);
        assert!(f.recovered);
        assert_eq!(f.events.len(), 1, "{:?}", f.problems);
        assert!(
            f.problems[0].contains("missing END:VEVENT"),
            "{:?}",
            f.problems
        );
    }

    #[test]
    fn falls_back_to_event_by_event() {
        let bad = GOOD.replace("UID:a1", "UID:bad").replace(
            "SUMMARY:1:1",
            "ATTENDEE;CN=\"Bob\"Smith:mailto:bob@example.com",
        );
        let t = format!(
            "{}{}",
            GOOD.replace("END:VCALENDAR\r\n", ""),
            bad.replace("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n", "")
        );
        let f = parse_text(&t);
        assert!(f.recovered);
        assert_eq!(f.events.len(), 1, "{:?}", f.problems);
        assert_eq!(f.events[0].uid, "a1");
        assert!(f.problems[0].contains("event by event"), "{:?}", f.problems);
        assert!(f.problems[1].contains("UID bad"), "{:?}", f.problems);
    }

    #[test]
    fn reports_missing_dtstart_and_unknown_tzid() {
        let t = GOOD.replace("DTSTART;TZID=Europe/London:20260302T100000\r\n", "");
        let f = parse_text(&t);
        assert!(f.events.is_empty());
        assert_eq!(
            f.problems,
            vec!["event a1: no DTSTART; skipped".to_string()]
        );
        let t = GOOD.replace("TZID=Europe/London", "TZID=Moon/Base");
        let f = parse_text(&t);
        assert!(f.events.is_empty());
        assert!(
            f.problems[0].contains("unknown TZID \"Moon/Base\""),
            "{:?}",
            f.problems
        );
    }

    #[test]
    fn content_line_shape() {
        assert!(looks_like_content_line("DTSTART;TZID=X:1"));
        assert!(looks_like_content_line("X-FOO:bar"));
        assert!(!looks_like_content_line("with a fold"));
        assert!(!looks_like_content_line(":x"));
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;

    #[test]
    fn duplicate_masters_are_reported_once() {
        let ev = "BEGIN:VEVENT\nUID:d\nDTSTART:20260101T100000Z\nORGANIZER:mailto:a@x\nATTENDEE:mailto:b@x\nEND:VEVENT\n";
        let f = parse_text(&format!("BEGIN:VCALENDAR\n{ev}{ev}END:VCALENDAR\n"));
        assert_eq!(f.events.len(), 2);
        assert_eq!(
            f.problems,
            vec!["event d: 2 master events with this UID; using the first".to_string()]
        );
    }

    #[test]
    fn invalid_utf8_is_read_lossily_and_marked_recovered() {
        let mut bytes =
            b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:u\nDTSTART:20260101T100000Z\nSUMMARY:caf".to_vec();
        bytes.push(0xE9);
        bytes.extend_from_slice(
            b"\nORGANIZER:mailto:a@x\nATTENDEE:mailto:b@x\nEND:VEVENT\nEND:VCALENDAR\n",
        );
        let f = parse_bytes(&bytes, Keep::Meetings);
        assert!(f.recovered);
        assert_eq!(f.events.len(), 1);
        assert!(
            f.problems[0].contains("not valid UTF-8"),
            "{:?}",
            f.problems
        );
    }
}
