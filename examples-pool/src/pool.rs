//! `pool`: ptm's `ThreadPool`, from the smallest use to a graceful shutdown.
//!
//! Run it: `cargo run -p examples-pool -- pool`
//!
//! [`first`] is the smallest use: build a pool, get a value back from one
//! job, run another, wait, shut down. [`demo`] then shows each call at work:
//! jobs go in with `execute` (fire and forget) and `spawn` (its
//! `JobHandle::join` gives the value back); `wait_idle` waits for exactly
//! the submitted jobs, however long they take (no sleep and hope); `stats`
//! counts what ran; `shutdown` runs every job still queued, joins every
//! worker and returns the final counts. To show that last point, the first
//! jobs of the last phase hold their workers at a gate, so that `shutdown`
//! finds the others still queued, and each job sends a value that proves it
//! ran.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use ptm::pool::PoolStats;
use ptm::ThreadPool;

// ANCHOR: first
/// The smallest use of a pool: a value back, a job, a wait, a shutdown.
pub fn first() -> ptm::Result<(i32, PoolStats)> {
    let pool = ThreadPool::builder().workers(4).queue_capacity(1024).build()?;
    let answer = pool.spawn(|| 6 * 7)?;
    pool.execute(|| println!("hello from a worker"))?;
    let answer = answer.join()?; // waits for that job, gives its value
    pool.wait_idle()?; // waits until every job has finished
    let stats = pool.shutdown(); // runs what is queued, joins every thread
    Ok((answer, stats))
}
// ANCHOR_END: first

/// What [`demo`] saw.
#[derive(Debug)]
pub struct Report {
    /// The counter the `execute` jobs bumped.
    pub counter: usize,
    /// The sum of the `spawn` jobs' squares.
    pub squares: u64,
    /// `stats` after `wait_idle`.
    pub idle: PoolStats,
    /// Jobs still queued right before `shutdown` (`stats().queued`).
    pub queued: usize,
    /// The (count, sum) of the values sent by the jobs of the last phase.
    pub sent: (usize, usize),
    /// The stats `shutdown` returned.
    pub last: PoolStats,
}

// ANCHOR: demo
/// On a pool of `workers` threads: `jobs` `execute` jobs, `jobs` `spawn`
/// jobs (`i * i`), then `jobs` more queued right before `shutdown`.
pub fn demo(workers: usize, jobs: usize) -> Result<Report> {
    let pool = ThreadPool::new(workers)
        .with_context(|| format!("starting {workers} workers"))?;
    let counter = Arc::new(AtomicUsize::new(0));
    for _ in 0..jobs {
        let counter = Arc::clone(&counter);
        // Relaxed: `wait_idle` orders every job before the load below.
        let job = move || {
            counter.fetch_add(1, Relaxed);
        };
        pool.execute(job).context("execute on the pool")?;
    }
    let handles: Vec<_> = (0..jobs as u64)
        .map(|i| pool.spawn(move || i * i))
        .collect::<ptm::Result<_>>()
        .context("spawn on the pool")?;
    let mut squares = 0;
    for handle in handles {
        squares += handle.join().context("joining a square job")?;
    }
    pool.wait_idle().context("waiting for the pool to be idle")?;
    let (counter, idle) = (counter.load(Relaxed), pool.stats());

    // Graceful shutdown: the jobs still queued when it is called all run. The
    // first `held` jobs hold their workers at a gate (open once `gate` is
    // dropped), so the rest stay queued, counted. The gate opens right before
    // `shutdown` (which blocks until the workers end): a worker needs a
    // wake-up before it takes another job, so `shutdown` finds (nearly) all
    // of them still queued.
    let held = workers.min(jobs);
    let (gate, gate_rx) = crossbeam_channel::bounded::<()>(0);
    let ((tx, rx), (started_tx, started)) = (mpsc::channel(), mpsc::channel());
    for i in 0..jobs {
        let (tx, gate_rx, started_tx) =
            (tx.clone(), gate_rx.clone(), started_tx.clone());
        let job = move || {
            if i < held {
                let _ = started_tx.send(()); // `Err` only if `demo` gave up
                let _ = gate_rx.recv(); // `Err` once `gate` is dropped
            }
            tx.send(i).unwrap_or(()); // `rx` outlives the pool: cannot fail
        };
        pool.execute(job).context("execute before shutdown")?;
    }
    for n in 0..held {
        let timeout = |_| {
            anyhow!("only {n} of {held} workers took a gated job within 10 s")
        };
        started.recv_timeout(Duration::from_secs(10)).map_err(timeout)?;
    }
    drop(tx);
    let queued = pool.stats().queued;
    drop(gate);
    let last = pool.shutdown();
    // Every sender lived in a job, and shutdown ran and dropped every job.
    let sent = rx.iter().fold((0, 0), |(n, sum), i| (n + 1, sum + i));
    Ok(Report { counter, squares, idle, queued, sent, last })
}
// ANCHOR_END: demo

/// Prints [`demo`] with 4 workers and 100 jobs per phase.
pub fn run() -> Result<()> {
    println!("== pool: ThreadPool execute, spawn + join, stats, shutdown ==");
    let (answer, stats) = first().context("the smallest use")?;
    let (c, p) = (stats.completed, stats.panicked);
    println!("first: answer = {answer}; shutdown: completed {c}, panicked {p}");
    let (workers, jobs) = (4, 100);
    let Report { counter, squares, idle: s, queued, sent: (n, sum), last } =
        demo(workers, jobs)?;
    println!("execute: {jobs} jobs, counter = {counter}");
    println!("spawn + join: sum of squares 0..{jobs} = {squares}");
    let (w, q, a, c) = (s.workers, s.queued, s.active, s.completed);
    println!(
        "stats after wait_idle: workers {w}, queued {q}, active {a}, \
         completed {c}, panicked {}",
        s.panicked
    );
    println!(
        "before shutdown: {queued} jobs queued behind {workers} workers \
         held at a gate"
    );
    println!(
        "shutdown ran every queued job: received {n} values, \
         sum 0..{jobs} = {sum}"
    );
    let (c, p, q) = (last.completed, last.panicked, last.queued);
    println!("stats from shutdown: completed {c}, panicked {p}, cancelled {q}");
    println!(
        "notice: shutdown ran the {queued} queued jobs before it returned; \
         none was lost"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_use_gets_its_answer_and_both_jobs_run() {
        let (answer, stats) = first().expect("a pool of 4 starts");
        assert_eq!((answer, stats.completed, stats.panicked), (42, 2, 0));
    }

    /// A pool shut down right after queueing must run every queued job
    /// (a `Drop` that hangs, or one that drops the queue, fails this).
    #[test]
    fn every_job_runs_and_is_counted() {
        let r = demo(3, 50).expect("the demo runs");
        assert_eq!((r.counter, r.squares), (50, (0..50).map(|i| i * i).sum()));
        assert_eq!(
            (r.idle.completed, r.idle.queued, r.idle.active),
            (100, 0, 0)
        );
        assert_eq!(
            r.queued,
            50 - 3,
            "the jobs were queued when shutdown was called"
        );
        assert_eq!(r.sent, (50, 49 * 50 / 2));
        assert_eq!(
            (r.last.completed, r.last.panicked, r.last.queued),
            (150, 0, 0)
        );
    }
}
