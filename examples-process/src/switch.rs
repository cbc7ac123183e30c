//! # `switch`: the cost of a round trip, thread to thread and process to process
//!
//! Times `--rounds` round trips of one byte (median, p99, µs): to a thread
//! through two `crossbeam_channel::bounded(1)`, to a thread through two OS
//! pipes, to a child process through two OS pipes (this binary re-run as the
//! hidden `echo` subcommand, via `std::env::current_exe`). Unpinned, then
//! with this thread pinned to one CPU (`sched_setaffinity`, inherited by the
//! echo thread and the child, restored after). The verdict is computed.
//!
//! Seed: `processes-threads-and-containers.md`, "Context Switch" ("as
//! isolation increases, so does the cost of the context switch"),
//! "Isolation", "Threads", "Processes".
//!
//! Run: `cargo run -p examples-process -- switch [--rounds 2000]`
//!
//! What the seed leaves out: it states the cost but never measures it, and a
//! naive measurement misleads. Unpinned, a wake-up may cross cores; on a VM
//! that costs tens of µs, can dominate each round trip and hide the
//! thread/process difference. Pinned to one CPU, a round trip is two plain
//! context switches. A crossbeam channel spins before it sleeps: unpinned, two
//! threads may meet without a switch; pinned, its spin delays the other side.

use std::ffi::OsStr;

use anyhow::{Context, Result};
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

use crate::roundtrip::{self, process_pipes, thread_channel, thread_pipes, WARM_UP};

/// Flags of the `switch` demo.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Timed round trips per variant (after untimed warm-up ones).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rounds: u32,
}

/// One variant's name, median and p99 round trip, in µs.
pub type Stats = (&'static str, f64, f64);

/// The [`Stats`] of: thread channel, thread pipes, process pipes (the child
/// runs `echo`, a program with its arguments that echoes stdin to stdout).
pub fn measure(rounds: usize, echo: (&OsStr, &[&str])) -> Result<[Stats; 3]> {
    let variants = [
        ("thread channel", thread_channel(rounds)?),
        ("thread pipes", thread_pipes(rounds)?),
        ("process pipes", process_pipes(rounds, echo.0, echo.1)?),
    ];
    Ok(variants.map(|(name, times)| {
        let (median, p99) = roundtrip::median_p99(times);
        (name, median, p99)
    }))
}

/// Runs `f` with this thread pinned to its first CPU (inherited by threads and
/// processes it starts), then restores the mask: `f`'s value, and the CPU.
fn on_one_cpu<T>(f: impl FnOnce() -> T) -> Result<(T, usize)> {
    let me = Pid::from_raw(0); // the calling thread
    let saved = sched_getaffinity(me).context("reading this thread's CPU mask")?;
    let cpu = (0..CpuSet::count()).find(|&c| saved.is_set(c).unwrap_or(false)).context("no CPU")?;
    let mut one = CpuSet::new();
    one.set(cpu).with_context(|| format!("CPU {cpu} out of range"))?;
    sched_setaffinity(me, &one).with_context(|| format!("pinning this thread to CPU {cpu}"))?;
    let out = f();
    sched_setaffinity(me, &saved).context("restoring this thread's CPU mask")?;
    Ok((out, cpu))
}

/// The verdict for one run of [`measure`]: which is slower, by what ratio.
pub fn verdict(label: &str, stats: &[Stats; 3]) -> String {
    let [channel, threads, processes] = stats.map(|(_, median, _)| median.max(1e-3));
    let compare = |other: f64| match processes / other {
        ratio if ratio >= 1.0 => format!("{ratio:.2}x slower than"),
        ratio => format!("{:.2}x faster than", 1.0 / ratio),
    };
    format!("verdict {label}: process-to-process is {} thread-to-thread over the same pipes (median {processes:.1} vs {threads:.1} µs), and {} a thread channel ({channel:.1} µs)", compare(threads), compare(channel))
}

/// Measures unpinned, then pinned; prints the table and the verdicts.
pub fn run(args: &Args) -> Result<()> {
    let exe = std::env::current_exe().context("finding this program's executable")?;
    let rounds = args.rounds as usize;
    let unpinned = measure(rounds, (exe.as_os_str(), &["echo"]))?;
    let (pinned, cpu) = on_one_cpu(|| measure(rounds, (exe.as_os_str(), &["echo"])))?;
    let pinned = pinned?;
    println!("{rounds} round trips of 1 byte per variant (after {WARM_UP} warm-up ones), in µs:");
    for (label, stats) in [("unpinned", &unpinned), ("pinned", &pinned)] {
        for (name, median, p99) in stats {
            println!("  {label:<9} {name:<15} median {median:>8.2}  p99 {p99:>8.2}");
        }
    }
    println!("{}", verdict("unpinned", &unpinned));
    println!("{}", verdict(&format!("pinned to CPU {cpu}"), &pinned));
    println!("note: unpinned, a cross-core wake-up (tens of µs on a VM) can dominate and hide the difference; pinning removes it");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_gives_positive_numbers_and_a_verdict() {
        let before = sched_getaffinity(Pid::from_raw(0)).expect("read the CPU mask");
        let (stats, _) = on_one_cpu(|| measure(30, ("cat".as_ref(), &[]))).expect("pinning works");
        assert!(sched_getaffinity(Pid::from_raw(0)).expect("read the CPU mask") == before);
        let stats = stats.expect("the echo sides run");
        assert!(stats.iter().all(|&(_, median, p99)| median > 0.0 && p99 >= median));
        assert!(verdict("pinned", &stats).starts_with("verdict pinned: process-to-process is "));
    }

    #[test]
    fn the_verdict_names_the_slower_and_the_ratio() {
        let stats = [("c", 4.0, 5.0), ("t", 2.0, 3.0), ("p", 3.0, 4.0)];
        let verdict = verdict("x", &stats);
        assert!(verdict.contains("1.50x slower than thread-to-thread"), "{verdict}");
        assert!(verdict.contains("1.33x faster than a thread channel"), "{verdict}");
    }
}
