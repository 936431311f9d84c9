//! Text-level edits of `.ics` files: locate components and properties on the raw text (unfolding
//! only to look), replace or insert whole content lines, and keep every other byte as it was
//! (including the file's line endings and folding). Also TEXT escaping, 75-octet folding and the
//! atomic file replacement (temp file in the same directory, fsync, rename, fsync the directory).
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// One content line, possibly folded over several physical lines.
#[derive(Debug, Clone)]
pub(crate) struct Logical {
    /// Byte range in the file, including the final line ending.
    pub start: usize,
    pub end: usize,
    /// The unfolded content, without line ending.
    pub unfolded: String,
}

impl Logical {
    /// Upper-cased property name (text before the first `;` or `:`).
    pub(crate) fn name(&self) -> String {
        let end = self
            .unfolded
            .find([';', ':'])
            .unwrap_or(self.unfolded.len());
        self.unfolded[..end].trim().to_ascii_uppercase()
    }

    /// Everything before the value separator: `NAME;PARAM=…` (quotes respected).
    pub(crate) fn head(&self) -> &str {
        let mut in_quote = false;
        for (i, c) in self.unfolded.char_indices() {
            match c {
                '"' => in_quote = !in_quote,
                ':' if !in_quote => return &self.unfolded[..i],
                _ => {}
            }
        }
        &self.unfolded
    }

    /// The parameter part of the head, starting with `;` (or empty).
    pub(crate) fn params(&self) -> &str {
        let head = self.head();
        match head.find(';') {
            Some(i) => &head[i..],
            None => "",
        }
    }

    /// The raw (still escaped) value.
    pub(crate) fn value(&self) -> &str {
        let h = self.head().len();
        self.unfolded.get(h + 1..).unwrap_or("")
    }
}

/// A top-level VEVENT's position in the file.
#[derive(Debug, Clone)]
pub(crate) struct VeventSpan {
    /// Index of the `BEGIN:VEVENT` logical line.
    pub begin: usize,
    /// Index of the `END:VEVENT` logical line.
    pub end: usize,
    /// Logical lines that are the VEVENT's own properties (not those of nested components).
    pub props: Vec<usize>,
    /// Index of the first nested `BEGIN:` line, if any.
    pub first_nested: Option<usize>,
}

/// A file seen as logical lines.
pub(crate) struct Doc<'a> {
    pub text: &'a str,
    pub eol: &'static str,
    pub lines: Vec<Logical>,
}

impl<'a> Doc<'a> {
    pub(crate) fn new(text: &'a str) -> Doc<'a> {
        let eol = match text.find('\n') {
            Some(i) if i > 0 && text.as_bytes().get(i - 1) == Some(&b'\r') => "\r\n",
            _ => "\n",
        };
        let mut lines: Vec<Logical> = Vec::new();
        let mut pos = 0;
        for phys in text.split_inclusive('\n') {
            let start = pos;
            pos += phys.len();
            let content = phys
                .strip_suffix('\n')
                .map(|s| s.strip_suffix('\r').unwrap_or(s))
                .unwrap_or(phys);
            let continuation = content.starts_with(' ') || content.starts_with('\t');
            match lines.last_mut() {
                Some(last) if continuation => {
                    last.end = pos;
                    last.unfolded.push_str(&content[1..]);
                }
                _ => lines.push(Logical {
                    start,
                    end: pos,
                    unfolded: content.to_string(),
                }),
            }
        }
        Doc { text, eol, lines }
    }

    /// Top-level VEVENTs (children of VCALENDAR, or roots), in file order.
    pub(crate) fn vevents(&self) -> Vec<VeventSpan> {
        let mut out = Vec::new();
        let mut stack: Vec<String> = Vec::new();
        // The open VEVENT and the stack depth inside it.
        let mut cur: Option<(VeventSpan, usize)> = None;
        for (i, l) in self.lines.iter().enumerate() {
            let upper = l.unfolded.trim_end().to_ascii_uppercase();
            if let Some(name) = upper.strip_prefix("BEGIN:") {
                let top = stack.is_empty() || (stack.len() == 1 && stack[0] == "VCALENDAR");
                match cur.as_mut() {
                    None if name == "VEVENT" && top => {
                        let span = VeventSpan {
                            begin: i,
                            end: i,
                            props: Vec::new(),
                            first_nested: None,
                        };
                        cur = Some((span, stack.len() + 1));
                    }
                    Some((c, depth)) if stack.len() == *depth && c.first_nested.is_none() => {
                        c.first_nested = Some(i);
                    }
                    _ => {}
                }
                stack.push(name.to_string());
            } else if let Some(name) = upper.strip_prefix("END:") {
                if let Some((mut c, depth)) = cur.take() {
                    if stack.len() == depth && name == "VEVENT" {
                        c.end = i;
                        out.push(c);
                    } else {
                        cur = Some((c, depth));
                    }
                }
                if stack.last().is_some_and(|s| s == name) {
                    stack.pop();
                }
            } else if let Some((c, depth)) = cur.as_mut()
                && stack.len() == *depth
            {
                c.props.push(i);
            }
        }
        out
    }

    /// The first property of a VEVENT with this (upper-case) name.
    pub(crate) fn prop(&self, v: &VeventSpan, name: &str) -> Option<usize> {
        v.props
            .iter()
            .copied()
            .find(|&i| self.lines[i].name() == name)
    }

    /// Index of the last `END:VCALENDAR` line.
    pub(crate) fn end_vcalendar(&self) -> Option<usize> {
        self.lines
            .iter()
            .rposition(|l| l.unfolded.trim_end().eq_ignore_ascii_case("END:VCALENDAR"))
    }
}

/// Escape a TEXT value (RFC 5545 §3.3.11).
pub(crate) fn escape_text(s: &str) -> String {
    let s = s.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Reverse `escape_text` (also accepts `\N` and an escaped colon).
pub(crate) fn unescape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') | Some('N') => out.push('\n'),
            Some(c @ ('\\' | ',' | ';' | ':')) => out.push(c),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Fold a content line at 75 octets (never inside a UTF-8 character) and end it with `eol`.
pub(crate) fn fold(line: &str, eol: &str) -> String {
    let mut out = String::with_capacity(line.len() + line.len() / 70 * 3 + 2);
    let mut width = 0;
    let mut limit = 75;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > limit {
            out.push_str(eol);
            out.push(' ');
            width = 0;
            limit = 74;
        }
        out.push(c);
        width += n;
    }
    out.push_str(eol);
    out
}

/// A replacement of a byte range.
#[derive(Debug, Clone)]
pub(crate) struct Splice {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// Apply non-overlapping splices.
pub(crate) fn apply(text: &str, mut splices: Vec<Splice>) -> String {
    splices.sort_by_key(|s| (s.start, s.end));
    let mut out = String::with_capacity(text.len() + 256);
    let mut pos = 0;
    for s in splices {
        if s.start < pos {
            continue;
        }
        out.push_str(&text[pos..s.start]);
        out.push_str(&s.text);
        pos = s.end;
    }
    out.push_str(&text[pos..]);
    out
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replace (or create) `path` atomically with `content`, keeping an existing file's permissions.
/// `expect` is the (len, mtime) the caller read; if the file changed since, nothing is written.
pub(crate) fn write_atomically(
    path: &Path,
    content: &[u8],
    expect: Option<(u64, std::time::SystemTime)>,
) -> Result<(), WriteError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp: PathBuf = dir.join(format!(
        ".{name}.oneonone-{}-{}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(content)?;
        if let Ok(meta) = fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.sync_all()?;
        drop(f);
        if let Some((len, mtime)) = expect {
            let meta = fs::metadata(path)?;
            if meta.len() != len || meta.modified().ok() != Some(mtime) {
                return Err(std::io::Error::other(CHANGED));
            }
        }
        fs::rename(&tmp, path)?;
        if let Ok(d) = fs::File::open(dir) {
            d.sync_all()?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            if e.to_string() == CHANGED {
                Err(WriteError::Changed)
            } else {
                Err(WriteError::Io(e))
            }
        }
    }
}

const CHANGED: &str = "file changed while it was being rewritten";

#[derive(Debug)]
pub(crate) enum WriteError {
    Changed,
    Io(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_at_75_octets_without_splitting_characters() {
        let line = format!("DESCRIPTION:{}", "é".repeat(80));
        let folded = fold(&line, "\r\n");
        for phys in folded.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(phys.len() <= 75, "{} octets: {phys:?}", phys.len());
        }
        let unfolded = folded.replace("\r\n ", "");
        assert_eq!(unfolded, format!("{line}\r\n"));
        assert_eq!(fold("SHORT:x", "\n"), "SHORT:x\n");
    }

    #[test]
    fn escapes_text() {
        assert_eq!(escape_text("a,b;c\\d\r\ne"), "a\\,b\\;c\\\\d\\ne");
        for s in ["plain", "a,b;c\\d\ne", "trailing\\", "\\n literal"] {
            assert_eq!(unescape_text(&escape_text(s)), s);
        }
    }

    #[test]
    fn finds_vevents_and_their_own_properties() {
        let t = "BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:X\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:a\r\nDESCRIPTION:long\r\n  folded\r\nBEGIN:VALARM\r\nDESCRIPTION:alarm\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let d = Doc::new(t);
        assert_eq!(d.eol, "\r\n");
        let v = d.vevents();
        assert_eq!(v.len(), 1);
        let desc = d.prop(&v[0], "DESCRIPTION").unwrap();
        assert_eq!(d.lines[desc].unfolded, "DESCRIPTION:long folded");
        assert_eq!(
            &t[d.lines[desc].start..d.lines[desc].end],
            "DESCRIPTION:long\r\n  folded\r\n"
        );
        assert_eq!(v[0].props.len(), 2);
        assert_eq!(d.lines[v[0].first_nested.unwrap()].unfolded, "BEGIN:VALARM");
        assert_eq!(d.end_vcalendar(), Some(d.lines.len() - 1));
    }

    #[test]
    fn heads_params_and_values_respect_quotes() {
        let d = Doc::new("DTSTART;TZID=\"A:B\";X=1:20260101T100000\n");
        let l = &d.lines[0];
        assert_eq!(l.name(), "DTSTART");
        assert_eq!(l.params(), ";TZID=\"A:B\";X=1");
        assert_eq!(l.value(), "20260101T100000");
    }

    #[test]
    fn splices_apply_in_order() {
        let s = apply(
            "abcdef",
            vec![
                Splice {
                    start: 4,
                    end: 5,
                    text: "E".into(),
                },
                Splice {
                    start: 0,
                    end: 1,
                    text: "AA".into(),
                },
                Splice {
                    start: 2,
                    end: 2,
                    text: "+".into(),
                },
            ],
        );
        assert_eq!(s, "AAb+cdEf");
    }

    #[test]
    fn atomic_write_keeps_permissions_and_detects_changes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.ics");
        fs::write(&p, "old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        let m = fs::metadata(&p).unwrap();
        write_atomically(&p, b"new", Some((m.len(), m.modified().unwrap()))).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert!(matches!(
            write_atomically(&p, b"newer", Some((1, m.modified().unwrap()))),
            Err(WriteError::Changed)
        ));
        assert_eq!(fs::read_to_string(&p).unwrap(), "new");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "temp files left behind: {names:?}");
    }
}
