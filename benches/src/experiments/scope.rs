//! Scoped jobs that borrow, and fork-join (section 1), on 2 workers.
//! Scoped jobs: 1,000,000 jobs (quick 100,000) in one scope, each
//! incrementing its own element of a borrowed `Vec<AtomicU64>`: `ptm-scope`
//! and `rayon-scope` (each pool's `scope`, called from the measuring
//! thread), `std-scope` (`std::thread::scope`, a thread per chunk: a thread
//! per job would measure thread starts). Fork-join: the sum of `0..n` split
//! in halves down to leaves of 256 numbers, 16 trees of 2^12 leaves a batch
//! (quick 2 of 2^10), from a pool worker: `ptm-join` spawns one half, sums
//! the other and joins the first (`JobHandle::join` runs queued jobs while
//! it waits); `rayon-join`: `rayon::join`. Every batch is checked. 5 rounds
//! (quick 3), rotated, in each of 5 invocations (quick 3); only ratios.
//! `report --only scope --rounds 5 --invocations 5 --variants ptm-join,rayon-join`

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::thread;
use std::time::Instant;

use anyhow::{anyhow, ensure, Context};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use super::pool::{figures, rate_line, ratio_line, run_invocations, Batch};
use crate::harness::{distinct, interleave, name, Ctx, Experiment};
use crate::plot::{short, stacked, Mark, Panel, Rows, Scale, Series};

/// Worker threads of each pool, and chunks of `std-scope`.
const WORKERS: usize = 2;
/// Numbers a fork-join leaf sums one by one.
const CUTOFF: u64 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Variant {
    PtmScope,
    RayonScope,
    StdScope,
    PtmJoin,
    RayonJoin,
}

use Variant::{PtmJoin, PtmScope, RayonJoin, RayonScope, StdScope};

const LABELS: [&str; 5] = [
    "ptm ThreadPool::scope",
    "rayon ThreadPool::scope",
    "std::thread::scope, a thread per chunk",
    "ptm spawn + JobHandle::join",
    "rayon::join",
];

/// One timed batch of jobs (scope variants) or splits (fork-join; `trees`
/// is 0 for scoped jobs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Row {
    invocation: usize,
    variant: Variant,
    round: usize,
    position: usize,
    items: usize,
    trees: usize,
    seconds: f64,
    items_per_sec: f64,
}

/// A scoped job: one increment of its own element.
fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

fn leaf_sum(lo: u64, hi: u64) -> u64 {
    // `black_box` keeps the loop from becoming its closed form.
    (lo..hi).map(black_box).sum()
}

/// The sum of `lo..hi` on ptm: spawn the upper half, sum the lower, join.
fn ptm_sum(pool: &'static ptm::ThreadPool, lo: u64, hi: u64) -> anyhow::Result<u64> {
    if hi - lo <= CUTOFF {
        return Ok(leaf_sum(lo, hi));
    }
    let mid = lo + (hi - lo) / 2;
    let upper = pool
        .spawn(move || ptm_sum(pool, mid, hi))
        .context("spawn")?;
    let lower = ptm_sum(pool, lo, mid)?;
    Ok(lower + upper.join().map_err(|e| anyhow!("a half: {e}"))??)
}

/// The sum of `lo..hi` with `rayon::join`.
fn rayon_sum(lo: u64, hi: u64) -> u64 {
    if hi - lo <= CUTOFF {
        return leaf_sum(lo, hi);
    }
    let mid = lo + (hi - lo) / 2;
    let (lower, upper) = rayon::join(|| rayon_sum(lo, mid), || rayon_sum(mid, hi));
    lower + upper
}

/// The pools and the borrowed elements of one invocation.
struct Subjects {
    /// Leaked: fork-join jobs capture it and `spawn` takes `'static` jobs
    /// (an `Arc` would add a contended count per split).
    ptm: &'static ptm::ThreadPool,
    rayon: rayon::ThreadPool,
    counters: Vec<AtomicU64>,
}

impl Subjects {
    /// Runs and checks a batch of `variant`: `jobs` scoped jobs, or `trees`
    /// sums of `0..n`; returns its seconds.
    fn run(&self, variant: Variant, jobs: usize, trees: usize, n: u64) -> anyhow::Result<f64> {
        let counters = &self.counters[..jobs];
        counters.iter().for_each(|c| c.store(0, Relaxed));
        let mut sums = Vec::with_capacity(trees);
        let start = Instant::now();
        match variant {
            PtmScope => self
                .ptm
                .scope(|s| counters.iter().for_each(|c| s.spawn(|| bump(c)))),
            RayonScope => self.rayon.scope(|s| {
                counters.iter().for_each(|c| s.spawn(|_| bump(c)));
            }),
            StdScope => thread::scope(|s| {
                let chunks = counters.chunks(counters.len().div_ceil(WORKERS));
                chunks
                    .map(|chunk| move || chunk.iter().for_each(bump))
                    .try_for_each(|work| thread::Builder::new().spawn_scoped(s, work).map(drop))
            })
            .context("spawning a scoped thread")?,
            PtmJoin => {
                let pool = self.ptm;
                for _ in 0..trees {
                    let root = pool.spawn(move || ptm_sum(pool, 0, n)).context("spawn")?;
                    sums.push(root.join().map_err(|e| anyhow!("the root job: {e}"))??);
                }
            }
            RayonJoin => sums.extend((0..trees).map(|_| self.rayon.install(|| rayon_sum(0, n)))),
        }
        let seconds = start.elapsed().as_secs_f64();
        let wrong = sums.iter().filter(|&&sum| sum != n * (n - 1) / 2).count();
        let missed = counters.iter().filter(|c| c.load(Relaxed) != 1).count();
        match variant {
            PtmJoin | RayonJoin => ensure!(wrong == 0, "{wrong} of {trees} sums came out wrong"),
            _ => ensure!(missed == 0, "{missed} jobs did not run once"),
        }
        Ok(seconds)
    }
}

fn batches(rows: &[Row]) -> Vec<Batch<Variant>> {
    rows.iter()
        .map(|r| (r.invocation, r.variant, r.items_per_sec))
        .collect()
}

#[derive(Debug)]
pub(crate) struct Scope;

impl Experiment for Scope {
    const NAME: &'static str = "scope";
    const STEM: &'static str = "pool_scope";
    const LABEL: &'static str = "scope, fork-join";
    type Row = Row;

    fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
        let variants = ctx.variants(Variant::value_variants())?;
        run_invocations::<Self>(
            ctx,
            ctx.invocations(5, 3),
            variants.len() * ctx.rounds(5, 3),
        )
    }

    /// Builds both pools, warms every variant up with a tenth of a batch
    /// (a quarter of the leaves), then runs the rounds.
    fn invocation(ctx: &Ctx, invocation: usize) -> anyhow::Result<Vec<Row>> {
        let variants = ctx.variants(Variant::value_variants())?;
        let (jobs, leaves_log2, trees) = ctx.pick((1_000_000, 12, 16), (100_000, 10, 2));
        let rounds = ctx.rounds(5, 3);
        ensure!(rounds > 0, "--rounds must be at least 1");
        let ptm = ptm::ThreadPool::new(WORKERS).context("building a ptm pool")?;
        let rayon = rayon::ThreadPoolBuilder::new().num_threads(WORKERS).build();
        let subjects = Subjects {
            ptm: Box::leak(Box::new(ptm)),
            rayon: rayon.context("building a rayon pool")?,
            counters: (0..jobs).map(|_| AtomicU64::new(0)).collect(),
        };
        for &v in &variants {
            let warm = subjects.run(v, jobs / 10, 1, CUTOFF << (leaves_log2 - 2));
            warm.with_context(|| format!("warming up {}", name(&v)))?;
        }
        interleave(&ctx.bar, &variants, rounds, |variant, round, position| {
            let seconds = subjects.run(variant, jobs, trees, CUTOFF << leaves_log2);
            let seconds = seconds.with_context(|| name(&variant))?;
            let (items, trees) = match variant {
                PtmJoin | RayonJoin => (((1 << leaves_log2) - 1) * trees, trees),
                _ => (jobs, 0),
            };
            let items_per_sec = items as f64 / seconds;
            Ok(Row {
                invocation,
                variant,
                round,
                position,
                items,
                trees,
                seconds,
                items_per_sec,
            })
        })
    }

    fn plot(rows: &[Row], path: &Path) -> anyhow::Result<()> {
        let rows = &batches(rows);
        let panel = |variants: &[Variant]| Panel {
            title: String::new(),
            rows: variants
                .iter()
                .map(|&v| LABELS[v as usize].into())
                .collect(),
            series: vec![Series {
                name: String::new(),
                values: variants
                    .iter()
                    .map(|&v| figures(rows, v).map(|s| s.median))
                    .collect(),
            }],
        };
        let chart = |title, axis| Rows {
            title,
            axis,
            scale: Scale::Log10,
            mark: Mark::Dot,
            value: short,
        };
        let scoped = chart(
            "Scoped jobs that borrow: each increments its own element",
            "jobs per second (std: elements per second)",
        );
        let fork_join = chart(
            "Fork-join: a parallel sum split in halves",
            "splits per second",
        );
        let (scope, join) = (
            panel(&[PtmScope, RayonScope, StdScope]),
            panel(&[PtmJoin, RayonJoin]),
        );
        stacked(path, &[(&scoped, &[scope]), (&fork_join, &[join])])
    }

    fn summary(rows: &[Row]) -> String {
        let first = |v: &[Variant]| rows.iter().find(|r| v.contains(&r.variant));
        let jobs = first(&[PtmScope, RayonScope, StdScope]).map_or(0, |r| r.items);
        let join = first(&[PtmJoin, RayonJoin]);
        let (splits, trees) = join.map_or((0, 0), |r| (r.items / r.trees.max(1), r.trees));
        let mut out = format!(
            "## 1. Scoped jobs and fork-join\n\n{WORKERS} workers. Scoped jobs: {jobs} per \
             batch, each incrementing its own element of a borrowed `Vec<AtomicU64>` \
             (`std-scope`: the same elements in {WORKERS} chunks, a thread each). Fork-join: \
             the sum of 0..{} split in halves down to {CUTOFF} numbers ({splits} splits), \
             {trees} times per batch. {} rounds per invocation in rotated order, {} \
             invocations (separate processes); rates are the median over invocations of each \
             one's median, with their range.\n\n| variant | per second | range | ns each |\n\
             |---|---:|---:|---:|\n",
            CUTOFF * (splits as u64 + 1),
            distinct(rows.iter().map(|r| r.round)).len(),
            distinct(rows.iter().map(|r| r.invocation)).len(),
        );
        let rows = &batches(rows);
        for &v in Variant::value_variants() {
            let unit = [" jobs", " jobs", " elements", " splits", " splits"][v as usize];
            out += &rate_line(rows, v, &name(&v), unit);
        }
        out += "\n| same-process ratio (per second) | per invocation | median |\n|---|---|---:|\n";
        for (a, b) in [
            (PtmScope, RayonScope),
            (PtmScope, StdScope),
            (PtmJoin, RayonJoin),
        ] {
            out += &ratio_line(rows, a, b, &format!("{} / {}", name(&a), name(&b)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{Scope, Variant};
    use crate::harness::{Ctx, Experiment};

    #[test]
    fn an_invocation_runs_and_checks_every_variant() {
        let mut ctx = Ctx::quick(None);
        ctx.flags.rounds = Some(1);
        let rows = Scope::invocation(&ctx, 0).expect("running");
        assert_eq!(rows.len(), 5);
        let join = rows.iter().find(|r| r.variant == Variant::RayonJoin);
        let join = join.expect("a fork-join row");
        assert_eq!(
            (join.items, join.trees),
            (2 * 1023, 2),
            "2 trees, 2^10 leaves"
        );
        let summary = Scope::summary(&rows);
        assert!(summary.contains("| ptm-scope / std-scope | "), "{summary}");
    }
}
