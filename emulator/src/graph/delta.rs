//! `calendarView/delta`: rounds, pages and tokens.
//!
//! A *round* is one pass from an initial request (or a `$deltatoken`) to the page carrying the
//! `@odata.deltaLink`. When a round starts, the emulator computes the in-window set (single
//! instances, exceptions, occurrences of masters; never masters) and the list of items to send:
//! everything for an initial round; for a follow-up round, what is new or changed since the base
//! round plus `@removed` for what left the window, was deleted, or changed outside the window.
//! Pages are slices of that list (`$skiptoken = {round}.{offset}`, so retrying a nextLink is
//! idempotent); items render at page time from the current data. `$deltatoken = {round}` names a
//! finished round's snapshot (its in-window ids and the mailbox change sequence it saw).
//!
//! Invariants: each page has exactly one of `@odata.nextLink`/`@odata.deltaLink`, both absolute
//! and built from `Ctx::base_url`; a round pins the window and options of its first request;
//! unknown or evicted tokens give the configured expired-token error.
use super::model::{Event, Kind, Mailbox, ODATA_EVENT, View, occurrence_id, removed};
use super::{Call, GraphState, Out, begin, finish, graph_error, ok_bytes, tz};
use crate::common::{Ctx, Fault};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// One entry of a round's item list.
#[derive(Debug, Clone)]
pub enum Item {
    /// A stored single instance or exception, rendered in full.
    Event(String),
    /// An occurrence of a master at its original start, rendered as a skeleton.
    Occurrence(String, DateTime<Utc>),
    /// `@removed` for this id.
    Removed(String),
    /// A page boundary (an empty page when it starts a page).
    Break,
}

/// One delta round.
#[derive(Debug)]
pub struct Round {
    pub mailbox: String,
    pub window: (DateTime<Utc>, DateTime<Utc>),
    pub tz: Option<String>,
    pub page_size: Option<usize>,
    pub body_text: bool,
    pub items: Vec<Item>,
    /// Ids in the window when the round started.
    pub known: Arc<HashSet<String>>,
    /// The mailbox change sequence when the round started.
    pub since: u64,
}

/// Recent rounds, oldest evicted first.
#[derive(Debug, Default)]
pub struct RoundCache {
    map: HashMap<String, Arc<Round>>,
    order: VecDeque<String>,
}

impl RoundCache {
    /// Forget every round (all tokens become expired).
    pub fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
    }
    fn insert(&mut self, id: String, round: Arc<Round>, cap: usize) {
        self.map.insert(id.clone(), round);
        self.order.push_back(id);
        while self.order.len() > cap.max(1) {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }
    fn get(&self, id: &str) -> Option<Arc<Round>> {
        self.map.get(id).cloned()
    }
    /// Number of rounds held.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    /// True when no round is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// The in-window set of a mailbox: `(start, id, item, version)` sorted by start then id.
fn in_window(
    mb: &Mailbox,
    ws: DateTime<Utc>,
    we: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, String, Item, u64)> {
    let mut exceptions: HashSet<(&str, DateTime<Utc>)> = HashSet::new();
    for e in mb.events.values() {
        if let Kind::Exception {
            master,
            original_start,
        } = &e.kind
        {
            exceptions.insert((master.as_str(), *original_start));
        }
    }
    let mut out = Vec::new();
    for e in mb.events.values() {
        match e.kind {
            Kind::Master => {
                for os in e.occurrences_in(ws, we) {
                    if !exceptions.contains(&(e.id.as_str(), os)) {
                        out.push((
                            os,
                            occurrence_id(&e.id, os),
                            Item::Occurrence(e.id.clone(), os),
                            e.version,
                        ));
                    }
                }
            }
            _ => {
                if Event::overlaps(e.start, e.end, ws, we) {
                    out.push((e.start, e.id.clone(), Item::Event(e.id.clone()), e.version));
                }
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    out
}

/// Build the item list of a round over `mb`; `base` is the previous round's snapshot.
fn build(
    mb: &Mailbox,
    ws: DateTime<Utc>,
    we: DateTime<Utc>,
    base: Option<(&HashSet<String>, u64)>,
) -> (Vec<Item>, HashSet<String>) {
    let current = in_window(mb, ws, we);
    let ids: HashSet<String> = current.iter().map(|c| c.1.clone()).collect();
    let Some((known, since)) = base else {
        return (current.into_iter().map(|c| c.2).collect(), ids);
    };
    let mut items = Vec::new();
    let mut masters_in_window: HashSet<&str> = HashSet::new();
    for (_, id, item, version) in &current {
        if let Item::Occurrence(m, _) = item {
            masters_in_window.insert(m.as_str());
        }
        if !known.contains(id) || *version > since {
            items.push(item.clone());
        }
    }
    let mut removed: Vec<&str> = known
        .iter()
        .filter(|k| !ids.contains(*k))
        .map(String::as_str)
        .collect();
    removed.sort_unstable();
    let mut removed_set: HashSet<&str> = removed.iter().copied().collect();
    // Changes outside the window, and deletions, arrive as @removed too.
    let mut extra: Vec<&str> = Vec::new();
    for e in mb.events.values() {
        if e.version > since && !ids.contains(&e.id) && !known.contains(&e.id) {
            let in_view = e.kind == Kind::Master && masters_in_window.contains(e.id.as_str());
            if !in_view {
                extra.push(&e.id);
            }
        }
    }
    for (id, v) in &mb.tombstones {
        if *v > since && !ids.contains(id) {
            extra.push(id);
        }
    }
    extra.sort_unstable();
    for id in extra {
        if removed_set.insert(id) {
            removed.push(id);
        }
    }
    removed.retain(|id| !mb.silent.contains(*id));
    items.extend(removed.into_iter().map(|id| Item::Removed(id.to_string())));
    (items, ids)
}

/// Insert replays and empty-page breaks per the knobs (deterministic from the seed).
fn perturb(ctx: &Ctx, items: Vec<Item>, replay: f64, empty: f64) -> Vec<Item> {
    if replay <= 0.0 && empty <= 0.0 {
        return items;
    }
    let mut out: Vec<Item> = Vec::with_capacity(items.len() * 2);
    let mut pending: Vec<(usize, Item)> = Vec::new();
    let n = items.len();
    for (i, it) in items.into_iter().enumerate() {
        if empty > 0.0 && ctx.next_f64() < empty {
            out.push(Item::Break);
        }
        if replay > 0.0 && !matches!(it, Item::Break) && ctx.next_f64() < replay {
            let at = i + 1 + (ctx.next_u64() % (n - i) as u64) as usize;
            pending.push((at, it.clone()));
        }
        out.push(it);
        let (due, rest): (Vec<_>, Vec<_>) = pending.into_iter().partition(|(at, _)| *at <= i + 1);
        pending = rest;
        out.extend(due.into_iter().map(|(_, it)| it));
    }
    out.extend(pending.into_iter().map(|(_, it)| it));
    out
}

fn parse_window(q: &HashMap<String, String>) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let get = |k: &str| {
        q.iter()
            .find(|(qk, _)| qk.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    };
    let (Some(s), Some(e)) = (get("startDateTime"), get("endDateTime")) else {
        return Err("This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.".into());
    };
    let s = super::model::parse_local_or_offset(s, chrono_tz::Tz::UTC)
        .map_err(|e| format!("startDateTime: {e}"))?;
    let e = super::model::parse_local_or_offset(e, chrono_tz::Tz::UTC)
        .map_err(|e| format!("endDateTime: {e}"))?;
    if e <= s {
        return Err("endDateTime must be after startDateTime.".into());
    }
    Ok((s, e))
}

/// Parse the window of a calendarView/instances request (shared with `events`).
pub fn window(q: &HashMap<String, String>) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    parse_window(q)
}

/// `GET …/calendarView/{delta|delta()|microsoft.graph.delta()}`.
pub async fn handler(
    State(ctx): State<Arc<Ctx>>,
    Path(params): Path<HashMap<String, String>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let call = match begin(
        &ctx,
        &headers,
        params.get("uid").map(String::as_str),
        "GET",
        &uri,
    )
    .await
    {
        Ok(c) => c,
        Err(r) => return r,
    };
    let op = params.get("op").map(String::as_str).unwrap_or("");
    let out = serve(&ctx, &call, op, &q);
    finish(&ctx, call, out)
}

fn link_base(ctx: &Ctx, call: &Call, op: &str) -> String {
    let cv = if call.path.contains("/calendar/calendarView/") {
        "calendar/calendarView"
    } else {
        "calendarView"
    };
    format!("{}/v1.0/{}/{cv}/{op}", ctx.base_url(), call.user_path)
}

fn expired(ctx: &Ctx, st: &GraphState, call: &Call, op: &str) -> Out {
    let crid = call.client_request_id.as_deref();
    let resp = match st.knobs.expired_token_style.as_str() {
        "invalidDeltaToken" => graph_error(
            ctx,
            StatusCode::BAD_REQUEST,
            "InvalidDeltaToken",
            "The delta token is invalid.",
            crid,
        ),
        "resyncRequired" => {
            let mut r = graph_error(
                ctx,
                StatusCode::GONE,
                "resyncRequired",
                "Resync required. Replace any local cached data with a full delta query.",
                crid,
            );
            if let Ok(v) =
                HeaderValue::from_str(&format!("{}?$deltatoken=", link_base(ctx, call, op)))
            {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        _ => graph_error(
            ctx,
            StatusCode::GONE,
            "SyncStateNotFound",
            "The sync state generation is not found; generation=0;[highest=0]",
            crid,
        ),
    };
    Out::read(resp)
}

fn bad(ctx: &Ctx, call: &Call, code: &str, msg: &str) -> Out {
    Out::read(graph_error(
        ctx,
        StatusCode::BAD_REQUEST,
        code,
        msg,
        call.client_request_id.as_deref(),
    ))
}

/// Serve one delta page (synchronously, under the state's read lock).
pub fn serve(ctx: &Ctx, call: &Call, op: &str, q: &HashMap<String, String>) -> Out {
    if !matches!(
        op,
        "delta" | "delta()" | "microsoft.graph.delta" | "microsoft.graph.delta()"
    ) {
        return bad(
            ctx,
            call,
            "BadRequest",
            &format!("Resource not found for the segment '{op}'."),
        );
    }
    let st = ctx.graph.read().unwrap_or_else(|e| e.into_inner());
    if st.knobs.strict_delta_options {
        for k in [
            "$select", "$expand", "$filter", "$orderby", "$search", "$top",
        ] {
            if q.keys().any(|qk| qk.eq_ignore_ascii_case(k)) {
                return bad(
                    ctx,
                    call,
                    "ErrorInvalidUrlQuery",
                    &format!(
                        "The query parameter '{k}' is not supported with change tracking over the 'CalendarView' resource."
                    ),
                );
            }
        }
    }
    let skip = q
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("$skiptoken"))
        .map(|(_, v)| v.clone());
    let delta = q
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("$deltatoken"))
        .map(|(_, v)| v.clone());
    let expired_fault =
        call.fault == Some(Fault::ExpiredSync) && (skip.is_some() || delta.is_some());
    let (round_id, round, offset) = if let Some(tok) = skip {
        let Some((rid, off)) = tok.rsplit_once('.') else {
            return expired(ctx, &st, call, op);
        };
        let Ok(off) = off.parse::<usize>() else {
            return expired(ctx, &st, call, op);
        };
        let round = st.rounds.lock().unwrap_or_else(|e| e.into_inner()).get(rid);
        match round {
            Some(r) if !expired_fault && r.mailbox == call.mailbox => (rid.to_string(), r, off),
            _ => return expired(ctx, &st, call, op),
        }
    } else {
        let (window, tz, page_size, body_text, base) = if let Some(tok) = delta {
            let base = st
                .rounds
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&tok);
            match base {
                Some(b) if !expired_fault && b.mailbox == call.mailbox => {
                    (b.window, b.tz.clone(), b.page_size, b.body_text, Some(b))
                }
                _ => return expired(ctx, &st, call, op),
            }
        } else {
            match parse_window(q) {
                Ok(w) => (
                    w,
                    call.prefer.tz.clone(),
                    call.prefer.max_page_size,
                    call.prefer.body_text,
                    None,
                ),
                Err(msg) => return bad(ctx, call, "ErrorInvalidParameter", &msg),
            }
        };
        let Some(mb) = st.mailboxes.get(&call.mailbox) else {
            return expired(ctx, &st, call, op);
        };
        let (items, known) = build(
            mb,
            window.0,
            window.1,
            base.as_ref().map(|b| (&*b.known, b.since)),
        );
        let items = perturb(
            ctx,
            items,
            st.knobs.replay_fraction,
            st.knobs.empty_page_fraction,
        );
        let round = Arc::new(Round {
            mailbox: call.mailbox.clone(),
            window,
            tz,
            page_size,
            body_text,
            items,
            known: Arc::new(known),
            since: mb.seq,
        });
        let n = st
            .round_counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let rid = format!("{}{n:x}", ctx.random_id(12));
        st.rounds.lock().unwrap_or_else(|e| e.into_inner()).insert(
            rid.clone(),
            round.clone(),
            st.knobs.round_cache,
        );
        (rid, round, 0)
    };
    let page_size = call
        .prefer
        .max_page_size
        .or(round.page_size)
        .unwrap_or(st.knobs.default_page_size)
        .max(1);
    let tz_name = call.prefer.tz.clone().or_else(|| round.tz.clone());
    let view = View {
        tz_name: tz_name.clone(),
        body_text: call.prefer.body_text || round.body_text,
        owner: st
            .mailboxes
            .get(&call.mailbox)
            .map(|m| m.address.clone())
            .unwrap_or_else(|| call.mailbox.as_str().into()),
        expand_ext: None,
    };
    let mb = st.mailboxes.get(&call.mailbox);
    // Write the page straight to bytes: this is the hot path of every sync.
    let mut buf: Vec<u8> = Vec::with_capacity(page_size * 2048 + 512);
    buf.extend_from_slice(b"{\"@odata.context\":");
    push_json(
        &mut buf,
        &format!("{}/v1.0/$metadata#Collection(event)", ctx.base_url()),
    );
    buf.extend_from_slice(b",\"value\":[");
    let mut count = 0;
    let mut i = offset.min(round.items.len());
    let mut masters: HashSet<&str> = HashSet::new();
    while i < round.items.len() && count < page_size {
        match round.items.get(i) {
            Some(Item::Break) => {
                if count == 0 {
                    i += 1;
                }
                break;
            }
            Some(item) => {
                if count > 0 {
                    buf.push(b',');
                }
                render(&mut buf, mb, item, &view);
                if let Item::Occurrence(m, _) = item {
                    masters.insert(m);
                }
                count += 1;
            }
            None => break,
        }
        i += 1;
    }
    if st.knobs.page_overrun && i < round.items.len() && !masters.is_empty() {
        // Knob: the series on this page expand in full, past maxpagesize; the next page starts
        // where it would have, so it repeats them.
        for item in &round.items[i..] {
            if let Item::Occurrence(m, _) = item
                && masters.contains(m.as_str())
            {
                buf.push(b',');
                render(&mut buf, mb, item, &view);
            }
        }
    }
    buf.extend_from_slice(b"],");
    let base = link_base(ctx, call, op);
    if i < round.items.len() {
        let f = st.knobs.nextlink_loop_fraction;
        // Knob: a nextLink back to this very page (a loop with identical payloads).
        let next = if f > 0.0 && ctx.next_f64() < f {
            offset
        } else {
            i
        };
        buf.extend_from_slice(b"\"@odata.nextLink\":");
        push_json(&mut buf, &format!("{base}?$skiptoken={round_id}.{next}"));
    } else {
        buf.extend_from_slice(b"\"@odata.deltaLink\":");
        push_json(&mut buf, &format!("{base}?$deltatoken={round_id}"));
    }
    buf.push(b'}');
    let tz_applied = tz_name.as_deref().filter(|t| tz::resolve(t).is_some());
    let mut applied = call.prefer.applied(Some(page_size), tz_applied);
    applied = if applied.is_empty() {
        "odata.track-changes".into()
    } else {
        format!("odata.track-changes, {applied}")
    };
    Out::read(ok_bytes(StatusCode::OK, buf, call, Some(applied)))
}

/// Serialize `v` onto `buf` (writing to a `Vec` cannot fail; our types always serialize).
fn push_json<T: serde::Serialize + ?Sized>(buf: &mut Vec<u8>, v: &T) {
    if serde_json::to_writer(&mut *buf, v).is_err() {
        buf.extend_from_slice(b"null");
    }
}

fn render(buf: &mut Vec<u8>, mb: Option<&Mailbox>, item: &Item, view: &View) {
    match item {
        Item::Event(id) => match mb.and_then(|m| m.events.get(id)) {
            Some(e) => {
                let mut out = e.out(view, None);
                out.odata_type = Some(ODATA_EVENT);
                push_json(buf, &out);
            }
            None => push_json(buf, &removed(id)),
        },
        Item::Occurrence(master, os) => match mb.and_then(|m| m.events.get(master)) {
            Some(e) if !e.deleted_occurrences.contains(os) => {
                push_json(buf, &e.skeleton(view, *os))
            }
            _ => push_json(buf, &removed(&occurrence_id(master, *os))),
        },
        Item::Removed(id) => push_json(buf, &removed(id)),
        Item::Break => buf.extend_from_slice(b"null"),
    }
}
