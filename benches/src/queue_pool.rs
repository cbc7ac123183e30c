//! [`QueuePool`]: the "queue alone" reference pool, N threads on one
//! crossbeam queue, counting and catching nothing: the floor under ptm's
//! design (same kind of queue), so the gap is what ptm's bookkeeping costs.
//!
//! ```
//! let pool = ptm_benches::queue_pool::QueuePool::new(2)?;
//! let (tx, rx) = crossbeam_channel::unbounded();
//! for i in 0..4 {
//!     let tx = tx.clone();
//!     pool.execute(move || drop(tx.send(i)))?;
//! }
//! drop((pool, tx)); // closes the queue, joins the threads once it is empty
//! assert_eq!(rx.iter().sum::<i32>(), 6);
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::thread::{self, JoinHandle};

use anyhow::{bail, Context};
use crossbeam_channel::Sender;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// N threads pulling jobs from one unbounded crossbeam queue; dropping it
/// closes the queue and joins them. A panicking job kills its thread.
#[derive(Debug)]
pub struct QueuePool {
    sender: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl QueuePool {
    /// Starts `workers` threads.
    ///
    /// # Errors
    ///
    /// If the OS refuses a thread (those started are joined).
    pub fn new(workers: usize) -> anyhow::Result<QueuePool> {
        let (sender, receiver) = crossbeam_channel::unbounded::<Job>();
        let mut pool = QueuePool {
            sender: Some(sender),
            threads: Vec::with_capacity(workers),
        };
        for index in 0..workers {
            let receiver = receiver.clone();
            let thread = thread::Builder::new()
                .name(format!("queue-pool-{index}"))
                .spawn(move || receiver.into_iter().for_each(|job| job()))
                .with_context(|| format!("spawning queue pool thread {index}"))?;
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    /// Queues `f` for some worker.
    ///
    /// # Errors
    ///
    /// If every worker has exited (a job panicked in each); `f` is dropped.
    pub fn execute(&self, f: impl FnOnce() + Send + 'static) -> anyhow::Result<()> {
        match &self.sender {
            Some(sender) if sender.send(Box::new(f)).is_ok() => Ok(()),
            _ => bail!("queue pool: every worker has exited"),
        }
    }
}

impl Drop for QueuePool {
    fn drop(&mut self) {
        drop(self.sender.take());
        for thread in self.threads.drain(..) {
            // A worker that panicked has reported it on stderr already.
            let _ = thread.join();
        }
    }
}
