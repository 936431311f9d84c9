//! The handlers: each finds the doc or pair its token names (counting unknown tokens against the
//! client), decides access, checks the CSRF token of writes, validates the input, and applies the
//! change in one store transaction whose closure re-checks the current record (versions, three-way
//! merge), so concurrent edits are merged or refused, never silently overwritten.
use super::auth::{self, Req, Viewer, Who};
use super::pages::{self, ConflictView, Meeting, Page, Past, SignInBox};
use super::{
    MAX_DECISIONS_CHARS, MAX_GOAL_CHARS, MAX_GOALS_PER_PAIR, MAX_ITEMS_PER_PAIR, MAX_NAME_CHARS,
    MAX_NOTES_CHARS, MAX_PRIVATE_CHARS, MAX_PROGRESS_PER_GOAL, MAX_REASON_CHARS, MAX_STEP_CHARS,
    MAX_TEXT_CHARS, WebError, WebState, bad, blocking, parse_section, plausible_id, section_value,
    see_other,
};
use crate::domain::agenda::{
    self, AgendaDoc, AgendaItem, Deferral, DocItem, ItemFields, ItemKind, Section, merge_item,
    merge3,
};
use crate::domain::goals::{Goal, GoalClosed, GoalProgress, goals_for_doc};
use crate::domain::notes::{PrivateNote, SharedNotes};
use crate::domain::{Occurrence, OccurrenceStatus};
use crate::store::Write;
use axum::Json;
use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How many earlier meetings the pair's page shows.
const PAST_SHOWN: usize = 26;

type FormMap = HashMap<String, String>;
type FormResult = Result<Form<FormMap>, axum::extract::rejection::FormRejection>;

// ---- finding things ---------------------------------------------------------------------------

/// Refuse clients that already failed too often.
fn limit(st: &WebState, req: &Req) -> Result<(), WebError> {
    match st.misses.blocked(req.ip, (st.now)()) {
        Some(retry_after) => Err(WebError::TooMany { retry_after }),
        None => Ok(()),
    }
}

fn miss(st: &WebState, req: &Req) -> WebError {
    st.misses.record(req.ip, (st.now)());
    WebError::NotFound
}

/// The doc a token names; unknown tokens count against the client.
fn find_doc(st: &WebState, req: &Req, token: &str) -> Result<AgendaDoc, WebError> {
    limit(st, req)?;
    if !plausible_id(token) {
        return Err(miss(st, req));
    }
    st.store.agenda_doc(token)?.ok_or_else(|| miss(st, req))
}

/// The pair a stable link names; unknown tokens count against the client.
fn find_pair(st: &WebState, req: &Req, token: &str) -> Result<String, WebError> {
    limit(st, req)?;
    if !plausible_id(token) {
        return Err(miss(st, req));
    }
    st.store.pair_of_link(token)?.ok_or_else(|| miss(st, req))
}

/// The two people of a pair (from the configuration, else from its id).
fn people_of(st: &WebState, pair_id: &str) -> (String, String) {
    match st.pairs().into_iter().find(|p| p.id == pair_id) {
        Some(p) => (p.manager, p.report),
        None => {
            let (m, r) = pair_id.split_once('~').unwrap_or((pair_id, ""));
            (m.to_string(), r.to_string())
        }
    }
}

/// Who may do what with a pair's pages, and the CSRF token of their forms.
struct Access {
    pair_id: String,
    manager: String,
    report: String,
    who: Who,
    viewer: Option<Viewer>,
    csrf: String,
}

fn access(st: &WebState, req: &Req, pair_id: &str, next: &str) -> Result<Access, WebError> {
    let (manager, report) = people_of(st, pair_id);
    let mut r = req.clone();
    r.path = next.to_string();
    let (who, viewer) = auth::authorize(st, &r, &manager, &report)?;
    let csrf = auth::csrf_token(st, viewer.as_ref(), pair_id)?;
    Ok(Access {
        pair_id: pair_id.to_string(),
        manager,
        report,
        who,
        viewer,
        csrf,
    })
}

/// The current start of a doc's occurrence (it may have moved since the doc was made).
fn doc_start(history: &[Occurrence], doc: &AgendaDoc) -> DateTime<Utc> {
    history
        .iter()
        .find(|o| o.meeting == doc.meeting)
        .map_or(doc.start, |o| o.start)
}

/// Where a form goes back to: the pair's page ("pair") or the doc.
fn back_url(st: &WebState, doc: &AgendaDoc, form: &FormMap) -> Result<String, WebError> {
    if form.get("back").map(String::as_str) == Some("pair")
        && let Some(link) = st.store.pair_link(&doc.pair_id)?
    {
        return Ok(format!("{}/p/{link}", st.base()));
    }
    Ok(format!("{}/a/{}", st.base(), doc.token))
}

/// The common start of every form POST: the doc, the form, where to go back, access, CSRF.
fn form_write(
    st: &WebState,
    req: &Req,
    token: &str,
    form: FormResult,
) -> Result<(AgendaDoc, FormMap, String, Access), WebError> {
    let doc = find_doc(st, req, token)?;
    let Form(form) = form.map_err(|e| bad("form", format!("could not be read: {e}")))?;
    let back = back_url(st, &doc, &form)?;
    let acc = access(st, req, &doc.pair_id, &back)?;
    auth::check_csrf(
        st,
        req,
        acc.viewer.as_ref(),
        &doc.pair_id,
        form.get("csrf").map(String::as_str),
    )?;
    Ok((doc, form, back, acc))
}

// ---- form fields ------------------------------------------------------------------------------

fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), WebError> {
    let n = value.chars().count();
    if n > max {
        return Err(bad(
            field,
            format!("is {n} characters long; at most {max} are allowed"),
        ));
    }
    Ok(())
}

/// A required text field: trimmed, non-empty, at most `max` characters.
pub(super) fn required(
    form: &FormMap,
    field: &'static str,
    max: usize,
) -> Result<String, WebError> {
    let value = form.get(field).map(|v| v.trim()).unwrap_or("");
    if value.is_empty() {
        return Err(bad(field, "is required and may not be empty"));
    }
    check_len(field, value, max)?;
    Ok(value.to_string())
}

/// An optional text field: trimmed; empty means absent; at most `max` characters.
pub(super) fn optional(
    form: &FormMap,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, WebError> {
    let value = form.get(field).map(|v| v.trim()).unwrap_or("");
    if value.is_empty() {
        return Ok(None);
    }
    check_len(field, value, max)?;
    Ok(Some(value.to_string()))
}

/// A long text field (notes): kept as typed (line endings normalised), may be empty.
fn long_text(form: &FormMap, field: &'static str, max: usize) -> Result<String, WebError> {
    let value = form
        .get(field)
        .map(|v| v.replace("\r\n", "\n"))
        .unwrap_or_default();
    check_len(field, &value, max)?;
    Ok(value)
}

fn version(form: &FormMap) -> Result<u64, WebError> {
    form.get("version")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map_or(Ok(0), |v| {
            v.parse::<u64>()
                .map_err(|_| bad("version", format!("{v:?} is not a version number")))
        })
}

fn due(form: &FormMap, field: &'static str) -> Result<Option<NaiveDate>, WebError> {
    match form.get(field).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| bad(field, format!("{v:?} is not a date (YYYY-MM-DD)"))),
    }
}

fn section_field(form: &FormMap, field: &'static str) -> Result<Section, WebError> {
    let raw = form.get(field).map(|s| s.trim()).unwrap_or("");
    parse_section(raw).ok_or_else(|| {
        bad(
            field,
            format!(
                "{raw:?} is not a section of the agenda (check_in, report_topics, \
                 manager_topics, growth, feedback)"
            ),
        )
    })
}

// ---- pages ------------------------------------------------------------------------------------

fn sign_in_box(st: &WebState, acc: &Access, path: &str) -> Result<SignInBox, WebError> {
    Ok(match (&st.sign_in, &acc.viewer) {
        (None, _) => SignInBox::Off,
        (Some(_), Some(v)) => SignInBox::On {
            email: v.email.clone(),
            signout_csrf: auth::csrf_token(st, Some(v), auth::SIGNOUT)?,
        },
        (Some(_), None) => SignInBox::Offer(format!(
            "{}/signin?next={}",
            st.base(),
            super::query_encode(path)
        )),
    })
}

/// Everything one page needs, loaded once.
struct Loaded {
    history: Vec<Occurrence>,
    items: Vec<AgendaItem>,
    goals: Vec<Goal>,
    notes: Vec<SharedNotes>,
    private: Vec<PrivateNote>,
    rev: u64,
    pair_token: Option<String>,
}

fn load(st: &WebState, acc: &Access) -> Result<Loaded, WebError> {
    let id = &acc.pair_id;
    Ok(Loaded {
        history: st.store.occurrences(id)?,
        items: st.store.agenda_items(id)?,
        goals: st.store.goals(id)?,
        notes: st.store.shared_notes(id)?,
        private: match acc.who.email() {
            Some(email) => st.store.private_notes(id, email)?,
            None => Vec::new(),
        },
        rev: st.store.agenda_revision(id)?,
        pair_token: st.store.pair_link(id)?,
    })
}

fn page<'a>(
    st: &WebState,
    acc: &'a Access,
    base: &'a str,
    l: &'a Loaded,
    path: &str,
    rev_url: String,
) -> Result<Page<'a>, WebError> {
    Ok(Page {
        base,
        tz: st.tz,
        manager: &acc.manager,
        report: &acc.report,
        csrf: &acc.csrf,
        who: &acc.who,
        sign_in: sign_in_box(st, acc, path)?,
        pair_token: l.pair_token.as_deref(),
        rev: l.rev,
        rev_url,
    })
}

/// The next meeting that has a doc: not over, not cancelled.
fn next_with_doc(history: &[Occurrence], now: DateTime<Utc>) -> Option<&Occurrence> {
    history.iter().find(|o| {
        o.one_on_one && o.end > now && o.status != OccurrenceStatus::Cancelled && o.agenda.is_some()
    })
}

pub(super) async fn pair_page(
    State(state): State<WebState>,
    Path(token): Path<String>,
    req: Req,
) -> Response {
    blocking(state, false, move |st| {
        let pair_id = find_pair(st, &req, &token)?;
        let acc = access(st, &req, &pair_id, &req.path)?;
        let l = load(st, &acc)?;
        let base = st.base();
        let p = page(
            st,
            &acc,
            &base,
            &l,
            &req.path,
            format!("{base}/p/{token}/rev"),
        )?;
        let now = (st.now)();
        let next = next_with_doc(&l.history, now);
        let next_items;
        let next_goals;
        let meeting = match next {
            Some(o) => {
                next_items = agenda::doc_items(&l.items, &l.history, &o.meeting, o.start);
                next_goals = goals_for_doc(&l.goals, &o.meeting, o.start);
                Some(Meeting {
                    doc_token: o.agenda.as_deref().unwrap_or_default(),
                    meeting: &o.meeting,
                    start: o.start,
                    occurrence: Some(o),
                    items: &next_items,
                    goals: &next_goals,
                    notes: l.notes.iter().find(|n| n.meeting == o.meeting),
                    private: l.private.iter().find(|n| n.meeting == o.meeting),
                    back: "pair",
                })
            }
            None => None,
        };
        let past: Vec<Past<'_>> = l
            .history
            .iter()
            .rev()
            .filter(|o| {
                o.start < now && Some(o.meeting.as_str()) != next.map(|n| n.meeting.as_str())
            })
            .take(PAST_SHOWN)
            .map(|o| Past {
                occurrence: o,
                items: agenda::doc_items(&l.items, &l.history, &o.meeting, o.start),
                goals: goals_for_doc(&l.goals, &o.meeting, o.start),
                notes: l.notes.iter().find(|n| n.meeting == o.meeting),
                private: l.private.iter().find(|n| n.meeting == o.meeting),
            })
            .collect();
        let open: Vec<&Goal> = l.goals.iter().filter(|g| g.closed.is_none()).collect();
        let closed: Vec<&Goal> = l.goals.iter().filter(|g| g.closed.is_some()).collect();
        Ok(pages::stream(&p, meeting.as_ref(), &past, &open, &closed).into_response())
    })
    .await
}

pub(super) async fn doc_page(
    State(state): State<WebState>,
    Path(token): Path<String>,
    req: Req,
) -> Response {
    blocking(state, false, move |st| {
        let doc = find_doc(st, &req, &token)?;
        let acc = access(st, &req, &doc.pair_id, &req.path)?;
        let l = load(st, &acc)?;
        let base = st.base();
        let p = page(
            st,
            &acc,
            &base,
            &l,
            &req.path,
            format!("{base}/a/{token}/rev"),
        )?;
        let occurrence = l.history.iter().find(|o| o.meeting == doc.meeting);
        let start = doc_start(&l.history, &doc);
        let items = agenda::doc_items(&l.items, &l.history, &doc.meeting, start);
        let goals = goals_for_doc(&l.goals, &doc.meeting, start);
        let m = Meeting {
            doc_token: &doc.token,
            meeting: &doc.meeting,
            start,
            occurrence,
            items: &items,
            goals: &goals,
            notes: l.notes.iter().find(|n| n.meeting == doc.meeting),
            private: l.private.iter().find(|n| n.meeting == doc.meeting),
            back: "doc",
        };
        Ok(pages::doc(&p, &m, &l.history).into_response())
    })
    .await
}

fn rev_json(st: &WebState, pair_id: &str) -> Result<Response, WebError> {
    let rev = st.store.agenda_revision(pair_id)?;
    Ok(Json(serde_json::json!({ "rev": rev })).into_response())
}

pub(super) async fn pair_rev(
    State(state): State<WebState>,
    Path(token): Path<String>,
    req: Req,
) -> Response {
    blocking(state, true, move |st| {
        let pair_id = find_pair(st, &req, &token)?;
        access(st, &req, &pair_id, &req.path)?;
        rev_json(st, &pair_id)
    })
    .await
}

pub(super) async fn doc_rev(
    State(state): State<WebState>,
    Path(token): Path<String>,
    req: Req,
) -> Response {
    blocking(state, true, move |st| {
        let doc = find_doc(st, &req, &token)?;
        access(st, &req, &doc.pair_id, &req.path)?;
        rev_json(st, &doc.pair_id)
    })
    .await
}

pub(super) async fn export_md(
    State(state): State<WebState>,
    Path(token): Path<String>,
    req: Req,
) -> Response {
    blocking(state, false, move |st| {
        let pair_id = find_pair(st, &req, &token)?;
        let acc = access(st, &req, &pair_id, &req.path)?;
        let l = load(st, &acc)?;
        let text = super::export::markdown(&super::export::Export {
            manager: &acc.manager,
            report: &acc.report,
            tz: st.tz,
            now: (st.now)(),
            history: &l.history,
            items: &l.items,
            goals: &l.goals,
            notes: &l.notes,
            private: &l.private,
        });
        let disposition = format!(
            "attachment; filename=\"1on1-{}.md\"",
            export_name(&acc.manager, &acc.report)
        );
        Ok((
            [
                (
                    header::CONTENT_TYPE,
                    "text/markdown; charset=utf-8".to_string(),
                ),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            text,
        )
            .into_response())
    })
    .await
}

/// A file-name-safe name for a pair's export.
pub fn export_name(manager: &str, report: &str) -> String {
    format!("{manager}-{report}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub(super) async fn status_page(State(state): State<WebState>) -> Response {
    blocking(state, false, |st| {
        let now = (st.now)();
        let mut views = Vec::new();
        for pair in st.pairs() {
            let findings = st.store.findings(&pair.id)?;
            let history = st.store.occurrences(&pair.id)?;
            views.push(pages::PairStatus {
                pair,
                findings,
                history,
            });
        }
        Ok(pages::status(&st.base(), st.tz, now, &views).into_response())
    })
    .await
}

// ---- items ------------------------------------------------------------------------------------

/// A new item, as the form or the JSON API gave it.
struct NewItem {
    kind: ItemKind,
    section: Section,
    text: String,
    owner: Option<String>,
    due: Option<NaiveDate>,
    author: Option<String>,
}

fn parse_new_item(form: &FormMap) -> Result<NewItem, WebError> {
    let kind = match form.get("kind").map(String::as_str) {
        Some("talking_point") => ItemKind::TalkingPoint,
        Some("action_item") => ItemKind::ActionItem,
        Some(other) => {
            return Err(bad(
                "kind",
                format!("{other:?} is not talking_point or action_item"),
            ));
        }
        None => return Err(bad("kind", "is required")),
    };
    let text = required(form, "text", MAX_TEXT_CHARS)?;
    let author = optional(form, "author", MAX_NAME_CHARS)?;
    let (section, owner, due) = match kind {
        ItemKind::TalkingPoint => {
            let section = section_field(form, "section")?;
            if section == Section::ActionItems {
                return Err(bad(
                    "section",
                    "action items are added with the action item form (they need an owner)",
                ));
            }
            (section, optional(form, "owner", MAX_NAME_CHARS)?, None)
        }
        ItemKind::ActionItem => {
            if let Some(raw) = form.get("section").map(|s| s.trim())
                && !raw.is_empty()
                && raw != section_value(Section::ActionItems)
            {
                return Err(bad("section", "an action item belongs to action_items"));
            }
            (
                Section::ActionItems,
                Some(required(form, "owner", MAX_NAME_CHARS)?),
                due(form, "due")?,
            )
        }
    };
    Ok(NewItem {
        kind,
        section,
        text,
        owner,
        due,
        author,
    })
}

fn insert_item(
    st: &WebState,
    doc: &AgendaDoc,
    who: &Who,
    new: NewItem,
) -> Result<AgendaItem, WebError> {
    let existing = st.store.agenda_items(&doc.pair_id)?;
    if existing.len() >= MAX_ITEMS_PER_PAIR {
        return Err(bad(
            "text",
            format!("this pair's agenda already holds {MAX_ITEMS_PER_PAIR} items"),
        ));
    }
    let history = st.store.occurrences(&doc.pair_id)?;
    let now = (st.now)();
    // A new item goes to the end of its section.
    let rank = existing
        .iter()
        .filter(|i| i.section == new.section)
        .map(|i| i.rank)
        .max()
        .map_or(0, |r| r.saturating_add(1));
    let item = AgendaItem {
        id: st.store.new_id()?,
        pair_id: doc.pair_id.clone(),
        kind: new.kind,
        section: new.section,
        text: new.text,
        owner: new.owner,
        author: who.author(new.author),
        origin_meeting: doc.meeting.clone(),
        origin_start: doc_start(&history, doc),
        created_at: now,
        due: new.due,
        rank,
        ..AgendaItem::default()
    };
    let stored = st
        .store
        .change_agenda_item(&doc.pair_id, &item.id, |cur| match cur {
            Some(_) => (Write::Keep, false), // an id collision (2^-64): refuse rather than overwrite
            None => (Write::Put(item.clone()), true),
        })?;
    if !stored {
        return Err(WebError::Internal("a new item id collided".into()));
    }
    st.store.flush()?;
    Ok(item)
}

pub(super) async fn add_item(
    State(state): State<WebState>,
    Path(token): Path<String>,
    req: Req,
    form: FormResult,
) -> Response {
    blocking(state, false, move |st| {
        let (doc, form, back, acc) = form_write(st, &req, &token, form)?;
        let new = parse_new_item(&form)?;
        let section = new.section;
        insert_item(st, &doc, &acc.who, new)?;
        Ok(see_other(&format!("{back}#{}", section_value(section))))
    })
    .await
}

/// What can be done to an existing item.
enum ItemOp {
    Done,
    Reopen,
    Defer,
    Drop(String),
    Delete {
        version: u64,
    },
    Edit {
        version: u64,
        base: Option<ItemFields>,
        mine: ItemFields,
    },
    Move {
        up: bool,
    },
}

enum OpResult {
    Applied(Option<AgendaItem>),
    Conflict {
        current: AgendaItem,
        mine: Option<ItemFields>,
        fields: Vec<&'static str>,
    },
}

fn edit_fields(form: &FormMap, prefix: &str, kind: ItemKind) -> Result<ItemFields, WebError> {
    let f = |name: &str| -> String { format!("{prefix}{name}") };
    let mut sub: FormMap = HashMap::new();
    for name in ["text", "owner", "due", "section"] {
        if let Some(v) = form.get(&f(name)) {
            sub.insert(name.to_string(), v.clone());
        }
    }
    let text = required(&sub, "text", MAX_TEXT_CHARS)?;
    let (owner, due, section) = match kind {
        ItemKind::ActionItem => (
            Some(required(&sub, "owner", MAX_NAME_CHARS)?),
            due(&sub, "due")?,
            Section::ActionItems,
        ),
        ItemKind::TalkingPoint => {
            let section = section_field(&sub, "section")?;
            if section == Section::ActionItems {
                return Err(bad(
                    "section",
                    "a talking point cannot become an action item",
                ));
            }
            (optional(&sub, "owner", MAX_NAME_CHARS)?, None, section)
        }
    };
    Ok(ItemFields {
        text,
        owner,
        due,
        section,
    })
}

fn parse_item_op(
    st: &WebState,
    pair_id: &str,
    id: &str,
    action: &str,
    form: &FormMap,
) -> Result<ItemOp, WebError> {
    Ok(match action {
        "done" => ItemOp::Done,
        "reopen" => ItemOp::Reopen,
        "defer" => ItemOp::Defer,
        "drop" => ItemOp::Drop(required(form, "reason", MAX_REASON_CHARS)?),
        "delete" => ItemOp::Delete {
            version: version(form)?,
        },
        "up" | "down" => ItemOp::Move { up: action == "up" },
        "edit" => {
            let kind = st
                .store
                .agenda_item(pair_id, id)?
                .map(|i| i.kind)
                .ok_or_else(|| bad("item", "is not an item of this agenda"))?;
            let has_base = form.contains_key("base_text");
            ItemOp::Edit {
                version: version(form)?,
                base: if has_base {
                    // The base is what the page showed: taken as is (no validation beyond size).
                    Some(ItemFields {
                        text: long_text(form, "base_text", MAX_TEXT_CHARS)?
                            .trim()
                            .to_string(),
                        owner: optional(form, "base_owner", MAX_NAME_CHARS)?,
                        due: due(form, "base_due")?,
                        section: parse_section(form.get("base_section").map_or("", |s| s.trim()))
                            .unwrap_or(Section::ActionItems),
                    })
                } else {
                    None
                },
                mine: edit_fields(form, "", kind)?,
            }
        }
        other => {
            return Err(bad(
                "action",
                format!("{other:?} is not something an item can do"),
            ));
        }
    })
}

/// How the doc shows `item` (`None`: not on this doc).
fn shown_on<'a>(
    item: &'a AgendaItem,
    history: &[Occurrence],
    doc: &AgendaDoc,
    start: DateTime<Utc>,
) -> Option<DocItem<'a>> {
    agenda::doc_items(std::slice::from_ref(item), history, &doc.meeting, start)
        .into_iter()
        .next()
}

/// Apply `op` to item `id` as shown on `doc`, in one transaction.
fn apply_item_op(
    st: &WebState,
    doc: &AgendaDoc,
    who: &Who,
    id: &str,
    op: ItemOp,
) -> Result<OpResult, WebError> {
    if !plausible_id(id) {
        return Err(bad("item", "is not an item id"));
    }
    let history = st.store.occurrences(&doc.pair_id)?;
    let start = doc_start(&history, doc);
    let now = (st.now)();
    if let ItemOp::Move { up } = op {
        return move_op(st, doc, &history, start, id, up, now);
    }
    let by = who.author(None);
    let result = st.store.change_agenda_item(&doc.pair_id, id, |cur| {
        let Some(cur) = cur else {
            return (
                Write::Keep,
                Err(bad("item", "is not an item of this agenda")),
            );
        };
        let Some(shown) = shown_on(&cur, &history, doc, start) else {
            return (
                Write::Keep,
                Err(bad(
                    "item",
                    "is not on this agenda (it belongs to a later meeting or was done earlier)",
                )),
            );
        };
        let (done_here, deferred_here) = (shown.done_here, shown.deferred_here);
        let mut next = cur.clone();
        next.version = cur.version.saturating_add(1);
        match &op {
            ItemOp::Done | ItemOp::Drop(_) => {
                if done_here {
                    return (Write::Keep, Ok(OpResult::Applied(Some(cur))));
                }
                next.done_in = Some(doc.meeting.clone());
                next.done_start = Some(start);
                next.done_at = Some(now);
                next.done_by = by.clone();
                next.drop_reason = match &op {
                    ItemOp::Drop(reason) => Some(reason.clone()),
                    _ => None,
                };
            }
            ItemOp::Reopen => {
                if done_here {
                    next.done_in = None;
                    next.done_start = None;
                    next.done_at = None;
                    next.done_by = None;
                    next.drop_reason = None;
                } else if deferred_here {
                    next.deferred.retain(|d| d.meeting != doc.meeting);
                } else if cur.is_closed() {
                    return (
                        Write::Keep,
                        Err(bad(
                            "item",
                            "was ticked done in a later meeting's agenda; reopen it there",
                        )),
                    );
                } else {
                    return (Write::Keep, Ok(OpResult::Applied(Some(cur))));
                }
            }
            ItemOp::Defer => {
                if done_here {
                    return (
                        Write::Keep,
                        Err(bad("item", "is done in this meeting; reopen it first")),
                    );
                }
                if deferred_here {
                    return (Write::Keep, Ok(OpResult::Applied(Some(cur))));
                }
                next.deferred.push(Deferral {
                    meeting: doc.meeting.clone(),
                    start,
                });
            }
            ItemOp::Delete { version } => {
                if *version != cur.version {
                    return (
                        Write::Keep,
                        Ok(OpResult::Conflict {
                            current: cur,
                            mine: None,
                            fields: vec!["item"],
                        }),
                    );
                }
                return (Write::Delete, Ok(OpResult::Applied(None)));
            }
            ItemOp::Edit {
                version,
                base,
                mine,
            } => {
                let current = cur.fields();
                let base = match base {
                    Some(b) => b.clone(),
                    None if *version == cur.version => current.clone(),
                    None => {
                        return (
                            Write::Keep,
                            Ok(OpResult::Conflict {
                                current: cur,
                                mine: Some(mine.clone()),
                                fields: vec!["text", "owner", "due", "section"],
                            }),
                        );
                    }
                };
                match merge_item(&base, mine, &current) {
                    Ok(merged) if merged == current => {
                        return (Write::Keep, Ok(OpResult::Applied(Some(cur))));
                    }
                    Ok(merged) => {
                        next.text = merged.text;
                        next.owner = merged.owner;
                        next.due = merged.due;
                        next.section = merged.section;
                        next.updated_at = Some(now);
                    }
                    Err(fields) => {
                        return (
                            Write::Keep,
                            Ok(OpResult::Conflict {
                                current: cur,
                                mine: Some(mine.clone()),
                                fields,
                            }),
                        );
                    }
                }
            }
            ItemOp::Move { .. } => return (Write::Keep, Ok(OpResult::Applied(Some(cur)))),
        }
        (Write::Put(next.clone()), Ok(OpResult::Applied(Some(next))))
    })??;
    st.store.flush()?;
    Ok(result)
}

fn move_op(
    st: &WebState,
    doc: &AgendaDoc,
    history: &[Occurrence],
    start: DateTime<Utc>,
    id: &str,
    up: bool,
    now: DateTime<Utc>,
) -> Result<OpResult, WebError> {
    let items = st.store.agenda_items(&doc.pair_id)?;
    let shown = agenda::doc_items(&items, history, &doc.meeting, start);
    let Some(section) = shown
        .iter()
        .find(|d| d.item.id == id)
        .map(|d| d.item.section)
    else {
        return Err(bad("item", "is not on this agenda"));
    };
    let in_section: Vec<&AgendaItem> = shown
        .iter()
        .filter(|d| d.item.section == section)
        .map(|d| d.item)
        .collect();
    let ranks = agenda::move_item(&in_section, id, up);
    if !ranks.is_empty() {
        st.store.set_item_ranks(&doc.pair_id, &ranks, now)?;
        st.store.flush()?;
    }
    Ok(OpResult::Applied(st.store.agenda_item(&doc.pair_id, id)?))
}

/// The refused edit or delete of one item: what is stored, what was submitted, which fields.
struct ItemConflict<'a> {
    id: &'a str,
    current: &'a AgendaItem,
    mine: Option<&'a ItemFields>,
    fields: &'a [&'static str],
}

fn item_conflict_page(
    st: &WebState,
    doc: &AgendaDoc,
    acc: &Access,
    (back, form): (&str, &FormMap),
    c: ItemConflict<'_>,
) -> Response {
    let ItemConflict {
        id,
        current,
        mine,
        fields,
    } = c;
    let base = st.base();
    let back_value = form.get("back").cloned().unwrap_or_default();
    let mut hidden = vec![
        ("csrf", acc.csrf.clone()),
        ("back", back_value),
        ("version", current.version.to_string()),
    ];
    let (what, action, rows) = match mine {
        Some(mine) => {
            hidden.extend([
                ("base_text", current.text.clone()),
                ("base_owner", current.owner.clone().unwrap_or_default()),
                (
                    "base_due",
                    current.due.map(|d| d.to_string()).unwrap_or_default(),
                ),
                ("base_section", section_value(current.section).to_string()),
                ("text", mine.text.clone()),
                ("owner", mine.owner.clone().unwrap_or_default()),
                ("due", mine.due.map(|d| d.to_string()).unwrap_or_default()),
                ("section", section_value(mine.section).to_string()),
            ]);
            let rows = vec![
                ("Text", current.text.clone(), mine.text.clone()),
                (
                    "Owner",
                    current.owner.clone().unwrap_or_default(),
                    mine.owner.clone().unwrap_or_default(),
                ),
                (
                    "Due",
                    current.due.map(|d| d.to_string()).unwrap_or_default(),
                    mine.due.map(|d| d.to_string()).unwrap_or_default(),
                ),
            ];
            ("item", "edit", rows)
        }
        None => (
            "item",
            "delete",
            vec![("Text", current.text.clone(), "(delete it)".to_string())],
        ),
    };
    let view = ConflictView {
        what,
        fields,
        rows,
        action: format!("{base}/a/{}/items/{id}/{action}", doc.token),
        hidden,
        back: back.to_string(),
    };
    (StatusCode::CONFLICT, pages::conflict(&base, &view)).into_response()
}

pub(super) async fn item_action(
    State(state): State<WebState>,
    Path((token, id, action)): Path<(String, String, String)>,
    req: Req,
    form: FormResult,
) -> Response {
    blocking(state, false, move |st| {
        let (doc, form, back, acc) = form_write(st, &req, &token, form)?;
        let op = parse_item_op(st, &doc.pair_id, &id, &action, &form)?;
        match apply_item_op(st, &doc, &acc.who, &id, op)? {
            OpResult::Applied(Some(item)) => Ok(see_other(&format!("{back}#item-{}", item.id))),
            OpResult::Applied(None) => Ok(see_other(&back)),
            OpResult::Conflict {
                current,
                mine,
                fields,
            } => Ok(item_conflict_page(
                st,
                &doc,
                &acc,
                (&back, &form),
                ItemConflict {
                    id: &id,
                    current: &current,
                    mine: mine.as_ref(),
                    fields: &fields,
                },
            )),
        }
    })
    .await
}

// ---- notes ------------------------------------------------------------------------------------

pub(super) async fn save_notes(
    State(state): State<WebState>,
    Path(token): Path<String>,
    req: Req,
    form: FormResult,
) -> Response {
    blocking(state, false, move |st| {
        let (doc, form, back, acc) = form_write(st, &req, &token, form)?;
        let notes = long_text(&form, "notes", MAX_NOTES_CHARS)?;
        let decisions = long_text(&form, "decisions", MAX_DECISIONS_CHARS)?;
        let base_notes = long_text(&form, "base_notes", MAX_NOTES_CHARS)?;
        let base_decisions = long_text(&form, "base_decisions", MAX_DECISIONS_CHARS)?;
        let v = version(&form)?;
        let now = (st.now)();
        let by = acc.who.author(None);
        let outcome = st
            .store
            .change_shared_notes(&doc.pair_id, &doc.meeting, |cur| {
                let cur = cur.unwrap_or_else(|| SharedNotes {
                    pair_id: doc.pair_id.clone(),
                    meeting: doc.meeting.clone(),
                    ..SharedNotes::default()
                });
                let (bn, bd) = if v == cur.version {
                    (cur.notes.clone(), cur.decisions.clone())
                } else {
                    (base_notes.clone(), base_decisions.clone())
                };
                let n = merge3(&bn, &notes, &cur.notes);
                let d = merge3(&bd, &decisions, &cur.decisions);
                match (n, d) {
                    (Some(n), Some(d)) if n == cur.notes && d == cur.decisions => {
                        (Write::Keep, Ok(()))
                    }
                    (Some(n), Some(d)) => {
                        let mut next = cur.clone();
                        next.notes = n;
                        next.decisions = d;
                        next.version = cur.version.saturating_add(1);
                        next.updated_at = Some(now);
                        next.updated_by = by.clone();
                        (Write::Put(next), Ok(()))
                    }
                    (n, d) => {
                        let mut fields = Vec::new();
                        if n.is_none() {
                            fields.push("notes");
                        }
                        if d.is_none() {
                            fields.push("decisions");
                        }
                        (Write::Keep, Err((cur, fields)))
                    }
                }
            })?;
        match outcome {
            Ok(()) => {
                st.store.flush()?;
                Ok(see_other(&format!("{back}#notes")))
            }
            Err((cur, fields)) => {
                let base = st.base();
                let view = ConflictView {
                    what: "meeting’s notes",
                    fields: &fields,
                    rows: vec![
                        ("Notes", cur.notes.clone(), notes.clone()),
                        ("Decisions", cur.decisions.clone(), decisions.clone()),
                    ],
                    action: format!("{base}/a/{}/notes", doc.token),
                    hidden: vec![
                        ("csrf", acc.csrf.clone()),
                        ("back", form.get("back").cloned().unwrap_or_default()),
                        ("version", cur.version.to_string()),
                        ("base_notes", cur.notes.clone()),
                        ("base_decisions", cur.decisions.clone()),
                        ("notes", notes.clone()),
                        ("decisions", decisions.clone()),
                    ],
                    back,
                };
                Ok((StatusCode::CONFLICT, pages::conflict(&base, &view)).into_response())
            }
        }
    })
    .await
}

pub(super) async fn save_private(
    State(state): State<WebState>,
    Path(token): Path<String>,
    req: Req,
    form: FormResult,
) -> Response {
    blocking(state, false, move |st| {
        let (doc, form, back, acc) = form_write(st, &req, &token, form)?;
        let Some(author) = acc.who.email().map(str::to_string) else {
            return Err(bad("text", "private notes need you to sign in first"));
        };
        let text = long_text(&form, "text", MAX_PRIVATE_CHARS)?;
        let v = version(&form)?;
        let now = (st.now)();
        let outcome = st
            .store
            .change_private_note(&doc.pair_id, &doc.meeting, &author, |cur| {
                let cur_version = cur.as_ref().map_or(0, |c| c.version);
                if cur_version != v {
                    return (Write::Keep, Err(cur.map(|c| c.text).unwrap_or_default()));
                }
                if text.trim().is_empty() {
                    return (Write::Delete, Ok(()));
                }
                (
                    Write::Put(PrivateNote {
                        pair_id: doc.pair_id.clone(),
                        meeting: doc.meeting.clone(),
                        author: author.clone(),
                        text: text.clone(),
                        version: cur_version.saturating_add(1),
                        updated_at: Some(now),
                    }),
                    Ok(()),
                )
            })?;
        match outcome {
            Ok(()) => {
                st.store.flush()?;
                Ok(see_other(&format!("{back}#private")))
            }
            Err(current) => {
                let base = st.base();
                let current_version = st
                    .store
                    .private_notes(&doc.pair_id, &author)?
                    .iter()
                    .find(|n| n.meeting == doc.meeting)
                    .map_or(0, |n| n.version);
                let view = ConflictView {
                    what: "private note (in another tab or window)",
                    fields: &["text"],
                    rows: vec![("Private note", current, text.clone())],
                    action: format!("{base}/a/{}/private", doc.token),
                    hidden: vec![
                        ("csrf", acc.csrf.clone()),
                        ("back", form.get("back").cloned().unwrap_or_default()),
                        ("version", current_version.to_string()),
                        ("text", text.clone()),
                    ],
                    back,
                };
                Ok((StatusCode::CONFLICT, pages::conflict(&base, &view)).into_response())
            }
        }
    })
    .await
}

// ---- goals ------------------------------------------------------------------------------------

pub(super) async fn add_goal(
    State(state): State<WebState>,
    Path(token): Path<String>,
    req: Req,
    form: FormResult,
) -> Response {
    blocking(state, false, move |st| {
        let (doc, form, back, acc) = form_write(st, &req, &token, form)?;
        let title = required(&form, "title", MAX_GOAL_CHARS)?;
        let next_step = optional(&form, "next_step", MAX_STEP_CHARS)?.unwrap_or_default();
        if st.store.goals(&doc.pair_id)?.len() >= MAX_GOALS_PER_PAIR {
            return Err(bad(
                "title",
                format!("this pair already has {MAX_GOALS_PER_PAIR} goals"),
            ));
        }
        let history = st.store.occurrences(&doc.pair_id)?;
        let now = (st.now)();
        let goal = Goal {
            id: st.store.new_id()?,
            pair_id: doc.pair_id.clone(),
            title,
            next_step,
            created_in: doc.meeting.clone(),
            created_start: doc_start(&history, &doc),
            created_at: now,
            author: acc.who.author(None),
            ..Goal::default()
        };
        let stored = st
            .store
            .change_goal(&doc.pair_id, &goal.id, |cur| match cur {
                Some(_) => (Write::Keep, false),
                None => (Write::Put(goal.clone()), true),
            })?;
        if !stored {
            return Err(WebError::Internal("a new goal id collided".into()));
        }
        st.store.flush()?;
        Ok(see_other(&format!("{back}#goal-{}", goal.id)))
    })
    .await
}

pub(super) async fn goal_action(
    State(state): State<WebState>,
    Path((token, id, action)): Path<(String, String, String)>,
    req: Req,
    form: FormResult,
) -> Response {
    blocking(state, false, move |st| {
        let (doc, form, back, acc) = form_write(st, &req, &token, form)?;
        if !plausible_id(&id) {
            return Err(bad("goal", "is not a goal id"));
        }
        let history = st.store.occurrences(&doc.pair_id)?;
        let start = doc_start(&history, &doc);
        let now = (st.now)();
        let by = acc.who.author(None);
        let progress_id = st.store.new_id()?;
        let edit = match action.as_str() {
            "edit" => Some((
                required(&form, "title", MAX_GOAL_CHARS)?,
                optional(&form, "next_step", MAX_STEP_CHARS)?.unwrap_or_default(),
                form.get("base_title")
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default(),
                form.get("base_next_step")
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default(),
                version(&form)?,
            )),
            "progress" | "close" | "reopen" => None,
            other => {
                return Err(bad(
                    "action",
                    format!("{other:?} is not something a goal can do"),
                ));
            }
        };
        let progress_text = if action == "progress" {
            Some(required(&form, "text", MAX_TEXT_CHARS)?)
        } else {
            None
        };
        let outcome = st.store.change_goal(&doc.pair_id, &id, |cur| {
            let Some(cur) = cur else {
                return (Write::Keep, Err(bad("goal", "is not a goal of this pair")));
            };
            let shown = goals_for_doc(std::slice::from_ref(&cur), &doc.meeting, start);
            let Some(closed_here) = shown.first().map(|g| g.closed_here) else {
                return (
                    Write::Keep,
                    Err(bad("goal", "is not on this meeting's agenda")),
                );
            };
            let mut next = cur.clone();
            next.version = cur.version.saturating_add(1);
            match action.as_str() {
                "progress" => {
                    if cur.progress.len() >= MAX_PROGRESS_PER_GOAL {
                        return (
                            Write::Keep,
                            Err(bad("text", "this goal has too many progress notes")),
                        );
                    }
                    next.progress.push(GoalProgress {
                        id: progress_id.clone(),
                        meeting: doc.meeting.clone(),
                        start,
                        text: progress_text.clone().unwrap_or_default(),
                        author: by.clone(),
                        at: now,
                    });
                }
                "close" if cur.closed.is_none() => {
                    next.closed = Some(GoalClosed {
                        meeting: doc.meeting.clone(),
                        start,
                        at: now,
                        by: by.clone(),
                    });
                }
                "reopen" if closed_here => next.closed = None,
                "close" | "reopen" => return (Write::Keep, Ok(None)),
                _ => {
                    let Some((title, step, base_title, base_step, v)) = &edit else {
                        return (Write::Keep, Ok(None));
                    };
                    let (bt, bs) = if *v == cur.version {
                        (cur.title.clone(), cur.next_step.clone())
                    } else {
                        (base_title.clone(), base_step.clone())
                    };
                    match (
                        merge3(&bt, title, &cur.title),
                        merge3(&bs, step, &cur.next_step),
                    ) {
                        (Some(t), Some(s)) if t == cur.title && s == cur.next_step => {
                            return (Write::Keep, Ok(None));
                        }
                        (Some(t), Some(s)) => {
                            next.title = t;
                            next.next_step = s;
                        }
                        _ => return (Write::Keep, Ok(Some(cur))),
                    }
                }
            }
            (Write::Put(next), Ok(None))
        })??;
        match outcome {
            None => {
                st.store.flush()?;
                Ok(see_other(&format!("{back}#goal-{id}")))
            }
            Some(cur) => {
                let Some((title, step, ..)) = edit else {
                    return Ok(see_other(&back));
                };
                let base = st.base();
                let view = ConflictView {
                    what: "goal",
                    fields: &["title", "next step"],
                    rows: vec![
                        ("Goal", cur.title.clone(), title.clone()),
                        ("Next step", cur.next_step.clone(), step.clone()),
                    ],
                    action: format!("{base}/a/{}/goals/{id}/edit", doc.token),
                    hidden: vec![
                        ("csrf", acc.csrf.clone()),
                        ("back", form.get("back").cloned().unwrap_or_default()),
                        ("version", cur.version.to_string()),
                        ("base_title", cur.title.clone()),
                        ("base_next_step", cur.next_step.clone()),
                        ("title", title),
                        ("next_step", step),
                    ],
                    back,
                };
                Ok((StatusCode::CONFLICT, pages::conflict(&base, &view)).into_response())
            }
        }
    })
    .await
}

// ---- the JSON API -----------------------------------------------------------------------------

/// One item as the JSON API shows it on one doc.
#[derive(Serialize)]
struct ItemJson {
    id: String,
    kind: &'static str,
    section: &'static str,
    text: String,
    owner: Option<String>,
    due: Option<NaiveDate>,
    author: Option<String>,
    version: u64,
    carried_over: bool,
    times_carried: u32,
    done: bool,
    deferred: bool,
    dropped_reason: Option<String>,
    origin_start: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

fn item_json(d: &DocItem<'_>) -> ItemJson {
    let it = d.item;
    ItemJson {
        id: it.id.clone(),
        kind: match it.kind {
            ItemKind::TalkingPoint => "talking_point",
            ItemKind::ActionItem => "action_item",
        },
        section: section_value(it.section),
        text: it.text.clone(),
        owner: it.owner.clone(),
        due: it.due,
        author: it.author.clone(),
        version: it.version,
        carried_over: d.carried_over,
        times_carried: d.times_carried,
        done: d.done_here,
        deferred: d.deferred_here,
        dropped_reason: d.dropped_here().then(|| it.drop_reason.clone()).flatten(),
        origin_start: it.origin_start,
        created_at: it.created_at,
    }
}

/// An item as `doc` shows it now, as JSON.
fn item_on_doc(
    st: &WebState,
    doc: &AgendaDoc,
    item: &AgendaItem,
) -> Result<serde_json::Value, WebError> {
    let history = st.store.occurrences(&doc.pair_id)?;
    let start = doc_start(&history, doc);
    let json = match shown_on(item, &history, doc, start) {
        Some(d) => serde_json::to_value(item_json(&d)),
        None => serde_json::to_value(item_json(&DocItem {
            item,
            carried_over: false,
            times_carried: 0,
            done_here: false,
            deferred_here: false,
        })),
    };
    json.map_err(|e| WebError::Internal(e.to_string()))
}

fn api_access(st: &WebState, req: &Req, token: &str) -> Result<(AgendaDoc, Access), WebError> {
    let doc = find_doc(st, req, token)?;
    let path = format!("{}/a/{}", st.base(), doc.token);
    let acc = access(st, req, &doc.pair_id, &path)?;
    Ok((doc, acc))
}

pub(super) async fn api_items(
    State(state): State<WebState>,
    Path(token): Path<String>,
    req: Req,
) -> Response {
    blocking(state, true, move |st| {
        let (doc, acc) = api_access(st, &req, &token)?;
        let history = st.store.occurrences(&doc.pair_id)?;
        let items = st.store.agenda_items(&doc.pair_id)?;
        let start = doc_start(&history, &doc);
        let shown: Vec<ItemJson> = agenda::doc_items(&items, &history, &doc.meeting, start)
            .iter()
            .map(item_json)
            .collect();
        Ok(Json(serde_json::json!({
            "meeting": { "start": start, "pair": doc.pair_id },
            "revision": st.store.agenda_revision(&doc.pair_id)?,
            "csrf": acc.csrf,
            "items": shown,
        }))
        .into_response())
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct NewItemJson {
    kind: String,
    #[serde(default)]
    section: Option<String>,
    text: String,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    due: Option<String>,
    #[serde(default)]
    author: Option<String>,
}

type JsonResult<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

fn json_body<T>(body: JsonResult<T>) -> Result<T, WebError> {
    body.map(|Json(b)| b).map_err(|e| {
        bad(
            "body",
            format!("is not the expected JSON: {}", e.body_text()),
        )
    })
}

pub(super) async fn api_add(
    State(state): State<WebState>,
    Path(token): Path<String>,
    req: Req,
    body: JsonResult<NewItemJson>,
) -> Response {
    blocking(state, true, move |st| {
        let (doc, acc) = api_access(st, &req, &token)?;
        auth::check_csrf(st, &req, acc.viewer.as_ref(), &doc.pair_id, None)?;
        let b = json_body(body)?;
        let mut form: FormMap = HashMap::new();
        form.insert("kind".into(), b.kind);
        form.insert("text".into(), b.text);
        for (k, v) in [
            ("section", b.section),
            ("owner", b.owner),
            ("due", b.due),
            ("author", b.author),
        ] {
            if let Some(v) = v {
                form.insert(k.into(), v);
            }
        }
        let item = insert_item(st, &doc, &acc.who, parse_new_item(&form)?)?;
        Ok((
            StatusCode::CREATED,
            Json(serde_json::json!({ "item": item_on_doc(st, &doc, &item)? })),
        )
            .into_response())
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct OpJson {
    op: String,
    #[serde(default)]
    version: Option<u64>,
    #[serde(default)]
    base: Option<FieldsJson>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    due: Option<String>,
    #[serde(default)]
    section: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct FieldsJson {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    due: Option<String>,
    #[serde(default)]
    section: Option<String>,
}

pub(super) async fn api_op(
    State(state): State<WebState>,
    Path((token, id)): Path<(String, String)>,
    req: Req,
    body: JsonResult<OpJson>,
) -> Response {
    blocking(state, true, move |st| {
        let (doc, acc) = api_access(st, &req, &token)?;
        auth::check_csrf(st, &req, acc.viewer.as_ref(), &doc.pair_id, None)?;
        let b = json_body(body)?;
        let mut form: FormMap = HashMap::new();
        let fields = [
            ("version", b.version.map(|v| v.to_string())),
            ("text", b.text),
            ("owner", b.owner),
            ("due", b.due),
            ("section", b.section),
            ("reason", b.reason),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                form.insert(k.into(), v);
            }
        }
        if let Some(base) = b.base {
            let base_fields = [
                ("base_text", base.text),
                ("base_owner", base.owner),
                ("base_due", base.due),
                ("base_section", base.section),
            ];
            for (k, v) in base_fields {
                form.insert(k.into(), v.unwrap_or_default());
            }
        }
        if b.op == "edit" {
            // Fields not sent stay as they are: fill them from the stored item.
            if let Some(cur) = st.store.agenda_item(&doc.pair_id, &id)? {
                let cur_fields = [
                    ("text", cur.text.clone()),
                    ("owner", cur.owner.clone().unwrap_or_default()),
                    ("due", cur.due.map(|d| d.to_string()).unwrap_or_default()),
                    ("section", section_value(cur.section).to_string()),
                ];
                for (k, v) in cur_fields {
                    form.entry(k.into()).or_insert(v);
                }
            }
        }
        let op = parse_item_op(st, &doc.pair_id, &id, &b.op, &form)?;
        match apply_item_op(st, &doc, &acc.who, &id, op)? {
            OpResult::Applied(Some(item)) => Ok(Json(
                serde_json::json!({ "item": item_on_doc(st, &doc, &item)? }),
            )
            .into_response()),
            OpResult::Applied(None) => {
                Ok(Json(serde_json::json!({ "deleted": id })).into_response())
            }
            OpResult::Conflict {
                current, fields, ..
            } => Ok((
                StatusCode::CONFLICT,
                Json(serde_json::json!({
                    "error": "the item changed since your version; nothing was saved",
                    "conflict": fields,
                    "current": item_on_doc(st, &doc, &current)?,
                })),
            )
                .into_response()),
        }
    })
    .await
}

// ---- sign-in ----------------------------------------------------------------------------------

pub(super) async fn sign_in(
    State(state): State<WebState>,
    Query(q): Query<HashMap<String, String>>,
    req: Req,
) -> Response {
    let Some(sign_in) = state.sign_in.clone() else {
        return WebError::NotFound.page(&state, false);
    };
    let base = state.base();
    let next = q.get("next").map(String::as_str).unwrap_or("");
    let Some(next) = auth::safe_next(&base, next) else {
        return bad("next", "is not a page of this server").page(&state, false);
    };
    if let Some(retry_after) = state.sign_in_failures.blocked(req.ip, (state.now)()) {
        return WebError::TooMany { retry_after }.page(&state, false);
    }
    match sign_in.start(next, (state.now)()).await {
        Ok((url, login_state)) => {
            let mut res = see_other(&url);
            let cookie = auth::set_cookie(&state, auth::LOGIN_COOKIE, &login_state, 600);
            if let Ok(v) = axum::http::HeaderValue::from_str(&cookie) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            res
        }
        Err(reason) => {
            tracing::warn!(reason = %reason, "sign-in could not start");
            WebError::SignInFailed(format!(
                "the sign-in provider could not be reached ({reason})"
            ))
            .page(&state, false)
        }
    }
}

pub(super) async fn callback(
    State(state): State<WebState>,
    Query(q): Query<HashMap<String, String>>,
    req: Req,
) -> Response {
    let Some(sign_in) = state.sign_in.clone() else {
        return WebError::NotFound.page(&state, false);
    };
    let now = (state.now)();
    if let Some(retry_after) = state.sign_in_failures.blocked(req.ip, now) {
        return WebError::TooMany { retry_after }.page(&state, false);
    }
    let fail = |reason: String| {
        state.sign_in_failures.record(req.ip, now);
        tracing::warn!(reason = %reason, "sign-in failed");
        WebError::SignInFailed(reason).page(&state, false)
    };
    if let Some(error) = q.get("error") {
        let description = q.get("error_description").map(String::as_str).unwrap_or("");
        return fail(
            format!("the provider refused: {error} {description}")
                .trim()
                .to_string(),
        );
    }
    let (Some(login_state), Some(code)) = (q.get("state"), q.get("code")) else {
        return fail("the provider's answer has no state or code".into());
    };
    if req.cookie(auth::LOGIN_COOKIE) != Some(login_state.as_str()) {
        return fail("this sign-in was not started in this browser".into());
    }
    let (email, next) = match sign_in.finish(login_state, code, now).await {
        Ok(v) => v,
        Err(reason) => return fail(reason),
    };
    let st = state.clone();
    let em = email.clone();
    let made = tokio::task::spawn_blocking(move || sign_in.new_session(&st, &em, now)).await;
    let (id, max_age) = match made {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return e.page(&state, false),
        Err(e) => return WebError::Internal(e.to_string()).page(&state, false),
    };
    tracing::info!(email = %email, "signed in to the agenda pages");
    let key = match state.key() {
        Ok(k) => k,
        Err(e) => return e.page(&state, false),
    };
    let mut res = see_other(&next);
    for cookie in [
        auth::set_cookie(
            &state,
            auth::SESSION_COOKIE,
            &auth::session_cookie_value(&key, &id),
            max_age,
        ),
        auth::set_cookie(&state, auth::LOGIN_COOKIE, "", 0),
    ] {
        if let Ok(v) = axum::http::HeaderValue::from_str(&cookie) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

pub(super) async fn sign_out(
    State(state): State<WebState>,
    req: Req,
    form: FormResult,
) -> Response {
    blocking(state, false, move |st| {
        let Form(form) = form.map_err(|e| bad("form", format!("could not be read: {e}")))?;
        let viewer = auth::viewer(st, &req)?;
        if let Some(v) = &viewer {
            auth::check_csrf(
                st,
                &req,
                Some(v),
                auth::SIGNOUT,
                form.get("csrf").map(String::as_str),
            )?;
            st.store.delete_session(&v.session_id)?;
            st.store.flush()?;
        }
        let mut res = (
            StatusCode::OK,
            pages::message(
                &st.base(),
                "Signed out",
                "You are signed out. Open the link in your invite to come back.",
                None,
            ),
        )
            .into_response();
        if let Ok(v) =
            axum::http::HeaderValue::from_str(&auth::set_cookie(st, auth::SESSION_COOKIE, "", 0))
        {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
        Ok(res)
    })
    .await
}
