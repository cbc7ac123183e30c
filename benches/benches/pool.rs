//! Pool dispatch under criterion, at 2 workers, per design of
//! `ptm_benches::designs` (latch jobs captured); about a minute. The designs
//! run one after another, not interleaved: for ratios, `report --only pool`.
//!
//! ```text
//! cargo bench -p ptm-benches --bench pool
//! cargo bench -p ptm-benches --bench pool -- ptm   # one design
//! ```

use std::time::Duration;

use clap::ValueEnum;
use criterion::Throughput;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use ptm_benches::designs::{Bench, Design, LatchJobs};
use ptm_benches::harness::name;

/// Worker threads per pool.
const WORKERS: usize = 2;

fn pool_dispatch(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("pool_dispatch/{WORKERS}_workers"));
    // One batch is 10 to 100 ms: flat sampling keeps 10 samples in 3 s.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for &design in Design::value_variants() {
        // Jobs per iteration (thread-spawn: one OS thread each).
        let jobs = [100_000, 500][usize::from(design == Design::ThreadSpawn)];
        // A benchmark that cannot build its pool has nothing to measure.
        let bench = Bench::new(design, WORKERS, LatchJobs::Captured);
        let design = name(&design);
        let bench = bench.unwrap_or_else(|e| panic!("building {design}: {e:#}"));
        group.throughput(Throughput::Elements(jobs as u64));
        group.bench_function(BenchmarkId::new(&design, jobs), |b| {
            let run = || {
                bench
                    .run(jobs)
                    .unwrap_or_else(|e| panic!("{design}: {e:#}"))
            };
            b.iter_custom(|iters| (0..iters).map(|_| run()).sum());
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
