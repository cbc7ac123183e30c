//! # Reading a `cost` curve: where does it stop being flat?
//!
//! Part of the `cost` demo (`cargo run -p examples-threads -- cost`):
//! instead of eyeballing a table of hundreds of rows, state a rule and
//! compute the verdict from the data.
//!
//! The rule: a curve of (n threads, ms) has a knee where it leaves the flat
//! band (1.5x the time of its first row) for good: every later row stays
//! above the band, so one noisy spike that comes back down is not a knee.
//! From the last flat row on, its growth in ms per thread is the
//! least-squares slope over the remaining rows. If each thread needs
//! `cpu_ms` of CPU, each extra thread adds `cpu_ms` shared by the threads
//! that run at once, so `cpu_ms / slope` threads ran at a time: compare with
//! the number of cores. A curve that leaves the band but does not keep
//! rising (a spike that comes back, a slope <= 0, or a rise smaller than the
//! band itself) gets no verdict: "no clear knee (noisy)"; measure again on a
//! quieter machine.

/// The rule's factor: a time above `FLAT_BAND` x the first time is no longer flat.
pub const FLAT_BAND: f64 = 1.5;

/// What the rule finds in a curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// Every row stays within the flat band (or there are fewer than two rows).
    Flat,
    /// Rows leave the band, but the curve does not keep rising after a knee.
    Noisy,
    /// Flat up to n = `at`, then grows `per` ms per thread (least squares, `per > 0`).
    Knee { at: u32, per: f64 },
}

/// Least-squares slope of `points` (ms per thread); `None` with fewer than two distinct n.
fn slope(points: &[(u32, f64)]) -> Option<f64> {
    let len = points.len() as f64;
    let mean_n = points.iter().map(|&(n, _)| f64::from(n)).sum::<f64>() / len;
    let mean_ms = points.iter().map(|&(_, ms)| ms).sum::<f64>() / len;
    let dev = |&(n, ms): &(u32, f64)| (f64::from(n) - mean_n, ms - mean_ms);
    let (sxy, sxx) = points
        .iter()
        .map(dev)
        .fold((0.0, 0.0), |(sxy, sxx), (dn, dm)| {
            (sxy + dn * dm, sxx + dn * dn)
        });
    (sxx > 0.0).then(|| sxy / sxx)
}

/// Applies the rule to `curve`.
pub fn shape(curve: &[(u32, f64)]) -> Shape {
    let Some(&(_, base)) = curve.first() else {
        return Shape::Flat;
    };
    let out = |&(_, ms): &(u32, f64)| ms > FLAT_BAND * base;
    if !curve.iter().any(out) {
        return Shape::Flat;
    }
    // The knee: the last row before the run of rows above the band that ends the curve.
    let run = curve.iter().rev().take_while(|row| out(row)).count();
    let Some(knee) = curve.len().checked_sub(run + 1) else {
        return Shape::Noisy; // unreachable: the first row is never above its own band
    };
    let tail = &curve[knee..];
    let (Some(per), Some(&(last, _))) = (slope(tail), tail.last()) else {
        return Shape::Noisy; // the curve ends inside the band: a spike that came back
    };
    let at = tail[0].0;
    // Growing less than the band's width over the whole tail is not a clear rise.
    let rise = per * f64::from(last - at);
    if per <= 0.0 || rise < (FLAT_BAND - 1.0) * base {
        return Shape::Noisy;
    }
    Shape::Knee { at, per }
}

/// Two lines on the curve of mode `name`: its shape, then, indented and in
/// parentheses, what the shape means. For threads that each need `cpu_ms`
/// of CPU, a knee means how many threads ran at a time; otherwise the
/// meaning is `why`, the mode's own explanation.
pub fn verdict(name: &str, curve: &[(u32, f64)], cpu_ms: Option<f64>, why: &str) -> String {
    let (Some(&(_, base)), Some(&(last, _))) = (curve.first(), curve.last()) else {
        return format!("{name}: no data");
    };
    let (shape, meaning) = match shape(curve) {
        Shape::Flat => (
            format!("flat (~{base:.0} ms) for every n up to {last}: no knee"),
            match cpu_ms {
                Some(cpu) => format!("each got its {cpu:.0} ms of CPU at once; {why}"),
                None => why.to_owned(),
            },
        ),
        Shape::Noisy => (
            format!("no clear knee (noisy): leaves ~{base:.0} ms, does not keep rising"),
            why.to_owned(),
        ),
        Shape::Knee { at, per } => {
            let shape =
                format!("flat (~{base:.0} ms) up to n = {at}, then grows ~{per:.1} ms per thread");
            let meaning = match cpu_ms {
                Some(cpu) => format!(
                    "each needs {cpu:.0} ms CPU: {cpu:.0} / {per:.1} = ~{:.1} threads ran at \
                     a time; {why}",
                    cpu / per
                ),
                None => why.to_owned(),
            };
            (shape, meaning)
        }
    };
    format!("{name}: {shape}\n  ({meaning})")
}

/// The curve in column `i` of `table` (rows of n and one time per mode).
pub fn column(table: &[(u32, Vec<f64>)], i: usize) -> Vec<(u32, f64)> {
    table
        .iter()
        .filter_map(|(n, ms)| Some((*n, *ms.get(i)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The knee's n and slope; panics (failing the test) if the rule finds no knee.
    fn knee(curve: &[(u32, f64)]) -> (u32, f64) {
        match shape(curve) {
            Shape::Knee { at, per } => (at, per),
            other => panic!("expected a knee, got {other:?} for {curve:?}"),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn cpu_bound_curves_bend_at_the_core_count() {
        let two_cores = [(2, 20.5), (4, 40.0), (6, 60.0), (8, 80.5)];
        let (at, per) = knee(&two_cores);
        assert!(at == 2 && close(per, 10.0), "{at} {per}");
        let expected = "cpu: flat (~20 ms) up to n = 2, then grows ~10.0 ms per thread\n  \
                        (each needs 20 ms CPU: 20 / 10.0 = ~2.0 threads ran at a time; \
                        2 cores)";
        assert_eq!(verdict("cpu", &two_cores, Some(20.0), "2 cores"), expected);
        let expected = "spin: flat (~20 ms) up to n = 2, then grows ~10.0 ms per thread\n  (why)";
        assert_eq!(verdict("spin", &two_cores, None, "why"), expected);
        let four_cores = [
            (1, 20.0),
            (2, 20.0),
            (3, 21.0),
            (4, 22.0),
            (5, 31.0),
            (8, 45.0),
        ];
        let (at, per) = knee(&four_cores); // fit over n = 4, 5, 8: 20 / 5.5 = ~3.6 at a time
        assert!(at == 4 && close(per, 5.5), "{at} {per}");
    }

    #[test]
    fn flat_curves_and_tiny_tables_have_no_knee() {
        let flat = [(1, 20.0), (2, 21.0), (3, 29.9), (4, 25.0)];
        assert_eq!(shape(&flat), Shape::Flat);
        let expected = "sleep: flat (~20 ms) for every n up to 4: no knee\n  (no CPU)";
        assert_eq!(verdict("sleep", &flat, None, "no CPU"), expected);
        assert_eq!(
            (shape(&[(2, 20.0)]), shape(&[])),
            (Shape::Flat, Shape::Flat)
        );
        assert_eq!(verdict("spin", &[], None, ""), "spin: no data");
    }

    /// One noisy row above the band, then back inside it: not a knee (the old rule
    /// put the knee before the spike and drew its slope to the last row).
    #[test]
    fn one_spike_is_noise_not_a_knee() {
        let spike = [(2, 20.0), (4, 20.5), (6, 45.0), (8, 21.0), (10, 20.8)];
        assert_eq!(shape(&spike), Shape::Noisy);
        let expected = "sleep: no clear knee (noisy): leaves ~20 ms, does not keep rising\n  \
                        (no CPU)";
        assert_eq!(verdict("sleep", &spike, None, "no CPU"), expected);
        // A spike and then a real rise: the knee is where the curve leaves for good.
        let rise = [(2, 20.0), (4, 45.0), (6, 20.0), (8, 40.0), (10, 60.0)];
        let (at, per) = knee(&rise);
        assert!(at == 6 && close(per, 10.0), "{at} {per}");
    }

    /// A slow first row (noise) puts every later row above the band while the curve
    /// falls: the old rule printed a negative slope ("-13.7 threads at a time").
    #[test]
    fn a_falling_or_barely_rising_curve_is_noise() {
        let falls = [(1, 20.0), (2, 40.0), (3, 38.0), (4, 35.0), (5, 32.0)];
        assert_eq!(shape(&falls), Shape::Noisy);
        // Out of the band for good, but rising 0.1 ms per thread: no clear knee either.
        let creeps = [(2, 20.0), (4, 31.0), (6, 31.2), (8, 31.3), (10, 31.5)];
        assert_eq!(shape(&creeps), Shape::Noisy);
        let line = verdict("spin", &creeps, Some(20.0), "");
        assert!(line.starts_with("spin: no clear knee (noisy)"), "{line}");
    }

    #[test]
    fn columns_split_a_table_into_curves() {
        let table = [
            (2, vec![20.0, 20.1]),
            (4, vec![20.2, 40.0]),
            (6, vec![20.3, 60.0]),
        ];
        assert_eq!(shape(&column(&table, 0)), Shape::Flat);
        let (at, per) = knee(&column(&table, 1));
        assert!(at == 2 && close(per, 9.975), "{at} {per}");
        assert_eq!(column(&table, 2), []);
    }
}
