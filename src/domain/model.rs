//! The provider-neutral vocabulary of the core: people, calendar instances, pairs and cadences.
//! Providers convert their wire formats into these types; nothing here knows a wire format, and
//! nothing here derives `Serialize` (views and store records are separate types at the edges).
use chrono::{DateTime, Duration, Utc};
use std::fmt;
use std::sync::Arc;

/// A participant's answer to an invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Response {
    Accepted,
    Tentative,
    Declined,
    NeedsAction,
}

/// Whether a participant is a person or a room/equipment (CUTYPE=ROOM/RESOURCE, Google `resource`,
/// Graph attendee type `resource`). Resources never count as people of a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParticipantKind {
    Person,
    /// A group or distribution list: never a 1:1.
    Group,
    Resource,
}

/// One attendee of an event. `email` is always lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendee {
    pub email: String,
    pub kind: ParticipantKind,
    pub response: Response,
    pub optional: bool,
}

/// The rhythm of a recurring series, read from its rule (RRULE, Graph patternedRecurrence).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Rhythm {
    /// Every N weeks (FREQ=WEEKLY;INTERVAL=N, or FREQ=DAILY;INTERVAL=7N).
    Weeks(u32),
    /// Every N months (FREQ=MONTHLY;INTERVAL=N).
    Months(u32),
    /// Anything else (daily, yearly, …), described for messages.
    Other(String),
}

impl fmt::Display for Rhythm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rhythm::Weeks(1) => f.write_str("weekly"),
            Rhythm::Weeks(2) => f.write_str("biweekly"),
            Rhythm::Weeks(n) => write!(f, "every {n} weeks"),
            Rhythm::Months(1) => f.write_str("monthly"),
            Rhythm::Months(n) => write!(f, "every {n} months"),
            Rhythm::Other(s) => f.write_str(s),
        }
    }
}

/// A configured cadence: `weekly`, `biweekly`, `monthly` or `every N weeks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cadence {
    Weeks(u32),
    Monthly,
}

impl Cadence {
    /// The nominal period between two 1:1s.
    pub fn period(self) -> Duration {
        match self {
            Cadence::Weeks(n) => Duration::weeks(i64::from(n)),
            Cadence::Monthly => Duration::days(31),
        }
    }

    /// Does a series rhythm satisfy this cadence?
    pub fn matches(self, rhythm: &Rhythm) -> bool {
        match (self, rhythm) {
            (Cadence::Weeks(n), Rhythm::Weeks(m)) => n == *m,
            (Cadence::Monthly, Rhythm::Months(1)) => true,
            // "every 4 weeks" is commonly used for monthly 1:1s.
            (Cadence::Monthly, Rhythm::Weeks(4)) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Cadence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cadence::Weeks(1) => f.write_str("weekly"),
            Cadence::Weeks(2) => f.write_str("biweekly"),
            Cadence::Weeks(n) => write!(f, "every {n} weeks"),
            Cadence::Monthly => f.write_str("monthly"),
        }
    }
}

impl std::str::FromStr for Cadence {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "weekly" => return Ok(Cadence::Weeks(1)),
            "biweekly" | "fortnightly" => return Ok(Cadence::Weeks(2)),
            "monthly" => return Ok(Cadence::Monthly),
            _ => {}
        }
        let words: Vec<&str> = t.split_whitespace().collect();
        if let ["every", n, "week" | "weeks"] = words.as_slice()
            && let Ok(n) = n.parse::<u32>()
            && (1..=52).contains(&n)
        {
            return Ok(Cadence::Weeks(n));
        }
        Err(format!(
            "invalid cadence {s:?}: expected weekly, biweekly, monthly or \"every N weeks\" (N from 1 to 52)"
        ))
    }
}

/// One concrete instance of a calendar event as one calendar shows it now: a single event, or one
/// occurrence of a series (expanded by the provider), possibly an exception (moved/edited/cancelled).
/// The same meeting can be seen in several calendars (the manager's and the report's); each copy is
/// one `Instance`, and they share a [`Instance::meeting_key`]. The text fields every occurrence of a
/// series shares are reference-counted, so a large calendar's expansion does not copy them per
/// occurrence.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Which `[[accounts]]` entry it came from.
    pub account: Arc<str>,
    /// The calendar it was read from (a mailbox, a vdir collection folder): completeness is judged
    /// per calendar.
    pub calendar: Arc<str>,
    /// Whose calendar this copy is in (lower-case email), when the provider knows.
    pub owner: Option<Arc<str>>,
    /// The provider's id of this copy, unique within its calendar: what writes address. For a
    /// series occurrence it is derived from the series id and the original start (so a moved
    /// occurrence keeps its id).
    pub id: String,
    /// The provider's id of the series this occurrence belongs to (iCalendar UID, Google
    /// recurringEventId, Graph seriesMasterId), if recurring.
    pub series_id: Option<Arc<str>>,
    /// The iCalendar UID, shared by every copy of the meeting in every calendar.
    pub uid: Arc<str>,
    /// For occurrences: the original (unmoved) start, i.e. the RECURRENCE-ID.
    pub original_start: Option<DateTime<Utc>>,
    pub title: Arc<str>,
    /// Organizer email, lower-case.
    pub organizer: Option<Arc<str>>,
    pub attendees: Arc<[Attendee]>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// All-day events are never meetings.
    pub all_day: bool,
    /// STATUS:CANCELLED, Google `cancelled`, Graph `isCancelled`.
    pub cancelled: bool,
    /// The series rhythm (for occurrences of a recurring series).
    pub rhythm: Option<Rhythm>,
    /// The current description text (plain text; the managed block lives inside it).
    pub description: Arc<str>,
    /// Opaque version of this copy as read (etag, changeKey, a fingerprint of the file's event):
    /// writes are conditional on it.
    pub version: Arc<str>,
    /// The unit of reading it came from (a file, a series master's event id): when that unit
    /// cannot be read, the provider names it in a `SourceProblem` with the same `source`.
    pub source: Arc<str>,
}

impl Instance {
    pub fn duration(&self) -> Duration {
        self.end - self.start
    }

    /// The identity of the meeting, the same for every copy in every calendar: the UID, plus the
    /// original start for a series occurrence (`{UID}_{YYYYMMDDTHHMMSSZ}`).
    pub fn meeting_key(&self) -> String {
        match (self.original_start, self.series_id.is_some()) {
            (Some(orig), true) => meeting_key(&self.uid, Some(orig)),
            _ => self.uid.to_string(),
        }
    }

    /// The key grouping the occurrences of one series across calendars (the UID), or the
    /// meeting key of a single event.
    pub fn series_key(&self) -> String {
        if self.series_id.is_some() {
            self.uid.to_string()
        } else {
            self.meeting_key()
        }
    }

    /// Is this copy in the organizer's own calendar?
    pub fn is_organizer_copy(&self) -> bool {
        matches!((&self.owner, &self.organizer), (Some(o), Some(org)) if o == org)
    }
}

/// The meeting key of a UID and (for a series occurrence) its original start:
/// `{UID}_{YYYYMMDDTHHMMSSZ}`, or the UID alone for a single event.
pub fn meeting_key(uid: &str, original_start: Option<DateTime<Utc>>) -> String {
    use chrono::{Datelike, Timelike};
    let Some(original) = original_start else {
        return uid.to_string();
    };
    // Hand-rolled: this runs once per instance (100,000+ per fetch of a large vdir).
    fn push_num(out: &mut String, n: u32, width: usize) {
        let mut buf = [b'0'; 10];
        let mut v = n;
        for slot in buf.iter_mut().take(width).rev() {
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out.extend(buf.iter().take(width).map(|&b| char::from(b)));
    }
    let mut out = String::with_capacity(uid.len() + 17);
    out.push_str(uid);
    out.push('_');
    push_num(&mut out, u32::try_from(original.year()).unwrap_or(0), 4);
    push_num(&mut out, original.month(), 2);
    push_num(&mut out, original.day(), 2);
    out.push('T');
    push_num(&mut out, original.hour(), 2);
    push_num(&mut out, original.minute(), 2);
    push_num(&mut out, original.second(), 2);
    out.push('Z');
    out
}

/// The master of a recurring series as one calendar shows it: where the series-wide agenda link
/// is written.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesMaster {
    pub account: Arc<str>,
    pub calendar: Arc<str>,
    pub owner: Option<Arc<str>>,
    /// The provider's id of the series (what `Instance::series_id` of its occurrences holds).
    pub id: String,
    pub uid: Arc<str>,
    pub title: Arc<str>,
    pub organizer: Option<Arc<str>>,
    pub description: Arc<str>,
    pub version: Arc<str>,
    pub source: Arc<str>,
}

impl SeriesMaster {
    /// Is this copy in the organizer's own calendar?
    pub fn is_organizer_copy(&self) -> bool {
        matches!((&self.owner, &self.organizer), (Some(o), Some(org)) if o == org)
    }
}

/// A configured pair. Emails are lower-case; `id` is `MANAGER~REPORT`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub id: String,
    pub manager: String,
    pub report: String,
    pub account: String,
    pub cadence: Cadence,
    pub duration: Duration,
    pub enforce: Enforce,
    pub cancellations: CancellationPolicy,
    /// The pair's zone: working hours, quiet hours and dates in its messages are in it.
    pub timezone: chrono_tz::Tz,
    /// When the two may meet (free slots are only offered and booked within them).
    pub working_hours: WorkingHours,
}

/// A daily span of working time, in the pair's zone, on weekdays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingHours {
    pub start: chrono::NaiveTime,
    pub end: chrono::NaiveTime,
}

impl Default for WorkingHours {
    /// 09:00–17:00.
    fn default() -> Self {
        WorkingHours {
            start: chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
            end: chrono::NaiveTime::from_hms_opt(17, 0, 0).unwrap_or_default(),
        }
    }
}

impl std::str::FromStr for WorkingHours {
    type Err = String;
    /// `"09:00-17:30"`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("invalid working hours {s:?}: expected \"HH:MM-HH:MM\", e.g. \"09:00-17:00\"")
        };
        let (a, b) = s.trim().split_once('-').ok_or_else(bad)?;
        let t = |x: &str| chrono::NaiveTime::parse_from_str(x.trim(), "%H:%M").map_err(|_| bad());
        let (start, end) = (t(a)?, t(b)?);
        if end <= start {
            return Err(format!(
                "invalid working hours {s:?}: the end must be after the start"
            ));
        }
        Ok(WorkingHours { start, end })
    }
}

impl fmt::Display for WorkingHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

impl Pair {
    /// The canonical pair id for two emails.
    pub fn make_id(manager: &str, report: &str) -> String {
        format!("{}~{}", manager.to_lowercase(), report.to_lowercase())
    }
}

/// Whether to only warn, or also repair what can safely be repaired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforce {
    Warn,
    Fix,
}

/// When cancellations become a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CancellationPolicy {
    pub max_consecutive: u32,
    pub max_in_window: u32,
    pub window: Duration,
}
