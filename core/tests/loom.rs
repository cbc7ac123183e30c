//! loom models of the pool's and the worker's shutdown and `wait_idle` paths,
//! of `join` and `scope` helping on a worker, and of the Waker handshake of
//! an awaited `JobHandle`.
//!
//! Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p ptm-core --release --test loom
//! ```
//!
//! Under `cfg(loom)` the crate's `sync` module swaps std's primitives and the
//! crossbeam queue for loom's, so loom explores every interleaving of the
//! workers, the submitters and the waiter (up to its preemption bound), with
//! the memory orderings the code really uses. A lost wake-up shows up as a
//! loom deadlock, a missing happens-before as a failed assertion.
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use loom::sync::Arc;
use loom::thread;
use ptm::pool::JobError;
use ptm::{Error, ThreadPool, WorkerThread};

/// A minimal executor on loom's threads: polls, and parks until woken. A
/// lost wake-up leaves it parked for ever, which loom reports as a deadlock.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        thread::park();
    }
}

/// Every loom model runs with the same bound, small enough for CI.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

fn counting_job(counter: &Arc<AtomicUsize>) -> impl FnOnce() + Send + 'static {
    let counter = Arc::clone(counter);
    // Relaxed on purpose: the pool's own orderings must make it visible.
    move || {
        counter.fetch_add(1, Relaxed);
    }
}

/// `shutdown` runs every queued job and joins both workers.
#[test]
fn shutdown_runs_every_queued_job() {
    model(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let pool = ThreadPool::new(2).expect("pool");
        pool.execute(counting_job(&ran)).expect("execute");
        pool.execute(counting_job(&ran)).expect("execute");
        let stats = pool.shutdown();
        assert_eq!(ran.load(Relaxed), 2);
        assert_eq!((stats.completed, stats.queued, stats.active), (2, 0, 0));
    });
}

/// Dropping the pool is `shutdown`: no accepted job is lost.
#[test]
fn drop_runs_every_queued_job() {
    model(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let pool = ThreadPool::new(1).expect("pool");
        pool.execute(counting_job(&ran)).expect("execute");
        pool.execute(counting_job(&ran)).expect("execute");
        drop(pool);
        assert_eq!(ran.load(Relaxed), 2);
    });
}

/// `wait_idle` returns only after the job's effects are visible, and never
/// sleeps through the last job's wake-up.
#[test]
fn wait_idle_sees_every_job() {
    model(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let pool = ThreadPool::new(2).expect("pool");
        pool.execute(counting_job(&ran)).expect("execute");
        pool.execute(counting_job(&ran)).expect("execute");
        pool.wait_idle().expect("wait_idle");
        assert_eq!(ran.load(Relaxed), 2);
        assert_eq!(pool.stats().completed, 2);
        drop(pool);
    });
}

/// A submission from another thread racing `wait_idle`: if it was accepted
/// before `wait_idle` began (observed through `accepted`), it has run.
#[test]
fn wait_idle_with_concurrent_submitter() {
    model(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let pool = Arc::new(ThreadPool::new(1).expect("pool"));
        let submitter = {
            let (pool, ran, accepted) = (pool.clone(), ran.clone(), accepted.clone());
            thread::spawn(move || {
                pool.execute(counting_job(&ran)).expect("execute");
                accepted.store(1, loom::sync::atomic::Ordering::Release);
            })
        };
        let before = accepted.load(loom::sync::atomic::Ordering::Acquire);
        pool.wait_idle().expect("wait_idle");
        assert!(ran.load(Relaxed) >= before);
        submitter.join().expect("submitter");
    });
}

/// A job refused by `try_execute` is withdrawn from the count, and a waiter
/// that saw it counted is woken: no deadlock, whichever order things happen.
#[test]
fn refused_job_does_not_strand_wait_idle() {
    model(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let pool = Arc::new(
            ThreadPool::builder()
                .workers(1)
                .queue_capacity(1)
                .build()
                .expect("pool"),
        );
        let submitter = {
            let (pool, ran) = (pool.clone(), ran.clone());
            thread::spawn(move || {
                let mut accepted = 0;
                for _ in 0..2 {
                    match pool.try_execute(counting_job(&ran)) {
                        Ok(()) => accepted += 1,
                        Err(Error::QueueFull) => {}
                        Err(e) => panic!("unexpected error {e}"),
                    }
                }
                accepted
            })
        };
        pool.wait_idle().expect("wait_idle");
        let accepted = submitter.join().expect("submitter");
        pool.wait_idle().expect("wait_idle");
        assert_eq!(ran.load(Relaxed), accepted);
    });
}

/// `shutdown_now`: each job either ran (its handle has the value) or was
/// cancelled (its handle says so), and the counts agree.
#[test]
fn shutdown_now_runs_or_cancels_each_job() {
    model(|| {
        let pool = ThreadPool::new(1).expect("pool");
        let first = pool.spawn(|| 1).expect("spawn");
        let second = pool.spawn(|| 2).expect("spawn");
        let stats = pool.shutdown_now();
        let results = [first.join(), second.join()];
        let ran = results.iter().filter(|r| r.is_ok()).count();
        let cancelled = results
            .iter()
            .filter(|r| **r == Err(JobError::Cancelled))
            .count();
        assert_eq!(ran + cancelled, 2);
        assert_eq!(stats.completed, ran);
        assert_eq!(stats.queued, cancelled);
    });
}

/// `WorkerThread::stop` drains the queue and joins the thread.
#[test]
fn worker_stop_drains_the_queue() {
    model(|| {
        let seen = Arc::new(AtomicUsize::new(0));
        let worker = {
            let seen = seen.clone();
            WorkerThread::new(move |n: usize| {
                seen.fetch_add(n, Relaxed);
            })
            .expect("worker")
        };
        worker.submit(1).expect("submit");
        worker.submit(2).expect("submit");
        let stats = worker.stop();
        assert_eq!(stats.processed, 2);
        assert_eq!(seen.load(Relaxed), 3);
    });
}

/// The idle check must read the finish counters before `submitted`. Read the
/// other way, a job submitted by another thread after the check began and
/// finished by the second worker can stand in for the caller's own unfinished
/// job, and `wait_idle` returns early.
#[test]
fn wait_idle_is_not_fooled_by_a_later_job() {
    model(|| {
        let mine = Arc::new(AtomicUsize::new(0));
        let theirs = Arc::new(AtomicUsize::new(0));
        let pool = Arc::new(ThreadPool::new(2).expect("pool"));
        pool.execute(counting_job(&mine)).expect("execute");
        let submitter = {
            let (pool, theirs) = (pool.clone(), theirs.clone());
            thread::spawn(move || pool.execute(counting_job(&theirs)).expect("execute"))
        };
        pool.wait_idle().expect("wait_idle");
        assert_eq!(
            mine.load(Relaxed),
            1,
            "wait_idle returned before my job ran"
        );
        submitter.join().expect("submitter");
    });
}

/// `join` on a worker of its own pool runs the queued job it waits for: a
/// pool of one worker joins a job it spawned (blocking instead would wait
/// for ever), and sees the value.
#[test]
fn join_on_the_only_worker_runs_the_joined_job() {
    model(|| {
        let pool = Arc::new(ThreadPool::new(1).expect("pool"));
        let p = Arc::clone(&pool);
        let outer = pool
            .spawn(move || p.spawn(|| 7).expect("spawn").join())
            .expect("spawn");
        assert_eq!(outer.join(), Ok(Ok(7)));
    });
}

/// Two workers, a job joining two jobs it spawned: whichever worker takes
/// them, and whether the joiner helps or sleeps, both values arrive.
#[test]
fn join_on_a_worker_with_a_second_worker_busy() {
    model(|| {
        let pool = Arc::new(ThreadPool::new(2).expect("pool"));
        let p = Arc::clone(&pool);
        let outer = pool
            .spawn(move || {
                let a = p.spawn(|| 1).expect("spawn");
                let b = p.spawn(|| 2).expect("spawn");
                a.join().expect("a") + b.join().expect("b")
            })
            .expect("spawn");
        assert_eq!(outer.join(), Ok(3));
    });
}

/// A scoped job's plain (non-atomic) write through its borrow is visible
/// after `scope` returns: loom's `UnsafeCell` reports a data race if the
/// scope's end does not happen after the job.
#[test]
fn scope_makes_its_jobs_writes_visible() {
    model(|| {
        let pool = ThreadPool::new(2).expect("pool");
        let cells = [
            loom::cell::UnsafeCell::new(0),
            loom::cell::UnsafeCell::new(0),
        ];
        struct Cells<'a>(&'a [loom::cell::UnsafeCell<i32>; 2]);
        // SAFETY (of the test): each job writes only its own cell.
        unsafe impl Sync for Cells<'_> {}
        let shared = Cells(&cells);
        let shared = &shared;
        pool.scope(|s| {
            for i in 0..2 {
                s.spawn(move || shared.0[i].with_mut(|p| unsafe { *p = i as i32 + 1 }));
            }
        });
        let sum: i32 = cells.iter().map(|c| c.with(|p| unsafe { *p })).sum();
        assert_eq!(sum, 3);
    });
}

/// `scope` called from a job on a pool of one worker runs its own scoped
/// job while it waits.
#[test]
fn scope_on_the_only_worker_runs_its_jobs() {
    model(|| {
        let pool = Arc::new(ThreadPool::new(1).expect("pool"));
        let p = Arc::clone(&pool);
        let ran = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&ran);
        let outer = pool
            .spawn(move || {
                p.scope(|s| {
                    s.spawn(move || {
                        r.fetch_add(1, Relaxed);
                    })
                })
            })
            .expect("spawn");
        outer.join().expect("outer");
        assert_eq!(ran.load(Relaxed), 1);
    });
}

/// The Waker handshake: a task awaiting a handle is woken whenever the
/// worker finishes (loom's `block_on` deadlocks on a lost wake-up).
#[test]
fn an_awaited_handle_is_woken_with_the_value() {
    model(|| {
        let pool = ThreadPool::new(1).expect("pool");
        let handle = pool.spawn(|| 5).expect("spawn");
        assert_eq!(block_on(handle), Ok(5));
        pool.shutdown();
    });
}

/// An awaited handle whose job `shutdown_now` cancels is woken too, with
/// `Cancelled`; or it ran first and has its value.
#[test]
fn an_awaited_handle_of_a_cancelled_job_is_woken() {
    model(|| {
        let pool = ThreadPool::new(1).expect("pool");
        let handle = pool.spawn(|| 5).expect("spawn");
        let waiter = thread::spawn(move || block_on(handle));
        let stats = pool.shutdown_now();
        let outcome = waiter.join().expect("waiter");
        match outcome {
            Ok(5) => assert_eq!((stats.completed, stats.queued), (1, 0)),
            Err(JobError::Cancelled) => assert_eq!((stats.completed, stats.queued), (0, 1)),
            other => panic!("unexpected {other:?}"),
        }
    });
}

/// More jobs than the ring holds (2 slots under loom): the third spills into
/// the overflow list, and every one runs once, whatever the worker does
/// meanwhile (loom explores it sleeping, waking and draining).
#[test]
fn jobs_beyond_the_ring_spill_over_and_all_run() {
    model(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let pool = ThreadPool::new(1).expect("pool");
        for _ in 0..3 {
            pool.execute(counting_job(&ran)).expect("execute");
        }
        pool.wait_idle().expect("wait_idle");
        assert_eq!(ran.load(Relaxed), 3);
        assert_eq!(pool.shutdown().completed, 3);
    });
}

/// A job joins another job's handle while the pool shuts down: whichever
/// worker runs what, the join gets the value, and nothing spins (a worker
/// waiting in `join` must keep sleeping once the pool is closed: loom
/// reports a spin as "exceeded maximum number of branches"). From the
/// review of issue 15.
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

/// On a bounded pool of one worker (a rendezvous, the strictest), a job
/// that spawns a job and joins it: the spawn goes on the worker's deque
/// instead of waiting for room, and the join runs it.
#[test]
fn a_job_on_a_rendezvous_pool_of_one_spawns_and_joins() {
    model(|| {
        let pool = Arc::new(
            ThreadPool::builder()
                .workers(1)
                .queue_capacity(0)
                .build()
                .expect("pool"),
        );
        let p = Arc::clone(&pool);
        let outer = pool
            .spawn(move || p.spawn(|| 7).expect("spawn").join())
            .expect("spawn");
        assert_eq!(outer.join(), Ok(Ok(7)));
    });
}
