//! [`AccountState`]: the handle a provider gets on its own persistent state for one account. The
//! provider owns the format of everything behind it; the store only keeps bytes:
//! - sync state: small opaque values by key (sync tokens, delta links, the last window);
//! - a mirror of the account's events, keyed by calendar and event id, changed together with the
//!   sync state that covers the change in one atomic [`AccountState::commit`];
//! - blobs: large caches that can be rebuilt (the local provider's parse cache), kept as owner-only
//!   files beside the database and replaced atomically.
//!
//! An in-memory handle (`AccountState::in_memory`) serves one-off reads that must not touch the
//! store (`discover`) and tests.
use super::{Result, Store, StoreError, T_MIRROR, check_part, encode_raw, key2, split_version};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// One atomic change of a calendar's mirror and the account's sync state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MirrorCommit {
    /// Drop every mirrored event of the calendar first (the result of a full resync).
    pub replace_all: bool,
    /// Events to insert or replace: (event id, bytes).
    pub upsert: Vec<(String, Vec<u8>)>,
    /// Event ids to delete.
    pub remove: Vec<String>,
    /// Sync state to set in the same commit: (key, value).
    pub state: Vec<(String, Vec<u8>)>,
}

/// A provider's handle on its account's persistent state. Cheap to clone.
#[derive(Clone)]
pub struct AccountState {
    account: Arc<str>,
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Store(Store),
    Memory(Arc<Mutex<Memory>>),
}

#[derive(Default)]
struct Memory {
    state: HashMap<String, Vec<u8>>,
    mirror: BTreeMap<(String, String), Vec<u8>>,
    blobs: HashMap<String, Vec<u8>>,
}

impl std::fmt::Debug for AccountState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountState")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl AccountState {
    /// The state of `account` in `store`.
    pub fn for_account(store: &Store, account: &str) -> AccountState {
        AccountState {
            account: account.into(),
            backend: Backend::Store(store.clone()),
        }
    }

    /// A state that lives only as long as the handle (for one-off reads and tests).
    pub fn in_memory(account: &str) -> AccountState {
        AccountState {
            account: account.into(),
            backend: Backend::Memory(Arc::new(Mutex::new(Memory::default()))),
        }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    fn memory(m: &Mutex<Memory>) -> std::sync::MutexGuard<'_, Memory> {
        m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The sync state stored under `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match &self.backend {
            Backend::Store(s) => s.sync_state(&self.account, key),
            Backend::Memory(m) => Ok(Self::memory(m).state.get(key).cloned()),
        }
    }

    /// Set the sync state under `key`.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        match &self.backend {
            Backend::Store(s) => s.set_sync_state(&self.account, key, value),
            Backend::Memory(m) => {
                check_part("sync state key", key)?;
                Self::memory(m).state.insert(key.into(), value.to_vec());
                Ok(())
            }
        }
    }

    /// Every mirrored event of `calendar`: (event id, bytes), ordered by event id.
    pub fn mirror(&self, calendar: &str) -> Result<Vec<(String, Vec<u8>)>> {
        match &self.backend {
            Backend::Store(s) => {
                let prefix = mirror_prefix(&self.account, calendar)?;
                let mut out = Vec::new();
                for entry in s.inner.sync.scan_prefix(&prefix) {
                    let (k, v) = entry.map_err(|e| StoreError::io("scan of the mirror", e))?;
                    let id = String::from_utf8_lossy(k.get(prefix.len()..).unwrap_or_default());
                    let payload = split_version(T_MIRROR, &k, &v)?;
                    out.push((id.into_owned(), payload.into_owned()));
                }
                Ok(out)
            }
            Backend::Memory(m) => Ok(Self::memory(m)
                .mirror
                .iter()
                .filter(|((c, _), _)| c == calendar)
                .map(|((_, id), v)| (id.clone(), v.clone()))
                .collect()),
        }
    }

    /// Apply one change of `calendar`'s mirror together with the sync state that covers it, all or
    /// nothing. Durable once the store is flushed.
    pub fn commit(&self, calendar: &str, c: MirrorCommit) -> Result<()> {
        match &self.backend {
            Backend::Store(s) => commit_to_store(s, &self.account, calendar, c),
            Backend::Memory(m) => {
                for id in c.upsert.iter().map(|(id, _)| id).chain(&c.remove) {
                    check_part("event id", id)?;
                }
                let mut mem = Self::memory(m);
                if c.replace_all {
                    mem.mirror.retain(|(cal, _), _| cal != calendar);
                }
                for id in c.remove {
                    mem.mirror.remove(&(calendar.to_string(), id));
                }
                for (id, v) in c.upsert {
                    mem.mirror.insert((calendar.to_string(), id), v);
                }
                mem.state.extend(c.state);
                Ok(())
            }
        }
    }

    /// A blob written by `write_blob`, if any. `key` is ASCII letters, digits and `-`.
    pub fn read_blob(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match &self.backend {
            Backend::Store(s) => s.read_cache(&self.account, key),
            Backend::Memory(m) => Ok(Self::memory(m).blobs.get(key).cloned()),
        }
    }

    /// Replace a blob atomically (an owner-only file beside the database).
    pub fn write_blob(&self, key: &str, bytes: &[u8]) -> Result<()> {
        match &self.backend {
            Backend::Store(s) => s.write_cache(&self.account, key, bytes),
            Backend::Memory(m) => {
                Self::memory(m).blobs.insert(key.into(), bytes.to_vec());
                Ok(())
            }
        }
    }

    /// Make everything committed so far durable.
    pub fn flush(&self) -> Result<()> {
        match &self.backend {
            Backend::Store(s) => s.flush(),
            Backend::Memory(_) => Ok(()),
        }
    }
}

fn mirror_prefix(account: &str, calendar: &str) -> Result<Vec<u8>> {
    let mut k = key2("account", account, "calendar", calendar)?;
    k.push(0);
    Ok(k)
}

fn commit_to_store(store: &Store, account: &str, calendar: &str, c: MirrorCommit) -> Result<()> {
    let prefix = mirror_prefix(account, calendar)?;
    let mut dels: Vec<Vec<u8>> = Vec::new();
    if c.replace_all {
        for entry in store.inner.sync.scan_prefix(&prefix) {
            let (k, _) = entry.map_err(|e| StoreError::io("scan of the mirror", e))?;
            dels.push(k.to_vec());
        }
    }
    for id in &c.remove {
        check_part("event id", id)?;
        let mut k = prefix.clone();
        k.extend_from_slice(id.as_bytes());
        dels.push(k);
    }
    let mut puts = Vec::with_capacity(c.upsert.len());
    for (id, v) in &c.upsert {
        check_part("event id", id)?;
        let mut k = prefix.clone();
        k.extend_from_slice(id.as_bytes());
        puts.push((k, encode_raw(v)));
    }
    let mut states = Vec::with_capacity(c.state.len());
    for (key, v) in &c.state {
        states.push((
            key2("account", account, "sync state key", key)?,
            encode_raw(v),
        ));
    }
    // The mirror and the sync state share one tree, so the whole change is one atomic batch.
    let mut batch = sled::Batch::default();
    for k in dels {
        batch.remove(k);
    }
    for (k, v) in puts {
        batch.insert(k, v);
    }
    for (k, v) in states {
        batch.insert(k, v);
    }
    store
        .inner
        .sync
        .apply_batch(batch)
        .map_err(|e| StoreError::io("commit of the provider mirror", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both() -> (tempfile::TempDir, Vec<AccountState>) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = Store::open(&dir.path().join("db")).unwrap_or_else(|e| panic!("{e}"));
        (
            dir,
            vec![
                AccountState::for_account(&store, "acct"),
                AccountState::in_memory("acct"),
            ],
        )
    }

    #[test]
    fn commit_replaces_the_mirror_and_the_token_together() -> Result<()> {
        let (_dir, states) = both();
        for st in states {
            st.commit(
                "cal-a",
                MirrorCommit {
                    upsert: vec![
                        ("e1".into(), b"one".to_vec()),
                        ("e2".into(), b"two".to_vec()),
                    ],
                    state: vec![("token:cal-a".into(), b"t1".to_vec())],
                    ..MirrorCommit::default()
                },
            )?;
            st.commit(
                "cal-b",
                MirrorCommit {
                    upsert: vec![("e9".into(), b"nine".to_vec())],
                    ..MirrorCommit::default()
                },
            )?;
            st.commit(
                "cal-a",
                MirrorCommit {
                    remove: vec!["e1".into()],
                    upsert: vec![("e3".into(), b"three".to_vec())],
                    state: vec![("token:cal-a".into(), b"t2".to_vec())],
                    ..MirrorCommit::default()
                },
            )?;
            assert_eq!(
                st.mirror("cal-a")?,
                vec![
                    ("e2".into(), b"two".to_vec()),
                    ("e3".into(), b"three".to_vec())
                ]
            );
            assert_eq!(st.get("token:cal-a")?, Some(b"t2".to_vec()));
            st.commit(
                "cal-a",
                MirrorCommit {
                    replace_all: true,
                    upsert: vec![("e4".into(), b"four".to_vec())],
                    ..MirrorCommit::default()
                },
            )?;
            assert_eq!(st.mirror("cal-a")?, vec![("e4".into(), b"four".to_vec())]);
            assert_eq!(st.mirror("cal-b")?.len(), 1, "other calendars untouched");
        }
        Ok(())
    }

    #[test]
    fn ids_with_nul_are_refused_and_nothing_is_applied() -> Result<()> {
        let (_dir, states) = both();
        for st in states {
            let bad = st.commit(
                "cal",
                MirrorCommit {
                    upsert: vec![("ok".into(), b"1".to_vec()), ("b\0d".into(), b"2".to_vec())],
                    ..MirrorCommit::default()
                },
            );
            assert!(bad.is_err());
            assert!(st.mirror("cal")?.is_empty());
        }
        Ok(())
    }

    #[test]
    fn blobs_roundtrip() -> Result<()> {
        let (_dir, states) = both();
        for st in states {
            assert_eq!(st.read_blob("local-cache")?, None);
            st.write_blob("local-cache", b"abc")?;
            assert_eq!(st.read_blob("local-cache")?, Some(b"abc".to_vec()));
        }
        Ok(())
    }
}
