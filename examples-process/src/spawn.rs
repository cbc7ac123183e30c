//! # `spawn`: start children, capture output, wait for them, kill and reap them
//!
//! Shows [`ProcessManager`]: `spawn` a few children and `wait_all` for them
//! (each report keeps its pid and program), `ProcessManager::output` (stdout
//! captured; a failing command is an `Error::Exit` naming the program, its
//! arguments, its status and the end of its stderr), and `kill_all` of
//! `sleep 1000` children, after which none is left in `/proc`.
//!
//! Seed: `process-and-thread-management.md`, "Process Creation and Control".
//!
//! Run: `cargo run -p examples-process -- spawn`
//!
//! What the seed got wrong: its `kill_all` calls `Child::kill` and then clears
//! its `Vec<Child>`. `kill` only sends SIGKILL, and dropping a `Child` does not
//! wait for it, so every killed child stays a zombie (state `Z`) for the life
//! of the parent. The demo runs that code and shows the zombie (then reaps
//! it). Its `wait_for_all` also drops failed waits and returns statuses that
//! no longer say whose they are, and its errors are bare stderr text.
//! `ProcessManager::kill_all` signals each child's process group and reaps
//! it; `ExitReport` carries pid, program and status.

use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use ptm::process::{ExitReport, ProcessManager};

use crate::os;

// ANCHOR: wait_some
/// Spawns `true`, `false`, `sh -c 'exit 3'` and `sleep 0.05`, then waits for all.
pub fn wait_some() -> Result<Vec<ExitReport>> {
    let mut manager = ProcessManager::new();
    for (program, args) in
        [("true", &[][..]), ("false", &[]), ("sh", &["-c", "exit 3"]), ("sleep", &["0.05"])]
    {
        manager.spawn(program, args).with_context(|| format!("spawning `{program}`"))?;
    }
    Ok(manager.wait_all())
}
// ANCHOR_END: wait_some

// ANCHOR: kill_sleepers
/// Starts `n` × `sleep 1000`, kills them all; returns the reports and how
/// many of them are still children of this process afterwards (zombies).
pub fn kill_sleepers(n: usize) -> Result<(Vec<ExitReport>, usize)> {
    let mut manager = ProcessManager::new();
    for _ in 0..n {
        manager.spawn("sleep", &["1000"]).context("spawning `sleep 1000`")?;
    }
    let reports = manager.kill_all();
    let ours = |pid| os::stat(pid).is_some_and(|s| s.ppid == std::process::id());
    let left = reports.iter().filter(|r| ours(r.pid)).count();
    Ok((reports, left))
}
// ANCHOR_END: kill_sleepers

// ANCHOR: seed_kill_all
/// The seed's `kill_all`: `Child::kill`, then drop. Returns the child's pid
/// and its `/proc` state once it has died (a zombie), then reaps it.
pub fn seed_kill_all() -> Result<(u32, Option<char>)> {
    let mut cmd = Command::new("sleep");
    let child = cmd.arg("1000").stdin(Stdio::null()).spawn().context("spawning `sleep 1000`")?;
    // Killed and reaped if `kill` fails: `?` does not leave it running.
    let mut child = os::ChildGuard::new(child);
    let pid = child.id();
    child.kill().with_context(|| format!("killing pid {pid}"))?;
    drop(child.into_inner()); // what `processes.clear()` does: no wait
    let exited = os::wait_exited_unreaped(pid);
    let state = os::stat(pid).map(|s| s.state);
    // Clean up what the seed leaves behind: reap the zombie.
    os::reap(pid)?;
    exited?;
    Ok((pid, state))
}
// ANCHOR_END: seed_kill_all

/// Prints each step's values.
pub fn run() -> Result<()> {
    for report in wait_some()? {
        println!("wait_all: {}", os::report_line(&report));
    }
    let out = ProcessManager::output("echo", &["hello from a child"]).context("running `echo`")?;
    println!("output: stdout = {:?}", String::from_utf8_lossy(&out.stdout));
    match ProcessManager::output("sh", &["-c", "echo 'backup failed: disk full' >&2; exit 3"]) {
        Err(e @ ptm::Error::Exit { .. }) => println!("output error: {e}"),
        other => anyhow::bail!("expected `sh -c ... exit 3` to fail, got {other:?}"),
    }
    if let Err(e) = ProcessManager::new().spawn("no-such-program-ptm", &[]) {
        println!("spawn error: {e}");
    }
    let (reports, left) = kill_sleepers(3)?;
    for report in &reports {
        println!("kill_all: {}", os::report_line(report));
    }
    println!(
        "kill_all: {} children killed and reaped; still our children (zombie or running): {left}",
        reports.len()
    );
    let (pid, state) = seed_kill_all()?;
    let state = state.map_or_else(|| "gone".to_owned(), |s| s.to_string());
    println!("seed's kill_all: pid {pid} is in state {state} (Z = zombie) after kill + drop; reaped it here");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_all_reports_each_child_with_its_status() {
        let reports = wait_some().expect("coreutils run");
        let codes: Vec<_> =
            reports.iter().map(|r| r.status.as_ref().ok().and_then(|s| s.code())).collect();
        assert_eq!(codes, [Some(0), Some(1), Some(3), Some(0)]);
        assert_eq!(reports[2].program, "sh");
    }

    /// Seed "Process Creation and Control": `kill_all` left zombies.
    #[test]
    fn kill_all_leaves_no_zombie_but_the_seeds_does() {
        let (reports, left) = kill_sleepers(2).expect("sleep runs");
        assert_eq!((reports.len(), left), (2, 0));
        assert_eq!(seed_kill_all().expect("sleep runs").1, Some('Z'));
    }
}
