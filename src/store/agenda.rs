//! The collaborative agenda's records: agenda items written together with the pair's revision,
//! goals, shared and private meeting notes, web sessions and the web signing key.
//!
//! Invariants:
//! - Every change of a pair's shared agenda (items, goals, shared notes) is one sled transaction
//!   that also bumps the pair's revision counter, so a page that saw revision N has seen every
//!   change up to N. Private notes do not bump it: the other person's page must not even learn
//!   that something private was written.
//! - Read-modify-write goes through [`Store::change_agenda_item`] and its siblings: the caller's
//!   closure sees the current record inside the transaction and decides what to write, so an
//!   optimistic-concurrency check (version, three-way merge) and its write are atomic. The closure
//!   may run more than once (sled retries on conflict), so it must be pure.
//! - Private notes are keyed by pair, meeting and author, and are only ever returned for one
//!   author.
use super::records::{AgendaItemRec, GoalRec, PrivateNoteRec, SharedNotesRec, WebSession};
use super::{
    Result, Store, StoreError, T_GOALS, T_ITEMS, T_PRIVATE_NOTES, T_SESSIONS, T_SHARED_NOTES,
    decode, encode, encode_raw, get, key2, prefix1, random_hex, scan_pair, split_version,
    tx_result,
};
use crate::domain::agenda::AgendaItem;
use crate::domain::goals::Goal;
use crate::domain::notes::{PrivateNote, SharedNotes};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, Transactional, TransactionalTree,
};

/// What a read-modify-write closure decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Write<T> {
    /// Leave the record as it is.
    Keep,
    /// Store this record.
    Put(T),
    /// Remove the record (nothing happens when there is none).
    Delete,
}

const META_WEB_KEY: &[u8] = b"web_signing_key";

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

/// Add one to the pair's revision inside a transaction. A malformed counter restarts at 1 (it is
/// only a change signal).
fn bump(
    revs: &TransactionalTree,
    pair_id: &str,
) -> std::result::Result<(), ConflictableTransactionError<StoreError>> {
    let current = revs
        .get(pair_id.as_bytes())?
        .and_then(|raw| revision_of(&raw))
        .unwrap_or(0);
    revs.insert(
        pair_id.as_bytes(),
        encode_raw(&current.saturating_add(1).to_be_bytes()),
    )?;
    Ok(())
}

fn revision_of(raw: &[u8]) -> Option<u64> {
    let payload = split_version(super::T_REVISIONS, b"", raw).ok()?;
    let bytes: [u8; 8] = payload.as_ref().try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

impl Store {
    /// The pair's agenda revision: how many shared agenda changes it has seen (0 before any).
    pub fn agenda_revision(&self, pair_id: &str) -> Result<u64> {
        prefix1("pair id", pair_id)?;
        Ok(get(
            &self.inner.revisions,
            super::T_REVISIONS,
            pair_id.as_bytes(),
        )?
        .and_then(|raw| revision_of(&raw))
        .unwrap_or(0))
    }

    /// Read-modify-write one record of `tree` under `key` in one transaction with the pair's
    /// revision (bumped when something was written, unless `bump_revision` is false).
    fn change<Rec, T, R>(
        &self,
        tree: &sled::Tree,
        name: &'static str,
        key: &[u8],
        pair_id: &str,
        bump_revision: bool,
        f: impl Fn(Option<T>) -> (Write<T>, R),
    ) -> Result<R>
    where
        Rec: Serialize + DeserializeOwned,
        T: From<Rec>,
        for<'a> Rec: From<&'a T>,
    {
        let res: std::result::Result<R, TransactionError<StoreError>> =
            (tree, &self.inner.revisions).transaction(|(t, revs)| {
                let current = match t.get(key)? {
                    Some(raw) => Some(T::from(decode::<Rec>(name, key, &raw).map_err(abort)?)),
                    None => None,
                };
                let existed = current.is_some();
                let (write, out) = f(current);
                let changed = match write {
                    Write::Keep => false,
                    Write::Put(v) => {
                        t.insert(key, encode(&Rec::from(&v)).map_err(abort)?)?;
                        true
                    }
                    Write::Delete => {
                        t.remove(key)?;
                        existed
                    }
                };
                if changed && bump_revision {
                    bump(revs, pair_id)?;
                }
                Ok(out)
            });
        tx_result("update of the agenda", res)
    }

    /// Insert or replace agenda items of one pair (e.g. the new order of a section) and bump the
    /// pair's revision, in one transaction. Every item must belong to `pair_id`.
    pub fn put_agenda_items(&self, pair_id: &str, items: &[AgendaItem]) -> Result<()> {
        let mut puts = Vec::with_capacity(items.len());
        for item in items {
            super::same_pair(pair_id, &item.pair_id)?;
            let k = key2("pair id", pair_id, "item id", &item.id)?;
            puts.push((k, encode(&AgendaItemRec::from(item))?));
        }
        let res: std::result::Result<(), TransactionError<StoreError>> =
            (&self.inner.items, &self.inner.revisions).transaction(|(t, revs)| {
                for (k, v) in &puts {
                    t.insert(k.as_slice(), v.as_slice())?;
                }
                bump(revs, pair_id)?;
                Ok(())
            });
        tx_result("write of agenda items", res)
    }

    /// Give items of the pair new ranks (their order within a section), each keeping every other
    /// field as stored now and getting a new version, in one transaction with the revision.
    /// Items that no longer exist are skipped.
    pub fn set_item_ranks(
        &self,
        pair_id: &str,
        ranks: &[(String, i32)],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut keys = Vec::with_capacity(ranks.len());
        for (id, rank) in ranks {
            keys.push((key2("pair id", pair_id, "item id", id)?, *rank));
        }
        let res: std::result::Result<(), TransactionError<StoreError>> =
            (&self.inner.items, &self.inner.revisions).transaction(|(t, revs)| {
                for (k, rank) in &keys {
                    let Some(raw) = t.get(k.as_slice())? else {
                        continue;
                    };
                    let mut item =
                        AgendaItem::from(decode::<AgendaItemRec>(T_ITEMS, k, &raw).map_err(abort)?);
                    item.rank = *rank;
                    item.version = item.version.saturating_add(1);
                    item.updated_at = Some(now);
                    t.insert(
                        k.as_slice(),
                        encode(&AgendaItemRec::from(&item)).map_err(abort)?,
                    )?;
                }
                bump(revs, pair_id)?;
                Ok(())
            });
        tx_result("reordering of agenda items", res)
    }

    /// Read-modify-write the item `item_id` of the pair: `f` sees it (or `None`) and decides.
    pub fn change_agenda_item<R>(
        &self,
        pair_id: &str,
        item_id: &str,
        f: impl Fn(Option<AgendaItem>) -> (Write<AgendaItem>, R),
    ) -> Result<R> {
        let k = key2("pair id", pair_id, "item id", item_id)?;
        self.change::<AgendaItemRec, _, _>(&self.inner.items, T_ITEMS, &k, pair_id, true, f)
    }

    // ---- goals ------------------------------------------------------------------------------

    /// The pair's goals, oldest first.
    pub fn goals(&self, pair_id: &str) -> Result<Vec<Goal>> {
        let recs: Vec<GoalRec> = scan_pair(&self.inner.goals, T_GOALS, pair_id)?;
        let mut out: Vec<Goal> = recs.into_iter().map(Goal::from).collect();
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    /// Read-modify-write the goal `goal_id` of the pair.
    pub fn change_goal<R>(
        &self,
        pair_id: &str,
        goal_id: &str,
        f: impl Fn(Option<Goal>) -> (Write<Goal>, R),
    ) -> Result<R> {
        let k = key2("pair id", pair_id, "goal id", goal_id)?;
        self.change::<GoalRec, _, _>(&self.inner.goals, T_GOALS, &k, pair_id, true, f)
    }

    // ---- notes ------------------------------------------------------------------------------

    /// The shared notes of every meeting of the pair that has some.
    pub fn shared_notes(&self, pair_id: &str) -> Result<Vec<SharedNotes>> {
        let recs: Vec<SharedNotesRec> =
            scan_pair(&self.inner.shared_notes, T_SHARED_NOTES, pair_id)?;
        Ok(recs.into_iter().map(SharedNotes::from).collect())
    }

    /// Read-modify-write the shared notes of one meeting of the pair.
    pub fn change_shared_notes<R>(
        &self,
        pair_id: &str,
        meeting: &str,
        f: impl Fn(Option<SharedNotes>) -> (Write<SharedNotes>, R),
    ) -> Result<R> {
        let k = key2("pair id", pair_id, "meeting key", meeting)?;
        self.change::<SharedNotesRec, _, _>(
            &self.inner.shared_notes,
            T_SHARED_NOTES,
            &k,
            pair_id,
            true,
            f,
        )
    }

    /// The private notes `author` wrote about the pair's meetings (nobody else's).
    pub fn private_notes(&self, pair_id: &str, author: &str) -> Result<Vec<PrivateNote>> {
        let recs: Vec<PrivateNoteRec> =
            scan_pair(&self.inner.private_notes, T_PRIVATE_NOTES, pair_id)?;
        Ok(recs
            .into_iter()
            .map(PrivateNote::from)
            .filter(|n| n.author == author)
            .collect())
    }

    /// Read-modify-write `author`'s private note on one meeting. Does not bump the pair's
    /// revision.
    pub fn change_private_note<R>(
        &self,
        pair_id: &str,
        meeting: &str,
        author: &str,
        f: impl Fn(Option<PrivateNote>) -> (Write<PrivateNote>, R),
    ) -> Result<R> {
        let mut k = key2("pair id", pair_id, "meeting key", meeting)?;
        super::check_part("author", author)?;
        k.push(0);
        k.extend_from_slice(author.as_bytes());
        self.change::<PrivateNoteRec, _, _>(
            &self.inner.private_notes,
            T_PRIVATE_NOTES,
            &k,
            pair_id,
            false,
            f,
        )
    }

    // ---- web sessions -----------------------------------------------------------------------

    /// Store a sign-in session under its id.
    pub fn put_session(&self, id: &str, session: &WebSession) -> Result<()> {
        super::check_part("session id", id)?;
        self.inner
            .sessions
            .insert(id.as_bytes(), encode(session)?)
            .map(|_| ())
            .map_err(|e| StoreError::io("write of a web session", e))
    }

    /// The session with this id, if there is one (expired ones included: the caller checks).
    pub fn session(&self, id: &str) -> Result<Option<WebSession>> {
        if id.is_empty() || id.contains('\0') {
            return Ok(None);
        }
        match get(&self.inner.sessions, T_SESSIONS, id.as_bytes())? {
            None => Ok(None),
            Some(raw) => decode(T_SESSIONS, id.as_bytes(), &raw).map(Some),
        }
    }

    /// Forget a session (sign-out).
    pub fn delete_session(&self, id: &str) -> Result<()> {
        if id.is_empty() || id.contains('\0') {
            return Ok(());
        }
        self.inner
            .sessions
            .remove(id.as_bytes())
            .map(|_| ())
            .map_err(|e| StoreError::io("removal of a web session", e))
    }

    /// Remove every session that expired before `now`; how many were removed. Undecodable ones
    /// are removed too (a session is cheap to make again).
    pub fn prune_sessions(&self, now: DateTime<Utc>) -> Result<usize> {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for entry in self.inner.sessions.iter() {
            let (k, v) = entry.map_err(|e| StoreError::io("scan of web sessions", e))?;
            let expired =
                decode::<WebSession>(T_SESSIONS, &k, &v).map_or(true, |s| s.expires_at < now);
            if expired {
                batch.remove(k);
                n += 1;
            }
        }
        self.inner
            .sessions
            .apply_batch(batch)
            .map_err(|e| StoreError::io("pruning of web sessions", e))?;
        Ok(n)
    }

    /// The key that signs session cookies and CSRF tokens: 32 random bytes, made once and kept
    /// (so sessions survive a restart).
    pub fn web_key(&self) -> Result<Vec<u8>> {
        let read = |raw: &[u8]| -> Result<Vec<u8>> {
            let payload = split_version("meta", META_WEB_KEY, raw)?;
            Ok(payload.into_owned())
        };
        if let Some(raw) = get(&self.inner.meta, "meta", META_WEB_KEY)? {
            return read(&raw);
        }
        let mut key = vec![0u8; 32];
        getrandom::fill(&mut key).map_err(|e| StoreError::Random(e.to_string()))?;
        let swapped = self
            .inner
            .meta
            .compare_and_swap(META_WEB_KEY, None as Option<&[u8]>, Some(encode_raw(&key)))
            .map_err(|e| StoreError::io("creation of the web key", e))?;
        match swapped {
            Ok(()) => {
                self.flush()?;
                Ok(key)
            }
            // Someone else made it first: use theirs.
            Err(cas) => match cas.current {
                Some(raw) => read(&raw),
                None => Err(StoreError::Random("the web key vanished while made".into())),
            },
        }
    }

    /// A fresh random id (hex) for an item, goal or progress note.
    pub fn new_id(&self) -> Result<String> {
        random_hex(8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, h, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let s = Store::open(&dir.path().join("db")).unwrap_or_else(|e| panic!("{e}"));
        (dir, s)
    }

    fn item(id: &str) -> AgendaItem {
        AgendaItem {
            id: id.into(),
            pair_id: "a~b".into(),
            text: format!("item {id}"),
            origin_meeting: "m1".into(),
            origin_start: t(10),
            created_at: t(9),
            ..AgendaItem::default()
        }
    }

    #[test]
    fn item_changes_bump_the_revision_atomically_and_keep_is_free() {
        let (_d, s) = store();
        assert_eq!(s.agenda_revision("a~b").ok(), Some(0));
        s.put_agenda_item(&item("x"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.agenda_revision("a~b").ok(), Some(1));
        let seen = s
            .change_agenda_item("a~b", "x", |cur| {
                let v = cur.as_ref().map(|c| c.version);
                (Write::Keep, v)
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(seen, Some(0));
        assert_eq!(s.agenda_revision("a~b").ok(), Some(1), "nothing written");
        s.change_agenda_item("a~b", "x", |cur| match cur {
            Some(mut c) => {
                c.version += 1;
                c.text = "edited".into();
                (Write::Put(c), ())
            }
            None => (Write::Keep, ()),
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let got = s.agenda_item("a~b", "x").ok().flatten();
        assert_eq!(got.map(|i| (i.text, i.version)), Some(("edited".into(), 1)));
        assert_eq!(s.agenda_revision("a~b").ok(), Some(2));
        s.change_agenda_item("a~b", "x", |_| (Write::Delete, ()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.agenda_item("a~b", "x").ok().flatten(), None);
        assert_eq!(s.agenda_revision("a~b").ok(), Some(3));
        s.change_agenda_item("a~b", "x", |_| (Write::Delete, ()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.agenda_revision("a~b").ok(), Some(3), "deleting nothing");
        assert_eq!(s.agenda_revision("other~pair").ok(), Some(0));
    }

    #[test]
    fn private_notes_are_per_author_and_do_not_bump_the_revision() {
        let (_d, s) = store();
        for (author, text) in [("a", "mine"), ("b", "theirs")] {
            s.change_private_note("a~b", "m1", author, |_| {
                (
                    Write::Put(PrivateNote {
                        pair_id: "a~b".into(),
                        meeting: "m1".into(),
                        author: author.into(),
                        text: text.into(),
                        ..PrivateNote::default()
                    }),
                    (),
                )
            })
            .unwrap_or_else(|e| panic!("{e}"));
        }
        let mine = s.private_notes("a~b", "a").unwrap_or_default();
        assert_eq!(
            mine.iter().map(|n| n.text.as_str()).collect::<Vec<_>>(),
            ["mine"]
        );
        assert_eq!(s.agenda_revision("a~b").ok(), Some(0));
    }

    #[test]
    fn sessions_expire_and_the_web_key_is_stable() {
        let (dir, s) = store();
        let sess = WebSession {
            email: "a@x".into(),
            created_at: t(1),
            expires_at: t(5),
        };
        s.put_session("s1", &sess).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.session("s1").ok().flatten(), Some(sess));
        assert_eq!(s.prune_sessions(t(4)).ok(), Some(0));
        assert_eq!(s.prune_sessions(t(6)).ok(), Some(1));
        assert_eq!(s.session("s1").ok().flatten(), None);
        let k1 = s.web_key().unwrap_or_default();
        assert_eq!(k1.len(), 32);
        assert_eq!(s.web_key().ok(), Some(k1.clone()));
        drop(s);
        let again = Store::open(&dir.path().join("db")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.web_key().ok(), Some(k1), "survives a restart");
    }
}
