//! Carrying out the planned writes: writes to the same unit (a file, an event) one after another in
//! plan order, different units concurrently (at most `WRITE_TASKS` at once; providers enforce their
//! own per-calendar limits). A panic in a writer task is an error of its writes, reported as an
//! uncertain outcome (it may have happened), never a crash of the cycle.
use crate::providers::{Progress, Provider, ProviderError, WriteOutcome};
use crate::sync::{PlannedWrite, WriteOp};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How many units are written at once (writes are I/O-bound, not CPU-bound).
const WRITE_TASKS: usize = 8;

type Outcome = Result<WriteOutcome, ProviderError>;

/// One write of a group: its index in the plan, the write, and its account's provider.
type Job = (usize, PlannedWrite, Option<Arc<dyn Provider>>);

/// Run every write; one outcome per write, in the order of `writes`.
pub(super) async fn execute(
    providers: &BTreeMap<String, Arc<dyn Provider>>,
    writes: &[PlannedWrite],
    progress: &Arc<Progress>,
) -> Vec<Outcome> {
    progress.add_writes(writes.len());
    // Group by (account, unit), keeping plan order inside each group.
    let mut groups: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
    for (i, w) in writes.iter().enumerate() {
        groups.entry((&w.account, &w.unit)).or_default().push(i);
    }
    let mut results: Vec<Option<Outcome>> = (0..writes.len()).map(|_| None).collect();
    let mut tasks = tokio::task::JoinSet::new();
    let mut pending: Vec<Vec<usize>> = groups.into_values().collect();
    pending.reverse();
    loop {
        while tasks.len() < WRITE_TASKS {
            let Some(group) = pending.pop() else { break };
            let jobs: Vec<Job> = group
                .iter()
                .filter_map(|&i| {
                    writes
                        .get(i)
                        .map(|w| (i, w.clone(), providers.get(&w.account).cloned()))
                })
                .collect();
            let progress = progress.clone();
            tasks.spawn(async move {
                let mut done = Vec::with_capacity(jobs.len());
                for (i, w, provider) in jobs {
                    let r = match provider {
                        Some(p) => run(p.as_ref(), &w).await,
                        None => Err(ProviderError::NotFound(format!("account {}", w.account))),
                    };
                    progress.write_done();
                    done.push((i, r));
                }
                done
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        match joined {
            Ok(done) => {
                for (i, r) in done {
                    if let Some(slot) = results.get_mut(i) {
                        *slot = Some(r);
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "a writer task failed"),
        }
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(ProviderError::Uncertain {
                    what: "a calendar write".into(),
                    reason: "the writer task panicked".into(),
                })
            })
        })
        .collect()
}

async fn run(provider: &dyn Provider, w: &PlannedWrite) -> Outcome {
    match &w.op {
        WriteOp::Occurrence(o) => provider.write_occurrence(o).await,
        WriteOp::Series(s) => provider.write_series(s).await,
        WriteOp::Create(c) => provider.create_series(c).await,
    }
}
