//! Prometheus metrics: the process-wide recorder behind the `metrics` macros, and the names this
//! program records (one place, so the admin's alert rules have a list). Rendered at `GET /metrics`
//! on the admin listener only. Any layer may record (the `metrics` macros are a no-op until the
//! daemon installs the recorder). Values that are cheaper to read than to track (outbox depth, store
//! size) are refreshed when scraped.
use crate::store::Store;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Seconds a whole sync cycle took (histogram).
pub const CYCLE_DURATION: &str = "oneonone_cycle_duration_seconds";
/// Cycles by result: `ok`, `partial` (something unreadable or failed), `error`.
pub const CYCLES: &str = "oneonone_cycles_total";
/// Calendar API requests by provider and HTTP status (`network` when there was no answer).
pub const REQUESTS: &str = "oneonone_provider_requests_total";
/// Waits before provider requests, by provider and cause (`pacing` within quotas, `retry_after`,
/// `backoff`): a histogram of their seconds (`_count` is how many, `_sum` how long in all).
pub const RATE_LIMIT_WAITS: &str = "oneonone_rate_limit_wait_seconds";
/// Active findings by kind, after the last cycle.
pub const FINDINGS: &str = "oneonone_findings";
/// Calendar writes by kind (`block`, `series`, `end`, `create`) and result.
pub const WRITES: &str = "oneonone_writes_total";
/// Messages waiting in the outbox, and ones given up.
pub const OUTBOX_DEPTH: &str = "oneonone_outbox_depth";
pub const OUTBOX_FAILED: &str = "oneonone_outbox_failed";
/// The store's size on disk.
pub const STORE_BYTES: &str = "oneonone_store_size_bytes";
/// Unix time of each account's last complete read (alert when it stops moving).
pub const LAST_SYNC: &str = "oneonone_last_successful_sync_timestamp_seconds";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Install the recorder (once per process); `None` if another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(CYCLE_DURATION.to_string()),
                    &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0],
                )
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full(RATE_LIMIT_WAITS.to_string()),
                    &[1.0, 5.0, 15.0, 60.0, 300.0],
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(CYCLE_DURATION, Unit::Seconds, "Duration of a sync cycle.");
    describe_counter!(CYCLES, "Sync cycles by result (ok, partial, error).");
    describe_counter!(
        REQUESTS,
        "Calendar API requests by provider and HTTP status."
    );
    describe_histogram!(
        RATE_LIMIT_WAITS,
        Unit::Seconds,
        "Waits imposed by a provider's rate limit."
    );
    describe_gauge!(FINDINGS, "Active findings by kind after the last cycle.");
    describe_counter!(WRITES, "Calendar writes by kind and result.");
    describe_gauge!(OUTBOX_DEPTH, "Notifications waiting to be delivered.");
    describe_gauge!(OUTBOX_FAILED, "Notifications given up (kept for 30 days).");
    describe_gauge!(STORE_BYTES, Unit::Bytes, "Size of the store on disk.");
    describe_gauge!(
        LAST_SYNC,
        Unit::Seconds,
        "Unix time of the account's last complete read."
    );
}

/// The text exposition, with the scrape-time gauges refreshed from `store`.
pub fn render(store: &Store) -> String {
    let Some(handle) = install() else {
        return String::new();
    };
    if let Ok(stats) = store.outbox_stats() {
        metrics::gauge!(OUTBOX_DEPTH).set(stats.pending as f64);
        metrics::gauge!(OUTBOX_FAILED).set(stats.failed as f64);
    }
    if let Ok(bytes) = store.size_on_disk() {
        metrics::gauge!(STORE_BYTES).set(bytes as f64);
    }
    handle.render()
}

/// Record one provider request (called by the HTTP providers).
pub fn request(provider: &'static str, status: Option<u16>) {
    let status = status.map_or_else(|| "network".to_string(), |s| s.to_string());
    metrics::counter!(REQUESTS, "provider" => provider, "status" => status).increment(1);
}

/// Record one wait before a provider request: `cause` is `pacing` (keeping within the provider's
/// quotas), `retry_after` (the provider said how long) or `backoff` (throttled or failed, no hint).
pub fn rate_limit_wait(provider: &'static str, cause: &'static str, wait: std::time::Duration) {
    if wait.is_zero() {
        return;
    }
    metrics::histogram!(RATE_LIMIT_WAITS, "provider" => provider, "cause" => cause)
        .record(wait.as_secs_f64());
}
