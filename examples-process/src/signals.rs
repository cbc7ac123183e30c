//! # `signals`: terminate with a grace period, and reach the grandchildren
//!
//! Shows `ProcessManager::terminate_all(grace)`: SIGTERM to each child's
//! process group, SIGKILL after the grace, then reap. A `sleep` ends on
//! SIGTERM, a `sh` that ignores it (`trap '' TERM`) on SIGKILL; the `sleep`s
//! a `sh` started are live in its process group (`/proc`) before, gone after.
//!
//! Run: `cargo run -p examples-process -- signals [--grace-ms 200]`
//!
//! First the common first attempt, [`naive_kill`]: SIGKILL (what
//! `Child::kill` sends) to a `sh` alone. It gets no chance to clean up,
//! and what it started runs on, orphaned (shown, then killed with
//! `killpg`). Each `sh` prints pids once ready, read before any signal: no
//! sleep stands in for that wait.

use std::io::{self, BufRead, BufReader};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use ptm::process::{ExitReport, ProcessManager};

use crate::os;

/// Flags of the `signals` demo.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// How long `terminate_all` waits after SIGTERM before SIGKILL, in ms
    /// (at most 60000).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub grace_ms: u64,
}

/// A `sh` that starts two background `sleep`s and prints their pids.
const GRANDCHILDREN: &str = "sleep 1000 & echo $!; sleep 1000 & echo $!; wait";

/// Starts `sh -c script` as a child of `manager`, stdout on a pipe, and reads
/// the `n` pids it prints first (its "ready" signal): its own pid and those.
fn start_sh(
    manager: &mut ProcessManager,
    script: &str,
    n: usize,
) -> Result<(u32, Vec<u32>)> {
    let (reader, writer) = io::pipe().context("creating a pipe")?;
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]).stdout(writer);
    let pid = manager.spawn_command(cmd)?; // this also closes our copy of `writer`
    let lines = BufReader::new(reader).lines().take(n);
    let pids: Vec<u32> =
        lines.map(|line| Ok(line?.parse()?)).collect::<Result<_>>()?;
    ensure!(pids.len() == n, "`sh -c '{script}'` exited before it was ready");
    Ok((pid, pids))
}

// ANCHOR: terminate
/// `sleep 1000` and a `sh` ignoring SIGTERM, then `terminate_all(grace)`:
/// the reports and the time taken.
pub fn terminate(grace: Duration) -> Result<(Vec<ExitReport>, Duration)> {
    let mut manager = ProcessManager::new();
    manager.spawn("sleep", &["1000"])?;
    start_sh(&mut manager, "trap '' TERM; echo $$; sleep 1000", 1)?;
    let start = Instant::now();
    Ok((manager.terminate_all(grace), start.elapsed()))
}
// ANCHOR_END: terminate

/// What [`group`] saw.
#[derive(Debug)]
pub struct Group {
    /// The `sh`'s pid, also its process group id.
    pub sh: u32,
    /// The pids of the two `sleep`s it started.
    pub grandchildren: Vec<u32>,
    /// The live members of its group before `terminate_all`.
    pub before: Vec<u32>,
    /// The live members of its group after.
    pub after: Vec<u32>,
    /// What `terminate_all` reported.
    pub reports: Vec<ExitReport>,
}

// ANCHOR: group
/// `sh` with two background `sleep`s, ended by `terminate_all`.
pub fn group() -> Result<Group> {
    let mut manager = ProcessManager::new();
    let (sh, grandchildren) = start_sh(&mut manager, GRANDCHILDREN, 2)?;
    let before = os::live_group_members(sh);
    // Returns as soon as the whole group has ended.
    let reports = manager.terminate_all(Duration::from_secs(5));
    Ok(Group {
        sh,
        grandchildren,
        before,
        after: os::live_group_members(sh),
        reports,
    })
}
// ANCHOR_END: group

// ANCHOR: naive_kill
/// SIGKILL to `sh` alone, as `Child::kill` sends it: the grandchildren
/// still running afterwards.
pub fn naive_kill() -> Result<Vec<u32>> {
    let mut manager = ProcessManager::new();
    let (pid, _) = start_sh(&mut manager, GRANDCHILDREN, 2)?;
    let sh = Pid::from_raw(i32::try_from(pid)?);
    kill(sh, Signal::SIGKILL)
        .with_context(|| format!("killing sh (pid {pid})"))?;
    drop(manager.wait_all()); // reaps sh
    let alive = os::live_group_members(pid);
    // Clean up what this leaves behind: the orphans, still in sh's group.
    killpg(sh, Signal::SIGKILL).with_context(|| {
        format!("killing the orphaned sleeps {alive:?} (group {pid})")
    })?;
    Ok(alive)
}
// ANCHOR_END: naive_kill

/// Prints the statuses and the group members.
pub fn run(args: &Args) -> Result<()> {
    let alive = naive_kill()?;
    println!(
        "naive: SIGKILL to sh alone: {} grandchildren still running {alive:?}",
        alive.len()
    );
    println!("naive: killed them with killpg");
    let grace = Duration::from_millis(args.grace_ms);
    let (reports, took) = terminate(grace)?;
    let (ms, ok) = (took.as_millis(), took >= grace);
    println!(
        "terminate_all(grace {} ms) took {ms} ms (>= grace: {ok})",
        args.grace_ms
    );
    reports.iter().for_each(|r| println!("  {}", os::report_line(r)));
    let Group { sh, grandchildren, before, after, reports } = group()?;
    println!("sh pid {sh} started grandchildren {grandchildren:?}");
    println!("  live in its group: {before:?}");
    reports
        .iter()
        .for_each(|r| println!("  terminate_all: {}", os::report_line(r)));
    let gone = grandchildren.iter().all(|pid| !after.contains(pid));
    println!(
        "  live in its group after: {after:?} (grandchildren gone: {gone})"
    );
    println!(
        "notice: SIGTERM first, SIGKILL only after the grace, and to the \
         whole group:"
    );
    println!("notice: no grandchild is left running");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    /// SIGKILL to the child alone leaves its children running; the group
    /// signal of `terminate_all` ends them.
    #[test]
    fn grace_then_sigkill_and_the_group_signal_reaches_the_grandchildren() {
        let (reports, took) =
            terminate(Duration::from_millis(100)).expect("children run");
        let signals: Vec<_> = reports
            .iter()
            .map(|r| r.status.as_ref().ok().and_then(|s| s.signal()))
            .collect();
        assert_eq!(
            (signals, took >= Duration::from_millis(100)),
            (vec![Some(15), Some(9)], true)
        );
        let Group { sh, grandchildren, before, after, .. } =
            group().expect("sh runs");
        assert!(grandchildren
            .iter()
            .chain([&sh])
            .all(|pid| before.contains(pid)));
        assert!(after.is_empty(), "{after:?}");
        assert_eq!(naive_kill().expect("sh runs").len(), 2);
    }
}
