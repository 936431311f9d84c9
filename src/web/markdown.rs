//! Shared meeting notes are Markdown (CommonMark with tables, strike-through and task lists),
//! rendered with `pulldown-cmark`: small, maintained, no dependencies of its own with the `html`
//! feature alone, and a pull parser whose events we can filter.
//!
//! Invariants: raw HTML never reaches the page — HTML blocks and inline HTML become text (escaped,
//! so `<script>` shows as typed); images become their alt text (the CSP allows no foreign images
//! anyway); links keep only `http:`, `https:` and `mailto:` destinations (and in-page `#…`), others
//! become plain text. Every other string is escaped by `push_html`.
use maud::{Markup, PreEscaped};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// Render Markdown `text` to safe HTML.
pub fn render(text: &str) -> Markup {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut skip_link_end = 0usize;
    let events = Parser::new_ext(text, options).filter_map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
        Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => None,
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            if safe_destination(&dest_url) {
                Some(Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    title,
                    id,
                }))
            } else {
                skip_link_end += 1;
                None
            }
        }
        Event::End(TagEnd::Link) if skip_link_end > 0 => {
            skip_link_end -= 1;
            None
        }
        other => Some(other),
    });
    let mut out = String::with_capacity(text.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut out, events);
    PreEscaped(out)
}

fn safe_destination(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("https://")
        || lower.starts_with("http://")
        || lower.starts_with("mailto:")
        || lower.starts_with('#')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(s: &str) -> String {
        render(s).into_string()
    }

    #[test]
    fn markdown_renders_but_raw_html_is_text() {
        assert_eq!(
            html("**bold** and _it_"),
            "<p><strong>bold</strong> and <em>it</em></p>\n"
        );
        let out = html("<script>alert(1)</script>\n\nhi <img src=x onerror=alert(1)>");
        assert!(!out.contains("<script") && !out.contains("<img"), "{out}");
        assert!(
            out.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{out}"
        );
        assert!(out.contains("&lt;img src=x onerror=alert(1)&gt;"), "{out}");
    }

    #[test]
    fn only_safe_links_and_no_images() {
        let out =
            html("[ok](https://x.example) [bad](javascript:alert(1)) ![alt](https://x/i.png)");
        assert!(
            out.contains("<a href=\"https://x.example\">ok</a>"),
            "{out}"
        );
        assert!(!out.contains("javascript:"), "{out}");
        assert!(out.contains("bad"), "the text stays: {out}");
        assert!(!out.contains("<img") && out.contains("alt"), "{out}");
        let attr = html("[x](https://a.example/\"onmouseover=alert(1))");
        assert!(!attr.contains("\"onmouseover"), "{attr}");
    }

    #[test]
    fn lists_tables_and_tasks() {
        let out = html("- [x] done\n- [ ] open\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
        assert!(out.contains("<table>") && out.contains("checkbox"), "{out}");
    }
}
