//! The delivery task: drains the outbox outside the sync cycle. It wakes when a cycle has
//! enqueued something, when the next retry is due, and at least every 30 s; it sends one message
//! at a time and, on stop, finishes the message in hand (its record is then flushed), so a
//! restart resumes where it left off. Delivered messages are forgotten after 30 days.
use super::clock;
use crate::notify::{Senders, outbox};
use crate::store::Store;
use chrono::Duration as ChronoDuration;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

/// How long finished messages are kept (their keys stop repeats meanwhile).
const KEEP_DONE: i64 = 30;
/// The longest sleep between passes.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// A running delivery task.
pub struct Delivery {
    wake: Arc<Notify>,
    senders: Arc<RwLock<Arc<Senders>>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Delivery {
    pub fn spawn(store: Store, senders: Senders) -> Delivery {
        let wake = Arc::new(Notify::new());
        let senders = Arc::new(RwLock::new(Arc::new(senders)));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(store, senders.clone(), wake.clone(), stopped));
        Delivery {
            wake,
            senders,
            stop,
            task,
        }
    }

    /// Something was enqueued: deliver it now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Use these channels from now on (after a reload).
    pub fn replace_senders(&self, senders: Senders) {
        match self.senders.write() {
            Ok(mut s) => *s = Arc::new(senders),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(senders),
        }
        self.wake();
    }

    /// Stop after the message in hand (at most 60 s).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .is_err()
        {
            warn!("the notification delivery did not stop within 60 s");
        }
    }
}

async fn run(
    store: Store,
    senders: Arc<RwLock<Arc<Senders>>>,
    wake: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut last_prune = None;
    loop {
        if *stopped.borrow() {
            return;
        }
        let now = clock::now();
        let current = match senders.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let report = outbox::deliver_due(&store, &current, now).await;
        if report != outbox::DeliveryReport::default() {
            info!(
                sent = report.sent,
                retrying = report.retrying,
                failed = report.failed,
                dropped = report.dropped,
                "notifications delivered"
            );
        }
        if last_prune.is_none_or(|t| now - t > ChronoDuration::hours(1)) {
            last_prune = Some(now);
            if let Err(e) = store.outbox_prune(now, ChronoDuration::days(KEEP_DONE)) {
                warn!(error = %e, "cannot prune the outbox");
            }
        }
        let sleep = match store.outbox_next_due() {
            Ok(Some(next)) => (next - clock::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(MAX_SLEEP),
            _ => MAX_SLEEP,
        };
        tokio::select! {
            _ = tokio::time::sleep(sleep.max(Duration::from_millis(50))) => {}
            _ = wake.notified() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
    }
}
