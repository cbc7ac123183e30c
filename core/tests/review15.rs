//! Review of issue 15 (scope, helping joins, shutdown_timeout, awaitable
//! handles, hooks): each test here demonstrates one finding of the review
//! and fails on the change as reviewed (3b92439).
//!
//! Tests that could hang on the code under review run under `within_for`
//! with a short limit (the hung pool's threads are then leaked by the
//! failing test, nothing else). The one test that measures CPU time reads
//! `/proc/thread-self/schedstat` (Linux).
#![cfg(not(loom))]

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use ptm::pool::{JobHandle, ThreadPool};
use ptm::Error;

mod common;
use common::{within, within_for, LIMIT};

/// How long a test here waits before it calls a step hung: short, as a
/// correct pool does each of these steps in milliseconds.
const HANG: Duration = Duration::from_secs(10);

const EXPECTED_PANIC: &str = "expected review panic";

/// A panic payload that counts its drops.
struct CountedPanic(Arc<AtomicUsize>);

impl Drop for CountedPanic {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Keeps the panics these tests provoke out of the output.
fn quiet_expected_panics() {
    common::quiet_panics(EXPECTED_PANIC, |payload| payload.is::<CountedPanic>());
}

/// CPU time the calling thread has used so far (Linux schedstat, in ns).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("Linux exposes /proc/thread-self/schedstat");
    let ns = stat
        .split_whitespace()
        .next()
        .and_then(|ns| ns.parse().ok())
        .expect("schedstat starts with the time on CPU in ns");
    Duration::from_nanos(ns)
}

/// Starts a job that blocks until the returned gate is released (or
/// dropped); returns once it runs.
fn spawn_gated(pool: &ThreadPool) -> (JobHandle<u32>, mpsc::Sender<()>) {
    let (started_tx, started_rx) = mpsc::channel();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let handle = pool
        .spawn(move || {
            let _ = started_tx.send(());
            let _ = gate_rx.recv();
            1
        })
        .expect("accepted");
    started_rx
        .recv_timeout(LIMIT)
        .expect("the gated job starts");
    (handle, gate_tx)
}

// ---------------------------------------------------------------------------
// Finding 1: a worker waiting in `join` (or `scope`) busy-spins once the
// pool is closed. `Shared::idle_wait` does not park when `closed` is set,
// which is right for an idle worker (it must exit) but not for a helper,
// whose wake-up comes from its Signal: `help_until` loops find_job /
// after_job (a SeqCst fence) / set_waker / idle_wait (two lock round trips)
// at full speed until the awaited job ends. After `shutdown_timeout` gave
// up on that job, this lasts for the life of the process.
// ---------------------------------------------------------------------------

/// How long the awaited job stays blocked after the pool was closed.
const WINDOW: Duration = Duration::from_secs(1);

/// The most CPU a sleeping waiter may use over [`WINDOW`] (a parked thread
/// uses microseconds; a spinning one, most of the window).
const SLEEPING_CPU: Duration = Duration::from_millis(150);

/// A job joins the handle of a job blocked on another worker, the pool is
/// closed by `close` (on another thread), and after [`WINDOW`] the blocked
/// job is released: the CPU time the joining worker used meanwhile.
fn cpu_of_a_join_while_closed(close: fn(ThreadPool)) -> Duration {
    let pool = ThreadPool::new(2).expect("pool");
    let (slow, gate) = spawn_gated(&pool);
    let (joining_tx, joining_rx) = mpsc::channel();
    let joiner = pool
        .spawn(move || {
            let _ = joining_tx.send(());
            let before = thread_cpu();
            let value = slow.join();
            (value, thread_cpu() - before)
        })
        .expect("accepted");
    joining_rx.recv_timeout(LIMIT).expect("the joiner starts");
    let closer = thread::spawn(move || close(pool));
    // Not ordering anything: the length of the measured window.
    thread::sleep(WINDOW);
    gate.send(()).expect("the slow job waits for this");
    closer.join().expect("the shutdown returns");
    let (value, cpu) = within("the joiner", move || joiner.join().expect("joiner returns"));
    assert_eq!(value, Ok(1));
    cpu
}

#[test]
fn a_join_on_a_worker_sleeps_while_shutdown_waits_for_the_joined_job() {
    let cpu = cpu_of_a_join_while_closed(|pool| {
        let _ = pool.shutdown();
    });
    assert!(
        cpu < SLEEPING_CPU,
        "the joining worker used {cpu:?} of CPU in {WINDOW:?} while shutdown waited: \
         it spins instead of sleeping"
    );
}

#[test]
fn a_join_on_a_worker_left_behind_by_shutdown_timeout_sleeps() {
    let cpu = cpu_of_a_join_while_closed(|pool| {
        let outcome = pool.shutdown_timeout(Duration::from_millis(50));
        assert!(
            matches!(outcome, Err(Error::ShutdownTimeout { .. })),
            "{outcome:?}"
        );
    });
    assert!(
        cpu < SLEEPING_CPU,
        "the detached joining worker used {cpu:?} of CPU in {WINDOW:?}: it spins \
         for as long as the job it waits for runs (for ever, for a stuck job)"
    );
}

// ---------------------------------------------------------------------------
// Finding 2: `scope` called while the thread is unwinding (from a `Drop`
// during a panic) aborts the process. Its `AbortOnUnwind` guard checks
// `std::thread::panicking()`, which is already true on entry there, so the
// guard's normal drop at the end of the wait aborts. `std::thread::scope`
// works in the same place.
// ---------------------------------------------------------------------------

struct ScopeOnDrop<'a> {
    pool: &'a ThreadPool,
    ran: &'a AtomicUsize,
}

impl Drop for ScopeOnDrop<'_> {
    fn drop(&mut self) {
        let ran = self.ran;
        self.pool.scope(|s| {
            s.spawn(move || {
                ran.fetch_add(1, SeqCst);
            });
        });
    }
}

#[test]
fn scope_from_a_destructor_during_unwinding_does_not_abort() {
    const TEST: &str = "scope_from_a_destructor_during_unwinding_does_not_abort";
    if common::acting_as(TEST) {
        quiet_expected_panics();
        // The control: std's scope in the same place.
        let std_ran = AtomicUsize::new(0);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            struct StdScopeOnDrop<'a>(&'a AtomicUsize);
            impl Drop for StdScopeOnDrop<'_> {
                fn drop(&mut self) {
                    let ran = self.0;
                    thread::scope(|s| {
                        s.spawn(move || ran.fetch_add(1, SeqCst));
                    });
                }
            }
            let _cleanup = StdScopeOnDrop(&std_ran);
            panic!("{EXPECTED_PANIC}: unwinding through std's scope");
        }));
        assert!(outcome.is_err());
        assert_eq!(std_ran.load(SeqCst), 1);

        let pool = ThreadPool::new(2).expect("pool");
        let ran = AtomicUsize::new(0);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            let _cleanup = ScopeOnDrop {
                pool: &pool,
                ran: &ran,
            };
            panic!("{EXPECTED_PANIC}: unwinding through a ptm scope");
        }));
        assert!(outcome.is_err());
        assert_eq!(ran.load(SeqCst), 1, "the scoped job of the destructor ran");
        let _ = pool.shutdown();
        println!("{}", common::DONE);
        return;
    }
    let output = within_for("the re-run", LIMIT, || {
        common::rerun(TEST).output().expect("the re-run starts")
    });
    common::assert_rerun_done(TEST, &output);
}

// ---------------------------------------------------------------------------
// Finding 3: `scope` leaks the payload of every scoped job's panic but the
// first (`ScopedJob::run` calls `forget_payload` on it). std's scope drops
// them; `drop_quietly` would drop them and still survive a panicking Drop.
// ---------------------------------------------------------------------------

#[test]
fn scope_drops_the_payloads_of_the_panics_it_does_not_resume() {
    quiet_expected_panics();
    let drops = within("a scope with 4 panicking jobs", || {
        let pool = ThreadPool::new(2).expect("pool");
        let drops = Arc::new(AtomicUsize::new(0));
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                for _ in 0..4 {
                    let drops = Arc::clone(&drops);
                    s.spawn(move || panic::panic_any(CountedPanic(drops)));
                }
            });
        }));
        let payload = outcome.expect_err("a job's panic is resumed");
        assert!(payload.is::<CountedPanic>());
        drop(payload);
        let _ = pool.shutdown();
        drops.load(SeqCst)
    });
    assert_eq!(
        drops, 4,
        "every panic payload is dropped, not only the resumed one"
    );
}

// ---------------------------------------------------------------------------
// Finding 4: on a bounded pool, a job that spawns (or whose scope spawns)
// more jobs than the queue holds deadlocks its worker: `submit` blocks in
// the channel's `send` and only a worker would make room; helping starts
// only in `join`/`scope`, after the spawns. With a rendezvous queue
// (capacity 0) even one spawn from the only worker blocks for ever. The
// issue's "a pool of 1 worker whose job spawns 100 jobs and joins each
// finishes" and "(no deadlock, pool of 1 too)" are tested on the default
// (unbounded) pool only.
// ---------------------------------------------------------------------------

#[test]
fn a_job_on_a_bounded_pool_of_one_spawns_100_jobs_then_joins_each() {
    let total = within_for("a job spawning 100 jobs on a bounded pool", HANG, || {
        let pool = Arc::new(
            ThreadPool::builder()
                .workers(1)
                .queue_capacity(8)
                .build()
                .expect("pool"),
        );
        let inner = Arc::clone(&pool);
        pool.spawn(move || {
            let handles: Vec<JobHandle<u64>> = (0..100_u64)
                .map(|i| inner.spawn(move || i).expect("accepted"))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("returns"))
                .sum::<u64>()
        })
        .expect("accepted")
        .join()
    });
    assert_eq!(total, Ok(4950));
}

#[test]
fn scope_on_the_only_worker_of_a_bounded_pool_with_more_jobs_than_room() {
    let sum = within_for("a scope of 10 jobs on a bounded(2) pool of 1", HANG, || {
        let pool = Arc::new(
            ThreadPool::builder()
                .workers(1)
                .queue_capacity(2)
                .build()
                .expect("pool"),
        );
        let inner = Arc::clone(&pool);
        pool.spawn(move || {
            let numbers: Vec<u64> = (1..=100).collect();
            let sum = AtomicUsize::new(0);
            inner.scope(|s| {
                for chunk in numbers.chunks(10) {
                    let sum = &sum;
                    s.spawn(move || {
                        sum.fetch_add(chunk.iter().sum::<u64>() as usize, SeqCst);
                    });
                }
            });
            sum.into_inner()
        })
        .expect("accepted")
        .join()
    });
    assert_eq!(sum, Ok(5050));
}

#[test]
fn scope_on_the_only_worker_of_a_rendezvous_pool_returns() {
    let ran = within_for("a scope of 1 job on a rendezvous pool of 1", HANG, || {
        let pool = Arc::new(
            ThreadPool::builder()
                .workers(1)
                .queue_capacity(0)
                .build()
                .expect("pool"),
        );
        let inner = Arc::clone(&pool);
        pool.spawn(move || {
            let ran = AtomicBool::new(false);
            inner.scope(|s| s.spawn(|| ran.store(true, SeqCst)));
            ran.into_inner()
        })
        .expect("accepted")
        .join()
    });
    assert_eq!(ran, Ok(true));
}

// ---------------------------------------------------------------------------
// Finding 5: `shutdown_timeout` can wait past its deadline, without bound:
// after a worker's exit notice it calls `JoinHandle::join`, which also waits
// for the thread's thread-local destructors (they run after `Worker::run`
// returned and dropped the notice). A job that left a thread-local whose
// Drop blocks (a flush, a connection close) makes it block that long.
// ---------------------------------------------------------------------------

/// Blocks its thread's exit for [`SLOW_EXIT`].
struct SlowExit;

const SLOW_EXIT: Duration = Duration::from_secs(3);

impl Drop for SlowExit {
    fn drop(&mut self) {
        thread::sleep(SLOW_EXIT);
    }
}

thread_local!(static SLOW: RefCell<Option<SlowExit>> = const { RefCell::new(None) });

#[test]
fn shutdown_timeout_returns_on_time_when_a_worker_exits_slowly() {
    const TIMEOUT: Duration = Duration::from_millis(200);
    let (elapsed, outcome) = common::pool::time_shutdown_timeout(
        || SLOW.with(|slow| *slow.borrow_mut() = Some(SlowExit)),
        TIMEOUT,
        SLOW_EXIT * 3,
    );
    assert!(
        elapsed < TIMEOUT + Duration::from_secs(1),
        "shutdown_timeout({TIMEOUT:?}) returned after {elapsed:?} ({outcome}): it \
         joined a worker whose thread-locals took {SLOW_EXIT:?} to drop"
    );
}

// ---------------------------------------------------------------------------
// Finding 6: jobs submitted from outside can starve. A job's `execute` goes
// to its worker's own deque, which that worker always takes first
// (`find_job`: local, then the injector). A job that re-submits itself (a
// periodic task, an actor's mailbox loop) keeps a worker on its deque for
// ever; on a pool of 1 (or with every worker so occupied) a job submitted
// from outside never starts. The pool before the change ran jobs in FIFO
// order ("A fixed set of worker threads running submitted jobs in FIFO
// order"), so the outside job ran after at most one more round.
// ---------------------------------------------------------------------------

/// The chain gives up after this many rounds (so that the test ends).
const ROUNDS: usize = 200_000;

fn resubmit(pool: Arc<ThreadPool>, stop: Arc<AtomicBool>, rounds: Arc<AtomicUsize>) {
    if stop.load(SeqCst) || rounds.fetch_add(1, SeqCst) >= ROUNDS {
        return;
    }
    let p = Arc::clone(&pool);
    pool.execute(move || resubmit(p, stop, rounds))
        .expect("accepted");
}

#[test]
fn a_self_resubmitting_job_does_not_starve_jobs_from_outside() {
    let seen_at = within("a resubmitting chain and an outside job", || {
        let pool = Arc::new(ThreadPool::new(1).expect("pool"));
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicUsize::new(0));
        {
            let (p, s, r) = (Arc::clone(&pool), Arc::clone(&stop), Arc::clone(&rounds));
            pool.execute(move || resubmit(p, s, r)).expect("accepted");
        }
        while rounds.load(SeqCst) < 10 {
            thread::yield_now();
        }
        let seen_at = Arc::new(AtomicUsize::new(usize::MAX));
        {
            let (s, r, seen) = (Arc::clone(&stop), Arc::clone(&rounds), Arc::clone(&seen_at));
            let submitted_at = rounds.load(SeqCst);
            pool.execute(move || {
                seen.store(r.load(SeqCst) - submitted_at, SeqCst);
                s.store(true, SeqCst);
            })
            .expect("accepted");
        }
        pool.wait_idle().expect("wait_idle");
        let seen = seen_at.load(SeqCst);
        drop(Arc::try_unwrap(pool).map(ThreadPool::shutdown));
        seen
    });
    assert!(
        seen_at < 1000,
        "the job from outside started {seen_at} rounds of the chain after it was \
         submitted (the chain gives up after {ROUNDS}): starved"
    );
}

// ---------------------------------------------------------------------------
// Finding 7: `ShutdownTimeout::running` counts workers that have not exited,
// not jobs still running (the issue: "names how many jobs were still
// running"; the field's doc: "Workers still running a job (or about to
// start a queued one)"). A worker that was idle and is merely slow to see
// the close is reported as running a job.
// ---------------------------------------------------------------------------

/// Deterministic: each worker's stop hook waits for the test, so both
/// workers are still there at the deadline though neither runs a job. (The
/// same happens without hooks to idle workers that are slow to be
/// scheduled: `shutdown_timeout(Duration::ZERO)` on an idle pool of 2 gave
/// `running: 1` with `active: 0, queued: 0` in one of two runs here.)
#[test]
fn shutdown_timeout_does_not_count_workers_in_their_stop_hook_as_running_jobs() {
    use std::sync::{Condvar, Mutex};
    let release = Arc::new((Mutex::new(false), Condvar::new()));
    let hook_release = Arc::clone(&release);
    let pool = ThreadPool::builder()
        .workers(2)
        .on_thread_stop(move |_| {
            let (released, cv) = &*hook_release;
            let mut released = released.lock().expect("not poisoned");
            while !*released {
                released = cv.wait(released).expect("not poisoned");
            }
        })
        .build()
        .expect("pool");
    pool.execute(|| {}).expect("accepted");
    pool.wait_idle().expect("wait_idle");
    let outcome = pool.shutdown_timeout(Duration::from_millis(200));
    {
        let (released, cv) = &*release;
        *released.lock().expect("not poisoned") = true;
        cv.notify_all();
    }
    match outcome {
        Ok(stats) => assert_eq!(stats.completed, 1),
        Err(Error::ShutdownTimeout { running, stats }) => assert_eq!(
            (running, stats.active, stats.queued),
            (0, 0, 0),
            "no job was running or queued, yet `running` is {running}: {stats:?}"
        ),
        Err(other) => panic!("{other:?}"),
    }
}
