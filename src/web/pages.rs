//! The HTML of the web pages (maud): the agenda doc, the status page and the error pages.
//! Pure rendering: no I/O, no clock (`now` is an argument); maud escapes every interpolated value.
use super::section_value;
use crate::domain::agenda::{DocItem, ItemKind, Section};
use crate::domain::rules::ActiveFinding;
use crate::domain::{Occurrence, OccurrenceStatus, Pair};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maud::{DOCTYPE, Markup, html};

/// How many past occurrences the status timeline shows.
const PAST_SHOWN: usize = 12;
/// How many upcoming occurrences the status timeline shows.
const NEXT_SHOWN: usize = 4;

fn layout(base: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) }
                link rel="stylesheet" href={ (base) "/static/app.css" };
            }
            body {
                main { (body) }
            }
        }
    }
}

pub(super) fn not_found(base: &str) -> Markup {
    layout(
        base,
        "Not found · oneonone",
        html! {
            h1 { "Not found" }
            p { "There is no agenda at this address. Check the link in your calendar invite." }
        },
    )
}

pub(super) fn bad_request(base: &str, field: &str, message: &str) -> Markup {
    layout(
        base,
        "Invalid input · oneonone",
        html! {
            h1 { "That did not work" }
            p.error { "Field " code { (field) } ": " (message) "." }
            p { "Go back, correct it and try again." }
        },
    )
}

pub(super) fn internal(base: &str) -> Markup {
    layout(
        base,
        "Error · oneonone",
        html! {
            h1 { "Something went wrong" }
            p { "The server could not complete this request. Nothing was lost; please try again." }
        },
    )
}

/// Everything the agenda page shows.
pub(super) struct DocView<'a> {
    pub base: String,
    pub token: &'a str,
    pub manager: &'a str,
    pub report: &'a str,
    pub tz: Tz,
    /// The occurrence's current start.
    pub start: DateTime<Utc>,
    /// The occurrence's history record, if the store has one (title, end, status).
    pub occurrence: Option<&'a Occurrence>,
    pub items: &'a [DocItem<'a>],
    /// The pair's history: its other meetings' docs are linked from this one.
    pub history: &'a [Occurrence],
}

/// How many other meetings' docs a doc links to.
const OTHER_DOCS_SHOWN: usize = 12;

/// Links to the docs of the pair's other meetings (most recent first).
fn other_docs(base: &str, tz: Tz, history: &[Occurrence], this: Option<&str>) -> Markup {
    let docs: Vec<(&Occurrence, &str)> = history
        .iter()
        .rev()
        .filter_map(|o| Some((o, o.agenda.as_deref()?)))
        .filter(|(o, _)| Some(o.meeting.as_str()) != this)
        .take(OTHER_DOCS_SHOWN)
        .collect();
    html! {
        @if !docs.is_empty() {
            nav.history {
                h2 { "Other meetings" }
                ul {
                    @for (o, token) in docs {
                        li {
                            a href={ (base) "/a/" (token) } { (day(tz, o.start)) }
                            " · " (o.status.as_str())
                        }
                    }
                }
            }
        }
    }
}

/// The pair's stable link when no upcoming meeting has a doc yet.
pub(super) fn pair_without_next(
    base: &str,
    tz: Tz,
    manager: &str,
    report: &str,
    history: &[Occurrence],
) -> Markup {
    layout(
        base,
        "1:1 agenda",
        html! {
            header.doc {
                p.kicker { "1:1 agenda" }
                h1 { (manager) " · " (report) }
            }
            p { "No upcoming 1:1 is on the calendar yet. When one is, this link opens its agenda." }
            (other_docs(base, tz, history, None))
        },
    )
}

const SECTIONS: [Section; 6] = [
    Section::CheckIn,
    Section::ReportTopics,
    Section::ManagerTopics,
    Section::Growth,
    Section::Feedback,
    Section::ActionItems,
];

fn section_title(s: Section, v: &DocView<'_>) -> String {
    match s {
        Section::CheckIn => "Check-in".into(),
        Section::ReportTopics => format!("{}’s topics", v.report),
        Section::ManagerTopics => format!("{}’s topics", v.manager),
        Section::Growth => "Growth and career".into(),
        Section::Feedback => "Feedback, both ways".into(),
        Section::ActionItems => "Action items".into(),
    }
}

fn section_prompt(s: Section) -> &'static str {
    match s {
        Section::CheckIn => {
            "How are you, really? Energy, workload, anything outside work that matters this week."
        }
        Section::ReportTopics => {
            "The report’s topics come first: what is on your mind, what is blocking you."
        }
        Section::ManagerTopics => "Context, news and questions from the manager.",
        Section::Growth => "Skills, goals and the next step: development, not status updates.",
        Section::Feedback => "What is going well, what could be better: in both directions.",
        Section::ActionItems => {
            "Who does what by when. Open items carry over to the next 1:1 until done."
        }
    }
}

fn day(tz: Tz, t: DateTime<Utc>) -> String {
    t.with_timezone(&tz).format("%a %-d %b %Y").to_string()
}

fn when(tz: Tz, start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> String {
    let s = start.with_timezone(&tz);
    let mut out = s.format("%A %-d %B %Y, %H:%M").to_string();
    if let Some(end) = end {
        out.push_str(&end.with_timezone(&tz).format("–%H:%M").to_string());
    }
    out.push_str(&format!(" ({tz})"));
    out
}

pub(super) fn doc(v: &DocView<'_>) -> Markup {
    let title = v
        .occurrence
        .map(|o| o.title.trim())
        .filter(|t| !t.is_empty())
        .unwrap_or("1:1");
    let items_url = format!("{}/a/{}/items", v.base, v.token);
    let cancelled = v
        .occurrence
        .is_some_and(|o| o.status == OccurrenceStatus::Cancelled);
    let body = html! {
        header.doc {
            p.kicker { "1:1 agenda" }
            h1 { (title) }
            p.people { (v.manager) " · " (v.report) }
            p.when { (when(v.tz, v.start, v.occurrence.map(|o| o.end))) }
            @if cancelled {
                p.notice { "This meeting was cancelled. Its open items carry over to the next 1:1." }
            }
        }
        @for s in SECTIONS {
            @let in_section: Vec<&DocItem<'_>> = v.items.iter().filter(|d| d.item.section == s).collect();
            section.agenda id=(section_value(s)) {
                h2 { (section_title(s, v)) }
                p.prompt { (section_prompt(s)) }
                @if in_section.is_empty() {
                    p.empty { "Nothing yet." }
                } @else {
                    ul.items {
                        @for d in in_section { (item_row(v, d)) }
                    }
                }
            }
        }
        section.add {
            h2 { "Add a talking point" }
            form method="post" action=(items_url) {
                input type="hidden" name="kind" value="talking_point";
                label for="tp-section" { "Section" }
                select id="tp-section" name="section" {
                    @for s in SECTIONS {
                        @if s != Section::ActionItems {
                            option value=(section_value(s)) selected[s == Section::ReportTopics] { (section_title(s, v)) }
                        }
                    }
                }
                label for="tp-text" { "Talking point" }
                textarea id="tp-text" name="text" rows="3" maxlength="2000" required {}
                label for="tp-author" { "Your name (optional)" }
                input id="tp-author" type="text" name="author" maxlength="200";
                button type="submit" { "Add talking point" }
            }
            h2 { "Add an action item" }
            form method="post" action=(items_url) {
                input type="hidden" name="kind" value="action_item";
                label for="ai-text" { "Action item" }
                textarea id="ai-text" name="text" rows="2" maxlength="2000" required {}
                label for="ai-owner" { "Owner" }
                input id="ai-owner" type="text" name="owner" maxlength="200" required;
                label for="ai-author" { "Your name (optional)" }
                input id="ai-author" type="text" name="author" maxlength="200";
                button type="submit" { "Add action item" }
            }
        }
        (other_docs(&v.base, v.tz, v.history, v.occurrence.map(|o| o.meeting.as_str())))
        footer {
            p { "This agenda is private to the two of you: anyone with this link can read and edit it, so do not forward it." }
        }
    };
    layout(&v.base, &format!("{title} · agenda"), body)
}

fn item_row(v: &DocView<'_>, d: &DocItem<'_>) -> Markup {
    let item = d.item;
    let action = if d.done_here { "reopen" } else { "done" };
    let url = format!("{}/a/{}/items/{}/{}", v.base, v.token, item.id, action);
    html! {
        li.item.done[d.done_here] {
            span.mark aria-hidden="true" { @if d.done_here { "☑" } @else { "☐" } }
            div.body {
                p.text { (item.text) }
                p.meta {
                    @if item.kind == ItemKind::ActionItem {
                        @if let Some(owner) = &item.owner { span.owner { "Owner: " (owner) } }
                    }
                    @if let Some(author) = &item.author { span { "added by " (author) } }
                    @if d.carried_over {
                        span.carried {
                            "carried over from " (day(v.tz, item.origin_start))
                            " · carried " (d.times_carried) "×"
                        }
                    }
                    @if d.done_here { span.donenote { "done" } }
                }
            }
            form.tick method="post" action=(url) {
                button type="submit" {
                    @if d.done_here { "Reopen" } @else { "Mark done" }
                }
            }
        }
    }
}

/// One pair on the status page.
pub(super) struct PairStatus {
    pub pair: Pair,
    pub findings: Vec<ActiveFinding>,
    pub history: Vec<Occurrence>,
}

fn status_class(s: OccurrenceStatus) -> &'static str {
    match s {
        OccurrenceStatus::Held => "held",
        OccurrenceStatus::Cancelled => "cancelled",
        OccurrenceStatus::Scheduled => "scheduled",
    }
}

fn minutes(d: chrono::Duration) -> i64 {
    d.num_minutes()
}

pub(super) fn status(base: &str, tz: Tz, now: DateTime<Utc>, pairs: &[PairStatus]) -> Markup {
    let body = html! {
        header.doc {
            p.kicker { "oneonone" }
            h1 { "Status of every 1:1" }
            p.when { "As of " (now.with_timezone(&tz).format("%A %-d %B %Y, %H:%M")) " (" (tz) ")" }
        }
        p.legend {
            span.dot.held {} " held "
            span.dot.cancelled {} " cancelled or declined "
            span.dot.scheduled {} " scheduled"
        }
        @if pairs.is_empty() {
            p.empty { "No pairs are configured." }
        }
        @for p in pairs {
            @let past: Vec<&Occurrence> = {
                let before: Vec<&Occurrence> = p.history.iter().filter(|o| o.start < now).collect();
                let skip = before.len().saturating_sub(PAST_SHOWN);
                before.into_iter().skip(skip).collect()
            };
            @let future: Vec<&Occurrence> = p.history.iter()
                .filter(|o| o.start >= now).take(NEXT_SHOWN).collect();
            @let next = p.history.iter()
                .find(|o| o.start >= now && o.status != OccurrenceStatus::Cancelled);
            section.pair {
                h2 { (p.pair.manager) " · " (p.pair.report) }
                p.meta {
                    (p.pair.cadence) ", " (minutes(p.pair.duration)) " min"
                    " · account " (p.pair.account)
                    " · " (match p.pair.enforce { crate::domain::Enforce::Warn => "warn only", crate::domain::Enforce::Fix => "fix" })
                }
                @if p.findings.is_empty() {
                    p.ok { "No active findings." }
                } @else {
                    ul.findings {
                        @for f in &p.findings {
                            li class={ "finding " (f.severity) } {
                                span.severity { (f.severity) }
                                " " (f.message)
                                span.since { " since " (day(tz, f.first_seen)) }
                            }
                        }
                    }
                }
                @if past.is_empty() && future.is_empty() {
                    p.empty { "No 1:1 seen yet." }
                } @else {
                    ol.timeline {
                        @for o in past.iter().chain(future.iter()) {
                            @let class = status_class(o.status);
                            @let label = match (&o.cancel_reason, o.status) {
                                (Some(r), OccurrenceStatus::Cancelled) => format!("{class}: {r}"),
                                _ => class.to_string(),
                            };
                            li class={ "occ " (class) @if o.start >= now { " future" } } title=(label) {
                                span.dot {}
                                span.date { (o.start.with_timezone(&tz).format("%-d %b")) }
                                span.sr { (label) }
                            }
                        }
                    }
                }
                @if let Some(n) = next {
                    p.next { "Next: " (when(tz, n.start, Some(n.end))) }
                } @else {
                    p.next.warn { "No upcoming 1:1 on the calendar." }
                }
            }
        }
    };
    layout(base, "oneonone status", body)
}
