//! The Rust Book's thread pool as chapter 20 ("Graceful Shutdown and
//! Cleanup") leaves it in its final `src/lib.rs`, copied faithfully to be
//! measured against, `unwrap()`s included; only its three `println!`s are
//! removed (a million jobs must not measure stdout) and docs added. The
//! point it is measured for: a worker holds the `Mutex` around the shared
//! `Receiver` while it *blocks* in `recv` (the guard is a temporary of the
//! `let`), so every dequeue serialises on that lock.
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

struct Worker {
    #[allow(dead_code)] // the book prints it
    id: usize,
    thread: Option<thread::JoinHandle<()>>,
}

impl Worker {
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
