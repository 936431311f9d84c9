//! A pair's history as Markdown: goals, then each meeting (newest first) with what was on its
//! agenda and what became of it, its shared notes and decisions, the goal progress noted in it —
//! and, only when the export is for a signed-in member, that member's own private notes.
//! Used by the page's export button, `oneonone agenda export PAIR` and the admin API (the last two
//! never pass private notes).
//!
//! Pure: the clock and the data are arguments.
use crate::domain::agenda::{AgendaItem, DocItem, ItemKind, doc_items};
use crate::domain::goals::{Goal, goals_for_doc};
use crate::domain::notes::{PrivateNote, SharedNotes};
use crate::domain::{Occurrence, OccurrenceStatus};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::fmt::Write as _;

/// What an export reads.
pub struct Export<'a> {
    pub manager: &'a str,
    pub report: &'a str,
    pub tz: Tz,
    pub now: DateTime<Utc>,
    pub history: &'a [Occurrence],
    pub items: &'a [AgendaItem],
    pub goals: &'a [Goal],
    pub notes: &'a [SharedNotes],
    /// The reader's own private notes; empty unless the reader is a signed-in member.
    pub private: &'a [PrivateNote],
}

/// The pair's next meeting (not cancelled, not over) and its past ones, newest first.
pub fn split_history(
    history: &[Occurrence],
    now: DateTime<Utc>,
) -> (Option<&Occurrence>, Vec<&Occurrence>) {
    let next = history
        .iter()
        .find(|o| o.one_on_one && o.end > now && o.status != OccurrenceStatus::Cancelled);
    let past = history
        .iter()
        .rev()
        .filter(|o| o.start < now && Some(o.meeting.as_str()) != next.map(|n| n.meeting.as_str()))
        .collect();
    (next, past)
}

fn day(tz: Tz, t: DateTime<Utc>) -> String {
    t.with_timezone(&tz).format("%a %-d %b %Y").to_string()
}

/// One line of text for a list entry (line breaks folded).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A Markdown list entry for an item as one meeting's doc showed it.
pub fn item_line(tz: Tz, d: &DocItem<'_>) -> String {
    let it = d.item;
    let mark = if d.dropped_here() {
        "[dropped]"
    } else if d.done_here {
        "[x]"
    } else if d.deferred_here {
        "[deferred]"
    } else {
        "[ ]"
    };
    let mut s = format!("- {mark} ");
    if it.kind == ItemKind::ActionItem {
        s.push_str("Action: ");
    }
    s.push_str(&one_line(&it.text));
    if let Some(owner) = &it.owner {
        let _ = write!(s, " (owner: {})", one_line(owner));
    }
    if let Some(due) = it.due {
        let _ = write!(s, " — due {due}");
    }
    if d.carried_over {
        let _ = write!(
            s,
            " — from {}, carried {}×",
            day(tz, it.origin_start),
            d.times_carried
        );
    }
    if let (true, Some(reason)) = (d.dropped_here(), &it.drop_reason) {
        let _ = write!(s, " — dropped: {}", one_line(reason));
    } else if let (true, Some(at)) = (d.done_here, it.done_at) {
        let _ = write!(s, " — done {}", day(tz, at));
    }
    s
}

fn goals_section(e: &Export<'_>, out: &mut String) {
    if e.goals.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Development goals\n");
    for g in e.goals {
        let state = match &g.closed {
            Some(c) => format!("closed {}", day(e.tz, c.at)),
            None => "open".into(),
        };
        let _ = writeln!(out, "- **{}** ({state})", one_line(&g.title));
        if !g.next_step.trim().is_empty() {
            let _ = writeln!(out, "  - Next step: {}", one_line(&g.next_step));
        }
        for p in &g.progress {
            let _ = writeln!(out, "  - {}: {}", day(e.tz, p.start), one_line(&p.text));
        }
    }
    out.push('\n');
}

fn meeting_section(e: &Export<'_>, o: &Occurrence, out: &mut String) {
    let status = if o.start >= e.now {
        "next"
    } else {
        o.status.as_str()
    };
    let when = o.start.with_timezone(&e.tz).format("%a %-d %b %Y, %H:%M");
    let _ = writeln!(out, "## {when} — {status}\n");
    let items = doc_items(e.items, e.history, &o.meeting, o.start);
    if !items.is_empty() {
        let _ = writeln!(out, "### Agenda\n");
        for d in &items {
            let _ = writeln!(out, "{}", item_line(e.tz, d));
        }
        out.push('\n');
    }
    if let Some(n) = e.notes.iter().find(|n| n.meeting == o.meeting) {
        if !n.notes.trim().is_empty() {
            let _ = writeln!(out, "### Notes\n\n{}\n", n.notes.trim_end());
        }
        if !n.decisions.trim().is_empty() {
            let _ = writeln!(out, "### Decisions\n\n{}\n", n.decisions.trim_end());
        }
    }
    let progress: Vec<String> = goals_for_doc(e.goals, &o.meeting, o.start)
        .iter()
        .flat_map(|g| {
            g.progress_here
                .iter()
                .map(|p| format!("- {}: {}", one_line(&g.goal.title), one_line(&p.text)))
                .collect::<Vec<_>>()
        })
        .collect();
    if !progress.is_empty() {
        let _ = writeln!(out, "### Goal progress\n\n{}\n", progress.join("\n"));
    }
    if let Some(p) = e
        .private
        .iter()
        .find(|p| p.meeting == o.meeting && !p.text.trim().is_empty())
    {
        let _ = writeln!(
            out,
            "### My private notes (only I can see these)\n\n{}\n",
            p.text.trim_end()
        );
    }
}

/// The export of a configured pair from the store, for the administrator (`oneonone agenda
/// export`, the admin API): everything shared, and no private notes — whoever asks.
pub fn from_store(
    store: &crate::store::Store,
    manager: &str,
    report: &str,
    pair_id: &str,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<String, crate::store::StoreError> {
    let history = store.occurrences(pair_id)?;
    let items = store.agenda_items(pair_id)?;
    let goals = store.goals(pair_id)?;
    let notes = store.shared_notes(pair_id)?;
    Ok(markdown(&Export {
        manager,
        report,
        tz,
        now,
        history: &history,
        items: &items,
        goals: &goals,
        notes: &notes,
        private: &[],
    }))
}

/// The whole export.
pub fn markdown(e: &Export<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# 1:1s of {} and {}\n", e.manager, e.report);
    let _ = writeln!(
        out,
        "Exported {} ({}). Private to the two of you.\n",
        e.now.with_timezone(&e.tz).format("%-d %B %Y, %H:%M"),
        e.tz
    );
    goals_section(e, &mut out);
    let (next, past) = split_history(e.history, e.now);
    for o in next.into_iter().chain(past) {
        meeting_section(e, o, &mut out);
    }
    out
}
