//! Pinning the measuring thread (and what it starts) to CPUs, through
//! nix's `sched_setaffinity`.
//!
//! On this machine's VM an idle vCPU halts at once, so waking a thread that
//! sleeps on the *other* CPU costs tens of microseconds, more than most of
//! what the latency experiments compare; left alone, the scheduler sometimes
//! moves a woken partner onto the waker's CPU and sometimes not. So they
//! measure three placements: [`Pinning::Unpinned`] (the scheduler's choice),
//! [`Pinning::Pinned`] (the measurer and its partners on one CPU: each hop
//! a context switch) and [`Pinning::Split`] (measurer on one CPU, partners
//! on another: each hop a cross-CPU wake-up).
//!
//! Affinity is per thread, and a new thread or process starts with its
//! creator's: partners are created under [`Pinning::apply_partner`], the
//! measuring happens under [`Pinning::apply`]; dropping a guard restores
//! only the calling thread.
//!
//! ```
//! use ptm_benches::pin::Pinning;
//!
//! let guard = Pinning::Pinned.apply()?;
//! let worker = std::thread::spawn(|| ptm_benches::pin::allowed_cpus());
//! let cpus = worker.join().expect("the thread does not panic")?;
//! assert_eq!(cpus.len(), 1, "a thread started while pinned is pinned");
//! drop(guard);
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::fmt;
use std::marker::PhantomData;

use anyhow::Context;
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

/// Where the measuring thread and its partners run.
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
#[serde(rename_all = "lowercase")]
pub enum Pinning {
    /// The scheduler's choice.
    Unpinned,
    /// Everything on the first allowed CPU.
    Pinned,
    /// The measurer on the first allowed CPU, partners on the second.
    Split,
}

impl Pinning {
    /// Unpinned and pinned.
    pub const BOTH: [Pinning; 2] = [Pinning::Unpinned, Pinning::Pinned];
    /// Every placement.
    pub const ALL: [Pinning; 3] = [Pinning::Unpinned, Pinning::Pinned, Pinning::Split];

    /// Its name in tables and CSV.
    pub fn name(self) -> &'static str {
        match self {
            Pinning::Unpinned => "unpinned",
            Pinning::Pinned => "pinned",
            Pinning::Split => "split",
        }
    }

    /// Its name written out, for plots.
    pub fn describe(self) -> &'static str {
        match self {
            Pinning::Unpinned => "unpinned (the scheduler's choice)",
            Pinning::Pinned => "pinned (everything on one CPU)",
            Pinning::Split => "split (measurer and partners on two CPUs)",
        }
    }

    /// The placement named `name`.
    pub fn from_name(name: &str) -> Option<Pinning> {
        Pinning::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Pins the calling (measuring) thread; `None` when unpinned.
    ///
    /// # Errors
    ///
    /// If the affinity cannot be read or set.
    pub fn apply(self) -> anyhow::Result<Option<AffinityGuard>> {
        match self {
            Pinning::Unpinned => Ok(None),
            Pinning::Pinned | Pinning::Split => pin_to(nth_allowed_cpu(0)?).map(Some),
        }
    }

    /// Pins the calling thread as a partner's creator: what it starts now
    /// runs where partners belong.
    ///
    /// # Errors
    ///
    /// If the affinity cannot be read or set.
    pub fn apply_partner(self) -> anyhow::Result<Option<AffinityGuard>> {
        match self {
            Pinning::Unpinned => Ok(None),
            Pinning::Pinned => pin_to(nth_allowed_cpu(0)?).map(Some),
            Pinning::Split => pin_to(nth_allowed_cpu(1)?).map(Some),
        }
    }
}

impl fmt::Display for Pinning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// The `n`th allowed CPU, or the last one if there are fewer.
fn nth_allowed_cpu(n: usize) -> anyhow::Result<usize> {
    let cpus = allowed_cpus()?;
    cpus.get(n)
        .or(cpus.last())
        .copied()
        .context("this thread may run on no CPU")
}

/// Restores the calling thread's previous affinity when dropped, on the
/// thread that created it (it is not `Send`: affinity is per thread).
#[derive(Debug)]
pub struct AffinityGuard {
    saved: CpuSet,
    _not_send: PhantomData<*const ()>,
}

impl Drop for AffinityGuard {
    fn drop(&mut self) {
        // Nothing to do about a failure: the thread stays pinned, and the
        // measurements after it would show it.
        let _ = sched_setaffinity(Pid::from_raw(0), &self.saved);
    }
}

/// The CPUs the calling thread may run on, in increasing order.
///
/// # Errors
///
/// If the affinity cannot be read.
pub fn allowed_cpus() -> anyhow::Result<Vec<usize>> {
    let set = sched_getaffinity(Pid::from_raw(0)).context("sched_getaffinity")?;
    Ok((0..CpuSet::count())
        .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
        .collect())
}

/// Pins the calling thread to `cpu` until the guard is dropped.
///
/// # Errors
///
/// If the affinity cannot be read or set (`cpu` is not one this process
/// may use).
pub fn pin_to(cpu: usize) -> anyhow::Result<AffinityGuard> {
    let saved = sched_getaffinity(Pid::from_raw(0)).context("sched_getaffinity")?;
    let mut one = CpuSet::new();
    one.set(cpu)
        .with_context(|| format!("CPU {cpu} is out of range"))?;
    sched_setaffinity(Pid::from_raw(0), &one)
        .with_context(|| format!("sched_setaffinity to CPU {cpu}"))?;
    Ok(AffinityGuard {
        saved,
        _not_send: PhantomData,
    })
}

#[cfg(test)]
mod tests {
    use super::{allowed_cpus, Pinning};

    #[test]
    fn the_guard_restores_the_affinity() {
        // On a thread of its own: the test harness's threads are shared.
        std::thread::spawn(|| {
            let before = allowed_cpus().expect("affinity");
            let guard = Pinning::Pinned.apply().expect("pinning");
            assert_eq!(allowed_cpus().expect("affinity"), [before[0]]);
            drop(guard);
            assert_eq!(allowed_cpus().expect("affinity"), before);
            assert_eq!(Pinning::from_name("split"), Some(Pinning::Split));
        })
        .join()
        .expect("the test thread");
    }
}
