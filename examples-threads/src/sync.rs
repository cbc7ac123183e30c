//! # `sync`: Mutex, RwLock, and a Condvar hand-off that loses nothing
//!
//! A `Mutex` counter bumped by 4 threads ends at exactly 4 x 1000; an
//! `RwLock` lets many readers in at once, never showing them half a write; a
//! one-value slot with two `Condvar`s hands every value from a producer to a
//! consumer exactly once.
//!
//! The common first attempt at that hand-off, [`handoff_naive`], stores a
//! value and notifies without waiting for the previous one to be taken: the
//! consumer gets whichever values the scheduler lets it catch, and the
//! others are overwritten unseen. The demo runs it and counts what it lost.
//! The fixed [`handoff`] has the producer wait on `emptied`, the consumer on
//! `filled` (a value, or closed), joins both, and checks 1..=n arrived;
//! should the consumer die (a panic), a drop guard marks it gone, and the
//! producer fails instead of waiting for it forever.
//!
//! Two more first attempts are kept for their tests, not run by the demo:
//! [`handoff_zero_empty`] (0 means "empty", no "done" flag, the caller
//! sleeps instead of joining) and [`handoff_unguarded`] (no drop guard).
//!
//! Run: `cargo run -p examples-threads -- sync`

use crate::spawn::panic_message;
use anyhow::{anyhow, Context, Result};
use std::sync::Arc;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::{self, Builder};
use std::time::Duration;

// ANCHOR: lock
/// Locks `m`, even if a thread panicked while holding it (poisoned): every
/// update made here leaves the value whole, so it is safe to go on.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
// ANCHOR_END: lock

/// Runs `f` on `n` scoped threads, then `also` on this one; collects what
/// each `f` returned.
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
/// `threads` threads each add 1 to one counter `increments` times, under a
/// `Mutex`; returns the total.
pub fn mutex_counter(threads: u32, increments: u64) -> u64 {
    let count = Mutex::new(0);
    thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..increments {
                    *lock(&count) += 1; // one thread at a time in here
                }
            });
        }
    }); // every thread is joined here
    count.into_inner().unwrap_or_else(PoisonError::into_inner)
}
// ANCHOR_END: mutex_counter

// ANCHOR: rwlock
/// While this thread holds the read lock, `n` readers get it too
/// (`try_read`; a `Mutex` would refuse them). Then each reads 100 times while
/// a writer appends 1..=`writes`, checking that the Vec is a whole prefix
/// 1..=len. Returns (readers let in, whole reads, final sum).
pub fn rwlock(n: u32, writes: u64) -> Result<(usize, usize, u64)> {
    let data = RwLock::new(Vec::<u64>::new());
    let read = || data.read().unwrap_or_else(PoisonError::into_inner);
    let held = read();
    // No writer is waiting, so `try_read` succeeds while `held` lives.
    let let_in = on_threads(n, || data.try_read().is_ok(), || ())?;
    let let_in = let_in.into_iter().filter(|ok| *ok).count();
    drop(held);
    let whole = |v: &[u64]| v.iter().copied().eq(1..=v.len() as u64);
    let reads = || (0..100).filter(|_| whole(&read())).count();
    let push = |i| {
        let mut v = data.write().unwrap_or_else(PoisonError::into_inner);
        v.push(i);
    };
    let whole_reads = on_threads(n, reads, || (1..=writes).for_each(push))?;
    let sum = read().iter().sum();
    Ok((let_in, whole_reads.into_iter().sum(), sum))
}
// ANCHOR_END: rwlock

// ANCHOR: handoff_naive
/// A common first attempt at a hand-off: the producer stores each value and
/// notifies, without waiting for the previous value to be taken. Returns
/// what the consumer got: usually far fewer than `items` values.
pub fn handoff_naive(items: u64) -> Vec<u64> {
    let slot = Mutex::new((None, false)); // (value, the producer is done)
    let filled = Condvar::new();
    thread::scope(|s| {
        s.spawn(|| {
            for i in 1..=items {
                lock(&slot).0 = Some(i); // overwrites a value not yet taken
                filled.notify_one();
            }
            lock(&slot).1 = true;
            filled.notify_one();
        });
        let mut got = Vec::new();
        loop {
            let empty = |s: &mut (Option<u64>, bool)| s.0.is_none() && !s.1;
            let wait = filled.wait_while(lock(&slot), empty);
            let mut guard = wait.unwrap_or_else(PoisonError::into_inner);
            let Some(v) = guard.0.take() else { return got }; // done
            got.push(v);
        }
    })
}
// ANCHOR_END: handoff_naive

// ANCHOR: handoff_zero_empty
/// Two more bugs of first attempts (this producer does wait for each value
/// to be taken): 0 stands for "empty", and there is no "done" flag, so the
/// caller sleeps instead of joining. Sends `values`; returns what the
/// consumer got within `sleep`, and whether it had ended by then.
#[cfg_attr(not(test), allow(dead_code))] // run by its test, not by the demo
pub fn handoff_zero_empty(values: &[u64], sleep: Duration) -> (Vec<u64>, bool) {
    let shared = Arc::new((Mutex::new(0), Condvar::new(), Condvar::new()));
    let got = Arc::new(Mutex::new(Vec::new()));
    let consumer = thread::spawn({
        let (shared, got) = (Arc::clone(&shared), Arc::clone(&got));
        move || loop {
            let (slot, filled, emptied) = &*shared;
            let wait = filled.wait_while(lock(slot), |v| *v == 0); // 0: empty
            let mut v = wait.unwrap_or_else(PoisonError::into_inner);
            lock(&got).push(*v);
            *v = 0;
            emptied.notify_one();
        }
    });
    let (slot, filled, emptied) = &*shared;
    for &value in values {
        let wait = emptied.wait_while(lock(slot), |v| *v != 0);
        *wait.unwrap_or_else(PoisonError::into_inner) = value; // 0 looks empty
        filled.notify_one();
    }
    thread::sleep(sleep); // instead of a join, which would never return
    let got = lock(&got).clone();
    (got, consumer.is_finished())
}
// ANCHOR_END: handoff_zero_empty

// ANCHOR: handoff
/// The one-value slot of [`handoff`]; one mutex guards the three fields.
#[derive(Debug, Default)]
struct Slot {
    value: Option<u64>,  // stored by the producer, not yet taken
    closed: bool,        // the producer is done: no more values will come
    consumer_gone: bool, // the consumer ended (or panicked)
}

/// Dropped when the consumer ends, also by a panic: marks it gone and wakes
/// the producer.
struct ConsumerGone<'a>(&'a Mutex<Slot>, &'a Condvar);

impl Drop for ConsumerGone<'_> {
    fn drop(&mut self) {
        lock(self.0).consumer_gone = true; // the consumer's guard is dropped
        self.1.notify_one();
    }
}

/// Hands 1..=`items` to a consumer through a one-value slot; returns what
/// it got, in order.
pub fn handoff(items: u64) -> Result<Vec<u64>> {
    handoff_with(items, |_| (), true)
}

/// [`handoff`], with the consumer calling `take(value)` on each value, and
/// its drop guard only if `guarded`.
fn handoff_with<F>(items: u64, take: F, guarded: bool) -> Result<Vec<u64>>
where
    F: Fn(u64) + Sync,
{
    let slot = Mutex::new(Slot::default());
    let filled = Condvar::new(); // a value was stored, or the slot closed
    let emptied = Condvar::new(); // the value was taken, or the consumer left
    let consume = || {
        // First, so dropped last; the unguarded first attempt has none.
        let _gone = guarded.then(|| ConsumerGone(&slot, &emptied));
        let (mut got, mut st) = (Vec::new(), lock(&slot));
        loop {
            let empty = |s: &mut Slot| s.value.is_none() && !s.closed;
            st = filled
                .wait_while(st, empty)
                .unwrap_or_else(PoisonError::into_inner);
            let Some(v) = st.value.take() else { return got }; // closed
            take(v);
            got.push(v);
            emptied.notify_one();
        }
    };
    let produce = || {
        for i in 1..=items {
            let full = |s: &mut Slot| s.value.is_some() && !s.consumer_gone;
            let mut st = emptied
                .wait_while(lock(&slot), full)
                .unwrap_or_else(PoisonError::into_inner);
            if st.consumer_gone {
                return Err(anyhow!("the consumer is gone: no one takes {i}"));
            }
            st.value = Some(i); // the slot is empty: overwrites nothing
            filled.notify_one();
        }
        lock(&slot).closed = true;
        filled.notify_one();
        Ok(())
    };
    let mut produced = Ok(());
    // A consumer panic is reported first, then a producer error.
    let got = on_threads(1, consume, || produced = produce())?;
    produced?;
    Ok(got.concat())
}
// ANCHOR_END: handoff

// ANCHOR: handoff_unguarded
/// The first attempt at [`handoff`]: the same, without the drop guard.
#[cfg_attr(not(test), allow(dead_code))] // run by its test, not by the demo
fn handoff_unguarded<F>(items: u64, take: F) -> Result<Vec<u64>>
where
    F: Fn(u64) + Sync,
{
    handoff_with(items, take, false)
}
// ANCHOR_END: handoff_unguarded

/// Prints the counter, the RwLock counts, the naive hand-off's losses and
/// the fixed hand-off's checks.
pub fn run() -> Result<()> {
    let total = mutex_counter(4, 1000);
    println!("mutex: 4 threads x 1000 increments = {total} (expected 4000)");
    let (let_in, whole, sum) = rwlock(4, 1000)?;
    println!("rwlock: {let_in} of 4 readers got the lock while another thread held it to read");
    println!("rwlock: {whole} of 400 reads racing 1000 writes saw a whole prefix; sum {sum}");
    let naive = handoff_naive(1000);
    let (kept, lost) = (naive.len(), 1000 - naive.len());
    println!("naive hand-off: consumer got {kept} of 1000 values; {lost} overwritten unseen");
    let got = handoff(1000)?;
    let once = got.iter().copied().eq(1..=1000);
    println!(
        "condvar hand-off: consumer got {} of 1000, each once, in order: {once}",
        got.len()
    );
    println!("notice: a producer must wait until its value is taken, or it overwrites it");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_count_exactly() {
        assert_eq!(mutex_counter(8, 500), 4000);
        assert_eq!(rwlock(4, 50).expect("spawns"), (4, 400, 1275));
    }

    /// The naive hand-off may lose any value but the last (how many depends on
    /// the scheduler, so the loss itself is not asserted); what it keeps is in
    /// order.
    #[test]
    fn the_naive_handoff_keeps_an_ordered_subset_ending_in_the_last_value() {
        let got = handoff_naive(1000);
        assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
        assert_eq!(got.last(), Some(&1000));
    }

    // ANCHOR: zero_empty_test
    /// 0 cannot be sent when 0 means "empty"; with no "done" flag the
    /// consumer never ends, which the caller's sleep hides.
    #[test]
    fn zero_as_empty_loses_the_zero_and_the_consumer_never_ends() {
        let a_second = Duration::from_secs(1);
        let (got, ended) = handoff_zero_empty(&[0, 1, 2], a_second);
        assert_eq!(got, [1, 2], "the 0 was never seen");
        assert!(
            !ended,
            "the consumer still waits for a value that never comes"
        );
    }
    // ANCHOR_END: zero_empty_test

    /// A producer that does not wait for its value to be taken overwrites it.
    #[test]
    fn handoff_delivers_every_value_once_in_order() {
        assert!(handoff(2000).expect("spawns").into_iter().eq(1..=2000));
    }

    /// A consumer that panics after taking a value must not leave the
    /// producer (on the calling thread) waiting on `emptied` forever:
    /// `handoff` returns the panic.
    #[test]
    fn a_dead_consumer_fails_the_handoff_instead_of_hanging_it() {
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let fail_on_3 = |v| assert_ne!(v, 3, "the consumer fails on 3");
            let _ = tx.send(handoff_with(100, fail_on_3, true).map_err(|e| e.to_string()));
        });
        let returned = rx.recv_timeout(std::time::Duration::from_secs(10));
        let result = returned.expect("handoff hung: the producer waits for a dead consumer");
        let err = result.expect_err("the consumer panicked");
        assert!(err.contains("the consumer fails on 3"), "{err}");
    }

    // ANCHOR: unguarded_test
    /// Without the guard, the producer waits on `emptied` for ever once the
    /// consumer has died: the hand-off hangs, and the timeout cuts it (the
    /// stuck thread is left behind, and ends with the test process).
    #[test]
    fn without_the_guard_a_dead_consumer_hangs_the_handoff() {
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let fail_on_3 = |v| assert_ne!(v, 3, "the consumer fails on 3");
            let _ = tx.send(handoff_unguarded(100, fail_on_3).is_ok());
        });
        let returned = rx.recv_timeout(Duration::from_secs(2));
        assert_eq!(returned, Err(std::sync::mpsc::RecvTimeoutError::Timeout));
    }
    // ANCHOR_END: unguarded_test
}
