//! The progress line of `sync --once` on a terminal: calendars read of total, then writes done of
//! total, redrawn in place on stderr a few times a second. Silent when stderr is not a terminal
//! (systemd, CI, pipes) so logs stay clean.
use crate::providers::Progress;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Draws the progress line until dropped.
pub struct ProgressLine {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProgressLine {
    /// Start drawing `progress` if stderr is a terminal.
    pub fn start(progress: Arc<Progress>) -> ProgressLine {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::io::stderr().is_terminal().then(|| {
            let stop = stop.clone();
            std::thread::spawn(move || draw_until(&progress, &stop))
        });
        ProgressLine { stop, thread }
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn line(p: &Progress) -> String {
    let s = p.snapshot();
    let mut out = format!("calendars read {}/{}", s.calendars_done, s.calendars_total);
    if s.writes_total > 0 {
        out.push_str(&format!(" · writes {}/{}", s.writes_done, s.writes_total));
    }
    out
}

fn draw_until(progress: &Progress, stop: &AtomicBool) {
    let mut last = String::new();
    let mut err = std::io::stderr();
    while !stop.load(Ordering::Relaxed) {
        let now = line(progress);
        if now != last {
            let _ = write!(err, "\r\x1b[2K{now}");
            let _ = err.flush();
            last = now;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !last.is_empty() {
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
    }
}
