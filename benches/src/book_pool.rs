//! The Rust Book's thread pool, as chapter 20 ("Final Project: Building a
//! Multithreaded Web Server", section "Graceful Shutdown and Cleanup") leaves
//! it in its final listing: `src/lib.rs` of the `hello` crate.
//!
//! It is here to be measured against, so it is copied faithfully: one
//! `mpsc` channel whose `Receiver` sits in an `Arc<Mutex<..>>` shared by the
//! workers, `Option<Sender>` so that `Drop` can close the channel, workers
//! holding an `Option<JoinHandle>`, and a `Drop` that drops the sender and
//! then joins every worker. Its `unwrap()`s are the book's too.
//!
//! Changes from the book, none of which touches the design:
//!
//! * the book's three `println!`s ("Worker {id} got a job; executing.",
//!   "Worker {id} disconnected; shutting down.", "Shutting down worker {id}")
//!   are removed: a benchmark of a million jobs must not measure stdout;
//! * doc comments are added to every item, and `Worker::id` is kept (the book
//!   only reads it in the removed `println!`s) with `#[allow(dead_code)]`.
//!
//! Note the design point this pool is measured for: a worker calls
//! `receiver.lock().unwrap().recv()`, so it holds the mutex while it *blocks*
//! in `recv` (the guard is a temporary dropped at the end of the `let`
//! statement, before the job runs). Every dequeue serialises on that lock.
//!
//! ```
//! use std::sync::mpsc;
//! use ptm_benches::book_pool::ThreadPool;
//!
//! let pool = ThreadPool::new(2);
//! let (tx, rx) = mpsc::channel();
//! for i in 0..4 {
//!     let tx = tx.clone();
//!     pool.execute(move || tx.send(i * i).unwrap());
//! }
//! drop(pool); // drops the sender, joins the workers
//! drop(tx);
//! assert_eq!(rx.iter().sum::<i32>(), 0 + 1 + 4 + 9);
//! ```

use std::{
    sync::{mpsc, Arc, Mutex},
    thread,
};

/// The Rust Book's `ThreadPool`: a fixed number of worker threads sharing one
/// `Arc<Mutex<mpsc::Receiver<Job>>>`.
pub struct ThreadPool {
    workers: Vec<Worker>,
    sender: Option<mpsc::Sender<Job>>,
}

/// A job: any closure that runs once on some worker.
type Job = Box<dyn FnOnce() + Send + 'static>;

impl ThreadPool {
    /// Create a new ThreadPool.
    ///
    /// The size is the number of threads in the pool.
    ///
    /// # Panics
    ///
    /// The `new` function will panic if the size is zero (and, as in the
    /// book, if the OS refuses a thread: `thread::spawn` panics then).
    pub fn new(size: usize) -> ThreadPool {
        assert!(size > 0);

        let (sender, receiver) = mpsc::channel();

        let receiver = Arc::new(Mutex::new(receiver));

        let mut workers = Vec::with_capacity(size);

        for id in 0..size {
            workers.push(Worker::new(id, Arc::clone(&receiver)));
        }

        ThreadPool {
            workers,
            sender: Some(sender),
        }
    }

    /// Sends `f` to the workers; the first worker to take the lock and
    /// receive it runs it.
    ///
    /// # Panics
    ///
    /// If every worker has exited, which happens only after a job panicked
    /// in each of them: a panicking job kills its worker in this design.
    pub fn execute<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        let job = Box::new(f);

        self.sender.as_ref().unwrap().send(job).unwrap();
    }
}

impl Drop for ThreadPool {
    /// Drops the sender, which closes the channel, then joins every worker:
    /// each runs the jobs still queued, sees `Err` from `recv` and exits.
    ///
    /// Panics if a worker panicked (a job panicked in it), as in the book.
    fn drop(&mut self) {
        drop(self.sender.take());

        for worker in &mut self.workers {
            // The book prints "Shutting down worker {id}" here.
            if let Some(thread) = worker.thread.take() {
                thread.join().unwrap();
            }
        }
    }
}

/// One thread of the pool, looping on the shared receiver.
struct Worker {
    /// The worker's index; the book prints it, this copy does not.
    #[allow(dead_code)]
    id: usize,
    /// `None` once joined by `ThreadPool::drop`.
    thread: Option<thread::JoinHandle<()>>,
}

impl Worker {
    /// Starts a thread that receives jobs under the shared lock and runs
    /// them, until the channel is closed.
    fn new(id: usize, receiver: Arc<Mutex<mpsc::Receiver<Job>>>) -> Worker {
        let thread = thread::spawn(move || loop {
            let message = receiver.lock().unwrap().recv();

            match message {
                Ok(job) => {
                    // The book prints "Worker {id} got a job; executing." here.
                    job();
                }
                Err(_) => {
                    // The book prints "Worker {id} disconnected; shutting down." here.
                    break;
                }
            }
        });

        Worker {
            id,
            thread: Some(thread),
        }
    }
}
