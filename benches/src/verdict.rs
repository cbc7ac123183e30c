//! The issues' performance targets and whether a run reached them.
//!
//! A [`Target`] is a bar on a same-process ratio ("ptm / rayon spawn >= 1.5",
//! "pm / status <= 1.05"); a [`Check`] holds the ratios one run measured for
//! it (one per invocation, or one per round of a single invocation) and
//! judges their median.
//!
//! ```
//! use ptm_benches::verdict::{Check, Target, Verdict};
//!
//! let target = Target::at_least("ptm / rayon-spawn jobs/s, 2 workers", 1.5);
//! let check = Check::new(target, vec![5.2, 4.6, 6.6]);
//! assert!(check.median().is_some_and(|m| (m - 5.2).abs() < 0.01));
//! assert_eq!(check.verdict(), Verdict::Met);
//! assert_eq!(Check::new(target_at_most(), vec![]).verdict(), Verdict::NotMeasured);
//! # fn target_at_most() -> Target { Target::at_most("pm / status time", 1.05) }
//! ```

use std::fmt;

use crate::stats::median;

/// Which side of the bar a ratio must be on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The ratio must be at least the bar (throughput ratios).
    AtLeast,
    /// The ratio must be at most the bar (time ratios).
    AtMost,
}

/// A bar on a same-process ratio, as an issue states it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// What is compared, e.g. "ptm / rayon-spawn jobs/s, 2 workers".
    pub what: String,
    /// The bar.
    pub bar: f64,
    /// Which side of the bar passes.
    pub direction: Direction,
}

impl Target {
    /// A ratio that must be at least `bar`.
    pub fn at_least(what: impl Into<String>, bar: f64) -> Target {
        Target {
            what: what.into(),
            bar,
            direction: Direction::AtLeast,
        }
    }

    /// A ratio that must be at most `bar`.
    pub fn at_most(what: impl Into<String>, bar: f64) -> Target {
        Target {
            what: what.into(),
            bar,
            direction: Direction::AtMost,
        }
    }

    /// Whether `value` is on the passing side of the bar (the bar itself
    /// passes).
    pub fn passes(&self, value: f64) -> bool {
        match self.direction {
            Direction::AtLeast => value >= self.bar,
            Direction::AtMost => value <= self.bar,
        }
    }

    /// The bar as the issues write it: ">= 1.50" or "<= 1.05".
    pub fn bar_text(&self) -> String {
        match self.direction {
            Direction::AtLeast => format!(">= {:.2}", self.bar),
            Direction::AtMost => format!("<= {:.2}", self.bar),
        }
    }
}

/// Whether a run reached a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The median ratio is on the passing side of the bar.
    Met,
    /// The median ratio is on the failing side.
    NotMet,
    /// Nothing was measured (the experiment was skipped or failed).
    NotMeasured,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Verdict::Met => "met",
            Verdict::NotMet => "NOT met",
            Verdict::NotMeasured => "not measured",
        })
    }
}

/// A target and the same-process ratios measured for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The target.
    pub target: Target,
    /// The ratios, each taken within one process.
    pub ratios: Vec<f64>,
    /// What each ratio covers: "invocation" (each a ratio of one
    /// process's medians) or "round" (each from one round, where the two
    /// variants ran back to back).
    pub basis: &'static str,
}

impl Check {
    /// A check of `target` against ratios taken one per invocation.
    pub fn new(target: Target, ratios: Vec<f64>) -> Check {
        Check {
            target,
            ratios,
            basis: "invocation",
        }
    }

    /// The same check with ratios taken on another basis (e.g. "round").
    pub fn per(mut self, basis: &'static str) -> Check {
        self.basis = basis;
        self
    }

    /// The median of the ratios.
    pub fn median(&self) -> Option<f64> {
        median(self.ratios.clone())
    }

    /// The verdict on the median.
    pub fn verdict(&self) -> Verdict {
        match self.median() {
            None => Verdict::NotMeasured,
            Some(value) if self.target.passes(value) => Verdict::Met,
            Some(_) => Verdict::NotMet,
        }
    }

    /// How many of the single ratios pass on their own.
    pub fn passing(&self) -> usize {
        self.ratios
            .iter()
            .filter(|&&r| self.target.passes(r))
            .count()
    }

    /// One Markdown table row: what, the ratios and their basis, their
    /// median, the bar, the verdict, and how many single ratios passed.
    pub fn markdown_row(&self) -> String {
        let ratios = self
            .ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(" ");
        let median = self
            .median()
            .map_or_else(|| "-".to_owned(), |m| format!("**{m:.2}**"));
        format!(
            "| {} | {} (per {}) | {} | {} | {} ({}/{}) |",
            self.target.what,
            ratios,
            self.basis,
            median,
            self.target.bar_text(),
            self.verdict(),
            self.passing(),
            self.ratios.len()
        )
    }

    /// The header of the table [`markdown_row`](Self::markdown_row) rows
    /// belong to.
    pub fn markdown_header() -> &'static str {
        "| same-process ratio | ratios | median | target | verdict (single ratios passing) |\n\
         |---|---|---:|---:|---|"
    }
}

#[cfg(test)]
mod tests {
    use super::{Check, Target, Verdict};

    #[test]
    fn the_bar_itself_passes() {
        let at_bar = Check::new(Target::at_least("x", 0.8), vec![0.8; 3]);
        assert_eq!(at_bar.verdict(), Verdict::Met, "{:?}", at_bar.median());
        assert!(Target::at_least("x", 1.2).passes(1.2));
        assert!(Target::at_most("x", 1.05).passes(1.05));
        assert!(!Target::at_least("x", 1.2).passes(1.19));
        assert!(!Target::at_most("x", 1.05).passes(1.06));
    }

    #[test]
    fn the_median_decides_not_the_best_run() {
        let check = Check::new(Target::at_least("ptm / book", 1.2), vec![1.3, 1.1, 1.15]);
        assert!(check.median().is_some_and(|m| (m - 1.15).abs() < 2e-3));
        assert_eq!(check.verdict(), Verdict::NotMet);
        assert_eq!(check.passing(), 1);
        let check = Check::new(Target::at_most("pm / status", 1.05), vec![0.98, 1.2]);
        assert_eq!(check.verdict(), Verdict::NotMet, "median 1.09");
    }

    #[test]
    fn nothing_measured_is_its_own_verdict() {
        let check = Check::new(Target::at_least("x", 1.0), Vec::new());
        assert_eq!(check.verdict(), Verdict::NotMeasured);
        assert!(check.markdown_row().contains("| - |"));
    }

    #[test]
    fn markdown_row_lists_everything() {
        let check = Check::new(Target::at_least("ptm / std", 1.2), vec![1.5, 1.3]).per("round");
        assert_eq!(
            check.markdown_row(),
            "| ptm / std | 1.50 1.30 (per round) | **1.40** | >= 1.20 | met (2/2) |"
        );
        assert_eq!(Verdict::NotMet.to_string(), "NOT met");
    }
}
