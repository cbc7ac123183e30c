//! Runs every side-by-side comparison and writes, for each, a CSV of every
//! measured row and an SVG plot, plus `summary.md` (medians, percentiles,
//! same-process ratios, and the targets of `benches/RESULTS.md` with a
//! verdict), into `target/ptm-report/` or `--out DIR`. With `--replot DIR`
//! it measures nothing: it reads each CSV in DIR back and redraws its SVG
//! beside it (how the book's plots in `docs/src/benchmarks/` are drawn).
//!
//! ```text
//! cargo run --release -p ptm-benches --bin report              # full: about 6 minutes
//! cargo run --release -p ptm-benches --bin report -- --quick   # under 2 minutes
//! cargo run --release -p ptm-benches --bin report -- --quick --only pool,pipes --out /tmp/r
//! cargo run --release -p ptm-benches --bin report -- --replot docs/src/benchmarks
//! ```
//!
//! | file stem | comparison |
//! |---|---|
//! | `pool_dispatch` | 1. no-op jobs/s through each pool design, 2/4/8 workers, 3 processes |
//! | `pool_like_for_like` | 1. the same, no job allocates: ptm, book, queue, 2 workers, 5 processes |
//! | `pool_scope` | 1. scoped jobs that borrow, and fork-join: ptm, rayon, std, 5 processes |
//! | `pool_latency` | 2. submit-to-start latency on an idle pool, unpinned, pinned and split |
//! | `channels` | 3. u64 messages/s, std and crossbeam channels, 1->1 and 2->1 |
//! | `roundtrip` | 4. round trips thread<->thread and process<->process |
//! | `thread_spawn` | 5. spawn + join, `thread::scope` with one thread |
//! | `thread_curves` | 5. n threads that sleep, spin or burn CPU |
//! | `processes` | 6. spawn + wait of `/bin/true` |
//! | `pipes` | 7. `communicate` through `cat` vs std vs a raw pipe |
//! | `isolation` | 8. the isolation ladder: task, thread, Wasm, process, container |
//! | `sleepers` | 9. 1,000 to 100,000 sleepers: threads, tokio tasks, pool jobs |
//!
//! `--replot` also reads `roundtrip-*.csv` (round trips of another run) and
//! a `pool_like_for_like.csv` of per-design figures instead of measured
//! batches (as the book's first one was copied from `benches/RESULTS.md`);
//! it skips other CSV files.
//!
//! Progress goes to stderr (indicatif bars on a terminal, one line per
//! experiment otherwise); the summary is also printed to stdout. An
//! experiment that fails is reported and the others still run; the exit
//! status is then non-zero.
//!
//! Hidden modes serve the experiments themselves: `--echo` copies stdin
//! to stdout until end of file (the partner process of the round-trip
//! experiment), and `--pool-invocation N` runs one invocation of the pool
//! experiment (`--like-for-like`: of the like-for-like comparison) and
//! prints its rows as CSV lines (the pool experiments run in several
//! processes, because this machine's speed changes from one process to the
//! next); `--scope-invocation N` does the same for the scope experiment.
//! The isolation ladder has two more:
//! `--echo-socket PATH` connects to the Unix socket at PATH and echoes (the
//! partner of the re-executed and container levels), and
//! `--isolation-memory LEVEL --count N` holds N live units of LEVEL in a
//! fresh process and prints what they hold. The sleepers experiment has
//! two: `--sleepers VARIANT --count N` runs N sleepers in a fresh process
//! and prints its wall time and peak memory, and `--thread-limit` starts
//! threads until a start fails.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ptm_benches::csv::Table;
use ptm_benches::experiments::{
    channels, isolation, latency, pipes, pool, print_row, processes, read_back, roundtrip, scope,
    sleepers, threads, Outcome, Size,
};
use ptm_benches::machine::{default_report_dir, load_average, now_utc, Machine};
use ptm_benches::verdict::Check;

/// Run ptm's side-by-side benchmarks and write CSV, SVG and a summary.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
struct Args {
    /// Reduced sizes: finishes in under 2 minutes (for CI and a first look).
    #[arg(long)]
    quick: bool,

    /// Where to write [default: ptm-report/ in the workspace's target dir,
    /// or in CARGO_TARGET_DIR when set].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Only these experiments, comma-separated [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Experiment>,

    /// Measure nothing: redraw each SVG in DIR from the CSV beside it.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["quick", "out", "only"])]
    replot: Option<PathBuf>,

    /// Echo stdin to stdout until end of file (the round-trip partner).
    #[arg(long, hide = true)]
    echo: bool,

    /// Answer round trips through the shared memory that is stdin (the
    /// `process-shm` partner).
    #[arg(long, hide = true)]
    shm_echo: bool,

    /// Run one invocation of the pool experiment, printing rows as CSV.
    #[arg(long, hide = true, value_name = "N")]
    pool_invocation: Option<usize>,

    /// With --pool-invocation: the like-for-like sizes (static latch jobs).
    #[arg(long, hide = true)]
    like_for_like: bool,

    /// Run one invocation of the scope experiment, printing rows as CSV.
    #[arg(long, hide = true, value_name = "N")]
    scope_invocation: Option<usize>,

    /// Connect to the Unix socket at PATH and echo until end of file.
    #[arg(long, hide = true, value_name = "PATH")]
    echo_socket: Option<PathBuf>,

    /// Hold --count live units of LEVEL and print what they hold.
    #[arg(long, hide = true, value_name = "LEVEL")]
    isolation_memory: Option<String>,

    /// Run --count sleepers of VARIANT; print wall time and peak memory.
    #[arg(long, hide = true, value_name = "VARIANT")]
    sleepers: Option<String>,

    /// Start threads until a start fails, printing how many.
    #[arg(long, hide = true)]
    thread_limit: bool,

    /// How many units a hidden mode holds or runs.
    #[arg(long, hide = true, value_name = "N", default_value_t = 1000)]
    count: usize,
}

/// The experiments, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Experiment {
    /// 1. Pool dispatch throughput.
    Pool,
    /// 1. Pool dispatch like for like: no job allocates, 5 processes.
    LikeForLike,
    /// 1. Scoped jobs that borrow, and fork-join: ptm, rayon, std.
    Scope,
    /// 2. Pool submit-to-start latency.
    Latency,
    /// 3. Channel throughput.
    Channels,
    /// 4. Round trips between threads and between processes.
    Roundtrip,
    /// 5. Thread spawn + join and thread::scope.
    Spawn,
    /// 5. n threads that sleep, spin or burn CPU.
    Curves,
    /// 6. Process spawn + wait.
    Processes,
    /// 7. Pipe throughput.
    Pipes,
    /// 8. The isolation ladder: start, round trip, memory.
    Isolation,
    /// 9. 1,000 to 100,000 sleepers: threads, tokio tasks, pool jobs.
    Sleepers,
}

impl Experiment {
    const ALL: [Experiment; 12] = [
        Experiment::Pool,
        Experiment::LikeForLike,
        Experiment::Scope,
        Experiment::Latency,
        Experiment::Channels,
        Experiment::Roundtrip,
        Experiment::Spawn,
        Experiment::Curves,
        Experiment::Processes,
        Experiment::Pipes,
        Experiment::Isolation,
        Experiment::Sleepers,
    ];

    /// Runs it with the sizes of `size`.
    fn run(self, size: Size, bar: &ProgressBar) -> anyhow::Result<Box<dyn Outcome>> {
        let exe = std::env::current_exe().context("finding this program (current_exe)")?;
        // A child process running invocation N of the pool experiment.
        let pool_child = |like_for_like: bool| {
            let exe = &exe;
            move |invocation: usize| {
                let mut command = Command::new(exe);
                command.arg("--pool-invocation").arg(invocation.to_string());
                if like_for_like {
                    command.arg("--like-for-like");
                }
                if size == Size::Quick {
                    command.arg("--quick");
                }
                command
            }
        };
        Ok(match self {
            Experiment::Pool => Box::new(pool::run(
                &pool::Config::of(size),
                bar,
                Some(&pool_child(false)),
            )?),
            Experiment::LikeForLike => Box::new(pool::run_like_for_like(
                &pool::Config::like_for_like(size),
                bar,
                Some(&pool_child(true)),
            )?),
            Experiment::Scope => {
                let child = |invocation: usize| {
                    let mut command = Command::new(&exe);
                    command
                        .arg("--scope-invocation")
                        .arg(invocation.to_string());
                    if size == Size::Quick {
                        command.arg("--quick");
                    }
                    command
                };
                Box::new(scope::run(&scope::Config::of(size), bar, Some(&child))?)
            }
            Experiment::Latency => Box::new(latency::run(&latency::Config::of(size), bar)?),
            Experiment::Channels => Box::new(channels::run(&channels::Config::of(size), bar)?),
            Experiment::Roundtrip => {
                let echo = roundtrip::EchoProgram {
                    program: exe,
                    args: vec!["--echo".into()],
                    shm_args: Some(vec!["--shm-echo".into()]),
                };
                Box::new(roundtrip::run(&roundtrip::Config::of(size, echo), bar)?)
            }
            Experiment::Spawn => {
                Box::new(threads::run_spawn(&threads::SpawnConfig::of(size), bar)?)
            }
            Experiment::Curves => {
                Box::new(threads::run_curves(&threads::CurvesConfig::of(size), bar)?)
            }
            Experiment::Processes => Box::new(processes::run(&processes::Config::of(size), bar)?),
            Experiment::Pipes => Box::new(pipes::run(&pipes::Config::of(size), bar)?),
            Experiment::Isolation => {
                let program = isolation::Program { path: exe };
                let config = isolation::Config::of(size, Some(program));
                Box::new(isolation::run(&config, bar)?)
            }
            Experiment::Sleepers => {
                let program = isolation::Program { path: exe };
                let config = sleepers::Config::of(size, Some(program));
                Box::new(sleepers::run(&config, bar)?)
            }
        })
    }

    fn label(self) -> &'static str {
        match self {
            Experiment::Pool => "pool dispatch",
            Experiment::LikeForLike => "pool like for like",
            Experiment::Scope => "scope, fork-join",
            Experiment::Latency => "pool latency",
            Experiment::Channels => "channels",
            Experiment::Roundtrip => "round trips",
            Experiment::Spawn => "thread spawn",
            Experiment::Curves => "thread curves",
            Experiment::Processes => "processes",
            Experiment::Pipes => "pipes",
            Experiment::Isolation => "isolation ladder",
            Experiment::Sleepers => "sleepers",
        }
    }
}

/// The hidden child mode of the pool experiment (like for like or not):
/// one invocation, rows on stdout.
fn pool_child(invocation: usize, config: &pool::Config) -> anyhow::Result<()> {
    pool::run_invocation(config, invocation, &ProgressBar::hidden(), |row| {
        print_row(&row.fields())
    })?;
    Ok(())
}

/// What one experiment left.
struct Done {
    experiment: Experiment,
    took: Duration,
    result: anyhow::Result<(String, Vec<Check>)>,
}

/// Writes an outcome's CSV and SVG; returns its summary section and checks.
fn save(outcome: &dyn Outcome, out: &Path) -> anyhow::Result<(String, Vec<Check>)> {
    let csv = out.join(format!("{}.csv", outcome.name()));
    outcome.table().save(&csv)?;
    let svg = out.join(format!("{}.svg", outcome.name()));
    outcome
        .plot(&svg)
        .with_context(|| format!("plotting {}", svg.display()))?;
    Ok((outcome.summary(), outcome.checks()))
}

/// Reads every CSV in `dir` that an experiment wrote back and redraws its
/// SVG beside it; measures nothing.
fn replot(dir: &Path) -> anyhow::Result<()> {
    let mut csvs: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    csvs.retain(|path| path.extension().is_some_and(|ext| ext == "csv"));
    csvs.sort();
    ensure!(!csvs.is_empty(), "no CSV file in {}", dir.display());
    for csv in csvs {
        let stem = csv
            .file_stem()
            .and_then(|s| s.to_str())
            .with_context(|| format!("{}: not a UTF-8 name", csv.display()))?;
        let table = Table::load(&csv)?;
        let Some(outcome) = read_back(stem, &table)? else {
            eprintln!("{}: no experiment writes this file; skipped", csv.display());
            continue;
        };
        let svg = dir.join(format!("{stem}.svg"));
        outcome
            .plot(&svg)
            .with_context(|| format!("plotting {}", svg.display()))?;
        println!("{} <- {}", svg.display(), csv.display());
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(dir) = &args.replot {
        return replot(dir);
    }
    let size = if args.quick { Size::Quick } else { Size::Full };
    if args.shm_echo {
        return roundtrip::shm_echo_stdin().context("the shared-memory echo partner");
    }
    if args.echo {
        roundtrip::echo_stdio().context("echoing stdin to stdout")?;
        return Ok(());
    }
    if let Some(invocation) = args.pool_invocation {
        let config = if args.like_for_like {
            pool::Config::like_for_like(size)
        } else {
            pool::Config::of(size)
        };
        return pool_child(invocation, &config);
    }
    if let Some(invocation) = args.scope_invocation {
        let config = scope::Config::of(size);
        scope::run_invocation(&config, invocation, &ProgressBar::hidden(), |row| {
            print_row(&row.fields())
        })?;
        return Ok(());
    }
    if let Some(path) = &args.echo_socket {
        return isolation::echo_socket(path).context("the socket echo partner");
    }
    if let Some(level) = &args.isolation_memory {
        return isolation::memory_child(level, args.count)
            .with_context(|| format!("holding {} live units of {level}", args.count));
    }
    if let Some(variant) = &args.sleepers {
        return sleepers::child(variant, args.count)
            .with_context(|| format!("running {} sleepers as {variant}", args.count));
    }
    if args.thread_limit {
        return sleepers::thread_limit().context("starting threads until one fails");
    }

    let out = args.out.clone().unwrap_or_else(default_report_dir);
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let experiments: Vec<Experiment> = if args.only.is_empty() {
        Experiment::ALL.to_vec()
    } else {
        Experiment::ALL
            .into_iter()
            .filter(|e| args.only.contains(e))
            .collect()
    };

    let machine = Machine::current();
    let started_at = now_utc();
    let load_before = load_average();
    eprintln!(
        "ptm report ({}): {} experiments on {}; writing {}",
        if args.quick { "quick" } else { "full" },
        experiments.len(),
        machine.describe(),
        out.display()
    );
    let style =
        ProgressStyle::with_template("{prefix:>18} [{bar:30}] {pos}/{len} {elapsed:>4} {msg}")
            .context("the progress bar template")?
            .progress_chars("=> ");

    let start = Instant::now();
    let mut done = Vec::new();
    for (i, &experiment) in experiments.iter().enumerate() {
        let prefix = format!("{}/{} {}", i + 1, experiments.len(), experiment.label());
        let bar = ProgressBar::new(0)
            .with_style(style.clone())
            .with_prefix(prefix.clone());
        let began = Instant::now();
        let result = experiment
            .run(size, &bar)
            .and_then(|outcome| save(outcome.as_ref(), &out));
        bar.finish_and_clear();
        let took = began.elapsed();
        match &result {
            Ok(_) => eprintln!("{prefix}: done in {:.1} s", took.as_secs_f64()),
            Err(error) => eprintln!(
                "{prefix}: FAILED after {:.1} s: {error:#}",
                took.as_secs_f64()
            ),
        }
        done.push(Done {
            experiment,
            took,
            result,
        });
    }
    let total = start.elapsed();

    let summary = summary(&args, &machine, &started_at, &load_before, total, &done);
    let path = out.join("summary.md");
    fs::write(&path, &summary).with_context(|| format!("writing {}", path.display()))?;
    println!("{summary}");
    eprintln!("wrote {} in {:.1} s", out.display(), total.as_secs_f64());
    let failed: Vec<&str> = done
        .iter()
        .filter(|d| d.result.is_err())
        .map(|d| d.experiment.label())
        .collect();
    if !failed.is_empty() {
        bail!("failed: {}", failed.join(", "));
    }
    Ok(())
}

fn summary(
    args: &Args,
    machine: &Machine,
    started_at: &str,
    load_before: &str,
    total: Duration,
    done: &[Done],
) -> String {
    let size = if args.quick { Size::Quick } else { Size::Full };
    let mut text = format!(
        "# ptm benchmark report\n\n\
         - mode: {}\n- machine: {}\n- started: {started_at}; took {:.0} s\n\
         - load average (1, 5, 15 min): {load_before} before, {} after\n\n\
         Every comparison ran its variants in one process, interleaved round by round \
         (rotated order); the pool experiments ran in separate processes ({} for pool \
         dispatch, {} like for like) and their ratios are medians of per-process ratios.\n\n",
        if args.quick {
            "quick (reduced sizes: figures are indicative only)"
        } else {
            "full"
        },
        machine.describe(),
        total.as_secs_f64(),
        load_average(),
        pool::Config::of(size).invocations,
        pool::Config::like_for_like(size).invocations,
    );
    let checks: Vec<&Check> = done
        .iter()
        .filter_map(|d| d.result.as_ref().ok())
        .flat_map(|(_, checks)| checks.iter())
        .collect();
    if !checks.is_empty() {
        text.push_str("## Targets\n\n");
        text.push_str(Check::markdown_header());
        text.push('\n');
        for check in checks {
            text.push_str(&check.markdown_row());
            text.push('\n');
        }
        text.push('\n');
    }
    text.push_str("| experiment | took | result |\n|---|---:|---|\n");
    for d in done {
        let result = match &d.result {
            Ok(_) => "ok".to_owned(),
            Err(error) => format!("FAILED: {}", format!("{error:#}").replace('|', "/")),
        };
        text.push_str(&format!(
            "| {} | {:.1} s | {result} |\n",
            d.experiment.label(),
            d.took.as_secs_f64()
        ));
    }
    text.push('\n');
    for d in done {
        if let Ok((section, _)) = &d.result {
            text.push_str(section);
            text.push('\n');
        }
    }
    text
}
