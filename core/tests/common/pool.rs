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
