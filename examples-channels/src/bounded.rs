//! `bounded`: back pressure and a memory bound from a bounded crossbeam
//! queue, against an unbounded one.
//!
//! Run it: `cargo run -p examples-channels -- bounded [--items 1000]
//! [--capacity 16] [--work 20000]`.
//!
//! A fast producer feeds a slow consumer (CPU work per item, no sleep). It
//! `try_send`s each item and, when the queue is full, counts that and waits
//! in `send`: back pressure slows the *producer* to the consumer's pace and
//! bounds the queue's memory (the consumer keeps its pace either way). The
//! consumer starts only once the producer first finds the queue full (or has
//! sent everything), so the producer meets back pressure whatever the
//! scheduler does. Unbounded, the common first choice, the queue is never
//! full and the whole backlog piles up.
//!
//! Memory: a bounded queue allocates all `capacity` slots when it is created
//! (capacity 0 has none: each `send` waits for a `recv`); an unbounded one
//! allocates as its backlog grows.

use std::thread;

use anyhow::{anyhow, Context, Result};
use crossbeam_channel::{bounded, unbounded, TrySendError};

/// Flags of the `bounded` demo.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Items to send: 0..items (at most 1000000)
    #[arg(long, default_value_t = 1000,
        value_parser = clap::value_parser!(u64).range(..=1_000_000))]
    pub items: u64,
    /// Capacity of the bounded queue (0: rendezvous)
    #[arg(long, default_value_t = 16,
        value_parser = clap::value_parser!(u64).range(..=1_000_000))]
    pub capacity: u64,
    /// The consumer's work per item, in rounds
    #[arg(long, default_value_t = 20_000,
        value_parser = clap::value_parser!(u64).range(..=10_000_000))]
    pub work: u64,
}

/// What one run saw: items consumed and their sum, how many `try_send`s
/// found the queue full, and the longest queue the producer saw.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub consumed: u64,
    pub sum: u64,
    pub blocked: u64,
    pub max_len: usize,
}

/// The consumer's work per item: `rounds` steps of a xorshift generator.
pub fn busy(start: u64, rounds: u64) -> u64 {
    (0..rounds).fold(start | 1, |x, _| {
        let x = x ^ (x << 13);
        let x = x ^ (x >> 7);
        x ^ (x << 17)
    })
}

// ANCHOR: flow
/// Sends `0..items` through a queue of `capacity` (`None`: unbounded) to a
/// consumer that computes `busy(item, work)` for each.
pub fn flow(capacity: Option<usize>, items: u64, work: u64) -> Result<Report> {
    let (tx, rx) = capacity.map_or_else(unbounded, bounded);
    // Holds the consumer back; dropping `gate` (never sent on) opens it.
    let (gate, held) = bounded::<()>(0);
    let produce = move || {
        let (mut gate, mut r) = (Some(gate), Report::default());
        for item in 0..items {
            match tx.try_send(item) {
                Ok(()) => {}
                Err(TrySendError::Full(item)) => {
                    drop(gate.take()); // full: let the consumer start
                    r.blocked += 1;
                    tx.send(item).map_err(|e| e.0)?; // waits for room
                }
                Err(TrySendError::Disconnected(item)) => return Err(item),
            }
            r.max_len = r.max_len.max(tx.len());
        }
        Ok(r) // drops `tx`: the consumer's loop ends once the queue is empty
    };
    let producer = thread::Builder::new().spawn(produce);
    let producer = producer.context("spawning the producer")?;
    let _ = held.recv(); // `Err` once the producer has dropped `gate`
    let (mut consumed, mut sum) = (0, 0);
    for item in rx {
        std::hint::black_box(busy(item, work)); // the consumer's slowness
        (consumed, sum) = (consumed + 1, sum + item);
    }
    let r = producer
        .join()
        .map_err(|_| anyhow!("the producer panicked"))?;
    let r = r.map_err(|item| anyhow!("consumer gone before item {item}"))?;
    Ok(Report { consumed, sum, ..r })
}
// ANCHOR_END: flow

/// Prints the demo's results; fails as [`flow`] does.
pub fn run(args: &Args) -> Result<()> {
    let (n, work) = (args.items, args.work);
    let cap = usize::try_from(args.capacity)?;
    println!("== bounded: a bounded queue slows the producer, caps memory ==");
    println!(
        "{n} items; the slow consumer ({work} rounds each) starts once \
         the queue is full"
    );
    for capacity in [Some(cap), None] {
        let name =
            capacity.map_or("unbounded".into(), |c| format!("bounded({c})"));
        let r = flow(capacity, n, work)?;
        let (consumed, sum, blocked, max) =
            (r.consumed, r.sum, r.blocked, r.max_len);
        let bytes = max * size_of::<u64>();
        let bound = match capacity {
            Some(0) => "<= capacity 0 (a rendezvous: no slots)".into(),
            Some(c) => {
                format!("<= capacity {c} ({c} slots, allocated up front)")
            }
            None => format!("({bytes} bytes of values at the peak)"),
        };
        println!("{name}: consumed {consumed} of {n} items, sum = {sum}");
        println!(
            "{name}: the queue was full {blocked} times (try_send -> Full)"
        );
        println!("{name}: longest queue {max} {bound}");
    }
    println!(
        "notice: only the bounded queue made the producer wait; its memory \
         stayed fixed"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_blocks_and_stays_within_capacity_unbounded_grows() {
        // The consumer waits for the first `Full`: holds on any schedule.
        let r = flow(Some(4), 200, 20_000).expect("producer runs");
        assert_eq!((r.consumed, r.sum, r.max_len), (200, 19_900, 4));
        assert!(r.blocked > 0, "{r:?}");
        // Never full: the consumer starts once all 200 are queued.
        let r = flow(None, 200, 20_000).expect("producer runs");
        let seen = (r.consumed, r.sum, r.blocked, r.max_len);
        assert_eq!(seen, (200, 19_900, 0, 200));
        // Below capacity the queue never fills: no back pressure.
        let r = flow(Some(16), 10, 0).expect("producer runs");
        assert_eq!((r.consumed, r.blocked, r.max_len), (10, 0, 10));
        let r = flow(Some(0), 50, 100).expect("rendezvous runs");
        assert_eq!(r.max_len, 0);
    }
}
