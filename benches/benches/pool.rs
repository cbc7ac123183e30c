//! Criterion version of `pool_dispatch` at 2 workers: no-op jobs submitted
//! from one thread, then waited for, per design (see
//! `ptm_benches::designs`).
//!
//! ```text
//! cargo bench -p ptm-benches --bench pool
//! cargo bench -p ptm-benches --bench pool -- ptm   # one design
//! ```
//!
//! Each iteration is one batch of [`JOBS`] jobs (thread-spawn: [`SPAWN_JOBS`])
//! on a pool built once per design, latch jobs captured (the default of
//! `pool_dispatch`); throughput is reported in jobs/s. With 10
//! samples and short warm-up and measurement times the whole run takes about
//! a minute. Criterion runs designs one after another, not interleaved: for
//! side-by-side ratios on this noisy machine, prefer `pool_dispatch`.

use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use ptm_benches::designs::{Bench, Design};

/// Jobs per iteration for the pools.
const JOBS: usize = 100_000;
/// Jobs per iteration for thread-spawn (one OS thread each).
const SPAWN_JOBS: usize = 500;
/// Worker threads per pool.
const WORKERS: usize = 2;

fn pool_dispatch(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("pool_dispatch/{WORKERS}_workers"));
    group
        // One batch is 10 to 100 ms here: flat sampling keeps 10 samples
        // within the measurement time.
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for design in Design::ALL {
        let jobs = if design == Design::ThreadSpawn {
            SPAWN_JOBS
        } else {
            JOBS
        };
        // A benchmark that cannot build its pool has nothing to measure.
        let bench = match Bench::new(design, WORKERS) {
            Ok(bench) => bench,
            Err(error) => panic!("building {design} with {WORKERS} workers: {error:#}"),
        };
        group.throughput(Throughput::Elements(jobs as u64));
        group.bench_function(BenchmarkId::new(design.name(), jobs), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    match bench.run(jobs) {
                        Ok(elapsed) => total += elapsed,
                        Err(error) => panic!("{design}: {error:#}"),
                    }
                }
                total
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Plots cost seconds per benchmark; the numbers are in the terminal and
    // in target/criterion/*/new/estimates.json.
    config = Criterion::default().without_plots();
    targets = pool_dispatch
}
criterion_main!(benches);
