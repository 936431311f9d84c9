//! Google Calendar v3 wire types (the DTOs): an `events.list` page, an `Event`, Google's error
//! envelope and a token endpoint answer. Only what oneonone reads is declared; unknown fields are
//! ignored. These types never leave `providers::google`: `mirror` turns an event into the stored
//! form, `convert` into domain instances.
//!
//! A page is parsed in two steps: the envelope with each item kept as raw JSON, then each item on
//! its own, so one odd event is a problem of that event, never of its page.
use serde::Deserialize;
use serde_json::value::RawValue;

/// One `events.list` page. Exactly one of the two tokens is present on a well-formed page.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsPage<'a> {
    #[serde(default, borrow)]
    pub items: Vec<&'a RawValue>,
    #[serde(default)]
    pub next_page_token: Option<String>,
    #[serde(default)]
    pub next_sync_token: Option<String>,
    /// The calendar's zone.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// An `Event` resource (or a cancelled stub of one: then only `id` and `status` are certain).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Event {
    pub id: String,
    pub status: Option<String>,
    pub etag: Option<String>,
    #[serde(rename = "iCalUID")]
    pub ical_uid: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub organizer: Option<Person>,
    pub attendees: Vec<Attendee>,
    pub attendees_omitted: bool,
    pub start: Option<EventTime>,
    pub end: Option<EventTime>,
    pub recurrence: Vec<String>,
    pub recurring_event_id: Option<String>,
    pub original_start_time: Option<EventTime>,
    pub event_type: Option<String>,
}

/// `organizer` / `creator`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Person {
    pub email: Option<String>,
}

/// One entry of `attendees`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Attendee {
    pub email: Option<String>,
    pub resource: bool,
    pub optional: bool,
    pub response_status: Option<String>,
}

/// `EventDateTime`: `date` (all-day) or `dateTime` (RFC 3339), with an optional IANA `timeZone`.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct EventTime {
    pub date: Option<String>,
    pub date_time: Option<String>,
    pub time_zone: Option<String>,
}

/// Google's error envelope: `{"error":{"errors":[{domain,reason,message}],"code","message"}}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    pub errors: Vec<ErrorItem>,
    pub message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ErrorItem {
    pub domain: Option<String>,
    pub reason: Option<String>,
}

/// What an error response says: its first `(domain, reason)` and its message (never a secret:
/// Google's messages name parameters, not values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorInfo {
    pub domain: String,
    pub reason: String,
    pub message: String,
}

impl ErrorInfo {
    /// Read an error body; anything unreadable gives an empty info.
    pub fn parse(body: &[u8]) -> ErrorInfo {
        let env: ErrorEnvelope = serde_json::from_slice(body).unwrap_or_default();
        let first = env.error.errors.into_iter().next().unwrap_or_default();
        ErrorInfo {
            domain: first.domain.unwrap_or_default(),
            reason: first.reason.unwrap_or_default(),
            message: env
                .error
                .message
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect(),
        }
    }
}

/// A token endpoint answer: success or an OAuth error.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenAnswer {
    pub access_token: Option<String>,
    pub expires_in: Option<i64>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// The parts of an event that survive a malformed rest: its id, to name it in a problem.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct JustId {
    pub id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_odd_item_does_not_spoil_its_page() {
        let body = r#"{"kind":"calendar#events","items":[{"id":"a","start":{"dateTime":"2026-12-14T10:00:00+01:00"}},
            {"id":"b","attendees":"not a list"}],"nextSyncToken":"t1","timeZone":"Europe/Berlin"}"#;
        let page: EventsPage<'_> = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.next_sync_token.as_deref(), Some("t1"));
        let a: Result<Event, _> = serde_json::from_str(page.items[0].get());
        assert!(a.is_ok());
        let b: Result<Event, _> = serde_json::from_str(page.items[1].get());
        assert!(b.is_err());
        let id: JustId = serde_json::from_str(page.items[1].get()).unwrap_or_default();
        assert_eq!(id.id.as_deref(), Some("b"));
    }

    #[test]
    fn error_envelopes_are_read_and_garbage_is_empty() {
        let body = br#"{"error":{"errors":[{"domain":"usageLimits","reason":"rateLimitExceeded","message":"Rate Limit Exceeded"}],"code":403,"message":"Rate Limit Exceeded"}}"#;
        let e = ErrorInfo::parse(body);
        assert_eq!(e.domain, "usageLimits");
        assert_eq!(e.reason, "rateLimitExceeded");
        assert_eq!(ErrorInfo::parse(b"<html>"), ErrorInfo::default());
    }
}
