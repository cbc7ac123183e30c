//! `backpressure`: a bounded pool queue (`PoolBuilder::queue_capacity`).
//! `try_execute` refuses a job with `Error::QueueFull` when it is full;
//! `execute` waits for room. Without a bound, a producer faster than the
//! workers grows the queue without limit.
//!
//! Run it: `cargo run -p examples-pool -- backpressure [--capacity 4]
//! [--jobs 1000]`
//!
//! First, deterministically: both workers are held at a gate (a channel that
//! opens when its sender is dropped; no sleeps), the queue is filled, and the
//! next `try_execute` is refused. Then `--jobs` jobs are offered with
//! `try_execute`; each refusal is counted and the job resubmitted with
//! `execute`. The queue never grows past its bound; no job is lost.

use std::sync::mpsc;

use anyhow::{bail, Context, Result};
use clap::builder::RangedU64ValueParser;
use ptm::pool::PoolStats;
use ptm::{Error, ThreadPool};

/// Flags of the `backpressure` demo.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Jobs that may wait to start (at most 10000)
    #[arg(long, default_value_t = 4, value_parser = RangedU64ValueParser::<usize>::new().range(0..=10_000))]
    pub capacity: usize,
    /// Jobs to offer once it is full (at most 1000000)
    #[arg(long, default_value_t = 1000, value_parser = RangedU64ValueParser::<usize>::new().range(0..=1_000_000))]
    pub jobs: usize,
}

/// Worker threads of the pool.
const WORKERS: usize = 2;

/// What [`demo`] saw: the refused job's error, the later refusals, the
/// longest queue seen, the jobs submitted, and the pool's final stats.
#[derive(Debug)]
pub struct Report {
    pub refused: String,
    pub refusals: usize,
    pub max_queued: usize,
    pub submitted: usize,
    pub stats: PoolStats,
}

/// A job: a little CPU work, so that the producer can outrun the workers.
fn job() {
    std::hint::black_box((0..2000u64).sum::<u64>());
}

// ANCHOR: demo
/// Runs both phases described in the module docs.
pub fn demo(args: &Args) -> Result<Report> {
    let (workers, capacity) = (WORKERS, args.capacity);
    let pool =
        ThreadPool::builder().workers(workers).queue_capacity(capacity).build();
    let pool = pool.with_context(|| {
        format!("starting {workers} workers, queue of {capacity}")
    })?;
    // Declared after `pool`, so dropped first on an early return: the gate
    // opens, and the pool's shutdown does not wait for ever.
    let (gate, gate_rx) = crossbeam_channel::bounded::<()>(0);
    let (started_tx, started) = mpsc::channel();
    for _ in 0..workers {
        let (gate_rx, started_tx) = (gate_rx.clone(), started_tx.clone());
        let gated = move || {
            let _ = started_tx.send(()); // `started` outlives the gated jobs
            let _ = gate_rx.recv(); // `Err` once `gate` is dropped: it opens
        };
        pool.execute(gated).context("execute a gated job")?;
    }
    started.iter().take(workers).for_each(drop); // both workers are held
    for i in 0..capacity {
        pool.try_execute(job)
            .with_context(|| format!("queueing filler job {i}"))?;
    }
    let refused = match pool.try_execute(job) {
        Err(err @ Error::QueueFull) => err.to_string(),
        other => bail!("expected QueueFull from a full queue, got {other:?}"),
    };
    drop(gate);
    let (mut refusals, mut max_queued) = (0, 0);
    for i in 0..args.jobs {
        match pool.try_execute(job) {
            Ok(()) => {}
            Err(Error::QueueFull) => {
                refusals += 1;
                pool.execute(job)
                    .with_context(|| format!("execute job {i}"))?;
            }
            Err(err) => {
                return Err(err).with_context(|| format!("try_execute job {i}"))
            }
        }
        max_queued = max_queued.max(pool.stats().queued);
    }
    let (stats, submitted) = (pool.shutdown(), workers + capacity + args.jobs);
    Ok(Report { refused, refusals, max_queued, submitted, stats })
}
// ANCHOR_END: demo

/// Prints [`demo`].
pub fn run(args: &Args) -> Result<()> {
    println!("== backpressure: bounded queue, try_execute vs execute ==");
    let r = demo(args)?;
    let (c, j, n, done) =
        (args.capacity, args.jobs, r.submitted, r.stats.completed);
    println!(
        "{WORKERS} workers busy, {c} jobs queued: try_execute -> Err: {}",
        r.refused
    );
    println!(
        "offered {j} more jobs: {} refused, each retried with execute",
        r.refusals
    );
    println!("longest queue seen = {} (capacity {c})", r.max_queued);
    println!(
        "submitted {n}, completed {done}, lost {}",
        n.saturating_sub(done)
    );
    println!(
        "notice: the queue held at most {c} jobs; every refused job ran \
         after its retry"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_refuses_and_nothing_is_lost() {
        for capacity in [0, 1, 3] {
            let r = demo(&Args { capacity, jobs: 200 }).expect("the demo runs");
            assert_eq!(r.refused, Error::QueueFull.to_string());
            assert!(r.max_queued <= capacity, "{} > {capacity}", r.max_queued);
            let n = 2 + capacity + 200;
            assert_eq!(
                (r.submitted, r.stats.completed, r.stats.panicked),
                (n, n, 0)
            );
        }
    }
}
