//! # `atomics`: memory ordering in three steps
//!
//! One short function per step, each with a test of what it guarantees:
//! - [`relaxed_counter`]: `Relaxed` `fetch_add`s from 4 threads give an exact
//!   total, and a thread reading the counter meanwhile sees it grow, never
//!   shrink. `Relaxed` says nothing about any other variable: it counts, but
//!   publishes nothing.
//! - [`publish`]: data written before a `Release` store of a flag is seen by
//!   a thread whose `Acquire` load reads that flag. With `Relaxed` on the
//!   flag, the reader could see the flag and the old data; the memory model
//!   allows it (and ARM processors do it), x86 never does, so no test here
//!   can show it.
//! - [`store_buffer`]: two threads each set their own flag, then read the
//!   other's. `Release` and `Acquire` allow both to read `false` (a store
//!   may wait in the core's store buffer while the load after it goes
//!   ahead; x86 does this). A `SeqCst` fence between the store and the load
//!   forbids it. The demo counts how often each version saw it.
//!
//! Run: `cargo run -p examples-threads -- atomics`

use crate::spawn::panic_message;
use anyhow::{anyhow, Result};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize};
use std::thread;

// ANCHOR: relaxed_counter
/// 4 threads each add 1 to a counter 100,000 times, `Relaxed`, while this
/// thread reads it until it reaches 400,000. Returns each new value this
/// thread read, in order.
pub fn relaxed_counter() -> Vec<u64> {
    let count = AtomicU64::new(0);
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..100_000 {
                    count.fetch_add(1, Relaxed); // one indivisible step
                }
            });
        }
        let mut seen = Vec::new();
        while seen.last() != Some(&400_000) {
            thread::yield_now(); // let the counting threads run
            let now = count.load(Relaxed);
            if seen.last() != Some(&now) {
                seen.push(now);
            }
        }
        seen
    }) // every thread is joined here
}
// ANCHOR_END: relaxed_counter

// ANCHOR: publish
/// One thread writes `data`, then sets `ready` with `Release`; this thread
/// waits until its `Acquire` load sees `ready`, then reads `data`.
/// Returns what it read: always `value`.
pub fn publish(value: u64) -> u64 {
    let data = AtomicU64::new(0);
    let ready = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            data.store(value, Relaxed);
            ready.store(true, Release); // publishes every write before it
        });
        while !ready.load(Acquire) {
            thread::yield_now(); // not ready yet: let the writer run
        }
        data.load(Relaxed) // after the Acquire that saw `true`: sees `value`
    })
}
// ANCHOR_END: publish

// ANCHOR: store_buffer
/// One side of the store-buffer test: set my flag, then read the other's.
/// Returns what it read.
fn side(mine: &AtomicBool, theirs: &AtomicBool, fenced: bool) -> bool {
    mine.store(true, Release);
    if fenced {
        fence(SeqCst); // all SeqCst fences happen in one order
    }
    theirs.load(Acquire)
}
// ANCHOR_END: store_buffer

/// Runs `rounds` rounds of the store-buffer test on two threads, with fresh
/// flags each round, and counts the rounds in which both sides read `false`.
///
/// Each side starts round `r` once the other has finished round `r - 1`, so
/// that the two are in the same round at the same time, which is when a
/// reordering can show.
///
/// # Errors
/// A side panicked.
pub fn store_buffer(rounds: usize, fenced: bool) -> Result<usize> {
    let flags: Vec<[AtomicBool; 2]> = (0..rounds).map(|_| Default::default()).collect();
    let finished = [AtomicUsize::new(0), AtomicUsize::new(0)]; // rounds done
    let run_side = |me: usize| -> Vec<bool> {
        let other = 1 - me;
        let round = |r: usize| {
            for spins in 0u32.. {
                if finished[other].load(Acquire) >= r {
                    break;
                }
                if spins % 64 == 63 {
                    thread::yield_now(); // the other side may not be running
                } else {
                    std::hint::spin_loop();
                }
            }
            let [a, b] = &flags[r];
            let (mine, theirs) = if me == 0 { (a, b) } else { (b, a) };
            let saw = side(mine, theirs, fenced);
            finished[me].store(r + 1, Release);
            saw
        };
        (0..rounds).map(round).collect()
    };
    thread::scope(|s| {
        let first = s.spawn(|| run_side(0));
        let second = run_side(1);
        let first = first
            .join()
            .map_err(|p| anyhow!("a side panicked: {}", panic_message(&*p)))?;
        let both_false = first.iter().zip(&second).filter(|(a, b)| !**a && !**b);
        Ok(both_false.count())
    })
}

/// Rounds of the store-buffer test the demo runs per version.
pub const ROUNDS: usize = 100_000;

/// Prints each step's result.
pub fn run() -> Result<()> {
    let seen = relaxed_counter();
    let grows = seen.windows(2).all(|w| w[0] < w[1]);
    let (total, reads) = (seen.last().copied().unwrap_or(0), seen.len());
    println!("relaxed: 4 threads x 100000 fetch_add = {total} (expected 400000)");
    println!("relaxed: read {reads} times as it grew, each read larger than the last: {grows}");
    let rounds = 1000;
    let published = (0..rounds).filter(|_| publish(42) == 42).count();
    println!("acquire/release: {published} of {rounds} readers that saw the flag saw the data");
    let plain = store_buffer(ROUNDS, false)?;
    println!("store buffer, no fence: both read false in {plain} of {ROUNDS} rounds (allowed)");
    let fenced = store_buffer(ROUNDS, true)?;
    println!("store buffer, SeqCst fence: both read false in {fenced} of {ROUNDS} (forbidden)");
    println!("notice: only the SeqCst fences rule out both threads missing the other's store");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relaxed_counts_exactly_and_never_goes_back() {
        let seen = relaxed_counter();
        assert_eq!(seen.last(), Some(&400_000));
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    }

    #[test]
    fn a_reader_that_acquires_the_flag_sees_the_data() {
        assert!((0..500).all(|i| publish(i + 1) == i + 1));
    }

    /// The rounds in which both sides miss each other are allowed without the
    /// fence (and not asserted: they are rare); with it, there are none.
    #[test]
    fn with_seqcst_fences_at_least_one_side_sees_the_other() {
        assert_eq!(store_buffer(20_000, true).expect("no side panics"), 0);
        let plain = store_buffer(1000, false).expect("no side panics");
        assert!(plain <= 1000);
    }
}
