//! `queue`: one channel as a task queue shared by several workers.
//!
//! Run it: `cargo run -p examples-channels -- queue [--tasks 100]
//! [--workers 4]`.
//!
//! `mpsc` turned around: one producer, several consumers. A std `Receiver`
//! cannot be cloned (it has one owner), so a common first attempt shares it
//! behind a `Mutex` (the thread-pools chapter shows that pool). A crossbeam
//! channel is multi-consumer: each worker holds a clone of one `Receiver`
//! and takes the next task when it is free, and results come back on a
//! second channel. Dropping the task `Sender` closes the queue: the workers
//! drain it and end, and the result loop ends when the last worker drops its
//! result `Sender`.

use std::{thread, time::Duration};

use anyhow::{anyhow, Context, Result};
use crossbeam_channel::unbounded;

/// Flags of the `queue` demo.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Tasks to queue (at most 1000000)
    #[arg(long, default_value_t = 100,
        value_parser = clap::value_parser!(u64).range(..=1_000_000))]
    pub tasks: u64,
    /// Worker threads, 1 to 64
    #[arg(long, default_value_t = 4,
        value_parser = clap::value_parser!(u64).range(1..=64))]
    pub workers: u64,
}

/// A task: `n * n`, after a 100 µs sleep that stands for real work (I/O,
/// say); without it one worker would drain the queue before the others
/// start.
fn square(n: u64) -> u64 {
    thread::sleep(Duration::from_micros(100));
    n * n
}

// ANCHOR: run_queue
/// A result: the worker, the task `n`, and `n * n`.
pub type Done = (usize, u64, u64);

/// `workers` threads share one queue of `tasks` tasks; returns the results
/// in the order they came back.
pub fn run_queue(tasks: u64, workers: usize) -> Result<Vec<Done>> {
    let (task_tx, task_rx) = unbounded::<u64>();
    let (result_tx, result_rx) = unbounded();
    let mut handles = Vec::new();
    for w in 0..workers {
        let (task_rx, result_tx) = (task_rx.clone(), result_tx.clone());
        let work = move || {
            for n in task_rx {
                // The next task goes to whichever worker asks first.
                if result_tx.send((w, n, square(n))).is_err() {
                    break; // nobody collects results any more
                }
            }
        };
        let spawned = thread::Builder::new().spawn(work);
        handles.push(spawned.context("spawning a worker")?);
    }
    drop((task_rx, result_tx)); // only the workers hold these now
    for n in 0..tasks {
        task_tx.send(n).context("every worker is gone")?;
    }
    drop(task_tx); // closes the queue: the workers drain it, then end
    let results = result_rx.iter().collect(); // ends with the last worker
    for handle in handles {
        handle.join().map_err(|_| anyhow!("a worker panicked"))?;
    }
    Ok(results)
}
// ANCHOR_END: run_queue

/// What came back: the sum of the results, how many times each task came
/// back (all 1: each done exactly once), and how many tasks each worker did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub sum: u64,
    pub done: Vec<u32>,
    pub per_worker: Vec<u32>,
}

/// Counts [`run_queue`]'s results for `tasks` tasks and `workers` workers.
pub fn report(results: &[Done], tasks: u64, workers: usize) -> Report {
    let mut r = Report {
        sum: 0,
        done: vec![0; usize::try_from(tasks).unwrap_or(0)],
        per_worker: vec![0; workers],
    };
    for &(worker, n, result) in results {
        r.sum += result;
        let task = usize::try_from(n).ok().and_then(|i| r.done.get_mut(i));
        for count in task.into_iter().chain(r.per_worker.get_mut(worker)) {
            *count += 1;
        }
    }
    r
}

/// Prints the demo's results; fails as [`run_queue`] does.
pub fn run(args: &Args) -> Result<()> {
    let (tasks, workers) = (args.tasks, usize::try_from(args.workers)?);
    println!("== queue: workers share one task queue; each task runs once ==");
    println!("{tasks} tasks, {workers} workers sharing one crossbeam Receiver");
    let r = report(&run_queue(tasks, workers)?, tasks, workers);
    println!("sum of squares 0..{tasks} = {}", r.sum);
    let once = r.done.iter().filter(|&&count| count == 1).count();
    println!("{once} of {tasks} tasks done exactly once");
    let (per_worker, total) = (&r.per_worker, r.per_worker.iter().sum::<u32>());
    println!(
        "tasks per worker: {per_worker:?} (total {total}; \
         the first to ask gets the next)"
    );
    println!(
        "the queue closed and drained: all {workers} workers ended, joined"
    );
    println!(
        "notice: dropping the task Sender stops the workers, once the queue \
         is empty"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_is_done_exactly_once() {
        let r = report(&run_queue(100, 4).expect("no worker panics"), 100, 4);
        assert_eq!(r.sum, 328_350);
        assert!(r.done.iter().all(|&count| count == 1));
        assert_eq!(r.per_worker.iter().sum::<u32>(), 100);
    }

    #[test]
    fn an_empty_queue_ends_the_workers() {
        let r = report(&run_queue(0, 3).expect("no worker panics"), 0, 3);
        assert_eq!((r.sum, r.done.len(), r.per_worker), (0, 0, vec![0, 0, 0]));
    }
}
