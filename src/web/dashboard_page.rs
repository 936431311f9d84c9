//! The dashboard's HTML (maud): the filter form, the export links, one card per pair with its
//! health label, figures and timeline picture (inline SVG), the legend, and the dashboard's 403
//! page. Pure rendering: `now` and the rows come in; maud escapes every interpolated value.
//!
//! The timeline is readable without colour: every state has its own shape (held ●, moved ◆,
//! cancelled ✕, declined ▼, missing dashed ○, scheduled ○), and colours come from `app.css`
//! classes, so they follow light and dark mode. Each mark carries a `<title>` (its tooltip and
//! accessible name) and `data-state`; the same marks are also listed as text under the picture.
use super::dashboard::{Dashboard, Row};
use super::pages::layout;
use crate::domain::dashboard::{Health, Mark, MarkState, PairRow, WINDOW_DAYS};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maud::{Markup, html};

/// The picture's coordinate space (it scales to the page's width).
/// Narrow enough that the marks stay large on a phone (it is drawn at about 330 px there).
const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 52.0;
const PAD: f64 = 10.0;
const MID: f64 = 24.0;
/// Half the size of a mark.
const R: f64 = 7.0;

fn day(tz: Tz, t: DateTime<Utc>) -> String {
    t.with_timezone(&tz).format("%a %-d %b %Y").to_string()
}

fn day_time(tz: Tz, t: DateTime<Utc>) -> String {
    t.with_timezone(&tz)
        .format("%a %-d %b %Y %H:%M")
        .to_string()
}

/// What a mark says in its tooltip and in the list.
fn mark_text(tz: Tz, m: &Mark) -> String {
    let when = day_time(tz, m.at);
    match m.state {
        MarkState::Held => format!("{when}: held"),
        MarkState::Moved => {
            let from = m.original.map(|o| day_time(tz, o)).unwrap_or_default();
            let done = if m.held { "held" } else { "scheduled" };
            format!("{when}: {done}, moved from {from}")
        }
        MarkState::Cancelled | MarkState::Declined => {
            format!("{when}: {}", m.reason.as_deref().unwrap_or("cancelled"))
        }
        MarkState::Scheduled => format!("{when}: scheduled"),
        MarkState::Missing => format!("{when}: missing (no 1:1 in this slot)"),
    }
}

fn legend_text(s: MarkState) -> &'static str {
    match s {
        MarkState::Held => "held",
        MarkState::Moved => "moved",
        MarkState::Cancelled => "cancelled",
        MarkState::Declined => "declined",
        MarkState::Missing => "missing slot",
        MarkState::Scheduled => "scheduled",
    }
}

/// The shape of a state, centred at (`x`, `y`).
fn shape(state: MarkState, x: f64, y: f64) -> Markup {
    let (l, r, t, b) = (x - R, x + R, y - R, y + R);
    match state {
        MarkState::Held => html! { circle.shape cx=(x) cy=(y) r=(R) {} },
        MarkState::Scheduled | MarkState::Missing => {
            html! { circle.shape cx=(x) cy=(y) r=(R - 1.5) {} }
        }
        MarkState::Moved => html! {
            polygon.shape points={ (x) "," (t) " " (r) "," (y) " " (x) "," (b) " " (l) "," (y) } {}
        },
        MarkState::Declined => html! {
            polygon.shape points={ (l) "," (t) " " (r) "," (t) " " (x) "," (b) } {}
        },
        MarkState::Cancelled => html! {
            path.shape d={ "M" (l + 1.0) " " (t + 1.0) "L" (r - 1.0) " " (b - 1.0)
                           "M" (r - 1.0) " " (t + 1.0) "L" (l + 1.0) " " (b - 1.0) } {}
        },
    }
}

fn legend() -> Markup {
    html! {
        ul.legend.marks-legend aria-label="Legend" {
            @for s in MarkState::ALL {
                li {
                    svg.key viewBox="0 0 20 20" width="20" height="20" aria-hidden="true" {
                        g class={ "mark " (s.as_str()) } { (shape(s, 10.0, 10.0)) }
                    }
                    " " (legend_text(s))
                }
            }
        }
    }
}

/// The x coordinate of `t` on the row's span.
fn x_of(row: &PairRow, t: DateTime<Utc>) -> f64 {
    let span = (row.to - row.from).num_seconds().max(1) as f64;
    let off = (t - row.from).num_seconds().clamp(0, span as i64) as f64;
    ((PAD + off / span * (WIDTH - 2.0 * PAD)) * 10.0).round() / 10.0
}

fn summary(row: &PairRow) -> String {
    let count = |s: MarkState| row.marks.iter().filter(|m| m.state == s).count();
    let parts: Vec<String> = MarkState::ALL
        .into_iter()
        .filter(|s| count(*s) > 0)
        .map(|s| format!("{} {}", count(s), legend_text(s)))
        .collect();
    format!(
        "Timeline of the last {WINDOW_DAYS} days: {}",
        if parts.is_empty() {
            "nothing".to_string()
        } else {
            parts.join(", ")
        }
    )
}

/// The timeline picture of one row.
fn timeline(tz: Tz, now: DateTime<Utc>, row: &PairRow, id: usize) -> Markup {
    let title_id = format!("tl-{id}");
    html! {
        svg.timeline viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img"
            aria-labelledby=(title_id) preserveAspectRatio="xMidYMid meet" {
            title id=(title_id) { (summary(row)) }
            line.axis x1=(PAD) y1=(MID) x2=(WIDTH - PAD) y2=(MID) {}
            @for s in &row.slots {
                line.slot x1=(x_of(row, *s)) y1=(MID - 11.0) x2=(x_of(row, *s)) y2=(MID + 11.0) {}
            }
            line.now x1=(x_of(row, now)) y1="4" x2=(x_of(row, now)) y2=(HEIGHT - 12.0) {
                title { "now" }
            }
            text.axis-label x=(PAD) y=(HEIGHT - 2.0) { (day(tz, row.from)) }
            text.axis-label.end x=(WIDTH - PAD) y=(HEIGHT - 2.0) { (day(tz, row.to)) }
            @for m in &row.marks {
                g class={ "mark " (m.state.as_str()) } data-state=(m.state.as_str())
                    data-at=(m.at.to_rfc3339()) {
                    title { (mark_text(tz, m)) }
                    (shape(m.state, x_of(row, m.at), MID))
                }
            }
        }
    }
}

fn health_badge(h: Health) -> Markup {
    let icon = match h {
        Health::Healthy => "✓",
        Health::AtRisk => "!",
        Health::Failing => "✕",
    };
    html! { span class={ "health " (h.as_str()) } { span aria-hidden="true" { (icon) } " " (h.label()) } }
}

fn or_dash(tz: Tz, t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "—".to_string(), |t| day_time(tz, t))
}

fn card(tz: Tz, now: DateTime<Utc>, r: &Row, id: usize) -> Markup {
    let row = &r.row;
    let adherence = match row.adherence.percent() {
        Some(p) => format!(
            "{p}% ({} of {} slots held)",
            row.adherence.held, row.adherence.expected
        ),
        None => "— (no slot expected yet)".to_string(),
    };
    html! {
        section class={ "pair dash " (row.health.as_str()) } data-pair=(row.pair_id)
            data-health=(row.health.as_str()) {
            h2 {
                @if let Some(url) = &r.pair_url {
                    a href=(url) { (row.manager) " · " (row.report) }
                } @else {
                    (row.manager) " · " (row.report)
                }
                " " (health_badge(row.health))
            }
            @if !row.reasons.is_empty() {
                p.reasons { "Why: " (row.reasons.join("; ")) }
            }
            dl.figures {
                div { dt { "Cadence" } dd { (row.cadence) } }
                div { dt { "Last held" } dd.last-held { (or_dash(tz, row.last_held)) } }
                div { dt { "Next" } dd.next { (or_dash(tz, row.next_scheduled)) } }
                div { dt { "Adherence, " (WINDOW_DAYS) " days" } dd.adherence { (adherence) } }
                div { dt { "Cancelled in a row" } dd.streak { (row.cancellation_streak) } }
                div { dt { "Open action items" } dd.actions { (row.open_action_items) } }
            }
            (timeline(tz, now, row, id))
            details.marks {
                summary { "The timeline as a list" }
                ol {
                    @for m in &row.marks {
                        li data-state=(m.state.as_str()) { (mark_text(tz, m)) }
                    }
                }
            }
        }
    }
}

fn filters(base: &str, d: &Dashboard) -> Markup {
    let chosen_health = d.filters.health;
    html! {
        form.filters method="get" action={ (base) "/dashboard" } {
            label for="f-manager" { "Manager" }
            select id="f-manager" name="manager" {
                option value="" selected[d.filters.manager.is_none()] { "All managers" }
                @for m in &d.managers {
                    option value=(m) selected[d.filters.manager.as_deref() == Some(m.as_str())] { (m) }
                }
            }
            label for="f-health" { "Health" }
            select id="f-health" name="health" {
                option value="" selected[chosen_health.is_none()] { "Any health" }
                @for h in [Health::Failing, Health::AtRisk, Health::Healthy] {
                    option value=(h.as_str()) selected[chosen_health == Some(h)] { (h.label()) }
                }
            }
            button type="submit" { "Filter" }
        }
    }
}

fn signed_in(base: &str, d: &Dashboard) -> Markup {
    html! {
        @if let (Some(email), Some(csrf)) = (&d.looker.email, &d.looker.signout_csrf) {
            div.bar {
                span.signedin { "Signed in as " strong { (email) } }
                form.inline method="post" action={ (base) "/signout" } {
                    input type="hidden" name="csrf" value=(csrf);
                    button.link type="submit" { "Sign out" }
                }
            }
        }
    }
}

/// The dashboard page.
pub(super) fn page(base: &str, tz: Tz, d: &Dashboard) -> Markup {
    let query = d.filters.query();
    let body = html! {
        (signed_in(base, d))
        header.doc {
            p.kicker { "oneonone" }
            h1 { "1:1 health" }
            p.when { "As of " (day_time(tz, d.now)) " (" (tz) ") · the last " (WINDOW_DAYS) " days" }
        }
        (filters(base, d))
        p.exports {
            "Export these rows: "
            a href={ (base) "/dashboard.csv" (query) } { "CSV" } " · "
            a href={ (base) "/dashboard.json" (query) } { "JSON" }
        }
        (legend())
        p.count { "Showing " (d.rows.len()) " of " (d.total) " pairs." }
        @if d.rows.is_empty() {
            p.empty { "No pair matches these filters." }
        }
        @for (i, r) in d.rows.iter().enumerate() {
            (card(tz, d.now, r, i))
        }
        p.explain {
            "Adherence: slots with a held 1:1 ÷ the cadence's slots in the last " (WINDOW_DAYS)
            " days, from the pair's first known 1:1 on. Failing: a cadence gap, no upcoming 1:1 or repeated cancellations, or adherence "
            "under 50%. At risk: another warning, adherence under 80%, or the latest 1:1 cancelled."
        }
    };
    layout(base, "1:1 health · oneonone", body)
}

/// A signed-in person who is neither an admin nor a manager of any pair.
pub(super) fn not_a_manager(base: &str, email: &str, signout_csrf: &str) -> Markup {
    layout(
        base,
        "Not for you · oneonone",
        html! {
            h1 { "The dashboard is for managers" }
            p role="alert" {
                "You are signed in as " strong { (email) } ". The 1:1 health dashboard shows "
                "managers their own 1:1s, and admins every 1:1; this address is neither."
            }
            form method="post" action={ (base) "/signout" } {
                input type="hidden" name="csrf" value=(signout_csrf);
                button type="submit" { "Sign out" }
            }
        },
    )
}
