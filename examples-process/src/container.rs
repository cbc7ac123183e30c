//! # `container`: a rootless container, its own files, network and limits
//!
//! Shows `ptm::isolate::Container`, run as whichever user runs the demo
//! (no root needed where the kernel allows user namespaces). A shell in
//! it is root and pid 2 under ptm's init, with a hostname of its own.
//!
//! It then shows what a container is for, against a common first attempt:
//! namespaces alone (`unshare --mount --pid`) give a view, not a file
//! system, and a file the host just wrote reads fine inside. In ptm's
//! container the same file is not there unless bound with `bind_ro`. Its
//! network holds only `lo`, so the host's 127.0.0.1 cannot be reached. A
//! fork bomb stops at `max_processes`, and `timeout` kills a command that
//! would sleep on, keeping what it wrote.
//!
//! Run: `cargo run -p examples-process -- container`

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use ptm::isolate::Container;
use ptm::Error;

use crate::os::say;

// ANCHOR: smallest
/// A shell in a container: who it is, its pid, its hostname, its `/`.
pub fn smallest() -> ptm::Result<String> {
    let script = "echo $(id -u) $$ $(hostname); echo /*";
    let out = Container::new("sh", &["-c", script]).hostname("box").output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
// ANCHOR_END: smallest

// ANCHOR: first_attempt
/// Namespaces alone: `cat` in new user, mount and PID namespaces, as
/// `unshare(1)` makes them. The mount namespace is a copy of the host's.
pub fn first_attempt(host_file: &Path) -> Result<String> {
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "--pid"])
        .args(["--fork", "--mount-proc", "cat"])
        .arg(host_file)
        .output()
        .context("running unshare")?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
// ANCHOR_END: first_attempt

// ANCHOR: own_files
/// `cat` of the host's `file` in a container: as is, then with its
/// directory shared read-only at `/shared`.
pub fn own_files(file: &Path) -> ptm::Result<(String, String)> {
    let dir = file.parent().unwrap_or(Path::new("/"));
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    let cat = |c: Container| -> ptm::Result<String> {
        let out = c.output()?;
        let text = [out.stdout, out.stderr].concat();
        Ok(String::from_utf8_lossy(&text).trim().to_owned())
    };
    let path = file.to_string_lossy();
    let alone = cat(Container::new("cat", &[&path]))?;
    let inside = format!("/shared/{name}");
    let bound = Container::new("cat", &[&inside]).bind_ro(dir, "/shared");
    Ok((alone, cat(bound)?))
}
// ANCHOR_END: own_files

// ANCHOR: limits
/// A fork bomb under `max_processes(16)`: a shell that starts `sleep`
/// after `sleep` for ever. How many started, and what stopped it.
pub fn fork_bomb() -> ptm::Result<(String, String)> {
    let script = "while :; do sleep 30 & echo $!; done";
    let out = Container::new("sh", &["-c", script])
        .max_processes(16)
        .timeout(Duration::from_secs(10))
        .output()?;
    let started = String::from_utf8_lossy(&out.stdout).lines().count();
    let error = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    Ok((started.to_string(), error))
}

/// `sleep 30` after a first line, under `timeout(200 ms)`.
pub fn timed_out() -> ptm::Result<String> {
    let script = "echo started; sleep 30";
    let run = Container::new("sh", &["-c", script])
        .timeout(Duration::from_millis(200))
        .output();
    match run {
        Err(Error::Timeout { output, .. }) => {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        }
        Err(other) => Err(other),
        Ok(out) => Ok(format!("not killed: {}", out.status)),
    }
}
// ANCHOR_END: limits

/// Inside: the interfaces `/proc/net/dev` lists, and what a TCP connect
/// to the host's `127.0.0.1:port` gives (bash's `/dev/tcp`).
pub fn network(port: u16, share: bool) -> ptm::Result<(String, String)> {
    let script = format!(
        "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' '; \
         echo; bash -c 'echo > /dev/tcp/127.0.0.1/{port}' 2>/dev/null \
         && echo connected || echo refused"
    );
    let mut container = Container::new("sh", &["-c", &script]);
    if share {
        container = container.share_network();
    }
    let out = container.output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let interfaces = lines.next().unwrap_or_default().trim().to_owned();
    let connect = lines.next().unwrap_or_default().to_owned();
    Ok((interfaces, connect))
}

/// Prints what the containers saw, or why they could not run here.
pub fn run() -> Result<()> {
    let seen = match smallest() {
        Err(error @ Error::Isolation { .. }) => {
            say("container:", &format!("not run here: {error}"));
            println!("notice: containers need user namespaces, refused here");
            return Ok(());
        }
        other => other.context("running sh in a container")?,
    };
    let mut words = seen.split_whitespace();
    let (uid, pid) = (words.next().unwrap_or("?"), words.next().unwrap_or("?"));
    let host = words.next().unwrap_or("?");
    println!("container: inside, the shell is uid {uid} and pid {pid}");
    println!("container:   (ptm's init is pid 1), hostname {host:?}");
    say(
        "container:",
        &format!("its / holds {}", seen.lines().nth(1).unwrap_or("")),
    );

    let dir = crate::os::new_private_dir("ptm-container-")?;
    let file = dir.path().join("note");
    let files = fs::write(&file, "written by the host")
        .context("writing the host's file")
        .and_then(|()| Ok((first_attempt(&file)?, own_files(&file)?)));
    dir.close().context("removing the temporary directory")?;
    let (naive, (alone, bound)) = files?;
    println!("first attempt: namespaces alone (unshare --mount --pid) read");
    println!("first attempt:   the host's new file: {:?}", naive.trim());
    // cat names the path, whose random part varies in width: the path ends
    // the first line, so that the second is the same in every run.
    let (path, why) = alone.rsplit_once(": ").unwrap_or((&alone, ""));
    println!("container: the same path inside: \"{path}:");
    println!("container:   {why}\"");
    println!("container: bound with bind_ro at /shared: {bound:?}");

    let listener =
        TcpListener::bind("127.0.0.1:0").context("a host listener")?;
    let port = listener.local_addr()?.port();
    let (own, connect) = network(port, false)?;
    println!("container: its network: {own}; the host's 127.0.0.1: {connect}");
    let (shared, connect) = network(port, true)?;
    let count = shared.split_whitespace().count();
    println!(
        "container: share_network: {count} interfaces; 127.0.0.1: {connect}"
    );

    let (started, error) = fork_bomb()?;
    println!(
        "container: a fork bomb under max_processes(16): {started} sleeps"
    );
    println!("container:   started (with the shell, 16), then {error:?}");
    println!(
        "container: 'sleep 30' under timeout(200 ms): killed; it had written"
    );
    println!("container:   {:?}", timed_out()?);
    println!(
        "notice: a root of its own, a network of its own, a process count and"
    );
    println!(
        "notice: a deadline it cannot escape; a first attempt with namespaces"
    );
    println!("notice: alone does not hide one host file");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shell is root and pid 2 inside, the hostname is the one given,
    /// and `/` holds the container's own root, not the host's.
    #[test]
    fn the_smallest_container_has_its_own_root() {
        let seen = smallest().expect("a container runs");
        let mut lines = seen.lines();
        assert_eq!(lines.next(), Some("0 2 box"));
        let root = lines.next().expect("the listing of /");
        assert!(root.contains("/usr") && root.contains("/tmp"), "{root}");
        assert!(!root.contains("/home") && !root.contains("/root"), "{root}");
    }

    /// The host's file reads through namespaces alone, is missing in the
    /// container, and reads again once its directory is bound.
    #[test]
    fn a_host_file_is_hidden_until_bound() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("note");
        fs::write(&file, "from the host").expect("the file");
        let naive = first_attempt(&file).expect("unshare runs");
        assert_eq!(naive, "from the host");
        let (alone, bound) = own_files(&file).expect("containers run");
        assert!(alone.contains("No such file or directory"), "{alone}");
        assert_eq!(bound, "from the host");
    }

    #[test]
    fn the_network_is_lo_alone_unless_shared() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a listener");
        let port = listener.local_addr().expect("its address").port();
        let own = network(port, false).expect("a container runs");
        assert_eq!(own, ("lo".to_owned(), "refused".to_owned()));
        let shared = network(port, true).expect("a container runs");
        assert_eq!(shared.1, "connected");
    }

    /// The shell and 15 sleeps are the 16 processes allowed (ptm's init
    /// is not counted); the 16th sleep's fork fails.
    #[test]
    fn the_fork_bomb_stops_and_the_timeout_kills() {
        let (started, error) = fork_bomb().expect("a container");
        assert_eq!(started, "15");
        assert!(error.contains("Cannot fork"), "{error}");
        assert_eq!(timed_out().expect("a container"), "started");
    }
}
