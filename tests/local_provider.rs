//! Integration tests of `providers::local` on temporary vdirs.
//!
//! Fixture cases are data: `tests/fixtures/ics/NAME.ics` is fetched alone over 2026 (default zone
//! Europe/Berlin) and the summary is compared with `NAME.expected` (regenerate with
//! `UPDATE_EXPECT=1`, then review the diff).
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use oneonone::domain::{Instance, Rhythm};
use oneonone::providers::local::{FileCache, LocalProvider};
use oneonone::providers::{
    NewSeries, OccurrenceWrite, ProviderError, Snapshot, Window, WriteOutcome,
};
use std::fs;
use std::path::{Path, PathBuf};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .unwrap()
}

fn year_2026() -> Window {
    Window {
        start: utc("2026-01-01T00:00:00Z"),
        end: utc("2027-01-01T00:00:00Z"),
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ics")
}

fn fetch(root: &Path, window: Window) -> Snapshot {
    let p = LocalProvider::new("local", root, Tz::Europe__Berlin);
    let mut cache = FileCache::default();
    p.fetch(window, &mut cache).unwrap()
}

fn summary(snap: &Snapshot, root: &Path) -> String {
    let mut out = String::new();
    let mut inst: Vec<&Instance> = snap.instances.iter().collect();
    inst.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
    for i in inst {
        let atts: Vec<String> = i
            .attendees
            .iter()
            .map(|a| {
                format!(
                    "{}:{:?}:{:?}{}",
                    a.email,
                    a.kind,
                    a.response,
                    if a.optional { ":optional" } else { "" }
                )
            })
            .collect();
        out.push_str(&format!(
            "{} series={:?} orig={:?}\n  {} .. {} title={:?} cancelled={} rhythm={:?}\n  organizer={:?} attendees=[{}]\n  description={:?}\n",
            i.id,
            i.series_id,
            i.original_start.map(|t| t.to_rfc3339()),
            i.start.to_rfc3339(),
            i.end.to_rfc3339(),
            i.title,
            i.cancelled,
            i.rhythm,
            i.organizer,
            atts.join(", "),
            i.description,
        ));
    }
    let prefix = format!("{}/", root.display());
    for p in &snap.problems {
        out.push_str(&format!(
            "PROBLEM {}: {}\n",
            p.source.replace(&prefix, ""),
            p.message
        ));
    }
    out
}

/// The data-driven check: fetch one fixture alone and compare with its `.expected` summary.
fn check(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        fixtures().join(format!("{name}.ics")),
        dir.path().join(format!("{name}.ics")),
    )
    .unwrap();
    let got = summary(&fetch(dir.path(), year_2026()), dir.path());
    let expected_path = fixtures().join(format!("{name}.expected"));
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        fs::write(&expected_path, &got).unwrap();
        return;
    }
    let expected = fs::read_to_string(&expected_path).unwrap_or_default();
    assert_eq!(
        got,
        expected,
        "fixture {name} differs from {}",
        expected_path.display()
    );
}

#[test]
fn fixtures_match_their_expected_summaries() {
    let mut names: Vec<String> = fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            if p.extension()? != "ics" {
                return None;
            }
            Some(p.file_stem()?.to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    assert!(names.len() >= 13, "fixtures missing: {names:?}");
    for n in names {
        check(&n);
    }
}

const PEOPLE: &str = "ORGANIZER:mailto:ann@example.com\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:ann@example.com\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@example.com\r\n";

fn weekly(uid: &str, tzid: &str, start: &str, end: &str, extra: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID={tzid}:{start}\r\nDTEND;TZID={tzid}:{end}\r\nRRULE:FREQ=WEEKLY\r\nSUMMARY:Ann / Bob\r\n{PEOPLE}DESCRIPTION:Notes\\, first\r\nX-CUSTOM;X-PARAM=\"a:b\":keep me\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT10M\r\nEND:VALARM\r\nEND:VEVENT\r\n{extra}END:VCALENDAR\r\n"
    )
}

#[test]
fn weekly_meetings_keep_local_time_across_dst() {
    for (tz, tzid) in [
        (Tz::Europe__London, "Europe/London"),
        (Tz::America__New_York, "America/New_York"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("s.ics"),
            weekly("dst", tzid, "20260202T100000", "20260202T103000", ""),
        )
        .unwrap();
        let snap = fetch(
            dir.path(),
            Window {
                start: utc("2026-02-01T00:00:00Z"),
                end: utc("2026-05-01T00:00:00Z"),
            },
        );
        assert!(snap.problems.is_empty(), "{:?}", snap.problems);
        assert_eq!(snap.instances.len(), 13, "{tzid}");
        let offsets: std::collections::BTreeSet<i64> = snap
            .instances
            .iter()
            .map(|i| i.start.hour() as i64)
            .collect();
        assert_eq!(
            offsets.len(),
            2,
            "{tzid}: the UTC hour must change at DST: {offsets:?}"
        );
        for i in &snap.instances {
            let local = i.start.with_timezone(&tz);
            assert_eq!(
                local.time(),
                NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
                "{tzid} {}",
                i.id
            );
            assert_eq!(i.duration(), Duration::minutes(30));
            assert_eq!(i.rhythm, Some(Rhythm::Weeks(1)));
            assert_eq!(i.id, format!("dst_{}", i.start.format("%Y%m%dT%H%M%SZ")));
        }
    }
}

fn setup_series() -> (tempfile::TempDir, LocalProvider, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("series.ics");
    fs::write(
        &path,
        weekly(
            "ser",
            "Europe/London",
            "20260302T100000",
            "20260302T103000",
            "",
        ),
    )
    .unwrap();
    let p = LocalProvider::new("local", dir.path(), Tz::Europe__London);
    (dir, p, path)
}

fn instance_at(p: &LocalProvider, start: &str) -> Instance {
    let mut cache = FileCache::default();
    let snap = p.fetch(year_2026(), &mut cache).unwrap();
    snap.instances
        .into_iter()
        .find(|i| i.start == utc(start))
        .unwrap()
}

#[test]
fn write_creates_an_override_then_is_unchanged_and_keeps_other_bytes() {
    let (_dir, p, path) = setup_series();
    let before = fs::read_to_string(&path).unwrap();
    let target = instance_at(&p, "2026-03-16T10:00:00Z");
    assert_eq!(&*target.description, "Notes, first");
    let w = OccurrenceWrite {
        target: target.clone(),
        description: Some(
            "Notes, first\n-- oneonone agenda --\nhttps://x/a;b\n-- end oneonone agenda --".into(),
        ),
        end: None,
    };
    assert_eq!(p.write_occurrence(&w).unwrap(), WriteOutcome::Written);
    let after = fs::read_to_string(&path).unwrap();
    // Every original line is kept byte-for-byte: the new text is the old one with one block inserted.
    let pos = before.rfind("END:VCALENDAR").unwrap();
    assert!(after.starts_with(&before[..pos]), "prefix changed");
    assert!(after.ends_with(&before[pos..]), "suffix changed");
    let inserted = &after[pos..after.len() - (before.len() - pos)];
    assert!(
        inserted.starts_with("BEGIN:VEVENT\r\n") && inserted.ends_with("END:VEVENT\r\n"),
        "{inserted}"
    );
    assert!(
        inserted.contains("RECURRENCE-ID;TZID=Europe/London:20260316T100000\r\n"),
        "{inserted}"
    );
    assert!(inserted.contains("DTSTART;TZID=Europe/London:20260316T100000\r\n"));
    assert!(inserted.contains("DTEND;TZID=Europe/London:20260316T103000\r\n"));
    assert!(inserted.contains("X-CUSTOM;X-PARAM=\"a:b\":keep me\r\n"));
    assert!(inserted.contains("BEGIN:VALARM\r\n"));
    assert!(!inserted.contains("RRULE"));
    assert!(inserted.lines().all(|l| l.len() <= 76), "{inserted}");
    assert!(
        !after.replace("\r\n", "").contains('\n'),
        "line endings must stay CRLF"
    );

    // The fetched instance now carries the new description; its id is unchanged.
    let again = instance_at(&p, "2026-03-16T10:00:00Z");
    assert_eq!(again.id, target.id);
    assert_eq!(Some(&*again.description), w.description.as_deref());
    // The neighbours are untouched.
    assert_eq!(
        &*instance_at(&p, "2026-03-23T10:00:00Z").description,
        "Notes, first"
    );

    // Writing the same content again: Unchanged, bytes and mtime untouched.
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    let w2 = OccurrenceWrite {
        target: again,
        description: w.description.clone(),
        end: None,
    };
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(p.write_occurrence(&w2).unwrap(), WriteOutcome::Unchanged);
    assert_eq!(fs::read_to_string(&path).unwrap(), after);
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);

    // Updating the override replaces only its DESCRIPTION line.
    let cur = instance_at(&p, "2026-03-16T10:00:00Z");
    let w3 = OccurrenceWrite {
        target: cur,
        description: Some("short".into()),
        end: None,
    };
    assert_eq!(p.write_occurrence(&w3).unwrap(), WriteOutcome::Written);
    let third = fs::read_to_string(&path).unwrap();
    let removed: Vec<&str> = after
        .split_inclusive("\r\n")
        .filter(|l| !third.contains(*l))
        .collect();
    assert!(
        removed
            .iter()
            .all(|l| l.starts_with("DESCRIPTION:Notes\\, first\\n") || l.starts_with(' ')),
        "{removed:?}"
    );
    assert!(third.contains("\r\nDESCRIPTION:short\r\n"));
    assert_eq!(
        third.matches("BEGIN:VEVENT").count(),
        2,
        "no duplicate override"
    );
}

#[test]
fn write_of_a_single_event_replaces_its_description_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.ics");
    let text = format!(
        "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:single\nDTSTART:20260310T090000Z\nDTEND:20260310T093000Z\n{}SUMMARY:x\nEND:VEVENT\nEND:VCALENDAR\n",
        PEOPLE.replace("\r\n", "\n")
    );
    fs::write(&path, &text).unwrap();
    let p = LocalProvider::new("local", dir.path(), Tz::UTC);
    let target = instance_at(&p, "2026-03-10T09:00:00Z");
    assert_eq!(&*target.description, "");
    let w = OccurrenceWrite {
        target,
        description: Some("é".repeat(60)),
        end: Some(utc("2026-03-10T10:00:00Z")),
    };
    assert_eq!(p.write_occurrence(&w).unwrap(), WriteOutcome::Written);
    let after = fs::read_to_string(&path).unwrap();
    assert!(!after.contains('\r'), "LF file stays LF");
    assert!(after.contains("DTEND:20260310T100000Z\n"));
    assert!(after.lines().all(|l| l.len() <= 75));
    let again = instance_at(&p, "2026-03-10T09:00:00Z");
    assert_eq!(&*again.description, "é".repeat(60));
    assert_eq!(again.end, utc("2026-03-10T10:00:00Z"));
    assert_eq!(again.series_id, None);
}

#[test]
fn end_write_touches_only_the_occurrence() {
    let (_dir, p, path) = setup_series();
    let target = instance_at(&p, "2026-03-09T10:00:00Z");
    let w = OccurrenceWrite {
        target: target.clone(),
        description: None,
        end: Some(target.start + Duration::minutes(45)),
    };
    assert_eq!(p.write_occurrence(&w).unwrap(), WriteOutcome::Written);
    assert_eq!(
        instance_at(&p, "2026-03-09T10:00:00Z").duration(),
        Duration::minutes(45)
    );
    assert_eq!(
        instance_at(&p, "2026-03-16T10:00:00Z").duration(),
        Duration::minutes(30)
    );
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("DTEND;TZID=Europe/London:20260302T103000\r\n"),
        "master untouched"
    );
    assert!(text.contains("DTEND;TZID=Europe/London:20260309T104500\r\n"));
}

#[test]
fn conflict_when_the_description_changed_since_read() {
    let (_dir, p, path) = setup_series();
    let target = instance_at(&p, "2026-03-16T10:00:00Z");
    let edited = fs::read_to_string(&path)
        .unwrap()
        .replace("DESCRIPTION:Notes\\, first", "DESCRIPTION:User edit");
    fs::write(&path, &edited).unwrap();
    let w = OccurrenceWrite {
        target,
        description: Some("agenda".into()),
        end: None,
    };
    assert!(matches!(
        p.write_occurrence(&w),
        Err(ProviderError::Conflict { .. })
    ));
    assert_eq!(fs::read_to_string(&path).unwrap(), edited);
}

#[test]
fn conflict_when_the_occurrence_is_gone() {
    let (_dir, p, path) = setup_series();
    let target = instance_at(&p, "2026-03-16T10:00:00Z");
    let text = fs::read_to_string(&path).unwrap().replace(
        "RRULE:FREQ=WEEKLY\r\n",
        "RRULE:FREQ=WEEKLY\r\nEXDATE;TZID=Europe/London:20260316T100000\r\n",
    );
    fs::write(&path, &text).unwrap();
    let w = OccurrenceWrite {
        target,
        description: Some("agenda".into()),
        end: None,
    };
    assert!(matches!(
        p.write_occurrence(&w),
        Err(ProviderError::Conflict { .. })
    ));
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn recovered_files_are_never_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["broken_fold.ics", "missing_end.ics"] {
        fs::copy(fixtures().join(name), dir.path().join(name)).unwrap();
    }
    let p = LocalProvider::new("local", dir.path(), Tz::UTC);
    let mut cache = FileCache::default();
    let snap = p.fetch(year_2026(), &mut cache).unwrap();
    assert_eq!(snap.instances.len(), 3);
    for target in snap.instances {
        let before = fs::read(&*target.source).unwrap();
        let w = OccurrenceWrite {
            target: target.clone(),
            description: Some("agenda".into()),
            end: None,
        };
        match p.write_occurrence(&w) {
            Err(ProviderError::Conflict { reason, .. }) => {
                assert!(reason.contains("never rewritten"), "{reason}")
            }
            other => panic!("{}: expected Conflict, got {other:?}", target.id),
        }
        assert_eq!(fs::read(&*target.source).unwrap(), before);
    }
}

#[test]
fn cache_serves_unchanged_files_without_reading() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["google_export.ics", "complex_series.ics", "declined.ics"] {
        fs::copy(fixtures().join(name), dir.path().join(name)).unwrap();
    }
    fs::create_dir(dir.path().join("work")).unwrap();
    fs::copy(
        fixtures().join("apple_calendar.ics"),
        dir.path().join("work/apple.ics"),
    )
    .unwrap();
    fs::write(dir.path().join(".hidden.ics"), "garbage").unwrap();
    fs::write(dir.path().join("notes.txt"), "garbage").unwrap();
    fs::create_dir(dir.path().join(".git")).unwrap();
    fs::write(dir.path().join(".git/x.ics"), "garbage").unwrap();
    let p = LocalProvider::new("local", dir.path(), Tz::UTC);
    let mut cache = FileCache::default();
    let first = p.fetch(year_2026(), &mut cache).unwrap();
    assert_eq!(cache.last_fetch_reads(), 4);
    assert!(first.problems.is_empty(), "{:?}", first.problems);
    // Persist and restore, as the daemon does between runs.
    let mut cache = FileCache::from_bytes(&cache.to_bytes());
    let second = p.fetch(year_2026(), &mut cache).unwrap();
    assert_eq!(cache.last_fetch_reads(), 0);
    assert!(!cache.last_fetch_changed());
    assert_eq!(first.instances, second.instances);
    // A changed file is read again; a removed one leaves the cache.
    let f = dir.path().join("declined.ics");
    let t = fs::read_to_string(&f)
        .unwrap()
        .replace("SUMMARY:Yan / Zoe", "SUMMARY:Yan & Zoe");
    fs::write(&f, t).unwrap();
    fs::remove_file(dir.path().join("complex_series.ics")).unwrap();
    let third = p.fetch(year_2026(), &mut cache).unwrap();
    assert_eq!(cache.last_fetch_reads(), 1);
    assert!(cache.last_fetch_changed());
    assert_eq!(cache.len(), 3);
    assert!(third.instances.iter().any(|i| &*i.title == "Yan & Zoe"));
}

#[test]
fn fetch_fails_only_when_the_root_is_unreadable() {
    let p = LocalProvider::new("local", "/nonexistent/oneonone-vdir", Tz::UTC);
    assert!(matches!(
        p.fetch(year_2026(), &mut FileCache::default()),
        Err(ProviderError::Unavailable { .. })
    ));
}

#[test]
fn create_series_writes_a_complete_calendar_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = LocalProvider::new("local", dir.path(), Tz::UTC);
    let s = NewSeries {
        key: "oneonone-ann~bob@example.com".into(),
        title: "Ann / Bob 1:1".into(),
        organizer: "Ann@example.com".into(),
        attendee: "bob@example.com".into(),
        first_start: Tz::Europe__London
            .with_ymd_and_hms(2026, 3, 2, 10, 0, 0)
            .unwrap(),
        duration: Duration::minutes(30),
        cadence: oneonone::domain::Cadence::Weeks(2),
        description: "-- oneonone agenda --\nhttps://example/agenda\n-- end oneonone agenda --"
            .into(),
    };
    assert_eq!(p.create_series(&s).unwrap(), WriteOutcome::Written);
    let path = dir.path().join("oneonone-ann_bob@example.com.ics");
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//oneonone//EN\r\n"));
    assert!(text.contains("DTSTART;TZID=Europe/London:20260302T100000\r\n"));
    assert!(text.contains("DTEND;TZID=Europe/London:20260302T103000\r\n"));
    assert_eq!(p.create_series(&s).unwrap(), WriteOutcome::Unchanged);
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
    let snap = p.fetch(year_2026(), &mut FileCache::default()).unwrap();
    assert!(snap.problems.is_empty(), "{:?}", snap.problems);
    let first = snap.instances.iter().min_by_key(|i| i.start).unwrap();
    assert_eq!(first.start, utc("2026-03-02T10:00:00Z"));
    assert_eq!(first.rhythm, Some(Rhythm::Weeks(2)));
    assert_eq!(&*first.description, s.description);
    assert_eq!(first.organizer.as_deref(), Some("ann@example.com"));
    // The same UID in another file also counts as existing.
    let s2 = NewSeries {
        key: "ser".into(),
        ..s.clone()
    };
    fs::write(
        dir.path().join("other.ics"),
        weekly(
            "ser",
            "Europe/London",
            "20260302T100000",
            "20260302T103000",
            "",
        ),
    )
    .unwrap();
    assert_eq!(p.create_series(&s2).unwrap(), WriteOutcome::Unchanged);
    assert!(!dir.path().join("ser.ics").exists());
}

mod wall_time {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn weekly_series_keep_wall_time_in_every_zone(
            zone in 0usize..3,
            day in 0i64..365,
            hour in 0u32..24,
            minute in proptest::sample::select(vec![0u32, 15, 30, 45]),
            interval in 1u32..4,
        ) {
            let (tz, tzid) = [
                (Tz::Europe__London, "Europe/London"),
                (Tz::America__New_York, "America/New_York"),
                (Tz::Australia__Lord_Howe, "Australia/Lord_Howe"),
            ][zone];
            let date = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Duration::days(day);
            let start = date.and_hms_opt(hour, minute, 0).unwrap();
            let end = start + Duration::minutes(30);
            let text = weekly("p", tzid, &start.format("%Y%m%dT%H%M%S").to_string(), &end.format("%Y%m%dT%H%M%S").to_string(), "")
                .replace("RRULE:FREQ=WEEKLY", &format!("RRULE:FREQ=WEEKLY;INTERVAL={interval}"));
            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join("p.ics"), text).unwrap();
            let snap = fetch(dir.path(), Window { start: utc("2025-12-01T00:00:00Z"), end: utc("2028-01-01T00:00:00Z") });
            prop_assert!(snap.problems.is_empty());
            prop_assert!(snap.instances.len() > 10);
            let mut starts: Vec<DateTime<Utc>> = snap.instances.iter().map(|i| i.start).collect();
            starts.sort();
            for (k, s) in starts.iter().enumerate() {
                let local = s.with_timezone(&tz).naive_local();
                let want = start + Duration::weeks(i64::from(interval) * k as i64);
                // A wall time that does not exist that day (inside a DST gap) is shifted forward;
                // a repeated one (DST end) is the first of the two.
                if tz.from_local_datetime(&want).earliest().is_some() {
                    prop_assert_eq!(local, want);
                } else {
                    prop_assert!(local > want && local - want <= Duration::hours(1));
                }
            }
        }
    }
}

/// Lines of `a` (with their line endings) that are missing from `b`, in order (a subsequence diff).
fn missing_lines<'a>(a: &'a str, b: &str) -> Vec<&'a str> {
    let b_lines: Vec<&str> = b.split_inclusive('\n').collect();
    let mut j = 0;
    let mut missing = Vec::new();
    for l in a.split_inclusive('\n') {
        match b_lines[j..].iter().position(|x| *x == l) {
            Some(k) => j += k + 1,
            None => missing.push(l),
        }
    }
    missing
}

#[test]
fn outlook_override_keeps_the_windows_tzid_form_and_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outlook.ics");
    fs::copy(fixtures().join("outlook_windows_tz.ics"), &path).unwrap();
    let before = fs::read_to_string(&path).unwrap();
    let p = LocalProvider::new("local", dir.path(), Tz::UTC);
    let target = instance_at(&p, "2026-03-30T07:00:00Z");
    let w = OccurrenceWrite {
        target,
        description: Some("Unser Jour fixe\n\nAgenda: https://x/y".into()),
        end: None,
    };
    assert_eq!(p.write_occurrence(&w).unwrap(), WriteOutcome::Written);
    let after = fs::read_to_string(&path).unwrap();
    assert!(
        missing_lines(&before, &after).is_empty(),
        "{:?}",
        missing_lines(&before, &after)
    );
    let added = missing_lines(&after, &before);
    assert!(
        added.contains(&"RECURRENCE-ID;TZID=W. Europe Standard Time:20260330T090000\r\n"),
        "{added:?}"
    );
    assert!(added.contains(&"DTSTART;TZID=W. Europe Standard Time:20260330T090000\r\n"));
    assert!(added.contains(&"DTEND;TZID=W. Europe Standard Time:20260330T094500\r\n"));
    assert!(added.contains(&"DESCRIPTION:Unser Jour fixe\\n\\nAgenda: https://x/y\r\n"));
    // The override sits inside the VCALENDAR and the file still parses cleanly: the next write
    // updates it in place.
    let cur = instance_at(&p, "2026-03-30T07:00:00Z");
    assert_eq!(&*cur.description, "Unser Jour fixe\n\nAgenda: https://x/y");
    assert!(after.ends_with("END:VEVENT\r\nEND:VCALENDAR\r\n"));
    let w2 = OccurrenceWrite {
        target: cur,
        description: Some("v2".into()),
        end: None,
    };
    assert_eq!(p.write_occurrence(&w2).unwrap(), WriteOutcome::Written);
    let third = fs::read_to_string(&path).unwrap();
    assert_eq!(
        missing_lines(&after, &third),
        vec!["DESCRIPTION:Unser Jour fixe\\n\\nAgenda: https://x/y\r\n"]
    );
}

#[test]
fn google_moved_override_is_updated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.ics");
    fs::copy(fixtures().join("google_export.ics"), &path).unwrap();
    let before = fs::read_to_string(&path).unwrap();
    let p = LocalProvider::new("local", dir.path(), Tz::UTC);
    let target = instance_at(&p, "2026-01-14T14:30:00Z");
    assert_eq!(target.original_start, Some(utc("2026-01-12T10:00:00Z")));
    let w = OccurrenceWrite {
        target,
        description: Some("Moved to Wednesday\n-- oneonone agenda --".into()),
        end: None,
    };
    assert_eq!(p.write_occurrence(&w).unwrap(), WriteOutcome::Written);
    let after = fs::read_to_string(&path).unwrap();
    assert_eq!(
        missing_lines(&before, &after),
        vec!["DESCRIPTION:Moved to Wednesday\r\n"]
    );
    assert_eq!(
        missing_lines(&after, &before),
        vec!["DESCRIPTION:Moved to Wednesday\\n-- oneonone agenda --\r\n"]
    );
    assert_eq!(after.matches("BEGIN:VEVENT").count(), 2);
}

#[test]
fn floating_and_utc_series_get_overrides_in_their_own_form() {
    for (dtstart, dtend, rid) in [
        (
            "DTSTART:20260302T100000",
            "DTEND:20260302T103000",
            "RECURRENCE-ID:20260309T100000\n",
        ),
        (
            "DTSTART:20260302T100000Z",
            "DTEND:20260302T103000Z",
            "RECURRENCE-ID:20260309T100000Z\n",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.ics");
        let text = format!(
            "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:f\n{dtstart}\n{dtend}\nRRULE:FREQ=WEEKLY;COUNT=4\n{}END:VEVENT\nEND:VCALENDAR\n",
            PEOPLE.replace("\r\n", "\n")
        );
        fs::write(&path, &text).unwrap();
        let p = LocalProvider::new("local", dir.path(), Tz::UTC);
        let target = instance_at(&p, "2026-03-09T10:00:00Z");
        let w = OccurrenceWrite {
            target,
            description: Some("x".into()),
            end: None,
        };
        assert_eq!(p.write_occurrence(&w).unwrap(), WriteOutcome::Written);
        let after = fs::read_to_string(&path).unwrap();
        assert!(after.contains(rid), "{after}");
        assert!(!after.contains('\r'));
        let snap = p.fetch(year_2026(), &mut FileCache::default()).unwrap();
        assert_eq!(snap.instances.len(), 4);
        assert_eq!(
            snap.instances
                .iter()
                .filter(|i| &*i.description == "x")
                .count(),
            1
        );
    }
}

#[test]
fn writes_outside_the_root_are_refused() {
    let (_dir, p, _path) = setup_series();
    let mut target = instance_at(&p, "2026-03-16T10:00:00Z");
    target.source = "/etc/passwd".into();
    let w = OccurrenceWrite {
        target,
        description: Some("x".into()),
        end: None,
    };
    assert!(matches!(
        p.write_occurrence(&w),
        Err(ProviderError::NotFound(_))
    ));
}

#[test]
fn an_instance_write_never_edits_the_series_master() {
    let (_dir, p, path) = setup_series();
    let before = fs::read_to_string(&path).unwrap();
    let mut target = instance_at(&p, "2026-03-16T10:00:00Z");
    target.original_start = None;
    let w = OccurrenceWrite {
        target: target.clone(),
        description: Some("x".into()),
        end: None,
    };
    assert!(matches!(
        p.write_occurrence(&w),
        Err(ProviderError::Conflict { .. })
    ));
    // A "single event" id that is really a series master.
    target.series_id = None;
    target.id = "ser".into();
    let w = OccurrenceWrite {
        target,
        description: Some("x".into()),
        end: None,
    };
    assert!(matches!(
        p.write_occurrence(&w),
        Err(ProviderError::Conflict { .. })
    ));
    assert_eq!(fs::read_to_string(&path).unwrap(), before);
}

/// Fixtures whose zones come from their own VTIMEZONEs, EXRULEs and swapped ends.
const REAL_WORLD: [&str; 9] = [
    "outlook_display_name_tz.ics",
    "outlook2007_stale_dst_rules.ics",
    "lotus_notes_eastern.ics",
    "tzurl_dash_tzid.ics",
    "exchange_customized_tz.ics",
    "apple_rdate_tz.ics",
    "thunderbird_exrule.ics",
    "google_dtend_before_dtstart.ics",
    "unusable_vtimezone.ics",
];

#[test]
fn zones_from_vtimezones_survive_the_persisted_cache() {
    let dir = tempfile::tempdir().unwrap();
    for name in REAL_WORLD {
        fs::copy(fixtures().join(name), dir.path().join(name)).unwrap();
    }
    let p = LocalProvider::new("local", dir.path(), Tz::Europe__Berlin);
    let mut cache = FileCache::default();
    let first = p.fetch(year_2026(), &mut cache).unwrap();
    assert_eq!(cache.last_fetch_reads(), REAL_WORLD.len());
    let mut cache = FileCache::from_bytes(&cache.to_bytes());
    assert_eq!(cache.len(), REAL_WORLD.len());
    let second = p.fetch(year_2026(), &mut cache).unwrap();
    assert_eq!(cache.last_fetch_reads(), 0);
    assert_eq!(first.instances, second.instances);
    assert_eq!(first.problems, second.problems);
    // Every fixture contributes (the damaged one through its Windows display name).
    for name in REAL_WORLD {
        assert!(
            first.instances.iter().any(|i| i.source.ends_with(name)),
            "{name}"
        );
    }
}

#[test]
fn an_override_in_a_custom_zone_is_written_in_that_zone() {
    // The stale Outlook 2007 zone is read from its definition: 2026-03-11 15:00 is still EST
    // there (20:00Z), while tzdata's New York would already be on EDT.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.ics");
    fs::copy(fixtures().join("outlook2007_stale_dst_rules.ics"), &path).unwrap();
    let before = fs::read_to_string(&path).unwrap();
    let p = LocalProvider::new("local", dir.path(), Tz::UTC);
    let target = instance_at(&p, "2026-03-11T20:00:00Z");
    let w = OccurrenceWrite {
        target,
        description: Some("agenda".into()),
        end: Some(utc("2026-03-11T21:00:00Z")),
    };
    assert_eq!(p.write_occurrence(&w).unwrap(), WriteOutcome::Written);
    let after = fs::read_to_string(&path).unwrap();
    assert!(missing_lines(&before, &after).is_empty());
    let added = missing_lines(&after, &before);
    let tzid = "TZID=\"(GMT-05:00) Eastern Time (US & Canada)\"";
    for line in [
        format!("RECURRENCE-ID;{tzid}:20260311T150000\n"),
        format!("DTSTART;{tzid}:20260311T150000\n"),
        format!("DTEND;{tzid}:20260311T160000\n"),
    ] {
        assert!(added.contains(&line.as_str()), "{line:?} not in {added:?}");
    }
    let cur = instance_at(&p, "2026-03-11T20:00:00Z");
    assert_eq!(&*cur.description, "agenda");
    assert_eq!(cur.end, utc("2026-03-11T21:00:00Z"));
    let snap = p.fetch(year_2026(), &mut FileCache::default()).unwrap();
    assert!(snap.problems.is_empty(), "{:?}", snap.problems);
    assert_eq!(snap.instances.len(), 9);
}

#[test]
fn a_file_read_with_swapped_ends_is_never_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.ics");
    fs::copy(fixtures().join("google_dtend_before_dtstart.ics"), &path).unwrap();
    let before = fs::read(&path).unwrap();
    let p = LocalProvider::new("local", dir.path(), Tz::UTC);
    // The series recurs from the earlier time (11:00 Los Angeles) and lasts 30 minutes.
    let target = instance_at(&p, "2026-03-19T18:00:00Z");
    assert_eq!(target.duration(), Duration::minutes(30));
    let w = OccurrenceWrite {
        target,
        description: Some("agenda".into()),
        end: None,
    };
    assert!(matches!(
        p.write_occurrence(&w),
        Err(ProviderError::Conflict { .. })
    ));
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn exrule_removes_occurrences_and_writes_still_find_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.ics");
    fs::copy(fixtures().join("thunderbird_exrule.ics"), &path).unwrap();
    let p = LocalProvider::new("local", dir.path(), Tz::UTC);
    let snap = p.fetch(year_2026(), &mut FileCache::default()).unwrap();
    let starts: Vec<DateTime<Utc>> = snap.instances.iter().map(|i| i.start).collect();
    // First Mondays (DTSTART 03-02 included) are excluded; other Mondays and Thursdays are not.
    assert!(!starts.contains(&utc("2026-03-02T09:30:00Z")));
    assert!(!starts.contains(&utc("2026-04-06T08:30:00Z")));
    assert!(starts.contains(&utc("2026-03-09T09:30:00Z")));
    // An occurrence that is left can be written.
    let target = instance_at(&p, "2026-04-13T08:30:00Z");
    let w = OccurrenceWrite {
        target,
        description: Some("agenda".into()),
        end: None,
    };
    assert_eq!(p.write_occurrence(&w).unwrap(), WriteOutcome::Written);
    assert_eq!(
        &*instance_at(&p, "2026-04-13T08:30:00Z").description,
        "agenda"
    );
}

mod custom_zone_wall_time {
    use super::*;
    use chrono::{Datelike, NaiveDate, NaiveDateTime, Weekday};
    use proptest::prelude::*;

    /// The `nth` Sunday (1, 2 or -1 for the last) of a month, at 02:00.
    fn onset(year: i32, month: u32, nth: i32) -> NaiveDateTime {
        let first = NaiveDate::from_ymd_opt(year, month, 1).unwrap();
        let date = if nth > 0 {
            let to_sunday = (7 - first.weekday().num_days_from_sunday()) % 7;
            first + Duration::days(i64::from(to_sunday) + 7 * i64::from(nth - 1))
        } else {
            let next = if month == 12 {
                NaiveDate::from_ymd_opt(year + 1, 1, 1).unwrap()
            } else {
                NaiveDate::from_ymd_opt(year, month + 1, 1).unwrap()
            };
            let last = next - Duration::days(1);
            last - Duration::days(i64::from(last.weekday().num_days_from_sunday()))
        };
        assert_eq!(date.weekday(), Weekday::Sun);
        date.and_hms_opt(2, 0, 0).unwrap()
    }

    fn offset_text(minutes: i32) -> String {
        let sign = if minutes < 0 { '-' } else { '+' };
        format!("{sign}{:02}{:02}", minutes.abs() / 60, minutes.abs() % 60)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// A weekly series in a zone only the file defines (Outlook style: 1601 onsets with
        /// yearly RRULEs) keeps its wall-clock time across that zone's own transitions.
        #[test]
        fn weekly_series_keep_wall_time_in_a_custom_zone(
            std_minutes in proptest::sample::select(vec![-300, -210, 60, 120, 345, 570]),
            delta in proptest::sample::select(vec![30, 60]),
            dst_month in 1u32..=12,
            month_gap in 2u32..=8,
            dst_nth in proptest::sample::select(vec![1, 2, -1]),
            std_nth in proptest::sample::select(vec![1, 2, -1]),
            day in 0i64..300,
            hour in 8u32..18,
            interval in 1u32..3,
        ) {
            let std_month = (dst_month + month_gap - 1) % 12 + 1;
            let dst_minutes = std_minutes + delta;
            let byday = |n: i32| format!("{n}SU");
            let tzid = "Customized Time Zone";
            let vtz = format!(
                "BEGIN:VTIMEZONE\r\nTZID:{tzid}\r\nBEGIN:STANDARD\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:{}\r\nTZOFFSETTO:{}\r\nRRULE:FREQ=YEARLY;INTERVAL=1;BYDAY={};BYMONTH={std_month}\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:{}\r\nTZOFFSETTO:{}\r\nRRULE:FREQ=YEARLY;INTERVAL=1;BYDAY={};BYMONTH={dst_month}\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n",
                offset_text(dst_minutes), offset_text(std_minutes), byday(std_nth),
                offset_text(std_minutes), offset_text(dst_minutes), byday(dst_nth),
            );
            let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap().and_hms_opt(hour, 0, 0).unwrap()
                + Duration::days(day);
            let end = start + Duration::minutes(30);
            let text = weekly(
                "cz",
                &format!("\"{tzid}\""),
                &start.format("%Y%m%dT%H%M%S").to_string(),
                &end.format("%Y%m%dT%H%M%S").to_string(),
                "",
            )
            .replace("RRULE:FREQ=WEEKLY", &format!("RRULE:FREQ=WEEKLY;INTERVAL={interval}"))
            .replace("BEGIN:VEVENT", &format!("{vtz}BEGIN:VEVENT"));
            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join("cz.ics"), text).unwrap();
            let snap = fetch(dir.path(), Window { start: utc("2026-01-01T00:00:00Z"), end: utc("2028-01-01T00:00:00Z") });
            prop_assert!(snap.problems.is_empty(), "{:?}", snap.problems);
            let mut starts: Vec<DateTime<Utc>> = snap.instances.iter().map(|i| i.start).collect();
            starts.sort();
            prop_assert!(starts.len() > 20);
            for (k, s) in starts.iter().enumerate() {
                let wall = start + Duration::weeks(i64::from(interval) * k as i64);
                let (ds, ss) = (onset(wall.year(), dst_month, dst_nth), onset(wall.year(), std_month, std_nth));
                // Onsets are at 02:00 local and meetings between 08:00 and 18:00: no gaps.
                let dst = if ds < ss { wall >= ds && wall < ss } else { wall >= ds || wall < ss };
                let off = if dst { dst_minutes } else { std_minutes };
                let want = Utc.from_utc_datetime(&(wall - Duration::minutes(i64::from(off))));
                prop_assert_eq!(*s, want, "occurrence {} (wall {})", k, wall);
            }
        }
    }
}

/// A single event of `people` (first is the organizer) at `start`–`end` (UTC, basic format).
fn single(uid: &str, people: &[&str], start: &str, end: &str, extra: &str) -> String {
    let mut s = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\nSUMMARY:{uid}\r\n"
    );
    if let Some(o) = people.first() {
        s.push_str(&format!("ORGANIZER:mailto:{o}\r\n"));
    }
    for p in people {
        s.push_str(&format!("ATTENDEE:mailto:{p}\r\n"));
    }
    s.push_str(extra);
    s.push_str("END:VEVENT\r\nEND:VCALENDAR\r\n");
    s
}

#[test]
fn each_folder_is_a_calendar_with_its_event_count_and_owner() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("alice@acme.test")).unwrap();
    fs::create_dir_all(root.join("team")).unwrap();
    fs::create_dir_all(root.join("bob")).unwrap();
    let meeting = |uid: &str| {
        single(
            uid,
            &["alice@acme.test", "bob@acme.test"],
            "20260302T100000Z",
            "20260302T103000Z",
            "",
        )
    };
    fs::write(root.join("alice@acme.test/m1.ics"), meeting("m1")).unwrap();
    // Alice's own time (no attendees): read because the folder is hers; a free one is not busy.
    fs::write(
        root.join("alice@acme.test/gym.ics"),
        single("gym", &[], "20260302T120000Z", "20260302T130000Z", ""),
    )
    .unwrap();
    fs::write(
        root.join("alice@acme.test/free.ics"),
        single(
            "free",
            &[],
            "20260302T140000Z",
            "20260302T150000Z",
            "TRANSP:TRANSPARENT\r\n",
        ),
    )
    .unwrap();
    fs::write(root.join("bob/m1.ics"), meeting("m1")).unwrap();
    fs::write(
        root.join("bob/dentist.ics"),
        single("dentist", &[], "20260302T080000Z", "20260302T090000Z", ""),
    )
    .unwrap();
    fs::write(root.join("team/m2.ics"), meeting("m2")).unwrap();
    let p = LocalProvider::new("local", root, Tz::UTC)
        .with_owners(&[("bob".into(), "Bob@Acme.test".into())]);
    let snap = p.fetch(year_2026(), &mut FileCache::default()).unwrap();
    let cal = |name: &str| root.join(name).display().to_string();
    let mut cals: Vec<(String, Option<String>, usize)> = snap
        .calendars
        .iter()
        .map(|c| (c.id.clone(), c.owner.clone(), *c.events.as_ref().unwrap()))
        .collect();
    cals.sort();
    let mut want = vec![
        (root.display().to_string(), None, 0),
        (
            cal("alice@acme.test"),
            Some("alice@acme.test".to_string()),
            3,
        ),
        (cal("bob"), Some("bob@acme.test".to_string()), 2),
        (cal("team"), None, 1),
    ];
    want.sort();
    assert_eq!(cals, want);
    let of = |uid: &str| -> Vec<(String, Option<String>)> {
        let mut v: Vec<_> = snap
            .instances
            .iter()
            .filter(|i| &*i.uid == uid)
            .map(|i| (i.calendar.to_string(), i.owner.as_deref().map(String::from)))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        of("m1"),
        vec![
            (cal("alice@acme.test"), Some("alice@acme.test".into())),
            (cal("bob"), Some("bob@acme.test".into()))
        ],
        "both copies, each with its owner"
    );
    assert_eq!(of("gym").len(), 1, "the owner's own time is read");
    assert_eq!(of("dentist").len(), 1);
    assert!(of("free").is_empty(), "transparent time is not busy");
    assert_eq!(of("m2"), vec![(cal("team"), None)]);
    let busy = oneonone::sync::fix::busy_of("alice@acme.test", &snap.instances);
    assert_eq!(
        busy,
        vec![
            (utc("2026-03-02T10:00:00Z"), utc("2026-03-02T10:30:00Z")),
            (utc("2026-03-02T12:00:00Z"), utc("2026-03-02T13:00:00Z"))
        ]
    );
}

#[test]
fn series_masters_are_in_the_snapshot_and_written_alone() {
    let (dir, p, file) = setup_series();
    let snap = p.fetch(year_2026(), &mut FileCache::default()).unwrap();
    let master = snap
        .series
        .iter()
        .find(|m| m.id == "ser")
        .cloned()
        .expect("the series master");
    assert_eq!(&*master.source, file.display().to_string());
    let before = fs::read_to_string(&file).unwrap();
    let w = oneonone::providers::SeriesWrite {
        target: master.clone(),
        description: "series link block".into(),
    };
    assert_eq!(p.write_series(&w).unwrap(), WriteOutcome::Written);
    let after = fs::read_to_string(&file).unwrap();
    assert_eq!(
        after.matches("DESCRIPTION:series link block").count(),
        1,
        "{after}"
    );
    assert_eq!(
        missing_lines(&before, &after)
            .into_iter()
            .filter(|l| !l.starts_with("DESCRIPTION"))
            .count(),
        0,
        "only the master's DESCRIPTION changed"
    );
    // Idempotent, and conditional: a stale read is a conflict.
    let again = oneonone::providers::SeriesWrite {
        target: oneonone::domain::SeriesMaster {
            description: "series link block".into(),
            ..master.clone()
        },
        description: "series link block".into(),
    };
    assert_eq!(p.write_series(&again).unwrap(), WriteOutcome::Unchanged);
    assert!(matches!(
        p.write_series(&w),
        Err(ProviderError::Conflict { .. })
    ));
    drop(dir);
}

/// An Outlook-style weekly meeting whose HTML description (`X-ALT-DESC`) is `html`.
fn outlook_with_html(description: &str, html: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nPRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n\
UID:040000008200E00074C5B7101A82E008000000001\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260302T090000Z\r\nDTEND:20260302T093000Z\r\n\
RRULE:FREQ=WEEKLY\r\nSUMMARY:Ann / Bob\r\n{PEOPLE}DESCRIPTION:{description}\r\nX-ALT-DESC;FMTTYPE=text/html:{html}\r\n\
X-MICROSOFT-CDO-BUSYSTATUS:BUSY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

#[test]
fn an_html_description_that_only_mirrored_the_text_is_dropped_from_the_written_copy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.ics");
    fs::write(
        &path,
        outlook_with_html(
            "Dial-in: 555\\, ext 1",
            "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2//EN\">\\n<HTML><HEAD><META NAME=\"Generator\" CONTENT=\"MS Exchange Server version rmj.rmm.rup.rpr\"></HEAD><BODY><P>Dial-in: 555\\, ext 1</P></BODY></HTML>",
        ),
    )
    .unwrap();
    let p = LocalProvider::new("local", dir.path(), Tz::UTC);
    let target = instance_at(&p, "2026-03-09T09:00:00Z");
    let block =
        "-- oneonone agenda --\nAgenda for this 1:1: https://x/a/t\n-- end oneonone agenda --";
    let w = OccurrenceWrite {
        target,
        description: Some(format!("Dial-in: 555, ext 1\n\n{block}")),
        end: None,
    };
    assert_eq!(p.write_occurrence(&w).unwrap(), WriteOutcome::Written);
    let after = fs::read_to_string(&path).unwrap().replace("\r\n ", "");
    let ov = after
        .split("BEGIN:VEVENT")
        .find(|c| c.contains("RECURRENCE-ID"))
        .expect("the override");
    assert!(
        !ov.contains("X-ALT-DESC"),
        "Outlook must show the DESCRIPTION: {ov}"
    );
    assert!(ov.contains("-- oneonone agenda --"), "{ov}");
    assert!(ov.contains("X-MICROSOFT-CDO-BUSYSTATUS:BUSY"), "{ov}");
    // The master keeps its own HTML (it was not written).
    assert_eq!(after.matches("X-ALT-DESC").count(), 1);
}

#[test]
fn a_richer_html_description_carries_the_same_block_and_keeps_the_teams_section() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.ics");
    let teams = "<html><body><p>Agenda in the doc.</p><div>________________________________________________________________________________<br><b>Microsoft Teams meeting</b><br><a href=\"https://teams.microsoft.com/l/meetup-join/19%3ameeting\">Join the meeting now</a></div></body></html>";
    fs::write(&path, outlook_with_html("Agenda in the doc.", teams)).unwrap();
    let p = LocalProvider::new("local", dir.path(), Tz::UTC);
    let snap = p.fetch(year_2026(), &mut FileCache::default()).unwrap();
    let master = snap.series.first().cloned().expect("the series master");
    let block =
        "-- oneonone agenda --\nAgenda for your 1:1s: https://x/p/t\n-- end oneonone agenda --";
    let w = oneonone::providers::SeriesWrite {
        target: master,
        description: format!("Agenda in the doc.\n\n{block}"),
    };
    assert_eq!(p.write_series(&w).unwrap(), WriteOutcome::Written);
    let after = fs::read_to_string(&path).unwrap().replace("\r\n ", "");
    let alt = after
        .lines()
        .find(|l| l.starts_with("X-ALT-DESC"))
        .expect("the HTML copy stays");
    assert!(
        alt.contains("Join the meeting now</a></div><!-- oneonone agenda --><p>-- oneonone agenda --<br>Agenda for your 1:1s: <a href=\"https://x/p/t\">https://x/p/t</a><br>-- end oneonone agenda --</p><!-- end oneonone agenda --></body></html>"),
        "{alt}"
    );
    assert!(
        alt.contains("https://teams.microsoft.com/l/meetup-join/19%3ameeting"),
        "{alt}"
    );
    // A second identical write changes nothing.
    let snap = p.fetch(year_2026(), &mut FileCache::default()).unwrap();
    let again = oneonone::providers::SeriesWrite {
        target: snap.series.first().cloned().expect("master"),
        description: w.description.clone(),
    };
    assert_eq!(p.write_series(&again).unwrap(), WriteOutcome::Unchanged);
}
