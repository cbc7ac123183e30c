//! `select`: one thread waits on two channels and a timeout with `select!`.
//!
//! Run it: `cargo run -p examples-channels -- select [--fast 20] [--slow 5]
//! [--quiet-ms 50]`.
//!
//! Two producers send at different rates (their sleeps are their workload:
//! nobody waits on them); the selector counts what came from each. A
//! disconnected channel is always ready (with `Err`), so its arm is switched
//! off by swapping in `never()`; once both are off, only `default(timeout)`
//! is left: it fires after `quiet-ms` of silence, the loop ends, and the
//! producers are joined.

use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use crossbeam_channel::{never, select, unbounded, Receiver};

/// Flags of the `select` demo.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Messages from the fast producer (1 per ms)
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(..=10_000))]
    pub fast: u64,
    /// Messages from the slow producer (1 per 5 ms)
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(..=10_000))]
    pub slow: u64,
    /// Silence, in ms, before the timeout fires
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub quiet_ms: u64,
}

/// Time between two messages of the fast producer.
pub const FAST_EVERY: Duration = Duration::from_millis(1);
/// Time between two messages of the slow producer.
pub const SLOW_EVERY: Duration = Duration::from_millis(5);

/// What the selector counted: (messages, sum) from each producer, and the timeouts
/// that fired while a producer was still connected (the final one is not counted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub fast: (u64, u64),
    pub slow: (u64, u64),
    pub early_timeouts: u64,
}

/// Starts a producer thread `name` that sends `0..count`, one value every `every`.
fn producer(
    name: &str,
    count: u64,
    every: Duration,
) -> Result<(Receiver<u64>, JoinHandle<()>)> {
    let (tx, rx) = unbounded();
    let send = move || {
        for value in 0..count {
            thread::sleep(every); // The producer's rate: its simulated work.
            if tx.send(value).is_err() {
                break;
            }
        }
    };
    let spawned = thread::Builder::new().name(name.into()).spawn(send);
    Ok((
        rx,
        spawned.with_context(|| format!("spawning thread `{name}`"))?,
    ))
}

// ANCHOR: select_two
/// Selects over a fast and a slow producer until both have disconnected and
/// `quiet` has passed without a message.
///
/// # Errors
///
/// If a producer thread could not be spawned, or panicked.
pub fn select_two(fast: u64, slow: u64, quiet: Duration) -> Result<Report> {
    let (mut fast_rx, fast_t) = producer("fast", fast, FAST_EVERY)?;
    let (mut slow_rx, slow_t) = producer("slow", slow, SLOW_EVERY)?;
    let (mut fast_open, mut slow_open) = (true, true);
    let mut r = Report::default();
    loop {
        select! {
            recv(fast_rx) -> msg => match msg {
                Ok(v) => r.fast = (r.fast.0 + 1, r.fast.1 + v),
                Err(_) => (fast_open, fast_rx) = (false, never()),
            },
            recv(slow_rx) -> msg => match msg {
                Ok(v) => r.slow = (r.slow.0 + 1, r.slow.1 + v),
                Err(_) => (slow_open, slow_rx) = (false, never()),
            },
            // Only the timeout is left once both arms are `never()`.
            default(quiet) => match fast_open || slow_open {
                true => r.early_timeouts += 1,
                false => break,
            },
        }
    }
    for (name, t) in [("fast", fast_t), ("slow", slow_t)] {
        t.join().map_err(|_| anyhow!("{name} producer panicked"))?;
    }
    Ok(r)
}
// ANCHOR_END: select_two

/// Prints the demo's results; fails as [`select_two`] does.
pub fn run(args: &Args) -> Result<()> {
    let quiet = args.quiet_ms;
    println!("== select: one thread waits on two channels and a timeout ==");
    println!("a fast and a slow producer, one selector, a {quiet} ms timeout");
    let r = select_two(args.fast, args.slow, Duration::from_millis(quiet))?;
    let ((fast, fast_sum), (slow, slow_sum), early) =
        (r.fast, r.slow, r.early_timeouts);
    println!(
        "from fast (every {FAST_EVERY:?}): {fast} messages, sum {fast_sum}"
    );
    println!(
        "from slow (every {SLOW_EVERY:?}): {slow} messages, sum {slow_sum}"
    );
    println!("timeouts while a producer was connected: {early}");
    println!(
        "both channels disconnected, then the {quiet} ms timeout fired: \
         selector ended"
    );
    println!(
        "notice: a disconnected channel is always ready: switch its arm off \
         with never()"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_both_sources_and_ends_after_the_timeout() {
        let r = select_two(20, 5, Duration::from_millis(200))
            .expect("producers ran");
        assert_eq!((r.fast, r.slow), ((20, 190), (5, 10)));
        let r =
            select_two(0, 0, Duration::from_millis(10)).expect("producers ran");
        assert_eq!((r.fast, r.slow), ((0, 0), (0, 0)));
    }
}
