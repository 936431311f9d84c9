//! The 1:1 health dashboard's routes: `GET /dashboard` (HTML), `/dashboard.csv` and
//! `/dashboard.json` (the same rows, the same filters), on both listeners. This module decides who
//! sees which pairs, reads the store (the thin adapter in front of the pure
//! `domain::dashboard::pair_row`), applies the filters and writes the exports; `dashboard_page`
//! renders the HTML.
//!
//! Access:
//! - Public listener: only when sign-in is configured (else 404, as for any unknown path). Not
//!   signed in → redirect to sign-in. A signed-in admin (`web.admins`, else `notify.admins`) sees
//!   every pair; a signed-in manager sees the pairs where they are the manager; anyone else gets a
//!   403 page.
//! - Admin listener (loopback or a Unix socket): every pair, no sign-in.
//! - A row links to the pair's page (its stable link, a capability) only for a signed-in viewer
//!   who is one of the pair, i.e. who may open that page anyway; never on the admin listener.
//!
//! Filters are GET parameters (`manager`, `health`), so plain forms work without JavaScript.
use super::auth::{self, Req};
use super::{WebError, WebState, bad, blocking, dashboard_page};
use crate::domain::Pair;
use crate::domain::dashboard::{self, Health, PairData, PairRow};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// The longest accepted `manager` filter, in characters.
const MAX_FILTER_CHARS: usize = 320;

/// Which pairs a viewer may see.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    All,
    ManagerOf(String),
}

/// Who is looking: what they may see, and (signed in) their email and sign-out token.
#[derive(Debug, Clone)]
pub(super) struct Looker {
    scope: Scope,
    pub email: Option<String>,
    pub signout_csrf: Option<String>,
}

/// The filters of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Filters {
    pub manager: Option<String>,
    pub health: Option<Health>,
}

impl Filters {
    fn parse(q: &HashMap<String, String>) -> Result<Filters, WebError> {
        let value = |k: &str| q.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let manager = value("manager").map(str::to_lowercase);
        if manager
            .as_ref()
            .is_some_and(|m| m.chars().count() > MAX_FILTER_CHARS)
        {
            return Err(bad("manager", "is too long"));
        }
        let health = match value("health") {
            None => None,
            Some(h) => Some(Health::parse(h).ok_or_else(|| {
                bad(
                    "health",
                    "must be healthy, at_risk or failing (or empty for all)",
                )
            })?),
        };
        Ok(Filters { manager, health })
    }

    /// The filters as a query string (empty, or starting with `?`).
    pub fn query(&self) -> String {
        let mut q = Vec::new();
        if let Some(m) = &self.manager {
            q.push(format!("manager={}", super::query_encode(m)));
        }
        if let Some(h) = self.health {
            q.push(format!("health={}", h.as_str()));
        }
        if q.is_empty() {
            String::new()
        } else {
            format!("?{}", q.join("&"))
        }
    }

    fn keep(&self, row: &PairRow) -> bool {
        self.manager.as_ref().is_none_or(|m| *m == row.manager)
            && self.health.is_none_or(|h| h == row.health)
    }
}

/// One row with what the page needs besides the computation.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub row: PairRow,
    /// The pair's page, for a viewer who is one of the pair.
    pub pair_url: Option<String>,
}

/// Everything a dashboard response shows.
#[derive(Debug, Clone)]
pub(super) struct Dashboard {
    pub now: DateTime<Utc>,
    pub looker: Looker,
    pub filters: Filters,
    /// The managers the viewer may filter by.
    pub managers: Vec<String>,
    pub rows: Vec<Row>,
    /// Pairs visible before filtering.
    pub total: usize,
}

/// The public listener's access decision (see the module doc).
fn public_looker(st: &WebState, req: &Req) -> Result<Looker, WebError> {
    if st.sign_in.is_none() {
        return Err(WebError::NotFound);
    }
    let Some(viewer) = auth::viewer(st, req)? else {
        let query = req.path.find('?').map_or("", |i| &req.path[i..]);
        return Err(WebError::SignInRequired {
            next: format!("{}/dashboard{query}", st.base()),
        });
    };
    let signout_csrf = auth::csrf_token(st, Some(&viewer), auth::SIGNOUT)?;
    let scope = if st.admins().contains(&viewer.email) {
        Scope::All
    } else if st.pairs().iter().any(|p| p.manager == viewer.email) {
        Scope::ManagerOf(viewer.email.clone())
    } else {
        return Err(WebError::NotAManager {
            email: viewer.email,
            signout_csrf,
        });
    };
    Ok(Looker {
        scope,
        email: Some(viewer.email),
        signout_csrf: Some(signout_csrf),
    })
}

fn admin_looker() -> Looker {
    Looker {
        scope: Scope::All,
        email: None,
        signout_csrf: None,
    }
}

/// The pair's page link, when the viewer is one of the pair.
fn link_for(st: &WebState, looker: &Looker, pair: &Pair) -> Result<Option<String>, WebError> {
    let member = looker
        .email
        .as_ref()
        .is_some_and(|e| *e == pair.manager || *e == pair.report);
    if !member {
        return Ok(None);
    }
    Ok(st
        .store
        .pair_link(&pair.id)?
        .map(|token| super::pair_url(&st.public_url, &token)))
}

/// One pair's row, from the store.
fn row_of(st: &WebState, pair: &Pair, now: DateTime<Utc>) -> Result<PairRow, WebError> {
    let history = st.store.occurrences(&pair.id)?;
    let findings = st.store.findings(&pair.id)?;
    let items = st.store.agenda_items(&pair.id)?;
    Ok(dashboard::pair_row(
        PairData {
            pair,
            history: &history,
            findings: &findings,
            items: &items,
        },
        now,
    ))
}

/// Read, compute, sort and filter the rows the viewer may see.
fn load(st: &WebState, looker: Looker, filters: Filters) -> Result<Dashboard, WebError> {
    let now = (st.now)();
    let pairs: Vec<Pair> = st
        .pairs()
        .into_iter()
        .filter(|p| match &looker.scope {
            Scope::All => true,
            Scope::ManagerOf(e) => p.manager == *e,
        })
        .collect();
    let mut managers: Vec<String> = pairs.iter().map(|p| p.manager.clone()).collect();
    managers.sort();
    managers.dedup();
    let mut rows = Vec::new();
    for pair in &pairs {
        let row = row_of(st, pair, now)?;
        if filters.keep(&row) {
            let pair_url = link_for(st, &looker, pair)?;
            rows.push(Row { row, pair_url });
        }
    }
    rows.sort_by(|a, b| {
        (a.row.health, &a.row.manager, &a.row.report).cmp(&(
            b.row.health,
            &b.row.manager,
            &b.row.report,
        ))
    });
    Ok(Dashboard {
        now,
        looker,
        filters,
        managers,
        rows,
        total: pairs.len(),
    })
}

/// The three formats.
#[derive(Debug, Clone, Copy)]
enum Format {
    Html,
    Csv,
    Json,
}

fn respond(st: &WebState, d: &Dashboard, format: Format, base: &str) -> Response {
    match format {
        Format::Html => dashboard_page::page(base, st.tz, d).into_response(),
        Format::Csv => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"oneonone-dashboard.csv\"",
                ),
            ],
            csv(d),
        )
            .into_response(),
        Format::Json => axum::Json(json(d)).into_response(),
    }
}

async fn public(state: WebState, req: Req, q: HashMap<String, String>, format: Format) -> Response {
    let json = matches!(format, Format::Json);
    blocking(state, json, move |st| {
        let looker = public_looker(st, &req)?;
        let d = load(st, looker, Filters::parse(&q)?)?;
        Ok(respond(st, &d, format, &st.base()))
    })
    .await
}

async fn admin(state: WebState, q: HashMap<String, String>, format: Format) -> Response {
    let json = matches!(format, Format::Json);
    blocking(state, json, move |st| {
        let d = load(st, admin_looker(), Filters::parse(&q)?)?;
        // The admin listener serves from its own root.
        Ok(respond(st, &d, format, ""))
    })
    .await
}

type Q = Query<HashMap<String, String>>;

pub(super) async fn public_html(State(s): State<WebState>, Query(q): Q, req: Req) -> Response {
    public(s, req, q, Format::Html).await
}

pub(super) async fn public_csv(State(s): State<WebState>, Query(q): Q, req: Req) -> Response {
    public(s, req, q, Format::Csv).await
}

pub(super) async fn public_json(State(s): State<WebState>, Query(q): Q, req: Req) -> Response {
    public(s, req, q, Format::Json).await
}

pub(super) async fn admin_html(State(s): State<WebState>, Query(q): Q) -> Response {
    admin(s, q, Format::Html).await
}

pub(super) async fn admin_csv(State(s): State<WebState>, Query(q): Q) -> Response {
    admin(s, q, Format::Csv).await
}

pub(super) async fn admin_json(State(s): State<WebState>, Query(q): Q) -> Response {
    admin(s, q, Format::Json).await
}

// ---- exports ----------------------------------------------------------------------------------

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One CSV cell: quoted when it holds a comma, quote or line break; a cell a spreadsheet would
/// run as a formula (starting with `=`, `+`, `-`, `@`, tab or CR) gets a leading apostrophe.
pub(super) fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

const CSV_HEADER: [&str; 15] = [
    "pair",
    "manager",
    "report",
    "cadence",
    "health",
    "health_reasons",
    "last_held",
    "next_scheduled",
    "held_slots",
    "expected_slots",
    "adherence_percent",
    "cancellation_streak",
    "open_action_items",
    "findings",
    "pair_url",
];

fn csv_row(r: &Row) -> [String; 15] {
    let row = &r.row;
    let opt = |t: Option<DateTime<Utc>>| t.map(ts).unwrap_or_default();
    [
        row.pair_id.clone(),
        row.manager.clone(),
        row.report.clone(),
        row.cadence.to_string(),
        row.health.as_str().to_string(),
        row.reasons.join("; "),
        opt(row.last_held),
        opt(row.next_scheduled),
        row.adherence.held.to_string(),
        row.adherence.expected.to_string(),
        row.adherence
            .percent()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        row.cancellation_streak.to_string(),
        row.open_action_items.to_string(),
        row.findings.join(" "),
        r.pair_url.clone().unwrap_or_default(),
    ]
}

/// The rows as CSV (RFC 4180, CRLF line ends, a header line).
pub(super) fn csv(d: &Dashboard) -> String {
    let line = |cells: &[String]| {
        let cells: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        format!("{}\r\n", cells.join(","))
    };
    let header: Vec<String> = CSV_HEADER.iter().map(|h| h.to_string()).collect();
    let mut out = line(&header);
    for r in &d.rows {
        out.push_str(&line(&csv_row(r)));
    }
    out
}

#[derive(Serialize)]
struct JsonDashboard {
    generated_at: String,
    window_days: i64,
    filters: JsonFilters,
    pairs: Vec<JsonRow>,
}

#[derive(Serialize)]
struct JsonFilters {
    manager: Option<String>,
    health: Option<&'static str>,
}

#[derive(Serialize)]
struct JsonRow {
    pair: String,
    manager: String,
    report: String,
    cadence: String,
    health: &'static str,
    health_reasons: Vec<String>,
    last_held: Option<String>,
    next_scheduled: Option<String>,
    held_slots: u32,
    expected_slots: u32,
    adherence_percent: Option<u32>,
    cancellation_streak: u32,
    open_action_items: u32,
    findings: Vec<String>,
    pair_url: Option<String>,
    timeline: Vec<JsonMark>,
}

#[derive(Serialize)]
struct JsonMark {
    at: String,
    state: &'static str,
    original: Option<String>,
    reason: Option<String>,
}

fn json_row(r: &Row) -> JsonRow {
    let row = &r.row;
    JsonRow {
        pair: row.pair_id.clone(),
        manager: row.manager.clone(),
        report: row.report.clone(),
        cadence: row.cadence.to_string(),
        health: row.health.as_str(),
        health_reasons: row.reasons.clone(),
        last_held: row.last_held.map(ts),
        next_scheduled: row.next_scheduled.map(ts),
        held_slots: row.adherence.held,
        expected_slots: row.adherence.expected,
        adherence_percent: row.adherence.percent(),
        cancellation_streak: row.cancellation_streak,
        open_action_items: row.open_action_items,
        findings: row.findings.clone(),
        pair_url: r.pair_url.clone(),
        timeline: row
            .marks
            .iter()
            .map(|m| JsonMark {
                at: ts(m.at),
                state: m.state.as_str(),
                original: m.original.map(ts),
                reason: m.reason.clone(),
            })
            .collect(),
    }
}

fn json(d: &Dashboard) -> JsonDashboard {
    JsonDashboard {
        generated_at: ts(d.now),
        window_days: dashboard::WINDOW_DAYS,
        filters: JsonFilters {
            manager: d.filters.manager.clone(),
            health: d.filters.health.map(Health::as_str),
        },
        pairs: d.rows.iter().map(json_row).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_cell("=1+2"), "'=1+2");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(
            csv_cell("=HYPERLINK(\"x\",\"y\")"),
            "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\""
        );
        assert_eq!(csv_cell(""), "");
    }

    #[test]
    fn filters_parse_and_round_trip_through_the_query() {
        let q = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        };
        let f = Filters::parse(&q(&[("manager", " Ann@X.org "), ("health", "at_risk")]))
            .unwrap_or_default();
        assert_eq!(f.manager.as_deref(), Some("ann@x.org"));
        assert_eq!(f.health, Some(Health::AtRisk));
        assert_eq!(f.query(), "?manager=ann%40x.org&health=at_risk");
        let empty = Filters::parse(&q(&[("manager", ""), ("health", "")])).unwrap_or_default();
        assert_eq!(empty, Filters::default());
        assert_eq!(empty.query(), "");
        assert!(matches!(
            Filters::parse(&q(&[("health", "great")])),
            Err(WebError::BadRequest {
                field: "health",
                ..
            })
        ));
    }
}
