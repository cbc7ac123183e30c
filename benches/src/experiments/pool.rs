//! Comparison 1: pool dispatch. One thread submits N no-op jobs, then
//! waits until all have run; jobs per second for every design of
//! [`Design`] (ptm, rayon `spawn` and `scope`, the `threadpool` crate, the
//! Rust Book's pool, a bare crossbeam queue, a thread per job) at 2, 4 and 8
//! workers.
//!
//! The machine flips between a fast and a slow mode from one *process* to
//! the next, so the targets are judged on several invocations: [`run`]
//! starts each invocation as a child process (the `report` binary re-run
//! with a hidden flag, which calls [`run_invocation`] and prints its rows
//! as CSV lines), takes each design's median per invocation, then the
//! median over invocations of the same-process ratios.
//!
//! Latch-waited designs use [`LatchJobs::Captured`] jobs (what users write:
//! each job captures a reference to the latch, so boxing it allocates); see
//! [`crate::designs`]. The like-for-like comparison, where no design's job
//! allocates (`pool_dispatch --latch static`), is [`LikeForLike`]: the same
//! experiment with the sizes of [`Config::like_for_like`] (ptm, ptm-latch,
//! book and queue, 2 workers, 5 invocations), checked against issue 15's
//! targets (ptm >= 1.0x the bare queue, >= 1.2x the Book pool).

use std::path::Path;
use std::process::Command;

use anyhow::{bail, ensure, Context};
use clap::ValueEnum;
use indicatif::ProgressBar;

use super::{
    distinct, expect_header, field, medians_by_invocation, per_round_ratios, ratio_cells, rotated,
    rows_of_invocations, secs, Outcome, Size,
};
use crate::csv::{split_line, Table};
use crate::designs::{Bench, Design, LatchJobs};
use crate::plot::{rows, short, Mark, Panel, Rows, Scale, Series};
use crate::stats::{median, summarize};
use crate::verdict::{Check, Target};

/// Sizes of the pool experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Jobs per batch (every design but `thread-spawn`).
    pub jobs: usize,
    /// Jobs per batch for `thread-spawn` (one OS thread each).
    pub spawn_jobs: usize,
    /// Worker counts.
    pub workers: Vec<usize>,
    /// Timed batches per design, worker count and invocation.
    pub rounds: usize,
    /// Separate processes to run it in.
    pub invocations: usize,
    /// Designs measured.
    pub designs: Vec<Design>,
    /// How latch-counting jobs reach their latch.
    pub latch: LatchJobs,
}

impl Config {
    /// The sizes: 1,000,000 jobs, 2/4/8 workers, 5 rounds, 3
    /// invocations.
    pub fn full() -> Config {
        Config {
            jobs: 1_000_000,
            spawn_jobs: 2_000,
            workers: vec![2, 4, 8],
            rounds: 5,
            invocations: 3,
            designs: Design::ALL.to_vec(),
            latch: LatchJobs::Captured,
        }
    }

    /// 100,000 jobs, 3 rounds, 3 invocations.
    pub fn quick() -> Config {
        Config {
            jobs: 100_000,
            spawn_jobs: 500,
            rounds: 3,
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

    /// The sizes of the like-for-like comparison ([`LikeForLike`]): ptm,
    /// ptm-latch, book and queue with [`LatchJobs::Static`] jobs (no job
    /// allocates), 2 workers, 5 invocations of 7 rounds; the jobs per batch
    /// of `size` (quick: 3 rounds).
    pub fn like_for_like(size: Size) -> Config {
        let sized = Config::of(size);
        Config {
            workers: vec![2],
            rounds: if size == Size::Full { 7 } else { sized.rounds },
            invocations: 5,
            designs: vec![Design::Ptm, Design::PtmLatch, Design::Book, Design::Queue],
            latch: LatchJobs::Static,
            ..sized
        }
    }

    /// Jobs per batch for `design`.
    pub fn jobs_for(&self, design: Design) -> usize {
        if design == Design::ThreadSpawn {
            self.spawn_jobs
        } else {
            self.jobs
        }
    }

    /// Timed batches in one invocation.
    pub fn batches_per_invocation(&self) -> u64 {
        (self.workers.len() * self.rounds * self.designs.len()) as u64
    }
}

/// One timed batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Which invocation (process) it ran in, from 0.
    pub invocation: usize,
    /// The design.
    pub design: Design,
    /// Worker threads.
    pub workers: usize,
    /// The round, from 0.
    pub round: usize,
    /// Its place in that round's order, from 0.
    pub position: usize,
    /// Jobs in the batch.
    pub jobs: usize,
    /// Seconds from the first submission until the wait returned.
    pub seconds: f64,
}

impl Row {
    /// Jobs per second.
    pub fn jobs_per_sec(&self) -> f64 {
        self.jobs as f64 / self.seconds
    }

    /// The CSV columns of [`fields`](Self::fields).
    pub const HEADER: [&'static str; 8] = [
        "invocation",
        "design",
        "workers",
        "round",
        "position",
        "jobs",
        "seconds",
        "jobs_per_sec",
    ];

    /// The row as CSV fields.
    pub fn fields(&self) -> Vec<String> {
        vec![
            self.invocation.to_string(),
            self.design.name().to_owned(),
            self.workers.to_string(),
            self.round.to_string(),
            self.position.to_string(),
            self.jobs.to_string(),
            secs(self.seconds),
            format!("{:.1}", self.jobs_per_sec()),
        ]
    }

    /// Parses a CSV line of [`fields`](Self::fields) back (how the parent
    /// reads a child invocation's rows).
    ///
    /// # Errors
    ///
    /// If the line is not such a row.
    pub fn parse(line: &str) -> anyhow::Result<Row> {
        let fields = split_line(line).context("an unclosed quote")?;
        Row::from_fields(&fields)
    }

    /// The row of these CSV fields (in [`HEADER`](Self::HEADER) order).
    ///
    /// # Errors
    ///
    /// If they are not such a row.
    pub fn from_fields(fields: &[String]) -> anyhow::Result<Row> {
        ensure!(fields.len() == Row::HEADER.len(), "{} fields", fields.len());
        let number = |i: usize| -> anyhow::Result<usize> { field(fields, i, &Row::HEADER) };
        let design = Design::from_str(&fields[1], false)
            .map_err(|e| anyhow::anyhow!("design {:?}: {e}", fields[1]))?;
        Ok(Row {
            invocation: number(0)?,
            design,
            workers: number(2)?,
            round: number(3)?,
            position: number(4)?,
            jobs: number(5)?,
            seconds: field(fields, 6, &Row::HEADER)?,
        })
    }
}

/// Runs one invocation in this process: for each worker count, builds every
/// design's pool, warms each up with a tenth of a batch, then runs
/// `rounds` rounds of one batch per design in rotated order. Calls
/// `on_row` after each batch (the child mode prints it) and advances `bar`.
///
/// # Errors
///
/// If a pool cannot be built or a batch fails, or `on_row` fails.
pub fn run_invocation(
    config: &Config,
    invocation: usize,
    bar: &ProgressBar,
    mut on_row: impl FnMut(&Row) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Row>> {
    ensure!(
        config.jobs > 0 && config.spawn_jobs > 0 && config.rounds > 0,
        "jobs, spawn_jobs and rounds must be at least 1"
    );
    let mut rows = Vec::new();
    for &workers in &config.workers {
        let benches = config
            .designs
            .iter()
            .map(|&design| Bench::with_latch_jobs(design, workers, config.latch))
            .collect::<anyhow::Result<Vec<_>>>()?;
        for bench in &benches {
            let jobs = (config.jobs_for(bench.design()) / 10).max(1);
            bench
                .run(jobs)
                .with_context(|| format!("warming up {}", bench.design()))?;
        }
        for round in 0..config.rounds {
            for position in 0..benches.len() {
                let bench = &benches[rotated(round, position, benches.len())];
                let design = bench.design();
                let jobs = config.jobs_for(design);
                bar.set_message(format!("{workers} workers, {design}"));
                let elapsed = bench
                    .run(jobs)
                    .with_context(|| format!("{design}, {workers} workers, round {round}"))?;
                let row = Row {
                    invocation,
                    design,
                    workers,
                    round,
                    position,
                    jobs,
                    seconds: elapsed.as_secs_f64(),
                };
                on_row(&row)?;
                rows.push(row);
                bar.inc(1);
            }
        }
        // Shut these pools down before the next worker count builds its own.
        drop(benches);
    }
    Ok(rows)
}

/// Runs `config.invocations` invocations, each in a child process made by
/// `child(invocation)` (whose stdout must carry the rows as CSV lines, as
/// `report`'s hidden child mode prints them), or, with `child == None`, one
/// after the other in this process.
///
/// # Errors
///
/// If a child cannot be started, prints something other than rows, or
/// fails; or an in-process invocation fails.
pub fn run(
    config: &Config,
    bar: &ProgressBar,
    child: Option<&dyn Fn(usize) -> Command>,
) -> anyhow::Result<PoolOutcome> {
    bar.set_length(config.batches_per_invocation() * config.invocations as u64);
    let rows = rows_of_invocations(
        config.invocations,
        child,
        Row::parse,
        |invocation| run_invocation(config, invocation, bar, |_| Ok(())),
        bar,
    )?;
    let expected = config.batches_per_invocation() as usize * config.invocations;
    if rows.len() != expected {
        bail!("{} batches measured, {expected} expected", rows.len());
    }
    Ok(PoolOutcome {
        config: config.clone(),
        rows,
    })
}

/// The rows of every invocation.
#[derive(Debug, Clone)]
pub struct PoolOutcome {
    /// The sizes it ran with.
    pub config: Config,
    /// Every timed batch.
    pub rows: Vec<Row>,
}

/// A design's name written out, for plots.
pub fn label(design: Design) -> &'static str {
    match design {
        Design::Ptm => "ptm ThreadPool, wait_idle",
        Design::PtmLatch => "ptm ThreadPool + latch (control)",
        Design::RayonSpawn => "rayon spawn + latch",
        Design::RayonScope => "rayon scope",
        Design::Threadpool => "threadpool crate, join",
        Design::Book => "Rust Book pool (Mutex<Receiver>) + latch",
        Design::Queue => "crossbeam queue alone + latch",
        Design::ThreadSpawn => "a new thread per job",
    }
}

impl PoolOutcome {
    /// Reads the rows of a CSV written from [`table`](Outcome::table) back.
    /// The sizes are taken from the rows; the latch mode, which the CSV
    /// does not record, is `report`'s ([`LatchJobs::Captured`]).
    ///
    /// # Errors
    ///
    /// If `table` is not such a CSV.
    pub fn from_table(table: &Table) -> anyhow::Result<PoolOutcome> {
        expect_header(table, &Row::HEADER)?;
        let rows = table
            .rows()
            .iter()
            .map(|fields| Row::from_fields(fields))
            .collect::<anyhow::Result<Vec<Row>>>()?;
        let mut designs = distinct(rows.iter().map(|r| r.design));
        designs.sort();
        let mut workers = distinct(rows.iter().map(|r| r.workers));
        workers.sort_unstable();
        let jobs = |spawn: bool| {
            rows.iter()
                .find(|r| (r.design == Design::ThreadSpawn) == spawn)
                .map(|r| r.jobs)
        };
        let full = Config::full();
        let config = Config {
            jobs: jobs(false).unwrap_or(full.jobs),
            spawn_jobs: jobs(true).unwrap_or(full.spawn_jobs),
            workers,
            rounds: rows.iter().map(|r| r.round + 1).max().unwrap_or(0),
            invocations: rows.iter().map(|r| r.invocation + 1).max().unwrap_or(0),
            designs,
            latch: LatchJobs::Captured,
        };
        Ok(PoolOutcome { config, rows })
    }

    /// Each invocation's median jobs/s for `design` at `workers`, as
    /// `(invocation, median)` pairs in invocation order.
    fn medians(&self, design: Design, workers: usize) -> Vec<(usize, f64)> {
        medians_by_invocation(
            &self.rows,
            |r| r.invocation,
            |r| (r.design == design && r.workers == workers).then(|| r.jobs_per_sec()),
        )
    }

    /// Each invocation's median jobs/s for `design` at `workers` (one value
    /// per invocation that measured it, in invocation order).
    pub fn invocation_medians(&self, design: Design, workers: usize) -> Vec<f64> {
        self.medians(design, workers)
            .into_iter()
            .map(|(_, m)| m)
            .collect()
    }

    /// The median over invocations of each invocation's median jobs/s.
    pub fn median_rate(&self, design: Design, workers: usize) -> Option<f64> {
        median(self.invocation_medians(design, workers))
    }

    /// The same-process ratios `mine / other` of the invocation medians,
    /// one per invocation that measured both.
    pub fn ratios(&self, mine: Design, other: Design, workers: usize) -> Vec<f64> {
        per_round_ratios(&self.medians(mine, workers), &self.medians(other, workers))
    }

    /// A Markdown table of the same-process ratios `mine / other` at each
    /// worker count, for the `pairs` that were measured.
    fn ratio_table(&self, pairs: &[(Design, Design)]) -> String {
        let mut out = String::from(
            "| same-process ratio (jobs/s) | workers | per invocation | median |\n|---|---:|---|---:|\n",
        );
        for &workers in &self.config.workers {
            for &(mine, other) in pairs {
                if let Some(cells) = ratio_cells(&self.ratios(mine, other, workers)) {
                    out.push_str(&format!("| {mine} / {other} | {workers} | {cells} |\n"));
                }
            }
        }
        out
    }
}

impl Outcome for PoolOutcome {
    fn name(&self) -> &'static str {
        "pool_dispatch"
    }

    fn table(&self) -> Table {
        let mut table = Table::new(Row::HEADER);
        for row in &self.rows {
            table.push(row.fields());
        }
        table
    }

    fn plot(&self, path: &Path) -> anyhow::Result<()> {
        let designs = &self.config.designs;
        let panel = Panel {
            title: String::new(),
            rows: designs.iter().map(|&d| label(d).to_owned()).collect(),
            series: self
                .config
                .workers
                .iter()
                .map(|&w| Series {
                    name: format!("{w} workers"),
                    values: designs.iter().map(|&d| self.median_rate(d, w)).collect(),
                })
                .collect(),
        };
        let chart = Rows {
            title: "What users write: no-op jobs, each latch job allocates",
            axis: "jobs per second",
            scale: Scale::Log10,
            mark: Mark::Dot,
            value: short,
        };
        rows(path, &chart, &[panel])
    }

    fn summary(&self) -> String {
        let c = &self.config;
        let mut out = format!(
            "## 1. Pool dispatch\n\n{} no-op jobs per batch ({} for `thread-spawn`), submitted from \
             one thread then waited for; {} rounds per invocation in rotated order, {} invocations \
             (separate processes). Jobs/s: the median over invocations of each invocation's \
             median, and the range of the invocation medians. Latch-waited designs run \
             `{}` latch jobs.\n\n",
            c.jobs,
            c.spawn_jobs,
            c.rounds,
            c.invocations,
            c.latch
        );
        out.push_str("| design | workers | jobs/s | range | ns/job |\n|---|---:|---:|---:|---:|\n");
        for &workers in &c.workers {
            for &design in &c.designs {
                let Some(s) = summarize(self.invocation_medians(design, workers)) else {
                    continue;
                };
                out.push_str(&format!(
                    "| {design} | {workers} | {} | {} .. {} | {:.1} |\n",
                    short(s.median),
                    short(s.min),
                    short(s.max),
                    1e9 / s.median
                ));
            }
        }
        let others = [
            Design::RayonSpawn,
            Design::RayonScope,
            Design::Threadpool,
            Design::Book,
            Design::Queue,
            Design::ThreadSpawn,
        ];
        out.push('\n');
        out.push_str(&self.ratio_table(&others.map(|other| (Design::Ptm, other))));
        out
    }

    fn checks(&self) -> Vec<Check> {
        vec![
            Check::new(
                Target::at_least("pool: ptm / rayon-spawn jobs/s, 2 workers", 1.5),
                self.ratios(Design::Ptm, Design::RayonSpawn, 2),
            ),
            Check::new(
                Target::at_least("pool: ptm / book jobs/s, 2 workers", 1.2),
                self.ratios(Design::Ptm, Design::Book, 2),
            ),
        ]
    }
}

/// One design's figures in the like-for-like comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LikeRow {
    /// The design.
    pub design: Design,
    /// Worker threads.
    pub workers: usize,
    /// How many processes the figures are taken over.
    pub processes: usize,
    /// The median over processes of each process's median jobs/s.
    pub median: f64,
    /// The lowest process median.
    pub min: f64,
    /// The highest process median.
    pub max: f64,
}

/// The like-for-like comparison: no design's job allocates
/// (`pool_dispatch --latch static`), measured by `report --only
/// like-for-like` ([`run_like_for_like`]: the pool experiment with the sizes
/// of [`Config::like_for_like`]). Its CSV holds every timed batch, as
/// `pool_dispatch.csv` does.
///
/// Read back from a CSV of [`LikeForLike::HEADER`] instead (per-design
/// figures copied from a run by hand, as the book's first one was), it has
/// the rows but no measured batches, and so no ratios to check.
#[derive(Debug, Clone)]
pub struct LikeForLike {
    /// One row per design and worker count.
    pub rows: Vec<LikeRow>,
    /// Every timed batch, when it was measured (or read from measured rows).
    pub measured: Option<PoolOutcome>,
}

/// Runs the like-for-like comparison: [`run`] with `config` (normally
/// [`Config::like_for_like`]), each invocation in a child made by `child`.
///
/// # Errors
///
/// As for [`run`], and if `config`'s latch jobs are not
/// [`LatchJobs::Static`].
pub fn run_like_for_like(
    config: &Config,
    bar: &ProgressBar,
    child: Option<&dyn Fn(usize) -> Command>,
) -> anyhow::Result<LikeForLike> {
    ensure!(
        config.latch == LatchJobs::Static,
        "like for like needs static latch jobs"
    );
    Ok(LikeForLike::of(run(config, bar, child)?))
}

impl LikeForLike {
    /// The columns of a CSV of per-design figures (not measured rows).
    pub const HEADER: [&'static str; 6] = [
        "design",
        "workers",
        "processes",
        "median_jobs_per_sec",
        "min_jobs_per_sec",
        "max_jobs_per_sec",
    ];

    /// The comparison of these measured batches: a row per design and
    /// worker count, its figures taken over the invocation medians.
    pub fn of(measured: PoolOutcome) -> LikeForLike {
        let c = &measured.config;
        let rows = c
            .workers
            .iter()
            .flat_map(|&workers| c.designs.iter().map(move |&design| (design, workers)))
            .filter_map(|(design, workers)| {
                let medians = measured.invocation_medians(design, workers);
                let processes = medians.len();
                let s = summarize(medians)?;
                Some(LikeRow {
                    design,
                    workers,
                    processes,
                    median: s.median,
                    min: s.min,
                    max: s.max,
                })
            })
            .collect();
        LikeForLike {
            rows,
            measured: Some(measured),
        }
    }

    /// Reads a CSV back: measured batches (the columns of [`Row::HEADER`])
    /// or per-design figures ([`HEADER`](Self::HEADER)).
    ///
    /// # Errors
    ///
    /// If `table` is neither.
    pub fn from_table(table: &Table) -> anyhow::Result<LikeForLike> {
        if table.header() == Row::HEADER {
            let mut measured = PoolOutcome::from_table(table)?;
            measured.config.latch = LatchJobs::Static;
            return Ok(LikeForLike::of(measured));
        }
        let header = &LikeForLike::HEADER;
        expect_header(table, header)?;
        let rows = table
            .rows()
            .iter()
            .map(|f| {
                Ok(LikeRow {
                    design: Design::from_str(&f[0], false)
                        .map_err(|e| anyhow::anyhow!("design {:?}: {e}", f[0]))?,
                    workers: field(f, 1, header)?,
                    processes: field(f, 2, header)?,
                    median: field(f, 3, header)?,
                    min: field(f, 4, header)?,
                    max: field(f, 5, header)?,
                })
            })
            .collect::<anyhow::Result<Vec<LikeRow>>>()?;
        Ok(LikeForLike {
            rows,
            measured: None,
        })
    }

    /// The same-process ratios `mine / other` at 2 workers (none unless
    /// measured).
    pub fn ratios(&self, mine: Design, other: Design) -> Vec<f64> {
        self.measured
            .as_ref()
            .map_or_else(Vec::new, |m| m.ratios(mine, other, 2))
    }
}

impl Outcome for LikeForLike {
    fn name(&self) -> &'static str {
        "pool_like_for_like"
    }

    fn table(&self) -> Table {
        if let Some(measured) = &self.measured {
            return measured.table();
        }
        let mut table = Table::new(LikeForLike::HEADER);
        for r in &self.rows {
            table.push([
                r.design.name().to_owned(),
                r.workers.to_string(),
                r.processes.to_string(),
                format!("{:.0}", r.median),
                format!("{:.0}", r.min),
                format!("{:.0}", r.max),
            ]);
        }
        table
    }

    fn plot(&self, path: &Path) -> anyhow::Result<()> {
        let panel = Panel {
            title: String::new(),
            rows: self
                .rows
                .iter()
                .map(|r| label(r.design).to_owned())
                .collect(),
            series: vec![Series {
                name: String::new(),
                values: self.rows.iter().map(|r| Some(r.median)).collect(),
            }],
        };
        let chart = Rows {
            title: "Like for like: no-op jobs, no job allocates",
            axis: "jobs per second",
            scale: Scale::Linear,
            mark: Mark::Bar,
            value: short,
        };
        rows(path, &chart, &[panel])
    }

    fn summary(&self) -> String {
        let mut out = String::from("## 1. Pool dispatch, like for like\n\n");
        if let Some(m) = &self.measured {
            out.push_str(&format!(
                "{} no-op jobs per batch; no design's job allocates (`{}` latch jobs). {} rounds \
                 per invocation in rotated order, {} invocations (separate processes). ",
                m.config.jobs, m.config.latch, m.config.rounds, m.config.invocations
            ));
        } else {
            out.push_str(
                "No design's job allocates (figures copied from a run, not measured rows). ",
            );
        }
        out.push_str(
            "Jobs/s: the median over processes of each process's median, and the range of the \
             process medians.\n\n| design | workers | processes | jobs/s | range |\n\
             |---|---:|---:|---:|---:|\n",
        );
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} .. {} |\n",
                r.design,
                r.workers,
                r.processes,
                short(r.median),
                short(r.min),
                short(r.max)
            ));
        }
        if let Some(m) = &self.measured {
            out.push('\n');
            out.push_str(&m.ratio_table(&[
                (Design::Ptm, Design::Queue),
                (Design::Ptm, Design::Book),
                (Design::PtmLatch, Design::Queue),
                (Design::PtmLatch, Design::Book),
                (Design::Ptm, Design::PtmLatch),
            ]));
        }
        out
    }

    fn checks(&self) -> Vec<Check> {
        vec![
            Check::new(
                Target::at_least("pool like for like: ptm / queue jobs/s, 2 workers", 1.0),
                self.ratios(Design::Ptm, Design::Queue),
            ),
            Check::new(
                Target::at_least("pool like for like: ptm / book jobs/s, 2 workers", 1.2),
                self.ratios(Design::Ptm, Design::Book),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::{run, run_like_for_like, Config, LikeForLike, PoolOutcome, Row};
    use crate::csv::Table;
    use crate::designs::{Design, LatchJobs};
    use crate::experiments::{Outcome, Size};
    use crate::verdict::Verdict;
    use indicatif::ProgressBar;

    /// A batch of `jobs` jobs that took 1 s.
    fn row(invocation: usize, design: Design, jobs: usize) -> Row {
        Row {
            invocation,
            design,
            workers: 2,
            round: 0,
            position: 0,
            jobs,
            seconds: 1.0,
        }
    }

    #[test]
    fn rows_parse_back() {
        let r = Row {
            seconds: 0.123_456_789,
            ..row(2, Design::RayonScope, 1000)
        };
        let line = r.fields().join(",");
        let back = Row::parse(&line).expect("a row");
        assert_eq!(back.design, Design::RayonScope);
        assert_eq!((back.invocation, back.workers, back.jobs), (2, 2, 1000));
        assert!((back.seconds - r.seconds).abs() < 1e-9);
        assert!(Row::parse("not,a,row").is_err());
        assert!(Row::parse("0,nope,2,0,0,1,1.0,1.0").is_err());
    }

    #[test]
    fn ratios_are_taken_within_each_invocation() {
        // Invocation 0 is a slow process, 1 a fast one: ptm is 2x rayon in both.
        let rows = vec![
            row(0, Design::Ptm, 10),
            row(0, Design::Ptm, 14),
            row(0, Design::RayonSpawn, 6),
            row(1, Design::Ptm, 30),
            row(1, Design::RayonSpawn, 15),
        ];
        let outcome = PoolOutcome {
            config: Config {
                invocations: 2,
                designs: vec![Design::Ptm, Design::RayonSpawn],
                workers: vec![2],
                ..Config::quick()
            },
            rows,
        };
        assert_eq!(outcome.invocation_medians(Design::Ptm, 2), [12.0, 30.0]);
        assert_eq!(
            outcome.ratios(Design::Ptm, Design::RayonSpawn, 2),
            [2.0, 2.0]
        );
        assert_eq!(outcome.median_rate(Design::RayonSpawn, 2), Some(10.5));
        let checks = outcome.checks();
        assert_eq!(checks[0].median(), Some(2.0));
        assert_eq!(checks[1].median(), None, "book was not measured");
    }

    #[test]
    fn a_tiny_run_in_process() {
        let config = Config {
            jobs: 200,
            spawn_jobs: 4,
            workers: vec![1, 2],
            rounds: 2,
            invocations: 1,
            ..Config::quick()
        };
        let outcome = run(&config, &ProgressBar::hidden(), None).expect("running");
        assert_eq!(outcome.rows.len(), 2 * 2 * Design::ALL.len());
        assert_eq!(outcome.table().rows().len(), outcome.rows.len());
        assert!(outcome.summary().contains("| ptm / rayon-spawn | 2 |"));
        let back = PoolOutcome::from_table(&outcome.table()).expect("reading back");
        assert_eq!(back.config, config);
        assert_eq!(back.rows.len(), outcome.rows.len());
    }

    #[test]
    fn the_like_for_like_table_reads_back() {
        let mut table = Table::new(LikeForLike::HEADER);
        table.push(["ptm", "2", "5", "27200000", "19800000", "29000000"]);
        table.push(["book", "2", "5", "22400000", "17800000", "32300000"]);
        let outcome = LikeForLike::from_table(&table).expect("reading");
        assert_eq!(outcome.rows[1].design, Design::Book);
        assert_eq!(outcome.table(), table);
        assert!(outcome
            .summary()
            .contains("| book | 2 | 5 | 22.4M | 17.8M .. 32.3M |"));
        let wrong = Table::new(["design"]);
        assert!(LikeForLike::from_table(&wrong).is_err());
        let checks = outcome.checks();
        assert_eq!(checks.len(), 2);
        assert!(checks.iter().all(|c| c.verdict() == Verdict::NotMeasured));
    }

    #[test]
    fn like_for_like_is_measured_and_its_ratios_read_back() {
        let config = Config {
            jobs: 300,
            rounds: 2,
            invocations: 2,
            ..Config::like_for_like(Size::Quick)
        };
        assert_eq!(config.latch, LatchJobs::Static);
        let outcome = run_like_for_like(&config, &ProgressBar::hidden(), None).expect("running");
        let table = outcome.table();
        assert_eq!(table.header(), Row::HEADER, "every batch, not medians");
        assert_eq!(table.rows().len(), 2 * 2 * 4);
        let designs: Vec<Design> = outcome.rows.iter().map(|r| r.design).collect();
        assert_eq!(designs, config.designs);
        assert!(outcome.rows.iter().all(|r| r.processes == 2));
        let checks = outcome.checks();
        assert_eq!(
            checks[0].ratios.len(),
            2,
            "one ptm / queue ratio per process"
        );
        assert_eq!(
            checks[1].ratios.len(),
            2,
            "one ptm / book ratio per process"
        );
        assert!(outcome.summary().contains("| ptm / queue | 2 |"));

        let back = LikeForLike::from_table(&table).expect("reading back");
        assert_eq!(back.table(), table);
        assert_eq!(back.rows, outcome.rows);
        assert_eq!(back.checks(), checks);
        let measured = back.measured.expect("measured rows");
        // thread-spawn's batch size is not recorded when it did not run.
        let read = Config {
            spawn_jobs: config.spawn_jobs,
            ..measured.config
        };
        assert_eq!(read, config);

        let captured = Config {
            latch: LatchJobs::Captured,
            ..config
        };
        assert!(run_like_for_like(&captured, &ProgressBar::hidden(), None).is_err());
    }

    #[test]
    fn like_for_like_ratios_are_the_invocation_medians_ratios() {
        let rows = vec![
            row(0, Design::Ptm, 12),
            row(0, Design::Queue, 10),
            row(0, Design::Book, 10),
            row(1, Design::Ptm, 30),
            row(1, Design::Queue, 40),
            row(1, Design::Book, 20),
            row(2, Design::Ptm, 11),
            row(2, Design::Queue, 10),
            row(2, Design::Book, 10),
        ];
        let outcome = LikeForLike::of(PoolOutcome {
            config: Config {
                invocations: 3,
                designs: vec![Design::Ptm, Design::Book, Design::Queue],
                ..Config::like_for_like(Size::Full)
            },
            rows,
        });
        let checks = outcome.checks();
        assert_eq!(checks[0].ratios, [1.2, 0.75, 1.1]);
        assert_eq!(checks[0].verdict(), Verdict::Met, "median 1.1 >= 1.0");
        assert_eq!(checks[1].ratios, [1.2, 1.5, 1.1]);
        assert_eq!(checks[1].verdict(), Verdict::Met, "median 1.2 >= 1.2");
        assert_eq!(outcome.rows[0].median, 12.0);
        assert_eq!((outcome.rows[2].min, outcome.rows[2].max), (10.0, 40.0));
    }
}
