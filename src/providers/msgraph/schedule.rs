//! Free/busy for fix mode, through `getSchedule`, kept inside the provider. The planner finds a
//! free slot from the busy times of the instances it is given; this provider gives it only the
//! events that concern a pair (an organisation's calendars are too large to hand over whole), so
//! for the people of pairs in fix mode it adds their busy times as `getSchedule` reports them
//! (every calendar of theirs, private events included, `free` items not) and the hours outside
//! their working hours, as busy blocks: instances with the person alone, which are never a
//! meeting of anyone (`source` `freebusy:{email}`).
//!
//! Invariant: when a person's free/busy cannot be read, their calendar is reported as not read
//! completely, so nothing is created or lengthened on a guess.
use super::client::{Call, Client, PREFER_UTC};
use super::sync::segment;
use super::wire::{Collection, ScheduleInformation, WorkingHours};
use super::zones;
use crate::domain::Instance;
use crate::providers::{ProblemKind, SourceProblem};
use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Spans of time, UTC, start before end.
type Spans = Vec<(DateTime<Utc>, DateTime<Utc>)>;

/// Graph answers at most 62 days and 20 people per request.
const MAX_SPAN_DAYS: i64 = 62;
const MAX_PEOPLE: usize = 20;

/// What free/busy gave: busy blocks, problems, and the people it could not be read for (why).
#[derive(Debug, Default)]
pub struct FreeBusy {
    pub busy: Vec<Instance>,
    pub problems: Vec<SourceProblem>,
    pub failed: BTreeMap<String, String>,
}

fn source(email: &str) -> String {
    format!("freebusy:{email}")
}

fn block(account: &Arc<str>, email: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Instance {
    let person: Arc<str> = email.into();
    let id = format!("freebusy:{}-{}", start.timestamp(), end.timestamp());
    Instance {
        account: account.clone(),
        calendar: person.clone(),
        owner: Some(person.clone()),
        id: id.clone(),
        series_id: None,
        uid: id.into(),
        original_start: None,
        title: "busy (free/busy)".into(),
        organizer: Some(person),
        attendees: Arc::from(Vec::new()),
        start,
        end,
        all_day: false,
        cancelled: false,
        rhythm: None,
        description: "".into(),
        version: "".into(),
        source: source(email).into(),
    }
}

/// The time outside someone's working hours in `[from, to)`, as UTC spans.
pub fn outside_working_hours(
    wh: &WorkingHours,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Spans, String> {
    let zone = zones::resolve_with_bias(&wh.time_zone.name, wh.time_zone.bias)?;
    let time = |s: &str| {
        NaiveTime::parse_from_str(s.trim(), "%H:%M:%S%.f")
            .or_else(|_| NaiveTime::parse_from_str(s.trim(), "%H:%M"))
            .map_err(|_| format!("working hours: invalid time {s:?}"))
    };
    let (start, end) = (time(&wh.start_time)?, time(&wh.end_time)?);
    let days: Vec<String> = wh.days_of_week.iter().map(|d| d.to_lowercase()).collect();
    let mut out = Vec::new();
    let mut day = zone.to_local(from).date();
    let last = zone.to_local(to).date();
    while day <= last {
        let name = day.weekday().to_string().to_lowercase();
        let working = days.iter().any(|d| d.starts_with(&name));
        let midnight = zone.to_utc(day.and_time(NaiveTime::MIN));
        let next = zone.to_utc((day + Duration::days(1)).and_time(NaiveTime::MIN));
        if working && start < end {
            out.push((midnight, zone.to_utc(day.and_time(start))));
            out.push((zone.to_utc(day.and_time(end)), next));
        } else {
            out.push((midnight, next));
        }
        day += Duration::days(1);
    }
    Ok(out
        .into_iter()
        .map(|(s, e)| (s.max(from), e.min(to)))
        .filter(|(s, e)| s < e)
        .collect())
}

/// Read the free/busy of `people` over `[from, to)`.
pub async fn read(
    client: &Client,
    account: &Arc<str>,
    people: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> FreeBusy {
    let mut out = FreeBusy::default();
    for chunk in people.chunks(MAX_PEOPLE) {
        let Some(asker) = chunk.first() else { continue };
        let mut t = from;
        while t < to {
            let until = (t + Duration::days(MAX_SPAN_DAYS)).min(to);
            read_span(client, account, asker, chunk, t, until, &mut out).await;
            t = until;
        }
    }
    // A person whose free/busy failed anywhere gets no partial busy times either.
    out.busy.retain(|i| !out.failed.contains_key(&*i.calendar));
    out
}

async fn read_span(
    client: &Client,
    account: &Arc<str>,
    asker: &str,
    people: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    out: &mut FreeBusy,
) {
    let dt = |t: DateTime<Utc>| json!({"dateTime": zones::format_local(t.naive_utc()), "timeZone": "UTC"});
    let body = json!({"schedules": people, "startTime": dt(from), "endTime": dt(to),
        "availabilityViewInterval": 30});
    let call = Call {
        method: reqwest::Method::POST,
        url: client.url(&format!("/users/{}/calendar/getSchedule", segment(asker))),
        mailbox: asker,
        json: Some(&body),
        if_match: None,
        prefer: PREFER_UTC,
    };
    let answer: Result<Collection, _> = client.send(&call).await.and_then(|r| r.json());
    let infos = match answer {
        Ok(c) => c.value,
        Err(e) => {
            for p in people {
                out.failed.insert(
                    p.clone(),
                    format!("free/busy (getSchedule) could not be read: {e}"),
                );
            }
            return;
        }
    };
    let mut seen: Vec<String> = Vec::new();
    for v in infos {
        let Ok(info) = serde_json::from_value::<ScheduleInformation>(v) else {
            continue;
        };
        let email = info.schedule_id.to_lowercase();
        let Some(items) = info
            .schedule_items
            .as_ref()
            .filter(|_| info.error.is_none())
        else {
            out.failed.insert(
                email.clone(),
                "getSchedule has no free/busy for this person".into(),
            );
            seen.push(email);
            continue;
        };
        for it in items.iter().filter(|i| i.status != "free") {
            let s = zones::parse_date_time(&it.start.date_time, &it.start.time_zone);
            let e = zones::parse_date_time(&it.end.date_time, &it.end.time_zone);
            match (s, e) {
                (Ok(s), Ok(e)) => out.busy.push(block(account, &email, s, e.max(s))),
                (Err(x), _) | (_, Err(x)) => {
                    out.failed.insert(
                        email.clone(),
                        format!("free/busy has an unreadable time: {x}"),
                    );
                }
            }
        }
        match info.working_hours.as_ref().map(|wh| outside_working_hours(wh, from, to)) {
            Some(Ok(spans)) => out
                .busy
                .extend(spans.into_iter().map(|(s, e)| block(account, &email, s, e))),
            Some(Err(x)) => out.problems.push(SourceProblem {
                calendar: Some(email.clone()),
                source: source(&email),
                message: format!("working hours cannot be read ({x}); no series is created for this person's pairs"),
                kind: ProblemKind::Unreadable,
            }),
            None => {}
        }
        seen.push(email);
    }
    for p in people {
        if !seen.contains(p) {
            out.failed.insert(
                p.clone(),
                "getSchedule did not answer for this person".into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::wire::WorkingZone;
    use super::*;

    #[test]
    fn non_working_time_in_the_persons_zone() {
        let wh = WorkingHours {
            days_of_week: vec!["monday".into(), "tuesday".into()],
            start_time: "08:00:00.0000000".into(),
            end_time: "17:00:00.0000000".into(),
            time_zone: WorkingZone {
                name: "W. Europe Standard Time".into(),
                bias: None,
            },
        };
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default()
        };
        // Monday 23 and Tuesday 24 November 2026 (UTC+1), Wednesday off.
        let spans =
            outside_working_hours(&wh, t("2026-11-23T00:00:00Z"), t("2026-11-26T00:00:00Z"))
                .unwrap_or_default();
        assert!(spans.contains(&(t("2026-11-23T00:00:00Z"), t("2026-11-23T07:00:00Z"))));
        assert!(spans.contains(&(t("2026-11-23T16:00:00Z"), t("2026-11-23T23:00:00Z"))));
        assert!(spans.contains(&(t("2026-11-24T23:00:00Z"), t("2026-11-25T23:00:00Z"))));
        let free = |s: &str| !spans.iter().any(|(a, b)| *a <= t(s) && t(s) < *b);
        assert!(free("2026-11-23T09:00:00Z") && !free("2026-11-25T09:00:00Z"));
        let custom = WorkingHours {
            time_zone: WorkingZone {
                name: zones::CUSTOM.into(),
                bias: Some(-330),
            },
            ..wh
        };
        let spans = outside_working_hours(
            &custom,
            t("2026-11-23T00:00:00Z"),
            t("2026-11-24T00:00:00Z"),
        )
        .unwrap_or_default();
        // India-like custom zone (UTC+5:30): work starts 02:30 UTC.
        assert!(spans.contains(&(t("2026-11-23T00:00:00Z"), t("2026-11-23T02:30:00Z"))));
        assert!(spans.contains(&(t("2026-11-23T11:30:00Z"), t("2026-11-23T18:30:00Z"))));
        let unknown = WorkingHours {
            time_zone: WorkingZone {
                name: zones::CUSTOM.into(),
                bias: None,
            },
            ..custom
        };
        assert!(
            outside_working_hours(
                &unknown,
                t("2026-11-23T00:00:00Z"),
                t("2026-11-24T00:00:00Z")
            )
            .is_err()
        );
    }
}
