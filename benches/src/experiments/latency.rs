//! 2. Pool latency: how long one job waits between `execute` (or `spawn`)
//! on an idle pool of 2 workers and the moment it starts running, as an
//! hdrhistogram distribution (p50, p99, p99.9, max).
//!
//! Each sample: pause 200 µs (the workers go back to sleep, the idle CPU
//! halts), read the clock, submit a job that reads the clock first thing
//! and sends that instant back, wait for it (untimed). The job captures a
//! channel sender, so every design boxes the same closure. Designs: ptm's
//! `execute`, rayon's `spawn`, the `threadpool` crate, the Rust Book's
//! pool, the bare crossbeam `QueuePool`, and a new `std::thread` per job.
//! Three placements ([`Pinning`]): unpinned, `pinned` (everything on one
//! CPU), `split` (the submitter on one CPU, the workers on the other; not
//! for `thread-spawn`, whose thread starts on its creator's CPU). Every
//! (design, placement) takes its share of the samples once per round, in
//! rotated order (10,000 samples in 10 rounds; quick: 1,000 in 4).
//!
//! ```text
//! cargo run --release -p ptm-benches --bin report -- --only latency --rounds 10
//! ```

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use clap::ValueEnum;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::designs::Design;
use crate::harness::{distinct, interleave, name, Ctx, Experiment};
use crate::pin::Pinning;
use crate::plot::{self, Mark, Panel, Rows, Scale, Series};
use crate::stats::{latency_histogram, Percentiles};

/// One variant's distribution under one placement, in nanoseconds: a line
/// of this experiment's CSV and of the round trips'.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row<V> {
    /// The variant.
    pub variant: V,
    /// The placement.
    pub pinning: Pinning,
    /// Samples recorded.
    pub count: u64,
    /// The median.
    pub p50_ns: u64,
    /// The 99th percentile.
    pub p99_ns: u64,
    /// The 99.9th percentile.
    pub p999_ns: u64,
    /// The largest sample.
    pub max_ns: u64,
    /// The mean.
    pub mean_ns: u64,
}

/// Starts a subject per (placement, variant) with `start` under the
/// placement's partner side (`None`: not measured), takes `warm_up`
/// untimed samples of each, then `samples` split over `rounds` rounds,
/// every subject once per round, rotated, under its placement; returns each
/// subject's row and the subject.
pub(crate) fn percentiles<V: ValueEnum + Copy, S>(
    ctx: &Ctx,
    variants: &[V],
    (samples, rounds, warm_up): (usize, usize, usize),
    mut start: impl FnMut(V, Pinning) -> anyhow::Result<Option<S>>,
    mut sample: impl FnMut(&mut S) -> anyhow::Result<Duration>,
) -> anyhow::Result<Vec<(Row<V>, S)>> {
    let mut subjects = Vec::new();
    for pinning in Pinning::ALL {
        // Pools and partners started here keep this placement.
        let _guard = pinning.apply_partner()?;
        for &variant in variants {
            let what = || format!("starting {} ({})", name(&variant), name(&pinning));
            if let Some(subject) = start(variant, pinning).with_context(what)? {
                subjects.push((variant, pinning, subject, latency_histogram()));
            }
        }
    }
    let mut take =
        |(variant, pinning, subject, histogram): &mut (V, Pinning, S, Histogram<u64>),
         count: usize| {
            let _guard = pinning.apply()?;
            for _ in 0..count {
                let nanos = sample(subject)
                    .with_context(|| format!("{} ({})", name(variant), name(pinning)))?
                    .as_nanos();
                histogram.saturating_record(u64::try_from(nanos).unwrap_or(u64::MAX));
            }
            anyhow::Ok(())
        };
    for subject in &mut subjects {
        take(subject, warm_up)?;
        subject.3.reset();
    }
    let per_round = samples.div_ceil(rounds.max(1)).max(1);
    let order: Vec<usize> = (0..subjects.len()).collect();
    interleave(&ctx.bar, &order, rounds.max(1), |i, _, _| {
        let (variant, pinning, ..) = &subjects[i];
        ctx.bar
            .set_message(format!("{} {}", name(variant), name(pinning)));
        take(&mut subjects[i], per_round)
    })?;
    let row = |variant, pinning, h: &Histogram<u64>| {
        let p = Percentiles::of(h);
        Row {
            variant,
            pinning,
            count: p.count,
            p50_ns: p.p50,
            p99_ns: p.p99,
            p999_ns: p.p999,
            max_ns: p.max,
            mean_ns: h.mean().round() as u64,
        }
    };
    Ok(subjects
        .into_iter()
        .map(|(v, p, subject, h)| (row(v, p, &h), subject))
        .collect())
}

/// The rows as the summary's Markdown table, in microseconds.
pub(crate) fn table<V: ValueEnum>(rows: &[Row<V>]) -> String {
    let mut out = String::from(
        "| variant | pinning | samples | p50 µs | p99 µs | p99.9 µs | max µs |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let us = |ns: u64| ns as f64 / 1e3;
        out.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
            name(&r.variant),
            name(&r.pinning),
            r.count,
            us(r.p50_ns),
            us(r.p99_ns),
            us(r.p999_ns),
            us(r.max_ns)
        ));
    }
    out
}

/// Microseconds as a plot prints them: "9.9", "43.7", "239".
pub(crate) fn micros(us: f64) -> String {
    if us < 100.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.0}")
    }
}

/// One panel per placement, stacked, a row per variant (its `label`), its
/// median and 99th percentile as dots, in microseconds on a log axis.
pub(crate) fn plot<V: PartialEq + Copy>(
    path: &Path,
    title: &str,
    rows: &[Row<V>],
    label: fn(V) -> &'static str,
) -> anyhow::Result<()> {
    let variants = distinct(rows.iter().map(|r| r.variant));
    let panels: Vec<Panel> = Pinning::ALL
        .into_iter()
        .map(|pinning| {
            let series = |name: &str, pick: fn(&Row<V>) -> u64| Series {
                name: name.to_owned(),
                values: (variants.iter())
                    .map(|&v| {
                        let row = rows.iter().find(|r| r.variant == v && r.pinning == pinning);
                        row.map(|r| pick(r) as f64 / 1e3)
                    })
                    .collect(),
            };
            Panel {
                title: pinning.describe().to_owned(),
                rows: variants.iter().map(|&v| label(v).to_owned()).collect(),
                series: vec![
                    series("median (p50)", |r| r.p50_ns),
                    series("99th percentile (p99)", |r| r.p99_ns),
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
    plot::rows(path, &chart, &panels)
}

/// A pool of one design, built.
enum Pool {
    Ptm(ptm::ThreadPool),
    Rayon(rayon::ThreadPool),
    Threadpool(threadpool::ThreadPool),
    Book(crate::book_pool::ThreadPool),
    Queue(crate::queue_pool::QueuePool),
    ThreadSpawn,
}

impl Pool {
    fn new(design: Design) -> anyhow::Result<Pool> {
        let workers = 2;
        Ok(match design {
            Design::Ptm => Pool::Ptm(ptm::ThreadPool::new(workers)?),
            Design::RayonSpawn => Pool::Rayon(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(workers)
                    .build()?,
            ),
            // Both panic if a thread cannot be started: they offer no other way.
            Design::Threadpool => Pool::Threadpool(threadpool::ThreadPool::new(workers)),
            Design::Book => Pool::Book(crate::book_pool::ThreadPool::new(workers)),
            Design::Queue => Pool::Queue(crate::queue_pool::QueuePool::new(workers)?),
            Design::ThreadSpawn => Pool::ThreadSpawn,
            other => anyhow::bail!("{} is not measured here", name(&other)),
        })
    }

    /// One sample: a pause, then the time from submit to the job's start.
    fn sample(&self) -> anyhow::Result<Duration> {
        thread::sleep(Duration::from_micros(200));
        let (tx, rx) = crossbeam_channel::bounded(1);
        let job = move || {
            // The receiver waits below, so the send succeeds.
            let _ = tx.send(Instant::now());
        };
        let submitted = Instant::now();
        let mut spawned = None;
        match self {
            Pool::Ptm(pool) => pool.execute(job)?,
            Pool::Rayon(pool) => pool.spawn(job),
            Pool::Threadpool(pool) => pool.execute(job),
            Pool::Book(pool) => pool.execute(job),
            Pool::Queue(pool) => pool.execute(job)?,
            Pool::ThreadSpawn => spawned = Some(thread::Builder::new().spawn(job)?),
        }
        let started = rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|e| anyhow!("the job never started: {e}"))?;
        if let Some(spawned) = spawned {
            spawned
                .join()
                .map_err(|_| anyhow!("a job thread panicked"))?;
        }
        Ok(started.saturating_duration_since(submitted))
    }
}

fn label(design: Design) -> &'static str {
    match design {
        Design::Ptm => "ptm ThreadPool",
        Design::RayonSpawn => "rayon spawn",
        Design::Threadpool => "threadpool crate",
        Design::Book => "Rust Book pool (Mutex<Receiver>)",
        Design::Queue => "crossbeam queue alone",
        Design::ThreadSpawn => "a new thread per job",
        _ => "?",
    }
}

/// The experiment.
#[derive(Debug)]
pub struct Latency;

impl Experiment for Latency {
    const NAME: &'static str = "latency";
    const STEM: &'static str = "pool_latency";
    const LABEL: &'static str = "pool latency";
    type Row = Row<Design>;

    fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row<Design>>> {
        use Design::*;
        let designs = ctx.variants(&[Ptm, RayonSpawn, Threadpool, Book, Queue, ThreadSpawn])?;
        let sizes = (ctx.pick(10_000, 1_000), ctx.rounds(10, 4), 20);
        let start = |design, pinning| {
            let unsplittable = (design, pinning) == (ThreadSpawn, Pinning::Split);
            (!unsplittable).then(|| Pool::new(design)).transpose()
        };
        // Pools are shut down when the rows are made, on this thread.
        let measured = percentiles(ctx, &designs, sizes, start, |pool| pool.sample())?;
        Ok(measured.into_iter().map(|(row, _)| row).collect())
    }

    fn plot(rows: &[Row<Design>], path: &Path) -> anyhow::Result<()> {
        let title = "Pool latency: from submit to the job's start, idle pool of 2";
        plot(path, title, rows, label)
    }

    fn summary(rows: &[Row<Design>]) -> String {
        format!(
            "## 2. Pool latency\n\nSubmit-to-start latency of one job on an idle pool of 2 \
             workers: {} samples per design and pinning, each after a 200 µs pause, in \
             interleaved rounds (hdrhistogram, 3 significant digits). Pinned: the submitter \
             and the pool's threads on one CPU; split: the submitter on one CPU, the pool's \
             threads on the other (not for `thread-spawn`).\n\n{}",
            rows.first().map_or(0, |r| r.count),
            table(rows)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Latency;
    use crate::designs::Design;
    use crate::harness::{Ctx, Experiment};
    use crate::pin::Pinning;

    #[test]
    fn every_design_starts_jobs_under_every_placement() {
        let mut ctx = Ctx::quick(None);
        ctx.flags.rounds = Some(2);
        let rows = Latency::run(&ctx).expect("measuring");
        assert_eq!(rows.len(), 3 * 6 - 1, "no split thread-spawn");
        assert!(rows.iter().all(|r| r.count == 1000 && r.p50_ns <= r.max_ns));
        let split = rows.iter().filter(|r| r.pinning == Pinning::Split);
        assert!(split.clone().all(|r| r.variant != Design::ThreadSpawn));
        assert!(Latency::summary(&rows).contains("| ptm | pinned | 1000 |"));
    }
}
