//! # `sync`: Mutex, RwLock, and a Condvar hand-off that loses nothing
//!
//! A `Mutex` counter bumped by 4 threads ends at exactly 4 x 1000; an `RwLock` lets many
//! readers in at once, never showing them half a write; a one-value slot with two
//! `Condvar`s hands every value from a producer to a consumer exactly once.
//!
//! Answers `process-and-thread-management.md`, "Thread Synchronization".
//! Run: `cargo run -p examples-threads -- sync`
//!
//! What the seed gets wrong: its producer stores a value and notifies without waiting
//! for the previous one to be taken, holding the lock through its 100 ms sleep, so the
//! consumer sees a scheduling-dependent subset of 1..=5, usually only the last value
//! (five runs saw {5}, {1,2,5}, {5}, {2,5}, {5}); the others are overwritten unseen. The
//! consumer then waits for values that never come, unnoticed as `main` sleeps 1 s
//! instead of joining; 0 doubles as "empty"; its `RwLock` is never used. Here the
//! producer waits on `emptied`, the consumer on `filled` (a value, or closed), both are
//! joined, and 1..=n is checked; should the consumer die (a panic), a drop guard marks
//! it gone, and the producer fails instead of waiting for it forever.

use crate::spawn::panic_message;
use anyhow::{anyhow, Context, Result};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::{self, Builder};

/// Locks `m`, even if poisoned: the values guarded here are whole after every statement.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `f` on `n` scoped threads, then `also` on this one; collects what each `f` returned.
fn on_threads<T: Send>(n: u32, f: impl Fn() -> T + Sync, also: impl FnOnce()) -> Result<Vec<T>> {
    thread::scope(|s| {
        let spawn = |i| {
            let spawned = Builder::new().spawn_scoped(s, &f);
            spawned.with_context(|| format!("spawning thread {i}"))
        };
        let handles = (0..n).map(spawn).collect::<Result<Vec<_>>>()?;
        also();
        let joined: thread::Result<Vec<T>> = handles.into_iter().map(|h| h.join()).collect();
        joined.map_err(|p| anyhow!("a thread panicked: {}", panic_message(&*p)))
    })
}

// ANCHOR: mutex_counter
/// `threads` threads each add 1 to one `Mutex<u64>` `increments` times; returns the total.
pub fn mutex_counter(threads: u32, increments: u64) -> Result<u64> {
    let counter = Mutex::new(0u64);
    let bump = || (0..increments).for_each(|_| *lock(&counter) += 1);
    on_threads(threads, bump, || ())?;
    Ok(counter.into_inner().unwrap_or_else(PoisonError::into_inner))
}
// ANCHOR_END: mutex_counter

// ANCHOR: rwlock
/// While this thread holds the read lock, `n` readers get it too (`try_read`; a `Mutex`
/// would refuse them). Then each reads 100 times while a writer appends 1..=`writes`,
/// checking that the Vec is a whole prefix 1..=len. Returns (let in, whole reads, sum).
pub fn rwlock(n: u32, writes: u64) -> Result<(usize, usize, u64)> {
    let data = RwLock::new(Vec::<u64>::new());
    let read = || data.read().unwrap_or_else(PoisonError::into_inner);
    let held = read();
    let let_in = on_threads(n, || data.try_read().is_ok(), || ())?; // no writer: never blocks
    let let_in = let_in.into_iter().filter(|ok| *ok).count();
    drop(held);
    let whole = |v: &[u64]| v.iter().copied().eq(1..=v.len() as u64);
    let reads = || (0..100).filter(|_| whole(&read())).count(); // one guard per check
    let push = |i| data.write().unwrap_or_else(PoisonError::into_inner).push(i);
    let whole_reads = on_threads(n, reads, || (1..=writes).for_each(push))?;
    let sum = read().iter().sum();
    Ok((let_in, whole_reads.into_iter().sum(), sum))
}
// ANCHOR_END: rwlock

// ANCHOR: handoff
/// The one-value slot of [`handoff`]; one mutex guards the three fields together.
#[derive(Debug, Default)]
struct Slot {
    value: Option<u64>,  // stored by the producer, not yet taken
    closed: bool,        // the producer is done: no more values will come
    consumer_gone: bool, // the consumer ended (or panicked): nobody will take a value
}

/// Dropped when the consumer ends, also by a panic: marks it gone and wakes the producer.
struct ConsumerGone<'a>(&'a Mutex<Slot>, &'a Condvar);

impl Drop for ConsumerGone<'_> {
    fn drop(&mut self) {
        lock(self.0).consumer_gone = true; // the consumer's own guard is already dropped
        self.1.notify_one();
    }
}

/// Hands 1..=`items` to a consumer through a one-value slot; returns what it got, in order.
pub fn handoff(items: u64) -> Result<Vec<u64>> {
    handoff_with(items, |_| ())
}

/// [`handoff`], with the consumer calling `take(value)` on each value it takes.
fn handoff_with(items: u64, take: impl Fn(u64) + Sync) -> Result<Vec<u64>> {
    let slot = Mutex::new(Slot::default());
    let (filled, emptied) = (Condvar::new(), Condvar::new()); // stored or closed; taken or gone
    let consume = || {
        let _gone = ConsumerGone(&slot, &emptied); // declared first, so dropped last
        let (mut got, mut st) = (Vec::new(), lock(&slot));
        loop {
            let wait = filled.wait_while(st, |s| s.value.is_none() && !s.closed);
            st = wait.unwrap_or_else(PoisonError::into_inner);
            let Some(v) = st.value.take() else { return got }; // empty and closed: done
            take(v);
            got.push(v);
            emptied.notify_one();
        }
    };
    let produce = || {
        for i in 1..=items {
            let wait = emptied.wait_while(lock(&slot), |s| s.value.is_some() && !s.consumer_gone);
            let mut st = wait.unwrap_or_else(PoisonError::into_inner);
            if st.consumer_gone {
                return Err(anyhow!("the consumer is gone: no one to take value {i}"));
            }
            st.value = Some(i); // empty: overwrites nothing
            filled.notify_one();
        }
        lock(&slot).closed = true;
        filled.notify_one();
        Ok(())
    };
    let mut produced = Ok(());
    let got = on_threads(1, consume, || produced = produce())?; // a consumer panic first
    produced?;
    Ok(got.concat())
}
// ANCHOR_END: handoff

/// Prints the counter, the RwLock counts and the hand-off checks.
pub fn run() -> Result<()> {
    let total = mutex_counter(4, 1000)?;
    println!("mutex: 4 threads x 1000 increments = {total} (expected 4000)");
    let (let_in, whole, sum) = rwlock(4, 1000)?;
    println!("rwlock: {let_in} of 4 readers got the lock while it was read-held; {whole} of 400 reads racing 1000 writes saw a whole prefix; final sum {sum}");
    let got = handoff(1000)?;
    let (once, sum) = (got.iter().copied().eq(1..=1000), got.iter().sum::<u64>());
    println!("condvar: consumed {} of 1000 values, each once in order: {once}, sum {sum} (expected 500500)", got.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_count_exactly() {
        assert_eq!(mutex_counter(8, 500).expect("spawns"), 4000);
        assert_eq!(rwlock(4, 50).expect("spawns"), (4, 400, 1275));
    }

    /// "Thread Synchronization": the seed's producer overwrites values never consumed.
    #[test]
    fn handoff_delivers_every_value_once_in_order() {
        assert!(handoff(2000).expect("spawns").into_iter().eq(1..=2000));
    }

    /// A consumer that panics after taking a value must not leave the producer (on the
    /// calling thread) waiting on `emptied` forever: `handoff` returns the panic.
    #[test]
    fn a_dead_consumer_fails_the_handoff_instead_of_hanging_it() {
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let fail_on_3 = |v| assert_ne!(v, 3, "the consumer fails on 3");
            let _ = tx.send(handoff_with(100, fail_on_3).map_err(|e| e.to_string()));
        });
        let returned = rx.recv_timeout(std::time::Duration::from_secs(10));
        let result = returned.expect("handoff hung: the producer waits for a dead consumer");
        let err = result.expect_err("the consumer panicked");
        assert!(err.contains("the consumer fails on 3"), "{err}");
    }
}
