//! Measures `providers::local` on a generated vdir: 2,000 weekly 1:1 series (a year each, with
//! some overrides and cancellations) plus 100,000 other events (80,000 personal events without
//! attendees, 20,000 single group meetings), spread over the root and two sub-folders.
//!
//! Run with: `cargo run --release --example local_fetch_bench [-- SERIES OTHER [DIR]]`
//! Prints the time of a cold fetch (empty cache), a warm fetch (everything cached), the cache's
//! serialized size and its encode/decode times.
use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use oneonone::providers::Window;
use oneonone::providers::local::{FileCache, LocalProvider};
use std::fs;
use std::path::Path;
use std::time::Instant;

fn series_file(i: usize) -> String {
    let zones = [
        "Europe/London",
        "America/New_York",
        "Europe/Berlin",
        "Australia/Sydney",
    ];
    let tz = zones[i % zones.len()];
    let day = 5 + (i % 5); // Mon..Fri of the first full week of 2026
    let hour = 9 + (i % 8);
    let mut s = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\nUID:series-{i}@bench\r\n\
         DTSTAMP:20251201T000000Z\r\nDTSTART;TZID={tz}:202601{day:02}T{hour:02}0000\r\n\
         DTEND;TZID={tz}:202601{day:02}T{hour:02}3000\r\nRRULE:FREQ=WEEKLY;COUNT=52\r\n\
         SUMMARY:Manager {m} / Report {i}\r\nORGANIZER;CN=Manager {m}:mailto:manager{m}@bench.example\r\n\
         ATTENDEE;PARTSTAT=ACCEPTED;CN=Manager {m}:mailto:manager{m}@bench.example\r\n\
         ATTENDEE;PARTSTAT=ACCEPTED;CN=Report {i}:mailto:report{i}@bench.example\r\n\
         DESCRIPTION:Weekly 1:1. Bring your topics\\, wins and blockers.\r\nEND:VEVENT\r\n",
        m = i / 8
    );
    if i.is_multiple_of(3) {
        // A moved occurrence (week 10) and a cancelled one (week 20).
        for (week, status, shift) in [(10, "CONFIRMED", 1), (20, "CANCELLED", 0)] {
            let orig = chrono::NaiveDate::from_ymd_opt(2026, 1, day as u32).unwrap_or_default()
                + Duration::weeks(week);
            let new = orig + Duration::days(shift);
            s.push_str(&format!(
                "BEGIN:VEVENT\r\nUID:series-{i}@bench\r\nDTSTAMP:20251201T000000Z\r\n\
                 RECURRENCE-ID;TZID={tz}:{o}T{hour:02}0000\r\nDTSTART;TZID={tz}:{n}T{hour:02}0000\r\n\
                 DTEND;TZID={tz}:{n}T{hour:02}3000\r\nSTATUS:{status}\r\nSUMMARY:Manager {m} / Report {i}\r\n\
                 ORGANIZER:mailto:manager{m}@bench.example\r\nATTENDEE:mailto:manager{m}@bench.example\r\n\
                 ATTENDEE:mailto:report{i}@bench.example\r\nEND:VEVENT\r\n",
                o = orig.format("%Y%m%d"),
                n = new.format("%Y%m%d"),
                m = i / 8
            ));
        }
    }
    s.push_str("END:VCALENDAR\r\n");
    s
}

fn other_file(i: usize) -> String {
    let day = 1 + (i % 28);
    let month = 1 + (i % 12);
    let people = if i.is_multiple_of(5) {
        format!(
            "ORGANIZER:mailto:lead{a}@bench.example\r\nATTENDEE:mailto:lead{a}@bench.example\r\n\
             ATTENDEE:mailto:p{b}@bench.example\r\nATTENDEE:mailto:p{c}@bench.example\r\nATTENDEE;CUTYPE=ROOM:mailto:room{a}@bench.example\r\n",
            a = i % 50,
            b = i % 997,
            c = i % 991
        )
    } else {
        String::new()
    };
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//PIMUTILS.ORG//NONSGML khal / icalendar //EN\r\n\
         BEGIN:VEVENT\r\nUID:other-{i}@bench\r\nDTSTAMP:20251201T000000Z\r\n\
         DTSTART;TZID=Europe/London:2026{month:02}{day:02}T120000\r\nDTEND;TZID=Europe/London:2026{month:02}{day:02}T130000\r\n\
         SUMMARY:Personal thing {i}\r\nLOCATION:Somewhere\r\n{people}DESCRIPTION:Some notes about event {i}\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// CPU time (user + system, all threads) of this process so far, from /proc (Linux); 10 ms ticks.
fn cpu_ms() -> Option<u64> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 10)
}

fn generate(root: &Path, series: usize, other: usize) -> std::io::Result<()> {
    let dirs = [root.to_path_buf(), root.join("work"), root.join("home")];
    for d in &dirs[1..] {
        fs::create_dir_all(d)?;
    }
    for i in 0..series {
        fs::write(dirs[i % 2].join(format!("series-{i}.ics")), series_file(i))?;
    }
    for i in 0..other {
        fs::write(dirs[i % 3].join(format!("other-{i}.ics")), other_file(i))?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let series = args.first().copied().unwrap_or(2_000);
    let other = args.get(1).copied().unwrap_or(100_000);
    // An optional third argument names a folder to reuse (generated on first use).
    let tmp = tempfile::tempdir()?;
    let root = match std::env::args().nth(3) {
        Some(p) => std::path::PathBuf::from(p),
        None => tmp.path().to_path_buf(),
    };
    if !root.join("work").exists() {
        fs::create_dir_all(&root)?;
        let t = Instant::now();
        generate(&root, series, other)?;
        println!(
            "generated {series} series + {other} other files in {:.2?}",
            t.elapsed()
        );
    }

    let provider = LocalProvider::new("bench", &root, Tz::Europe__London);
    let start: DateTime<Utc> = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .ok_or("date")?;
    let days: i64 = std::env::var("BENCH_WINDOW_DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(365);
    let window = Window {
        start,
        end: start + Duration::days(days),
    };
    println!("window: {days} days from {start}");
    println!("workers: {:?}", std::thread::available_parallelism()?);

    let mut cache = FileCache::default();
    let c = cpu_ms();
    let t = Instant::now();
    let snap = provider.fetch(window, &mut cache)?;
    let cold = t.elapsed();
    let cpu = cpu_ms().zip(c).map(|(a, b)| a - b).unwrap_or(0);
    println!(
        "cold fetch: {cold:.2?} wall, {cpu} ms CPU ({} files read, {} instances, {} problems)",
        cache.last_fetch_reads(),
        snap.instances.len(),
        snap.problems.len()
    );

    let rounds: usize = std::env::var("BENCH_WARM_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    for round in 1..=rounds {
        let c = cpu_ms();
        let t = Instant::now();
        let snap2 = provider.fetch(window, &mut cache)?;
        let wall = t.elapsed();
        let cpu = cpu_ms().zip(c).map(|(a, b)| a - b).unwrap_or(0);
        println!(
            "warm fetch #{round}: {wall:.2?} wall, {cpu} ms CPU ({} files read, {} instances)",
            cache.last_fetch_reads(),
            snap2.instances.len()
        );
    }

    let t = Instant::now();
    let bytes = cache.to_bytes();
    let enc = t.elapsed();
    let t = Instant::now();
    let mut restored = FileCache::from_bytes(&bytes);
    let dec = t.elapsed();
    println!(
        "cache: {} KiB, encode {enc:.2?}, decode {dec:.2?}, {} files",
        bytes.len() / 1024,
        restored.len()
    );
    let t = Instant::now();
    provider.fetch(window, &mut restored)?;
    println!(
        "warm fetch after restore: {:.2?} ({} files read)",
        t.elapsed(),
        restored.last_fetch_reads()
    );
    Ok(())
}
