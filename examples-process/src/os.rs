//! Helpers shared by the demos (not a demo): what `/proc` says about a
//! process (Linux), waiting for a child's exit without reaping it, naming
//! how a process ended, a guard that kills and reaps a raw `Child`, and a
//! private temporary directory, and lines wrapped to the book's 80 columns.

use std::fs::Permissions;
use std::ops::{Deref, DerefMut};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use ptm::process::ExitReport;
use tempfile::TempDir;

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
        .filter(|&pid| {
            stat(pid).is_some_and(|s| {
                s.pgrp == pgid && !matches!(s.state, 'Z' | 'X')
            })
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// `pid` as nix wants it.
fn nix_pid(pid: u32) -> Result<Pid> {
    Ok(Pid::from_raw(
        i32::try_from(pid)
            .with_context(|| format!("pid {pid} out of range"))?,
    ))
}

/// Blocks until child `pid` has exited, without reaping it
/// (`waitid(WEXITED | WNOWAIT)`): it stays a zombie for the caller to see.
pub fn wait_exited_unreaped(pid: u32) -> Result<()> {
    let pid_t = nix_pid(pid)?;
    loop {
        match waitid(
            Id::Pid(pid_t),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
        ) {
            Err(Errno::EINTR) => continue,
            other => {
                other.with_context(|| {
                    format!("waiting for pid {pid} to exit")
                })?;
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
            other => {
                return other.with_context(|| format!("reaping pid {pid}"))
            }
        }
    }
}

/// A `std::process::Child` that is killed and reaped when dropped, unless it
/// was waited for already: a step that fails (`?`) leaves no child running
/// or unreaped. A kill that fails is reported on stderr, and then the guard
/// does not wait (that could block for ever).
#[derive(Debug)]
pub struct ChildGuard(Option<Child>);

impl ChildGuard {
    /// Guards `child`.
    pub fn new(child: Child) -> ChildGuard {
        ChildGuard(Some(child))
    }
}

impl Deref for ChildGuard {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("a ChildGuard holds its child"))
    }
}

impl DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Child {
        self.0
            .as_mut()
            .unwrap_or_else(|| unreachable!("a ChildGuard holds its child"))
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let Some(child) = self.0.as_mut() else { return };
        if let Ok(Some(_)) = child.try_wait() {
            return; // already reaped
        }
        let pid = child.id();
        match child.kill() {
            Err(e) => eprintln!(
                "warning: could not kill child pid {pid} ({e}); left running"
            ),
            Ok(()) => {
                if let Err(e) = child.wait() {
                    eprintln!("warning: could not reap child pid {pid}: {e}");
                }
            }
        }
    }
}

/// A new directory `<temp dir>/<prefix><6 random characters>`, mode 0700,
/// removed when the `TempDir` is dropped (on a panic too). tempfile makes it
/// with `mkdir`, which fails on anything already there, a symlink included,
/// so no other user can hand us a directory of theirs; it then tries
/// another name. The mode is set here because tempfile's own is the umask's
/// (0755 under the usual 022), which would let every user look inside.
pub fn new_private_dir(prefix: &str) -> Result<TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(Permissions::from_mode(0o700))
        .tempdir()
        .with_context(|| format!("creating a temporary directory {prefix}*"))
}

/// `exit code 3` or `signal 15 (SIGTERM)`.
pub fn describe(status: &ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(number)) => {
            format!("signal {number} ({})", signal_name(number))
        }
        (None, None) => status.to_string(),
    }
}

/// `pid 12 sh: signal 9 (SIGKILL)`, or the error that stands for the status.
pub fn report_line(report: &ExitReport) -> String {
    let status =
        report.status.as_ref().map_or_else(|e| e.to_string(), describe);
    format!("pid {} {}: {status}", report.pid, report.program)
}

/// `SIGTERM` for 15; `signal N` for a number nix does not know.
pub fn signal_name(number: i32) -> String {
    Signal::try_from(number)
        .map_or_else(|_| format!("signal {number}"), |s| s.as_str().to_owned())
}

/// The widest line a demo prints: what the book's page shows unclipped.
pub const COLUMNS: usize = 80;

/// Numbers count as at least this many digits (a pid has at most 7) when
/// [`wrap`] measures a line, so a line breaks at the same word whatever the
/// pids of the run.
const NUMBER_WIDTH: usize = 7;

/// The columns `text` may need: its own, with every run of digits counted
/// as at least [`NUMBER_WIDTH`] digits.
fn widest(text: &str) -> usize {
    let (mut width, mut digits) = (0, 0);
    for c in text.chars().chain([' ']) {
        if c.is_ascii_digit() {
            digits += 1;
            continue;
        }
        if digits > 0 {
            width += digits.max(NUMBER_WIDTH);
            digits = 0;
        }
        width += 1;
    }
    width - 1
}

/// `prefix text` broken at spaces into lines of at most [`COLUMNS`]
/// columns; every line starts with `prefix`, the ones after the first
/// indented by two more spaces. Where the lines break does not depend on
/// how many digits the numbers have (up to 7), so a run with other pids
/// prints the same lines. A word too long for a line gets one of its own.
pub fn wrap(prefix: &str, text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = prefix.to_owned();
    let mut empty = true;
    for word in text.split(' ').filter(|word| !word.is_empty()) {
        if !empty && widest(&line) + 1 + widest(word) > COLUMNS {
            lines.push(std::mem::replace(&mut line, format!("{prefix}  ")));
        }
        line.push(' ');
        line.push_str(word);
        empty = false;
    }
    lines.push(line);
    lines
}

/// Prints [`wrap`]'s lines.
pub fn say(prefix: &str, text: &str) {
    for line in wrap(prefix, text) {
        println!("{line}");
    }
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
    fn a_dropped_guard_kills_and_reaps_its_child() {
        let child = std::process::Command::new("sleep")
            .arg("1000")
            .spawn()
            .expect("sleep runs");
        let pid = child.id();
        drop(ChildGuard::new(child));
        let ours = stat(pid).is_some_and(|s| s.ppid == std::process::id());
        assert!(!ours, "pid {pid} is gone: neither running nor a zombie");
    }

    #[test]
    fn a_private_dir_is_new_0700_and_removed_when_dropped() {
        let [first, second] = ["ptm-test-info-"; 2]
            .map(|prefix| new_private_dir(prefix).expect("a new directory"));
        assert_ne!(first.path(), second.path());
        let mode = std::fs::metadata(first.path())
            .expect("it exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        let path = first.path().to_owned();
        drop(first);
        assert!(!path.exists(), "{} is removed", path.display());
    }

    #[test]
    fn describes_codes_and_signals() {
        assert_eq!(describe(&ExitStatus::from_raw(3 << 8)), "exit code 3");
        assert_eq!(describe(&ExitStatus::from_raw(15)), "signal 15 (SIGTERM)");
        assert_eq!(signal_name(9), "SIGKILL");
    }

    #[test]
    fn wraps_at_80_columns_with_the_prefix() {
        assert_eq!(wrap("a:", "b c"), ["a: b c"]);
        let text = "word ".repeat(40);
        let lines = wrap("wait_all:", &text);
        assert!(lines.len() > 2, "{lines:?}");
        assert!(lines.iter().all(|l| l.chars().count() <= COLUMNS));
        assert!(lines.iter().all(|l| l.starts_with("wait_all: ")));
        assert!(lines[1].starts_with("wait_all:   word"));
        let words: usize = lines
            .iter()
            .map(|l| l.split(' ').filter(|w| *w == "word").count())
            .sum();
        assert_eq!(words, 40);
        // pids of 1 and of 7 digits break at the same word
        let text = "was reaped by something else (SIGCHLD ignored, or a wait";
        let [short, long] = ["1", "1234567"].map(|pid| {
            wrap(
                "wait_all:",
                &format!("pid {pid} true: `true` (pid {pid}) {text}"),
            )
        });
        assert_eq!(short.len(), long.len());
        assert_eq!(short[1], long[1]);
        assert!(long.iter().all(|l| l.chars().count() <= COLUMNS), "{long:?}");
        assert_eq!(widest("a 12 b"), 11);
        let long = "x".repeat(90);
        assert_eq!(
            wrap("p:", &format!("a {long}")),
            ["p: a".to_owned(), format!("p:   {long}")]
        );
    }
}
