//! Helpers shared by the integration tests. Each file in `tests/` is its own
//! crate and includes this module with `mod common;`.

use std::any::Any;
use std::panic;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Once;
use std::thread;
use std::time::Duration;

pub mod bytes;
pub mod pool;

/// Installs, once per test binary, a panic hook that stays silent for the
/// panics a test provokes on purpose (a string payload containing
/// `expected`, or a payload for which `also` is true) and defers to the
/// previous hook for all others.
#[allow(dead_code)] // not every test file provokes panics
pub fn quiet_panics(expected: &'static str, also: fn(&(dyn Any + Send)) -> bool) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            let quiet = also(payload) || message.is_some_and(|m| m.contains(expected));
            if !quiet {
                previous(info);
            }
        }));
    });
}

/// How long a step may take before a test calls it a hang. Generous: it
/// bounds a deadlock, it is not a performance claim.
#[allow(dead_code)] // not every test file needs it by name
pub const LIMIT: Duration = Duration::from_secs(30);

/// Runs `f` on a helper thread and returns its value, failing the test if it
/// takes longer than [`LIMIT`] (a deadlock in the code under test) and
/// re-raising its panic if it panics.
#[allow(dead_code)] // not every test file needs it by name
pub fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    within_for(what, LIMIT, f)
}

/// [`within`] with a limit of its own, e.g. for a whole re-run of a test
/// binary.
pub fn within_for<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let helper = thread::Builder::new()
        .name(format!("test: {what}"))
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("the OS starts the test's helper thread");
    match rx.recv_timeout(limit) {
        Ok(value) => {
            helper.join().expect("the helper thread sent its value");
            value
        }
        Err(RecvTimeoutError::Disconnected) => match helper.join() {
            Err(payload) => panic::resume_unwind(payload),
            Ok(()) => unreachable!("the helper thread returned without sending"),
        },
        Err(RecvTimeoutError::Timeout) => {
            panic!("{what}: not done after {limit:?}: a deadlock or a hang")
        }
    }
}

/// The environment variable that names the test a re-run of a test binary
/// acts out (see [`rerun`]).
#[allow(dead_code)]
pub const ROLE: &str = "PTM_TEST_ROLE";

/// Printed by a re-run that reached its end, so that the parent knows the
/// test really ran (a mistyped `--exact` name runs nothing and succeeds).
#[allow(dead_code)]
pub const DONE: &str = "ptm-test-rerun-done";

/// True in the re-run of this binary made by [`rerun`] for `test`.
#[allow(dead_code)]
pub fn acting_as(test: &str) -> bool {
    std::env::var_os(ROLE).is_some_and(|role| role == test)
}

/// A command that re-runs this test binary on `test` alone, in one thread,
/// as [`ROLE`]: for what changes the whole process (signal dispositions,
/// resource limits).
#[allow(dead_code)]
pub fn rerun(test: &str) -> std::process::Command {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ROLE, test)
        .stdin(std::process::Stdio::null());
    cmd
}

/// Asserts that the re-run of `test` succeeded and printed [`DONE`].
#[allow(dead_code)]
pub fn assert_rerun_done(test: &str, output: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(DONE),
        "re-run of `{test}`: {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Re-runs this whole test binary as user `nobody` (uid and gid 65534),
/// with `marker` set in its environment and the test `skip` (the caller)
/// left out, and asserts that it passed and ran at least one test. Run as
/// root only (only root can become another user).
#[allow(dead_code)]
pub fn assert_passes_as_nobody(skip: &str, marker: &str) {
    use std::os::unix::process::CommandExt as _;
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let (skip, marker) = (skip.to_owned(), marker.to_owned());
    let output = within_for(
        "the re-run as nobody",
        Duration::from_secs(600),
        move || {
            std::process::Command::new(exe)
                .args(["--skip", &skip, "--test-threads=2"])
                .env(marker, "1")
                .current_dir("/")
                .stdin(std::process::Stdio::null())
                .uid(65534)
                .gid(65534)
                .output()
                .expect("the re-run starts")
        },
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let passed: Option<u32> = stdout
        .lines()
        .find_map(|line| line.strip_prefix("test result: ok. "))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok());
    assert!(
        output.status.success() && passed.is_some_and(|n| n > 0),
        "as nobody: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}
