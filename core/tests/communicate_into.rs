//! Public behaviour of `ptm::ipc::communicate_into` and `Finished`: the
//! child's stdout read into a buffer the caller keeps, whose capacity is
//! reused from one call to the next, with `coreutils` and `sh` as children.
//!
//! What `communicate_into` shares with `communicate` (no deadlock, process
//! groups, reaping, descriptors) is tested in `tests/ipc.rs` through
//! `communicate`, which is `communicate_into` with a new `Vec`. Every call
//! that would hang on a broken implementation runs under [`within`].
//! Nothing here measures speed: reuse shows as an unchanged pointer and
//! capacity.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

use ptm::ipc::{communicate_into, Finished};
use ptm::{Error, Result};

mod common;
use common::bytes::{assert_same_bytes, random_bytes, sh};
use common::{acting_as, assert_rerun_done, rerun, within, DONE};

const MIB: usize = 1 << 20;

/// `communicate_into(cmd, input, buf, timeout)` under [`within`]; gives the
/// buffer back beside the result.
fn call(
    what: &str,
    cmd: Command,
    input: Vec<u8>,
    mut buf: Vec<u8>,
    timeout: Option<Duration>,
) -> (Result<Finished>, Vec<u8>) {
    within(what, move || {
        let result = communicate_into(cmd, &input, &mut buf, timeout);
        (result, buf)
    })
}

#[test]
fn a_second_call_whose_output_fits_reuses_the_buffer() {
    let first = random_bytes(6 * MIB, 1);
    let (result, buf) = call(
        "6 MiB through cat",
        Command::new("cat"),
        first.clone(),
        Vec::new(),
        None,
    );
    let done = result.expect("cat runs");
    assert!(done.status.success(), "cat: {}", done.status);
    assert_same_bytes("first call", &buf, &first);
    let (pointer, capacity) = (buf.as_ptr(), buf.capacity());

    // Other bytes, fewer of them: they fit, so nothing is allocated.
    let second = random_bytes(5 * MIB, 2);
    let (result, buf) = call(
        "5 MiB through cat",
        Command::new("cat"),
        second.clone(),
        buf,
        None,
    );
    result.expect("cat runs");
    assert_same_bytes("second call", &buf, &second);
    assert_eq!(buf.as_ptr(), pointer, "the buffer was reallocated");
    assert_eq!(buf.capacity(), capacity, "the capacity changed");
}

#[test]
fn old_contents_are_cleared_and_the_capacity_kept() {
    let stale = vec![b'?'; 100_000];
    let capacity = stale.capacity();
    let (result, buf) = call("echo new", sh("echo new"), Vec::new(), stale, None);
    result.expect("sh runs");
    assert_eq!(buf, b"new\n", "the old contents were not cleared");
    assert_eq!(buf.capacity(), capacity);

    // A child that writes nothing leaves the buffer empty, not stale.
    let (result, buf) = call("true", Command::new("true"), Vec::new(), buf, None);
    result.expect("true runs");
    assert!(buf.is_empty(), "{} stale bytes", buf.len());
    assert_eq!(buf.capacity(), capacity);
}

#[test]
fn outputs_of_many_sizes_in_a_row_through_one_buffer_are_exact() {
    // Page and pipe boundaries, growth from small to large, a small output
    // after a large one (stale bytes beyond it), and a large one again.
    let sizes = [
        0,
        1,
        4095,
        4096,
        4097,
        64 * 1024 + 3,
        3 * MIB + 1,
        100,
        9 * MIB + 7,
        MIB,
    ];
    let mut buf = Vec::with_capacity(MIB / 2);
    for (stream, len) in (10..).zip(sizes) {
        let input = random_bytes(len, stream);
        let what = format!("{len} bytes through cat");
        let (result, back) = call(&what, Command::new("cat"), input.clone(), buf, None);
        let done = result.expect("cat runs");
        assert!(done.status.success(), "{what}: {}", done.status);
        assert_same_bytes(&what, &back, &input);
        buf = back;
    }
}

#[test]
fn a_timeout_moves_the_bytes_read_and_the_buffer_into_the_error() {
    let buf = Vec::with_capacity(MIB);
    let (pointer, capacity) = (buf.as_ptr(), buf.capacity());
    let (result, buf) = call(
        "timeout after `echo start`",
        sh("echo start; sleep 10"),
        Vec::new(),
        buf,
        Some(Duration::from_millis(200)),
    );
    match result {
        Err(Error::Timeout { program, output }) => {
            assert_eq!(program, "sh -c 'echo start; sleep 10'");
            assert_eq!(output.stdout, b"start\n", "what was read before the kill");
            assert_eq!(output.status.signal(), Some(9), "killed by SIGKILL");
            // The error holds the caller's own allocation: assigning it
            // back keeps the capacity for the next call.
            assert_eq!(output.stdout.as_ptr(), pointer);
            assert_eq!(output.stdout.capacity(), capacity);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        buf.is_empty(),
        "the bytes are in the error, not left behind"
    );
    assert_eq!(buf.capacity(), 0, "the allocation moved into the error");
}

#[test]
fn stderr_is_captured_and_a_non_zero_exit_is_ok_with_its_status() {
    let (result, buf) = call(
        "exit 7",
        sh("echo out; echo err >&2; exit 7"),
        b"ignored".to_vec(),
        b"stale".to_vec(),
        None,
    );
    let done = result.expect("a non-zero exit is not an error");
    assert_eq!(done.status.code(), Some(7));
    assert_eq!(done.stderr, b"err\n");
    assert_eq!(buf, b"out\n");
}

#[test]
fn empty_input_gives_the_child_end_of_file() {
    let (result, buf) = call(
        "cat with no input",
        Command::new("cat"),
        Vec::new(),
        b"stale".to_vec(),
        None,
    );
    let done = result.expect("cat runs");
    assert!(done.status.success(), "cat: {}", done.status);
    assert!(done.stderr.is_empty());
    assert!(buf.is_empty(), "{} stale bytes", buf.len());
}

#[test]
fn a_program_that_cannot_start_leaves_the_buffer_empty_with_its_capacity() {
    let mut buf = b"stale".to_vec();
    buf.reserve(MIB);
    let (pointer, capacity) = (buf.as_ptr(), buf.capacity());
    let result = communicate_into(Command::new("no-such-program-xyz"), b"in", &mut buf, None);
    match result {
        Err(Error::Spawn { program, .. }) => assert_eq!(program, "no-such-program-xyz"),
        other => panic!("expected a spawn error, got {other:?}"),
    }
    assert!(buf.is_empty(), "the old contents were not cleared");
    assert_eq!((buf.as_ptr(), buf.capacity()), (pointer, capacity));
}

/// With SIGCHLD ignored the kernel reaps the child, so its status is lost:
/// the bytes read, in the caller's allocation, are in `Error::StatusLost`.
/// In a re-run of this binary, since the disposition is process-wide.
#[test]
fn with_sigchld_ignored_the_bytes_read_are_in_status_lost() {
    const TEST: &str = "with_sigchld_ignored_the_bytes_read_are_in_status_lost";
    if acting_as(TEST) {
        use nix::sys::signal::{signal, SigHandler, Signal};
        // SAFETY: installs SIG_IGN, no handler code.
        unsafe { signal(Signal::SIGCHLD, SigHandler::SigIgn) }.expect("SIGCHLD ignored");
        let mut buf = Vec::with_capacity(MIB);
        let (pointer, capacity) = (buf.as_ptr(), buf.capacity());
        let mut cat = Command::new("cat");
        cat.arg("-");
        match communicate_into(cat, b"in\n", &mut buf, Some(Duration::from_secs(20))) {
            Err(Error::StatusLost { stdout, .. }) => {
                assert_eq!(stdout, b"in\n");
                assert_eq!((stdout.as_ptr(), stdout.capacity()), (pointer, capacity));
            }
            other => panic!("expected StatusLost, got {other:?}"),
        }
        assert!(
            buf.is_empty(),
            "the bytes are in the error, not left behind"
        );
        println!("{DONE}");
        return;
    }
    let output = rerun(TEST).output().expect("the test binary re-runs");
    assert_rerun_done(TEST, &output);
}
