//! Event bodies. Graph stores and returns HTML (a whole document: `<html><head>…</head><body>…`),
//! which Outlook and Teams reformat freely (Word's `<p class=MsoNormal>`, `<o:p>`, `&nbsp;`, styles,
//! the Teams join section). The planner works on plain text; this module turns HTML into the text
//! it sees ([`to_text`]: one line per block element, entities decoded, head/style/script and
//! comments dropped), renders the managed block as a self-contained HTML fragment
//! ([`block_fragment`]: one `<div>` per line, so the marker lines are lines of text whatever
//! element Outlook turns them into), and inserts that fragment into a body ([`insert_fragment`]:
//! just before `</body>`, every other byte unchanged).
//!
//! Invariant: a body is only ever changed by inserting one fragment; nothing outside it is touched,
//! so a Teams join section and everything a person wrote come through byte for byte.
use crate::domain::block::{BlockState, find_block};

/// Elements that start and end a line of text.
const BLOCK_TAGS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "caption",
    "center",
    "dd",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "html",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tbody",
    "tfoot",
    "thead",
    "tr",
    "ul",
];
/// Elements whose content is never text.
const SKIP_TAGS: &[&str] = &[
    "head", "style", "script", "title", "template", "noscript", "xml",
];

/// The plain text of an HTML body, as the planner sees it: one line per block element and `<br>`,
/// runs of white space (and `&nbsp;`) as one space, no trailing blanks, no trailing empty lines.
pub fn to_text(html: &str) -> String {
    let mut out = TextOut::default();
    let bytes = html.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'<') => i = markup(html, i, &mut out),
            Some(b'&') => i = entity(html, i, &mut out),
            _ => {
                let Some(c) = html.get(i..).and_then(|s| s.chars().next()) else {
                    break;
                };
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out.finish()
}

#[derive(Default)]
struct TextOut {
    lines: Vec<String>,
    cur: String,
    space: bool,
}

impl TextOut {
    fn push(&mut self, c: char) {
        if c.is_whitespace() || c == '\u{a0}' {
            self.space = true;
            return;
        }
        if self.space && !self.cur.is_empty() {
            self.cur.push(' ');
        }
        self.space = false;
        self.cur.push(c);
    }
    /// End the current line if it has text (block boundaries).
    fn soft_break(&mut self) {
        if !self.cur.is_empty() {
            self.lines.push(std::mem::take(&mut self.cur));
        }
        self.space = false;
    }
    /// End the current line even if empty (`<br>`).
    fn hard_break(&mut self) {
        self.lines.push(std::mem::take(&mut self.cur));
        self.space = false;
    }
    fn finish(mut self) -> String {
        self.soft_break();
        while self.lines.last().is_some_and(|l| l.is_empty()) {
            self.lines.pop();
        }
        let first = self.lines.iter().position(|l| !l.is_empty());
        self.lines
            .get(first.unwrap_or(self.lines.len())..)
            .unwrap_or_default()
            .join("\n")
    }
}

/// Byte index just after `needle` (ASCII, case-insensitive) at or after `from`, if found.
fn find_ci(hay: &str, from: usize, needle: &str) -> Option<usize> {
    let h = hay.as_bytes();
    let n = needle.as_bytes();
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (from..=h.len() - n.len())
        .find(|&k| {
            h.get(k..k + n.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(n))
        })
        .map(|k| k + n.len())
}

/// Handle the markup starting at `i` (a `<`); returns where text resumes.
fn markup(html: &str, i: usize, out: &mut TextOut) -> usize {
    let rest = html.get(i..).unwrap_or("");
    if rest.starts_with("<!--") {
        return find_ci(html, i + 4, "-->").unwrap_or(html.len());
    }
    if rest.starts_with("<![") {
        return find_ci(html, i + 3, "]>").unwrap_or(html.len());
    }
    if rest.starts_with("<!") || rest.starts_with("<?") {
        return tag_end(html, i + 2);
    }
    let closing = rest.starts_with("</");
    let name_start = i + if closing { 2 } else { 1 };
    let name: String = html
        .get(name_start..)
        .unwrap_or("")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '-')
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.push('<'); // a lone `<` in text
        return i + 1;
    }
    let end = tag_end(html, name_start + name.len());
    let lname = name.to_ascii_lowercase();
    if !closing && SKIP_TAGS.contains(&lname.as_str()) && !self_closing(html, i, end) {
        // Skip to the matching end tag; a `<head>` without one is ignored rather than eating the
        // whole body.
        match find_ci(html, end, &format!("</{lname}")) {
            Some(after) => return tag_end(html, after),
            None if lname == "head" => return end,
            None => return html.len(),
        }
    }
    match lname.as_str() {
        "br" => out.hard_break(),
        "td" | "th" if closing => out.space = true,
        l if BLOCK_TAGS.contains(&l) => out.soft_break(),
        _ => {}
    }
    end
}

fn self_closing(html: &str, start: usize, end: usize) -> bool {
    html.get(start..end)
        .is_some_and(|t| t.trim_end_matches('>').trim_end().ends_with('/'))
}

/// The index just after the `>` closing a tag whose attributes start at `from` (quotes respected).
fn tag_end(html: &str, from: usize) -> usize {
    let b = html.as_bytes();
    let mut k = from;
    let mut quote: Option<u8> = None;
    while let Some(&c) = b.get(k) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(c),
            (None, b'>') => return k + 1,
            _ => {}
        }
        k += 1;
    }
    html.len()
}

/// Decode the entity at `i` (a `&`) into `out`; returns where text resumes.
fn entity(html: &str, i: usize, out: &mut TextOut) -> usize {
    let rest = html.get(i + 1..).unwrap_or("");
    let Some(semi) = rest.get(..rest.len().min(12)).and_then(|s| s.find(';')) else {
        out.push('&');
        return i + 1;
    };
    let name = rest.get(..semi).unwrap_or("");
    let decoded = if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => num.parse::<u32>().ok(),
        };
        code.and_then(char::from_u32)
    } else {
        named_entity(name)
    };
    match decoded {
        Some(c) => {
            out.push(c);
            i + 1 + semi + 1
        }
        None => {
            out.push('&');
            i + 1
        }
    }
}

fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "bull" => '•',
        "middot" => '·',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "euro" => '€',
        "times" => '×',
        _ => return None,
    })
}

/// Escape text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One line of text as HTML, with its http(s) URLs as links.
fn linkified(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    loop {
        let at = [rest.find("https://"), rest.find("http://")]
            .into_iter()
            .flatten()
            .min();
        let Some(at) = at else { break };
        let (before, url_on) = rest.split_at(at);
        let end = url_on.find(char::is_whitespace).unwrap_or(url_on.len());
        let (url, after) = url_on.split_at(end);
        out.push_str(&escape(before));
        let url = escape(url);
        out.push_str(&format!("<a href=\"{url}\">{url}</a>"));
        rest = after;
    }
    out.push_str(&escape(rest));
    out
}

/// The managed block (its text, both marker lines included) as a self-contained HTML fragment: a
/// wrapper `<div>` holding one `<div>` per line, URLs as links.
pub fn block_fragment(block: &str) -> String {
    let mut out = String::from("<div class=\"oneonone-agenda\" style=\"margin-top:12pt\">\r\n");
    for line in block.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            out.push_str("<div><br></div>\r\n");
        } else {
            out.push_str(&format!("<div>{}</div>\r\n", linkified(line)));
        }
    }
    out.push_str("</div>\r\n");
    out
}

/// Insert `fragment` into `html` just before its `</body>` (after everything a person or Teams
/// wrote), or at its end when it is a fragment itself. Every other byte stays as it was.
pub fn insert_fragment(html: &str, fragment: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let at = lower.rfind("</body").unwrap_or(html.len());
    let (before, after) = html.split_at(at);
    let mut out = String::with_capacity(html.len() + fragment.len() + 2);
    out.push_str(before);
    if !before.is_empty() && !before.ends_with('\n') {
        out.push_str("\r\n");
    }
    out.push_str(fragment);
    out.push_str(after);
    out
}

/// A plain-text description as HTML (for a new event): its lines as `<div>`s, the managed block as
/// [`block_fragment`].
pub fn text_to_html(text: &str) -> String {
    let lines = |t: &str| -> String {
        t.lines()
            .map(|l| {
                let l = l.trim_end_matches('\r');
                if l.trim().is_empty() {
                    "<div><br></div>\r\n".to_string()
                } else {
                    format!("<div>{}</div>\r\n", linkified(l))
                }
            })
            .collect()
    };
    match find_block(text) {
        BlockState::Present(r) => {
            let before = text.get(..r.start).unwrap_or("").trim_end();
            let block = text.get(r.clone()).unwrap_or("");
            let after = text
                .get(r.end..)
                .unwrap_or("")
                .trim_start_matches(['\r', '\n']);
            format!("{}{}{}", lines(before), block_fragment(block), lines(after))
        }
        _ => lines(text),
    }
}

/// The block of a plain-text description and the text around it, white space normalised (for
/// comparing what a person wrote, which must never change).
pub fn split_block(text: &str) -> (Option<&str>, String) {
    match find_block(text) {
        BlockState::Present(r) => {
            let outside = format!(
                "{} {}",
                text.get(..r.start).unwrap_or(""),
                text.get(r.end..).unwrap_or("")
            );
            (text.get(r), normalise(&outside))
        }
        _ => (None, normalise(text)),
    }
}

/// White space runs as one space, trimmed.
pub fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::block::{BLOCK_END, BLOCK_START, render_series_block};

    const TEAMS: &str = include_str!("../../../tests/fixtures/msgraph/teams_invite.html");
    const WORD: &str = include_str!("../../../tests/fixtures/msgraph/outlook_desktop.html");
    const WORD_BLOCK: &str =
        include_str!("../../../tests/fixtures/msgraph/outlook_rewrote_block.html");

    #[test]
    fn text_has_a_line_per_block_and_no_markup() {
        let html = "<html>\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html\">\r\n<style><!-- p {margin:0} --></style></head>\r\n<body>\r\n<div>Hello&nbsp;&amp; welcome</div><div><br></div><p>Second   line<br>third</p><!-- a comment --><ul><li>one</li><li>two</li></ul>a&lt;b &#8212; &#x2713; &bogus; 3 < 4\r\n</body>\r\n</html>\r\n";
        assert_eq!(
            to_text(html),
            "Hello & welcome\n\nSecond line\nthird\none\ntwo\na<b — ✓ &bogus; 3 < 4"
        );
        assert_eq!(to_text(""), "");
        assert_eq!(to_text("plain <b>bold</b> text"), "plain bold text");
    }

    #[test]
    fn teams_and_outlook_bodies_read_as_their_text() {
        let t = to_text(TEAMS);
        assert!(t.starts_with("Weekly 1:1 — bring your topics."), "{t}");
        assert!(t.contains("\nMicrosoft Teams meeting\n"), "{t}");
        assert!(t.contains("Click here to join the meeting"), "{t}");
        assert!(!t.contains("<") && !t.contains("font-family"), "{t}");
        let w = to_text(WORD);
        assert!(w.starts_with("Hi Bob,\n"), "{w}");
        assert!(w.contains("Let’s go through the promo packet."), "{w}");
        assert!(!w.contains("MsoNormal") && !w.contains("@font-face"), "{w}");
    }

    #[test]
    fn the_fragment_reads_back_as_the_block_and_changes_nothing_else() {
        let block = render_series_block("https://agenda.example/p/abc?x=1&y=2");
        let frag = block_fragment(&block);
        for body in [TEAMS, WORD, "", "<p>just a fragment</p>"] {
            let merged = insert_fragment(body, &frag);
            // Everything else is byte-identical: the merge is one insertion.
            let at = merged.find(&frag).unwrap_or(usize::MAX);
            let rebuilt = format!(
                "{}{}",
                merged.get(..at).unwrap_or(""),
                merged.get(at + frag.len()..).unwrap_or("")
            );
            assert_eq!(rebuilt.replace("\r\n", ""), body.replace("\r\n", ""));
            let text = to_text(&merged);
            assert!(
                matches!(find_block(&text), BlockState::Present(_)),
                "{text}"
            );
            let (found, outside) = split_block(&text);
            assert_eq!(found.map(str::to_string), Some(block.clone()));
            assert_eq!(outside, normalise(&to_text(body)));
        }
        assert!(frag.contains("href=\"https://agenda.example/p/abc?x=1&amp;y=2\""));
        // The Teams join link survives byte for byte.
        let merged = insert_fragment(TEAMS, &frag);
        let join = TEAMS
            .find("<a href=\"https://teams.microsoft.com/l/meetup-join/")
            .and_then(|s| TEAMS.get(s..).and_then(|r| r.find("</a>").map(|e| &r[..e])))
            .unwrap_or("missing");
        assert!(join.len() > 50 && merged.contains(join));
    }

    #[test]
    fn a_block_outlook_rewrote_is_still_found() {
        let text = to_text(WORD_BLOCK);
        let BlockState::Present(r) = find_block(&text) else {
            panic!("not found in {text}");
        };
        let block = text.get(r).unwrap_or("");
        assert!(block.starts_with(BLOCK_START) && block.ends_with(BLOCK_END));
        assert!(block.contains("Agenda for your 1:1s: http://agenda.test/p/"));
    }

    #[test]
    fn descriptions_become_html_for_new_events() {
        let block = render_series_block("http://agenda.test/p/t");
        let html = text_to_html(&format!("Intro <b>\n\n{block}"));
        assert!(html.starts_with("<div>Intro &lt;b&gt;</div>"), "{html}");
        let text = to_text(&html);
        assert_eq!(split_block(&text).0.map(str::to_string), Some(block));
        assert_eq!(split_block(&text).1, "Intro <b>");
    }
}
