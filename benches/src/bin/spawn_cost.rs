//! Cost of starting a short program and waiting for it, through ptm's
//! `ProcessManager` and through plain `std::process::Command`, interleaved
//! round by round in one process (issue 3, "Performance": "spawn + wait of
//! `/bin/true` through `ProcessManager` within 5% of plain
//! `std::process::Command::status`").
//!
//! ```text
//! cargo run --release -p ptm-benches --bin spawn_cost
//! cargo run --release -p ptm-benches --bin spawn_cost -- --spawns 500 --rounds 9 --csv spawn.csv
//! cargo run --release -p ptm-benches --bin spawn_cost -- --program true --variants pm,status
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
//! This machine's speed flips from one process to the next, and a wake-up
//! of the other vCPU costs tens of microseconds: compare variants within a
//! run, run the binary several times, and try it pinned to one CPU
//! (`taskset -c 0`).

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::Instant;

use anyhow::{bail, ensure, Context};
use clap::Parser;
use ptm::process::ProcessManager;
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

/// One way of running the program and waiting for it.
/// (Variant docs are plain text: clap shows them in `--help`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Variant {
    /// ProcessManager::spawn, then wait_all (own process group).
    Pm,
    /// Command::new(program).status().
    Status,
    /// Command::new(program).process_group(0).status().
    StatusPgroup,
    /// Command::new("sh").args(["-c", "true"]).status().
    Sh,
}

impl Variant {
    /// Every variant, in the order tables list them.
    const ALL: [Variant; 4] = [
        Variant::Pm,
        Variant::Status,
        Variant::StatusPgroup,
        Variant::Sh,
    ];

    /// The variant's name on the command line and in tables and CSV.
    fn name(self) -> &'static str {
        match self {
            Variant::Pm => "pm",
            Variant::Status => "status",
            Variant::StatusPgroup => "status-pgroup",
            Variant::Sh => "sh",
        }
    }

    /// Starts the program `spawns` times, one after the other, each waited
    /// for, and checks that every one succeeded.
    fn run(self, program: &str, spawns: usize) -> anyhow::Result<()> {
        match self {
            Variant::Pm => {
                let mut manager = ProcessManager::new();
                for _ in 0..spawns {
                    manager
                        .spawn(program, &[])
                        .with_context(|| format!("spawning {program}"))?;
                    for report in manager.wait_all() {
                        let status = report
                            .status
                            .with_context(|| format!("waiting for {program}"))?;
                        check(program, status)?;
                    }
                }
            }
            Variant::Status => {
                for _ in 0..spawns {
                    let status = Command::new(program)
                        .status()
                        .with_context(|| format!("running {program}"))?;
                    check(program, status)?;
                }
            }
            Variant::StatusPgroup => {
                for _ in 0..spawns {
                    let status = Command::new(program)
                        .process_group(0)
                        .status()
                        .with_context(|| format!("running {program} in its own group"))?;
                    check(program, status)?;
                }
            }
            Variant::Sh => {
                for _ in 0..spawns {
                    let status = Command::new("sh")
                        .args(["-c", "true"])
                        .status()
                        .context("running sh -c true")?;
                    check("sh -c true", status)?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

fn check(program: &str, status: ExitStatus) -> anyhow::Result<()> {
    ensure!(status.success(), "{program} failed: {status}");
    Ok(())
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
        (Variant::Pm, Variant::StatusPgroup, None),
        (Variant::StatusPgroup, Variant::Status, None),
        (Variant::Sh, Variant::Status, None),
    ];
    for (mine, other, bar) in pairs {
        if let (Some(m), Some(o)) = (median_of(mine), median_of(other)) {
            let bar = bar.map_or(String::new(), |b| format!("   (issue 3 asks <= {b:.2})"));
            println!("time {mine:>13} / {other:<13} = {:.3}{bar}", m / o);
        }
    }
}
