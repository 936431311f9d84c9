//! Outlook's HTML description (`X-ALT-DESC;FMTTYPE=text/html`), which Outlook shows instead of
//! `DESCRIPTION`. When a write changes `DESCRIPTION`, the HTML copy must not hide it: where the HTML
//! only mirrored the old text it is removed (Outlook then shows `DESCRIPTION`); where it holds more
//! (formatting, links, a Teams section), the managed block is merged into it as a self-contained
//! fragment between two HTML comments, replacing an earlier one, and nothing else changes.
use crate::domain::block::{BlockState, find_block};

/// The comments that delimit the managed block inside HTML.
const HTML_START: &str = "<!-- oneonone agenda -->";
const HTML_END: &str = "<!-- end oneonone agenda -->";

/// What to do with an event's HTML description when its plain description changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AltDesc {
    /// It only mirrored the old plain text: drop it.
    Remove,
    /// The new HTML (the block merged in).
    Replace(String),
    /// Leave it as it is.
    Keep,
}

/// Decide what becomes of `html` when the plain description goes from `old_plain` to `new_plain`.
pub(crate) fn update(html: &str, old_plain: &str, new_plain: &str) -> AltDesc {
    if normalize(&html_text(html)) == normalize(old_plain) {
        return AltDesc::Remove;
    }
    let fragment = match find_block(new_plain) {
        BlockState::Present(range) => new_plain.get(range).map(html_fragment),
        _ => None,
    };
    let merged = match (existing(html), fragment) {
        (Some(range), Some(f)) => splice(html, range, &f),
        (Some(range), None) => splice(html, range, ""),
        (None, Some(f)) => insert(html, &f),
        (None, None) => return AltDesc::Keep,
    };
    if merged == html {
        AltDesc::Keep
    } else {
        AltDesc::Replace(merged)
    }
}

/// The byte range of our fragment in `html`, comments included.
fn existing(html: &str) -> Option<std::ops::Range<usize>> {
    let start = html.find(HTML_START)?;
    let end = html[start..].find(HTML_END)? + start + HTML_END.len();
    Some(start..end)
}

fn splice(html: &str, range: std::ops::Range<usize>, with: &str) -> String {
    let mut out = String::with_capacity(html.len() + with.len());
    out.push_str(html.get(..range.start).unwrap_or(""));
    out.push_str(with);
    out.push_str(html.get(range.end..).unwrap_or(""));
    out
}

/// Insert before the last `</body>` (any case), or at the end.
fn insert(html: &str, fragment: &str) -> String {
    let lower = html.to_ascii_lowercase();
    match lower.rfind("</body>") {
        Some(i) => splice(html, i..i, fragment),
        None => format!("{html}{fragment}"),
    }
}

/// The block as HTML: one paragraph, a line each, links clickable, everything escaped.
fn html_fragment(block: &str) -> String {
    let lines: Vec<String> = block
        .lines()
        .map(|l| linkify(&escape(l.trim_end_matches('\r'))))
        .collect();
    format!("{HTML_START}<p>{}</p>{HTML_END}", lines.join("<br>"))
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Wrap `http(s)://…` runs (already escaped; they end at whitespace) in links.
fn linkify(escaped: &str) -> String {
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(i) = [rest.find("http://"), rest.find("https://")]
        .into_iter()
        .flatten()
        .min()
    {
        out.push_str(&rest[..i]);
        let len = rest[i..]
            .find(char::is_whitespace)
            .unwrap_or(rest.len() - i);
        let url = &rest[i..i + len];
        out.push_str(&format!("<a href=\"{url}\">{url}</a>"));
        rest = &rest[i + len..];
    }
    out.push_str(rest);
    out
}

/// The visible text of some HTML: tags dropped (a `<br>`, `</p>` or `</div>` is a line break),
/// `<style>`/`<head>` content dropped, the common entities decoded.
fn html_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let lower = html.to_ascii_lowercase();
    let mut offset = 0;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let after = &rest[lt..];
        let gt = after.find('>').map_or(after.len(), |g| g + 1);
        let tag = lower
            .get(offset + lt..offset + lt + gt)
            .unwrap_or("")
            .to_string();
        let mut skip = gt;
        for hidden in ["<style", "<head", "<script", "<!--"] {
            if tag.starts_with(hidden) {
                let close = match hidden {
                    "<!--" => "-->",
                    "<style" => "</style>",
                    "<head" => "</head>",
                    _ => "</script>",
                };
                skip = lower
                    .get(offset + lt..)
                    .and_then(|s| s.find(close))
                    .map_or(after.len(), |c| c + close.len());
            }
        }
        if tag.starts_with("<br") || tag.starts_with("</p") || tag.starts_with("</div") {
            out.push('\n');
        }
        offset += lt + skip;
        rest = html.get(offset..).unwrap_or("");
    }
    out.push_str(rest);
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Whitespace-insensitive form for comparing texts.
fn normalize(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: &str = "-- oneonone agenda --\nAgenda for this 1:1: https://x.test/a/t1\nNothing carried over.\n-- end oneonone agenda --";

    #[test]
    fn html_that_only_mirrored_the_old_text_is_removed() {
        let html = "<!DOCTYPE HTML><HTML><HEAD><META NAME=\"Generator\" CONTENT=\"MS Exchange\"><style>p{}</style></HEAD><BODY><P>Dial-in: 555 &amp; ext 1<BR>Bring the roadmap.</P></BODY></HTML>";
        let old = "Dial-in: 555 & ext 1\nBring the roadmap.";
        assert_eq!(
            update(html, old, &format!("{old}\n\n{BLOCK}")),
            AltDesc::Remove
        );
    }

    #[test]
    fn richer_html_gets_the_block_before_body_end_then_in_place() {
        let html = "<html><body><p><b>Join Microsoft Teams Meeting</b><br><a href=\"https://teams.example/l/1\">Click here to join</a></p></body></html>";
        let old = "Join the meeting";
        let AltDesc::Replace(once) = update(html, old, &format!("{old}\n\n{BLOCK}")) else {
            panic!("expected a merge")
        };
        assert!(
            once.starts_with("<html><body><p><b>Join Microsoft Teams Meeting</b>"),
            "{once}"
        );
        assert!(once.contains("Click here to join</a></p><!-- oneonone agenda --><p>-- oneonone agenda --<br>Agenda for this 1:1: <a href=\"https://x.test/a/t1\">https://x.test/a/t1</a><br>"), "{once}");
        assert!(
            once.ends_with("<!-- end oneonone agenda --></body></html>"),
            "{once}"
        );
        // Rewritten in place, never twice; unchanged → Keep.
        let newer = BLOCK.replace("t1", "t2");
        let AltDesc::Replace(twice) = update(&once, old, &format!("{old}\n\n{newer}")) else {
            panic!("expected a merge")
        };
        assert_eq!(twice.matches(HTML_START).count(), 1);
        assert!(twice.contains("/a/t2") && !twice.contains("/a/t1"));
        assert_eq!(
            update(&twice, old, &format!("{old}\n\n{newer}")),
            AltDesc::Keep
        );
    }

    #[test]
    fn user_text_in_the_block_is_escaped() {
        let block = "-- oneonone agenda --\n- <script>x</script> \"q\"\n-- end oneonone agenda --";
        let AltDesc::Replace(h) = update("<p>other</p>", "x", block) else {
            panic!("expected a merge")
        };
        assert!(
            h.contains("&lt;script&gt;x&lt;/script&gt; &quot;q&quot;"),
            "{h}"
        );
        assert!(!h.contains("<script>"));
    }
}
