//! Comparison 1, continued: jobs that borrow, and fork-join, on 2 workers.
//!
//! - **Scoped jobs**: 1,000,000 jobs, each incrementing its own element of a
//!   borrowed `Vec<AtomicU64>`, spawned in one scope and waited for at its
//!   end: `ptm::ThreadPool::scope` against `rayon::ThreadPool::scope`, and
//!   against `std::thread::scope` with the work cut into one chunk per
//!   worker, a thread each (a thread per job would measure thread starts).
//!   Both pools' scopes are called from the measuring thread, as users
//!   call them (rayon runs the scope's closure on one of its workers, ptm
//!   on the caller, which then waits).
//! - **Fork-join**: the sum of `0..n` split in halves down to leaves of
//!   [`Config::cutoff`] numbers, summed one by one, [`Config::trees`] times
//!   per batch. On ptm, a split spawns
//!   one half with `ThreadPool::spawn`, sums the other and joins the first
//!   (`JobHandle::join` on a worker runs queued jobs while it waits); on
//!   rayon, a split is `rayon::join`. Both start on a worker of their pool
//!   (a spawned root job, `ThreadPool::install`). Splits per second.
//!
//! Every variant runs in the same process, round by round in rotated
//! order, and the experiment runs in several processes, as the pool
//! experiment does ([`super::pool`]): the ratios are the medians over
//! processes of each process's ratio of medians. There is no target, only
//! the ratios ptm / rayon and ptm / std, whichever way they fall.

use std::fmt;
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context};
use indicatif::ProgressBar;

use super::{
    expect_header, field, medians_by_invocation, named, per_round_ratios, ratio_cells, rotated,
    rows_of_invocations, secs, Outcome, Size,
};
use crate::csv::{split_line, Table};
use crate::plot::{short, stacked, Mark, Panel, Rows, Scale, Series};
use crate::stats::{median, summarize};

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// `ptm::ThreadPool::scope`, a job per element.
    PtmScope,
    /// `rayon::ThreadPool::scope`, a job per element.
    RayonScope,
    /// `std::thread::scope`, a thread per chunk.
    StdScope,
    /// Fork-join on ptm: `spawn` one half, `join` it.
    PtmJoin,
    /// Fork-join on rayon: `rayon::join`.
    RayonJoin,
}

impl Variant {
    /// Every variant, in table order.
    pub const ALL: [Variant; 5] = [
        Variant::PtmScope,
        Variant::RayonScope,
        Variant::StdScope,
        Variant::PtmJoin,
        Variant::RayonJoin,
    ];

    /// Its name in tables and CSV.
    pub fn name(self) -> &'static str {
        match self {
            Variant::PtmScope => "ptm-scope",
            Variant::RayonScope => "rayon-scope",
            Variant::StdScope => "std-scope",
            Variant::PtmJoin => "ptm-join",
            Variant::RayonJoin => "rayon-join",
        }
    }

    /// Its name written out, for plots.
    pub fn label(self) -> &'static str {
        match self {
            Variant::PtmScope => "ptm ThreadPool::scope",
            Variant::RayonScope => "rayon ThreadPool::scope",
            Variant::StdScope => "std::thread::scope, a thread per chunk",
            Variant::PtmJoin => "ptm spawn + JobHandle::join",
            Variant::RayonJoin => "rayon::join",
        }
    }

    /// True for the fork-join variants (their items are splits).
    pub fn is_fork_join(self) -> bool {
        matches!(self, Variant::PtmJoin | Variant::RayonJoin)
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Sizes of the experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Scoped jobs per batch (elements of the borrowed `Vec`).
    pub jobs: usize,
    /// Numbers a fork-join leaf sums one by one.
    pub cutoff: u64,
    /// Fork-join leaves per tree, as a power of two: `2^leaves_log2`
    /// leaves, `2^leaves_log2 - 1` splits, `cutoff * 2^leaves_log2`
    /// numbers.
    pub leaves_log2: u32,
    /// Fork-join trees per batch, one after the other.
    pub trees: usize,
    /// Worker threads of each pool, and chunks of `std-scope`.
    pub workers: usize,
    /// Timed batches per variant and invocation.
    pub rounds: usize,
    /// Separate processes to run it in.
    pub invocations: usize,
}

impl Config {
    /// 1,000,000 scoped jobs; fork-join over 2^12 leaves of 256 numbers,
    /// 16 trees (65,520 splits); 2 workers, 5 rounds, 5 invocations.
    pub fn full() -> Config {
        Config {
            jobs: 1_000_000,
            cutoff: 256,
            leaves_log2: 12,
            trees: 16,
            workers: 2,
            rounds: 5,
            invocations: 5,
        }
    }

    /// 100,000 scoped jobs; 2 trees of 2^10 leaves; 3 rounds, 3
    /// invocations.
    pub fn quick() -> Config {
        Config {
            jobs: 100_000,
            leaves_log2: 10,
            trees: 2,
            rounds: 3,
            invocations: 3,
            ..Config::full()
        }
    }

    /// [`full`](Self::full) or [`quick`](Self::quick).
    pub fn of(size: Size) -> Config {
        match size {
            Size::Full => Config::full(),
            Size::Quick => Config::quick(),
        }
    }

    /// Splits per fork-join tree.
    pub fn splits(&self) -> usize {
        (1usize << self.leaves_log2) - 1
    }

    /// What one batch of `variant` counts: jobs, elements or splits.
    pub fn items(&self, variant: Variant) -> usize {
        if variant.is_fork_join() {
            self.splits() * self.trees
        } else {
            self.jobs
        }
    }
}

/// One timed batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Which invocation (process) it ran in, from 0.
    pub invocation: usize,
    /// The variant.
    pub variant: Variant,
    /// The round, from 0.
    pub round: usize,
    /// Its place in that round's order, from 0.
    pub position: usize,
    /// Jobs (scope variants) or splits (fork-join) in the batch.
    pub items: usize,
    /// Fork-join trees in the batch (0 for scoped jobs).
    pub trees: usize,
    /// Elapsed seconds.
    pub seconds: f64,
}

impl Row {
    /// The CSV columns.
    pub const HEADER: [&'static str; 8] = [
        "invocation",
        "variant",
        "round",
        "position",
        "items",
        "trees",
        "seconds",
        "items_per_sec",
    ];

    /// Jobs or splits per second.
    pub fn rate(&self) -> f64 {
        self.items as f64 / self.seconds
    }

    /// The row as CSV fields.
    pub fn fields(&self) -> Vec<String> {
        vec![
            self.invocation.to_string(),
            self.variant.name().to_owned(),
            self.round.to_string(),
            self.position.to_string(),
            self.items.to_string(),
            self.trees.to_string(),
            secs(self.seconds),
            format!("{:.1}", self.rate()),
        ]
    }

    /// The row of these CSV fields.
    ///
    /// # Errors
    ///
    /// If they are not such a row.
    pub fn from_fields(f: &[String]) -> anyhow::Result<Row> {
        let header = &Row::HEADER;
        ensure!(f.len() == header.len(), "{} fields", f.len());
        Ok(Row {
            invocation: field(f, 0, header)?,
            variant: named(&Variant::ALL, Variant::name, &f[1])?,
            round: field(f, 2, header)?,
            position: field(f, 3, header)?,
            items: field(f, 4, header)?,
            trees: field(f, 5, header)?,
            seconds: field(f, 6, header)?,
        })
    }

    /// Parses a CSV line of [`fields`](Self::fields) (a child's row).
    ///
    /// # Errors
    ///
    /// If the line is not such a row.
    pub fn parse(line: &str) -> anyhow::Result<Row> {
        Row::from_fields(&split_line(line).context("an unclosed quote")?)
    }
}

/// Sums `lo..hi` one number at a time (`black_box` keeps the compiler from
/// replacing the loop by its closed form).
fn leaf_sum(lo: u64, hi: u64) -> u64 {
    (lo..hi).map(black_box).sum()
}

/// The fork-join sum of `lo..hi` on ptm: spawn the upper half, sum the
/// lower, join the upper.
fn ptm_sum(pool: &'static ptm::ThreadPool, lo: u64, hi: u64, cutoff: u64) -> anyhow::Result<u64> {
    if hi - lo <= cutoff {
        return Ok(leaf_sum(lo, hi));
    }
    let mid = lo + (hi - lo) / 2;
    let upper = pool
        .spawn(move || ptm_sum(pool, mid, hi, cutoff))
        .context("ptm spawn")?;
    let lower = ptm_sum(pool, lo, mid, cutoff)?;
    let upper = upper
        .join()
        .map_err(|e| anyhow!("a fork-join half: {e}"))??;
    Ok(lower + upper)
}

/// The fork-join sum of `lo..hi` with `rayon::join`.
fn rayon_sum(lo: u64, hi: u64, cutoff: u64) -> u64 {
    if hi - lo <= cutoff {
        return leaf_sum(lo, hi);
    }
    let mid = lo + (hi - lo) / 2;
    let (lower, upper) = rayon::join(|| rayon_sum(lo, mid, cutoff), || rayon_sum(mid, hi, cutoff));
    lower + upper
}

/// The pools and the borrowed data of one invocation.
struct Subjects {
    /// Leaked: the fork-join jobs capture it, and `spawn` takes only
    /// `'static` jobs (an `Arc` would add a contended count per split).
    ptm: &'static ptm::ThreadPool,
    rayon: rayon::ThreadPool,
    counters: Vec<AtomicU64>,
    workers: usize,
}

impl Subjects {
    fn new(config: &Config) -> anyhow::Result<Subjects> {
        let workers = config.workers;
        let ptm = ptm::ThreadPool::new(workers)
            .with_context(|| format!("building a ptm pool of {workers} workers"))?;
        let rayon = rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .build()
            .with_context(|| format!("building a rayon pool of {workers} threads"))?;
        Ok(Subjects {
            ptm: Box::leak(Box::new(ptm)),
            rayon,
            counters: (0..config.jobs).map(|_| AtomicU64::new(0)).collect(),
            workers,
        })
    }

    /// Runs one batch of `variant`: `jobs` scoped jobs, or `trees`
    /// fork-joins over `2^leaves_log2` leaves of `cutoff` numbers. Times it
    /// and checks that every job ran once, or every sum.
    fn run(
        &self,
        variant: Variant,
        jobs: usize,
        (trees, leaves_log2, cutoff): (usize, u32, u64),
    ) -> anyhow::Result<Duration> {
        let counters = &self.counters[..jobs.min(self.counters.len())];
        counters.iter().for_each(|c| c.store(0, Relaxed));
        let n = cutoff << leaves_log2;
        let start = Instant::now();
        let mut sums = Vec::with_capacity(trees);
        match variant {
            Variant::PtmScope => {
                self.ptm.scope(|s| {
                    for c in counters {
                        s.spawn(move || {
                            c.fetch_add(1, Relaxed);
                        });
                    }
                });
            }
            Variant::RayonScope => {
                self.rayon.scope(|s| {
                    for c in counters {
                        s.spawn(move |_| {
                            c.fetch_add(1, Relaxed);
                        });
                    }
                });
            }
            Variant::StdScope => {
                let chunk = counters.len().div_ceil(self.workers).max(1);
                thread::scope(|s| {
                    counters.chunks(chunk).try_for_each(|chunk| {
                        thread::Builder::new()
                            .spawn_scoped(s, move || {
                                for c in chunk {
                                    c.fetch_add(1, Relaxed);
                                }
                            })
                            .map(drop)
                    })
                })
                .context("spawning a scoped thread")?;
            }
            Variant::PtmJoin => {
                let pool = self.ptm;
                for _ in 0..trees {
                    let root = pool
                        .spawn(move || ptm_sum(pool, 0, n, cutoff))
                        .context("ptm spawn")?;
                    sums.push(root.join().map_err(|e| anyhow!("the root job: {e}"))??);
                }
            }
            Variant::RayonJoin => {
                for _ in 0..trees {
                    sums.push(self.rayon.install(|| rayon_sum(0, n, cutoff)));
                }
            }
        }
        let elapsed = start.elapsed();
        if variant.is_fork_join() {
            let expected = n * (n - 1) / 2;
            let wrong = sums.iter().filter(|&&sum| sum != expected).count();
            ensure!(
                wrong == 0 && sums.len() == trees,
                "{variant}: {wrong} of {trees} sums of 0..{n} came out wrong"
            );
        } else {
            let missed = counters.iter().filter(|c| c.load(Relaxed) != 1).count();
            ensure!(
                missed == 0,
                "{variant}: {missed} of {jobs} jobs did not run once"
            );
        }
        Ok(elapsed)
    }
}

/// Runs one invocation in this process: builds both pools, warms every
/// variant up with a tenth of a batch, then runs `rounds` rounds of one
/// batch per variant in rotated order. Calls `on_row` after each batch (the
/// child mode prints it) and advances `bar`.
///
/// # Errors
///
/// If a pool cannot be built, a batch fails its check, or `on_row` fails.
pub fn run_invocation(
    config: &Config,
    invocation: usize,
    bar: &ProgressBar,
    mut on_row: impl FnMut(&Row) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Row>> {
    ensure!(
        config.jobs > 0 && config.cutoff > 0 && config.rounds > 0 && config.workers > 0,
        "jobs, cutoff, workers and rounds must be at least 1"
    );
    ensure!(config.leaves_log2 < 32, "at most 2^31 leaves");
    let subjects = Subjects::new(config)?;
    let warm = (1, config.leaves_log2.saturating_sub(2), config.cutoff);
    let trees = (config.trees, config.leaves_log2, config.cutoff);
    for variant in Variant::ALL {
        subjects
            .run(variant, (config.jobs / 10).max(1), warm)
            .with_context(|| format!("warming up {variant}"))?;
    }
    let mut rows = Vec::new();
    let count = Variant::ALL.len();
    for round in 0..config.rounds {
        for position in 0..count {
            let variant = Variant::ALL[rotated(round, position, count)];
            bar.set_message(variant.name());
            let elapsed = subjects
                .run(variant, config.jobs, trees)
                .with_context(|| format!("{variant}, round {round}"))?;
            let row = Row {
                invocation,
                variant,
                round,
                position,
                items: config.items(variant),
                trees: if variant.is_fork_join() {
                    config.trees
                } else {
                    0
                },
                seconds: elapsed.as_secs_f64(),
            };
            on_row(&row)?;
            rows.push(row);
            bar.inc(1);
        }
    }
    Ok(rows)
}

/// Runs `config.invocations` invocations, each in a child process made by
/// `child(invocation)` (which prints its rows as CSV lines), or, with
/// `child == None`, one after the other in this process.
///
/// # Errors
///
/// As for [`run_invocation`], or if a child fails or prints something
/// other than rows.
pub fn run(
    config: &Config,
    bar: &ProgressBar,
    child: Option<&dyn Fn(usize) -> Command>,
) -> anyhow::Result<ScopeOutcome> {
    let per_invocation = config.rounds * Variant::ALL.len();
    bar.set_length((per_invocation * config.invocations) as u64);
    let rows = rows_of_invocations(
        config.invocations,
        child,
        Row::parse,
        |invocation| run_invocation(config, invocation, bar, |_| Ok(())),
        bar,
    )?;
    let expected = per_invocation * config.invocations;
    ensure!(
        rows.len() == expected,
        "{} batches measured, {expected} expected",
        rows.len()
    );
    Ok(ScopeOutcome {
        config: config.clone(),
        rows,
    })
}

/// Every batch of every invocation.
#[derive(Debug, Clone)]
pub struct ScopeOutcome {
    /// The sizes it ran with.
    pub config: Config,
    /// Every timed batch.
    pub rows: Vec<Row>,
}

/// The pairs the summary gives same-process ratios for.
const RATIOS: [(Variant, Variant); 3] = [
    (Variant::PtmScope, Variant::RayonScope),
    (Variant::PtmScope, Variant::StdScope),
    (Variant::PtmJoin, Variant::RayonJoin),
];

impl ScopeOutcome {
    /// Reads a CSV written from [`table`](Outcome::table) back; the sizes
    /// are taken from the rows (the cutoff and worker count, which the CSV
    /// does not record, are [`Config::full`]'s).
    ///
    /// # Errors
    ///
    /// If `table` is not such a CSV, or its fork-join splits per tree are
    /// not one less than a power of two.
    pub fn from_table(table: &Table) -> anyhow::Result<ScopeOutcome> {
        expect_header(table, &Row::HEADER)?;
        let rows = table
            .rows()
            .iter()
            .map(|f| Row::from_fields(f))
            .collect::<anyhow::Result<Vec<Row>>>()?;
        let first = |fork_join: bool| rows.iter().find(|r| r.variant.is_fork_join() == fork_join);
        let full = Config::full();
        let (trees, leaves_log2) = match first(true) {
            Some(r) => {
                let leaves = r.items / r.trees.max(1) + 1;
                ensure!(
                    r.trees > 0 && leaves.is_power_of_two(),
                    "{} splits in {} trees",
                    r.items,
                    r.trees
                );
                (r.trees, leaves.trailing_zeros())
            }
            None => (full.trees, full.leaves_log2),
        };
        let config = Config {
            jobs: first(false).map_or(full.jobs, |r| r.items),
            trees,
            leaves_log2,
            rounds: rows.iter().map(|r| r.round + 1).max().unwrap_or(0),
            invocations: rows.iter().map(|r| r.invocation + 1).max().unwrap_or(0),
            ..full
        };
        Ok(ScopeOutcome { config, rows })
    }

    /// Each invocation's median rate of `variant`, `(invocation, median)`.
    fn medians(&self, variant: Variant) -> Vec<(usize, f64)> {
        medians_by_invocation(
            &self.rows,
            |r| r.invocation,
            |r| (r.variant == variant).then(|| r.rate()),
        )
    }

    /// The median over invocations of each invocation's median rate.
    pub fn median_rate(&self, variant: Variant) -> Option<f64> {
        median(
            self.medians(variant)
                .into_iter()
                .map(|(_, m)| m)
                .collect::<Vec<f64>>(),
        )
    }

    /// The same-process ratios `mine / other` of the invocation medians.
    pub fn ratios(&self, mine: Variant, other: Variant) -> Vec<f64> {
        per_round_ratios(&self.medians(mine), &self.medians(other))
    }
}

impl Outcome for ScopeOutcome {
    fn name(&self) -> &'static str {
        "pool_scope"
    }

    fn table(&self) -> Table {
        let mut table = Table::new(Row::HEADER);
        for row in &self.rows {
            table.push(row.fields());
        }
        table
    }

    fn plot(&self, path: &Path) -> anyhow::Result<()> {
        let panel = |variants: &[Variant]| Panel {
            title: String::new(),
            rows: variants.iter().map(|v| v.label().to_owned()).collect(),
            series: vec![Series {
                name: String::new(),
                values: variants.iter().map(|&v| self.median_rate(v)).collect(),
            }],
        };
        let scoped = [Variant::PtmScope, Variant::RayonScope, Variant::StdScope];
        let fork_join = [Variant::PtmJoin, Variant::RayonJoin];
        let scope_chart = Rows {
            title: "Scoped jobs that borrow: each increments its own element",
            axis: "jobs per second (std: elements per second)",
            scale: Scale::Log10,
            mark: Mark::Dot,
            value: short,
        };
        let join_chart = Rows {
            title: "Fork-join: a parallel sum split in halves",
            axis: "splits per second",
            scale: Scale::Log10,
            mark: Mark::Dot,
            value: short,
        };
        stacked(
            path,
            &[
                (&scope_chart, &[panel(&scoped)]),
                (&join_chart, &[panel(&fork_join)]),
            ],
        )
    }

    fn summary(&self) -> String {
        let c = &self.config;
        let mut out = format!(
            "## 1. Scoped jobs and fork-join\n\n{} workers. Scoped jobs: {} per batch, each \
             incrementing its own element of a borrowed `Vec<AtomicU64>` (`std-scope`: the \
             same elements in {} chunks, a thread each). Fork-join: the sum of 0..{} split in \
             halves down to {} numbers ({} splits), {} times per batch. {} rounds per invocation in \
             rotated order, {} invocations (separate processes); rates are the median over \
             invocations of each invocation's median, with the range of the invocation \
             medians.\n\n| variant | per second | range | ns each |\n|---|---:|---:|---:|\n",
            c.workers,
            c.jobs,
            c.workers,
            c.cutoff << c.leaves_log2,
            c.cutoff,
            c.splits(),
            c.trees,
            c.rounds,
            c.invocations,
        );
        for variant in Variant::ALL {
            let medians = self
                .medians(variant)
                .into_iter()
                .map(|(_, m)| m)
                .collect::<Vec<f64>>();
            let Some(s) = summarize(medians) else {
                continue;
            };
            let unit = match variant {
                Variant::PtmJoin | Variant::RayonJoin => "splits",
                Variant::StdScope => "elements",
                Variant::PtmScope | Variant::RayonScope => "jobs",
            };
            out.push_str(&format!(
                "| {variant} | {} {unit} | {} .. {} | {:.1} |\n",
                short(s.median),
                short(s.min),
                short(s.max),
                1e9 / s.median
            ));
        }
        out.push_str(
            "\n| same-process ratio (per second) | per invocation | median |\n|---|---|---:|\n",
        );
        for (mine, other) in RATIOS {
            if let Some(cells) = ratio_cells(&self.ratios(mine, other)) {
                out.push_str(&format!("| {mine} / {other} | {cells} |\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{run, Config, Row, ScopeOutcome, Variant};
    use crate::experiments::Outcome;
    use indicatif::ProgressBar;

    #[test]
    fn every_variant_runs_and_reads_back() {
        let config = Config {
            jobs: 500,
            cutoff: 8,
            leaves_log2: 5,
            trees: 3,
            workers: 2,
            rounds: 2,
            invocations: 2,
        };
        let outcome = run(&config, &ProgressBar::hidden(), None).expect("running");
        assert_eq!(outcome.rows.len(), 2 * 2 * Variant::ALL.len());
        let join = outcome
            .rows
            .iter()
            .find(|r| r.variant == Variant::RayonJoin)
            .expect("a fork-join row");
        assert_eq!(join.items, 3 * 31, "3 trees of 2^5 leaves, 31 splits each");
        let summary = outcome.summary();
        for line in [
            "| ptm-scope / rayon-scope |",
            "| ptm-scope / std-scope |",
            "| ptm-join / rayon-join |",
        ] {
            assert!(summary.contains(line), "{line} in\n{summary}");
        }
        assert_eq!(
            outcome.ratios(Variant::PtmJoin, Variant::RayonJoin).len(),
            2
        );

        let back = ScopeOutcome::from_table(&outcome.table()).expect("reading back");
        assert_eq!(back.table(), outcome.table());
        assert_eq!(
            back.config,
            Config {
                cutoff: Config::full().cutoff,
                ..config
            },
            "all but the cutoff, which the CSV does not record"
        );
        assert_eq!(
            back.ratios(Variant::PtmScope, Variant::StdScope),
            outcome.ratios(Variant::PtmScope, Variant::StdScope)
        );
    }

    #[test]
    fn ratios_are_taken_within_each_invocation() {
        let row = |invocation, variant, seconds| Row {
            invocation,
            variant,
            round: 0,
            position: 0,
            items: 100,
            trees: 1,
            seconds,
        };
        // Invocation 1 is twice as fast for both: the ratio stays 0.5.
        let outcome = ScopeOutcome {
            config: Config::quick(),
            rows: vec![
                row(0, Variant::PtmJoin, 2.0),
                row(0, Variant::RayonJoin, 1.0),
                row(1, Variant::PtmJoin, 1.0),
                row(1, Variant::RayonJoin, 0.5),
            ],
        };
        assert_eq!(
            outcome.ratios(Variant::PtmJoin, Variant::RayonJoin),
            [0.5, 0.5]
        );
        assert_eq!(outcome.median_rate(Variant::RayonJoin), Some(150.0));
        assert!(outcome
            .summary()
            .contains("| ptm-join / rayon-join | 0.50 0.50 | **0.50** |"));
    }

    #[test]
    fn rows_parse_back_and_bad_ones_do_not() {
        let row = Row {
            invocation: 1,
            variant: Variant::StdScope,
            round: 2,
            position: 3,
            items: 1000,
            trees: 0,
            seconds: 0.000_123_456,
        };
        assert_eq!(Row::parse(&row.fields().join(",")).expect("a row"), row);
        assert!(Row::parse("1,nope,2,3,1000,0,0.1,1.0").is_err());
        assert!(Row::parse("1,std-scope,2").is_err());
    }
}
