//! How late a child's exit is noticed by a wait with a deadline: ptm's
//! `Process::wait_timeout` and `Process::terminate`, which sleep in
//! `poll(2)` on a pidfd, against the polling they replaced (`try_wait`, then
//! a pause that starts at 50 µs and doubles up to 2 ms, never past the
//! deadline), with a blocking `waitpid` as the floor. Latency: from the
//! child's last clock read before it exits to the caller's return; p50 and
//! p99 of pidfd against polling (expected: tens of microseconds against up
//! to 2 ms).
//!
//! ```text
//! cargo run --release -p ptm-benches --bin exit_notice
//! cargo run --release -p ptm-benches --bin exit_notice -- --samples 2000 --max-delay-us 5000 --csv notice.csv
//! cargo run --release -p ptm-benches --bin exit_notice -- --variants wait-timeout,wait-timeout-polled
//! taskset -c 0 ./target/release/exit_notice
//! ```
//!
//! Variants, each timing one child per sample:
//!
//! - `wait-timeout`: `Process::spawn` of a child that sleeps, then exits;
//!   `wait_timeout(10 s)`, which must return the child's success.
//! - `wait-timeout-polled`: the same child, waited for by the old loop on
//!   `Process::try_wait` (pauses of 50 µs doubling up to 2 ms, deadline 10 s).
//! - `terminate`: a child that blocks SIGTERM, says it is ready (one byte on
//!   its stdout), waits for SIGTERM, sleeps (its clean-up), then exits 0;
//!   after the ready byte, `terminate(10 s)`, whose status must be that exit 0
//!   (the child handled SIGTERM: no SIGKILL was needed).
//! - `terminate-polled`: the same child; SIGTERM and SIGCONT through
//!   `Process::signal`, then the old loop.
//! - `waitpid`: std `Command::spawn` of the sleeping child and a blocking
//!   `Child::wait()` (no deadline): what a blocking wait gives.
//!
//! The child is this binary, re-executed with `PTM_EXIT_NOTICE_CHILD` set
//! (`sleep:<delay_us>` or `term:<delay_us>`), which `main` checks before it
//! parses any argument. Just before `_exit(0)` the child reads
//! `CLOCK_MONOTONIC` and writes it, 8 bytes, to its stdout (a pipe); the
//! parent reads `CLOCK_MONOTONIC` right after the wait returns and the
//! child's timestamp from the pipe after that. So every latency includes the
//! child's own exit (`_exit` and the kernel's tear-down of the process),
//! the same for every variant: compare the variants, not the absolute floor.
//!
//! The delay (sleep or clean-up) of sample `i` is the same for every variant,
//! from a fixed pseudo-random sequence uniform in `[0, --max-delay-us]`
//! (default 3000), so that exits land anywhere in the polling's back-off
//! schedule. For each sample every variant runs once, in an order rotated by
//! one place per sample. The table (stdout) gives per variant p50, p90, p99
//! and max in microseconds, and the ratios polled / pidfd of p50 and p99;
//! progress goes to stderr, and with `--csv PATH` one line per sample
//! (variant, sample, delay_us, latency_ns) to PATH.
//!
//! The measurement lives in `ptm_benches::exit_notice`; `report` does not
//! run it.
//!
//! This machine's speed flips from one process to the next, and a wake-up
//! of the other vCPU costs tens of microseconds: compare variants within a
//! run, run the binary several times, and try it pinned to one CPU
//! (`taskset -c 0`; the children inherit the pinning).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use ptm_benches::exit_notice::{child_main, run, Config, Variant, CHILD_ENV};

/// Measure how late a child's exit is noticed, pidfd against polling.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Samples per variant.
    #[arg(long, default_value_t = 500)]
    samples: usize,

    /// The largest delay of a child before it exits, in microseconds.
    #[arg(long, default_value_t = 3000)]
    max_delay_us: u64,

    /// Variants to measure, comma-separated [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    variants: Vec<Variant>,

    /// Also write one CSV line per sample to this file.
    #[arg(long, value_name = "PATH")]
    csv: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    if let Some(role) = std::env::var_os(CHILD_ENV) {
        child_main(&role);
    }
    let mut args = Args::parse();
    if args.variants.is_empty() {
        args.variants = Variant::ALL.to_vec();
    }
    let mut seen = Vec::new();
    args.variants.retain(|variant| {
        let first = !seen.contains(variant);
        seen.push(*variant);
        first
    });
    let config = Config {
        samples: args.samples,
        max_delay_us: args.max_delay_us,
        variants: args.variants,
    };
    let exe = std::env::current_exe().context("finding this program (current_exe)")?;

    eprintln!(
        "{} samples of {} variants, child delays 0..{} us",
        config.samples,
        config.variants.len(),
        config.max_delay_us
    );
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("samples [{bar:30}] {pos}/{len} {elapsed:>4}")
            .context("the progress bar template")?
            .progress_chars("=> "),
    );
    let began = Instant::now();
    let outcome = run(&exe, &config, &bar)?;
    bar.finish_and_clear();
    eprintln!(
        "{} samples in {:.1} s",
        outcome.samples.len(),
        began.elapsed().as_secs_f64()
    );

    if let Some(path) = &args.csv {
        outcome.table().save(path)?;
    }
    print!("{}", outcome.report());
    Ok(())
}
