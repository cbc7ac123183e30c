//! What the pool does beyond running `'static` jobs: joins on a worker that
//! help instead of block, `scope` with borrowing jobs, `shutdown_timeout`,
//! `JobHandle::is_finished`, `JobHandle` as a `Future`, and the
//! `on_thread_start` / `on_thread_stop` hooks. Tested against their
//! documented contract only.
//!
//! As in `tests/pool.rs`, no test sleeps to order events: a job that must
//! stay running blocks on a channel the test releases, and every step that
//! would hang on a broken pool runs under [`within`], which fails the test
//! with a message after [`LIMIT`]. The few bounded waits
//! (`recv_timeout(NOT_YET)`) check that something has *not* happened yet:
//! on a broken pool they can only pass by luck, never fail a correct one.
#![cfg(not(loom))]

use std::cell::Cell;
use std::collections::BTreeSet;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, LocalKey};
use std::time::{Duration, Instant};

use ptm::pool::{JobError, JobHandle, ThreadPool};
use ptm::Error;

mod common;
use common::pool::{count, fields, names_of_workers};
use common::{within, LIMIT};

/// Every string panic these tests provoke on purpose carries this text, so
/// that [`quiet_expected_panics`] can keep them out of the output.
const EXPECTED_PANIC: &str = "expected test panic";

/// How long a test waits to see that something did *not* happen (a scope
/// that must still be waiting, a job that must still be running).
const NOT_YET: Duration = Duration::from_millis(200);

/// A panic payload that is not a string, to check that `scope` resumes the
/// job's own payload and not a copy or a message.
#[derive(Debug, PartialEq, Eq)]
struct ScopedPanic(u32);

/// Installs (once per test binary) a panic hook that stays silent for the
/// panics the tests provoke and defers to the previous hook for all others.
fn quiet_expected_panics() {
    common::quiet_panics(EXPECTED_PANIC, |payload| payload.is::<ScopedPanic>());
}

/// Starts a job that waits for the returned gate and then returns `value`;
/// returns once the job is running.
fn spawn_gated<T: Send + 'static>(
    pool: &ThreadPool,
    value: impl FnOnce() -> T + Send + 'static,
) -> (JobHandle<T>, mpsc::Sender<()>) {
    let (started_tx, started_rx) = mpsc::channel();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let handle = pool
        .spawn(move || {
            let _ = started_tx.send(());
            let _ = gate_rx.recv();
            value()
        })
        .expect("the pool accepts the gated job");
    started_rx
        .recv_timeout(LIMIT)
        .expect("a free worker starts the gated job");
    (handle, gate_tx)
}

/// Waits, yielding, until `done()` holds; fails the test with `what` if it
/// does not within [`LIMIT`].
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not after {LIMIT:?}");
        thread::yield_now();
    }
}

/// Runs `body` in a re-run of this test binary made for `test` alone, and
/// asserts that the re-run passed. For tests whose failure can be a stack
/// overflow, which aborts the whole process: in the re-run, it fails the
/// one test, with the re-run's stderr, instead of ending every test of the
/// binary.
fn in_a_rerun(test: &str, body: impl FnOnce()) {
    if common::acting_as(test) {
        body();
        println!("{}", common::DONE);
        return;
    }
    let mut rerun = common::rerun(test);
    let output = common::within_for(test, LIMIT * 2, move || {
        rerun
            .output()
            .expect("the re-run of this test binary starts")
    });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("overflowed its stack"),
        "a worker overflowed its stack: jobs run while waiting nest on the \
         waiting thread's stack without bound\n{stderr}"
    );
    common::assert_rerun_done(test, &output);
}

/// A job's value that counts its drops, to see that no value leaks.
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A thread-local value that counts, in its own counter, how many threads
/// that touched it have exited.
struct CountOnExit(&'static AtomicUsize);

impl Drop for CountOnExit {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

// ---------------------------------------------------------------------------
// JobHandle::join on a worker of the same pool helps
// ---------------------------------------------------------------------------

/// A join that blocks its worker deadlocks a pool of 1 as soon as a job
/// joins another job of its pool: the joined job sits in the queue behind
/// the joiner for ever. The waiting worker must run it itself.
#[test]
fn join_on_the_only_worker_runs_the_joined_jobs_itself() {
    within("a job on a pool of 1 joining 100 jobs of its pool", || {
        let pool = Arc::new(ThreadPool::new(1).expect("a pool of 1 starts"));
        let inner = Arc::clone(&pool);
        let total = pool
            .spawn(move || {
                let mut total = 0_u64;
                for i in 0..100_u64 {
                    let handle = inner.spawn(move || i * i).expect("the pool accepts");
                    total += handle.join().expect("the joined job returns");
                }
                total
            })
            .expect("the pool accepts the outer job")
            .join();
        assert_eq!(total, Ok((0..100_u64).map(|i| i * i).sum()));
        pool.wait_idle().expect("wait_idle from outside the pool");
        assert_eq!(
            fields(pool.stats()),
            (1, 0, 0, 101, 0),
            "the helped jobs are counted as completed"
        );
    });
}

/// Both workers of a pool of 2 are held (at a barrier) by jobs that then
/// spawn and join 50 jobs each: with a blocking join nobody is left to run
/// them. A joined job that panics is still reported to its joiner.
#[test]
fn joins_on_every_worker_at_once_still_finish() {
    quiet_expected_panics();
    within("2 workers each joining 50 jobs", || {
        let pool = Arc::new(ThreadPool::new(2).expect("a pool of 2 starts"));
        let barrier = Arc::new(Barrier::new(2));
        let outers: Vec<JobHandle<(u64, usize)>> = (0..2_u64)
            .map(|o| {
                let (inner, barrier) = (Arc::clone(&pool), Arc::clone(&barrier));
                pool.spawn(move || {
                    barrier.wait();
                    let handles: Vec<JobHandle<u64>> = (0..50_u64)
                        .map(|i| {
                            inner
                                .spawn(move || {
                                    if i == 7 {
                                        panic!("{EXPECTED_PANIC}: joined job {o}/{i}");
                                    }
                                    o * 1000 + i
                                })
                                .expect("the pool accepts")
                        })
                        .collect();
                    let mut sum = 0;
                    let mut panics = 0;
                    for handle in handles {
                        match handle.join() {
                            Ok(value) => sum += value,
                            Err(JobError::Panicked(message)) => {
                                assert!(message.contains("joined job"), "{message}");
                                panics += 1;
                            }
                            Err(other) => panic!("a joined job gave {other:?}"),
                        }
                    }
                    (sum, panics)
                })
                .expect("the pool accepts the outer job")
            })
            .collect();
        for (o, outer) in (0..2_u64).zip(outers) {
            let want: u64 = (0..50).filter(|&i| i != 7).map(|i| o * 1000 + i).sum();
            assert_eq!(outer.join(), Ok((want, 1)), "outer job {o}");
        }
        pool.wait_idle().expect("wait_idle from outside the pool");
        assert_eq!(fields(pool.stats()), (2, 0, 0, 100, 2));
    });
}

/// Below this many numbers, [`fork_join_sum`] adds them itself.
const LEAF: u64 = 1000;

/// The sum of `lo..hi` by splitting: spawn the right half, compute the left
/// half, join the right one.
fn fork_join_sum(pool: &Arc<ThreadPool>, lo: u64, hi: u64) -> u64 {
    if hi - lo <= LEAF {
        return (lo..hi).sum();
    }
    let mid = lo + (hi - lo) / 2;
    let inner = Arc::clone(pool);
    let right = pool
        .spawn(move || fork_join_sum(&inner, mid, hi))
        .expect("the pool accepts the right half");
    let left = fork_join_sum(pool, lo, mid);
    left + right.join().expect("the right half returns")
}

/// How many jobs [`fork_join_sum`] spawns for `lo..hi`.
fn fork_join_jobs(lo: u64, hi: u64) -> usize {
    if hi - lo <= LEAF {
        return 0;
    }
    let mid = lo + (hi - lo) / 2;
    1 + fork_join_jobs(lo, mid) + fork_join_jobs(mid, hi)
}

/// Fibonacci by fork-join, sequential below 10.
fn fork_join_fib(pool: &Arc<ThreadPool>, n: u64) -> u64 {
    if n < 10 {
        let (mut a, mut b) = (0, 1);
        for _ in 0..n {
            (a, b) = (b, a + b);
        }
        return a;
    }
    let inner = Arc::clone(pool);
    let first = pool
        .spawn(move || fork_join_fib(&inner, n - 1))
        .expect("the pool accepts fib(n - 1)");
    let second = fork_join_fib(pool, n - 2);
    first.join().expect("fib(n - 1) returns") + second
}

/// Recursive fork-join, where every worker soon waits on a join: a sum of
/// 0..4,000,000 split down to 1,000 numbers (about 4,000 jobs, 12 levels of
/// recursion), on 2 workers with the default stack, is right and every job
/// is counted. A worker that runs whichever job is queued while it waits
/// nests those jobs on its stack: unless it picks its own joined job first
/// (as rayon's `join` does), the nesting grows with the number of jobs, not
/// with the depth of the recursion, and overflows the stack.
#[test]
fn recursive_fork_join_sum_on_two_workers_is_right() {
    const N: u64 = 4_000_000;
    in_a_rerun("recursive_fork_join_sum_on_two_workers_is_right", || {
        within("a fork-join sum on 2 workers", || {
            let pool = Arc::new(ThreadPool::new(2).expect("a pool of 2 starts"));
            let inner = Arc::clone(&pool);
            let sum = pool
                .spawn(move || fork_join_sum(&inner, 0, N))
                .expect("the pool accepts the root job")
                .join();
            assert_eq!(sum, Ok((N - 1) * N / 2));
            pool.wait_idle().expect("wait_idle from outside the pool");
            let jobs = 1 + fork_join_jobs(0, N);
            assert_eq!(fields(pool.stats()), (2, 0, 0, jobs, 0));
        });
    });
}

#[test]
fn recursive_fork_join_fib_on_two_workers_is_right() {
    in_a_rerun("recursive_fork_join_fib_on_two_workers_is_right", || {
        within("fork-join fib(25) on 2 workers", || {
            let pool = Arc::new(ThreadPool::new(2).expect("a pool of 2 starts"));
            let inner = Arc::clone(&pool);
            let fib = pool
                .spawn(move || fork_join_fib(&inner, 25))
                .expect("the pool accepts the root job")
                .join();
            assert_eq!(fib, Ok(75_025));
        });
    });
}

/// Helping while joining must not make the pool think a job is not one of
/// its own: `wait_idle` from a job keeps returning `WouldDeadlock`, from a
/// plain job and from a job that a joining worker runs while it waits.
#[test]
fn wait_idle_from_a_job_is_still_would_deadlock_while_joins_help() {
    within("wait_idle from jobs", || {
        let pool = Arc::new(ThreadPool::new(1).expect("a pool of 1 starts"));
        let inner = Arc::clone(&pool);
        let plain = pool
            .spawn(move || inner.wait_idle())
            .expect("the pool accepts the job")
            .join()
            .expect("the job returns");
        assert!(
            matches!(plain, Err(Error::WouldDeadlock)),
            "wait_idle from a job gave {plain:?}"
        );

        let inner = Arc::clone(&pool);
        let helped = pool
            .spawn(move || {
                let waiter = Arc::clone(&inner);
                // On a pool of 1 this job can only run on the worker that is
                // joining it, helping.
                inner
                    .spawn(move || waiter.wait_idle())
                    .expect("the pool accepts the inner job")
                    .join()
                    .expect("the inner job returns")
            })
            .expect("the pool accepts the outer job")
            .join()
            .expect("the outer job returns");
        assert!(
            matches!(helped, Err(Error::WouldDeadlock)),
            "wait_idle from a job run by a joining worker gave {helped:?}"
        );
        pool.wait_idle().expect("wait_idle from outside the pool");
        assert_eq!(pool.stats().completed, 3);
    });
}

// ---------------------------------------------------------------------------
// scope
// ---------------------------------------------------------------------------

/// Scoped jobs borrow: a `Vec` shared by all, a `&mut` chunk of the output
/// each, and a counter on the caller's stack. The writes are all visible
/// when `scope` returns.
#[test]
fn scoped_jobs_borrow_a_vec_and_write_disjoint_chunks_of_a_mut_slice() {
    within("scoped jobs that borrow", || {
        let pool = ThreadPool::new(3).expect("a pool of 3 starts");
        let input: Vec<u64> = (0..10_000).collect();
        let mut output = vec![0_u64; input.len()];
        let jobs_ran = AtomicUsize::new(0);
        pool.scope(|s| {
            for (c, chunk) in output.chunks_mut(64).enumerate() {
                let (input, jobs_ran) = (&input, &jobs_ran);
                s.spawn(move || {
                    for (j, out) in chunk.iter_mut().enumerate() {
                        *out = input[c * 64 + j] * 3 + 1;
                    }
                    jobs_ran.fetch_add(1, SeqCst);
                });
            }
        });
        let chunks = input.len().div_ceil(64);
        assert_eq!(jobs_ran.load(SeqCst), chunks);
        let want: Vec<u64> = input.iter().map(|x| x * 3 + 1).collect();
        assert!(
            output == want,
            "every chunk was written before scope returned"
        );
        assert_eq!(input, (0..10_000).collect::<Vec<u64>>(), "input untouched");
        assert_eq!(pool.shutdown().completed, chunks);
    });
}

/// `scope` returns only once its jobs have finished: with a scoped job
/// blocked, it is still waiting `NOT_YET` later, and returns after the
/// release, with the job's write visible.
#[test]
fn scope_waits_for_a_blocked_job_before_returning() {
    within("scope with a blocked job", || {
        let pool = ThreadPool::new(2).expect("a pool of 2 starts");
        let (started_tx, started_rx) = mpsc::channel();
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let (returned_tx, returned_rx) = mpsc::channel();
        let finished = AtomicBool::new(false);
        thread::scope(|threads| {
            let (pool, finished) = (&pool, &finished);
            threads.spawn(move || {
                pool.scope(|s| {
                    s.spawn(move || {
                        let _ = started_tx.send(());
                        let _ = gate_rx.recv();
                        finished.store(true, SeqCst);
                    });
                });
                let _ = returned_tx.send(finished.load(SeqCst));
            });
            started_rx
                .recv_timeout(LIMIT)
                .expect("the scoped job starts");
            assert_eq!(
                returned_rx.recv_timeout(NOT_YET),
                Err(RecvTimeoutError::Timeout),
                "scope returned while its job was still running"
            );
            gate_tx.send(()).expect("the scoped job waits for this");
            assert_eq!(
                returned_rx.recv_timeout(LIMIT),
                Ok(true),
                "scope returned after its job finished"
            );
        });
    });
}

/// A scoped job's panic stops none of the others: the scope waits for all
/// (here 3 of them blocked until after the panic, 10 free), then resumes
/// the job's own payload in the caller. The panic is counted as one.
#[test]
fn a_panicking_scoped_job_lets_the_others_finish_then_its_payload_is_resumed() {
    quiet_expected_panics();
    within("a panicking scoped job", || {
        let pool = ThreadPool::new(4).expect("a pool of 4 starts");
        let finished = AtomicUsize::new(0);
        let (gates, gate_rxs): (Vec<_>, Vec<_>) = (0..3).map(|_| mpsc::channel::<()>()).unzip();
        let (started_tx, started_rx) = mpsc::channel();
        let (panicking_tx, panicking_rx) = mpsc::channel();
        let (returned_tx, returned_rx) = mpsc::channel();
        thread::scope(|threads| {
            let (pool, finished) = (&pool, &finished);
            threads.spawn(move || {
                let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                    pool.scope(|s| {
                        for gate_rx in gate_rxs {
                            let started_tx = started_tx.clone();
                            s.spawn(move || {
                                let _ = started_tx.send(());
                                let _ = gate_rx.recv();
                                finished.fetch_add(1, SeqCst);
                            });
                        }
                        s.spawn(move || {
                            let _ = panicking_tx.send(());
                            panic::panic_any(ScopedPanic(7));
                        });
                        for _ in 0..10 {
                            s.spawn(|| {
                                finished.fetch_add(1, SeqCst);
                            });
                        }
                        "the scope's value"
                    })
                }));
                let seen = finished.load(SeqCst);
                let payload = match outcome {
                    Ok(value) => Err(format!("scope returned {value:?}")),
                    Err(payload) => payload
                        .downcast::<ScopedPanic>()
                        .map(|payload| *payload)
                        .map_err(|_| "a payload other than the job's".to_owned()),
                };
                let _ = returned_tx.send((seen, payload, pool.stats()));
            });
            for _ in 0..3 {
                started_rx
                    .recv_timeout(LIMIT)
                    .expect("the blocked scoped jobs start");
            }
            panicking_rx
                .recv_timeout(LIMIT)
                .expect("the panicking scoped job runs");
            assert!(
                matches!(
                    returned_rx.recv_timeout(NOT_YET),
                    Err(RecvTimeoutError::Timeout)
                ),
                "scope unwound while 3 of its jobs were still blocked"
            );
            for gate in &gates {
                gate.send(()).expect("a blocked job waits for this");
            }
            let (seen, payload, stats) = returned_rx
                .recv_timeout(LIMIT)
                .expect("scope ends once the blocked jobs are released");
            assert_eq!(seen, 13, "every other scoped job finished first");
            assert_eq!(payload, Ok(ScopedPanic(7)), "the job's own payload");
            assert_eq!(
                (stats.completed, stats.panicked),
                (13, 1),
                "the scoped jobs are counted by the time scope returns"
            );
        });
    });
}

/// Unwinding out of `scope` while a job still borrows the caller's stack
/// would let the job write to freed memory: a panic in the scope's own
/// closure must wait for the jobs too, then be resumed.
#[test]
fn a_panic_in_the_scope_closure_still_waits_for_its_jobs() {
    quiet_expected_panics();
    within("a panicking scope closure", || {
        let pool = ThreadPool::new(2).expect("a pool of 2 starts");
        let (started_tx, started_rx) = mpsc::channel();
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let (returned_tx, returned_rx) = mpsc::channel();
        let finished = AtomicBool::new(false);
        thread::scope(|threads| {
            let (pool, finished) = (&pool, &finished);
            threads.spawn(move || {
                let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                    pool.scope(|s| {
                        s.spawn(move || {
                            let _ = started_tx.send(());
                            let _ = gate_rx.recv();
                            finished.store(true, SeqCst);
                        });
                        panic::panic_any(ScopedPanic(3));
                    })
                }));
                let payload = outcome
                    .err()
                    .and_then(|payload| payload.downcast::<ScopedPanic>().ok());
                let _ = returned_tx.send((finished.load(SeqCst), payload.map(|p| *p)));
            });
            started_rx
                .recv_timeout(LIMIT)
                .expect("the scoped job starts");
            assert!(
                matches!(
                    returned_rx.recv_timeout(NOT_YET),
                    Err(RecvTimeoutError::Timeout)
                ),
                "scope unwound while its job was still running"
            );
            gate_tx.send(()).expect("the scoped job waits for this");
            assert_eq!(
                returned_rx.recv_timeout(LIMIT),
                Ok((true, Some(ScopedPanic(3)))),
                "the job finished, then the closure's panic was resumed"
            );
        });
    });
}

/// Scopes nest: a scope inside the scope's closure (on the caller), and a
/// scope inside each scoped job (on a worker, which must run or wait for
/// the inner jobs while it waits), all borrowing the same output.
#[test]
fn a_scope_inside_a_scope_finishes_with_every_write() {
    within("nested scopes", || {
        let pool = ThreadPool::new(2).expect("a pool of 2 starts");
        let mut output = vec![0_usize; 4 * 4 * 16];
        let inner_scopes = AtomicUsize::new(0);
        pool.scope(|s| {
            for (o, outer) in output.chunks_mut(4 * 16).enumerate() {
                let (pool, inner_scopes) = (&pool, &inner_scopes);
                s.spawn(move || {
                    pool.scope(|s| {
                        for (i, inner) in outer.chunks_mut(16).enumerate() {
                            s.spawn(move || {
                                for (k, x) in inner.iter_mut().enumerate() {
                                    *x = o * 1000 + i * 100 + k;
                                }
                            });
                        }
                    });
                    inner_scopes.fetch_add(1, SeqCst);
                });
            }
        });
        assert_eq!(inner_scopes.load(SeqCst), 4);
        let want: Vec<usize> = (0..4)
            .flat_map(|o| (0..4).flat_map(move |i| (0..16).map(move |k| o * 1000 + i * 100 + k)))
            .collect();
        assert!(output == want, "every inner job wrote its chunk");

        let mut cells = [0_u32; 8];
        let total = pool.scope(|_| {
            let (left, right) = cells.split_at_mut(4);
            let a = pool.scope(|s| {
                s.spawn(|| left.fill(1));
                s.spawn(|| right.fill(2));
                "inner"
            });
            (a, 7)
        });
        assert_eq!(total, ("inner", 7));
        assert_eq!(cells, [1, 1, 1, 1, 2, 2, 2, 2]);
        assert_eq!(pool.shutdown().completed, 4 + 16 + 2);
    });
}

/// On the only worker of a pool, a blocking `scope` would wait for jobs
/// queued behind the very job that waits. It must run them itself.
#[test]
fn scope_on_the_only_worker_of_its_pool_runs_its_jobs_and_returns() {
    within("scope from a job of a pool of 1", || {
        let pool = Arc::new(ThreadPool::new(1).expect("a pool of 1 starts"));
        let inner = Arc::clone(&pool);
        let (sum, value) = pool
            .spawn(move || {
                let numbers: Vec<u64> = (1..=100).collect();
                let sum = AtomicU64::new(0);
                let value = inner.scope(|s| {
                    for chunk in numbers.chunks(10) {
                        let sum = &sum;
                        s.spawn(move || {
                            sum.fetch_add(chunk.iter().sum::<u64>(), SeqCst);
                        });
                    }
                    "done"
                });
                (sum.load(SeqCst), value)
            })
            .expect("the pool accepts the job")
            .join()
            .expect("the job returns");
        assert_eq!((sum, value), (5050, "done"));
        pool.wait_idle().expect("wait_idle from outside the pool");
        assert_eq!(fields(pool.stats()), (1, 0, 0, 11, 0));
    });
}

/// The sum of `xs` by recursive scopes: spawn the right half into a scope,
/// sum the left half in its closure.
fn scoped_sum(pool: &ThreadPool, xs: &[u64]) -> u64 {
    if xs.len() <= 64 {
        return xs.iter().sum();
    }
    let (left, right) = xs.split_at(xs.len() / 2);
    let mut right_sum = 0;
    let left_sum = pool.scope(|s| {
        s.spawn(|| right_sum = scoped_sum(pool, right));
        scoped_sum(pool, left)
    });
    left_sum + right_sum
}

/// Fork-join with scopes on the workers: every worker soon waits in a
/// `scope` whose job is queued behind others. 100,000 numbers split down to
/// 64 (about 1,500 jobs, 11 levels of recursion) on the default stack: as
/// for [`recursive_fork_join_sum_on_two_workers_is_right`], the jobs a
/// waiting worker runs must not nest on its stack without bound.
#[test]
fn recursive_scopes_on_two_workers_sum_a_slice() {
    in_a_rerun("recursive_scopes_on_two_workers_sum_a_slice", || {
        within("recursive scopes on 2 workers", || {
            let pool = Arc::new(ThreadPool::new(2).expect("a pool of 2 starts"));
            let inner = Arc::clone(&pool);
            let sum = pool
                .spawn(move || {
                    let numbers: Vec<u64> = (0..100_000).collect();
                    scoped_sum(&inner, &numbers)
                })
                .expect("the pool accepts the root job")
                .join();
            assert_eq!(sum, Ok(99_999 * 100_000 / 2));
        });
    });
}

/// `scope` returns its closure's value, with or without jobs, and the value
/// may borrow what outlives the call.
#[test]
fn scope_returns_the_value_of_its_closure() {
    within("scope's value", || {
        let pool = ThreadPool::new(2).expect("a pool of 2 starts");
        let empty: u32 = pool.scope(|_| 42);
        assert_eq!(empty, 42);
        let words = ["alpha", "beta"];
        let first: &str = pool.scope(|s| {
            s.spawn(|| assert_eq!(words.len(), 2));
            words[0]
        });
        assert_eq!(first, "alpha");
        let ran = AtomicUsize::new(0);
        let owned: String = pool.scope(|s| {
            s.spawn(|| {
                ran.fetch_add(1, SeqCst);
            });
            format!("owned, {} words", words.len())
        });
        assert_eq!(owned, "owned, 2 words");
        assert_eq!(ran.load(SeqCst), 1);
        assert_eq!(pool.shutdown().completed, 2);
    });
}

/// Scoped jobs are jobs of the pool: counted in `stats` (completed, and a
/// panic as panicked) by the time `scope` returns, and in the final stats.
#[test]
fn pool_stats_count_scoped_jobs() {
    quiet_expected_panics();
    within("stats of scoped jobs", || {
        let pool = ThreadPool::new(2).expect("a pool of 2 starts");
        let ran = AtomicUsize::new(0);
        pool.scope(|s| {
            for _ in 0..1000 {
                s.spawn(|| {
                    ran.fetch_add(1, SeqCst);
                });
            }
        });
        assert_eq!(ran.load(SeqCst), 1000);
        assert_eq!(
            fields(pool.stats()),
            (2, 0, 0, 1000, 0),
            "right after scope returns"
        );

        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                for i in 0..10 {
                    s.spawn(move || {
                        if i == 4 {
                            panic!("{EXPECTED_PANIC}: scoped job {i}");
                        }
                    });
                }
            })
        }));
        let payload = outcome.expect_err("the scoped job's panic is resumed");
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("expected test panic: scoped job 4"),
            "the payload of the job's panic"
        );
        assert_eq!(fields(pool.stats()), (2, 0, 0, 1009, 1));
        pool.execute(|| {}).expect("the pool accepts a plain job");
        assert_eq!(fields(pool.shutdown()), (2, 0, 0, 1010, 1));
    });
}

/// A scoped job is a job of the pool: `wait_idle` from it would wait for
/// itself, from a scope called outside the pool and from one called on a
/// worker.
#[test]
fn wait_idle_from_a_scoped_job_is_would_deadlock() {
    within("wait_idle from scoped jobs", || {
        let pool = Arc::new(ThreadPool::new(2).expect("a pool of 2 starts"));
        let mut outside = None;
        pool.scope(|s| {
            s.spawn(|| outside = Some(pool.wait_idle()));
        });
        assert!(
            matches!(outside, Some(Err(Error::WouldDeadlock))),
            "wait_idle from a scoped job gave {outside:?}"
        );

        let inner = Arc::clone(&pool);
        let on_worker = pool
            .spawn(move || {
                let mut result = None;
                inner.scope(|s| {
                    s.spawn(|| result = Some(inner.wait_idle()));
                });
                result
            })
            .expect("the pool accepts the job")
            .join()
            .expect("the job returns");
        assert!(
            matches!(on_worker, Some(Err(Error::WouldDeadlock))),
            "wait_idle from a job of a scope on a worker gave {on_worker:?}"
        );
    });
}

// ---------------------------------------------------------------------------
// shutdown_timeout
// ---------------------------------------------------------------------------

/// The timeout of the `shutdown_timeout` tests that expect it to elapse.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(200);

/// How much later than its timeout `shutdown_timeout` may return: generous,
/// as the test machine is a loaded VM; it bounds a hang, it is not a claim
/// about speed.
const SHUTDOWN_MARGIN: Duration = Duration::from_secs(10);

/// Runs `stuck` jobs that never return by themselves on a pool of
/// `workers`, after 5 jobs that completed and 1 that panicked, and checks
/// that `shutdown_timeout` gives up on time with `running == stuck`; then
/// releases the stuck jobs, which finish on their own.
fn shutdown_timeout_gives_up_on(workers: usize, stuck: usize) {
    quiet_expected_panics();
    let pool = ThreadPool::new(workers).expect("the pool starts");
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..5 {
        pool.execute(count(&ran)).expect("the pool accepts the job");
    }
    pool.execute(|| panic!("{EXPECTED_PANIC}: before shutdown_timeout"))
        .expect("the pool accepts the job");
    pool.wait_idle().expect("wait_idle from outside the pool");

    let (done_tx, done_rx) = mpsc::channel();
    let gates: Vec<mpsc::Sender<()>> = (0..stuck)
        .map(|_| {
            let done_tx = done_tx.clone();
            let (started_tx, started_rx) = mpsc::channel();
            let (gate_tx, gate_rx) = mpsc::channel::<()>();
            pool.execute(move || {
                let _ = started_tx.send(());
                let _ = gate_rx.recv();
                let _ = done_tx.send(());
            })
            .expect("the pool accepts the stuck job");
            started_rx
                .recv_timeout(LIMIT)
                .expect("a free worker starts the stuck job");
            gate_tx
        })
        .collect();

    let started = Instant::now();
    let result = pool.shutdown_timeout(SHUTDOWN_TIMEOUT);
    let elapsed = started.elapsed();
    // Released before any assertion, so that a failed test leaks no thread.
    for gate in &gates {
        let _ = gate.send(());
    }
    match result {
        Err(Error::ShutdownTimeout { running, stats, .. }) => {
            assert_eq!(running, stuck, "the jobs still running");
            assert_eq!(
                (stats.workers, stats.active, stats.completed, stats.panicked),
                (workers, stuck, 5, 1),
                "the stats when shutdown_timeout gave up: {stats:?}"
            );
        }
        other => panic!("shutdown_timeout with a stuck job gave {other:?}"),
    }
    assert!(
        elapsed >= SHUTDOWN_TIMEOUT,
        "shutdown_timeout gave up after {elapsed:?}, before its timeout"
    );
    assert!(
        elapsed < SHUTDOWN_TIMEOUT + SHUTDOWN_MARGIN,
        "shutdown_timeout returned after {elapsed:?}"
    );
    for _ in 0..stuck {
        done_rx
            .recv_timeout(LIMIT)
            .expect("a released job finishes on its own after shutdown_timeout");
    }
    assert_eq!(ran.load(SeqCst), 5);
}

/// A job that never returns would make `shutdown` wait for ever.
/// `shutdown_timeout` gives up after its timeout (not before, and not much
/// later) and names the one job still running.
#[test]
fn shutdown_timeout_gives_up_on_a_job_that_never_returns() {
    within("shutdown_timeout with a stuck job", || {
        shutdown_timeout_gives_up_on(2, 1);
    });
}

/// `running` counts the jobs still running, not always 1.
#[test]
fn shutdown_timeout_counts_every_job_still_running() {
    within("shutdown_timeout with 2 stuck jobs", || {
        shutdown_timeout_gives_up_on(3, 2);
    });
}

/// When everything finishes in time `shutdown_timeout` is `shutdown`: it
/// runs every queued job (500, with 50 panicking), returns `Ok` with exact
/// stats as soon as they are done (well before the timeout), and has joined
/// every worker (their thread-locals are dropped).
#[test]
fn shutdown_timeout_returns_exact_stats_when_everything_finishes_in_time() {
    static EXITED: AtomicUsize = AtomicUsize::new(0);
    thread_local!(static TOUCHED: CountOnExit = const { CountOnExit(&EXITED) });
    quiet_expected_panics();
    within("shutdown_timeout with 500 queued jobs", || {
        const TIMEOUT: Duration = Duration::from_secs(20);
        let counter = Arc::new(AtomicUsize::new(0));
        let pool = Arc::new(ThreadPool::new(2).expect("a pool of 2 starts"));
        // Both workers are held until the pool leaves its `Arc`, so that the
        // 500 jobs are all still queued when shutdown_timeout starts.
        let barrier = Arc::new(Barrier::new(3));
        for _ in 0..2 {
            let (weak, barrier) = (Arc::downgrade(&pool), Arc::clone(&barrier));
            pool.execute(move || {
                TOUCHED.with(|_| ());
                barrier.wait();
                while weak.strong_count() > 0 {
                    thread::yield_now();
                }
            })
            .expect("the pool accepts the occupying job");
        }
        barrier.wait();
        for i in 0..500 {
            let counter = Arc::clone(&counter);
            pool.execute(move || {
                counter.fetch_add(1, SeqCst);
                if i % 10 == 3 {
                    panic!("{EXPECTED_PANIC}: queued job {i}");
                }
            })
            .expect("the pool accepts the job");
        }
        assert_eq!(pool.stats().queued, 500);
        assert_eq!(EXITED.load(SeqCst), 0);
        let pool = Arc::try_unwrap(pool).expect("the test holds the only strong reference");
        let started = Instant::now();
        let stats = pool.shutdown_timeout(TIMEOUT);
        let elapsed = started.elapsed();
        let stats = stats.expect("every job finishes in time");
        assert_eq!(fields(stats), (2, 0, 0, 452, 50));
        assert_eq!(counter.load(SeqCst), 500, "every queued job ran");
        assert!(
            elapsed < TIMEOUT,
            "shutdown_timeout waited for its whole timeout ({elapsed:?})"
        );
        assert_eq!(
            EXITED.load(SeqCst),
            2,
            "after an Ok shutdown_timeout every worker has exited"
        );
    });
}

// ---------------------------------------------------------------------------
// JobHandle::is_finished
// ---------------------------------------------------------------------------

#[test]
fn is_finished_is_false_while_the_job_runs_or_waits_and_true_once_it_ended() {
    quiet_expected_panics();
    within("is_finished", || {
        let pool = ThreadPool::new(1).expect("a pool of 1 starts");
        let (running, gate) = spawn_gated(&pool, || 7);
        let queued = pool.spawn(|| 8).expect("the pool accepts the job");
        let panicking = pool
            .spawn(|| -> u8 { panic!("{EXPECTED_PANIC}: is_finished") })
            .expect("the pool accepts the job");
        for _ in 0..100 {
            assert!(!running.is_finished(), "a blocked job is not finished");
            assert!(!queued.is_finished(), "a queued job is not finished");
            assert!(!panicking.is_finished(), "a queued job is not finished");
            thread::yield_now();
        }
        gate.send(()).expect("the job waits for this");
        eventually("the released job is finished", || running.is_finished());
        eventually("the queued job is finished", || queued.is_finished());
        eventually("the panicked job is finished", || panicking.is_finished());
        assert!(running.is_finished(), "finished stays finished");
        assert_eq!(running.join(), Ok(7));
        assert_eq!(queued.join(), Ok(8));
        assert!(matches!(panicking.join(), Err(JobError::Panicked(_))));

        // wait_idle waits until each job's value is handed over, so every
        // handle is finished as soon as it returns.
        let handles: Vec<JobHandle<usize>> = (0..50)
            .map(|i| pool.spawn(move || i).expect("the pool accepts the job"))
            .collect();
        pool.wait_idle().expect("wait_idle from outside the pool");
        for (i, handle) in handles.into_iter().enumerate() {
            assert!(handle.is_finished(), "job {i} after wait_idle");
            assert_eq!(handle.join(), Ok(i));
        }
    });
}

/// A job cancelled by `shutdown_now` is finished (its `join` would return
/// `Cancelled` at once). The running job waits on a channel whose only
/// sender the queued job holds, so it ends only when the queued job is
/// dropped unrun.
#[test]
fn is_finished_is_true_for_a_job_cancelled_by_shutdown_now() {
    within("is_finished after shutdown_now", || {
        let pool = ThreadPool::new(1).expect("a pool of 1 starts");
        let (unblock_tx, unblock_rx) = mpsc::channel::<()>();
        let (running, gate) = spawn_gated(&pool, move || unblock_rx.recv().is_err());
        let queued = pool
            .spawn(move || {
                let _ = unblock_tx.send(());
            })
            .expect("the pool accepts the job");
        assert!(!queued.is_finished(), "a queued job is not finished");
        drop(gate);
        let stats = pool.shutdown_now();
        assert_eq!((stats.queued, stats.completed), (1, 1));
        assert!(
            queued.is_finished(),
            "a job cancelled by shutdown_now is finished"
        );
        assert_eq!(queued.join(), Err(JobError::Cancelled));
        assert!(running.is_finished());
        assert_eq!(running.join(), Ok(true), "the queued job was dropped unrun");
    });
}

// ---------------------------------------------------------------------------
// JobHandle as a Future
// ---------------------------------------------------------------------------

/// Wakes a parked thread.
struct ThreadWaker(thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// The smallest executor: polls `future` on this thread, parking between
/// polls until its waker unparks the thread.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            // A lost wake-up parks here for ever, and `within` fails the test.
            Poll::Pending => thread::park(),
        }
    }
}

/// Sends its name on a channel each time it is woken.
struct ChannelWaker(Mutex<mpsc::Sender<&'static str>>, &'static str);

impl Wake for ChannelWaker {
    fn wake(self: Arc<Self>) {
        let _ = self.0.lock().expect("not poisoned").send(self.1);
    }
}

fn channel_waker(tx: &mpsc::Sender<&'static str>, name: &'static str) -> Waker {
    Waker::from(Arc::new(ChannelWaker(Mutex::new(tx.clone()), name)))
}

/// The executors a `JobHandle` is awaited on.
#[derive(Debug, Clone, Copy)]
enum Executor {
    TokioCurrentThread,
    TokioMultiThread,
    BlockOn,
}

const EXECUTORS: [Executor; 3] = [
    Executor::TokioCurrentThread,
    Executor::TokioMultiThread,
    Executor::BlockOn,
];

/// Runs `future` to completion on `executor` (on tokio's multi-thread
/// runtime, as a task on one of its workers).
fn run_on<F>(executor: Executor, future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match executor {
        Executor::TokioCurrentThread => tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime starts")
            .block_on(future),
        Executor::TokioMultiThread => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_time()
                .build()
                .expect("a multi-thread runtime starts");
            runtime
                .block_on(runtime.spawn(future))
                .expect("the task ends")
        }
        Executor::BlockOn => block_on(future),
    }
}

/// Awaits `future`, sending on `pending` the first time a poll of it
/// returns `Pending`.
async fn announce_pending<F: Future>(future: F, pending: mpsc::Sender<()>) -> F::Output {
    let mut future = pin!(future);
    let mut announced = false;
    std::future::poll_fn(move |cx| {
        let poll = future.as_mut().poll(cx);
        if poll.is_pending() && !announced {
            announced = true;
            let _ = pending.send(());
        }
        poll
    })
    .await
}

/// A handle being awaited on a thread of its own.
struct Awaiting<T> {
    /// Receives once the first poll returned `Pending`.
    pending: mpsc::Receiver<()>,
    /// Receives what the `.await` gave.
    done: mpsc::Receiver<Result<T, JobError>>,
    thread: thread::JoinHandle<()>,
}

/// Awaits `handle` on `executor`, on a thread of its own.
fn await_elsewhere<T: Send + 'static>(executor: Executor, handle: JobHandle<T>) -> Awaiting<T> {
    let (pending_tx, pending) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    let thread = thread::spawn(move || {
        let output = run_on(executor, async move {
            announce_pending(handle, pending_tx).await
        });
        let _ = done_tx.send(output);
    });
    Awaiting {
        pending,
        done,
        thread,
    }
}

/// Awaits a job blocked on a gate (so the task must really be woken by the
/// worker), then one that had already finished, on each executor.
#[test]
fn an_awaited_job_handle_gives_the_jobs_value() {
    within("awaiting values", || {
        let pool = ThreadPool::new(2).expect("a pool of 2 starts");
        for executor in EXECUTORS {
            let (handle, gate) = spawn_gated(&pool, move || format!("value on {executor:?}"));
            let awaiting = await_elsewhere(executor, handle);
            awaiting
                .pending
                .recv_timeout(LIMIT)
                .expect("the first poll is Pending while the job waits");
            assert!(
                matches!(
                    awaiting.done.recv_timeout(NOT_YET),
                    Err(RecvTimeoutError::Timeout)
                ),
                "{executor:?}: the await ended while the job was still blocked"
            );
            gate.send(()).expect("the job waits for this");
            assert_eq!(
                awaiting.done.recv_timeout(LIMIT),
                Ok(Ok(format!("value on {executor:?}"))),
                "{executor:?}: the worker woke the task with the value"
            );
            awaiting.thread.join().expect("the awaiting thread ends");

            let ready = pool.spawn(|| 5_u8).expect("the pool accepts the job");
            pool.wait_idle().expect("wait_idle from outside the pool");
            assert_eq!(
                run_on(executor, ready),
                Ok(5),
                "{executor:?}: a handle already finished"
            );
        }
        assert_eq!(fields(pool.shutdown()), (2, 0, 0, 6, 0));
    });
}

#[test]
fn an_awaited_job_handle_gives_the_panic_as_panicked_with_its_message() {
    quiet_expected_panics();
    within("awaiting panics", || {
        let pool = ThreadPool::new(2).expect("a pool of 2 starts");
        for executor in EXECUTORS {
            let (handle, gate) = spawn_gated(&pool, move || -> u32 {
                panic!("{EXPECTED_PANIC}: awaited on {executor:?}")
            });
            let awaiting = await_elsewhere(executor, handle);
            awaiting
                .pending
                .recv_timeout(LIMIT)
                .expect("the first poll is Pending while the job waits");
            gate.send(()).expect("the job waits for this");
            assert_eq!(
                awaiting.done.recv_timeout(LIMIT),
                Ok(Err(JobError::Panicked(format!(
                    "{EXPECTED_PANIC}: awaited on {executor:?}"
                )))),
                "{executor:?}"
            );
            awaiting.thread.join().expect("the awaiting thread ends");
        }
        assert_eq!(fields(pool.shutdown()), (2, 0, 0, 0, 3));
    });
}

/// A task awaiting a job queued behind a blocker is woken with `Cancelled`
/// by `shutdown_now`; awaiting a handle already cancelled gives `Cancelled`
/// too. The blocker waits on a channel whose only sender the queued job
/// holds, so it ends only when the queued job is dropped unrun.
#[test]
fn an_awaited_job_handle_gives_cancelled_after_shutdown_now() {
    within("awaiting cancelled jobs", || {
        for executor in EXECUTORS {
            let pool = ThreadPool::new(1).expect("a pool of 1 starts");
            let (unblock_tx, unblock_rx) = mpsc::channel::<()>();
            let (_blocker, gate) = spawn_gated(&pool, move || unblock_rx.recv().is_err());
            drop(gate);
            let queued = pool
                .spawn(move || {
                    let _ = unblock_tx.send(());
                    1_u8
                })
                .expect("the pool accepts the job");
            let later = pool.spawn(|| 2_u8).expect("the pool accepts the job");
            let awaiting = await_elsewhere(executor, queued);
            awaiting
                .pending
                .recv_timeout(LIMIT)
                .expect("the first poll is Pending while the job is queued");
            let stats = pool.shutdown_now();
            assert_eq!((stats.queued, stats.completed), (2, 1), "{executor:?}");
            assert_eq!(
                awaiting.done.recv_timeout(LIMIT),
                Ok(Err(JobError::Cancelled)),
                "{executor:?}: the pending task was woken with Cancelled"
            );
            awaiting.thread.join().expect("the awaiting thread ends");
            assert_eq!(
                run_on(executor, later),
                Err(JobError::Cancelled),
                "{executor:?}: a handle cancelled before its first poll"
            );
        }
    });
}

/// A future's contract: only the waker of the latest poll must be woken. A
/// handle that kept the first one would hang a task that moved between
/// polls (tokio's multi-thread runtime moves tasks).
#[test]
fn an_awaited_job_handle_wakes_the_waker_of_its_latest_poll() {
    within("the latest waker", || {
        let pool = ThreadPool::new(1).expect("a pool of 1 starts");
        let (handle, gate) = spawn_gated(&pool, || 9_u8);
        let mut handle = Box::pin(handle);
        let (woken_tx, woken_rx) = mpsc::channel();
        let first = channel_waker(&woken_tx, "first");
        let second = channel_waker(&woken_tx, "second");
        assert!(handle
            .as_mut()
            .poll(&mut Context::from_waker(&first))
            .is_pending());
        assert!(handle
            .as_mut()
            .poll(&mut Context::from_waker(&second))
            .is_pending());
        gate.send(()).expect("the job waits for this");
        loop {
            match woken_rx.recv_timeout(LIMIT) {
                Ok("second") => break,
                Ok(_) => continue,
                Err(_) => panic!("the waker of the latest poll was not woken"),
            }
        }
        assert_eq!(
            handle.as_mut().poll(&mut Context::from_waker(&second)),
            Poll::Ready(Ok(9))
        );
        assert_eq!(pool.shutdown().completed, 1);
    });
}

/// A future dropped by `tokio::time::timeout` while its job runs: the job's
/// value is still dropped (exactly once) and the worker goes on to run later
/// jobs, on both tokio runtimes.
#[test]
fn an_awaited_job_handle_dropped_by_a_timeout_leaks_no_value_and_hangs_no_worker() {
    within("awaiting with a timeout", || {
        for executor in [Executor::TokioCurrentThread, Executor::TokioMultiThread] {
            let pool = ThreadPool::new(1).expect("a pool of 1 starts");
            let drops = Arc::new(AtomicUsize::new(0));
            let value = Tracked(Arc::clone(&drops));
            let (handle, gate) = spawn_gated(&pool, move || value);
            let timed_out = run_on(executor, async move {
                tokio::time::timeout(Duration::from_millis(20), handle)
                    .await
                    .is_err()
            });
            assert!(timed_out, "{executor:?}: the blocked job timed out");
            assert_eq!(drops.load(SeqCst), 0, "{executor:?}: the job still runs");
            gate.send(()).expect("the job waits for this");
            assert_eq!(
                pool.spawn(|| 42).expect("the pool accepts the job").join(),
                Ok(42),
                "{executor:?}: the worker runs later jobs"
            );
            assert_eq!(fields(pool.shutdown()), (1, 0, 0, 2, 0), "{executor:?}");
            assert_eq!(
                drops.load(SeqCst),
                1,
                "{executor:?}: the value of the dropped future was dropped once"
            );
        }
    });
}

/// A handle polled once and dropped, before its job ends and after its job
/// ended and woke the waker: each value is dropped exactly once, and the
/// worker runs later jobs.
#[test]
fn a_job_handle_polled_once_then_dropped_leaks_no_value_and_hangs_no_worker() {
    within("polled once, then dropped", || {
        let pool = ThreadPool::new(1).expect("a pool of 1 starts");
        let drops = Arc::new(AtomicUsize::new(0));

        let value = Tracked(Arc::clone(&drops));
        let (handle, gate) = spawn_gated(&pool, move || value);
        let mut handle = Box::pin(handle);
        assert!(handle
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending());
        drop(handle);
        gate.send(()).expect("the job waits for this");

        let value = Tracked(Arc::clone(&drops));
        let (handle, gate) = spawn_gated(&pool, move || value);
        let mut handle = Box::pin(handle);
        let (woken_tx, woken_rx) = mpsc::channel();
        let waker = channel_waker(&woken_tx, "polled once");
        assert!(handle
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        gate.send(()).expect("the job waits for this");
        assert_eq!(
            woken_rx.recv_timeout(LIMIT),
            Ok("polled once"),
            "the worker wakes the waker of the pending poll"
        );
        eventually("the woken handle is finished", || handle.is_finished());
        assert_eq!(drops.load(SeqCst), 1, "only the first value is dropped yet");
        drop(handle);
        assert_eq!(drops.load(SeqCst), 2, "dropping the handle drops its value");

        assert_eq!(
            pool.spawn(|| 42).expect("the pool accepts the job").join(),
            Ok(42),
            "the worker runs later jobs"
        );
        assert_eq!(fields(pool.shutdown()), (1, 0, 0, 3, 0));
        assert_eq!(drops.load(SeqCst), 2, "each value dropped exactly once");
    });
}

// ---------------------------------------------------------------------------
// on_thread_start / on_thread_stop
// ---------------------------------------------------------------------------

/// What a hook saw: the index it was given, the name of the thread it ran
/// on, its id, and (for the stop hook) the index the start hook left in the
/// thread's thread-local.
type HookCall = (usize, Option<String>, thread::ThreadId, Option<usize>);

/// How a pool ends, in [`hooks_run_once_per_worker_on_that_worker`].
#[derive(Debug, Clone, Copy)]
enum Finish {
    Shutdown,
    ShutdownNow,
    ShutdownTimeout,
    Drop,
}

/// Builds a pool of 3 with both hooks, runs `jobs` jobs on every worker
/// (barriers) or none, ends it with `finish`, and checks each hook ran once
/// per worker, on that worker, with its index.
fn hooks_run_once_per_worker_on_that_worker(
    prefix: Option<&str>,
    run_jobs: bool,
    finish: Finish,
    slot: &'static LocalKey<Cell<Option<usize>>>,
) {
    const WORKERS: usize = 3;
    let starts: Arc<Mutex<Vec<HookCall>>> = Arc::default();
    let stops: Arc<Mutex<Vec<HookCall>>> = Arc::default();
    let record = |calls: &Arc<Mutex<Vec<HookCall>>>, start: bool| {
        let calls = Arc::clone(calls);
        move |index: usize| {
            let current = thread::current();
            let seen = if start {
                slot.with(|slot| slot.replace(Some(index)))
            } else {
                slot.with(Cell::get)
            };
            calls.lock().expect("not poisoned").push((
                index,
                current.name().map(str::to_owned),
                current.id(),
                seen,
            ));
        }
    };
    let mut builder = ThreadPool::builder()
        .workers(WORKERS)
        .on_thread_start(record(&starts, true))
        .on_thread_stop(record(&stops, false));
    if let Some(prefix) = prefix {
        builder = builder.thread_name(prefix);
    }
    let pool = builder.build().expect("a hooked pool starts");
    let prefix = prefix.unwrap_or("ptm-worker");
    let case = format!("prefix {prefix}, jobs {run_jobs}, {finish:?}");

    if run_jobs {
        // 3 jobs meet at a barrier, so each worker runs one; each sees the
        // index that the start hook left on its thread.
        for _ in 0..2 {
            let barrier = Arc::new(Barrier::new(WORKERS));
            let handles: Vec<JobHandle<(Option<String>, Option<usize>)>> = (0..WORKERS)
                .map(|_| {
                    let barrier = Arc::clone(&barrier);
                    pool.spawn(move || {
                        barrier.wait();
                        (
                            thread::current().name().map(str::to_owned),
                            slot.with(Cell::get),
                        )
                    })
                    .expect("the pool accepts the job")
                })
                .collect();
            for handle in handles {
                let (name, index) = handle.join().expect("the job returns");
                let index = index.expect("the start hook ran before the job, on its thread");
                assert_eq!(name, Some(format!("{prefix}-{index}")), "{case}");
            }
        }
    }
    match finish {
        Finish::Shutdown => {
            let _ = pool.shutdown();
        }
        Finish::ShutdownNow => {
            let _ = pool.shutdown_now();
        }
        Finish::ShutdownTimeout => {
            let _ = pool.shutdown_timeout(LIMIT).expect("no job is stuck");
        }
        Finish::Drop => drop(pool),
    }

    let starts = starts.lock().expect("not poisoned").clone();
    let stops = stops.lock().expect("not poisoned").clone();
    for (hook, calls) in [("on_thread_start", &starts), ("on_thread_stop", &stops)] {
        let indexes: Vec<usize> = calls.iter().map(|call| call.0).collect();
        let mut sorted = indexes.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..WORKERS).collect::<Vec<_>>(),
            "{case}: {hook} ran once per worker with indexes 0..{WORKERS}"
        );
        for (index, name, _, _) in calls {
            assert_eq!(
                name.as_deref(),
                Some(format!("{prefix}-{index}").as_str()),
                "{case}: {hook}({index}) ran on worker {index}"
            );
        }
        let threads: BTreeSet<String> = calls.iter().map(|call| format!("{:?}", call.2)).collect();
        assert_eq!(threads.len(), WORKERS, "{case}: {hook} ran on 3 threads");
    }
    for (index, _, _, seen) in &starts {
        assert_eq!(
            *seen, None,
            "{case}: on_thread_start({index}) ran first on its thread"
        );
    }
    for (index, _, id, seen) in &stops {
        let start = starts
            .iter()
            .find(|start| start.0 == *index)
            .expect("every worker started");
        assert_eq!(
            (*id, *seen),
            (start.2, Some(*index)),
            "{case}: on_thread_stop({index}) ran on the thread of on_thread_start({index})"
        );
    }
}

/// Each hook runs exactly once per worker, on that worker (its name is
/// `<prefix>-<index>` for the index it is given, and the start hook ran on
/// the thread before any job and before the stop hook), with indexes 0..n:
/// with and without jobs, with the default and a custom prefix, whichever
/// way the pool ends.
#[test]
fn hooks_run_once_per_worker_on_that_worker_with_its_index() {
    thread_local!(static SLOT: Cell<Option<usize>> = const { Cell::new(None) });
    within("hooks", || {
        for finish in [
            Finish::Shutdown,
            Finish::ShutdownNow,
            Finish::ShutdownTimeout,
            Finish::Drop,
        ] {
            for run_jobs in [true, false] {
                hooks_run_once_per_worker_on_that_worker(Some("hooked"), run_jobs, finish, &SLOT);
            }
        }
        hooks_run_once_per_worker_on_that_worker(None, true, Finish::Shutdown, &SLOT);
    });
}

/// A hook that panics must be reported (here: the panic's message reaches
/// stderr, through the panic hook), not abort the process nor take the
/// worker down: the pool still runs jobs on every worker and shuts down.
/// An abort would end the whole test binary, so the pool runs in a re-run
/// of this binary and the test checks that it exited successfully.
#[test]
fn panicking_hooks_do_not_abort_and_the_pool_still_runs_and_shuts_down() {
    const TEST: &str = "panicking_hooks_do_not_abort_and_the_pool_still_runs_and_shuts_down";
    if common::acting_as(TEST) {
        // No quiet hook here: the messages must reach stderr.
        let pool = ThreadPool::builder()
            .workers(2)
            .thread_name("hooked")
            .on_thread_start(|index| panic!("{EXPECTED_PANIC}: start hook {index}"))
            .on_thread_stop(|index| panic!("{EXPECTED_PANIC}: stop hook {index}"))
            .build()
            .expect("a pool with panicking hooks starts");
        assert_eq!(
            names_of_workers(&pool, 2),
            ["hooked-0", "hooked-1"],
            "both workers serve jobs after their start hook panicked"
        );
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..50 {
            pool.execute(count(&ran)).expect("the pool accepts the job");
        }
        assert_eq!(pool.spawn(|| 42).expect("accepted").join(), Ok(42));
        let stats = pool.shutdown();
        assert_eq!(ran.load(SeqCst), 50);
        assert_eq!(stats.completed, 2 + 50 + 1, "{stats:?}");

        let dropped = ThreadPool::builder()
            .workers(2)
            .on_thread_start(|index| panic!("{EXPECTED_PANIC}: start hook {index}"))
            .on_thread_stop(|index| panic!("{EXPECTED_PANIC}: stop hook {index}"))
            .build()
            .expect("a pool with panicking hooks starts");
        assert_eq!(dropped.spawn(|| 7).expect("accepted").join(), Ok(7));
        drop(dropped);
        println!("{}", common::DONE);
        return;
    }
    let output = common::within_for("the re-run", LIMIT * 2, || {
        common::rerun(TEST)
            .output()
            .expect("the re-run of this test binary starts")
    });
    common::assert_rerun_done(TEST, &output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // ptm's own report, which names the hook and the worker (std's panic
    // hook prints the panic message anyway, so that alone proves nothing).
    for (hook, index) in [("start", 0), ("start", 1), ("stop", 0), ("stop", 1)] {
        let report = format!(
            "ptm: the pool's on_thread_{hook} hook panicked on worker {index}: \
             {EXPECTED_PANIC}: {hook} hook {index}; the worker goes on"
        );
        assert!(
            stderr.contains(&report),
            "ptm reports the {hook} hook's panic on worker {index} ({report:?}):\n{stderr}"
        );
    }
}

/// `shutdown_timeout` called from a job that owns its pool of one worker:
/// the jobs queued behind it can only run on that worker after the job
/// returns, so the call must not run them (one could be the job that never
/// returns) and must not wait for them: it says so, with those jobs in
/// `stats.queued` and the calling job as the one running, and they do run
/// afterwards.
#[test]
fn shutdown_timeout_from_its_own_job_leaves_the_queue_to_that_worker() {
    within("shutdown_timeout from the pool's own job", || {
        let pool = ThreadPool::new(1).expect("pool");
        let (handover, receive_pool) = mpsc::channel::<ThreadPool>();
        let (verdict_tx, verdict) = mpsc::channel();
        let (ran_tx, ran) = mpsc::channel();
        pool.execute(move || {
            let pool = receive_pool.recv().expect("the pool");
            let outcome = pool.shutdown_timeout(Duration::from_secs(30));
            verdict_tx.send(outcome).expect("verdict");
        })
        .expect("execute");
        for i in 0..3 {
            let ran_tx = ran_tx.clone();
            pool.execute(move || ran_tx.send(i).expect("ran"))
                .expect("execute");
        }
        drop(ran_tx);
        handover.send(pool).expect("hand the pool over");
        match verdict.recv().expect("the job reports") {
            Err(Error::ShutdownTimeout { running, stats }) => {
                assert_eq!(running, 1, "only the calling job was running");
                assert_eq!(stats.queued, 3, "{stats:?}");
            }
            other => panic!("expected ShutdownTimeout with running 0, got {other:?}"),
        }
        // The three queued jobs still run, on the one worker, after the job
        // that shut the pool down returned.
        let mut order: Vec<i32> = ran.iter().collect();
        order.sort_unstable();
        assert_eq!(order, [0, 1, 2]);
    });
}
