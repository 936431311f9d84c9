//! The `local` provider: a vdir (folder of `.ics` files, as kept by khal and vdirsyncer), with one
//! level of sub-folders (one per calendar). This is oneonone's built-in default source.
//!
//! - `settings`: the account's keys (`path`, `example`).
//! - `account`: [`LocalAccount`], the [`Provider`](super::Provider) over a [`LocalProvider`]: its
//!   parse cache lives behind the account's `AccountState` (a blob) and, in the daemon, in memory.
//! - `parse`: one file → meeting-candidate events + problems, recovering from damage.
//! - `tz`: TZID resolution and date-time values.
//! - `expand`: candidates → `Instance`s in a window (recurrence in the event's own zone).
//! - `edit`: text-level writes and atomic file replacement.
//! - `cache`: the per-file parse cache (`FileCache`), so an unchanged file costs one stat.
//!
//! Calendars: the root folder and each sub-folder is one calendar (`Instance::calendar` is the
//! folder's path); a folder is read completely when it could be listed, and each file that could
//! not be read (wholly or partly) is an unreadable `SourceProblem` naming the file, which is also
//! the `Instance::source` of its events.
//!
//! Invariants: only meeting candidates are returned and cached; a file that needed recovery is
//! never rewritten; a write changes only the lines it must (DESCRIPTION, DTEND, or an appended
//! RECURRENCE-ID override) and keeps every other byte, the line endings and the permissions; a
//! write that would change nothing does not touch the file.
mod account;
mod altdesc;
mod cache;
mod edit;
mod expand;
mod parse;
mod settings;
mod tz;
mod vtimezone;

pub use account::LocalAccount;
pub use cache::FileCache;
pub use settings::LocalSettings;

use crate::domain::{Cadence, Instance, SeriesMaster};
use crate::providers::{
    CalendarRead, NewSeries, OccurrenceWrite, ProblemKind, ProviderError, SeriesWrite, Snapshot,
    SourceProblem, Window, WriteOutcome,
};
use cache::{Entry, Stamp};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use edit::{Doc, Splice, VeventSpan, WriteError};
use parse::{EndSpec, Ev, ParsedFile};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Reads and writes one vdir.
#[derive(Debug, Clone)]
pub struct LocalProvider {
    account: String,
    root: PathBuf,
    default_tz: Tz,
    /// Folder name (relative to the root, `.` for the root) → its owner's email, from the config.
    owners: Vec<(PathBuf, Arc<str>)>,
}

/// What a worker found for one file (small: one per file of the vdir).
enum Outcome<'c> {
    /// Unchanged since the cache entry was made.
    Cached(&'c Entry),
    Read(Box<Entry>),
    Failed(String),
}

impl LocalProvider {
    /// `default_tz` interprets floating times (no TZID, no Z).
    pub fn new(account: impl Into<String>, root: impl Into<PathBuf>, default_tz: Tz) -> Self {
        LocalProvider {
            account: account.into(),
            root: root.into(),
            default_tz,
            owners: Vec::new(),
        }
    }

    /// Say whose calendar each named folder is (`.` is the root folder): their own events there
    /// count as busy time, and their copies of meetings are theirs.
    pub fn with_owners(mut self, owners: &[(String, String)]) -> Self {
        self.owners = owners
            .iter()
            .map(|(f, e)| (PathBuf::from(f), e.to_lowercase().into()))
            .collect();
        self
    }

    /// The owner of the folder `name`: configured, or the folder is named by an email address
    /// (as vdirsyncer names CalDAV collections of most servers).
    fn owner_of(&self, name: &Path) -> Option<Arc<str>> {
        if let Some((_, e)) = self.owners.iter().find(|(f, _)| f == name) {
            return Some(e.clone());
        }
        let n = name.to_str()?;
        let (local, domain) = n.split_once('@')?;
        let plausible =
            !local.is_empty() && domain.contains('.') && !n.contains(char::is_whitespace);
        plausible.then(|| n.to_lowercase().into())
    }

    /// The account's name.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The vdir's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Read every `*.ics` in root and its immediate sub-folders (dot-files and temp files are
    /// ignored). Files whose (len, mtime, inode) match the cache are not re-read. Returns every
    /// instance of every meeting candidate that overlaps the window (ends after `window.start`,
    /// starts before `window.end`; a zero-length event at `window.start` counts), recurring series
    /// expanded, the masters of those series, one `CalendarRead` per folder, and a `SourceProblem`
    /// per thing it could not read. Err only when the root itself cannot be read.
    pub fn fetch(&self, window: Window, cache: &mut FileCache) -> Result<Snapshot, ProviderError> {
        let (listed, folders) = self.list_files()?;
        cache.epoch += 1;
        let epoch = cache.epoch;
        // Stat every file (in parallel); read and parse only those the cache does not match.
        let outcomes = {
            let old = &cache.files;
            parallel_map(&listed, |l| {
                let keep = match folders.get(l.folder).and_then(|f| f.owner.as_ref()) {
                    Some(_) => parse::Keep::MeetingsAndOwn,
                    None => parse::Keep::Meetings,
                };
                examine(l, old.get(l.path.as_os_str()), epoch, keep)
            })
        };
        // Expand every file (each worker its share, straight into one vector: 100,000 instances
        // are never held twice).
        let yields = parallel_chunks(listed.len(), |range| {
            let mut acc = FileYield::default();
            for i in range {
                if let (Some(l), Some(outcome), Some(folder)) = (
                    listed.get(i),
                    outcomes.get(i),
                    folders.get(listed.get(i).map_or(0, |l| l.folder)),
                ) {
                    self.expand_one(l, outcome, folder, window, &mut acc);
                }
            }
            acc
        });
        let mut snapshot = Snapshot {
            calendars: folders.iter().map(Folder::read).collect(),
            ..Snapshot::default()
        };
        for mut y in yields {
            if snapshot.instances.is_empty() {
                std::mem::swap(&mut snapshot.instances, &mut y.instances);
            } else {
                snapshot.instances.append(&mut y.instances);
            }
            snapshot.series.append(&mut y.series);
            snapshot.problems.append(&mut y.problems);
        }
        // Update the cache: new entries in, entries of vanished files out.
        let mut fresh = Vec::new();
        for (l, outcome) in listed.into_iter().zip(outcomes) {
            if let Outcome::Read(e) = outcome {
                fresh.push((l.path.into_os_string(), *e));
            }
        }
        cache.last_reads = fresh.len();
        let before = cache.files.len();
        cache.files.retain(|_, e| e.seen.get() == epoch);
        cache.last_dropped = before - cache.files.len();
        cache.files.extend(fresh);
        Ok(snapshot)
    }

    /// Add what one file yields to `out`: its instances in the window, the masters of their
    /// series, and its problems.
    fn expand_one(
        &self,
        l: &Listed,
        outcome: &Outcome<'_>,
        folder: &Folder,
        window: Window,
        out: &mut FileYield,
    ) {
        let calendar = &*folder.id;
        let source = l.path.display().to_string();
        let problem_of = |message: String, kind| SourceProblem {
            calendar: Some(calendar.to_string()),
            source: source.clone(),
            message,
            kind,
        };
        let problem = |message: String| problem_of(message, ProblemKind::Unreadable);
        let entry = match outcome {
            Outcome::Cached(e) => *e,
            Outcome::Read(e) => e,
            Outcome::Failed(msg) => {
                out.problems.push(problem(msg.clone()));
                return;
            }
        };
        let parsed = &entry.parsed;
        if parsed.problems.is_empty() && parsed.notes.is_empty() && parsed.events.is_empty() {
            return;
        }
        for msg in &parsed.problems {
            out.problems.push(problem(msg.clone()));
        }
        for msg in &parsed.notes {
            out.problems
                .push(problem_of(msg.clone(), ProblemKind::NotWritable));
        }
        let ctx = expand::Ctx {
            account: &self.account,
            calendar,
            owner: folder.owner.as_deref(),
            source: &source,
            default_tz: self.default_tz,
            window,
        };
        let first = out.instances.len();
        // A panic in a dependency on some odd rule must not take the whole fetch down.
        let expanded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut p = Vec::new();
            expand::expand_file(&parsed.events, &ctx, &mut out.instances, &mut p);
            p
        }));
        match expanded {
            Ok(p) => {
                let mine = out.instances.get(first..).unwrap_or_default();
                out.series
                    .extend(series_masters(&parsed.events, mine, &ctx));
                out.problems.extend(p);
            }
            Err(_) => {
                out.instances.truncate(first);
                out.problems.push(problem(
                    "internal error while expanding its events; skipped".into(),
                ));
            }
        }
    }

    /// `*.ics` files in root and its immediate sub-folders, in directory order, and the folders
    /// (root first) with how many files each holds.
    fn list_files(&self) -> Result<(Vec<Listed>, Vec<Folder>), ProviderError> {
        let rd = fs::read_dir(&self.root).map_err(|e| ProviderError::Unavailable {
            what: self.root.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut out = Vec::new();
        let mut dirs = Vec::new();
        let root_owner = self.owner_of(Path::new(".")).or_else(|| {
            self.root
                .file_name()
                .and_then(|n| self.owner_of(Path::new(n)))
        });
        let mut folders = vec![Folder::new(&self.root, root_owner)];
        scan_dir(rd, 0, &mut out, Some(&mut dirs));
        for d in dirs {
            let index = folders.len();
            let name = d.file_name().map_or(Path::new(""), Path::new);
            let mut folder = Folder::new(&d, self.owner_of(name));
            match fs::read_dir(&d) {
                Ok(rd) => scan_dir(rd, index, &mut out, None),
                Err(e) => folder.error = Some(format!("cannot read folder: {e}")),
            }
            folders.push(folder);
        }
        for l in &out {
            if let Some(f) = folders.get_mut(l.folder) {
                f.files += 1;
            }
        }
        // Not sorted here: sorting 100,000 paths costs more than the rest of a warm fetch's user
        // time. `fetch` orders only the files that yield something.
        Ok((out, folders))
    }

    /// Change one instance (description and/or end). For a series occurrence, write or update a
    /// RECURRENCE-ID override in the same file. Returns `Unchanged` (and does not touch the file)
    /// if nothing would change. Returns `Conflict` when the file no longer parses cleanly (or
    /// needed recovery), the target's current description differs from `w.target.description`,
    /// or the target is gone.
    pub fn write_occurrence(&self, w: &OccurrenceWrite) -> Result<WriteOutcome, ProviderError> {
        let what = format!("{} (event {})", w.target.source, w.target.id);
        self.rewrite(&w.target.source, what, |text, parsed| {
            self.plan_write(text, parsed, w)
        })
    }

    /// Change the DESCRIPTION of a series master (the VEVENT without RECURRENCE-ID), leaving its
    /// overrides alone. `Conflict` when its description changed since it was read.
    pub fn write_series(&self, w: &SeriesWrite) -> Result<WriteOutcome, ProviderError> {
        let what = format!("{} (series {})", w.target.source, w.target.id);
        self.rewrite(&w.target.source, what, |text, parsed| {
            let master = parsed
                .events
                .iter()
                .find(|e| e.uid == w.target.id && e.recurrence_id.is_none())
                .ok_or("the series no longer exists")?;
            if !expand::is_series(master) {
                return Err("the event is no longer a recurring series".into());
            }
            if *master.description != *w.target.description {
                return Err("its description was edited since it was read".into());
            }
            if master.description == w.description {
                return Ok(None);
            }
            let doc = Doc::new(text);
            let span = locate(&doc, master)?;
            let splices = description_splices(&doc, &span, &master.description, &w.description);
            Ok(Some(edit::apply(text, splices)))
        })
    }

    /// Re-read the file `source`, let `plan` compute its new text from what is there now (`None`:
    /// nothing changes; `Err(reason)`: a conflict), and replace it atomically if it changed.
    fn rewrite(
        &self,
        source: &str,
        what: String,
        plan: impl FnOnce(&str, &ParsedFile) -> Result<Option<String>, String>,
    ) -> Result<WriteOutcome, ProviderError> {
        let path = PathBuf::from(source);
        let conflict = |reason: String| ProviderError::Conflict {
            what: what.clone(),
            reason,
        };
        let io = |e: std::io::Error| ProviderError::Io {
            what: what.clone(),
            source: e,
        };
        if !path.starts_with(&self.root) {
            return Err(ProviderError::NotFound(format!(
                "{source}: not inside {}",
                self.root.display()
            )));
        }
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(conflict("the file no longer exists".into()));
            }
            Err(e) => return Err(io(e)),
        };
        let bytes = fs::read(&path).map_err(io)?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| conflict("the file is not valid UTF-8; it is never rewritten".into()))?;
        let parsed = parse::parse_text(text);
        if parsed.recovered {
            return Err(conflict(
                "the file is damaged and was read with recovery; it is never rewritten".into(),
            ));
        }
        match plan(text, &parsed).map_err(conflict)? {
            None => Ok(WriteOutcome::Unchanged),
            Some(t) if t == text => Ok(WriteOutcome::Unchanged),
            Some(t) => {
                let expect = meta.modified().ok().map(|m| (meta.len(), m));
                match edit::write_atomically(&path, t.as_bytes(), expect) {
                    Ok(()) => Ok(WriteOutcome::Written),
                    Err(WriteError::Changed) => {
                        Err(conflict("the file changed while writing".into()))
                    }
                    Err(WriteError::Io(e)) => Err(io(e)),
                }
            }
        }
    }

    /// The new file text for a write, `None` when nothing changes; Err(reason) for a conflict.
    fn plan_write(
        &self,
        text: &str,
        parsed: &ParsedFile,
        w: &OccurrenceWrite,
    ) -> Result<Option<String>, String> {
        let tz = self.default_tz;
        let uid = w.target.series_id.as_deref().unwrap_or(&w.target.id);
        let master = parsed
            .events
            .iter()
            .find(|e| e.uid == uid && e.recurrence_id.is_none());
        let doc = Doc::new(text);
        let (target, original): (Option<&Ev>, Option<DateTime<Utc>>) = match w.target.original_start
        {
            Some(orig) if w.target.series_id.is_some() => {
                let ov = parsed.events.iter().find(|e| {
                    e.uid == uid
                        && e.recurrence_id
                            .as_ref()
                            .is_some_and(|r| r.instant(tz) == orig)
                });
                match (ov, master) {
                    (Some(o), _) => (Some(o), Some(orig)),
                    (None, Some(m)) if occurs(m, orig, tz) => (None, Some(orig)),
                    _ => return Err("the occurrence no longer exists".into()),
                }
            }
            // Never edit a series master through a write meant for one instance.
            _ if w.target.series_id.is_some() => {
                return Err("an occurrence without its original start cannot be located".into());
            }
            _ => match master {
                Some(m) if expand::is_series(m) => {
                    return Err("the event has become a recurring series".into());
                }
                Some(m) => (Some(m), None),
                None => return Err("the event no longer exists".into()),
            },
        };
        let source_ev = target.or(master).ok_or("the event no longer exists")?;
        if *source_ev.description != *w.target.description {
            return Err("its description was edited since it was read".into());
        }
        // Current end of the target.
        let (cur_start, cur_end) = match (target, original, master) {
            (Some(t), _, m) => {
                let s = t.start.instant(tz);
                let len = match (&t.end, m) {
                    (EndSpec::None, Some(m)) if t.recurrence_id.is_some() => m.length(tz),
                    _ => t.length(tz),
                };
                (s, s + len.max(Duration::zero()))
            }
            (None, Some(o), Some(m)) => (o, o + m.length(tz).max(Duration::zero())),
            _ => return Err("the event no longer exists".into()),
        };
        let new_desc = w
            .description
            .clone()
            .unwrap_or_else(|| source_ev.description.clone());
        let new_end = w.end.unwrap_or(cur_end);
        if new_end < cur_start {
            return Err("the requested end is before the start".into());
        }
        let desc_changes = new_desc != source_ev.description;
        let end_changes = new_end != cur_end;
        if !desc_changes && !end_changes {
            return Ok(None);
        }
        let eol = doc.eol;
        let mut splices = Vec::new();
        match target {
            Some(t) => {
                let span = &locate(&doc, t)?;
                let insert_at = doc.lines[span.first_nested.unwrap_or(span.end)].start;
                if desc_changes {
                    splices.extend(description_splices(
                        &doc,
                        span,
                        &source_ev.description,
                        &new_desc,
                    ));
                }
                if end_changes {
                    if let Some(i) = doc.prop(span, "DTEND") {
                        let l = &doc.lines[i];
                        let like = match &t.end {
                            EndSpec::At(wh) => wh.clone(),
                            _ => t.start.clone(),
                        };
                        let line = format!("{}:{}", l.head(), tz::format_like(&like, new_end, tz));
                        splices.push(Splice {
                            start: l.start,
                            end: l.end,
                            text: edit::fold(&line, eol),
                        });
                    } else if let Some(i) = doc.prop(span, "DURATION") {
                        let l = &doc.lines[i];
                        let line = format!("{}:{}", l.head(), format_duration(new_end - cur_start));
                        splices.push(Splice {
                            start: l.start,
                            end: l.end,
                            text: edit::fold(&line, eol),
                        });
                    } else {
                        let i = doc
                            .prop(span, "DTSTART")
                            .ok_or("the event has no DTSTART")?;
                        let l = &doc.lines[i];
                        let line = format!(
                            "DTEND{}:{}",
                            l.params(),
                            tz::format_like(&t.start, new_end, tz)
                        );
                        splices.push(Splice {
                            start: insert_at,
                            end: insert_at,
                            text: edit::fold(&line, eol),
                        });
                    }
                }
            }
            None => {
                let (Some(m), Some(orig)) = (master, original) else {
                    return Err("the event no longer exists".into());
                };
                let span = &locate(&doc, m)?;
                let at = doc.end_vcalendar().ok_or("the file has no END:VCALENDAR")?;
                let block = new_override(&doc, span, m, orig, new_end, &new_desc, tz)?;
                let pos = doc.lines[at].start;
                splices.push(Splice {
                    start: pos,
                    end: pos,
                    text: block,
                });
            }
        }
        Ok(Some(edit::apply(text, splices)))
    }

    /// Create a new series file `{root}/{sanitized key}.ics` whose UID is the idempotency key;
    /// `Unchanged` if an event with that UID already exists anywhere in the vdir.
    pub fn create_series(&self, s: &NewSeries) -> Result<WriteOutcome, ProviderError> {
        let path = self.root.join(format!("{}.ics", sanitize(&s.key)));
        if self.uid_exists(&s.key)? {
            return Ok(WriteOutcome::Unchanged);
        }
        if path.exists() {
            return Err(ProviderError::Conflict {
                what: path.display().to_string(),
                reason: format!("the file exists but holds no event with UID {}", s.key),
            });
        }
        let text = series_text(s, stamp_now());
        edit::write_atomically(&path, text.as_bytes(), None).map_err(|e| match e {
            WriteError::Io(source) => ProviderError::Io {
                what: path.display().to_string(),
                source,
            },
            WriteError::Changed => ProviderError::Conflict {
                what: path.display().to_string(),
                reason: "the file appeared while it was being created".into(),
            },
        })?;
        Ok(WriteOutcome::Written)
    }

    /// Does any file of the vdir hold an event with this UID? (Byte search, then a parse.)
    fn uid_exists(&self, uid: &str) -> Result<bool, ProviderError> {
        let (listed, _) = self.list_files()?;
        let needle = uid.as_bytes();
        let found = parallel_map(&listed, |l| {
            let Ok(bytes) = fs::read(&l.path) else {
                return false;
            };
            if !bytes.windows(needle.len().max(1)).any(|w| w == needle) {
                return false;
            }
            let text = String::from_utf8_lossy(&bytes);
            let doc = Doc::new(&text);
            doc.vevents().iter().any(|v| {
                doc.prop(v, "UID")
                    .is_some_and(|i| edit::unescape_text(doc.lines[i].value().trim()) == uid)
            })
        });
        Ok(found.into_iter().any(|b| b))
    }
}

/// The span of a parsed event in the file's text, checked against its UID and RECURRENCE-ID.
fn locate(doc: &Doc<'_>, ev: &Ev) -> Result<VeventSpan, String> {
    let lost = || "the file's events could not be located".to_string();
    let s = doc.vevents().into_iter().nth(ev.index).ok_or_else(lost)?;
    let uid_ok = doc
        .prop(&s, "UID")
        .is_some_and(|i| edit::unescape_text(doc.lines[i].value().trim()) == ev.uid);
    let rid_ok = doc.prop(&s, "RECURRENCE-ID").is_some() == ev.recurrence_id.is_some();
    if uid_ok && rid_ok { Ok(s) } else { Err(lost()) }
}

/// Replace (or insert) the DESCRIPTION line of the event at `span` (whose description was `old`),
/// and keep its Outlook HTML copy from hiding the new text (`altdesc`).
fn description_splices(
    doc: &Doc<'_>,
    span: &VeventSpan,
    old: &str,
    description: &str,
) -> Vec<Splice> {
    let mut out = vec![description_splice(doc, span, description)];
    if let Some(i) = html_alt_desc(doc, span) {
        let l = &doc.lines[i];
        let html = edit::unescape_text(l.value());
        match altdesc::update(&html, old, description) {
            altdesc::AltDesc::Remove => out.push(Splice {
                start: l.start,
                end: l.end,
                text: String::new(),
            }),
            altdesc::AltDesc::Replace(h) => out.push(Splice {
                start: l.start,
                end: l.end,
                text: edit::fold(&format!("{}:{}", l.head(), edit::escape_text(&h)), doc.eol),
            }),
            altdesc::AltDesc::Keep => {}
        }
    }
    out
}

/// The event's `X-ALT-DESC;FMTTYPE=text/html` line, if it has one.
fn html_alt_desc(doc: &Doc<'_>, span: &VeventSpan) -> Option<usize> {
    span.props.iter().copied().find(|&i| {
        let l = &doc.lines[i];
        l.name() == "X-ALT-DESC"
            && l.params()
                .to_ascii_lowercase()
                .contains("fmttype=text/html")
    })
}

/// Replace (or insert) the DESCRIPTION line of the event at `span`.
fn description_splice(doc: &Doc<'_>, span: &VeventSpan, description: &str) -> Splice {
    let eol = doc.eol;
    match doc.prop(span, "DESCRIPTION") {
        Some(i) => {
            let l = &doc.lines[i];
            let line = format!("{}:{}", l.head(), edit::escape_text(description));
            Splice {
                start: l.start,
                end: l.end,
                text: edit::fold(&line, eol),
            }
        }
        None => {
            let at = doc.lines[span.first_nested.unwrap_or(span.end)].start;
            let line = format!("DESCRIPTION:{}", edit::escape_text(description));
            Splice {
                start: at,
                end: at,
                text: edit::fold(&line, eol),
            }
        }
    }
}

/// Is `orig` an occurrence (not EXDATE'd) of this master?
fn occurs(m: &Ev, orig: DateTime<Utc>, tz: Tz) -> bool {
    if !expand::is_series(m) {
        return false;
    }
    let (starts, _) = expand::occurrence_starts(m, tz, orig, orig + Duration::seconds(1));
    if !starts.contains(&orig) {
        return false;
    }
    let zone = m.start.zone(tz);
    !m.exdates.iter().any(|x| match x {
        tz::When::Date(d) => orig.with_timezone(&zone).date_naive() == *d,
        other => other.instant(tz) == orig,
    })
}

/// The lines of a new RECURRENCE-ID override copied from the master.
fn new_override(
    doc: &Doc<'_>,
    span: &VeventSpan,
    m: &Ev,
    orig: DateTime<Utc>,
    end: DateTime<Utc>,
    desc: &str,
    tz: Tz,
) -> Result<String, String> {
    const SKIP: [&str; 9] = [
        "RRULE",
        "RDATE",
        "EXDATE",
        "EXRULE",
        "DTSTART",
        "DTEND",
        "DURATION",
        "DESCRIPTION",
        "RECURRENCE-ID",
    ];
    let eol = doc.eol;
    let raw = |i: usize| &doc.text[doc.lines[i].start..doc.lines[i].end];
    let with_eol = |s: &str| {
        if s.ends_with('\n') {
            s.to_string()
        } else {
            format!("{s}{eol}")
        }
    };
    let dtstart = doc
        .prop(span, "DTSTART")
        .ok_or("the series has no DTSTART")?;
    let start_params = doc.lines[dtstart].params().to_string();
    let (end_params, end_like) = match (doc.prop(span, "DTEND"), &m.end) {
        (Some(i), EndSpec::At(w)) => (doc.lines[i].params().to_string(), w.clone()),
        _ => (start_params.clone(), m.start.clone()),
    };
    let mut out = String::new();
    out.push_str(&with_eol(raw(span.begin)));
    let alt = html_alt_desc(doc, span);
    for &i in &span.props {
        if SKIP.contains(&doc.lines[i].name().as_str()) {
            continue;
        }
        if Some(i) == alt {
            // The override's own description: its HTML copy must not hide it.
            let l = &doc.lines[i];
            let html = edit::unescape_text(l.value());
            match altdesc::update(&html, &m.description, desc) {
                altdesc::AltDesc::Remove => {}
                altdesc::AltDesc::Replace(h) => out.push_str(&edit::fold(
                    &format!("{}:{}", l.head(), edit::escape_text(&h)),
                    eol,
                )),
                altdesc::AltDesc::Keep => out.push_str(&with_eol(raw(i))),
            }
            continue;
        }
        out.push_str(&with_eol(raw(i)));
    }
    out.push_str(&edit::fold(
        &format!(
            "RECURRENCE-ID{start_params}:{}",
            tz::format_like(&m.start, orig, tz)
        ),
        eol,
    ));
    out.push_str(&edit::fold(
        &format!(
            "DTSTART{start_params}:{}",
            tz::format_like(&m.start, orig, tz)
        ),
        eol,
    ));
    out.push_str(&edit::fold(
        &format!("DTEND{end_params}:{}", tz::format_like(&end_like, end, tz)),
        eol,
    ));
    if !desc.is_empty() {
        out.push_str(&edit::fold(
            &format!("DESCRIPTION:{}", edit::escape_text(desc)),
            eol,
        ));
    }
    if let Some(first) = span.first_nested {
        for i in first..span.end {
            out.push_str(&with_eol(raw(i)));
        }
    }
    out.push_str(&with_eol(raw(span.end)));
    Ok(out)
}

fn format_duration(d: Duration) -> String {
    let secs = d.num_seconds().max(0);
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::from("PT");
    if h > 0 {
        out.push_str(&format!("{h}H"));
    }
    if m > 0 {
        out.push_str(&format!("{m}M"));
    }
    if s > 0 || secs == 0 {
        out.push_str(&format!("{s}S"));
    }
    out
}

/// A file name for a UID: letters, digits, `-`, `_`, `.`, `@` kept, the rest `_`, no leading dot.
fn sanitize(uid: &str) -> String {
    let mut s: String = uid
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect();
    if s.starts_with('.') || s.is_empty() {
        s.insert(0, '_');
    }
    s
}

/// DTSTAMP for a created event: the time of creation (this is the provider's I/O edge).
#[allow(clippy::disallowed_methods)]
fn stamp_now() -> DateTime<Utc> {
    Utc::now()
}

/// The RRULE body of a cadence.
fn rrule_for(c: Cadence) -> String {
    match c {
        Cadence::Weeks(n) => format!("FREQ=WEEKLY;INTERVAL={n}"),
        Cadence::Monthly => "FREQ=MONTHLY".to_string(),
    }
}

/// The complete VCALENDAR text of a new series (CRLF, folded).
fn series_text(s: &NewSeries, dtstamp: DateTime<Utc>) -> String {
    let eol = "\r\n";
    let tzid = s.first_start.timezone().name();
    let start = s.first_start.naive_local();
    let end = (s.first_start + s.duration).naive_local();
    let esc = edit::escape_text;
    // Values that are not TEXT cannot be escaped: keep line breaks out of them.
    let clean = |v: &str| -> String { v.chars().filter(|c| !c.is_control()).collect() };
    let lines = [
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".to_string(),
        "PRODID:-//oneonone//EN".to_string(),
        "BEGIN:VEVENT".to_string(),
        format!("UID:{}", esc(&s.key)),
        format!("DTSTAMP:{}", dtstamp.format("%Y%m%dT%H%M%SZ")),
        format!("DTSTART;TZID={tzid}:{}", start.format("%Y%m%dT%H%M%S")),
        format!("DTEND;TZID={tzid}:{}", end.format("%Y%m%dT%H%M%S")),
        format!("RRULE:{}", rrule_for(s.cadence)),
        format!("SUMMARY:{}", esc(&s.title)),
        format!("ORGANIZER:mailto:{}", clean(&s.organizer.to_lowercase())),
        format!(
            "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:{}",
            clean(&s.organizer.to_lowercase())
        ),
        format!(
            "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:{}",
            clean(&s.attendee.to_lowercase())
        ),
        format!("DESCRIPTION:{}", esc(&s.description)),
        "END:VEVENT".to_string(),
        "END:VCALENDAR".to_string(),
    ];
    lines.iter().map(|l| edit::fold(l, eol)).collect()
}

/// A listed `.ics` file; the directory entry allows a cheap `fstatat` relative to its folder.
struct Listed {
    path: PathBuf,
    entry: fs::DirEntry,
    symlink: bool,
    /// Index of its folder (calendar) in the fetch's folder list.
    folder: usize,
}

/// One folder of the vdir: one calendar.
struct Folder {
    /// The calendar id: the folder's path.
    id: Arc<str>,
    /// Whose calendar it is (configured, or the folder is named by an email address).
    owner: Option<Arc<str>>,
    files: usize,
    /// Why it could not be listed.
    error: Option<String>,
}

impl Folder {
    fn new(path: &Path, owner: Option<Arc<str>>) -> Folder {
        Folder {
            id: path.display().to_string().into(),
            owner,
            files: 0,
            error: None,
        }
    }

    fn read(&self) -> CalendarRead {
        CalendarRead {
            id: self.id.to_string(),
            owner: self.owner.as_deref().map(str::to_string),
            events: match &self.error {
                Some(e) => Err(e.clone()),
                None => Ok(self.files),
            },
        }
    }
}

/// What a worker's share of the files yields in a fetch.
#[derive(Default)]
struct FileYield {
    instances: Vec<Instance>,
    series: Vec<SeriesMaster>,
    problems: Vec<SourceProblem>,
}

/// The masters of the series that `instances` (one file's) belong to.
fn series_masters(
    events: &[Ev],
    instances: &[Instance],
    ctx: &expand::Ctx<'_>,
) -> Vec<SeriesMaster> {
    let mut ids: Vec<&str> = instances
        .iter()
        .filter_map(|i| i.series_id.as_deref())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter_map(|id| {
            let m = events
                .iter()
                .find(|e| e.uid == id && e.recurrence_id.is_none() && expand::is_series(e))?;
            Some(SeriesMaster {
                account: ctx.account.into(),
                calendar: ctx.calendar.into(),
                owner: ctx.owner.map(Into::into),
                id: m.uid.clone(),
                uid: m.uid.as_str().into(),
                title: m.summary.as_str().into(),
                organizer: m.organizer.as_deref().map(Into::into),
                description: m.description.as_str().into(),
                version: expand::event_version(m).into(),
                source: ctx.source.into(),
            })
        })
        .collect()
}

fn scan_dir(
    rd: fs::ReadDir,
    folder: usize,
    out: &mut Vec<Listed>,
    mut dirs: Option<&mut Vec<PathBuf>>,
) {
    for entry in rd.flatten() {
        let name = entry.file_name();
        let name = name.as_encoded_bytes();
        if name.starts_with(b".") || name.ends_with(b"~") || name.starts_with(b"#") {
            continue;
        }
        let Ok(ft) = entry.file_type() else { continue };
        let path = entry.path();
        let is_dir = ft.is_dir() || (ft.is_symlink() && path.is_dir());
        if is_dir {
            if let Some(d) = dirs.as_deref_mut() {
                d.push(path);
            }
        } else if name.len() > 4 && name[name.len() - 4..].eq_ignore_ascii_case(b".ics") {
            out.push(Listed {
                path,
                entry,
                symlink: ft.is_symlink(),
                folder,
            });
        }
    }
}

/// Stat a file; read and parse it unless the cache entry still matches.
fn examine<'c>(
    listed: &Listed,
    cached: Option<&'c Entry>,
    epoch: u64,
    keep: parse::Keep,
) -> Outcome<'c> {
    let path = &listed.path;
    let meta = if listed.symlink {
        fs::metadata(path)
    } else {
        listed.entry.metadata()
    };
    let meta = match meta {
        Ok(m) => m,
        Err(e) => return Outcome::Failed(format!("cannot stat: {e}")),
    };
    let stamp = Stamp::of(&meta);
    if let Some(c) = cached.filter(|c| c.stamp == stamp && c.parsed.kept == keep) {
        c.seen.set(epoch);
        return Outcome::Cached(c);
    }
    match fs::read(path) {
        Ok(bytes) => Outcome::Read(Box::new(Entry {
            stamp,
            parsed: guarded_parse(&bytes, keep),
            seen: cache::Seen::new(epoch),
        })),
        Err(e) => Outcome::Failed(format!("cannot read: {e}")),
    }
}

/// Parse a file's bytes; a panic inside the parser becomes a problem for that file alone.
fn guarded_parse(bytes: &[u8], keep: parse::Keep) -> ParsedFile {
    std::panic::catch_unwind(|| parse::parse_bytes(bytes, keep)).unwrap_or_else(|_| ParsedFile {
        events: Vec::new(),
        notes: Vec::new(),
        problems: vec!["internal error while parsing the file; skipped".into()],
        recovered: true,
        kept: keep,
    })
}

/// Map `f` over `items` on `available_parallelism()` scoped threads, keeping the order.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if workers <= 1 || items.len() < 64 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(workers);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| scope.spawn(move || c.iter().map(f).collect::<Vec<R>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for h in handles {
            match h.join() {
                Ok(mut v) => out.append(&mut v),
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        out
    })
}

/// Run `f` over `0..len` split into one contiguous range per core, on scoped threads; the results
/// in range order.
fn parallel_chunks<R: Send>(len: usize, f: impl Fn(std::ops::Range<usize>) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if workers <= 1 || len < 64 {
        return vec![f(0..len)];
    }
    let chunk = len.div_ceil(workers);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..len)
            .step_by(chunk)
            .map(|start| scope.spawn(move || f(start..(start + chunk).min(len))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_uids_into_file_names() {
        assert_eq!(sanitize("a/b\\c:d@x.org"), "a_b_c_d@x.org");
        assert_eq!(sanitize(".hidden"), "_.hidden");
        assert_eq!(sanitize(""), "_");
    }

    #[test]
    fn durations_format() {
        assert_eq!(format_duration(Duration::minutes(90)), "PT1H30M");
        assert_eq!(format_duration(Duration::zero()), "PT0S");
    }

    #[test]
    fn parallel_map_keeps_order() {
        let v: Vec<u32> = (0..1000).collect();
        assert_eq!(
            parallel_map(&v, |x| x * 2),
            v.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
    }
}
