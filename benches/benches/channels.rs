//! Criterion version of `report`'s channel comparison:
//! `u64` messages from one producer thread (1->1) and from two (2->1) to
//! one consumer, through std and crossbeam channels (see
//! `ptm_benches::experiments::channels`).
//!
//! ```text
//! cargo bench -p ptm-benches --bench channels
//! cargo bench -p ptm-benches --bench channels -- "bounded\(0\)"   # one kind
//! ```
//!
//! Each iteration is one run of [`MESSAGES`] messages ([`SLOW_MESSAGES`]
//! for `bounded(1)` and `bounded(0)`, where every message is a hand-off),
//! producers spawned and joined inside it; throughput is reported in
//! messages/s. Criterion runs kinds one after another, not interleaved:
//! for same-process ratios on this noisy machine, prefer `report`.

use std::time::Duration;

use clap::ValueEnum;
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use ptm_benches::experiments::channels::Kind;
use ptm_benches::harness::name;

/// Messages per iteration for the buffered kinds.
const MESSAGES: u64 = 200_000;
/// Messages per iteration for `bounded(1)` and `bounded(0)`.
const SLOW_MESSAGES: u64 = 5_000;

fn channels(c: &mut Criterion) {
    for producers in [1usize, 2] {
        let mut group = c.benchmark_group(format!("channels/{producers}to1"));
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        for &kind in Kind::value_variants() {
            let messages = if kind.is_slow() {
                SLOW_MESSAGES
            } else {
                MESSAGES
            };
            group.throughput(Throughput::Elements(messages));
            group.bench_function(BenchmarkId::new(name(&kind), messages), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        match kind.run(producers, messages) {
                            Ok(seconds) => total += Duration::from_secs_f64(seconds),
                            Err(error) => panic!("{}: {error:#}", name(&kind)),
                        }
                    }
                    total
                });
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = channels
}
criterion_main!(benches);
