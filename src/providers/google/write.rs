//! Writes, always through the organizer's copy (the planner only plans those), always with
//! `sendUpdates=none` (no email to anyone), tagged with the private extended property `oneonone`:
//! - a description (and, in fix mode, an end) is `events.patch`ed with `If-Match` on the etag that
//!   was read. On 412 the event is read again, the managed block is merged into the person's
//!   current text (`domain::block::apply_block`: text outside the block is theirs and stays), and
//!   the patch is retried with the new etag; a moved event (fix mode) or a damaged block is a
//!   `Conflict` instead (re-read and re-planned next cycle);
//! - a new series is `events.insert`ed with an id derived from its idempotency key (base32hex), so
//!   a retried or crashed insert answers 409 and is `Unchanged`, never a duplicate.
use super::api::{Api, ApiError, Call, seg};
use super::mirror::When;
use super::wire;
use crate::domain::Cadence;
use crate::domain::block::{BlockState, apply_block, find_block};
use crate::providers::{NewSeries, ProviderError, WriteOutcome};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};

/// The private extended property every event oneonone wrote carries.
pub const TAG: &str = "oneonone";
/// Rounds of re-read and re-merge after a 412 before giving up for this cycle.
const MERGE_ROUNDS: usize = 3;

/// base32hex (RFC 4648 §7), lower-case, unpadded: Google's alphabet for client event ids.
pub fn base32hex(bytes: &[u8]) -> String {
    const A: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(A[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(A[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The event id of the series created for an idempotency key.
pub fn series_id(key: &str) -> String {
    base32hex(key.as_bytes())
}

/// Map an API error of a write to the provider boundary.
pub fn write_error(what: &str, e: ApiError) -> ProviderError {
    let what = what.to_string();
    match e {
        ApiError::NotFound | ApiError::Gone => ProviderError::NotFound(what),
        ApiError::PreconditionFailed => ProviderError::Conflict {
            what,
            reason: "it changed again while oneonone merged its block".into(),
        },
        ApiError::Refused { action } => ProviderError::AuthFailed { what, action },
        ApiError::Failed {
            reason,
            maybe_applied: true,
        } => ProviderError::Uncertain { what, reason },
        other => ProviderError::Unavailable {
            what,
            reason: other.to_string(),
        },
    }
}

/// One patch of an event's description and/or end.
pub struct Patch<'a> {
    pub calendar: &'a str,
    pub id: &'a str,
    /// Whom the request acts as (the calendar's person).
    pub subject: &'a str,
    /// The etag that was read.
    pub etag: &'a str,
    /// The whole new description (the person's text plus oneonone's block).
    pub description: Option<&'a str>,
    /// A new end, and the start the event must still have.
    pub end: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Patch<'_> {
    fn what(&self) -> String {
        format!("event {} in calendar {}", self.id, self.calendar)
    }

    fn path(&self) -> String {
        format!("calendars/{}/events/{}", seg(self.calendar), seg(self.id))
    }

    fn body(description: Option<&str>, end: Option<DateTime<Utc>>) -> Value {
        let mut body = json!({"extendedProperties": {"private": {TAG: "agenda"}}});
        if let (Some(d), Some(obj)) = (description, body.as_object_mut()) {
            obj.insert("description".into(), json!(d));
        }
        if let (Some(end), Some(obj)) = (end, body.as_object_mut()) {
            obj.insert(
                "end".into(),
                json!({"dateTime": end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}),
            );
        }
        body
    }

    /// Carry the patch out (see the module doc).
    pub async fn run(&self, api: &Api) -> Result<WriteOutcome, ProviderError> {
        let what = self.what();
        let mut etag = self.etag.to_string();
        let mut description = self.description.map(str::to_string);
        for _ in 0..MERGE_ROUNDS {
            let call = Call {
                method: Method::PATCH,
                path: self.path(),
                query: vec![("sendUpdates", "none".into())],
                body: Some(Self::body(description.as_deref(), self.end.map(|e| e.0))),
                if_match: Some(&etag),
                subject: self.subject,
            };
            match api.call(&call).await {
                Ok(_) => return Ok(WriteOutcome::Written),
                Err(ApiError::PreconditionFailed) => {}
                Err(e) => return Err(write_error(&what, e)),
            }
            let current = self.read(api).await?;
            match self.remerge(&current)? {
                None => return Ok(WriteOutcome::Unchanged),
                Some(merged) => {
                    tracing::info!(
                        calendar = self.calendar,
                        event = self.id,
                        "the event changed since it was read; its block was merged into the current text"
                    );
                    etag = current.etag.unwrap_or_default();
                    description = merged;
                }
            }
        }
        Err(write_error(&what, ApiError::PreconditionFailed))
    }

    async fn read(&self, api: &Api) -> Result<wire::Event, ProviderError> {
        let body = api
            .call(&Call::get(self.path(), self.subject))
            .await
            .map_err(|e| write_error(&self.what(), e))?;
        serde_json::from_slice(&body).map_err(|e| ProviderError::Conflict {
            what: self.what(),
            reason: format!("it could not be read again: {e}"),
        })
    }

    /// The description to send after a 412 (`None` inside: the patch changes no description), or
    /// `None` when the event already is as wanted.
    fn remerge(&self, current: &wire::Event) -> Result<Option<Option<String>>, ProviderError> {
        let conflict = |reason: &str| ProviderError::Conflict {
            what: self.what(),
            reason: reason.to_string(),
        };
        if current.status.as_deref() == Some("cancelled") {
            return Err(conflict("it was cancelled or deleted"));
        }
        let instant = |t: &Option<wire::EventTime>| {
            t.as_ref()
                .and_then(|t| When::parse(t, chrono_tz::UTC).ok())
                .map(|w| w.instant(chrono_tz::UTC))
        };
        let end_done = match self.end {
            Some((end, start)) => {
                if instant(&current.start) != Some(start) {
                    return Err(conflict("it was moved"));
                }
                instant(&current.end) == Some(end)
            }
            None => true,
        };
        let merged = self.merged_description(current)?;
        let text = current.description.as_deref().unwrap_or("");
        let description_done = merged.as_deref().is_none_or(|m| m == text);
        Ok((!end_done || !description_done).then_some(merged))
    }

    fn merged_description(&self, current: &wire::Event) -> Result<Option<String>, ProviderError> {
        let Some(wanted) = self.description else {
            return Ok(None);
        };
        let block = match find_block(wanted) {
            BlockState::Present(r) => wanted.get(r).unwrap_or(""),
            _ => {
                return Err(ProviderError::Conflict {
                    what: self.what(),
                    reason: "it changed since it was read".into(),
                });
            }
        };
        apply_block(current.description.as_deref().unwrap_or(""), block)
            .map(Some)
            .map_err(|reason| ProviderError::Conflict {
                what: self.what(),
                reason: format!("its agenda block is damaged now ({reason})"),
            })
    }
}

/// The `recurrence` of a cadence.
fn recurrence(c: Cadence) -> String {
    match c {
        Cadence::Weeks(n) => format!("RRULE:FREQ=WEEKLY;INTERVAL={n}"),
        Cadence::Monthly => "RRULE:FREQ=MONTHLY".to_string(),
    }
}

/// The `events.insert` body of a new series: wall-clock times in the pair's zone.
pub fn series_body(s: &NewSeries) -> Value {
    let zone = s.first_start.timezone().name();
    let fmt = "%Y-%m-%dT%H:%M:%S";
    let start = s.first_start.naive_local().format(fmt).to_string();
    let end = (s.first_start + s.duration)
        .naive_local()
        .format(fmt)
        .to_string();
    let organizer = s.organizer.to_lowercase();
    json!({
        "id": series_id(&s.key),
        "summary": s.title,
        "description": s.description,
        "start": {"dateTime": start, "timeZone": zone},
        "end": {"dateTime": end, "timeZone": zone},
        "recurrence": [recurrence(s.cadence)],
        "attendees": [
            {"email": organizer, "responseStatus": "accepted"},
            {"email": s.attendee.to_lowercase()}
        ],
        "extendedProperties": {"private": {TAG: "series"}},
    })
}

/// Insert a new series into the organizer's calendar (acting as `subject`).
pub async fn create_series(
    api: &Api,
    subject: &str,
    s: &NewSeries,
) -> Result<WriteOutcome, ProviderError> {
    let calendar = s.organizer.to_lowercase();
    let what = format!("new series \"{}\" in calendar {calendar}", s.title);
    let call = Call {
        method: Method::POST,
        path: format!("calendars/{}/events", seg(&calendar)),
        query: vec![("sendUpdates", "none".into())],
        body: Some(series_body(s)),
        if_match: None,
        subject,
    };
    match api.call(&call).await {
        Ok(_) => Ok(WriteOutcome::Written),
        Err(ApiError::Duplicate) => Ok(WriteOutcome::Unchanged),
        Err(e) => Err(write_error(&what, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn base32hex_matches_rfc4648() {
        // RFC 4648 §10 test vectors, lower-case, unpadded.
        assert_eq!(base32hex(b""), "");
        assert_eq!(base32hex(b"f"), "co");
        assert_eq!(base32hex(b"fo"), "cpng");
        assert_eq!(base32hex(b"foo"), "cpnmu");
        assert_eq!(base32hex(b"foob"), "cpnmuog");
        assert_eq!(base32hex(b"fooba"), "cpnmuoj1");
        assert_eq!(base32hex(b"foobar"), "cpnmuoj1e8");
        let id = series_id("oneonone-0123456789abcdef@oneonone");
        assert!(id.len() >= 5 && id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='v')));
        assert_eq!(id, series_id("oneonone-0123456789abcdef@oneonone"));
    }

    #[test]
    fn a_new_series_is_wall_clock_in_the_pairs_zone() {
        let tz = chrono_tz::Europe::Berlin;
        let s = NewSeries {
            key: "k-1".into(),
            title: "1:1 alice / bob".into(),
            organizer: "Alice@acme.test".into(),
            attendee: "bob@acme.test".into(),
            first_start: tz
                .with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
                .single()
                .unwrap_or_else(|| panic!("time")),
            duration: chrono::Duration::minutes(45),
            cadence: Cadence::Weeks(2),
            description: String::new(),
        };
        let b = series_body(&s);
        assert_eq!(
            b["start"],
            json!({"dateTime": "2026-12-01T10:00:00", "timeZone": "Europe/Berlin"})
        );
        assert_eq!(b["end"]["dateTime"], "2026-12-01T10:45:00");
        assert_eq!(b["recurrence"], json!(["RRULE:FREQ=WEEKLY;INTERVAL=2"]));
        assert_eq!(b["attendees"][0]["email"], "alice@acme.test");
        assert_eq!(b["id"], json!(series_id("k-1")));
    }
}
