//! Helpers shared by the demos (not a demo): what `/proc` says about a
//! process (Linux), waiting for a child's exit without reaping it, and
//! naming how a process ended.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use ptm::process::ExitReport;

/// The fields of `/proc/<pid>/stat` the demos need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// `R` running, `S` sleeping, `Z` zombie (exited, not yet reaped), ...
    pub state: char,
    /// The parent's pid.
    pub ppid: u32,
    /// The process group id.
    pub pgrp: u32,
}

/// What `/proc/<pid>/stat` says, or `None` if there is no such process.
pub fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid pgrp ...`: comm may hold spaces and `)`.
    let mut fields = text.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some(Stat { state, ppid, pgrp })
}

/// The pids of the processes in group `pgid` that are alive (not zombies),
/// sorted.
pub fn live_group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&pid| stat(pid).is_some_and(|s| s.pgrp == pgid && !matches!(s.state, 'Z' | 'X')))
        .collect();
    pids.sort_unstable();
    pids
}

/// `pid` as nix wants it.
fn nix_pid(pid: u32) -> Result<Pid> {
    Ok(Pid::from_raw(i32::try_from(pid).with_context(|| format!("pid {pid} out of range"))?))
}

/// Blocks until child `pid` has exited, without reaping it
/// (`waitid(WEXITED | WNOWAIT)`): it stays a zombie for the caller to see.
pub fn wait_exited_unreaped(pid: u32) -> Result<()> {
    let pid_t = nix_pid(pid)?;
    loop {
        match waitid(Id::Pid(pid_t), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) {
            Err(Errno::EINTR) => continue,
            other => {
                other.with_context(|| format!("waiting for pid {pid} to exit"))?;
                return Ok(());
            }
        }
    }
}

/// Reaps child `pid` (`waitpid`), blocking until it has exited.
pub fn reap(pid: u32) -> Result<WaitStatus> {
    let pid_t = nix_pid(pid)?;
    loop {
        match waitpid(pid_t, None) {
            Err(Errno::EINTR) => continue,
            other => return other.with_context(|| format!("reaping pid {pid}")),
        }
    }
}

/// `exit code 3` or `signal 15 (SIGTERM)`.
pub fn describe(status: &ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(number)) => format!("signal {number} ({})", signal_name(number)),
        (None, None) => status.to_string(),
    }
}

/// `pid 12 sh: signal 9 (SIGKILL)`, or the error that stands for the status.
pub fn report_line(report: &ExitReport) -> String {
    let status = report.status.as_ref().map_or_else(|e| e.to_string(), describe);
    format!("pid {} {}: {status}", report.pid, report.program)
}

/// `SIGTERM` for 15; `signal N` for a number nix does not know.
pub fn signal_name(number: i32) -> String {
    Signal::try_from(number).map_or_else(|_| format!("signal {number}"), |s| s.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_of_this_process() {
        let me = stat(std::process::id()).expect("this process is in /proc");
        assert_eq!(me.ppid, std::os::unix::process::parent_id());
        assert!(live_group_members(me.pgrp).contains(&std::process::id()));
    }

    #[test]
    fn describes_codes_and_signals() {
        assert_eq!(describe(&ExitStatus::from_raw(3 << 8)), "exit code 3");
        assert_eq!(describe(&ExitStatus::from_raw(15)), "signal 15 (SIGTERM)");
        assert_eq!(signal_name(9), "SIGKILL");
    }
}
