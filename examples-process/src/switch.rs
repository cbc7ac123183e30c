//! # `switch`: the cost of a round trip, thread to thread and process to process
//!
//! Times `--rounds` round trips of one byte (median, p99, µs): to a thread
//! through two `crossbeam_channel::bounded(1)`, to a thread through two OS
//! pipes, to a child process through two OS pipes (this binary re-run as the
//! hidden `echo` subcommand, via `std::env::current_exe`). Unpinned, then
//! with this thread pinned to one CPU (`sched_setaffinity`, inherited by the
//! echo thread and the child, restored after). The verdict is computed.
//!
//! Run: `cargo run -p examples-process -- switch [--rounds 2000]`
//! (`--release` for figures: a debug build says so on every timing line).
//!
//! It is often said that a switch "clears" the registers and flushes the
//! caches, and that the more isolated the tasks, the dearer the switch.
//! A switch saves and restores the registers, and a thread switch flushes
//! no cache: the threads share one address space. Nor are data caches
//! flushed between processes; at most the TLB is, on a CPU that cannot tag
//! its entries. And the cost of isolation is barely visible between threads
//! and processes: pinned to one CPU, process pipes measure within about 10%
//! of thread pipes; the kernel's pipe and wake-up path costs far more than
//! switching address spaces. A naive measurement misleads: unpinned, a
//! wake-up may cross cores, which on a VM costs tens of µs and can dominate
//! (the note line says whether it did). A crossbeam channel spins before it
//! sleeps: unpinned, two threads may meet without a switch; pinned, its
//! spin delays the other side.

use std::ffi::OsStr;

use anyhow::{Context, Result};
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

use crate::roundtrip::{process_pipes, thread_channel, thread_pipes, WARM_UP};

/// Flags of the `switch` demo.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Timed round trips per variant (after untimed warm-up ones).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rounds: u32,
}

/// One variant's name, median and p99 round trip, in µs.
pub type Stats = (&'static str, f64, f64);

// ANCHOR: measure
/// The [`Stats`] of: thread channel, thread pipes, process pipes (the child
/// runs `echo`, a program with its arguments that echoes stdin to stdout).
/// Each variant's round trips come timed in an `hdrhistogram::Histogram` of
/// nanoseconds; its 0.5 and 0.99 quantiles are the median and the p99.
pub fn measure(rounds: usize, echo: (&OsStr, &[&str])) -> Result<[Stats; 3]> {
    let variants = [
        ("thread channel", thread_channel(rounds)?),
        ("thread pipes", thread_pipes(rounds)?),
        ("process pipes", process_pipes(rounds, echo.0, echo.1)?),
    ];
    Ok(variants.map(|(name, times)| {
        let us = |quantile| times.value_at_quantile(quantile) as f64 / 1e3;
        (name, us(0.5), us(0.99))
    }))
}
// ANCHOR_END: measure

// ANCHOR: on_one_cpu
/// Runs `f` with this thread pinned to its first CPU (inherited by threads and
/// processes it starts), then restores the mask: `f`'s value, and the CPU.
fn on_one_cpu<T>(f: impl FnOnce() -> T) -> Result<(T, usize)> {
    let me = Pid::from_raw(0); // the calling thread
    let saved =
        sched_getaffinity(me).context("reading this thread's CPU mask")?;
    let cpu = (0..CpuSet::count())
        .find(|&c| saved.is_set(c).unwrap_or(false))
        .context("no CPU")?;
    let mut one = CpuSet::new();
    one.set(cpu).with_context(|| format!("CPU {cpu} out of range"))?;
    sched_setaffinity(me, &one)
        .with_context(|| format!("pinning this thread to CPU {cpu}"))?;
    let out = f();
    sched_setaffinity(me, &saved)
        .context("restoring this thread's CPU mask")?;
    Ok((out, cpu))
}
// ANCHOR_END: on_one_cpu

/// The verdict for one run of [`measure`]: which is slower, by what ratio.
/// Within 5% either way, the medians count as the same.
pub fn verdict(label: &str, stats: &[Stats; 3]) -> String {
    let [channel, threads, processes] =
        stats.map(|(_, median, _)| median.max(1e-3));
    let compare = |other: f64| match processes / other {
        ratio if (0.95..=1.05).contains(&ratio) => {
            "about as fast as (within 5%)".to_owned()
        }
        ratio if ratio >= 1.0 => format!("{ratio:.2}x slower than"),
        ratio => format!("{:.2}x faster than", 1.0 / ratio),
    };
    format!(
        "verdict {label}: process-to-process is {}\n  thread-to-thread over \
         the same pipes (median {processes:.1} vs {threads:.1} µs), and\n  \
         {} a thread channel ({channel:.1} µs)",
        compare(threads),
        compare(channel)
    )
}

/// Unpinned medians of the pipe variants at least this many times the pinned
/// ones count as a cross-core wake-up cost that pinning removed.
const PINNING_MATTERS: f64 = 1.5;

/// What pinning changed for the two pipe variants, as this run's medians show.
pub fn pinning_note(unpinned: &[Stats; 3], pinned: &[Stats; 3]) -> String {
    let slower: Vec<String> = (unpinned[1..].iter().zip(&pinned[1..]))
        .map(|(&(name, off, _), &(_, on, _))| (name, off / on.max(1e-3)))
        .filter(|&(_, ratio)| ratio >= PINNING_MATTERS)
        .map(|(name, ratio)| format!("{name} took {ratio:.1}x"))
        .collect();
    if slower.is_empty() {
        return format!(
            "note: unpinned pipe round trips were under {PINNING_MATTERS}x \
             the pinned ones:\n  no cross-core wake-up cost dominated in this \
             run"
        );
    }
    format!(
        "note: unpinned, {}\n  the pinned median: a cross-core wake-up (tens \
         of µs on a VM)\n  dominated there; pinned to one CPU it is gone",
        slower.join(", ")
    )
}

/// Measures unpinned, then pinned; prints the table and the verdicts.
pub fn run(args: &Args) -> Result<()> {
    let exe =
        std::env::current_exe().context("finding this program's executable")?;
    let rounds = args.rounds as usize;
    let unpinned = measure(rounds, (exe.as_os_str(), &["echo"]))?;
    let (pinned, cpu) =
        on_one_cpu(|| measure(rounds, (exe.as_os_str(), &["echo"])))?;
    let pinned = pinned?;
    let debug = cfg!(debug_assertions);
    let (tag, why) = if debug {
        (" (debug build)", " (debug build: not representative; use --release)")
    } else {
        ("", "")
    };
    println!(
        "{rounds} round trips of 1 byte per variant (after {WARM_UP} warm-up \
         ones),"
    );
    println!("in µs{why}:");
    for (label, stats) in [("unpinned", &unpinned), ("pinned", &pinned)] {
        for (name, median, p99) in stats {
            println!(
                "  {label:<9} {name:<15} median {median:>8.2}  p99 \
                 {p99:>8.2}{tag}"
            );
        }
    }
    println!("{}{tag}", verdict("unpinned", &unpinned));
    println!("{}{tag}", verdict(&format!("pinned to CPU {cpu}"), &pinned));
    println!("{}{tag}", pinning_note(&unpinned, &pinned));
    println!(
        "notice: process pipes against thread pipes: the cost of another \
         address space;"
    );
    println!("notice: unpinned against pinned, of a second CPU");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_gives_positive_numbers_and_a_verdict() {
        let before =
            sched_getaffinity(Pid::from_raw(0)).expect("read the CPU mask");
        let (stats, _) = on_one_cpu(|| measure(30, ("cat".as_ref(), &[])))
            .expect("pinning works");
        assert!(
            sched_getaffinity(Pid::from_raw(0)).expect("read the CPU mask")
                == before
        );
        let stats = stats.expect("the echo sides run");
        assert!(stats
            .iter()
            .all(|&(_, median, p99)| median > 0.0 && p99 >= median));
        assert!(verdict("pinned", &stats)
            .starts_with("verdict pinned: process-to-process is "));
    }

    #[test]
    fn the_verdict_names_the_slower_and_the_ratio() {
        let stats = [("c", 4.0, 5.0), ("t", 2.0, 3.0), ("p", 3.0, 4.0)];
        let verdict = verdict("x", &stats);
        assert!(
            verdict.contains("1.50x slower than\n  thread-to-thread"),
            "{verdict}"
        );
        assert!(
            verdict.contains("1.33x faster than a thread channel"),
            "{verdict}"
        );
        let same = super::verdict(
            "x",
            &[("c", 3.0, 5.0), ("t", 2.9, 3.0), ("p", 3.0, 4.0)],
        );
        assert!(
            same.contains("about as fast as (within 5%)\n  thread-to-thread"),
            "{same}"
        );
        assert!(
            same.contains("about as fast as (within 5%) a thread channel"),
            "{same}"
        );
    }

    #[test]
    fn the_pinning_note_says_only_what_the_medians_show() {
        let pinned = [
            ("c", 15.0, 16.0),
            ("thread pipes", 7.0, 9.0),
            ("process pipes", 7.0, 9.0),
        ];
        let crossed = [
            ("c", 1.0, 16.0),
            ("thread pipes", 56.0, 99.0),
            ("process pipes", 7.0, 9.0),
        ];
        let note = pinning_note(&crossed, &pinned);
        assert!(
            note.starts_with(
                "note: unpinned, thread pipes took 8.0x\n  the pinned median"
            ),
            "{note}"
        );
        assert!(!note.contains("process pipes"), "{note}");
        let note = pinning_note(&pinned, &pinned);
        assert!(
            note.contains("no cross-core wake-up cost dominated"),
            "{note}"
        );
    }
}
