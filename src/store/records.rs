//! The records kept in the store: the store's own serde types, deliberately separate from the
//! domain types (which do not derive `Serialize`) and from any wire format. Each converts to and
//! from its domain type here, so a domain change never silently changes what is on disk. Field
//! names are the on-disk JSON names; new fields get `#[serde(default)]` so older values still read.
use crate::domain::agenda::{AgendaDoc, AgendaItem, Deferral, ItemKind, Section};
use crate::domain::goals::{Goal, GoalClosed, GoalProgress};
use crate::domain::history::{Occurrence, OccurrenceStatus, SeenIn};
use crate::domain::notes::{PrivateNote, SharedNotes};
use crate::domain::rules::ActiveFinding;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StatusRec {
    Held,
    Scheduled,
    Cancelled,
}

impl From<OccurrenceStatus> for StatusRec {
    fn from(s: OccurrenceStatus) -> Self {
        match s {
            OccurrenceStatus::Held => StatusRec::Held,
            OccurrenceStatus::Scheduled => StatusRec::Scheduled,
            OccurrenceStatus::Cancelled => StatusRec::Cancelled,
        }
    }
}

impl From<StatusRec> for OccurrenceStatus {
    fn from(s: StatusRec) -> Self {
        match s {
            StatusRec::Held => OccurrenceStatus::Held,
            StatusRec::Scheduled => OccurrenceStatus::Scheduled,
            StatusRec::Cancelled => OccurrenceStatus::Cancelled,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SeenInRec {
    #[serde(rename = "c")]
    calendar: String,
    #[serde(rename = "s")]
    source: String,
}

/// One occurrence of a pair's 1:1 (`domain::Occurrence`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OccurrenceRec {
    pair_id: String,
    account: String,
    /// The meeting key (named `instance_id` since schema 1).
    instance_id: String,
    series_id: Option<String>,
    title: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    status: StatusRec,
    cancel_reason: Option<String>,
    last_seen: DateTime<Utc>,
    one_on_one: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    seen_in: Vec<SeenInRec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agenda: Option<String>,
}

impl OccurrenceRec {
    pub(crate) fn set_agenda(&mut self, token: String) {
        self.agenda = Some(token);
    }
}

impl From<&Occurrence> for OccurrenceRec {
    fn from(o: &Occurrence) -> Self {
        OccurrenceRec {
            pair_id: o.pair_id.to_string(),
            account: o.account.to_string(),
            instance_id: o.meeting.clone(),
            series_id: o.series.as_deref().map(str::to_string),
            title: o.title.clone(),
            start: o.start,
            end: o.end,
            status: o.status.into(),
            cancel_reason: o.cancel_reason.clone(),
            last_seen: o.last_seen,
            one_on_one: o.one_on_one,
            seen_in: o
                .seen_in
                .iter()
                .map(|s| SeenInRec {
                    calendar: s.calendar.to_string(),
                    source: s.source.to_string(),
                })
                .collect(),
            agenda: o.agenda.clone(),
        }
    }
}

/// Shares the strings the records of one pair repeat (pair, account, series, calendars, files):
/// one allocation per distinct value instead of one per record. A pair has a handful of them.
#[derive(Default)]
pub(crate) struct Interner(Vec<Arc<str>>);

impl Interner {
    pub(crate) fn get(&mut self, s: String) -> Arc<str> {
        if let Some(a) = self.0.iter().find(|a| ***a == *s) {
            return a.clone();
        }
        let a: Arc<str> = s.into();
        self.0.push(a.clone());
        a
    }
}

impl OccurrenceRec {
    /// The domain record, its repeated strings shared through `interner`.
    pub(crate) fn into_occurrence(self, interner: &mut Interner) -> Occurrence {
        let r = self;
        Occurrence {
            pair_id: interner.get(r.pair_id),
            account: interner.get(r.account),
            meeting: r.instance_id,
            series: r.series_id.map(|s| interner.get(s)),
            title: r.title,
            start: r.start,
            end: r.end,
            status: r.status.into(),
            cancel_reason: r.cancel_reason,
            last_seen: r.last_seen,
            one_on_one: r.one_on_one,
            seen_in: r
                .seen_in
                .into_iter()
                .map(|s| SeenIn {
                    calendar: interner.get(s.calendar),
                    source: interner.get(s.source),
                })
                .collect(),
            agenda: r.agenda,
        }
    }
}

/// A finding being tracked (`domain::rules::ActiveFinding`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FindingRec {
    pair_id: String,
    key: String,
    kind: String,
    severity: String,
    message: String,
    occurrence: Option<DateTime<Utc>>,
    first_seen: DateTime<Utc>,
    notified_at: Option<DateTime<Utc>>,
    #[serde(default = "one")]
    level: u32,
    /// Older records were notified once, at the first level.
    #[serde(default = "one")]
    notified_level: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    details: Vec<String>,
}

fn one() -> u32 {
    1
}

impl From<&ActiveFinding> for FindingRec {
    fn from(f: &ActiveFinding) -> Self {
        FindingRec {
            pair_id: f.pair_id.clone(),
            key: f.key.clone(),
            kind: f.kind.clone(),
            severity: f.severity.clone(),
            message: f.message.clone(),
            occurrence: f.occurrence,
            first_seen: f.first_seen,
            notified_at: f.notified_at,
            level: f.level,
            notified_level: f.notified_level,
            details: f.details.clone(),
        }
    }
}

impl From<FindingRec> for ActiveFinding {
    fn from(r: FindingRec) -> Self {
        ActiveFinding {
            pair_id: r.pair_id,
            key: r.key,
            kind: r.kind,
            severity: r.severity,
            message: r.message,
            occurrence: r.occurrence,
            first_seen: r.first_seen,
            notified_at: r.notified_at,
            level: r.level,
            notified_level: if r.notified_at.is_some() {
                r.notified_level
            } else {
                0
            },
            details: r.details,
        }
    }
}

/// The agenda document of one occurrence (`domain::agenda::AgendaDoc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AgendaDocRec {
    token: String,
    pair_id: String,
    /// The meeting key (named `instance_id` since schema 1).
    instance_id: String,
    start: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

impl AgendaDocRec {
    pub(crate) fn pair_and_meeting(&self) -> (&str, &str) {
        (&self.pair_id, &self.instance_id)
    }
}

impl From<&AgendaDoc> for AgendaDocRec {
    fn from(d: &AgendaDoc) -> Self {
        AgendaDocRec {
            token: d.token.clone(),
            pair_id: d.pair_id.clone(),
            instance_id: d.meeting.clone(),
            start: d.start,
            created_at: d.created_at,
        }
    }
}

impl From<AgendaDocRec> for AgendaDoc {
    fn from(r: AgendaDocRec) -> Self {
        AgendaDoc {
            token: r.token,
            pair_id: r.pair_id,
            meeting: r.instance_id,
            start: r.start,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ItemKindRec {
    TalkingPoint,
    ActionItem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SectionRec {
    CheckIn,
    ReportTopics,
    ManagerTopics,
    Growth,
    Feedback,
    ActionItems,
}

/// One agenda item of a pair's ledger (`domain::agenda::AgendaItem`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AgendaItemRec {
    id: String,
    pair_id: String,
    kind: ItemKindRec,
    section: SectionRec,
    text: String,
    owner: Option<String>,
    author: Option<String>,
    /// The meeting key of the occurrence it was added for (named `origin_instance` since schema 1).
    origin_instance: String,
    origin_start: DateTime<Utc>,
    done_in: Option<String>,
    done_start: Option<DateTime<Utc>>,
    done_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    due: Option<chrono::NaiveDate>,
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    rank: i32,
    #[serde(default)]
    version: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    deferred: Vec<DeferralRec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    drop_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    done_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    updated_at: Option<DateTime<Utc>>,
}

fn is_zero_i32(n: &i32) -> bool {
    *n == 0
}

/// An explicit deferral of an item (`domain::agenda::Deferral`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DeferralRec {
    meeting: String,
    start: DateTime<Utc>,
}

impl From<&AgendaItem> for AgendaItemRec {
    fn from(i: &AgendaItem) -> Self {
        AgendaItemRec {
            id: i.id.clone(),
            pair_id: i.pair_id.clone(),
            kind: match i.kind {
                ItemKind::TalkingPoint => ItemKindRec::TalkingPoint,
                ItemKind::ActionItem => ItemKindRec::ActionItem,
            },
            section: match i.section {
                Section::CheckIn => SectionRec::CheckIn,
                Section::ReportTopics => SectionRec::ReportTopics,
                Section::ManagerTopics => SectionRec::ManagerTopics,
                Section::Growth => SectionRec::Growth,
                Section::Feedback => SectionRec::Feedback,
                Section::ActionItems => SectionRec::ActionItems,
            },
            text: i.text.clone(),
            owner: i.owner.clone(),
            author: i.author.clone(),
            origin_instance: i.origin_meeting.clone(),
            origin_start: i.origin_start,
            done_in: i.done_in.clone(),
            done_start: i.done_start,
            done_at: i.done_at,
            created_at: i.created_at,
            due: i.due,
            rank: i.rank,
            version: i.version,
            deferred: i
                .deferred
                .iter()
                .map(|d| DeferralRec {
                    meeting: d.meeting.clone(),
                    start: d.start,
                })
                .collect(),
            drop_reason: i.drop_reason.clone(),
            done_by: i.done_by.clone(),
            updated_at: i.updated_at,
        }
    }
}

impl From<AgendaItemRec> for AgendaItem {
    fn from(r: AgendaItemRec) -> Self {
        AgendaItem {
            id: r.id,
            pair_id: r.pair_id,
            kind: match r.kind {
                ItemKindRec::TalkingPoint => ItemKind::TalkingPoint,
                ItemKindRec::ActionItem => ItemKind::ActionItem,
            },
            section: match r.section {
                SectionRec::CheckIn => Section::CheckIn,
                SectionRec::ReportTopics => Section::ReportTopics,
                SectionRec::ManagerTopics => Section::ManagerTopics,
                SectionRec::Growth => Section::Growth,
                SectionRec::Feedback => Section::Feedback,
                SectionRec::ActionItems => Section::ActionItems,
            },
            text: r.text,
            owner: r.owner,
            author: r.author,
            origin_meeting: r.origin_instance,
            origin_start: r.origin_start,
            done_in: r.done_in,
            done_start: r.done_start,
            done_at: r.done_at,
            created_at: r.created_at,
            due: r.due,
            rank: r.rank,
            version: r.version,
            deferred: r
                .deferred
                .into_iter()
                .map(|d| Deferral {
                    meeting: d.meeting,
                    start: d.start,
                })
                .collect(),
            drop_reason: r.drop_reason,
            done_by: r.done_by,
            updated_at: r.updated_at,
        }
    }
}

/// A development goal of a pair (`domain::goals::Goal`), its progress notes inside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GoalRec {
    id: String,
    pair_id: String,
    title: String,
    #[serde(default)]
    next_step: String,
    created_in: String,
    created_start: DateTime<Utc>,
    created_at: DateTime<Utc>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    closed: Option<GoalClosedRec>,
    #[serde(default)]
    progress: Vec<GoalProgressRec>,
    #[serde(default)]
    version: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GoalClosedRec {
    meeting: String,
    start: DateTime<Utc>,
    at: DateTime<Utc>,
    #[serde(default)]
    by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GoalProgressRec {
    id: String,
    meeting: String,
    start: DateTime<Utc>,
    text: String,
    #[serde(default)]
    author: Option<String>,
    at: DateTime<Utc>,
}

impl From<&Goal> for GoalRec {
    fn from(g: &Goal) -> Self {
        GoalRec {
            id: g.id.clone(),
            pair_id: g.pair_id.clone(),
            title: g.title.clone(),
            next_step: g.next_step.clone(),
            created_in: g.created_in.clone(),
            created_start: g.created_start,
            created_at: g.created_at,
            author: g.author.clone(),
            closed: g.closed.as_ref().map(|c| GoalClosedRec {
                meeting: c.meeting.clone(),
                start: c.start,
                at: c.at,
                by: c.by.clone(),
            }),
            progress: g
                .progress
                .iter()
                .map(|p| GoalProgressRec {
                    id: p.id.clone(),
                    meeting: p.meeting.clone(),
                    start: p.start,
                    text: p.text.clone(),
                    author: p.author.clone(),
                    at: p.at,
                })
                .collect(),
            version: g.version,
        }
    }
}

impl From<GoalRec> for Goal {
    fn from(r: GoalRec) -> Self {
        Goal {
            id: r.id,
            pair_id: r.pair_id,
            title: r.title,
            next_step: r.next_step,
            created_in: r.created_in,
            created_start: r.created_start,
            created_at: r.created_at,
            author: r.author,
            closed: r.closed.map(|c| GoalClosed {
                meeting: c.meeting,
                start: c.start,
                at: c.at,
                by: c.by,
            }),
            progress: r
                .progress
                .into_iter()
                .map(|p| GoalProgress {
                    id: p.id,
                    meeting: p.meeting,
                    start: p.start,
                    text: p.text,
                    author: p.author,
                    at: p.at,
                })
                .collect(),
            version: r.version,
        }
    }
}

/// The shared notes of one meeting (`domain::notes::SharedNotes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SharedNotesRec {
    pair_id: String,
    meeting: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    decisions: String,
    #[serde(default)]
    version: u64,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    updated_by: Option<String>,
}

impl From<&SharedNotes> for SharedNotesRec {
    fn from(n: &SharedNotes) -> Self {
        SharedNotesRec {
            pair_id: n.pair_id.clone(),
            meeting: n.meeting.clone(),
            notes: n.notes.clone(),
            decisions: n.decisions.clone(),
            version: n.version,
            updated_at: n.updated_at,
            updated_by: n.updated_by.clone(),
        }
    }
}

impl From<SharedNotesRec> for SharedNotes {
    fn from(r: SharedNotesRec) -> Self {
        SharedNotes {
            pair_id: r.pair_id,
            meeting: r.meeting,
            notes: r.notes,
            decisions: r.decisions,
            version: r.version,
            updated_at: r.updated_at,
            updated_by: r.updated_by,
        }
    }
}

/// A private note (`domain::notes::PrivateNote`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PrivateNoteRec {
    pair_id: String,
    meeting: String,
    author: String,
    text: String,
    #[serde(default)]
    version: u64,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
}

impl From<&PrivateNote> for PrivateNoteRec {
    fn from(n: &PrivateNote) -> Self {
        PrivateNoteRec {
            pair_id: n.pair_id.clone(),
            meeting: n.meeting.clone(),
            author: n.author.clone(),
            text: n.text.clone(),
            version: n.version,
            updated_at: n.updated_at,
        }
    }
}

impl From<PrivateNoteRec> for PrivateNote {
    fn from(r: PrivateNoteRec) -> Self {
        PrivateNote {
            pair_id: r.pair_id,
            meeting: r.meeting,
            author: r.author,
            text: r.text,
            version: r.version,
            updated_at: r.updated_at,
        }
    }
}

/// A signed-in session of the agenda pages: whose, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebSession {
    /// The verified email, lower-case.
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The journal entry of one external write (record the intent, flush, write, record the result,
/// flush). `content_hash` identifies what was (to be) written. The journal is the shell's: the
/// planner never reads it (it reads the per-pair `WriteMark`s instead).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteRecord {
    pub account: String,
    /// The write's key (a meeting key, `series:…`, `create:PAIR`, `…#end`).
    pub instance_id: String,
    pub content_hash: String,
    pub state: WriteState,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteState {
    Intent,
    Done,
    Failed,
}

/// A write-once mark of a pair (`domain::history::WriteMark`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WriteMarkRec {
    key: String,
    state: WriteState,
    at: DateTime<Utc>,
}

impl From<&crate::domain::history::WriteMark> for WriteMarkRec {
    fn from(m: &crate::domain::history::WriteMark) -> Self {
        use crate::domain::history::MarkState;
        WriteMarkRec {
            key: m.key.clone(),
            state: match m.state {
                MarkState::Intent => WriteState::Intent,
                MarkState::Done => WriteState::Done,
                MarkState::Failed => WriteState::Failed,
            },
            at: m.at,
        }
    }
}

impl From<WriteMarkRec> for crate::domain::history::WriteMark {
    fn from(r: WriteMarkRec) -> Self {
        use crate::domain::history::MarkState;
        crate::domain::history::WriteMark {
            key: r.key,
            state: match r.state {
                WriteState::Intent => MarkState::Intent,
                WriteState::Done => MarkState::Done,
                WriteState::Failed => MarkState::Failed,
            },
            at: r.at,
        }
    }
}

/// How many events a calendar held at the end of the last cycle that read it completely.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CalendarRec {
    pub(crate) events: usize,
    pub(crate) at: DateTime<Utc>,
}
