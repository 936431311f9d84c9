//! Where the agenda link goes. The planner decides; every provider follows:
//! - a recurring 1:1 series carries, in its master's description, a block with the pair's stable
//!   link (it opens the doc of the next meeting) — written once, rewritten only when the link
//!   changes;
//! - the next upcoming occurrence gets its own block (its doc's link and the carried-over items) on
//!   providers whose writes are silent;
//! - a single (non-recurring) 1:1 within the horizon gets its own block with its own doc's link;
//! - on a provider whose writes notify attendees, a block is written once and never rewritten.
//!
//! Only the organizer's copy is written. When the calendars show copies of the meeting but not the
//! organizer's (the organizer is outside the organisation), nothing is written and the pair gets an
//! `organizer_outside` finding. A damaged block (stray markers) is left alone: `agenda_block_damaged`.
//! Nothing is written into a source the provider could not read completely or read only with a
//! caveat (and so nothing there is judged damaged either).
use super::meetings::Meeting;
use super::{PairCtx, PlannedWrite, WriteOp, content_hash};
use crate::domain::agenda::{AgendaDoc, ItemKind, carried_into};
use crate::domain::block::{
    BlockItem, BlockState, apply_block, find_block, render_block, render_link_only_block,
    render_series_block,
};
use crate::domain::history::MarkState;
use crate::domain::links::{agenda_url, pair_url};
use crate::domain::rules::{Finding, FindingKind, Severity};
use crate::domain::{Instance, Occurrence, OccurrenceStatus, SeriesMaster};
use crate::providers::{OccurrenceWrite, SeriesWrite};
use std::collections::BTreeSet;

/// What the link policy decided for one pair.
#[derive(Debug, Default)]
pub(crate) struct Blocks {
    pub writes: Vec<PlannedWrite>,
    pub new_docs: Vec<AgendaDoc>,
    /// Meeting keys of history records that now name a new doc.
    pub docs_for: Vec<String>,
    pub findings: Vec<Finding>,
}

/// Decide the docs and blocks of one pair. `upcoming` are its scheduled meetings within the
/// horizon, soonest first; `history` its records after reconciling (new doc tokens are set there).
pub(crate) fn plan(
    ctx: &PairCtx<'_>,
    upcoming: &[&Meeting<'_>],
    history: &mut [Occurrence],
) -> Blocks {
    let mut out = Blocks::default();
    let next = upcoming.first().map(|m| m.key.as_str());
    for m in upcoming {
        let is_next = Some(m.key.as_str()) == next;
        if m.series.is_some() && !is_next {
            continue;
        }
        let Some(token) = doc_token(ctx, m, history, &mut out) else {
            continue;
        };
        if m.series.is_some() && ctx.notify {
            continue; // notifying providers: the series block alone, never per occurrence
        }
        let Some(copy) = writable(m, &mut out) else {
            continue;
        };
        if ctx.not_writable.contains(&*copy.source) {
            continue; // unreadable or read with a caveat: never written
        }
        let url = agenda_url(&ctx.settings.public_url, &token);
        let block = if ctx.notify {
            render_link_only_block(&url)
        } else {
            render_block(&url, &carried(ctx, m, history), ctx.settings.timezone)
        };
        let key = format!("block:{}", m.key);
        if let Some(description) = decide(ctx, &key, &copy.description, &block, copy, &mut out) {
            out.writes
                .push(occurrence_write(ctx, copy, key, description));
        }
    }
    series_blocks(ctx, upcoming, &mut out);
    out
}

/// The doc token of a meeting: the one its history record names, or a fresh one (a new doc).
fn doc_token(
    ctx: &PairCtx<'_>,
    m: &Meeting<'_>,
    history: &mut [Occurrence],
    out: &mut Blocks,
) -> Option<String> {
    let rec = history.iter_mut().find(|o| o.meeting == m.key)?;
    if let Some(t) = &rec.agenda {
        return Some(t.clone());
    }
    let token = ctx.tokens.fresh_token()?;
    rec.agenda = Some(token.clone());
    out.new_docs.push(AgendaDoc {
        token: token.clone(),
        pair_id: ctx.pair.id.clone(),
        meeting: m.key.clone(),
        start: m.start(),
        created_at: ctx.now,
    });
    out.docs_for.push(m.key.clone());
    Some(token)
}

/// The copy to write, or an `organizer_outside` finding when only attendees' copies are visible.
fn writable<'a>(m: &Meeting<'a>, out: &mut Blocks) -> Option<&'a Instance> {
    if m.writable.is_none() {
        let organizer = m.primary.organizer.as_deref().unwrap_or("someone else");
        out.findings.push(Finding {
            kind: FindingKind::OrganizerOutside,
            severity: Severity::Info,
            key: format!("organizer_outside:{}", m.series.as_deref().unwrap_or(&m.key)),
            message: format!(
                "\"{}\" is organised by {organizer}, whose calendar oneonone does not read; \
                 the agenda link is not written into it (the organizer's copy is the only one oneonone writes)",
                m.primary.title
            ),
            occurrence: Some(m.start()),
            level: 1,
            details: Vec::new(),
        });
    }
    m.writable
}

/// The open items carried into the meeting's doc, as the invite shows them.
fn carried(ctx: &PairCtx<'_>, m: &Meeting<'_>, history: &[Occurrence]) -> Vec<BlockItem> {
    carried_into(ctx.items, history, &m.key, m.start())
        .into_iter()
        .map(|d| BlockItem {
            text: d.item.text.clone(),
            action: d.item.kind == ItemKind::ActionItem,
            owner: d.item.owner.clone(),
            origin_start: d.item.origin_start,
            times_carried: d.times_carried,
        })
        .collect()
}

/// The new description, if `current` should get `block`: `None` when it already has it, when its
/// block is damaged (a finding), or when a notifying provider already got its one write.
fn decide(
    ctx: &PairCtx<'_>,
    key: &str,
    current: &str,
    block: &str,
    target: &dyn Target,
    out: &mut Blocks,
) -> Option<String> {
    if ctx.notify {
        let marked = ctx
            .marks
            .iter()
            .any(|m| m.key == key && m.state != MarkState::Failed);
        if marked || find_block(current) != BlockState::Absent {
            return None; // written once (or it may have been): never again
        }
    }
    match apply_block(current, block) {
        Ok(desc) if desc == current => None,
        Ok(desc) => Some(desc),
        Err(reason) => {
            out.findings.push(Finding {
                kind: FindingKind::AgendaBlockDamaged,
                severity: Severity::Info,
                key: format!("agenda_block_damaged:{}", target.label_key()),
                message: format!(
                    "the agenda block in \"{}\" ({}) is damaged ({reason}); it is left alone — remove \
                     the oneonone marker lines from the description and the next cycle writes a fresh block",
                    target.title(),
                    target.where_()
                ),
                occurrence: target.when(),
                level: 1,
                details: Vec::new(),
            });
            None
        }
    }
}

/// What `decide` needs to say about a target in a finding.
trait Target {
    fn label_key(&self) -> String;
    fn title(&self) -> &str;
    fn where_(&self) -> String;
    fn when(&self) -> Option<chrono::DateTime<chrono::Utc>>;
}

impl Target for Instance {
    fn label_key(&self) -> String {
        format!("{}:{}", self.calendar, self.id)
    }
    fn title(&self) -> &str {
        &self.title
    }
    fn where_(&self) -> String {
        format!("{} on {}", self.source, self.start.to_rfc3339())
    }
    fn when(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        Some(self.start)
    }
}

impl Target for SeriesMaster {
    fn label_key(&self) -> String {
        format!("{}:{}", self.calendar, self.id)
    }
    fn title(&self) -> &str {
        &self.title
    }
    fn where_(&self) -> String {
        format!("the series in {}", self.source)
    }
    fn when(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        None
    }
}

fn occurrence_write(
    ctx: &PairCtx<'_>,
    copy: &Instance,
    key: String,
    description: String,
) -> PlannedWrite {
    PlannedWrite {
        account: copy.account.to_string(),
        pair: ctx.pair.id.clone(),
        once: ctx.notify,
        content_hash: content_hash(&description),
        what: format!(
            "agenda block of \"{}\" on {} ({})",
            copy.title,
            copy.start.to_rfc3339(),
            copy.source
        ),
        unit: copy.source.to_string(),
        key,
        op: WriteOp::Occurrence(OccurrenceWrite {
            target: copy.clone(),
            description: Some(description),
            end: None,
        }),
    }
}

/// The stable-link block of every series with an upcoming meeting, in its organizer's master.
fn series_blocks(ctx: &PairCtx<'_>, upcoming: &[&Meeting<'_>], out: &mut Blocks) {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let block = render_series_block(&pair_url(&ctx.settings.public_url, ctx.link));
    for m in upcoming {
        let Some(series) = m.series.as_deref() else {
            continue;
        };
        if !done.insert(series) || m.status != OccurrenceStatus::Scheduled {
            continue;
        }
        let Some(copy) = writable(m, out) else {
            continue;
        };
        let Some(series_id) = copy.series_id.as_deref() else {
            continue;
        };
        let Some(master) = ctx.masters.get(&(&*copy.calendar, series_id)) else {
            continue;
        };
        if ctx.not_writable.contains(&*master.source) {
            continue;
        }
        let key = format!("series:{series}");
        let Some(description) = decide(ctx, &key, &master.description, &block, *master, out) else {
            continue;
        };
        out.writes.push(PlannedWrite {
            account: master.account.to_string(),
            pair: ctx.pair.id.clone(),
            once: ctx.notify,
            content_hash: content_hash(&description),
            what: format!(
                "agenda link of the series \"{}\" ({})",
                master.title, master.source
            ),
            unit: master.source.to_string(),
            key,
            op: WriteOp::Series(SeriesWrite {
                target: (*master).clone(),
                description,
            }),
        });
    }
}
