//! The pool designs that pool dispatch (`report --only pool`,
//! `like-for-like`) and the criterion bench `benches/pool.rs` compare, each
//! behind a [`Bench`]: its pool built once, then "submit N no-op jobs from
//! this thread, wait until all have finished" timed as often as asked.
//!
//! How a job reaches the [`CountLatch`] it counts down decides whether
//! boxing it allocates ([`LatchJobs`]): `captured` (the default) is what
//! users write, `move || latch.count_down()` on the bench's leaked latch (an
//! `Arc` would add a contended count per job), one allocation per job;
//! `static`, `|| LATCH.count_down()`, captures and allocates nothing, like
//! ptm's and threadpool's no-op jobs (like for like); its batches take a
//! lock, outside the clock. `ptm-latch` separates what the job costs from
//! what the pool costs. `rayon-scope` submits from one of its own threads.

use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context};
use serde::{Deserialize, Serialize};

use crate::book_pool;
use crate::latch::CountLatch;
use crate::queue_pool::QueuePool;

/// One of the pool designs compared.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Design {
    /// `ptm::ThreadPool::execute` each job, then `wait_idle`.
    Ptm,
    /// `ptm::ThreadPool::execute`, waiting on a [`CountLatch`] (a control).
    PtmLatch,
    /// `rayon::ThreadPool::spawn` each job; wait on a [`CountLatch`].
    RayonSpawn,
    /// `s.spawn` each job inside `rayon::ThreadPool::scope`, which waits.
    RayonScope,
    /// The threadpool crate: `execute` each job, then `join`.
    Threadpool,
    /// [`book_pool::ThreadPool::execute`]; wait on a [`CountLatch`].
    Book,
    /// [`QueuePool::execute`] (crossbeam, nothing else); a [`CountLatch`].
    Queue,
    /// A new `std::thread` per job, each joined; a per-job cost only.
    ThreadSpawn,
}

/// How a latch-counting job reaches its latch (the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LatchJobs {
    /// `move || latch.count_down()`: one allocation per job.
    #[default]
    Captured,
    /// `|| LATCH.count_down()` on a `static`: no allocation.
    Static,
}

/// The latch of `static` latch jobs; the lock keeps two batches apart.
static STATIC_LATCH: CountLatch = CountLatch::new(0);
static STATIC_BATCH: Mutex<()> = Mutex::new(());

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

/// A built pool of one [`Design`], ready to time batches of no-op jobs
/// with [`run`](Self::run); dropping it shuts the pool down.
pub struct Bench {
    latch_jobs: LatchJobs,
    /// For `captured` jobs, leaked: they capture a `&'static`.
    latch: &'static CountLatch,
    pool: Pool,
}

/// Times one batch of latch-counting jobs: re-arms the latch, submits
/// `$jobs` jobs with `$submit` (in which `$job` is the closure; it may use
/// `?`), waits on the latch; evaluates to the elapsed time.
macro_rules! latch_batch {
    ($bench:expr, $jobs:expr, |$job:ident| $submit:expr) => {{
        let (bench, jobs): (&Bench, usize) = ($bench, $jobs);
        let (latch, _exclusive) = match bench.latch_jobs {
            LatchJobs::Static => {
                let lock = STATIC_BATCH.lock().unwrap_or_else(PoisonError::into_inner);
                (&STATIC_LATCH, Some(lock))
            }
            LatchJobs::Captured => (bench.latch, None),
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
    /// Builds the pool of `design` with `workers` threads (`thread-spawn`
    /// builds nothing), its latch jobs of kind `latch_jobs` (ignored by the
    /// designs that wait on no latch).
    ///
    /// # Errors
    ///
    /// If `workers` is 0 or the pool cannot start its threads.
    pub fn new(design: Design, workers: usize, latch_jobs: LatchJobs) -> anyhow::Result<Bench> {
        ensure!(workers > 0, "a pool needs at least one worker");
        let ptm = || ptm::ThreadPool::new(workers).context("building a ptm pool");
        let rayon = || {
            let builder = rayon::ThreadPoolBuilder::new().num_threads(workers);
            builder.build().context("building a rayon pool")
        };
        let pool = match design {
            Design::Ptm => Pool::Ptm(ptm()?),
            Design::PtmLatch => Pool::PtmLatch(ptm()?),
            Design::RayonSpawn => Pool::RayonSpawn(rayon()?),
            Design::RayonScope => Pool::RayonScope(rayon()?),
            // These two panic if a thread cannot start: they offer no other way.
            Design::Threadpool => Pool::Threadpool(threadpool::ThreadPool::new(workers)),
            Design::Book => Pool::Book(book_pool::ThreadPool::new(workers)),
            Design::Queue => Pool::Queue(QueuePool::new(workers)?),
            Design::ThreadSpawn => Pool::ThreadSpawn,
        };
        let latch = Box::leak(Box::new(CountLatch::new(0)));
        Ok(Bench {
            latch_jobs,
            latch,
            pool,
        })
    }

    /// Submits `jobs` no-op jobs from this thread and waits until all have
    /// finished; returns the time that took (the latch reset and ptm's
    /// counters are read outside it).
    ///
    /// # Errors
    ///
    /// If a pool refuses a job, a thread cannot be spawned or joined, or a
    /// pool's counters disagree with the jobs run.
    pub fn run(&self, jobs: usize) -> anyhow::Result<Duration> {
        let start = Instant::now();
        match &self.pool {
            Pool::Ptm(pool) => {
                let before = pool.stats().completed;
                let start = Instant::now(); // after reading the counters
                for _ in 0..jobs {
                    pool.execute(|| {}).context("ptm execute")?;
                }
                pool.wait_idle().context("ptm wait_idle")?;
                let elapsed = start.elapsed();
                let ran = pool.stats().completed - before;
                ensure!(ran == jobs, "ptm: wait_idle returned after {ran} of {jobs}");
                Ok(elapsed)
            }
            Pool::PtmLatch(pool) => Ok(latch_batch!(self, jobs, |job| pool.execute(job)?)),
            Pool::RayonSpawn(pool) => Ok(latch_batch!(self, jobs, |job| pool.spawn(job))),
            Pool::RayonScope(pool) => {
                pool.scope(|s| (0..jobs).for_each(|_| s.spawn(|_| {})));
                Ok(start.elapsed())
            }
            Pool::Threadpool(pool) => {
                for _ in 0..jobs {
                    pool.execute(|| {});
                }
                pool.join();
                let elapsed = start.elapsed();
                ensure!(pool.panic_count() == 0, "threadpool: a job panicked");
                Ok(elapsed)
            }
            Pool::Book(pool) => Ok(latch_batch!(self, jobs, |job| pool.execute(job))),
            Pool::Queue(pool) => Ok(latch_batch!(self, jobs, |job| pool.execute(job)?)),
            Pool::ThreadSpawn => {
                let threads: Result<Vec<_>, _> = (0..jobs)
                    .map(|_| thread::Builder::new().spawn(|| {}))
                    .collect();
                for thread in threads.context("spawning a thread per job")? {
                    thread
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
    use super::{Bench, CountLatch, Design, LatchJobs, STATIC_LATCH};
    use clap::ValueEnum;

    #[test]
    fn every_design_runs_batches_with_both_kinds_of_latch_jobs() {
        for &latch_jobs in LatchJobs::value_variants() {
            for &design in Design::value_variants() {
                let bench = Bench::new(design, 2, latch_jobs).expect("building the pool");
                bench
                    .run(1000)
                    .and_then(|_| bench.run(1000))
                    .expect("two batches");
            }
        }
        // The point of the two kinds: a captured-latch job is a pointer, a
        // static-latch job nothing (so boxing it allocates nothing).
        let latch: &'static CountLatch = Box::leak(Box::new(CountLatch::new(1)));
        let captured = move || latch.count_down();
        assert_eq!(size_of_val(&captured), size_of::<usize>());
        assert_eq!(size_of_val(&|| STATIC_LATCH.count_down()), 0);
        captured();
    }
}
