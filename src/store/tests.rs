//! Unit tests of the store: every operation against a temporary directory.
use super::*;
use crate::domain::agenda::{ItemKind, Section};
use crate::domain::history::MarkState;
use crate::domain::{OccurrenceStatus, SeenIn};
use chrono::TimeZone;

fn t(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0)
        .single()
        .unwrap_or_default()
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    (dir, store)
}

fn occ(pair: &str, instance: &str, start: DateTime<Utc>) -> Occurrence {
    Occurrence {
        pair_id: pair.into(),
        account: "acct".into(),
        meeting: instance.into(),
        series: Some("series".into()),
        title: format!("1:1 {instance}"),
        start,
        end: start + chrono::Duration::minutes(30),
        status: OccurrenceStatus::Scheduled,
        cancel_reason: None,
        last_seen: start,
        one_on_one: true,
        seen_in: vec![SeenIn {
            calendar: "cal".into(),
            source: "file.ics".into(),
        }],
        agenda: None,
    }
}

fn finding(pair: &str, key: &str, first_seen: DateTime<Utc>) -> ActiveFinding {
    ActiveFinding {
        pair_id: pair.into(),
        key: key.into(),
        kind: "cadence".into(),
        severity: "warning".into(),
        message: format!("finding {key}"),
        occurrence: None,
        first_seen,
        notified_at: Some(first_seen),
        level: 2,
        notified_level: 2,
        details: vec!["Mon 1 Jun 10:00: declined by r@example.org".into()],
    }
}

fn item(pair: &str, id: &str, created: DateTime<Utc>) -> AgendaItem {
    AgendaItem {
        id: id.into(),
        pair_id: pair.into(),
        kind: ItemKind::TalkingPoint,
        section: Section::ReportTopics,
        text: format!("text {id}"),
        owner: None,
        author: Some("ann".into()),
        origin_meeting: "i1".into(),
        origin_start: t(2, 10),
        done_in: None,
        done_start: None,
        done_at: None,
        created_at: created,
        ..AgendaItem::default()
    }
}

#[test]
fn open_creates_private_dir_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("db");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.path(), path.as_path());
    store.set_sync_state("a", "k", b"v").unwrap();
    store.flush().unwrap();
    drop(store);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "dir mode {mode:o}");
        for entry in std::fs::read_dir(&path).unwrap() {
            let entry = entry.unwrap();
            let mode = entry.metadata().unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", entry.path().display());
        }
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.sync_state("a", "k").unwrap(), Some(b"v".to_vec()));
}

#[cfg(unix)]
#[test]
fn open_tightens_an_existing_open_dir() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    std::fs::create_dir(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _store = Store::open(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn open_failure_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = Store::open(&file.join("db")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(msg.contains("not-a-dir"), "{msg}");
}

#[test]
fn a_second_open_of_a_locked_store_fails_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked-db");
    let _first = Store::open(&path).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("locked-db"), "{err}");
}

#[test]
fn open_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let db = sled::open(&path).unwrap();
        let meta = db.open_tree(T_META).unwrap();
        meta.insert(META_SCHEMA_KEY, &[SCHEMA_VERSION + 1]).unwrap();
        db.flush().unwrap();
    }
    // sled's background threads release the file lock shortly after the handle is dropped.
    let mut err = Store::open(&path).unwrap_err();
    for _ in 0..100 {
        if !matches!(err, StoreError::Open { .. }) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        err = Store::open(&path).unwrap_err();
    }
    assert!(
        matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1),
        "{err:?}"
    );
    assert!(err.to_string().contains("db"));
}

#[test]
fn sync_state_roundtrip_and_isolation() {
    let (_d, s) = open();
    assert_eq!(s.sync_state("a", "token").unwrap(), None);
    s.set_sync_state("a", "token", b"abc").unwrap();
    s.set_sync_state("b", "token", b"").unwrap();
    assert_eq!(s.sync_state("a", "token").unwrap(), Some(b"abc".to_vec()));
    assert_eq!(s.sync_state("b", "token").unwrap(), Some(Vec::new()));
    s.set_sync_state("a", "token", b"xyz").unwrap();
    assert_eq!(s.sync_state("a", "token").unwrap(), Some(b"xyz".to_vec()));
    assert_eq!(s.sync_state("a", "other").unwrap(), None);
}

#[test]
fn ids_with_nul_or_empty_are_rejected() {
    let (_d, s) = open();
    let err = s.set_sync_state("a\0b", "k", b"v").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                what: "account",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(s.sync_state("", "k").is_err());
    assert!(s.occurrences("p\0").is_err());
    assert_eq!(s.agenda_doc("").unwrap(), None);
    assert_eq!(s.agenda_doc("a\0b").unwrap(), None);
}

#[test]
fn occurrences_sorted_upsert_and_remove() {
    let (_d, s) = open();
    let pair = "m@x~r@x";
    s.update_occurrences(
        pair,
        &[
            occ(pair, "i3", t(16, 10)),
            occ(pair, "i1", t(2, 10)),
            occ(pair, "i2", t(9, 10)),
        ],
        &[],
    )
    .unwrap();
    // A prefix-sharing pair id must not leak into the scan.
    s.update_occurrences("m@x~r@x2", &[occ("m@x~r@x2", "i9", t(1, 9))], &[])
        .unwrap();
    let got: Vec<_> = s
        .occurrences(pair)
        .unwrap()
        .into_iter()
        .map(|o| o.meeting)
        .collect();
    assert_eq!(got, ["i1", "i2", "i3"]);

    let mut held = occ(pair, "i1", t(2, 10));
    held.status = OccurrenceStatus::Held;
    s.update_occurrences(
        pair,
        &[held.clone()],
        &["i2".to_string(), "nope".to_string()],
    )
    .unwrap();
    let got = s.occurrences(pair).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got.first(), Some(&held));
    assert_eq!(got.get(1).map(|o| o.meeting.as_str()), Some("i3"));

    // Removed and upserted in the same call: upsert wins.
    s.update_occurrences(pair, &[occ(pair, "i3", t(17, 10))], &["i3".to_string()])
        .unwrap();
    assert_eq!(
        s.occurrences(pair).unwrap().get(1).map(|o| o.start),
        Some(t(17, 10))
    );
}

#[test]
fn update_occurrences_rejects_foreign_records_atomically() {
    let (_d, s) = open();
    let err = s
        .update_occurrences(
            "p",
            &[occ("p", "i1", t(2, 10)), occ("q", "i2", t(3, 10))],
            &[],
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");
    assert!(s.occurrences("p").unwrap().is_empty());
    assert!(s.occurrences("q").unwrap().is_empty());
}

#[test]
fn pair_ids_with_history_lists_each_pair_once() {
    let (_d, s) = open();
    assert!(s.pair_ids_with_history().unwrap().is_empty());
    for (pair, n) in [("b~c", 3), ("a~b", 2), ("a~b2", 1)] {
        let recs: Vec<_> = (0..n)
            .map(|i| occ(pair, &format!("i{i}"), t(2 + i, 10)))
            .collect();
        s.update_occurrences(pair, &recs, &[]).unwrap();
    }
    assert_eq!(s.pair_ids_with_history().unwrap(), ["a~b", "a~b2", "b~c"]);
    s.update_occurrences("a~b2", &[], &["i0".to_string()])
        .unwrap();
    assert_eq!(s.pair_ids_with_history().unwrap(), ["a~b", "b~c"]);
}

#[test]
fn set_findings_replaces_exactly() {
    let (_d, s) = open();
    let p = "m~r";
    s.set_findings(p, &[finding(p, "b", t(3, 1)), finding(p, "a", t(4, 1))])
        .unwrap();
    s.set_findings("m~r2", &[finding("m~r2", "z", t(1, 1))])
        .unwrap();
    let keys: Vec<_> = s.findings(p).unwrap().into_iter().map(|f| f.key).collect();
    assert_eq!(keys, ["b", "a"], "ordered by first_seen");

    let mut a2 = finding(p, "a", t(4, 1));
    a2.message = "updated".into();
    s.set_findings(p, &[a2.clone(), finding(p, "c", t(5, 1))])
        .unwrap();
    let got = s.findings(p).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got.first(), Some(&a2));
    assert_eq!(got.get(1).map(|f| f.key.as_str()), Some("c"));

    s.set_findings(p, &[]).unwrap();
    assert!(s.findings(p).unwrap().is_empty());
    assert_eq!(s.findings("m~r2").unwrap().len(), 1, "other pair untouched");
    assert!(
        s.set_findings(p, &[finding("other", "x", t(1, 1))])
            .is_err()
    );
}

#[test]
fn ensure_agenda_doc_is_idempotent_and_names_the_doc_in_the_record() {
    let (_d, s) = open();
    s.update_occurrences("p", &[occ("p", "i1", t(2, 10))], &[])
        .unwrap();
    let doc = s.ensure_agenda_doc("p", "i1", t(2, 10), t(1, 0)).unwrap();
    assert_eq!(doc.token.len(), 32);
    assert!(
        doc.token
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(doc.created_at, t(1, 0));
    assert_eq!(
        s.occurrences("p").unwrap()[0].agenda.as_deref(),
        Some(doc.token.as_str())
    );
    let again = s.ensure_agenda_doc("p", "i1", t(3, 11), t(1, 5)).unwrap();
    assert_eq!(again, doc);
    assert_eq!(s.agenda_doc(&doc.token).unwrap(), Some(doc.clone()));

    let other = s.ensure_agenda_doc("p", "i2", t(9, 10), t(1, 0)).unwrap();
    assert_ne!(other.token, doc.token);
    assert_eq!(
        s.agenda_doc("0123456789abcdef0123456789abcdef").unwrap(),
        None
    );
}

#[test]
fn put_agenda_docs_refuses_a_token_of_another_occurrence() {
    let (_d, s) = open();
    let doc = AgendaDoc {
        token: "ab".repeat(16),
        pair_id: "p".into(),
        meeting: "i1".into(),
        start: t(2, 10),
        created_at: t(1, 0),
    };
    s.put_agenda_docs(std::slice::from_ref(&doc)).unwrap();
    s.put_agenda_docs(std::slice::from_ref(&doc)).unwrap();
    let thief = AgendaDoc {
        meeting: "i9".into(),
        ..doc.clone()
    };
    assert!(s.put_agenda_docs(&[thief]).is_err());
    assert_eq!(s.agenda_doc(&doc.token).unwrap(), Some(doc));
}

#[test]
fn pair_links_are_stable_and_rotate() {
    let (_d, s) = open();
    assert_eq!(s.pair_link("m~r").unwrap(), None);
    let a = s.ensure_pair_link("m~r").unwrap();
    assert_eq!(a.len(), 32);
    assert_eq!(s.ensure_pair_link("m~r").unwrap(), a);
    assert_eq!(s.pair_of_link(&a).unwrap().as_deref(), Some("m~r"));
    let b = s.replace_pair_link("m~r").unwrap();
    assert_ne!(a, b);
    assert_eq!(
        s.pair_of_link(&a).unwrap(),
        None,
        "the old link stops working"
    );
    assert_eq!(s.pair_of_link(&b).unwrap().as_deref(), Some("m~r"));
    assert_eq!(s.pair_of_link("").unwrap(), None);
}

#[test]
fn write_marks_and_calendar_counts_roundtrip() {
    let (_d, s) = open();
    let m = WriteMark {
        key: "series:u1".into(),
        state: MarkState::Intent,
        at: t(2, 9),
    };
    s.put_write_marks("p", std::slice::from_ref(&m)).unwrap();
    let done = WriteMark {
        state: MarkState::Done,
        ..m.clone()
    };
    s.put_write_marks("p", std::slice::from_ref(&done)).unwrap();
    assert_eq!(s.write_marks("p").unwrap(), vec![done]);
    assert!(s.write_marks("p2").unwrap().is_empty());

    let mut counts = BTreeMap::new();
    counts.insert("/cal/a".to_string(), (3usize, t(2, 9)));
    counts.insert("/cal/b".to_string(), (0usize, t(2, 9)));
    s.set_calendar_counts("acct", &counts).unwrap();
    assert_eq!(s.calendar_counts("acct").unwrap(), counts);
    counts.remove("/cal/b");
    s.set_calendar_counts("acct", &counts).unwrap();
    assert_eq!(s.calendar_counts("acct").unwrap(), counts);
    assert!(s.calendar_counts("other").unwrap().is_empty());
}

#[test]
fn a_schema_1_store_is_migrated_and_keeps_its_docs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let token = "cd".repeat(16);
    {
        // A store as schema 1 left it: the occurrence without a token, the doc index beside it.
        let s = Store::open(&path).unwrap();
        let k = key2("pair id", "p", "meeting key", "i1").unwrap();
        let v1 = br#"{"pair_id":"p","account":"a","instance_id":"i1","series_id":null,"title":"t","start":"2026-11-02T10:00:00Z","end":"2026-11-02T10:30:00Z","status":"scheduled","cancel_reason":null,"last_seen":"2026-11-01T00:00:00Z","one_on_one":true}"#;
        let mut raw = vec![1u8];
        raw.extend_from_slice(v1);
        s.inner.occ.insert(&k, raw).unwrap();
        s.inner.doc_index.insert(&k, token.as_bytes()).unwrap();
        s.inner
            .db
            .open_tree(T_META)
            .unwrap()
            .insert(META_SCHEMA_KEY, &[1u8])
            .unwrap();
        s.flush().unwrap();
    }
    let s = Store::open(&path).unwrap();
    let got = s.occurrences("p").unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].agenda.as_deref(), Some(token.as_str()));
    assert!(got[0].seen_in.is_empty());
    let meta = s.inner.db.open_tree(T_META).unwrap();
    assert_eq!(
        meta.get(META_SCHEMA_KEY).unwrap().map(|v| v.to_vec()),
        Some(vec![SCHEMA_VERSION])
    );
}

#[test]
fn agenda_items_sorted_and_replaced() {
    let (_d, s) = open();
    s.put_agenda_item(&item("p", "b", t(3, 0))).unwrap();
    s.put_agenda_item(&item("p", "a", t(4, 0))).unwrap();
    s.put_agenda_item(&item("p2", "c", t(1, 0))).unwrap();
    let ids: Vec<_> = s
        .agenda_items("p")
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, ["b", "a"]);
    let mut done = item("p", "b", t(3, 0));
    done.done_in = Some("i2".into());
    done.done_at = Some(t(9, 10));
    s.put_agenda_item(&done).unwrap();
    assert_eq!(s.agenda_items("p").unwrap().first(), Some(&done));
    assert_eq!(s.agenda_item("p", "b").unwrap(), Some(done));
    assert_eq!(s.agenda_item("p2", "b").unwrap(), None);
    assert!(s.put_agenda_item(&item("p", "", t(1, 0))).is_err());
}

#[test]
fn write_records_roundtrip() {
    let (_d, s) = open();
    assert_eq!(s.write_record("acct", "i1").unwrap(), None);
    let mut rec = WriteRecord {
        account: "acct".into(),
        instance_id: "i1".into(),
        content_hash: "h1".into(),
        state: WriteState::Intent,
        at: t(2, 9),
    };
    s.put_write_record(&rec).unwrap();
    assert_eq!(s.write_record("acct", "i1").unwrap(), Some(rec.clone()));
    rec.state = WriteState::Done;
    s.put_write_record(&rec).unwrap();
    assert_eq!(s.write_record("acct", "i1").unwrap(), Some(rec));
    assert_eq!(s.write_record("acct2", "i1").unwrap(), None);
}

#[test]
fn decode_checks_version_and_names_tree_and_key() {
    let (_d, s) = open();
    s.put_write_record(&WriteRecord {
        account: "acct".into(),
        instance_id: "i1".into(),
        content_hash: "h".into(),
        state: WriteState::Done,
        at: t(2, 9),
    })
    .unwrap();
    // Corrupt the value behind the API: a future version, then garbage, then an unknown old one.
    let k = key2("account", "acct", "write key", "i1").unwrap();
    for (raw, needle) in [
        (vec![SCHEMA_VERSION + 1, b'{', b'}'], "newer"),
        (vec![SCHEMA_VERSION, b'{'], "EOF"),
        (vec![0, b'{', b'}'], "unknown schema version 0"),
        (vec![], "empty"),
    ] {
        s.inner.writes.insert(&k, raw).unwrap();
        let err = s.write_record("acct", "i1").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("writes") && msg.contains("acct/i1"), "{msg}");
        assert!(msg.contains(needle), "{msg} lacks {needle}");
    }
}

#[test]
fn decode_errors_never_show_a_whole_token() {
    let (_d, s) = open();
    let doc = s.ensure_agenda_doc("p", "i1", t(2, 10), t(1, 0)).unwrap();
    s.inner
        .docs
        .insert(doc.token.as_bytes(), &[SCHEMA_VERSION, b'x'][..])
        .unwrap();
    let msg = s.agenda_doc(&doc.token).unwrap_err().to_string();
    assert!(msg.contains("agenda_docs"), "{msg}");
    assert!(!msg.contains(&doc.token), "{msg}");
}

#[test]
fn store_is_send_sync_clone_and_shared() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Store>();
    let (_d, s) = open();
    let handles: Vec<_> = (0..4)
        .map(|n| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..20 {
                    s.put_agenda_item(&item("p", &format!("{n}-{i}"), t(1, 0)))
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(s.agenda_items("p").unwrap().len(), 80);
}

#[test]
fn random_hex_is_random() {
    let a = random_hex(16).unwrap();
    let b = random_hex(16).unwrap();
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
}

#[test]
fn a_dropped_store_can_be_reopened_at_once() {
    // The next process (or a test) must not trip over a lock a background thread still holds.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    for i in 0..20u8 {
        let store = Store::open(&path).unwrap();
        store.set_sync_state("a", "k", &[i]).unwrap();
        store.flush().unwrap();
        drop(store);
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.sync_state("a", "k").unwrap(), Some(vec![19]));
}
