//! Sleepers (section 9): where threads stop scaling. n sleepers of 20 ms
//! (n = 1,000, 10,000, 100,000; quick: the first two) as `threads` (64 KiB
//! stacks, gated until all have started), `tasks` (tokio, current-thread
//! runtime) and `pool` (a `ptm::ThreadPool` of 100 workers); wall time from
//! the first start to the last join. Each (variant, n) runs in a fresh
//! process, partner `sleepers VARIANT N`, which reports its peak RSS
//! (`VmHWM`) and what it held before; the order rotates per (repetition,
//! n). Threads stop before `vm.max_map_count` (4 mappings each) and
//! `kernel.pid_max` less 4,096, and the row says why; a full run then
//! probes (partner `thread-limit`) where a start fails.
//! `report --only sleepers --rounds 3`

use std::fs;
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::harness::{distinct, name, rotated, say, Ctx, Experiment, Size};
use crate::memory::{peak_rss_bytes, rss_bytes};
use crate::plot::{lines, thousands, Line, Marker};
use crate::stats::median;

/// A way of running n sleepers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Variant {
    #[default]
    Threads,
    Tasks,
    Pool,
}

const ALL: [Variant; 3] = [Variant::Threads, Variant::Tasks, Variant::Pool];
const LENGTH: Duration = Duration::from_millis(20);
const STACK: usize = 64 * 1024;
const WORKERS: usize = 100;
const LABELS: [&str; 3] = [
    "OS threads (64 KiB stacks)",
    "tokio tasks (current-thread runtime)",
    "ptm pool jobs (100 workers)",
];

impl Variant {
    /// Runs `n` sleepers of `length` (the pool: on `workers`). Threads that
    /// cannot start are no error: the row says why no more did.
    fn run(self, n: usize, length: Duration, workers: usize) -> anyhow::Result<Row> {
        let took = match self {
            Variant::Threads => return run_threads(n, length, false),
            Variant::Tasks => {
                let mut runtime = tokio::runtime::Builder::new_current_thread();
                let runtime = runtime.enable_time().build().context("a tokio runtime")?;
                let start = Instant::now();
                // Each sleep starts at its first poll, after the last spawn.
                runtime.block_on(async {
                    let sleep = || tokio::spawn(tokio::time::sleep(length));
                    for task in (0..n).map(|_| sleep()).collect::<Vec<_>>() {
                        task.await.context("a sleeping task")?;
                    }
                    anyhow::Ok(start.elapsed())
                })?
            }
            Variant::Pool => {
                let builder = ptm::ThreadPool::builder().workers(workers);
                let pool = builder.stack_size(STACK).build().context("the pool")?;
                let start = Instant::now();
                for _ in 0..n {
                    pool.execute(move || thread::sleep(length))?;
                }
                pool.wait_idle()?;
                let took = start.elapsed();
                let stats = pool.shutdown();
                ensure!(stats.completed == n, "{stats:?}: {n} jobs expected");
                took
            }
        };
        Ok(Row::ran(self, n, n, took.as_secs_f64(), None))
    }
}

/// Mappings per thread, mappings kept free, pids left to other programs.
const MAPS_PER_THREAD: usize = 4;
const MAPS_MARGIN: usize = 1024;
const PIDS_RESERVE: usize = 4096;

fn read_number(path: &str) -> anyhow::Result<usize> {
    let number = || -> anyhow::Result<usize> { Ok(fs::read_to_string(path)?.trim().parse()?) };
    number().with_context(|| format!("reading a number from {path}"))
}

/// How many more threads may start before the mappings (unless
/// `pids_only`) or the machine's threads come near their limit, and why.
fn thread_headroom(pids_only: bool) -> anyhow::Result<(usize, String)> {
    let max_maps = read_number("/proc/sys/vm/max_map_count")?;
    let maps = fs::read_to_string("/proc/self/maps").context("reading /proc/self/maps")?;
    let maps = maps.lines().count();
    let by_maps = max_maps.saturating_sub(maps + MAPS_MARGIN) / MAPS_PER_THREAD;
    let pid_max = read_number("/proc/sys/kernel/pid_max")?;
    let most = pid_max.min(read_number("/proc/sys/kernel/threads-max")?);
    let loadavg = fs::read_to_string("/proc/loadavg").context("reading /proc/loadavg")?;
    // "1.0 0.9 0.8 running/total 1234": total scheduling entities (threads).
    let total = loadavg.split([' ', '/']).nth(4);
    let tasks = total.and_then(|t| t.parse::<usize>().ok());
    let tasks = tasks.context("/proc/loadavg")?;
    let by_pids = most.saturating_sub(tasks + PIDS_RESERVE);
    let by_maps_first = by_maps <= by_pids && !pids_only;
    let why = if by_maps_first {
        format!(
            "the process had {maps} of the {max_maps} memory mappings vm.max_map_count \
             allows, {MAPS_PER_THREAD} a thread (stack, signal stack, their guard pages), \
             {MAPS_MARGIN} kept free"
        )
    } else {
        format!(
            "the machine ran {tasks} of the {most} threads kernel.pid_max and \
             kernel.threads-max allow, {PIDS_RESERVE} left to other programs"
        )
    };
    Ok((if by_maps_first { by_maps } else { by_pids }, why))
}

/// Up to `n` gated threads, to a limit or a failed start; a `probe` says
/// on stdout `N` (started so far) now and then and `N ERROR` at a failure.
fn run_threads(n: usize, length: Duration, probe: bool) -> anyhow::Result<Row> {
    let gate = Arc::new(RwLock::new(()));
    let closed = gate.write().map_err(|_| anyhow!("a poisoned gate"))?;
    let mut threads = Vec::with_capacity(n.min(1 << 20));
    let (mut limit, mut why, mut error) = (0, String::new(), None);
    let start = Instant::now();
    for i in 0..n {
        // Counted at the first thread and every 4,096 after, not assumed.
        if i % 4096 == 0 {
            (limit, why) = thread_headroom(probe)?;
            limit += i;
            if probe {
                say(&i.to_string())?;
            }
        }
        if i >= limit {
            error = Some(format!("stopped at {i}: {why}"));
            break;
        }
        let gate = Arc::clone(&gate);
        let spawned = thread::Builder::new().stack_size(STACK).spawn(move || {
            drop(gate.read());
            thread::sleep(length);
        });
        match spawned {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                let failed = format!("starting thread {} failed: {e}", i + 1);
                if probe {
                    say(&format!("{i} {failed}"))?;
                }
                error = Some(failed);
                break;
            }
        }
    }
    drop(closed);
    let started = threads.len();
    for thread in threads {
        thread.join().map_err(|_| anyhow!("a thread panicked"))?;
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(Row::ran(Variant::Threads, n, started, seconds, error))
}

/// The `limit` row from what the probe printed (lines `N` or `N ERROR`)
/// and, if it did not end by itself, how it ended.
fn read_probe(output: &Output) -> anyhow::Result<Row> {
    let (mut row, mut errors) = (Row::default(), Vec::new());
    let mut started = None;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let (count, text) = line.split_once(' ').unwrap_or((line, ""));
        started = count.parse().ok().or(started);
        if !text.is_empty() && !errors.iter().any(|e| e == text) {
            errors.push(text.to_owned());
        }
    }
    (row.kind, row.started) = (Kind::Limit, started.context("the probe printed nothing")?);
    if !output.status.success() {
        // The first line of a panic or abort message says what failed.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let failing = |l: &&str| l.contains("failed") || l.contains("error");
        let (status, why) = (output.status, stderr.lines().find(failing).unwrap_or(""));
        errors.push(format!("then the process ended with {status}: {why}"));
    }
    row.error = Some(errors.join("; "));
    Ok(row)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    #[default]
    Run,
    Limit,
}

/// A line of the CSV: a (variant, n) in a fresh process (its peak and
/// starting RSS), or the probe's `limit` (threads started, the error).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Row {
    kind: Kind,
    sleepers: Variant,
    n: Option<usize>,
    repetition: Option<usize>,
    position: Option<usize>,
    started: usize,
    seconds: Option<f64>,
    peak_bytes: Option<u64>,
    base_bytes: Option<u64>,
    error: Option<String>,
}

impl Row {
    fn ran(v: Variant, n: usize, started: usize, seconds: f64, error: Option<String>) -> Row {
        let mut row = Row::default();
        (row.sleepers, row.n, row.started) = (v, Some(n), started);
        (row.seconds, row.error) = (Some(seconds), error);
        row
    }
}

/// Partner `sleepers VARIANT N`: prints its row as a CSV line.
fn sleep_here(args: &[String]) -> anyhow::Result<()> {
    let [v, n] = args else { bail!("{args:?}") };
    let variant = <Variant as ValueEnum>::from_str(v, false).map_err(|e| anyhow!(e))?;
    let n = n.parse().with_context(|| format!("a count: {n:?}"))?;
    let base = rss_bytes()?;
    let mut row = variant.run(n, LENGTH, WORKERS)?;
    (row.peak_bytes, row.base_bytes) = (Some(peak_rss_bytes()?), Some(base));
    let mut out = csv::WriterBuilder::new();
    let mut out = out.has_headers(false).from_writer(std::io::stdout().lock());
    out.serialize(row)?;
    Ok(out.flush()?)
}

fn in_fresh_process(ctx: &Ctx, variant: Variant, n: usize) -> anyhow::Result<Row> {
    let mut partner = ctx.partner("sleepers", &[&name(&variant), &n.to_string()]);
    let output = partner.stdin(Stdio::null()).output()?;
    let (status, stderr) = (output.status, String::from_utf8_lossy(&output.stderr));
    ensure!(status.success(), "{status}: {}", stderr.trim());
    let mut reader = csv::ReaderBuilder::new();
    let reader = reader.has_headers(false).from_reader(&output.stdout[..]);
    let row = reader.into_deserialize().last();
    row.context("it printed no row")?.context("its row")
}

fn runs(rows: &[Row], v: Variant, n: usize) -> impl Iterator<Item = &Row> {
    // The limit row has no n.
    rows.iter()
        .filter(move |r| r.sleepers == v && r.n == Some(n))
}

fn median_ms(rows: &[Row], v: Variant, n: usize) -> Option<f64> {
    median(runs(rows, v, n).filter_map(|r| Some(r.seconds? * 1e3)))
}

/// The run of `v` at `n` that started the fewest.
fn fewest(rows: &[Row], v: Variant, n: usize) -> Option<&Row> {
    runs(rows, v, n).min_by_key(|r| r.started)
}

fn counts(rows: &[Row]) -> Vec<usize> {
    let mut counts = distinct(rows.iter().filter_map(|r| r.n));
    counts.sort_unstable();
    counts
}

fn mib(bytes: impl IntoIterator<Item = Option<u64>>) -> String {
    let median = median(bytes.into_iter().flatten().map(|b| b as f64));
    median.map_or("-".to_owned(), |b| format!("{:.1}", b / 1048576.0))
}

/// The experiment.
#[derive(Debug)]
pub(crate) struct Sleepers;

impl Experiment for Sleepers {
    const NAME: &'static str = "sleepers";
    const STEM: &'static str = "sleepers";
    const LABEL: &'static str = "sleepers";
    type Row = Row;

    fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
        let variants = ctx.variants(&ALL)?;
        let counts = ctx.pick(vec![1_000, 10_000, 100_000], vec![1_000, 10_000]);
        let repetitions = ctx.rounds(3, 1);
        let probe_limit = ctx.size == Size::Full && variants.contains(&Variant::Threads);
        let steps = repetitions * counts.len() * variants.len() + usize::from(probe_limit);
        ctx.bar.inc_length(steps as u64);
        let mut rows = Vec::new();
        for repetition in 0..repetitions {
            for (i, &n) in counts.iter().enumerate() {
                for position in 0..variants.len() {
                    let v = variants[rotated(repetition + i, position, variants.len())];
                    ctx.bar.set_message(format!("{n} {}", name(&v)));
                    let mut row = in_fresh_process(ctx, v, n).context(format!("{n} {v:?}"))?;
                    (row.repetition, row.position) = (Some(repetition), Some(position));
                    rows.push(row);
                    ctx.bar.inc(1);
                }
            }
        }
        if probe_limit {
            ctx.bar.set_message("threads until one fails");
            let mut probe = ctx.partner("thread-limit", &[]);
            rows.push(read_probe(&probe.stdin(Stdio::null()).output()?)?);
            ctx.bar.inc(1);
        }
        Ok(rows)
    }

    fn plot(rows: &[Row], path: &Path) -> anyhow::Result<()> {
        let (ms, counts) = (LENGTH.as_millis(), counts(rows));
        let ideal = |n: usize| n as f64 * LENGTH.as_secs_f64() * 1e3 / WORKERS as f64;
        // x: the sleepers that ran, for threads maybe fewer than n.
        let point = |v, n| Some((fewest(rows, v, n)?.started as f64, median_ms(rows, v, n)?));
        let curve = |v: Variant| Line {
            name: LABELS[v as usize].to_owned(),
            points: counts.iter().filter_map(|&n| point(v, n)).collect(),
            reference: false,
        };
        let mut curves = Vec::from(ALL.map(curve));
        curves.retain(|c| !c.points.is_empty());
        curves.push(Line {
            name: format!("n x {ms} ms / {WORKERS} workers"),
            points: counts.iter().map(|&n| (n as f64, ideal(n))).collect(),
            reference: true,
        });
        let stop = |&n: &usize| fewest(rows, Variant::Threads, n).filter(|r| r.started < n);
        let marker = |r: &Row| Marker {
            x: r.started as f64,
            label: format!("threads stop at {}", thousands(r.started)),
        };
        let markers = Vec::from_iter(counts.iter().find_map(stop).map(marker));
        let title = format!("n sleepers of {ms} ms each, started at once");
        let x = "sleepers that ran (n)";
        let y = "milliseconds, first start to last join";
        lines(path, &title, (x, y), &curves, &markers)
    }

    fn summary(rows: &[Row]) -> String {
        let repetitions = distinct(rows.iter().filter_map(|r| r.repetition)).len();
        let mut out = format!(
            "## 9. Sleepers: where threads stop scaling\n\nn sleepers of {} ms each, started at \
             once: OS threads ({} KiB stacks), tokio tasks (current-thread runtime), jobs on a \
             ptm pool of {WORKERS} workers; each (variant, n) in a fresh process, median of \
             {repetitions} repetitions. Milliseconds from the first start to the last join; \
             peak RSS (`VmHWM`) in MiB.\n\n\
             | n | threads ms | tasks ms | pool ms | threads MiB | tasks MiB | pool MiB |\n\
             |---:|---:|---:|---:|---:|---:|---:|\n",
            LENGTH.as_millis(),
            STACK / 1024,
        );
        for n in counts(rows) {
            let time = |v| median_ms(rows, v, n).map_or("-".to_owned(), |m| format!("{m:.1}"));
            let peak = |v| mib(runs(rows, v, n).map(|r| r.peak_bytes));
            let cells: Vec<String> = ALL.map(time).into_iter().chain(ALL.map(peak)).collect();
            out.push_str(&format!("| {n} | {} |\n", cells.join(" | ")));
        }
        let base = mib(rows.iter().map(|r| r.base_bytes));
        out.push_str(&format!(
            "\nEach process held {base} MiB before it started.\n"
        ));
        for (n, v) in counts(rows).into_iter().flat_map(|n| ALL.map(|v| (n, v))) {
            if let Some(r) = fewest(rows, v, n).filter(|r| r.error.is_some()) {
                let (v, started, why) = (name(&v), r.started, r.error.as_deref().unwrap_or(""));
                out.push_str(&format!("\n- {n} {v}: {started} ran; {why}\n"));
            }
        }
        for r in rows.iter().filter(|r| r.kind == Kind::Limit) {
            let (started, why) = (r.started, r.error.as_deref().unwrap_or(""));
            out.push_str(&format!("\nThreads until one failed: {started}; {why}\n"));
        }
        out
    }

    fn partner(role: &str, args: &[String]) -> Option<anyhow::Result<()>> {
        match role {
            "sleepers" => Some(sleep_here(args)),
            // Up to 1,000,000 threads, past the mappings' headroom, until a
            // start fails or the pids would run short; the process may not
            // survive the limit (the parent reads how it ended).
            "thread-limit" => Some(run_threads(1_000_000, LENGTH, true).and_then(|row| {
                let (started, error) = (row.started, row.error.unwrap_or_default());
                say(&format!("{started} {error}"))
            })),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{read_probe, Kind, Row, Sleepers, Variant, ALL};
    use crate::harness::{load, save, Experiment};
    use std::os::unix::process::ExitStatusExt;
    use std::process::{ExitStatus, Output};
    use std::time::Duration;

    #[test]
    fn every_variant_runs_every_sleeper_and_the_pool_takes_turns() {
        let run = |v: Variant, n| v.run(n, Duration::from_millis(2), 4).expect("running");
        let rows: Vec<Row> = ALL
            .into_iter()
            .flat_map(|v| [10, 40].map(|n| run(v, n)))
            .collect();
        for r in &rows {
            assert_eq!((Some(r.started), &r.error), (r.n, &None), "{r:?}");
            assert!(r.seconds >= Some(0.002), "{r:?}");
        }
        // 40 jobs of 2 ms on 4 workers: at least 10 turns of 2 ms.
        assert!(rows[5].sleepers == Variant::Pool && rows[5].seconds >= Some(0.020));
        assert!(Sleepers::summary(&rows).contains("| 40 |"));
        let dir = tempfile::tempdir().expect("a temporary directory");
        Sleepers::plot(&rows, &dir.path().join("s.svg")).expect("plotting");
        let csv = dir.path().join("s.csv");
        save(&csv, &rows).expect("saving");
        assert_eq!(load::<Row>(&csv).expect("loading"), rows);
    }

    #[test]
    fn the_probe_reads_a_failure_and_an_abort() {
        let failed = "starting thread 16369 failed: Resource temporarily unavailable";
        let stdout = format!("0\n4096\n16368 {failed}\n").into_bytes();
        let stderr = b"\nthread panicked at x.rs:\nfailed to allocate a stack\n".to_vec();
        let output = |stdout, stderr| Output {
            status: ExitStatus::from_raw(6),
            stdout,
            stderr,
        };
        let limit = read_probe(&output(stdout, stderr)).expect("read"); // SIGABRT
        assert_eq!((limit.kind, limit.started), (Kind::Limit, 16368));
        let ended = "then the process ended with signal: 6 (SIGABRT): failed to allocate a stack";
        assert_eq!(limit.error, Some(format!("{failed}; {ended}")));
        assert!(read_probe(&output(Vec::new(), Vec::new())).is_err());
    }
}
