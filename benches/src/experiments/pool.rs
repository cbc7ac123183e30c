//! Pool dispatch (section 1): one thread submits N no-op jobs, then waits
//! until all have run; jobs per second of the designs of [`crate::designs`]
//! (ptm, rayon `spawn` and `scope`, the `threadpool` crate, the Rust Book's
//! pool, a bare crossbeam queue, a thread per job), in two experiments:
//!
//! - `pool` ([`Pool`]): every design at 2, 4 and 8 workers, `captured`
//!   latch jobs (what users write: each boxed job allocates); 5 rounds
//!   (quick 3) in each of 3 invocations. Targets at 2 workers: ptm >= 1.5x
//!   rayon-spawn, >= 1.2x the Book's pool.
//! - `like-for-like` ([`LikeForLike`]): ptm, ptm-latch, book and queue at 2
//!   workers with `static` latch jobs, so that no job allocates; 7 rounds
//!   (quick 3) in each of 5 invocations. Targets: ptm >= 1.0x the bare
//!   queue, >= 1.2x the Book's pool.
//!
//! A batch is 1,000,000 jobs (quick 100,000; `thread-spawn` 2,000, quick
//! 500). For each worker count every pool is built and warmed up with a
//! tenth of a batch, then runs a batch per round in rotated order. The
//! machine's speed flips from one process to the next, so every invocation
//! is a fresh process; a figure is the median over invocations of each
//! one's median, a target is judged on the median of same-process ratios.
//!
//! ```text
//! report --only pool --workers 2,4,8 --rounds 7 --variants ptm,book --latch static
//! report --only like-for-like
//! ```

use std::path::Path;

use anyhow::{ensure, Context};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::designs::{Bench, Design, LatchJobs};
use crate::harness::{distinct, interleave, invocations, medians_by_invocation, name};
use crate::harness::{per_round_ratios, Ctx, Experiment};
use crate::plot::{self, short, Mark, Panel, Rows, Scale, Series};
use crate::stats::{median, summarize, Summary};
use crate::verdict::{Check, Target};
use Design::{Book, Ptm, PtmLatch, Queue, RayonSpawn, ThreadSpawn};

/// One timed batch: from the first submission until the wait returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Row {
    pub invocation: usize,
    pub design: Design,
    pub workers: usize,
    pub round: usize,
    pub position: usize,
    pub jobs: usize,
    pub seconds: f64,
    pub jobs_per_sec: f64,
}

/// A timed batch of an experiment run in several invocations.
pub(super) trait Batch {
    /// What it measured (the variant, with its sizes).
    type Key: PartialEq;
    fn invocation(&self) -> usize;
    fn key(&self) -> Self::Key;
    fn rate(&self) -> f64;
}

impl Batch for Row {
    type Key = (Design, usize);
    fn invocation(&self) -> usize {
        self.invocation
    }
    fn key(&self) -> (Design, usize) {
        (self.design, self.workers)
    }
    fn rate(&self) -> f64 {
        self.jobs_per_sec
    }
}

fn medians<B: Batch>(rows: &[B], key: &B::Key) -> Vec<(usize, f64)> {
    let rate = |r: &B| (r.key() == *key).then(|| r.rate());
    medians_by_invocation(rows, B::invocation, rate)
}

/// The median and range of each invocation's median rate of `key`.
pub(super) fn figures<B: Batch>(rows: &[B], key: B::Key) -> Option<Summary> {
    summarize(medians(rows, &key).into_iter().map(|(_, m)| m))
}

/// The same-process ratios of each invocation's median rates `a / b`.
pub(super) fn ratios<B: Batch>(rows: &[B], a: B::Key, b: B::Key) -> Vec<f64> {
    per_round_ratios(&medians(rows, &a), &medians(rows, &b))
}

/// The last two cells of a ratio table's line: the same-process ratios
/// `a / b` and their median ("0.85 1.50 | **1.18**"); `None` without any.
pub(super) fn ratio_cells<B: Batch>(rows: &[B], a: B::Key, b: B::Key) -> Option<String> {
    let ratios = ratios(rows, a, b);
    let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    Some(format!("{} | **{:.2}**", each.join(" "), median(ratios)?))
}

/// The rows of `count` invocations of `E` of `batches` batches each, each
/// in a fresh process.
pub(super) fn run_invocations<E: Experiment>(
    ctx: &Ctx,
    count: usize,
    batches: usize,
) -> anyhow::Result<Vec<E::Row>> {
    ctx.bar.set_length((count * batches) as u64);
    let rows = invocations::<E>(ctx, count)?;
    let (measured, expected) = (rows.len(), count * batches);
    ensure!(measured == expected, "{measured} of {expected} batches");
    Ok(rows)
}

/// Pool dispatch: [`Pool`] or [`LikeForLike`].
#[derive(Debug)]
pub struct Dispatch<const LIKE: bool>;
/// Every design at 2, 4 and 8 workers, latch jobs as users write them.
pub type Pool = Dispatch<false>;
/// ptm, ptm-latch, book and queue at 2 workers; no job allocates.
pub type LikeForLike = Dispatch<true>;

/// What an invocation measures, with the flags applied.
struct Sizes {
    designs: Vec<Design>,
    workers: Vec<usize>,
    rounds: usize,
    latch: LatchJobs,
}

impl<const LIKE: bool> Dispatch<LIKE> {
    fn sizes(ctx: &Ctx) -> anyhow::Result<Sizes> {
        let (designs, mut workers, rounds, latch): (&[Design], _, _, _) = if LIKE {
            let like = &[Ptm, PtmLatch, Book, Queue];
            (like, vec![2], ctx.rounds(7, 3), LatchJobs::Static)
        } else {
            let all = Design::value_variants();
            (all, vec![2, 4, 8], ctx.rounds(5, 3), LatchJobs::Captured)
        };
        let latch = ctx.flags.latch.unwrap_or(latch);
        let allocating = LIKE && latch != LatchJobs::Static;
        ensure!(!allocating, "like for like runs `static` latch jobs only");
        ensure!(rounds > 0, "--rounds must be at least 1");
        if !ctx.flags.workers.is_empty() {
            workers.clone_from(&ctx.flags.workers);
        }
        let designs = ctx.variants(designs)?;
        Ok(Sizes {
            designs,
            workers,
            rounds,
            latch,
        })
    }
}

/// One invocation: for each worker count, every design's pool built and
/// warmed up, then one batch per design and round, rotated.
fn measure(ctx: &Ctx, invocation: usize, sizes: &Sizes) -> anyhow::Result<Vec<Row>> {
    let (jobs, spawn_jobs) = ctx.pick((1_000_000, 2_000), (100_000, 500));
    let jobs_for = |d| if d == ThreadSpawn { spawn_jobs } else { jobs };
    let mut rows = Vec::new();
    for &workers in &sizes.workers {
        let benches = (sizes.designs.iter())
            .map(|&d| Ok((d, Bench::new(d, workers, sizes.latch)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        for (design, bench) in &benches {
            let warm = bench.run((jobs_for(*design) / 10).max(1));
            warm.with_context(|| format!("warming up {}", name(design)))?;
        }
        let places: Vec<usize> = (0..benches.len()).collect();
        let measured = interleave(&ctx.bar, &places, sizes.rounds, |i, round, position| {
            let (design, bench) = (benches[i].0, &benches[i].1);
            let jobs = jobs_for(design);
            let elapsed = bench.run(jobs).with_context(|| name(&design))?;
            let seconds = elapsed.as_secs_f64();
            let jobs_per_sec = jobs as f64 / seconds;
            Ok(Row {
                invocation,
                design,
                workers,
                round,
                position,
                jobs,
                seconds,
                jobs_per_sec,
            })
        });
        rows.extend(measured.with_context(|| format!("{workers} workers"))?);
        // These pools shut down before the next worker count builds its own.
    }
    Ok(rows)
}

fn designs_and_workers(rows: &[Row]) -> (Vec<Design>, Vec<usize>) {
    let mut designs = distinct(rows.iter().map(|r| r.design));
    let mut workers = distinct(rows.iter().map(|r| r.workers));
    designs.sort();
    workers.sort_unstable();
    (designs, workers)
}

/// A design's name written out, for plots.
fn label(design: Design) -> &'static str {
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

impl<const LIKE: bool> Experiment for Dispatch<LIKE> {
    const NAME: &'static str = ["pool", "like-for-like"][LIKE as usize];
    const STEM: &'static str = ["pool_dispatch", "pool_like_for_like"][LIKE as usize];
    const LABEL: &'static str = ["pool dispatch", "pool like for like"][LIKE as usize];
    type Row = Row;

    fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
        let (s, count) = (Self::sizes(ctx)?, [3, 5][LIKE as usize]);
        let batches = s.workers.len() * s.designs.len() * s.rounds;
        run_invocations::<Self>(ctx, ctx.invocations(count, count), batches)
    }

    fn invocation(ctx: &Ctx, invocation: usize) -> anyhow::Result<Vec<Row>> {
        measure(ctx, invocation, &Self::sizes(ctx)?)
    }

    /// A row per design, a series of medians per worker count.
    fn plot(rows: &[Row], path: &Path) -> anyhow::Result<()> {
        let (designs, workers) = designs_and_workers(rows);
        let median = |d, w| figures(rows, (d, w)).map(|s| s.median);
        let series = |&w: &usize| {
            let name = if LIKE {
                String::new()
            } else {
                format!("{w} workers")
            };
            Series {
                name,
                values: designs.iter().map(|&d| median(d, w)).collect(),
            }
        };
        let panel = Panel {
            title: String::new(),
            rows: designs.iter().map(|&d| label(d).to_owned()).collect(),
            series: workers.iter().map(series).collect(),
        };
        let (title, scale, mark) = match LIKE {
            true => (
                "Like for like: no-op jobs, no job allocates",
                Scale::Linear,
                Mark::Bar,
            ),
            false => (USERS, Scale::Log10, Mark::Dot),
        };
        let axis = "jobs per second";
        plot::rows(
            path,
            &Rows {
                title,
                axis,
                scale,
                mark,
                value: short,
            },
            &[panel],
        )
    }

    /// The sizes, a line per design and worker count (the median and range
    /// of the invocation medians), and the same-process ratios.
    fn summary(rows: &[Row]) -> String {
        let (designs, workers) = designs_and_workers(rows);
        let jobs = |spawn| rows.iter().find(|r| (r.design == ThreadSpawn) == spawn);
        let spawn = jobs(true).map(|r| format!(" ({} for `thread-spawn`)", r.jobs));
        let mut out = format!(
            "## 1. {}\n\n{} no-op jobs per batch{}, submitted from one thread, then waited for \
             ({}); {} rounds per invocation in rotated order, {} invocations (separate \
             processes). Jobs/s: the median over invocations of each one's median, and their \
             range.\n\n| design | workers | jobs/s | range | ns/job |\n|---|---:|---:|---:|---:|\n",
            ["Pool dispatch", "Pool dispatch, like for like"][LIKE as usize],
            jobs(false).map_or(0, |r| r.jobs),
            spawn.unwrap_or_default(),
            [CAPTURED, "`static` latch jobs: none allocates"][LIKE as usize],
            distinct(rows.iter().map(|r| r.round)).len(),
            distinct(rows.iter().map(|r| r.invocation)).len(),
        );
        for &w in &workers {
            for &d in &designs {
                let Some(s) = figures(rows, (d, w)) else {
                    continue;
                };
                let (m, lo, hi, ns) = (short(s.median), short(s.min), short(s.max), 1e9 / s.median);
                out += &format!("| {} | {w} | {m} | {lo} .. {hi} | {ns:.1} |\n", name(&d));
            }
        }
        // ptm and its latch control against each other and every other design.
        let others = designs.iter().filter(|d| ![Ptm, PtmLatch].contains(d));
        let pairs = others.flat_map(|&d| [(Ptm, d), (PtmLatch, d)]);
        let pairs: Vec<_> = [(Ptm, PtmLatch)].into_iter().chain(pairs).collect();
        out += "\n| same-process ratio (jobs/s) | workers | per invocation | median |\n\
                |---|---:|---|---:|\n";
        for &w in &workers {
            for &(a, b) in &pairs {
                let Some(cells) = ratio_cells(rows, (a, w), (b, w)) else {
                    continue;
                };
                out += &format!("| {} / {} | {w} | {cells} |\n", name(&a), name(&b));
            }
        }
        out
    }

    fn checks(rows: &[Row]) -> Vec<Check> {
        let what = ["pool", "pool like for like"][LIKE as usize];
        let check = |&(other, bar): &(Design, f64)| {
            let text = format!("{what}: ptm / {} jobs/s, 2 workers", name(&other));
            Check::new(
                Target::at_least(text, bar),
                ratios(rows, (Ptm, 2), (other, 2)),
            )
        };
        let targets = [
            [(RayonSpawn, 1.5), (Book, 1.2)],
            [(Queue, 1.0), (Book, 1.2)],
        ];
        targets[LIKE as usize].iter().map(check).collect()
    }
}

const USERS: &str = "What users write: no-op jobs, each latch job allocates";
const CAPTURED: &str = "latch-waited designs run `captured` latch jobs, one allocation each, \
                        unless run with `--latch static`";

#[cfg(test)]
mod tests {
    use super::{LikeForLike, Pool, Row};
    use crate::designs::{Design, LatchJobs};
    use crate::harness::{Ctx, Experiment};
    use crate::verdict::Verdict;

    #[test]
    fn an_invocation_measures_every_design_and_is_summarised() {
        let mut ctx = Ctx::quick(None);
        (ctx.flags.rounds, ctx.flags.workers) = (Some(2), vec![2]);
        let rows = Pool::invocation(&ctx, 0).expect("running");
        assert_eq!(rows.len(), 2 * 8);
        assert!(Pool::summary(&rows).contains("| ptm / rayon-spawn | 2 |"));
        assert_eq!(Pool::checks(&rows)[0].ratios.len(), 1);
        ctx.flags.latch = Some(LatchJobs::Captured);
        assert!(LikeForLike::invocation(&ctx, 0).is_err(), "allocating jobs");
    }

    #[test]
    fn like_for_like_is_judged_on_ratios_within_each_process() {
        // Invocation 1 is a fast process; each ratio compares one process.
        let rates = [[12.0, 10.0, 10.0], [30.0, 40.0, 20.0], [11.0, 10.0, 10.0]];
        let designs = [Design::Ptm, Design::Queue, Design::Book];
        let row = |invocation, (&design, jobs_per_sec)| Row {
            invocation,
            design,
            workers: 2,
            round: 0,
            position: 0,
            jobs: 1,
            seconds: 1.0 / jobs_per_sec,
            jobs_per_sec,
        };
        let rows = (0..3).flat_map(|i| designs.iter().zip(rates[i]).map(move |r| row(i, r)));
        let rows: Vec<Row> = rows.collect();
        let checks = LikeForLike::checks(&rows);
        let close = |a: &[f64], b: [f64; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-3);
        assert!(close(&checks[0].ratios, [1.2, 0.75, 1.1]), "{checks:?}");
        assert_eq!(checks[0].verdict(), Verdict::Met, "median 1.1 >= 1.0");
        assert!(close(&checks[1].ratios, [1.2, 1.5, 1.1]), "{checks:?}");
        assert_eq!(checks[1].verdict(), Verdict::Met, "median 1.2 >= 1.2");
        let summary = LikeForLike::summary(&rows);
        assert!(
            summary.contains("| queue | 2 | 10 | 10 .. 40 |"),
            "{summary}"
        );
    }
}
