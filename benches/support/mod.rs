//! What the provider benchmarks share: the emulator in a child process of the benchmark's own
//! executable (so its memory never counts against the client's), this process's CPU time and
//! resident memory, sizes from the environment, and the daemon's start-up settings.
#![allow(dead_code)] // each benchmark uses its own part

use serde_json::Value;
use std::io::BufRead;
use std::sync::Arc;
use std::time::Duration;

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time (user + system) of this process.
pub fn cpu() -> Duration {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// CPU time of the calling thread.
pub fn thread_cpu() -> Duration {
    // SAFETY: clock_gettime only writes into the struct we pass.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// (current, peak) resident memory of this process in MB.
pub fn rss_mb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |kb| kb / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Start a new peak: the kernel's high-water mark becomes the current RSS.
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The daemon's start-up (`src/main.rs`): its allocator settings, so the peak measured is the
/// daemon's, and a two-worker runtime as on the 2-core machine.
pub fn runtime() -> tokio::runtime::Runtime {
    oneonone::memory::limit_malloc_arenas();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// In the emulator child (`mode` set in its environment): serve until killed, and say so.
pub fn serve_emulator_if_child(rt: &tokio::runtime::Runtime, mode: &str) -> bool {
    if std::env::var_os(mode).is_none() {
        return false;
    }
    let ctx = Arc::new(oneonone_emulator::Ctx::new(
        7,
        oneonone_emulator::FaultConfig::default(),
    ));
    if let Err(e) = rt.block_on(oneonone_emulator::serve("127.0.0.1:0", ctx)) {
        eprintln!("emulator: {e}");
    }
    true
}

/// Phase logs (`RUST_LOG=oneonone=debug`: the engine's phases with their time and resident
/// memory) on stderr, when asked for.
pub fn phase_logs_if_asked() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
}

/// The emulator, running in a child process of this executable; killed when dropped.
pub struct Emulator {
    pub child: std::process::Child,
    pub base: String,
    pub http: reqwest::Client,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emulator {
    /// Start this executable with `mode` set, and read the address it listens on.
    pub fn spawn(mode: &str) -> Emulator {
        let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
            .env(mode, "1")
            // Under a heap profiler, profile the benchmark's process only.
            .env_remove("LD_PRELOAD")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn the emulator");
        let out = child.stdout.take().expect("stdout");
        let line = std::io::BufReader::new(out)
            .lines()
            .next()
            .and_then(Result::ok)
            .unwrap_or_default();
        let base = line
            .strip_prefix("listening on ")
            .expect("the emulator's address")
            .to_string();
        Emulator {
            child,
            base,
            http: reqwest::Client::new(),
        }
    }

    /// POST to the emulator's admin API; its JSON answer.
    pub async fn admin(&self, path: &str, body: &Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .expect("admin request");
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }
}
