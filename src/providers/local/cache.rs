//! The per-file parse cache of the local provider: for each `.ics` file its (len, mtime, inode)
//! and what parsing it produced (candidate events, problems, whether it needed recovery). Expanded
//! instances are not cached (they depend on the window). The caller persists the cache between
//! runs as opaque bytes; bytes of another version, or garbage, give an empty cache.
use super::parse::ParsedFile;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ffi::OsString;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

const VERSION: u32 = 12;

/// What identifies an unchanged file: size, modification time (ns) and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "(u64, i64, u32, u64)", into = "(u64, i64, u32, u64)")]
pub(crate) struct Stamp {
    pub len: u64,
    pub mtime_s: i64,
    pub mtime_ns: u32,
    pub inode: u64,
}

impl Stamp {
    pub(crate) fn of(meta: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Stamp {
                len: meta.len(),
                mtime_s: meta.mtime(),
                mtime_ns: u32::try_from(meta.mtime_nsec()).unwrap_or(0),
                inode: meta.ino(),
            }
        }
        #[cfg(not(unix))]
        {
            let (s, ns) = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| {
                    (
                        i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                        d.subsec_nanos(),
                    )
                })
                .unwrap_or((0, 0));
            Stamp {
                len: meta.len(),
                mtime_s: s,
                mtime_ns: ns,
                inode: 0,
            }
        }
    }
}

impl From<(u64, i64, u32, u64)> for Stamp {
    fn from((len, mtime_s, mtime_ns, inode): (u64, i64, u32, u64)) -> Stamp {
        Stamp {
            len,
            mtime_s,
            mtime_ns,
            inode,
        }
    }
}

impl From<Stamp> for (u64, i64, u32, u64) {
    fn from(s: Stamp) -> Self {
        (s.len, s.mtime_s, s.mtime_ns, s.inode)
    }
}

/// The number of the last fetch that saw a file (not persisted): entries not seen by a fetch
/// belong to vanished files and are dropped.
#[derive(Debug, Default)]
pub(crate) struct Seen(AtomicU64);

impl Seen {
    pub(crate) fn new(epoch: u64) -> Seen {
        Seen(AtomicU64::new(epoch))
    }
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    pub(crate) fn set(&self, epoch: u64) {
        self.0.store(epoch, Ordering::Relaxed)
    }
}

impl Clone for Seen {
    fn clone(&self) -> Seen {
        Seen::new(self.get())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entry {
    #[serde(rename = "s")]
    pub stamp: Stamp,
    #[serde(rename = "p", default)]
    pub parsed: ParsedFile,
    #[serde(skip)]
    pub seen: Seen,
}

/// Per-file parse cache; persisted by the caller between runs as opaque bytes. Use one cache per
/// `LocalProvider`: a fetch drops the entries of files it did not see.
#[derive(Debug, Default)]
pub struct FileCache {
    pub(crate) files: HashMap<OsString, Entry, BuildHasherDefault<Fnv>>,
    /// Counts fetches (not persisted); see `Seen`.
    pub(crate) epoch: u64,
    /// Files actually read (opened and parsed) by the last fetch.
    pub(crate) last_reads: usize,
    /// Entries dropped by the last fetch (their files vanished).
    pub(crate) last_dropped: usize,
}

/// FNV-1a: path keys are hashed 300,000 times per fetch of a large vdir; SipHash's DoS
/// resistance buys nothing for local file names.
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let start = if self.0 == 0 {
            crate::domain::hash::FNV_OFFSET
        } else {
            self.0
        };
        self.0 = crate::domain::hash::fnv1a64_extend(start, bytes);
    }
}

/// The persisted form: a magic/version header line, then the entries in postcard (a compact
/// binary serde format: the cache of a 100,000-file vdir decodes several times faster than JSON).
#[derive(Serialize, Deserialize)]
struct Persisted {
    files: Vec<(PathBuf, Entry)>,
}

/// Header of the persisted form; a different header (or none) means an empty cache.
fn header() -> String {
    format!("oneonone-local-cache v{VERSION} postcard\n")
}

impl FileCache {
    /// Serialize the cache (versioned).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialized from references (same shape as `Persisted`): no copy of 100,000 entries.
        #[derive(Serialize)]
        struct PersistedRef<'a> {
            files: Vec<(&'a std::path::Path, &'a Entry)>,
        }
        let mut files: Vec<(&std::path::Path, &Entry)> = self
            .files
            .iter()
            .map(|(p, e)| (std::path::Path::new(p), e))
            .collect();
        files.sort_by(|a, b| a.0.cmp(b.0));
        let out = header().into_bytes();
        postcard::to_extend(&PersistedRef { files }, out).unwrap_or_default()
    }

    /// Read bytes from `to_bytes`; garbage or another version gives an empty cache.
    pub fn from_bytes(b: &[u8]) -> FileCache {
        let Some(body) = b.strip_prefix(header().as_bytes()) else {
            return FileCache::default();
        };
        match postcard::from_bytes::<Persisted>(body) {
            Ok(p) => FileCache {
                files: p
                    .files
                    .into_iter()
                    .map(|(p, e)| (p.into_os_string(), e))
                    .collect(),
                last_reads: 0,
                last_dropped: 0,
                epoch: 0,
            },
            Err(_) => FileCache::default(),
        }
    }

    /// Number of files the last `fetch` had to read (the others were served from the cache).
    pub fn last_fetch_reads(&self) -> usize {
        self.last_reads
    }

    /// Did the last `fetch` change the cache (a file read, or one dropped)? The caller only
    /// needs to persist `to_bytes()` again when it did.
    pub fn last_fetch_changed(&self) -> bool {
        self.last_reads > 0 || self.last_dropped > 0
    }

    /// Number of files in the cache.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the cache holds no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::local::parse::parse_text;

    #[test]
    fn round_trips_and_rejects_garbage_and_other_versions() {
        let mut c = FileCache::default();
        let parsed = parse_text(
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:u\nDTSTART:20260101T100000Z\nORGANIZER:mailto:a@x\nATTENDEE:mailto:b@x\nEND:VEVENT\nEND:VCALENDAR\n",
        );
        assert_eq!(parsed.events.len(), 1);
        let stamp = Stamp {
            len: 1,
            mtime_s: 2,
            mtime_ns: 3,
            inode: 4,
        };
        c.files.insert(
            OsString::from("/x/a.ics"),
            Entry {
                stamp,
                parsed: parsed.clone(),
                seen: Seen::default(),
            },
        );
        let back = FileCache::from_bytes(&c.to_bytes());
        assert_eq!(back.len(), 1);
        let e = &back.files[&OsString::from("/x/a.ics")];
        assert_eq!(e.stamp, stamp);
        assert_eq!(e.parsed, parsed);
        assert!(FileCache::from_bytes(b"garbage").is_empty());
        let other = String::from_utf8(c.to_bytes())
            .unwrap()
            .replacen("cache v1", "cache v99", 1);
        assert!(FileCache::from_bytes(other.as_bytes()).is_empty());
    }
}
