//! Syncing one calendar into its mirror: a full sync (every page of `events.list` from the window's
//! start, series unexpanded) the first time, then incremental syncs with the stored
//! `nextSyncToken`, following every `nextPageToken`. The mirror changes and the token that covers
//! them are committed together (`AccountState::commit`), so a crash between the two never leaves a
//! token that skips changes. A 410 (the token expired) starts a fresh full sync that replaces the
//! mirror; the occurrence history and agenda state live elsewhere and are kept.
//!
//! A full sync starts at the window's start; when a later window reaches further back (a longer
//! lookback), the calendar is synced from scratch. Events that ended more than a day before the
//! window are pruned from the mirror (at most daily), and the covered start moves with them.
//!
//! Invariant: a calendar is only reported read when every page of this cycle's sync arrived and
//! was committed; anything else is an error for that calendar alone.
use super::api::{Api, ApiError, Call, seg};
use super::mirror::{self, Change, StoredEvent};
use super::wire;
use crate::providers::Window;
use crate::store::{AccountState, MirrorCommit};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// Items per page (Google's maximum).
const PAGE_SIZE: &str = "2500";
/// Pages per sync before giving up (a server looping on page tokens).
const MAX_PAGES: usize = 10_000;

/// What is stored beside a calendar's mirror.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct SyncState {
    token: String,
    /// The mirror holds every event that ends after this.
    covered_from: DateTime<Utc>,
    /// The calendar's zone, as Google last said.
    zone: Option<String>,
    /// Events that could not be read, (id, why): reported every cycle until they are readable
    /// (they are not in the mirror, so their meetings must keep their state).
    #[serde(default)]
    unreadable: Vec<(String, String)>,
}

fn state_key(calendar: &str) -> String {
    format!("google-sync:{calendar}")
}

/// A calendar after its sync: its mirror, decoded.
pub struct Synced {
    pub events: BTreeMap<String, StoredEvent>,
    pub zone: Tz,
    /// How this cycle's sync went: `true` for a full sync.
    pub full: bool,
    /// Items received this cycle.
    pub received: usize,
    /// Items that could not be read: (event id, message).
    pub unreadable: Vec<(String, String)>,
}

/// Why a calendar could not be synced.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncError {
    Api(ApiError),
    Store(String),
    Protocol(String),
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncError::Api(e) => write!(f, "{e}"),
            SyncError::Store(e) => write!(f, "cannot store its events: {e}"),
            SyncError::Protocol(e) => f.write_str(e),
        }
    }
}

impl From<ApiError> for SyncError {
    fn from(e: ApiError) -> Self {
        SyncError::Api(e)
    }
}

/// One calendar's sync.
pub struct CalendarSync<'a> {
    pub api: &'a Api,
    pub state: &'a AccountState,
    pub calendar: &'a str,
    /// Whom the requests act as.
    pub subject: &'a str,
    pub window: Window,
    pub default_tz: Tz,
}

/// The items of every page of one listing, and the token that ends it.
struct Listing {
    items: Vec<wire::Event>,
    unreadable: Vec<(String, String)>,
    token: String,
    zone: Option<String>,
}

impl CalendarSync<'_> {
    /// Sync the calendar and return its mirror.
    pub async fn run(&self) -> Result<Synced, SyncError> {
        let stored = self.load_state()?;
        if let Some(st) = stored.filter(|s| s.covered_from <= self.window.start) {
            let mirror = self.load_mirror()?;
            if let Some(events) = mirror {
                match self.list(Some(&st.token)).await {
                    Ok(listing) => return self.apply_incremental(st, events, listing).await,
                    Err(SyncError::Api(ApiError::Gone)) => {
                        tracing::info!(
                            calendar = self.calendar,
                            "sync token expired (410); syncing the calendar from scratch"
                        );
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let listing = self.list(None).await?;
        self.apply_full(listing).await
    }

    fn load_state(&self) -> Result<Option<SyncState>, SyncError> {
        let raw = self
            .state
            .get(&state_key(self.calendar))
            .map_err(|e| SyncError::Store(e.to_string()))?;
        Ok(raw.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// The decoded mirror; `None` when an entry does not decode (then: sync from scratch).
    fn load_mirror(&self) -> Result<Option<BTreeMap<String, StoredEvent>>, SyncError> {
        let raw = self
            .state
            .mirror(self.calendar)
            .map_err(|e| SyncError::Store(e.to_string()))?;
        let mut out = BTreeMap::new();
        for (id, bytes) in raw {
            let Some(e) = mirror::decode(&bytes) else {
                return Ok(None);
            };
            out.insert(id, e);
        }
        Ok(Some(out))
    }

    /// Every page of a full listing (`token` `None`) or of the changes since `token`.
    async fn list(&self, token: Option<&str>) -> Result<Listing, SyncError> {
        let path = format!("calendars/{}/events", seg(self.calendar));
        let mut listing = Listing {
            items: Vec::new(),
            unreadable: Vec::new(),
            token: String::new(),
            zone: None,
        };
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut call = Call::get(path.clone(), self.subject);
            call.query.push(("maxResults", PAGE_SIZE.into()));
            match token {
                Some(t) => call.query.push(("syncToken", t.to_string())),
                None => call.query.push((
                    "timeMin",
                    self.window
                        .start
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                )),
            }
            if let Some(p) = &page_token {
                call.query.push(("pageToken", p.clone()));
            }
            let body = self.api.call(&call).await?;
            let page: wire::EventsPage<'_> = serde_json::from_slice(&body).map_err(|e| {
                SyncError::Protocol(format!("an events page could not be read: {e}"))
            })?;
            if page.time_zone.is_some() {
                listing.zone = page.time_zone.clone();
            }
            for raw in &page.items {
                match serde_json::from_str::<wire::Event>(raw.get()) {
                    Ok(ev) => listing.items.push(ev),
                    Err(e) => {
                        let id: wire::JustId = serde_json::from_str(raw.get()).unwrap_or_default();
                        listing.unreadable.push((
                            id.id.unwrap_or_else(|| "(no id)".into()),
                            format!("an event could not be read: {e}"),
                        ));
                    }
                }
            }
            match (page.next_page_token, page.next_sync_token) {
                (Some(p), _) => page_token = Some(p),
                (None, Some(t)) => {
                    listing.token = t;
                    return Ok(listing);
                }
                (None, None) => {
                    return Err(SyncError::Protocol(
                        "the last events page carried no nextSyncToken".into(),
                    ));
                }
            }
        }
        Err(SyncError::Protocol(format!(
            "more than {MAX_PAGES} pages of events; stopped"
        )))
    }

    fn zone_of(&self, zone: Option<&str>) -> Tz {
        zone.and_then(|z| z.parse().ok()).unwrap_or(self.default_tz)
    }

    async fn apply_full(&self, listing: Listing) -> Result<Synced, SyncError> {
        let zone_name = listing.zone.clone();
        let zone = self.zone_of(zone_name.as_deref());
        let received = listing.items.len();
        let mut events = BTreeMap::new();
        let mut unreadable = listing.unreadable;
        apply(
            &mut events,
            listing.items,
            zone,
            &mut Vec::new(),
            &mut unreadable,
        );
        unreadable.sort();
        unreadable.dedup_by(|a, b| a.0 == b.0);
        let st = SyncState {
            token: listing.token,
            covered_from: self.window.start,
            zone: zone_name,
            unreadable: unreadable.clone(),
        };
        let commit = MirrorCommit {
            replace_all: true,
            upsert: events
                .iter()
                .map(|(id, e)| (id.clone(), mirror::encode(e)))
                .collect(),
            remove: Vec::new(),
            state: vec![(state_key(self.calendar), state_bytes(&st))],
        };
        self.commit(commit).await?;
        Ok(Synced {
            events,
            zone,
            full: true,
            received,
            unreadable,
        })
    }

    async fn apply_incremental(
        &self,
        old: SyncState,
        mut events: BTreeMap<String, StoredEvent>,
        listing: Listing,
    ) -> Result<Synced, SyncError> {
        let zone_name = listing.zone.clone().or(old.zone.clone());
        let zone = self.zone_of(zone_name.as_deref());
        let received = listing.items.len();
        let mut removed = Vec::new();
        let mut unreadable = still_unreadable(&old.unreadable, &listing);
        let touched = apply(
            &mut events,
            listing.items,
            zone,
            &mut removed,
            &mut unreadable,
        );
        unreadable.sort();
        unreadable.dedup_by(|a, b| a.0 == b.0);
        let mut st = SyncState {
            token: listing.token,
            covered_from: old.covered_from,
            zone: zone_name,
            unreadable: unreadable.clone(),
        };
        if self.window.start - old.covered_from > Duration::days(1) {
            removed.extend(prune(&mut events, self.window.start, zone));
            st.covered_from = self.window.start;
        }
        if touched.is_empty() && removed.is_empty() && st == old {
            // Nothing changed: nothing to store.
            return Ok(Synced {
                events,
                zone,
                full: false,
                received,
                unreadable,
            });
        }
        let commit = MirrorCommit {
            replace_all: false,
            upsert: touched
                .iter()
                .filter_map(|id| events.get(id).map(|e| (id.clone(), mirror::encode(e))))
                .collect(),
            remove: removed,
            state: vec![(state_key(self.calendar), state_bytes(&st))],
        };
        self.commit(commit).await?;
        Ok(Synced {
            events,
            zone,
            full: false,
            received,
            unreadable,
        })
    }

    async fn commit(&self, commit: MirrorCommit) -> Result<(), SyncError> {
        let state = self.state.clone();
        let calendar = self.calendar.to_string();
        tokio::task::spawn_blocking(move || state.commit(&calendar, commit))
            .await
            .map_err(|e| SyncError::Store(format!("the commit task failed: {e}")))?
            .map_err(|e| SyncError::Store(e.to_string()))
    }
}

/// The events that stay unreadable: those listed again are judged anew (by `apply`), the others
/// stay as they were; plus this listing's own unreadable items.
fn still_unreadable(old: &[(String, String)], listing: &Listing) -> Vec<(String, String)> {
    let listed: HashSet<&str> = listing
        .items
        .iter()
        .map(|e| e.id.as_str())
        .chain(listing.unreadable.iter().map(|(id, _)| id.as_str()))
        .collect();
    old.iter()
        .filter(|(id, _)| !listed.contains(id.as_str()))
        .cloned()
        .chain(listing.unreadable.iter().cloned())
        .collect()
}

fn state_bytes(st: &SyncState) -> Vec<u8> {
    serde_json::to_vec(st).unwrap_or_default()
}

/// Apply listed items to a mirror; the ids upserted (`removed` gets the ids deleted). Items that
/// cannot be turned into mirror entries are reported in `unreadable`.
fn apply(
    events: &mut BTreeMap<String, StoredEvent>,
    items: Vec<wire::Event>,
    zone: Tz,
    removed: &mut Vec<String>,
    unreadable: &mut Vec<(String, String)>,
) -> Vec<String> {
    // Bare tombstones of instances name their series only through their id: know every master.
    let masters: HashSet<String> = items
        .iter()
        .filter(|e| !e.recurrence.is_empty() && e.status.as_deref() != Some("cancelled"))
        .map(|e| e.id.clone())
        .chain(
            events
                .iter()
                .filter(|(_, e)| !e.recurrence.is_empty())
                .map(|(id, _)| id.clone()),
        )
        .collect();
    let mut touched = Vec::new();
    for ev in items {
        let id = ev.id.clone();
        match mirror::change(ev, zone, |s| masters.contains(s)) {
            Ok(Change::Upsert(id, e)) => {
                events.insert(id.clone(), *e);
                touched.push(id);
            }
            Ok(Change::Delete(id)) => {
                let prefix = format!("{id}_");
                let gone: Vec<String> = std::iter::once(id.clone())
                    .filter(|k| events.contains_key(k))
                    .chain(
                        events
                            .range(prefix.clone()..)
                            .take_while(|(k, _)| k.starts_with(&prefix))
                            .map(|(k, _)| k.clone()),
                    )
                    .collect();
                for k in gone {
                    events.remove(&k);
                    removed.push(k);
                }
                if !removed.contains(&id) {
                    removed.push(id);
                }
            }
            Err(message) => {
                // What the mirror had of it is no longer true: drop it (the event's meetings
                // keep their state through the problem reported for it).
                if events.remove(&id).is_some() {
                    removed.push(id.clone());
                }
                unreadable.push((id, message));
            }
        }
    }
    touched.sort();
    touched.dedup();
    touched.retain(|id| events.contains_key(id));
    removed.sort();
    removed.dedup();
    touched
}

/// Drop single events and exceptions that ended more than a day before `from`; the removed ids.
fn prune(events: &mut BTreeMap<String, StoredEvent>, from: DateTime<Utc>, zone: Tz) -> Vec<String> {
    let cutoff = from - Duration::days(1);
    let old: Vec<String> = events
        .iter()
        .filter(|(_, e)| e.recurrence.is_empty())
        .filter(|(_, e)| {
            let end = e
                .end
                .as_ref()
                .or(e.original_start.as_ref())
                .map(|w| w.instant(zone));
            end.is_some_and(|t| t < cutoff)
        })
        .map(|(id, _)| id.clone())
        .collect();
    for id in &old {
        events.remove(id);
    }
    old
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(json: &str) -> wire::Event {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn deleting_a_master_takes_its_exceptions_and_bare_tombstones_cancel_occurrences() {
        let mut m = BTreeMap::new();
        let master = r#"{"id":"s1","start":{"dateTime":"2026-11-03T10:00:00Z","timeZone":"UTC"},
            "end":{"dateTime":"2026-11-03T10:30:00Z","timeZone":"UTC"},"recurrence":["RRULE:FREQ=WEEKLY"]}"#;
        let single = r#"{"id":"s10","start":{"dateTime":"2026-11-03T10:00:00Z"},"end":{"dateTime":"2026-11-03T10:30:00Z"}}"#;
        let touched = apply(
            &mut m,
            vec![ev(master), ev(single)],
            Tz::UTC,
            &mut Vec::new(),
            &mut Vec::new(),
        );
        assert_eq!(touched, ["s1", "s10"]);
        let mut removed = Vec::new();
        let touched = apply(
            &mut m,
            vec![ev(r#"{"id":"s1_20261110T100000Z","status":"cancelled"}"#)],
            Tz::UTC,
            &mut removed,
            &mut Vec::new(),
        );
        assert_eq!(touched, ["s1_20261110T100000Z"]);
        assert!(m.get("s1_20261110T100000Z").is_some_and(|e| e.cancelled));
        let touched = apply(
            &mut m,
            vec![ev(r#"{"id":"s1","status":"cancelled"}"#)],
            Tz::UTC,
            &mut removed,
            &mut Vec::new(),
        );
        assert!(touched.is_empty());
        assert_eq!(removed, ["s1", "s1_20261110T100000Z"]);
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            ["s10"],
            "another event whose id starts alike stays"
        );
    }

    #[test]
    fn an_event_that_becomes_unreadable_leaves_the_mirror_and_stays_reported_until_readable() {
        let mut m = BTreeMap::new();
        let good = r#"{"id":"e1","start":{"dateTime":"2026-11-03T10:00:00Z"},"end":{"dateTime":"2026-11-03T10:30:00Z"}}"#;
        apply(
            &mut m,
            vec![ev(good)],
            Tz::UTC,
            &mut Vec::new(),
            &mut Vec::new(),
        );
        // Readable as JSON, not as an event: no start.
        let (mut removed, mut unreadable) = (Vec::new(), Vec::new());
        let touched = apply(
            &mut m,
            vec![ev(r#"{"id":"e1","summary":"moved to nowhere"}"#)],
            Tz::UTC,
            &mut removed,
            &mut unreadable,
        );
        assert!(touched.is_empty() && m.is_empty());
        assert_eq!(removed, ["e1"]);
        assert_eq!(unreadable.len(), 1);
        // A later listing that does not mention it keeps it reported; one that reads it clears it.
        let quiet = Listing {
            items: Vec::new(),
            unreadable: vec![("e2".into(), "odd".into())],
            token: "t".into(),
            zone: None,
        };
        let kept = still_unreadable(&unreadable, &quiet);
        assert_eq!(
            kept.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            ["e1", "e2"]
        );
        let fixed = Listing {
            items: vec![ev(good)],
            unreadable: Vec::new(),
            token: "t".into(),
            zone: None,
        };
        assert!(still_unreadable(&kept[..1], &fixed).is_empty());
    }

    #[test]
    fn pruning_keeps_series_and_recent_events() {
        let mut m = BTreeMap::new();
        apply(
            &mut m,
            vec![
                ev(
                    r#"{"id":"old","start":{"dateTime":"2026-01-03T10:00:00Z"},"end":{"dateTime":"2026-01-03T10:30:00Z"}}"#,
                ),
                ev(
                    r#"{"id":"new","start":{"dateTime":"2026-11-03T10:00:00Z"},"end":{"dateTime":"2026-11-03T10:30:00Z"}}"#,
                ),
                ev(
                    r#"{"id":"s","start":{"dateTime":"2025-11-03T10:00:00Z","timeZone":"UTC"},"end":{"dateTime":"2025-11-03T10:30:00Z","timeZone":"UTC"},"recurrence":["RRULE:FREQ=WEEKLY"]}"#,
                ),
            ],
            Tz::UTC,
            &mut Vec::new(),
            &mut Vec::new(),
        );
        let from = DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(prune(&mut m, from, Tz::UTC), ["old"]);
        assert_eq!(m.keys().collect::<Vec<_>>(), ["new", "s"]);
    }
}
