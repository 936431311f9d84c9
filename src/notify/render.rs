//! A [`Message`] in each channel's shape: a Slack incoming-webhook payload (Block Kit, within
//! Slack's documented limits), a Microsoft Teams Workflows payload (an Adaptive Card 1.4 in a
//! message envelope), our own JSON (the fields of the older webhook plus the message's), and an
//! email's subject and plain-text body. Pure.
use super::message::{Event, Message};
use serde_json::{Value, json};

/// Slack: a header, the body in one mrkdwn section (escaped), the pair and kind as context.
pub fn slack(m: &Message) -> Value {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": clip(&m.subject, 150), "emoji": false},
    })];
    let body = escape(&m.lines.join("\n"));
    if !body.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": clip(&body, 3000)},
        }));
    }
    if let Some(link) = &m.link {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("<{link}|Open the agenda>")},
        }));
    }
    let context = context_line(m);
    if !context.is_empty() {
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": clip(&escape(&context), 3000)}],
        }));
    }
    json!({"text": clip(&m.subject, 3000), "blocks": blocks})
}

/// Teams: an Adaptive Card (1.4, which Teams renders) in the envelope Workflows webhooks take.
pub fn teams(m: &Message) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock", "text": m.subject, "weight": "Bolder", "size": "Medium", "wrap": true,
    })];
    for line in &m.lines {
        body.push(json!({"type": "TextBlock", "text": line, "wrap": true}));
    }
    let mut facts = Vec::new();
    if let Some(p) = &m.pair {
        facts.push(json!({"title": "Pair", "value": p}));
    }
    if let Some(k) = &m.kind {
        facts.push(json!({"title": "Finding", "value": k}));
    }
    if let Some(s) = &m.severity {
        facts.push(json!({"title": "Severity", "value": s}));
    }
    if !facts.is_empty() {
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if let (Some(link), Some(obj)) = (&m.link, card.as_object_mut()) {
        obj.insert(
            "actions".into(),
            json!([{"type": "Action.OpenUrl", "title": "Open the agenda", "url": link}]),
        );
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

/// Our JSON: the older webhook's fields (`text`, `pair`, `kind`, `severity`, `message`,
/// `occurrence`) plus `event`, `key`, `subject`, `lines` and `link`.
pub fn json(m: &Message) -> Value {
    json!({
        "text": format!("oneonone: {}", m.subject),
        "event": event_name(m.event),
        "key": m.key,
        "subject": m.subject,
        "lines": m.lines,
        "pair": m.pair,
        "kind": m.kind,
        "severity": m.severity,
        "message": m.message,
        "occurrence": m.occurrence.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "link": m.link,
    })
}

/// An email's plain-text body.
pub fn email_body(m: &Message) -> String {
    let mut s = m.lines.join("\n");
    if let Some(link) = &m.link
        && !s.contains(link.as_str())
    {
        s.push_str(&format!("\n\n{link}"));
    }
    let context = context_line(m);
    if !context.is_empty() {
        s.push_str(&format!("\n\n-- \n{context}"));
    }
    s.push('\n');
    s
}

fn event_name(e: Event) -> &'static str {
    match e {
        Event::Finding => "finding",
        Event::Worse => "worse",
        Event::Resolved => "resolved",
        Event::Digest => "digest",
        Event::Nudge => "nudge",
    }
}

/// "pair · kind · severity", what of it there is.
fn context_line(m: &Message) -> String {
    [m.pair.as_deref(), m.kind.as_deref(), m.severity.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ")
}

/// At most `max` characters (an ellipsis marks a cut).
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
