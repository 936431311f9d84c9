//! The HTML of the web pages (maud): the pair's page (the next meeting's agenda, goals and the
//! history of earlier meetings), one meeting's agenda doc, the conflict and error pages, and the
//! admin status page. Pure rendering: no I/O, no clock (`now` is an argument); maud escapes every
//! interpolated value, and notes go through `markdown::render` (raw HTML becomes text).
//!
//! Every form works without JavaScript (POST, then 303 back). Parts of the page the script may
//! refresh in place carry `data-part` and `data-v` (a hash of their HTML): the script replaces a
//! part only when its hash changed and nobody is typing in it.
use super::auth::Who;
use super::markdown;
use super::section_value;
use crate::domain::agenda::{DocItem, ItemKind, Section};
use crate::domain::goals::{DocGoal, Goal};
use crate::domain::notes::{PrivateNote, SharedNotes};
use crate::domain::rules::ActiveFinding;
use crate::domain::{Occurrence, OccurrenceStatus, Pair};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// How many past occurrences the status timeline shows.
const PAST_SHOWN: usize = 12;
/// How many upcoming occurrences the status timeline shows.
const NEXT_SHOWN: usize = 4;
/// How many other meetings' docs a doc links to.
const OTHER_DOCS_SHOWN: usize = 12;

fn layout(base: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                meta name="color-scheme" content="light dark";
                title { (title) }
                link rel="stylesheet" href={ (base) "/static/app.css" };
                script src={ (base) "/static/app.js" } defer {}
            }
            body {
                a.skip href="#main" { "Skip to the agenda" }
                main id="main" { (body) }
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
            p.error role="alert" { "Field " code { (field) } ": " (message) "." }
            p { "Go back, correct it and try again. Nothing you typed was saved." }
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

pub(super) fn message(base: &str, title: &str, text: &str, link: Option<(&str, &str)>) -> Markup {
    layout(
        base,
        &format!("{title} · oneonone"),
        html! {
            h1 { (title) }
            p role="alert" { (text) }
            @if let Some((href, label)) = link { p { a href=(href) { (label) } } }
        },
    )
}

/// A signed-in person who is not one of the pair.
pub(super) fn forbidden(base: &str, email: &str, signout_csrf: &str) -> Markup {
    layout(
        base,
        "Not your 1:1 · oneonone",
        html! {
            h1 { "This agenda is not yours" }
            p role="alert" {
                "You are signed in as " strong { (email) } ". A 1:1 agenda is private to its two people, "
                "and you are not one of them."
            }
            form method="post" action={ (base) "/signout" } {
                input type="hidden" name="csrf" value=(signout_csrf);
                button type="submit" { "Sign out" }
            }
        },
    )
}

/// What the page says about signing in.
pub(super) enum SignInBox {
    /// Sign-in is not configured on this server.
    Off,
    /// Configured; not signed in. The URL starts it.
    Offer(String),
    /// Signed in as this email (one of the pair); the sign-out form's CSRF token.
    On { email: String, signout_csrf: String },
}

/// What every agenda page shares.
pub(super) struct Page<'a> {
    pub base: &'a str,
    pub tz: Tz,
    pub manager: &'a str,
    pub report: &'a str,
    pub csrf: &'a str,
    pub who: &'a Who,
    pub sign_in: SignInBox,
    /// The pair's stable link token (for links to the pair's page and the export).
    pub pair_token: Option<&'a str>,
    /// The pair's agenda revision, and where the script asks for the current one.
    pub rev: u64,
    pub rev_url: String,
}

/// One meeting's agenda, as shown (and edited) on the pair's page or its own doc.
pub(super) struct Meeting<'a> {
    pub doc_token: &'a str,
    pub meeting: &'a str,
    pub start: DateTime<Utc>,
    pub occurrence: Option<&'a Occurrence>,
    pub items: &'a [DocItem<'a>],
    pub goals: &'a [DocGoal<'a>],
    pub notes: Option<&'a SharedNotes>,
    pub private: Option<&'a PrivateNote>,
    /// Where the forms come back to: "pair" or "doc".
    pub back: &'static str,
}

/// One earlier meeting in the pair's history.
pub(super) struct Past<'a> {
    pub occurrence: &'a Occurrence,
    pub items: Vec<DocItem<'a>>,
    pub goals: Vec<DocGoal<'a>>,
    pub notes: Option<&'a SharedNotes>,
    pub private: Option<&'a PrivateNote>,
}

const SECTIONS: [Section; 6] = [
    Section::CheckIn,
    Section::ReportTopics,
    Section::ManagerTopics,
    Section::Growth,
    Section::Feedback,
    Section::ActionItems,
];

fn section_title(s: Section, p: &Page<'_>) -> String {
    match s {
        Section::CheckIn => "Check-in".into(),
        Section::ReportTopics => format!("{}’s topics", p.report),
        Section::ManagerTopics => format!("{}’s topics", p.manager),
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

/// A part the script may refresh: its content, wrapped with a hash of it.
fn part(name: &str, content: Markup) -> Markup {
    let html = content.into_string();
    let v = crate::domain::hash::fnv1a64(html.as_bytes());
    html! { div.part data-part=(name) data-v=(format!("{v:016x}")) { (PreEscaped(html)) } }
}

fn hidden(p: &Page<'_>, m: &Meeting<'_>) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(p.csrf);
        input type="hidden" name="back" value=(m.back);
    }
}

fn doc_url(p: &Page<'_>, m: &Meeting<'_>) -> String {
    format!("{}/a/{}", p.base, m.doc_token)
}

/// The header of a page: who, and the sign-in box.
fn people_bar(p: &Page<'_>) -> Markup {
    html! {
        div.bar {
            span.people { (p.manager) " · " (p.report) }
            @match &p.sign_in {
                SignInBox::Off => {}
                SignInBox::Offer(url) => { a.signin href=(url) { "Sign in" } }
                SignInBox::On { email, signout_csrf } => {
                    span.signedin {
                        "Signed in as " (email) " · "
                        form.inline method="post" action={ (p.base) "/signout" } {
                            input type="hidden" name="csrf" value=(signout_csrf);
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
            }
        }
    }
}

fn item_meta(p: &Page<'_>, d: &DocItem<'_>) -> Markup {
    let item = d.item;
    html! {
        p.meta {
            @if item.kind == ItemKind::ActionItem {
                @if let Some(owner) = &item.owner { span.owner { "Owner: " (owner) } }
                @if let Some(due) = item.due { span.due { "due " (due.format("%a %-d %b %Y")) } }
            }
            @if let Some(author) = &item.author { span { "added by " (author) } }
            @if d.carried_over {
                span.carried {
                    "carried over from " (day(p.tz, item.origin_start))
                    " · carried " (d.times_carried) "×"
                }
            }
            @if d.deferred_here { span.deferred { "deferred to the next 1:1" } }
            @if d.dropped_here() {
                span.dropped { "dropped: " (item.drop_reason.as_deref().unwrap_or("")) }
            } @else if d.done_here {
                span.donenote {
                    "done"
                    @if let Some(by) = &item.done_by { " by " (by) }
                    @if let Some(at) = item.done_at { " on " (day(p.tz, at)) }
                }
            }
        }
    }
}

/// An editable item row.
fn item_row(p: &Page<'_>, m: &Meeting<'_>, d: &DocItem<'_>) -> Markup {
    let item = d.item;
    let url = format!("{}/items/{}", doc_url(p, m), item.id);
    let (action, label) = if d.done_here {
        ("reopen", "Reopen")
    } else {
        ("done", "Mark done")
    };
    let is_action = item.kind == ItemKind::ActionItem;
    html! {
        li.item.done[d.done_here].deferred[d.deferred_here] id={ "item-" (item.id) } data-version=(item.version) {
            form.tick method="post" action={ (url) "/" (action) } {
                (hidden(p, m))
                button type="submit" aria-label={ (label) ": " (item.text) } {
                    @if d.done_here { "☑" } @else { "☐" }
                    span.sr { (label) }
                }
            }
            div.body {
                p.text { (item.text) }
                (item_meta(p, d))
                details.more {
                    summary { "Edit" span.sr { ": " (item.text) } }
                    form.edit method="post" action={ (url) "/edit" } {
                        (hidden(p, m))
                        input type="hidden" name="version" value=(item.version);
                        input type="hidden" name="base_text" value=(item.text);
                        input type="hidden" name="base_owner" value=(item.owner.as_deref().unwrap_or(""));
                        input type="hidden" name="base_due" value=(item.due.map(|d| d.to_string()).unwrap_or_default());
                        input type="hidden" name="base_section" value=(section_value(item.section));
                        label for={ "text-" (item.id) } { "Text" }
                        textarea id={ "text-" (item.id) } name="text" rows="3" maxlength="2000" required { (item.text) }
                        @if is_action {
                            label for={ "owner-" (item.id) } { "Owner" }
                            input id={ "owner-" (item.id) } type="text" name="owner" maxlength="200" required value=(item.owner.as_deref().unwrap_or(""));
                            label for={ "due-" (item.id) } { "Due (optional)" }
                            input id={ "due-" (item.id) } type="date" name="due" value=(item.due.map(|d| d.to_string()).unwrap_or_default());
                            input type="hidden" name="section" value="action_items";
                        } @else {
                            label for={ "section-" (item.id) } { "Section" }
                            select id={ "section-" (item.id) } name="section" {
                                @for s in SECTIONS {
                                    @if s != Section::ActionItems {
                                        option value=(section_value(s)) selected[s == item.section] { (section_title(s, p)) }
                                    }
                                }
                            }
                        }
                        button type="submit" { "Save" }
                    }
                    div.actions {
                        form.inline method="post" action={ (url) "/up" } { (hidden(p, m)) button.small type="submit" { "Move up" } }
                        form.inline method="post" action={ (url) "/down" } { (hidden(p, m)) button.small type="submit" { "Move down" } }
                        @if d.open_here() {
                            form.inline method="post" action={ (url) "/defer" } { (hidden(p, m)) button.small type="submit" { "Defer to next 1:1" } }
                        } @else if d.deferred_here {
                            form.inline method="post" action={ (url) "/reopen" } { (hidden(p, m)) button.small type="submit" { "Undo defer" } }
                        }
                        form.inline method="post" action={ (url) "/delete" } {
                            (hidden(p, m))
                            input type="hidden" name="version" value=(item.version);
                            button.small.danger type="submit" { "Delete" }
                        }
                    }
                    @if !d.done_here {
                        form.drop method="post" action={ (url) "/drop" } {
                            (hidden(p, m))
                            label for={ "reason-" (item.id) } { "Drop it, because…" }
                            input id={ "reason-" (item.id) } type="text" name="reason" maxlength="500" required;
                            button.small type="submit" { "Drop" }
                        }
                    }
                }
            }
        }
    }
}

/// A read-only item row (history): what became of it after that meeting, too.
fn item_row_ro(p: &Page<'_>, d: &DocItem<'_>) -> Markup {
    let later = match (&d.item.done_in, d.item.done_at) {
        _ if d.done_here || d.deferred_here => None,
        (Some(_), Some(at)) if d.item.drop_reason.is_some() => {
            Some(format!("dropped later, on {}", day(p.tz, at)))
        }
        (Some(_), Some(at)) => Some(format!("done later, on {}", day(p.tz, at))),
        _ => Some("still open: carried to the next 1:1".to_string()),
    };
    html! {
        li.item.done[d.done_here].deferred[d.deferred_here] {
            span.mark aria-hidden="true" { @if d.done_here { "☑" } @else { "☐" } }
            div.body {
                p.text { (d.item.text) }
                (item_meta(p, d))
                @if let Some(l) = later { p.meta.later { (l) } }
            }
        }
    }
}

fn add_forms(p: &Page<'_>, m: &Meeting<'_>) -> Markup {
    let items_url = format!("{}/items", doc_url(p, m));
    let anonymous = *p.who == Who::Link;
    html! {
        section.add id="add" {
            h2 { "Add a talking point" }
            form method="post" action=(items_url) {
                (hidden(p, m))
                input type="hidden" name="kind" value="talking_point";
                label for="tp-section" { "Section" }
                select id="tp-section" name="section" {
                    @for s in SECTIONS {
                        @if s != Section::ActionItems {
                            option value=(section_value(s)) selected[s == Section::ReportTopics] { (section_title(s, p)) }
                        }
                    }
                }
                label for="tp-text" { "Talking point" }
                textarea id="tp-text" name="text" rows="3" maxlength="2000" required {}
                @if anonymous {
                    label for="tp-author" { "Your name (optional)" }
                    input id="tp-author" type="text" name="author" maxlength="200";
                }
                button type="submit" { "Add talking point" }
            }
            h2 { "Add an action item" }
            form method="post" action=(items_url) {
                (hidden(p, m))
                input type="hidden" name="kind" value="action_item";
                label for="ai-text" { "Action item" }
                textarea id="ai-text" name="text" rows="2" maxlength="2000" required {}
                label for="ai-owner" { "Owner" }
                input id="ai-owner" type="text" name="owner" maxlength="200" required;
                label for="ai-due" { "Due (optional)" }
                input id="ai-due" type="date" name="due";
                @if anonymous {
                    label for="ai-author" { "Your name (optional)" }
                    input id="ai-author" type="text" name="author" maxlength="200";
                }
                button type="submit" { "Add action item" }
            }
        }
    }
}

fn goal_block(p: &Page<'_>, m: &Meeting<'_>, g: &DocGoal<'_>) -> Markup {
    let goal = g.goal;
    let url = format!("{}/goals/{}", doc_url(p, m), goal.id);
    html! {
        li.goal.closed[g.closed_here] id={ "goal-" (goal.id) } {
            h3 { (goal.title) @if g.closed_here { " (closed)" } }
            @if !goal.next_step.trim().is_empty() { p.next { "Next step: " (goal.next_step) } }
            @if !goal.progress.is_empty() {
                ul.progress {
                    @for pr in goal.progress.iter().rev() {
                        li.here[pr.meeting == m.meeting] {
                            span.when { (day(p.tz, pr.start)) } " " (pr.text)
                            @if let Some(a) = &pr.author { span.meta { " — " (a) } }
                        }
                    }
                }
            }
            @if !g.closed_here {
                form.progress method="post" action={ (url) "/progress" } {
                    (hidden(p, m))
                    label for={ "progress-" (goal.id) } { "Progress this meeting" }
                    textarea id={ "progress-" (goal.id) } name="text" rows="2" maxlength="2000" required {}
                    button.small type="submit" { "Add progress note" }
                }
            }
            details.more {
                summary { "Edit goal" span.sr { ": " (goal.title) } }
                form.edit method="post" action={ (url) "/edit" } {
                    (hidden(p, m))
                    input type="hidden" name="version" value=(goal.version);
                    input type="hidden" name="base_title" value=(goal.title);
                    input type="hidden" name="base_next_step" value=(goal.next_step);
                    label for={ "gt-" (goal.id) } { "Goal" }
                    input id={ "gt-" (goal.id) } type="text" name="title" maxlength="300" required value=(goal.title);
                    label for={ "gn-" (goal.id) } { "Next step" }
                    input id={ "gn-" (goal.id) } type="text" name="next_step" maxlength="1000" value=(goal.next_step);
                    button type="submit" { "Save goal" }
                }
                form.inline method="post" action={ (url) @if g.closed_here { "/reopen" } @else { "/close" } } {
                    (hidden(p, m))
                    button.small type="submit" { @if g.closed_here { "Reopen goal" } @else { "Close goal (achieved or retired)" } }
                }
            }
        }
    }
}

fn goals_section(p: &Page<'_>, m: &Meeting<'_>) -> Markup {
    html! {
        section.goals id="goals" {
            h2 { "Development goals" }
            p.prompt { "Goals persist across meetings until you close them. Note progress each time." }
            (part("goals", html! {
                @if m.goals.is_empty() {
                    p.empty { "No open goals yet." }
                } @else {
                    ul.goals { @for g in m.goals { (goal_block(p, m, g)) } }
                }
            }))
            details.add-goal {
                summary { "Add a goal" }
                form method="post" action={ (doc_url(p, m)) "/goals" } {
                    (hidden(p, m))
                    label for="goal-title" { "Goal" }
                    input id="goal-title" type="text" name="title" maxlength="300" required;
                    label for="goal-next" { "Next step" }
                    input id="goal-next" type="text" name="next_step" maxlength="1000";
                    button type="submit" { "Add goal" }
                }
            }
        }
    }
}

fn notes_section(p: &Page<'_>, m: &Meeting<'_>) -> Markup {
    let (notes, decisions, version) = m.notes.map_or(("", "", 0), |n| {
        (n.notes.as_str(), n.decisions.as_str(), n.version)
    });
    html! {
        section.notes id="notes" {
            h2 { "Shared notes" }
            (part("notes", html! {
                @if notes.trim().is_empty() && decisions.trim().is_empty() {
                    p.empty { "No notes yet. Both of you can write here (Markdown)." }
                } @else {
                    @if !notes.trim().is_empty() { div.md { (markdown::render(notes)) } }
                    @if !decisions.trim().is_empty() {
                        h3 { "Decisions" }
                        div.md { (markdown::render(decisions)) }
                    }
                }
                details.more {
                    summary { "Edit notes" }
                    form.edit method="post" action={ (doc_url(p, m)) "/notes" } {
                        (hidden(p, m))
                        input type="hidden" name="version" value=(version);
                        input type="hidden" name="base_notes" value=(notes);
                        input type="hidden" name="base_decisions" value=(decisions);
                        label for="notes-text" { "Notes (Markdown)" }
                        textarea id="notes-text" name="notes" rows="8" maxlength="20000" { (notes) }
                        label for="notes-decisions" { "Decisions" }
                        textarea id="notes-decisions" name="decisions" rows="3" maxlength="5000" { (decisions) }
                        button type="submit" { "Save notes" }
                    }
                }
            }))
        }
    }
}

fn private_section(p: &Page<'_>, m: &Meeting<'_>) -> Markup {
    html! {
        section.private id="private" {
            h2 { "Private notes" }
            @match (&p.sign_in, p.who.email()) {
                (SignInBox::On { email, .. }, Some(_)) => {
                    p.prompt {
                        "Only you (" (email) ") can see these. They never appear in the invite, on "
                        "the other person’s page or export, or in the administrator’s tools."
                    }
                    form.edit method="post" action={ (doc_url(p, m)) "/private" } {
                        (hidden(p, m))
                        input type="hidden" name="version" value=(m.private.map_or(0, |n| n.version));
                        label for="private-text" { "My private notes on this meeting" }
                        textarea id="private-text" name="text" rows="4" maxlength="20000" { (m.private.map_or("", |n| n.text.as_str())) }
                        button type="submit" { "Save private note" }
                    }
                }
                (SignInBox::Offer(url), _) => {
                    p { "Private notes need sign-in. " a href=(url) { "Sign in" } " to keep notes only you can see." }
                }
                _ => {
                    p { "Private notes need sign-in, which this server has not set up "
                        "(the administrator can enable it with " code { "[web.sign_in]" } ")." }
                }
            }
        }
    }
}

fn meeting_header(p: &Page<'_>, m: &Meeting<'_>, kicker: &str) -> Markup {
    let title = m
        .occurrence
        .map(|o| o.title.trim())
        .filter(|t| !t.is_empty())
        .unwrap_or("1:1");
    let cancelled = m
        .occurrence
        .is_some_and(|o| o.status == OccurrenceStatus::Cancelled);
    html! {
        header.doc {
            p.kicker { (kicker) }
            h1 { (title) }
            p.when { (when(p.tz, m.start, m.occurrence.map(|o| o.end))) }
            @if cancelled {
                p.notice { "This meeting was cancelled. Its open items carry over to the next 1:1." }
            }
        }
    }
}

/// The agenda of one meeting, editable.
fn agenda(p: &Page<'_>, m: &Meeting<'_>) -> Markup {
    html! {
        @for s in SECTIONS {
            @let in_section: Vec<&DocItem<'_>> = m.items.iter().filter(|d| d.item.section == s).collect();
            section.agenda id=(section_value(s)) {
                h2 { (section_title(s, p)) }
                p.prompt { (section_prompt(s)) }
                (part(section_value(s), html! {
                    @if in_section.is_empty() {
                        p.empty { "Nothing yet." }
                    } @else {
                        ul.items { @for d in in_section { (item_row(p, m, d)) } }
                    }
                }))
            }
        }
        (add_forms(p, m))
        (goals_section(p, m))
        (notes_section(p, m))
        (private_section(p, m))
    }
}

fn live_status(p: &Page<'_>) -> Markup {
    html! {
        p.live id="live" aria-live="polite" data-rev=(p.rev) data-rev-url=(p.rev_url) {}
    }
}

fn private_footer() -> Markup {
    html! {
        footer {
            p { "This agenda is private to the two of you: anyone with its link can read and edit the shared parts, so do not forward it." }
        }
    }
}

/// The pair's page: the next meeting's agenda, then the history.
pub(super) fn stream(
    p: &Page<'_>,
    next: Option<&Meeting<'_>>,
    past: &[Past<'_>],
    open_goals: &[&Goal],
    closed_goals: &[&Goal],
) -> Markup {
    let export = p
        .pair_token
        .map(|t| format!("{}/p/{}/export.md", p.base, t));
    let body = html! {
        (people_bar(p))
        (live_status(p))
        @if let Some(m) = next {
            (meeting_header(p, m, "Next 1:1"))
            p.doclink { a href=(doc_url(p, m)) { "This meeting’s own agenda page" } }
            (agenda(p, m))
        } @else {
            header.doc {
                p.kicker { "1:1s" }
                h1 { (p.manager) " · " (p.report) }
            }
            p.notice { "No upcoming 1:1 is on the calendar yet. When one is, its agenda opens here." }
            @if !open_goals.is_empty() {
                section.goals {
                    h2 { "Development goals" }
                    ul.goals { @for g in open_goals { li.goal { h3 { (g.title) } @if !g.next_step.is_empty() { p.next { "Next step: " (g.next_step) } } } } }
                }
            }
        }
        section.history id="history" {
            h2 { "Earlier 1:1s" }
            @if let Some(url) = &export { p { a.button href=(url) download="agenda.md" { "Export the history as Markdown" } } }
            (part("history", history(p, past, closed_goals)))
        }
        (private_footer())
    };
    layout(p.base, &format!("1:1 · {} · {}", p.manager, p.report), body)
}

fn history(p: &Page<'_>, past: &[Past<'_>], closed_goals: &[&Goal]) -> Markup {
    html! {
        @if past.is_empty() {
            p.empty { "No earlier 1:1s yet." }
        }
        @for h in past {
            @let o = h.occurrence;
            article.past {
                h3 {
                    (day(p.tz, o.start)) " · "
                    span class={ "status " (o.status.as_str()) } { (o.status.as_str()) }
                }
                @if let Some(token) = &o.agenda {
                    p.doclink { a href={ (p.base) "/a/" (token) } { "Open this meeting’s agenda" } }
                }
                @if h.items.is_empty() {
                    p.empty { "Nothing was on the agenda." }
                } @else {
                    ul.items { @for d in &h.items { (item_row_ro(p, d)) } }
                }
                @if let Some(n) = h.notes {
                    @if !n.notes.trim().is_empty() { h4 { "Notes" } div.md { (markdown::render(&n.notes)) } }
                    @if !n.decisions.trim().is_empty() { h4 { "Decisions" } div.md { (markdown::render(&n.decisions)) } }
                }
                @let progress: Vec<(&str, &str)> = h.goals.iter().flat_map(|g| g.progress_here.iter().map(|pr| (g.goal.title.as_str(), pr.text.as_str()))).collect();
                @if !progress.is_empty() {
                    h4 { "Goal progress" }
                    ul.progress { @for (title, text) in progress { li { strong { (title) } ": " (text) } } }
                }
                @if let Some(n) = h.private.filter(|n| !n.text.trim().is_empty()) {
                    div.private {
                        h4 { "My private notes (only you see these)" }
                        p.text { (n.text) }
                    }
                }
            }
        }
        @if !closed_goals.is_empty() {
            h3 { "Closed goals" }
            ul.goals {
                @for g in closed_goals {
                    li.goal.closed {
                        strong { (g.title) }
                        @if let Some(c) = &g.closed { " — closed " (day(p.tz, c.at)) }
                    }
                }
            }
        }
    }
}

/// Links to the docs of the pair's other meetings (most recent first).
fn other_docs(base: &str, tz: Tz, history: &[Occurrence], this: &str) -> Markup {
    let docs: Vec<(&Occurrence, &str)> = history
        .iter()
        .rev()
        .filter_map(|o| Some((o, o.agenda.as_deref()?)))
        .filter(|(o, _)| o.meeting != this)
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

/// One meeting's own agenda page.
pub(super) fn doc(p: &Page<'_>, m: &Meeting<'_>, history: &[Occurrence]) -> Markup {
    let title = m
        .occurrence
        .map(|o| o.title.trim())
        .filter(|t| !t.is_empty())
        .unwrap_or("1:1");
    let body = html! {
        (people_bar(p))
        (live_status(p))
        (meeting_header(p, m, "1:1 agenda"))
        @if let Some(t) = p.pair_token {
            p.doclink { a href={ (p.base) "/p/" (t) } { "All meetings, goals and history of this pair" } }
        }
        (agenda(p, m))
        (other_docs(p.base, p.tz, history, m.meeting))
        (private_footer())
    };
    layout(p.base, &format!("{title} · agenda"), body)
}

/// A stale edit that could not be merged: what is stored now, what was submitted, and a form to
/// submit it again on top of the current version.
pub(super) struct ConflictView<'a> {
    pub what: &'a str,
    pub fields: &'a [&'static str],
    /// (label, current value, your value) per field shown.
    pub rows: Vec<(&'static str, String, String)>,
    /// The form to save "mine" again: action, and hidden fields (name, value).
    pub action: String,
    pub hidden: Vec<(&'static str, String)>,
    pub back: String,
}

pub(super) fn conflict(base: &str, v: &ConflictView<'_>) -> Markup {
    layout(
        base,
        "Edited meanwhile · oneonone",
        html! {
            h1 { "Someone else changed this " (v.what) " meanwhile" }
            p role="alert" {
                "Your change to " (v.fields.join(", ")) " was not saved, so that neither edit is lost. "
                "Here is what is stored now, next to what you wrote."
            }
            table.conflict {
                thead { tr { th { "" } th { "Now stored" } th { "Yours" } } }
                tbody {
                    @for (label, current, mine) in &v.rows {
                        tr { th scope="row" { (label) } td { pre { (current) } } td { pre { (mine) } } }
                    }
                }
            }
            form method="post" action=(v.action) {
                @for (name, value) in &v.hidden {
                    input type="hidden" name=(name) value=(value);
                }
                button type="submit" { "Save mine over it" }
            }
            p { a href=(v.back) { "Go back without saving (keep what is stored)" } }
        },
    )
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
