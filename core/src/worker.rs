//! One background thread with its own task queue: [`WorkerThread`].
//!
//! A worker thread written as a bare `loop` around a `Condvar` never ends:
//! nothing can tell it to stop, so the program can only quit by exiting the
//! process; taking its handler as `Fn` and calling it bare, it can neither
//! keep state nor survive a panic. Here the queue is a `crossbeam-channel`: closing it (in
//! [`WorkerThread::stop`] or `Drop`) lets the thread drain what is queued and
//! return, and the owner joins it.
//!
//! ```
//! use ptm::WorkerThread;
//!
//! # fn main() -> ptm::Result<()> {
//! let (tx, rx) = std::sync::mpsc::channel();
//! let mut total = 0;
//! let worker = WorkerThread::new(move |n: u64| {
//!     total += n;
//!     tx.send(total).expect("the receiver outlives the worker");
//! })?;
//! for n in 1..=4 {
//!     worker.submit(n)?;
//! }
//! let stats = worker.stop(); // drains the queue, then joins the thread
//! assert_eq!(stats.processed, 4);
//! assert_eq!(rx.iter().last(), Some(10));
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::panic::{self, AssertUnwindSafe};

use crate::error::{Error, Result};
use crate::pool::{check_capacity, drop_quietly, forget_payload, AbortOnUnwind};
use crate::sync::channel::{self, Sender};
use crate::sync::thread;

/// The name of a [`WorkerThread`]'s thread.
const THREAD_NAME: &str = "ptm-worker-thread";

/// What a [`WorkerThread`] did, returned by [`WorkerThread::stop`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct WorkerStats {
    /// Tasks whose handler returned normally.
    pub processed: usize,
    /// Tasks whose handler panicked (the thread went on with the next task).
    pub panicked: usize,
}

/// A thread that runs `handler` on each submitted task, in order.
///
/// `WorkerThread<T>` is `Send + Sync` for `T: Send`, so several threads can
/// submit through one shared reference. Dropping it is
/// [`stop`](Self::stop): queued tasks are processed, then the thread is joined.
pub struct WorkerThread<T> {
    /// `None` only inside `finish`, which `Drop` may call after `stop` did.
    sender: Option<Sender<T>>,
    thread: Option<thread::JoinHandle<WorkerStats>>,
}

impl<T: Send + 'static> WorkerThread<T> {
    /// Starts a worker with an unbounded queue.
    ///
    /// A panic in `handler` is caught and counted in
    /// [`WorkerStats::panicked`]; the handler is then called again for the
    /// next task, so it must leave its state usable when it panics.
    ///
    /// # Errors
    ///
    /// [`Error::ThreadSpawn`] if the OS refuses the thread; nothing was
    /// started then, so the error waits for nothing.
    ///
    /// What std does when memory runs out inside the new thread, before
    /// ptm's code runs in it, is not an error ptm can return: under a tight
    /// address space (`ulimit -v`) std aborts the process (the thread cannot
    /// map its signal stack, or an allocation fails), or, with
    /// `RUST_BACKTRACE` set, the thread can hang for good inside std's panic
    /// and out-of-memory hooks; see [`PoolBuilder::build`]. In that last
    /// case `new` has returned `Ok`, and [`stop`](Self::stop) (or `drop`),
    /// which waits for the queue to be processed, waits for ever.
    ///
    /// [`PoolBuilder::build`]: crate::pool::PoolBuilder::build
    pub fn new<F>(handler: F) -> Result<WorkerThread<T>>
    where
        F: FnMut(T) + Send + 'static,
    {
        let (sender, receiver) = channel::unbounded();
        Self::start(sender, receiver, handler)
    }

    /// Starts a worker whose queue holds at most `capacity` tasks:
    /// [`submit`](Self::submit) blocks while it is full. A capacity of 0 makes
    /// every `submit` wait until the worker takes the task.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `capacity` exceeds
    /// [`MAX_QUEUE_CAPACITY`](crate::pool::MAX_QUEUE_CAPACITY) (the queue
    /// allocates its slots up front); [`Error::ThreadSpawn`] if the OS
    /// refuses the thread (what std does when memory runs out inside the
    /// new thread: see [`new`](Self::new)).
    pub fn with_capacity<F>(capacity: usize, handler: F) -> Result<WorkerThread<T>>
    where
        F: FnMut(T) + Send + 'static,
    {
        check_capacity("capacity", capacity)?;
        let (sender, receiver) = channel::bounded(capacity);
        Self::start(sender, receiver, handler)
    }

    fn start<F>(
        sender: Sender<T>,
        receiver: channel::Receiver<T>,
        mut handler: F,
    ) -> Result<WorkerThread<T>>
    where
        F: FnMut(T) + Send + 'static,
    {
        let body = move || {
            let _guard = AbortOnUnwind("a ptm::WorkerThread");
            let mut stats = WorkerStats::default();
            // Ends when every sender is gone and the queue is empty.
            while let Ok(task) = receiver.recv() {
                match panic::catch_unwind(AssertUnwindSafe(|| handler(task))) {
                    Ok(()) => stats.processed = stats.processed.wrapping_add(1),
                    Err(payload) => {
                        stats.panicked = stats.panicked.wrapping_add(1);
                        drop_quietly(payload);
                    }
                }
            }
            // Dropped here, not as the closure ends, so that a panicking
            // `Drop` of the handler's state cannot take the stats with it.
            drop_quietly(handler);
            stats
        };
        let thread = thread::Builder::new()
            .name(THREAD_NAME.to_owned())
            .spawn(body)
            .map_err(|source| Error::ThreadSpawn {
                name: THREAD_NAME.to_owned(),
                source,
            })?;
        Ok(WorkerThread {
            sender: Some(sender),
            thread: Some(thread),
        })
    }
}

impl<T> WorkerThread<T> {
    /// Queues `task` for the handler; blocks while a bounded queue is full
    /// (from inside the handler, on a full queue, that waits for ever).
    ///
    /// # Errors
    ///
    /// None in practice: the signature leaves room for [`Error::Closed`],
    /// which a worker reachable through `&self` never returns (the thread
    /// catches handler panics and cannot die).
    pub fn submit(&self, task: T) -> Result<()> {
        let sender = self.sender.as_ref().ok_or(Error::Closed)?;
        sender.send(task).map_err(|_| Error::Closed)
    }

    /// Closes the queue, lets the thread process every queued task, joins it
    /// and returns what it did.
    ///
    /// Called from inside the handler (the handler owns the worker), the
    /// thread cannot join itself: `stop` returns at once with empty stats, and
    /// the thread processes what is queued and exits when the handler returns.
    pub fn stop(mut self) -> WorkerStats {
        self.finish()
    }

    fn finish(&mut self) -> WorkerStats {
        drop(self.sender.take());
        match self.thread.take() {
            // Stopped from inside its own handler (the handler owns the
            // worker): it cannot join itself; it ends when the handler returns.
            Some(handle) if handle.thread().id() != thread::current().id() => {
                // The thread never unwinds (`AbortOnUnwind`), so this is `Ok`.
                handle.join().unwrap_or_else(|payload| {
                    forget_payload(payload);
                    WorkerStats::default()
                })
            }
            _ => WorkerStats::default(),
        }
    }
}

impl<T> Drop for WorkerThread<T> {
    /// Same as [`stop`](WorkerThread::stop), without the stats.
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.finish();
        }
    }
}

impl<T> fmt::Debug for WorkerThread<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerThread")
            .field("running", &self.thread.is_some())
            .finish_non_exhaustive()
    }
}
