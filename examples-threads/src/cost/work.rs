//! # What each thread of the `cost` demo does for 20 ms
//!
//! Part of the `cost` demo (`cargo run -p examples-threads -- cost`).
//!
//! `sleep` costs no CPU. `spin` is a common first attempt at "busy work": it
//! watches the *wall* clock, giving its core away on every turn
//! (`yield_now`), so however many threads share the cores, each stops 20 ms
//! after it started: n threads split the cores' 20 ms between them, and the
//! time barely grows with n. `cpu` burns 20 ms of its *own* CPU time, read on
//! the thread CPU clock (`CLOCK_THREAD_CPUTIME_ID`), so n threads need
//! n x 20 ms of CPU: that is the load whose wall time grows once n passes the
//! core count.

use anyhow::{anyhow, Context, Result};
use nix::time::{clock_gettime, ClockId};
use std::thread;
use std::time::{Duration, Instant};

/// How long each thread sleeps, spins or burns CPU.
pub const WORK: Duration = Duration::from_millis(20);

/// What each thread does; `all` measures the three side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Sleep 20 ms.
    Sleep,
    /// Call `yield_now` until 20 ms of wall time passed.
    Spin,
    /// Burn 20 ms of this thread's own CPU time.
    Cpu,
    /// Sleep, spin and cpu.
    All,
}

impl Mode {
    /// The modes this choice measures, in table order.
    pub fn expand(self) -> Vec<Mode> {
        match self {
            Mode::All => vec![Mode::Sleep, Mode::Spin, Mode::Cpu],
            one => vec![one],
        }
    }

    /// The mode's name, as typed on the command line.
    pub fn name(self) -> String {
        format!("{self:?}").to_lowercase()
    }

    /// What a thread in this mode does, for the line before the table.
    pub fn what(self) -> &'static str {
        match self {
            Mode::Sleep => "sleeps 20 ms",
            Mode::Spin => "calls yield_now until 20 ms of wall time passed",
            Mode::Cpu => "burns 20 ms of its own CPU time",
            Mode::All => "does all three",
        }
    }

    /// Why this mode's curve has the shape it has, for its verdict.
    pub fn why(self, cores: usize) -> String {
        match self {
            Mode::Sleep => "a sleeping thread needs no CPU".to_owned(),
            Mode::Spin => "each spinner stops 20 ms after it started, CPU or not: \
                           it times waiting"
                .to_owned(),
            Mode::Cpu | Mode::All => format!("{cores} cores here"),
        }
    }

    /// The CPU time each thread needs, for modes whose threads need one.
    pub fn cpu_ms(self) -> Option<f64> {
        (self == Mode::Cpu).then(|| WORK.as_secs_f64() * 1e3)
    }
}

/// This thread's CPU time so far.
fn thread_cpu() -> Result<Duration> {
    let now = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).context("reading thread CPU clock");
    Ok(now?.into())
}

// ANCHOR: work
/// One thread's work in `mode`.
///
/// # Errors
/// The thread CPU clock cannot be read, or `mode` is `All` (a choice, not a
/// workload).
pub fn work(mode: Mode) -> Result<()> {
    let (wall, cpu) = (Instant::now(), thread_cpu()?);
    match mode {
        Mode::Sleep => thread::sleep(WORK),
        Mode::Spin => {
            while wall.elapsed() < WORK {
                thread::yield_now(); // gives the core away: little CPU used
            }
        }
        Mode::Cpu => {
            while thread_cpu()?.saturating_sub(cpu) < WORK {
                // some work between two reads of the clock
                std::hint::black_box((0..1000u64).sum::<u64>());
            }
        }
        Mode::All => return Err(anyhow!("`all` chooses modes; not a workload")),
    }
    Ok(())
}
// ANCHOR_END: work

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_work_uses_its_cpu_time() {
        let start = Instant::now();
        work(Mode::Cpu).expect("thread CPU clock readable");
        // One thread cannot use more CPU time than wall time passes.
        assert!(start.elapsed() >= WORK);
        assert!(thread_cpu().expect("readable") >= WORK);
    }

    #[test]
    fn all_expands_to_three_workloads() {
        assert_eq!(Mode::All.expand(), [Mode::Sleep, Mode::Spin, Mode::Cpu]);
        assert_eq!(Mode::Cpu.expand(), [Mode::Cpu]);
        assert_eq!(Mode::Spin.name(), "spin");
        assert!(work(Mode::All).is_err());
    }
}
