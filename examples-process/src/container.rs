//! `container`: a command in its own PID, UTS, mount and IPC namespaces,
//! with `ptm::isolate::Container`.
//!
//! Answers "Containers" (and "Isolation") in
//! `processes-threads-and-containers.md`: a container is a process the OS
//! isolates further, through namespaces. The seed only says so; here a shell
//! runs in new namespaces under ptm's init (pid 1, which reaps orphans) and
//! prints what it sees: its parent is pid 1, `/proc` lists only the
//! container's processes, and its hostname is its own while the host's is
//! unchanged. Needs root (`CAP_SYS_ADMIN`); without it the demo prints the
//! error ptm gives, which says what is missing.
//!
//! What the seed gets wrong: containers "have a filesystem created for them".
//! Namespaces create nothing by themselves, and this container shows it: its
//! mount namespace starts as a copy of the host's, so it sees and writes the
//! host's own files (only mounts made inside stay inside), except `/proc`,
//! mounted afresh for its PID namespace. It shares the host's network too (no
//! network namespace). A filesystem of its own is a separate step (an image
//! unpacked and `pivot_root`), as are a network namespace and resource limits.
//!
//! Run it: `sudo cargo run -p examples-process -- container` (or as root).

use std::fs;

use anyhow::{Context, Result};
use ptm::isolate::Container;
use ptm::Error;

// ANCHOR: script
/// The shell run in the container: the pids in its `/proc` (listed by the
/// shell itself, so no extra process shows), its own pid and parent, the
/// hostname.
const SCRIPT: &str = r#"printf 'procs'; for p in /proc/[0-9]*; do printf ' %s' "${p#/proc/}"; done; echo
echo "me $$ $PPID"
echo "host $(cat /proc/sys/kernel/hostname)""#;
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
}

/// Parses the script's three lines.
fn parse(stdout: &str) -> Option<Seen> {
    let mut lines = stdout.lines();
    let procs = lines.next()?.strip_prefix("procs")?;
    let procs = procs.split_whitespace().map(str::parse).collect::<Result<_, _>>().ok()?;
    let mut me = lines.next()?.strip_prefix("me ")?.split(' ').map(str::parse);
    let (pid, parent) = (me.next()?.ok()?, me.next()?.ok()?);
    let hostname = lines.next()?.strip_prefix("host ")?.to_owned();
    Some(Seen { procs, pid, parent, hostname })
}

// ANCHOR: look_inside
/// Runs the script in a container named `hostname`.
///
/// # Errors
///
/// `Error::Isolation` without `CAP_SYS_ADMIN` (the message says so);
/// `Error::InvalidArgument` if the script's output cannot be parsed.
pub fn look_inside(hostname: &str) -> ptm::Result<Seen> {
    let out = Container::new("sh", &["-c", SCRIPT]).hostname(hostname).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse(&text).ok_or_else(|| Error::InvalidArgument(format!("unexpected output: {text:?}")))
}
// ANCHOR_END: look_inside

/// The host's hostname, from `/proc`.
fn host_hostname() -> Result<String> {
    let name = fs::read_to_string("/proc/sys/kernel/hostname").context("reading the hostname")?;
    Ok(name.trim().to_owned())
}

/// Prints what the container saw, or why it could not run here.
pub fn run() -> Result<()> {
    let before = host_hostname()?;
    let seen = match look_inside("ptm-box") {
        Err(error @ Error::Isolation { .. }) => {
            println!("container: not run here: {error}");
            return Ok(());
        }
        other => other.context("running sh in a container")?,
    };
    let host_procs = fs::read_dir("/proc")
        .context("listing the host's /proc")?
        .filter(|entry| {
            entry.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        })
        .count();
    println!(
        "container: the child cloned into the namespaces is pid {} there (ptm's init); the shell it runs is pid {}",
        seen.parent, seen.pid
    );
    let procs: Vec<String> = seen.procs.iter().map(u32::to_string).collect();
    println!(
        "container: /proc inside lists {} (the host's /proc: {host_procs} processes)",
        procs.join(" ")
    );
    let after = host_hostname()?;
    println!(
        "container: hostname inside {:?}, on the host {after:?} (unchanged: {})",
        seen.hostname,
        before == after
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_parses() {
        let seen = parse("procs 1 2\nme 2 1\nhost box\n").expect("parses");
        assert_eq!(seen, Seen { procs: vec![1, 2], pid: 2, parent: 1, hostname: "box".into() });
        assert_eq!(parse("procs x\n"), None);
    }
}
