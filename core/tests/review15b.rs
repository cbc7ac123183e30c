//! Second review of issue 15 (the first review's fixes, 3b92439..136f160):
//! each test here demonstrates one finding and fails on the code as
//! reviewed (the two marked "regression" pass on 3b92439).
#![cfg(not(loom))]

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ptm::pool::ThreadPool;

mod common;
use common::{within_for, LIMIT};

const HANG: Duration = Duration::from_secs(20);

thread_local! {
    /// How many of the test's jobs are on this thread's stack right now.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Counts the nesting of the test's jobs on the calling thread: returns a
/// guard, and records the deepest nesting seen in `max`.
struct Nest;

impl Nest {
    fn enter(max: &AtomicUsize) -> Nest {
        let depth = DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get()
        });
        max.fetch_max(depth, SeqCst);
        Nest
    }
}

impl Drop for Nest {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// Step `left` of a chain: each step submits the next, then returns.
fn chain(pool: Arc<ThreadPool>, left: usize, max: Arc<AtomicUsize>, done: mpsc::Sender<()>) {
    let _nest = Nest::enter(&max);
    if left == 0 {
        let _ = done.send(());
        return;
    }
    let next = Arc::clone(&pool);
    let max2 = Arc::clone(&max);
    pool.execute(move || chain(next, left - 1, max2, done))
        .expect("accepted");
}

/// Runs a chain of `steps` on `pool`; the deepest nesting of its steps on
/// one thread.
fn chain_depth(pool: ThreadPool, steps: usize) -> usize {
    let pool = Arc::new(pool);
    let max = Arc::new(AtomicUsize::new(0));
    let (done, finished) = mpsc::channel();
    let (p, m) = (Arc::clone(&pool), Arc::clone(&max));
    pool.execute(move || chain(p, steps, m, done))
        .expect("accepted");
    finished.recv_timeout(LIMIT).expect("the chain ends");
    max.load(SeqCst)
}

// ---------------------------------------------------------------------------
// Finding A: `submit_from_worker` nests without bound. On a full bounded
// queue a job's `execute` runs the new job (or a queued one) inline, on the
// submitting job's stack; that job may submit in turn, and so on. A job
// that resubmits itself (a periodic task, a mailbox loop, a chain of
// steps: the very pattern FAIRNESS was added for) on a rendezvous pool of
// one nests one frame per step, and a long chain overflows the worker's
// stack: the process dies (SIGSEGV). Before the fix it deadlocked; an
// unbounded pool runs the same chain at depth 1.

/// The chain's steps nest one per step instead of running one after the
/// other.
#[test]
fn a_self_resubmitting_job_on_a_rendezvous_pool_of_one_does_not_nest() {
    let depth = within_for("a chain on a rendezvous pool of 1", HANG, || {
        let pool = ThreadPool::builder()
            .workers(1)
            .queue_capacity(0)
            .build()
            .expect("pool");
        chain_depth(pool, 100)
    });
    assert!(
        depth <= 2,
        "a chain of 100 steps nested {depth} deep on the worker's stack \
         (an unbounded pool runs it at depth 1)"
    );
}

/// Not only rendezvous pools: a binary fan-out on 2 workers with a queue of
/// 16 nests about 8 x 16 + 1 = 161 jobs deep (513 with a queue of 64: the
/// nesting grows with the queue's capacity, not the tree's depth), since
/// each submission that finds the queue full runs the *oldest* queued job
/// inline, which submits in turn into the full queue.
#[test]
fn fan_out_on_a_bounded_pool_nests_no_deeper_than_the_tree() {
    fn fan(pool: Arc<ThreadPool>, level: u32, max: Arc<AtomicUsize>, count: Arc<AtomicUsize>) {
        let _nest = Nest::enter(&max);
        count.fetch_add(1, SeqCst);
        if level == 0 {
            return;
        }
        for _ in 0..2 {
            let (p, m, c) = (Arc::clone(&pool), Arc::clone(&max), Arc::clone(&count));
            pool.execute(move || fan(p, level - 1, m, c))
                .expect("accepted");
        }
    }
    let depth = within_for("a fan-out on a bounded pool", HANG, || {
        let pool = Arc::new(
            ThreadPool::builder()
                .workers(2)
                .queue_capacity(16)
                .build()
                .expect("pool"),
        );
        let max = Arc::new(AtomicUsize::new(0));
        let count = Arc::new(AtomicUsize::new(0));
        let (p, m, c) = (Arc::clone(&pool), Arc::clone(&max), Arc::clone(&count));
        pool.execute(move || fan(p, 14, m, c)).expect("accepted");
        pool.wait_idle().expect("idle");
        assert_eq!(count.load(SeqCst), (1 << 15) - 1);
        max.load(SeqCst)
    });
    // The tree is 15 levels deep: a nesting deeper than that is not the
    // program's recursion but the pool's.
    assert!(
        depth <= 16,
        "a binary fan-out 15 levels deep nested {depth} jobs on one worker's stack"
    );
}

const OVERFLOW_ROLE: &str = "a_long_chain_on_a_rendezvous_pool_of_one_does_not_overflow_the_stack";

/// What the long chain does to the process: it dies of a stack overflow
/// (run in a re-run of this binary, whose death the parent observes).
#[test]
fn a_long_chain_on_a_rendezvous_pool_of_one_does_not_overflow_the_stack() {
    if common::acting_as(OVERFLOW_ROLE) {
        let pool = ThreadPool::builder()
            .workers(1)
            .queue_capacity(0)
            .stack_size(256 * 1024)
            .build()
            .expect("pool");
        chain_depth(pool, 100_000);
        println!("{}", common::DONE);
        return;
    }
    let output = within_for("the re-run", Duration::from_secs(120), || {
        common::rerun(OVERFLOW_ROLE).output().expect("re-run")
    });
    common::assert_rerun_done(OVERFLOW_ROLE, &output);
}

// ---------------------------------------------------------------------------
// Finding B (regression: passes on 3b92439): `execute` from a job on a full bounded pool of several workers
// now runs an *unrelated* queued job on the submitting job's stack, where it
// used to wait for another worker to make room. The hazard that finding 8
// documents for `join` (the helped job blocks on something the waiting job
// holds) now applies to every submission from a job, with no other worker
// stuck: a job that holds a lock while it submits (a crawler adding links
// under its `seen` lock) deadlocks with a queued job that takes the lock.
// Here the queued job gives up after 2 s instead of hanging.

#[test]
fn execute_from_a_job_holding_a_lock_does_not_run_a_queued_job_that_needs_it() {
    within_for("a job that submits under a lock", HANG, || {
        let pool = Arc::new(
            ThreadPool::builder()
                .workers(2)
                .queue_capacity(1)
                .build()
                .expect("pool"),
        );
        let lock = Arc::new(Mutex::new(()));
        // Worker 1: busy until released.
        let (busy_started, busy_running) = mpsc::channel();
        let (release_busy, busy_gate) = mpsc::channel::<()>();
        pool.execute(move || {
            let _ = busy_started.send(());
            let _ = busy_gate.recv();
        })
        .expect("accepted");
        busy_running.recv_timeout(LIMIT).expect("busy job runs");
        // Worker 0: the submitter, waiting for the go.
        let (sub_started, sub_running) = mpsc::channel();
        let (go, go_rx) = mpsc::channel::<()>();
        let (p, l) = (Arc::clone(&pool), Arc::clone(&lock));
        pool.execute(move || {
            let _ = sub_started.send(());
            let _ = go_rx.recv();
            let _held = l.lock().unwrap();
            // The queue is full (the job below): this used to wait for room.
            p.execute(|| {}).expect("accepted");
        })
        .expect("accepted");
        sub_running.recv_timeout(LIMIT).expect("submitter runs");
        // The queue's one slot: a job that needs the lock.
        let got_lock = Arc::new(AtomicBool::new(false));
        let (l, got) = (Arc::clone(&lock), Arc::clone(&got_lock));
        pool.execute(move || {
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                if l.try_lock().is_ok() {
                    got.store(true, SeqCst);
                    return;
                }
                thread::sleep(Duration::from_millis(5));
            }
        })
        .expect("accepted");
        go.send(()).expect("submitter waits");
        // Let the submitter reach its `execute`, then free worker 1.
        thread::sleep(Duration::from_millis(200));
        drop(release_busy);
        pool.wait_idle().expect("idle");
        assert!(
            got_lock.load(SeqCst),
            "the queued job never got the lock: the submitter ran it inline, \
             inside `execute`, while holding the lock (a deadlock had it blocked)"
        );
    });
}

// ---------------------------------------------------------------------------
// Finding C (regression: passes on 3b92439): the FAIRNESS look also runs inside `help_until`, so a `join`
// whose child is on top of its own deque runs an outside job first, every
// 61 finds; `JobHandle::join` documents that "its own worker's newest jobs
// come first". On a pool of one, joining a child just spawned used to run
// only that child (nobody steals it); now it runs foreign jobs on the
// joiner's stack, which the finding-8 rule (do not hold up, past a join,
// what another queued job waits for) now makes a hazard even for this
// simplest fork-join.

#[test]
fn join_of_a_child_just_spawned_on_a_pool_of_one_runs_that_child_first() {
    within_for("joins on a pool of 1", HANG, || {
        let pool = Arc::new(ThreadPool::new(1).expect("pool"));
        let joining = Arc::new(AtomicBool::new(false));
        let foreign_during_join = Arc::new(AtomicUsize::new(0));
        let (go, go_rx) = mpsc::channel::<()>();
        let (p, j) = (Arc::clone(&pool), Arc::clone(&joining));
        let forker = pool
            .spawn(move || {
                let _ = go_rx.recv();
                for _ in 0..300 {
                    let child = p.spawn(|| 1).expect("accepted");
                    j.store(true, SeqCst);
                    let value = child.join().expect("child ran");
                    j.store(false, SeqCst);
                    assert_eq!(value, 1);
                }
            })
            .expect("accepted");
        // Outside jobs, queued behind the forker (the only worker).
        for _ in 0..20 {
            let (j, f) = (Arc::clone(&joining), Arc::clone(&foreign_during_join));
            pool.execute(move || {
                if j.load(SeqCst) {
                    f.fetch_add(1, SeqCst);
                }
            })
            .expect("accepted");
        }
        go.send(()).expect("forker waits");
        forker.join().expect("forker ran");
        pool.wait_idle().expect("idle");
        let foreign = foreign_during_join.load(SeqCst);
        assert_eq!(
            foreign, 0,
            "{foreign} outside job(s) ran inside a join whose own child was \
             the newest job of its deque"
        );
    });
}

// ---------------------------------------------------------------------------
// Finding D (an incomplete fix; fails on 3b92439 too): the EXIT_NOTICE fix (finding 5) covers Rust thread-locals only.
// glibc runs the `__cxa_thread_atexit` list (Rust's thread_local!) first and
// the `pthread_key_create` destructors after it, so a C library's
// per-thread state (or any pthread key) a job set up is destroyed *after*
// the notice is sent; `shutdown_timeout` then `join`s that thread with no
// bound, past its deadline ("the join waits only for the OS thread's end"
// is not so).

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod pthread_key {
    use std::ffi::c_void;
    use std::time::Duration;

    pub const SLOW: Duration = Duration::from_secs(3);

    extern "C" {
        fn pthread_key_create(
            key: *mut u32,
            destructor: Option<unsafe extern "C" fn(*mut c_void)>,
        ) -> i32;
        fn pthread_setspecific(key: u32, value: *const c_void) -> i32;
    }

    unsafe extern "C" fn slow_destructor(_: *mut c_void) {
        std::thread::sleep(SLOW);
    }

    /// Gives the calling thread a pthread key whose destructor takes [`SLOW`].
    pub fn set_slow_key() {
        let mut key = 0u32;
        // SAFETY: plain libc calls with valid pointers; the value is a
        // non-null dummy that the destructor ignores.
        unsafe {
            assert_eq!(pthread_key_create(&mut key, Some(slow_destructor)), 0);
            assert_eq!(pthread_setspecific(key, std::ptr::dangling::<c_void>()), 0);
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn shutdown_timeout_returns_on_time_when_a_pthread_key_destructor_is_slow() {
    const TIMEOUT: Duration = Duration::from_millis(200);
    let (elapsed, outcome) = common::pool::time_shutdown_timeout(
        pthread_key::set_slow_key,
        TIMEOUT,
        pthread_key::SLOW * 3,
    );
    assert!(
        elapsed < TIMEOUT + Duration::from_secs(1),
        "shutdown_timeout({TIMEOUT:?}) returned after {elapsed:?} ({outcome}): it \
         joined a worker whose pthread-key destructor took {:?}",
        pthread_key::SLOW
    );
}

/// `f` panics in a scope whose job also panicked with a payload whose `Drop`
/// panics: `f`'s panic reaches the caller, and the process does not abort
/// (the job's payload used to be dropped while unwinding).
#[test]
fn a_scope_whose_closure_and_job_both_panic_resumes_the_closures_panic() {
    // Its drop panics even while the thread unwinds: dropped then, it
    // aborts the process.
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("expected: a payload whose drop panics");
        }
    }
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let pool = ThreadPool::new(2).expect("pool");
        pool.scope(|s| {
            s.spawn(|| std::panic::panic_any(Bomb));
            // Wait for the job to have panicked before panicking here.
            while pool.stats().panicked == 0 {
                std::thread::yield_now();
            }
            panic!("expected: the closure's own panic");
        });
    }));
    let payload = caught.expect_err("the scope resumes a panic");
    assert_eq!(
        payload.downcast_ref::<&str>().copied(),
        Some("expected: the closure's own panic")
    );
}
