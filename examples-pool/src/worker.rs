//! `worker`: one background thread with a queue, ptm's `WorkerThread`, that
//! stops cleanly and proves it processed every task.
//!
//! Run it: `cargo run -p examples-pool -- worker`
//!
//! First, a common first attempt ([`condvar_worker`]): a queue behind a
//! `Mutex`, a `Condvar` to wake the thread, and a bare `loop` around
//! `while queue.is_empty() { wait }`. It handles its tasks, but nothing can
//! tell it to stop: it holds its own clone of the queue, so dropping the
//! owner's leaves it parked in `wait` for ever. The demo gives up on it after
//! a timeout (the thread stays parked until the process exits).
//!
//! Then ptm's `WorkerThread`: the handler is `FnMut` (it keeps a running
//! total), `stop` closes the queue, lets the thread drain it and joins it,
//! and returns `WorkerStats`. The handler also sends each task to a channel:
//! that channel ends only when the thread has dropped the handler, so
//! reading it to the end proves the thread is finished.

use std::collections::VecDeque;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use ptm::worker::WorkerStats;
use ptm::WorkerThread;

// ANCHOR: condvar_worker
/// A worker thread as often first written: a queue behind a `Mutex`, a
/// `Condvar` to wake the thread, a `loop` that nothing ends. Returns how
/// many of `tasks` it handled, and whether its thread ended within
/// `patience` once the owner had dropped the queue (it never does).
pub fn condvar_worker(tasks: usize, patience: Duration) -> (usize, bool) {
    let queue = Arc::new((Mutex::new(VecDeque::new()), Condvar::new()));
    let (handled_tx, handled) = mpsc::channel();
    let shared = Arc::clone(&queue);
    thread::spawn(move || loop {
        let (lock, ready) = &*shared;
        let mut guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
        while guard.is_empty() {
            guard = ready.wait(guard).unwrap_or_else(PoisonError::into_inner);
        }
        let task = guard.pop_front();
        drop(guard); // handle the task without holding the lock
        let _ = handled_tx.send(task); // closes when this thread ends
    });
    for task in 0..tasks {
        queue.0.lock().unwrap_or_else(PoisonError::into_inner).push_back(task);
        queue.1.notify_one();
    }
    drop(queue); // the owner is done, but the thread holds its own clone
    let n = handled.iter().take(tasks).count();
    let end = handled.recv_timeout(patience);
    (n, matches!(end, Err(RecvTimeoutError::Disconnected)))
}
// ANCHOR_END: condvar_worker

/// How long [`condvar_worker`]'s thread is given to end.
pub const PATIENCE: Duration = Duration::from_millis(200);

/// What [`demo`] saw: the stats `stop` returned, the tasks in the order the
/// handler saw them, and the handler's running total after the last one.
#[derive(Debug)]
pub struct Report {
    pub stats: WorkerStats,
    pub seen: Vec<u64>,
    pub total: u64,
}

// ANCHOR: demo
/// Submits tasks `1..=tasks` to a worker whose queue holds `capacity` tasks
/// (`submit` blocks while it is full), then stops it.
pub fn demo(tasks: u64, capacity: usize) -> Result<Report> {
    let (tx, rx) = mpsc::channel();
    let mut total = 0;
    let worker = WorkerThread::with_capacity(capacity, move |task: u64| {
        total += task;
        // `rx` lives until the end of `demo`, so this send cannot fail.
        let _ = tx.send((task, total));
    })
    .context("starting the worker thread")?;
    for task in 1..=tasks {
        worker
            .submit(task)
            .with_context(|| format!("submitting task {task}"))?;
    }
    let stats = worker.stop();
    let (seen, totals): (Vec<u64>, Vec<u64>) = rx.iter().unzip();
    let total = totals.last().copied().unwrap_or(0);
    Ok(Report { stats, seen, total })
}
// ANCHOR_END: demo

/// Prints [`demo`] for 1000 tasks through a queue of 16.
pub fn run() -> Result<()> {
    println!("== worker: WorkerThread with a clean stop ==");
    let (handled, ended) = condvar_worker(5, PATIENCE);
    let ms = PATIENCE.as_millis();
    println!(
        "Condvar loop: handled {handled} of 5 tasks; the owner dropped it"
    );
    match ended {
        false => println!(
            "Condvar loop: its thread still waited after {ms} ms (a hang, \
             cut by a timeout)"
        ),
        true => println!("Condvar loop: its thread ended (unexpected)"),
    }
    let tasks = 1000;
    let r = demo(tasks, 16)?;
    println!(
        "WorkerThread: {tasks} tasks through a queue of 16; stop() joined \
         the thread"
    );
    let (processed, panicked) = (r.stats.processed, r.stats.panicked);
    println!("WorkerStats: processed {processed}, panicked {panicked}");
    let in_order = r.seen.iter().copied().eq(1..=tasks);
    let seen = r.seen.len();
    println!("handler saw {seen} tasks, each once, in order: {in_order}");
    let (total, sum) = (r.total, tasks * (tasks + 1) / 2);
    println!("running total = {total} (1+..+{tasks} = {sum})");
    println!(
        "notice: a worker thread needs a way to be told to stop; closing \
         its queue is one"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loop that nothing ends keeps its thread parked after its owner
    /// has gone.
    #[test]
    fn a_condvar_loop_handles_its_tasks_and_never_ends() {
        let (handled, ended) = condvar_worker(3, Duration::from_millis(50));
        assert_eq!((handled, ended), (3, false));
    }

    /// `stop` ends the thread, having processed every task; a `stop` that
    /// hangs again fails this test after 10 s.
    #[test]
    fn stop_processes_every_task_then_ends() {
        let r = crate::within_10s("worker::demo", || demo(500, 4))
            .expect("the demo runs");
        assert_eq!(r.stats, WorkerStats { processed: 500, panicked: 0 });
        assert_eq!(r.seen, (1..=500).collect::<Vec<_>>());
        assert_eq!(r.total, 500 * 501 / 2);
    }

    /// A handler's panic must not end the worker: it is counted, and the
    /// next task runs.
    #[test]
    fn a_panicking_task_is_counted_and_the_next_one_runs() {
        let worker = WorkerThread::new(|n: u32| {
            assert_ne!(n, 2, "task 2 fails on purpose")
        })
        .expect("the worker starts");
        for n in 1..=3 {
            worker.submit(n).expect("the worker accepts tasks");
        }
        assert_eq!(worker.stop(), WorkerStats { processed: 2, panicked: 1 });
    }
}
