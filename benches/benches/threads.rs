//! Criterion version of `report`'s `spawn` experiment: start and finish one
//! empty thread with `thread::spawn(..).join()`, and with `thread::scope`
//! spawning one thread (see `ptm_benches::experiments::threads`).
//!
//! ```text
//! cargo bench -p ptm-benches --bench threads
//! taskset -c 0 cargo bench -p ptm-benches --bench threads   # pinned to one CPU
//! ```
//!
//! On this machine's VM the unpinned figure includes waking the other
//! (halted) CPU; `report` measures both, interleaved.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ptm_benches::experiments::threads::SpawnVariant;
use ptm_benches::harness::name;

fn threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("threads");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for variant in [SpawnVariant::SpawnJoin, SpawnVariant::ScopeOne] {
        group.bench_function(name(&variant), |b| {
            b.iter(|| {
                if let Err(error) = variant.run(1) {
                    panic!("{}: {error:#}", name(&variant));
                }
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = threads
}
criterion_main!(benches);
