//! File-descriptor hygiene of `ptm::ipc`, alone in its own test binary so
//! that no other test opens or closes descriptors while it counts them.

use std::fs;
use std::process::Command;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use ptm::ipc::{communicate, Pipeline};
use ptm::Error;

/// The parent's open descriptors, from /proc/self/fd (the directory handle
/// `read_dir` holds while listing is open both times, so it cancels out).
fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd lists this process's descriptors")
        .count()
}

/// One round of every path that opens pipes: success, non-zero exit, early
/// reader exit, missing program, timeout; pipeline success, failure,
/// missing stage, timeout.
fn every_path(round: usize) {
    let mut cat = Command::new("cat");
    cat.arg("-");
    let out = communicate(cat, &vec![b'a'; 200 * 1024], None).expect("cat runs");
    assert_eq!(out.stdout.len(), 200 * 1024);
    if round.is_multiple_of(2) {
        let mut head = Command::new("head");
        head.arg("-c1");
        communicate(head, &vec![b'b'; 256 * 1024], None).expect("head runs");
    } else {
        let mut sh = Command::new("sh");
        sh.args(["-c", "exit 3"]);
        let out = communicate(sh, b"", None).expect("sh runs");
        assert_eq!(out.status.code(), Some(3));
    }
}

#[test]
fn no_descriptor_leaks_across_200_communicates_and_100_pipelines() {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        // Warm up once: std may open descriptors lazily on first use.
        every_path(0);
        let before = open_fds();
        for round in 0..100 {
            every_path(round);
        }
        let missing = communicate(Command::new("no-such-program-xyz"), b"x", None);
        assert!(matches!(missing, Err(Error::Spawn { .. })));
        let mut slow = Command::new("sh");
        slow.args(["-c", "echo x; sleep 10"]);
        let late = communicate(slow, b"", Some(Duration::from_millis(20)));
        assert!(matches!(late, Err(Error::Timeout { .. })));
        for round in 0..100 {
            let result = match round % 4 {
                0 => Pipeline::new()
                    .stage("cat", &[])
                    .stage("cat", &[])
                    .input(vec![b'c'; 100 * 1024])
                    .run()
                    .map(drop),
                1 => Pipeline::new()
                    .stage("false", &[])
                    .stage("cat", &[])
                    .run()
                    .map(drop),
                2 => Pipeline::new()
                    .stage("cat", &[])
                    .stage("no-such-program-xyz", &[])
                    .stage("cat", &[])
                    .input("x")
                    .run()
                    .map(drop),
                _ => Pipeline::new()
                    .stage("sleep", &["10"])
                    .stage("cat", &[])
                    .timeout(Duration::from_millis(10))
                    .run()
                    .map(drop),
            };
            assert_eq!(result.is_ok(), round % 4 == 0, "round {round}: {result:?}");
        }
        let after = open_fds();
        let _ = tx.send((before, after));
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok((before, after)) => assert_eq!(before, after, "descriptors leaked"),
        Err(RecvTimeoutError::Timeout) => panic!("not done after 60 s: a call hangs"),
        Err(RecvTimeoutError::Disconnected) => panic!("the test thread panicked"),
    }
}
