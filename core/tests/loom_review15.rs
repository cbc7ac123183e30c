//! Review of issue 15: a loom model of a helping `join` racing the pool's
//! shutdown (no model in `tests/loom.rs` closes the pool while a worker
//! waits in `join` or `scope`).
//!
//! ```text
//! LOOM_MAX_PREEMPTIONS=2 RUSTFLAGS="--cfg loom" cargo test -p ptm-core --release --test loom_review15
//! ```
//!
//! On the change as reviewed it fails with loom's "Model exceeded maximum
//! number of branches" (an algorithm that needs another thread to make
//! progress while it spins): once `closed` is set, `Shared::idle_wait` no
//! longer parks, so a worker in `help_until` whose joined job runs on the
//! other worker loops at full speed.
#![cfg(loom)]

use ptm::ThreadPool;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// A job joins another job's handle while the pool shuts down: whichever
/// worker runs what, the join gets the value, and nothing spins.
#[test]
fn a_join_on_a_worker_racing_shutdown_sleeps_and_gets_the_value() {
    model(|| {
        let pool = ThreadPool::new(2).expect("pool");
        let slow = pool.spawn(|| 1).expect("spawn");
        let joiner = pool.spawn(move || slow.join()).expect("spawn");
        let stats = pool.shutdown();
        assert_eq!(stats.completed, 2);
        assert_eq!(joiner.join(), Ok(Ok(1)));
    });
}
