//! The read model of `status` and `meetings`: the JSON views, built from the store (no calendar
//! access), and their plain-text renderings. The CLI prints them; the daemon's admin API serves the
//! same views (so `oneonone status` works while the daemon holds the store). These structs are an
//! API Boundary: field names and shapes are fixed (more fields may be added).
use crate::config::Settings;
use crate::domain::Pair;
use crate::domain::rules::evaluate;
use crate::store::Store;
use anyhow::{Context, anyhow};
use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// RFC 3339 in UTC with a `Z`, as every time in the JSON output.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn ts_opt(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(ts)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatusView {
    pub generated_at: String,
    pub pairs: Vec<PairStatusView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PairStatusView {
    pub id: String,
    pub manager: String,
    pub report: String,
    pub account: String,
    pub cadence: String,
    pub duration_minutes: i64,
    pub last_held: Option<String>,
    pub next_scheduled: Option<String>,
    pub held_in_window: u32,
    pub cancelled_in_window: u32,
    pub consecutive_cancellations: u32,
    pub findings: Vec<FindingView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FindingView {
    pub kind: String,
    pub severity: String,
    pub message: String,
    pub occurrence: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MeetingView {
    pub pair: String,
    pub event_id: String,
    pub series_id: Option<String>,
    pub start: String,
    pub end: String,
    pub status: String,
    pub agenda_url: Option<String>,
    pub title: String,
    /// Why it counts as cancelled (extra field).
    pub cancel_reason: Option<String>,
}

fn pair_status(
    pair: &Pair,
    store: &Store,
    settings: &Settings,
    now: DateTime<Utc>,
) -> anyhow::Result<PairStatusView> {
    let history = store
        .occurrences(&pair.id)
        .with_context(|| format!("reading the history of {}", pair.id))?;
    let health = evaluate(pair, &history, &[], now, settings.daemon.horizon);
    let mut findings = store
        .findings(&pair.id)
        .with_context(|| format!("reading the findings of {}", pair.id))?;
    findings.sort_by(|a, b| a.kind.cmp(&b.kind).then(a.key.cmp(&b.key)));
    Ok(PairStatusView {
        id: pair.id.clone(),
        manager: pair.manager.clone(),
        report: pair.report.clone(),
        account: pair.account.clone(),
        cadence: pair.cadence.to_string(),
        duration_minutes: pair.duration.num_minutes(),
        last_held: ts_opt(health.last_held),
        next_scheduled: ts_opt(health.next_scheduled),
        held_in_window: health.held_in_window,
        cancelled_in_window: health.cancelled_in_window,
        consecutive_cancellations: health.consecutive_cancellations,
        findings: findings
            .into_iter()
            .map(|f| FindingView {
                kind: f.kind,
                severity: f.severity,
                message: f.message,
                occurrence: ts_opt(f.occurrence),
            })
            .collect(),
    })
}

/// The status view computed from an open store.
pub fn status_from_store(
    settings: &Settings,
    pairs: &[Pair],
    store: &Store,
    now: DateTime<Utc>,
) -> anyhow::Result<StatusView> {
    let pairs = pairs
        .iter()
        .map(|p| pair_status(p, store, settings, now))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(StatusView {
        generated_at: ts(now),
        pairs,
    })
}

/// Which meetings to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeetingFilter {
    pub pair: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

fn parse_bound(s: &str, tz: chrono_tz::Tz, end_of_day: bool) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| anyhow!("invalid date {s:?}: expected YYYY-MM-DD or an RFC 3339 time"))?;
    let d = if end_of_day {
        d.succ_opt().unwrap_or(d)
    } else {
        d
    };
    let local = tz
        .from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .ok_or_else(|| anyhow!("date {s:?} does not exist in {tz}"))?;
    Ok(local.with_timezone(&Utc))
}

impl MeetingFilter {
    pub fn parse(
        pair: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        tz: chrono_tz::Tz,
    ) -> anyhow::Result<Self> {
        Ok(MeetingFilter {
            pair: pair.map(|p| p.trim().to_lowercase()),
            from: from
                .map(|s| parse_bound(s, tz, false))
                .transpose()
                .context("--from")?,
            to: to
                .map(|s| parse_bound(s, tz, true))
                .transpose()
                .context("--to")?,
        })
    }

    /// The filter as a query string for `/api/meetings` (empty, or starting with `?`).
    pub fn query(&self) -> String {
        let mut q = Vec::new();
        if let Some(p) = &self.pair {
            q.push(format!("pair={}", urlencode(p)));
        }
        if let Some(t) = self.from {
            q.push(format!("from={}", urlencode(&ts(t))));
        }
        if let Some(t) = self.to {
            q.push(format!("to={}", urlencode(&ts(t))));
        }
        if q.is_empty() {
            String::new()
        } else {
            format!("?{}", q.join("&"))
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The meetings view from an open store. `to` is exclusive.
pub fn meetings_from_store(
    settings: &Settings,
    pairs: &[Pair],
    store: &Store,
    filter: &MeetingFilter,
) -> anyhow::Result<Vec<MeetingView>> {
    if let Some(p) = &filter.pair
        && !pairs.iter().any(|x| &x.id == p)
    {
        return Err(anyhow!(
            "no configured pair {p:?} (pair ids are MANAGER~REPORT)"
        ));
    }
    let mut out = Vec::new();
    for pair in pairs
        .iter()
        .filter(|p| filter.pair.as_ref().is_none_or(|f| *f == p.id))
    {
        for o in store.occurrences(&pair.id)? {
            if !o.one_on_one
                || filter.from.is_some_and(|f| o.start < f)
                || filter.to.is_some_and(|t| o.start >= t)
            {
                continue;
            }
            let agenda_url = o
                .agenda
                .as_deref()
                .map(|t| crate::domain::links::agenda_url(&settings.daemon.public_url, t));
            out.push(MeetingView {
                pair: pair.id.clone(),
                event_id: o.meeting,
                series_id: o.series.as_deref().map(str::to_string),
                start: ts(o.start),
                end: ts(o.end),
                status: o.status.as_str().into(),
                agenda_url,
                title: o.title,
                cancel_reason: o.cancel_reason,
            });
        }
    }
    out.sort_by(|a, b| a.start.cmp(&b.start).then(a.pair.cmp(&b.pair)));
    Ok(out)
}

/// Human-readable status.
pub fn status_text(v: &StatusView) -> String {
    let mut s = String::new();
    if v.pairs.is_empty() {
        s.push_str("No pairs configured.\n");
    }
    for p in &v.pairs {
        let health = if p.findings.iter().any(|f| f.severity == "warning") {
            "NEEDS ATTENTION"
        } else {
            "ok"
        };
        let _ = writeln!(s, "{}  [{}]", p.id, health);
        let _ = writeln!(
            s,
            "  {} × {} min · last held {} · next {} · held {} / cancelled {} in window · {} cancelled in a row",
            p.cadence,
            p.duration_minutes,
            p.last_held.as_deref().unwrap_or("never"),
            p.next_scheduled.as_deref().unwrap_or("none"),
            p.held_in_window,
            p.cancelled_in_window,
            p.consecutive_cancellations
        );
        for f in &p.findings {
            let _ = writeln!(s, "  {}: {}: {}", f.severity, f.kind, f.message);
        }
    }
    s
}

/// Human-readable meetings list.
pub fn meetings_text(list: &[MeetingView], tz: chrono_tz::Tz) -> String {
    let mut s = String::new();
    if list.is_empty() {
        s.push_str("No meetings in the store for this selection (has `oneonone sync --once` or the daemon run yet?).\n");
    }
    for m in list {
        let start = DateTime::parse_from_rfc3339(&m.start)
            .map(|t| t.with_timezone(&tz).format("%a %Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|_| m.start.clone());
        let _ = writeln!(
            s,
            "{start}  {:<9}  {}  \"{}\"{}{}",
            m.status,
            m.pair,
            m.title,
            m.cancel_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            m.agenda_url
                .as_deref()
                .map(|u| format!("  {u}"))
                .unwrap_or_default()
        );
    }
    s
}
