//! [`CountLatch`]: wait until a known number of jobs have each counted down.
//!
//! It is how a user of a pool that has no "wait until idle" call (rayon's
//! `spawn`, the Rust Book's pool, a bare channel) waits for a batch: every job
//! ends with [`count_down`](CountLatch::count_down), and the job that brings
//! the count to zero wakes the waiter through a `Mutex<bool>` + `Condvar`.
//! Jobs other than the last touch only the atomic counter, never the lock.
//!
//! ```
//! use std::sync::Arc;
//! use ptm_benches::latch::CountLatch;
//!
//! let latch = Arc::new(CountLatch::new(4));
//! let threads: Vec<_> = (0..4)
//!     .map(|_| {
//!         let latch = Arc::clone(&latch);
//!         std::thread::spawn(move || latch.count_down())
//!     })
//!     .collect();
//! latch.wait();
//! for t in threads {
//!     t.join().expect("a thread that only counts down does not panic");
//! }
//! ```

use std::sync::atomic::{AtomicUsize, Ordering::AcqRel, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// A reusable count-down latch: [`wait`](Self::wait) returns once
/// [`count_down`](Self::count_down) has been called as many times as the
/// count given to [`new`](Self::new) or [`reset`](Self::reset).
///
/// # Invariants and orderings
///
/// * `remaining` is decremented with `AcqRel`: each job's effects are
///   released with its decrement, and the decrement that reaches zero
///   acquires all earlier ones (they form one release sequence on
///   `remaining`).
/// * `done` (behind the mutex) is set only by that last decrement, so a
///   waiter that sees `done == true` (acquiring the mutex) has seen every job.
///   The mutex also orders "check `done`, then sleep" against "set `done`,
///   then notify", so the wake-up cannot be missed.
#[derive(Debug)]
pub struct CountLatch {
    remaining: AtomicUsize,
    done: Mutex<bool>,
    ready: Condvar,
}

impl CountLatch {
    /// A latch that opens after `count` calls to
    /// [`count_down`](Self::count_down); with `count == 0` it is open already.
    pub const fn new(count: usize) -> Self {
        CountLatch {
            remaining: AtomicUsize::new(count),
            done: Mutex::new(count == 0),
            ready: Condvar::new(),
        }
    }

    /// Re-arms the latch for another batch of `count` jobs.
    ///
    /// Call it only while no job of the previous batch can still count down
    /// (that is, after [`wait`](Self::wait) returned): a late `count_down`
    /// would be counted against the new batch.
    pub fn reset(&self, count: usize) {
        *self.lock() = count == 0;
        self.remaining.store(count, Relaxed);
    }

    /// Counts one job as finished; the last one wakes the waiters.
    ///
    /// # Panics
    ///
    /// If called more often than the count, which is a bug in the caller.
    pub fn count_down(&self) {
        let before = self.remaining.fetch_sub(1, AcqRel);
        assert!(before != 0, "CountLatch::count_down called too often");
        if before == 1 {
            *self.lock() = true;
            self.ready.notify_all();
        }
    }

    /// Blocks until the count has reached zero.
    pub fn wait(&self) {
        let mut done = self.lock();
        while !*done {
            done = self
                .ready
                .wait(done)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Locks `done`. A poisoned lock is taken as is: the guarded `bool` is
    /// valid whatever panicked while holding it.
    fn lock(&self) -> MutexGuard<'_, bool> {
        self.done.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::CountLatch;
    use std::sync::Arc;

    #[test]
    fn zero_is_open() {
        CountLatch::new(0).wait();
    }

    #[test]
    fn reset_rearms() {
        let latch = Arc::new(CountLatch::new(0));
        for round in 0..3 {
            latch.reset(1000);
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        for _ in 0..250 {
                            latch.count_down();
                        }
                    });
                }
                latch.wait();
            });
            assert_eq!(
                latch.remaining.load(std::sync::atomic::Ordering::Relaxed),
                0,
                "round {round}"
            );
        }
    }
}
