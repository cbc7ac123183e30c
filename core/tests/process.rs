//! Public behaviour of `ptm::process`: `ProcessManager`, `ExitReport` and
//! `ProcessInfo`, tested against their documented contract.
//!
//! Children are coreutils (`sleep`, `true`, `false`, `cat`, `head`) and `sh`.
//! No test sleeps to order events: a child that must be in a given state
//! before the test goes on says so on a pipe the test reads (see
//! [`spawn_reporting`]), and every step that would hang on a broken manager
//! runs under [`within`], which fails the test after [`LIMIT`] instead of
//! hanging the suite. The one exception is [`wait_until_dead`], which polls
//! /proc for a process that is not our child (see there why).
//!
//! Whether a process is gone is read from `/proc/<pid>/stat`: a child is
//! identified by its pid *and* its start time, recorded right after the
//! spawn, so a pid that the kernel reused for an unrelated process does not
//! count as the child still being there.
//!
//! Tests that need a process of their own (changing the working directory,
//! exiting, aborting, counting the process's descriptors) re-run this test
//! binary on themselves alone (`--exact <name>`) with [`ROLE`] set: see
//! [`run_self`].

#![cfg(target_os = "linux")]

use std::env;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::panic;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag};
use nix::unistd::{getpgid, Pid};
use ptm::process::{ExitReport, ProcessInfo, ProcessManager};
use ptm::Error;

mod common;
use common::{acting_as, within, DONE, LIMIT, ROLE};

const SIGTERM: i32 = Signal::SIGTERM as i32;
const SIGKILL: i32 = Signal::SIGKILL as i32;

// ---------------------------------------------------------------- helpers

/// The fields of `/proc/<pid>/stat` the tests use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    /// `R`, `S`, `D`, `T`, `Z` (zombie), `X` (dead), ...
    state: char,
    ppid: u32,
    /// Clock ticks after boot: with the pid, identifies a process.
    start_time: u64,
}

/// `/proc/<pid>/stat`, or `None` if there is no such process.
fn stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces
    // or parentheses: the fields after the last ')' are unambiguous.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        // Field 22 of the file; `fields` starts at field 3.
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// A process seen by the test: its pid and start time.
#[derive(Debug, Clone, Copy)]
struct Tracked {
    pid: u32,
    start_time: u64,
}

/// Records the pid and start time of a process that exists now (a child not
/// yet reaped always does).
fn track(pid: u32) -> Tracked {
    let stat = stat(pid).unwrap_or_else(|| panic!("pid {pid} has no /proc entry"));
    Tracked {
        pid,
        start_time: stat.start_time,
    }
}

/// The process's stat if it is still in the process table, running or a
/// zombie; `None` if it is gone (its pid free or reused by another process).
fn still_there(process: Tracked) -> Option<Stat> {
    stat(process.pid).filter(|stat| stat.start_time == process.start_time)
}

/// Asserts that none of `processes` is left, not even as a zombie.
fn assert_gone(processes: &[Tracked]) {
    let left: Vec<_> = processes
        .iter()
        .filter_map(|&p| still_there(p).map(|stat| (p.pid, stat)))
        .collect();
    for (pid, _) in &left {
        // Do not leave them running past a failed test.
        let _ = kill(pid_of(*pid), Signal::SIGKILL);
    }
    assert!(
        left.is_empty(),
        "{} of {} processes are still in the process table: {left:?}",
        left.len(),
        processes.len()
    );
}

/// Waits until `process`, which is *not* a child of this test, is dead: gone
/// from /proc, or a zombie (state `Z` or `X`) that init or a subreaper has
/// yet to reap. This is the one loop of the suite that polls: the process
/// got SIGKILL, but a signal is acted on when its target next runs, and a
/// process that is not our child cannot be waited for (nor its zombie
/// reaped by us), so /proc is all there is to watch. Bounded by [`LIMIT`].
fn wait_until_dead(process: Tracked) {
    let deadline = Instant::now() + LIMIT;
    loop {
        match still_there(process) {
            None => return,
            Some(stat) if matches!(stat.state, 'Z' | 'X') => return,
            Some(stat) if Instant::now() >= deadline => {
                // Do not leave it running (holding the test's stderr open).
                let _ = kill(pid_of(process.pid), Signal::SIGKILL);
                panic!(
                    "process {} still alive after {LIMIT:?}: {stat:?}",
                    process.pid
                );
            }
            Some(_) => {}
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// A pid as nix wants it.
fn pid_of(pid: u32) -> Pid {
    Pid::from_raw(i32::try_from(pid).expect("a pid fits in i32"))
}

/// Starts `sh -c script` through `spawn_command`, its stdout a pipe of the
/// test's, and returns its pid and the first line it prints (the script
/// prints when it is ready, or a pid). The pipe's write end is in the
/// `Command`, which `spawn_command` consumes and drops.
fn spawn_reporting(manager: &mut ProcessManager, script: &str) -> (u32, String) {
    let (reader, writer) = io::pipe().expect("the OS gives a pipe");
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]).stdout(writer);
    let pid = manager.spawn_command(cmd).expect("sh starts");
    let mut line = String::new();
    BufReader::new(reader)
        .read_line(&mut line)
        .expect("the script prints a line");
    (pid, line.trim().to_owned())
}

/// The signal that ended a reported child.
fn signal_of(report: &ExitReport) -> Option<i32> {
    report
        .status
        .as_ref()
        .unwrap_or_else(|e| panic!("{} (pid {}) not reaped: {e}", report.program, report.pid))
        .signal()
}

/// The exit code of a reported child.
fn code_of(report: &ExitReport) -> Option<i32> {
    report
        .status
        .as_ref()
        .unwrap_or_else(|e| panic!("{} (pid {}) not reaped: {e}", report.program, report.pid))
        .code()
}

/// Starts `count` `sleep 1000` and tracks them.
fn spawn_sleeps(manager: &mut ProcessManager, count: usize) -> Vec<Tracked> {
    (0..count)
        .map(|_| track(manager.spawn("sleep", &["1000"]).expect("sleep starts")))
        .collect()
}

/// Re-runs this test binary on the test `test` alone, with [`ROLE`] set to
/// its name and `envs` added, and returns what it did.
fn run_self(test: &str, envs: &[(&str, &OsStr)]) -> Output {
    assert!(
        env::var_os(ROLE).is_none(),
        "a re-run must not re-run itself (is `{test}` the test's name?)"
    );
    let mut cmd = common::rerun(test);
    for (name, value) in envs {
        cmd.env(name, value);
    }
    cmd.output().expect("the test binary re-runs")
}

// ------------------------------------------------------- kill and reaping

/// `kill_all` on 50 children: all killed by SIGKILL, all reaped, none left
/// in /proc, live or zombie.
#[test]
fn kill_all_kills_and_reaps_50_sleeps() {
    let mut manager = ProcessManager::new();
    let sleeps = spawn_sleeps(&mut manager, 50);
    assert_eq!(manager.len(), 50);
    let (manager, reports) = within("kill_all of 50 sleeps", move || {
        let reports = manager.kill_all();
        (manager, reports)
    });
    assert_eq!(reports.len(), 50);
    for (report, sleep) in reports.iter().zip(&sleeps) {
        assert_eq!(report.pid, sleep.pid, "reports come in spawn order");
        assert_eq!(report.program, "sleep");
        assert_eq!(signal_of(report), Some(SIGKILL), "{report:?}");
    }
    assert_eq!(manager.len(), 0);
    assert!(manager.is_empty());
    assert_gone(&sleeps);
}

/// Regression: `Child::kill` on each child, then clearing the `Vec<Child>`
/// without waiting (a common first attempt), leaves every killed child a
/// zombie until the parent exits. `kill_all` must reap.
#[test]
fn kill_all_reaps_every_child_it_kills() {
    let mut manager = ProcessManager::new();
    let sleeps = spawn_sleeps(&mut manager, 3);
    let reports = within("kill_all", move || manager.kill_all());
    assert_eq!(reports.len(), 3);
    for sleep in &sleeps {
        if let Some(stat) = still_there(*sleep) {
            panic!("pid {} left behind after kill_all: {stat:?}", sleep.pid);
        }
    }
}

/// Regression: dropping a `Child` neither kills nor waits, so a manager
/// without a `Drop` of its own leaves its children running when dropped.
/// Dropping ours terminates and reaps them.
#[test]
fn dropping_a_manager_ends_and_reaps_its_children() {
    let mut manager = ProcessManager::new();
    let sleeps = spawn_sleeps(&mut manager, 50);
    within("dropping a manager with 50 sleeps", move || drop(manager));
    assert_gone(&sleeps);
}

/// Regression: `Child::kill` signals only the child, so what the child
/// started lives on. `kill_all` signals the child's process group.
#[test]
fn kill_all_kills_grandchildren() {
    let (manager, grandchild) = within("starting sh and its sleep", || {
        let mut manager = ProcessManager::new();
        let (_, line) = spawn_reporting(&mut manager, "sleep 1000 & echo $!; wait");
        let grandchild: u32 = line.parse().expect("sh prints the sleep's pid");
        let grandchild = track(grandchild);
        (manager, grandchild)
    });
    let reports = within("kill_all", move || {
        let mut manager = manager;
        manager.kill_all()
    });
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].program, "sh");
    assert_eq!(signal_of(&reports[0]), Some(SIGKILL));
    // Dead by the time `kill_all` returns, not merely signalled: gone, or
    // a zombie left for init (it is not our child to reap).
    let state = still_there(grandchild).map(|stat| stat.state);
    if !matches!(state, None | Some('Z' | 'X')) {
        let _ = kill(pid_of(grandchild.pid), Signal::SIGKILL);
        panic!("the grandchild is still alive after kill_all: state {state:?}");
    }
}

/// `terminate_all` reaches grandchildren too: SIGTERM to the group.
#[test]
fn terminate_all_kills_grandchildren() {
    let (manager, grandchild) = within("starting sh and its sleep", || {
        let mut manager = ProcessManager::new();
        let (_, line) = spawn_reporting(&mut manager, "sleep 1000 & echo $!; wait");
        let grandchild = track(line.parse().expect("sh prints the sleep's pid"));
        (manager, grandchild)
    });
    let reports = within("terminate_all", move || {
        let mut manager = manager;
        manager.terminate_all(Duration::from_secs(10))
    });
    assert_eq!(reports.len(), 1);
    assert_eq!(signal_of(&reports[0]), Some(SIGTERM));
    wait_until_dead(grandchild);
}

/// A grandchild that ignores SIGTERM, in the group of a child that exits
/// on it (the script restores SIGTERM before it prints, so the child does
/// exit on it): the SIGKILL to the group after the grace ends the
/// grandchild, although its parent was gone by then.
#[test]
fn terminate_all_kills_a_grandchild_that_ignores_sigterm() {
    let (manager, grandchild) = within("starting sh and its sleep", || {
        let mut manager = ProcessManager::new();
        let (_, line) = spawn_reporting(
            &mut manager,
            "trap '' TERM; sleep 1000 & trap - TERM; echo $!; wait",
        );
        let grandchild = track(line.parse().expect("sh prints the sleep's pid"));
        (manager, grandchild)
    });
    let reports = within("terminate_all", move || {
        let mut manager = manager;
        manager.terminate_all(Duration::from_millis(200))
    });
    assert_eq!(reports.len(), 1);
    assert_eq!(signal_of(&reports[0]), Some(SIGTERM), "{reports:?}");
    wait_until_dead(grandchild);
}

/// A child that exits on SIGTERM reports SIGTERM, and `terminate_all` does
/// not wait out the grace once every child has exited (the grace here is
/// longer than the watchdog).
#[test]
fn terminate_all_reports_sigterm_and_does_not_wait_out_the_grace() {
    let mut manager = ProcessManager::new();
    let sleeps = spawn_sleeps(&mut manager, 3);
    let reports = within("terminate_all with a 1 h grace", move || {
        manager.terminate_all(Duration::from_secs(3600))
    });
    assert_eq!(reports.len(), 3);
    for report in &reports {
        assert_eq!(signal_of(report), Some(SIGTERM), "{report:?}");
    }
    assert_gone(&sleeps);
}

/// A child that ignores SIGTERM (`sleep` inherits the ignored disposition
/// through `exec`) gets SIGKILL after the grace; its sibling that does not
/// ignore it reports SIGTERM.
#[test]
fn terminate_all_kills_a_child_that_ignores_sigterm_after_the_grace() {
    let (mut manager, stubborn, plain) = within("starting the children", || {
        let mut manager = ProcessManager::new();
        let (stubborn, line) =
            spawn_reporting(&mut manager, "trap '' TERM; echo ready; exec sleep 1000");
        assert_eq!(line, "ready");
        let plain = manager.spawn("sleep", &["1000"]).expect("sleep starts");
        (manager, track(stubborn), track(plain))
    });
    let reports = within("terminate_all", move || {
        manager.terminate_all(Duration::from_millis(200))
    });
    assert_eq!(reports.len(), 2);
    assert_eq!(
        (reports[0].pid, reports[0].program.as_str()),
        (stubborn.pid, "sh")
    );
    assert_eq!(signal_of(&reports[0]), Some(SIGKILL), "{reports:?}");
    assert_eq!(reports[1].pid, plain.pid);
    assert_eq!(signal_of(&reports[1]), Some(SIGTERM), "{reports:?}");
    assert_gone(&[stubborn, plain]);
}

/// A stopped child acts on SIGTERM only once continued: `terminate_all`
/// sends SIGCONT after SIGTERM, so the child ends by SIGTERM well within a
/// grace longer than the watchdog.
#[test]
fn terminate_all_continues_a_stopped_child() {
    let mut manager = ProcessManager::new();
    let pid = manager.spawn("sleep", &["1000"]).expect("sleep starts");
    let nix_pid = pid_of(pid);
    kill(nix_pid, Signal::SIGSTOP).expect("the child can be stopped");
    // Block until the child has stopped, without consuming that state.
    within("waiting for the child to stop", move || {
        waitid(
            Id::Pid(nix_pid),
            WaitPidFlag::WSTOPPED | WaitPidFlag::WNOWAIT,
        )
        .expect("waitid sees the stop")
    });
    assert_eq!(stat(pid).map(|s| s.state), Some('T'));
    let reports = within("terminate_all of a stopped child", move || {
        manager.terminate_all(Duration::from_secs(3600))
    });
    assert_eq!(signal_of(&reports[0]), Some(SIGTERM), "{reports:?}");
}

// ---------------------------------------------------------------- spawning

/// A missing program is an `Error::Spawn` naming it, of kind `NotFound`;
/// the manager is unchanged and still spawns.
#[test]
fn spawn_error_names_a_missing_program() {
    let mut manager = ProcessManager::new();
    let error = manager
        .spawn("no-such-program-xyz", &[])
        .expect_err("the program does not exist");
    assert!(
        error.to_string().contains("no-such-program-xyz"),
        "message: {error}"
    );
    match error {
        Error::Spawn { program, source } => {
            assert_eq!(program, "no-such-program-xyz");
            assert_eq!(source.kind(), io::ErrorKind::NotFound);
        }
        other => panic!("expected Error::Spawn, got {other:?}"),
    }
    assert_eq!(manager.len(), 0);
    let pid = manager
        .spawn("true", &[])
        .expect("the manager still spawns");
    let reports = within("waiting for true", move || manager.wait_all());
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].pid, pid);
    assert_eq!(code_of(&reports[0]), Some(0));
}

/// A file without execute permission is an `Error::Spawn` of kind
/// `PermissionDenied` (for root too: `execve` needs one execute bit).
#[test]
fn spawn_error_for_a_file_that_is_not_executable() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("noexec");
    fs::write(&path, "#!/bin/sh\nexit 0\n").expect("the temp dir is writable");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let program = path.to_str().expect("the temp path is UTF-8").to_owned();
    let mut manager = ProcessManager::new();
    let result = manager.spawn(&program, &[]);
    match result {
        Err(Error::Spawn {
            program: named,
            source,
        }) => {
            assert_eq!(named, program);
            assert_eq!(source.kind(), io::ErrorKind::PermissionDenied, "{source}");
        }
        other => panic!("expected Error::Spawn, got {other:?}"),
    }
    assert!(manager.is_empty());
    manager
        .spawn("true", &[])
        .expect("the manager still spawns");
    let reports = within("waiting for true", move || manager.wait_all());
    assert_eq!(code_of(&reports[0]), Some(0));
}

/// `spawn` and `spawn_command` put each child in a process group of its own.
#[test]
fn children_lead_their_own_process_group() {
    let mut manager = ProcessManager::new();
    let spawned = manager.spawn("sleep", &["1000"]).expect("sleep starts");
    let mut cmd = Command::new("sleep");
    cmd.arg("1000");
    let commanded = manager.spawn_command(cmd).expect("sleep starts");
    for pid in [spawned, commanded] {
        let pid = pid_of(pid);
        assert_eq!(getpgid(Some(pid)), Ok(pid), "pid {pid} leads its group");
    }
    let ours = getpgid(None).expect("getpgid of self");
    assert_ne!(ours, pid_of(spawned));
    let reports = within("kill_all", move || manager.kill_all());
    assert_eq!(reports.len(), 2);
}

/// `spawn_command` closes the parent's end of piped streams (nobody could
/// use them): `cat` reads EOF on its piped stdin and exits, and `head`
/// writing 1 MiB to its piped stdout gets SIGPIPE instead of blocking on a
/// full pipe forever. Collected with `wait_all_timeout`, which (unlike
/// `Child::wait`) does not close stdin itself.
#[test]
fn spawn_command_closes_piped_streams() {
    let mut manager = ProcessManager::new();
    let mut cat = Command::new("cat");
    cat.stdin(Stdio::piped()).stdout(Stdio::null());
    let cat = manager.spawn_command(cat).expect("cat starts");
    let mut head = Command::new("head");
    head.args(["-c", "1048576", "/dev/zero"])
        .stdout(Stdio::piped());
    let head = manager.spawn_command(head).expect("head starts");
    let mut reports = within("waiting for cat and head", move || {
        let mut reports = Vec::new();
        while reports.len() < 2 {
            reports.extend(manager.wait_all_timeout(Duration::from_millis(50)));
        }
        reports
    });
    reports.sort_by_key(|r| r.pid != cat);
    assert_eq!((reports[0].pid, reports[0].program.as_str()), (cat, "cat"));
    assert_eq!(code_of(&reports[0]), Some(0));
    assert_eq!(
        (reports[1].pid, reports[1].program.as_str()),
        (head, "head")
    );
    let status = reports[1].status.as_ref().expect("head was reaped");
    assert!(
        status.signal() == Some(Signal::SIGPIPE as i32) || status.code() == Some(1),
        "{status}"
    );
}

// ----------------------------------------------------------------- waiting

/// Regression: a "wait for all" that keeps only the statuses of the waits
/// that worked returns a list that no longer says whose status is whose.
/// Every report says which child it is about.
#[test]
fn wait_all_reports_every_status_with_its_pid_and_program() {
    let mut manager = ProcessManager::new();
    let pids = [
        manager.spawn("true", &[]).expect("true starts"),
        manager.spawn("false", &[]).expect("false starts"),
        manager.spawn("sh", &["-c", "exit 3"]).expect("sh starts"),
    ];
    assert_eq!(manager.len(), 3);
    let (manager, reports) = within("wait_all", move || {
        let reports = manager.wait_all();
        (manager, reports)
    });
    assert!(manager.is_empty());
    let seen: Vec<_> = reports
        .iter()
        .map(|r| (r.pid, r.program.as_str(), code_of(r)))
        .collect();
    assert_eq!(
        seen,
        [
            (pids[0], "true", Some(0)),
            (pids[1], "false", Some(1)),
            (pids[2], "sh", Some(3)),
        ]
    );
}

/// `wait_all_timeout` reports the children that exit and keeps the one
/// still running at the deadline managed. It is called until both fast
/// children are in (each call returns at its deadline at the latest), so
/// the test does not depend on how fast `true` and `false` run.
#[test]
fn wait_all_timeout_keeps_running_children_managed() {
    let mut manager = ProcessManager::new();
    let sleep = manager.spawn("sleep", &["1000"]).expect("sleep starts");
    let fast = [
        manager.spawn("true", &[]).expect("true starts"),
        manager.spawn("false", &[]).expect("false starts"),
    ];
    let (mut manager, mut reports) = within("wait_all_timeout", move || {
        let mut reports = Vec::new();
        while reports.len() < 2 {
            let more = manager.wait_all_timeout(Duration::from_millis(50));
            assert!(
                more.iter().all(|r| r.pid != sleep),
                "sleep reported: {more:?}"
            );
            reports.extend(more);
        }
        (manager, reports)
    });
    assert_eq!(manager.len(), 1, "the sleep stays managed");
    reports.sort_by_key(|r| r.pid);
    let mut expected = [(fast[0], Some(0)), (fast[1], Some(1))];
    expected.sort();
    let seen: Vec<_> = reports.iter().map(|r| (r.pid, code_of(r))).collect();
    assert_eq!(seen, expected);
    // A zero timeout checks once and returns.
    assert!(manager.wait_all_timeout(Duration::ZERO).is_empty());
    assert_eq!(manager.len(), 1);
    let killed = within("kill_all", move || manager.kill_all());
    assert_eq!(
        (killed[0].pid, signal_of(&killed[0])),
        (sleep, Some(SIGKILL))
    );
}

/// A manager without children answers every call at once.
#[test]
fn an_empty_manager_has_nothing_to_do() {
    let mut manager = ProcessManager::default();
    assert!(manager.is_empty());
    assert!(manager.wait_all().is_empty());
    assert!(manager
        .wait_all_timeout(Duration::from_secs(3600))
        .is_empty());
    assert!(manager.terminate_all(Duration::from_secs(3600)).is_empty());
    assert!(manager.kill_all().is_empty());
}

// ------------------------------------------------------------------ output

#[test]
fn output_captures_stdout() {
    let output = ProcessManager::output("echo", &["hello", "world"]).expect("echo runs");
    assert!(output.status.success());
    assert_eq!(output.stdout, b"hello world\n");
    assert!(output.stderr.is_empty());
}

/// Regression: turning a failed command into its bare stderr text loses
/// the program, its arguments and its status. `Error::Exit` keeps them.
#[test]
fn output_error_carries_program_args_status_and_stderr_tail() {
    let script = "echo oops >&2; exit 3";
    let error = ProcessManager::output("sh", &["-c", script]).expect_err("sh exits 3");
    let message = error.to_string();
    assert!(
        message.contains("sh -c") && message.contains("oops"),
        "{message}"
    );
    match error {
        Error::Exit {
            program,
            args,
            status,
            stderr_tail,
        } => {
            assert_eq!(program, "sh");
            assert_eq!(args, ["-c", script]);
            assert_eq!(status.code(), Some(3));
            assert!(stderr_tail.contains("oops"), "{stderr_tail:?}");
        }
        other => panic!("expected Error::Exit, got {other:?}"),
    }
}

/// A child killed by a signal is an `Error::Exit` whose status says which.
#[test]
fn output_reports_a_signal_as_an_exit_error() {
    match ProcessManager::output("sh", &["-c", "kill -KILL $$"]) {
        Err(Error::Exit { status, .. }) => assert_eq!(status.signal(), Some(SIGKILL)),
        other => panic!("expected Error::Exit, got {other:?}"),
    }
}

/// Only the last 4 KiB of stderr is kept.
#[test]
fn output_keeps_the_tail_of_stderr() {
    let script = "head -c 100000 /dev/zero | tr '\\0' a >&2; echo END >&2; exit 1";
    match ProcessManager::output("sh", &["-c", script]) {
        Err(Error::Exit { stderr_tail, .. }) => {
            assert!(stderr_tail.ends_with("aaaEND\n"), "{stderr_tail:?}");
            assert!(stderr_tail.len() <= 4096, "{} bytes", stderr_tail.len());
            assert!(stderr_tail.len() >= 1024, "{} bytes", stderr_tail.len());
        }
        other => panic!("expected Error::Exit, got {other:?}"),
    }
}

/// 4 MiB on stdout and then 4 MiB on stderr: reading stdout to the end
/// before stderr would deadlock (the child blocks on the full stderr pipe).
#[test]
fn output_reads_stdout_and_stderr_concurrently() {
    let output = within("output of 4 MiB + 4 MiB", || {
        ProcessManager::output(
            "sh",
            &[
                "-c",
                "head -c 4194304 /dev/zero; head -c 4194304 /dev/zero >&2",
            ],
        )
    })
    .expect("sh runs");
    assert_eq!(output.stdout.len(), 4 << 20);
    assert_eq!(output.stderr.len(), 4 << 20);
}

#[test]
fn output_of_a_missing_program_is_a_spawn_error() {
    match ProcessManager::output("no-such-program-xyz", &["arg"]) {
        Err(Error::Spawn { program, source }) => {
            assert_eq!(program, "no-such-program-xyz");
            assert_eq!(source.kind(), io::ErrorKind::NotFound);
        }
        other => panic!("expected Error::Spawn, got {other:?}"),
    }
}

// ------------------------------------------------------------- fd hygiene

/// The number of descriptors this process has open.
fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd is readable")
        .count()
}

/// 2,000 spawns and waits from 4 threads, each with its own manager, leave
/// the process's descriptor count unchanged: plain spawns, spawns with
/// every stream piped, and `output` (which pipes stdout and stderr). Runs in a re-run of this
/// binary, where no other test opens descriptors meanwhile. The first spawn
/// starts ptm's guardian, whose socket stays open for the life of the
/// process: it is counted in `before`.
#[test]
fn spawning_2000_children_from_4_threads_leaks_no_fd() {
    const TEST: &str = "spawning_2000_children_from_4_threads_leaks_no_fd";
    if acting_as(TEST) {
        let warm_up = ProcessManager::output("true", &[]).expect("true runs");
        assert!(warm_up.status.success());
        let before = open_fds();
        thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    let mut manager = ProcessManager::new();
                    for round in 0..10 {
                        // Spawns without pipes, with all three piped (the
                        // parent's ends must close when the child is
                        // reaped), and through `output`.
                        for _ in 0..40 {
                            manager.spawn("true", &[]).expect("true starts");
                        }
                        for _ in 0..9 {
                            let mut cmd = Command::new("true");
                            cmd.stdin(Stdio::piped())
                                .stdout(Stdio::piped())
                                .stderr(Stdio::piped());
                            manager.spawn_command(cmd).expect("true starts");
                        }
                        let out = ProcessManager::output("true", &[]).expect("true runs");
                        assert!(out.status.success(), "round {round}");
                        for report in manager.wait_all() {
                            assert_eq!(code_of(&report), Some(0), "round {round}");
                        }
                    }
                });
            }
        });
        assert_eq!(open_fds(), before, "descriptors leaked");
        println!("{DONE}");
        return;
    }
    let output = within("the re-run", || run_self(TEST, &[]));
    common::assert_rerun_done(TEST, &output);
}

// ------------------------------------------------------------ ProcessInfo

#[test]
fn process_info_pid_and_ppid() {
    assert_eq!(ProcessInfo::pid(), std::process::id());
    let ours = stat(std::process::id()).expect("/proc/self/stat");
    assert_eq!(ProcessInfo::ppid(), ours.ppid);
}

#[test]
fn process_info_args_and_current_dir() {
    let args = ProcessInfo::args();
    assert!(!args.is_empty());
    let first = env::args_os().next().expect("a program name");
    assert_eq!(args[0], first.to_string_lossy());
    let dir = ProcessInfo::current_dir().expect("the current directory exists");
    assert!(dir.is_absolute(), "{dir:?}");
}

/// Regression: `env::vars().collect()` panics on a variable that is not
/// UTF-8; `ProcessInfo::env_vars` must not. Runs in a re-run given such a
/// variable.
#[test]
fn process_info_env_vars_survive_non_utf8() {
    const TEST: &str = "process_info_env_vars_survive_non_utf8";
    if acting_as(TEST) {
        let vars = ProcessInfo::env_vars();
        let find = |name: &str| {
            vars.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(find("PTM_PROBE"), Some("hello wörld"));
        assert_eq!(find("PTM_PROBE_BYTES"), Some("\u{FFFD}\u{FFFD}ok"));
        println!("{DONE}");
        return;
    }
    let output = within("the re-run", || {
        run_self(
            TEST,
            &[
                ("PTM_PROBE", OsStr::new("hello wörld")),
                ("PTM_PROBE_BYTES", OsStr::from_bytes(b"\xff\xfeok")),
            ],
        )
    });
    common::assert_rerun_done(TEST, &output);
}

/// `set_current_dir` changes the whole process's directory, so it runs in a
/// re-run, not among this binary's test threads.
#[test]
fn process_info_set_current_dir() {
    const TEST: &str = "process_info_set_current_dir";
    if acting_as(TEST) {
        let target: PathBuf = env::temp_dir().canonicalize().expect("the temp dir exists");
        ProcessInfo::set_current_dir(&target).expect("cd to the temp dir");
        assert_eq!(ProcessInfo::current_dir().expect("pwd"), target);
        let missing = "/no/such/directory/ptm-xyz";
        match ProcessInfo::set_current_dir(missing) {
            Err(Error::Io(e)) => {
                assert_eq!(e.kind(), io::ErrorKind::NotFound);
                assert!(e.to_string().contains(missing), "{e}");
            }
            other => panic!("expected Error::Io, got {other:?}"),
        }
        assert_eq!(ProcessInfo::current_dir().expect("pwd"), target);
        println!("{DONE}");
        return;
    }
    let output = within("the re-run", || run_self(TEST, &[]));
    common::assert_rerun_done(TEST, &output);
}

#[test]
fn process_info_exit_sets_the_exit_code() {
    const TEST: &str = "process_info_exit_sets_the_exit_code";
    if acting_as(TEST) {
        ProcessInfo::exit(42);
    }
    let output = within("the re-run", || run_self(TEST, &[]));
    assert_eq!(output.status.code(), Some(42), "{output:?}");
}

#[test]
fn process_info_abort_ends_by_sigabrt() {
    const TEST: &str = "process_info_abort_ends_by_sigabrt";
    if acting_as(TEST) {
        ProcessInfo::abort();
    }
    let output = within("the re-run", || run_self(TEST, &[]));
    assert_eq!(
        output.status.signal(),
        Some(Signal::SIGABRT as i32),
        "{output:?}"
    );
}

/// Found in review: `terminate_all` sent SIGKILL as soon as the *children*
/// had exited, so a grandchild that was cleaning up after SIGTERM in the
/// child's group was killed mid-way, well inside the grace. Here the
/// grandchild's TERM trap takes 0.3 s to write a file; with a 5 s grace it
/// must get to finish. (The sleeps are inside the child's script: they are
/// the work being given time, not synchronisation of the test.)
#[test]
fn terminate_all_gives_grandchildren_the_grace_too() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let done = dir.path().join("done");
    let script = format!(
        "(trap 'sleep 0.3; echo done > {}; exit 0' TERM; echo ready; \
          while :; do sleep 0.05; done) & wait",
        done.display()
    );
    let reports = within("terminate_all with a cleaning grandchild", move || {
        // The subshell says `ready` on a pipe of ours once its trap is set,
        // so that the SIGTERM cannot come first.
        let (reader, writer) = io::pipe().expect("a pipe");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &script]).stdout(writer);
        let mut manager = ProcessManager::new();
        manager.spawn_command(cmd).expect("sh starts");
        let mut line = String::new();
        BufReader::new(reader)
            .read_line(&mut line)
            .expect("the subshell says it is ready");
        assert_eq!(line, "ready\n");
        manager.terminate_all(Duration::from_secs(5))
    });
    assert_eq!(reports.len(), 1);
    let written = fs::read_to_string(&done).unwrap_or_default();
    assert_eq!(
        written, "done\n",
        "the grandchild was killed before its TERM trap finished"
    );
}
