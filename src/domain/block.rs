//! The managed block written into event descriptions: finding it, rendering it, and replacing it.
//! Architecture Invariant: text outside the `-- oneonone agenda --` / `-- end oneonone agenda --`
//! lines is never modified. A description whose markers are unbalanced or repeated is "damaged" and
//! is left alone (the caller reports it) rather than guessed at.
use chrono::{DateTime, Utc};

pub const BLOCK_START: &str = "-- oneonone agenda --";
pub const BLOCK_END: &str = "-- end oneonone agenda --";

/// Where the managed block is in a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockState {
    Absent,
    /// Byte range of the block, from the start of the start-marker line to the end of the end-marker
    /// line (excluding its line break).
    Present(std::ops::Range<usize>),
    Damaged(String),
}

/// Byte offsets of every line (start, end-without-newline) in `s`.
fn lines_with_offsets(s: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    for line in s.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        out.push((pos, pos + content.len()));
        pos += line.len();
    }
    out
}

/// Locate the managed block.
pub fn find_block(description: &str) -> BlockState {
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    for (a, b) in lines_with_offsets(description) {
        let line = description.get(a..b).unwrap_or("").trim();
        if line == BLOCK_START {
            starts.push((a, b));
        } else if line == BLOCK_END {
            ends.push((a, b));
        }
    }
    match (starts.as_slice(), ends.as_slice()) {
        ([], []) => BlockState::Absent,
        ([(s, _)], [(_, e)]) if s < e => BlockState::Present(*s..*e),
        ([_], []) => BlockState::Damaged(format!("\"{BLOCK_START}\" without \"{BLOCK_END}\"")),
        ([], [_]) => BlockState::Damaged(format!("\"{BLOCK_END}\" without \"{BLOCK_START}\"")),
        ([_], [_]) => BlockState::Damaged("agenda block markers are in the wrong order".into()),
        _ => BlockState::Damaged("more than one agenda block".into()),
    }
}

/// Put `block` (which includes both marker lines) into `description`: replace the existing block,
/// or append it after a blank line. Err(reason) when the existing block is damaged.
pub fn apply_block(description: &str, block: &str) -> Result<String, String> {
    match find_block(description) {
        BlockState::Present(range) => {
            let mut out = String::with_capacity(description.len() + block.len());
            out.push_str(description.get(..range.start).unwrap_or(""));
            out.push_str(block);
            out.push_str(description.get(range.end..).unwrap_or(""));
            Ok(out)
        }
        BlockState::Absent => {
            if description.trim().is_empty() {
                Ok(block.to_string())
            } else {
                let mut out = description.trim_end_matches(['\n', '\r', ' ']).to_string();
                out.push_str("\n\n");
                out.push_str(block);
                Ok(out)
            }
        }
        BlockState::Damaged(reason) => Err(reason),
    }
}

/// One carried-over item as shown in the invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockItem {
    pub text: String,
    pub action: bool,
    pub owner: Option<String>,
    pub origin_start: DateTime<Utc>,
    pub times_carried: u32,
}

/// Render the block: the agenda link and the items carried over from earlier meetings.
/// Deterministic for the same input, so an unchanged agenda never causes a write.
pub fn render_block(url: &str, items: &[BlockItem], tz: chrono_tz::Tz) -> String {
    let mut s = String::new();
    s.push_str(BLOCK_START);
    s.push('\n');
    s.push_str("Agenda for this 1:1: ");
    s.push_str(url);
    s.push('\n');
    if items.is_empty() {
        s.push_str("Nothing carried over from earlier 1:1s.\n");
    } else {
        s.push_str("Carried over from earlier 1:1s:\n");
        for it in items {
            let text: String = it.text.replace(['\n', '\r'], " ");
            let text = text.trim();
            s.push_str("- ");
            if it.action {
                s.push_str("[action] ");
            }
            s.push_str(text);
            if let Some(owner) = it.owner.as_deref().filter(|o| !o.trim().is_empty()) {
                s.push_str(" (owner: ");
                s.push_str(owner.trim());
                s.push(')');
            }
            let day = it.origin_start.with_timezone(&tz).format("%-d %b");
            s.push_str(&format!(" — from {day}"));
            if it.times_carried > 1 {
                s.push_str(&format!(", carried {}×", it.times_carried));
            }
            s.push('\n');
        }
    }
    s.push_str("Add talking points in the doc before the meeting; both of you can edit it.\n");
    s.push_str(BLOCK_END);
    s
}

/// The block a recurring series carries in its own description: the pair's stable link, which
/// always opens the agenda of the next meeting. It holds no items, so it changes only when the link
/// does.
pub fn render_series_block(pair_url: &str) -> String {
    format!(
        "{BLOCK_START}\nAgenda for your 1:1s: {pair_url}\n\
         It opens the agenda of your next 1:1; earlier ones are linked from there.\n\
         Add talking points before the meeting; both of you can edit it.\n{BLOCK_END}"
    )
}

/// The block of a single event on a provider whose writes notify attendees: written once, never
/// updated, so it carries the link only (the doc itself shows what carried over).
pub fn render_link_only_block(url: &str) -> String {
    format!(
        "{BLOCK_START}\nAgenda for this 1:1: {url}\n\
         Open it for the items carried over from earlier 1:1s, and add talking points before the \
         meeting; both of you can edit it.\n{BLOCK_END}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_blocks_are_well_formed() {
        for b in [
            render_series_block("https://x/p/t"),
            render_link_only_block("https://x/a/t"),
        ] {
            assert!(matches!(find_block(&b), BlockState::Present(r) if r == (0..b.len())));
            assert!(b.contains("https://x/"));
        }
    }

    fn block(body: &str) -> String {
        format!("{BLOCK_START}\n{body}\n{BLOCK_END}")
    }

    #[test]
    fn appends_after_user_text_and_replaces_in_place() {
        let user = "Dial-in: 123\nBring the roadmap.";
        let once = apply_block(user, &block("v1")).unwrap();
        assert_eq!(once, format!("{user}\n\n{}", block("v1")));
        let with_tail = format!("{once}\nPS: user text after");
        let twice = apply_block(&with_tail, &block("v2")).unwrap();
        assert_eq!(
            twice,
            format!("{user}\n\n{}\nPS: user text after", block("v2"))
        );
        // Idempotent.
        assert_eq!(apply_block(&twice, &block("v2")).unwrap(), twice);
    }

    #[test]
    fn empty_description_gets_only_the_block() {
        assert_eq!(apply_block("  \n", &block("x")).unwrap(), block("x"));
    }

    #[test]
    fn damaged_blocks_are_left_alone() {
        let only_start = format!("hello\n{BLOCK_START}\nstuff");
        assert!(apply_block(&only_start, &block("x")).is_err());
        let two = format!("{}\n{}", block("a"), block("b"));
        assert!(apply_block(&two, &block("x")).is_err());
        let reversed = format!("{BLOCK_END}\n{BLOCK_START}");
        assert!(apply_block(&reversed, &block("x")).is_err());
    }

    #[test]
    fn crlf_descriptions_keep_their_line_breaks_outside_the_block() {
        let desc = format!("a\r\n{}\r\nb", block("old"));
        let out = apply_block(&desc, &block("new")).unwrap();
        assert_eq!(out, format!("a\r\n{}\r\nb", block("new")));
    }

    #[test]
    fn renders_items_with_origin_and_count() {
        let t = DateTime::parse_from_rfc3339("2026-11-12T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let items = vec![
            BlockItem {
                text: "Promo packet\ndraft".into(),
                action: true,
                owner: Some("bob@acme.test".into()),
                origin_start: t,
                times_carried: 2,
            },
            BlockItem {
                text: "Conference budget".into(),
                action: false,
                owner: None,
                origin_start: t,
                times_carried: 1,
            },
        ];
        let out = render_block("http://h/a/tok", &items, chrono_tz::Europe::London);
        assert_eq!(
            out,
            "-- oneonone agenda --\nAgenda for this 1:1: http://h/a/tok\nCarried over from earlier 1:1s:\n\
- [action] Promo packet draft (owner: bob@acme.test) — from 12 Nov, carried 2×\n\
- Conference budget — from 12 Nov\n\
Add talking points in the doc before the meeting; both of you can edit it.\n-- end oneonone agenda --"
        );
        assert!(matches!(find_block(&out), BlockState::Present(r) if r == (0..out.len())));
    }
}
