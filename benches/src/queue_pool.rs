//! [`QueuePool`]: the "queue alone" reference pool, with no bookkeeping.
//!
//! N threads loop on one unbounded `crossbeam-channel` queue and run what
//! they receive; nothing is counted, nothing caught. It is the floor under
//! ptm's design (ptm's workers pull from the same kind of queue, then count
//! and catch panics), so the gap between the two is what ptm's bookkeeping
//! costs.
//!
//! ```
//! use ptm_benches::queue_pool::QueuePool;
//!
//! let pool = QueuePool::new(2)?;
//! let (tx, rx) = crossbeam_channel::unbounded();
//! for i in 0..4 {
//!     let tx = tx.clone();
//!     pool.execute(move || drop(tx.send(i)))?;
//! }
//! drop(pool); // closes the queue, joins the threads after they drain it
//! drop(tx);
//! assert_eq!(rx.iter().sum::<i32>(), 6);
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::thread::{self, JoinHandle};

use anyhow::{bail, Context};
use crossbeam_channel::Sender;

/// A job as the workers receive it.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// N threads pulling jobs from one unbounded crossbeam queue.
///
/// Dropping it closes the queue and joins every thread once the queue is
/// empty. A panicking job kills its thread (nothing is caught here).
#[derive(Debug)]
pub struct QueuePool {
    /// `None` only inside `drop`.
    sender: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl QueuePool {
    /// Starts `workers` threads named `queue-pool-<index>`.
    ///
    /// # Errors
    ///
    /// If the OS refuses a thread; the threads started so far are joined.
    pub fn new(workers: usize) -> anyhow::Result<QueuePool> {
        let (sender, receiver) = crossbeam_channel::unbounded::<Job>();
        let mut pool = QueuePool {
            sender: Some(sender),
            threads: Vec::with_capacity(workers),
        };
        for index in 0..workers {
            let receiver = receiver.clone();
            let name = format!("queue-pool-{index}");
            let handle = thread::Builder::new()
                .name(name.clone())
                .spawn(move || {
                    for job in receiver {
                        job();
                    }
                })
                .with_context(|| format!("spawning thread {name}"))?;
            pool.threads.push(handle);
        }
        Ok(pool)
    }

    /// Queues `f` for some worker.
    ///
    /// # Errors
    ///
    /// If every worker has exited, which happens only after a job panicked in
    /// each of them; `f` is dropped.
    pub fn execute<F>(&self, f: F) -> anyhow::Result<()>
    where
        F: FnOnce() + Send + 'static,
    {
        let sent = match &self.sender {
            Some(sender) => sender.send(Box::new(f)).is_ok(),
            None => false,
        };
        if !sent {
            bail!("queue pool: every worker has exited");
        }
        Ok(())
    }
}

impl Drop for QueuePool {
    /// Closes the queue and joins every worker after it ran what was queued.
    fn drop(&mut self) {
        drop(self.sender.take());
        for handle in self.threads.drain(..) {
            // A worker that panicked has already reported it on stderr.
            let _ = handle.join();
        }
    }
}
