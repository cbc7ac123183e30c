//! The Rust Book's thread pool, as chapter 20 ("Final Project: Building a
//! Multithreaded Web Server", "Graceful Shutdown and Cleanup") leaves it in
//! its final `src/lib.rs`, copied faithfully to be measured against: one
//! `mpsc` channel whose `Receiver` sits in an `Arc<Mutex<..>>` shared by the
//! workers, `Option<Sender>` so that `Drop` can close the channel, workers
//! holding an `Option<JoinHandle>`, and a `Drop` that drops the sender, then
//! joins every worker; the `unwrap()`s are the book's. Changed: its three
//! `println!`s are removed (a benchmark of a million jobs must not measure
//! stdout) and doc comments added.
//!
//! The design point it is measured for: a worker calls
//! `receiver.lock().unwrap().recv()`, holding the mutex while it *blocks* in
//! `recv` (the guard is a temporary dropped at the end of the `let`, before
//! the job runs), so every dequeue serialises on that lock.
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
//! drop((pool, tx)); // drops the sender, joins the workers
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

    /// Sends `f` to the workers; the first to take the lock and receive it
    /// runs it.
    ///
    /// # Panics
    ///
    /// If every worker has exited (a panicking job kills its worker).
    pub fn execute<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        let job = Box::new(f);

        self.sender.as_ref().unwrap().send(job).unwrap();
    }
}

impl Drop for ThreadPool {
    /// Closes the channel, then joins every worker (each runs what is
    /// queued, then sees `Err` from `recv`); panics if a job panicked.
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
    /// Starts a thread that receives jobs under the lock and runs them.
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
