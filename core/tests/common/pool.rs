//! Helpers of the pool's test files (`tests/pool.rs`, `tests/pool_grows.rs`).
#![allow(dead_code)] // each test binary uses some of them

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::thread;

use ptm::pool::{JobHandle, PoolStats, ThreadPool};

/// A job that adds one to `counter`.
pub fn count(counter: &Arc<AtomicUsize>) -> impl FnOnce() + Send + 'static {
    let counter = Arc::clone(counter);
    move || {
        counter.fetch_add(1, SeqCst);
    }
}

/// `(workers, queued, active, completed, panicked)`, for one-line asserts.
pub fn fields(stats: PoolStats) -> (usize, usize, usize, usize, usize) {
    (
        stats.workers,
        stats.queued,
        stats.active,
        stats.completed,
        stats.panicked,
    )
}

/// The sorted names of the threads that run `n` jobs which all wait for each
/// other at a barrier, so that they run on `n` different workers at once.
pub fn names_of_workers(pool: &ThreadPool, n: usize) -> Vec<String> {
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<JobHandle<Option<String>>> = (0..n)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            pool.spawn(move || {
                barrier.wait();
                thread::current().name().map(str::to_owned)
            })
            .expect("the pool accepts the job")
        })
        .collect();
    let mut names: Vec<String> = handles
        .into_iter()
        .map(|handle| {
            handle
                .join()
                .expect("the naming job returns")
                .expect("a worker thread has a name")
        })
        .collect();
    names.sort();
    names
}

/// Runs `job` on a pool of one worker, waits for it, then times
/// `shutdown_timeout(timeout)` on a helper thread: how long the call took,
/// and its outcome (`Debug`). Fails the test if the call has not returned
/// within `bound`.
pub fn time_shutdown_timeout(
    job: impl FnOnce() + Send + 'static,
    timeout: std::time::Duration,
    bound: std::time::Duration,
) -> (std::time::Duration, String) {
    let pool = ThreadPool::new(1).expect("pool");
    pool.execute(job).expect("accepted");
    pool.wait_idle().expect("wait_idle");
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let started = std::time::Instant::now();
        let outcome = pool.shutdown_timeout(timeout);
        let _ = done_tx.send((started.elapsed(), format!("{outcome:?}")));
    });
    done_rx
        .recv_timeout(bound)
        .expect("shutdown_timeout returns at last")
}
