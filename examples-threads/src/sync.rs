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
//! for the previous one to be taken, holding the lock through its 100 ms sleep: run, it
//! sets 1, 2, 3 before the consumer gets 3; 1 and 2 are overwritten unseen. The consumer
//! then waits forever for 2 more, unnoticed as `main` sleeps 1 s instead of joining; 0
//! doubles as "empty"; its `RwLock` is never used. Here the producer waits on `emptied`,
//! the consumer on `filled` (a value, or closed), both are joined, and 1..=n is checked.

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

/// `threads` threads each add 1 to one `Mutex<u64>` `increments` times; returns the total.
pub fn mutex_counter(threads: u32, increments: u64) -> Result<u64> {
    let counter = Mutex::new(0u64);
    let bump = || (0..increments).for_each(|_| *lock(&counter) += 1);
    on_threads(threads, bump, || ())?;
    Ok(counter.into_inner().unwrap_or_else(PoisonError::into_inner))
}

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

/// Hands 1..=`items` to a consumer through a one-value slot; returns what it got, in order.
pub fn handoff(items: u64) -> Result<Vec<u64>> {
    let slot = Mutex::new((None::<u64>, false)); // (value waiting to be taken, closed)
    let (filled, emptied) = (Condvar::new(), Condvar::new()); // value stored or closed; taken
    let consume = || {
        let (mut got, mut st) = (Vec::new(), lock(&slot));
        loop {
            let wait = filled.wait_while(st, |(v, closed)| v.is_none() && !*closed);
            st = wait.unwrap_or_else(PoisonError::into_inner);
            let Some(v) = st.0.take() else { return got }; // empty and closed: done
            got.push(v);
            emptied.notify_one();
        }
    };
    let produce = || {
        for i in 1..=items {
            let wait = emptied.wait_while(lock(&slot), |(v, _)| v.is_some());
            wait.unwrap_or_else(PoisonError::into_inner).0 = Some(i); // empty: overwrites nothing
            filled.notify_one();
        }
        lock(&slot).1 = true;
        filled.notify_one();
    };
    Ok(on_threads(1, consume, produce)?.concat())
}

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
}
