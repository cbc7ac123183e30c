//! Pool dispatch (section 1): one thread submits N no-op jobs, then waits
//! until all have run; jobs per second of the designs of [`crate::designs`].
//! `pool`: every design at 2, 4 and 8 workers, `captured` latch jobs (what
//! users write), 5 rounds (quick 3) in each of 3 invocations; targets at 2
//! workers: ptm >= 1.5x rayon-spawn, >= 1.2x the Book's pool.
//! `like-for-like`: ptm, ptm-latch, book and queue at 2 workers, `static`
//! latch jobs (none allocates), 7 rounds (quick 3) in each of 5
//! invocations; targets: ptm >= 1.0x the bare queue, >= 1.2x the Book's.
//! A batch is 1,000,000 jobs (quick 100,000; `thread-spawn` 2,000, quick
//! 500); every pool is built and warmed up with a tenth of a batch, then
//! runs a batch per round, rotated. Every invocation is a fresh process; a
//! figure is the median of the invocations' medians, a target is judged on
//! same-process ratios.
//! `report --only pool --workers 2,4,8 --rounds 7 --variants ptm,book --latch static`

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
pub(crate) struct Row {
    invocation: usize,
    design: Design,
    workers: usize,
    round: usize,
    position: usize,
    jobs: usize,
    seconds: f64,
    jobs_per_sec: f64,
}

/// A timed batch of a variant (`K`: with its sizes): its invocation, what
/// it measured and its rate.
pub(super) type Batch<K> = (usize, K, f64);

fn batches(rows: &[Row]) -> Vec<Batch<(Design, usize)>> {
    let batch = |r: &Row| (r.invocation, (r.design, r.workers), r.jobs_per_sec);
    rows.iter().map(batch).collect()
}

fn medians<K: PartialEq>(batches: &[Batch<K>], key: &K) -> Vec<(usize, f64)> {
    let rate = |b: &Batch<K>| (b.1 == *key).then_some(b.2);
    medians_by_invocation(batches, |b| b.0, rate)
}

/// The median and range of each invocation's median rate of `key`.
pub(super) fn figures<K: PartialEq>(batches: &[Batch<K>], key: K) -> Option<Summary> {
    summarize(medians(batches, &key).into_iter().map(|(_, m)| m))
}

/// The same-process ratios of each invocation's median rates `a / b`.
fn ratios<K: PartialEq>(batches: &[Batch<K>], a: K, b: K) -> Vec<f64> {
    per_round_ratios(&medians(batches, &a), &medians(batches, &b))
}

/// A summary line: the `first` cells, then the median rate of `key` (with
/// `unit`), its range and the ns each.
pub(super) fn rate_line<K: PartialEq>(b: &[Batch<K>], key: K, first: &str, unit: &str) -> String {
    let Some(s) = figures(b, key) else {
        return String::new();
    };
    let (m, lo, hi, ns) = (short(s.median), short(s.min), short(s.max), 1e9 / s.median);
    format!("| {first} | {m}{unit} | {lo} .. {hi} | {ns:.1} |\n")
}

/// A ratio line: `first`, the same-process ratios `a / b` and their median
/// ("| ptm / book | 0.85 1.50 | **1.18** |"); empty without any.
pub(super) fn ratio_line<K: PartialEq>(b: &[Batch<K>], x: K, y: K, first: &str) -> String {
    let ratios = ratios(b, x, y);
    let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    median(ratios).map_or(String::new(), |m| {
        format!("| {first} | {} | **{m:.2}** |\n", each.join(" "))
    })
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
pub(crate) struct Dispatch<const LIKE: bool>;
pub(crate) type Pool = Dispatch<false>;
pub(crate) type LikeForLike = Dispatch<true>;

/// The designs, worker counts, rounds and latch jobs, with the flags.
type Sizes = (Vec<Design>, Vec<usize>, usize, LatchJobs);

impl<const LIKE: bool> Dispatch<LIKE> {
    fn sizes(ctx: &Ctx) -> anyhow::Result<Sizes> {
        let (designs, workers, rounds, latch): (&[Design], _, _, _) = if LIKE {
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
        let flags = &ctx.flags.workers;
        let workers = if flags.is_empty() {
            workers
        } else {
            flags.clone()
        };
        Ok((ctx.variants(designs)?, workers, rounds, latch))
    }
}

/// One invocation: for each worker count, every design's pool built and
/// warmed up, then one batch per design and round, rotated.
fn measure(ctx: &Ctx, invocation: usize, sizes: Sizes) -> anyhow::Result<Vec<Row>> {
    let (designs, all_workers, rounds, latch) = sizes;
    let (jobs, spawn_jobs) = ctx.pick((1_000_000, 2_000), (100_000, 500));
    let jobs_for = |d| if d == ThreadSpawn { spawn_jobs } else { jobs };
    let mut rows = Vec::new();
    for workers in all_workers {
        let benches = (designs.iter())
            .map(|&d| Ok((d, Bench::new(d, workers, latch)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        for (design, bench) in &benches {
            let warm = bench.run((jobs_for(*design) / 10).max(1));
            warm.with_context(|| format!("warming up {}", name(design)))?;
        }
        let places: Vec<usize> = (0..benches.len()).collect();
        let measured = interleave(&ctx.bar, &places, rounds, |i, round, position| {
            let (design, bench) = (benches[i].0, &benches[i].1);
            let jobs = jobs_for(design);
            let seconds = bench.run(jobs).with_context(|| name(&design))?;
            let seconds = seconds.as_secs_f64();
            Ok(Row {
                invocation,
                design,
                workers,
                round,
                position,
                jobs,
                seconds,
                jobs_per_sec: jobs as f64 / seconds,
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
        let ((designs, workers, rounds, _), count) = (Self::sizes(ctx)?, [3, 5][LIKE as usize]);
        let batches = workers.len() * designs.len() * rounds;
        run_invocations::<Self>(ctx, ctx.invocations(count, count), batches)
    }

    fn invocation(ctx: &Ctx, invocation: usize) -> anyhow::Result<Vec<Row>> {
        measure(ctx, invocation, Self::sizes(ctx)?)
    }

    /// A row per design, a series of medians per worker count.
    fn plot(rows: &[Row], path: &Path) -> anyhow::Result<()> {
        let (designs, workers) = designs_and_workers(rows);
        let rows = &batches(rows);
        let series = |&w: &usize| Series {
            name: if LIKE {
                String::new()
            } else {
                format!("{w} workers")
            },
            values: (designs.iter())
                .map(|&d| figures(rows, (d, w)).map(|s| s.median))
                .collect(),
        };
        let panel = Panel {
            title: String::new(),
            rows: designs.iter().map(|&d| label(d).to_owned()).collect(),
            series: workers.iter().map(series).collect(),
        };
        let chart = Rows {
            title: [USERS, "Like for like: no-op jobs, no job allocates"][LIKE as usize],
            axis: "jobs per second",
            scale: [Scale::Log10, Scale::Linear][LIKE as usize],
            mark: [Mark::Dot, Mark::Bar][LIKE as usize],
            value: short,
        };
        plot::rows(path, &chart, &[panel])
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
        let rows = &batches(rows);
        for &w in &workers {
            for &d in &designs {
                out += &rate_line(rows, (d, w), &format!("{} | {w}", name(&d)), "");
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
                let first = format!("{} / {} | {w}", name(&a), name(&b));
                out += &ratio_line(rows, (a, w), (b, w), &first);
            }
        }
        out
    }

    fn checks(rows: &[Row]) -> Vec<Check> {
        let what = ["pool", "pool like for like"][LIKE as usize];
        let check = |&(other, bar): &(Design, f64)| {
            let text = format!("{what}: ptm / {} jobs/s, 2 workers", name(&other));
            let ratios = ratios(&batches(rows), (Ptm, 2), (other, 2));
            Check::new(Target::at_least(text, bar), ratios)
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
