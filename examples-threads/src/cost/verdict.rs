//! # Reading a `cost` curve: where does it stop being flat?
//!
//! Part of the `cost` demo (`cargo run -p examples-threads -- cost`), answering
//! `processes-threads-and-containers.md`, "Plotting The Cost Of Threads": instead of
//! eyeballing a 500-row table, state a rule and compute the verdict from the data.
//!
//! The rule: a curve of (n threads, ms) stops being flat at the first n whose time
//! exceeds 1.5x the time of its first row. After that, its growth in ms per thread is
//! the slope from the last flat row to the last row. If each thread needs `work_ms` of
//! CPU, `work_ms / slope` threads ran at a time: compare with the number of cores.

/// The rule's factor: a time above `FLAT_BAND` x the first time is no longer flat.
pub const FLAT_BAND: f64 = 1.5;

/// The last flat n and the growth in ms per thread after it; `None` if the curve
/// never leaves the flat band (or has fewer than two rows).
pub fn knee(curve: &[(u32, f64)]) -> Option<(u32, f64)> {
    let &(_, base) = curve.first()?;
    let first_out = curve.iter().position(|&(_, ms)| ms > FLAT_BAND * base)?;
    let (&(n0, t0), &(n1, t1)) = (curve.get(first_out.checked_sub(1)?)?, curve.last()?);
    Some((n0, (t1 - t0) / f64::from(n1 - n0)))
}

/// One line on the curve of mode `name`, whose threads each work `work_ms`, against
/// this machine's `cores`.
pub fn verdict(name: &str, curve: &[(u32, f64)], work_ms: f64, cores: usize) -> String {
    let (Some(&(_, base)), Some(&(last, _))) = (curve.first(), curve.last()) else {
        return format!("{name}: no data");
    };
    match knee(curve) {
        None => format!(
            "{name}: flat (~{base:.0} ms) for every n up to {last}: no knee here; {cores} cores"
        ),
        Some((flat, per)) => format!(
            "{name}: flat (~{base:.0} ms) up to n = {flat}, then grows ~{per:.1} ms per thread \
             ({work_ms:.0} ms / {per:.1} = ~{:.1} threads at a time); {cores} cores",
            work_ms / per
        ),
    }
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

    #[test]
    fn cpu_bound_curves_bend_at_the_core_count() {
        let two_cores = [(2, 20.5), (4, 40.0), (6, 60.0), (8, 80.5)];
        assert_eq!(knee(&two_cores), Some((2, 10.0)));
        let expected = "cpu: flat (~20 ms) up to n = 2, then grows ~10.0 ms per thread \
                        (20 ms / 10.0 = ~2.0 threads at a time); 2 cores";
        assert_eq!(verdict("cpu", &two_cores, 20.0, 2), expected);
        let four_cores = [
            (1, 20.0),
            (2, 20.0),
            (3, 21.0),
            (4, 22.0),
            (5, 31.0),
            (8, 45.0),
        ];
        assert_eq!(knee(&four_cores), Some((4, 5.75))); // 20 / 5.75 = ~3.5 at a time
    }

    #[test]
    fn flat_curves_and_tiny_tables_have_no_knee() {
        let flat = [(1, 20.0), (2, 21.0), (3, 29.9), (4, 25.0)];
        assert_eq!(knee(&flat), None);
        let expected = "sleep: flat (~20 ms) for every n up to 4: no knee here; 8 cores";
        assert_eq!(verdict("sleep", &flat, 20.0, 8), expected);
        assert_eq!((knee(&[(2, 20.0)]), knee(&[])), (None, None));
        assert_eq!(verdict("spin", &[], 20.0, 2), "spin: no data");
    }

    #[test]
    fn columns_split_a_table_into_curves() {
        let table = [
            (2, vec![20.0, 20.1]),
            (4, vec![20.2, 40.0]),
            (6, vec![20.3, 60.0]),
        ];
        assert_eq!(knee(&column(&table, 0)), None);
        assert_eq!(knee(&column(&table, 1)), Some((2, 9.975)));
        assert_eq!(column(&table, 2), []);
    }
}
