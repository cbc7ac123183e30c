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
