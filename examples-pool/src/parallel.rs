//! `parallel`: the same CPU-bound work (counting the primes below `--n` by
//! trial division) three ways: rayon's `par_iter`, ptm's `ThreadPool` fed
//! one job per chunk of the range, and a plain iterator on one thread. The
//! counts must agree; each time is the median of `--reps` runs after a
//! warm-up. `(0..n).filter(prime)` goes parallel as
//! `(0..n).into_par_iter().filter(prime)`, and the speed-up is measured:
//! the cores bound it (at most 2x on 2 cores).
//!
//! Run it: `cargo run -p examples-pool -- parallel [--n 100000] [--reps 3]`
//! (a debug build's times are not representative; add `--release`). A run
//! whose one-thread time is under [`MEASURABLE`] is too short for its
//! speed-up to mean anything, and says so instead of printing one.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use ptm::pool::JobError;
use ptm::ThreadPool;
use rayon::prelude::*;

/// Flags of the `parallel` demo.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Count the primes below n (at most 10000000)
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(0..=MAX_N))]
    pub n: u64,
    /// Timed runs of each way, 1 to 100
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub reps: u32,
}

/// The largest `--n`: trial division below it takes seconds per way in a
/// release build (much longer in a debug one).
pub const MAX_N: u64 = 10_000_000;

/// True if `k` is prime (trial division: deliberately CPU-bound). Takes `&u64`
/// so that it can be passed to `filter` as it is.
pub fn prime(&k: &u64) -> bool {
    k >= 2 && (2..).take_while(|&d| d <= k / d).all(|d| k % d != 0)
}

/// One way's prime count and median time.
#[derive(Debug)]
pub struct Outcome {
    /// Which way: rayon, the ptm pool or one thread.
    pub name: &'static str,
    /// The primes it counted.
    pub primes: usize,
    /// The median time of its runs.
    pub median: Duration,
}

// ANCHOR: count_on_pool
/// Counts the primes below `n` with the pool, one job per chunk of the range.
fn count_on_pool(pool: &ThreadPool, n: u64, chunks: u64) -> Result<usize> {
    let size = n.div_ceil(chunks).max(1);
    let handles: Vec<_> = (0..n)
        .step_by(size as usize)
        .map(|start| {
            pool.spawn(move || {
                (start..n.min(start.saturating_add(size))).filter(prime).count()
            })
        })
        .collect::<ptm::Result<_>>()
        .context("spawn a chunk on the pool")?;
    let counts = handles.into_iter().map(|handle| handle.join());
    counts.sum::<Result<usize, JobError>>().context("join a chunk")
}
// ANCHOR_END: count_on_pool

/// Runs `f` once to warm up (rayon starts its threads then), then `reps`
/// times, each time recorded in nanoseconds (1 ns to an hour, to 3
/// significant digits); returns the count and the median time.
fn median(
    name: &'static str,
    reps: u32,
    f: impl Fn() -> Result<usize>,
) -> Result<Outcome> {
    let mut times = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)?;
    let mut primes = f()?;
    for _ in 0..reps {
        let start = Instant::now();
        primes = f()?;
        let ns = start.elapsed().as_nanos();
        times.saturating_record(u64::try_from(ns).unwrap_or(u64::MAX));
    }
    let median = Duration::from_nanos(times.value_at_quantile(0.5));
    Ok(Outcome { name, primes, median })
}

// ANCHOR: three_ways
/// Runs the three ways, the pool with as many workers as the machine has cores.
pub fn demo(args: &Args) -> Result<Vec<Outcome>> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = ThreadPool::new(workers)
        .with_context(|| format!("starting a pool of {workers}"))?;
    let (n, reps) = (args.n, args.reps);
    Ok(vec![
        median("rayon par_iter", reps, || {
            Ok((0..n).into_par_iter().filter(prime).count())
        })?,
        median("ptm ThreadPool", reps, || {
            count_on_pool(&pool, n, 16 * workers as u64)
        })?,
        median("one thread", reps, || Ok((0..n).filter(prime).count()))?,
    ])
}
// ANCHOR_END: three_ways

/// The shortest one-thread time whose speed-ups are printed: below it, the
/// pool's and rayon's start-up costs (tens of microseconds) decide them.
pub const MEASURABLE: Duration = Duration::from_millis(1);

/// What a way's speed-up over `one` (the one-thread time) is, in words.
pub fn speed_up(one: Duration, time: Duration) -> String {
    if one < MEASURABLE {
        return "not measured: too short (try a larger --n)".to_owned();
    }
    let ratio = one.as_secs_f64() / time.as_secs_f64().max(1e-9);
    format!("{ratio:.2}x {}", crate::DEBUG_NOTE).trim_end().to_owned()
}

/// Prints [`demo`]: counts, median times, speed-ups over one thread.
pub fn run(args: &Args) -> Result<()> {
    println!("== parallel: rayon vs ptm ThreadPool vs one thread ==");
    let outcomes = demo(args)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (n, reps) = (args.n, args.reps);
    let counts: Vec<_> =
        outcomes.iter().map(|o| o.primes.to_string()).collect();
    let agree = outcomes.windows(2).all(|w| w[0].primes == w[1].primes);
    let counts = counts.join(", ");
    println!(
        "primes below {n}, counted three ways: {counts} (all equal: {agree})"
    );
    println!(
        "median of {reps} runs on {cores} cores, speed-up over one thread:"
    );
    let one = outcomes.last().map_or(Duration::ZERO, |o| o.median);
    for o in &outcomes {
        let time = format!("{:.2?}", o.median);
        println!("{:<15} {time:<9} {}", o.name, speed_up(one, o.median));
    }
    println!(
        "notice: the cores bound the speed-up; rayon needs the least code \
         for this work"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_too_short_to_measure_says_so() {
        let (us, ms) = (Duration::from_micros, Duration::from_millis);
        let short = speed_up(us(100), us(50));
        assert!(short.starts_with("not measured: too short"), "{short}");
        assert!(speed_up(ms(100), ms(50)).starts_with("2.00x"));
    }

    /// A sleep lasts at least what it was given, so the median of the timed
    /// runs is at least that: it is read from the recorded times.
    #[test]
    fn median_warms_up_once_then_times_each_run() {
        let calls = std::cell::Cell::new(0);
        let outcome = median("sleep", 3, || {
            calls.set(calls.get() + 1);
            std::thread::sleep(Duration::from_millis(2));
            Ok(calls.get())
        })
        .expect("no run fails");
        assert_eq!(outcome.primes, 4, "one warm-up run, then three timed");
        assert!(outcome.median >= Duration::from_millis(2), "{outcome:?}");
    }

    #[test]
    fn the_three_ways_agree_and_chunks_cover_the_range() {
        let outcomes =
            demo(&Args { n: 10_000, reps: 1 }).expect("the demo runs");
        assert!(outcomes.iter().all(|o| o.primes == 1229), "{outcomes:?}");
        let pool = ThreadPool::new(2).expect("a pool starts");
        for (n, chunks) in [(0, 4), (1, 4), (3, 8), (100, 7), (101, 1)] {
            let expected = (0..n).filter(prime).count();
            assert_eq!(
                count_on_pool(&pool, n, chunks).expect("counts"),
                expected,
                "n={n}"
            );
        }
    }
}
