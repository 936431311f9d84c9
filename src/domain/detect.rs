//! 1:1 detection: which configured pair (if any) an instance belongs to, judged only by its people.
//! People are the organizer plus the attendees that are not rooms or resources; a group address or
//! a third person means it is not a 1:1. Either member may organise. Pure and order-independent.
use super::model::{Instance, Pair, ParticipantKind, Response};
use std::collections::{BTreeSet, HashMap};

/// The people of an instance, lower-case and de-duplicated, plus whether a group address is invited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct People {
    pub emails: BTreeSet<String>,
    pub has_group: bool,
}

/// Collect the people of an instance (organizer + non-resource attendees).
pub fn people(instance: &Instance) -> People {
    let mut emails = BTreeSet::new();
    let mut has_group = false;
    if let Some(org) = &instance.organizer {
        // An organizer that is also listed as a resource (room mailbox organising) is not a person.
        let is_resource = instance
            .attendees
            .iter()
            .any(|a| *a.email == **org && a.kind == ParticipantKind::Resource);
        if !is_resource && !org.is_empty() {
            emails.insert(org.to_lowercase());
        }
    }
    for a in instance.attendees.iter() {
        match a.kind {
            ParticipantKind::Resource => {}
            ParticipantKind::Group => {
                has_group = true;
                emails.insert(a.email.to_lowercase());
            }
            ParticipantKind::Person => {
                if !a.email.is_empty() {
                    emails.insert(a.email.to_lowercase());
                }
            }
        }
    }
    People { emails, has_group }
}

/// How an instance relates to the configured pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classification {
    /// Its people are exactly this pair (index into the pair list).
    OneOnOne(usize),
    /// Both members of this pair are on it, with these other people too.
    WithOthers {
        pair: usize,
        others: Vec<String>,
    },
    /// Exactly two people, not a configured pair (a `discover` candidate).
    UnconfiguredTwo(String, String),
    Unrelated,
}

/// Lookup from a pair's two emails (in either order) to its index in the configured list.
#[derive(Debug, Clone, Default)]
pub struct PairIndex {
    by_people: HashMap<(String, String), usize>,
    /// pair indices by member email, for `WithOthers` checks.
    by_member: HashMap<String, Vec<usize>>,
    members: Vec<(String, String)>,
}

fn ordered(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

impl PairIndex {
    pub fn new(pairs: &[Pair]) -> Self {
        let mut idx = PairIndex::default();
        for (i, p) in pairs.iter().enumerate() {
            idx.by_people
                .entry(ordered(&p.manager, &p.report))
                .or_insert(i);
            idx.by_member.entry(p.manager.clone()).or_default().push(i);
            idx.by_member.entry(p.report.clone()).or_default().push(i);
            idx.members.push((p.manager.clone(), p.report.clone()));
        }
        idx
    }

    /// Classify one instance. All-day events are never meetings. Emails are lower-case already
    /// (providers normalise them), so this allocates only for the rare multi-person match.
    pub fn classify(&self, instance: &Instance) -> Classification {
        if instance.all_day {
            return Classification::Unrelated;
        }
        let mut emails: Vec<&str> = Vec::with_capacity(instance.attendees.len() + 1);
        let mut has_group = false;
        if let Some(org) = instance.organizer.as_deref().filter(|o| !o.is_empty()) {
            let is_resource = instance
                .attendees
                .iter()
                .any(|a| a.email == org && a.kind == ParticipantKind::Resource);
            if !is_resource {
                emails.push(org);
            }
        }
        for a in instance.attendees.iter() {
            match a.kind {
                ParticipantKind::Resource => {}
                ParticipantKind::Group => {
                    has_group = true;
                    emails.push(&a.email);
                }
                ParticipantKind::Person if !a.email.is_empty() => emails.push(&a.email),
                ParticipantKind::Person => {}
            }
        }
        emails.sort_unstable();
        emails.dedup();
        match emails.as_slice() {
            [a, b] if !has_group => {
                let key = ((*a).to_string(), (*b).to_string());
                match self.by_people.get(&key) {
                    Some(&i) => Classification::OneOnOne(i),
                    None => Classification::UnconfiguredTwo(key.0, key.1),
                }
            }
            many if many.len() > 2 => {
                for email in many {
                    for &i in self.by_member.get(*email).into_iter().flatten() {
                        let (m, r) = &self.members[i];
                        if many.binary_search(&m.as_str()).is_ok()
                            && many.binary_search(&r.as_str()).is_ok()
                        {
                            let others = many
                                .iter()
                                .filter(|e| **e != m && **e != r)
                                .map(|e| (*e).to_string())
                                .collect();
                            return Classification::WithOthers { pair: i, others };
                        }
                    }
                }
                Classification::Unrelated
            }
            _ => Classification::Unrelated,
        }
    }
}

/// Which member of the pair declined this instance, if any.
pub fn declined_by<'a>(instance: &'a Instance, pair: &Pair) -> Option<&'a str> {
    instance
        .attendees
        .iter()
        .find(|a| {
            a.response == Response::Declined && (a.email == pair.manager || a.email == pair.report)
        })
        .map(|a| a.email.as_str())
}
