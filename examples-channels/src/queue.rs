//! `queue`: a channel as a task queue shared by several workers.
//!
//! Answers "Using Channels As A Task Queue" in the seed
//! `processes-threads-and-containers.md`.
//! Run it: `cargo run -p examples-channels -- queue [--tasks 100] [--workers 4]`.
//!
//! The seed's code does not compile (a stray `#` follows its `use` line), and
//! fixed it sends one value to one thread: no queue, no workers. A std
//! `Receiver` cannot be shared, hence the seed pool's `Mutex<Receiver>`; a
//! crossbeam channel is multi-consumer, so here each worker holds a clone of
//! one `Receiver`, and results come back on a second channel. Dropping the
//! task `Sender` closes the queue: the workers drain it and end, and the
//! result loop ends when the last worker drops its result `Sender`.

use std::{thread, time::Duration};

use anyhow::{anyhow, Context, Result};
use crossbeam_channel::unbounded;

/// Flags of the `queue` demo.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Tasks to queue: task n squares n.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(..=1_000_000))]
    pub tasks: u64,
    /// Worker threads sharing the queue's Receiver.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub workers: u64,
}

/// What came back: the sum of the results, how many times each task id came
/// back (all 1: each done exactly once), and how many tasks each worker did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub sum: u64,
    pub done: Vec<u32>,
    pub per_worker: Vec<u32>,
}

/// A task: `n * n`, after a 100 µs sleep that stands for real work (I/O, say);
/// without it one worker would drain the queue before the others start.
fn square(n: u64) -> u64 {
    thread::sleep(Duration::from_micros(100));
    n * n
}

// ANCHOR: run_queue
/// Queues `tasks` tasks for `workers` threads and collects their results.
///
/// # Errors
///
/// If a worker thread panicked.
pub fn run_queue(tasks: u64, workers: u64) -> Result<Report> {
    let (task_tx, task_rx) = unbounded::<u64>();
    let (result_tx, result_rx) = unbounded::<(usize, u64, u64)>(); // (worker, task, result)
    let handles = (0..usize::try_from(workers)?)
        .map(|worker| {
            let (task_rx, result_tx) = (task_rx.clone(), result_tx.clone());
            // Ends when the task Sender is dropped and the queue is drained.
            let work = move || {
                for n in task_rx {
                    if result_tx.send((worker, n, square(n))).is_err() {
                        break; // Nobody collects results any more.
                    }
                }
            };
            let name = format!("worker-{worker}");
            let spawned = thread::Builder::new().name(name.clone()).spawn(work);
            spawned.with_context(|| format!("spawning thread `{name}`"))
        })
        .collect::<Result<Vec<_>>>()?;
    drop((task_rx, result_tx)); // Only the workers hold these now.
    for n in 0..tasks {
        task_tx.send(n).context("every worker is gone")?;
    }
    drop(task_tx); // Close the queue: workers finish what is queued, then stop.
    let mut r = Report::default();
    (r.done, r.per_worker) = (vec![0; usize::try_from(tasks)?], vec![0; handles.len()]);
    for (worker, n, result) in result_rx {
        r.sum += result;
        let task = usize::try_from(n).ok().and_then(|i| r.done.get_mut(i));
        for count in task.into_iter().chain(r.per_worker.get_mut(worker)) {
            *count += 1;
        }
    }
    for (w, h) in handles.into_iter().enumerate() {
        h.join().map_err(|_| anyhow!("worker {w} panicked"))?;
    }
    Ok(r)
}
// ANCHOR_END: run_queue

/// Prints the demo's results; fails as [`run_queue`] does.
pub fn run(args: &Args) -> Result<()> {
    let (tasks, workers) = (args.tasks, args.workers);
    println!("== queue: {tasks} tasks, {workers} workers sharing one crossbeam Receiver");
    let r = run_queue(tasks, workers)?;
    let (sum, per_worker) = (r.sum, &r.per_worker);
    println!("sum of squares 0..{tasks} = {sum}");
    let once = r.done.iter().filter(|&&count| count == 1).count();
    println!("{once} of {tasks} tasks done exactly once");
    let total: u32 = per_worker.iter().sum();
    println!("tasks per worker: {per_worker:?} (total {total}; first to ask gets the next)");
    println!("task queue closed and drained: all {workers} workers ended and were joined");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_is_done_exactly_once() {
        let r = run_queue(100, 4).expect("no worker panics");
        assert_eq!(r.sum, 328_350);
        assert!(r.done.iter().all(|&count| count == 1));
        assert_eq!(r.per_worker.iter().sum::<u32>(), 100);
    }

    #[test]
    fn an_empty_queue_ends_the_workers() {
        let r = run_queue(0, 3).expect("no worker panics");
        assert_eq!((r.sum, r.done.len(), r.per_worker), (0, 0, vec![0, 0, 0]));
    }
}
