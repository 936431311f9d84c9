//! One mailbox's delta round: `calendarView/delta` over a window a little wider than the one the
//! daemon asks for (so the same delta link serves cycle after cycle), every `@odata.nextLink`
//! followed, items de-duplicated (the last one of an id wins: Graph replays items and repeats
//! them across pages), each series master an occurrence or exception needs fetched once per round
//! (so once per change of the series), then the changes applied to the mailbox's state and
//! committed together with the new `@odata.deltaLink`.
//!
//! A fresh (initial) round replaces what was remembered: when there is no link yet, when the
//! window the daemon asks for has slid out of the link's window, when the pairs changed, or when
//! Graph no longer knows the link (410 `SyncStateNotFound`, 400 `InvalidDeltaToken`). The history
//! of occurrences and the agenda state live in the engine's store and are untouched by it.
//!
//! Invariants: nothing is committed unless the whole round was read; an `@removed` only ever
//! removes what this mailbox's state holds (a change outside the window is no cancellation); an
//! item that cannot be read leaves what was known of it as it was and is reported until read.
use super::AuthFailure;
use super::client::{Call, CallError, Client};
use super::convert::{self, Parsed};
use super::mirror::{Changes, LinkRec, MailboxState, MasterRec, ProblemRec, Relevance};
use super::wire;
use crate::providers::Window;
use crate::store::AccountState;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tracing::{debug, info};

/// Delta requests: UTC times, and large pages.
pub const PREFER_DELTA: &str = "outlook.timezone=\"UTC\", odata.maxpagesize=100";
/// A round longer than this is not believed.
const MAX_PAGES: usize = 100_000;
/// A nextLink that points at the page just read this many times in a row is a loop.
const MAX_SAME_LINK: usize = 50;
/// The delta window reaches this far beyond the daemon's (so it is restarted about monthly).
const SLACK_AHEAD_DAYS: i64 = 28;
const SLACK_BEHIND_DAYS: i64 = 7;

/// Why a mailbox could not be read.
#[derive(Debug, Clone)]
pub enum Failure {
    /// No token for the account.
    Auth(AuthFailure),
    /// Graph refused the token for this mailbox (403, or 401 with a fresh token).
    Denied(String),
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Auth(a) => write!(f, "{a}"),
            Failure::Denied(m) => write!(
                f,
                "access denied ({m}): an application access policy may leave this mailbox out, or (signed in as one person) it is not shared with them"
            ),
            Failure::Other(m) => f.write_str(m),
        }
    }
}

/// What a round left behind.
pub struct Synced {
    /// The state now (`None`: it could not be saved; read it from the store next time).
    pub state: Option<MailboxState>,
    pub read: Result<(), Failure>,
}

enum RoundError {
    Expired,
    Failed(Failure),
}

struct Round {
    items: HashMap<String, Parsed>,
    delta_link: String,
}

/// A master as fetched.
enum Fetched {
    Found(MasterRec),
    Gone,
    Bad(String),
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The window a fresh round reads for `want`: whole days, a week before and four weeks beyond.
pub fn delta_window(want: Window) -> (DateTime<Utc>, DateTime<Utc>) {
    let day = |t: DateTime<Utc>| t.date_naive().and_time(NaiveTime::MIN).and_utc();
    (
        day(want.start) - Duration::days(SLACK_BEHIND_DAYS),
        day(want.end) + Duration::days(SLACK_AHEAD_DAYS + 1),
    )
}

fn covers(l: &LinkRec, want: Window) -> bool {
    l.start <= millis(want.start) && millis(want.end) <= l.end
}

/// A path segment, percent-encoded (ids hold `/`, `+`, `=`).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@=".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn classify(e: CallError) -> RoundError {
    let code = e.code().to_ascii_lowercase();
    match (&e, e.status()) {
        (_, Some(410)) => RoundError::Expired,
        (_, Some(400 | 404))
            if code == "invaliddeltatoken"
                || code == "syncstatenotfound"
                || code == "resyncrequired" =>
        {
            RoundError::Expired
        }
        (CallError::Auth(a), _) => RoundError::Failed(Failure::Auth(a.clone())),
        (_, Some(401 | 403)) => RoundError::Failed(Failure::Denied(e.to_string())),
        (_, Some(404)) => {
            RoundError::Failed(Failure::Other(format!("no Exchange Online mailbox ({e})")))
        }
        _ => RoundError::Failed(Failure::Other(e.to_string())),
    }
}

/// Read one whole round, starting at `url`.
async fn read_round(
    client: &Client,
    relevance: &Relevance,
    mailbox: &str,
    url: String,
) -> Result<Round, RoundError> {
    let mut items: HashMap<String, Parsed> = HashMap::new();
    let mut url = url;
    let mut same = 0;
    for _ in 0..MAX_PAGES {
        let call = Call {
            method: reqwest::Method::GET,
            url: url.clone(),
            mailbox,
            json: None,
            if_match: None,
            prefer: PREFER_DELTA,
        };
        let reply = client.send(&call).await.map_err(classify)?;
        let page: wire::Page = reply
            .json()
            .map_err(|e| RoundError::Failed(Failure::Other(e.to_string())))?;
        for v in page.value {
            if let Some((id, p)) = convert::parse_item(v, relevance) {
                items.insert(id, p);
            }
        }
        match (page.next_link, page.delta_link) {
            (Some(next), _) => {
                same = if next == url { same + 1 } else { 0 };
                if same > MAX_SAME_LINK {
                    return Err(RoundError::Failed(Failure::Other(
                        "Graph's nextLink keeps pointing at the same page".into(),
                    )));
                }
                url = next;
            }
            (None, Some(delta_link)) => return Ok(Round { items, delta_link }),
            (None, None) => {
                return Err(RoundError::Failed(Failure::Other(
                    "a delta page carried neither a nextLink nor a deltaLink".into(),
                )));
            }
        }
    }
    Err(RoundError::Failed(Failure::Other(format!(
        "the delta round did not end within {MAX_PAGES} pages"
    ))))
}

const MASTER_FIELDS: &str = "id,type,subject,body,organizer,attendees,iCalUId,recurrence,isCancelled,isAllDay,responseStatus,changeKey";

async fn fetch_master(client: &Client, mailbox: &str, id: &str) -> Result<Fetched, Failure> {
    let call = Call {
        method: reqwest::Method::GET,
        url: client.url(&format!(
            "/users/{}/events/{}?$select={MASTER_FIELDS}",
            segment(mailbox),
            segment(id)
        )),
        mailbox,
        json: None,
        if_match: None,
        prefer: super::client::PREFER_UTC,
    };
    match client.send(&call).await {
        Ok(reply) => match reply.json::<wire::Event>() {
            Ok(e) => Ok(match convert::master_rec(&e) {
                Ok(m) => Fetched::Found(m),
                Err(x) => Fetched::Bad(format!("the series master cannot be read: {x}")),
            }),
            Err(x) => Ok(Fetched::Bad(format!(
                "the series master cannot be read: {x}"
            ))),
        },
        Err(e) if e.status() == Some(404) => Ok(Fetched::Gone),
        Err(e) => match classify(e) {
            RoundError::Failed(f) => Err(f),
            RoundError::Expired => Err(Failure::Other(
                "unexpected answer for a series master".into(),
            )),
        },
    }
}

/// Fetch each master the round's items need, once, several at a time (the mailbox's gate limits
/// them).
async fn fetch_masters(
    client: &Arc<Client>,
    mailbox: &str,
    items: &HashMap<String, Parsed>,
) -> Result<HashMap<String, Fetched>, Failure> {
    let needed: BTreeSet<String> = items
        .values()
        .filter_map(|p| match p {
            Parsed::Occurrence(o) => Some(o.master.clone()),
            Parsed::Event(e) => e.master.clone(),
            _ => None,
        })
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for id in needed {
        let client = client.clone();
        let mailbox = mailbox.to_string();
        tasks.spawn(async move {
            let r = fetch_master(&client, &mailbox, &id).await;
            (id, r)
        });
    }
    let mut out = HashMap::new();
    while let Some(joined) = tasks.join_next().await {
        let (id, r) = joined.map_err(|e| Failure::Other(format!("a master fetch failed: {e}")))?;
        out.insert(id, r?);
    }
    Ok(out)
}

/// Apply a round's items to `state`.
fn apply(
    state: &mut MailboxState,
    items: HashMap<String, Parsed>,
    masters: &HashMap<String, Fetched>,
    relevance: &Relevance,
    ch: &mut Changes,
) {
    let master_problem = |m: &str| {
        let message = match masters.get(m) {
            Some(Fetched::Bad(msg)) => msg.clone(),
            _ => "its series master could not be read".into(),
        };
        ProblemRec {
            source: m.to_string(),
            message,
        }
    };
    for (id, parsed) in items {
        match parsed {
            Parsed::Removed => state.remove(&id, ch),
            Parsed::Ignored => state.ignore(&id, ch),
            Parsed::Bad(p) => state.problem(&id, p, ch),
            Parsed::Event(mut rec) => match rec.master.clone() {
                None => state.put_event(&id, rec, ch),
                Some(m) => match masters.get(&m) {
                    Some(Fetched::Found(mr)) => {
                        rec.ical_uid.clone_from(&mr.ical_uid);
                        state.put_master(&m, mr, ch);
                        state.put_event(&id, rec, ch);
                    }
                    Some(Fetched::Gone) => state.remove(&id, ch),
                    _ => state.problem(&id, master_problem(&m), ch),
                },
            },
            Parsed::Occurrence(o) => match masters.get(&o.master) {
                Some(Fetched::Found(mr)) if relevance.concerns(&mr.people, mr.all_day) => {
                    state.put_master(&o.master.clone(), mr, ch);
                    state.put_occurrence(&id, o, ch);
                }
                Some(Fetched::Found(_)) => state.ignore(&id, ch),
                Some(Fetched::Gone) => state.remove(&id, ch),
                _ => {
                    let p = master_problem(&o.master);
                    state.problem(&id, p, ch);
                }
            },
        }
    }
    state.prune_masters(ch);
}

/// Bring one mailbox up to date.
pub async fn sync_mailbox(
    client: &Arc<Client>,
    relevance: &Relevance,
    store: &AccountState,
    mailbox: &str,
    want: Window,
    mut state: MailboxState,
) -> Synced {
    let scope = relevance.fingerprint();
    let mut fresh = state
        .link
        .as_ref()
        .is_none_or(|l| l.scope != scope || !covers(l, want));
    for _ in 0..3 {
        let (url, window) = match (&state.link, fresh) {
            (Some(l), false) => (l.url.clone(), (l.start, l.end)),
            _ => {
                let (s, e) = delta_window(want);
                let url = client.url(&format!(
                    "/users/{}/calendarView/delta?startDateTime={}&endDateTime={}",
                    segment(mailbox),
                    s.format("%Y-%m-%dT%H:%M:%SZ"),
                    e.format("%Y-%m-%dT%H:%M:%SZ")
                ));
                (url, (millis(s), millis(e)))
            }
        };
        let round = match read_round(client, relevance, mailbox, url).await {
            Ok(r) => r,
            Err(RoundError::Expired) => {
                info!(
                    mailbox,
                    "Graph no longer knows the delta link; reading the mailbox afresh"
                );
                fresh = true;
                continue;
            }
            Err(RoundError::Failed(f)) => {
                return Synced {
                    state: Some(state),
                    read: Err(f),
                };
            }
        };
        let masters = match fetch_masters(client, mailbox, &round.items).await {
            Ok(m) => m,
            Err(f) => {
                return Synced {
                    state: Some(state),
                    read: Err(f),
                };
            }
        };
        let mut ch = Changes::default();
        if fresh {
            state.reset(&mut ch);
        }
        let n = round.items.len();
        apply(&mut state, round.items, &masters, relevance, &mut ch);
        let link = LinkRec {
            url: round.delta_link,
            start: window.0,
            end: window.1,
            scope,
        };
        let commit = state.commit(mailbox, ch, link);
        debug!(
            mailbox,
            fresh,
            items = n,
            masters = masters.len(),
            upserts = commit.upsert.len(),
            removes = commit.remove.len(),
            "delta round"
        );
        let store = store.clone();
        let mb = mailbox.to_string();
        let saved = tokio::task::spawn_blocking(move || store.commit(&mb, commit)).await;
        return match saved {
            Ok(Ok(())) => Synced {
                state: Some(state),
                read: Ok(()),
            },
            Ok(Err(e)) => Synced {
                state: None,
                read: Err(Failure::Other(format!("cannot save what was read: {e}"))),
            },
            Err(e) => Synced {
                state: None,
                read: Err(Failure::Other(format!("the save task failed: {e}"))),
            },
        };
    }
    Synced {
        state: Some(state),
        read: Err(Failure::Other(
            "Graph lost the delta state three times in a row".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delta_window_has_slack_and_is_kept_while_it_covers() {
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default()
        };
        let want = Window {
            start: t("2026-05-22T12:34:00Z"),
            end: t("2027-01-15T12:34:00Z"),
        };
        let (s, e) = delta_window(want);
        assert_eq!(s, t("2026-05-15T00:00:00Z"));
        assert_eq!(e, t("2027-02-13T00:00:00Z"));
        let link = LinkRec {
            url: String::new(),
            start: millis(s),
            end: millis(e),
            scope: 0,
        };
        assert!(covers(&link, want));
        let later = Window {
            start: want.start + Duration::days(27),
            end: want.end + Duration::days(27),
        };
        assert!(covers(&link, later));
        let slid = Window {
            start: want.start + Duration::days(30),
            end: want.end + Duration::days(30),
        };
        assert!(!covers(&link, slid));
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("a.b+c@x.test"), "a.b%2Bc@x.test");
        assert_eq!(segment("AAMk/AG=="), "AAMk%2FAG==");
    }
}
