//! `ptm::process::Process`: one child, waited for, timed out, signalled and
//! stopped from any number of threads.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::within;
use ptm::process::{Process, Signal};
use ptm::Error;

fn sh(script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]);
    cmd
}

#[test]
fn wait_reaps_and_every_later_wait_gives_the_same_status() {
    let child = Process::spawn(sh("exit 3")).expect("sh starts");
    let status = child.wait().expect("waited");
    assert_eq!(status.code(), Some(3));
    assert_eq!(child.wait().expect("again"), status);
    assert_eq!(child.try_wait().expect("try"), Some(status));
    assert_eq!(
        child.wait_timeout(Duration::ZERO).expect("zero"),
        Some(status)
    );
    // Reaped: a signal is a no-op, never a recycled pid.
    child.signal(Signal::SIGKILL).expect("nothing sent");
    assert_eq!(child.kill().expect("already reaped"), status);
}

#[test]
fn a_deadline_leaves_the_child_running_and_untouched() {
    let child = Process::spawn(sh("sleep 1000")).expect("sh starts");
    assert_eq!(child.try_wait().expect("try"), None);
    assert_eq!(child.wait_timeout(Duration::ZERO).expect("zero"), None);
    assert_eq!(
        child
            .wait_timeout(Duration::from_millis(30))
            .expect("30 ms"),
        None
    );
    let status = child.kill().expect("killed");
    assert_eq!(status.signal(), Some(9));
}

/// A timeout too large for the clock waits as long as it takes instead of
/// overflowing.
#[test]
fn a_huge_timeout_does_not_overflow() {
    let child = Process::spawn(sh("exit 0")).expect("sh starts");
    let status = within("a huge timeout", move || child.wait_timeout(Duration::MAX));
    assert!(status.expect("waited").expect("exited").success());
}

/// One thread blocked in `wait` while others poll, wait with deadlines,
/// signal and kill: nobody deadlocks, everybody sees the same status.
#[test]
fn many_threads_share_one_child() {
    for _ in 0..20 {
        let child = Arc::new(Process::spawn(sh("sleep 1000")).expect("sh starts"));
        let start = Arc::new(Barrier::new(5));
        let mut threads = Vec::new();
        for role in 0..5 {
            let child = Arc::clone(&child);
            let start = Arc::clone(&start);
            threads.push(thread::spawn(move || {
                start.wait();
                match role {
                    0 => child.wait().expect("wait"),
                    1 => loop {
                        if let Some(status) = child.try_wait().expect("try_wait") {
                            break status;
                        }
                        thread::yield_now();
                    },
                    2 => loop {
                        if let Some(status) = child
                            .wait_timeout(Duration::from_millis(1))
                            .expect("wait_timeout")
                        {
                            break status;
                        }
                    },
                    3 => {
                        child.signal(Signal::SIGTERM).expect("signal");
                        child.wait().expect("wait after signal")
                    }
                    _ => child.kill().expect("kill"),
                }
            }));
        }
        let statuses: Vec<_> = threads
            .into_iter()
            .map(|thread| thread.join().expect("no panic"))
            .collect();
        assert!(
            statuses.windows(2).all(|pair| pair[0] == pair[1]),
            "every caller sees the same status: {statuses:?}"
        );
        assert!(statuses[0].signal().is_some(), "{:?}", statuses[0]);
    }
}

/// Streaming: the first line is read through `take_stdout` while the child
/// still runs (it sleeps before its second line).
#[test]
fn output_is_read_while_the_child_runs() {
    let mut cmd = sh("echo first; sleep 1000; echo second");
    cmd.stdout(Stdio::piped());
    let child = Process::spawn(cmd).expect("sh starts");
    let stdout = child.take_stdout().expect("piped");
    assert!(child.take_stdout().is_none(), "taken once");
    let mut lines = BufReader::new(stdout).lines();
    let first = within("the first line", move || lines.next());
    assert_eq!(first.expect("a line").expect("read"), "first");
    assert_eq!(child.try_wait().expect("try"), None, "still running");
    let status = child.terminate(Duration::from_secs(5)).expect("terminated");
    assert_eq!(status.signal(), Some(15), "SIGTERM was enough");
}

#[test]
fn stdin_is_written_and_stdout_read_through_the_taken_pipes() {
    let mut cmd = Command::new("tr");
    cmd.args(["a-z", "A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let child = Process::spawn(cmd).expect("tr starts");
    let mut stdin = child.take_stdin().expect("piped");
    stdin.write_all(b"hello\n").expect("written");
    drop(stdin);
    let mut out = String::new();
    child
        .take_stdout()
        .expect("piped")
        .read_to_string(&mut out)
        .expect("read");
    assert_eq!(out, "HELLO\n");
    assert!(child.wait().expect("waited").success());
}

/// `terminate` goes on to SIGKILL when SIGTERM is ignored, and reaches the
/// whole group (the background `sleep`).
#[test]
fn terminate_kills_after_the_grace_and_reaches_the_group() {
    let mut cmd = sh("trap '' TERM; sleep 1000 & echo $!; wait");
    cmd.stdout(Stdio::piped());
    let child = Process::spawn(cmd).expect("sh starts");
    let mut line = String::new();
    BufReader::new(child.take_stdout().expect("piped"))
        .read_line(&mut line)
        .expect("the grandchild's pid");
    let grandchild: i32 = line.trim().parse().expect("a pid");
    let status = child.terminate(Duration::from_millis(100)).expect("ended");
    assert_eq!(status.signal(), Some(9), "killed after the grace");
    let start = std::time::Instant::now();
    while nix::sys::signal::kill(nix::unistd::Pid::from_raw(grandchild), None).is_ok() {
        // A zombie until init reaps it: check its state.
        let stat = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
        if stat.is_empty() || stat.contains(") Z ") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the grandchild lives on"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_missing_program_is_named() {
    match Process::spawn(Command::new("no-such-program-ptm")) {
        Err(Error::Spawn { program, source }) => {
            assert_eq!(program, "no-such-program-ptm");
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected a spawn error, got {other:?}"),
    }
}

#[test]
fn a_missing_working_directory_is_named() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let missing = dir.path().join("gone");
    let mut cmd = Command::new("true");
    cmd.current_dir(&missing);
    let message = Process::spawn(cmd)
        .expect_err("no such directory")
        .to_string();
    assert!(message.contains("working directory"), "{message}");
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
}

#[test]
fn a_program_that_is_a_directory_is_named() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let message = Process::spawn(Command::new(dir.path()))
        .expect_err("a directory")
        .to_string();
    assert!(message.contains("is a directory"), "{message}");
}

/// Dropping a running `Process` terminates and reaps it.
#[test]
fn drop_terminates_and_reaps() {
    let child = Process::spawn(sh("sleep 1000")).expect("sh starts");
    let pid = child.pid();
    assert_eq!(child.program(), "sh");
    drop(child);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
    assert!(stat.is_err(), "pid {pid} left behind: {stat:?}");
}

/// `Process` is shared through `Arc`: it must be `Send + Sync`.
#[test]
fn process_is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Process>();
}
