//! What threads cost (section 5). `Spawn` (`spawn`): one empty thread at a
//! time through `thread::spawn(..).join()` and `thread::scope`, 10,000 per
//! round (quick: 1,000), 5 rounds (quick: 3), unpinned and pinned, rotated.
//! `Curves` (`curves`): n threads at once (n up to 500; quick: 100) that
//! sleep, spin on `yield_now` or burn their own CPU time for 20 ms, timed
//! to the last join; 3 sweeps (quick: 1), the workloads rotated at every n.
//! `report --only spawn,curves --rounds 3`

use crate::harness::{distinct, interleave, median_table, name, Ctx, Experiment};
use crate::pin::Pinning;
use crate::plot::{self, Line, Mark, Marker, Panel, Rows, Scale, Series};
use crate::stats::median;
use anyhow::{anyhow, Context};
use nix::time::{clock_gettime, ClockId};
use serde::{Deserialize, Serialize};
use std::{hint::black_box, path::Path, thread, time::Duration, time::Instant};
use SpawnVariant::{ScopeOne, SpawnJoin};
use Workload::{Cpu, Sleep, Spin};

/// A way of starting and finishing one thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
pub enum SpawnVariant {
    /// thread::spawn(|| {}).join().
    #[value(name = "spawn+join")]
    #[serde(rename = "spawn+join")]
    SpawnJoin,
    /// thread::scope(|s| { s.spawn(|| {}); }).
    #[value(name = "scope(1 thread)")]
    #[serde(rename = "scope(1 thread)")]
    ScopeOne,
}

impl SpawnVariant {
    /// Starts and finishes `ops` empty threads, one at a time.
    ///
    /// # Errors
    ///
    /// If a thread cannot be started or panics.
    pub fn run(self, ops: usize) -> anyhow::Result<()> {
        for _ in 0..ops {
            let builder = thread::Builder::new();
            match self {
                SpawnJoin => {
                    let thread = builder.spawn(|| {}).context("spawning a thread")?;
                    thread.join().map_err(|_| anyhow!("a thread panicked"))?;
                }
                ScopeOne => thread::scope(|s| builder.spawn_scoped(s, || {}).map(drop))?,
            }
        }
        Ok(())
    }
}

/// One timed round of one (variant, pinning).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SpawnRow {
    variant: SpawnVariant,
    pinning: Pinning,
    round: usize,
    position: usize,
    threads: usize,
    seconds: f64,
    us_per_thread: f64,
}

pub(crate) struct Spawn;

fn spawn_micros(rows: &[SpawnRow], v: SpawnVariant, p: Pinning) -> Vec<f64> {
    let of = rows.iter().filter(|r| r.variant == v && r.pinning == p);
    of.map(|r| r.us_per_thread).collect()
}

impl Experiment for Spawn {
    const NAME: &'static str = "spawn";
    const STEM: &'static str = "thread_spawn";
    const LABEL: &'static str = "thread spawn";
    type Row = SpawnRow;

    fn run(ctx: &Ctx) -> anyhow::Result<Vec<SpawnRow>> {
        let variants = ctx.variants(&[SpawnJoin, ScopeOne])?;
        let pairs = |p| variants.iter().map(move |&v| (v, p));
        let subjects: Vec<_> = Pinning::BOTH.into_iter().flat_map(pairs).collect();
        let threads = ctx.pick(10_000, 1_000);
        for &(variant, pinning) in &subjects {
            let _guard = pinning.apply()?;
            variant.run(threads / 10)?;
        }
        let measure = |(variant, pinning): (SpawnVariant, Pinning), round, position| {
            ctx.bar.set_message(format!("{} {pinning}", name(&variant)));
            let _guard = pinning.apply()?;
            let start = Instant::now();
            variant.run(threads)?;
            let seconds = start.elapsed().as_secs_f64();
            Ok(SpawnRow {
                variant,
                pinning,
                round,
                position,
                threads,
                seconds,
                us_per_thread: (seconds * 1e9 / threads as f64).round() / 1e3,
            })
        };
        interleave(&ctx.bar, &subjects, ctx.rounds(5, 3), measure)
    }

    fn plot(rows: &[SpawnRow], path: &Path) -> anyhow::Result<()> {
        let variants = distinct(rows.iter().map(|r| r.variant));
        let series = |p: Pinning| {
            let values = variants.iter().map(|&v| median(spawn_micros(rows, v, p)));
            let (name, values) = (p.describe().to_owned(), values.collect());
            Series { name, values }
        };
        let label = |v: &SpawnVariant| match v {
            SpawnJoin => "thread::spawn, then join".to_owned(),
            ScopeOne => "thread::scope with one thread".to_owned(),
        };
        let panel = Panel {
            title: String::new(),
            rows: variants.iter().map(label).collect(),
            series: Pinning::BOTH.map(series).to_vec(),
        };
        let chart = Rows {
            title: "Threads: start and finish one empty thread",
            axis: "microseconds per thread",
            scale: Scale::Linear,
            mark: Mark::Bar,
            value: |us| format!("{us:.1} µs"),
        };
        plot::rows(path, &chart, &[panel])
    }

    fn summary(rows: &[SpawnRow]) -> String {
        let threads = rows.first().map_or(0, |r| r.threads);
        let rounds = distinct(rows.iter().map(|r| r.round)).len();
        let line = |(v, p)| (format!("{}, {p}", name(&v)), spawn_micros(rows, v, p));
        let lines = distinct(rows.iter().map(|r| (r.variant, r.pinning))).into_iter();
        let us = |us: f64| format!("{us:.1}");
        let table = median_table("variant, pinning", "µs per thread", lines.map(line), us);
        format!(
            "## 5a. Thread spawn + join\n\nOne empty thread at a time, {threads} per round, \
             {rounds} rounds in rotated order.\n\n{table}"
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Workload {
    Sleep,
    Spin,
    Cpu,
}

/// What each thread sleeps, spins or burns, in ms.
const MS: u64 = 20;
const LENGTH: Duration = Duration::from_millis(MS);

fn start_and_join(workload: Workload, n: usize) -> anyhow::Result<f64> {
    let work = move || {
        let start = Instant::now();
        while start.elapsed() < LENGTH {
            match workload {
                Sleep => thread::sleep(LENGTH.saturating_sub(start.elapsed())),
                Spin => thread::yield_now(),
                Cpu => return burn_cpu(LENGTH),
            }
        }
        Ok(())
    };
    let start = Instant::now();
    let spawned: Result<Vec<_>, _> = (0..n).map(|_| thread::Builder::new().spawn(work)).collect();
    for handle in spawned.with_context(|| format!("starting {n} threads"))? {
        handle.join().map_err(|_| anyhow!("a thread panicked"))??;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Computes until this thread has used `length` of its own CPU time.
fn burn_cpu(length: Duration) -> anyhow::Result<()> {
    let used = || clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map(Duration::from);
    let start = used()?;
    let mut x = 1u64;
    while used()?.saturating_sub(start) < length {
        for _ in 0..1000 {
            x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
        }
    }
    Ok(())
}

/// One timed batch of `threads` threads; `cpus`: `available_parallelism`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CurveRow {
    workload: Workload,
    threads: usize,
    repetition: usize,
    position: usize,
    seconds: f64,
    cpus: usize,
}

pub(crate) struct Curves;

/// The `cpu` curve if CPU time were shared perfectly, in ms.
fn cpu_bound_ms(n: usize, cpus: usize) -> f64 {
    MS as f64 * (n as f64 / cpus.max(1) as f64).max(1.0)
}

fn median_ms(rows: &[CurveRow], workload: Workload, n: usize) -> Option<f64> {
    let of = rows.iter().filter(|r| r.workload == workload);
    median(of.filter(|r| r.threads == n).map(|r| r.seconds * 1e3))
}

fn sweep(ctx: &Ctx, counts: &[usize]) -> anyhow::Result<Vec<CurveRow>> {
    let workloads = ctx.variants(&[Sleep, Spin, Cpu])?;
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let steps = ctx.rounds(3, 1) * counts.len();
    interleave(&ctx.bar, &workloads, steps, |workload, step, position| {
        let (repetition, threads) = (step / counts.len(), counts[step % counts.len()]);
        ctx.bar.set_message(format!("{threads} threads"));
        let seconds = start_and_join(workload, threads)?;
        Ok(CurveRow {
            workload,
            threads,
            repetition,
            position,
            seconds,
            cpus,
        })
    })
}

impl Experiment for Curves {
    const NAME: &'static str = "curves";
    const STEM: &'static str = "thread_curves";
    const LABEL: &'static str = "thread curves";
    type Row = CurveRow;

    fn run(ctx: &Ctx) -> anyhow::Result<Vec<CurveRow>> {
        let full = vec![
            1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 100, 128, 160, 200, 256,
            320, 400, 500,
        ];
        let quick = vec![1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 80, 100];
        sweep(ctx, &ctx.pick(full, quick))
    }

    fn plot(rows: &[CurveRow], path: &Path) -> anyhow::Result<()> {
        let counts = distinct(rows.iter().map(|r| r.threads));
        let cpus = rows.first().map_or(1, |r| r.cpus);
        let line = |name, reference, y: &dyn Fn(usize) -> Option<f64>| {
            let points = counts.iter().filter_map(|&n| Some((n as f64, y(n)?)));
            let points = points.collect();
            Line {
                name,
                points,
                reference,
            }
        };
        let label = |w| match w {
            Sleep => format!("each thread sleeps {MS} ms"),
            Spin => format!("each spins on yield_now for {MS} ms"),
            Cpu => format!("each burns {MS} ms of CPU time"),
        };
        let workloads = distinct(rows.iter().map(|r| r.workload)).into_iter();
        let mut lines: Vec<Line> = workloads
            .map(|w| line(label(w), false, &|n| median_ms(rows, w, n)))
            .collect();
        let sharing = format!("perfect sharing of {cpus} CPUs: {MS} ms x max(1, n / {cpus})");
        lines.push(line(sharing, true, &|n| Some(cpu_bound_ms(n, cpus))));
        let (x, label) = (cpus as f64, format!("{cpus} CPUs"));
        let title = "Time to start n threads at once and join them all";
        let x_axis = "threads started at once (n)";
        let axes = (x_axis, "milliseconds, start to last join");
        plot::lines(path, title, axes, &lines, &[Marker { x, label }])
    }

    fn summary(rows: &[CurveRow]) -> String {
        let counts = distinct(rows.iter().map(|r| r.threads));
        let cpus = rows.first().map_or(1, |r| r.cpus);
        let repetitions = distinct(rows.iter().map(|r| r.repetition)).len();
        let mut out = format!(
            "## 5b. The cost of n threads\n\nn threads started at once, each sleeping, \
             spinning on `yield_now` or burning {MS} ms of CPU time; ms to the last join, \
             median of {repetitions} repetitions; {cpus} CPUs; `cpu bound`: {MS} ms x max(1, \
             n / CPUs).\n\n| n | sleep | spin | cpu | cpu bound |\n|---:|---:|---:|---:|---:|\n"
        );
        for n in counts {
            let cell = |w| median_ms(rows, w, n).map_or("-".into(), |v| format!("{v:.1}"));
            let cells = [Sleep, Spin, Cpu].map(cell);
            let bound = cpu_bound_ms(n, cpus);
            out.push_str(&format!("| {n} | {} | {bound:.0} |\n", cells.join(" | ")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{cpu_bound_ms, sweep, Curves, Experiment, Spawn, Spin};

    #[test]
    fn tiny_runs_are_measured_and_summarised() {
        let mut ctx = crate::harness::Ctx::quick(None);
        ctx.flags.rounds = Some(1);
        let rows = Spawn::run(&ctx).expect("spawning");
        assert!(rows.len() == 4 && rows.iter().all(|r| r.us_per_thread > 0.0));
        assert!(Spawn::summary(&rows).contains("| scope(1 thread), pinned |"));
        ctx.flags.variants = vec!["cpu".into(), "sleep".into()];
        let rows = sweep(&ctx, &[1, 3]).expect("sweeping");
        assert!(rows.iter().all(|r| r.seconds >= 0.02), "{rows:?}");
        assert!(rows.len() == 4 && rows.iter().all(|r| r.workload != Spin));
        assert!(Curves::summary(&rows).contains("| 3 | "));
        let bounds = [1, 2, 3, 500].map(|n| cpu_bound_ms(n, 2));
        assert_eq!(bounds, [20.0, 20.0, 30.0, 5000.0]);
    }
}
