//! Pool latency (section 2): from `execute` (or `spawn`) on an idle pool of 2
//! workers to the job's start, into an hdrhistogram. A sample: pause 200 µs
//! (the workers sleep again), read the clock, submit a job that sends its own
//! first reading back. Designs: ptm, rayon `spawn`, `threadpool`, the Rust
//! Book's pool, the crossbeam `QueuePool`, a thread per job. Placements
//! ([`Pinning`]): unpinned, pinned (one CPU), split (two; not for
//! `thread-spawn`, which starts on its creator's CPU). 10,000 samples per pair
//! (quick: 1,000) in 10 rounds (quick: 4), rotated.
//!
//! ```text
//! cargo run --release -p ptm-benches --bin report -- --only latency --variants ptm,queue
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
pub(crate) struct Row<V> {
    pub(crate) variant: V,
    pub(crate) pinning: Pinning,
    pub(crate) count: u64,
    pub(crate) p50_ns: u64,
    pub(crate) p99_ns: u64,
    pub(crate) p999_ns: u64,
    pub(crate) max_ns: u64,
    pub(crate) mean_ns: u64,
}

type Subject<V, S> = (V, Pinning, S, Histogram<u64>);

/// Starts a subject per (placement, variant) with `start` under the
/// placement's partner side (`None`: not measured), takes `warm_up`
/// untimed samples of each, then `per_round(variant)` in each of `rounds`
/// rounds, every subject once per round, rotated, under its placement.
/// Returns the rows and the subjects.
pub(crate) fn percentiles<V: ValueEnum + Copy, S>(
    ctx: &Ctx,
    variants: &[V],
    (rounds, warm_up): (usize, usize),
    per_round: impl Fn(V) -> usize,
    mut start: impl FnMut(V, Pinning) -> anyhow::Result<Option<S>>,
    mut sample: impl FnMut(&mut S) -> anyhow::Result<Duration>,
) -> anyhow::Result<Vec<(Row<V>, S)>> {
    let mut subjects = Vec::new();
    for pinning in Pinning::ALL {
        // Pools and partners started here keep this placement.
        let _guard = pinning.apply_partner()?;
        for &v in variants {
            let started = start(v, pinning).with_context(|| format!("starting {}", name(&v)));
            if let Some(subject) = started? {
                subjects.push((v, pinning, subject, latency_histogram()));
            }
        }
    }
    let mut take = |(v, pinning, subject, h): &mut Subject<V, S>, count| {
        let what = format!("{} {}", name(v), name(pinning));
        ctx.bar.set_message(what.clone());
        let _guard = pinning.apply()?;
        for _ in 0..count {
            let nanos = sample(subject).context(what.clone())?.as_nanos();
            h.saturating_record(u64::try_from(nanos).unwrap_or(u64::MAX));
        }
        anyhow::Ok(())
    };
    for subject in &mut subjects {
        take(subject, warm_up)?;
        subject.3.reset();
    }
    let order: Vec<usize> = (0..subjects.len()).collect();
    interleave(&ctx.bar, &order, rounds.max(1), |i, _, _| {
        let count = per_round(subjects[i].0).max(1);
        take(&mut subjects[i], count)
    })?;
    let rows = subjects.into_iter().map(|(variant, pinning, s, h)| {
        let p = Percentiles::of(&h);
        let row = Row {
            variant,
            pinning,
            count: p.count,
            p50_ns: p.p50,
            p99_ns: p.p99,
            p999_ns: p.p999,
            max_ns: p.max,
            mean_ns: h.mean().round() as u64,
        };
        (row, s)
    });
    Ok(rows.collect())
}

/// The rows as the summary's Markdown table, in microseconds.
pub(crate) fn table<V: ValueEnum>(rows: &[Row<V>]) -> String {
    let mut out = String::from(
        "| variant | pinning | samples | p50 µs | p99 µs | p99.9 µs | max µs |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let (v, p, n) = (name(&r.variant), name(&r.pinning), r.count);
        let us =
            [r.p50_ns, r.p99_ns, r.p999_ns, r.max_ns].map(|ns| format!("{:.1}", ns as f64 / 1e3));
        out.push_str(&format!("| {v} | {p} | {n} | {} |\n", us.join(" | ")));
    }
    out
}

/// Microseconds as a plot prints them: "9.9", "43.7", "239".
pub(crate) fn micros(us: f64) -> String {
    format!("{:.*}", usize::from(us < 100.0), us)
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
    let panel = |pinning: Pinning| {
        let series = |name: &str, pick: fn(&Row<V>) -> u64| Series {
            name: name.to_owned(),
            values: (variants.iter())
                .map(|&v| rows.iter().find(|r| (r.variant, r.pinning) == (v, pinning)))
                .map(|row| row.map(|r| pick(r) as f64 / 1e3))
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
    };
    let chart = Rows {
        title,
        axis: "microseconds",
        scale: Scale::Log10,
        mark: Mark::Dot,
        value: micros,
    };
    plot::rows(path, &chart, &Pinning::ALL.map(panel))
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
        let rayon = rayon::ThreadPoolBuilder::new().num_threads(workers);
        Ok(match design {
            Design::Ptm => Pool::Ptm(ptm::ThreadPool::new(workers)?),
            Design::RayonSpawn => Pool::Rayon(rayon.build()?),
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
        // The receiver waits below, so the send succeeds.
        let job = move || tx.send(Instant::now()).unwrap_or(());
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
        let started = rx.recv_timeout(Duration::from_secs(10));
        let started = started.map_err(|e| anyhow!("the job never started: {e}"))?;
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
pub(crate) struct Latency;

impl Experiment for Latency {
    const NAME: &'static str = "latency";
    const STEM: &'static str = "pool_latency";
    const LABEL: &'static str = "pool latency";
    type Row = Row<Design>;

    fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row<Design>>> {
        use Design::*;
        let designs = ctx.variants(&[Ptm, RayonSpawn, Threadpool, Book, Queue, ThreadSpawn])?;
        let rounds = ctx.rounds(10, 4).max(1);
        let per_round = ctx.pick(10_000_usize, 1_000).div_ceil(rounds);
        let start = |design, pinning| match (design, pinning) {
            (ThreadSpawn, Pinning::Split) => Ok(None),
            _ => Pool::new(design).map(Some),
        };
        // The pools shut down here, on this (unpinned) thread.
        let sample = |pool: &mut Pool| pool.sample();
        let measured = percentiles(ctx, &designs, (rounds, 20), |_| per_round, start, sample)?;
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
    use super::{micros, Latency};
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
        assert!(Latency::summary(&rows).contains("| ptm | pinned | 1000 | "));
        assert_eq!([micros(9.94), micros(239.4)], ["9.9", "239"]);
    }
}
