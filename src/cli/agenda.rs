//! `oneonone agenda rotate-link PAIR` and `oneonone agenda export PAIR`. Both work whether or not
//! the daemon runs: with the store free they use it directly; while the daemon holds it they ask
//! the daemon on its admin listener (`/api/agenda/*`, loopback or a Unix socket only).
//!
//! The export never contains private notes (they belong to their author alone, and this is the
//! administrator's tool).
use crate::config::{AdminListen, Settings};
use crate::domain::Pair;
use crate::providers::OpenContext;
use crate::store::{AccountState, Store};
use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};
use std::fmt::Write as _;
use std::path::Path;

/// The configured pair `id` (as given: `MANAGER~REPORT`, case-insensitive).
fn configured<'a>(settings: &'a Settings, id: &str) -> anyhow::Result<&'a Pair> {
    let id = id.trim().to_lowercase();
    settings.pairs.iter().find(|p| p.id == id).ok_or_else(|| {
        let known: Vec<&str> = settings.pairs.iter().map(|p| p.id.as_str()).collect();
        anyhow!(
            "no pair {id:?} is configured; pairs are MANAGER~REPORT, one of: {}",
            known.join(", ")
        )
    })
}

/// A request to the running daemon's admin listener.
async fn admin(
    settings: &Settings,
    method: reqwest::Method,
    path_and_query: &str,
) -> anyhow::Result<String> {
    let builder = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .no_proxy();
    let (builder, url) = match &settings.daemon.admin_listen {
        AdminListen::Tcp(addr) => (builder, format!("http://{addr}{path_and_query}")),
        AdminListen::Unix(path) => (
            builder.unix_socket(path.clone()),
            format!("http://localhost{path_and_query}"),
        ),
    };
    let resp = builder
        .build()?
        .request(method, &url)
        .header("x-oneonone-admin", "1")
        .send()
        .await
        .map_err(|e| anyhow!("{}", e.without_url()))?;
    let status = resp.status();
    let body = resp
        .text()
        .await
        .map_err(|e| anyhow!("{}", e.without_url()))?;
    if !status.is_success() {
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or(body);
        return Err(anyhow!(
            "the daemon answered HTTP {}: {message}",
            status.as_u16()
        ));
    }
    Ok(body)
}

/// When the store is held by the daemon, say so alongside the daemon's failure.
fn neither(
    settings: &Settings,
    store_err: &dyn std::fmt::Display,
    http_err: anyhow::Error,
) -> anyhow::Error {
    anyhow!(
        "cannot open the store in {} ({store_err}), and no running daemon answered on {} ({http_err:#})",
        settings.daemon.state_dir.display(),
        settings.daemon.admin_listen
    )
}

/// `agenda rotate-link PAIR`: a new stable link; what happens to the invites.
pub async fn rotate_link(settings: &Settings, pair_id: &str) -> anyhow::Result<String> {
    let pair = configured(settings, pair_id)?;
    let (url, via_daemon) = match Store::try_open(&settings.daemon.state_dir) {
        Ok(store) => {
            let token = store.replace_pair_link(&pair.id)?;
            store.flush()?;
            (
                crate::domain::links::pair_url(&settings.daemon.public_url, &token),
                false,
            )
        }
        Err(store_err) => {
            let path = format!(
                "/api/agenda/rotate-link?pair={}",
                crate::web::query_encode(&pair.id)
            );
            let body = admin(settings, reqwest::Method::POST, &path)
                .await
                .map_err(|e| neither(settings, &store_err, e))?;
            let v: serde_json::Value =
                serde_json::from_str(&body).context("reading the daemon's answer")?;
            let url = v
                .get("url")
                .and_then(|u| u.as_str())
                .ok_or_else(|| anyhow!("the daemon's answer has no url"))?;
            (url.to_string(), true)
        }
    };
    let mut out = String::new();
    let _ = writeln!(out, "New stable link for {}: {url}", pair.id);
    let _ = writeln!(
        out,
        "The old link stopped working: whoever opens it now gets \"Not found\". Links to single \
         meetings' agendas (/a/…) are unchanged."
    );
    let _ = writeln!(out, "{}", invite_consequence(settings, pair, via_daemon));
    Ok(out)
}

/// What the next cycle does with the new link in the pair's invites, by the account's provider.
fn invite_consequence(settings: &Settings, pair: &Pair, via_daemon: bool) -> String {
    let notifies = settings
        .accounts
        .iter()
        .find(|a| a.name == pair.account)
        .and_then(|a| {
            crate::providers::open(
                a,
                OpenContext::new(settings, &a.name, AccountState::in_memory(&a.name), false),
            )
            .ok()
        })
        .map(|p| p.writes_notify_attendees());
    match notifies {
        Some(false) => format!(
            "Account {:?}: the next sync cycle writes the new link into the pair's recurring \
             series (edits there send no email to attendees).{}",
            pair.account,
            if via_daemon {
                ""
            } else {
                " Run `oneonone sync --once` or start the daemon to write it now."
            }
        ),
        Some(true) => format!(
            "Account {:?}: edits to its calendars email the attendees, so oneonone writes a \
             series' agenda block once and never rewrites it. The pair's existing invites keep \
             the old link, which no longer works: send {} and {} the new link yourself.",
            pair.account, pair.manager, pair.report
        ),
        None => format!(
            "Account {:?} could not be opened to check how its invites are updated; check its \
             configuration (`oneonone check`).",
            pair.account
        ),
    }
}

/// `agenda export PAIR`: the pair's shared history as Markdown (no private notes).
pub async fn export(
    settings: &Settings,
    pair_id: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let pair = configured(settings, pair_id)?;
    match Store::try_open(&settings.daemon.state_dir) {
        Ok(store) => Ok(crate::web::export::from_store(
            &store,
            &pair.manager,
            &pair.report,
            &pair.id,
            settings.daemon.timezone,
            now,
        )?),
        Err(store_err) => {
            let path = format!(
                "/api/agenda/export?pair={}",
                crate::web::query_encode(&pair.id)
            );
            admin(settings, reqwest::Method::GET, &path)
                .await
                .map_err(|e| neither(settings, &store_err, e))
        }
    }
}

/// Write an export to `path`, readable by the owner only (it is private to the pair).
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
