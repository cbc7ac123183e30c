//! The experiments `report` runs, one module each: a `Config` with `full()`
//! and `quick()` sizes, a `run` function that measures and returns rows, and
//! an outcome type implementing [`Outcome`] (CSV table, SVG plot, Markdown
//! summary, checks against the issues' targets).
//!
//! Every comparison runs all its variants in the same process, interleaved
//! round by round in an order rotated by one place per round: this machine's
//! speed changes from one process to the next (up to 3x), so only
//! same-process ratios mean anything.
//!
//! | module | issue 5 item | what it measures |
//! |---|---|---|
//! | [`pool`] | 1 | jobs/s of no-op jobs through each pool design, 2/4/8 workers |
//! | [`latency`] | 2 | submit-to-start latency of one job on an idle pool |
//! | [`channels`] | 3 | u64 messages/s through std and crossbeam channels, 1->1 and 2->1 |
//! | [`roundtrip`] | 4 | ping-pong round trips between threads and between processes |
//! | [`threads`] | 5 | spawn + join, `thread::scope`; the seed's n-thread curves |
//! | [`processes`] | 6 | spawn + wait of `/bin/true` |
//! | [`pipes`] | 7 | bytes/s through `cat` with `communicate` vs std vs a raw pipe |

use std::path::Path;

use crate::csv::Table;
use crate::verdict::Check;

pub mod channels;
pub mod latency;
pub mod pipes;
pub mod pool;
pub mod processes;
pub mod roundtrip;
pub mod threads;

/// The two sizes of every experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// The issue's sizes: minutes in all.
    Full,
    /// Reduced sizes for CI and a first look: well under two minutes in all.
    Quick,
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

    /// Its checks against the issues' targets (none by default).
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
