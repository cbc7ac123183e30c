//! Throughput of no-op jobs submitted from one thread and then waited for,
//! across pool designs, interleaved round by round in one process.
//!
//! ```text
//! cargo run --release -p ptm-benches --bin pool_dispatch -- --rounds 3
//! cargo run --release -p ptm-benches --bin pool_dispatch -- \
//!     --workers 2,4,8 --designs ptm,rayon-spawn,book --csv runs.csv
//! cargo run --release -p ptm-benches --bin pool_dispatch -- --latch static
//! ```
//!
//! Each pool is built once per (design, worker count) and warmed up with one
//! untimed batch. Then, for each round, every design runs one batch, in an
//! order rotated by one place each round so that no design always goes first.
//! A batch is timed from the first submission until the wait for the last job
//! returns. `thread-spawn` (a new thread per job) runs `--spawn-jobs` jobs
//! instead of `--jobs` and is there for its per-job cost. `ptm-latch` is a
//! control: ptm's pool running the same latch-counting jobs as `book`,
//! `queue` and `rayon-spawn` (see `ptm_benches::designs` for why it matters).
//!
//! Progress goes to stderr; the table (median, min and max jobs/s per design,
//! and ptm's ratios to the others' medians) to stdout; with `--csv PATH`, one
//! line per (design, workers, round) to PATH.
//!
//! `--latch captured|static` chooses how the jobs of the designs that wait on
//! a latch reach it; see `ptm_benches::designs` ("Latch jobs"): it decides
//! whether each of their jobs costs a heap allocation, which ptm's and
//! threadpool's no-op jobs never do.
//!
//! This machine's speed flips from one process to the next: compare designs
//! within a run, and run the binary several times before believing a ratio.
//! `report --only like-for-like` does that for the like-for-like targets:
//! ptm, ptm-latch, book and queue with `--latch static`, 7 rounds in each
//! of 5 processes, judged on the medians of the same-process ratios.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Parser;
use ptm_benches::designs::{Bench, Design, LatchJobs};
use ptm_benches::stats::summarize;

/// Compare pool designs on "submit N no-op jobs, wait for all".
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Jobs per batch (every design but thread-spawn).
    #[arg(long, default_value_t = 1_000_000)]
    jobs: usize,

    /// Jobs per batch for thread-spawn (one OS thread each).
    #[arg(long, default_value_t = 2_000)]
    spawn_jobs: usize,

    /// Worker counts to measure, comma-separated, e.g. 2,4,8.
    #[arg(long, value_delimiter = ',', default_value = "2")]
    workers: Vec<usize>,

    /// Timed batches per design and worker count.
    #[arg(long, default_value_t = 7)]
    rounds: usize,

    /// Designs to measure, comma-separated [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    designs: Vec<Design>,

    /// How latch-counting jobs (ptm-latch, rayon-spawn, book, queue) reach
    /// their latch: `captured` (`move || latch.count_down()`, one allocation
    /// per job) or `static` (`|| LATCH.count_down()`, none).
    #[arg(long, value_enum, default_value_t = LatchJobs::Captured)]
    latch: LatchJobs,

    /// Also write one CSV line per (design, workers, round) to this file.
    #[arg(long, value_name = "PATH")]
    csv: Option<PathBuf>,
}

/// One timed batch.
struct Sample {
    design: Design,
    workers: usize,
    round: usize,
    /// Place in that round's order, from 0.
    position: usize,
    jobs: usize,
    seconds: f64,
}

impl Sample {
    fn jobs_per_sec(&self) -> f64 {
        self.jobs as f64 / self.seconds
    }
}

/// 7_345_678.0 as "7.35M".
fn human(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.2}M", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.1}k", rate / 1e3)
    } else {
        format!("{rate:.0}")
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.jobs == 0 || args.spawn_jobs == 0 || args.rounds == 0 {
        bail!("--jobs, --spawn-jobs and --rounds must be at least 1");
    }
    if args.workers.is_empty() || args.workers.contains(&0) {
        bail!("--workers must list worker counts of at least 1");
    }
    if args.designs.is_empty() {
        args.designs = Design::ALL.to_vec();
    }
    args.designs.dedup();

    let mut csv = match &args.csv {
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("creating {}", path.display()))?;
            let mut out = BufWriter::new(file);
            writeln!(
                out,
                "design,latch,workers,round,position,jobs,seconds,jobs_per_sec"
            )?;
            Some((path, out))
        }
        None => None,
    };

    let mut samples = Vec::new();
    for &workers in &args.workers {
        eprintln!(
            "workers={workers}: building {} pools, one warm-up batch each",
            args.designs.len()
        );
        let benches = args
            .designs
            .iter()
            .map(|&design| Bench::with_latch_jobs(design, workers, args.latch))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let jobs_for = |design: Design| {
            if design == Design::ThreadSpawn {
                args.spawn_jobs
            } else {
                args.jobs
            }
        };
        for bench in &benches {
            let jobs = (jobs_for(bench.design()) / 10).max(1);
            bench
                .run(jobs)
                .with_context(|| format!("warming up {}", bench.design()))?;
        }

        for round in 0..args.rounds {
            let mut line = format!("workers={workers} round {}/{}:", round + 1, args.rounds);
            for position in 0..benches.len() {
                let bench = &benches[(round + position) % benches.len()];
                let design = bench.design();
                let jobs = jobs_for(design);
                let elapsed = bench
                    .run(jobs)
                    .with_context(|| format!("{design}, {workers} workers, round {}", round + 1))?;
                let sample = Sample {
                    design,
                    workers,
                    round,
                    position,
                    jobs,
                    seconds: elapsed.as_secs_f64(),
                };
                line.push_str(&format!(" {design} {}", human(sample.jobs_per_sec())));
                if let Some((path, out)) = &mut csv {
                    writeln!(
                        out,
                        "{},{},{},{},{},{},{:.9},{:.1}",
                        sample.design,
                        args.latch,
                        sample.workers,
                        sample.round,
                        sample.position,
                        sample.jobs,
                        sample.seconds,
                        sample.jobs_per_sec()
                    )
                    .with_context(|| format!("writing {}", path.display()))?;
                }
                samples.push(sample);
            }
            eprintln!("{line}");
        }
        // Shut the pools down before the next worker count builds its own.
        drop(benches);
    }
    if let Some((path, mut out)) = csv {
        out.flush()
            .with_context(|| format!("writing {}", path.display()))?;
    }

    print_table(&args, &samples);
    Ok(())
}

fn print_table(args: &Args, samples: &[Sample]) {
    println!(
        "no-op jobs submitted from one thread, then waited for; {} jobs per batch \
         ({} for thread-spawn), {} rounds, latch jobs: {}",
        args.jobs, args.spawn_jobs, args.rounds, args.latch
    );
    println!(
        "{:<13} {:>7} {:>10} {:>10} {:>10} {:>9}",
        "design", "workers", "median/s", "min/s", "max/s", "ns/job"
    );
    for &workers in &args.workers {
        let median_of = |design: Design| {
            summarize(
                samples
                    .iter()
                    .filter(|s| s.design == design && s.workers == workers)
                    .map(Sample::jobs_per_sec)
                    .collect::<Vec<f64>>(),
            )
        };
        for &design in &args.designs {
            if let Some(s) = median_of(design) {
                println!(
                    "{:<13} {:>7} {:>10} {:>10} {:>10} {:>9.1}",
                    design,
                    workers,
                    human(s.median),
                    human(s.min),
                    human(s.max),
                    1e9 / s.median
                );
            }
        }
        // ptm's ratios to the others' medians; the targets where there is one.
        let pairs = [
            (Design::Ptm, Design::RayonSpawn, Some(1.5)),
            (Design::Ptm, Design::Book, Some(1.2)),
            (Design::Ptm, Design::Threadpool, None),
            (Design::Ptm, Design::RayonScope, None),
            (Design::Ptm, Design::Queue, None),
            (Design::PtmLatch, Design::RayonSpawn, None),
            (Design::PtmLatch, Design::Book, None),
            (Design::PtmLatch, Design::Queue, None),
        ];
        for (mine, other, bar) in pairs {
            if let (Some(m), Some(o)) = (median_of(mine), median_of(other)) {
                let bar = bar.map_or(String::new(), |b| format!("   (target >= {b:.1}x)"));
                println!(
                    "  {workers} workers: {mine:>9} / {other:<11} = {:.2}x{bar}",
                    m.median / o.median
                );
            }
        }
    }
}
