//! Cost of starting a short program and waiting for it, through ptm's
//! `ProcessManager`, through ptm's `Process` and through plain
//! `std::process::Command`, interleaved round by round in one process. The
//! targets: spawn + wait of `/bin/true` through `ProcessManager` and through `Process` within 5% of plain
//! `std::process::Command::status` (`pm / status` and `process / status`
//! at most 1.05).
//!
//! ```text
//! cargo run --release -p ptm-benches --bin spawn_cost
//! cargo run --release -p ptm-benches --bin spawn_cost -- --spawns 500 --rounds 9 --csv spawn.csv
//! cargo run --release -p ptm-benches --bin spawn_cost -- --program true --variants pm,status
//! cargo run --release -p ptm-benches --bin spawn_cost -- --variants process,status
//! taskset -c 0 ./target/release/spawn_cost
//! ```
//!
//! Variants, each starting `--program` (default `/bin/true`, no arguments)
//! and waiting for it before starting the next, `--spawns` times per round:
//!
//! - `pm`: `ProcessManager::spawn(program, &[])` then `wait_all()`, one
//!   child at a time, on one manager per round. ptm starts every child in a
//!   process group of its own (`process_group(0)`, which std's `posix_spawn`
//!   path turns into `POSIX_SPAWN_SETPGROUP`).
//! - `process`: `Process::spawn(Command::new(program))` then `wait()`: one
//!   child in its own process group, held by a pidfd and waited for in
//!   `poll(2)` on it, without a manager's bookkeeping.
//! - `status`: `Command::new(program).status()`: the issue's reference.
//! - `status-pgroup`: `Command::new(program).process_group(0).status()`: std
//!   with the same process group as ptm, to tell what the group costs from
//!   what ptm's own bookkeeping costs (`pm / status-pgroup` is the latter).
//! - `sh`: `Command::new("sh").args(["-c", "true"]).status()`: the same
//!   through a shell (the builtin `true`, whatever `--program` is), for scale.
//!
//! Every child's exit status is checked (a failure is an error, so use a
//! program that succeeds). Each variant runs one untimed warm-up of a tenth
//! of `--spawns`; then each round runs every variant once, in an order
//! rotated by one place per round. The table (stdout) gives microseconds per
//! spawn + wait: median, min and max over the rounds, and the same-process
//! ratios of the medians; progress goes to stderr, and with `--csv PATH` one
//! line per (variant, round) to PATH.
//!
//! The variants live in `ptm_benches::experiments::processes`, which
//! `report` runs too.
//!
//! This machine's speed flips from one process to the next, and a wake-up
//! of the other vCPU costs tens of microseconds: compare variants within a
//! run, run the binary several times, and try it pinned to one CPU
//! (`taskset -c 0`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;
use ptm_benches::experiments::processes::Variant;
use ptm_benches::stats::{summarize, Summary};

/// Compare ways of running a short program to its end.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// The program to start (no arguments); it must exit successfully.
    #[arg(long, default_value = "/bin/true")]
    program: String,

    /// Spawns (each waited for before the next) per variant and round.
    #[arg(long, default_value_t = 2000)]
    spawns: usize,

    /// Timed rounds; each runs every variant once.
    #[arg(long, default_value_t = 7)]
    rounds: usize,

    /// Variants to measure, comma-separated [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    variants: Vec<Variant>,

    /// Also write one CSV line per (variant, round) to this file.
    #[arg(long, value_name = "PATH")]
    csv: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.spawns == 0 || args.rounds == 0 {
        bail!("--spawns and --rounds must be at least 1");
    }
    if args.variants.is_empty() {
        args.variants = Variant::ALL.to_vec();
    }
    let mut seen = Vec::new();
    args.variants.retain(|variant| {
        let first = !seen.contains(variant);
        seen.push(*variant);
        first
    });

    let mut csv = match &args.csv {
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("creating {}", path.display()))?;
            let mut out = BufWriter::new(file);
            writeln!(out, "variant,round,position,spawns,seconds,us_per_spawn")?;
            Some((path, out))
        }
        None => None,
    };

    eprintln!(
        "{} variants, one warm-up of {} spawns each",
        args.variants.len(),
        (args.spawns / 10).max(1)
    );
    for &variant in &args.variants {
        variant
            .run(&args.program, (args.spawns / 10).max(1))
            .with_context(|| format!("warming up {variant}"))?;
    }

    // Microseconds per spawn, per variant (indexed like args.variants).
    let mut micros: Vec<Vec<f64>> = vec![Vec::new(); args.variants.len()];
    for round in 0..args.rounds {
        let mut line = format!("round {}/{}:", round + 1, args.rounds);
        for position in 0..args.variants.len() {
            let index = (round + position) % args.variants.len();
            let variant = args.variants[index];
            let start = Instant::now();
            variant
                .run(&args.program, args.spawns)
                .with_context(|| format!("{variant}, round {}", round + 1))?;
            let seconds = start.elapsed().as_secs_f64();
            let per_spawn = seconds * 1e6 / args.spawns as f64;
            line.push_str(&format!(" {variant} {per_spawn:.1}"));
            if let Some((path, out)) = &mut csv {
                writeln!(
                    out,
                    "{variant},{round},{position},{},{seconds:.9},{per_spawn:.3}",
                    args.spawns
                )
                .with_context(|| format!("writing {}", path.display()))?;
            }
            micros[index].push(per_spawn);
        }
        eprintln!("{line} us/spawn");
    }
    if let Some((path, mut out)) = csv {
        out.flush()
            .with_context(|| format!("writing {}", path.display()))?;
    }

    print_table(&args, micros);
    Ok(())
}

fn print_table(args: &Args, micros: Vec<Vec<f64>>) {
    println!(
        "spawn + wait of {}, one child at a time; {} spawns per round, {} rounds; \
         microseconds per spawn",
        args.program, args.spawns, args.rounds
    );
    println!(
        "{:<14} {:>9} {:>9} {:>9}",
        "variant", "median", "min", "max"
    );
    let summaries: Vec<(Variant, Summary)> = args
        .variants
        .iter()
        .zip(micros)
        .filter_map(|(&variant, values)| summarize(values).map(|s| (variant, s)))
        .collect();
    for (variant, s) in &summaries {
        println!(
            "{variant:<14} {:>9.1} {:>9.1} {:>9.1}",
            s.median, s.min, s.max
        );
    }
    let median_of = |wanted: Variant| {
        summaries
            .iter()
            .find(|(variant, _)| *variant == wanted)
            .map(|(_, s)| s.median)
    };
    // Time ratios: below 1.00 means the first is faster.
    let pairs = [
        (Variant::Pm, Variant::Status, Some(1.05)),
        (Variant::Process, Variant::Status, Some(1.05)),
        (Variant::Pm, Variant::StatusPgroup, None),
        (Variant::StatusPgroup, Variant::Status, None),
        (Variant::Sh, Variant::Status, None),
    ];
    for (mine, other, bar) in pairs {
        if let (Some(m), Some(o)) = (median_of(mine), median_of(other)) {
            let bar = bar.map_or(String::new(), |b| format!("   (target <= {b:.2})"));
            println!("time {mine:>13} / {other:<13} = {:.3}{bar}", m / o);
        }
    }
}
