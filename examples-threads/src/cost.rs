//! # `cost`: what n threads cost, sleeping, spinning, or burning CPU
//!
//! For n = step, 2*step, ..., max: spawn n threads, join them all, print the
//! wall time. Each thread sleeps 20 ms (`sleep`), calls `yield_now` until
//! 20 ms of wall time passed (`spin`), or burns 20 ms of its own CPU time,
//! read on the thread CPU clock (`cpu`); see `cost/work.rs`. Then
//! `cost/verdict.rs` says where each curve stops being flat: n `cpu` threads
//! need n x 20 ms of CPU in all, so past the core count each one adds time. A
//! curve too noisy for that rule (a loaded machine) is reported as "no clear
//! knee".
//!
//! `spin` is the common first attempt at making threads "work" for 20 ms,
//! and it shows what goes wrong: it stops after 20 ms of *wall* time, so n
//! threads share the cores' 20 ms instead of each doing 20 ms of work, and
//! its curve stays flat. It times waiting, not work; `cpu` times work.
//!
//! Run: `cargo run -p examples-threads -- cost [--max 16] [--step 2]
//! [--mode sleep|spin|cpu|all]` (`--max` is capped at 512:
//! `--max 512 --step 1` already starts 131,328 threads a mode).

mod verdict;
mod work;

pub use work::Mode;

use crate::spawn::{join_named, spawn_named};
use anyhow::Result;
use std::thread;
use std::time::{Duration, Instant};
use work::work;

/// Flags of the `cost` demo (`--max` below `--step` is refused in `main`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Largest number of threads, at most 512.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=512))]
    pub max: u32,
    /// Step between thread counts: n = step, 2*step, ..., max.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=512))]
    pub step: u32,
    /// What each thread does.
    #[arg(long, value_enum, default_value_t = Mode::All)]
    pub mode: Mode,
}

// ANCHOR: time_threads
/// Wall time to spawn `n` threads doing `mode` and join them all.
///
/// Should a spawn fail, the threads already running are not joined; each
/// ends by itself once its work is done.
pub fn time_threads(n: u32, mode: Mode) -> Result<Duration> {
    let start = Instant::now();
    let spawn = |i| {
        let name = format!("{}-{i}", mode.name());
        spawn_named(&name, move || work(mode))
    };
    let handles = (0..n).map(spawn).collect::<Result<Vec<_>>>()?;
    for handle in handles {
        let worked = join_named(handle)?; // Err: the thread panicked
        worked?; // Err: the thread could not read its CPU clock
    }
    Ok(start.elapsed())
}
// ANCHOR_END: time_threads

/// Times n = step, 2*step, ..., max threads; one row per n: (n, ms for each mode).
pub fn measure(args: &Args, modes: &[Mode]) -> Result<Vec<(u32, Vec<f64>)>> {
    let ns = (args.step..=args.max).step_by(args.step as usize);
    let row = |n| -> Result<(u32, Vec<f64>)> {
        let ms = |&m| time_threads(n, m).map(|d| d.as_secs_f64() * 1e3);
        Ok((n, modes.iter().map(ms).collect::<Result<_>>()?))
    };
    ns.map(row).collect()
}

/// What a debug build changes in the table: said on its header line.
const DEBUG_NOTE: &str = "  (debug build: spawns slower than --release)";

/// Prints the table, the rule, and a verdict per mode.
pub fn run(args: &Args) -> Result<()> {
    let modes = args.mode.expand();
    let cores = thread::available_parallelism().map_or(1, |c| c.get());
    for mode in &modes {
        println!("{} = each of n threads {}", mode.name(), mode.what());
    }
    let head: String = modes
        .iter()
        .map(|m| format!("{:>9}", m.name() + "_ms"))
        .collect();
    let note = if cfg!(debug_assertions) {
        DEBUG_NOTE
    } else {
        ""
    };
    println!("{:>5} {head}{note}", "n");
    let table = measure(args, &modes)?;
    for (n, ms) in &table {
        let cells: String = ms.iter().map(|t| format!("{t:>9.1}")).collect();
        println!("{n:>5} {cells}");
    }
    let band = verdict::FLAT_BAND;
    println!("rule: a knee is where a curve leaves {band}x its first time for good;");
    println!("rule: the slope after it is a least-squares fit; no steady rise = noisy");
    for (i, mode) in modes.iter().enumerate() {
        let curve = verdict::column(&table, i);
        let why = mode.why(cores);
        println!(
            "{}",
            verdict::verdict(&mode.name(), &curve, mode.cpu_ms(), &why)
        );
    }
    println!("notice: past the core count, each CPU-bound thread adds time, not speed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_n_one_column_per_mode() {
        let args = Args {
            max: 5,
            step: 2,
            mode: Mode::All,
        };
        let table = measure(&args, &[Mode::Sleep, Mode::Cpu]).expect("threads spawn");
        let shape: Vec<(u32, usize)> = table.iter().map(|(n, ms)| (*n, ms.len())).collect();
        assert_eq!(shape, [(2, 2), (4, 2)]);
        assert!(table.iter().all(|(_, ms)| ms.iter().all(|t| *t >= 20.0)));
    }
}
