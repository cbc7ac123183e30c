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
//! **Queues.** An unbounded pool (the default) takes jobs from outside into
//! an `Injector`: a fixed ring of 4096 slots, and a list used only while
//! the ring is full. Neither allocates per job. (An unbounded
//! `crossbeam-channel`, which this pool used before, allocates a block per
//! 31 messages on the sender and frees it on a receiver; with glibc the pair
//! contends for the allocator's lock, which `perf` showed as a fifth to a
//! third of the submitting thread's time.) A job that a job submits, on a
//! worker of the same pool, goes on that worker's own deque instead
//! (`crossbeam-deque`): its owner takes the newest first, idle workers steal
//! the oldest. A bounded pool ([`PoolBuilder::queue_capacity`]) takes jobs
//! from outside into one `crossbeam-channel` of that capacity, whose
//! blocking `send` is the back pressure; its jobs' own submissions go on the
//! deques too (a job waiting for room could wait for its own worker).
//!
//! **Sleeping.** An idle worker of an unbounded pool looks at its deque, the
//! injector and the other deques, yields a few times, then lists itself as
//! sleeping and parks; a submitter unparks one sleeper if there is any (the
//! handshake is described at `Shared::idle_wait`). A worker that waits in
//! [`JobHandle::join`] or [`ThreadPool::scope`] *helps*: it runs queued
//! jobs (its own deque first) and sleeps the same way when there are none,
//! until the job it waits for wakes it. A bounded pool's idle workers block
//! in the channel's `recv`, which holds no lock (a rendezvous needs them
//! there); a job pushed onto a deque does not wake them.
//!
//! **Counting.** Each worker owns a cache-padded `Slot` of counters that
//! only it writes (`started`, `completed`, `panicked`, `retired`,
//! `cancelled`), so finishing a job costs no read-modify-write on a line
//! other threads write. Submitters count jobs in one `submitted` counter.
//! [`ThreadPool::stats`] and [`ThreadPool::wait_idle`] sum the slots.
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
//!   (`Acquire`, inside the queue or deque) after its increment. So a reader that
//!   loads the `retired` counters (`Acquire`) and *then* `submitted` (which
//!   may be `Relaxed`: the happens-before comes through `retired`) sees every
//!   job it counted as retired also counted as submitted: the pool was idle
//!   at the moment the two sums are equal. Reading in the other order would
//!   not be sound (`tests/loom.rs` has the model that shows it).
//! * `wait_idle` must not miss the wake-up of the last job. Worker and waiter
//!   run a Dekker handshake: a worker that finds no job to run next (every
//!   worker does, before the pool can be idle) issues `fence(SeqCst)` after
//!   its finish counts, then loads `waiters`; the waiter increments
//!   `waiters` (under `idle_lock`), issues `fence(SeqCst)`, then checks the
//!   counters. The two fences are ordered, so either the worker sees the
//!   waiter and notifies (taking `idle_lock`, so the waiter is already inside
//!   `Condvar::wait`), or the waiter sees the finished jobs. Workers touch
//!   the lock only while somebody waits, and a busy worker pays no fence per
//!   job.
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
//! stopped serving. `tests/loom.rs` model-checks shutdown, `shutdown_now`,
//! `wait_idle`, the idle handshake, helping joins and scopes, and the Waker
//! handshake of an awaited [`JobHandle`] with these orderings (over loom
//! twins of the queues, see the `sync` module).

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::error::{Error, Result};

use crate::sync::channel::{self, Receiver, SendError, Sender, TrySendError};
use crate::sync::deque::{self, Steal, Stealer};
use crate::sync::queue::{ArrayQueue, SegQueue};
use crate::sync::{
    fence, lock, thread, thread_local, Arc, AtomicBool, AtomicUsize, Condvar, Mutex,
};

/// A job as the workers see it: it records its own outcome in the slot of the
/// worker that runs it, so that a result is counted before it is published.
type Job = Box<dyn FnOnce(&Slot) + Send + 'static>;

/// A hook of [`PoolBuilder::on_thread_start`] or [`PoolBuilder::on_thread_stop`].
// std's `Arc` even under loom (whose `Arc` cannot hold a `dyn`): hooks share no
// state with the pool's protocol.
type Hook = std::sync::Arc<dyn Fn(usize) + Send + Sync + 'static>;

thread_local! {
    /// The worker this thread is, while it runs its loop; `None` elsewhere.
    /// How `wait_idle` and shutdown recognise a call from one of the pool's
    /// own jobs, and how `join` and `scope` on a worker find the queue to
    /// help with.
    // Not `const { .. }`: loom's `thread_local!` does not accept it.
    #[allow(clippy::missing_const_for_thread_local)]
    static CURRENT_WORKER: RefCell<Option<Rc<WorkerCtx>>> = RefCell::new(None);

    /// The `Shared::id` of the pool whose worker this thread is, 0 elsewhere:
    /// a cheaper first look than [`CURRENT_WORKER`] for every submission.
    #[allow(clippy::missing_const_for_thread_local)]
    static CURRENT_POOL: std::cell::Cell<usize> = std::cell::Cell::new(0);

    /// Where this thread sleeps: an idle worker, a worker waiting in `join` or
    /// `scope`, or any other thread waiting in them (a stale wake-up left in
    /// it only makes a later wait loop once more).
    static THREAD_PARKER: std::sync::Arc<Parker> = Parker::new();

    /// A worker's [`ExitNotice`], from the start of its thread: dropped
    /// with its thread-locals, after those its jobs created (thread-locals
    /// are destroyed in the reverse order of their first use), so that a
    /// bounded wait for the notice (`shutdown_timeout`) also bounds the
    /// wait for a slow thread-local destructor, which a `join` would not.
    #[allow(clippy::missing_const_for_thread_local)]
    static EXIT_NOTICE: RefCell<Option<ExitNotice>> = RefCell::new(None);
}

/// What a worker thread knows about itself; in [`CURRENT_WORKER`] while its
/// loop runs.
struct WorkerCtx {
    shared: Arc<Shared>,
    index: usize,
    /// This worker's own deque: the jobs that jobs running here submit. It
    /// pops the newest first; idle workers steal the oldest
    /// (`Shared::stealers`).
    local: deque::Worker<Job>,
    /// Jobs found since the last look at the injector (see `find_job`).
    finds: std::cell::Cell<u32>,
}

/// Every this many jobs a worker takes, it looks at the pool's queue before
/// its own deque, so that a job that keeps resubmitting itself (a periodic
/// task, a mailbox loop) cannot keep jobs from outside waiting for ever
/// (tokio's scheduler does the same, every 61 ticks).
const FAIRNESS: u32 = 61;

impl WorkerCtx {
    /// The next job for this worker: its own newest, else the oldest in the
    /// pool's queue, else the oldest of another worker's deque. With `fair`
    /// (the worker loop, not a waiting `join`), every [`FAIRNESS`] jobs the
    /// pool's queue comes first.
    fn find_job(&self, fair: bool) -> Option<Job> {
        let job = self.next_job(fair);
        if job.is_some() {
            self.finds.set(self.finds.get().wrapping_add(1));
        }
        job
    }

    fn next_job(&self, fair: bool) -> Option<Job> {
        if fair && self.finds.get() % FAIRNESS == FAIRNESS - 1 {
            if let Some(job) = self.shared.pop_injected() {
                return Some(job);
            }
        }
        // `is_empty` first: it only loads, where `pop` fences.
        if !self.local.is_empty() {
            if let Some(job) = self.local.pop() {
                return Some(job);
            }
        }
        self.shared.pop_from(self.index + 1)
    }

    /// Runs one dequeued job on this worker, or drops it if `shutdown_now`
    /// has begun (counted as cancelled).
    fn run(&self, job: Job) {
        let slot = &self.shared.slots[self.index];
        if self.shared.cancel.load(Relaxed) {
            bump(&slot.cancelled);
            drop_quietly(job);
        } else {
            slot.run_job(job);
        }
    }

    /// Waits until `signal` is finished while running the pool's queued jobs
    /// on this worker: what `join` and `scope` do on a worker of their own
    /// pool, where merely blocking could wait for a job that only this
    /// worker would run (a pool of one worker joining a job it spawned).
    ///
    /// It sleeps only when the queue is empty and `signal` is not finished,
    /// and wakes for whichever comes first: its waker is in `signal`, and it
    /// sleeps among the pool's idle threads, which submitters wake. The jobs
    /// it runs nest on this thread's stack: it returns once `signal` is
    /// finished *and* the job it was running returned.
    fn help_until(&self, signal: &Signal) {
        let shared = &*self.shared;
        let parker = THREAD_PARKER.with(std::sync::Arc::clone);
        let waker = Waker::from(std::sync::Arc::clone(&parker));
        loop {
            if signal.is_finished() {
                break;
            }
            // Its own deque first, always: usually the very job it waits for.
            if let Some(job) = self.find_job(false) {
                self.run(job);
                continue;
            }
            // Nothing to run: what this worker finished may be what makes
            // the pool idle (for `wait_idle`).
            shared.after_job();
            // Waker first, then the last look (the handshake of `Signal`).
            signal.set_waker(&waker);
            if signal.is_finished() {
                break;
            }
            // Not woken by `closed`: the job it waits for may still run long
            // after a shutdown began, and only `signal` ends this wait.
            shared.idle_wait(&parker, Sleeper::Helper, &|| signal.is_finished());
        }
        // A submitter may have woken this thread for a job it did not take:
        // pass the wake-up on.
        if !shared.queue_is_empty() {
            shared.wake_one();
        }
    }
}

/// A place for one thread to sleep until woken: a flag under a lock, and a
/// condition variable. A wake-up that comes first is kept for the next
/// `park`. (Not `std::thread::park`: loom drops an `unpark` that reaches a
/// thread blocked on a lock, so a model would see a lost wake-up that std
/// does not have; this behaves the same under both.)
struct Parker {
    woken: Mutex<bool>,
    wake: Condvar,
}

impl Parker {
    fn new() -> std::sync::Arc<Parker> {
        std::sync::Arc::new(Parker {
            woken: Mutex::new(false),
            wake: Condvar::new(),
        })
    }

    /// Sleeps until [`unpark`](Self::unpark) is called (or returns at once
    /// if it was called since the last `park`).
    fn park(&self) {
        let mut woken = lock(&self.woken);
        while !*woken {
            woken = self
                .wake
                .wait(woken)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        *woken = false;
    }

    fn unpark(&self) {
        *lock(&self.woken) = true;
        self.wake.notify_one();
    }

    fn same(a: &std::sync::Arc<Parker>, b: &std::sync::Arc<Parker>) -> bool {
        std::sync::Arc::ptr_eq(a, b)
    }
}

/// Its waker unparks it: how a finished [`Signal`] wakes a thread waiting in
/// `join` or `scope`.
impl std::task::Wake for Parker {
    fn wake(self: std::sync::Arc<Self>) {
        self.unpark();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.unpark();
    }
}

/// The calling thread's worker context if it is a worker of the pool whose
/// `Shared` has address `pool`.
fn worker_of(pool: usize) -> Option<Rc<WorkerCtx>> {
    CURRENT_WORKER.with(|current| {
        current
            .borrow()
            .as_ref()
            .filter(|ctx| ctx.shared.id() == pool)
            .cloned()
    })
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
#[derive(Clone)]
#[must_use = "a PoolBuilder does nothing until `build` is called"]
pub struct PoolBuilder {
    workers: Option<usize>,
    queue_capacity: Option<usize>,
    thread_name: String,
    stack_size: Option<usize>,
    on_start: Option<Hook>,
    on_stop: Option<Hook>,
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            workers: None,
            queue_capacity: None,
            thread_name: "ptm-worker".to_owned(),
            stack_size: None,
            on_start: None,
            on_stop: None,
        }
    }
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("workers", &self.workers)
            .field("queue_capacity", &self.queue_capacity)
            .field("thread_name", &self.thread_name)
            .field("stack_size", &self.stack_size)
            .field("on_thread_start", &self.on_start.is_some())
            .field("on_thread_stop", &self.on_stop.is_some())
            .finish()
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
    ///
    /// The bound is for jobs submitted from outside the pool. What the
    /// pool's own jobs submit with `execute`, `spawn` or `Scope::spawn` goes
    /// on their worker's deque, unbounded (a job that waited for room could
    /// wait for its own worker); an idle worker blocked on the bounded queue
    /// is not woken for it, so on a bounded pool those jobs run on the worker
    /// that submitted them, or on whichever looks next. For fork-join, use an
    /// unbounded pool.
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

    /// Runs `f(index)` on each worker thread as it starts, before it takes
    /// its first job (`index` from 0, as in the thread's name). For
    /// per-thread setup: a thread-local, CPU affinity, a log span.
    ///
    /// A panic in `f` is caught: ptm reports it on stderr, naming the hook
    /// and the worker, and that worker then serves jobs as usual (no abort,
    /// no worker lost). A replaced hook is dropped.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&started);
    /// let pool = ptm::ThreadPool::builder()
    ///     .workers(3)
    ///     .on_thread_start(move |_index| drop(counter.fetch_add(1, Ordering::SeqCst)))
    ///     .build()?;
    /// pool.shutdown();
    /// assert_eq!(started.load(Ordering::SeqCst), 3);
    /// # Ok::<(), ptm::Error>(())
    /// ```
    pub fn on_thread_start(mut self, f: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.on_start = Some(std::sync::Arc::new(f));
        self
    }

    /// Runs `f(index)` on each worker thread as it stops, after its last
    /// job: when the pool shuts down (for workers that
    /// [`ThreadPool::shutdown_timeout`] left behind, once they finish). A
    /// panic in `f` is caught and reported on stderr, as for
    /// [`on_thread_start`](Self::on_thread_start).
    pub fn on_thread_stop(mut self, f: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.on_stop = Some(std::sync::Arc::new(f));
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
        let (sender, queue) = match self.queue_capacity {
            Some(capacity) => {
                let (sender, receiver) = channel::bounded(capacity);
                (Some(sender), Queue::Bounded(receiver))
            }
            None => (None, Queue::Unbounded(Box::new(Injector::new()))),
        };
        let locals: Vec<deque::Worker<Job>> =
            (0..workers).map(|_| deque::Worker::new_lifo()).collect();
        let stealers = locals.iter().map(deque::Worker::stealer).collect();
        let shared = Arc::new(Shared {
            slots: (0..workers)
                .map(|_| CachePadded::new(Slot::default()))
                .collect(),
            submitted: CachePadded::new(AtomicUsize::new(0)),
            queue,
            stealers,
            closed: AtomicBool::new(false),
            sleepers: CachePadded::new(AtomicUsize::new(0)),
            // Each thread is listed at most once: pushing never allocates.
            sleeping: Mutex::new(Vec::with_capacity(workers)),
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
        for (index, local) in locals.into_iter().enumerate() {
            let name = format!("{}-{index}", self.thread_name);
            let mut builder = thread::Builder::new().name(name.clone());
            if let Some(bytes) = self.stack_size {
                builder = builder.stack_size(bytes);
            }
            let worker = Worker {
                shared: Arc::clone(&shared),
                index,
                local,
                on_start: self.on_start.clone(),
                on_stop: self.on_stop.clone(),
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
                    shared.close();
                    join_or_detach(&mut started, &exited, grace);
                    return Err(Error::ThreadSpawn { name, source });
                }
            }
        }
        Ok(ThreadPool {
            open: true,
            sender,
            threads: started.into_iter().flatten().collect(),
            exited,
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

/// What one worker thread runs: its hooks and its loop, over the pool's
/// queue.
struct Worker {
    shared: Arc<Shared>,
    index: usize,
    local: deque::Worker<Job>,
    on_start: Option<Hook>,
    on_stop: Option<Hook>,
    /// Dropped when the loop and the stop hook have returned (or when the
    /// thread never ran).
    _exit: ExitNotice,
}

impl Worker {
    /// The body of the worker's thread.
    fn run(self) {
        let Worker {
            shared,
            index,
            local,
            on_start,
            on_stop,
            _exit,
        } = self;
        EXIT_NOTICE.with(|notice| *notice.borrow_mut() = Some(_exit));
        if let Some(hook) = on_start {
            run_hook("on_thread_start", &hook, index);
        }
        worker_loop(Rc::new(WorkerCtx {
            shared,
            index,
            local,
            finds: std::cell::Cell::new(0),
        }));
        if let Some(hook) = on_stop {
            run_hook("on_thread_stop", &hook, index);
        }
    }
}

/// Runs a start or stop hook, catching its panic and reporting it on stderr:
/// a hook is setup code of the user's, and a worker must survive it.
fn run_hook(name: &str, hook: &Hook, index: usize) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| hook(index))) {
        eprintln!(
            "ptm: the pool's {name} hook panicked on worker {index}: {}; \
             the worker goes on",
            panic_message(payload)
        );
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

/// A fixed set of worker threads running submitted jobs: those submitted
/// from outside the pool start in the order each thread submitted them;
/// those a job submits start on its worker newest first, unless an idle
/// worker steals them (oldest first).
///
/// `ThreadPool` is `Send + Sync`: share it by reference (for example with
/// [`std::thread::scope`]) or in an [`Arc`]. Dropping it is
/// [`shutdown`](Self::shutdown): every accepted job runs, every worker is
/// joined.
///
/// See the [module documentation](self) for the design and its invariants.
pub struct ThreadPool {
    /// False once shut down (only inside `finish`, which `Drop` may call
    /// after `shutdown` already did).
    open: bool,
    /// The sending end of a bounded queue; `None` for an unbounded one, and
    /// once shut down.
    sender: Option<Sender<Job>>,
    threads: Vec<thread::JoinHandle<()>>,
    /// Each worker's index, sent once its loop and stop hook have returned:
    /// how [`shutdown_timeout`](Self::shutdown_timeout) waits with a bound.
    /// (Crossbeam's own channel even under loom: no model takes that path.)
    exited: crossbeam_channel::Receiver<usize>,
    shared: Arc<Shared>,
}

/// State shared by the pool handle and its workers.
struct Shared {
    slots: Box<[CachePadded<Slot>]>,
    /// Jobs accepted or being offered to the queue (see module docs).
    submitted: CachePadded<AtomicUsize>,
    queue: Queue,
    /// The thieves' ends of the workers' deques, one per worker.
    stealers: Box<[Stealer<Job>]>,
    /// Set once by a shutdown (which has the pool to itself): the workers of
    /// an unbounded queue end when they see it and the queue is empty.
    closed: AtomicBool,
    /// How many threads are in `sleeping`; read by submitters after a
    /// `fence(SeqCst)` (the idle handshake, see `idle_wait`).
    sleepers: CachePadded<AtomicUsize>,
    /// The threads parked in `idle_wait`: idle workers of an unbounded queue,
    /// and workers waiting in `join` or `scope`. A submitter unparks one.
    sleeping: Mutex<Vec<std::sync::Arc<Parker>>>,
    /// `wait_idle` calls currently waiting; read by a worker that finds no
    /// job to run next.
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
        self.run_catching(f)
            .map_err(|payload| JobError::Panicked(panic_message(payload)))
    }

    /// [`run`](Self::run), keeping the panic's payload (for `scope`, which
    /// resumes it).
    fn run_catching<T>(
        &self,
        f: impl FnOnce() -> T,
    ) -> std::result::Result<T, Box<dyn Any + Send>> {
        let outcome = panic::catch_unwind(AssertUnwindSafe(f));
        bump(match outcome {
            Ok(_) => &self.completed,
            Err(_) => &self.panicked,
        });
        outcome
    }

    /// Runs one dequeued job on this slot's worker: counts it, runs it,
    /// retires it, and wakes `wait_idle` callers if the pool became idle.
    fn run_job(&self, job: Job) {
        bump(&self.started);
        // `Slot::run` inside the job catches the job's own panic. This outer
        // guard catches what runs after it: dropping a result nobody awaits.
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| job(self))) {
            forget_payload(payload);
        }
        bump(&self.retired);
        // No `after_job` here: the worker calls it once it finds no job to
        // run next (see `Shared::after_job`), not after every job.
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
        // Not under loom: its deadlock reports unwind out of the workers.
        if std::thread::panicking() && !cfg!(loom) {
            eprintln!(
                "ptm: a panic escaped {}; this is a bug in ptm. Aborting.",
                self.0
            );
            std::process::abort();
        }
    }
}

/// A worker's [`Parker`], shared with the wakers that unpark it.
type ParkerRef = std::sync::Arc<Parker>;

/// What else ends a wait in `Shared::idle_wait` (a helper's job finished).
type Ready<'a> = &'a dyn Fn() -> bool;

/// Who sleeps in `Shared::idle_wait`: an idle worker ends once the pool is
/// closed and empty, so a closed pool does not let it sleep; a worker
/// waiting in `join` or `scope` waits for its job whatever happens.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sleeper {
    Idle,
    Helper,
}

/// Slots of an unbounded pool's ring: 24 bytes each, allocated when the pool
/// is built. Small under loom, so that the models reach the overflow.
const RING_SLOTS: usize = if cfg!(loom) { 2 } else { 4096 };

/// Spins (each a `yield_now`, then a look at the queue) that an idle worker
/// of an unbounded pool makes before it parks; none under loom, whose
/// models need no extra schedules.
const IDLE_SPINS: usize = if cfg!(loom) { 0 } else { 64 };

/// How many times a submitter that finds the ring full yields its CPU (and
/// tries again) before it spills into the overflow list.
const FULL_RING_YIELDS: usize = 8;

/// The pool's job queue.
enum Queue {
    /// No bound ([`PoolBuilder::queue_capacity`] not set): an [`Injector`],
    /// and ptm's own idle handshake to park and wake the workers.
    Unbounded(Box<Injector>),
    /// A bound: a `crossbeam-channel` of that capacity, whose blocking send
    /// is the back pressure (and whose capacity 0 is a rendezvous). Idle
    /// workers block in its `recv`.
    Bounded(Receiver<Job>),
}

// ANCHOR: injector
/// The unbounded queue: a fixed ring of [`RING_SLOTS`] jobs, and a list that
/// takes the jobs only while the ring is full. Neither allocates per job,
/// and the ring never allocates after the pool is built: an unbounded
/// `crossbeam-channel` allocates a block per 31 messages on the sender and
/// frees it on a receiver, and under glibc that pair contends for the
/// allocator's lock (a third of a no-op job's cost in `perf`, here).
///
/// FIFO for each submitter: while the overflow holds a job, new jobs go
/// there too, and workers take from the ring first, so a job never
/// overtakes one submitted before it by the same thread.
///
/// When the ring is full, the submitter yields its CPU (up to
/// [`FULL_RING_YIELDS`] times, trying again after each) before it spills
/// into the overflow: on a machine with fewer CPUs than busy threads, a full
/// ring means the workers are waiting for a CPU, and handing them this one
/// drains the ring. With a CPU to spare, each yield returns at once. (Here,
/// with 2 CPUs, one submitter and two workers, 8 yields rather than 1 took
/// the like-for-like median from about 1.0 to about 1.45 times a bare
/// crossbeam queue's rate.)
struct Injector {
    ring: ArrayQueue<Job>,
    overflow: SegQueue<Job>,
}

impl Injector {
    fn new() -> Injector {
        Injector {
            ring: ArrayQueue::new(RING_SLOTS),
            overflow: SegQueue::new(),
        }
    }

    fn push(&self, job: Job) {
        let spilled = if self.overflow.is_empty() {
            let mut attempt = self.ring.push(job);
            for _ in 0..FULL_RING_YIELDS {
                match attempt {
                    Ok(()) => break,
                    Err(refused) => {
                        thread::yield_now();
                        attempt = self.ring.push(refused);
                    }
                }
            }
            attempt.err()
        } else {
            Some(job)
        };
        if let Some(job) = spilled {
            self.overflow.push(job);
        }
    }

    fn pop(&self) -> Option<Job> {
        self.ring.pop().or_else(|| self.overflow.pop())
    }

    fn is_empty(&self) -> bool {
        self.ring.is_empty() && self.overflow.is_empty()
    }

    fn len(&self) -> usize {
        self.ring.len() + self.overflow.len()
    }
}
// ANCHOR_END: injector

impl Shared {
    /// Takes a queued job, never blocking: from the pool's queue, else
    /// stolen from a worker's deque.
    fn pop(&self) -> Option<Job> {
        self.pop_from(0)
    }

    /// [`pop`](Self::pop), trying the deques from worker `first` on (so
    /// that thieves spread over them).
    fn pop_from(&self, first: usize) -> Option<Job> {
        match &self.queue {
            Queue::Bounded(receiver) => receiver.try_recv().ok().or_else(|| self.steal(first)),
            Queue::Unbounded(injector) => injector.pop().or_else(|| self.steal(first)),
        }
    }

    /// The oldest job of the pool's own queue (not the deques).
    fn pop_injected(&self) -> Option<Job> {
        match &self.queue {
            Queue::Bounded(receiver) => receiver.try_recv().ok(),
            Queue::Unbounded(injector) => injector.pop(),
        }
    }

    /// The oldest job of some worker's deque, trying each from `first` on.
    fn steal(&self, first: usize) -> Option<Job> {
        let n = self.stealers.len();
        loop {
            let mut contended = false;
            for i in 0..n {
                let stealer = &self.stealers[(first + i) % n];
                // `is_empty` first: it only loads, where `steal` pins an epoch.
                if stealer.is_empty() {
                    continue;
                }
                match stealer.steal() {
                    Steal::Success(job) => return Some(job),
                    Steal::Retry => contended = true,
                    Steal::Empty => {}
                }
            }
            if !contended {
                return None;
            }
        }
    }

    /// Queues a job from outside the pool (unbounded pools only).
    fn inject(&self, job: Job) {
        match &self.queue {
            Queue::Unbounded(injector) => injector.push(job),
            Queue::Bounded(_) => unreachable!("a bounded pool queues through its sender"),
        }
    }

    fn queue_is_empty(&self) -> bool {
        match &self.queue {
            Queue::Unbounded(injector) => {
                injector.is_empty() && self.stealers.iter().all(Stealer::is_empty)
            }
            Queue::Bounded(receiver) => {
                receiver.is_empty() && self.stealers.iter().all(Stealer::is_empty)
            }
        }
    }

    fn queue_len(&self) -> usize {
        match &self.queue {
            Queue::Unbounded(injector) => self
                .stealers
                .iter()
                .map(Stealer::len)
                .fold(injector.len(), usize::wrapping_add),
            Queue::Bounded(receiver) => self
                .stealers
                .iter()
                .map(Stealer::len)
                .fold(receiver.len(), usize::wrapping_add),
        }
    }

    // ANCHOR: idle_wait
    /// Parks the calling thread on `me` until a submitter or a [`Signal`]
    /// wakes it, unless, once it is listed as sleeping, there is a job, the
    /// pool is closed, or `ready()`. It may also return for no reason:
    /// callers loop.
    ///
    /// The handshake with [`notify`](Self::notify) is the one `wait_idle`
    /// uses: this side lists itself, `fence(SeqCst)`, then looks at the
    /// queue; a submitter queues, `fence(SeqCst)`, then looks at
    /// `sleepers`. The fences are ordered one way or the other, so either
    /// this thread sees the job or the submitter sees this thread (and
    /// unparks it; an unpark that comes before the park makes the park
    /// return at once).
    fn idle_wait(&self, me: &ParkerRef, who: Sleeper, ready: Ready<'_>) {
        {
            let mut sleeping = lock(&self.sleeping);
            sleeping.push(std::sync::Arc::clone(me));
            self.sleepers.fetch_add(1, Relaxed);
        }
        fence(SeqCst);
        let closed = who == Sleeper::Idle && self.closed.load(Acquire);
        if !(ready() || !self.queue_is_empty() || closed) {
            me.park();
        }
        // Still listed if nobody woke it (it did not park, the wake-up came
        // from a `Signal`, or the park returned spuriously).
        let mut sleeping = lock(&self.sleeping);
        let listed = sleeping.iter().position(|p| Parker::same(p, me));
        if let Some(at) = listed {
            sleeping.swap_remove(at);
            self.sleepers.fetch_sub(1, Relaxed);
        }
    }

    /// Called after queueing a job: wakes one sleeping thread, if any.
    fn notify(&self) {
        // Pairs with the fence in `idle_wait`.
        fence(SeqCst);
        if self.sleepers.load(Relaxed) != 0 {
            self.wake_one();
        }
    }
    // ANCHOR_END: idle_wait

    /// An idle worker's [`idle_wait`](Self::idle_wait), on its thread's
    /// parker.
    fn sleep_idle(&self) {
        THREAD_PARKER.with(|me| self.idle_wait(me, Sleeper::Idle, &|| false));
    }

    /// Unparks one thread of `sleeping` (the last to sleep), if any.
    fn wake_one(&self) {
        let thread = {
            let mut sleeping = lock(&self.sleeping);
            let thread = sleeping.pop();
            if thread.is_some() {
                self.sleepers.fetch_sub(1, Relaxed);
            }
            thread
        };
        if let Some(thread) = thread {
            thread.unpark();
        }
    }

    /// Marks the pool closed and unparks every sleeping thread. Called with
    /// the pool to itself (nothing is submitted any more).
    fn close(&self) {
        self.closed.store(true, Release);
        // Pairs with the fence in `idle_wait`, as for a job.
        fence(SeqCst);
        let mut sleeping = lock(&self.sleeping);
        self.sleepers.store(0, Relaxed);
        for thread in sleeping.drain(..) {
            thread.unpark();
        }
    }

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
    /// Called by a worker that finds no job to run next (its last retirement
    /// may have made the pool idle), and by a submitter whose job the queue
    /// refused: wakes `wait_idle` callers if there are any and the pool is
    /// idle.
    ///
    /// Not after every job: while a worker finds more jobs, the pool is not
    /// idle (the job it holds is submitted and not retired), and before the
    /// pool can become idle every worker finds nothing and comes here, so
    /// every retirement is followed by this fence before it matters.
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
fn worker_loop(ctx: Rc<WorkerCtx>) {
    let _guard = AbortOnUnwind("a ptm::ThreadPool worker");
    let me = Some(Rc::clone(&ctx));
    CURRENT_WORKER.with(|current| *current.borrow_mut() = me);
    CURRENT_POOL.with(|pool| pool.set(ctx.shared.id()));
    let shared = &*ctx.shared;
    match &shared.queue {
        Queue::Bounded(receiver) => loop {
            // Its own deque, the channel, the other deques (without waiting).
            if let Some(job) = ctx.find_job(true) {
                ctx.run(job);
                continue;
            }
            // About to wait: what this worker finished may be what makes the
            // pool idle (for `wait_idle`). An idle worker of a bounded pool
            // waits in the channel's `recv` (a rendezvous needs a receiver
            // there), so a job pushed onto another worker's deque does not
            // wake it: that worker runs it, or whoever looks next.
            shared.after_job();
            match receiver.recv() {
                Ok(job) => ctx.run(job),
                Err(_) => {
                    // Closed and empty: what is left on the deques.
                    while let Some(job) = ctx.find_job(true) {
                        ctx.run(job);
                    }
                    break;
                }
            }
        },
        Queue::Unbounded(_) => 'jobs: loop {
            if let Some(job) = ctx.find_job(true) {
                ctx.run(job);
                continue;
            }
            // Nothing to run: what this worker finished may be what makes
            // the pool idle (for `wait_idle`).
            shared.after_job();
            if shared.closed.load(Acquire) {
                // Closed, and empty when we looked after seeing it.
                match ctx.find_job(true) {
                    Some(job) => ctx.run(job),
                    None => break,
                }
                continue;
            }
            for _ in 0..IDLE_SPINS {
                thread::yield_now();
                if let Some(job) = ctx.find_job(true) {
                    ctx.run(job);
                    continue 'jobs;
                }
            }
            shared.sleep_idle();
        },
    }
    CURRENT_POOL.with(|pool| pool.set(0));
    CURRENT_WORKER.with(|current| current.borrow_mut().take());
}
// ANCHOR_END: worker_loop

/// The index of the calling thread if it is a worker of the pool `shared`.
fn current_worker(shared: &Shared) -> Option<usize> {
    worker_of(shared.id()).map(|ctx| ctx.index)
}

/// Pushes `job` onto the calling worker's deque if the caller is a worker of
/// the pool `shared`; gives it back otherwise.
fn push_local(shared: &Shared, job: Job) -> Option<Job> {
    if CURRENT_POOL.with(std::cell::Cell::get) != shared.id() {
        return Some(job);
    }
    CURRENT_WORKER.with(|current| match &*current.borrow() {
        Some(ctx) if ctx.shared.id() == shared.id() => {
            ctx.local.push(job);
            None
        }
        _ => Some(job),
    })
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
    /// A job that calls `execute` on its own pool never waits for room: its
    /// job goes on the worker's own deque, bounded pool or not (see
    /// [`PoolBuilder::queue_capacity`]); `try_execute` from a job still
    /// reports a full bounded queue.
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
    /// on the worker. Joining, from a job, a handle of the same pool runs
    /// other queued jobs meanwhile (see [`JobHandle::join`]), so jobs may
    /// spawn and join jobs of their own pool, recursively.
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
        let (promise, handle) = promise(self.shared.id());
        // The slot counts the outcome inside `run`, before `fulfil` publishes
        // it: a `join` that returns has been counted in `stats`.
        let job = move |slot: &Slot| promise.fulfil(slot.run(f));
        self.submit(Box::new(job), Mode::Block)?;
        Ok(handle)
    }

    /// Runs `f` with a [`Scope`] whose jobs may borrow anything that outlives
    /// the call, and returns `f`'s value once every job spawned in the scope
    /// has finished.
    ///
    /// Like [`std::thread::scope`], but the jobs run on this pool's workers
    /// instead of new threads.
    ///
    /// * A panic in a scoped job does not stop the others: once all of them
    ///   have finished, the first panic's payload is resumed in the caller
    ///   ([`std::panic::resume_unwind`]). A panic of `f` itself is resumed
    ///   likewise, after the jobs finished, and takes precedence.
    /// * Called on a worker of this pool (from a job, or from a scoped job:
    ///   scopes nest), it runs queued jobs itself while it waits, so it never
    ///   waits for a worker that is busy waiting, even on a pool of 1 (the
    ///   rule this implies is at [`JobHandle::join`]).
    /// * Scoped jobs count in [`stats`](Self::stats) like any other.
    ///
    /// # Panics
    ///
    /// Besides resuming the jobs' panics: [`Scope::spawn`] panics if the pool
    /// no longer accepts jobs (only possible once a shutdown has begun), and
    /// the scope panics after the others finished if
    /// [`shutdown_now`](Self::shutdown_now) cancelled one of its jobs. It
    /// never waits for a job that will not run.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = ptm::ThreadPool::new(2)?;
    /// let mut data = vec![1, 2, 3, 4, 5, 6];
    /// let total = std::sync::atomic::AtomicI32::new(0);
    /// pool.scope(|s| {
    ///     for chunk in data.chunks_mut(2) {
    ///         let total = &total;
    ///         s.spawn(move || {
    ///             for x in chunk.iter_mut() {
    ///                 *x *= 10;
    ///             }
    ///             total.fetch_add(chunk.iter().sum(), std::sync::atomic::Ordering::Relaxed);
    ///         });
    ///     }
    /// });
    /// assert_eq!(data, [10, 20, 30, 40, 50, 60]);
    /// assert_eq!(total.into_inner(), 210);
    /// # Ok::<(), ptm::Error>(())
    /// ```
    pub fn scope<'env, F, R>(&self, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        let scope = Scope {
            pool: self,
            state: Arc::new(ScopeState {
                // One for `f` itself, released when it returns.
                pending: AtomicUsize::new(1),
                cancelled: AtomicUsize::new(0),
                first_panic: Mutex::new(None),
                done: Signal::new(),
            }),
            scope: PhantomData,
            env: PhantomData,
        };
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| f(&scope)));
        let state = &scope.state;
        {
            // Until every job has finished, their borrows are live: unwinding
            // out of here would free what they borrow. Nothing below panics
            // (the jobs' panics are caught where they run), and if it ever
            // did, aborting is the only sound way out.
            // (Disarmed on the way out: `scope` may be called while the
            // thread is already unwinding, from a destructor.)
            let guard = AbortOnUnwind("ptm::ThreadPool::scope while its jobs ran");
            state.finish_one();
            match worker_of(self.shared.id()) {
                Some(ctx) => ctx.help_until(&state.done),
                None => state.done.wait(),
            }
            // Acquire pairs with each job's `AcqRel` decrement: whatever the
            // jobs wrote through their borrows is visible from here on.
            let pending = state.pending.load(Acquire);
            debug_assert_eq!(pending, 0);
            std::mem::forget(guard);
        }
        let value = match outcome {
            Ok(value) => value,
            Err(payload) => {
                // `f`'s panic wins; a job's, dropped now rather than while
                // unwinding (a payload's `Drop` may panic, which would abort).
                if let Some(theirs) = lock(&state.first_panic).take() {
                    drop_quietly(theirs);
                }
                panic::resume_unwind(payload)
            }
        };
        if let Some(payload) = lock(&state.first_panic).take() {
            panic::resume_unwind(payload);
        }
        let cancelled = state.cancelled.load(Relaxed);
        if cancelled != 0 {
            panic!(
                "ptm::ThreadPool::scope: {cancelled} scoped job(s) never ran: \
                 shutdown_now cancelled them"
            );
        }
        value
    }

    // ANCHOR: submit
    fn submit(&self, job: Job, mode: Mode) -> Result<()> {
        if !self.open {
            return Err(Error::Closed);
        }
        let shared = &*self.shared;
        // Counted before it can be dequeued, so `finished <= submitted`.
        shared.submitted.fetch_add(1, Relaxed);
        let (refused, error) = match (&self.sender, mode) {
            (None, _) => {
                // Unbounded: never refused, never blocks. From a job of this
                // pool, onto that worker's own deque.
                if let Some(job) = push_local(shared, job) {
                    shared.inject(job);
                }
                shared.notify();
                return Ok(());
            }
            // From a job of this pool, onto its worker's own deque: the
            // bound is for jobs from outside, and a job waiting for room in
            // its own pool's queue could wait for its own worker.
            (Some(sender), Mode::Block) => match push_local(shared, job) {
                None => {
                    shared.notify();
                    return Ok(());
                }
                Some(job) => match sender.send(job) {
                    Ok(()) => {
                        // Wakes a worker that waits in `join` or `scope`.
                        shared.notify();
                        return Ok(());
                    }
                    Err(SendError(job)) => (job, Error::Closed),
                },
            },
            (Some(sender), Mode::Try) => match sender.try_send(job) {
                Ok(()) => {
                    shared.notify();
                    return Ok(());
                }
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
    // ANCHOR_END: submit

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
            queued: self.shared.queue_len(),
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

    /// [`shutdown`](Self::shutdown), but gives up after `timeout`: a job that
    /// never returns cannot make it wait for ever.
    ///
    /// It stops accepting work and waits, for at most `timeout`, for the
    /// workers to run every queued job and exit. If they all did, it returns
    /// the final counters, exactly as `shutdown` would. (Unlike `shutdown`,
    /// it does not join the threads: it waits until each worker's loop, stop
    /// hook and Rust thread-locals are done, and detaches the thread for its
    /// last step, the C-level teardown, whose length has no bound.)
    ///
    /// # Errors
    ///
    /// [`Error::ShutdownTimeout`] if workers were still busy when the time
    /// was up; `running` says how many, and `stats` is a snapshot of the
    /// counters at that moment. Those workers are **detached, not stopped**
    /// (Rust cannot stop a thread): each finishes its job, then the jobs
    /// still queued, then runs its stop hook and exits on its own, and what
    /// their jobs hold is freed only then. A job that truly never returns
    /// keeps its thread for the life of the process.
    ///
    /// Called from one of the pool's own jobs, the worker running that job
    /// is not waited for (it exits when the job returns), as in `shutdown`;
    /// unlike `shutdown`, it does not run the jobs still queued on the
    /// calling thread (they run on that worker after the job returns): if
    /// there are any, it returns the error, with those jobs in
    /// `stats.queued` (and the calling job counted in `running`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = ptm::ThreadPool::new(2)?;
    /// let (release, stuck) = std::sync::mpsc::channel::<()>();
    /// pool.execute(move || drop(stuck.recv()))?; // waits until released
    /// pool.execute(|| {})?;
    /// match pool.shutdown_timeout(Duration::from_millis(50)) {
    ///     Err(ptm::Error::ShutdownTimeout { running, .. }) => assert_eq!(running, 1),
    ///     other => panic!("expected a timeout, got {other:?}"),
    /// }
    /// drop(release); // the detached worker's job returns; the worker exits
    /// # Ok::<(), ptm::Error>(())
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Result<PoolStats> {
        // `None` (a timeout too large to add) waits as long as it takes.
        let deadline = Instant::now().checked_add(timeout);
        self.close();
        let me = current_worker(&self.shared);
        let mut threads: Vec<Option<thread::JoinHandle<()>>> =
            self.threads.drain(..).map(Some).collect();
        // Workers (other than the caller's) that have not ended yet.
        let mut left = threads.len() - usize::from(me.is_some());
        while left > 0 {
            let notice = match deadline {
                Some(deadline) => self.exited.recv_deadline(deadline).ok(),
                None => self.exited.recv().ok(),
            };
            let Some(index) = notice else {
                break; // the time is up
            };
            if Some(index) == me {
                continue; // cannot happen: the caller's loop is still running
            }
            if threads.get_mut(index).and_then(Option::take).is_some() {
                // Its loop, stop hook and Rust thread-locals are done (see
                // `EXIT_NOTICE`). It is not joined: what the OS thread still
                // runs (a C library's `pthread_key` destructors, after Rust's)
                // has no bound, and a join would have none either. Dropping
                // the handle detaches the thread, which ends by itself.
                left -= 1;
            }
        }
        // From a job, the other workers have exited and any job still queued
        // waits for the calling worker; unlike `shutdown`, this call does not
        // run it here (it could be the job that never returns).
        let left_to_the_caller = me.is_some() && !self.shared.queue_is_empty();
        if left > 0 || left_to_the_caller {
            // The handles still in `threads` are dropped: those workers are
            // detached.
            let stats = self.stats();
            return Err(Error::ShutdownTimeout {
                running: stats.active,
                stats,
            });
        }
        Ok(self.final_stats(false, 0))
    }

    fn finish(&mut self, cancel: bool) -> PoolStats {
        let mut cancelled = 0;
        if cancel {
            self.shared.cancel.store(true, Relaxed);
            // Drain here rather than leave it to busy workers, so a queued job
            // is dropped now (its captures released) and not after a long job.
            while let Some(job) = self.shared.pop() {
                cancelled += 1;
                drop_quietly(job);
            }
        }
        self.close();
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
        self.final_stats(cancel, cancelled)
    }

    /// Stops accepting jobs and tells the workers to end once the queue is
    /// empty.
    fn close(&mut self) {
        self.open = false;
        // A bounded queue: its workers see `Err` from `recv` once it is empty.
        drop(self.sender.take());
        // An unbounded one: its workers see `closed`. Either way, threads
        // parked in `idle_wait` are woken.
        self.shared.close();
    }

    /// The last step of every shutdown, once the other workers have exited:
    /// runs (or, with `cancel`, drops) what is still queued if called from a
    /// job, then the final counters, `cancelled` jobs added to those the
    /// workers counted.
    fn final_stats(&mut self, cancel: bool, mut cancelled: usize) -> PoolStats {
        if let Some(index) = current_worker(&self.shared) {
            // The other workers have exited; whatever is still queued would
            // wait for the job that called us to return. Run it here instead,
            // so the stats we return are final.
            let slot = &self.shared.slots[index];
            while let Some(job) = self.shared.pop() {
                if cancel {
                    cancelled += 1;
                    drop_quietly(job);
                } else {
                    slot.run_job(job);
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
        if self.open {
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

// ANCHOR: job_handle
/// The result of a job started with [`ThreadPool::spawn`]: [`join`] it to
/// block for the value, or `.await` it from async code (it is a [`Future`]).
///
/// Dropping it does not cancel the job; its value is then dropped on the
/// worker.
///
/// [`join`]: Self::join
#[must_use = "dropping a JobHandle discards the job's value or its panic"]
pub struct JobHandle<T> {
    packet: Arc<Packet<T>>,
    /// The `Shared::id` of the pool that runs the job.
    pool: usize,
    /// Set once `poll` returned `Ready`.
    returned: bool,
}
// ANCHOR_END: job_handle

/// "It has finished", and who to wake then: what a job's [`Promise`] and its
/// [`JobHandle`] share besides the outcome, and what a scope's last job
/// tells the scope.
///
/// The Waker handshake: a waiter stores its waker under the lock and *then*
/// looks at `finished`; the finisher sets `finished` (after storing the
/// outcome) and *then* takes the waker under the lock. If the finisher's lock
/// comes second it finds the waker and wakes it; if it comes first, its
/// store happened before the waiter took the lock, so the waiter's look sees
/// it. Either way no wake-up is lost (`tests/loom.rs` checks it). The waker
/// is a task's (`.await`) or one that unparks a thread (`join`, `scope`).
struct Signal {
    finished: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Signal {
    fn new() -> Signal {
        Signal {
            finished: AtomicBool::new(false),
            waker: Mutex::new(None),
        }
    }

    fn is_finished(&self) -> bool {
        self.finished.load(Acquire)
    }

    /// Stores `waker` (unless the one stored would wake the same task).
    fn set_waker(&self, waker: &Waker) {
        let mut slot = lock(&self.waker);
        match &*slot {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Marks it finished and wakes the waiter, if one is registered.
    fn finish(&self) {
        self.finished.store(true, Release);
        let waker = lock(&self.waker).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Blocks the calling thread until it is finished.
    fn wait(&self) {
        if self.is_finished() {
            return;
        }
        THREAD_PARKER.with(|parker| {
            self.set_waker(&Waker::from(std::sync::Arc::clone(parker)));
            while !self.is_finished() {
                parker.park();
            }
        });
    }
}

/// What a job and its [`JobHandle`] share: the outcome, once there, and the
/// [`Signal`] that says so. One allocation per spawned job.
struct Packet<T> {
    /// Set before `signal` is finished; `None` after that means cancelled.
    outcome: Mutex<Option<std::result::Result<T, JobError>>>,
    signal: Signal,
}

/// The job's end of a [`JobHandle`]. [`fulfil`](Self::fulfil) delivers the
/// outcome; dropped unfulfilled (the job was cancelled, dropped unrun), the
/// handle reports [`JobError::Cancelled`]. Either way the waiting task is
/// woken.
struct Promise<T> {
    packet: Option<Arc<Packet<T>>>,
}

/// A connected [`Promise`] and [`JobHandle`] for a job of the pool `pool`.
fn promise<T>(pool: usize) -> (Promise<T>, JobHandle<T>) {
    let packet = Arc::new(Packet {
        outcome: Mutex::new(None),
        signal: Signal::new(),
    });
    let promise = Promise {
        packet: Some(Arc::clone(&packet)),
    };
    let handle = JobHandle {
        packet,
        pool,
        returned: false,
    };
    (promise, handle)
}

impl<T> Promise<T> {
    /// Delivers the job's outcome and wakes whoever waits for it.
    fn fulfil(mut self, outcome: std::result::Result<T, JobError>) {
        if let Some(packet) = self.packet.take() {
            *lock(&packet.outcome) = Some(outcome);
            packet.signal.finish();
            // If the handle is gone, this was the last reference: the value
            // nobody wanted is dropped here, on the worker, after the wake-up
            // (its `Drop` might panic).
            drop(packet);
        }
    }
}

impl<T> Drop for Promise<T> {
    fn drop(&mut self) {
        // Unfulfilled (cancelled): finished with no outcome.
        if let Some(packet) = self.packet.take() {
            packet.signal.finish();
        }
    }
}

impl<T> JobHandle<T> {
    /// Waits for the job and returns its value.
    ///
    /// Called from a job running on the same pool, it does not just block:
    /// while the job it waits for is not finished, it runs other queued jobs
    /// of the pool on this worker (so a pool of one worker can join a job it
    /// spawned, and recursive fork-join works on any pool size). It sleeps
    /// only when the queue is empty, and returns once the value is there and
    /// the job it was helping with returned. From a job of *another* pool it
    /// simply blocks.
    ///
    /// What it runs meanwhile may be any queued job of the pool, not only
    /// the one it waits for or its children (its own worker's newest jobs
    /// come first). So a job that joins must not hold up, past its `join`,
    /// something another queued job waits for: if that job is picked up by
    /// the waiting worker, it blocks on this worker's stack, under the
    /// `join`, and both wait for ever (rayon's `join` has the same rule).
    /// For a job that must wait on something else, block on a channel
    /// instead, which never runs other jobs.
    ///
    /// # Errors
    ///
    /// [`JobError::Panicked`] with the panic message if the job panicked;
    /// [`JobError::Cancelled`] if it was dropped unrun by
    /// [`ThreadPool::shutdown_now`].
    ///
    /// # Examples
    ///
    /// Recursive fork-join: each call splits its range, spawns one half and
    /// sums the other, then joins. On two workers every join happens on a
    /// worker, which helps instead of blocking.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ptm::ThreadPool;
    ///
    /// fn sum(pool: &Arc<ThreadPool>, lo: u64, hi: u64) -> u64 {
    ///     if hi - lo <= 1_000 {
    ///         return (lo..hi).sum();
    ///     }
    ///     let mid = lo + (hi - lo) / 2;
    ///     let p = Arc::clone(pool);
    ///     let right = pool.spawn(move || sum(&p, mid, hi)).unwrap();
    ///     sum(pool, lo, mid) + right.join().unwrap()
    /// }
    ///
    /// let pool = Arc::new(ThreadPool::new(2)?);
    /// let p = Arc::clone(&pool);
    /// let total = pool.spawn(move || sum(&p, 0, 100_000))?.join()?;
    /// assert_eq!(total, (0..100_000).sum::<u64>());
    /// # Ok::<(), ptm::Error>(())
    /// ```
    pub fn join(self) -> std::result::Result<T, JobError> {
        let signal = &self.packet.signal;
        match worker_of(self.pool) {
            Some(ctx) => ctx.help_until(signal),
            None => signal.wait(),
        }
        self.take()
    }

    /// True once the job has finished (returned, panicked or been
    /// cancelled): [`join`](Self::join) would then return at once. Never
    /// blocks.
    pub fn is_finished(&self) -> bool {
        self.packet.signal.is_finished()
    }

    /// The outcome of a finished job.
    fn take(&self) -> std::result::Result<T, JobError> {
        // Finished with no outcome: the promise was dropped unfulfilled.
        lock(&self.packet.outcome)
            .take()
            .unwrap_or(Err(JobError::Cancelled))
    }

    /// The outcome if the job has finished, without blocking.
    fn try_take(&self) -> Option<std::result::Result<T, JobError>> {
        self.is_finished().then(|| self.take())
    }
}

/// Awaitable from any executor: the worker that finishes the job wakes the
/// task's [`Waker`]. Awaiting never blocks a thread, and it does not help run
/// other jobs (an async task on a worker should not block that worker
/// anyway). Dropping the future before it is ready does not cancel the job;
/// its value is dropped on the worker.
///
/// # Panics
///
/// If polled again after it returned [`Poll::Ready`].
///
/// ```
/// use std::future::Future;
/// use std::sync::Arc;
/// use std::task::{Context, Poll, Wake, Waker};
/// use std::thread::{self, Thread};
///
/// // The smallest executor: poll, and sleep until the waker is woken.
/// struct Unpark(Thread);
/// impl Wake for Unpark {
///     fn wake(self: Arc<Self>) {
///         self.0.unpark();
///     }
/// }
/// fn block_on<F: Future>(future: F) -> F::Output {
///     let waker = Waker::from(Arc::new(Unpark(thread::current())));
///     let mut future = std::pin::pin!(future);
///     loop {
///         match future.as_mut().poll(&mut Context::from_waker(&waker)) {
///             Poll::Ready(value) => return value,
///             Poll::Pending => thread::park(),
///         }
///     }
/// }
///
/// let pool = ptm::ThreadPool::new(2)?;
/// let handle = pool.spawn(|| 6 * 7)?;
/// assert_eq!(block_on(handle), Ok(42)); // or `handle.await` in async code
/// # Ok::<(), ptm::Error>(())
/// ```
impl<T> Future for JobHandle<T> {
    type Output = std::result::Result<T, JobError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(
            !this.returned,
            "a ptm JobHandle was polled after it returned"
        );
        if let Some(outcome) = this.try_take() {
            this.returned = true;
            return Poll::Ready(outcome);
        }
        this.packet.signal.set_waker(cx.waker());
        // Looked for again after the waker is in place (see `Signal`).
        match this.try_take() {
            Some(outcome) => {
                this.returned = true;
                Poll::Ready(outcome)
            }
            None => Poll::Pending,
        }
    }
}

// Nothing in a handle is ever pinned (its future state is the shared
// packet, behind an `Arc`), so it may move while being awaited whatever `T`
// is.
impl<T> Unpin for JobHandle<T> {}

impl<T> Drop for JobHandle<T> {
    /// Releases the stored waker at once (a task that dropped the future
    /// need not be woken), and the job's value if it is there; the job goes
    /// on, and a value it delivers later is dropped on the worker.
    fn drop(&mut self) {
        let waker = lock(&self.packet.signal.waker).take();
        drop(waker);
        let outcome = lock(&self.packet.outcome).take();
        drop(outcome);
    }
}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle")
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

/// Spawns jobs that may borrow from outside the [`ThreadPool::scope`] call
/// that created it; see there.
///
/// `'scope` is the lifetime of the scope itself (jobs may borrow the
/// `Scope` to spawn more), `'env` that of what the jobs borrow, which
/// outlives it. As in [`std::thread::Scope`].
pub struct Scope<'scope, 'env: 'scope> {
    pool: &'scope ThreadPool,
    state: Arc<ScopeState>,
    /// Invariant in `'scope` and `'env`, as std's scope is.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// The bookkeeping of one scope, shared with its jobs (in an `Arc`: the last
/// job touches it after the scope may have returned).
struct ScopeState {
    /// 1 while the scope's closure runs, plus one per job not yet finished.
    /// Decremented `AcqRel`; reaches 0 exactly once (only a running closure
    /// or job can spawn, and each holds a count while it does).
    pending: AtomicUsize,
    /// Jobs dropped unrun (by `shutdown_now`).
    cancelled: AtomicUsize,
    /// The first panic of a job, resumed by `scope`.
    first_panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// Finished by whoever brings `pending` to 0.
    done: Signal,
}

impl ScopeState {
    fn finish_one(&self) {
        if self.pending.fetch_sub(1, AcqRel) == 1 {
            self.done.finish();
        }
    }
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Queues `f` on the pool; the [`ThreadPool::scope`] call that made this
    /// scope returns only after `f` has run. Like [`ThreadPool::execute`],
    /// it waits for room in a full bounded queue only when called from
    /// outside the pool; from one of its jobs the job goes on the worker's
    /// own deque.
    ///
    /// # Panics
    ///
    /// If the pool no longer accepts jobs (a shutdown has begun); `f` is
    /// dropped, and the scope still waits for the jobs already queued.
    pub fn spawn<F>(&'scope self, f: F)
    where
        F: FnOnce() + Send + 'scope,
    {
        self.state.pending.fetch_add(1, Relaxed);
        let job = ScopedJob {
            f: Some(f),
            state: Arc::clone(&self.state),
        };
        let job: Box<dyn FnOnce(&Slot) + Send + 'scope> = Box::new(move |slot| job.run(slot));
        // SAFETY: only the lifetime changes. The job borrows for 'scope, and
        // `ThreadPool::scope` does not return, nor unwind, before `pending`
        // is 0, which happens only after this job has run or been dropped
        // (`ScopedJob`'s `Drop` decrements last, after `f` is gone). Its
        // remaining captures (the `Arc`) are 'static.
        let job: Job = unsafe {
            std::mem::transmute::<
                Box<dyn FnOnce(&Slot) + Send + 'scope>,
                Box<dyn FnOnce(&Slot) + Send + 'static>,
            >(job)
        };
        if let Err(error) = self.pool.submit(job, Mode::Block) {
            // The refused job was dropped: counted as cancelled and finished.
            panic!("ptm::Scope::spawn: the pool refused the job: {error}");
        }
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("pending", &self.state.pending.load(Relaxed))
            .finish_non_exhaustive()
    }
}

/// A scoped job: `f` until it has run, and the count it holds in its scope.
/// Its `Drop` gives the count back *after* `f` is gone, run or not, so that
/// nothing of `f` outlives the scope.
struct ScopedJob<F> {
    f: Option<F>,
    state: Arc<ScopeState>,
}

impl<F: FnOnce()> ScopedJob<F> {
    fn run(mut self, slot: &Slot) {
        if let Some(f) = self.f.take() {
            if let Err(payload) = slot.run_catching(f) {
                let extra = {
                    let mut first = lock(&self.state.first_panic);
                    match &*first {
                        None => {
                            *first = Some(payload);
                            None
                        }
                        Some(_) => Some(payload),
                    }
                };
                // Only the first is resumed; a payload's `Drop` may panic.
                if let Some(payload) = extra {
                    drop_quietly(payload);
                }
            }
        }
        // `self` drops here: the count is given back.
    }
}

impl<F> Drop for ScopedJob<F> {
    fn drop(&mut self) {
        if let Some(f) = self.f.take() {
            // Dropped unrun: cancelled by `shutdown_now`, or refused.
            drop_quietly(f);
            self.state.cancelled.fetch_add(1, Relaxed);
        }
        self.state.finish_one();
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

    /// Runs `f` on a helper thread under [`HANG`]; its outcome (`Err` with
    /// the panic message if it panicked).
    fn outcome_within<F: FnOnce() + Send + 'static>(
        what: &str,
        f: F,
    ) -> std::result::Result<(), String> {
        let (done, result) = mpsc::channel();
        std::thread::spawn(move || {
            let outcome = panic::catch_unwind(AssertUnwindSafe(f)).map_err(panic_message);
            let _ = done.send(outcome);
        });
        result
            .recv_timeout(HANG)
            .unwrap_or_else(|_| panic!("{what} still runs after {HANG:?}: it hangs"))
    }

    /// A scope cannot outlive a shutdown through the public API (`shutdown`
    /// takes the pool, a scope borrows it), but if a shutdown had begun,
    /// `Scope::spawn` must fail loudly rather than wait for a job that will
    /// never run.
    #[test]
    fn scope_spawn_on_a_closed_pool_panics_and_never_hangs() {
        let outcome = outcome_within("a scope on a closed pool", || {
            let mut pool = ThreadPool::new(1).expect("pool");
            pool.finish(true);
            let ran = AtomicBool::new(false);
            pool.scope(|s| s.spawn(|| ran.store(true, SeqCst)));
        });
        let message = outcome.expect_err("spawning on a closed pool must panic");
        assert!(message.contains("refused the job"), "{message}");
        assert!(message.contains("closed"), "{message}");
    }

    /// A scoped job that `shutdown_now` drops unrun (staged here by setting
    /// the cancel flag the workers obey) makes the scope panic once the
    /// others finished, instead of returning as if it had run, or waiting.
    #[test]
    fn a_cancelled_scoped_job_makes_the_scope_panic_after_the_others() {
        let outcome = outcome_within("a scope whose job is cancelled", || {
            let pool = ThreadPool::new(2).expect("pool");
            pool.shared.cancel.store(true, Relaxed);
            pool.scope(|s| {
                s.spawn(|| unreachable!("a cancelled job ran"));
                s.spawn(|| unreachable!("a cancelled job ran"));
            });
        });
        let message = outcome.expect_err("a scope with cancelled jobs must panic");
        assert!(message.contains("2 scoped job(s) never ran"), "{message}");
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
