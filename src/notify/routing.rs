//! Deciding who hears what, and when — pure (no I/O, `now` is an argument). Findings go through the
//! configured routes (kind, least severity, targets, at once or in the weekly digest, "resolved"
//! notices); without routes every finding goes to every webhook at once. Messages to people wait
//! out the quiet hours of the pair's zone. Every message gets a deterministic idempotency key, so
//! enqueuing the same thing twice (a crash, a retried cycle) delivers it once.
use super::message::{Channel, Event, Message};
use crate::config::{NotifySettings, RouteSettings, RouteTarget};
use crate::domain::Pair;
use crate::domain::rules::{ActiveFinding, Severity};
use crate::sync::{FindingsDiff, Nudge};
use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc};

/// The messages a pair's findings diff calls for.
pub fn finding_messages(
    settings: &NotifySettings,
    pair: &Pair,
    diff: &FindingsDiff,
    now: DateTime<Utc>,
) -> Vec<Message> {
    let mut out = Vec::new();
    for f in &diff.to_notify {
        let event = if f.notified_at.is_some() {
            Event::Worse
        } else {
            Event::Finding
        };
        for route in routes_for(settings, f).filter(|r| !r.digest) {
            for target in &route.to {
                out.extend(finding_message(settings, pair, f, event, target, now));
            }
        }
    }
    for f in &diff.cleared {
        for route in routes_for(settings, f).filter(|r| r.resolved && !r.digest) {
            for target in &route.to {
                out.extend(finding_message(
                    settings,
                    pair,
                    f,
                    Event::Resolved,
                    target,
                    now,
                ));
            }
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out.dedup_by(|a, b| a.key == b.key);
    out
}

/// The routes a finding takes: the configured ones that match it, or (none configured) one route
/// to every webhook.
fn routes_for<'a>(
    settings: &'a NotifySettings,
    f: &'a ActiveFinding,
) -> Box<dyn Iterator<Item = std::borrow::Cow<'a, RouteSettings>> + 'a> {
    if settings.routes.is_empty() {
        let all = RouteSettings {
            kinds: Vec::new(),
            min_severity: Severity::Info,
            to: settings
                .webhooks
                .iter()
                .map(|w| RouteTarget::Webhook(w.name.clone()))
                .collect(),
            digest: false,
            resolved: false,
        };
        return Box::new(std::iter::once(std::borrow::Cow::Owned(all)));
    }
    let severity = if f.severity == "warning" {
        Severity::Warning
    } else {
        Severity::Info
    };
    Box::new(
        settings
            .routes
            .iter()
            .filter(move |r| r.kinds.is_empty() || r.kinds.contains(&f.kind))
            .filter(move |r| severity >= r.min_severity)
            .map(std::borrow::Cow::Borrowed),
    )
}

fn finding_message(
    settings: &NotifySettings,
    pair: &Pair,
    f: &ActiveFinding,
    event: Event,
    target: &RouteTarget,
    now: DateTime<Utc>,
) -> Option<Message> {
    let (channel, who) = channel_of(settings, pair, target)?;
    let stage = match event {
        Event::Resolved => format!("resolved:{}", f.first_seen.timestamp()),
        _ => format!("streak:{}:level:{}", f.first_seen.timestamp(), f.level),
    };
    let headline = match event {
        Event::Resolved => format!("Resolved: {}", f.message),
        Event::Worse => format!("Worse: {}", f.message),
        _ => f.message.clone(),
    };
    let mut lines = vec![format!("{} and {}: {headline}", pair.manager, pair.report)];
    if event != Event::Resolved {
        lines.extend(f.details.iter().cloned());
    }
    Some(Message {
        key: format!("finding:{}:{}:{stage}:{who}", pair.id, f.key),
        channel,
        event,
        subject: format!(
            "1:1 {} / {}: {headline}",
            local(&pair.manager),
            local(&pair.report)
        ),
        lines,
        pair: Some(pair.id.clone()),
        kind: Some(f.kind.clone()),
        severity: Some(f.severity.clone()),
        message: Some(f.message.clone()),
        occurrence: f.occurrence,
        link: None,
        not_before: after_quiet_hours(now, settings, pair.timezone),
        unless_cancelled: None,
    })
}

/// The channel of a target for a pair, and a short name of it for keys; `None` when it cannot be
/// reached (no email configured, no admins).
fn channel_of(
    settings: &NotifySettings,
    pair: &Pair,
    target: &RouteTarget,
) -> Option<(Channel, String)> {
    let email = |to: Vec<String>| {
        settings.email.as_ref()?;
        (!to.is_empty()).then_some(Channel::Email { to })
    };
    match target {
        RouteTarget::Webhook(name) => Some((
            Channel::Webhook { name: name.clone() },
            format!("webhook:{name}"),
        )),
        RouteTarget::Manager => Some((
            email(vec![pair.manager.clone()])?,
            format!("email:{}", pair.manager),
        )),
        RouteTarget::Report => Some((
            email(vec![pair.report.clone()])?,
            format!("email:{}", pair.report),
        )),
        RouteTarget::Admins => Some((email(settings.admins.clone())?, "admins".to_string())),
    }
}

fn local(email: &str) -> &str {
    email.split('@').next().unwrap_or(email)
}

/// `now`, or the end of the quiet hours when `now` falls in them (in `tz`).
pub fn after_quiet_hours(
    now: DateTime<Utc>,
    settings: &NotifySettings,
    tz: chrono_tz::Tz,
) -> DateTime<Utc> {
    let Some((start, end)) = settings.quiet_hours else {
        return now;
    };
    let local = now.with_timezone(&tz);
    let t = local.time();
    let quiet = if start < end {
        t >= start && t < end
    } else {
        t >= start || t < end
    };
    if !quiet {
        return now;
    }
    // The end of this quiet span: today at `end` if that is still ahead, else tomorrow.
    let day = if t < end {
        local.date_naive()
    } else {
        local.date_naive() + Duration::days(1)
    };
    at_local(tz, day, end).unwrap_or(now)
}

fn at_local(tz: chrono_tz::Tz, day: chrono::NaiveDate, t: NaiveTime) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&day.and_time(t))
        .earliest()
        .map(|d| d.with_timezone(&Utc))
}

/// One pair as a digest lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestEntry {
    pub pair: Pair,
    pub last_held: Option<DateTime<Utc>>,
    pub next_scheduled: Option<DateTime<Utc>>,
    pub consecutive_cancellations: u32,
    /// (severity, message) of its active findings.
    pub findings: Vec<(String, String)>,
}

/// The weekly digests due at `now`: one per manager with pairs, to every target of the digest
/// routes (managers get their own pairs; admins and webhooks get each manager's digest), keyed by
/// the ISO week, so each goes out once a week.
pub fn digest_messages(
    settings: &NotifySettings,
    entries: &[DigestEntry],
    now: DateTime<Utc>,
) -> Vec<Message> {
    let targets: Vec<&RouteTarget> = settings
        .routes
        .iter()
        .filter(|r| r.digest)
        .flat_map(|r| r.to.iter())
        .filter(|t| **t != RouteTarget::Report)
        .collect();
    if targets.is_empty() {
        return Vec::new();
    }
    let mut managers: Vec<&str> = entries.iter().map(|e| e.pair.manager.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let mut out = Vec::new();
    for manager in managers {
        let mine: Vec<&DigestEntry> = entries
            .iter()
            .filter(|e| e.pair.manager == manager)
            .collect();
        let Some(first) = mine.first() else { continue };
        let tz = first.pair.timezone;
        let Some(due) = digest_due(settings, tz, now) else {
            continue;
        };
        let week = due.with_timezone(&tz).iso_week();
        for target in &targets {
            let Some((channel, who)) = channel_of(settings, &first.pair, target) else {
                continue;
            };
            out.push(Message {
                key: format!("digest:{manager}:{}-W{:02}:{who}", week.year(), week.week()),
                channel,
                event: Event::Digest,
                subject: format!("Your 1:1s this week ({manager})"),
                lines: digest_lines(&mine, tz),
                pair: None,
                kind: None,
                severity: None,
                message: None,
                occurrence: None,
                link: None,
                not_before: now,
                unless_cancelled: None,
            });
        }
    }
    out
}

/// This week's digest instant in `tz`, if it has passed.
fn digest_due(
    settings: &NotifySettings,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let (weekday, time) = settings.digest_at;
    let today = now.with_timezone(&tz).date_naive();
    let back = (today.weekday().num_days_from_monday() + 7 - weekday.num_days_from_monday()) % 7;
    let day = today - Duration::days(i64::from(back));
    let at = at_local(tz, day, time)?;
    (at <= now).then_some(at)
}

fn digest_lines(entries: &[&DigestEntry], tz: chrono_tz::Tz) -> Vec<String> {
    let day = |t: Option<DateTime<Utc>>, none: &str| {
        t.map(|t| t.with_timezone(&tz).format("%a %-d %b %H:%M").to_string())
            .unwrap_or_else(|| none.to_string())
    };
    let mut lines = Vec::new();
    for e in entries {
        let health = if e.findings.iter().any(|(s, _)| s == "warning") {
            "needs attention"
        } else {
            "ok"
        };
        lines.push(format!(
            "{} — {health}: last held {}, next {}{}",
            e.pair.report,
            day(e.last_held, "never"),
            day(e.next_scheduled, "none scheduled"),
            if e.consecutive_cancellations > 0 {
                format!(", {} cancelled in a row", e.consecutive_cancellations)
            } else {
                String::new()
            }
        ));
        for (severity, message) in &e.findings {
            lines.push(format!("  {severity}: {message}"));
        }
    }
    lines
}

/// The nudges before the pair's upcoming meetings: the report (and, if configured, the manager)
/// get the agenda link and what carried over, once per occurrence.
pub fn nudge_messages(
    settings: &NotifySettings,
    pair: &Pair,
    nudges: &[Nudge],
    public_url: &str,
    now: DateTime<Utc>,
) -> Vec<Message> {
    let Some(n) = settings.nudge else {
        return Vec::new();
    };
    if settings.email.is_none() {
        return Vec::new();
    }
    let mut to = vec![(pair.report.as_str(), pair.manager.as_str())];
    if n.manager_too {
        to.push((pair.manager.as_str(), pair.report.as_str()));
    }
    let mut out = Vec::new();
    for nudge in nudges {
        let link = nudge
            .doc
            .as_deref()
            .map(|t| crate::domain::links::agenda_url(public_url, t));
        let when = nudge
            .start
            .with_timezone(&pair.timezone)
            .format("%A %-d %B, %H:%M");
        for (person, other) in &to {
            let mut lines = vec![format!(
                "Your 1:1 with {other} is on {when} ({}). Add your topics to its agenda before you meet.",
                pair.timezone
            )];
            if let Some(l) = &link {
                lines.push(format!("Agenda: {l}"));
            }
            if nudge.carried.is_empty() {
                lines.push("Nothing carried over from earlier 1:1s.".into());
            } else {
                lines.push("Carried over from earlier 1:1s:".into());
                lines.extend(nudge.carried.iter().map(|c| format!("- {c}")));
            }
            out.push(Message {
                key: format!("nudge:{}:{}:{person}", pair.id, nudge.meeting),
                channel: Channel::Email {
                    to: vec![(*person).to_string()],
                },
                event: Event::Nudge,
                subject: format!("Your 1:1 with {other} on {when}: add your topics"),
                lines,
                pair: Some(pair.id.clone()),
                kind: None,
                severity: None,
                message: None,
                occurrence: Some(nudge.start),
                link: link.clone(),
                not_before: after_quiet_hours(now, settings, pair.timezone),
                unless_cancelled: Some((pair.id.clone(), nudge.meeting.clone())),
            });
        }
    }
    out
}
