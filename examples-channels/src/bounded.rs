//! `bounded`: back pressure and a memory bound from a bounded crossbeam queue.
//!
//! Answers "Bounded And Unbounded Queues From `crossbeam` Crate" in the seed
//! `processes-threads-and-containers.md`. Run it:
//! `cargo run -p examples-channels -- bounded [--items 1000] [--capacity 16] [--work 20000]`.
//!
//! The seed's code is std's unbounded `channel()` with one value (and a stray
//! `#` that keeps it from compiling): no crossbeam, no bound, no pressure. And
//! back pressure slows the *producer*, bounding memory (the consumer keeps its
//! pace anyway); a producer that cannot wait uses `try_send`, which hands the
//! item back when the queue is full. Here a fast producer feeds a slow consumer
//! (CPU work per item, no sleep): it `try_send`s, counts `Full`, then times a `send`.
//! The consumer starts only once the producer first finds the queue full (or has
//! sent everything), so the producer meets back pressure whatever the scheduler
//! does; unbounded, the queue is never full and the whole backlog piles up.
//!
//! Memory: a bounded queue allocates all `capacity` slots when it is created (its
//! memory is fixed, however long it gets; capacity 0 has none: each `send` waits
//! for a `recv`); an unbounded one allocates as its backlog grows.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use crossbeam_channel::{bounded, unbounded, TrySendError};

/// Flags of the `bounded` demo.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Items the producer sends (values 0..items).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(..=1_000_000))]
    pub items: u64,
    /// Capacity of the bounded queue (0 makes a rendezvous channel).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(..=1_000_000))]
    pub capacity: u64,
    /// Rounds of xorshift the consumer computes per item: its slowness.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(..=10_000_000))]
    pub work: u64,
}

/// What one run measured; `blocked` counts the `try_send`s that found the queue full.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub consumed: u64,
    pub sum: u64,
    pub blocked: u64,
    pub blocked_for: Duration,
    pub max_len: usize,
}

/// The consumer's work per item: `rounds` steps of a xorshift generator.
pub fn busy(seed: u64, rounds: u64) -> u64 {
    (0..rounds).fold(seed | 1, |x, _| {
        let x = x ^ (x << 13);
        let x = x ^ (x >> 7);
        x ^ (x << 17)
    })
}

// ANCHOR: flow
/// Sends `0..items` through a queue of `capacity` (`None`: unbounded) to a
/// consumer that computes `busy(item, work)` for each.
///
/// # Errors
///
/// If the producer thread could not be spawned, panicked, or lost its consumer.
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
                    drop(gate.take()); // Full: the consumer may start now.
                    let at = Instant::now();
                    tx.send(item).map_err(|e| e.0)?;
                    (r.blocked, r.blocked_for) = (r.blocked + 1, r.blocked_for + at.elapsed());
                }
                Err(TrySendError::Disconnected(item)) => return Err(item),
            }
            r.max_len = r.max_len.max(tx.len());
        }
        Ok(r) // Drops `tx` (and `gate`): the consumer's loop ends once the queue is drained.
    };
    let spawned = thread::Builder::new()
        .name("producer".into())
        .spawn(produce);
    let producer = spawned.context("spawning thread `producer`")?;
    let _ = held.recv(); // `Err(RecvError)` once the producer has dropped `gate`.
    let (mut consumed, mut sum) = (0, 0);
    for item in rx {
        std::hint::black_box(busy(item, work)); // Keeps the work from being optimised away.
        (consumed, sum) = (consumed + 1, sum + item);
    }
    let r = producer.join().map_err(|_| anyhow!("producer panicked"))?;
    let mut r = r.map_err(|item| anyhow!("consumer gone before item {item}"))?;
    (r.consumed, r.sum) = (consumed, sum);
    Ok(r)
}
// ANCHOR_END: flow

/// Prints the demo's results; fails as [`flow`] does.
pub fn run(args: &Args) -> Result<()> {
    let (n, work, cap) = (args.items, args.work, usize::try_from(args.capacity)?);
    println!("== bounded: {n} items, slow consumer ({work} rounds per item), started once the producer first finds the queue full (or has sent everything)");
    for capacity in [Some(cap), None] {
        let name = capacity.map_or("unbounded".into(), |c| format!("bounded({c})"));
        let r = flow(capacity, n, work)?;
        let (consumed, sum, blocked, max_len) = (r.consumed, r.sum, r.blocked, r.max_len);
        let ms = r.blocked_for.as_secs_f64() * 1e3;
        let bytes = max_len * size_of::<u64>();
        let bound = match capacity {
            Some(0) => "<= capacity 0 (a rendezvous: no slots, each send waits for a recv)".into(),
            Some(c) => format!("<= capacity {c} (its {c} slots were allocated when the queue was created, whatever its length)"),
            None => format!("of {n} items (it allocates as the backlog grows: {bytes} bytes of values at the peak)"),
        };
        println!("{name}: consumed {consumed} of {n} items, sum = {sum}");
        println!("{name}: producer blocked {blocked} times (try_send -> Full), {ms:.1} ms in all");
        println!("{name}: max queue length {max_len} {bound}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_blocks_and_stays_within_capacity_unbounded_grows() {
        // The consumer waits for the first `Full`: both checks hold on any schedule.
        let r = flow(Some(4), 200, 20_000).expect("producer runs");
        assert_eq!((r.consumed, r.sum, r.max_len), (200, 19_900, 4));
        assert!(r.blocked > 0, "{r:?}");
        // Never full: the consumer starts once all 200 are queued.
        let r = flow(None, 200, 20_000).expect("producer runs");
        assert_eq!(
            (r.consumed, r.sum, r.blocked, r.max_len),
            (200, 19_900, 0, 200)
        );
        // Below capacity the queue never fills: no back pressure, nothing held up.
        let r = flow(Some(16), 10, 0).expect("producer runs");
        assert_eq!((r.consumed, r.blocked, r.max_len), (10, 0, 10));
        assert_eq!(flow(Some(0), 50, 100).expect("rendezvous runs").max_len, 0);
    }
}
