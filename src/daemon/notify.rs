//! Delivery of new and cleared findings: always to the log, and to a webhook when configured
//! (Slack/Teams-style JSON with a `text` field plus structured fields). A failed delivery is retried
//! on the next cycle (the finding stays "not notified" in the store), so nothing is lost and nothing
//! is sent twice for the same finding key.
use crate::domain::rules::ActiveFinding;
use serde_json::json;
use std::time::Duration;

/// Sends findings to the configured webhook.
#[derive(Clone)]
pub struct Notifier {
    client: reqwest::Client,
    webhook_url: Option<String>,
}

impl Notifier {
    /// A notifier; building its HTTP client can fail (no TLS roots, say), which is an error, not
    /// a silently different client.
    pub fn new(webhook_url: Option<String>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("oneonone/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the webhook's HTTP client: {e}"))?;
        Ok(Notifier {
            client,
            webhook_url,
        })
    }

    pub fn has_webhook(&self) -> bool {
        self.webhook_url.is_some()
    }

    /// The JSON body posted for one finding.
    pub fn payload(f: &ActiveFinding) -> serde_json::Value {
        let (manager, report) = f.pair_id.split_once('~').unwrap_or((&f.pair_id, ""));
        json!({
            "text": format!("oneonone: {} ({} / {}): {}", f.kind, manager, report, f.message),
            "pair": f.pair_id,
            "kind": f.kind,
            "severity": f.severity,
            "message": f.message,
            "occurrence": f.occurrence.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        })
    }

    /// Post one finding; Ok when the webhook answered 2xx (or none is configured).
    pub async fn send(&self, f: &ActiveFinding) -> Result<(), String> {
        let Some(url) = &self.webhook_url else {
            return Ok(());
        };
        let resp = self
            .client
            .post(url)
            .json(&Self::payload(f))
            .send()
            .await
            .map_err(|e| format!("webhook request failed: {}", e.without_url()))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("webhook answered HTTP {}", resp.status().as_u16()))
        }
    }
}
