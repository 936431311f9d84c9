//! What the provider remembers of one mailbox between delta rounds ([`MailboxState`]): the delta
//! link (with the window it covers and the pairs it was read for), a record of every event that
//! concerns a configured pair (singles and exceptions in full, occurrence skeletons, the series
//! masters they belong to), a hash of every other event's id (only to count them and to apply
//! their removal), and the items that could not be read. It is stored in the account's mirror, one
//! entry per record, changed together with the link in one `AccountState::commit`.
//!
//! Events that concern no pair are not kept: an organisation's calendars are large, and only a
//! pair's meetings are ever planned on. Which events concern a pair is [`Relevance`]; when the
//! pairs change, the mailbox is read afresh.
//!
//! Invariant: every change goes through [`MailboxState`]'s methods, which record it in
//! [`Changes`], so the commit holds exactly what changed.
use crate::domain::Pair;
use crate::domain::hash::fnv1a64;
use crate::store::{AccountState, MirrorCommit};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The first byte of every stored value: its format. Anything else is read as "nothing stored"
/// (the mailbox is then read afresh).
const FORMAT: u8 = 1;
const IGNORED_KEY: &str = "ignored";

/// A participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub email: String,
    pub resource: bool,
    pub optional: bool,
    /// 0 no answer, 1 accepted, 2 tentative, 3 declined.
    pub response: u8,
}

/// Who is in an event, as its copy in this mailbox says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct People {
    pub organizer: Option<String>,
    pub attendees: Vec<Person>,
    /// The mailbox owner's own answer (`responseStatus`), when it says one.
    pub own_response: Option<u8>,
}

impl People {
    /// The people (not rooms) of the event, lower-case, sorted, once each.
    pub fn emails(&self) -> Vec<&str> {
        let mut v: Vec<&str> = Vec::with_capacity(self.attendees.len() + 1);
        if let Some(o) = self.organizer.as_deref().filter(|o| !o.is_empty()) {
            let room = self.attendees.iter().any(|a| a.resource && a.email == o);
            if !room {
                v.push(o);
            }
        }
        v.extend(
            self.attendees
                .iter()
                .filter(|a| !a.resource && !a.email.is_empty())
                .map(|a| a.email.as_str()),
        );
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// A single event or an exception (a changed occurrence), as read in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRec {
    /// For an exception: its series master's id.
    pub master: Option<String>,
    /// For an exception: the start it had in the series (ms since the epoch).
    pub original_start: Option<i64>,
    pub version: String,
    pub start: i64,
    pub end: i64,
    pub all_day: bool,
    pub cancelled: bool,
    pub subject: String,
    pub people: People,
    /// The iCalendar UID (for an exception, its master's once known).
    pub ical_uid: String,
    /// The HTML body.
    pub body: String,
}

/// An occurrence of a series, as delta gives it (a skeleton): the rest is its master's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OccRec {
    pub master: String,
    pub start: i64,
    pub end: i64,
    pub version: String,
}

/// A series' rhythm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RhythmRec {
    Weeks(u32),
    Months(u32),
    Other(String),
}

/// A series master, fetched once per change of the series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterRec {
    pub version: String,
    pub ical_uid: String,
    pub subject: String,
    pub people: People,
    pub body: String,
    pub rhythm: RhythmRec,
    pub cancelled: bool,
    pub all_day: bool,
}

/// An item that could not be read, and the unit (`source`) it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemRec {
    pub source: String,
    pub message: String,
}

/// The delta link and what it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRec {
    pub url: String,
    /// The window (ms since the epoch) the delta round was started with.
    pub start: i64,
    pub end: i64,
    /// [`Relevance::fingerprint`] of the pairs it was read for.
    pub scope: u64,
}

/// One mailbox, as remembered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MailboxState {
    pub link: Option<LinkRec>,
    pub events: BTreeMap<String, EventRec>,
    pub occurrences: BTreeMap<String, OccRec>,
    pub masters: BTreeMap<String, MasterRec>,
    /// Hashes of the ids of events that concern no pair, sorted.
    pub ignored: Vec<u64>,
    pub problems: BTreeMap<String, ProblemRec>,
}

/// What a round changed, for the commit.
#[derive(Debug, Default)]
pub struct Changes {
    pub replace_all: bool,
    upsert: BTreeMap<String, Vec<u8>>,
    remove: BTreeSet<String>,
    ignored_changed: bool,
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = vec![FORMAT];
    // Serialising our own plain records into a Vec cannot fail.
    out.extend(postcard::to_stdvec(v).unwrap_or_default());
    out
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Option<T> {
    match bytes.split_first() {
        Some((&FORMAT, rest)) => postcard::from_bytes(rest).ok(),
        _ => None,
    }
}

/// The sync-state key of a mailbox's delta link.
pub fn link_key(mailbox: &str) -> String {
    format!("delta:{mailbox}")
}

impl Changes {
    fn put(&mut self, key: String, bytes: Vec<u8>) {
        self.remove.remove(&key);
        self.upsert.insert(key, bytes);
    }
    fn del(&mut self, key: String) {
        self.upsert.remove(&key);
        if !self.replace_all {
            self.remove.insert(key);
        }
    }
}

impl MailboxState {
    /// Load a mailbox's state; a value this build cannot read means "read it afresh".
    pub fn load(state: &AccountState, mailbox: &str) -> Result<MailboxState, String> {
        let link = state
            .get(&link_key(mailbox))
            .map_err(|e| e.to_string())?
            .and_then(|b| decode::<LinkRec>(&b));
        let mut s = MailboxState {
            link,
            ..MailboxState::default()
        };
        for (key, bytes) in state.mirror(mailbox).map_err(|e| e.to_string())? {
            let ok = match key.split_once(':') {
                Some(("e", id)) => decode(&bytes)
                    .map(|r| s.events.insert(id.into(), r))
                    .is_some(),
                Some(("o", id)) => decode(&bytes)
                    .map(|r| s.occurrences.insert(id.into(), r))
                    .is_some(),
                Some(("m", id)) => decode(&bytes)
                    .map(|r| s.masters.insert(id.into(), r))
                    .is_some(),
                Some(("p", id)) => decode(&bytes)
                    .map(|r| s.problems.insert(id.into(), r))
                    .is_some(),
                _ if key == IGNORED_KEY => {
                    decode::<Vec<u64>>(&bytes).map(|v| s.ignored = v).is_some()
                }
                _ => false,
            };
            if !ok {
                tracing::warn!(
                    mailbox,
                    key,
                    "a stored record cannot be read; the mailbox is read afresh"
                );
                return Ok(MailboxState::default());
            }
        }
        s.ignored.sort_unstable();
        s.ignored.dedup();
        Ok(s)
    }

    /// Events it holds (every kind, in its delta window).
    pub fn count(&self) -> usize {
        let unread = self
            .problems
            .keys()
            .filter(|id| !self.events.contains_key(*id) && !self.occurrences.contains_key(*id))
            .count();
        self.events.len() + self.occurrences.len() + self.ignored.len() + unread
    }

    /// Forget everything (a fresh round); the commit replaces the stored mirror.
    pub fn reset(&mut self, changes: &mut Changes) {
        *self = MailboxState::default();
        *changes = Changes {
            replace_all: true,
            ..Changes::default()
        };
    }

    fn unignore(&mut self, id: &str, changes: &mut Changes) {
        let h = fnv1a64(id.as_bytes());
        if let Ok(at) = self.ignored.binary_search(&h) {
            self.ignored.remove(at);
            changes.ignored_changed = true;
        }
    }

    fn drop_records(&mut self, id: &str, changes: &mut Changes) {
        if self.events.remove(id).is_some() {
            changes.del(format!("e:{id}"));
        }
        if self.occurrences.remove(id).is_some() {
            changes.del(format!("o:{id}"));
        }
    }

    fn clear_problem(&mut self, id: &str, changes: &mut Changes) {
        if self.problems.remove(id).is_some() {
            changes.del(format!("p:{id}"));
        }
    }

    /// The event is gone (deleted, or out of the window).
    pub fn remove(&mut self, id: &str, changes: &mut Changes) {
        self.drop_records(id, changes);
        self.unignore(id, changes);
        self.clear_problem(id, changes);
    }

    /// The event concerns no pair: only its id is kept (to count it).
    pub fn ignore(&mut self, id: &str, changes: &mut Changes) {
        self.drop_records(id, changes);
        self.clear_problem(id, changes);
        let h = fnv1a64(id.as_bytes());
        if let Err(at) = self.ignored.binary_search(&h) {
            self.ignored.insert(at, h);
            changes.ignored_changed = true;
        }
    }

    pub fn put_event(&mut self, id: &str, rec: EventRec, changes: &mut Changes) {
        self.unignore(id, changes);
        self.clear_problem(id, changes);
        if self.occurrences.remove(id).is_some() {
            changes.del(format!("o:{id}"));
        }
        if self.events.get(id) != Some(&rec) {
            changes.put(format!("e:{id}"), encode(&rec));
            self.events.insert(id.to_string(), rec);
        }
    }

    pub fn put_occurrence(&mut self, id: &str, rec: OccRec, changes: &mut Changes) {
        self.unignore(id, changes);
        self.clear_problem(id, changes);
        if self.events.remove(id).is_some() {
            changes.del(format!("e:{id}"));
        }
        if self.occurrences.get(id) != Some(&rec) {
            changes.put(format!("o:{id}"), encode(&rec));
            self.occurrences.insert(id.to_string(), rec);
        }
    }

    pub fn put_master(&mut self, id: &str, rec: &MasterRec, changes: &mut Changes) {
        if self.masters.get(id) != Some(rec) {
            changes.put(format!("m:{id}"), encode(rec));
            self.masters.insert(id.to_string(), rec.clone());
        }
    }

    /// The item could not be read: what was known of it stays as it was, and it is reported
    /// until a later round reads it.
    pub fn problem(&mut self, id: &str, rec: ProblemRec, changes: &mut Changes) {
        if self.problems.get(id) != Some(&rec) {
            changes.put(format!("p:{id}"), encode(&rec));
            self.problems.insert(id.to_string(), rec);
        }
    }

    /// Drop masters no stored record refers to.
    pub fn prune_masters(&mut self, changes: &mut Changes) {
        let used: BTreeSet<&str> = self
            .occurrences
            .values()
            .map(|o| o.master.as_str())
            .chain(self.events.values().filter_map(|e| e.master.as_deref()))
            .collect();
        let unused: Vec<String> = self
            .masters
            .keys()
            .filter(|m| !used.contains(m.as_str()))
            .cloned()
            .collect();
        for m in unused {
            self.masters.remove(&m);
            changes.del(format!("m:{m}"));
        }
    }

    /// The commit of `changes` plus the new link.
    pub fn commit(&mut self, mailbox: &str, mut changes: Changes, link: LinkRec) -> MirrorCommit {
        if changes.ignored_changed || (changes.replace_all && !self.ignored.is_empty()) {
            if self.ignored.is_empty() {
                changes.del(IGNORED_KEY.into());
            } else {
                changes.put(IGNORED_KEY.into(), encode(&self.ignored));
            }
        }
        let state = vec![(link_key(mailbox), encode(&link))];
        self.link = Some(link);
        MirrorCommit {
            replace_all: changes.replace_all,
            upsert: changes.upsert.into_iter().collect(),
            remove: changes.remove.into_iter().collect(),
            state,
        }
    }
}

/// Which events concern the configured pairs: those whose people include both members of a pair
/// (a pair's 1:1, or its meeting with others), and for `discover` every two-person meeting.
/// All-day events never do. The same rule as `domain::detect::PairIndex::classify`, so nothing the
/// planner would count is left out.
#[derive(Debug, Clone, Default)]
pub struct Relevance {
    partners: HashMap<String, Vec<String>>,
    discover: bool,
    fingerprint: u64,
}

impl Relevance {
    pub fn new(pairs: &[Pair], discover: bool) -> Relevance {
        let mut partners: HashMap<String, Vec<String>> = HashMap::new();
        let mut keys: Vec<String> = Vec::new();
        for p in pairs {
            let (m, r) = (p.manager.to_lowercase(), p.report.to_lowercase());
            partners.entry(m.clone()).or_default().push(r.clone());
            partners.entry(r.clone()).or_default().push(m.clone());
            keys.push(format!("{m}~{r}"));
        }
        keys.sort();
        keys.push(format!("discover={discover}"));
        Relevance {
            partners,
            discover,
            fingerprint: fnv1a64(keys.join("\n").as_bytes()),
        }
    }

    /// Identifies the rule: a stored mailbox read under another one is read afresh.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    pub fn concerns(&self, people: &People, all_day: bool) -> bool {
        if all_day {
            return false;
        }
        let emails = people.emails();
        if self.discover && emails.len() == 2 {
            return true;
        }
        emails.iter().any(|e| {
            self.partners
                .get(*e)
                .is_some_and(|ps| ps.iter().any(|p| emails.binary_search(&p.as_str()).is_ok()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(e: &str) -> Person {
        Person {
            email: e.into(),
            resource: false,
            optional: false,
            response: 1,
        }
    }

    fn pair(m: &str, r: &str) -> Pair {
        Pair {
            id: Pair::make_id(m, r),
            manager: m.into(),
            report: r.into(),
            account: "m365".into(),
            cadence: crate::domain::Cadence::Weeks(1),
            duration: chrono::Duration::minutes(30),
            enforce: crate::domain::Enforce::Warn,
            cancellations: crate::domain::CancellationPolicy {
                max_consecutive: 2,
                max_in_window: 3,
                window: chrono::Duration::days(90),
            },
            timezone: chrono_tz::UTC,
            working_hours: Default::default(),
        }
    }

    #[test]
    fn relevance_needs_both_members_of_a_pair() {
        let r = Relevance::new(&[pair("a@x.test", "b@x.test")], false);
        let people = |org: &str, att: &[&str]| People {
            organizer: Some(org.into()),
            attendees: att.iter().map(|e| person(e)).collect(),
            own_response: None,
        };
        assert!(r.concerns(&people("a@x.test", &["b@x.test"]), false));
        assert!(r.concerns(&people("c@x.test", &["a@x.test", "b@x.test"]), false));
        assert!(
            !r.concerns(&people("a@x.test", &["b@x.test"]), true),
            "all-day"
        );
        assert!(!r.concerns(&people("a@x.test", &["c@x.test"]), false));
        let mut room = people("a@x.test", &["b@x.test"]);
        room.attendees
            .get_mut(0)
            .into_iter()
            .for_each(|a| a.resource = true);
        assert!(!r.concerns(&room, false), "a room is not a person");
        let d = Relevance::new(&[pair("a@x.test", "b@x.test")], true);
        assert!(d.concerns(&people("a@x.test", &["c@x.test"]), false));
        assert_ne!(r.fingerprint(), d.fingerprint());
    }

    #[test]
    fn changes_commit_only_what_changed_and_reload() {
        let st = AccountState::in_memory("m365");
        let mut s = MailboxState::default();
        let mut ch = Changes::default();
        s.reset(&mut ch);
        let occ = OccRec {
            master: "M".into(),
            start: 1,
            end: 2,
            version: "v".into(),
        };
        s.put_occurrence("M_1", occ.clone(), &mut ch);
        s.ignore("X", &mut ch);
        s.ignore("Y", &mut ch);
        let link = LinkRec {
            url: "https://g/delta?$deltatoken=1".into(),
            start: 0,
            end: 10,
            scope: 7,
        };
        let c = s.commit("a@x.test", ch, link.clone());
        assert!(c.replace_all);
        assert_eq!(c.upsert.len(), 2, "the occurrence and the ignored ids");
        assert!(st.commit("a@x.test", c).is_ok());
        let loaded = MailboxState::load(&st, "a@x.test").unwrap_or_default();
        assert_eq!(loaded, s);
        assert_eq!(loaded.count(), 3);
        // A second round that changes nothing writes only the link.
        let mut s2 = loaded;
        let mut ch = Changes::default();
        s2.put_occurrence("M_1", occ, &mut ch);
        s2.ignore("X", &mut ch);
        let c = s2.commit("a@x.test", ch, link);
        assert!(c.upsert.is_empty() && c.remove.is_empty() && !c.replace_all);
        assert_eq!(c.state.len(), 1);
        // Removing an ignored id rewrites the ignored list.
        let mut ch = Changes::default();
        s2.remove("Y", &mut ch);
        s2.remove("never-seen", &mut ch);
        let c = s2.commit(
            "a@x.test",
            ch,
            s.link.clone().unwrap_or_else(|| unreachable!()),
        );
        assert_eq!(c.upsert.len(), 1);
        assert_eq!(s2.count(), 2);
    }
}
