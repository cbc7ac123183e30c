//! # `info`: what this process is, and what belongs to it
//!
//! Shows [`ProcessInfo`]: pid, parent pid, arguments, a few environment
//! variables, the current directory, and `set_current_dir` to a temporary
//! directory and back. Then what a process *is*: the threads of this process
//! all report its pid (each has its own thread id), while a child has a pid
//! of its own and this process as its parent.
//!
//! Seed: `process-and-thread-management.md`, "Process Information and
//! Control", "What Are Processes and Threads?"; `processes-threads-and-containers.md`,
//! "Processes" and "Threads".
//!
//! Run: `cargo run -p examples-process -- info`
//!
//! What the seed got wrong: its `get_args` and `get_env_vars` use
//! `env::args` and `env::vars`, which panic on an argument or variable that is
//! not valid UTF-8; its errors are strings that lose the `io::ErrorKind` and
//! do not say which directory failed. `ProcessInfo::args`/`env_vars` convert
//! lossily, and its errors keep the kind and name the path. The working
//! directory belongs to the whole process (every thread), so this demo
//! changes it only briefly and always changes it back.

use std::path::PathBuf;
use std::thread;

use anyhow::{bail, Context, Result};
use ptm::process::{ProcessInfo, ProcessManager};

// ANCHOR: thread_ids
/// `(pid, thread id)` as seen from the calling thread and from `n` more
/// threads, all alive at once (each waits at a gate until every one has
/// reported), so no thread id can be reused.
///
/// # Errors
///
/// If the OS refuses a thread; the threads already started are released.
pub fn thread_ids(n: usize) -> Result<Vec<(u32, i32)>> {
    let here = || (ProcessInfo::pid(), nix::unistd::gettid().as_raw());
    let (ids_tx, ids) = crossbeam_channel::unbounded();
    // Dropping `gate` opens it; it moves into the scope's closure, so an
    // early return (`?`) opens it too before the scope joins the threads.
    let (gate, gate_rx) = crossbeam_channel::bounded::<()>(0);
    thread::scope(move |scope| {
        for i in 0..n {
            let (ids_tx, gate_rx) = (ids_tx.clone(), gate_rx.clone());
            let report_then_wait = move || {
                let _ = ids_tx.send(here()); // `ids` outlives the threads
                let _ = gate_rx.recv(); // `Err` once `gate` is dropped
            };
            thread::Builder::new()
                .name(format!("info-{i}"))
                .spawn_scoped(scope, report_then_wait)
                .with_context(|| format!("spawning thread {i} of {n}"))?;
        }
        drop(ids_tx); // the iterator below ends if every thread has gone
        let ids = std::iter::once(here()).chain(ids.iter().take(n)).collect();
        drop(gate);
        Ok(ids)
    })
}
// ANCHOR_END: thread_ids

// ANCHOR: child_ids
/// A child's own view: `(its pid, its parent's pid)`, printed by `sh`.
pub fn child_ids() -> Result<(u32, u32)> {
    let out = ProcessManager::output("sh", &["-c", "echo $$ $PPID"]).context("running `sh`")?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.split_whitespace().map(str::parse).collect::<Result<Vec<u32>, _>>() {
        Ok(ids) if ids.len() == 2 => Ok((ids[0], ids[1])),
        _ => bail!("`sh -c 'echo $$ $PPID'` printed {text:?}, not two pids"),
    }
}
// ANCHOR_END: child_ids

/// Changes to a fresh temporary directory and back: `(before, inside, after)`.
/// The directory is new and private, and removed after.
pub fn cd_round_trip() -> Result<(PathBuf, PathBuf, PathBuf)> {
    let before = ProcessInfo::current_dir()?;
    let dir = crate::os::new_private_dir("ptm-info")?;
    let inside = ProcessInfo::set_current_dir(&dir).and_then(|()| ProcessInfo::current_dir());
    // Back first, whatever happened inside; then remove it, whatever happened.
    let back = ProcessInfo::set_current_dir(&before);
    let removed = std::fs::remove_dir(&dir).with_context(|| format!("removing {}", dir.display()));
    back?;
    removed?;
    let after = ProcessInfo::current_dir()?;
    Ok((before, inside?, after))
}

/// Prints each value.
pub fn run() -> Result<()> {
    println!("pid {}, parent pid {}", ProcessInfo::pid(), ProcessInfo::ppid());
    println!("args {:?}", ProcessInfo::args());
    let vars = ProcessInfo::env_vars();
    println!("environment: {} variables", vars.len());
    for name in ["HOME", "USER", "LANG"] {
        let value = vars.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
        println!("  {name} = {}", value.unwrap_or("(not set)"));
    }
    let (before, inside, after) = cd_round_trip()?;
    let (back, before, inside) = (before == after, before.display(), inside.display());
    println!("current dir {before}; changed to {inside} and back: {back}");
    let ids = thread_ids(2)?;
    for (index, (pid, tid)) in ids.iter().enumerate() {
        println!("thread {index}: pid {pid}, thread id {tid}");
    }
    let same_pid = ids.iter().all(|&(pid, _)| pid == ProcessInfo::pid());
    println!("all {} threads share pid {}: {same_pid}", ids.len(), ProcessInfo::pid());
    let (child, parent) = child_ids()?;
    let ours = parent == ProcessInfo::pid();
    println!("child sh: pid {child} (its own), parent pid {parent} (this process: {ours})");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_share_the_pid_but_not_the_thread_id() {
        let ids = thread_ids(3).expect("the OS starts 3 threads");
        assert_eq!(ids.len(), 4);
        assert!(ids.iter().all(|&(pid, _)| pid == std::process::id()));
        let mut tids: Vec<_> = ids.iter().map(|&(_, tid)| tid).collect();
        tids.sort_unstable();
        tids.dedup();
        assert_eq!(tids.len(), 4);
    }

    #[test]
    fn a_child_has_its_own_pid_and_this_process_as_parent() {
        let (child, parent) = child_ids().expect("sh runs");
        assert_ne!(child, std::process::id());
        assert_eq!(parent, std::process::id());
    }
}
