//! The kill-and-reopen durability test of the store (required by rust-stack.md, runs in CI).
//!
//! The test re-executes its own binary (`std::env::current_exe()`, `--exact` on this test's name)
//! with `ONEONONE_DURABILITY_CHILD` set; in that mode the same test function becomes a writer that
//! stores records in a loop, flushes after each one and only then prints `ACK …` to stdout. The
//! parent reads those lines, SIGKILLs the child (`Child::kill`) at a varying point, reopens the
//! database and checks that it opens, that everything in it decodes, and that every acknowledged
//! record is present and intact. Two iterations kill a child that is busy with large
//! `update_occurrences` transactions and check they were applied all-or-nothing. The database
//! directory is shared by all iterations, so later iterations also reopen after many crashes.
use chrono::{DateTime, Duration, TimeZone, Utc};
use oneonone::domain::agenda::{AgendaItem, ItemKind, Section};
use oneonone::domain::rules::ActiveFinding;
use oneonone::domain::{Occurrence, OccurrenceStatus};
use oneonone::store::{AccountState, MirrorCommit, Store, WriteRecord, WriteState};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

const CHILD_ENV: &str = "ONEONONE_DURABILITY_CHILD";
const TEST_NAME: &str = "kill_and_reopen_keeps_every_acknowledged_record";
const ITERATIONS: u32 = 15;
/// Iterations whose child runs big transactions instead of single records.
const TX_ITERATIONS: [u32; 2] = [6, 12];
const TX_RECORDS: usize = 300;

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0)
        .single()
        .unwrap_or_default()
}

// ---- the records, derived deterministically from (iteration, i) so the parent can rebuild them

fn pair_of(iter: u32) -> String {
    format!("m{}@x.org~r@x.org", iter % 3)
}

fn sync_key(iter: u32, i: u64) -> String {
    format!("it{iter}-{i}")
}

fn sync_value(iter: u32, i: u64) -> Vec<u8> {
    format!("token-{iter}-{i}-{}", "z".repeat((i % 50) as usize)).into_bytes()
}

fn occurrence(pair: &str, instance: String, i: u64, title: String) -> Occurrence {
    let start = base() + Duration::days(i as i64);
    Occurrence {
        pair_id: pair.into(),
        account: "acct".into(),
        meeting: instance,
        series: Some("series".into()),
        title,
        start,
        end: start + Duration::minutes(30),
        status: if i.is_multiple_of(2) {
            OccurrenceStatus::Held
        } else {
            OccurrenceStatus::Cancelled
        },
        cancel_reason: (i % 2 == 1).then(|| "declined by r@x.org".to_string()),
        last_seen: start,
        one_on_one: true,
        seen_in: Vec::new(),
        agenda: None,
    }
}

fn occurrences(iter: u32, i: u64) -> Vec<Occurrence> {
    ["a", "b"]
        .iter()
        .map(|s| {
            occurrence(
                &pair_of(iter),
                format!("it{iter}-{i}-{s}"),
                i,
                format!("1:1 {iter}/{i}"),
            )
        })
        .collect()
}

fn agenda_item(iter: u32, i: u64) -> AgendaItem {
    AgendaItem {
        id: format!("it{iter}-{i}"),
        pair_id: pair_of(iter),
        kind: ItemKind::ActionItem,
        section: Section::ActionItems,
        text: format!("follow up on {iter}/{i} <b>ünïcode</b>"),
        owner: Some("r@x.org".into()),
        author: None,
        origin_meeting: format!("it{iter}-{i}-a"),
        origin_start: base() + Duration::days(i as i64),
        done_in: None,
        done_start: None,
        done_at: None,
        created_at: base() + Duration::seconds(i as i64),
        ..AgendaItem::default()
    }
}

fn findings_pair(iter: u32, i: u64) -> String {
    format!("f{iter}-{i}~x")
}

fn findings(iter: u32, i: u64) -> Vec<ActiveFinding> {
    (0..3)
        .map(|n| ActiveFinding {
            pair_id: findings_pair(iter, i),
            key: format!("k{n}"),
            kind: "cancellations".into(),
            severity: "warning".into(),
            message: format!("{n} cancelled in a row"),
            occurrence: Some(base()),
            first_seen: base() + Duration::seconds(n),
            notified_at: None,
            level: n as u32 + 1,
            notified_level: 0,
            details: vec![format!("detail {n}")],
        })
        .collect()
}

fn write_record(iter: u32, i: u64) -> WriteRecord {
    WriteRecord {
        account: "acct".into(),
        instance_id: format!("it{iter}-{i}"),
        content_hash: format!("{:016x}", (u64::from(iter) << 32) ^ i),
        state: WriteState::Done,
        at: base(),
    }
}

fn tx_batch(generation: u64) -> Vec<Occurrence> {
    (0..TX_RECORDS)
        .map(|n| {
            occurrence(
                "tx~pair",
                format!("tx-{n}"),
                n as u64,
                format!("gen {generation}"),
            )
        })
        .collect()
}

// ---- the child --------------------------------------------------------------------------------

/// Write, flush, acknowledge; forever (until killed).
fn child(spec: &str) -> ! {
    use std::io::Write;
    let mut parts = spec.splitn(3, '|');
    let (Some(dir), Some(iter), Some(mode)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("bad {CHILD_ENV}: {spec}");
    };
    let iter: u32 = iter.parse().expect("iteration number");
    let store = Store::open(Path::new(dir)).expect("child opens the store");
    let mut out = std::io::stdout().lock();
    for i in 0u64.. {
        let ack = if mode == "tx" {
            // Odd generations also remove the first ten, so a transaction mixes removes and inserts.
            let (upsert, remove): (Vec<Occurrence>, Vec<String>) = if i % 2 == 1 {
                (
                    tx_batch(i).into_iter().skip(10).collect(),
                    (0..10).map(|n| format!("tx-{n}")).collect(),
                )
            } else {
                (tx_batch(i), Vec::new())
            };
            store
                .update_occurrences("tx~pair", &upsert, &remove)
                .expect("tx write");
            format!("ACK tx {i}")
        } else {
            match i % 5 {
                0 => {
                    // A provider's token and the mirror change it covers, in one commit.
                    AccountState::for_account(&store, "acct")
                        .commit(
                            "cal",
                            MirrorCommit {
                                upsert: vec![(sync_key(iter, i), sync_value(iter, i))],
                                state: vec![(sync_key(iter, i), sync_value(iter, i))],
                                ..MirrorCommit::default()
                            },
                        )
                        .expect("sync state write");
                    format!("ACK {i}")
                }
                1 => {
                    store
                        .update_occurrences(&pair_of(iter), &occurrences(iter, i), &[])
                        .expect("occurrence write");
                    format!("ACK {i}")
                }
                2 => {
                    store
                        .put_agenda_item(&agenda_item(iter, i))
                        .expect("item write");
                    format!("ACK {i}")
                }
                3 => {
                    let doc = store
                        .ensure_agenda_doc(
                            &pair_of(iter),
                            &format!("it{iter}-{i}-a"),
                            base() + Duration::days(i as i64),
                            base(),
                        )
                        .expect("doc write");
                    format!("ACK {i} {}", doc.token)
                }
                _ => {
                    store
                        .set_findings(&findings_pair(iter, i), &findings(iter, i))
                        .expect("findings write");
                    store
                        .put_write_record(&write_record(iter, i))
                        .expect("journal write");
                    format!("ACK {i}")
                }
            }
        };
        store.flush().expect("flush");
        writeln!(out, "{ack}").expect("stdout");
        out.flush().expect("stdout flush");
    }
    unreachable!("the writer loops until killed")
}

// ---- the parent -------------------------------------------------------------------------------

/// What the parent knows was acknowledged: (iteration, i) → the doc token for doc writes.
type Acked = BTreeMap<(u32, u64), Option<String>>;

fn verify(dir: &Path, acked: &Acked, tx_acked: Option<u64>) {
    let store = Store::open(dir).unwrap_or_else(|e| panic!("reopen after kill failed: {e}"));
    // Everything that is there decodes.
    for pair in store.pair_ids_with_history().expect("pair ids") {
        store
            .occurrences(&pair)
            .unwrap_or_else(|e| panic!("occurrences of {pair}: {e}"));
        store
            .agenda_items(&pair)
            .unwrap_or_else(|e| panic!("items of {pair}: {e}"));
    }
    for (&(iter, i), token) in acked {
        let what = format!("acknowledged record {iter}/{i}");
        match i % 5 {
            0 => {
                let state = AccountState::for_account(&store, "acct");
                assert_eq!(
                    state.get(&sync_key(iter, i)).expect(&what),
                    Some(sync_value(iter, i)),
                    "{what}"
                );
                let mirror = state.mirror("cal").expect(&what);
                assert!(
                    mirror.contains(&(sync_key(iter, i), sync_value(iter, i))),
                    "{what}: mirror entry missing"
                );
            }
            1 => {
                let have = store.occurrences(&pair_of(iter)).expect(&what);
                for want in occurrences(iter, i) {
                    assert!(have.contains(&want), "{what}: {want:?} missing");
                }
            }
            2 => {
                let want = agenda_item(iter, i);
                assert_eq!(
                    store.agenda_item(&want.pair_id, &want.id).expect(&what),
                    Some(want),
                    "{what}"
                );
            }
            3 => {
                let token = token
                    .as_deref()
                    .unwrap_or_else(|| panic!("{what}: no token acked"));
                let doc = store
                    .agenda_doc(token)
                    .expect(&what)
                    .unwrap_or_else(|| panic!("{what}: agenda doc missing"));
                assert_eq!(doc.meeting, format!("it{iter}-{i}-a"), "{what}");
                assert_eq!(doc.pair_id, pair_of(iter), "{what}");
                assert_eq!(doc.start, base() + Duration::days(i as i64), "{what}");
            }
            _ => {
                assert_eq!(
                    store.findings(&findings_pair(iter, i)).expect(&what),
                    findings(iter, i),
                    "{what}"
                );
                let want = write_record(iter, i);
                assert_eq!(
                    store.write_record("acct", &want.instance_id).expect(&what),
                    Some(want),
                    "{what}"
                );
            }
        }
    }
    // The transactional batches: all-or-nothing, and never older than the last acknowledged one.
    let have = store.occurrences("tx~pair").expect("tx occurrences");
    if let Some(last) = tx_acked {
        let mut generations: Vec<u64> = have
            .iter()
            .filter_map(|o| o.title.strip_prefix("gen ")?.parse().ok())
            .collect();
        generations.sort_unstable();
        generations.dedup();
        assert_eq!(
            generations.len(),
            1,
            "a transaction was torn: generations {generations:?}"
        );
        let generation = generations.first().copied().unwrap_or_default();
        assert!(generation >= last, "generation {generation} < acked {last}");
        let want = tx_batch(generation);
        let expected: Vec<&Occurrence> = if generation % 2 == 1 {
            want.iter().skip(10).collect()
        } else {
            want.iter().collect()
        };
        let have_sorted: BTreeMap<&str, &Occurrence> =
            have.iter().map(|o| (o.meeting.as_str(), o)).collect();
        assert_eq!(have.len(), expected.len(), "generation {generation}");
        for w in expected {
            assert_eq!(
                have_sorted.get(w.meeting.as_str()),
                Some(&w),
                "gen {generation}"
            );
        }
    }
}

#[test]
fn kill_and_reopen_keeps_every_acknowledged_record() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("db");
    let exe = std::env::current_exe().expect("test binary path");
    let mut acked: Acked = BTreeMap::new();
    let mut tx_acked: Option<u64> = None;
    let mut kills_after = Vec::new();

    for iter in 0..ITERATIONS {
        let tx_mode = TX_ITERATIONS.contains(&iter);
        let spec = format!(
            "{}|{iter}|{}",
            dir.display(),
            if tx_mode { "tx" } else { "records" }
        );
        let mut child = Command::new(&exe)
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, spec)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the writer");
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Kill after a varying number of acknowledgements, then a varying extra delay so the
        // signal lands anywhere in the next write or flush.
        let target = if tx_mode {
            1 + u64::from(iter % 3)
        } else {
            1 + u64::from(iter * 7 % 23)
        };
        let extra_delay = std::time::Duration::from_micros(u64::from(iter * 613 % 3000));
        let mut seen = 0u64;
        while seen < target {
            let line = match rx.recv_timeout(std::time::Duration::from_secs(10)) {
                Ok(line) => line,
                Err(e) => {
                    let _ = child.kill();
                    let out = child.wait_with_output().expect("child output");
                    panic!(
                        "iteration {iter}: writer stopped acknowledging ({e}); stderr:\n{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            };
            let mut words = line.split_whitespace();
            if words.next() != Some("ACK") {
                continue; // the test harness's own output
            }
            seen += 1;
            if tx_mode {
                let generation = words.nth(1).and_then(|g| g.parse().ok()).expect("tx gen");
                tx_acked = Some(generation);
            } else {
                let i: u64 = words.next().and_then(|g| g.parse().ok()).expect("ack i");
                acked.insert((iter, i), words.next().map(str::to_string));
            }
        }
        std::thread::sleep(extra_delay);
        child.kill().expect("SIGKILL the writer");
        child.wait().expect("reap the writer");
        // Acknowledgements printed between our last read and the kill are durable too.
        reader.join().expect("reader thread");
        while let Ok(line) = rx.try_recv() {
            let mut words = line.split_whitespace();
            if words.next() != Some("ACK") {
                continue;
            }
            if tx_mode {
                if let Some(g) = words.nth(1).and_then(|g| g.parse().ok()) {
                    tx_acked = Some(g);
                }
            } else if let Some(i) = words.next().and_then(|g| g.parse().ok()) {
                acked.insert((iter, i), words.next().map(str::to_string));
            }
        }
        kills_after.push(seen);
        verify(&dir, &acked, tx_acked);
    }
    assert!(tx_acked.is_some(), "no transaction was acknowledged");
    assert!(acked.len() >= ITERATIONS as usize);
    eprintln!(
        "durability: {ITERATIONS} kills, {} acknowledged records verified, in {:?}",
        acked.len(),
        started.elapsed()
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "durability test took {:?}",
        started.elapsed()
    );
}
