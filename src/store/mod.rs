//! The daemon's memory: sled 0.34 behind a narrow, typed, versioned API.
//!
//! What it keeps: per-account provider state behind [`AccountState`] (opaque sync state such as
//! tokens and delta links, a mirror of the account's events, large rebuildable caches as files),
//! the occurrence history of every pair, the active findings, the agenda documents, the per-pair
//! stable links and agenda-item ledgers, the pairs' goals, shared and private meeting notes, a
//! revision counter per pair's agenda (bumped with every shared change, for live pages), the web
//! sessions and the web signing key, the per-pair write-once marks, how many events each calendar
//! held when last read, the journal of external writes, and the outbox of messages to deliver.
//!
//! Invariants:
//! - No sled type crosses this module's boundary; callers see [`Store`], [`AccountState`], domain
//!   types (which the private records of [`records`] serialise) and [`StoreError`]. Changing the
//!   engine touches this module only.
//! - Every value is stored as one schema-version byte followed by its payload (JSON for records,
//!   the raw bytes for sync state). Decoding checks the version; older versions go through
//!   `migrate`, newer ones are refused with an error naming the tree and key.
//! - Keys are `part\0part`: ids may not contain `\0` (checked, never silently mangled), so a prefix
//!   scan over `pair\0` sees exactly one pair's records.
//! - Multi-key updates (`update_occurrences`, `set_findings`, `ensure_agenda_doc`, a provider's
//!   `AccountState::commit` of its sync token with the mirror changes it covers — one batch on the
//!   one tree that holds both, far cheaper than a transaction for hundreds of events — every agenda
//!   change together with its pair's revision) are single sled transactions or batches, so a crash
//!   leaves either the old or the new state.
//! - Nothing is durable until [`Store::flush`] returns; callers flush at the end of every sync round
//!   and before and after every external write.
//! - Agenda tokens are capabilities: they never appear in an error message (they are shortened).
//! - The directory is created `0700` and the database files are made owner-only.
mod account;
mod agenda;
mod outbox;
mod records;
pub use account::{AccountState, MirrorCommit};
pub use agenda::Write;
pub use outbox::{OutboxItem, OutboxState, OutboxStats};
pub use records::{WebSession, WriteRecord, WriteState};

use crate::domain::agenda::{AgendaDoc, AgendaItem};
use crate::domain::history::{Occurrence, WriteMark};
use crate::domain::rules::ActiveFinding;
use records::{AgendaDocRec, AgendaItemRec, CalendarRec, FindingRec, OccurrenceRec, WriteMarkRec};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The schema version written in front of every value by this build.
/// Version 2 added the per-occurrence agenda token, the pair links, the write-once marks, the
/// calendar counts and the provider mirror; version-1 values read unchanged (new fields default).
pub const SCHEMA_VERSION: u8 = 2;

const T_META: &str = "meta";
const T_SYNC: &str = "sync_state";
const T_OCC: &str = "occurrences";
const T_FINDINGS: &str = "findings";
const T_DOCS: &str = "agenda_docs";
const T_DOC_INDEX: &str = "agenda_doc_index";
const T_ITEMS: &str = "agenda_items";
const T_WRITES: &str = "writes";
/// The label of mirror values (they live in the sync-state tree, so that a calendar's mirror
/// changes and the token that covers them are one atomic batch).
const T_MIRROR: &str = "provider_mirror";
const T_LINKS: &str = "pair_links";
const T_LINK_INDEX: &str = "pair_link_index";
const T_MARKS: &str = "write_marks";
const T_CALENDARS: &str = "calendars";
const T_OUTBOX: &str = "outbox";
const T_GOALS: &str = "goals";
const T_SHARED_NOTES: &str = "shared_notes";
const T_PRIVATE_NOTES: &str = "private_notes";
const T_REVISIONS: &str = "agenda_revisions";
const T_SESSIONS: &str = "web_sessions";

const META_SCHEMA_KEY: &[u8] = b"schema_version";

/// What went wrong in the store, named for what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened (missing permissions, locked by another process, corrupt).
    #[error("cannot open the store at {}: {reason}", path.display())]
    Open { path: PathBuf, reason: String },
    /// The database was written by a newer build with a schema this one does not know.
    #[error(
        "the store at {} has schema version {found}, this build reads up to {SCHEMA_VERSION}; upgrade oneonone",
        path.display()
    )]
    NewerSchema { path: PathBuf, found: u8 },
    /// Reading or writing failed underneath (disk full, I/O error).
    #[error("store {operation} failed: {source}")]
    Io {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored value could not be decoded.
    #[error("cannot decode {tree} record {key}: {reason}")]
    Decode {
        tree: &'static str,
        key: String,
        reason: String,
    },
    /// An id or record given by the caller cannot be stored (empty, contains `\0`, wrong pair).
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidInput {
        what: &'static str,
        value: String,
        reason: String,
    },
    /// The operating system gave no random bytes for a new token.
    #[error("no random bytes for a new agenda token: {0}")]
    Random(String),
}

impl StoreError {
    fn io(operation: &'static str, e: sled::Error) -> StoreError {
        StoreError::Io {
            operation,
            source: Box::new(e),
        }
    }
}

type Result<T> = std::result::Result<T, StoreError>;

/// A handle on the open database. Cheap to clone (an `Arc` inside); `Send + Sync`.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    path: PathBuf,
    sync: sled::Tree,
    occ: sled::Tree,
    findings: sled::Tree,
    docs: sled::Tree,
    doc_index: sled::Tree,
    items: sled::Tree,
    writes: sled::Tree,
    links: sled::Tree,
    link_index: sled::Tree,
    marks: sled::Tree,
    calendars: sled::Tree,
    outbox: sled::Tree,
    goals: sled::Tree,
    shared_notes: sled::Tree,
    private_notes: sled::Tree,
    revisions: sled::Tree,
    sessions: sled::Tree,
    meta: sled::Tree,
    /// Serialises `set_findings`, which scans the pair's keys before its transaction.
    findings_lock: Mutex<()>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Open (or create) the database in `dir`. The directory is created with mode 0700 (an existing
    /// one loses its group/other permissions) and the database files are made owner-only.
    ///
    /// Another process (or a just-dropped handle whose background work has not finished) may hold
    /// the store's lock; `open` waits up to a second for it, `try_open` not at all.
    pub fn open(dir: &Path) -> Result<Store> {
        Self::open_waiting(dir, std::time::Duration::from_secs(1))
    }

    /// Like `open`, but fail at once when the store is locked (e.g. by the running daemon).
    pub fn try_open(dir: &Path) -> Result<Store> {
        Self::open_waiting(dir, std::time::Duration::ZERO)
    }

    fn open_waiting(dir: &Path, wait: std::time::Duration) -> Result<Store> {
        let open_err = |reason: String| StoreError::Open {
            path: dir.to_path_buf(),
            reason,
        };
        create_private_dir(dir).map_err(|e| open_err(e.to_string()))?;
        let config = sled::Config::new()
            .path(dir)
            // sled's default page cache is 1 GB. The daemon keeps what it reads every cycle decoded in
            // memory, and the kernel caches the file, so a small cache costs no measurable time
            // (local, Google and Microsoft benchmarks at 8 and 32 MB) and saves ~25 MB at the peak.
            .cache_capacity(8 * 1024 * 1024)
            // No background flusher: every caller flushes explicitly where durability matters (end of
            // a cycle, around external writes, before a web form's redirect), and one thread fewer
            // holding the database means a dropped store releases its lock sooner.
            .flush_every_ms(None);
        let deadline = std::time::Instant::now() + wait;
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                // sled reports a held lock as ErrorKind::Other with this message.
                Err(sled::Error::Io(e))
                    if e.to_string().starts_with("could not acquire lock")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => return Err(open_err(e.to_string())),
            }
        };
        restrict_files(dir).map_err(|e| open_err(format!("cannot restrict permissions: {e}")))?;
        let tree = |name: &str| {
            db.open_tree(name)
                .map_err(|e| open_err(format!("cannot open tree {name}: {e}")))
        };
        let meta = tree(T_META)?;
        let found = meta
            .get(META_SCHEMA_KEY)
            .map_err(|e| open_err(e.to_string()))?
            .map(|v| v.first().copied().unwrap_or(0));
        if let Some(found) = found
            && found > SCHEMA_VERSION
        {
            return Err(StoreError::NewerSchema {
                path: dir.to_path_buf(),
                found,
            });
        }
        let inner = Inner {
            sync: tree(T_SYNC)?,
            occ: tree(T_OCC)?,
            findings: tree(T_FINDINGS)?,
            docs: tree(T_DOCS)?,
            doc_index: tree(T_DOC_INDEX)?,
            items: tree(T_ITEMS)?,
            writes: tree(T_WRITES)?,
            links: tree(T_LINKS)?,
            link_index: tree(T_LINK_INDEX)?,
            marks: tree(T_MARKS)?,
            calendars: tree(T_CALENDARS)?,
            outbox: tree(T_OUTBOX)?,
            goals: tree(T_GOALS)?,
            shared_notes: tree(T_SHARED_NOTES)?,
            private_notes: tree(T_PRIVATE_NOTES)?,
            revisions: tree(T_REVISIONS)?,
            sessions: tree(T_SESSIONS)?,
            meta: meta.clone(),
            db,
            path: dir.to_path_buf(),
            findings_lock: Mutex::new(()),
        };
        let store = Store {
            inner: Arc::new(inner),
        };
        if found.is_some_and(|v| v < 2) {
            store
                .migrate_to_2()
                .map_err(|e| open_err(format!("migrating to schema 2: {e}")))?;
        }
        if found != Some(SCHEMA_VERSION) {
            meta.insert(META_SCHEMA_KEY, &[SCHEMA_VERSION])
                .map_err(|e| open_err(e.to_string()))?;
            store.flush().map_err(|e| open_err(e.to_string()))?;
        }
        Ok(store)
    }

    /// Schema 1 → 2: the agenda token of each occurrence moves into its history record (the
    /// `agenda_doc_index` tree is kept, unused, so a downgrade still finds it), and a series that
    /// fix mode created (journal `create:PAIR`, done) becomes the pair's write mark, so it is never
    /// created again.
    fn migrate_to_2(&self) -> Result<()> {
        for entry in self.inner.writes.iter() {
            let (k, v) = entry.map_err(|e| StoreError::io("scan of the write journal", e))?;
            let rec: WriteRecord = decode(T_WRITES, &k, &v)?;
            if let Some(pair) = rec.instance_id.strip_prefix("create:")
                && rec.state == WriteState::Done
            {
                let mark = WriteMark {
                    key: rec.instance_id.clone(),
                    state: crate::domain::MarkState::Done,
                    at: rec.at,
                };
                self.put_write_marks(pair, &[mark])?;
            }
        }
        let mut batch = sled::Batch::default();
        for entry in self.inner.doc_index.iter() {
            let (k, token) = entry.map_err(|e| StoreError::io("scan of agenda docs", e))?;
            let Some(raw) = get(&self.inner.occ, T_OCC, &k)? else {
                continue;
            };
            let mut rec: OccurrenceRec = decode(T_OCC, &k, &raw)?;
            rec.set_agenda(String::from_utf8_lossy(&token).into_owned());
            batch.insert(k.to_vec(), encode(&rec)?);
        }
        self.inner
            .occ
            .apply_batch(batch)
            .map_err(|e| StoreError::io("migration of agenda tokens", e))
    }

    /// The directory the database lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Make everything written so far durable. Blocks on disk I/O.
    pub fn flush(&self) -> Result<()> {
        self.inner
            .db
            .flush()
            .map(|_| ())
            .map_err(|e| StoreError::io("flush", e))
    }

    /// The database's size on disk, in bytes.
    pub fn size_on_disk(&self) -> Result<u64> {
        self.inner
            .db
            .size_on_disk()
            .map_err(|e| StoreError::io("size check", e))
    }

    // ---- sync state -------------------------------------------------------------------------

    /// The opaque sync state stored under (`account`, `key`), if any.
    pub(crate) fn sync_state(&self, account: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let k = key2("account", account, "sync state key", key)?;
        match get(&self.inner.sync, T_SYNC, &k)? {
            None => Ok(None),
            Some(raw) => {
                let payload = split_version(T_SYNC, &k, &raw)?;
                Ok(Some(payload.into_owned()))
            }
        }
    }

    /// Store the opaque sync state for (`account`, `key`), replacing any previous value.
    pub(crate) fn set_sync_state(&self, account: &str, key: &str, value: &[u8]) -> Result<()> {
        let k = key2("account", account, "sync state key", key)?;
        self.inner
            .sync
            .insert(k, encode_raw(value))
            .map(|_| ())
            .map_err(|e| StoreError::io("write of sync state", e))
    }

    /// Where large, rebuildable per-account caches live: plain files beside the database, not sled
    /// values (rewriting a multi-megabyte value in sled leaves old copies behind until its GC runs).
    fn cache_file(&self, account: &str, key: &str) -> Result<PathBuf> {
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(StoreError::InvalidInput {
                what: "cache key",
                value: key.to_string(),
                reason: "only ASCII letters, digits and '-' are allowed".into(),
            });
        }
        let account_hex: String = account.bytes().map(|b| format!("{b:02x}")).collect();
        Ok(self
            .inner
            .path
            .join("oneonone-caches")
            .join(format!("{account_hex}-{key}")))
    }

    /// Read a cache file written by `write_cache`; `None` when there is none yet.
    pub(crate) fn read_cache(&self, account: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.cache_file(account, key)?;
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Io {
                operation: "read of a cache file",
                source: Box::new(e),
            }),
        }
    }

    /// Replace a cache file atomically (temporary file, fsync, rename), readable by the owner only.
    pub(crate) fn write_cache(&self, account: &str, key: &str, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        let path = self.cache_file(account, key)?;
        let io = |e: std::io::Error| StoreError::Io {
            operation: "write of a cache file",
            source: Box::new(e),
        };
        let dir = path.parent().unwrap_or(&self.inner.path);
        create_private_dir(dir).map_err(io)?;
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode_private()
            .open(&tmp)
            .map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(())
    }

    // ---- occurrences ------------------------------------------------------------------------

    /// The remembered occurrences of a pair, sorted by start (then meeting key).
    pub fn occurrences(&self, pair_id: &str) -> Result<Vec<Occurrence>> {
        let recs: Vec<OccurrenceRec> = scan_pair(&self.inner.occ, T_OCC, pair_id)?;
        let mut interner = records::Interner::default();
        let mut out: Vec<Occurrence> = recs
            .into_iter()
            .map(|r| r.into_occurrence(&mut interner))
            .collect();
        out.sort_by(|a, b| {
            a.start
                .cmp(&b.start)
                .then_with(|| a.meeting.cmp(&b.meeting))
        });
        Ok(out)
    }

    /// Upsert these records and delete the pair's records whose meeting key is in `remove`, in one
    /// batch. Removals are applied first, so a key both removed and upserted ends up upserted.
    /// Every upserted record must belong to `pair_id`.
    pub fn update_occurrences(
        &self,
        pair_id: &str,
        upsert: &[Occurrence],
        remove: &[String],
    ) -> Result<()> {
        let mut puts = Vec::with_capacity(upsert.len());
        for rec in upsert {
            same_pair(pair_id, &rec.pair_id)?;
            let k = key2("pair id", pair_id, "meeting key", &rec.meeting)?;
            puts.push((k, encode(&OccurrenceRec::from(rec))?));
        }
        let mut dels = Vec::with_capacity(remove.len());
        for id in remove {
            dels.push(key2("pair id", pair_id, "meeting key", id)?);
        }
        // One tree: a sled batch is applied atomically, and is much cheaper than a transaction.
        let mut batch = sled::Batch::default();
        for k in dels {
            batch.remove(k);
        }
        for (k, v) in puts {
            batch.insert(k, v);
        }
        self.inner
            .occ
            .apply_batch(batch)
            .map_err(|e| StoreError::io("update of occurrences", e))
    }

    /// The ids of every pair that has at least one remembered occurrence, sorted.
    pub fn pair_ids_with_history(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut from: Vec<u8> = Vec::new();
        loop {
            let next = self.inner.occ.range(from.as_slice()..).next();
            let Some(entry) = next else { break };
            let (k, _) = entry.map_err(|e| StoreError::io("scan of occurrences", e))?;
            let pair = k.split(|b| *b == 0).next().unwrap_or(&[]);
            let pair_str = std::str::from_utf8(pair).map_err(|e| StoreError::Decode {
                tree: T_OCC,
                key: String::from_utf8_lossy(&k).replace('\0', "/"),
                reason: format!("key is not UTF-8: {e}"),
            })?;
            out.push(pair_str.to_string());
            // Skip the rest of this pair: the next key after every `pair\0…` is `pair\x01`.
            from = pair.to_vec();
            from.push(1);
        }
        Ok(out)
    }

    // ---- findings ---------------------------------------------------------------------------

    /// The pair's active findings, ordered by first sight, then key.
    pub fn findings(&self, pair_id: &str) -> Result<Vec<ActiveFinding>> {
        let recs: Vec<FindingRec> = scan_pair(&self.inner.findings, T_FINDINGS, pair_id)?;
        let mut out: Vec<ActiveFinding> = recs.into_iter().map(ActiveFinding::from).collect();
        out.sort_by(|a, b| {
            a.first_seen
                .cmp(&b.first_seen)
                .then_with(|| a.key.cmp(&b.key))
        });
        Ok(out)
    }

    /// Replace the pair's active findings with exactly `active`, in one transaction. Records must
    /// belong to `pair_id`; of two records with the same key the last one wins.
    pub fn set_findings(&self, pair_id: &str, active: &[ActiveFinding]) -> Result<()> {
        let mut puts = Vec::with_capacity(active.len());
        let mut keep = BTreeSet::new();
        for rec in active {
            same_pair(pair_id, &rec.pair_id)?;
            let k = key2("pair id", pair_id, "finding key", &rec.key)?;
            keep.insert(k.clone());
            puts.push((k, encode(&FindingRec::from(rec))?));
        }
        // The scan and the transaction must not interleave with another set_findings.
        let _guard = self
            .inner
            .findings_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let prefix = prefix1("pair id", pair_id)?;
        let mut dels = Vec::new();
        for entry in self.inner.findings.scan_prefix(&prefix) {
            let (k, _) = entry.map_err(|e| StoreError::io("scan of findings", e))?;
            if !keep.contains(k.as_ref()) {
                dels.push(k.to_vec());
            }
        }
        let res: std::result::Result<(), TransactionError<StoreError>> =
            self.inner.findings.transaction(|tx| {
                for k in &dels {
                    tx.remove(k.as_slice())?;
                }
                for (k, v) in &puts {
                    tx.insert(k.as_slice(), v.as_slice())?;
                }
                Ok(())
            });
        tx_result("update of findings", res)
    }

    // ---- agenda docs ------------------------------------------------------------------------

    /// The agenda doc with this token, if any. A malformed token is simply not found.
    pub fn agenda_doc(&self, token: &str) -> Result<Option<AgendaDoc>> {
        if token.is_empty() || token.contains('\0') {
            return Ok(None);
        }
        match get(&self.inner.docs, T_DOCS, token.as_bytes())? {
            None => Ok(None),
            Some(raw) => {
                decode::<AgendaDocRec>(T_DOCS, token.as_bytes(), &raw).map(|r| Some(r.into()))
            }
        }
    }

    /// Store new agenda docs (the planner made their tokens). A token that already names a doc of
    /// another occurrence is refused (2^-128, but a capability is never handed out twice).
    pub fn put_agenda_docs(&self, docs: &[AgendaDoc]) -> Result<()> {
        if docs.is_empty() {
            return Ok(());
        }
        let mut puts = Vec::with_capacity(docs.len());
        for d in docs {
            check_part("agenda token", &d.token)?;
            puts.push((
                d.token.clone(),
                AgendaDocRec::from(d),
                encode(&AgendaDocRec::from(d))?,
            ));
        }
        let res: std::result::Result<(), TransactionError<StoreError>> =
            self.inner.docs.transaction(|tx| {
                for (token, rec, bytes) in &puts {
                    if let Some(raw) = tx.get(token.as_bytes())? {
                        let old: AgendaDocRec = decode(T_DOCS, token.as_bytes(), &raw)
                            .map_err(ConflictableTransactionError::Abort)?;
                        if old.pair_and_meeting() != rec.pair_and_meeting() {
                            return Err(ConflictableTransactionError::Abort(StoreError::Random(
                                "a new agenda token collides with an existing one".into(),
                            )));
                        }
                        continue;
                    }
                    tx.insert(token.as_bytes(), bytes.as_slice())?;
                }
                Ok(())
            });
        tx_result("creation of agenda docs", res)
    }

    /// The doc of one occurrence of a pair: the one its history record names, or else a new one
    /// (fresh 128-bit token) which the record, if there is one, then names. For tools and tests;
    /// the daemon's docs are made by the planner.
    pub fn ensure_agenda_doc(
        &self,
        pair_id: &str,
        meeting: &str,
        start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<AgendaDoc> {
        let k = key2("pair id", pair_id, "meeting key", meeting)?;
        let record: Option<OccurrenceRec> = match get(&self.inner.occ, T_OCC, &k)? {
            Some(raw) => Some(decode(T_OCC, &k, &raw)?),
            None => None,
        };
        let occurrence = record.map(|r| r.into_occurrence(&mut records::Interner::default()));
        if let Some(token) = occurrence.as_ref().and_then(|o| o.agenda.as_deref())
            && let Some(doc) = self.agenda_doc(token)?
        {
            return Ok(doc);
        }
        let doc = AgendaDoc {
            token: random_hex(16)?,
            pair_id: pair_id.to_string(),
            meeting: meeting.to_string(),
            start,
            created_at: now,
        };
        self.put_agenda_docs(std::slice::from_ref(&doc))?;
        if let Some(mut o) = occurrence {
            o.agenda = Some(doc.token.clone());
            self.update_occurrences(pair_id, &[o], &[])?;
        }
        Ok(doc)
    }

    // ---- pair links -------------------------------------------------------------------------

    /// The token of the pair's stable link, if it has one.
    pub fn pair_link(&self, pair_id: &str) -> Result<Option<String>> {
        let k = prefix1("pair id", pair_id)?;
        Ok(get(&self.inner.links, T_LINKS, &k)?
            .map(|raw| String::from_utf8_lossy(&raw).into_owned()))
    }

    /// The pair's stable link token, made (128 random bits) the first time it is asked for.
    pub fn ensure_pair_link(&self, pair_id: &str) -> Result<String> {
        if let Some(t) = self.pair_link(pair_id)? {
            return Ok(t);
        }
        self.replace_pair_link(pair_id)
    }

    /// Give the pair a new stable link token; the old one stops working at once.
    pub fn replace_pair_link(&self, pair_id: &str) -> Result<String> {
        let k = prefix1("pair id", pair_id)?;
        let token = random_hex(16)?;
        let res: std::result::Result<(), TransactionError<StoreError>> =
            (&self.inner.links, &self.inner.link_index).transaction(|(links, index)| {
                if index.get(token.as_bytes())?.is_some() {
                    return Err(ConflictableTransactionError::Abort(StoreError::Random(
                        "a new link token collides with an existing one".into(),
                    )));
                }
                if let Some(old) = links.insert(k.as_slice(), token.as_bytes())? {
                    index.remove(old)?;
                }
                index.insert(token.as_bytes(), pair_id.as_bytes())?;
                Ok(())
            });
        tx_result("creation of a pair link", res)?;
        Ok(token)
    }

    /// The pair a stable link token belongs to. A malformed token is simply not found.
    pub fn pair_of_link(&self, token: &str) -> Result<Option<String>> {
        if token.is_empty() || token.contains('\0') {
            return Ok(None);
        }
        Ok(get(&self.inner.link_index, T_LINK_INDEX, token.as_bytes())?
            .map(|raw| String::from_utf8_lossy(&raw).into_owned()))
    }

    // ---- agenda items -----------------------------------------------------------------------

    /// The pair's agenda-item ledger, sorted by creation time (then id).
    pub fn agenda_items(&self, pair_id: &str) -> Result<Vec<AgendaItem>> {
        let recs: Vec<AgendaItemRec> = scan_pair(&self.inner.items, T_ITEMS, pair_id)?;
        let mut out: Vec<AgendaItem> = recs.into_iter().map(AgendaItem::from).collect();
        out.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(out)
    }

    /// The item `item_id` of the pair's ledger, if it exists.
    pub fn agenda_item(&self, pair_id: &str, item_id: &str) -> Result<Option<AgendaItem>> {
        let k = key2("pair id", pair_id, "item id", item_id)?;
        match get(&self.inner.items, T_ITEMS, &k)? {
            None => Ok(None),
            Some(raw) => decode::<AgendaItemRec>(T_ITEMS, &k, &raw).map(|r| Some(r.into())),
        }
    }

    /// Insert or replace an agenda item (keyed by its pair and id), bumping the pair's revision in
    /// the same transaction.
    pub fn put_agenda_item(&self, item: &AgendaItem) -> Result<()> {
        self.put_agenda_items(&item.pair_id, std::slice::from_ref(item))
    }

    // ---- write-once marks -------------------------------------------------------------------

    /// The pair's write-once marks (blocks on notifying providers, series creation), by key.
    pub fn write_marks(&self, pair_id: &str) -> Result<Vec<WriteMark>> {
        let recs: Vec<WriteMarkRec> = scan_pair(&self.inner.marks, T_MARKS, pair_id)?;
        Ok(recs.into_iter().map(WriteMark::from).collect())
    }

    /// Insert or replace write-once marks of a pair (one batch).
    pub fn put_write_marks(&self, pair_id: &str, marks: &[WriteMark]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for m in marks {
            let k = key2("pair id", pair_id, "write key", &m.key)?;
            batch.insert(k, encode(&WriteMarkRec::from(m))?);
        }
        self.inner
            .marks
            .apply_batch(batch)
            .map_err(|e| StoreError::io("write of write marks", e))
    }

    // ---- calendars --------------------------------------------------------------------------

    /// How many events each calendar of the account held when it was last read completely, and
    /// when that count was last confirmed.
    pub fn calendar_counts(
        &self,
        account: &str,
    ) -> Result<BTreeMap<String, (usize, DateTime<Utc>)>> {
        let prefix = prefix1("account", account)?;
        let mut out = BTreeMap::new();
        for entry in self.inner.calendars.scan_prefix(&prefix) {
            let (k, v) = entry.map_err(|e| StoreError::io("scan of calendars", e))?;
            let rec: CalendarRec = decode(T_CALENDARS, &k, &v)?;
            let cal = String::from_utf8_lossy(k.get(prefix.len()..).unwrap_or_default());
            out.insert(cal.into_owned(), (rec.events, rec.at));
        }
        Ok(out)
    }

    /// Replace the account's calendar counts with exactly `counts` (one transaction).
    pub fn set_calendar_counts(
        &self,
        account: &str,
        counts: &BTreeMap<String, (usize, DateTime<Utc>)>,
    ) -> Result<()> {
        let prefix = prefix1("account", account)?;
        let mut dels = Vec::new();
        for entry in self.inner.calendars.scan_prefix(&prefix) {
            let (k, _) = entry.map_err(|e| StoreError::io("scan of calendars", e))?;
            dels.push(k.to_vec());
        }
        let mut batch = sled::Batch::default();
        for k in dels {
            batch.remove(k);
        }
        for (cal, (events, at)) in counts {
            let k = key2("account", account, "calendar", cal)?;
            batch.insert(
                k,
                encode(&CalendarRec {
                    events: *events,
                    at: *at,
                })?,
            );
        }
        self.inner
            .calendars
            .apply_batch(batch)
            .map_err(|e| StoreError::io("write of calendar counts", e))
    }

    // ---- external-write journal -------------------------------------------------------------

    /// The journal entry of the last external write to (`account`, `key`), if any.
    pub fn write_record(&self, account: &str, key: &str) -> Result<Option<WriteRecord>> {
        let k = key2("account", account, "write key", key)?;
        match get(&self.inner.writes, T_WRITES, &k)? {
            None => Ok(None),
            Some(raw) => decode(T_WRITES, &k, &raw).map(Some),
        }
    }

    /// Record (replace) journal entries of external writes, in one batch.
    pub fn put_write_records(&self, recs: &[WriteRecord]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for rec in recs {
            let k = key2("account", &rec.account, "write key", &rec.instance_id)?;
            batch.insert(k, encode(rec)?);
        }
        self.inner
            .writes
            .apply_batch(batch)
            .map_err(|e| StoreError::io("write of write records", e))
    }

    /// Record (replace) the journal entry of an external write.
    pub fn put_write_record(&self, rec: &WriteRecord) -> Result<()> {
        self.put_write_records(std::slice::from_ref(rec))
    }
}

/// A fresh random id of `bytes` random bytes, as lower-case hex (URL-safe). Used for agenda
/// tokens (16 bytes) and agenda item ids.
pub fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| StoreError::Random(e.to_string()))?;
    let mut s = String::with_capacity(bytes * 2);
    for b in buf {
        s.push_str(&format!("{b:02x}"));
    }
    Ok(s)
}

/// The migration hook: turns the payload of a value written with schema `from` (< current) into
/// the current payload format of `tree`. When a record changes shape, bump [`SCHEMA_VERSION`] and
/// convert here.
fn migrate(tree: &'static str, from: u8, payload: &[u8]) -> std::result::Result<Vec<u8>, String> {
    match from {
        // Schema 2 only added fields (defaulted on read) and trees.
        1 => Ok(payload.to_vec()),
        _ => Err(format!(
            "unknown schema version {from} for {tree} (this build reads 1 to {SCHEMA_VERSION})"
        )),
    }
}

// ---- encoding ---------------------------------------------------------------------------------

/// Opaque bytes behind the version byte (sync state, mirror values).
fn encode_raw(value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(value.len() + 1);
    v.push(SCHEMA_VERSION);
    v.extend_from_slice(value);
    v
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut out = vec![SCHEMA_VERSION];
    serde_json::to_writer(&mut out, value).map_err(|e| StoreError::Io {
        operation: "encoding of a record",
        source: Box::new(e),
    })?;
    Ok(out)
}

/// Check the version byte and return the payload in the current format.
fn split_version<'a>(
    tree: &'static str,
    key: &[u8],
    raw: &'a [u8],
) -> Result<std::borrow::Cow<'a, [u8]>> {
    let decode_err = |reason: String| StoreError::Decode {
        tree,
        key: display_key(tree, key),
        reason,
    };
    let Some((&version, payload)) = raw.split_first() else {
        return Err(decode_err("empty value".into()));
    };
    if version == SCHEMA_VERSION {
        Ok(std::borrow::Cow::Borrowed(payload))
    } else if version > SCHEMA_VERSION {
        Err(decode_err(format!(
            "schema version {version} is newer than this build ({SCHEMA_VERSION})"
        )))
    } else {
        migrate(tree, version, payload)
            .map(std::borrow::Cow::Owned)
            .map_err(decode_err)
    }
}

fn decode<T: DeserializeOwned>(tree: &'static str, key: &[u8], raw: &[u8]) -> Result<T> {
    let payload = split_version(tree, key, raw)?;
    serde_json::from_slice(&payload).map_err(|e| StoreError::Decode {
        tree,
        key: display_key(tree, key),
        reason: e.to_string(),
    })
}

/// A key for messages: parts joined by `/`; agenda tokens shortened (they are capabilities).
fn display_key(tree: &'static str, key: &[u8]) -> String {
    let s = String::from_utf8_lossy(key);
    if tree == T_DOCS || tree == T_LINK_INDEX || tree == T_SESSIONS {
        let short: String = s.chars().take(4).collect();
        return format!("{short}…");
    }
    s.replace('\0', "/")
}

// ---- keys -------------------------------------------------------------------------------------

fn check_part(what: &'static str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(StoreError::InvalidInput {
            what,
            value: String::new(),
            reason: "is empty".into(),
        });
    }
    if value.contains('\0') {
        return Err(StoreError::InvalidInput {
            what,
            value: value.to_string(),
            reason: "contains a NUL character".into(),
        });
    }
    Ok(())
}

fn prefix1(what: &'static str, a: &str) -> Result<Vec<u8>> {
    check_part(what, a)?;
    let mut k = a.as_bytes().to_vec();
    k.push(0);
    Ok(k)
}

fn key2(what_a: &'static str, a: &str, what_b: &'static str, b: &str) -> Result<Vec<u8>> {
    let mut k = prefix1(what_a, a)?;
    check_part(what_b, b)?;
    k.extend_from_slice(b.as_bytes());
    Ok(k)
}

fn same_pair(expected: &str, got: &str) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(StoreError::InvalidInput {
            what: "record pair id",
            value: got.to_string(),
            reason: format!("the update is for pair {expected:?}"),
        })
    }
}

fn get(tree: &sled::Tree, name: &'static str, key: &[u8]) -> Result<Option<sled::IVec>> {
    tree.get(key).map_err(|e| StoreError::Io {
        operation: match name {
            T_SYNC => "read of sync state",
            T_OCC => "read of occurrences",
            T_DOCS | T_DOC_INDEX => "read of agenda docs",
            T_ITEMS => "read of agenda items",
            T_WRITES => "read of the write journal",
            T_LINKS | T_LINK_INDEX => "read of pair links",
            T_MARKS => "read of write marks",
            T_MIRROR => "read of the provider mirror",
            T_OUTBOX => "read of the outbox",
            T_GOALS => "read of goals",
            T_SHARED_NOTES | T_PRIVATE_NOTES => "read of meeting notes",
            T_REVISIONS => "read of agenda revisions",
            T_SESSIONS => "read of web sessions",
            _ => "read",
        },
        source: Box::new(e),
    })
}

fn scan_pair<T: DeserializeOwned>(
    tree: &sled::Tree,
    name: &'static str,
    pair_id: &str,
) -> Result<Vec<T>> {
    let prefix = prefix1("pair id", pair_id)?;
    let mut out = Vec::new();
    for entry in tree.scan_prefix(&prefix) {
        let (k, v) = entry.map_err(|e| StoreError::io("scan", e))?;
        out.push(decode(name, &k, &v)?);
    }
    Ok(out)
}

fn tx_result<T>(
    operation: &'static str,
    res: std::result::Result<T, TransactionError<StoreError>>,
) -> Result<T> {
    match res {
        Ok(v) => Ok(v),
        Err(TransactionError::Abort(e)) => Err(e),
        Err(TransactionError::Storage(e)) => Err(StoreError::io(operation, e)),
    }
}

// ---- permissions ------------------------------------------------------------------------------

#[cfg(unix)]
/// Open new files readable by the owner only.
trait PrivateOpen {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateOpen for std::fs::OpenOptions {
    #[cfg(unix)]
    fn mode_private(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
    #[cfg(not(unix))]
    fn mode_private(&mut self) -> &mut Self {
        self
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let meta = std::fs::metadata(dir)?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Remove group/other permissions from every file and directory under `dir`.
#[cfg(unix)]
fn restrict_files(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode & 0o700))?;
        }
        if meta.is_dir() {
            restrict_files(&entry.path())?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_files(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests;
