//! `scope`: jobs that borrow, a panic in a scope, and fork-join on a pool
//! whose joins help instead of blocking.
//!
//! Run it: `cargo run -p examples-pool -- scope`
//!
//! [`first`] is the smallest use of `ThreadPool::scope`: jobs that each
//! change their own piece of a `Vec` in place, with no `Arc` and no copy,
//! because `scope` returns only once every job spawned in it has finished.
//! (`ThreadPool::spawn` cannot do that: its job must be `'static`, and a
//! closure that borrows a local does not compile; the book shows the error.)
//! [`a_panic`] shows a scoped job that panics: the others still run, and the
//! panic comes out of `scope` after them.
//!
//! Then fork-join: [`sum`] splits a slice in two, sums one half in a scoped
//! job and the other itself, recursively. Every scope but the first waits on
//! a worker of the pool, and a wait on a worker runs queued jobs instead of
//! blocking, so two workers are enough however deep the splitting goes.
//! [`wait_on_a_channel`] is what happens without that: on a pool of 1, a job
//! that blocks in a channel's `recv` for a job queued behind it waits for
//! ever (the demo proves it with `shutdown_timeout`, then releases it).
//! [`join_helps`] is the fix: the job spawns what it waits for and joins
//! it, and each `join` runs the queued job on the only worker.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::{Context, Result};
use ptm::pool::PoolStats;
use ptm::{Error, ThreadPool};

// ANCHOR: first
/// Jobs that borrow: each squares its own piece of `data`, in place.
pub fn first() -> ptm::Result<Vec<u64>> {
    let pool = ThreadPool::new(2)?;
    let mut data: Vec<u64> = (1..=10).collect();
    pool.scope(|s| {
        for piece in data.chunks_mut(4) {
            s.spawn(move || piece.iter_mut().for_each(|x| *x *= *x));
        }
    }); // returns once every job has finished: the borrows end here
    Ok(data)
}
// ANCHOR_END: first

// ANCHOR: a_panic
/// Four scoped jobs, one of which panics. Returns how many of the others
/// had run when the panic came out of `scope`, and the panic's message.
pub fn a_panic(pool: &ThreadPool) -> (usize, Option<String>) {
    let ran = AtomicUsize::new(0);
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        pool.scope(|s| {
            for i in 0..4 {
                let ran = &ran;
                s.spawn(move || {
                    if i == 2 {
                        panic!("job {i} failed on purpose");
                    }
                    ran.fetch_add(1, Relaxed);
                });
            }
        })
    }));
    let message = outcome.err().map(|payload| match payload.downcast() {
        Ok(message) => *message,
        Err(_) => "(not a String)".to_owned(),
    });
    (ran.into_inner(), message)
}
// ANCHOR_END: a_panic

// ANCHOR: sum
/// Sums `numbers` by splitting it in two: the left half in a scoped job,
/// the right half here, each split again until it is short.
pub fn sum(pool: &ThreadPool, numbers: &[u64]) -> u64 {
    if numbers.len() <= 1_000 {
        return numbers.iter().sum();
    }
    let (left, right) = numbers.split_at(numbers.len() / 2);
    let (mut left_sum, mut right_sum) = (0, 0);
    pool.scope(|s| {
        s.spawn(|| left_sum = sum(pool, left));
        right_sum = sum(pool, right);
    }); // waiting on a worker, it runs queued jobs (maybe the left half)
    left_sum + right_sum
}
// ANCHOR_END: sum

// ANCHOR: wait_on_a_channel
/// A common first attempt at waiting for another job: a channel. On a pool
/// of 1, the job that waits holds the only worker, and the job it waits
/// for is queued behind it: neither can go on.
pub fn wait_on_a_channel(patience: Duration) -> ptm::Result<PoolStats> {
    let pool = ThreadPool::new(1)?;
    let (tx, rx) = mpsc::channel();
    let release = tx.clone();
    pool.execute(move || {
        let _ = rx.recv(); // the waiter: blocks until a value comes
    })?;
    pool.execute(move || {
        let _ = tx.send(42); // queued behind the waiter
    })?;
    let outcome = pool.shutdown_timeout(patience); // gives up: Err
    let _ = release.send(0); // frees the waiter; its worker then exits
    outcome
}
// ANCHOR_END: wait_on_a_channel

// ANCHOR: join_helps
/// The fix: the job spawns the jobs it waits for and joins them. On a pool
/// of 1, each `join` runs the queued jobs itself, on the only worker.
pub fn join_helps(jobs: u64) -> ptm::Result<(u64, ptm::Result<()>)> {
    let pool = Arc::new(ThreadPool::new(1)?);
    let p = Arc::clone(&pool);
    let handle = pool.spawn(move || {
        let handles: Vec<_> =
            (1..=jobs).map(|i| p.spawn(move || i).expect("queued")).collect();
        let sum = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
        (sum, p.wait_idle()) // Err(WouldDeadlock): it would wait for itself
    })?;
    Ok(handle.join()?)
}
// ANCHOR_END: join_helps

/// What [`demo`] saw, step by step.
#[derive(Debug)]
pub struct Report {
    /// [`first`]'s data after its scope.
    pub squares: Vec<u64>,
    /// [`a_panic`]: the jobs that ran, and the panic's message.
    pub panic: (usize, Option<String>),
    /// [`sum`] of `0..FORK_JOIN_N` on 2 workers, and the pool's stats.
    pub fork_join: (u64, PoolStats),
    /// [`wait_on_a_channel`]'s outcome: `shutdown_timeout`'s.
    pub channel: ptm::Result<PoolStats>,
    /// [`join_helps`]: the sum of 1..=JOINED, and `wait_idle` from the job.
    pub joined: (u64, ptm::Result<()>),
}

/// The numbers [`sum`] adds up in the demo: 0 to this, excluded.
pub const FORK_JOIN_N: u64 = 1_000_000;
/// The jobs that [`join_helps`] spawns and joins in the demo.
pub const JOINED: u64 = 100;
/// How long [`wait_on_a_channel`] gives the pool to shut down.
pub const PATIENCE: Duration = Duration::from_millis(200);

/// Runs every step of the module docs.
pub fn demo() -> Result<Report> {
    let squares = first().context("the smallest scope")?;
    let pool = ThreadPool::new(2).context("starting 2 workers")?;
    let panic = a_panic(&pool);
    drop(pool);
    let pool = ThreadPool::new(2).context("starting 2 workers")?;
    let numbers: Vec<u64> = (0..FORK_JOIN_N).collect();
    let total = sum(&pool, &numbers);
    let fork_join = (total, pool.shutdown());
    let channel = match wait_on_a_channel(PATIENCE) {
        // What the step shows: `shutdown_timeout` gave up.
        gave_up @ Err(Error::ShutdownTimeout { .. }) => gave_up,
        Err(error) => return Err(error).context("starting a pool of 1"),
        finished @ Ok(_) => finished,
    };
    let joined = join_helps(JOINED).context("joins on a pool of 1")?;
    Ok(Report { squares, panic, fork_join, channel, joined })
}

/// Prints [`demo`].
pub fn run() -> Result<()> {
    println!("== scope: jobs that borrow, a panic in a scope, fork-join ==");
    let r = crate::with_one_line_panics(demo)?;
    println!("first: the scope squared data in place: {:?}", r.squares);
    let (ran, message) = &r.panic;
    let message = message.as_deref().unwrap_or("(none: scope returned)");
    println!("a panicking scoped job: {ran} of the other 3 jobs ran, then");
    println!("  scope panicked in the caller: {message}");
    let (total, stats) = &r.fork_join;
    println!("fork-join on 2 workers: sum of 0..{FORK_JOIN_N} = {total}");
    println!("  by recursive scopes: {} scoped jobs", stats.completed);
    let ms = PATIENCE.as_millis();
    match &r.channel {
        Err(Error::ShutdownTimeout { running, stats }) => println!(
            "recv on a pool of 1: shutdown_timeout({ms} ms) gave up: \
             {running} running, {} queued",
            stats.queued
        ),
        Err(other) => println!("recv on a pool of 1: unexpected: {other}"),
        Ok(_) => println!("recv on a pool of 1: unexpected: it finished"),
    }
    let (sum, waited) = &r.joined;
    println!("join on a pool of 1: a job spawned and joined {JOINED} jobs,");
    println!("  their sum = {sum}");
    println!("  and its own wait_idle() = {waited:?}");
    println!(
        "notice: a join or scope on a worker runs queued jobs while it \
         waits; recv blocks"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_jobs_change_the_borrowed_vec_in_place() {
        let squares = first().expect("a pool of 2 starts");
        assert_eq!(squares, (1..=10u64).map(|x| x * x).collect::<Vec<_>>());
    }

    /// The panic comes out of `scope` only after the other jobs ran.
    #[test]
    fn a_scoped_panic_is_resumed_after_the_other_jobs_finished() {
        let pool = ThreadPool::new(2).expect("a pool of 2 starts");
        let (ran, message) = a_panic(&pool);
        assert_eq!(ran, 3);
        assert_eq!(message.as_deref(), Some("job 2 failed on purpose"));
        let stats = pool.shutdown();
        assert_eq!((stats.completed, stats.panicked), (3, 1));
    }

    /// Every scope but the outermost waits on a worker: on 2 workers, and
    /// on 1, it must help or the recursion waits for ever.
    #[test]
    fn recursive_scopes_sum_on_two_workers_and_on_one() {
        for workers in [2, 1] {
            let (total, stats) = crate::within_10s("fork-join", move || {
                let pool = ThreadPool::new(workers).expect("the pool starts");
                let numbers: Vec<u64> = (0..1_000_000).collect();
                (sum(&pool, &numbers), pool.shutdown())
            });
            assert_eq!(total, 999_999 * 1_000_000 / 2, "{workers} workers");
            // 1,024 leaves of at most 1,000 numbers: 1,023 splits.
            assert_eq!((stats.completed, stats.panicked), (1023, 0));
        }
    }

    /// A job blocked in `recv` for a job queued behind it on a pool of 1
    /// never finishes: `shutdown_timeout` gives up with both counted.
    #[test]
    fn a_job_waiting_on_a_channel_for_a_queued_job_hangs_a_pool_of_one() {
        let started = std::time::Instant::now();
        let outcome = wait_on_a_channel(Duration::from_millis(50));
        assert!(started.elapsed() < Duration::from_secs(5), "it returned");
        match outcome {
            Err(Error::ShutdownTimeout { running, stats }) => {
                assert_eq!((running, stats.queued, stats.completed), (1, 1, 0));
            }
            other => panic!("expected ShutdownTimeout, got {other:?}"),
        }
    }

    #[test]
    fn joins_on_a_pool_of_one_run_the_joined_jobs() {
        let (sum, waited) = crate::within_10s("join_helps", || {
            join_helps(100).expect("a pool of 1 starts")
        });
        assert_eq!(sum, 5050);
        assert!(matches!(waited, Err(Error::WouldDeadlock)), "{waited:?}");
    }
}
