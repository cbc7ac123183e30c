//! Summaries of repeated measurements, shared by the experiment binaries and
//! `report`: [`Summary`] (median, min, max) of repeated runs, [`Percentiles`]
//! of a latency distribution recorded in an [`hdrhistogram`], and the ratio
//! helpers that same-process comparisons are made of.

use hdrhistogram::Histogram;

/// Median, min and max of one variant's measurements (rates or times).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The median (the mean of the two middle values for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

/// Summarises `values`; `None` when there are none.
///
/// ```
/// use ptm_benches::stats::summarize;
///
/// let s = summarize(vec![3.0, 1.0, 2.0, 10.0]).expect("four values");
/// assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 10.0));
/// assert!(summarize(Vec::new()).is_none());
/// ```
pub fn summarize(mut values: Vec<f64>) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    Some(Summary {
        median,
        min: values[0],
        max: values[n - 1],
    })
}

/// The median of `values`; `None` when there are none.
///
/// ```
/// assert_eq!(ptm_benches::stats::median(vec![4.0, 1.0, 3.0]), Some(3.0));
/// ```
pub fn median(values: Vec<f64>) -> Option<f64> {
    summarize(values).map(|s| s.median)
}

/// `numerator / denominator` when both are finite and positive (a rate or
/// a time that was measured), else `None`.
///
/// ```
/// use ptm_benches::stats::ratio;
///
/// assert_eq!(ratio(3.0, 2.0), Some(1.5));
/// assert_eq!(ratio(3.0, 0.0), None);
/// ```
pub fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    let valid = |x: f64| x.is_finite() && x > 0.0;
    (valid(numerator) && valid(denominator)).then(|| numerator / denominator)
}

/// A histogram for latencies in nanoseconds, from 1 ns to 100 s at 3
/// significant digits (0.1% resolution).
///
/// # Panics
///
/// Never: the bounds are valid constants.
pub fn latency_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, 100_000_000_000, 3) {
        Ok(histogram) => histogram,
        Err(error) => unreachable!("constant histogram bounds rejected: {error}"),
    }
}

/// The percentiles reported for a latency distribution, in the histogram's
/// unit (nanoseconds in this crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Percentiles {
    /// How many values were recorded.
    pub count: u64,
    /// The median.
    pub p50: u64,
    /// The 99th percentile.
    pub p99: u64,
    /// The 99.9th percentile.
    pub p999: u64,
    /// The largest value recorded.
    pub max: u64,
}

impl Percentiles {
    /// Reads the percentiles off `histogram` (hdrhistogram's values: each
    /// is the highest value equivalent, within the histogram's precision, to
    /// the recorded value at that rank).
    ///
    /// ```
    /// use ptm_benches::stats::{latency_histogram, Percentiles};
    ///
    /// let mut h = latency_histogram();
    /// for v in 1..=1000u64 {
    ///     h.record(v).expect("in range");
    /// }
    /// let p = Percentiles::of(&h);
    /// assert_eq!((p.count, p.p50, p.p99, p.p999, p.max), (1000, 500, 990, 999, 1000));
    /// ```
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

    /// The four reported values with their names, in order: `p50`, `p99`,
    /// `p99.9`, `max`.
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

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(vec![5.0]), Some(5.0));
        assert_eq!(median(vec![1.0, 2.0, 3.0, 4.0]), Some(2.5));
        assert_eq!(median(Vec::new()), None);
        let s = summarize(vec![2.0, f64::INFINITY, 1.0]).expect("values");
        assert_eq!((s.min, s.median), (1.0, 2.0));
    }

    #[test]
    fn ratios_need_two_measured_values() {
        assert_eq!(ratio(1.0, 4.0), Some(0.25));
        assert_eq!(ratio(0.0, 4.0), None);
        assert_eq!(ratio(1.0, f64::NAN), None);
        assert_eq!(ratio(f64::INFINITY, 1.0), None);
    }

    #[test]
    fn percentiles_of_a_skewed_distribution() {
        let mut h = latency_histogram();
        // 990 fast values, 9 slow ones, one very slow.
        h.record_n(1_000, 990).expect("in range");
        h.record_n(50_000, 9).expect("in range");
        h.record(2_000_000).expect("in range");
        let p = Percentiles::of(&h);
        assert_eq!(p.count, 1000);
        assert_eq!(p.p50, 1_000);
        assert_eq!(p.p99, 1_000);
        // Within the histogram's 0.1% precision.
        assert!((50_000..=50_050).contains(&p.p999), "{}", p.p999);
        assert!((2_000_000..=2_002_000).contains(&p.max), "{}", p.max);
        assert_eq!(p.named()[2].0, "p99.9");
    }

    #[test]
    fn percentiles_of_nothing_are_zero() {
        assert_eq!(
            Percentiles::of(&latency_histogram()),
            Percentiles::default()
        );
    }
}
