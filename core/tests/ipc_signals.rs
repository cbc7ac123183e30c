//! `communicate` and `Pipeline` in a host that does not ignore SIGPIPE.
//!
//! Rust programs ignore SIGPIPE from the start of `main`, so in the other
//! test binaries a write into a closed stdin pipe can only fail with `EPIPE`.
//! A C or Python program calling ptm, or a Rust binary that restores the
//! default, would instead be killed by the signal. These tests re-run this
//! binary with SIGPIPE's default action restored and check that the re-run
//! survives and reaches its end. Its own file, so that changing a
//! process-wide signal disposition in a re-run stays out of other tests.

use std::env;
use std::process::{Command, Output, Stdio};

use nix::sys::signal::{self, SigHandler, SigSet, SigmaskHow, Signal};
use ptm::ipc::{communicate, Pipeline};

/// Set in the environment of a re-run: the name of the test it acts out.
const ROLE: &str = "PTM_SIGNALS_TEST_ROLE";

/// Printed by a re-run that reached its end.
const DONE: &str = "ptm-signals-test-child-done";

/// More than any pipe holds, so that the writer must meet the closed pipe.
const INPUT: usize = 64 << 20;

/// Re-runs this binary on `test` alone with [`ROLE`] set, and asserts that it
/// exited successfully after printing [`DONE`].
fn run_self_and_check(test: &str) {
    let exe = env::current_exe().expect("the test binary knows its path");
    let output: Output = Command::new(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ROLE, test)
        .stdin(Stdio::null())
        .output()
        .expect("the test binary re-runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(DONE),
        "re-run of `{test}` ended with {} (SIGPIPE is signal 13)\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// In a re-run: SIGPIPE's default action (death) restored, as in a C host.
fn restore_default_sigpipe() {
    // SAFETY: SIG_DFL installs no handler, so no handler code can run at an
    // unsafe moment; the re-run runs this one test on one thread.
    unsafe { signal::signal(Signal::SIGPIPE, SigHandler::SigDfl) }
        .expect("SIGPIPE's default action is restored");
}

fn sigpipe_set() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGPIPE);
    set
}

/// True if SIGPIPE is pending for this thread or the process.
fn sigpipe_pending() -> bool {
    let mut set = std::mem::MaybeUninit::<nix::libc::sigset_t>::uninit();
    // SAFETY: `sigpending` initialises the set before `sigismember` reads it.
    unsafe {
        nix::libc::sigpending(set.as_mut_ptr()) == 0
            && nix::libc::sigismember(set.as_ptr(), nix::libc::SIGPIPE) == 1
    }
}

/// `head -c1` exits after one byte and closes its stdin while 64 MiB are
/// still to be written: with SIGPIPE at its default action, the write that
/// meets the closed pipe must not kill the caller, and the call succeeds.
#[test]
fn communicate_survives_a_closed_stdin_with_default_sigpipe() {
    let name = "communicate_survives_a_closed_stdin_with_default_sigpipe";
    if env::var_os(ROLE).is_none() {
        return run_self_and_check(name);
    }
    restore_default_sigpipe();
    let input = vec![b'x'; INPUT];
    let mut head = Command::new("head");
    head.arg("-c1");
    let output = communicate(head, &input, None).expect("head -c1 is not an error");
    assert!(output.status.success(), "head: {}", output.status);
    assert_eq!(output.stdout, b"x");
    println!("{DONE}");
}

/// The same through a pipeline whose first stage stops reading.
#[test]
fn pipeline_survives_a_closed_stdin_with_default_sigpipe() {
    let name = "pipeline_survives_a_closed_stdin_with_default_sigpipe";
    if env::var_os(ROLE).is_none() {
        return run_self_and_check(name);
    }
    restore_default_sigpipe();
    let output = Pipeline::new()
        .stage("head", &["-c3"])
        .stage("cat", &[])
        .input(vec![b'y'; INPUT])
        .run()
        .expect("head -c3 | cat is not an error");
    assert_eq!(output.stdout, b"yyy");
    println!("{DONE}");
}

/// A caller that already blocks SIGPIPE gets its mask back as it was, and
/// no SIGPIPE left pending by ptm's writes (it would be delivered, and kill,
/// the moment the caller unblocks it).
#[test]
fn a_blocked_sigpipe_stays_blocked_and_nothing_is_left_pending() {
    let name = "a_blocked_sigpipe_stays_blocked_and_nothing_is_left_pending";
    if env::var_os(ROLE).is_none() {
        return run_self_and_check(name);
    }
    restore_default_sigpipe();
    sigpipe_set()
        .thread_block()
        .expect("SIGPIPE is blocked in this thread");
    assert!(!sigpipe_pending(), "no SIGPIPE pending before the call");
    let input = vec![b'z'; INPUT];
    let mut head = Command::new("head");
    head.arg("-c1");
    let output = communicate(head, &input, None).expect("head -c1 is not an error");
    assert_eq!(output.stdout, b"z");
    assert!(!sigpipe_pending(), "ptm left its SIGPIPE pending");
    let mask = SigSet::thread_get_mask().expect("the thread's mask");
    assert!(mask.contains(Signal::SIGPIPE), "SIGPIPE no longer blocked");
    // Unblocking now would kill this re-run if anything were pending.
    signal::pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&sigpipe_set()), None)
        .expect("SIGPIPE is unblocked");
    println!("{DONE}");
}

/// Re-runs this binary on `test` alone, as [`run_self_and_check`] does, but
/// with SIGPIPE blocked from its first instruction: the mask is inherited
/// across `exec` and by every thread, so in the re-run no thread can take a
/// SIGPIPE sent to the whole process, which stays pending for the process.
#[cfg(target_os = "linux")]
fn run_self_with_sigpipe_blocked_and_check(test: &str) {
    use std::os::unix::process::CommandExt;

    let exe = env::current_exe().expect("the test binary knows its path");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ROLE, test)
        .stdin(Stdio::null());
    // SAFETY: between fork and exec the closure only builds a set on the
    // stack and calls `pthread_sigmask`, which is async-signal-safe. std
    // clears the mask before running it, so the block is what exec keeps.
    unsafe {
        cmd.pre_exec(|| sigpipe_set().thread_block().map_err(std::io::Error::from));
    }
    let output = cmd.output().expect("the test binary re-runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(DONE),
        "re-run of `{test}` ended with {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Whether SIGPIPE is in the pending mask that `/proc/thread-self/status`
/// shows on the line `field`: `SigPnd` for this thread, `ShdPnd` for the
/// whole process (`sigpending` reports only their union).
#[cfg(target_os = "linux")]
fn sigpipe_in(field: &str) -> bool {
    let status = std::fs::read_to_string("/proc/thread-self/status").expect("/proc is mounted");
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .unwrap_or_else(|| panic!("no {field} in:\n{status}"));
    let mask = u64::from_str_radix(mask.trim(), 16).expect("a hexadecimal mask");
    mask & (1 << (nix::libc::SIGPIPE - 1)) != 0
}

/// A SIGPIPE pending for the whole process (someone's
/// `kill(getpid(), SIGPIPE)`) is not ptm's to take, and the SIGPIPE ptm's
/// own write raised in this thread must not be left behind because of it:
/// after `communicate` meets a closed stdin, the process's SIGPIPE is still
/// pending and this thread's is gone. (Checking "is SIGPIPE pending?" with
/// `sigpending`, which sees the union, mistakes the process's signal for
/// one that was there before and leaves ours pending.)
#[cfg(target_os = "linux")]
#[test]
fn a_sigpipe_pending_for_the_process_stays_and_ours_is_taken_back() {
    let name = "a_sigpipe_pending_for_the_process_stays_and_ours_is_taken_back";
    if env::var_os(ROLE).is_none() {
        return run_self_with_sigpipe_blocked_and_check(name);
    }
    restore_default_sigpipe();
    let mask = SigSet::thread_get_mask().expect("the thread's mask");
    assert!(mask.contains(Signal::SIGPIPE), "the re-run starts blocked");
    signal::kill(nix::unistd::Pid::this(), Signal::SIGPIPE).expect("SIGPIPE to the process");
    assert!(sigpipe_in("ShdPnd:"), "SIGPIPE is pending for the process");
    assert!(!sigpipe_in("SigPnd:"), "and not for this thread");

    let input = vec![b'w'; INPUT];
    let mut head = Command::new("head");
    head.arg("-c1");
    let output = communicate(head, &input, None).expect("head -c1 is not an error");
    assert_eq!(output.stdout, b"w");

    assert!(
        !sigpipe_in("SigPnd:"),
        "the SIGPIPE ptm's write raised is left pending on this thread"
    );
    assert!(
        sigpipe_in("ShdPnd:"),
        "ptm took the SIGPIPE pending for the process, which was not its own"
    );
    let mask = SigSet::thread_get_mask().expect("the thread's mask");
    assert!(mask.contains(Signal::SIGPIPE), "SIGPIPE no longer blocked");
    // The process's SIGPIPE stays pending and blocked until the re-run exits.
    println!("{DONE}");
}

/// Set in the environment of the setuid sleeper, a re-run of a copy of
/// this binary, in [`a_child_that_refuses_sigkill_cannot_hang_a_timeout`].
const SLEEPER: &str = "PTM_SIGNALS_TEST_SLEEPER";

/// Set for the unprivileged re-run: the setuid copy of this binary.
const SETUID_COPY: &str = "PTM_SIGNALS_TEST_SETUID_COPY";

/// A child that changed its credentials cannot be killed by its parent
/// (`kill` fails with `EPERM`). At a timeout, `communicate` must then
/// neither wait for it without bound nor pretend it was reaped: it returns
/// an error naming the child within about a second, and leaves the child to
/// a background reaper, which reaps it once it ends: no zombie.
///
/// Needs root to stage it: a setuid-root copy of this binary, run by an
/// unprivileged re-run (user `nobody`), which makes itself root for good
/// (`setresuid(0, 0, 0)`) and sleeps. Without root the test says so and
/// passes without checking anything; CI runs as root.
#[test]
fn a_child_that_refuses_sigkill_cannot_hang_a_timeout() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};

    let name = "a_child_that_refuses_sigkill_cannot_hang_a_timeout";
    let children_of_this_process = || -> Vec<String> {
        let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
        tasks
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("children")).ok())
            .flat_map(|list| {
                list.split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    if env::var_os(SLEEPER).is_some() {
        // The sleeper: root for good, so its parent can no longer signal
        // it. It writes a dot every 20 ms until the pipe is closed (then
        // the write fails: Rust ignores SIGPIPE), so it outlives the
        // timeout and ends soon after `communicate` gave up on it.
        use std::io::Write;
        // SAFETY: a plain system call with integer arguments.
        assert_eq!(
            unsafe { nix::libc::setresuid(0, 0, 0) },
            0,
            "setresuid(0, 0, 0)"
        );
        let start = Instant::now();
        let mut stdout = std::io::stdout().lock();
        while stdout.write_all(b".").and_then(|()| stdout.flush()).is_ok()
            && start.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        return;
    }
    if let Some(copy) = env::var_os(SETUID_COPY) {
        // The unprivileged re-run: `communicate` with a 200 ms timeout.
        let mut cmd = Command::new(copy);
        cmd.args(["--exact", name, "--nocapture", "--test-threads=1"])
            .env_remove(SETUID_COPY)
            .env(SLEEPER, "1");
        let start = Instant::now();
        // Long enough for the copy to start and make itself root even on a
        // loaded machine (before that, it can still be killed).
        let result = communicate(cmd, b"", Some(Duration::from_secs(2)));
        let took = start.elapsed();
        match result {
            Err(ptm::Error::Io(error)) => {
                assert_eq!(error.kind(), std::io::ErrorKind::PermissionDenied);
                let message = error.to_string();
                assert!(
                    message.contains("could not kill") && message.contains("(pid "),
                    "{message}"
                );
                println!("error: {message}");
            }
            other => panic!("expected an error naming the unkillable child, got {other:?}"),
        }
        assert!(took < Duration::from_secs(10), "communicate took {took:?}");
        // Once it ends, the background reaper reaps it: no zombie child.
        let start = Instant::now();
        while !children_of_this_process().is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "not reaped: {:?}",
                children_of_this_process()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        println!("{DONE}");
        return;
    }
    // SAFETY: `geteuid` has no preconditions and cannot fail.
    if unsafe { nix::libc::geteuid() } != 0 {
        println!("skipped: staging a child that refuses SIGKILL needs root (setuid copy)");
        return;
    }
    // Removed when dropped, on a panic too; nobody must enter it.
    let temp = tempfile::tempdir().expect("a temporary directory");
    let dir = temp.path().to_owned();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .expect("the directory is readable by nobody");
    let copy = dir.join("sleeper");
    std::fs::copy(env::current_exe().expect("this binary's path"), &copy)
        .expect("a copy of this binary");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o4755))
        .expect("the copy is setuid root");
    let output = Command::new(env::current_exe().expect("this binary's path"))
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(SETUID_COPY, &copy)
        .uid(65534)
        .gid(65534)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .expect("the unprivileged re-run starts");
    drop(temp);
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("unprivileged re-run:\n{stdout}");
    assert!(
        output.status.success() && stdout.contains(DONE),
        "unprivileged re-run ended with {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}
