//! `[notify]`: webhooks, email, admins, routes, quiet hours, the digest time and nudges. Each
//! problem is reported at its key, like the rest of the file.
use super::{Ctx, DeTable, DeValue, Origin, a_type, array_of_tables, parse_email, parse_http_url};
use crate::config::{
    EmailSettings, EmailTls, NotifySettings, NudgeSettings, RouteSettings, RouteTarget,
    WebhookFormat, WebhookSettings,
};
use crate::domain::rules::{FindingKind, Severity};
use chrono::{NaiveTime, Weekday};

const NOTIFY_KEYS: &[&str] = &[
    "webhook_url",
    "webhooks",
    "email",
    "admins",
    "routes",
    "quiet_hours",
    "digest",
    "nudge",
];
const WEBHOOK_KEYS: &[&str] = &["name", "format", "url", "url_file", "secret_file"];
const EMAIL_KEYS: &[&str] = &["smtp", "tls", "from", "credentials_file", "ca_file"];
const ROUTE_KEYS: &[&str] = &["kinds", "severity", "to", "delivery", "resolved"];
const NUDGE_KEYS: &[&str] = &["before", "to"];

pub(super) fn notify(ctx: &mut Ctx<'_>, root: &DeTable<'_>) -> NotifySettings {
    let t = ctx.table(Some(root), "notify", "notify");
    let t = t.and_then(|v| v.get_ref().as_table());
    if let Some(t) = t {
        ctx.unknown_keys(t, NOTIFY_KEYS, "in [notify]");
    }
    let mut webhooks = Vec::new();
    let f = ctx.scalar(t, "notify.webhook_url");
    if let Some(url) = ctx
        .parsed(f, |s| {
            if s.trim().is_empty() {
                Ok(None)
            } else {
                parse_http_url(s, false).map(Some)
            }
        })
        .flatten()
    {
        webhooks.push(WebhookSettings {
            name: "webhook".into(),
            format: WebhookFormat::Json,
            url,
            secret_file: None,
            url_file: None,
        });
    }
    if let Some(t) = t {
        let more = webhook_list(ctx, t, &webhooks);
        webhooks.extend(more);
    }
    let email = t.and_then(|t| email(ctx, t));
    let admins = t
        .map(|t| string_list(ctx, t, "notify.admins", "admins", parse_email))
        .unwrap_or_default();
    let f = ctx.find(t, "quiet_hours", "notify.quiet_hours", None);
    let quiet_hours = ctx.parsed(f, parse_span);
    let f = ctx.find(t, "digest", "notify.digest", None);
    let digest_at = ctx.parsed(f, parse_weekly).unwrap_or((
        Weekday::Mon,
        NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
    ));
    let nudge = t.and_then(|t| nudge(ctx, t));
    let routes = t
        .map(|t| routes(ctx, t, &webhooks, email.is_some(), !admins.is_empty()))
        .unwrap_or_default();
    NotifySettings {
        webhooks,
        email,
        admins,
        routes,
        quiet_hours,
        digest_at,
        nudge,
    }
}

/// `key = ["a", …]`: each parsed by `parse`, problems reported at their element.
fn string_list<T>(
    ctx: &mut Ctx<'_>,
    t: &DeTable<'_>,
    dotted: &str,
    key: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Vec<T> {
    let Some(v) = t.get(key) else {
        return Vec::new();
    };
    let DeValue::Array(items) = v.get_ref() else {
        let found = a_type(v.get_ref());
        ctx.err_at(
            v.span().start,
            format!("{dotted}: expected a list of strings, found {found}"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items.iter() {
        match item.get_ref() {
            DeValue::String(s) => match parse(s) {
                Ok(x) => out.push(x),
                Err(e) => ctx.err_at(item.span().start, format!("{dotted}: {e}")),
            },
            other => {
                let found = a_type(other);
                ctx.err_at(
                    item.span().start,
                    format!("{dotted}: expected a string, found {found}"),
                );
            }
        }
    }
    out
}

fn webhook_list(
    ctx: &mut Ctx<'_>,
    t: &DeTable<'_>,
    earlier: &[WebhookSettings],
) -> Vec<WebhookSettings> {
    let mut out: Vec<WebhookSettings> = Vec::new();
    for (w, at) in array_of_tables(ctx, t, "webhooks") {
        ctx.unknown_keys(w, WEBHOOK_KEYS, "in [[notify.webhooks]]");
        let f = ctx.find(Some(w), "name", "notify.webhooks.name", None);
        let name = ctx.parsed(f, |s| {
            let n = s.trim();
            if n.is_empty() || n.contains(char::is_whitespace) {
                Err(format!("{s:?} is not a name (one word, e.g. \"slack\")"))
            } else {
                Ok(n.to_string())
            }
        });
        let f = ctx.find(Some(w), "format", "notify.webhooks.format", None);
        let format = ctx.parsed(f, |s| match s.trim().to_ascii_lowercase().as_str() {
            "slack" => Ok(WebhookFormat::Slack),
            "teams" => Ok(WebhookFormat::Teams),
            "json" => Ok(WebhookFormat::Json),
            _ => Err(format!(
                "unknown format {s:?}: expected \"slack\", \"teams\" or \"json\""
            )),
        });
        let f = ctx.find(Some(w), "url", "notify.webhooks.url", None);
        let url = ctx.parsed(f, |s| parse_http_url(s, false));
        let f = ctx.find(Some(w), "url_file", "notify.webhooks.url_file", None);
        let url_file = ctx.path(f);
        let f = ctx.find(Some(w), "secret_file", "notify.webhooks.secret_file", None);
        let secret_file = ctx.path(f);
        let url = match (url, &url_file) {
            (Some(u), None) => Some(u),
            (None, Some(p)) => match crate::auth::read_secret_file(p) {
                Ok(u) => match parse_http_url(&u, false) {
                    Ok(u) => Some(u),
                    Err(e) => {
                        ctx.err_at(
                            at,
                            format!(
                                "notify.webhooks.url_file: {} does not hold a URL: {}",
                                p.display(),
                                e.replace(&u, "…")
                            ),
                        );
                        None
                    }
                },
                Err(e) => {
                    ctx.err_at(at, format!("notify.webhooks.url_file: {e}"));
                    None
                }
            },
            (Some(_), Some(_)) => {
                ctx.err_at(
                    at,
                    "[[notify.webhooks]]: give url or url_file, not both".into(),
                );
                None
            }
            (None, None) => {
                ctx.err_at(
                    at,
                    "[[notify.webhooks]] entry is missing \"url\" (or \"url_file\")".into(),
                );
                None
            }
        };
        let (Some(name), Some(format), Some(url)) = (name, format, url) else {
            continue;
        };
        if out.iter().chain(earlier).any(|o| o.name == name) {
            ctx.err_at(
                at,
                format!("notify.webhooks: duplicate webhook name {name:?}"),
            );
            continue;
        }
        if secret_file.is_some() && format != WebhookFormat::Json {
            ctx.err_at(
                at,
                "notify.webhooks.secret_file: only the \"json\" format is signed".into(),
            );
            continue;
        }
        out.push(WebhookSettings {
            name,
            format,
            url,
            secret_file,
            url_file,
        });
    }
    out
}

fn email(ctx: &mut Ctx<'_>, t: &DeTable<'_>) -> Option<EmailSettings> {
    let v = ctx.table(Some(t), "email", "notify.email")?;
    let e = v.get_ref().as_table()?;
    let at = v.span().start;
    ctx.unknown_keys(e, EMAIL_KEYS, "in [notify.email]");
    let f = ctx.find(Some(e), "smtp", "notify.email.smtp", None);
    let server = ctx.parsed(f, parse_server);
    let f = ctx.find(Some(e), "tls", "notify.email.tls", None);
    let tls = ctx
        .parsed(f, |s| match s.trim().to_ascii_lowercase().as_str() {
            "starttls" => Ok(EmailTls::StartTls),
            "implicit" => Ok(EmailTls::Implicit),
            "none" => Ok(EmailTls::None),
            _ => Err(format!(
                "unknown tls {s:?}: expected \"starttls\", \"implicit\" or \"none\""
            )),
        })
        .unwrap_or(EmailTls::StartTls);
    let f = ctx.find(Some(e), "from", "notify.email.from", None);
    let from = ctx.parsed(f, |s| {
        s.parse::<lettre::message::Mailbox>()
            .map(|_| s.trim().to_string())
            .map_err(|_| {
                format!("invalid address {s:?}: expected name@domain or \"Name <name@domain>\"")
            })
    });
    let f = ctx.find(
        Some(e),
        "credentials_file",
        "notify.email.credentials_file",
        None,
    );
    let credentials_file = ctx.path(f);
    let f = ctx.find(Some(e), "ca_file", "notify.email.ca_file", None);
    let ca_file = ctx.path(f);
    let (Some((host, port)), Some(from)) = (server, from) else {
        if !e.contains_key("smtp") || !e.contains_key("from") {
            ctx.err_at(
                at,
                "[notify.email] needs \"smtp\" (host:port) and \"from\"".into(),
            );
        }
        return None;
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
    if tls == EmailTls::None && !loopback {
        let origin = e
            .get("tls")
            .map_or(Origin::File(at), |v| Origin::File(v.span().start));
        ctx.err(&origin, format!("notify.email.tls: \"none\" sends credentials and mail in the clear; it is only allowed to a server on this machine, not {host}"));
        return None;
    }
    Some(EmailSettings {
        host,
        port,
        tls,
        from,
        credentials_file,
        ca_file,
    })
}

fn routes(
    ctx: &mut Ctx<'_>,
    t: &DeTable<'_>,
    webhooks: &[WebhookSettings],
    email: bool,
    admins: bool,
) -> Vec<RouteSettings> {
    let mut out = Vec::new();
    for (r, at) in array_of_tables(ctx, t, "routes") {
        ctx.unknown_keys(r, ROUTE_KEYS, "in [[notify.routes]]");
        let kinds = string_list(ctx, r, "notify.routes.kinds", "kinds", |s| {
            let k = s.trim().to_ascii_lowercase();
            let kinds = FindingKind::ALL.map(FindingKind::as_str);
            if kinds.contains(&k.as_str()) {
                Ok(k)
            } else {
                Err(format!(
                    "unknown finding kind {s:?}; kinds: {}",
                    kinds.join(", ")
                ))
            }
        });
        let f = ctx.find(Some(r), "severity", "notify.routes.severity", None);
        let min_severity = ctx
            .parsed(f, |s| match s.trim().to_ascii_lowercase().as_str() {
                "info" => Ok(Severity::Info),
                "warning" => Ok(Severity::Warning),
                _ => Err(format!(
                    "unknown severity {s:?}: expected \"info\" or \"warning\""
                )),
            })
            .unwrap_or(Severity::Info);
        let to = string_list(ctx, r, "notify.routes.to", "to", |s| {
            route_target(s, webhooks, email, admins)
        });
        if to.is_empty() && r.get("to").is_none() {
            ctx.err_at(
                at,
                "[[notify.routes]] entry is missing required key \"to\"".into(),
            );
        }
        let f = ctx.find(Some(r), "delivery", "notify.routes.delivery", None);
        let digest = ctx
            .parsed(f, |s| match s.trim().to_ascii_lowercase().as_str() {
                "immediate" => Ok(false),
                "digest" => Ok(true),
                _ => Err(format!(
                    "unknown delivery {s:?}: expected \"immediate\" or \"digest\""
                )),
            })
            .unwrap_or(false);
        let f = ctx.find(Some(r), "resolved", "notify.routes.resolved", None);
        let resolved = f.and_then(|f| ctx.boolean(&f)).unwrap_or(false);
        out.push(RouteSettings {
            kinds,
            min_severity,
            to,
            digest,
            resolved,
        });
    }
    out
}

fn route_target(
    s: &str,
    webhooks: &[WebhookSettings],
    email: bool,
    admins: bool,
) -> Result<RouteTarget, String> {
    let t = s.trim();
    let needs_email = |what: &str| {
        if email {
            Ok(())
        } else {
            Err(format!("{what} is emailed, but there is no [notify.email]"))
        }
    };
    if let Some(name) = t.strip_prefix("webhook:") {
        return if webhooks.iter().any(|w| w.name == name) {
            Ok(RouteTarget::Webhook(name.to_string()))
        } else {
            let names: Vec<&str> = webhooks.iter().map(|w| w.name.as_str()).collect();
            Err(format!(
                "no webhook named {name:?}; webhooks: {}",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ))
        };
    }
    match t {
        "manager" => needs_email("\"manager\"").map(|()| RouteTarget::Manager),
        "report" => needs_email("\"report\"").map(|()| RouteTarget::Report),
        "admins" if !admins => Err("\"admins\" needs notify.admins".into()),
        "admins" => needs_email("\"admins\"").map(|()| RouteTarget::Admins),
        _ => Err(format!(
            "unknown target {s:?}: expected \"webhook:NAME\", \"manager\", \"report\" or \"admins\""
        )),
    }
}

fn nudge(ctx: &mut Ctx<'_>, t: &DeTable<'_>) -> Option<NudgeSettings> {
    let v = ctx.table(Some(t), "nudge", "notify.nudge")?;
    let n = v.get_ref().as_table()?;
    ctx.unknown_keys(n, NUDGE_KEYS, "in [notify.nudge]");
    let f = ctx.find(Some(n), "before", "notify.nudge.before", None);
    let before = ctx.parsed(f, super::positive_chrono);
    let to = string_list(ctx, n, "notify.nudge.to", "to", |s| match s.trim() {
        "report" => Ok(false),
        "manager" => Ok(true),
        _ => Err(format!(
            "unknown recipient {s:?}: expected \"report\" or \"manager\""
        )),
    });
    if !t.contains_key("email") {
        ctx.err_at(
            v.span().start,
            "[notify.nudge] sends email, but there is no [notify.email]".into(),
        );
        return None;
    }
    let Some(before) = before else {
        ctx.err_at(
            v.span().start,
            "[notify.nudge] is missing required key \"before\" (e.g. \"24h\")".into(),
        );
        return None;
    };
    Some(NudgeSettings {
        before,
        manager_too: to.contains(&true),
    })
}

/// `"host:port"`.
fn parse_server(s: &str) -> Result<(String, u16), String> {
    let (host, port) = s.trim().rsplit_once(':').ok_or_else(|| {
        format!("invalid server {s:?}: expected host:port, e.g. \"smtp.example.org:587\"")
    })?;
    let port: u16 = port.parse().map_err(|_| format!("invalid port in {s:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("invalid server {s:?}: no host"));
    }
    Ok((host.to_string(), port))
}

/// `"20:00-08:00"` (may wrap midnight).
fn parse_span(s: &str) -> Result<(NaiveTime, NaiveTime), String> {
    let bad = || format!("invalid hours {s:?}: expected \"HH:MM-HH:MM\", e.g. \"20:00-08:00\"");
    let (a, b) = s.trim().split_once('-').ok_or_else(bad)?;
    let t = |x: &str| NaiveTime::parse_from_str(x.trim(), "%H:%M").map_err(|_| bad());
    let (start, end) = (t(a)?, t(b)?);
    if start == end {
        return Err(format!("invalid hours {s:?}: start and end are the same"));
    }
    Ok((start, end))
}

/// `"monday 09:00"`.
fn parse_weekly(s: &str) -> Result<(Weekday, NaiveTime), String> {
    let bad =
        || format!("invalid time {s:?}: expected a weekday and a time, e.g. \"monday 09:00\"");
    let mut parts = s.split_whitespace();
    let (Some(day), Some(time), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let day: Weekday = day.parse().map_err(|_| bad())?;
    let time = NaiveTime::parse_from_str(time, "%H:%M").map_err(|_| bad())?;
    Ok((day, time))
}
