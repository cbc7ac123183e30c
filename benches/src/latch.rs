//! [`CountLatch`]: how pool dispatch waits for the pools without a
//! `wait_idle`. It is part of what is measured, so it is hand-written for
//! its cost: a job ends with one atomic decrement, only the last takes the
//! lock, it is re-armed between batches, and it can be a `static` (a job
//! then captures nothing). Where waiting is not measured, use
//! `crossbeam_utils::sync::WaitGroup`.
//!
//! ```
//! let latch = ptm_benches::latch::CountLatch::new(4);
//! std::thread::scope(|s| {
//!     for _ in 0..4 {
//!         s.spawn(|| latch.count_down());
//!     }
//!     latch.wait();
//! });
//! ```

use std::sync::atomic::{AtomicUsize, Ordering::AcqRel, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// A reusable count-down latch: [`wait`](Self::wait) returns once
/// [`count_down`](Self::count_down) has been called as often as the count.
///
/// Orderings: `remaining` is decremented with `AcqRel`, so the decrement
/// that reaches zero acquires every job's effects (one release sequence);
/// only it sets `done`, under the mutex, which also orders "check `done`,
/// sleep" against "set `done`, notify": no wake-up is missed.
#[derive(Debug)]
pub struct CountLatch {
    remaining: AtomicUsize,
    done: Mutex<bool>,
    ready: Condvar,
}

impl CountLatch {
    /// A latch that opens after `count` calls to `count_down` (open at 0).
    pub const fn new(count: usize) -> Self {
        CountLatch {
            remaining: AtomicUsize::new(count),
            done: Mutex::new(count == 0),
            ready: Condvar::new(),
        }
    }

    /// Re-arms it for `count` jobs; only after [`wait`](Self::wait)
    /// returned (a late `count_down` would count against the new batch).
    pub fn reset(&self, count: usize) {
        *self.lock() = count == 0;
        self.remaining.store(count, Relaxed);
    }

    /// Counts one job as finished; the last one wakes the waiters.
    ///
    /// # Panics
    ///
    /// If called more often than the count (a bug in the caller).
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
        let done = self.ready.wait_while(self.lock(), |done| !*done);
        drop(done.unwrap_or_else(PoisonError::into_inner));
    }

    // A poisoned lock is taken as is: the `bool` is valid whatever panicked.
    fn lock(&self) -> MutexGuard<'_, bool> {
        self.done.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::CountLatch;

    #[test]
    fn it_opens_at_zero_and_rearms() {
        let latch = CountLatch::new(0);
        latch.wait();
        for _ in 0..3 {
            latch.reset(1000);
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| (0..250).for_each(|_| latch.count_down()));
                }
                latch.wait();
            });
            assert_eq!(latch.remaining.load(super::Relaxed), 0);
        }
    }
}
