//! Comparison 5: what threads cost.
//!
//! - [`run_spawn`]: starting and joining one thread, one at a time:
//!   `thread::spawn(..).join()` and `thread::scope` with one spawned
//!   thread, unpinned and pinned to one CPU (interleaved).
//! - [`run_curves`]: the cost of n threads: start `n` threads at once,
//!   each of which sleeps 20 ms (`sleep`), spins on `yield_now` until
//!   20 ms have passed (`spin`), or burns 20 ms of its own CPU time, read
//!   with `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` (`cpu`); join them all
//!   and time the whole. n takes [`CurvesConfig::counts`] values up to 500
//!   (full) or 100 (quick), each several times, and the curves are plotted
//!   with the CPU count marked:
//!   up to it, `cpu` stays at 20 ms; beyond it, it grows like
//!   20 ms x n / CPUs.

use std::fmt;
use std::hint::black_box;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use indicatif::ProgressBar;
use nix::time::{clock_gettime, ClockId};

use super::{distinct, expect_header, field, named, rotated, secs, Outcome, Size};
use crate::csv::Table;
use crate::pin::Pinning;
use crate::plot::{lines, rows, Line, Mark, Marker, Panel, Rows, Scale, Series};
use crate::stats::{median, summarize};

/// A way of starting and finishing one thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpawnVariant {
    /// `thread::spawn(|| {}).join()`.
    SpawnJoin,
    /// `thread::scope(|s| { s.spawn(|| {}); })`.
    ScopeOne,
}

impl SpawnVariant {
    /// Both, in table order.
    pub const ALL: [SpawnVariant; 2] = [SpawnVariant::SpawnJoin, SpawnVariant::ScopeOne];

    /// Its name in tables and CSV.
    pub fn name(self) -> &'static str {
        match self {
            SpawnVariant::SpawnJoin => "spawn+join",
            SpawnVariant::ScopeOne => "scope(1 thread)",
        }
    }

    /// Its name written out, for plots.
    pub fn label(self) -> &'static str {
        match self {
            SpawnVariant::SpawnJoin => "thread::spawn, then join",
            SpawnVariant::ScopeOne => "thread::scope with one thread",
        }
    }

    /// Starts and finishes `ops` threads, one at a time.
    ///
    /// # Errors
    ///
    /// If a thread cannot be started or panics.
    pub fn run(self, ops: usize) -> anyhow::Result<()> {
        for _ in 0..ops {
            match self {
                SpawnVariant::SpawnJoin => thread::Builder::new()
                    .spawn(|| {})
                    .context("spawning a thread")?
                    .join()
                    .map_err(|_| anyhow!("an empty thread panicked"))?,
                SpawnVariant::ScopeOne => thread::scope(|s| {
                    thread::Builder::new()
                        .spawn_scoped(s, || {})
                        .map(drop)
                        .context("spawning a scoped thread")
                })?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for SpawnVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Sizes of the spawn-cost part.
#[derive(Debug, Clone, PartialEq)]
pub struct SpawnConfig {
    /// Threads started per (variant, pinning) and round.
    pub ops: usize,
    /// Rounds.
    pub rounds: usize,
}

impl SpawnConfig {
    /// 10,000 threads per round, 5 rounds.
    pub fn full() -> SpawnConfig {
        SpawnConfig {
            ops: 10_000,
            rounds: 5,
        }
    }

    /// 1,000 threads per round, 3 rounds.
    pub fn quick() -> SpawnConfig {
        SpawnConfig {
            ops: 1_000,
            rounds: 3,
        }
    }

    /// [`full`](Self::full) or [`quick`](Self::quick).
    pub fn of(size: Size) -> SpawnConfig {
        match size {
            Size::Full => SpawnConfig::full(),
            Size::Quick => SpawnConfig::quick(),
        }
    }
}

/// One timed round of one (variant, pinning).
#[derive(Debug, Clone, PartialEq)]
pub struct SpawnRow {
    /// The variant.
    pub variant: SpawnVariant,
    /// Unpinned or pinned.
    pub pinning: Pinning,
    /// The round.
    pub round: usize,
    /// Place in the round's order.
    pub position: usize,
    /// Threads started.
    pub ops: usize,
    /// Elapsed seconds.
    pub seconds: f64,
}

impl SpawnRow {
    /// Microseconds per thread.
    pub fn micros(&self) -> f64 {
        self.seconds * 1e6 / self.ops as f64
    }
}

/// Measures both variants, unpinned and pinned, interleaved.
///
/// # Errors
///
/// If pinning fails or a thread cannot be started.
pub fn run_spawn(config: &SpawnConfig, bar: &ProgressBar) -> anyhow::Result<SpawnOutcome> {
    let subjects: Vec<(SpawnVariant, Pinning)> = Pinning::BOTH
        .into_iter()
        .flat_map(|p| SpawnVariant::ALL.into_iter().map(move |v| (v, p)))
        .collect();
    bar.set_length((subjects.len() * (config.rounds + 1)) as u64);
    for &(variant, pinning) in &subjects {
        let _guard = pinning.apply()?;
        variant.run((config.ops / 10).max(1))?;
        bar.inc(1);
    }
    let mut rows = Vec::new();
    for round in 0..config.rounds {
        for position in 0..subjects.len() {
            let (variant, pinning) = subjects[rotated(round, position, subjects.len())];
            bar.set_message(format!("{variant} {pinning}"));
            let _guard = pinning.apply()?;
            let start = Instant::now();
            variant.run(config.ops)?;
            rows.push(SpawnRow {
                variant,
                pinning,
                round,
                position,
                ops: config.ops,
                seconds: start.elapsed().as_secs_f64(),
            });
            bar.inc(1);
        }
    }
    Ok(SpawnOutcome {
        config: config.clone(),
        rows,
    })
}

/// Every round of the spawn-cost part.
#[derive(Debug, Clone)]
pub struct SpawnOutcome {
    /// The sizes it ran with.
    pub config: SpawnConfig,
    /// Every timed round.
    pub rows: Vec<SpawnRow>,
}

impl SpawnOutcome {
    /// The CSV columns.
    pub const HEADER: [&'static str; 7] = [
        "variant",
        "pinning",
        "round",
        "position",
        "threads",
        "seconds",
        "us_per_thread",
    ];

    /// Reads the rows of a CSV written from [`table`](Outcome::table)
    /// back; the sizes are taken from the rows.
    ///
    /// # Errors
    ///
    /// If `table` is not such a CSV.
    pub fn from_table(table: &Table) -> anyhow::Result<SpawnOutcome> {
        let header = &SpawnOutcome::HEADER;
        expect_header(table, header)?;
        let rows = table
            .rows()
            .iter()
            .map(|f| {
                Ok(SpawnRow {
                    variant: named(&SpawnVariant::ALL, SpawnVariant::name, &f[0])?,
                    pinning: Pinning::from_name(&f[1])
                        .ok_or_else(|| anyhow!("pinning {:?}", f[1]))?,
                    round: field(f, 2, header)?,
                    position: field(f, 3, header)?,
                    ops: field(f, 4, header)?,
                    seconds: field(f, 5, header)?,
                })
            })
            .collect::<anyhow::Result<Vec<SpawnRow>>>()?;
        let config = SpawnConfig {
            ops: rows.first().map_or(0, |r| r.ops),
            rounds: rows.iter().map(|r| r.round + 1).max().unwrap_or(0),
        };
        Ok(SpawnOutcome { config, rows })
    }

    /// The median microseconds per thread of `variant` under `pinning`.
    pub fn median_micros(&self, variant: SpawnVariant, pinning: Pinning) -> Option<f64> {
        median(self.micros(variant, pinning))
    }

    fn micros(&self, variant: SpawnVariant, pinning: Pinning) -> Vec<f64> {
        self.rows
            .iter()
            .filter(|r| r.variant == variant && r.pinning == pinning)
            .map(SpawnRow::micros)
            .collect()
    }
}

impl Outcome for SpawnOutcome {
    fn name(&self) -> &'static str {
        "thread_spawn"
    }

    fn table(&self) -> Table {
        let mut table = Table::new(SpawnOutcome::HEADER);
        for r in &self.rows {
            table.push([
                r.variant.name().to_owned(),
                r.pinning.name().to_owned(),
                r.round.to_string(),
                r.position.to_string(),
                r.ops.to_string(),
                secs(r.seconds),
                format!("{:.3}", r.micros()),
            ]);
        }
        table
    }

    fn plot(&self, path: &Path) -> anyhow::Result<()> {
        let panel = Panel {
            title: String::new(),
            rows: SpawnVariant::ALL
                .iter()
                .map(|v| v.label().to_owned())
                .collect(),
            series: Pinning::BOTH
                .into_iter()
                .map(|p| Series {
                    name: p.describe().to_owned(),
                    values: SpawnVariant::ALL
                        .iter()
                        .map(|&v| self.median_micros(v, p))
                        .collect(),
                })
                .collect(),
        };
        let chart = Rows {
            title: "Threads: start and finish one empty thread",
            axis: "microseconds per thread",
            scale: Scale::Linear,
            mark: Mark::Bar,
            value: |us| format!("{us:.1} µs"),
        };
        rows(path, &chart, &[panel])
    }

    fn summary(&self) -> String {
        let mut out = format!(
            "## 5a. Thread spawn + join\n\nAn empty thread started and finished, one at a time: \
             {} per round, {} rounds in rotated order. Microseconds per thread: median (min .. \
             max).\n\n| variant | pinning | µs per thread | range |\n|---|---|---:|---:|\n",
            self.config.ops, self.config.rounds
        );
        for pinning in Pinning::BOTH {
            for variant in SpawnVariant::ALL {
                if let Some(s) = summarize(self.micros(variant, pinning)) {
                    out.push_str(&format!(
                        "| {variant} | {pinning} | {:.1} | {:.1} .. {:.1} |\n",
                        s.median, s.min, s.max
                    ));
                }
            }
        }
        out
    }
}

/// What each of the `n` threads does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Workload {
    /// `thread::sleep(20 ms)`.
    Sleep,
    /// `while start.elapsed() < 20 ms { yield_now() }`.
    Spin,
    /// Computes until it has used 20 ms of its own CPU time.
    Cpu,
}

impl Workload {
    /// All three, in table order.
    pub const ALL: [Workload; 3] = [Workload::Sleep, Workload::Spin, Workload::Cpu];

    /// Its name in tables, CSV and plots.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Sleep => "sleep",
            Workload::Spin => "spin",
            Workload::Cpu => "cpu",
        }
    }

    /// Does the work once, for `length`, on the calling thread.
    ///
    /// # Errors
    ///
    /// If the thread's CPU clock cannot be read (`Cpu`).
    pub fn work(self, length: Duration) -> anyhow::Result<()> {
        match self {
            Workload::Sleep => thread::sleep(length),
            Workload::Spin => {
                let start = Instant::now();
                while start.elapsed() < length {
                    thread::yield_now();
                }
            }
            Workload::Cpu => burn_cpu(length)?,
        }
        Ok(())
    }

    /// Starts `n` threads doing the work, joins them all, and returns the
    /// elapsed seconds.
    ///
    /// # Errors
    ///
    /// If a thread cannot be started, panics, or fails its work.
    pub fn run(self, n: usize, length: Duration) -> anyhow::Result<f64> {
        let start = Instant::now();
        let handles = (0..n)
            .map(|_| thread::Builder::new().spawn(move || self.work(length)))
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("starting {n} threads"))?;
        for handle in handles {
            handle
                .join()
                .map_err(|_| anyhow!("a {self} thread panicked"))??;
        }
        Ok(start.elapsed().as_secs_f64())
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// The calling thread's CPU time so far (`CLOCK_THREAD_CPUTIME_ID`).
///
/// # Errors
///
/// If the clock cannot be read.
pub fn thread_cpu_time() -> anyhow::Result<Duration> {
    let t = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .context("clock_gettime(CLOCK_THREAD_CPUTIME_ID)")?;
    let secs = u64::try_from(t.tv_sec()).unwrap_or(0);
    let nanos = u32::try_from(t.tv_nsec()).unwrap_or(0);
    Ok(Duration::new(secs, nanos))
}

/// Computes until the calling thread has used `length` of CPU time (time
/// spent waiting for a CPU does not count).
///
/// # Errors
///
/// If the thread's CPU clock cannot be read.
pub fn burn_cpu(length: Duration) -> anyhow::Result<()> {
    let start = thread_cpu_time()?;
    let mut x = 1u64;
    while thread_cpu_time()?.saturating_sub(start) < length {
        for _ in 0..1000 {
            x = black_box(
                x.wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407),
            );
        }
    }
    black_box(x);
    Ok(())
}

/// Sizes of the n-thread curves.
#[derive(Debug, Clone, PartialEq)]
pub struct CurvesConfig {
    /// The thread counts, increasing.
    pub counts: Vec<usize>,
    /// Repetitions of the whole sweep (medians are taken over them).
    pub repetitions: usize,
    /// What each thread sleeps, spins or burns (20 ms).
    pub length: Duration,
}

impl CurvesConfig {
    /// n from 1 to 500 (25 values), 3 repetitions, 20 ms.
    pub fn full() -> CurvesConfig {
        CurvesConfig {
            counts: vec![
                1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 100, 128, 160, 200,
                256, 320, 400, 500,
            ],
            repetitions: 3,
            length: Duration::from_millis(20),
        }
    }

    /// n from 1 to 100 (14 values), 1 repetition, 20 ms.
    pub fn quick() -> CurvesConfig {
        CurvesConfig {
            counts: vec![1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 80, 100],
            repetitions: 1,
            length: Duration::from_millis(20),
        }
    }

    /// [`full`](Self::full) or [`quick`](Self::quick).
    pub fn of(size: Size) -> CurvesConfig {
        match size {
            Size::Full => CurvesConfig::full(),
            Size::Quick => CurvesConfig::quick(),
        }
    }
}

/// One timed batch of `n` threads.
#[derive(Debug, Clone, PartialEq)]
pub struct CurveRow {
    /// What the threads did.
    pub workload: Workload,
    /// How many threads.
    pub n: usize,
    /// The repetition, from 0.
    pub repetition: usize,
    /// Place among the three workloads at this n.
    pub position: usize,
    /// Seconds from the first spawn to the last join.
    pub seconds: f64,
}

/// Runs the sweep: for each repetition and each n, the three workloads in
/// an order rotated by one place per (repetition, n).
///
/// # Errors
///
/// If threads cannot be started or their work fails.
pub fn run_curves(config: &CurvesConfig, bar: &ProgressBar) -> anyhow::Result<CurvesOutcome> {
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let steps = config.repetitions * config.counts.len() * Workload::ALL.len();
    bar.set_length(steps as u64);
    let mut rows = Vec::new();
    for repetition in 0..config.repetitions {
        for (i, &n) in config.counts.iter().enumerate() {
            for position in 0..Workload::ALL.len() {
                let workload = Workload::ALL[rotated(repetition + i, position, 3)];
                bar.set_message(format!("n = {n}, {workload}"));
                let seconds = workload.run(n, config.length)?;
                rows.push(CurveRow {
                    workload,
                    n,
                    repetition,
                    position,
                    seconds,
                });
                bar.inc(1);
            }
        }
    }
    Ok(CurvesOutcome {
        config: config.clone(),
        cpus,
        rows,
    })
}

/// The sweep's rows.
#[derive(Debug, Clone)]
pub struct CurvesOutcome {
    /// The sizes it ran with.
    pub config: CurvesConfig,
    /// CPUs available to the process (`available_parallelism`).
    pub cpus: usize,
    /// Every timed batch.
    pub rows: Vec<CurveRow>,
}

impl CurvesOutcome {
    /// The CSV columns (`cpus`: the CPUs available to the run, the same on
    /// every row).
    pub const HEADER: [&'static str; 6] = [
        "workload",
        "threads",
        "repetition",
        "position",
        "seconds",
        "cpus",
    ];

    /// Reads the rows of a CSV written from [`table`](Outcome::table)
    /// back; the counts, repetitions and CPUs are taken from the rows, the
    /// work per thread (not in the CSV) is [`CurvesConfig::full`]'s 20 ms.
    ///
    /// # Errors
    ///
    /// If `table` is not such a CSV.
    pub fn from_table(table: &Table) -> anyhow::Result<CurvesOutcome> {
        let header = &CurvesOutcome::HEADER;
        expect_header(table, header)?;
        let mut cpus = Vec::new();
        let rows = table
            .rows()
            .iter()
            .map(|f| {
                cpus.push(field::<usize>(f, 5, header)?);
                Ok(CurveRow {
                    workload: named(&Workload::ALL, Workload::name, &f[0])?,
                    n: field(f, 1, header)?,
                    repetition: field(f, 2, header)?,
                    position: field(f, 3, header)?,
                    seconds: field(f, 4, header)?,
                })
            })
            .collect::<anyhow::Result<Vec<CurveRow>>>()?;
        let cpus = distinct(cpus);
        anyhow::ensure!(cpus.len() == 1, "cpus {cpus:?}: one value expected");
        let mut counts = distinct(rows.iter().map(|r| r.n));
        counts.sort_unstable();
        let config = CurvesConfig {
            counts,
            repetitions: rows.iter().map(|r| r.repetition + 1).max().unwrap_or(0),
            ..CurvesConfig::full()
        };
        Ok(CurvesOutcome {
            config,
            cpus: cpus[0],
            rows,
        })
    }

    /// The median milliseconds of `workload` with `n` threads.
    pub fn median_ms(&self, workload: Workload, n: usize) -> Option<f64> {
        median(
            self.rows
                .iter()
                .filter(|r| r.workload == workload && r.n == n)
                .map(|r| r.seconds * 1e3)
                .collect::<Vec<f64>>(),
        )
    }

    /// The `cpu` curve if CPU time were perfectly shared and cost nothing
    /// to share: n threads' work (`length` each) spread over the CPUs, and
    /// never less than one `length`, in milliseconds:
    /// `length x max(1, n / cpus)`.
    pub fn cpu_bound_ms(&self, n: usize) -> f64 {
        let share = n as f64 / self.cpus.max(1) as f64;
        self.config.length.as_secs_f64() * 1e3 * share.max(1.0)
    }
}

impl Outcome for CurvesOutcome {
    fn name(&self) -> &'static str {
        "thread_curves"
    }

    fn table(&self) -> Table {
        let mut table = Table::new(CurvesOutcome::HEADER);
        for r in &self.rows {
            table.push([
                r.workload.name().to_owned(),
                r.n.to_string(),
                r.repetition.to_string(),
                r.position.to_string(),
                secs(r.seconds),
                self.cpus.to_string(),
            ]);
        }
        table
    }

    fn plot(&self, path: &Path) -> anyhow::Result<()> {
        let ms = self.config.length.as_millis();
        let mut curves: Vec<Line> = Workload::ALL
            .iter()
            .map(|&w| Line {
                name: match w {
                    Workload::Sleep => format!("each thread sleeps {ms} ms"),
                    Workload::Spin => format!("each spins on yield_now for {ms} ms"),
                    Workload::Cpu => format!("each burns {ms} ms of CPU time"),
                },
                points: self
                    .config
                    .counts
                    .iter()
                    .filter_map(|&n| self.median_ms(w, n).map(|y| (n as f64, y)))
                    .collect(),
                reference: false,
            })
            .collect();
        curves.push(Line {
            name: format!(
                "perfect sharing of {} CPUs: {ms} ms x max(1, n / {})",
                self.cpus, self.cpus
            ),
            points: self
                .config
                .counts
                .iter()
                .map(|&n| (n as f64, self.cpu_bound_ms(n)))
                .collect(),
            reference: true,
        });
        lines(
            path,
            "Time to start n threads at once and join them all",
            (
                "threads started at once (n)",
                "milliseconds, start to last join",
            ),
            &curves,
            &[Marker {
                x: self.cpus as f64,
                label: format!("{} CPUs", self.cpus),
            }],
        )
    }

    fn summary(&self) -> String {
        let mut out = format!(
            "## 5b. The cost of n threads\n\nn threads started at once, \
             each sleeping, spinning on `yield_now`, or burning {} ms of its own CPU time; \
             milliseconds from the first spawn to the last join, median of {} repetitions. \
             {} CPUs; `cpu bound` is {} ms x max(1, n / CPUs), perfect sharing of the CPUs.\n\n\
             | n | sleep | spin | cpu | cpu bound |\n|---:|---:|---:|---:|---:|\n",
            self.config.length.as_millis(),
            self.config.repetitions,
            self.cpus,
            self.config.length.as_millis()
        );
        let cell = |w, n| {
            self.median_ms(w, n)
                .map_or("-".to_owned(), |v| format!("{v:.1}"))
        };
        for &n in &self.config.counts {
            out.push_str(&format!(
                "| {n} | {} | {} | {} | {:.0} |\n",
                cell(Workload::Sleep, n),
                cell(Workload::Spin, n),
                cell(Workload::Cpu, n),
                self.cpu_bound_ms(n)
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{
        burn_cpu, run_curves, run_spawn, thread_cpu_time, CurvesConfig, CurvesOutcome, SpawnConfig,
        SpawnOutcome, SpawnVariant, Workload,
    };
    use crate::experiments::Outcome;
    use crate::pin::Pinning;
    use indicatif::ProgressBar;
    use std::time::Duration;

    #[test]
    fn burning_uses_cpu_time() {
        let before = thread_cpu_time().expect("clock");
        burn_cpu(Duration::from_millis(5)).expect("burning");
        let used = thread_cpu_time().expect("clock") - before;
        assert!(used >= Duration::from_millis(5), "{used:?}");
    }

    #[test]
    fn a_tiny_spawn_run() {
        let outcome = std::thread::spawn(|| {
            run_spawn(&SpawnConfig { ops: 5, rounds: 2 }, &ProgressBar::hidden())
        })
        .join()
        .expect("the measuring thread")
        .expect("measuring");
        assert_eq!(outcome.rows.len(), 2 * 2 * 2);
        assert!(outcome
            .median_micros(SpawnVariant::ScopeOne, Pinning::Pinned)
            .is_some());
        assert!(outcome.summary().contains("| scope(1 thread) | pinned |"));
        let back = SpawnOutcome::from_table(&outcome.table()).expect("reading back");
        assert_eq!(back.config, SpawnConfig { ops: 5, rounds: 2 });
        assert_eq!(back.rows.len(), 8);
    }

    #[test]
    fn a_tiny_sweep() {
        let config = CurvesConfig {
            counts: vec![1, 3],
            repetitions: 1,
            length: Duration::from_millis(2),
        };
        let outcome = run_curves(&config, &ProgressBar::hidden()).expect("sweeping");
        assert_eq!(outcome.rows.len(), 2 * 3);
        for w in Workload::ALL {
            let ms = outcome.median_ms(w, 3).expect("measured");
            assert!(ms >= 2.0, "{w}: {ms} ms");
        }
        assert_eq!(outcome.table().rows().len(), 6);
        let back = CurvesOutcome::from_table(&outcome.table()).expect("reading back");
        assert_eq!((back.config.counts, back.cpus), (vec![1, 3], outcome.cpus));
        assert_eq!(back.config.repetitions, 1);
    }

    #[test]
    fn the_cpu_bound_shares_the_cpus() {
        let outcome = super::CurvesOutcome {
            config: CurvesConfig {
                counts: vec![],
                repetitions: 1,
                length: Duration::from_millis(20),
            },
            cpus: 2,
            rows: vec![],
        };
        assert_eq!(outcome.cpu_bound_ms(1), 20.0);
        assert_eq!(outcome.cpu_bound_ms(2), 20.0);
        assert_eq!(outcome.cpu_bound_ms(3), 30.0);
        assert_eq!(outcome.cpu_bound_ms(500), 5000.0);
    }
}
