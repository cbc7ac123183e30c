//! `worker`: one background thread with a queue, ptm's `WorkerThread`, that
//! stops cleanly and proves it processed every task.
//!
//! Answers "Worker Thread Pattern" in `process-and-thread-management.md`.
//!
//! Run it: `cargo run -p examples-pool -- worker`
//!
//! Why the seed's worker never exits: its thread body is a bare `loop` around
//! `while queue.is_empty() { cond.wait(..) }`. Nothing ever tells it to stop
//! (there is no stop flag, no `stop` method, and `Drop` does nothing), and it
//! holds its own clones of the queue and the `Condvar`, so even dropping the
//! `WorkerThread` leaves it parked in `wait` for ever. The example hides this
//! by sleeping 1000 ms and letting `main` return: the process exits with the
//! thread still running, and any task not done by then is silently lost.
//! Also: the handler is `Fn`, so it cannot keep state; a panic in it ends the
//! thread, after which `submit_task` keeps queueing tasks nobody will run; the
//! `handle` is never joined; and `Duration` is never imported.
//!
//! Here the handler is `FnMut` (it keeps a running total), `stop` closes the
//! queue, lets the thread drain it and joins it, and returns `WorkerStats`.
//! The handler also sends each task to a channel: that channel ends only
//! when the thread has dropped the handler, so reading it to the end proves
//! the thread is finished.

use std::sync::mpsc;

use anyhow::{Context, Result};
use ptm::worker::WorkerStats;
use ptm::WorkerThread;

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
    let tasks = 1000;
    let r = demo(tasks, 16)?;
    println!("submitted {tasks} tasks through a queue of 16; stop() joined the thread");
    println!(
        "WorkerStats: processed {}, panicked {}",
        r.stats.processed, r.stats.panicked
    );
    let in_order = r.seen.iter().copied().eq(1..=tasks);
    println!(
        "handler saw {} tasks, each once, in order: {in_order}; running total = {} (1+..+{tasks} = {})",
        r.seen.len(),
        r.total,
        tasks * (tasks + 1) / 2
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "Worker Thread Pattern" (process-and-thread-management.md): the seed's
    /// worker cannot be stopped. This one stops, having processed every task;
    /// a `stop` that hangs again fails this test after 10 s.
    #[test]
    fn stop_processes_every_task_then_ends() {
        let r = crate::within_10s("worker::demo", || demo(500, 4))
            .expect("the demo runs");
        assert_eq!(r.stats, WorkerStats { processed: 500, panicked: 0 });
        assert_eq!(r.seen, (1..=500).collect::<Vec<_>>());
        assert_eq!(r.total, 500 * 501 / 2);
    }

    /// The seed's worker dies on a handler panic; ptm's counts it and goes on.
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
