//! Writes. An organizer's PATCH of a Graph event mails every attendee and nothing can stop it, so
//! this provider writes a body at most once per event, and only ever by adding the managed block:
//! - the planner's write carries the complete new plain text; only its block is taken from it,
//!   after checking that the text around the block is what the event had (nothing a person wrote
//!   may change);
//! - the event is read fresh (body, changeKey, the `oneonone` extended property), the block is
//!   inserted into its HTML as one fragment (`html::insert_fragment`), and the PATCH carries
//!   `If-Match`; a 412 means someone changed it meanwhile: read again, merge again, try again;
//! - a block already there (ours from a lost answer, or anyone's), a damaged one, or the
//!   `oneonone` property saying a block was written before, and nothing is written: never twice;
//! - a new series (fix mode) is created with a `transactionId` derived from `NewSeries::key` and
//!   tagged with the `oneonone` property holding the key, so a retry or a restart finds it instead
//!   of making a second one.
use super::client::{Call, CallError, Client, PREFER_UTC};
use super::html;
use super::sync::segment;
use super::wire;
use super::zones;
use crate::domain::Cadence;
use crate::domain::block::{BlockState, find_block};
use crate::domain::hash::{fnv1a64, fnv1a64_extend};
use crate::providers::{NewSeries, ProviderError, WriteOutcome};
use chrono::{DateTime, Datelike, Utc};
use serde_json::{Value, json};

/// The single-value extended property that tags what oneonone wrote or made. Its id never changes.
pub const PROPERTY: &str = "String {6b3e1f2a-9c4d-4e8b-a1f7-0d5c2b9e7a41} Name oneonone";
/// Its value on an event whose body got the managed block.
const BLOCK_WRITTEN: &str = "agenda-block";
/// Tries of read–merge–PATCH when the event keeps changing.
const MERGE_TRIES: usize = 3;

/// A query value, percent-encoded.
fn query(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~$(),/:".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The event's `If-Match` value.
fn etag(version: &str) -> String {
    format!("W/\"{version}\"")
}

fn what(mailbox: &str, id: &str) -> String {
    format!("event {id} in {mailbox}")
}

fn conflict(mailbox: &str, id: &str, reason: &str) -> ProviderError {
    ProviderError::Conflict {
        what: what(mailbox, id),
        reason: reason.to_string(),
    }
}

/// A failed call, as the engine should treat it.
fn failed(mailbox: &str, id: &str, e: CallError) -> ProviderError {
    let what = what(mailbox, id);
    match e {
        CallError::Transport {
            maybe_applied: true,
            reason,
        } => ProviderError::Uncertain { what, reason },
        CallError::Auth(super::AuthFailure::Refused { action }) => {
            ProviderError::AuthFailed { what, action }
        }
        CallError::Status { status: 404, .. } => ProviderError::Conflict {
            what,
            reason: "it no longer exists".into(),
        },
        other => ProviderError::Unavailable {
            what,
            reason: other.to_string(),
        },
    }
}

/// The event as it is now: its HTML body, changeKey, whether oneonone's property says a block was
/// written.
struct Current {
    body: String,
    version: String,
    tagged: bool,
}

async fn read_current(client: &Client, mailbox: &str, id: &str) -> Result<Current, CallError> {
    let url = client.url(&format!(
        "/users/{}/events/{}?$select=body,changeKey,start,end,type&$expand={}",
        segment(mailbox),
        segment(id),
        query(&format!(
            "singleValueExtendedProperties($filter=id eq '{PROPERTY}')"
        ))
    ));
    let call = Call {
        method: reqwest::Method::GET,
        url,
        mailbox,
        json: None,
        if_match: None,
        prefer: PREFER_UTC,
    };
    let e: wire::Event = client.send(&call).await?.json()?;
    Ok(Current {
        version: e.version().unwrap_or_default(),
        body: e.body.map(|b| b.content).unwrap_or_default(),
        tagged: e
            .single_value_extended_properties
            .iter()
            .flatten()
            .any(|p| p.id.eq_ignore_ascii_case(PROPERTY) && p.value == BLOCK_WRITTEN),
    })
}

async fn patch(
    client: &Client,
    mailbox: &str,
    id: &str,
    version: &str,
    body: &Value,
) -> Result<(), CallError> {
    let tag = etag(version);
    let call = Call {
        method: reqwest::Method::PATCH,
        url: client.url(&format!(
            "/users/{}/events/{}",
            segment(mailbox),
            segment(id)
        )),
        mailbox,
        json: Some(body),
        if_match: Some(&tag),
        prefer: PREFER_UTC,
    };
    client.send(&call).await.map(|_| ())
}

fn end_json(end: DateTime<Utc>) -> Value {
    json!({"dateTime": zones::format_local(end.naive_utc()), "timeZone": "UTC"})
}

/// Add the block of `new_text` to the event (and set its end, if given): once, never again.
pub async fn add_block(
    client: &Client,
    mailbox: &str,
    id: &str,
    read_text: &str,
    new_text: &str,
    end: Option<DateTime<Utc>>,
) -> Result<WriteOutcome, ProviderError> {
    let (block, around_new) = html::split_block(new_text);
    let (old_block, around_old) = html::split_block(read_text);
    let Some(block) = block else {
        return Err(conflict(
            mailbox,
            id,
            "the new description has no agenda block; on Microsoft 365 a body is only ever changed by adding one",
        ));
    };
    if old_block.is_some() || !matches!(find_block(read_text), BlockState::Absent) {
        return Err(conflict(
            mailbox,
            id,
            "it has an agenda block already; on Microsoft 365 a block is never rewritten (every change mails the attendees)",
        ));
    }
    if around_new != around_old {
        return Err(conflict(
            mailbox,
            id,
            "the change would touch text outside the agenda block",
        ));
    }
    let fragment = html::block_fragment(block);
    let mut sent = false;
    for _ in 0..MERGE_TRIES {
        let current = match read_current(client, mailbox, id).await {
            Ok(c) => c,
            Err(e) if sent => {
                return Err(ProviderError::Uncertain {
                    what: what(mailbox, id),
                    reason: format!("the write may have happened; reading it back failed: {e}"),
                });
            }
            Err(e) => return Err(failed(mailbox, id, e)),
        };
        let text = html::to_text(&current.body);
        match find_block(&text) {
            BlockState::Absent if current.tagged => {
                return Err(conflict(
                    mailbox,
                    id,
                    "oneonone wrote its block here before and it was removed; it is not written again (it would mail the attendees)",
                ));
            }
            BlockState::Absent => {}
            BlockState::Present(_) if html::split_block(&text).0 == Some(block) => {
                // Ours, from an answer that was lost (or written before): nothing to do.
                return Ok(if sent {
                    WriteOutcome::Written
                } else {
                    WriteOutcome::Unchanged
                });
            }
            _ => {
                return Err(conflict(
                    mailbox,
                    id,
                    "someone added an agenda block meanwhile; it is left as it is",
                ));
            }
        }
        let mut body = json!({
            "body": {"contentType": "html", "content": html::insert_fragment(&current.body, &fragment)},
            "singleValueExtendedProperties": [{"id": PROPERTY, "value": BLOCK_WRITTEN}],
        });
        if let (Some(end), Some(o)) = (end, body.as_object_mut()) {
            o.insert("end".into(), end_json(end));
        }
        sent = true;
        match patch(client, mailbox, id, &current.version, &body).await {
            Ok(()) => return Ok(WriteOutcome::Written),
            // Changed meanwhile (or our own earlier try went through): read, merge, try again.
            Err(e) if e.status() == Some(412) => continue,
            Err(CallError::Transport {
                maybe_applied: true,
                ..
            }) => continue,
            Err(e) => return Err(failed(mailbox, id, e)),
        }
    }
    Err(conflict(
        mailbox,
        id,
        "it kept changing while the block was being added; the next cycle tries again",
    ))
}

/// Set an event's (or occurrence's) end, under `If-Match`; a 412 re-reads and retries.
pub async fn set_end(
    client: &Client,
    mailbox: &str,
    id: &str,
    read_version: &str,
    read_start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<WriteOutcome, ProviderError> {
    let body = json!({"end": end_json(end)});
    let mut version = read_version.to_string();
    for _ in 0..MERGE_TRIES {
        match patch(client, mailbox, id, &version, &body).await {
            Ok(()) => return Ok(WriteOutcome::Written),
            Err(e) if e.status() == Some(412) => {
                let url = client.url(&format!(
                    "/users/{}/events/{}?$select=start,end,changeKey",
                    segment(mailbox),
                    segment(id)
                ));
                let call = Call {
                    method: reqwest::Method::GET,
                    url,
                    mailbox,
                    json: None,
                    if_match: None,
                    prefer: PREFER_UTC,
                };
                let now: wire::Event = client
                    .send(&call)
                    .await
                    .and_then(|r| r.json())
                    .map_err(|e| failed(mailbox, id, e))?;
                let start = now
                    .start
                    .as_ref()
                    .and_then(|d| zones::parse_date_time(&d.date_time, &d.time_zone).ok());
                let cur_end = now
                    .end
                    .as_ref()
                    .and_then(|d| zones::parse_date_time(&d.date_time, &d.time_zone).ok());
                if start != Some(read_start) {
                    return Err(conflict(mailbox, id, "it was moved since it was read"));
                }
                if cur_end == Some(end) {
                    return Ok(WriteOutcome::Unchanged);
                }
                version = now.version().unwrap_or_default();
            }
            Err(e) => return Err(failed(mailbox, id, e)),
        }
    }
    Err(conflict(
        mailbox,
        id,
        "it kept changing; the next cycle tries again",
    ))
}

/// The `transactionId` of a new series: a UUID-shaped hash of its key, so every try sends the same.
pub fn transaction_id(key: &str) -> String {
    let a = fnv1a64(key.as_bytes());
    let b = fnv1a64_extend(a, b"oneonone transaction");
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

fn weekday(d: chrono::Weekday) -> &'static str {
    use chrono::Weekday::*;
    match d {
        Mon => "monday",
        Tue => "tuesday",
        Wed => "wednesday",
        Thu => "thursday",
        Fri => "friday",
        Sat => "saturday",
        Sun => "sunday",
    }
}

/// The series' `patternedRecurrence`, in the pair's zone (so the wall-clock time holds across
/// daylight saving).
pub fn recurrence(s: &NewSeries) -> Value {
    let zone = zones::graph_name(s.first_start.timezone());
    let date = s.first_start.date_naive();
    let day = weekday(date.weekday());
    let pattern = match s.cadence {
        Cadence::Weeks(n) => json!({"type": "weekly", "interval": n.max(1),
            "daysOfWeek": [day], "firstDayOfWeek": "monday"}),
        Cadence::Monthly => {
            let index = ["first", "second", "third", "fourth", "last"]
                .get(((date.day() - 1) / 7) as usize)
                .copied()
                .unwrap_or("last");
            json!({"type": "relativeMonthly", "interval": 1, "daysOfWeek": [day], "index": index})
        }
    };
    json!({"pattern": pattern, "range": {"type": "noEnd",
        "startDate": date.format("%Y-%m-%d").to_string(), "recurrenceTimeZone": zone}})
}

/// The POST body of a new series.
pub fn new_series_body(s: &NewSeries) -> Value {
    let zone = zones::graph_name(s.first_start.timezone());
    let end = s.first_start + s.duration;
    json!({
        "subject": s.title,
        "body": {"contentType": "html", "content": html::text_to_html(&s.description)},
        "start": {"dateTime": zones::format_local(s.first_start.naive_local()), "timeZone": zone},
        "end": {"dateTime": zones::format_local(end.naive_local()), "timeZone": zone},
        "attendees": [{"type": "required", "emailAddress": {"address": s.attendee}}],
        "recurrence": recurrence(s),
        "showAs": "busy",
        "responseRequested": true,
        "allowNewTimeProposals": true,
        "transactionId": transaction_id(&s.key),
        "singleValueExtendedProperties": [{"id": PROPERTY, "value": s.key}],
    })
}

/// Create the series in the organizer's mailbox, unless one made with this key exists.
pub async fn create(client: &Client, s: &NewSeries) -> Result<WriteOutcome, ProviderError> {
    let mailbox = s.organizer.to_lowercase();
    let what = format!("new series {} in {mailbox}", s.key);
    let filter = format!(
        "singleValueExtendedProperties/Any(ep: ep/id eq '{PROPERTY}' and ep/value eq '{}')",
        s.key.replace('\'', "''")
    );
    let find = Call {
        method: reqwest::Method::GET,
        url: client.url(&format!(
            "/users/{}/events?$select=id&$filter={}",
            segment(&mailbox),
            query(&filter)
        )),
        mailbox: &mailbox,
        json: None,
        if_match: None,
        prefer: PREFER_UTC,
    };
    let existing: wire::Collection = client
        .send(&find)
        .await
        .and_then(|r| r.json())
        .map_err(|e| failed(&mailbox, &s.key, e))?;
    if !existing.value.is_empty() {
        return Ok(WriteOutcome::Unchanged);
    }
    let body = new_series_body(s);
    let post = Call {
        method: reqwest::Method::POST,
        url: client.url(&format!("/users/{}/events", segment(&mailbox))),
        mailbox: &mailbox,
        json: Some(&body),
        if_match: None,
        prefer: PREFER_UTC,
    };
    match client.send(&post).await {
        Ok(_) => Ok(WriteOutcome::Written),
        // The key made an event before (with other details): it exists, nothing to do.
        Err(e) if e.code().eq_ignore_ascii_case("ErrorDuplicateTransactionId") => {
            Ok(WriteOutcome::Unchanged)
        }
        Err(e) => Err(match failed(&mailbox, &s.key, e) {
            ProviderError::Conflict { reason, .. } => ProviderError::Unavailable { what, reason },
            other => other,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn series(cadence: Cadence, day: u32) -> NewSeries {
        NewSeries {
            key: "oneonone-00ff@oneonone".into(),
            title: "1:1 alice / bob".into(),
            organizer: "Alice@acme.test".into(),
            attendee: "bob@acme.test".into(),
            first_start: chrono_tz::Europe::Berlin
                .with_ymd_and_hms(2026, 11, day, 10, 30, 0)
                .single()
                .unwrap_or_else(|| unreachable!()),
            duration: chrono::Duration::minutes(30),
            cadence,
            description: String::new(),
        }
    }

    #[test]
    fn new_series_render_as_graph_wants_them() {
        let b = new_series_body(&series(Cadence::Weeks(2), 23));
        assert_eq!(b["start"]["dateTime"], "2026-11-23T10:30:00.0000000");
        assert_eq!(b["start"]["timeZone"], "W. Europe Standard Time");
        assert_eq!(b["end"]["dateTime"], "2026-11-23T11:00:00.0000000");
        assert_eq!(b["recurrence"]["pattern"]["type"], "weekly");
        assert_eq!(b["recurrence"]["pattern"]["interval"], 2);
        assert_eq!(b["recurrence"]["pattern"]["daysOfWeek"][0], "monday");
        assert_eq!(b["recurrence"]["range"]["startDate"], "2026-11-23");
        assert_eq!(
            b["recurrence"]["range"]["recurrenceTimeZone"],
            "W. Europe Standard Time"
        );
        let m = recurrence(&series(Cadence::Monthly, 30));
        assert_eq!(m["pattern"]["type"], "relativeMonthly");
        assert_eq!(m["pattern"]["index"], "last");
        assert_eq!(
            recurrence(&series(Cadence::Monthly, 10))["pattern"]["index"],
            "second"
        );
        // The same key always gives the same transactionId; another key another one.
        assert_eq!(b["transactionId"], transaction_id("oneonone-00ff@oneonone"));
        assert_ne!(transaction_id("a"), transaction_id("b"));
        assert_eq!(transaction_id("a").len(), 36);
    }

    #[test]
    fn queries_are_encoded() {
        assert_eq!(
            query("id eq 'String {x} Name oneonone'"),
            "id%20eq%20%27String%20%7Bx%7D%20Name%20oneonone%27"
        );
    }
}
