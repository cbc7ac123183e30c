//! A fixed-size thread pool: [`ThreadPool`], built by [`PoolBuilder`].
//!
//! ```
//! use ptm::ThreadPool;
//!
//! # fn main() -> ptm::Result<()> {
//! let pool = ThreadPool::new(4)?;
//! let handle = pool.spawn(|| 6 * 7)?;
//! assert_eq!(handle.join()?, 42);
//! let stats = pool.shutdown();
//! assert_eq!(stats.completed, 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Design
//!
//! The workers pull jobs from one multi-producer multi-consumer queue
//! (`crossbeam-channel`), not from a `Mutex<Receiver>`: a worker blocked on an
//! empty queue holds no lock, and a sender wakes a parked worker only when one
//! is parked. The Rust Book's pool locks a mutex around `recv()`, so every
//! dequeue serialises on that lock.
//!
//! Each worker owns a cache-padded `Slot` of counters that only it writes
//! (`started`, `completed`, `panicked`, `retired`, `cancelled`), so finishing
//! a job costs no read-modify-write on a line other threads write. Submitters
//! count jobs in one `submitted` counter. [`ThreadPool::stats`] and
//! [`ThreadPool::wait_idle`] sum the slots.
//!
//! A job is *completed* or *panicked* as soon as its closure returns, before
//! a [`JobHandle`] can see its value (so a `join` that returned has been
//! counted), and *retired* once the worker is entirely done with it, the
//! value sent or dropped. `wait_idle` waits for retirement.
//!
//! # Invariants and orderings
//!
//! * `submitted` is incremented *before* a job enters the queue and
//!   decremented only if the queue refused it. Each slot's `retired` counter
//!   is bumped with a `Release` store after the job, and a job was received
//!   (`Acquire`, inside the channel) after its increment. So a reader that
//!   loads the `retired` counters (`Acquire`) and *then* `submitted` (which
//!   may be `Relaxed`: the happens-before comes through `retired`) sees every
//!   job it counted as retired also counted as submitted: the pool was idle
//!   at the moment the two sums are equal. Reading in the other order would
//!   not be sound (`tests/loom.rs` has the model that shows it).
//! * `wait_idle` must not miss the wake-up of the last job. Worker and waiter
//!   run a Dekker handshake: the worker stores its finish count, issues
//!   `fence(SeqCst)`, then loads `waiters`; the waiter increments `waiters`
//!   (under `idle_lock`), issues `fence(SeqCst)`, then checks the counters.
//!   The two fences are ordered, so either the worker sees the waiter and
//!   notifies (taking `idle_lock`, so the waiter is already inside
//!   `Condvar::wait`), or the waiter sees the finished job. Workers touch the
//!   lock only while somebody waits.
//! * `idle_lock` guards no data: it orders "check the counters, then sleep"
//!   against "notify", and is never held while a job runs.
//! * `cancel` is `Relaxed`: a worker that dequeued a job just as
//!   `shutdown_now` set it may still run that job, which is then counted as
//!   run, not cancelled; the counts stay exact either way.
//! * Counters wrap on overflow (`wrapping_add`), so sums and equality stay
//!   right on 32-bit targets after 2^32 jobs.
//!
//! Jobs run under `catch_unwind`; a panic is counted and, for
//! [`ThreadPool::spawn`], reported to the [`JobHandle`]. It never kills a
//! worker; if a bug in ptm ever let a panic escape the worker loop, the
//! process aborts with a message rather than leave a pool that silently
//! stopped serving. `tests/loom.rs` model-checks shutdown, `shutdown_now` and
//! `wait_idle` with these orderings (over a loom twin of the queue, see the
//! `sync` module).

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::error::{Error, Result};
use crate::sync::channel::{self, Receiver, SendError, Sender, TrySendError};
use crate::sync::{
    fence, lock, thread, thread_local, Arc, AtomicBool, AtomicUsize, Condvar, Mutex,
};

/// A job as the workers see it: it records its own outcome in the slot of the
/// worker that runs it, so that a result is counted before it is published.
type Job = Box<dyn FnOnce(&Slot) + Send + 'static>;

thread_local! {
    /// `(address of the pool's Shared, worker index)` on a worker thread,
    /// `(0, 0)` elsewhere: how `wait_idle` and shutdown recognise a call from
    /// one of the pool's own jobs.
    // Not `const { .. }`: loom's `thread_local!` does not accept it.
    #[allow(clippy::missing_const_for_thread_local)]
    static CURRENT_WORKER: Cell<(usize, usize)> = Cell::new((0, 0));
}

/// Why a job started with [`ThreadPool::spawn`] produced no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The job panicked; this is the panic's message.
    #[error("job panicked: {0}")]
    Panicked(String),
    /// The job was dropped before it ran, by [`ThreadPool::shutdown_now`].
    #[error("job was cancelled before it ran")]
    Cancelled,
}

/// A snapshot of a pool's counters, from [`ThreadPool::stats`],
/// [`ThreadPool::shutdown`] or [`ThreadPool::shutdown_now`].
///
/// The fields are read one after another while the pool runs, so a snapshot
/// taken under load is approximate; after shutdown it is exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PoolStats {
    /// Worker threads of the pool.
    pub workers: usize,
    /// Jobs accepted but not yet started. In the stats that
    /// [`ThreadPool::shutdown_now`] returns: the jobs it cancelled.
    pub queued: usize,
    /// Jobs running now.
    pub active: usize,
    /// Jobs that returned normally.
    pub completed: usize,
    /// Jobs that panicked.
    pub panicked: usize,
}

/// The most worker threads a pool may have. Far beyond what a machine runs
/// well; it exists so that an absurd count is an error, not an abort.
pub const MAX_WORKERS: usize = 1 << 16;

/// The largest bounded queue: a bounded queue allocates all its slots when
/// the pool is built (about 24 bytes each), so a huge bound is an error rather
/// than a huge allocation. Leave the queue unbounded to have no limit.
pub const MAX_QUEUE_CAPACITY: usize = 1 << 24;

/// How long a [`PoolBuilder::build`] that failed waits for the workers it
/// had started to end before it detaches those still running. A healthy
/// worker of a pool that was never returned has no job and ends as soon as
/// it is scheduled; the bound is for a thread that never reached ptm's code.
const STARTED_WORKERS_GRACE: Duration = Duration::from_secs(1);

/// Checks a bounded queue's capacity against [`MAX_QUEUE_CAPACITY`].
pub(crate) fn check_capacity(what: &str, capacity: usize) -> Result<()> {
    if capacity > MAX_QUEUE_CAPACITY {
        return Err(Error::InvalidArgument(format!(
            "{what} = {capacity} exceeds the maximum of {MAX_QUEUE_CAPACITY} \
             (a bounded queue allocates its slots up front; use an unbounded one)"
        )));
    }
    Ok(())
}

/// Configures and starts a [`ThreadPool`]; from [`ThreadPool::builder`].
///
/// ```
/// # fn main() -> ptm::Result<()> {
/// let pool = ptm::ThreadPool::builder()
///     .workers(2)
///     .queue_capacity(64)
///     .thread_name("indexer")
///     .stack_size(256 * 1024)
///     .build()?;
/// pool.execute(|| assert!(std::thread::current().name().unwrap().starts_with("indexer-")))?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a PoolBuilder does nothing until `build` is called"]
pub struct PoolBuilder {
    workers: Option<usize>,
    queue_capacity: Option<usize>,
    thread_name: String,
    stack_size: Option<usize>,
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            workers: None,
            queue_capacity: None,
            thread_name: "ptm-worker".to_owned(),
            stack_size: None,
        }
    }
}

impl PoolBuilder {
    /// Sets the number of worker threads (default: the machine's available
    /// parallelism). Zero is rejected by [`build`](Self::build).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers);
        self
    }

    /// Bounds the job queue to `capacity` jobs waiting to start (default:
    /// unbounded). When it is full, [`ThreadPool::execute`] and
    /// [`ThreadPool::spawn`] block and [`ThreadPool::try_execute`] fails with
    /// [`Error::QueueFull`]. A capacity of 0 makes the queue a rendezvous: a
    /// job is accepted only when a worker is free to take it.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = Some(capacity);
        self
    }

    /// Names the worker threads `<prefix>-<index>`, index from 0
    /// (default prefix: `ptm-worker`).
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name = prefix.into();
        self
    }

    /// Sets each worker's stack size in bytes (default: std's, 2 MiB unless
    /// `RUST_MIN_STACK` says otherwise).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the worker threads.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for zero workers or more than
    /// [`MAX_WORKERS`], a queue capacity above [`MAX_QUEUE_CAPACITY`], or a
    /// thread name with a NUL byte.
    ///
    /// [`Error::ThreadSpawn`] if the OS refuses a thread. The threads
    /// already started are then stopped: each is joined if it ends within a
    /// second, and detached otherwise, so the error never waits for ever on
    /// a thread that may not have started.
    ///
    /// What std does when memory runs out inside a new thread, before ptm's
    /// code runs in it, is not an error ptm can return. Under a tight
    /// address space (`ulimit -v`) `pthread_create` may succeed and the new
    /// thread then fail in std's start routine: it cannot map its signal
    /// stack (`stack_overflow::Handler::new` panics "failed to allocate an
    /// alternative stack" where no unwinding is possible), or an allocation
    /// fails (std's out-of-memory hook prints a message), or glibc cannot
    /// register a thread-local destructor. Each aborts the whole process.
    /// With `RUST_BACKTRACE` set, the thread can instead hang for good:
    /// std's panic hook takes its backtrace lock to print a backtrace, an
    /// allocation fails while printing, and the out-of-memory hook waits
    /// for that same lock. That thread is the one the bound above stops
    /// waiting for (seen in `gdb`, std 1.95); any later panic in the
    /// process waits for that lock too. A worker stuck so after every spawn
    /// succeeded leaves a pool with one worker fewer, whose shutdown waits
    /// for ever.
    pub fn build(self) -> Result<ThreadPool> {
        self.build_with(STARTED_WORKERS_GRACE, |builder, worker| {
            builder.spawn(move || worker.run())
        })
    }

    /// [`build`](Self::build), with the grace given to the started workers
    /// on the error path, and the way each worker's thread is spawned (tests
    /// replace it to stage a thread that never reaches its loop).
    fn build_with<S>(self, grace: Duration, mut spawn: S) -> Result<ThreadPool>
    where
        S: FnMut(thread::Builder, Worker) -> io::Result<thread::JoinHandle<()>>,
    {
        let workers = match self.workers {
            Some(0) => {
                return Err(Error::InvalidArgument(
                    "a thread pool needs at least one worker, got workers = 0".into(),
                ))
            }
            Some(n) if n > MAX_WORKERS => {
                return Err(Error::InvalidArgument(format!(
                    "workers = {n} exceeds the maximum of {MAX_WORKERS}"
                )))
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if let Some(capacity) = self.queue_capacity {
            check_capacity("queue_capacity", capacity)?;
        }
        if self.thread_name.contains('\0') {
            return Err(Error::InvalidArgument(format!(
                "thread name prefix {:?} contains a NUL byte",
                self.thread_name
            )));
        }
        let (sender, receiver) = match self.queue_capacity {
            Some(capacity) => channel::bounded(capacity),
            None => channel::unbounded(),
        };
        let shared = Arc::new(Shared {
            slots: (0..workers)
                .map(|_| CachePadded::new(Slot::default()))
                .collect(),
            submitted: CachePadded::new(AtomicUsize::new(0)),
            waiters: AtomicUsize::new(0),
            cancel: AtomicBool::new(false),
            idle_lock: Mutex::new(()),
            idle_cv: Condvar::new(),
        });
        // Room for every handle and every exit notice is allocated now,
        // while memory is plentiful: the error path below allocates nothing,
        // as it may run when the address space is exhausted. (Crossbeam's
        // own channel even under loom: it is waited on only on that path,
        // which the loom models never take.)
        let mut started: Vec<Option<thread::JoinHandle<()>>> = Vec::with_capacity(workers);
        let (exits, exited) = crossbeam_channel::bounded(workers);
        for index in 0..workers {
            let name = format!("{}-{index}", self.thread_name);
            let mut builder = thread::Builder::new().name(name.clone());
            if let Some(bytes) = self.stack_size {
                builder = builder.stack_size(bytes);
            }
            let worker = Worker {
                shared: Arc::clone(&shared),
                index,
                receiver: receiver.clone(),
                _exit: ExitNotice {
                    index,
                    exits: exits.clone(),
                },
            };
            match spawn(builder, worker) {
                Ok(handle) => started.push(Some(handle)),
                Err(source) => {
                    // Closing the queue tells the started workers to end.
                    drop((sender, exits));
                    join_or_detach(&mut started, &exited, grace);
                    return Err(Error::ThreadSpawn { name, source });
                }
            }
        }
        Ok(ThreadPool {
            sender: Some(sender),
            receiver,
            threads: started.into_iter().flatten().collect(),
            shared,
        })
    }
}

/// The error path of `build`, once the queue is closed: joins each started
/// worker that ends within `grace` (its [`ExitNotice`] arrives), and
/// detaches the others, dropping their handles.
///
/// A thread that std started may never reach ptm's code (see the
/// `# Errors` of [`PoolBuilder::build`]): `join` on it would never return.
/// A worker that is merely slow to be scheduled ends on its own, seeing the
/// queue closed; detaching it costs nothing.
fn join_or_detach(
    started: &mut [Option<thread::JoinHandle<()>>],
    exited: &crossbeam_channel::Receiver<usize>,
    grace: Duration,
) {
    let mut running = started.len();
    let deadline = Instant::now().checked_add(grace);
    while running > 0 {
        let notice = match deadline {
            Some(deadline) => exited.recv_deadline(deadline).ok(),
            None => exited.recv().ok(),
        };
        let Some(index) = notice else {
            break; // the grace is over
        };
        // Its loop has returned: the join waits only for std's exit.
        if let Some(handle) = started.get_mut(index).and_then(Option::take) {
            running -= 1;
            if let Err(payload) = handle.join() {
                forget_payload(payload);
            }
        }
    }
}

/// What one worker thread runs: its loop, over the pool's queue.
struct Worker {
    shared: Arc<Shared>,
    index: usize,
    receiver: Receiver<Job>,
    /// Dropped when the loop has returned (or when the thread never ran).
    _exit: ExitNotice,
}

impl Worker {
    /// The body of the worker's thread.
    fn run(self) {
        worker_loop(&self.shared, self.index, &self.receiver);
    }
}

/// Sends its worker's index when dropped: once the worker's loop has
/// returned, or when std drops the closure of a thread it could not start.
/// How a failed `build` learns, with a bound, which workers have ended.
/// (The channel holds one notice per worker: the send never blocks, nor
/// allocates.)
struct ExitNotice {
    index: usize,
    exits: crossbeam_channel::Sender<usize>,
}

impl Drop for ExitNotice {
    fn drop(&mut self) {
        // Fails only once `build` stopped listening: nobody to tell.
        let _ = self.exits.send(self.index);
    }
}

/// A fixed set of worker threads running submitted jobs in FIFO order.
///
/// `ThreadPool` is `Send + Sync`: share it by reference (for example with
/// [`std::thread::scope`]) or in an [`Arc`]. Dropping it is
/// [`shutdown`](Self::shutdown): every accepted job runs, every worker is
/// joined.
///
/// See the [module documentation](self) for the design and its invariants.
pub struct ThreadPool {
    /// `None` once shut down (only inside `finish`, which `Drop` may call
    /// after `shutdown` already did).
    sender: Option<Sender<Job>>,
    /// Kept so that `shutdown_now` can drain the queue itself, at once.
    receiver: Receiver<Job>,
    threads: Vec<thread::JoinHandle<()>>,
    shared: Arc<Shared>,
}

/// State shared by the pool handle and its workers.
struct Shared {
    slots: Box<[CachePadded<Slot>]>,
    /// Jobs accepted or being offered to the queue (see module docs).
    submitted: CachePadded<AtomicUsize>,
    /// `wait_idle` calls currently waiting; read by workers after each job.
    waiters: AtomicUsize,
    /// Set by `shutdown_now`: workers drop the jobs they dequeue after it.
    cancel: AtomicBool,
    idle_lock: Mutex<()>,
    idle_cv: Condvar,
}

/// One worker's counters. Only that worker writes them (load, add, `Release`
/// store); `stats` and `wait_idle` read them. (A pool dropped from one of its
/// own jobs runs the leftover jobs on that job's thread, which is the same
/// worker, so the single-writer rule holds there too.)
#[derive(Default)]
struct Slot {
    started: AtomicUsize,
    completed: AtomicUsize,
    panicked: AtomicUsize,
    /// Jobs the worker is entirely done with (see the module docs).
    retired: AtomicUsize,
    cancelled: AtomicUsize,
}

/// Adds one to a counter that only the calling thread writes.
fn bump(counter: &AtomicUsize) {
    counter.store(counter.load(Relaxed).wrapping_add(1), Release);
}

impl Slot {
    /// Runs `f`, catching a panic, and counts the outcome before returning it.
    fn run<T>(&self, f: impl FnOnce() -> T) -> std::result::Result<T, JobError> {
        match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(value) => {
                bump(&self.completed);
                Ok(value)
            }
            Err(payload) => {
                bump(&self.panicked);
                Err(JobError::Panicked(panic_message(payload)))
            }
        }
    }

    /// Runs one dequeued job on this slot's worker: counts it, runs it,
    /// retires it, and wakes `wait_idle` callers if the pool became idle.
    fn run_job(&self, shared: &Shared, job: Job) {
        bump(&self.started);
        // `Slot::run` inside the job catches the job's own panic. This outer
        // guard catches what runs after it: dropping a result nobody awaits.
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| job(self))) {
            forget_payload(payload);
        }
        bump(&self.retired);
        shared.after_job();
    }
}

/// Turns a panic payload into its message, and drops the payload without
/// letting a panicking `Drop` of the payload escape.
pub(crate) fn panic_message(payload: Box<dyn Any + Send>) -> String {
    let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any> (a panic payload that is not a string)".to_owned()
    };
    drop_quietly(payload);
    message
}

/// Drops `value`, swallowing a panic from its `Drop`: a worker must survive
/// whatever a job captured.
pub(crate) fn drop_quietly<T>(value: T) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(value))) {
        forget_payload(payload);
    }
}

/// Disposes of the payload of a panic that was caught while cleaning up.
/// Dropping it could panic in turn (a payload's `Drop` may panic, again and
/// again), so it is leaked: a few bytes, on a path that only hostile code takes.
pub(crate) fn forget_payload(payload: Box<dyn Any + Send>) {
    std::mem::forget(payload);
}

/// Aborts the process if dropped during a panic. A worker holds one: its loop
/// catches every panic of user code, so unwinding out of it means a bug in
/// ptm, and a pool whose worker silently died would hang `wait_idle` and lose
/// every job it queued.
pub(crate) struct AbortOnUnwind(pub(crate) &'static str);

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "ptm: a panic escaped {}; this is a bug in ptm. Aborting.",
                self.0
            );
            std::process::abort();
        }
    }
}

impl Shared {
    /// An identity for `CURRENT_POOL`: the address of this `Shared`, which
    /// lives in an `Arc` and so does not move while any worker runs.
    fn id(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// True if every job counted in `submitted` has retired. Reads the
    /// `retired` counters first, then `submitted` (see the module docs).
    fn is_idle(&self) -> bool {
        let retired = self
            .slots
            .iter()
            .map(|slot| slot.retired.load(Acquire))
            .fold(0, usize::wrapping_add);
        retired == self.submitted.load(Relaxed)
    }

    // ANCHOR: after_job
    /// Called by a worker after a job, and by a submitter whose job the
    /// queue refused: wakes `wait_idle` callers if there are any and the
    /// pool is idle.
    fn after_job(&self) {
        // Dekker handshake with `wait_idle`: the counter store before this
        // fence and the `waiters` increment before the waiter's fence cannot
        // both be missed.
        fence(SeqCst);
        if self.waiters.load(Relaxed) != 0 && self.is_idle() {
            let _guard = lock(&self.idle_lock);
            self.idle_cv.notify_all();
        }
    }
    // ANCHOR_END: after_job
}

// ANCHOR: worker_loop
/// The body of each worker thread: runs jobs until the queue is closed and
/// empty.
fn worker_loop(shared: &Shared, index: usize, receiver: &Receiver<Job>) {
    let _guard = AbortOnUnwind("a ptm::ThreadPool worker");
    CURRENT_WORKER.with(|current| current.set((shared.id(), index)));
    let slot = &shared.slots[index];
    while let Ok(job) = receiver.recv() {
        if shared.cancel.load(Relaxed) {
            bump(&slot.cancelled);
            drop_quietly(job);
        } else {
            slot.run_job(shared, job);
        }
    }
}
// ANCHOR_END: worker_loop

/// The index of the calling thread if it is a worker of the pool `shared`.
fn current_worker(shared: &Shared) -> Option<usize> {
    let (pool, index) = CURRENT_WORKER.with(Cell::get);
    (pool == shared.id()).then_some(index)
}

/// How `submit` hands a job to the queue.
#[derive(Clone, Copy)]
enum Mode {
    Block,
    Try,
}

impl ThreadPool {
    /// Starts a pool of `workers` threads with an unbounded queue.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `workers` is 0, [`Error::ThreadSpawn`] if
    /// the OS refuses a thread (see [`PoolBuilder::build`] for the threads
    /// already started, and for what std does when memory runs out).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = ptm::ThreadPool::new(2)?;
    /// for i in 0..10 {
    ///     pool.execute(move || println!("job {i}"))?;
    /// }
    /// pool.wait_idle()?;
    /// assert_eq!(pool.stats().completed, 10);
    /// # Ok::<(), ptm::Error>(())
    /// ```
    pub fn new(workers: usize) -> Result<ThreadPool> {
        PoolBuilder::default().workers(workers).build()
    }

    /// Returns a [`PoolBuilder`] to set the queue bound, thread names and
    /// stack size.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// Queues `f` to run on a worker. With a bounded queue that is full, waits
    /// for room (back pressure).
    ///
    /// A panic in `f` is caught and counted in [`PoolStats::panicked`]; the
    /// worker goes on. Use [`spawn`](Self::spawn) to get the value or the
    /// panic message back.
    ///
    /// A job that calls `execute` on its own full, bounded pool waits for a
    /// worker, possibly itself: use [`try_execute`](Self::try_execute) there.
    ///
    /// # Errors
    ///
    /// None in practice: the signature leaves room for [`Error::Closed`],
    /// which a pool reachable through `&self` never returns (its queue stays
    /// open until `shutdown`, and its workers cannot die).
    pub fn execute<F>(&self, f: F) -> Result<()>
    where
        F: FnOnce() + Send + 'static,
    {
        self.submit(Box::new(move |slot: &Slot| drop(slot.run(f))), Mode::Block)
    }

    /// Like [`execute`](Self::execute), but never blocks.
    ///
    /// # Errors
    ///
    /// [`Error::QueueFull`] if the bounded queue has no room; `f` is dropped
    /// on the calling thread.
    pub fn try_execute<F>(&self, f: F) -> Result<()>
    where
        F: FnOnce() + Send + 'static,
    {
        self.submit(Box::new(move |slot: &Slot| drop(slot.run(f))), Mode::Try)
    }

    /// Queues `f` and returns a [`JobHandle`] that yields its value, its panic
    /// message, or the news that it was cancelled. Blocks like
    /// [`execute`](Self::execute) when a bounded queue is full.
    ///
    /// Dropping the handle does not cancel the job; its value is then dropped
    /// on the worker. Joining, from a job, a handle of the same pool waits for
    /// a worker: if every worker does that, they wait for ever.
    ///
    /// # Errors
    ///
    /// As for [`execute`](Self::execute).
    ///
    /// # Examples
    ///
    /// ```
    /// use ptm::pool::JobError;
    ///
    /// let pool = ptm::ThreadPool::new(2)?;
    /// let ok = pool.spawn(|| "done")?;
    /// let bad = pool.spawn(|| -> u32 { panic!("boom") })?;
    /// assert_eq!(ok.join(), Ok("done"));
    /// assert_eq!(bad.join(), Err(JobError::Panicked("boom".into())));
    /// # Ok::<(), ptm::Error>(())
    /// ```
    pub fn spawn<T, F>(&self, f: F) -> Result<JobHandle<T>>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = channel::bounded(1);
        // The slot counts the outcome inside `run`, before `send` publishes
        // it: a `join` that returns has been counted in `stats`.
        let job = move |slot: &Slot| drop(tx.send(slot.run(f)));
        self.submit(Box::new(job), Mode::Block)?;
        Ok(JobHandle { receiver: rx })
    }

    fn submit(&self, job: Job, mode: Mode) -> Result<()> {
        let Some(sender) = &self.sender else {
            return Err(Error::Closed);
        };
        let shared = &*self.shared;
        // Counted before it can be dequeued, so `finished <= submitted`.
        shared.submitted.fetch_add(1, Relaxed);
        let (refused, error) = match mode {
            Mode::Block => match sender.send(job) {
                Ok(()) => return Ok(()),
                Err(SendError(job)) => (job, Error::Closed),
            },
            Mode::Try => match sender.try_send(job) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(job)) => (job, Error::QueueFull),
                Err(TrySendError::Disconnected(job)) => (job, Error::Closed),
            },
        };
        shared.submitted.fetch_sub(1, Relaxed);
        // The withdrawal may be what makes the pool idle.
        shared.after_job();
        drop(refused);
        Err(error)
    }

    /// Blocks until every job submitted so far has finished (run or
    /// panicked, its value delivered or dropped).
    ///
    /// It waits for the pool to be *idle*: jobs that other threads submit
    /// while it waits are waited for too. If other threads keep the pool busy
    /// without a pause, it keeps waiting; stop them first. It cannot see jobs
    /// that a job starts on other threads, nor detect a job that waits for the
    /// caller: either can make it wait forever.
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`] when called from a job of this pool, which
    /// would wait for itself.
    // ANCHOR: wait_idle
    pub fn wait_idle(&self) -> Result<()> {
        let shared = &self.shared;
        if current_worker(shared).is_some() {
            return Err(Error::WouldDeadlock);
        }
        if shared.is_idle() {
            return Ok(());
        }
        let mut guard = lock(&shared.idle_lock);
        shared.waiters.fetch_add(1, Relaxed);
        // Pairs with the fence in `Shared::after_job` (module docs).
        fence(SeqCst);
        while !shared.is_idle() {
            guard = shared
                .idle_cv
                .wait(guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        shared.waiters.fetch_sub(1, Relaxed);
        Ok(())
    }
    // ANCHOR_END: wait_idle

    /// Returns the pool's counters; see [`PoolStats`].
    pub fn stats(&self) -> PoolStats {
        let mut stats = PoolStats {
            workers: self.shared.slots.len(),
            queued: self.receiver.len(),
            ..PoolStats::default()
        };
        for slot in self.shared.slots.iter() {
            // Finish counters first: `started` is then at least as new, so the
            // difference cannot be negative.
            let completed = slot.completed.load(Acquire);
            let panicked = slot.panicked.load(Acquire);
            let started = slot.started.load(Acquire);
            stats.completed = stats.completed.wrapping_add(completed);
            stats.panicked = stats.panicked.wrapping_add(panicked);
            let active = started.wrapping_sub(completed.wrapping_add(panicked));
            stats.active = stats.active.wrapping_add(active);
        }
        stats
    }

    /// Stops accepting work, runs every queued job, joins every worker and
    /// returns the final counters.
    ///
    /// Called from one of the pool's own jobs (the job owns the pool), it
    /// joins every other worker, runs what is still queued on the calling
    /// thread, and returns; that one worker thread exits when the job returns.
    pub fn shutdown(mut self) -> PoolStats {
        self.finish(false)
    }

    /// Stops accepting work, drops every job that has not started (their
    /// [`JobHandle`]s report [`JobError::Cancelled`]), waits for the running
    /// ones, joins every worker and returns the final counters, with the
    /// number of cancelled jobs in [`PoolStats::queued`]. From one of the
    /// pool's own jobs, it behaves as [`shutdown`](Self::shutdown) does there.
    pub fn shutdown_now(mut self) -> PoolStats {
        self.finish(true)
    }

    fn finish(&mut self, cancel: bool) -> PoolStats {
        let mut cancelled = 0;
        if cancel {
            self.shared.cancel.store(true, Relaxed);
            // Drain here rather than leave it to busy workers, so a queued job
            // is dropped now (its captures released) and not after a long job.
            while let Ok(job) = self.receiver.try_recv() {
                cancelled += 1;
                drop_quietly(job);
            }
        }
        // Closing the queue: workers finish what is queued, then see `Err`.
        drop(self.sender.take());
        let me = thread::current().id();
        for handle in self.threads.drain(..) {
            // Called from one of the pool's own jobs, the pool cannot join the
            // worker running that job; that worker exits once the job returns.
            if handle.thread().id() != me {
                // Workers never unwind (`AbortOnUnwind`), so this cannot fail.
                if let Err(payload) = handle.join() {
                    forget_payload(payload);
                }
            }
        }
        if let Some(index) = current_worker(&self.shared) {
            // The other workers have exited; whatever is still queued would
            // wait for the job that called us to return. Run it here instead,
            // so the stats we return are final.
            let slot = &self.shared.slots[index];
            while let Ok(job) = self.receiver.try_recv() {
                if cancel {
                    cancelled += 1;
                    drop_quietly(job);
                } else {
                    slot.run_job(&self.shared, job);
                }
            }
        }
        let mut stats = self.stats();
        stats.queued = self
            .shared
            .slots
            .iter()
            .map(|slot| slot.cancelled.load(Acquire))
            .fold(cancelled, usize::wrapping_add);
        stats
    }
}

impl Drop for ThreadPool {
    /// Same as [`shutdown`](ThreadPool::shutdown): every accepted job runs and
    /// every worker is joined before `drop` returns (dropped from one of its
    /// own jobs, the worker running that job cannot join itself: it exits
    /// when the job returns, and the leftover jobs run before `drop` returns).
    fn drop(&mut self) {
        if self.sender.is_some() {
            self.finish(false);
        }
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// The result of a job started with [`ThreadPool::spawn`].
#[must_use = "dropping a JobHandle discards the job's value and any panic it reports"]
pub struct JobHandle<T> {
    receiver: Receiver<std::result::Result<T, JobError>>,
}

impl<T> JobHandle<T> {
    /// Waits for the job and returns its value.
    ///
    /// # Errors
    ///
    /// [`JobError::Panicked`] with the panic message if the job panicked;
    /// [`JobError::Cancelled`] if it was dropped unrun by
    /// [`ThreadPool::shutdown_now`].
    pub fn join(self) -> std::result::Result<T, JobError> {
        // The job drops its sender unsent only when it is cancelled.
        self.receiver.recv().unwrap_or(Err(JobError::Cancelled))
    }
}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle").finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::mpsc;

    use super::*;

    /// A "did not hang" bound for the tests below, not a timing claim.
    const HANG: Duration = Duration::from_secs(60);

    /// Runs `build_with` on a helper thread; its result, or `None` if it
    /// had not returned within [`HANG`].
    fn build_within_bound<S>(workers: usize, grace: Duration, spawn: S) -> Option<Result<()>>
    where
        S: FnMut(thread::Builder, Worker) -> io::Result<thread::JoinHandle<()>> + Send + 'static,
    {
        let (done, result) = mpsc::channel();
        std::thread::spawn(move || {
            let built = PoolBuilder::default()
                .workers(workers)
                .build_with(grace, spawn);
            let _ = done.send(built.map(drop));
        });
        result.recv_timeout(HANG).ok()
    }

    /// A worker that std started but that never reaches its loop (as a
    /// thread stuck in std's out-of-memory handler), then a spawn the OS
    /// refuses: the error path used to join the first thread, and so
    /// never returned. It must return `ThreadSpawn` and leave that thread.
    #[test]
    fn a_failed_build_does_not_wait_for_a_worker_that_never_reached_its_loop() {
        let (release, gate) = mpsc::channel::<()>();
        let mut gate = Some(gate);
        let result = build_within_bound(3, Duration::from_millis(100), move |builder, worker| {
            match gate.take() {
                // Worker 0: started, stuck before its loop until released.
                Some(gate) => builder.spawn(move || {
                    let _ = gate.recv();
                    worker.run();
                }),
                None => Err(io::Error::other("refused by the test")),
            }
        });
        // Lets the stuck thread end, whatever happened.
        drop(release);
        match result {
            Some(Err(Error::ThreadSpawn { name, source })) => {
                assert_eq!(name, "ptm-worker-1");
                assert_eq!(source.to_string(), "refused by the test");
            }
            Some(other) => panic!("expected Err(ThreadSpawn), got {other:?}"),
            None => panic!(
                "build's error path still waits after {HANG:?} for a thread \
                 that never reached the worker loop"
            ),
        }
    }

    /// The workers that did start, and end as soon as the queue closes, are
    /// joined before the error returns (not left running).
    #[test]
    fn a_failed_build_joins_the_workers_that_started() {
        let ended = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&ended);
        let result = build_within_bound(3, HANG, move |builder, worker| {
            if worker.index == 2 {
                return Err(io::Error::other("refused by the test"));
            }
            let counter = Arc::clone(&counter);
            builder.spawn(move || {
                worker.run();
                counter.fetch_add(1, SeqCst);
            })
        });
        assert!(
            matches!(result, Some(Err(Error::ThreadSpawn { .. }))),
            "{result:?}"
        );
        // Joined: each thread's closure had returned before `build` did.
        assert_eq!(ended.load(SeqCst), 2, "the started workers were not joined");
    }
}
