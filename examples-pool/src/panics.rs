//! `panics`: a panicking job does not kill ptm's `ThreadPool`.
//! Answers "Thread Pool" in `process-and-thread-management.md`.
//!
//! Run it: `cargo run -p examples-pool -- panics`
//!
//! What the seed got wrong: its worker calls `job()` bare, so a panicking job
//! unwinds out of the worker's loop and ends that thread. The pool silently
//! has one worker fewer (only the panic message on stderr tells), the job's
//! submitter never hears of it, once every worker is dead `execute` panics on
//! `send(..).unwrap()`, and `Drop` panics on the dead worker's `join().unwrap()`.
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
use std::panic;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use ptm::pool::{JobError, PoolStats};
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

// ANCHOR: demo
/// Spawns `workers` jobs that panic, one per worker, then `workers` jobs that
/// return `i + 1` and their thread's name, again one per worker.
pub fn demo(workers: usize) -> Result<Report> {
    let pool = ThreadPool::new(workers).with_context(|| {
        format!("starting a ThreadPool of {workers} workers")
    })?;
    // One job per worker: each reports on `started`, then waits at the gate,
    // which opens (its sender dropped) once every worker has reported.
    let spawn_all = |f: fn(u32) -> (u32, String)| -> Result<Vec<_>> {
        let (started_tx, started) = mpsc::channel();
        let (gate, gate_rx) = crossbeam_channel::bounded::<()>(0);
        let handles = (0..workers as u32)
            .map(|i| {
                let (started_tx, gate_rx) =
                    (started_tx.clone(), gate_rx.clone());
                pool.spawn(move || {
                    let _ = started_tx.send(()); // `Err` only if `demo` gave up
                    let _ = gate_rx.recv(); // `Err` once `gate` is dropped: it opens
                    f(i)
                })
                .with_context(|| format!("spawning job {i}"))
            })
            .collect::<Result<Vec<_>>>()?;
        for n in 0..workers {
            started.recv_timeout(PATIENCE).map_err(|_| {
                anyhow!("only {n} of {workers} workers took a job within {PATIENCE:?}")
            })?;
        }
        drop(gate);
        Ok(handles)
    };
    let results = spawn_all(|i| panic!("job {i} failed on purpose"))?
        .into_iter()
        .map(|handle| handle.join().map(|(value, _)| value))
        .collect();
    let mut survivors = BTreeSet::new();
    let mut sum_after = 0;
    for handle in spawn_all(|i| {
        (i + 1, thread::current().name().unwrap_or("?").to_owned())
    })? {
        let (value, name) =
            handle.join().context("joining a job after the panics")?;
        sum_after += value;
        survivors.insert(name);
    }
    let stats = pool.shutdown();
    Ok(Report { results, survivors, sum_after, stats })
}
// ANCHOR_END: demo

/// Prints [`demo`] on a pool of 4 workers.
pub fn run() -> Result<()> {
    println!("== panics: a panicking job does not kill the pool ==");
    let workers = 4;
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        let thread = thread::current().name().unwrap_or("?").to_owned();
        eprintln!(
            "panic hook: {thread}: {}",
            info.payload_as_str().unwrap_or("?")
        );
    }));
    let r = demo(workers);
    panic::set_hook(default_hook);
    let r = r?;
    for result in &r.results {
        match result {
            Ok(value) => {
                println!("unexpected: a panicking job returned {value}")
            }
            Err(err) => println!("JobHandle::join -> Err: {err}"),
        }
    }
    let names: Vec<_> = r.survivors.iter().map(String::as_str).collect();
    println!(
        "after {} panics, {} of {workers} workers ran a job each: {}",
        r.results.len(),
        r.survivors.len(),
        names.join(", ")
    );
    println!("their results sum to {} (1+..+{workers})", r.sum_after);
    println!(
        "stats: completed {}, panicked {}",
        r.stats.completed, r.stats.panicked
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "Thread Pool" (process-and-thread-management.md): a panicking job kills
    /// the seed's worker. Here every worker takes a panic and still runs jobs.
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
