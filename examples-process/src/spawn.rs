//! # `spawn`: start children, capture output, wait for them, kill and reap
//!
//! Grows from the smallest program to [`ProcessManager`], one step at a
//! time:
//!
//! 1. [`status`]: `Command::status` runs one child and waits for it.
//! 2. [`wait_some`]: several children through `ProcessManager`; `wait_all`
//!    gives one report per child, with its pid and program.
//! 3. `ProcessManager::output`: stdout captured; a failing command is an
//!    `Error::Exit` naming the program, its arguments, its status and the
//!    end of its stderr.
//! 4. [`naive_kill_all`], the common first attempt at "kill them all":
//!    `Child::kill`, then drop. `kill` only sends SIGKILL and dropping a
//!    `Child` does not wait, so the child stays a zombie (state `Z` in
//!    `/proc`) for the life of the parent; shown, then reaped.
//!    [`kill_sleepers`]: `kill_all` leaves no zombie.
//! 5. [`naive_wait_for_all`], the common first attempt at "wait for them
//!    all": it keeps the statuses of the waits that worked, so after a
//!    child was reaped elsewhere (shown) the list is shorter and no longer
//!    says whose status is whose. [`wait_after_a_reap_elsewhere`]: the
//!    same through `wait_all`, every report named.
//!
//! Run: `cargo run -p examples-process -- spawn`

use std::process::{Child, Command, ExitStatus, Stdio};

use anyhow::{Context, Result};
use ptm::process::{ExitReport, ProcessManager};

use crate::os;

// ANCHOR: status
/// Runs `sh -c 'exit 3'` and waits for it.
pub fn status() -> std::io::Result<ExitStatus> {
    Command::new("sh").args(["-c", "exit 3"]).status()
}
// ANCHOR_END: status

// ANCHOR: wait_some
/// Spawns `true`, `false`, `sh -c 'exit 3'` and `sleep 0.05`, then waits
/// for all of them.
pub fn wait_some() -> ptm::Result<Vec<ExitReport>> {
    let mut manager = ProcessManager::new();
    manager.spawn("true", &[])?;
    manager.spawn("false", &[])?;
    manager.spawn("sh", &["-c", "exit 3"])?;
    manager.spawn("sleep", &["0.05"])?;
    Ok(manager.wait_all())
}
// ANCHOR_END: wait_some

// ANCHOR: naive_kill_all
/// The common first attempt: `Child::kill`, then drop. Returns the child's
/// pid and its `/proc` state once it has died (a zombie), then reaps it.
pub fn naive_kill_all() -> Result<(u32, Option<char>)> {
    let mut sleep = Command::new("sleep");
    sleep.arg("1000").stdin(Stdio::null());
    let mut children: Vec<Child> = vec![sleep.spawn().context("spawning")?];
    let pid = children[0].id();
    for child in &mut children {
        let _ = child.kill(); // sends SIGKILL, waits for nothing
    }
    children.clear(); // dropping a `Child` does not wait either
    os::wait_exited_unreaped(pid)?; // dead, but not reaped: a zombie
    let state = os::stat(pid).map(|s| s.state);
    os::reap(pid)?; // clean up what the first attempt leaves behind
    Ok((pid, state))
}
// ANCHOR_END: naive_kill_all

// ANCHOR: kill_sleepers
/// Starts `n` × `sleep 1000`, kills them all; returns the reports and how
/// many of them are still children of this process afterwards (zombies).
pub fn kill_sleepers(n: usize) -> Result<(Vec<ExitReport>, usize)> {
    let mut manager = ProcessManager::new();
    for _ in 0..n {
        manager.spawn("sleep", &["1000"]).context("spawning `sleep`")?;
    }
    let reports = manager.kill_all();
    let me = std::process::id();
    let ours = |pid| os::stat(pid).is_some_and(|s| s.ppid == me);
    let left = reports.iter().filter(|r| ours(r.pid)).count();
    Ok((reports, left))
}
// ANCHOR_END: kill_sleepers

// ANCHOR: naive_wait_for_all
/// The common first attempt: the status of every wait that worked.
pub fn naive_wait_for_all(children: &mut Vec<Child>) -> Vec<ExitStatus> {
    let mut statuses = Vec::new();
    for child in children.iter_mut() {
        if let Ok(status) = child.wait() {
            statuses.push(status);
        }
    }
    children.clear();
    statuses
}
// ANCHOR_END: naive_wait_for_all

/// The three programs of [`naive_wait_lost`] and
/// [`wait_after_a_reap_elsewhere`]: the first is reaped elsewhere.
const THREE: [(&str, &[&str]); 3] =
    [("true", &[]), ("false", &[]), ("sh", &["-c", "exit 3"])];

// ANCHOR: naive_wait_lost
/// `true`, `false` and `sh -c 'exit 3'`; `true` is reaped elsewhere (as a
/// `waitpid(-1)` in a library would); then [`naive_wait_for_all`].
pub fn naive_wait_lost() -> Result<Vec<ExitStatus>> {
    let mut children = Vec::new();
    for (program, args) in THREE {
        let child = Command::new(program).args(args).spawn();
        children.push(child.with_context(|| format!("spawning {program}"))?);
    }
    os::reap(children[0].id())?; // behind the `Child`'s back
    Ok(naive_wait_for_all(&mut children))
}
// ANCHOR_END: naive_wait_lost

// ANCHOR: wait_after_a_reap_elsewhere
/// The same through `ProcessManager`: one report per child, named.
pub fn wait_after_a_reap_elsewhere() -> Result<Vec<ExitReport>> {
    let mut manager = ProcessManager::new();
    let mut pids = Vec::new();
    for (program, args) in THREE {
        pids.push(manager.spawn(program, args)?);
    }
    os::reap(pids[0])?; // behind the manager's back
    Ok(manager.wait_all())
}
// ANCHOR_END: wait_after_a_reap_elsewhere

/// Prints each step's values.
pub fn run() -> Result<()> {
    let status = status().context("running `sh -c 'exit 3'`")?;
    println!("Command::status: sh -c 'exit 3' -> {}", os::describe(&status));
    for report in wait_some()? {
        os::say("wait_all:", &os::report_line(&report));
    }
    let out = ProcessManager::output("echo", &["hello from a child"])
        .context("running `echo`")?;
    println!("output: stdout = {:?}", String::from_utf8_lossy(&out.stdout));
    let script = "echo 'backup failed: disk full' >&2; exit 3";
    match ProcessManager::output("sh", &["-c", script]) {
        Err(e @ ptm::Error::Exit { .. }) => {
            // the command on a line of its own, then why it failed
            let text = e.to_string();
            match text.split_once("` ") {
                Some((command, why)) => {
                    println!("output error: {command}`");
                    os::say("output error:  ", why);
                }
                None => os::say("output error:", &text),
            }
        }
        other => anyhow::bail!("expected `sh -c ...` to fail, got {other:?}"),
    }
    if let Err(e) = ProcessManager::new().spawn("no-such-program-ptm", &[]) {
        os::say("spawn error:", &e.to_string());
    }
    let (pid, state) = naive_kill_all()?;
    let state = state.map_or_else(|| "gone".to_owned(), |s| s.to_string());
    println!(
        "naive kill_all: after kill + drop, pid {pid} is in state {state} \
         (Z = zombie)"
    );
    println!("naive kill_all: reaped it here");
    let (reports, left) = kill_sleepers(3)?;
    for report in &reports {
        println!("kill_all: {}", os::report_line(report));
    }
    println!("kill_all: {} children killed and reaped", reports.len());
    println!("kill_all: still our children (zombie or running): {left}");
    let statuses: Vec<String> =
        naive_wait_lost()?.iter().map(os::describe).collect();
    println!(
        "naive wait_for_all: 3 children (true, false, sh), the first reaped \
         elsewhere:"
    );
    println!(
        "naive wait_for_all: {} statuses [{}], whose?",
        statuses.len(),
        statuses.join(", ")
    );
    for report in wait_after_a_reap_elsewhere()? {
        os::say("wait_all:", &os::report_line(&report));
    }
    println!(
        "notice: every status comes with its pid and program, none is left \
         a zombie;"
    );
    println!("notice: kill + drop leaves one");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_waits_for_the_child() {
        assert_eq!(status().expect("sh runs").code(), Some(3));
    }

    #[test]
    fn wait_all_reports_each_child_with_its_status() {
        let reports = wait_some().expect("coreutils run");
        let codes: Vec<_> = reports
            .iter()
            .map(|r| r.status.as_ref().ok().and_then(|s| s.code()))
            .collect();
        assert_eq!(codes, [Some(0), Some(1), Some(3), Some(0)]);
        assert_eq!(reports[2].program, "sh");
    }

    #[test]
    fn kill_all_leaves_no_zombie_where_kill_then_drop_leaves_one() {
        let (reports, left) = kill_sleepers(2).expect("sleep runs");
        assert_eq!((reports.len(), left), (2, 0));
        assert_eq!(naive_kill_all().expect("sleep runs").1, Some('Z'));
    }

    #[test]
    fn a_status_lost_elsewhere_shifts_the_naive_list_but_is_named_by_ptm() {
        let codes: Vec<_> = naive_wait_lost()
            .expect("coreutils run")
            .iter()
            .map(ExitStatus::code)
            .collect();
        // Two statuses for three children: the first is `false`'s.
        assert_eq!(codes, [Some(1), Some(3)]);
        let reports = wait_after_a_reap_elsewhere().expect("coreutils run");
        let programs: Vec<_> =
            reports.iter().map(|r| r.program.as_str()).collect();
        assert_eq!(programs, ["true", "false", "sh"]);
        assert!(reports[0].status.is_err(), "{}", reports[0]);
        assert_eq!(
            reports[2].status.as_ref().ok().and_then(|s| s.code()),
            Some(3)
        );
    }
}
