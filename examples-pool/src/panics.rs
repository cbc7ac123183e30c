//! `panics`: a panicking job does not kill ptm's `ThreadPool`.
//!
//! Run it: `cargo run -p examples-pool -- panics`
//!
//! A worker loop that calls `job()` bare lets a panicking job unwind out of
//! the loop and end the thread (the `naive` demo shows it): the pool
//! silently has one worker fewer, and the job's submitter never hears of it.
//! ptm runs each job under `catch_unwind`.
//!
//! Here, one panicking job lands on *each* worker: every job reports that it
//! started, then waits at a gate that opens only once all of them have
//! reported, so no worker can take two. Their `JobHandle`s report
//! `JobError::Panicked` with the message, `stats` counts the panics, and then
//! gated jobs again prove that every worker is still there: a pool missing a
//! worker gets fewer reports, and after 10 s `demo` says so (it does not hang).
//! While it runs, `run` swaps the panic hook for one that prints one line per
//! panic (the default one prints a backtrace under `RUST_BACKTRACE`).

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use ptm::pool::{JobError, JobHandle, PoolStats};
use ptm::ThreadPool;

/// What [`demo`] saw.
#[derive(Debug)]
pub struct Report {
    /// Each panicking job's result, from its `JobHandle`.
    pub results: Vec<std::result::Result<u32, JobError>>,
    /// The distinct threads that ran the jobs after the panics.
    pub survivors: BTreeSet<String>,
    /// The sum those jobs returned.
    pub sum_after: u32,
    /// The stats `shutdown` returned.
    pub stats: PoolStats,
}

/// How long [`demo`] waits for every worker to take one of its gated jobs.
const PATIENCE: Duration = Duration::from_secs(10);

// ANCHOR: one_per_worker
/// Spawns `f(0)` to `f(workers - 1)`, one job per worker: each job reports
/// that it started, then waits at a gate that opens only once all of them
/// have reported, so no worker can take two.
fn one_per_worker<T: Send + 'static>(
    pool: &ThreadPool,
    workers: usize,
    f: fn(u32) -> T,
) -> Result<Vec<JobHandle<T>>> {
    let (started_tx, started) = mpsc::channel();
    let (gate, gate_rx) = crossbeam_channel::bounded::<()>(0);
    let mut handles = Vec::new();
    for i in 0..workers as u32 {
        let (started_tx, gate_rx) = (started_tx.clone(), gate_rx.clone());
        handles.push(pool.spawn(move || {
            let _ = started_tx.send(()); // `Err` only if the caller gave up
            let _ = gate_rx.recv(); // `Err` once `gate` is dropped: it opens
            f(i)
        })?);
    }
    for n in 0..workers {
        let late = |_| anyhow!("only {n} of {workers} jobs started in time");
        started.recv_timeout(PATIENCE).map_err(late)?;
    }
    drop(gate);
    Ok(handles)
}
// ANCHOR_END: one_per_worker

// ANCHOR: demo
/// One panicking job per worker, then one job per worker that returns
/// `i + 1` and the name of the thread that ran it.
pub fn demo(workers: usize) -> Result<Report> {
    let pool = ThreadPool::new(workers).context("starting the pool")?;
    let failing = one_per_worker(&pool, workers, |i| -> u32 {
        panic!("job {i} failed on purpose")
    })?;
    let results = failing.into_iter().map(|handle| handle.join()).collect();
    let (mut survivors, mut sum_after) = (BTreeSet::new(), 0);
    let name = |i| (i + 1, thread::current().name().map(str::to_owned));
    for handle in one_per_worker(&pool, workers, name)? {
        let (value, name) = handle.join().context("joining a job")?;
        sum_after += value;
        survivors.insert(name.unwrap_or_default());
    }
    let stats = pool.shutdown();
    Ok(Report { results, survivors, sum_after, stats })
}
// ANCHOR_END: demo

/// Prints [`demo`] on a pool of 4 workers.
pub fn run() -> Result<()> {
    println!("== panics: a panicking job does not kill the pool ==");
    let workers = 4;
    let r = crate::with_one_line_panics(|| demo(workers))?;
    for result in &r.results {
        match result {
            Ok(value) => {
                println!("unexpected: a panicking job returned {value}")
            }
            Err(err) => println!("JobHandle::join -> Err: {err}"),
        }
    }
    let names: Vec<_> = r.survivors.iter().map(String::as_str).collect();
    let (panics, alive) = (r.results.len(), r.survivors.len());
    println!(
        "after {panics} panics, {alive} of {workers} workers ran a job each"
    );
    println!("the workers: {}", names.join(", "));
    println!("their results sum to {} (1+..+{workers})", r.sum_after);
    println!(
        "stats: completed {}, panicked {}",
        r.stats.completed, r.stats.panicked
    );
    println!(
        "notice: each panic came back to its JobHandle as an Err; every \
         worker lived on"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panicking job must not kill its worker: every worker takes a
    /// panic and still runs jobs.
    #[test]
    fn every_worker_survives_a_panic() {
        let r = demo(3).expect("the demo runs");
        let expected: Vec<std::result::Result<u32, JobError>> = (0..3)
            .map(|i| {
                Err(JobError::Panicked(format!("job {i} failed on purpose")))
            })
            .collect();
        assert_eq!(r.results, expected);
        assert_eq!(r.survivors.len(), 3);
        assert_eq!(r.sum_after, 1 + 2 + 3);
        assert_eq!((r.stats.completed, r.stats.panicked), (3, 3));
    }
}
