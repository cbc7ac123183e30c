//! Summaries of repeated measurements, shared by the experiment binaries.

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
