//! Medians, ranges and percentiles, all from hdrhistogram: latencies are
//! recorded in nanoseconds into [`latency_histogram`]; any other values
//! (rates, seconds, ratios) go through [`summarize`], which records them
//! scaled so that the largest is about 10^12 and returns, for the bucket
//! hdrhistogram finds, the input value nearest to it: exact for odd
//! counts, the mean of two such values for even ones.
//!
//! ```
//! use ptm_benches::stats::{median, summarize};
//!
//! let s = summarize([3.0, 1.0, 2.0, f64::NAN]).expect("values");
//! assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
//! assert_eq!(median([]), None);
//! ```

use hdrhistogram::Histogram;

/// Median, min and max of some values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The median (for an even count, the mean of the two middle values).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

/// The summary of the finite, non-negative `values` (others are left
/// out); `None` if there is none.
pub fn summarize(values: impl IntoIterator<Item = f64>) -> Option<Summary> {
    let values: Vec<f64> = values
        .into_iter()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .collect();
    let largest = values.iter().copied().reduce(f64::max)?;
    let scale = if largest > 0.0 { 1e12 / largest } else { 1.0 };
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 2_000_000_000_000, 3).ok()?;
    for v in &values {
        histogram.saturating_record(((v * scale).round() as u64).max(1));
    }
    // hdrhistogram finds the bucket; the value returned is the input
    // nearest to that bucket's middle, so that a value that was measured
    // comes back exactly (a ratio at a target's bar stays at the bar).
    let back = |recorded: u64| {
        let approx = histogram.median_equivalent(recorded) as f64 / scale;
        let distance = |v: &&f64| (**v - approx).abs();
        values
            .iter()
            .min_by(|a, b| distance(a).total_cmp(&distance(b)))
            .copied()
            .unwrap_or(0.0)
    };
    // The k-th smallest recorded value (from 0).
    let nth = |k: u64| {
        let mut seen = 0;
        for bucket in histogram.iter_recorded() {
            seen += bucket.count_at_value();
            if seen > k {
                return back(bucket.value_iterated_to());
            }
        }
        back(histogram.max())
    };
    let n = histogram.len();
    Some(Summary {
        median: if n % 2 == 1 {
            nth(n / 2)
        } else {
            (nth(n / 2 - 1) + nth(n / 2)) / 2.0
        },
        min: back(histogram.min()),
        max: back(histogram.max()),
    })
}

/// The median of `values` (see [`summarize`]).
pub fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    summarize(values).map(|s| s.median)
}

/// `numerator / denominator`, if both are finite and positive.
pub fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    let valid = |x: f64| x.is_finite() && x > 0.0;
    (valid(numerator) && valid(denominator)).then(|| numerator / denominator)
}

/// A histogram for latencies in nanoseconds: 1 ns to 100 s, three
/// significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, 100_000_000_000, 3) {
        Ok(histogram) => histogram,
        Err(error) => unreachable!("constant histogram bounds rejected: {error}"),
    }
}

/// The percentiles the latency tables show, in the histogram's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// The median.
    pub p50: u64,
    /// The 99th percentile.
    pub p99: u64,
    /// The 99.9th percentile.
    pub p999: u64,
    /// The largest value.
    pub max: u64,
}

impl Percentiles {
    /// The percentiles of `histogram` (all zero if it is empty).
    pub fn of(histogram: &Histogram<u64>) -> Percentiles {
        if histogram.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: histogram.len(),
            p50: histogram.value_at_quantile(0.5),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
        }
    }

    /// `(name, value)` of p50, p99, p99.9 and max, for table columns.
    pub fn named(&self) -> [(&'static str, u64); 4] {
        [
            ("p50", self.p50),
            ("p99", self.p99),
            ("p99.9", self.p999),
            ("max", self.max),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::{latency_histogram, median, ratio, summarize, Percentiles};

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() <= b * 1e-3)
    }

    #[test]
    fn medians_to_three_digits() {
        assert!(close(median([5.0]), 5.0));
        assert!(close(median([1.0, 2.0, 3.0, 4.0]), 2.5), "the middle two");
        assert!(
            close(median([1e-7, 3e-7, 2e-7]), 2e-7),
            "small values scale up"
        );
        assert!(close(median([0.0, 0.0]), 0.0) || median([0.0, 0.0]) == Some(0.0));
        assert_eq!(median([]), None);
        // Measured values come back exactly: a ratio at a bar stays there.
        assert_eq!(median([0.8; 3]), Some(0.8));
        assert_eq!(median([1e-9, 2e-9, 1e6]), Some(2e-9));
        let s = summarize([2.0, f64::INFINITY, 1.0, 7.0]).expect("values");
        assert!(close(Some(s.min), 1.0) && close(Some(s.max), 7.0) && close(Some(s.median), 2.0));
    }

    #[test]
    fn ratios_need_two_measured_values() {
        assert_eq!(ratio(1.0, 4.0), Some(0.25));
        assert_eq!(ratio(0.0, 4.0), None);
        assert_eq!(ratio(1.0, f64::NAN), None);
    }

    #[test]
    fn percentiles_of_a_skewed_distribution() {
        let mut h = latency_histogram();
        h.record_n(1_000, 990).expect("in range");
        h.record_n(50_000, 9).expect("in range");
        h.record(2_000_000).expect("in range");
        let p = Percentiles::of(&h);
        assert_eq!((p.count, p.p50, p.p99), (1000, 1_000, 1_000));
        assert!((50_000..=50_050).contains(&p.p999), "{}", p.p999);
        assert_eq!(
            Percentiles::of(&latency_histogram()),
            Percentiles::default()
        );
    }
}
