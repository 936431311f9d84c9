//! Who hears what, and when (`notify::routing`, pure): routes by kind and severity, immediate vs
//! digest, "resolved" notices, keys that repeat for the same thing and change when it worsens or
//! a new streak starts, quiet hours in the pair's zone, the weekly digest per manager, the nudge;
//! and the outbox's insert-if-absent, due order and pruning.
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc, Weekday};
use oneonone::config::{
    EmailSettings, EmailTls, NotifySettings, NudgeSettings, RouteSettings, RouteTarget,
    WebhookFormat, WebhookSettings,
};
use oneonone::domain::rules::{ActiveFinding, Severity};
use oneonone::domain::{Cadence, CancellationPolicy, Enforce, Pair};
use oneonone::notify::routing::{
    DigestEntry, after_quiet_hours, digest_messages, finding_messages, nudge_messages,
};
use oneonone::notify::{Channel, Event};
use oneonone::sync::{FindingsDiff, Nudge};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("time").to_utc()
}

fn pair(manager: &str, report: &str, tz: chrono_tz::Tz) -> Pair {
    Pair {
        id: Pair::make_id(manager, report),
        manager: manager.into(),
        report: report.into(),
        account: "local".into(),
        cadence: Cadence::Weeks(1),
        duration: Duration::minutes(30),
        enforce: Enforce::Warn,
        cancellations: CancellationPolicy {
            max_consecutive: 2,
            max_in_window: 3,
            window: Duration::days(90),
        },
        timezone: tz,
        working_hours: Default::default(),
    }
}

fn finding(kind: &str, severity: &str, level: u32, first_seen: &str) -> ActiveFinding {
    ActiveFinding {
        pair_id: "m@x.test~r@x.test".into(),
        key: kind.into(),
        kind: kind.into(),
        severity: severity.into(),
        message: format!("{kind} message"),
        occurrence: None,
        first_seen: t(first_seen),
        notified_at: None,
        level,
        notified_level: 0,
        details: vec!["Tue 17 Nov 10:00: cancelled by m@x.test".into()],
    }
}

fn diff(to_notify: Vec<ActiveFinding>, cleared: Vec<ActiveFinding>) -> FindingsDiff {
    FindingsDiff {
        new_keys: to_notify.iter().map(|f| f.key.clone()).collect(),
        active: to_notify.clone(),
        to_notify,
        cleared,
        changed: true,
    }
}

fn webhook(name: &str) -> WebhookSettings {
    WebhookSettings {
        name: name.into(),
        format: WebhookFormat::Json,
        url: format!("https://hooks.test/{name}"),
        secret_file: None,
        url_file: None,
    }
}

fn email() -> Option<EmailSettings> {
    Some(EmailSettings {
        host: "localhost".into(),
        port: 25,
        tls: EmailTls::None,
        from: "oneonone@x.test".into(),
        credentials_file: None,
        ca_file: None,
    })
}

fn route(
    kinds: &[&str],
    min: Severity,
    to: Vec<RouteTarget>,
    digest: bool,
    resolved: bool,
) -> RouteSettings {
    RouteSettings {
        kinds: kinds.iter().map(|k| k.to_string()).collect(),
        min_severity: min,
        to,
        digest,
        resolved,
    }
}

const NOW: &str = "2026-11-23T12:00:00Z";

#[test]
fn without_routes_every_finding_goes_to_every_webhook_at_once() {
    let settings = NotifySettings {
        webhooks: vec![webhook("a"), webhook("b")],
        ..NotifySettings::default()
    };
    let p = pair("m@x.test", "r@x.test", chrono_tz::UTC);
    let d = diff(
        vec![
            finding("cadence_gap", "warning", 1, NOW),
            finding("duration_mismatch", "info", 1, NOW),
        ],
        vec![finding("not_one_on_one", "info", 1, NOW)],
    );
    let msgs = finding_messages(&settings, &p, &d, t(NOW));
    assert_eq!(msgs.len(), 4, "{msgs:#?}");
    assert!(
        msgs.iter()
            .all(|m| m.event == Event::Finding && m.not_before == t(NOW))
    );
    let names: Vec<String> = msgs
        .iter()
        .map(|m| match &m.channel {
            Channel::Webhook { name } => name.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names.iter().filter(|n| *n == "a").count(), 2);
    // The details (who cancelled) travel with the finding.
    assert!(
        msgs[0]
            .lines
            .iter()
            .any(|l| l.contains("cancelled by m@x.test"))
    );
}

#[test]
fn routes_filter_by_kind_and_severity_and_say_resolved_only_when_asked() {
    let settings = NotifySettings {
        webhooks: vec![webhook("chat")],
        email: email(),
        routes: vec![
            route(
                &["repeated_cancellations"],
                Severity::Warning,
                vec![RouteTarget::Manager],
                false,
                true,
            ),
            route(
                &[],
                Severity::Info,
                vec![RouteTarget::Webhook("chat".into())],
                true,
                false,
            ),
        ],
        ..NotifySettings::default()
    };
    let p = pair("m@x.test", "r@x.test", chrono_tz::UTC);
    let d = diff(
        vec![
            finding("repeated_cancellations", "warning", 1, NOW),
            finding("duration_mismatch", "info", 1, NOW),
        ],
        vec![finding(
            "repeated_cancellations",
            "warning",
            1,
            "2026-11-01T00:00:00Z",
        )],
    );
    let msgs = finding_messages(&settings, &p, &d, t(NOW));
    // The digest route sends nothing at once; the manager gets the warning and its resolution.
    assert_eq!(msgs.len(), 2, "{msgs:#?}");
    assert!(msgs.iter().all(|m| m.channel
        == Channel::Email {
            to: vec!["m@x.test".into()]
        }));
    let events: Vec<Event> = msgs.iter().map(|m| m.event).collect();
    assert!(events.contains(&Event::Finding) && events.contains(&Event::Resolved));
    // An info finding does not pass a warning route.
    assert!(
        !msgs
            .iter()
            .any(|m| m.kind.as_deref() == Some("duration_mismatch"))
    );
}

#[test]
fn keys_repeat_for_the_same_thing_and_change_when_it_worsens_or_a_new_streak_starts() {
    let settings = NotifySettings {
        webhooks: vec![webhook("a")],
        ..NotifySettings::default()
    };
    let p = pair("m@x.test", "r@x.test", chrono_tz::UTC);
    let key = |f: ActiveFinding| {
        finding_messages(&settings, &p, &diff(vec![f], vec![]), t(NOW))
            .pop()
            .expect("a message")
            .key
    };
    let base = key(finding("cadence_gap", "warning", 1, "2026-11-01T00:00:00Z"));
    assert_eq!(
        base,
        key(finding("cadence_gap", "warning", 1, "2026-11-01T00:00:00Z"))
    );
    assert_ne!(
        base,
        key(finding("cadence_gap", "warning", 2, "2026-11-01T00:00:00Z"))
    );
    assert_ne!(
        base,
        key(finding("cadence_gap", "warning", 1, "2026-11-20T00:00:00Z"))
    );
    // A finding notified before and now worse is sent as "worse".
    let mut worse = finding("cadence_gap", "warning", 2, "2026-11-01T00:00:00Z");
    worse.notified_at = Some(t("2026-11-02T00:00:00Z"));
    let m = finding_messages(&settings, &p, &diff(vec![worse], vec![]), t(NOW));
    assert_eq!(m[0].event, Event::Worse);
    assert!(m[0].subject.contains("Worse:"), "{}", m[0].subject);
}

#[test]
fn quiet_hours_hold_messages_until_they_end_in_the_pairs_zone() {
    let settings = NotifySettings {
        quiet_hours: Some((
            NaiveTime::from_hms_opt(20, 0, 0).expect("t"),
            NaiveTime::from_hms_opt(8, 0, 0).expect("t"),
        )),
        ..NotifySettings::default()
    };
    let ny = chrono_tz::America::New_York;
    // 02:00 UTC is 21:00 in New York (EST): held until 08:00 New York = 13:00 UTC.
    assert_eq!(
        after_quiet_hours(t("2026-11-24T02:00:00Z"), &settings, ny),
        t("2026-11-24T13:00:00Z")
    );
    // 06:00 New York (11:00 UTC): held until 08:00 the same morning.
    assert_eq!(
        after_quiet_hours(t("2026-11-24T11:00:00Z"), &settings, ny),
        t("2026-11-24T13:00:00Z")
    );
    // Midday: at once.
    assert_eq!(
        after_quiet_hours(t("2026-11-24T17:00:00Z"), &settings, ny),
        t("2026-11-24T17:00:00Z")
    );
    // A span that does not wrap midnight.
    let lunch = NotifySettings {
        quiet_hours: Some((
            NaiveTime::from_hms_opt(12, 0, 0).expect("t"),
            NaiveTime::from_hms_opt(13, 0, 0).expect("t"),
        )),
        ..NotifySettings::default()
    };
    assert_eq!(
        after_quiet_hours(t("2026-11-24T12:30:00Z"), &lunch, chrono_tz::UTC),
        t("2026-11-24T13:00:00Z")
    );
    assert_eq!(
        after_quiet_hours(t("2026-11-24T13:00:00Z"), &lunch, chrono_tz::UTC),
        t("2026-11-24T13:00:00Z")
    );
}

fn entry(p: Pair, warning: bool) -> DigestEntry {
    DigestEntry {
        pair: p,
        last_held: Some(t("2026-11-17T10:00:00Z")),
        next_scheduled: Some(t("2026-11-24T10:00:00Z")),
        consecutive_cancellations: u32::from(warning) * 2,
        findings: if warning {
            vec![("warning".into(), "2 1:1s in a row cancelled".into())]
        } else {
            Vec::new()
        },
    }
}

#[test]
fn the_weekly_digest_goes_to_each_manager_once_a_week_after_its_time() {
    let settings = NotifySettings {
        email: email(),
        admins: vec!["ops@x.test".into()],
        routes: vec![route(
            &[],
            Severity::Info,
            vec![RouteTarget::Manager, RouteTarget::Admins],
            true,
            false,
        )],
        digest_at: (Weekday::Mon, NaiveTime::from_hms_opt(9, 0, 0).expect("t")),
        ..NotifySettings::default()
    };
    let london = chrono_tz::Europe::London;
    let entries = vec![
        entry(pair("ann@x.test", "bob@x.test", london), true),
        entry(pair("ann@x.test", "cy@x.test", london), false),
        entry(pair("dee@x.test", "eve@x.test", london), false),
    ];
    // Monday 08:59: not yet.
    assert!(digest_messages(&settings, &entries, t("2026-11-23T08:59:00Z")).is_empty());
    let at_nine = digest_messages(&settings, &entries, t("2026-11-23T09:00:00Z"));
    // Two managers × (the manager, the admins).
    assert_eq!(at_nine.len(), 4, "{at_nine:#?}");
    let ann = at_nine
        .iter()
        .find(|m| {
            m.channel
                == Channel::Email {
                    to: vec!["ann@x.test".into()],
                }
        })
        .expect("Ann's digest");
    assert_eq!(ann.event, Event::Digest);
    assert_eq!(
        ann.lines.iter().filter(|l| l.contains(" — ")).count(),
        2,
        "{:?}",
        ann.lines
    );
    assert!(
        ann.lines
            .iter()
            .any(|l| l.starts_with("bob@x.test — needs attention"))
    );
    assert!(ann.lines.iter().any(|l| l.contains("2 cancelled in a row")));
    assert!(!ann.lines.iter().any(|l| l.contains("eve@x.test")));
    // Later that week the keys are the same (the outbox keeps one); next week they differ.
    let friday = digest_messages(&settings, &entries, t("2026-11-27T09:00:00Z"));
    let keys = |v: &[oneonone::notify::Message]| {
        let mut k: Vec<String> = v.iter().map(|m| m.key.clone()).collect();
        k.sort();
        k
    };
    assert_eq!(keys(&at_nine), keys(&friday));
    let next = digest_messages(&settings, &entries, t("2026-11-30T09:00:00Z"));
    assert!(keys(&next).iter().all(|k| !keys(&at_nine).contains(k)));
}

#[test]
fn nudges_go_to_the_report_and_optionally_the_manager_unless_cancelled_by_then() {
    let p = pair("m@x.test", "r@x.test", chrono_tz::Europe::Berlin);
    let nudge = Nudge {
        meeting: "uid-1@2026-11-24T09:00:00Z".into(),
        start: t("2026-11-24T09:00:00Z"),
        title: "1:1".into(),
        doc: Some("tok123".into()),
        carried: vec!["[action] Send the draft (owner: r@x.test)".into()],
    };
    let mut settings = NotifySettings {
        email: email(),
        nudge: Some(NudgeSettings {
            before: Duration::hours(24),
            manager_too: false,
        }),
        ..NotifySettings::default()
    };
    let now = t("2026-11-23T12:00:00Z");
    let msgs = nudge_messages(
        &settings,
        &p,
        std::slice::from_ref(&nudge),
        "https://agenda.x.test",
        now,
    );
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(
        m.channel,
        Channel::Email {
            to: vec!["r@x.test".into()]
        }
    );
    assert_eq!(m.link.as_deref(), Some("https://agenda.x.test/a/tok123"));
    assert!(
        m.lines[0].contains("Tuesday 24 November, 10:00"),
        "{:?}",
        m.lines
    );
    assert!(
        m.lines
            .iter()
            .any(|l| l == "- [action] Send the draft (owner: r@x.test)")
    );
    assert_eq!(
        m.unless_cancelled,
        Some((p.id.clone(), nudge.meeting.clone()))
    );
    settings.nudge = Some(NudgeSettings {
        before: Duration::hours(24),
        manager_too: true,
    });
    let both = nudge_messages(
        &settings,
        &p,
        std::slice::from_ref(&nudge),
        "https://agenda.x.test",
        now,
    );
    assert_eq!(both.len(), 2);
    assert_ne!(both[0].key, both[1].key);
    // Without email there is no channel for it.
    settings.email = None;
    assert!(nudge_messages(&settings, &p, &[nudge], "https://agenda.x.test", now).is_empty());
}

#[test]
fn the_outbox_keeps_one_message_per_key_due_in_order_and_forgets_old_ones() {
    use oneonone::store::{OutboxState, Store};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let now = Utc
        .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
        .single()
        .expect("t");
    let payload = serde_json::json!({"x": 1});
    assert!(
        store
            .outbox_enqueue("b", &payload, now, now)
            .expect("enqueue")
    );
    assert!(
        !store
            .outbox_enqueue("b", &serde_json::json!({"x": 2}), now, now)
            .expect("again")
    );
    assert!(
        store
            .outbox_enqueue("a", &payload, now + Duration::hours(1), now)
            .expect("enqueue")
    );
    assert!(
        store
            .outbox_enqueue("c", &payload, now - Duration::hours(1), now)
            .expect("enqueue")
    );
    let due: Vec<String> = store
        .outbox_due(now)
        .expect("due")
        .into_iter()
        .map(|i| i.key)
        .collect();
    assert_eq!(due, vec!["c", "b"]);
    assert_eq!(
        store.outbox_get("b").expect("get").expect("b").payload,
        payload
    );
    assert_eq!(
        store.outbox_next_due().expect("next"),
        Some(now - Duration::hours(1))
    );
    let mut c = store.outbox_get("c").expect("get").expect("c");
    c.state = OutboxState::Sent;
    c.done_at = Some(now);
    store.outbox_put(&c).expect("put");
    assert_eq!(store.outbox_stats().expect("stats").sent, 1);
    assert_eq!(
        store
            .outbox_prune(now + Duration::days(10), Duration::days(30))
            .expect("prune"),
        0
    );
    assert_eq!(
        store
            .outbox_prune(now + Duration::days(31), Duration::days(30))
            .expect("prune"),
        1
    );
    assert!(store.outbox_get("c").expect("get").is_none());
    assert_eq!(store.outbox_stats().expect("stats").pending, 2);
}
