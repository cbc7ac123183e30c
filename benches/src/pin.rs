//! Pinning the measuring thread (and what it starts) to CPUs.
//!
//! On this machine's VM an idle vCPU halts at once, so waking a thread
//! that sleeps on the *other* CPU costs tens of microseconds, more than
//! most of what the latency experiments compare. Left alone, the scheduler
//! sometimes moves a woken partner onto the waker's CPU and sometimes not,
//! so an unpinned figure mixes both cases. The experiments therefore
//! measure three placements:
//!
//! - [`Pinning::Unpinned`]: the scheduler's choice;
//! - [`Pinning::Pinned`]: the measuring thread and its partners (pool
//!   workers, partner threads, child processes) all on one CPU: each hop
//!   is a context switch, no cross-CPU wake-up;
//! - [`Pinning::Split`]: the measuring thread on one CPU, its partners on
//!   another: every hop is a cross-CPU wake-up.
//!
//! Linux's affinity is per thread, and a new thread or process starts with
//! its creator's. So partners are created under
//! [`Pinning::apply_partner`] and the measuring happens under
//! [`Pinning::apply`]; threads, pools and children created while a guard
//! lives keep that affinity for their whole life; dropping the guard
//! restores only the calling thread.
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
    /// The scheduler places every thread wherever it likes.
    Unpinned,
    /// The measuring thread and its partners all run on one CPU (the first
    /// one allowed).
    Pinned,
    /// The measuring thread runs on the first allowed CPU, its partners on
    /// the second (on the first too if there is only one).
    Split,
}

impl Pinning {
    /// Unpinned and pinned: for measurements without a partner.
    pub const BOTH: [Pinning; 2] = [Pinning::Unpinned, Pinning::Pinned];

    /// All three placements.
    pub const ALL: [Pinning; 3] = [Pinning::Unpinned, Pinning::Pinned, Pinning::Split];

    /// "unpinned", "pinned" or "split", as in tables and CSV.
    pub fn name(self) -> &'static str {
        match self {
            Pinning::Unpinned => "unpinned",
            Pinning::Pinned => "pinned",
            Pinning::Split => "split",
        }
    }

    /// What it means, for captions and summaries.
    pub fn describe(self) -> &'static str {
        match self {
            Pinning::Unpinned => "unpinned (the scheduler's choice)",
            Pinning::Pinned => "pinned (everything on one CPU)",
            Pinning::Split => "split (measurer and partners on two CPUs)",
        }
    }

    /// Parses [`name`](Self::name)'s text back.
    pub fn from_name(name: &str) -> Option<Pinning> {
        Pinning::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Places the calling thread as the *measuring* thread until the
    /// returned guard is dropped. `Unpinned` changes nothing and returns
    /// `None`: it means "as the thread already is", so call it from a
    /// thread that is not pinned.
    ///
    /// # Errors
    ///
    /// If the thread's affinity cannot be read or set.
    pub fn apply(self) -> anyhow::Result<Option<AffinityGuard>> {
        match self {
            Pinning::Unpinned => Ok(None),
            Pinning::Pinned | Pinning::Split => pin_to(nth_allowed_cpu(0)?).map(Some),
        }
    }

    /// Places the calling thread as a *partner* until the returned guard is
    /// dropped: create pools, partner threads and children under it.
    ///
    /// # Errors
    ///
    /// If the thread's affinity cannot be read or set.
    pub fn apply_partner(self) -> anyhow::Result<Option<AffinityGuard>> {
        match self {
            Pinning::Unpinned => Ok(None),
            Pinning::Pinned => pin_to(nth_allowed_cpu(0)?).map(Some),
            Pinning::Split => pin_to(nth_allowed_cpu(1)?).map(Some),
        }
    }
}

/// The `n`-th CPU the calling thread may run on, or the last one if there
/// are fewer.
fn nth_allowed_cpu(n: usize) -> anyhow::Result<usize> {
    let cpus = allowed_cpus()?;
    cpus.get(n)
        .or(cpus.last())
        .copied()
        .context("this thread may run on no CPU")
}

impl fmt::Display for Pinning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Restores the calling thread's previous affinity when dropped.
///
/// Drop it on the thread that created it (it is not `Send`).
#[derive(Debug)]
pub struct AffinityGuard {
    saved: CpuSet,
    /// Keeps the guard on its thread: affinity is per thread.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for AffinityGuard {
    fn drop(&mut self) {
        // Nothing to do about a failure here; the thread stays pinned, and
        // the measurements after it would show it.
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
/// If the affinity cannot be read or set (for instance, `cpu` is not one
/// this process may use).
pub fn pin_to(cpu: usize) -> anyhow::Result<AffinityGuard> {
    let saved = sched_getaffinity(Pid::from_raw(0)).context("sched_getaffinity")?;
    let mut one = CpuSet::new();
    one.set(cpu)
        .with_context(|| format!("CPU {cpu} is out of range"))?;
    sched_setaffinity(Pid::from_raw(0), &one)
        .with_context(|| format!("sched_setaffinity to CPU {cpu}"))?;
    Ok(AffinityGuard {
        saved,
        _not_send: std::marker::PhantomData,
    })
}

#[cfg(test)]
mod tests {
    use super::{allowed_cpus, Pinning};

    #[test]
    fn names_round_trip() {
        for p in Pinning::ALL {
            assert_eq!(Pinning::from_name(p.name()), Some(p));
        }
        assert_eq!(Pinning::from_name("x"), None);
    }

    #[test]
    fn the_guard_restores_the_affinity() {
        // Runs on a thread of its own: the test harness's threads are shared.
        std::thread::spawn(|| {
            let before = allowed_cpus().expect("affinity");
            let guard = Pinning::Pinned.apply().expect("pinning");
            assert_eq!(allowed_cpus().expect("affinity"), [before[0]]);
            drop(guard);
            assert_eq!(allowed_cpus().expect("affinity"), before);
            assert!(Pinning::Unpinned.apply().expect("nothing to do").is_none());
            let partner = Pinning::Split.apply_partner().expect("pinning");
            let cpus = allowed_cpus().expect("affinity");
            assert_eq!(cpus, [*before.get(1).unwrap_or(&before[0])]);
            drop(partner);
            assert_eq!(allowed_cpus().expect("affinity"), before);
        })
        .join()
        .expect("the test thread");
    }
}
