//! # `info`: what this process is, and what belongs to it
//!
//! Shows [`ProcessInfo`]: pid, parent pid, arguments, a few environment
//! variables, the current directory, and `set_current_dir` to a temporary
//! directory and back. Then what a process *is*: the threads of this process
//! all report its pid (each has its own thread id), while a child has a pid
//! of its own and this process as its parent.
//!
//! Arguments and environment variables are bytes on Unix, not always
//! UTF-8 (a file name from a Latin-1 system is enough). The common first
//! attempt, [`naive_args`], collects `std::env::args()` into `String`s,
//! which *panics* on such an argument; the demo shows it in a child (this
//! binary re-run as the hidden `args-child`, given the Latin-1 bytes of
//! "café"), and the same child with `ProcessInfo::args`, which converts
//! lossily. The working directory belongs to the whole process (every
//! thread), so this demo changes it only briefly and always changes it
//! back.
//!
//! Run: `cargo run -p examples-process -- info`

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::thread;

use std::process::Command;

use anyhow::{bail, Context, Result};
use ptm::process::{ProcessInfo, ProcessManager};

use crate::os;

/// Flags of the hidden `args-child` mode.
#[derive(Debug, Clone, clap::Args)]
pub struct ArgsChild {
    /// Collect the arguments with `std::env::args` (which panics on text
    /// that is not UTF-8), not with `ProcessInfo::args`.
    #[arg(long)]
    pub naive: bool,
    /// Arguments, which may be any bytes.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<OsString>,
}

// ANCHOR: naive_args
/// The common first attempt: every argument as a `String`.
pub fn naive_args() -> Vec<String> {
    std::env::args().collect() // panics on an argument that is not UTF-8
}
// ANCHOR_END: naive_args

/// The hidden `args-child` mode: prints its last argument, as
/// [`naive_args`] or `ProcessInfo::args` gives it.
///
/// # Errors
///
/// Never; it panics in naive mode, which is what it is there to show.
pub fn args_child(flags: &ArgsChild) -> Result<()> {
    let args = if flags.naive { naive_args() } else { ProcessInfo::args() };
    println!("{:?}", args.last().map_or("", String::as_str));
    Ok(())
}

/// What a child given the Latin-1 bytes of "café" as an argument did:
/// `(its exit code, what it printed)`: its stdout, or the message of its
/// panic.
///
/// # Errors
///
/// If this binary cannot be found or run.
pub fn args_in_a_child(naive: bool) -> Result<(Option<i32>, String)> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let mut cmd = Command::new(exe);
    cmd.arg("args-child").args(naive.then_some("--naive"));
    cmd.arg(OsString::from_vec(b"caf\xe9".to_vec())); // not UTF-8
    let out = cmd.output().context("running the args child")?;
    let (stdout, stderr) = (out.stdout.trim_ascii(), &out.stderr);
    let said = if stdout.is_empty() {
        // `thread 'main' (pid) panicked at file:line:col:`, then the message.
        let stderr = String::from_utf8_lossy(stderr);
        let mut lines = stderr.lines().skip_while(|l| !l.contains("panicked"));
        let message = lines.nth(1).unwrap_or("(no message)");
        format!("panicked: {message}")
    } else {
        String::from_utf8_lossy(stdout).into_owned()
    };
    Ok((out.status.code(), said))
}

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
    let out = ProcessManager::output("sh", &["-c", "echo $$ $PPID"])
        .context("running `sh`")?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<Vec<u32>, _>>()
    {
        Ok(ids) if ids.len() == 2 => Ok((ids[0], ids[1])),
        _ => bail!("`sh -c 'echo $$ $PPID'` printed {text:?}, not two pids"),
    }
}
// ANCHOR_END: child_ids

/// Changes to a fresh temporary directory and back: `(before, inside, after)`.
/// The directory is new and private, and removed after.
pub fn cd_round_trip() -> Result<(PathBuf, PathBuf, PathBuf)> {
    let before = ProcessInfo::current_dir()?;
    let dir = crate::os::new_private_dir("ptm-info-")?;
    let inside = ProcessInfo::set_current_dir(dir.path())
        .and_then(|()| ProcessInfo::current_dir());
    // Back first, whatever happened inside; then remove it, whatever happened.
    let back = ProcessInfo::set_current_dir(&before);
    let removed = dir.close().context("removing the temporary directory");
    back?;
    removed?;
    let after = ProcessInfo::current_dir()?;
    Ok((before, inside?, after))
}

/// Prints each value.
pub fn run() -> Result<()> {
    println!("pid {}, parent pid {}", ProcessInfo::pid(), ProcessInfo::ppid());
    println!("args {:?}", ProcessInfo::args());
    let (code, line) = args_in_a_child(true)?;
    let code = code.map_or("no exit code".to_owned(), |c| c.to_string());
    os::say(
        "naive args:",
        &format!("a child given b\"caf\\xe9\": exit code {code}: {line}"),
    );
    let (code, line) = args_in_a_child(false)?;
    let code = code.map_or("no exit code".to_owned(), |c| c.to_string());
    println!("ProcessInfo::args in the same child: exit code {code}: {line}");
    let vars = ProcessInfo::env_vars();
    println!("environment: {} variables", vars.len());
    for name in ["HOME", "USER", "LANG"] {
        let value = vars
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str());
        println!("  {name} = {}", value.unwrap_or("(not set)"));
    }
    let (before, inside, after) = cd_round_trip()?;
    let (back, before, inside) =
        (before == after, before.display(), inside.display());
    println!("current dir {before}; changed to {inside} and back: {back}");
    let ids = thread_ids(2)?;
    for (index, (pid, tid)) in ids.iter().enumerate() {
        println!("thread {index}: pid {pid}, thread id {tid}");
    }
    let same_pid = ids.iter().all(|&(pid, _)| pid == ProcessInfo::pid());
    println!(
        "all {} threads share pid {}: {same_pid}",
        ids.len(),
        ProcessInfo::pid()
    );
    let (child, parent) = child_ids()?;
    let ours = parent == ProcessInfo::pid();
    println!(
        "child sh: pid {child} (its own), parent pid {parent} (this \
         process: {ours})"
    );
    println!(
        "notice: every thread reports this process's pid, a child has its own;"
    );
    println!("notice: arguments need not be UTF-8");
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
