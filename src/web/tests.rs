//! Unit tests of the web module's pure helpers and rendering.
use super::*;
use crate::domain::{Occurrence, OccurrenceStatus};
use chrono::TimeZone;

fn t(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0)
        .single()
        .unwrap_or_default()
}

#[test]
fn agenda_url_has_no_double_slash() {
    assert_eq!(agenda_url("http://h:1", "abc"), "http://h:1/a/abc");
    assert_eq!(agenda_url("http://h:1/", "abc"), "http://h:1/a/abc");
    assert_eq!(agenda_url("https://h/x//", "abc"), "https://h/x/a/abc");
}

#[test]
fn base_path_is_the_url_path() {
    for (url, want) in [
        ("http://h:8080", ""),
        ("http://h:8080/", ""),
        ("https://h/oneonone/", "/oneonone"),
        ("https://h/a/b?x=1", "/a/b"),
        ("/prefix", "/prefix"),
    ] {
        assert_eq!(base_path(url), want, "{url}");
    }
}

#[test]
fn sections_roundtrip_through_the_form_value() {
    for s in [
        Section::CheckIn,
        Section::ReportTopics,
        Section::ManagerTopics,
        Section::Growth,
        Section::Feedback,
        Section::ActionItems,
    ] {
        assert_eq!(parse_section(section_value(s)), Some(s));
    }
    assert_eq!(parse_section("Growth"), None);
    assert_eq!(parse_section(""), None);
}

#[test]
fn plausible_ids() {
    assert!(plausible_id("0123456789abcdef0123456789abcdef"));
    assert!(!plausible_id(""));
    assert!(!plausible_id("../etc"));
    assert!(!plausible_id(&"a".repeat(65)));
}

#[test]
fn length_is_counted_in_characters() {
    use super::handlers::{optional, required};
    let mut form = std::collections::HashMap::new();
    form.insert("text".to_string(), "é".repeat(MAX_TEXT_CHARS));
    assert!(required(&form, "text", MAX_TEXT_CHARS).is_ok());
    form.insert("text".to_string(), "é".repeat(MAX_TEXT_CHARS + 1));
    assert!(matches!(
        required(&form, "text", MAX_TEXT_CHARS),
        Err(WebError::BadRequest { field: "text", .. })
    ));
    form.insert("text".to_string(), "   ".into());
    assert!(required(&form, "text", MAX_TEXT_CHARS).is_err());
    assert_eq!(optional(&form, "text", 10).ok(), Some(None));
}

fn occ(n: u32, status: OccurrenceStatus) -> Occurrence {
    Occurrence {
        pair_id: "m~r".into(),
        account: "a".into(),
        meeting: format!("i{n}"),
        series: None,
        title: "Secret title".into(),
        start: t(n, 10),
        end: t(n, 10) + chrono::Duration::minutes(30),
        status,
        cancel_reason: (status == OccurrenceStatus::Cancelled).then(|| "declined by <r>".into()),
        last_seen: t(n, 10),
        one_on_one: true,
        seen_in: Vec::new(),
        agenda: None,
    }
}

#[test]
fn status_page_shows_timeline_findings_and_escapes() {
    let pair = Pair {
        id: "m~r".into(),
        manager: "m@x.org".into(),
        report: "r@x.org".into(),
        account: "local".into(),
        cadence: crate::domain::Cadence::Weeks(1),
        duration: chrono::Duration::minutes(30),
        enforce: crate::domain::Enforce::Warn,
        cancellations: crate::domain::CancellationPolicy {
            max_consecutive: 2,
            max_in_window: 3,
            window: chrono::Duration::weeks(8),
        },
        timezone: chrono_tz::UTC,
        working_hours: Default::default(),
    };
    let history: Vec<_> = (1..=20)
        .map(|n| {
            let s = if n % 5 == 0 {
                OccurrenceStatus::Cancelled
            } else if n < 15 {
                OccurrenceStatus::Held
            } else {
                OccurrenceStatus::Scheduled
            };
            occ(n, s)
        })
        .collect();
    let findings = vec![crate::domain::rules::ActiveFinding {
        pair_id: "m~r".into(),
        key: "k".into(),
        kind: "cancellations".into(),
        severity: "warning".into(),
        message: "2 cancelled <in a row>".into(),
        occurrence: None,
        first_seen: t(3, 0),
        notified_at: None,
        level: 2,
        notified_level: 0,
        details: Vec::new(),
    }];
    let html = pages::status(
        "",
        chrono_tz::Europe::Berlin,
        t(15, 0),
        &[pages::PairStatus {
            pair,
            findings,
            history,
        }],
    )
    .into_string();
    assert!(html.contains("m@x.org"));
    assert!(html.contains("weekly, 30 min"));
    assert!(html.contains("2 cancelled &lt;in a row&gt;"), "{html}");
    assert!(!html.contains("<in a row>"));
    // 12 past (3..=14) and 4 next (15..=18).
    assert_eq!(html.matches("class=\"occ ").count(), 16, "{html}");
    assert!(!html.contains(">2 Nov<"), "only the last 12 past ones");
    assert!(html.contains(">3 Nov<") && html.contains(">18 Nov<"));
    assert!(!html.contains(">19 Nov<"));
    assert!(html.contains("declined by &lt;r&gt;"));
    assert!(
        html.contains("Next: Monday 16 November 2026, 11:00–11:30 (Europe/Berlin)"),
        "{html}"
    );
    assert!(!html.contains("Secret title"), "no agenda or event content");
}
