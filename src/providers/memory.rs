//! Two real [`Provider`]s for tests and embedding, no I/O:
//! - [`MemoryProvider`]: calendars held in memory. Writes are applied (conditionally, as a real
//!   calendar would: a target whose description changed since it was read is a `Conflict`) and
//!   recorded, creates are idempotent by key and show up as a series on the next fetch.
//! - [`FailingProvider`]: wraps another provider and fails on command (the next n fetches, the
//!   next n writes before or after applying them), to test partial failure and retries.
use super::{
    BoxFuture, CalendarRead, NewSeries, OccurrenceWrite, Progress, Provider, ProviderError,
    SeriesWrite, Snapshot, SourceProblem, Window, WriteOutcome,
};
use crate::domain::{Attendee, Cadence, Instance, ParticipantKind, Response, SeriesMaster};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One write a [`MemoryProvider`] carried out.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordedWrite {
    Occurrence {
        calendar: String,
        id: String,
        description: Option<String>,
        end: Option<DateTime<Utc>>,
    },
    Series {
        calendar: String,
        id: String,
        description: String,
    },
    Create(NewSeries),
}

#[derive(Debug, Clone, Default)]
struct Calendar {
    owner: Option<String>,
    instances: Vec<Instance>,
    series: Vec<SeriesMaster>,
    /// `Some(reason)`: the calendar cannot be read.
    failure: Option<String>,
    /// Unreadable sources: (source, message).
    unreadable: Vec<(String, String)>,
    /// Events of other kinds (non-meetings) it holds, for the event count.
    other_events: usize,
}

/// Calendars in memory.
pub struct MemoryProvider {
    account: String,
    notify: bool,
    calendars: Mutex<BTreeMap<String, Calendar>>,
    writes: Mutex<Vec<RecordedWrite>>,
}

impl MemoryProvider {
    /// An account whose writes notify attendees when `notify` (like Microsoft Graph).
    pub fn new(account: &str, notify: bool) -> MemoryProvider {
        MemoryProvider {
            account: account.into(),
            notify,
            calendars: Mutex::new(BTreeMap::new()),
            writes: Mutex::new(Vec::new()),
        }
    }

    fn cals(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Calendar>> {
        self.calendars.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replace a calendar's contents (it becomes readable again).
    pub fn set_calendar(
        &self,
        calendar: &str,
        owner: Option<&str>,
        instances: Vec<Instance>,
        series: Vec<SeriesMaster>,
    ) {
        let mut cals = self.cals();
        let c = cals.entry(calendar.into()).or_default();
        c.owner = owner.map(str::to_lowercase);
        c.instances = instances;
        c.series = series;
        c.failure = None;
        c.unreadable.clear();
    }

    /// Make a calendar unreadable (`Some(reason)`) or readable again (`None`).
    pub fn fail_calendar(&self, calendar: &str, reason: Option<&str>) {
        self.cals().entry(calendar.into()).or_default().failure = reason.map(Into::into);
    }

    /// Report a source of a calendar as unreadable this fetch (its instances are not returned).
    pub fn fail_source(&self, calendar: &str, source: &str, message: &str) {
        self.cals()
            .entry(calendar.into())
            .or_default()
            .unreadable
            .push((source.into(), message.into()));
    }

    /// Count `n` other (non-meeting) events in a calendar.
    pub fn set_other_events(&self, calendar: &str, n: usize) {
        self.cals().entry(calendar.into()).or_default().other_events = n;
    }

    /// Every write carried out so far, in order.
    pub fn writes(&self) -> Vec<RecordedWrite> {
        self.writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The current description of a copy (calendar, instance id).
    pub fn description(&self, calendar: &str, id: &str) -> Option<String> {
        self.cals()
            .get(calendar)?
            .instances
            .iter()
            .find(|i| i.id == id)
            .map(|i| i.description.to_string())
    }

    /// The current description of a series master (calendar, series id).
    pub fn series_description(&self, calendar: &str, id: &str) -> Option<String> {
        self.cals()
            .get(calendar)?
            .series
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.description.to_string())
    }

    /// Edit a copy's description as its owner would (not recorded as a daemon write).
    pub fn user_edits_description(&self, calendar: &str, id: &str, description: &str) {
        if let Some(i) = self
            .cals()
            .get_mut(calendar)
            .and_then(|c| c.instances.iter_mut().find(|i| i.id == id))
        {
            i.description = description.into();
            i.version = next_version(&i.version).into();
        }
    }

    fn record(&self, w: RecordedWrite) {
        self.writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(w);
    }

    fn snapshot(&self, window: Window) -> Snapshot {
        let cals = self.cals();
        let mut s = Snapshot::default();
        for (id, c) in cals.iter() {
            if let Some(reason) = &c.failure {
                s.calendars.push(CalendarRead {
                    id: id.clone(),
                    owner: c.owner.clone(),
                    events: Err(reason.clone()),
                });
                continue;
            }
            let bad = |src: &str| c.unreadable.iter().any(|(u, _)| u == src);
            s.instances.extend(
                c.instances
                    .iter()
                    .filter(|i| i.end > window.start && i.start < window.end && !bad(&i.source))
                    .cloned(),
            );
            s.series
                .extend(c.series.iter().filter(|m| !bad(&m.source)).cloned());
            s.problems
                .extend(c.unreadable.iter().map(|(src, msg)| SourceProblem {
                    calendar: Some(id.clone()),
                    source: src.clone(),
                    message: msg.clone(),
                    kind: super::ProblemKind::Unreadable,
                }));
            let events = c.instances.len() + c.series.len() + c.other_events;
            s.calendars.push(CalendarRead {
                id: id.clone(),
                owner: c.owner.clone(),
                events: Ok(events),
            });
        }
        s
    }

    fn apply_occurrence(&self, w: &OccurrenceWrite) -> Result<WriteOutcome, ProviderError> {
        let mut cals = self.cals();
        let conflict = |reason: &str| ProviderError::Conflict {
            what: format!("{} (event {})", w.target.calendar, w.target.id),
            reason: reason.into(),
        };
        let inst = cals
            .get_mut(&*w.target.calendar)
            .and_then(|c| c.instances.iter_mut().find(|i| i.id == w.target.id))
            .ok_or_else(|| conflict("the event no longer exists"))?;
        if inst.version != w.target.version || inst.description != w.target.description {
            return Err(conflict("it changed since it was read"));
        }
        let desc = w.description.as_deref().unwrap_or(&inst.description);
        let end = w.end.unwrap_or(inst.end);
        if *desc == *inst.description && end == inst.end {
            return Ok(WriteOutcome::Unchanged);
        }
        inst.description = desc.into();
        inst.end = end;
        inst.version = next_version(&inst.version).into();
        drop(cals);
        self.record(RecordedWrite::Occurrence {
            calendar: w.target.calendar.to_string(),
            id: w.target.id.clone(),
            description: w.description.clone(),
            end: w.end,
        });
        Ok(WriteOutcome::Written)
    }

    fn apply_series(&self, w: &SeriesWrite) -> Result<WriteOutcome, ProviderError> {
        let mut cals = self.cals();
        let conflict = |reason: &str| ProviderError::Conflict {
            what: format!("{} (series {})", w.target.calendar, w.target.id),
            reason: reason.into(),
        };
        let cal = cals
            .get_mut(&*w.target.calendar)
            .ok_or_else(|| conflict("the calendar no longer exists"))?;
        let master = cal
            .series
            .iter_mut()
            .find(|m| m.id == w.target.id)
            .ok_or_else(|| conflict("the series no longer exists"))?;
        if master.version != w.target.version || master.description != w.target.description {
            return Err(conflict("it changed since it was read"));
        }
        if *master.description == *w.description {
            return Ok(WriteOutcome::Unchanged);
        }
        let old = std::mem::replace(&mut master.description, w.description.as_str().into());
        master.version = next_version(&master.version).into();
        // Occurrences without their own text follow the master.
        for i in cal.instances.iter_mut() {
            if i.series_id.as_deref() == Some(w.target.id.as_str()) && i.description == old {
                i.description = w.description.as_str().into();
                i.version = next_version(&i.version).into();
            }
        }
        drop(cals);
        self.record(RecordedWrite::Series {
            calendar: w.target.calendar.to_string(),
            id: w.target.id.clone(),
            description: w.description.clone(),
        });
        Ok(WriteOutcome::Written)
    }

    fn apply_create(&self, s: &NewSeries) -> Result<WriteOutcome, ProviderError> {
        let mut cals = self.cals();
        let exists = cals
            .values()
            .any(|c| c.series.iter().any(|m| *m.uid == *s.key));
        if exists {
            return Ok(WriteOutcome::Unchanged);
        }
        let organizer = s.organizer.to_lowercase();
        let calendar = cals
            .iter()
            .find(|(_, c)| c.owner.as_deref() == Some(organizer.as_str()))
            .or_else(|| cals.iter().next())
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| organizer.clone());
        let owner = cals.get(&calendar).and_then(|c| c.owner.clone());
        let (master, instances) = created_series(&self.account, &calendar, owner.as_deref(), s);
        let cal = cals.entry(calendar).or_default();
        cal.series.push(master);
        cal.instances.extend(instances);
        drop(cals);
        self.record(RecordedWrite::Create(s.clone()));
        Ok(WriteOutcome::Written)
    }
}

fn next_version(v: &str) -> String {
    format!("{}+", v)
}

/// The master and a year of occurrences of a series made by `create_series`.
fn created_series(
    account: &str,
    calendar: &str,
    owner: Option<&str>,
    s: &NewSeries,
) -> (SeriesMaster, Vec<Instance>) {
    let person = |email: &str, response| Attendee {
        email: email.to_lowercase(),
        kind: ParticipantKind::Person,
        response,
        optional: false,
    };
    let attendees: Arc<[Attendee]> = vec![
        person(&s.organizer, Response::Accepted),
        person(&s.attendee, Response::NeedsAction),
    ]
    .into();
    let master = SeriesMaster {
        account: account.into(),
        calendar: calendar.into(),
        owner: owner.map(Into::into),
        id: s.key.clone(),
        uid: s.key.as_str().into(),
        title: s.title.as_str().into(),
        organizer: Some(s.organizer.to_lowercase().into()),
        description: s.description.as_str().into(),
        version: "1".into(),
        source: s.key.as_str().into(),
    };
    let rhythm = match s.cadence {
        Cadence::Weeks(n) => crate::domain::Rhythm::Weeks(n),
        Cadence::Monthly => crate::domain::Rhythm::Months(1),
    };
    let mut instances = Vec::new();
    for k in 0..52u32 {
        let local = match s.cadence {
            Cadence::Weeks(n) => Some(s.first_start + Duration::weeks(i64::from(k * n))),
            Cadence::Monthly => s.first_start.checked_add_months(chrono::Months::new(k)),
        };
        let Some(local) = local else { break };
        let start = local.with_timezone(&Utc);
        instances.push(Instance {
            account: master.account.clone(),
            calendar: master.calendar.clone(),
            owner: master.owner.clone(),
            id: crate::domain::meeting_key(&s.key, Some(start)),
            series_id: Some(master.uid.clone()),
            uid: master.uid.clone(),
            original_start: Some(start),
            title: master.title.clone(),
            organizer: master.organizer.clone(),
            attendees: attendees.clone(),
            start,
            end: start + s.duration,
            all_day: false,
            cancelled: false,
            rhythm: Some(rhythm.clone()),
            description: master.description.clone(),
            version: "1".into(),
            source: master.source.clone(),
        });
    }
    (master, instances)
}

impl Provider for MemoryProvider {
    fn account(&self) -> &str {
        &self.account
    }

    fn writes_notify_attendees(&self) -> bool {
        self.notify
    }

    fn fetch<'a>(
        &'a self,
        window: Window,
        progress: &'a Progress,
    ) -> BoxFuture<'a, Result<Snapshot, ProviderError>> {
        Box::pin(async move {
            let s = self.snapshot(window);
            progress.add_calendars(s.calendars.len());
            for _ in &s.calendars {
                progress.calendar_done();
            }
            Ok(s)
        })
    }

    fn write_occurrence<'a>(
        &'a self,
        w: &'a OccurrenceWrite,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        Box::pin(async move { self.apply_occurrence(w) })
    }

    fn write_series<'a>(
        &'a self,
        w: &'a SeriesWrite,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        Box::pin(async move { self.apply_series(w) })
    }

    fn create_series<'a>(
        &'a self,
        s: &'a NewSeries,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        Box::pin(async move { self.apply_create(s) })
    }
}

/// Wraps a provider and fails on command. Counters count down: `fail_fetches(2)` fails the next
/// two fetches, then fetches go through again.
pub struct FailingProvider {
    inner: Arc<dyn Provider>,
    fetches: AtomicUsize,
    panics: AtomicUsize,
    writes_before: AtomicUsize,
    writes_after: AtomicUsize,
}

impl FailingProvider {
    pub fn new(inner: Arc<dyn Provider>) -> FailingProvider {
        FailingProvider {
            inner,
            fetches: AtomicUsize::new(0),
            panics: AtomicUsize::new(0),
            writes_before: AtomicUsize::new(0),
            writes_after: AtomicUsize::new(0),
        }
    }

    /// The next `n` fetches fail: the account cannot be reached.
    pub fn fail_fetches(&self, n: usize) {
        self.fetches.store(n, Ordering::SeqCst);
    }

    /// The next `n` fetches panic (a bug in a provider must not take the cycle down).
    pub fn panic_fetches(&self, n: usize) {
        self.panics.store(n, Ordering::SeqCst);
    }

    /// The next `n` writes fail before anything is applied.
    pub fn fail_writes(&self, n: usize) {
        self.writes_before.store(n, Ordering::SeqCst);
    }

    /// The next `n` writes are applied, then their answer is lost (a crash or a timeout after
    /// the request reached the server).
    pub fn lose_write_answers(&self, n: usize) {
        self.writes_after.store(n, Ordering::SeqCst);
    }

    fn take(counter: &AtomicUsize) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    fn write<'a>(
        &'a self,
        what: String,
        go: BoxFuture<'a, Result<WriteOutcome, ProviderError>>,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        Box::pin(async move {
            if Self::take(&self.writes_before) {
                return Err(ProviderError::Io {
                    what,
                    source: std::io::Error::other("injected write failure"),
                });
            }
            let r = go.await;
            if Self::take(&self.writes_after) {
                return Err(ProviderError::Uncertain {
                    what,
                    reason: "injected: the answer was lost".into(),
                });
            }
            r
        })
    }
}

impl Provider for FailingProvider {
    fn account(&self) -> &str {
        self.inner.account()
    }

    fn writes_notify_attendees(&self) -> bool {
        self.inner.writes_notify_attendees()
    }

    fn fetch<'a>(
        &'a self,
        window: Window,
        progress: &'a Progress,
    ) -> BoxFuture<'a, Result<Snapshot, ProviderError>> {
        Box::pin(async move {
            if Self::take(&self.panics) {
                panic!("injected panic in a provider's fetch");
            }
            if Self::take(&self.fetches) {
                return Err(ProviderError::Unavailable {
                    what: format!("account {}", self.inner.account()),
                    reason: "injected fetch failure".into(),
                });
            }
            self.inner.fetch(window, progress).await
        })
    }

    fn write_occurrence<'a>(
        &'a self,
        w: &'a OccurrenceWrite,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        self.write(w.target.id.clone(), self.inner.write_occurrence(w))
    }

    fn write_series<'a>(
        &'a self,
        w: &'a SeriesWrite,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        self.write(w.target.id.clone(), self.inner.write_series(w))
    }

    fn create_series<'a>(
        &'a self,
        s: &'a NewSeries,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        self.write(s.key.clone(), self.inner.create_series(s))
    }
}
