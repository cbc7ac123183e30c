//! The designs under test, each behind one [`Bench`] that builds its pool
//! once and then times "submit N no-op jobs from this thread, wait until all
//! have finished" as often as asked.
//!
//! | [`Design`] | submit | wait |
//! | --- | --- | --- |
//! | `ptm` | `ptm::ThreadPool::execute` | `wait_idle()` |
//! | `ptm-latch` | `ptm::ThreadPool::execute` | [`CountLatch`] (a control) |
//! | `rayon-spawn` | `rayon::ThreadPool::spawn` | [`CountLatch`] |
//! | `rayon-scope` | `s.spawn` inside `pool.scope` | end of `scope` |
//! | `threadpool` | `threadpool::ThreadPool::execute` | `join()` |
//! | `book` | [`book_pool::ThreadPool::execute`] | [`CountLatch`] |
//! | `queue` | [`QueuePool::execute`] (crossbeam, nothing else) | [`CountLatch`] |
//! | `thread-spawn` | `std::thread` per job | `join` each |
//!
//! # Latch jobs
//!
//! Where a [`CountLatch`] is used, each job counts it down, and how the job
//! reaches the latch matters more than one would think; [`LatchJobs`] picks:
//!
//! * [`LatchJobs::Captured`] (the default): `move || latch.count_down()` with
//!   `latch: &'static CountLatch`, what a user writes. The closure holds one
//!   pointer, so boxing it is one heap allocation on the submitter and one
//!   free on a worker, per job. (The latch is allocated once per [`Bench`]
//!   and leaked so that jobs capture a plain reference: capturing an `Arc`
//!   would add a contended reference-count increment and decrement per job
//!   on the latch's own cache line.)
//! * [`LatchJobs::Static`]: `|| LATCH.count_down()` with one `static` latch.
//!   The closure captures nothing, so boxing it allocates nothing, exactly
//!   like the no-op closures of `ptm` and `threadpool`. Batches of all benches
//!   then share that one latch, so [`Bench::run`] serialises them on a lock
//!   (outside the timed region).
//!
//! `ptm-latch` runs the latch jobs on ptm's pool: the control that separates
//! what the job costs from what the pool costs.
//!
//! `rayon-scope` runs the submitting loop on one of the pool's own threads
//! (`ThreadPool::scope` installs the closure in the pool), so with 2 workers
//! the submitter is also a worker; the others submit from the calling thread.
//! `rayon::ThreadPool::spawn` boxes every job with a clone of the registry's
//! `Arc`, whatever the job captures.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

use crate::book_pool;
use crate::latch::CountLatch;
use crate::queue_pool::QueuePool;

/// One of the pool designs that `pool_dispatch` and the criterion bench
/// compare. (Variant docs are plain text: clap shows them in `--help`.)
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Design {
    /// `ptm::ThreadPool`: `execute` each job, then `wait_idle`.
    Ptm,
    /// `ptm::ThreadPool::execute` each job, waiting on a `CountLatch` as
    /// the other pools do rather than with `wait_idle` (a control).
    PtmLatch,
    /// `rayon::ThreadPool::spawn` each job; wait on a `CountLatch`.
    RayonSpawn,
    /// `rayon::ThreadPool::scope` spawning each job; the scope's end waits.
    RayonScope,
    /// The `threadpool` crate: `execute` each job, then `join`.
    Threadpool,
    /// The Rust Book's chapter 20 pool (`book_pool`); wait on a `CountLatch`.
    Book,
    /// `QueuePool`: a crossbeam queue and N threads; wait on a `CountLatch`.
    #[value(alias = "crossbeam")]
    Queue,
    /// A new `std::thread` per job, joined; for a per-job cost only.
    ThreadSpawn,
}

impl Design {
    /// Every design, in the order tables list them.
    pub const ALL: [Design; 8] = [
        Design::Ptm,
        Design::PtmLatch,
        Design::RayonSpawn,
        Design::RayonScope,
        Design::Threadpool,
        Design::Book,
        Design::Queue,
        Design::ThreadSpawn,
    ];

    /// The design's name on the command line and in tables and CSV.
    pub fn name(self) -> &'static str {
        match self {
            Design::Ptm => "ptm",
            Design::PtmLatch => "ptm-latch",
            Design::RayonSpawn => "rayon-spawn",
            Design::RayonScope => "rayon-scope",
            Design::Threadpool => "threadpool",
            Design::Book => "book",
            Design::Queue => "queue",
            Design::ThreadSpawn => "thread-spawn",
        }
    }

    /// True for the designs that wait on a [`CountLatch`].
    pub fn uses_latch(self) -> bool {
        matches!(
            self,
            Design::PtmLatch | Design::RayonSpawn | Design::Book | Design::Queue
        )
    }
}

impl fmt::Display for Design {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// How a latch-counting job reaches its latch (see the module docs).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum LatchJobs {
    /// `move || latch.count_down()`: one allocation per job.
    #[default]
    Captured,
    /// `|| LATCH.count_down()` on a `static`: no allocation.
    Static,
}

impl LatchJobs {
    /// The mode's name on the command line and in tables and CSV.
    pub fn name(self) -> &'static str {
        match self {
            LatchJobs::Captured => "captured",
            LatchJobs::Static => "static",
        }
    }
}

impl fmt::Display for LatchJobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// The latch of [`LatchJobs::Static`] jobs, shared by every bench.
static STATIC_LATCH: CountLatch = CountLatch::new(0);

/// Held for a whole batch of [`LatchJobs::Static`] jobs: two batches on
/// [`STATIC_LATCH`] at once would count each other's jobs.
static STATIC_BATCH: Mutex<()> = Mutex::new(());

/// A design's pool, built once.
enum Pool {
    Ptm(ptm::ThreadPool),
    PtmLatch(ptm::ThreadPool),
    RayonSpawn(rayon::ThreadPool),
    RayonScope(rayon::ThreadPool),
    Threadpool(threadpool::ThreadPool),
    Book(book_pool::ThreadPool),
    Queue(QueuePool),
    ThreadSpawn,
}

/// A built pool of one [`Design`] with a fixed number of workers, ready to
/// time batches of no-op jobs with [`run`](Self::run).
///
/// Dropping it shuts the pool down (outside any timed region).
pub struct Bench {
    design: Design,
    workers: usize,
    latch_jobs: LatchJobs,
    /// This bench's own latch for [`LatchJobs::Captured`] jobs; leaked so
    /// that jobs can capture a `&'static` (see the module docs).
    latch: &'static CountLatch,
    pool: Pool,
}

impl fmt::Debug for Bench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bench")
            .field("design", &self.design)
            .field("workers", &self.workers)
            .field("latch_jobs", &self.latch_jobs)
            .finish_non_exhaustive()
    }
}

/// Times one batch of latch-counting jobs: resets the latch, then submits
/// `$jobs` jobs with `$submit` (in which `$job` is the closure) and waits on
/// the latch. Evaluates to the elapsed [`Duration`]; `$submit` may use `?`.
macro_rules! latch_batch {
    ($bench:expr, $jobs:expr, |$job:ident| $submit:expr) => {{
        let bench: &Bench = $bench;
        let jobs: usize = $jobs;
        // Only one static-latch batch at a time in this process; taken
        // before the clock starts.
        let _exclusive = match bench.latch_jobs {
            LatchJobs::Static => Some(STATIC_BATCH.lock().unwrap_or_else(PoisonError::into_inner)),
            LatchJobs::Captured => None,
        };
        let latch: &'static CountLatch = match bench.latch_jobs {
            LatchJobs::Static => &STATIC_LATCH,
            LatchJobs::Captured => bench.latch,
        };
        latch.reset(jobs);
        let start = Instant::now();
        match bench.latch_jobs {
            LatchJobs::Captured => {
                for _ in 0..jobs {
                    let $job = move || latch.count_down();
                    $submit;
                }
            }
            LatchJobs::Static => {
                for _ in 0..jobs {
                    let $job = || STATIC_LATCH.count_down();
                    $submit;
                }
            }
        }
        latch.wait();
        start.elapsed()
    }};
}

impl Bench {
    /// Builds the pool of `design` with `workers` threads, with latch jobs of
    /// the default kind ([`LatchJobs::Captured`]). For
    /// [`Design::ThreadSpawn`] there is nothing to build and `workers` is
    /// ignored.
    ///
    /// # Errors
    ///
    /// If `workers` is 0 or the pool cannot start its threads.
    pub fn new(design: Design, workers: usize) -> anyhow::Result<Bench> {
        Bench::with_latch_jobs(design, workers, LatchJobs::default())
    }

    /// Like [`new`](Self::new), choosing how latch-counting jobs reach their
    /// latch (ignored by the designs that use none).
    ///
    /// # Errors
    ///
    /// As for [`new`](Self::new).
    pub fn with_latch_jobs(
        design: Design,
        workers: usize,
        latch_jobs: LatchJobs,
    ) -> anyhow::Result<Bench> {
        if workers == 0 {
            bail!("a pool needs at least one worker, got 0");
        }
        let ptm_pool = || {
            ptm::ThreadPool::new(workers)
                .with_context(|| format!("building a ptm pool of {workers} workers"))
        };
        let rayon_pool = || {
            rayon::ThreadPoolBuilder::new()
                .num_threads(workers)
                .build()
                .with_context(|| format!("building a rayon pool of {workers} threads"))
        };
        let pool = match design {
            Design::Ptm => Pool::Ptm(ptm_pool()?),
            Design::PtmLatch => Pool::PtmLatch(ptm_pool()?),
            Design::RayonSpawn => Pool::RayonSpawn(rayon_pool()?),
            Design::RayonScope => Pool::RayonScope(rayon_pool()?),
            // Panics if a thread cannot be spawned: the crate offers no other way.
            Design::Threadpool => Pool::Threadpool(threadpool::ThreadPool::new(workers)),
            // Panics likewise, as in the book.
            Design::Book => Pool::Book(book_pool::ThreadPool::new(workers)),
            Design::Queue => Pool::Queue(QueuePool::new(workers)?),
            Design::ThreadSpawn => Pool::ThreadSpawn,
        };
        Ok(Bench {
            design,
            workers,
            latch_jobs,
            latch: Box::leak(Box::new(CountLatch::new(0))),
            pool,
        })
    }

    /// The design measured.
    pub fn design(&self) -> Design {
        self.design
    }

    /// The number of workers it was built with.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// How its latch-counting jobs reach their latch.
    pub fn latch_jobs(&self) -> LatchJobs {
        self.latch_jobs
    }

    /// Submits `jobs` no-op jobs from the calling thread and waits until all
    /// of them have finished; returns the time that took (only that: the
    /// latch reset and ptm's count check happen outside it).
    ///
    /// # Errors
    ///
    /// If a pool refuses a job, a thread cannot be spawned or joined, or
    /// ptm's counters disagree with the number of jobs run.
    pub fn run(&self, jobs: usize) -> anyhow::Result<Duration> {
        match &self.pool {
            Pool::Ptm(pool) => {
                let before = pool.stats().completed;
                let start = Instant::now();
                for _ in 0..jobs {
                    pool.execute(|| {}).context("ptm execute")?;
                }
                pool.wait_idle().context("ptm wait_idle")?;
                let elapsed = start.elapsed();
                let ran = pool.stats().completed - before;
                if ran != jobs {
                    bail!("ptm: wait_idle returned after {ran} of {jobs} jobs completed");
                }
                Ok(elapsed)
            }
            Pool::PtmLatch(pool) => Ok(latch_batch!(self, jobs, |job| pool
                .execute(job)
                .context("ptm execute")?)),
            Pool::RayonSpawn(pool) => Ok(latch_batch!(self, jobs, |job| pool.spawn(job))),
            Pool::RayonScope(pool) => {
                let start = Instant::now();
                pool.scope(|s| {
                    for _ in 0..jobs {
                        s.spawn(|_| {});
                    }
                });
                Ok(start.elapsed())
            }
            Pool::Threadpool(pool) => {
                let start = Instant::now();
                for _ in 0..jobs {
                    pool.execute(|| {});
                }
                pool.join();
                let elapsed = start.elapsed();
                if pool.panic_count() != 0 {
                    bail!("threadpool: {} jobs panicked", pool.panic_count());
                }
                Ok(elapsed)
            }
            Pool::Book(pool) => Ok(latch_batch!(self, jobs, |job| pool.execute(job))),
            Pool::Queue(pool) => Ok(latch_batch!(self, jobs, |job| pool.execute(job)?)),
            Pool::ThreadSpawn => {
                let start = Instant::now();
                let handles = (0..jobs)
                    .map(|_| thread::Builder::new().spawn(|| {}))
                    .collect::<Result<Vec<_>, _>>()
                    .context("spawning a thread per job")?;
                for handle in handles {
                    handle
                        .join()
                        .map_err(|_| anyhow!("a no-op thread panicked"))?;
                }
                Ok(start.elapsed())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Bench, Design, LatchJobs};

    /// Every design runs a small batch to completion, twice on one pool,
    /// with both kinds of latch jobs.
    #[test]
    fn every_design_runs_a_batch() {
        for latch_jobs in [LatchJobs::Captured, LatchJobs::Static] {
            for design in Design::ALL {
                let bench =
                    Bench::with_latch_jobs(design, 2, latch_jobs).expect("building the pool");
                for _ in 0..2 {
                    bench.run(1000).expect("running 1000 jobs");
                }
            }
        }
    }

    /// A captured-latch job is a pointer-sized closure, a static-latch job a
    /// zero-sized one: the whole point of the two modes.
    #[test]
    fn static_latch_jobs_are_zero_sized() {
        fn size_of_closure<F: FnOnce()>(_: &F) -> usize {
            std::mem::size_of::<F>()
        }
        let latch: &'static super::CountLatch = Box::leak(Box::new(super::CountLatch::new(1)));
        let captured = move || latch.count_down();
        let fixed = || super::STATIC_LATCH.count_down();
        assert_eq!(size_of_closure(&captured), std::mem::size_of::<usize>());
        assert_eq!(size_of_closure(&fixed), 0);
        captured();
    }
}
