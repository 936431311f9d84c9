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

/// One concrete instance of a calendar event as the provider sees it now: a single event, or one
/// occurrence of a series (expanded by the provider), possibly an exception (moved/edited/cancelled).
/// The text fields every occurrence of a series shares are reference-counted, so a large calendar's
/// expansion does not copy them per occurrence.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Which `[[accounts]]` entry it came from.
    pub account: Arc<str>,
    /// Stable id, unique within the account: for a series occurrence it is derived from the series id
    /// and the original start (so a moved occurrence keeps its id); for a single event, its uid.
    pub id: String,
    /// The series (iCalendar UID / Google recurringEventId / Graph seriesMasterId), if recurring.
    pub series_id: Option<String>,
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
    /// Where the event lives, for messages: a file path, a calendar id.
    pub source: Arc<str>,
}

impl Instance {
    pub fn duration(&self) -> Duration {
        self.end - self.start
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
