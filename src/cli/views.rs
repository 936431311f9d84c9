//! The CLI's side of the read model: `status` and `meetings` read the store, or, when the running
//! daemon holds it, ask the daemon's admin listener for the same views (`crate::views`); and
//! `discover` reads the calendars through the provider boundary and prints TOML.
use crate::config::{AdminListen, Settings};
use crate::providers::{OpenContext, Progress};
use crate::store::{AccountState, Store};
use crate::views::{
    MeetingFilter, MeetingView, StatusView, meetings_from_store, status_from_store,
};
use anyhow::anyhow;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::fmt::Write as _;

/// Ask the running daemon (which holds the store) for a view, on its admin listener.
async fn from_daemon<T: for<'de> Deserialize<'de>>(
    settings: &Settings,
    path_and_query: &str,
) -> anyhow::Result<T> {
    let builder = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .no_proxy();
    let (builder, url) = match &settings.daemon.admin_listen {
        AdminListen::Tcp(addr) => (builder, format!("http://{addr}{path_and_query}")),
        AdminListen::Unix(path) => (
            builder.unix_socket(path.clone()),
            format!("http://localhost{path_and_query}"),
        ),
    };
    let client = builder.build()?;
    let resp = client
        .get(&url)
        .send()
        .await
        .map_err(|e| anyhow!("{}", e.without_url()))?;
    if !resp.status().is_success() {
        return Err(anyhow!(
            "the daemon answered HTTP {}",
            resp.status().as_u16()
        ));
    }
    Ok(resp.json().await?)
}

/// `status`: from the store, or from the running daemon when it holds the store.
pub async fn status(settings: &Settings, now: DateTime<Utc>) -> anyhow::Result<StatusView> {
    match Store::try_open(&settings.daemon.state_dir) {
        Ok(store) => status_from_store(settings, &settings.pairs, &store, now),
        Err(store_err) => from_daemon(settings, "/api/status").await.map_err(|http_err| {
            anyhow!(
                "cannot open the store in {} ({store_err}), and no running daemon answered on {} ({http_err})",
                settings.daemon.state_dir.display(),
                settings.daemon.admin_listen
            )
        }),
    }
}

/// `meetings`: from the store, or from the running daemon when it holds the store.
pub async fn meetings(
    settings: &Settings,
    filter: &MeetingFilter,
) -> anyhow::Result<Vec<MeetingView>> {
    match Store::try_open(&settings.daemon.state_dir) {
        Ok(store) => meetings_from_store(settings, &settings.pairs, &store, filter),
        Err(store_err) => from_daemon(settings, &format!("/api/meetings{}", filter.query()))
            .await
            .map_err(|http_err| {
                anyhow!(
                    "cannot open the store in {} ({store_err}), and no running daemon answered on {} ({http_err})",
                    settings.daemon.state_dir.display(),
                    settings.daemon.admin_listen
                )
            }),
    }
}

fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `discover`: read the calendars through the provider boundary (no writes; providers get a
/// throwaway in-memory state, so the store is not touched) and print unconfigured 1:1s as TOML.
pub async fn discover(settings: &Settings, now: DateTime<Utc>) -> anyhow::Result<String> {
    use crate::domain::{Cadence, Rhythm};
    let window = crate::providers::Window {
        start: now - settings.daemon.lookback,
        end: now + settings.daemon.horizon,
    };
    let progress = Progress::default();
    let mut snapshots = Vec::new();
    let mut out = String::new();
    for account in &settings.accounts {
        let provider = crate::providers::open(
            account,
            OpenContext {
                discover: true,
                ..OpenContext::new(
                    settings,
                    &account.name,
                    AccountState::in_memory(&account.name),
                    false,
                )
            },
        )?;
        match provider.fetch(window, &progress).await {
            Ok(s) => {
                for p in &s.problems {
                    let _ = writeln!(out, "# skipped {p}");
                }
                for c in &s.calendars {
                    if let Err(reason) = &c.events {
                        let _ = writeln!(out, "# calendar {} could not be read: {reason}", c.id);
                    }
                }
                snapshots.push((account.name.clone(), s));
            }
            Err(e) => {
                let _ = writeln!(out, "# account {} could not be read: {e}", account.name);
            }
        }
    }
    let views: Vec<(&str, &crate::providers::Snapshot)> =
        snapshots.iter().map(|(n, s)| (n.as_str(), s)).collect();
    let found = crate::sync::discover(&settings.pairs, &views);
    let _ = writeln!(
        out,
        "# {} unconfigured 1:1{} found on the calendars; review and append to your config.",
        found.len(),
        if found.len() == 1 { "" } else { "s" }
    );
    for d in found {
        let cadence = match &d.rhythm {
            Some(Rhythm::Weeks(n)) => Some(Cadence::Weeks(*n)),
            Some(Rhythm::Months(1)) => Some(Cadence::Monthly),
            _ => None,
        };
        let _ = writeln!(
            out,
            "\n# {} occurrence{} of {} ({}); organised mostly by {}",
            d.occurrences,
            if d.occurrences == 1 { "" } else { "s" },
            toml_str(&d.title),
            d.rhythm
                .as_ref()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "not recurring".into()),
            d.organizer
        );
        let _ = writeln!(out, "[[pairs]]");
        let _ = writeln!(out, "manager = {}", toml_str(&d.organizer));
        let _ = writeln!(out, "report = {}", toml_str(&d.other));
        let _ = writeln!(out, "account = {}", toml_str(&d.account));
        if let Some(c) = cadence {
            let _ = writeln!(out, "cadence = {}", toml_str(&c.to_string()));
        }
        let _ = writeln!(out, "duration = \"{}m\"", d.duration.num_minutes());
    }
    Ok(out)
}
