//! # `container`: a command in its own PID, UTS, mount and IPC namespaces
//!
//! Shows `ptm::isolate::Container`: a container is a process the OS
//! isolates further, through namespaces. A shell runs in new namespaces
//! under ptm's init (pid 1, which reaps orphans) and prints what it sees:
//! its parent is pid 1, `/proc` lists only the container's processes, and
//! its hostname is its own while the host's is unchanged. Needs root
//! (`CAP_SYS_ADMIN`); without it the demo prints the error ptm gives,
//! which says what is missing.
//!
//! It is often said that a container gets a file system of its own.
//! Namespaces create nothing by themselves, and this container shows it:
//! its mount namespace starts as a copy of the host's, so it reads (and
//! could write) the host's own files, a file this demo wrote just before
//! included; only mounts made inside stay inside, and `/proc` is mounted
//! afresh for its PID namespace. It shares the host's network too (no
//! network namespace). A file system of its own is a separate step (an
//! image unpacked and `pivot_root`), as are a network namespace and
//! resource limits.
//!
//! Run: `cargo run -p examples-process -- container` (as root).

use std::fs;

use anyhow::{Context, Result};
use ptm::isolate::Container;
use ptm::Error;

// ANCHOR: script
/// The shell run in the container: the pids in its `/proc` (listed by the
/// shell itself, so no extra process shows), its own pid and parent, the
/// hostname, and the file named by its first argument.
const SCRIPT: &str = r#"printf 'procs'
for p in /proc/[0-9]*; do printf ' %s' "${p#/proc/}"; done; echo
echo "me $$ $PPID"
echo "host $(cat /proc/sys/kernel/hostname)"
echo "file $(cat "$1")""#;
// ANCHOR_END: script

/// What the container reported.
#[derive(Debug, PartialEq)]
pub struct Seen {
    /// The pids its `/proc` lists.
    pub procs: Vec<u32>,
    /// The shell's pid, inside.
    pub pid: u32,
    /// The shell's parent's pid, inside (ptm's init: 1).
    pub parent: u32,
    /// The hostname inside.
    pub hostname: String,
    /// What the host's file read inside.
    pub file: String,
}

/// Parses the script's four lines.
fn parse(stdout: &str) -> Option<Seen> {
    let mut lines = stdout.lines();
    let procs = lines.next()?.strip_prefix("procs")?;
    let procs = procs
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let mut me = lines.next()?.strip_prefix("me ")?.split(' ').map(str::parse);
    let (pid, parent) = (me.next()?.ok()?, me.next()?.ok()?);
    let hostname = lines.next()?.strip_prefix("host ")?.to_owned();
    let file = lines.next()?.strip_prefix("file ")?.to_owned();
    Some(Seen { procs, pid, parent, hostname, file })
}

// ANCHOR: look_inside
/// Runs the script in a container named `hostname`, with the path of one
/// of the host's files as its argument.
///
/// # Errors
///
/// `Error::Isolation` without `CAP_SYS_ADMIN` (the message says so);
/// `Error::InvalidArgument` if the script's output cannot be parsed.
pub fn look_inside(hostname: &str, host_file: &str) -> ptm::Result<Seen> {
    let args = ["-c", SCRIPT, "sh", host_file];
    let out = Container::new("sh", &args).hostname(hostname).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse(&text).ok_or_else(|| {
        Error::InvalidArgument(format!("unexpected output: {text:?}"))
    })
}
// ANCHOR_END: look_inside

/// The host's hostname, from `/proc`.
fn host_hostname() -> Result<String> {
    let name = fs::read_to_string("/proc/sys/kernel/hostname")
        .context("reading the hostname")?;
    Ok(name.trim().to_owned())
}

/// Prints what the container saw, or why it could not run here.
pub fn run() -> Result<()> {
    let before = host_hostname()?;
    let dir = crate::os::new_private_dir("ptm-container")?;
    let file = dir.join("note");
    let seen = fs::write(&file, "written by the host")
        .with_context(|| format!("writing {}", file.display()))
        .and_then(|()| {
            let path = file.to_str().context("a temporary path is UTF-8")?;
            Ok(look_inside("ptm-box", path))
        });
    let removed = fs::remove_dir_all(&dir)
        .with_context(|| format!("removing {}", dir.display()));
    let seen = match seen? {
        Err(error @ Error::Isolation { .. }) => {
            crate::os::say("container:", &format!("not run here: {error}"));
            println!("notice: a container needs CAP_SYS_ADMIN: run as root");
            return removed;
        }
        other => other.context("running sh in a container")?,
    };
    removed?;
    let host_procs = fs::read_dir("/proc")
        .context("listing the host's /proc")?
        .filter(|entry| {
            entry.as_ref().is_ok_and(|e| {
                e.file_name().to_string_lossy().parse::<u32>().is_ok()
            })
        })
        .count();
    println!(
        "container: the child cloned into the namespaces is pid {} there \
         (ptm's init);",
        seen.parent
    );
    println!("container: the shell it runs is pid {}", seen.pid);
    let procs: Vec<String> = seen.procs.iter().map(u32::to_string).collect();
    println!(
        "container: /proc inside lists {} (the host's /proc: {host_procs} \
         processes)",
        procs.join(" ")
    );
    let after = host_hostname()?;
    println!(
        "container: hostname inside {:?}, on the host {after:?} (unchanged: \
         {})",
        seen.hostname,
        before == after
    );
    println!("container: a file the host wrote just before reads inside as");
    crate::os::say("container:  ", &format!("{:?}", seen.file));
    println!("notice: its own pids, /proc and hostname, but the host's files:");
    println!("notice: namespaces give a view, not a file system");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_parses() {
        let text = "procs 1 2\nme 2 1\nhost box\nfile hi\n";
        let seen = parse(text).expect("parses");
        assert_eq!(
            seen,
            Seen {
                procs: vec![1, 2],
                pid: 2,
                parent: 1,
                hostname: "box".into(),
                file: "hi".into(),
            }
        );
        assert_eq!(parse("procs x\n"), None);
    }
}
