//! The experiments `report` runs, one module each: a `Config` with `full()`
//! and `quick()` sizes, a `run` function that measures and returns rows, and
//! an outcome type implementing [`Outcome`] (CSV table, SVG plot, Markdown
//! summary, checks against the targets in `benches/RESULTS.md`). Each
//! outcome type can also be read back from its CSV (`from_table`), which
//! [`read_back`] does for `report --replot`: the plots are redrawn from
//! measured rows without measuring again.
//!
//! Every comparison runs all its variants in the same process, interleaved
//! round by round in an order rotated by one place per round: this machine's
//! speed changes from one process to the next (up to 3x), so only
//! same-process ratios mean anything.
//!
//! | module | section | what it measures |
//! |---|---|---|
//! | [`pool`] | 1 | jobs/s of no-op jobs through each pool design, 2/4/8 workers; like for like |
//! | [`scope`] | 1 | scoped jobs that borrow, and fork-join: ptm, rayon, std |
//! | [`latency`] | 2 | submit-to-start latency of one job on an idle pool |
//! | [`channels`] | 3 | u64 messages/s through std and crossbeam channels, 1->1 and 2->1 |
//! | [`roundtrip`] | 4 | ping-pong round trips between threads and between processes |
//! | [`threads`] | 5 | spawn + join, `thread::scope`; n threads that sleep, spin or compute |
//! | [`processes`] | 6 | spawn + wait of `/bin/true` |
//! | [`pipes`] | 7 | bytes/s through `cat` with `communicate` vs std vs a raw pipe |
//! | [`isolation`] | 8 | the isolation ladder: start one, talk to one, memory of 1,000 |
//! | [`sleepers`] | 9 | 1,000 to 100,000 sleepers: threads, tokio tasks, pool jobs |

use std::fmt::Display;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::str::FromStr;

use anyhow::{anyhow, ensure, Context};
use indicatif::ProgressBar;

use crate::csv::Table;
use crate::verdict::Check;

pub mod channels;
pub mod isolation;
pub mod latency;
pub mod legacy;
pub mod pipes;
pub mod pool;
pub mod processes;
pub mod roundtrip;
pub mod scope;
pub mod sleepers;
pub mod threads;

pub use crate::harness::Size;

use crate::harness::{entry, Entry};
use legacy::Legacy;

/// Every experiment, in the order `report` runs them.
pub fn all() -> Vec<&'static dyn Entry> {
    vec![
        &Legacy::Pool,
        &Legacy::LikeForLike,
        &Legacy::Scope,
        &Legacy::Latency,
        &Legacy::Channels,
        &Legacy::Roundtrip,
        &Legacy::Spawn,
        &Legacy::Curves,
        &Legacy::Processes,
        entry::<pipes::Pipes>(),
        entry::<isolation::Isolation>(),
        &Legacy::Sleepers,
    ]
}

/// What an experiment hands to `report`.
pub trait Outcome {
    /// The file stem of its CSV and SVG, e.g. `pool_dispatch`.
    fn name(&self) -> &'static str;

    /// Every measured row, for the CSV.
    fn table(&self) -> Table;

    /// Draws its plot as SVG at `path`.
    ///
    /// # Errors
    ///
    /// If there is nothing to draw or the file cannot be written.
    fn plot(&self, path: &Path) -> anyhow::Result<()>;

    /// A Markdown section (from a `##` heading) with its medians or
    /// percentiles and its ratios.
    fn summary(&self) -> String;

    /// Its checks against the targets of `benches/RESULTS.md` (none by
    /// default).
    fn checks(&self) -> Vec<Check> {
        Vec::new()
    }
}

/// The index of the variant that runs at `position` in round `round` when
/// `count` variants rotate by one place per round.
///
/// ```
/// use ptm_benches::experiments::rotated;
///
/// let order: Vec<usize> = (0..3).map(|p| rotated(1, p, 3)).collect();
/// assert_eq!(order, [1, 2, 0]);
/// ```
pub fn rotated(round: usize, position: usize, count: usize) -> usize {
    (round + position) % count.max(1)
}

/// The ratios `a / b` of values measured in the same round, one per round
/// that measured both (inputs are `(round, value)` pairs).
///
/// ```
/// use ptm_benches::experiments::per_round_ratios;
///
/// let a = [(0, 2.0), (1, 3.0), (2, 9.0)];
/// let b = [(1, 1.5), (0, 1.0)];
/// assert_eq!(per_round_ratios(&a, &b), [2.0, 2.0]);
/// ```
pub fn per_round_ratios(a: &[(usize, f64)], b: &[(usize, f64)]) -> Vec<f64> {
    a.iter()
        .filter_map(|&(round, x)| {
            let &(_, y) = b.iter().find(|&&(r, _)| r == round)?;
            crate::stats::ratio(x, y)
        })
        .collect()
}

/// For each invocation that has rows `value` selects (`Some`), the median
/// of those values: `(invocation, median)` pairs in invocation order, ready
/// for [`per_round_ratios`] (each ratio then compares two medians of one
/// process).
///
/// ```
/// use ptm_benches::experiments::medians_by_invocation;
///
/// // (invocation, variant, jobs/s)
/// let rows = [(0, 'a', 3.0), (0, 'a', 5.0), (0, 'b', 1.0), (1, 'a', 9.0)];
/// let a = medians_by_invocation(&rows, |r| r.0, |r| (r.1 == 'a').then_some(r.2));
/// assert_eq!(a, [(0, 4.0), (1, 9.0)]);
/// ```
pub fn medians_by_invocation<R>(
    rows: &[R],
    invocation: impl Fn(&R) -> usize,
    value: impl Fn(&R) -> Option<f64>,
) -> Vec<(usize, f64)> {
    let mut invocations = distinct(rows.iter().map(&invocation));
    invocations.sort_unstable();
    invocations
        .into_iter()
        .filter_map(|i| {
            let values: Vec<f64> = rows
                .iter()
                .filter(|r| invocation(r) == i)
                .filter_map(&value)
                .collect();
            crate::stats::median(values).map(|m| (i, m))
        })
        .collect()
}

/// The last two cells of a ratio table's row: each ratio, then their
/// median in bold ("0.85 1.50 | **1.18**"); `None` without ratios.
pub(crate) fn ratio_cells(ratios: &[f64]) -> Option<String> {
    let median = crate::stats::median(ratios.to_vec())?;
    let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    Some(format!("{} | **{median:.2}**", each.join(" ")))
}

/// The rows of an experiment measured in `invocations` separate processes:
/// each made by `child(invocation)`, whose stdout must carry one row per
/// line (which `parse` reads), or, with `child == None`, each run in this
/// process by `in_process(invocation)`, one after the other. `bar` advances
/// by one per row read from a child (`in_process` advances it itself).
///
/// # Errors
///
/// If a child cannot be started, prints a line `parse` rejects, or exits
/// unsuccessfully; or an in-process invocation fails.
pub(crate) fn rows_of_invocations<R>(
    invocations: usize,
    child: Option<&dyn Fn(usize) -> Command>,
    parse: impl Fn(&str) -> anyhow::Result<R>,
    mut in_process: impl FnMut(usize) -> anyhow::Result<Vec<R>>,
    bar: &ProgressBar,
) -> anyhow::Result<Vec<R>> {
    let mut rows = Vec::new();
    for invocation in 0..invocations {
        let Some(make) = child else {
            rows.extend(in_process(invocation)?);
            continue;
        };
        let mut command = make(invocation);
        command.stdout(Stdio::piped()).stdin(Stdio::null());
        let mut process = command
            .spawn()
            .with_context(|| format!("starting invocation {invocation}: {command:?}"))?;
        let stdout = process.stdout.take().context("the child's stdout")?;
        let mut parsed = Ok(());
        for line in BufReader::new(stdout).lines() {
            let line = line.context("reading the child's rows")?;
            match parse(&line) {
                Ok(row) => {
                    rows.push(row);
                    bar.inc(1);
                }
                Err(error) => parsed = Err(error.context(format!("child printed {line:?}"))),
            }
        }
        let status = process.wait().context("waiting for the child")?;
        ensure!(status.success(), "invocation {invocation} failed: {status}");
        parsed?;
    }
    Ok(rows)
}

/// Prints `fields` as one CSV line on stdout and flushes it: how a child
/// invocation hands a row to the parent, which reads it with the
/// experiment's `Row::parse`.
///
/// # Errors
///
/// If stdout cannot be written.
pub fn print_row(fields: &[String]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", fields.join(","))?;
    out.flush()?;
    Ok(())
}

/// The outcome whose CSV file stem is `stem` (`pool_dispatch`,
/// `roundtrip`, ...; a stem that starts with `roundtrip` is a round-trip
/// table), read back from `table`; `None` if no experiment writes such a
/// file.
///
/// # Errors
///
/// If `table` is not that experiment's table (header or a field).
pub fn read_back(stem: &str, table: &Table) -> anyhow::Result<Option<Box<dyn Outcome>>> {
    let read = || -> anyhow::Result<Box<dyn Outcome>> {
        Ok(match stem {
            "pool_dispatch" => Box::new(pool::PoolOutcome::from_table(table)?),
            "pool_like_for_like" => Box::new(pool::LikeForLike::from_table(table)?),
            "pool_scope" => Box::new(scope::ScopeOutcome::from_table(table)?),
            "pool_latency" => Box::new(latency::LatencyOutcome::from_table(table)?),
            "channels" => Box::new(channels::ChannelsOutcome::from_table(table)?),
            "thread_spawn" => Box::new(threads::SpawnOutcome::from_table(table)?),
            "thread_curves" => Box::new(threads::CurvesOutcome::from_table(table)?),
            "processes" => Box::new(processes::ProcessesOutcome::from_table(table)?),
            "sleepers" => Box::new(sleepers::SleepersOutcome::from_table(table)?),
            _ => Box::new(roundtrip::RoundTripOutcome::from_table(table)?),
        })
    };
    let known = [
        "pool_dispatch",
        "pool_like_for_like",
        "pool_scope",
        "pool_latency",
        "channels",
        "thread_spawn",
        "thread_curves",
        "processes",
        "sleepers",
    ];
    if known.contains(&stem) || stem.starts_with("roundtrip") {
        read()
            .map(Some)
            .with_context(|| format!("reading {stem}.csv back"))
    } else {
        Ok(None)
    }
}

/// Checks that `table`'s header is `header`.
pub(crate) fn expect_header(table: &Table, header: &[&str]) -> anyhow::Result<()> {
    ensure!(
        table.header() == header,
        "columns {:?}, expected {header:?}",
        table.header()
    );
    Ok(())
}

/// Field `i` of `row` (a row under `header`), parsed.
pub(crate) fn field<T>(row: &[String], i: usize, header: &[&str]) -> anyhow::Result<T>
where
    T: FromStr,
    T::Err: Display,
{
    row[i]
        .parse()
        .map_err(|e| anyhow!("{} {:?}: {e}", header[i], row[i]))
}

/// The one of `all` whose `name` is `text`.
pub(crate) fn named<T: Copy>(
    all: &[T],
    name: fn(T) -> &'static str,
    text: &str,
) -> anyhow::Result<T> {
    all.iter()
        .copied()
        .find(|&item| name(item) == text)
        .ok_or_else(|| anyhow!("unknown name {text:?}"))
}

/// `items` without repeats, in the order they first appear.
pub(crate) fn distinct<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

/// `seconds` formatted for CSV (nanosecond resolution).
pub(crate) fn secs(seconds: f64) -> String {
    format!("{seconds:.9}")
}

#[cfg(test)]
mod tests {
    use super::rotated;

    #[test]
    fn every_variant_takes_every_place() {
        for count in 1..5 {
            for position in 0..count {
                let mut seen: Vec<usize> =
                    (0..count).map(|r| rotated(r, position, count)).collect();
                seen.sort_unstable();
                assert_eq!(seen, (0..count).collect::<Vec<_>>());
            }
        }
    }
}
