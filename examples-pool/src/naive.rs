//! `naive`: the seed's `Mutex<Receiver>` pool (the Rust Book's first draft),
//! fixed just enough to shut down, timed against ptm's `ThreadPool`. Answers
//! "Thread Pool" in `process-and-thread-management.md`.
//! Run it: `cargo run -p examples-pool -- naive`
//!
//! The seed's `Drop` never returns: `drop(&self.sender)` drops a *reference*,
//! a no-op; the `Sender` field lives until `Drop::drop` returns, so the channel
//! is open while it joins: each worker waits in `recv()` (or for the mutex
//! around it) for a job that never comes, never gets the `Err` that would
//! `break` its loop, and the first `join()` waits for ever. The fix: keep the
//! sender in an `Option` and drop it *before* joining. Also fixed (they panic):
//! `thread::spawn` and `join().unwrap()` (a panicking job still kills its
//! worker: see `panics`). The per-job `println!` is gone: it would dominate.
//!
//! A debug build times unoptimised code on both sides (std's `mpsc` is
//! generic, so it is compiled into this crate at its opt level, as is ptm's
//! crossbeam queue): for meaningful numbers run
//! `cargo run --release -p examples-pool -- naive`. One such run on a 2-core
//! VM printed 5.06 ms (naive) vs 5.55 ms (ptm), 0.91x; three more gave 0.39x,
//! 0.73x and 5.13x: at this size the ratio is mostly scheduling noise.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ptm::ThreadPool;

// ANCHOR: naive_pool
/// The seed's pool, fixed: dropping it runs the queued jobs and joins.
pub struct NaivePool {
    workers: Vec<thread::JoinHandle<()>>,
    /// `Some` until `Drop` takes it: dropping it closes the channel.
    sender: Option<mpsc::Sender<Box<dyn FnOnce() + Send>>>,
}

impl NaivePool {
    /// Starts `size` workers that share one receiver behind a mutex.
    pub fn new(size: usize) -> Result<NaivePool> {
        let (sender, receiver) = mpsc::channel();
        let receiver = Arc::new(Mutex::new(receiver));
        let mut pool = NaivePool { workers: Vec::new(), sender: Some(sender) };
        for id in 0..size {
            let receiver = Arc::clone(&receiver);
            let worker = thread::Builder::new()
                .name(format!("naive-{id}"))
                .spawn(move || loop {
                    // The guard is a temporary of this statement: it is released
                    // before the job runs. Poison cannot hurt a `Receiver`.
                    let job = receiver
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => break, // the sender is gone and the queue is empty
                    }
                });
            pool.workers.push(
                worker
                    .with_context(|| format!("spawning naive worker {id}"))?,
            );
        }
        Ok(pool)
    }

    /// Queues `f`; fails only once every worker has died of a panicking job.
    pub fn execute(&self, f: impl FnOnce() + Send + 'static) -> Result<()> {
        let sent = self
            .sender
            .as_ref()
            .and_then(|sender| sender.send(Box::new(f)).ok());
        sent.context("every naive worker has died")
    }
}

impl Drop for NaivePool {
    fn drop(&mut self) {
        drop(self.sender.take()); // the fix: close the channel, *then* join
        for worker in self.workers.drain(..) {
            let _ = worker.join(); // `Err` only if a job panicked on that worker
        }
    }
}
// ANCHOR_END: naive_pool

/// Runs of each pool; the median time is printed.
const REPS: usize = 5;

/// Times `jobs` tiny jobs, submitted, then waited for by shutting the pool
/// down, on [`NaivePool`] and [`ThreadPool`], [`REPS`] times each: (median
/// time, the jobs that ran in each run).
pub fn demo(workers: usize, jobs: u64) -> Result<[(Duration, Vec<u64>); 2]> {
    let mut runs = [Vec::new(), Vec::new()];
    for _ in 0..REPS {
        let ran = Arc::new(AtomicU64::new(0));
        let job = || {
            let ran = Arc::clone(&ran);
            move || _ = ran.fetch_add(1, Relaxed) // Relaxed: read after the joins
        };
        let (pool, began) = (NaivePool::new(workers)?, Instant::now());
        (0..jobs).try_for_each(|_| pool.execute(job()))?;
        drop(pool); // the fixed `Drop`: runs what is queued, joins, returns
        runs[0].push((began.elapsed(), ran.swap(0, Relaxed)));
        let (pool, began) = (
            ThreadPool::new(workers).context("starting a pool")?,
            Instant::now(),
        );
        (0..jobs).try_for_each(|_| pool.execute(job()))?;
        pool.shutdown(); // runs what is queued, joins every worker
        runs[1].push((began.elapsed(), ran.swap(0, Relaxed)));
    }
    Ok(runs.map(|runs| {
        let mut times: Vec<Duration> =
            runs.iter().map(|&(time, _)| time).collect();
        times.sort_unstable();
        (times[REPS / 2], runs.into_iter().map(|(_, ran)| ran).collect())
    }))
}

/// `50000 jobs ran in each run`, or every run's count if they differ.
fn describe_ran(ran: &[u64]) -> String {
    match ran {
        [first, rest @ ..] if rest.iter().all(|n| n == first) => {
            format!("{first} jobs ran in each run")
        }
        _ => format!("jobs ran per run: {ran:?}"),
    }
}

/// Prints [`demo`] for 50000 jobs on 4 workers.
pub fn run() -> Result<()> {
    println!("== naive: the seed's Mutex<Receiver> pool, fixed, vs ptm ThreadPool ==");
    let (workers, jobs) = (4, 50_000);
    let [(naive, naive_ran), (ptm, ptm_ran)] = demo(workers, jobs)?;
    println!("{jobs} tiny jobs on {workers} workers, median of {REPS} runs");
    let (naive_ran, ptm_ran) =
        (describe_ran(&naive_ran), describe_ran(&ptm_ran));
    println!(
        "naive Mutex<Receiver> pool: {naive_ran}, {naive:.2?} (drop returned)"
    );
    println!("ptm ThreadPool:             {ptm_ran}, {ptm:.2?}");
    println!(
        "naive / ptm time = {:.2}x",
        naive.as_secs_f64() / ptm.as_secs_f64().max(1e-9)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "Thread Pool" (process-and-thread-management.md): the seed's `Drop`
    /// hangs; the fixed one returns with every job run (`demo` drops it), in
    /// every run. A `Drop` that hangs again fails this test after 10 s.
    #[test]
    fn both_pools_run_every_job_and_shut_down() {
        let [naive, ptm] = crate::within_10s("naive::demo", || demo(3, 1000))
            .expect("demo runs");
        assert_eq!((naive.1, ptm.1), (vec![1000; REPS], vec![1000; REPS]));
    }

    #[test]
    fn a_short_run_is_shown_run_by_run() {
        assert_eq!(describe_ran(&[5, 5]), "5 jobs ran in each run");
        assert_eq!(describe_ran(&[5, 4]), "jobs ran per run: [5, 4]");
    }
}
