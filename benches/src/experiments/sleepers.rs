//! Comparison 9: where threads stop scaling. `n` sleepers of 20 ms each,
//! for n = 1,000, 10,000 and 100,000, run three ways ([`Sleepers`]):
//!
//! - `threads`: n OS threads, each with a 64 KiB stack
//!   (`thread::Builder::stack_size`). Every thread first waits at a gate
//!   (a read lock the starting thread holds for writing) until all n have
//!   been started, so that all n are alive at once, then sleeps.
//! - `tasks`: n tokio tasks on a current-thread runtime, each awaiting
//!   `tokio::time::sleep(20 ms)`. No task runs before the starting task
//!   awaits the first, so all n are alive at once there too.
//! - `pool`: n jobs on a `ptm::ThreadPool` of 100 workers (64 KiB stacks,
//!   the pool built before the clock starts), each calling
//!   `thread::sleep(20 ms)`. A pool bounds concurrency: 100 sleep at a
//!   time, so the whole takes about n x 20 ms / 100.
//!
//! Wall time runs from the first start to the last join (`wait_idle` for
//! the pool). Each (variant, n) runs in a fresh process (`report
//! --sleepers VARIANT --count N`), which reports its peak resident set,
//! `VmHWM` of `/proc/self/status` (a high-water mark: it never falls, so
//! one process per measurement), and its resident set before it started
//! anything.
//!
//! Threads stop before the machine's limits, not at them: the process
//! counts its memory mappings (each thread takes four: its stack and guard
//! page, std's signal stack and its guard page) against `vm.max_map_count`,
//! and the machine's threads against `kernel.pid_max` less 4,096 left to
//! other programs, and stops starting threads before either runs out; the
//! row says where and why. A separate probe ([`thread_limit`], `report
//! --thread-limit`) then starts threads until a start fails, and reports
//! the count and the error.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context};
use indicatif::ProgressBar;

use super::isolation::{current_thread_runtime, Program};
use super::{distinct, expect_header, field, named, rotated, secs, Outcome, Size};
use crate::csv::{quote, split_line, Table};
use crate::memory::{peak_rss_bytes, rss_bytes};
use crate::plot::{lines, thousands, Line, Marker};
use crate::stats::median;

/// A way of running n sleepers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sleepers {
    /// One OS thread each.
    Threads,
    /// One tokio task each, on a current-thread runtime.
    Tasks,
    /// One job each on a `ptm::ThreadPool`.
    Pool,
}

impl Sleepers {
    /// All three, in table order.
    pub const ALL: [Sleepers; 3] = [Sleepers::Threads, Sleepers::Tasks, Sleepers::Pool];

    /// Its name in tables, CSV and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Sleepers::Threads => "threads",
            Sleepers::Tasks => "tasks",
            Sleepers::Pool => "pool",
        }
    }

    /// Its name written out, for plots.
    pub fn label(self, settings: &Settings) -> String {
        match self {
            Sleepers::Threads => format!("OS threads ({} KiB stacks)", settings.stack_size / 1024),
            Sleepers::Tasks => "tokio tasks (current-thread runtime)".to_owned(),
            Sleepers::Pool => format!("ptm pool jobs ({} workers)", settings.workers),
        }
    }

    /// Runs `n` sleepers and waits for them all.
    ///
    /// # Errors
    ///
    /// If the runtime or the pool cannot be built, or a sleeper fails. A
    /// thread that cannot be started, or would pass a limit, is not an
    /// error: the sleepers started so far finish and [`Ran::error`] says
    /// why there were no more.
    pub fn run(self, n: usize, settings: &Settings) -> anyhow::Result<Ran> {
        match self {
            Sleepers::Threads => run_threads(n, settings, false),
            Sleepers::Tasks => {
                let runtime = current_thread_runtime()?;
                let length = settings.length;
                runtime.block_on(async {
                    let start = Instant::now();
                    // The sleep starts at the task's first poll, after the
                    // last spawn.
                    let tasks: Vec<_> = (0..n)
                        .map(|_| tokio::spawn(async move { tokio::time::sleep(length).await }))
                        .collect();
                    for task in tasks {
                        task.await.context("a sleeping task")?;
                    }
                    Ok(Ran {
                        started: n,
                        seconds: start.elapsed().as_secs_f64(),
                        error: None,
                    })
                })
            }
            Sleepers::Pool => {
                let pool = ptm::ThreadPool::builder()
                    .workers(settings.workers)
                    .stack_size(settings.stack_size)
                    .build()
                    .context("building the pool")?;
                let length = settings.length;
                let start = Instant::now();
                for _ in 0..n {
                    pool.execute(move || thread::sleep(length))?;
                }
                pool.wait_idle()?;
                let seconds = start.elapsed().as_secs_f64();
                let stats = pool.shutdown();
                ensure!(stats.completed == n, "{stats:?}: {n} jobs expected");
                Ok(Ran {
                    started: n,
                    seconds,
                    error: None,
                })
            }
        }
    }
}

impl fmt::Display for Sleepers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// What every sleeper does and with what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How long each sleeps.
    pub length: Duration,
    /// The stack size of each thread and of each pool worker.
    pub stack_size: usize,
    /// The pool's workers.
    pub workers: usize,
}

impl Settings {
    /// 20 ms sleeps, 64 KiB stacks, 100 workers.
    pub const STANDARD: Settings = Settings {
        length: Duration::from_millis(20),
        stack_size: 64 * 1024,
        workers: 100,
    };
}

/// What one run of n sleepers did.
#[derive(Debug, Clone, PartialEq)]
pub struct Ran {
    /// Sleepers that ran (fewer than n if threads stopped).
    pub started: usize,
    /// Seconds from the first start to the last join.
    pub seconds: f64,
    /// Why fewer than n ran, if they did.
    pub error: Option<String>,
}

/// Memory mappings each thread takes: its stack and guard page, std's
/// signal stack and its guard page.
const MAPS_PER_THREAD: usize = 4;
/// Mappings kept free for everything else (malloc arenas, the handle
/// vector, the runtime).
const MAPS_MARGIN: usize = 1024;
/// Pids left to other programs on the machine.
const PIDS_RESERVE: usize = 4096;

fn read_number(path: &str) -> anyhow::Result<usize> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    text.trim()
        .parse()
        .with_context(|| format!("{path}: {text:?}"))
}

/// How many more threads this process may start before it comes within
/// [`MAPS_MARGIN`] mappings of `vm.max_map_count` (unless `pids_only`), or
/// the machine within [`PIDS_RESERVE`] pids of `kernel.pid_max` (or
/// `kernel.threads-max`), and what that limit is.
fn thread_headroom(pids_only: bool) -> anyhow::Result<(usize, String)> {
    let max_maps = read_number("/proc/sys/vm/max_map_count")?;
    let maps = fs::read_to_string("/proc/self/maps")
        .context("reading /proc/self/maps")?
        .lines()
        .count();
    let by_maps = max_maps.saturating_sub(maps + MAPS_MARGIN) / MAPS_PER_THREAD;
    let pid_max = read_number("/proc/sys/kernel/pid_max")?;
    let threads_max = read_number("/proc/sys/kernel/threads-max")?;
    let loadavg = fs::read_to_string("/proc/loadavg").context("reading /proc/loadavg")?;
    // The fourth field is "running/total" scheduling entities (threads).
    let tasks: usize = loadavg
        .split_whitespace()
        .nth(3)
        .and_then(|f| f.split('/').nth(1))
        .and_then(|t| t.parse().ok())
        .with_context(|| format!("/proc/loadavg: {loadavg:?}"))?;
    let most = pid_max.min(threads_max);
    let by_pids = most.saturating_sub(tasks + PIDS_RESERVE);
    Ok(if by_maps <= by_pids && !pids_only {
        (
            by_maps,
            format!(
                "the process had {maps} memory mappings of the {max_maps} that \
                 vm.max_map_count allows, and each thread takes {MAPS_PER_THREAD} (its stack and \
                 guard page, std's signal stack and its guard page); {MAPS_MARGIN} kept free"
            ),
        )
    } else {
        (
            by_pids,
            format!(
                "the machine ran {tasks} threads of the {most} that kernel.pid_max and \
                 kernel.threads-max allow; {PIDS_RESERVE} left to other programs"
            ),
        )
    })
}

/// Starts up to `n` gated threads, and stops early before a limit (see
/// [`thread_headroom`]; with `to_failure`, the pids' only) or at the
/// first start that fails; with `to_failure`, reports progress on stdout.
fn run_threads(n: usize, settings: &Settings, to_failure: bool) -> anyhow::Result<Ran> {
    let gate = Arc::new(RwLock::new(()));
    let closed = gate.write().map_err(|_| anyhow!("a poisoned gate"))?;
    let length = settings.length;
    let mut threads = Vec::with_capacity(n.min(1 << 20));
    let mut error = None;
    let mut stdout = io::stdout().lock();
    let start = Instant::now();
    let (mut limit, mut why) = (0, String::new());
    for i in 0..n {
        // Counted at the first thread and every 4,096 after, not assumed.
        if i % 4096 == 0 {
            let (headroom, reason) = thread_headroom(to_failure)?;
            (limit, why) = (i + headroom, reason);
            if to_failure {
                writeln!(stdout, "started,{i}")?;
                stdout.flush()?;
            }
        }
        if i >= limit {
            error = Some(format!("stopped at {i}: {why}"));
            break;
        }
        let gate = Arc::clone(&gate);
        let spawned = thread::Builder::new()
            .stack_size(settings.stack_size)
            .spawn(move || {
                drop(gate.read());
                thread::sleep(length);
            });
        match spawned {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                error = Some(format!("starting thread {} failed: {e}", i + 1));
                if to_failure {
                    writeln!(stdout, "failed,{i},{}", quote(&e.to_string()))?;
                    stdout.flush()?;
                }
                break;
            }
        }
    }
    drop(stdout);
    drop(closed);
    let started = threads.len();
    for thread in threads {
        thread
            .join()
            .map_err(|_| anyhow!("a sleeping thread panicked"))?;
    }
    Ok(Ran {
        started,
        seconds: start.elapsed().as_secs_f64(),
        error,
    })
}

/// What one fresh process reported for one (variant, n).
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// What ran.
    pub ran: Ran,
    /// Its peak resident set (`VmHWM`), in bytes; `None` when measured in
    /// a process that did other things first (the tests).
    pub peak_bytes: Option<u64>,
    /// Its resident set before it started anything, in bytes.
    pub base_bytes: Option<u64>,
}

impl Measured {
    /// One line: started, seconds, peak, base, error (CSV-quoted).
    pub fn line(&self) -> String {
        let opt = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
        format!(
            "{},{},{},{},{}",
            self.ran.started,
            secs(self.ran.seconds),
            opt(self.peak_bytes),
            opt(self.base_bytes),
            quote(self.ran.error.as_deref().unwrap_or(""))
        )
    }

    /// Parses [`line`](Self::line) back.
    ///
    /// # Errors
    ///
    /// If `line` is not such a line.
    pub fn from_line(line: &str) -> anyhow::Result<Measured> {
        let f = split_line(line).with_context(|| format!("an unclosed quote: {line:?}"))?;
        ensure!(f.len() == 5, "expected 5 fields: {line:?}");
        let opt = |s: &str| -> anyhow::Result<Option<u64>> {
            Ok(if s.is_empty() { None } else { Some(s.parse()?) })
        };
        Ok(Measured {
            ran: Ran {
                started: f[0].parse().with_context(|| format!("{line:?}"))?,
                seconds: f[1].parse().with_context(|| format!("{line:?}"))?,
                error: (!f[4].is_empty()).then(|| f[4].clone()),
            },
            peak_bytes: opt(&f[2])?,
            base_bytes: opt(&f[3])?,
        })
    }
}

/// The body of `report --sleepers VARIANT --count N`: runs the sleepers
/// in this fresh process with [`Settings::STANDARD`] and prints
/// [`Measured::line`].
///
/// # Errors
///
/// If `variant` is not a variant's name, or as for [`Sleepers::run`].
pub fn child(variant: &str, n: usize) -> anyhow::Result<()> {
    let sleepers = named(&Sleepers::ALL, Sleepers::name, variant)?;
    let base = rss_bytes()?;
    let ran = sleepers.run(n, &Settings::STANDARD)?;
    let measured = Measured {
        ran,
        peak_bytes: Some(peak_rss_bytes()?),
        base_bytes: Some(base),
    };
    println!("{}", measured.line());
    Ok(())
}

/// The body of `report --thread-limit`: starts gated threads (as
/// `threads` does, up to 1,000,000) past the mapping headroom, until a
/// start fails or the pids would run short, printing `started,N` now and
/// then and `failed,N,ERROR` when a start fails. The process may not
/// survive the limit (see [`ThreadLimit`]).
///
/// # Errors
///
/// As for [`Sleepers::run`].
pub fn thread_limit() -> anyhow::Result<()> {
    let ran = run_threads(1_000_000, &Settings::STANDARD, true)?;
    println!(
        "ended,{},{}",
        ran.started,
        quote(ran.error.as_deref().unwrap_or(""))
    );
    Ok(())
}

/// What the probe of [`thread_limit`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadLimit {
    /// Threads started before the failure (or the last count reported).
    pub started: usize,
    /// The failure: the start's error, and how the process ended if it
    /// did not end by itself.
    pub error: String,
}

impl ThreadLimit {
    /// Runs the probe in `program` and reads what it printed.
    ///
    /// # Errors
    ///
    /// If the probe cannot be run or printed nothing.
    pub fn probe(program: &Program) -> anyhow::Result<ThreadLimit> {
        let output = Command::new(&program.path)
            .arg("--thread-limit")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {} --thread-limit", program.path.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        ThreadLimit::read(&stdout, &stderr, output.status.success(), &output.status)
    }

    fn read(
        stdout: &str,
        stderr: &str,
        success: bool,
        status: &dyn fmt::Display,
    ) -> anyhow::Result<ThreadLimit> {
        let mut started = None;
        let mut error = Vec::new();
        for line in stdout.lines() {
            let Some(f) = split_line(line) else { continue };
            match f.first().map(String::as_str) {
                Some("started") => started = f.get(1).and_then(|n| n.parse().ok()),
                Some("failed") => {
                    started = f.get(1).and_then(|n| n.parse().ok());
                    error.push(format!(
                        "starting thread {} failed: {}",
                        started.map_or(0, |n: usize| n + 1),
                        f.get(2).map_or("", String::as_str)
                    ));
                }
                Some("ended") if error.is_empty() => {
                    started = f.get(1).and_then(|n| n.parse().ok());
                    error.push(f.get(2).cloned().unwrap_or_default());
                }
                _ => {}
            }
        }
        let started = started.context("the probe printed nothing")?;
        if !success {
            // The first line of the panic or abort message says what failed.
            let why = stderr
                .lines()
                .find(|l| l.contains("failed") || l.contains("error"))
                .unwrap_or("")
                .trim();
            error.push(format!("then the process ended with {status}: {why}"));
        }
        Ok(ThreadLimit {
            started,
            error: error.join("; "),
        })
    }
}

/// Sizes of the sleepers experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The sleeper counts.
    pub counts: Vec<usize>,
    /// Repetitions (medians are taken over them).
    pub repetitions: usize,
    /// What each sleeper does, with what.
    pub settings: Settings,
    /// Whether to probe where threads fail ([`ThreadLimit`]).
    pub probe_limit: bool,
    /// This binary, for the fresh processes; without it the sleepers run
    /// in this process and no peak is recorded.
    pub program: Option<Program>,
}

impl Config {
    /// 1,000, 10,000 and 100,000 sleepers, 3 repetitions, the thread limit
    /// probed.
    pub fn full(program: Option<Program>) -> Config {
        Config {
            counts: vec![1_000, 10_000, 100_000],
            repetitions: 3,
            settings: Settings::STANDARD,
            probe_limit: true,
            program,
        }
    }

    /// 1,000 and 10,000 sleepers, once, no probe.
    pub fn quick(program: Option<Program>) -> Config {
        Config {
            counts: vec![1_000, 10_000],
            repetitions: 1,
            probe_limit: false,
            ..Config::full(program)
        }
    }

    /// [`full`](Self::full) or [`quick`](Self::quick).
    pub fn of(size: Size, program: Option<Program>) -> Config {
        match size {
            Size::Full => Config::full(program),
            Size::Quick => Config::quick(program),
        }
    }
}

/// One run of one (variant, n).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The variant.
    pub sleepers: Sleepers,
    /// The sleepers asked for.
    pub n: usize,
    /// The repetition, from 0.
    pub repetition: usize,
    /// Place among the variants at this (repetition, n).
    pub position: usize,
    /// What the process reported.
    pub measured: Measured,
}

/// Every run, and the thread limit if probed.
#[derive(Debug, Clone)]
pub struct SleepersOutcome {
    /// The sizes it ran with.
    pub config: Config,
    /// Every run.
    pub rows: Vec<Row>,
    /// Where threads failed, if probed.
    pub limit: Option<ThreadLimit>,
}

fn measure(config: &Config, sleepers: Sleepers, n: usize) -> anyhow::Result<Measured> {
    let Some(program) = &config.program else {
        return Ok(Measured {
            ran: sleepers.run(n, &config.settings)?,
            peak_bytes: None,
            base_bytes: None,
        });
    };
    let output = Command::new(&program.path)
        .args(["--sleepers", sleepers.name(), "--count"])
        .arg(n.to_string())
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", program.path.display()))?;
    if !output.status.success() {
        bail!(
            "{n} {sleepers}: {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    Measured::from_line(stdout.lines().last().context("no line from the process")?)
}

/// Runs every (variant, n), each in a fresh process when there is a
/// program, in an order rotated by one place per (repetition, n); then
/// probes the thread limit if asked to.
///
/// # Errors
///
/// If a process fails or prints something unreadable.
pub fn run(config: &Config, bar: &ProgressBar) -> anyhow::Result<SleepersOutcome> {
    let steps = config.repetitions * config.counts.len() * Sleepers::ALL.len();
    bar.set_length((steps + usize::from(config.probe_limit)) as u64);
    let mut rows = Vec::new();
    for repetition in 0..config.repetitions {
        for (i, &n) in config.counts.iter().enumerate() {
            for position in 0..Sleepers::ALL.len() {
                let sleepers = Sleepers::ALL[rotated(repetition + i, position, 3)];
                bar.set_message(format!("{n} {sleepers}"));
                let measured = measure(config, sleepers, n)?;
                rows.push(Row {
                    sleepers,
                    n,
                    repetition,
                    position,
                    measured,
                });
                bar.inc(1);
            }
        }
    }
    let limit = match (&config.program, config.probe_limit) {
        (Some(program), true) => {
            bar.set_message("threads until one fails");
            let limit = ThreadLimit::probe(program)?;
            bar.inc(1);
            Some(limit)
        }
        _ => None,
    };
    Ok(SleepersOutcome {
        config: config.clone(),
        rows,
        limit,
    })
}

impl SleepersOutcome {
    /// The CSV columns. `kind` is `run`, or `limit` for the probe's row
    /// (its `started` and `error` only).
    pub const HEADER: [&'static str; 10] = [
        "kind",
        "sleepers",
        "n",
        "repetition",
        "position",
        "started",
        "seconds",
        "peak_bytes",
        "base_bytes",
        "error",
    ];

    /// Reads the rows of a CSV written from [`table`](Outcome::table)
    /// back; the counts and repetitions come from the rows, the settings
    /// (not in the CSV) are [`Settings::STANDARD`].
    ///
    /// # Errors
    ///
    /// If `table` is not such a CSV.
    pub fn from_table(table: &Table) -> anyhow::Result<SleepersOutcome> {
        let header = &SleepersOutcome::HEADER;
        expect_header(table, header)?;
        let mut rows = Vec::new();
        let mut limit = None;
        for f in table.rows() {
            let opt = |i: usize| -> anyhow::Result<Option<u64>> {
                Ok(if f[i].is_empty() {
                    None
                } else {
                    Some(field(f, i, header)?)
                })
            };
            match f[0].as_str() {
                "limit" => {
                    limit = Some(ThreadLimit {
                        started: field(f, 5, header)?,
                        error: f[9].clone(),
                    })
                }
                "run" => rows.push(Row {
                    sleepers: named(&Sleepers::ALL, Sleepers::name, &f[1])?,
                    n: field(f, 2, header)?,
                    repetition: field(f, 3, header)?,
                    position: field(f, 4, header)?,
                    measured: Measured {
                        ran: Ran {
                            started: field(f, 5, header)?,
                            seconds: field(f, 6, header)?,
                            error: (!f[9].is_empty()).then(|| f[9].clone()),
                        },
                        peak_bytes: opt(7)?,
                        base_bytes: opt(8)?,
                    },
                }),
                other => bail!("kind {other:?}"),
            }
        }
        let mut counts = distinct(rows.iter().map(|r| r.n));
        counts.sort_unstable();
        let config = Config {
            counts,
            repetitions: rows.iter().map(|r| r.repetition + 1).max().unwrap_or(0),
            probe_limit: limit.is_some(),
            ..Config::full(None)
        };
        Ok(SleepersOutcome {
            config,
            rows,
            limit,
        })
    }

    fn runs(&self, sleepers: Sleepers, n: usize) -> impl Iterator<Item = &Row> {
        self.rows
            .iter()
            .filter(move |r| r.sleepers == sleepers && r.n == n)
    }

    /// The median wall time of `sleepers` at `n`, in milliseconds.
    pub fn median_ms(&self, sleepers: Sleepers, n: usize) -> Option<f64> {
        median(
            self.runs(sleepers, n)
                .map(|r| r.measured.ran.seconds * 1e3)
                .collect::<Vec<f64>>(),
        )
    }

    /// The median peak RSS of `sleepers` at `n`, in bytes.
    pub fn median_peak(&self, sleepers: Sleepers, n: usize) -> Option<f64> {
        median(
            self.runs(sleepers, n)
                .filter_map(|r| r.measured.peak_bytes.map(|b| b as f64))
                .collect::<Vec<f64>>(),
        )
    }

    /// How many of `sleepers` ran at `n` (the fewest over repetitions),
    /// and why no more ran in that repetition, if fewer than `n` did.
    pub fn started(&self, sleepers: Sleepers, n: usize) -> Option<(usize, Option<&str>)> {
        let fewest = self
            .runs(sleepers, n)
            .min_by_key(|r| r.measured.ran.started)?;
        let ran = &fewest.measured.ran;
        Some((ran.started, ran.error.as_deref()))
    }
}

/// Milliseconds as tables print them.
fn ms(v: f64) -> String {
    if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

impl Outcome for SleepersOutcome {
    fn name(&self) -> &'static str {
        "sleepers"
    }

    fn table(&self) -> Table {
        let mut table = Table::new(SleepersOutcome::HEADER);
        let opt = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
        for r in &self.rows {
            let m = &r.measured;
            table.push([
                "run".to_owned(),
                r.sleepers.name().to_owned(),
                r.n.to_string(),
                r.repetition.to_string(),
                r.position.to_string(),
                m.ran.started.to_string(),
                secs(m.ran.seconds),
                opt(m.peak_bytes),
                opt(m.base_bytes),
                m.ran.error.clone().unwrap_or_default(),
            ]);
        }
        if let Some(limit) = &self.limit {
            let mut row = vec![String::new(); SleepersOutcome::HEADER.len()];
            row[0] = "limit".to_owned();
            row[1] = Sleepers::Threads.name().to_owned();
            row[5] = limit.started.to_string();
            row[9].clone_from(&limit.error);
            table.push(row);
        }
        table
    }

    fn plot(&self, path: &Path) -> anyhow::Result<()> {
        let s = &self.config.settings;
        let ms_each = s.length.as_millis();
        let mut curves: Vec<Line> = Sleepers::ALL
            .iter()
            .map(|&v| Line {
                name: v.label(s),
                // x: the sleepers that ran, which for threads may be fewer
                // than asked for.
                points: self
                    .config
                    .counts
                    .iter()
                    .filter_map(|&n| {
                        let (started, _) = self.started(v, n)?;
                        Some((started as f64, self.median_ms(v, n)?))
                    })
                    .collect(),
                reference: false,
            })
            .collect();
        curves.push(Line {
            name: format!("n x {ms_each} ms / {} workers", s.workers),
            points: self
                .config
                .counts
                .iter()
                .map(|&n| {
                    (
                        n as f64,
                        n as f64 * s.length.as_secs_f64() * 1e3 / s.workers as f64,
                    )
                })
                .collect(),
            reference: true,
        });
        let markers: Vec<Marker> = self
            .config
            .counts
            .iter()
            .filter_map(|&n| {
                let (started, why) = self.started(Sleepers::Threads, n)?;
                (started < n && why.is_some()).then(|| Marker {
                    x: started as f64,
                    label: format!("threads stop at {}", thousands(started)),
                })
            })
            .take(1)
            .collect();
        lines(
            path,
            &format!("n sleepers of {ms_each} ms each, started at once"),
            (
                "sleepers that ran (n)",
                "milliseconds, first start to last join",
            ),
            &curves,
            &markers,
        )
    }

    fn summary(&self) -> String {
        let s = &self.config.settings;
        let mut out = format!(
            "## 9. Sleepers: where threads stop scaling\n\nn sleepers of {} ms each, started at \
             once: OS threads ({} KiB stacks, all started before any sleeps), tokio tasks on \
             a current-thread runtime, jobs on a ptm pool of {} workers; each (variant, n) in a \
             fresh process, median of {} repetitions. Wall time in ms, from the first start to \
             the last join; peak RSS (`VmHWM` of the process) in MiB.\n\n\
             | n | threads ms | tasks ms | pool ms | threads MiB | tasks MiB | pool MiB |\n\
             |---:|---:|---:|---:|---:|---:|---:|\n",
            s.length.as_millis(),
            s.stack_size / 1024,
            s.workers,
            self.config.repetitions
        );
        for &n in &self.config.counts {
            let time = |v| self.median_ms(v, n).map_or("-".to_owned(), ms);
            let peak = |v| {
                self.median_peak(v, n)
                    .map_or("-".to_owned(), |b| format!("{:.1}", b / 1048576.0))
            };
            out.push_str(&format!(
                "| {n} | {} | {} | {} | {} | {} | {} |\n",
                time(Sleepers::Threads),
                time(Sleepers::Tasks),
                time(Sleepers::Pool),
                peak(Sleepers::Threads),
                peak(Sleepers::Tasks),
                peak(Sleepers::Pool),
            ));
        }
        let base = median(
            self.rows
                .iter()
                .filter_map(|r| r.measured.base_bytes.map(|b| b as f64))
                .collect::<Vec<f64>>(),
        );
        if let Some(base) = base {
            out.push_str(&format!(
                "\nEach process held {:.1} MiB (median) before it started anything.\n",
                base / 1048576.0
            ));
        }
        for &n in &self.config.counts {
            for v in Sleepers::ALL {
                if let Some((started, Some(why))) = self.started(v, n) {
                    out.push_str(&format!("\n- {n} {v}: {started} ran; {why}\n"));
                }
            }
        }
        if let Some(limit) = &self.limit {
            out.push_str(&format!(
                "\nThe probe that starts threads until one fails: {} started; {}\n",
                limit.started, limit.error
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{run, Config, Measured, Ran, Settings, Sleepers, SleepersOutcome, ThreadLimit};
    use crate::experiments::Outcome;
    use indicatif::ProgressBar;
    use std::time::Duration;

    const SHORT: Settings = Settings {
        length: Duration::from_millis(2),
        stack_size: 64 * 1024,
        workers: 4,
    };

    #[test]
    fn every_variant_runs_every_sleeper() {
        for v in Sleepers::ALL {
            let ran = v.run(50, &SHORT).expect("running");
            assert_eq!((ran.started, ran.error), (50, None), "{v}");
            assert!(ran.seconds >= 0.002, "{v}: {}", ran.seconds);
        }
    }

    #[test]
    fn the_pool_takes_its_turns() {
        // 40 jobs of 2 ms on 4 workers: at least 10 turns of 2 ms.
        let ran = Sleepers::Pool.run(40, &SHORT).expect("running");
        assert!(ran.seconds >= 0.020, "{}", ran.seconds);
    }

    #[test]
    fn measured_lines_round_trip() {
        let m = Measured {
            ran: Ran {
                started: 16_000,
                seconds: 1.25,
                error: Some("stopped at 16000: a, b".into()),
            },
            peak_bytes: Some(123),
            base_bytes: None,
        };
        assert_eq!(Measured::from_line(&m.line()).expect("parsing"), m);
    }

    #[test]
    fn the_probe_reads_a_failure_and_an_abort() {
        let stdout = "started,0\nstarted,4096\nfailed,16368,\"Resource temporarily unavailable (os error 11)\"\n";
        let stderr = "\nthread '<unnamed>' panicked at library/std/src/sys/pal/unix/stack_overflow.rs:\nfailed to allocate an alternative stack: Cannot allocate memory (os error 12)\n";
        let limit =
            ThreadLimit::read(stdout, stderr, false, &"signal 6 (SIGABRT)").expect("reading");
        assert_eq!(limit.started, 16368);
        assert!(
            limit
                .error
                .starts_with("starting thread 16369 failed: Resource"),
            "{}",
            limit.error
        );
        assert!(
            limit
                .error
                .contains("SIGABRT): failed to allocate an alternative stack"),
            "{}",
            limit.error
        );
        assert!(ThreadLimit::read("", "", false, &"x").is_err());
    }

    #[test]
    fn a_tiny_sweep_in_this_process() {
        let config = Config {
            counts: vec![10, 30],
            repetitions: 2,
            settings: SHORT,
            probe_limit: false,
            program: None,
        };
        let outcome = run(&config, &ProgressBar::hidden()).expect("sweeping");
        assert_eq!(outcome.rows.len(), 2 * 2 * 3);
        assert!(outcome.median_ms(Sleepers::Tasks, 30).expect("measured") >= 2.0);
        assert_eq!(outcome.started(Sleepers::Threads, 30), Some((30, None)));
        let summary = outcome.summary();
        assert!(summary.contains("| 30 |"), "{summary}");
        let back = SleepersOutcome::from_table(&outcome.table()).expect("reading back");
        assert_eq!(back.table(), outcome.table());
        assert_eq!(back.config.counts, [10, 30]);
    }
}
