//! `async`: a `JobHandle` awaited from async code, a shutdown with a
//! deadline, and the worker start and stop hooks.
//!
//! Run it: `cargo run -p examples-pool -- async`
//!
//! A `JobHandle` is a `Future`: any executor can await it, and the worker
//! that finishes the job wakes the task's `Waker`. [`first`] awaits two
//! from [`block_on`], an executor of a dozen lines with std only (tokio's
//! `block_on` or `.await` in a tokio task work the same way). [`several`]
//! awaits a few, one of which panics: the panic arrives as
//! `JobError::Panicked`. [`cancelled`] awaits a job that `shutdown_now`
//! dropped unrun: `JobError::Cancelled`.
//!
//! [`deadline`] shows `shutdown_timeout` giving up on a job that does not
//! return in time, and the worker finishing on its own once the job is
//! released; [`in_time`] the same call when every job finishes: the exact
//! counts of `shutdown`. [`hooks`] runs code on each worker as it starts
//! and as it stops, and [`detached`] uses a stop hook to show that the
//! worker `shutdown_timeout` left behind stops once its job returns.

use std::future::Future;
use std::pin::pin;
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use anyhow::{Context as _, Result};
use ptm::pool::{JobError, PoolStats};
use ptm::{Error, ThreadPool};

// ANCHOR: first
/// Async code that hands work to the pool and awaits the results.
async fn answer(pool: &ThreadPool) -> ptm::Result<i32> {
    let six = pool.spawn(|| 6)?.await?; // a JobHandle is a Future
    let seven = pool.spawn(|| 7)?.await?;
    Ok(six * seven)
}

/// Runs [`answer`] on a pool of 2, from a minimal executor (any will do).
pub fn first() -> ptm::Result<i32> {
    let pool = ThreadPool::new(2)?;
    block_on(answer(&pool))
}
// ANCHOR_END: first

// ANCHOR: block_on
/// A `Waker` that unparks the thread that polls.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// The smallest executor: polls `future` on this thread, and parks the
/// thread between polls until the future's `Waker` is woken.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => thread::park(), // until woken (or spuriously)
        }
    }
}
// ANCHOR_END: block_on

// ANCHOR: several
/// Several handles awaited one after another; the last job panics.
pub fn several(pool: &ThreadPool) -> ptm::Result<Vec<Result<u64, JobError>>> {
    let mut handles = Vec::new();
    for i in 1..=3 {
        handles.push(pool.spawn(move || i * 10)?);
    }
    handles.push(pool.spawn(|| -> u64 { panic!("on purpose") })?);
    Ok(block_on(async {
        let mut results = Vec::new();
        for handle in handles {
            results.push(handle.await); // the value, or the panic as an Err
        }
        results
    }))
}
// ANCHOR_END: several

// ANCHOR: cancelled
/// A job still queued when `shutdown_now` is called is dropped unrun; its
/// handle, awaited, says so. Returns that, and the count of cancelled jobs.
pub fn cancelled() -> ptm::Result<(Result<u32, JobError>, usize)> {
    let pool = ThreadPool::new(1)?;
    let (started_tx, started) = mpsc::channel();
    let (alive, dropped) = mpsc::channel::<()>();
    pool.execute(move || {
        let _ = started_tx.send(());
        let _ = dropped.recv(); // returns once the job below is dropped
    })?;
    let queued = pool.spawn(move || {
        drop(alive);
        1
    })?;
    let _ = started.recv(); // the only worker is busy: `queued` waits
    let stats = pool.shutdown_now(); // drops `queued` unrun
    Ok((block_on(queued), stats.queued))
}
// ANCHOR_END: cancelled

// ANCHOR: deadline
/// `shutdown_timeout` on a pool with a job that does not return in time.
pub fn deadline(patience: Duration) -> ptm::Result<PoolStats> {
    let pool = ThreadPool::new(2)?;
    let (release, stuck) = mpsc::channel::<()>();
    pool.execute(move || {
        let _ = stuck.recv(); // returns once released
    })?;
    pool.execute(|| {})?;
    let outcome = pool.shutdown_timeout(patience); // gives up: Err
    drop(release); // the stuck job returns; its worker then exits
    outcome
}
// ANCHOR_END: deadline

// ANCHOR: in_time
/// `shutdown_timeout` when every job finishes in time: `shutdown`'s counts.
pub fn in_time(jobs: usize) -> ptm::Result<PoolStats> {
    let pool = ThreadPool::new(2)?;
    for _ in 0..jobs {
        pool.execute(|| {})?;
    }
    pool.shutdown_timeout(Duration::from_secs(10))
}
// ANCHOR_END: in_time

// ANCHOR: hooks
/// The calling thread's name.
fn me() -> String {
    thread::current().name().unwrap_or("?").to_owned()
}

/// Code that runs on each worker as it starts and as it stops. The hooks
/// report to a channel; the workers run in parallel, so the reports are
/// sorted.
pub fn hooks() -> ptm::Result<Vec<String>> {
    let (start_tx, reports) = mpsc::channel();
    let stop_tx = start_tx.clone();
    let pool = ThreadPool::builder()
        .workers(2)
        .on_thread_start(move |i| {
            let _ = start_tx.send(format!("worker {i} starts on {}", me()));
        })
        .on_thread_stop(move |i| {
            let _ = stop_tx.send(format!("worker {i} stops on {}", me()));
        })
        .build()?;
    drop(pool); // shuts down: each worker runs its stop hook, then exits
    let mut reports: Vec<String> = reports.iter().collect(); // hooks gone
    reports.sort();
    Ok(reports)
}
// ANCHOR_END: hooks

// ANCHOR: detached
/// [`deadline`] again, with a stop hook: the worker that `shutdown_timeout`
/// left behind runs it too, once its job has been released. Returns the
/// outcome and how many workers ran their stop hook.
pub fn detached(
    patience: Duration,
) -> ptm::Result<(Result<PoolStats, Error>, usize)> {
    let (stop_tx, stopped) = mpsc::channel();
    let pool = ThreadPool::builder()
        .workers(2)
        .on_thread_stop(move |index| {
            let _ = stop_tx.send(index);
        })
        .build()?;
    let (release, stuck) = mpsc::channel::<()>();
    pool.execute(move || {
        let _ = stuck.recv(); // returns once released
    })?;
    let outcome = pool.shutdown_timeout(patience); // gives up: Err
    drop(release);
    let stopped = stopped.iter().count(); // ends once every hook is gone
    Ok((outcome, stopped))
}
// ANCHOR_END: detached

/// What [`demo`] saw, step by step.
#[derive(Debug)]
pub struct Report {
    /// [`first`]'s answer.
    pub answer: i32,
    /// [`several`]'s results.
    pub several: Vec<Result<u64, JobError>>,
    /// [`cancelled`]: the awaited result, and the cancelled count.
    pub cancelled: (Result<u32, JobError>, usize),
    /// [`deadline`]'s outcome.
    pub deadline: ptm::Result<PoolStats>,
    /// [`in_time`]'s stats for [`IN_TIME_JOBS`] jobs.
    pub in_time: PoolStats,
    /// [`hooks`]' reports.
    pub hooks: Vec<String>,
    /// [`detached`]: the outcome, and the workers that ran their stop hook.
    pub detached: (ptm::Result<PoolStats>, usize),
}

/// How long [`deadline`] gives the pool to shut down.
pub const PATIENCE: Duration = Duration::from_millis(200);
/// The jobs of [`in_time`] in the demo.
pub const IN_TIME_JOBS: usize = 100;

/// Runs every step of the module docs.
pub fn demo() -> Result<Report> {
    let answer = first().context("awaiting one handle")?;
    let pool = ThreadPool::new(2).context("starting 2 workers")?;
    let several = several(&pool).context("awaiting several handles")?;
    drop(pool);
    let cancelled = cancelled().context("awaiting a cancelled job")?;
    let deadline = match deadline(PATIENCE) {
        // What the step shows: `shutdown_timeout` gave up.
        gave_up @ Err(Error::ShutdownTimeout { .. }) => gave_up,
        Err(error) => return Err(error).context("starting a pool of 2"),
        finished @ Ok(_) => finished,
    };
    let in_time = in_time(IN_TIME_JOBS).context("a shutdown in time")?;
    let hooks = hooks().context("a pool with hooks")?;
    let detached = detached(PATIENCE).context("a pool with a stop hook")?;
    Ok(Report {
        answer,
        several,
        cancelled,
        deadline,
        in_time,
        hooks,
        detached,
    })
}

/// Prints [`demo`].
pub fn run() -> Result<()> {
    println!("== async: await a JobHandle, shutdown with a deadline, hooks ==");
    let r = crate::with_one_line_panics(demo)?;
    println!("first: block_on(answer(&pool)) = Ok({})", r.answer);
    for result in &r.several {
        println!("several: handle.await = {result:?}");
    }
    let (result, count) = &r.cancelled;
    println!(
        "after shutdown_now: handle.await = {result:?} ({count} cancelled)"
    );
    let ms = PATIENCE.as_millis();
    match &r.deadline {
        Err(Error::ShutdownTimeout { running, stats }) => println!(
            "a stuck job: shutdown_timeout({ms} ms) gave up: {running} \
             running, {} completed",
            stats.completed
        ),
        other => println!("a stuck job: unexpected: {other:?}"),
    }
    let s = &r.in_time;
    println!(
        "in time: shutdown_timeout -> Ok: completed {}, panicked {}, \
         cancelled {}",
        s.completed, s.panicked, s.queued
    );
    for report in &r.hooks {
        println!("hooks: {report}");
    }
    let (outcome, stopped) = &r.detached;
    let gave_up = matches!(outcome, Err(Error::ShutdownTimeout { .. }));
    println!(
        "a stuck job again: shutdown_timeout gave up: {gave_up}; released,"
    );
    println!("  its worker stopped too: {stopped} of 2 ran their stop hook");
    println!(
        "notice: a JobHandle is a Future; shutdown_timeout returns even if \
         a job hangs"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_awaited_handle_gives_the_value() {
        assert_eq!(first().expect("a pool of 2 starts"), 42);
    }

    #[test]
    fn awaited_handles_give_values_and_a_panic_as_an_error() {
        let pool = ThreadPool::new(2).expect("a pool of 2 starts");
        let results = crate::within_10s("several", move || {
            several(&pool).expect("jobs are queued")
        });
        let panicked = Err(JobError::Panicked("on purpose".to_owned()));
        assert_eq!(results, [Ok(10), Ok(20), Ok(30), panicked]);
    }

    #[test]
    fn a_job_dropped_by_shutdown_now_is_awaited_as_cancelled() {
        let (result, count) = crate::within_10s("cancelled", || {
            cancelled().expect("a pool of 1 starts")
        });
        assert_eq!((result, count), (Err(JobError::Cancelled), 1));
    }

    /// `shutdown_timeout` returns about when it should, with the stuck
    /// job's worker counted.
    #[test]
    fn shutdown_timeout_gives_up_on_a_stuck_job() {
        let started = std::time::Instant::now();
        let outcome = crate::within_10s("deadline", || {
            deadline(Duration::from_millis(50))
        });
        assert!(started.elapsed() >= Duration::from_millis(50));
        match outcome {
            Err(Error::ShutdownTimeout { running, .. }) => {
                assert_eq!(running, 1);
            }
            other => panic!("expected ShutdownTimeout, got {other:?}"),
        }
    }

    /// The worker left behind still stops (and runs its stop hook) once
    /// its job is released: nothing is left running.
    #[test]
    fn a_worker_left_behind_stops_once_its_job_returns() {
        let (outcome, stopped) = crate::within_10s("detached", || {
            detached(Duration::from_millis(50)).expect("a pool of 2 starts")
        });
        assert!(matches!(
            outcome,
            Err(Error::ShutdownTimeout { running: 1, .. })
        ));
        assert_eq!(stopped, 2, "both workers ran their stop hook");
    }

    #[test]
    fn shutdown_timeout_in_time_returns_exact_counts() {
        let stats = in_time(100).expect("every job finishes in time");
        assert_eq!(
            (stats.completed, stats.panicked, stats.queued),
            (100, 0, 0)
        );
    }

    /// Each hook runs once per worker, on that worker's thread.
    #[test]
    fn hooks_run_once_per_worker_on_that_worker() {
        let expected = [
            "worker 0 starts on ptm-worker-0",
            "worker 0 stops on ptm-worker-0",
            "worker 1 starts on ptm-worker-1",
            "worker 1 stops on ptm-worker-1",
        ];
        assert_eq!(hooks().expect("a pool of 2 starts"), expected);
    }
}
