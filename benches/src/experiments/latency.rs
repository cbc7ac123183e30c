//! Comparison 2: pool latency. How long a single job waits between
//! `execute` (or `spawn`) on an idle pool and the moment it starts running,
//! as an hdrhistogram distribution (p50, p99, p99.9, max).
//!
//! Three placements ([`Pinning`]): unpinned, everything on one CPU
//! (`pinned`), and the submitter on one CPU with the pool's threads on the
//! other (`split`: every start is a cross-CPU wake-up; not for
//! `thread-spawn`, whose new thread starts on its creator's CPU).
//!
//! Each sample: pause ([`Config::gap`], so that the workers go back to
//! sleep and the idle CPU halts), read the clock, submit a job that reads
//! the clock first thing and sends that instant back, wait for it. The
//! sample is the difference of the two instants; the wait for the reply is
//! not timed. The job captures a channel sender, so every design boxes the
//! same closure.
//!
//! Designs: ptm's [`execute`](ptm::ThreadPool::execute), rayon's `spawn`,
//! the `threadpool` crate, the Rust Book's pool, the bare crossbeam
//! [`QueuePool`], and a new `std::thread` per job (its start-up latency).
//! Samples are taken in chunks, every (design, pinning) pair once per
//! round in rotated order, so the comparison stays within one process and
//! one stretch of time.

use std::fmt;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use crossbeam_channel::{Receiver, Sender};
use hdrhistogram::Histogram;
use indicatif::ProgressBar;

use super::{expect_header, field, named, rotated, Outcome, Size};
use crate::book_pool;
use crate::csv::Table;
use crate::pin::Pinning;
use crate::plot::{rows, Mark, Panel, Rows, Scale, Series};
use crate::queue_pool::QueuePool;
use crate::stats::{latency_histogram, Percentiles};

/// The pools whose start latency is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LatencyDesign {
    /// `ptm::ThreadPool::execute`.
    Ptm,
    /// `rayon::ThreadPool::spawn`.
    RayonSpawn,
    /// `threadpool::ThreadPool::execute`.
    Threadpool,
    /// The Rust Book's pool.
    Book,
    /// [`QueuePool`]: a crossbeam queue and nothing else.
    Queue,
    /// `std::thread::spawn` per job.
    ThreadSpawn,
}

impl LatencyDesign {
    /// Every design, in table order.
    pub const ALL: [LatencyDesign; 6] = [
        LatencyDesign::Ptm,
        LatencyDesign::RayonSpawn,
        LatencyDesign::Threadpool,
        LatencyDesign::Book,
        LatencyDesign::Queue,
        LatencyDesign::ThreadSpawn,
    ];

    /// Its name in tables and CSV.
    pub fn name(self) -> &'static str {
        match self {
            LatencyDesign::Ptm => "ptm",
            LatencyDesign::RayonSpawn => "rayon-spawn",
            LatencyDesign::Threadpool => "threadpool",
            LatencyDesign::Book => "book",
            LatencyDesign::Queue => "queue",
            LatencyDesign::ThreadSpawn => "thread-spawn",
        }
    }

    /// Its name written out, for plots.
    pub fn label(self) -> &'static str {
        match self {
            LatencyDesign::Ptm => "ptm ThreadPool",
            LatencyDesign::RayonSpawn => "rayon spawn",
            LatencyDesign::Threadpool => "threadpool crate",
            LatencyDesign::Book => "Rust Book pool (Mutex<Receiver>)",
            LatencyDesign::Queue => "crossbeam queue alone",
            LatencyDesign::ThreadSpawn => "a new thread per job",
        }
    }
}

impl fmt::Display for LatencyDesign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Sizes of the latency experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Samples per (design, pinning).
    pub samples: usize,
    /// Rounds the samples are split into (interleaving).
    pub rounds: usize,
    /// Workers per pool.
    pub workers: usize,
    /// Pause before each sample, so that the pool is idle.
    pub gap: Duration,
    /// Designs measured.
    pub designs: Vec<LatencyDesign>,
}

impl Config {
    /// 10,000 samples per design and pinning, 2 workers, 200 us apart.
    pub fn full() -> Config {
        Config {
            samples: 10_000,
            rounds: 10,
            workers: 2,
            gap: Duration::from_micros(200),
            designs: LatencyDesign::ALL.to_vec(),
        }
    }

    /// 1,000 samples per design and pinning.
    pub fn quick() -> Config {
        Config {
            samples: 1_000,
            rounds: 4,
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
}

/// A built pool of one design.
enum Pool {
    Ptm(ptm::ThreadPool),
    RayonSpawn(rayon::ThreadPool),
    Threadpool(threadpool::ThreadPool),
    Book(book_pool::ThreadPool),
    Queue(QueuePool),
    ThreadSpawn,
}

impl Pool {
    fn new(design: LatencyDesign, workers: usize) -> anyhow::Result<Pool> {
        Ok(match design {
            LatencyDesign::Ptm => Pool::Ptm(ptm::ThreadPool::new(workers)?),
            LatencyDesign::RayonSpawn => Pool::RayonSpawn(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(workers)
                    .build()
                    .context("building a rayon pool")?,
            ),
            // Both panic if a thread cannot be started: they offer no other way.
            LatencyDesign::Threadpool => Pool::Threadpool(threadpool::ThreadPool::new(workers)),
            LatencyDesign::Book => Pool::Book(book_pool::ThreadPool::new(workers)),
            LatencyDesign::Queue => Pool::Queue(QueuePool::new(workers)?),
            LatencyDesign::ThreadSpawn => Pool::ThreadSpawn,
        })
    }

    /// Submits `job`; for `ThreadSpawn`, returns the thread to join.
    fn submit(
        &self,
        job: impl FnOnce() + Send + 'static,
    ) -> anyhow::Result<Option<thread::JoinHandle<()>>> {
        match self {
            Pool::Ptm(pool) => pool.execute(job)?,
            Pool::RayonSpawn(pool) => pool.spawn(job),
            Pool::Threadpool(pool) => pool.execute(job),
            Pool::Book(pool) => pool.execute(job),
            Pool::Queue(pool) => pool.execute(job)?,
            Pool::ThreadSpawn => {
                return thread::Builder::new()
                    .spawn(job)
                    .map(Some)
                    .context("spawning a thread")
            }
        }
        Ok(None)
    }
}

/// One (design, pinning) under measurement.
struct Subject {
    design: LatencyDesign,
    pinning: Pinning,
    pool: Pool,
    histogram: Histogram<u64>,
}

/// Takes `count` samples on `subject`, `gap` apart.
fn sample(
    subject: &mut Subject,
    count: usize,
    gap: Duration,
    reply: (&Sender<Instant>, &Receiver<Instant>),
) -> anyhow::Result<()> {
    let (tx, rx) = reply;
    for _ in 0..count {
        thread::sleep(gap);
        let tx = tx.clone();
        let submitted = Instant::now();
        let handle = subject.pool.submit(move || {
            let started = Instant::now();
            // The receiver outlives every job: it is the caller's.
            let _ = tx.send(started);
        })?;
        let started = rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|e| anyhow!("{} never started a job: {e}", subject.design))?;
        if let Some(handle) = handle {
            handle
                .join()
                .map_err(|_| anyhow!("a job thread panicked"))?;
        }
        let nanos = started.saturating_duration_since(submitted).as_nanos();
        subject
            .histogram
            .saturating_record(u64::try_from(nanos).unwrap_or(u64::MAX));
    }
    Ok(())
}

/// Measures every design, unpinned and pinned, interleaved.
///
/// # Errors
///
/// If a pool cannot be built, pinning fails, or a job never starts.
pub fn run(config: &Config, bar: &ProgressBar) -> anyhow::Result<LatencyOutcome> {
    let rounds = config.rounds.max(1);
    let per_round = config.samples.div_ceil(rounds).max(1);
    let mut subjects = Vec::new();
    for pinning in Pinning::ALL {
        // Pools built while pinned keep their threads on that CPU.
        let _guard = pinning.apply_partner()?;
        for &design in &config.designs {
            if (design, pinning) == (LatencyDesign::ThreadSpawn, Pinning::Split) {
                // A new thread starts on its creator's CPU: no split.
                continue;
            }
            subjects.push(Subject {
                design,
                pinning,
                pool: Pool::new(design, config.workers)
                    .with_context(|| format!("building {design} ({pinning})"))?,
                histogram: latency_histogram(),
            });
        }
    }
    bar.set_length((subjects.len() * rounds) as u64);
    let (tx, rx) = crossbeam_channel::bounded(1);
    // One untimed warm-up sample set per subject.
    for subject in &mut subjects {
        let _guard = subject.pinning.apply()?;
        sample(subject, 20, config.gap, (&tx, &rx))?;
        subject.histogram.reset();
    }
    let count = subjects.len();
    for round in 0..rounds {
        for position in 0..count {
            let subject = &mut subjects[rotated(round, position, count)];
            bar.set_message(format!("{} {}", subject.design, subject.pinning));
            let _guard = subject.pinning.apply()?;
            sample(subject, per_round, config.gap, (&tx, &rx))?;
            bar.inc(1);
        }
    }
    // Pools are shut down here, each on this (unpinned) thread.
    let rows = subjects
        .into_iter()
        .map(|s| LatencyRow {
            design: s.design,
            pinning: s.pinning,
            percentiles: Percentiles::of(&s.histogram),
            mean: s.histogram.mean(),
        })
        .collect();
    Ok(LatencyOutcome {
        config: config.clone(),
        rows,
    })
}

/// One design's distribution under one pinning.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyRow {
    /// The design.
    pub design: LatencyDesign,
    /// Unpinned or pinned.
    pub pinning: Pinning,
    /// Its percentiles, in nanoseconds.
    pub percentiles: Percentiles,
    /// The mean, in nanoseconds.
    pub mean: f64,
}

/// The columns of a table of percentile distributions (this experiment's
/// and the round-trip experiment's).
pub(crate) const PERCENTILE_HEADER: [&str; 8] = [
    "variant", "pinning", "count", "p50_ns", "p99_ns", "p999_ns", "max_ns", "mean_ns",
];

/// Writes `rows` of percentile distributions as a table and the summary's
/// Markdown; shared with the round-trip experiment.
pub(crate) fn percentile_table<'a>(
    rows: impl Iterator<Item = (&'a str, Pinning, &'a Percentiles, f64)>,
) -> (Table, String) {
    let mut table = Table::new(PERCENTILE_HEADER);
    let mut markdown = String::from(
        "| variant | pinning | samples | p50 µs | p99 µs | p99.9 µs | max µs |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    for (name, pinning, p, mean) in rows {
        table.push([
            name.to_owned(),
            pinning.name().to_owned(),
            p.count.to_string(),
            p.p50.to_string(),
            p.p99.to_string(),
            p.p999.to_string(),
            p.max.to_string(),
            format!("{mean:.0}"),
        ]);
        let us = |ns: u64| ns as f64 / 1e3;
        markdown.push_str(&format!(
            "| {name} | {pinning} | {} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
            p.count,
            us(p.p50),
            us(p.p99),
            us(p.p999),
            us(p.max)
        ));
    }
    (table, markdown)
}

/// Reads a table of [`percentile_table`] back: `(variant, pinning,
/// percentiles, mean)` per row.
pub(crate) fn percentile_rows(
    table: &Table,
) -> anyhow::Result<Vec<(String, Pinning, Percentiles, f64)>> {
    let header = &PERCENTILE_HEADER;
    expect_header(table, header)?;
    table
        .rows()
        .iter()
        .map(|f| {
            let pinning = Pinning::from_name(&f[1]).ok_or_else(|| anyhow!("pinning {:?}", f[1]))?;
            let percentiles = Percentiles {
                count: field(f, 2, header)?,
                p50: field(f, 3, header)?,
                p99: field(f, 4, header)?,
                p999: field(f, 5, header)?,
                max: field(f, 6, header)?,
            };
            Ok((f[0].clone(), pinning, percentiles, field(f, 7, header)?))
        })
        .collect()
}

/// Microseconds as a plot prints them: "9.9", "43.7", "239".
pub(crate) fn micros(us: f64) -> String {
    if us < 100.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.0}")
    }
}

/// One panel per placement (unpinned, pinned, split), stacked, each with
/// a row per variant and its median and 99th percentile as dots, in
/// microseconds on a log axis. A variant is its label and its percentiles
/// under each placement of [`Pinning::ALL`]; "n/a" where it has none.
pub(crate) fn percentile_plot(
    path: &Path,
    title: &str,
    variants: &[(&str, [Option<Percentiles>; 3])],
) -> anyhow::Result<()> {
    let panels: Vec<Panel> = Pinning::ALL
        .into_iter()
        .enumerate()
        .map(|(i, pinning)| {
            let series = |name: &str, pick: fn(&Percentiles) -> u64| Series {
                name: name.to_owned(),
                values: variants
                    .iter()
                    .map(|(_, p)| p[i].map(|p| pick(&p) as f64 / 1e3))
                    .collect(),
            };
            Panel {
                title: pinning.describe().to_owned(),
                rows: variants
                    .iter()
                    .map(|(label, _)| (*label).to_owned())
                    .collect(),
                series: vec![
                    series("median (p50)", |p| p.p50),
                    series("99th percentile (p99)", |p| p.p99),
                ],
            }
        })
        .collect();
    let chart = Rows {
        title,
        axis: "microseconds",
        scale: Scale::Log10,
        mark: Mark::Dot,
        value: micros,
    };
    rows(path, &chart, &panels)
}

/// Every design's distributions.
#[derive(Debug, Clone)]
pub struct LatencyOutcome {
    /// The sizes it ran with.
    pub config: Config,
    /// One row per (design, pinning).
    pub rows: Vec<LatencyRow>,
}

impl LatencyOutcome {
    /// The percentiles of `design` under `pinning`.
    pub fn get(&self, design: LatencyDesign, pinning: Pinning) -> Option<Percentiles> {
        self.rows
            .iter()
            .find(|r| r.design == design && r.pinning == pinning)
            .map(|r| r.percentiles)
    }

    /// Reads the rows of a CSV written from [`table`](Outcome::table)
    /// back. The designs and the sample count come from the rows; the other
    /// sizes, which the CSV does not record, are [`Config::full`]'s.
    ///
    /// # Errors
    ///
    /// If `table` is not such a CSV.
    pub fn from_table(table: &Table) -> anyhow::Result<LatencyOutcome> {
        let rows = percentile_rows(table)?
            .into_iter()
            .map(|(name, pinning, percentiles, mean)| {
                Ok(LatencyRow {
                    design: named(&LatencyDesign::ALL, LatencyDesign::name, &name)?,
                    pinning,
                    percentiles,
                    mean,
                })
            })
            .collect::<anyhow::Result<Vec<LatencyRow>>>()?;
        let config = Config {
            samples: rows.first().map_or(0, |r| r.percentiles.count as usize),
            designs: LatencyDesign::ALL
                .into_iter()
                .filter(|&d| rows.iter().any(|r| r.design == d))
                .collect(),
            ..Config::full()
        };
        Ok(LatencyOutcome { config, rows })
    }

    fn sorted_rows(&self) -> Vec<&LatencyRow> {
        let mut rows: Vec<&LatencyRow> = self.rows.iter().collect();
        rows.sort_by_key(|r| r.pinning);
        rows
    }
}

impl Outcome for LatencyOutcome {
    fn name(&self) -> &'static str {
        "pool_latency"
    }

    fn table(&self) -> Table {
        percentile_table(
            self.sorted_rows()
                .into_iter()
                .map(|r| (r.design.name(), r.pinning, &r.percentiles, r.mean)),
        )
        .0
    }

    fn plot(&self, path: &Path) -> anyhow::Result<()> {
        let variants: Vec<(&str, [Option<Percentiles>; 3])> = self
            .config
            .designs
            .iter()
            .map(|&d| (d.label(), Pinning::ALL.map(|p| self.get(d, p))))
            .collect();
        let title = format!(
            "Pool latency: from submit to the job's start, idle pool of {}",
            self.config.workers
        );
        percentile_plot(path, &title, &variants)
    }

    fn summary(&self) -> String {
        let (_, table) = percentile_table(
            self.sorted_rows()
                .into_iter()
                .map(|r| (r.design.name(), r.pinning, &r.percentiles, r.mean)),
        );
        format!(
            "## 2. Pool latency\n\nSubmit-to-start latency of one job on an idle pool of {} \
             workers: {} samples per design and pinning, each after a {:?} pause, in {} \
             interleaved rounds (hdrhistogram, 3 significant digits). Pinned: the submitting \
             thread and the pool's threads on one CPU; split: the submitter on one CPU, the \
             pool's threads on the other (not for `thread-spawn`).\n\n{table}",
            self.config.workers, self.config.samples, self.config.gap, self.config.rounds
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{run, Config, LatencyDesign, LatencyOutcome};
    use crate::experiments::Outcome;
    use crate::pin::Pinning;
    use indicatif::ProgressBar;
    use std::time::Duration;

    #[test]
    fn every_design_starts_jobs() {
        let config = Config {
            samples: 10,
            rounds: 2,
            workers: 2,
            gap: Duration::from_micros(10),
            designs: LatencyDesign::ALL.to_vec(),
        };
        let outcome = std::thread::spawn(move || run(&config, &ProgressBar::hidden()))
            .join()
            .expect("the measuring thread")
            .expect("measuring");
        assert_eq!(outcome.rows.len(), 3 * LatencyDesign::ALL.len() - 1);
        for row in &outcome.rows {
            assert_eq!(row.percentiles.count, 10, "{} {}", row.design, row.pinning);
            assert!(row.percentiles.p50 <= row.percentiles.max);
        }
        assert!(outcome.get(LatencyDesign::Ptm, Pinning::Pinned).is_some());
        assert_eq!(outcome.table().rows().len(), outcome.rows.len());
        assert!(outcome.summary().contains("| ptm | pinned |"));
        let back = LatencyOutcome::from_table(&outcome.table()).expect("reading back");
        assert_eq!(back.table(), outcome.table());
        assert_eq!(back.config.designs, LatencyDesign::ALL);
        assert_eq!(back.config.samples, 10);
    }
}
