//! `ptm::process::Process`: one child, waited for, timed out, signalled and
//! stopped from any number of threads.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::bytes::sh;
use common::within;
use ptm::process::{Process, Signal};
use ptm::Error;

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

/// The kernel thread id of the calling thread.
fn gettid() -> i32 {
    nix::unistd::gettid().as_raw()
}

/// What `/proc/self/task/<tid>/<file>` says.
fn task_file(tid: i32, file: &str) -> String {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/{file}")).unwrap_or_default()
}

/// Waits (boundedly) until thread `tid` sleeps in `poll(2)`, as a wait on
/// a pidfd does; panics if it never does (a wait that polls in a loop of
/// sleeps, or that never got that far).
fn until_blocked_in_poll(tid: i32) {
    let start = Instant::now();
    while !task_file(tid, "wchan").contains("poll") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "thread {tid} never slept in poll: wchan {:?}",
            task_file(tid, "wchan")
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// How many times thread `tid` has given up the CPU of its own accord.
fn voluntary_switches(tid: i32) -> u64 {
    task_file(tid, "status")
        .lines()
        .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("the task's status has voluntary_ctxt_switches")
}

/// Runs `wait` on a new thread and, once that thread is known to sleep in
/// `poll` (on the child's pidfd), `act` on this one, given the waiting
/// thread's id: with a lock held across the sleep, `act` would block until
/// the child ends by itself. Returns what `wait` returned.
fn while_blocked_in_wait<T: Send + 'static>(
    wait: impl FnOnce() -> T + Send + 'static,
    act: impl FnOnce(i32),
) -> T {
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let waiter = thread::spawn(move || {
        tid_tx.send(gettid()).expect("the test listens");
        wait()
    });
    let tid = tid_rx.recv().expect("the waiter's tid");
    until_blocked_in_poll(tid);
    act(tid);
    waiter.join().expect("the waiter did not panic")
}

/// One thread blocked in `wait` while others poll, wait with deadlines,
/// signal and kill: nobody deadlocks, everybody sees the same status. The
/// others start only once the first sleeps in `poll`, so that a lock held
/// while waiting would show as a hang (cut by `within`).
#[test]
fn many_threads_share_one_child() {
    within("threads sharing a child", || {
        for _ in 0..10 {
            let child = Arc::new(Process::spawn(sh("sleep 1000")).expect("sh starts"));
            let waiting = Arc::clone(&child);
            let mut statuses = Vec::new();
            let first = while_blocked_in_wait(
                move || waiting.wait().expect("wait"),
                |_| {
                    let start = Arc::new(Barrier::new(4));
                    let mut threads = Vec::new();
                    for role in 1..5 {
                        let child = Arc::clone(&child);
                        let start = Arc::clone(&start);
                        threads.push(thread::spawn(move || {
                            start.wait();
                            match role {
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
                    for thread in threads {
                        statuses.push(thread.join().expect("no panic"));
                    }
                },
            );
            statuses.push(first);
            assert!(
                statuses.windows(2).all(|pair| pair[0] == pair[1]),
                "every caller sees the same status: {statuses:?}"
            );
            assert!(statuses[0].signal().is_some(), "{:?}", statuses[0]);
        }
    });
}

/// Waits with a deadline sleep on the pidfd: a thread in `wait_timeout`,
/// in `terminate`'s grace or in `ProcessManager::wait_all_timeout` gives up
/// the CPU a handful of times in 200 ms, where a loop checking every 2 ms
/// would do so about a hundred times; and each wakes when the child exits,
/// long before its deadline (a wait that sleeps out its whole timeout
/// fails by `within`).
#[test]
fn deadline_waits_sleep_on_the_pidfd_and_wake_at_the_exit() {
    /// Asserts that thread `tid` stays asleep for 200 ms, then kills the
    /// process group `group` behind ptm's back.
    fn quiet_for_200_ms_then_kill(tid: i32, group: u32) {
        let before = voluntary_switches(tid);
        thread::sleep(Duration::from_millis(200));
        let woken = voluntary_switches(tid) - before;
        assert!(
            woken <= 10,
            "the waiting thread woke {woken} times in 200 ms"
        );
        nix::sys::signal::killpg(nix::unistd::Pid::from_raw(group as i32), Signal::SIGKILL)
            .expect("killed behind its back");
    }
    let hour = Duration::from_secs(3600);
    within("waits with a deadline", move || {
        let child = Arc::new(Process::spawn(sh("sleep 1000")).expect("sh starts"));
        let (waiting, pid) = (Arc::clone(&child), child.pid());
        let status = while_blocked_in_wait(
            move || waiting.wait_timeout(hour).expect("wait_timeout"),
            |tid| quiet_for_200_ms_then_kill(tid, pid),
        );
        assert_eq!(status.expect("woken by the exit").signal(), Some(9));

        // terminate's grace: SIGTERM is ignored, the child is killed from
        // this thread during the grace.
        let script = "trap '' TERM; while :; do sleep 1; done";
        let child = Arc::new(Process::spawn(sh(script)).expect("sh starts"));
        thread::sleep(Duration::from_millis(50)); // the trap is set
        let (stopping, pid) = (Arc::clone(&child), child.pid());
        let status = while_blocked_in_wait(
            move || stopping.terminate(hour).expect("terminate"),
            |tid| quiet_for_200_ms_then_kill(tid, pid),
        );
        assert_eq!(status.signal(), Some(9));

        // ProcessManager::wait_all_timeout (its children lead their groups).
        let mut manager = ptm::process::ProcessManager::new();
        let pid = manager.spawn("sleep", &["1000"]).expect("sleep starts");
        let reports = while_blocked_in_wait(
            move || manager.wait_all_timeout(hour),
            |tid| quiet_for_200_ms_then_kill(tid, pid),
        );
        assert_eq!(reports.len(), 1);
        assert_eq!(
            reports[0].status.as_ref().expect("a status").signal(),
            Some(9)
        );
    });
}

/// `terminate` sends SIGTERM first, and SIGCONT so that a stopped child
/// acts on it: a stopped shell whose TERM trap exits 7 ends with code 7
/// (not SIGKILL), well within the grace.
#[test]
fn terminate_lets_a_stopped_child_handle_sigterm() {
    let child = Process::spawn(sh("trap 'exit 7' TERM; kill -STOP $$; sleep 1000")).expect("sh");
    until_stopped(child.pid());
    let status = within("terminate", move || {
        child.terminate(Duration::from_secs(20))
    });
    assert_eq!(status.expect("terminated").code(), Some(7));
}

/// Dropping a running `Process` is `terminate`: its TERM trap runs (a
/// marker file is written), even when it was stopped.
#[test]
fn drop_gives_the_child_its_sigterm_first() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let marker = dir.path().join("cleaned-up");
    let script = format!(
        "trap 'echo done > {}; exit 7' TERM; kill -STOP $$; sleep 1000",
        marker.display()
    );
    let child = Process::spawn(sh(&script)).expect("sh");
    until_stopped(child.pid());
    within("drop", move || drop(child));
    assert!(
        marker.exists(),
        "the TERM trap did not run: killed without SIGTERM"
    );
}

/// The state of process `pid` from `/proc/<pid>/stat` (`R`, `S`, `T`,
/// `Z`, ...), `None` once it is gone.
fn state_of(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ...`; comm may hold spaces and parentheses.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Checks `done` every `pause` until it holds; panics with `what` if it
/// does not within a generous 10 s (a bound on a hang, not a timing claim).
fn eventually(what: &str, pause: Duration, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(10), "{what}");
        thread::sleep(pause);
    }
}

/// Waits (boundedly) until process `pid` is stopped (state `T`).
fn until_stopped(pid: u32) {
    let pid = pid as i32;
    eventually(
        &format!("pid {pid} never stopped: {:?}", state_of(pid)),
        Duration::from_millis(1),
        || state_of(pid) == Some('T'),
    );
}

/// Asserts that process `pid` dies (is gone, or a zombie waiting for init)
/// within a generous bound.
fn assert_dies(pid: i32, what: &str) {
    eventually(
        &format!("{what} (pid {pid}) lives on"),
        Duration::from_millis(5),
        || matches!(state_of(pid), None | Some('Z')),
    );
}

/// The grandchild's pid, printed first by `script`, and the child.
fn with_grandchild(script: &str) -> (Process, i32) {
    let mut cmd = sh(script);
    cmd.stdout(Stdio::piped());
    let child = Process::spawn(cmd).expect("sh starts");
    let mut line = String::new();
    BufReader::new(child.take_stdout().expect("piped"))
        .read_line(&mut line)
        .expect("the grandchild's pid");
    (child, line.trim().parse().expect("a pid"))
}

/// A grandchild that ignores SIGTERM outlives its parent's SIGTERM, and
/// still dies: `terminate` waits for the whole group, not only the child,
/// and sends SIGKILL to what is left at the end of the grace.
#[test]
fn terminate_kills_grandchildren_that_outlive_the_child() {
    let script = "sh -c 'trap \"\" TERM; exec sleep 1000' & echo $!; wait";
    let (child, grandchild) = with_grandchild(script);
    thread::sleep(Duration::from_millis(50)); // the grandchild's trap is set
    let status = child.terminate(Duration::from_millis(100)).expect("ended");
    assert_eq!(
        status.signal(),
        Some(15),
        "the shell itself ends on SIGTERM"
    );
    assert_dies(grandchild, "the grandchild that ignores SIGTERM");
}

/// A child that has exited by itself, leaving a background process in its
/// group: `terminate` and drop still stop that process.
#[test]
fn terminate_and_drop_stop_what_an_exited_child_left_behind() {
    let (child, grandchild) = with_grandchild("sleep 1000 & echo $!");
    // Exited by itself first (a zombie, not yet reaped): under load the
    // shell may still be running after it printed the pid.
    let shell = child.pid() as i32;
    eventually(
        &format!("the shell (pid {shell}) never exited"),
        Duration::from_millis(1),
        || state_of(shell) == Some('Z'),
    );
    let status = child.terminate(Duration::from_secs(5)).expect("ended");
    assert!(status.success(), "the shell had exited by itself: {status}");
    assert_dies(grandchild, "the background sleep after terminate");

    let (child, grandchild) = with_grandchild("sleep 1000 & echo $!");
    thread::sleep(Duration::from_millis(50)); // the shell has exited
    drop(child);
    assert_dies(grandchild, "the background sleep after drop");
}

/// If the spawned child cannot be tracked (here: no descriptor left for
/// the copy of its pidfd), the error is returned and the child is killed
/// and reaped, never left running. Acted out in a re-run of this binary
/// under ever larger descriptor limits, so that every step of the spawn
/// fails once.
#[test]
fn a_child_that_cannot_be_tracked_is_killed_and_reaped() {
    const TEST: &str = "a_child_that_cannot_be_tracked_is_killed_and_reaped";
    if !common::acting_as(TEST) {
        let output = common::rerun(TEST).output().expect("the re-run starts");
        common::assert_rerun_done(TEST, &output);
        return;
    }
    // Whatever this process inherited without close-on-exec (a jobserver's
    // pipe, a shell's descriptors) gets it, so that every spawn below takes
    // the same path (no descriptor to close in the child).
    for entry in std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd") {
        let fd: i32 = entry
            .expect("an entry")
            .file_name()
            .to_str()
            .expect("a number")
            .parse()
            .expect("a number");
        if fd > 2 {
            // SAFETY: F_SETFD on a number: at worst EBADF (the listing's own fd).
            unsafe { nix::libc::fcntl(fd, nix::libc::F_SETFD, nix::libc::FD_CLOEXEC) };
        }
    }
    // The guardian is started before the limit is lowered.
    assert!(Process::spawn(Command::new("true"))
        .expect("true")
        .wait()
        .expect("w")
        .success());
    let me = std::process::id();
    let children = || -> Vec<u32> {
        std::fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(me)
            })
            .collect()
    };
    let set_limit = |soft: u64| {
        let mut limit = nix::libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit read and write the struct given.
        unsafe {
            assert_eq!(
                nix::libc::getrlimit(nix::libc::RLIMIT_NOFILE, &mut limit),
                0
            );
            limit.rlim_cur = soft.min(limit.rlim_max);
            assert_eq!(
                nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &limit),
                0,
                "setrlimit"
            );
        }
    };
    let mut copy_failed = false;
    let mut started = false;
    for limit in 3..256 {
        set_limit(limit);
        let result = Process::spawn(sh("sleep 1000"));
        set_limit(4096);
        match result {
            Ok(child) => {
                assert_eq!(child.kill().expect("killed").signal(), Some(9));
                started = true;
                break;
            }
            Err(error) => {
                copy_failed |= error.to_string().contains("copying the pidfd");
                let left = children();
                assert!(
                    left.is_empty(),
                    "limit {limit}: {error}; children left: {left:?}"
                );
            }
        }
    }
    assert!(started, "no limit below 256 let the spawn succeed");
    assert!(copy_failed, "no limit made the copy of the pidfd fail");
    println!("{}", common::DONE);
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

/// `ProcessManager::process` finds the child with the pid asked for, not
/// just any child, and nothing for a pid it does not manage.
#[test]
fn the_manager_lends_out_the_child_asked_for() {
    let mut manager = ptm::process::ProcessManager::new();
    let first = manager.spawn("sleep", &["1000"]).expect("sleep starts");
    let second = manager.spawn("sh", &["-c", "exit 4"]).expect("sh starts");
    let child = manager.process(second).expect("managed");
    assert_eq!((child.pid(), child.program()), (second, "sh"));
    assert_eq!(child.wait().expect("waited").code(), Some(4));
    assert_eq!(manager.process(first).expect("managed").pid(), first);
    assert!(manager.process(0).is_none(), "no child has pid 0");
    assert!(manager.process(std::process::id()).is_none(), "not a child");
    let reports = manager.kill_all();
    assert_eq!(reports.len(), 2, "the one reaped through process() too");
}
