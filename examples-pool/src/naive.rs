//! `naive`: the Rust Book's thread pool, a common first attempt: its
//! workers share one std `Receiver` behind a `Mutex`.
//!
//! Run it: `cargo run -p examples-pool -- naive`
//!
//! Four steps. [`FirstDraft`] is the pool with its `Drop` as it is often
//! first written: `drop(&self.sender)` drops a *reference*, a no-op, so the
//! channel stays open while `drop` joins the workers; each waits in `recv()`
//! for a job that never comes, and the first `join()` waits for ever. The
//! demo drops one on a helper thread and gives up after a timeout (the stuck
//! threads stay parked until the process exits). [`NaivePool`] is the fix:
//! the sender in an `Option`, taken and dropped *before* joining. Then four
//! panicking jobs on four workers: each panic unwinds out of its worker's
//! loop and ends that thread, so the jobs queued behind them never run.
//! Last, the fixed pool is timed against ptm's `ThreadPool`; a debug build
//! times unoptimised code, so the figure is only worth reading from
//! `cargo run --release -p examples-pool -- naive`, and even then 50,000
//! jobs take milliseconds: the pool-dispatch benchmark measures properly.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use ptm::ThreadPool;

// ANCHOR: start_workers
/// A job: any closure that runs once on another thread.
type Job = Box<dyn FnOnce() + Send>;

/// Starts `size` workers that share one receiver behind a mutex; each runs
/// jobs until the channel is closed and empty.
fn start_workers(size: usize) -> Result<(Sender<Job>, Vec<JoinHandle<()>>)> {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    let mut workers = Vec::new();
    for id in 0..size {
        let receiver = Arc::clone(&receiver);
        let work = move || loop {
            let guard = receiver.lock().unwrap_or_else(PoisonError::into_inner);
            let next = guard.recv(); // waits, holding the lock
            drop(guard); // let the next worker wait while this one works
            match next {
                Ok(job) => job(),
                Err(_) => break, // every Sender is gone, the queue is empty
            }
        };
        let spawned = thread::Builder::new().name(format!("naive-{id}"));
        workers.push(spawned.spawn(work).context("spawning a worker")?);
    }
    Ok((sender, workers))
}
// ANCHOR_END: start_workers

// ANCHOR: first_draft
/// The pool as it is often first written: dropping it never returns.
pub struct FirstDraft {
    sender: Sender<Job>,
    workers: Vec<JoinHandle<()>>,
}

impl Drop for FirstDraft {
    #[allow(dropping_references)] // rustc warns, rightly: this is a no-op
    fn drop(&mut self) {
        drop(&self.sender); // drops a reference: the channel stays open
        for worker in self.workers.drain(..) {
            let _ = worker.join(); // waits for ever: no worker's recv fails
        }
    }
}
// ANCHOR_END: first_draft

// ANCHOR: naive_pool
/// The same pool, fixed: dropping it runs the queued jobs, then joins.
pub struct NaivePool {
    /// `Some` until `Drop` takes it: dropping it closes the channel.
    sender: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl Drop for NaivePool {
    fn drop(&mut self) {
        drop(self.sender.take()); // the fix: close the channel, then join
        for worker in self.workers.drain(..) {
            let _ = worker.join(); // `Err` if a job panicked on that worker
        }
    }
}
// ANCHOR_END: naive_pool

impl NaivePool {
    /// Starts `size` workers.
    pub fn new(size: usize) -> Result<NaivePool> {
        let (sender, workers) = start_workers(size)?;
        Ok(NaivePool { sender: Some(sender), workers })
    }

    /// Queues `f`; fails only once every worker has died of a panic.
    pub fn execute(&self, f: impl FnOnce() + Send + 'static) -> Result<()> {
        let sender = self.sender.as_ref().context("the pool is shut down")?;
        sender.send(Box::new(f)).map_err(|_| anyhow!("every worker has died"))
    }
}

/// How long [`first_draft_drop`] waits for `drop` to return.
pub const PATIENCE: Duration = Duration::from_millis(200);

/// Runs `jobs` jobs on a [`FirstDraft`] of 4, then drops it on a helper
/// thread: returns the jobs that ran, and whether `drop` returned within
/// [`PATIENCE`] (it never does; the helper and the workers stay parked).
pub fn first_draft_drop(jobs: usize) -> Result<(usize, bool)> {
    let (sender, workers) = start_workers(4)?;
    let pool = FirstDraft { sender, workers };
    let (ran_tx, ran) = mpsc::channel();
    for _ in 0..jobs {
        let ran_tx = ran_tx.clone();
        let job = Box::new(move || _ = ran_tx.send(()));
        pool.sender.send(job).map_err(|_| anyhow!("every worker died"))?;
    }
    let (dropped_tx, dropped) = mpsc::channel();
    thread::spawn(move || {
        drop(pool);
        let _ = dropped_tx.send(());
    });
    let ran = ran.iter().take(jobs).count(); // every job runs, but
    Ok((ran, dropped.recv_timeout(PATIENCE).is_ok())) // drop never returns
}

/// Runs `jobs` jobs on a [`NaivePool`] of 4 and drops it: returns the jobs
/// that ran (all of them: the fixed `Drop` returns once they have).
pub fn fixed_drop(jobs: usize) -> Result<usize> {
    let pool = NaivePool::new(4)?;
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..jobs {
        let ran = Arc::clone(&ran);
        pool.execute(move || _ = ran.fetch_add(1, Relaxed))?;
    }
    drop(pool); // closes the channel; the workers run what is queued, end
    Ok(ran.load(Relaxed)) // Relaxed: the joins ordered every job before
}

// ANCHOR: panics_kill_workers
/// On a [`NaivePool`] of `workers`: `workers` jobs that panic, then
/// `workers` that count. Returns how many of the counting jobs ran.
pub fn panics_kill_workers(workers: usize) -> Result<usize> {
    let pool = NaivePool::new(workers)?;
    let ran = Arc::new(AtomicUsize::new(0));
    for i in 0..workers {
        pool.execute(move || panic!("job {i} fails on purpose"))?;
    }
    for _ in 0..workers {
        let ran = Arc::clone(&ran);
        // Refused once every worker has died: that job does not run either.
        let _ = pool.execute(move || _ = ran.fetch_add(1, Relaxed));
    }
    drop(pool); // joins the dead workers; the jobs they left are dropped
    Ok(ran.load(Relaxed)) // Relaxed: the joins ordered every job before
}
// ANCHOR_END: panics_kill_workers

/// Runs of each pool in [`time_both`]; the median time is printed.
const REPS: usize = 5;

/// Times `jobs` tiny jobs, submitted, then waited for by shutting the pool
/// down, on [`NaivePool`] and [`ThreadPool`], [`REPS`] times each: (median
/// time, the jobs that ran in each run).
pub fn time_both(
    workers: usize,
    jobs: usize,
) -> Result<[(Duration, Vec<usize>); 2]> {
    let mut runs = [Vec::new(), Vec::new()];
    for _ in 0..REPS {
        let ran = Arc::new(AtomicUsize::new(0));
        let job = || {
            let ran = Arc::clone(&ran);
            move || _ = ran.fetch_add(1, Relaxed) // read after the joins
        };
        let (pool, began) = (NaivePool::new(workers)?, Instant::now());
        (0..jobs).try_for_each(|_| pool.execute(job()))?;
        drop(pool); // the fixed `Drop`: runs what is queued, joins, returns
        runs[0].push((began.elapsed(), ran.swap(0, Relaxed)));
        let pool = ThreadPool::new(workers).context("starting a pool")?;
        let began = Instant::now();
        (0..jobs).try_for_each(|_| pool.execute(job()))?;
        pool.shutdown(); // runs what is queued, joins every worker
        runs[1].push((began.elapsed(), ran.swap(0, Relaxed)));
    }
    Ok(runs.map(|runs| {
        // The median of the runs' times, from a histogram (1 ns to an hour,
        // 3 significant digits).
        let mut times = hdrhistogram::Histogram::<u64>::new_with_bounds(
            1,
            3_600_000_000_000,
            3,
        )
        .expect("constant bounds are valid");
        for (took, _) in &runs {
            times.saturating_record(
                u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
            );
        }
        let median = Duration::from_nanos(times.value_at_quantile(0.5));
        (median, runs.into_iter().map(|(_, ran)| ran).collect())
    }))
}

/// `50000 jobs ran in each run`, or every run's count if they differ.
fn describe_ran(ran: &[usize]) -> String {
    match ran {
        [first, rest @ ..] if rest.iter().all(|n| n == first) => {
            format!("{first} jobs ran in each run")
        }
        _ => format!("jobs ran per run: {ran:?}"),
    }
}

/// Prints each step, the timing with 50000 jobs on 4 workers.
pub fn run() -> Result<()> {
    println!(
        "== naive: the Rust Book's Mutex<Receiver> pool, a common first \
         attempt =="
    );
    let (ran, returned) = first_draft_drop(100)?;
    let ms = PATIENCE.as_millis();
    println!("first draft: {ran} of 100 jobs ran, then drop(pool) was called");
    match returned {
        false => println!(
            "first draft: still in drop after {ms} ms (a hang, cut by a \
             timeout)"
        ),
        true => println!("first draft: drop returned (unexpected)"),
    }
    let ran = fixed_drop(100)?;
    println!(
        "fixed (sender dropped before joining): drop returned, {ran} of 100 \
         jobs ran"
    );
    let others = crate::with_one_line_panics(|| panics_kill_workers(4))?;
    println!(
        "4 panicking jobs, then 4 others: {others} of 4 ran (each panic \
         killed a worker)"
    );
    let (workers, jobs) = (4, 50_000);
    let [(naive, naive_ran), (ptm, ptm_ran)] = time_both(workers, jobs)?;
    println!("{jobs} tiny jobs on {workers} workers, median of {REPS} runs:");
    let (naive_ran, ptm_ran) =
        (describe_ran(&naive_ran), describe_ran(&ptm_ran));
    println!("fixed naive pool: {naive_ran}, {naive:.2?} (drop returned)");
    println!("ptm ThreadPool:   {ptm_ran}, {ptm:.2?}");
    let ratio = naive.as_secs_f64() / ptm.as_secs_f64().max(1e-9);
    let note = match crate::DEBUG_NOTE {
        "" => "(a few milliseconds: noisy; the benchmarks measure it)",
        debug => debug,
    };
    println!("naive / ptm time = {ratio:.2}x {note}");
    println!(
        "notice: close the queue before joining the workers, or the pool \
         cannot stop"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Drop` that drops a reference to the sender hangs: every job ran,
    /// yet `drop` had not returned after the timeout.
    #[test]
    fn the_first_draft_runs_every_job_and_then_hangs_in_drop() {
        let (ran, returned) = first_draft_drop(10).expect("the pool starts");
        assert_eq!((ran, returned), (10, false));
    }

    /// The fixed `Drop` returns with every job run, in every run. A `Drop`
    /// that hangs again fails this test after 10 s.
    #[test]
    fn the_fixed_drop_returns_with_every_job_run() {
        let ran = crate::within_10s("fixed_drop", || fixed_drop(100));
        assert_eq!(ran.expect("the pool starts"), 100);
    }

    #[test]
    fn both_pools_run_every_job_and_shut_down() {
        let timed = crate::within_10s("time_both", || time_both(3, 1000));
        let [naive, ptm] = timed.expect("both pools run");
        assert_eq!((naive.1, ptm.1), (vec![1000; REPS], vec![1000; REPS]));
    }

    /// One panicking job per worker kills them all: nothing runs after.
    #[test]
    fn a_panicking_job_kills_its_worker() {
        assert_eq!(panics_kill_workers(3).expect("the pool starts"), 0);
    }

    #[test]
    fn a_short_run_is_shown_run_by_run() {
        assert_eq!(describe_ran(&[5, 5]), "5 jobs ran in each run");
        assert_eq!(describe_ran(&[5, 4]), "jobs ran per run: [5, 4]");
    }
}
