//! Public behaviour of `ptm::worker`: `WorkerThread` and `WorkerStats`,
//! tested against their documented contract.
//!
//! No test sleeps to wait for work or to order events: a task that must keep
//! the worker busy blocks on a channel the test releases (or, to test `stop`
//! and `drop` with a full queue, yields until the worker's last `Arc` is
//! gone: see [`hold_until_dropped`]), and every step that would hang on a
//! broken worker runs under [`within`], which fails the test with a message
//! after [`LIMIT`] instead of hanging the suite.

use std::cell::{Cell, RefCell};
use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{self, TryRecvError};
use std::sync::{Arc, Mutex, Weak};
use std::thread;

use ptm::worker::{WorkerStats, WorkerThread};

mod common;
use common::{within, LIMIT};

/// Every panic these tests provoke on purpose carries this text, so that
/// [`quiet_expected_panics`] can keep them out of the output.
const EXPECTED_PANIC: &str = "expected test panic";

/// Installs (once per test binary) a panic hook that stays silent for the
/// panics the tests provoke and defers to the previous hook for all others.
fn quiet_expected_panics() {
    common::quiet_panics(EXPECTED_PANIC, |_| false);
}

/// A task for the tests' handlers: `Hold` keeps the worker busy until its
/// release sender is dropped, `HoldWhileShared` until the last strong
/// reference to the worker is gone; `Item` is ordinary work.
enum Task {
    Hold {
        started: mpsc::Sender<()>,
        release: mpsc::Receiver<()>,
    },
    HoldWhileShared {
        started: mpsc::Sender<()>,
        owner: Weak<WorkerThread<Task>>,
    },
    Item(u32),
}

/// Submits a `Hold` task and returns once the handler is running it; the
/// worker stays busy until the returned sender is dropped.
fn hold(worker: &WorkerThread<Task>) -> mpsc::Sender<()> {
    let (started, started_rx) = mpsc::channel();
    let (release_tx, release) = mpsc::channel();
    worker
        .submit(Task::Hold { started, release })
        .expect("the worker accepts the hold task");
    started_rx
        .recv_timeout(LIMIT)
        .expect("the worker starts the hold task");
    release_tx
}

/// Submits a `HoldWhileShared` task and returns once the handler is running
/// it; the worker stays busy until the last strong reference to it is gone.
///
/// This lets a test hand the worker to `stop`/`drop` with its queue still
/// full: the thread is released by the very step that starts the stop, with
/// no wake-up in between that could let it empty the queue first. No channel
/// can signal "the last `Arc` is gone", so the handler waits by yielding in a
/// loop on the count; it makes no assumption about timing.
fn hold_until_dropped(worker: &Arc<WorkerThread<Task>>) {
    let (started, started_rx) = mpsc::channel();
    let owner = Arc::downgrade(worker);
    worker
        .submit(Task::HoldWhileShared { started, owner })
        .expect("the worker accepts the hold task");
    started_rx
        .recv_timeout(LIMIT)
        .expect("the worker starts the hold task");
}

/// Runs a hold task to its end and returns `None`, or returns an item's number.
fn item_or_hold(task: Task) -> Option<u32> {
    match task {
        Task::Hold { started, release } => {
            let _ = started.send(());
            let _ = release.recv();
            None
        }
        Task::HoldWhileShared { started, owner } => {
            let _ = started.send(());
            while owner.strong_count() > 0 {
                thread::yield_now();
            }
            None
        }
        Task::Item(n) => Some(n),
    }
}

/// Sends on (then drops) its channel when dropped: owned by a handler, it
/// shows when the worker thread let go of the handler.
struct SignalOnDrop(mpsc::Sender<&'static str>);

impl Drop for SignalOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send("handler dropped");
    }
}

// Compile-time: a worker of `Send` tasks is `Send + Sync`, even when the task
// type is not `Sync` (`Cell`).
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<WorkerThread<String>>();
    send_sync::<WorkerThread<Cell<u32>>>();
};

/// A handler taken as `Fn` cannot keep state between tasks. Here an `FnMut`
/// handler keeps a running total, and tasks are handled one at a time in
/// submission order.
#[test]
fn handler_keeps_state_and_sees_tasks_in_submission_order() {
    within("a stateful handler", || {
        let (tx, rx) = mpsc::channel();
        let mut total = 0_u64;
        let mut seen = Vec::new();
        let worker = WorkerThread::new(move |n: u64| {
            total += n;
            seen.push(n);
            tx.send((n, total, seen.len()))
                .expect("the test receives every result");
        })
        .expect("the worker starts");
        for n in 1..=100 {
            worker.submit(n).expect("the worker accepts the task");
        }
        let stats: WorkerStats = worker.stop();
        assert_eq!((stats.processed, stats.panicked), (100, 0));
        let got: Vec<(u64, u64, usize)> = rx.try_iter().collect();
        let want: Vec<(u64, u64, usize)> = (1..=100_u64)
            .map(|n| (n, n * (n + 1) / 2, n as usize))
            .collect();
        assert_eq!(
            got, want,
            "after stop returns, every task was handled, in order"
        );
    });
}

/// `stop` closes the queue, lets the thread handle everything still queued,
/// joins it (its thread-locals are dropped) and returns what it did.
#[test]
fn stop_drains_the_queue_joins_the_thread_and_returns_stats() {
    thread_local!(static ON_EXIT: RefCell<Option<mpsc::Sender<()>>> = const { RefCell::new(None) });
    within("stop with 500 queued tasks", || {
        let (items_tx, items_rx) = mpsc::channel();
        let (exit_tx, exit_rx) = mpsc::channel::<()>();
        let mut exit_tx = Some(exit_tx);
        let worker = WorkerThread::new(move |task: Task| {
            if let Some(exit_tx) = exit_tx.take() {
                ON_EXIT.with(|slot| *slot.borrow_mut() = Some(exit_tx));
            }
            if let Some(n) = item_or_hold(task) {
                items_tx.send(n).expect("the test receives");
            }
        })
        .expect("the worker starts");
        let worker = Arc::new(worker);
        hold_until_dropped(&worker);
        for n in 0..500 {
            worker
                .submit(Task::Item(n))
                .expect("the worker accepts the task");
        }
        // The thread is released as the worker leaves its `Arc`, right before
        // `stop` is called with all 500 tasks still queued.
        let worker = Arc::try_unwrap(worker).expect("the test holds the only strong reference");
        let stats = worker.stop();
        assert_eq!(
            exit_rx.try_recv(),
            Err(TryRecvError::Disconnected),
            "after stop returns, the thread has exited and its thread-locals are dropped"
        );
        assert_eq!(
            items_rx.try_iter().collect::<Vec<_>>(),
            (0..500).collect::<Vec<_>>(),
            "stop handled every queued task, in order, before returning"
        );
        assert_eq!((stats.processed, stats.panicked), (501, 0));
    });
}

/// A worker thread written as a `loop` with no way out, in a struct with no
/// `Drop`, can never be stopped: the program can only leak it. Here dropping
/// the worker handles what is queued and ends the thread: when `drop`
/// returns, the thread has dropped the handler it owned.
#[test]
fn dropping_the_worker_handles_queued_tasks_and_ends_the_thread() {
    within("dropping a worker with 300 queued tasks", || {
        let (dropped_tx, dropped_rx) = mpsc::channel();
        let counter = Arc::new(AtomicUsize::new(0));
        let signal = SignalOnDrop(dropped_tx);
        let in_handler = Arc::clone(&counter);
        let worker = WorkerThread::new(move |task: Task| {
            let _owned = &signal;
            if item_or_hold(task).is_some() {
                in_handler.fetch_add(1, SeqCst);
            }
        })
        .expect("the worker starts");
        let worker = Arc::new(worker);
        hold_until_dropped(&worker);
        for n in 0..300 {
            worker
                .submit(Task::Item(n))
                .expect("the worker accepts the task");
        }
        assert_eq!(counter.load(SeqCst), 0);
        // Drops the only strong reference: the thread is released as the
        // drop starts, with all 300 tasks still queued.
        drop(worker);
        assert_eq!(
            dropped_rx.try_recv(),
            Ok("handler dropped"),
            "when drop returns, the thread has ended and dropped its handler"
        );
        assert_eq!(counter.load(SeqCst), 300, "drop handled every queued task");
    });

    // An idle worker stops too, having done nothing.
    let idle = within("stopping an idle worker", || {
        WorkerThread::new(|_: u32| {})
            .expect("the worker starts")
            .stop()
    });
    assert_eq!((idle.processed, idle.panicked), (0, 0));
}

/// A panicking handler that is not caught unwinds its thread, and every
/// later task is queued forever, silently. Here the panic is caught and
/// counted, the handler keeps its state, and the worker goes on with the
/// next task.
#[test]
fn a_panicking_handler_is_counted_and_the_worker_goes_on() {
    quiet_expected_panics();
    within("100 tasks, every 10th panicking", || {
        let (tx, rx) = mpsc::channel();
        let mut handled = 0_u32;
        let worker = WorkerThread::new(move |n: u32| {
            if n.is_multiple_of(10) {
                panic!("{EXPECTED_PANIC}: task {n}");
            }
            handled += 1;
            tx.send((n, handled)).expect("the test receives");
        })
        .expect("the worker starts");
        for n in 0..100 {
            worker.submit(n).expect("the worker accepts the task");
        }
        let stats = worker.stop();
        assert_eq!((stats.processed, stats.panicked), (90, 10));
        let want: Vec<(u32, u32)> = (0..100).filter(|n| n % 10 != 0).zip(1..).collect();
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), want);
    });
}

/// `with_capacity`: `submit` on a full queue returns only once the thread
/// has taken a task. Checked by the order of events, not by timing: the
/// submitter announces its call, the test then releases the task holding the
/// thread, and the submitter's call must return after that task finished. A
/// `submit` that does not wait returns at once, ahead of the release.
#[test]
fn bounded_submit_blocks_while_the_queue_is_full() {
    within("back pressure", || {
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let push = |log: &Arc<Mutex<Vec<String>>>, event: String| {
            log.lock().expect("the log is not poisoned").push(event);
        };
        let handler_log = Arc::clone(&log);
        let worker = WorkerThread::with_capacity(1, move |task: Task| match task {
            Task::Item(n) => push(&handler_log, format!("item {n}")),
            hold => {
                item_or_hold(hold);
                push(&handler_log, "hold done".to_owned());
            }
        })
        .expect("the bounded worker starts");
        let release = hold(&worker);
        worker
            .submit(Task::Item(1))
            .expect("the queue has room for one");

        thread::scope(|scope| {
            let (calling_tx, calling_rx) = mpsc::channel();
            let (worker, log) = (&worker, &log);
            let submitter = scope.spawn(move || {
                calling_tx.send(()).expect("the test waits for this");
                worker
                    .submit(Task::Item(2))
                    .expect("submit waits, then accepts");
                push(log, "submit returned".to_owned());
            });
            calling_rx
                .recv_timeout(LIMIT)
                .expect("the submitter starts");
            push(log, "release".to_owned());
            drop(release);
            submitter.join().expect("the submitter thread ends");
        });
        let stats = worker.stop();
        assert_eq!((stats.processed, stats.panicked), (3, 0));

        let log = log.lock().expect("the log is not poisoned").clone();
        let at = |event: &str| {
            log.iter()
                .position(|e| e == event)
                .unwrap_or_else(|| panic!("{event:?} missing from {log:?}"))
        };
        assert!(
            at("release") < at("hold done") && at("hold done") < at("submit returned"),
            "submit returned before the full queue had room: {log:?}"
        );
        let handled: Vec<&str> = log
            .iter()
            .map(String::as_str)
            .filter(|e| e.starts_with("item"))
            .collect();
        assert_eq!(handled, ["item 1", "item 2"], "FIFO order");
    });
}

/// `WorkerThread` is `Send + Sync`: 4 scoped threads submit through one
/// shared reference. Nothing is lost, and each submitter's tasks are handled
/// in the order it submitted them.
#[test]
fn many_submitters_share_one_worker_by_reference() {
    const PER_THREAD: usize = 250;
    within("4 submitters", || {
        let (tx, rx) = mpsc::channel();
        let worker = WorkerThread::with_capacity(16, move |(t, i): (usize, usize)| {
            tx.send((t, i)).expect("the test receives");
        })
        .expect("the worker starts");
        thread::scope(|scope| {
            for t in 0..4 {
                let worker = &worker;
                scope.spawn(move || {
                    for i in 0..PER_THREAD {
                        worker.submit((t, i)).expect("the worker accepts the task");
                    }
                });
            }
        });
        let stats = worker.stop();
        assert_eq!((stats.processed, stats.panicked), (4 * PER_THREAD, 0));
        let got: Vec<(usize, usize)> = rx.try_iter().collect();
        assert_eq!(got.len(), 4 * PER_THREAD);
        for t in 0..4 {
            let mine: Vec<usize> = got
                .iter()
                .filter(|(from, _)| *from == t)
                .map(|(_, i)| *i)
                .collect();
            assert_eq!(
                mine,
                (0..PER_THREAD).collect::<Vec<_>>(),
                "submitter {t}'s tasks, in its order"
            );
        }
    });
}

/// A worker whose tasks are `Send` but not `Sync` (`Cell`), with a handler
/// whose state is not `Sync` (`RefCell`), is still shared by reference.
#[test]
fn a_worker_of_non_sync_tasks_is_shared_by_reference() {
    within("non-Sync tasks", || {
        let (tx, rx) = mpsc::channel();
        let state = RefCell::new(0_u32);
        let worker = WorkerThread::new(move |cell: Cell<u32>| {
            *state.borrow_mut() += cell.get();
            tx.send(*state.borrow()).expect("the test receives");
        })
        .expect("the worker starts");
        thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    for n in 1..=10 {
                        worker.submit(Cell::new(n)).expect("the worker accepts");
                    }
                });
            }
        });
        let stats = worker.stop();
        assert_eq!((stats.processed, stats.panicked), (20, 0));
        assert_eq!(rx.try_iter().last(), Some(2 * 55));
    });
}

/// Found in review: a handler whose captured state panics when dropped made
/// the thread unwind at its end, and `stop` then reported zero tasks.
#[test]
fn a_handler_whose_state_panics_on_drop_keeps_its_stats() {
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("{EXPECTED_PANIC}: handler state dropped");
        }
    }
    quiet_expected_panics();
    let state = PanicsOnDrop;
    let worker = WorkerThread::new(move |_: u8| {
        let _keep = &state;
    })
    .expect("the worker starts");
    for n in 0..5 {
        worker.submit(n).expect("the worker accepts the task");
    }
    assert_eq!(
        worker.stop(),
        WorkerStats {
            processed: 5,
            panicked: 0
        }
    );
}

/// A bounded queue that could not be allocated is an error, not a panic.
#[test]
fn an_absurd_capacity_is_an_invalid_argument() {
    let result = WorkerThread::with_capacity(usize::MAX, |_: u8| {});
    assert!(
        matches!(&result, Err(ptm::Error::InvalidArgument(m)) if m.contains("capacity")),
        "{result:?}"
    );
}
