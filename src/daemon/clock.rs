//! The only place that reads the wall clock. Everything else gets `now` as an argument.

/// The current time.
#[allow(clippy::disallowed_methods)]
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}
