//! Public behaviour of `ptm::ipc`: `communicate`, `Pipeline` and
//! `PipelineOutput`, tested against their documented contract, with coreutils
//! and `sh` as children.
//!
//! No test sleeps to order events. Every call that would hang on a broken
//! implementation (a deadlock, a missed end of file, a grandchild holding a
//! pipe) runs under [`within`], which fails the test with a message after
//! [`LIMIT`] instead of hanging the suite. Durations are asserted only as
//! hang bounds, never as performance claims. The file-descriptor test lives
//! in `tests/ipc_fds.rs`, its own binary, so that these tests, which run in
//! parallel threads and open pipes, cannot disturb its counts.

use std::fs;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ptm::ipc::{communicate, Pipeline, PipelineOutput};
use ptm::Error;

mod common;
use common::bytes::{assert_same_bytes, random_bytes, sh};
use common::{within, LIMIT};

/// How long a call that hit its timeout may take in all: far below the
/// children's own sleeps (10 s, 100 s, 1000 s), so passing it proves they
/// were killed rather than waited for.
const HANG_BOUND: Duration = Duration::from_secs(5);

const MIB: usize = 1 << 20;

/// A number no other test (nor another run of this binary) uses, to make a
/// `sleep` argument that identifies one test's processes in /proc.
fn unique() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}{:03}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The state letter of `/proc/<pid>/stat` (`R`, `S`, `Z`, ...), or `None`
/// when there is no such process (it was reaped).
fn proc_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ...": comm may hold spaces and parentheses.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Whether `pid` is a live process (running or sleeping, not a zombie).
fn alive(pid: u32) -> bool {
    proc_state(pid).is_some_and(|state| !matches!(state, 'Z' | 'X' | 'x'))
}

/// Waits up to [`HANG_BOUND`] for `pid` to be dead: a process killed with
/// SIGKILL by another process may take a moment to finish exiting. This
/// checks a condition; it orders nothing.
fn dies_soon(pid: u32) -> bool {
    let start = Instant::now();
    while start.elapsed() < HANG_BOUND {
        if !alive(pid) {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    false
}

/// The pids of every process (zombies included) whose command line is
/// exactly `argv`.
fn processes_running(argv: &[&str]) -> Vec<u32> {
    let want: Vec<u8> = argv.iter().flat_map(|arg| arg.bytes().chain([0])).collect();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want))
        .collect()
}

// ---------------------------------------------------------------- communicate

#[test]
fn communicate_64_mib_through_cat_is_byte_identical() {
    let output = within("64 MiB through cat", || {
        let input = random_bytes(64 * MIB, 1);
        let output = communicate(Command::new("cat"), &input, None).expect("cat runs");
        (input, output)
    });
    let (input, output) = output;
    assert!(output.status.success(), "cat: {}", output.status);
    assert_same_bytes("cat's stdout", &output.stdout, &input);
    assert!(output.stderr.is_empty());
}

#[test]
fn child_writing_stderr_before_reading_stdin_does_not_deadlock() {
    let output = within("1 MiB of stderr before stdin", || {
        let input = random_bytes(2 * MIB, 2);
        let output = communicate(
            sh("head -c 1048576 /dev/zero >&2; cat"),
            &input,
            Some(LIMIT),
        )
        .expect("sh runs");
        (input, output)
    });
    let (input, output) = output;
    assert!(output.status.success(), "sh: {}", output.status);
    assert_eq!(output.stderr.len(), MIB, "all of stderr");
    assert!(output.stderr.iter().all(|&byte| byte == 0));
    assert_same_bytes("stdout", &output.stdout, &input);
}

#[test]
fn child_that_reads_one_byte_of_64_mib_is_not_an_error() {
    let output = within("64 MiB into head -c1", || {
        let mut cmd = Command::new("head");
        cmd.arg("-c1");
        communicate(cmd, &random_bytes(64 * MIB, 3), None)
    })
    .expect("an early exit of the reader is not an error (EPIPE is ignored)");
    assert!(output.status.success(), "head: {}", output.status);
    assert_eq!(output.stdout, random_bytes(1, 3));
}

#[test]
fn timeout_kills_and_keeps_partial_output() {
    let start = Instant::now();
    let result = within("timeout after `echo start`", || {
        communicate(
            sh("echo start; sleep 10"),
            b"",
            Some(Duration::from_millis(200)),
        )
    });
    let elapsed = start.elapsed();
    match result {
        Err(Error::Timeout { program, output }) => {
            assert_eq!(program, "sh -c 'echo start; sleep 10'", "the command line");
            assert_eq!(output.stdout, b"start\n");
            assert_eq!(output.status.signal(), Some(9), "killed by SIGKILL");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        elapsed < HANG_BOUND,
        "took {elapsed:?}: the child was not killed"
    );
}

#[test]
fn timeout_kills_a_grandchild_holding_the_pipe() {
    let start = Instant::now();
    let result = within("grandchild holding stdout", || {
        communicate(
            sh("sleep 100 & echo hi; echo $!"),
            b"",
            Some(Duration::from_millis(300)),
        )
    });
    let elapsed = start.elapsed();
    let output = match result {
        Err(Error::Timeout { output, .. }) => output,
        other => panic!("expected a timeout, got {other:?}"),
    };
    assert!(
        elapsed < HANG_BOUND,
        "took {elapsed:?}: waited for the grandchild"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("hi"), "stdout: {stdout:?}");
    let grandchild: u32 = lines
        .next()
        .and_then(|line| line.parse().ok())
        .unwrap_or_else(|| panic!("the grandchild's pid in {stdout:?}"));
    assert!(
        dies_soon(grandchild),
        "the `sleep 100` grandchild (pid {grandchild}) is still alive: the group was not killed"
    );
}

#[test]
fn non_zero_exit_is_ok_with_the_status() {
    let output = within("exit 7", || {
        communicate(sh("echo out; echo err >&2; exit 7"), b"ignored", None)
    })
    .expect("a non-zero exit is not an error of communicate");
    assert_eq!(output.status.code(), Some(7));
    assert_eq!(output.stdout, b"out\n");
    assert_eq!(output.stderr, b"err\n");
}

#[test]
fn missing_program_is_a_spawn_error_naming_it() {
    let result = communicate(Command::new("no-such-program-xyz"), b"input", None);
    match result {
        Err(error @ Error::Spawn { .. }) => {
            assert!(error.to_string().contains("no-such-program-xyz"), "{error}");
            let Error::Spawn { program, source } = error else {
                unreachable!()
            };
            assert_eq!(program, "no-such-program-xyz");
            assert_eq!(source.kind(), io::ErrorKind::NotFound);
        }
        other => panic!("expected a spawn error, got {other:?}"),
    }
}

#[test]
fn empty_input_gives_the_child_end_of_file() {
    let output = within("cat with no input", || {
        communicate(Command::new("cat"), b"", None)
    })
    .expect("cat runs");
    assert!(output.status.success());
    assert!(output.stdout.is_empty());
}

#[test]
fn command_settings_other_than_stdio_are_kept() {
    let mut cmd = sh("echo \"$PTM_TEST_VAR\"; pwd");
    cmd.env("PTM_TEST_VAR", "kept").current_dir("/");
    let output = within("env and cwd", move || communicate(cmd, b"", None)).expect("sh runs");
    assert_eq!(output.stdout, b"kept\n/\n");
}

#[test]
fn child_runs_in_its_own_process_group() {
    // `ps -o pgid= -p $$` would need procps; /proc/self/stat has it: field 5.
    let output = within("pgid", || {
        communicate(sh("echo $$; cut -d' ' -f5 /proc/$$/stat"), b"", None)
    })
    .expect("sh runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let ids: Vec<&str> = stdout.lines().collect();
    assert_eq!(ids.len(), 2, "stdout: {stdout:?}");
    assert_eq!(ids[0], ids[1], "the child leads its own process group");
}

/// Regression: writing all of the input before reading any output (a
/// common first attempt) deadlocks with more input than the pipes hold
/// (2 x 64 KiB by default): `cat` blocks writing its full stdout pipe,
/// stops reading, and the parent blocks writing stdin. Here `communicate`,
/// with 4 MiB (more than two enlarged 1 MiB pipes), returns.
#[test]
fn communicate_does_not_deadlock_on_more_input_than_the_pipes_hold() {
    let (input, output) = within("write-all-then-read's deadlock", || {
        let input = random_bytes(4 * MIB, 4);
        let output = communicate(Command::new("cat"), &input, None).expect("cat runs");
        (input, output)
    });
    assert!(output.status.success());
    assert_same_bytes("cat's stdout", &output.stdout, &input);
}

// ------------------------------------------------------------------- Pipeline

#[test]
fn pipeline_runs_stages_in_order() {
    let out = within("echo | tr | sort", || {
        Pipeline::new()
            .stage("echo", &["pear apple fig"])
            .stage("tr", &[" a-z", "\nA-Z"])
            .stage("sort", &[])
            .run()
    })
    .expect("the pipeline runs");
    assert_eq!(out.stdout, b"APPLE\nFIG\nPEAR\n");
    assert_eq!(out.statuses.len(), 3, "one status per stage");
    assert!(out.statuses.iter().all(|status| status.success()));
}

#[test]
fn pipeline_feeds_its_input_to_the_first_stage() {
    let out = within("input | tr | sort", || {
        Pipeline::new()
            .stage("tr", &["a-z", "A-Z"])
            .stage("sort", &[])
            .input("hello\nworld\nabc\n")
            .run()
    })
    .expect("the pipeline runs");
    assert_eq!(out.stdout, b"ABC\nHELLO\nWORLD\n");
    assert_eq!(out.statuses.len(), 2);
}

#[test]
fn pipefail_reports_the_first_failing_stage() {
    let result = within("false | true", || {
        Pipeline::new().stage("false", &[]).stage("true", &[]).run()
    });
    let error = result.expect_err("false | true fails under pipefail");
    let message = error.to_string();
    assert!(message.contains("stage 0"), "{message}");
    assert!(message.contains("false"), "{message}");
    match error {
        Error::Pipeline {
            stage: 0,
            program,
            source,
        } => {
            assert_eq!(program, "false");
            match *source {
                Error::Exit { status, .. } => assert_eq!(status.code(), Some(1)),
                other => panic!("expected an exit error, got {other:?}"),
            }
        }
        other => panic!("expected stage 0 to fail, got {other:?}"),
    }

    let result = within("true | false | false", || {
        Pipeline::new()
            .stage("true", &[])
            .stage("false", &[])
            .stage("false", &[])
            .run()
    });
    assert!(
        matches!(result, Err(Error::Pipeline { stage: 1, .. })),
        "the lowest failing index: {result:?}"
    );
}

#[test]
fn failing_stage_error_carries_its_stderr_tail() {
    let result = within("stage with stderr", || {
        Pipeline::new()
            .stage("cat", &[])
            .stage("sh", &["-c", "cat >/dev/null; echo boom >&2; exit 2"])
            .input("x")
            .run()
    });
    match result {
        Err(Error::Pipeline {
            stage: 1, source, ..
        }) => match *source {
            Error::Exit {
                program,
                args,
                status,
                stderr_tail,
            } => {
                assert_eq!(program, "sh");
                assert_eq!(args[0], "-c");
                assert_eq!(status.code(), Some(2));
                assert_eq!(stderr_tail.trim_end(), "boom");
            }
            other => panic!("expected an exit error, got {other:?}"),
        },
        other => panic!("expected stage 1 to fail, got {other:?}"),
    }
}

#[test]
fn long_stderr_of_a_failing_stage_is_cut_to_its_tail() {
    let result = within("stage with 290 KB of stderr", || {
        Pipeline::new()
            .stage("sh", &["-c", "seq 1 50000 >&2; exit 1"])
            .run()
    });
    match result {
        Err(Error::Pipeline {
            stage: 0, source, ..
        }) => match *source {
            Error::Exit { stderr_tail, .. } => {
                assert!(stderr_tail.len() <= 4096, "{} bytes", stderr_tail.len());
                assert!(stderr_tail.ends_with("\n49999\n50000\n"), "{stderr_tail:?}");
                let first = stderr_tail.lines().next().expect("some lines");
                let first: u32 = first.parse().expect("whole lines only");
                assert!(first > 40_000);
            }
            other => panic!("expected an exit error, got {other:?}"),
        },
        other => panic!("expected stage 0 to fail, got {other:?}"),
    }
}

/// The pids of every process, zombies included, whose `comm` (the file name
/// it was started from, as `/proc/<pid>/stat` shows it) is `name`. Unlike the
/// command line, which a zombie no longer has, `comm` outlives the exit.
fn processes_named(name: &str) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let want = format!("({name})");
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| stat.split_whitespace().nth(1) == Some(want.as_str()))
        })
        .collect()
}

/// Stage 0 runs `sleep` under a name of its own (a symlink), so that a zombie
/// it left, which has no command line any more, is still found by name.
#[test]
fn missing_middle_stage_kills_and_reaps_the_others() {
    let name = format!("ptmz{}", unique());
    // `comm` keeps 15 bytes: a longer name would never match.
    assert!(name.len() <= 15, "{name} is too long for comm");
    // Removed when dropped, on a panic too.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let link = dir.path().join(&name);
    std::os::unix::fs::symlink("/bin/sleep", &link).expect("a symlink to sleep");
    let program = link.to_str().expect("a UTF-8 temporary path").to_owned();
    let tag = "1000".to_owned();
    let start = Instant::now();
    let result = within("sleep | missing | cat", {
        let (program, tag) = (program.clone(), tag.clone());
        move || {
            Pipeline::new()
                .stage(&program, &[&tag])
                .stage("no-such-program-xyz", &[])
                .stage("cat", &[])
                .run()
        }
    });
    let elapsed = start.elapsed();
    match result {
        Err(Error::Pipeline {
            stage: 1,
            program,
            source,
        }) => {
            assert_eq!(program, "no-such-program-xyz");
            match *source {
                Error::Spawn { source, .. } => {
                    assert_eq!(source.kind(), io::ErrorKind::NotFound)
                }
                other => panic!("expected a spawn error, got {other:?}"),
            }
        }
        other => panic!("expected stage 1 to fail to start, got {other:?}"),
    }
    assert!(elapsed < HANG_BOUND, "took {elapsed:?}");
    // Reaped, not merely killed: not even a zombie may be left.
    let left = processes_named(&name);
    drop(dir);
    assert!(left.is_empty(), "`{name}` (sleep) left behind: {left:?}");
}

#[test]
fn four_stage_cat_pipeline_over_64_mib_is_byte_identical() {
    let (input, out) = within("cat | cat | cat | cat", || {
        let input = random_bytes(64 * MIB, 5);
        let out = Pipeline::new()
            .stage("cat", &[])
            .stage("cat", &[])
            .stage("cat", &[])
            .stage("cat", &[])
            .input(input.clone())
            .run()
            .expect("the pipeline runs");
        (input, out)
    });
    assert_same_bytes("4-stage cat", &out.stdout, &input);
    assert_eq!(out.statuses.len(), 4);
}

/// If the parent kept a copy of any pipe between stages, the next stage
/// would never see end of file and this would hang.
#[test]
fn five_stage_cat_pipeline_reaches_end_of_file() {
    let (input, out) = within("5 x cat", || {
        let input = random_bytes(16 * MIB, 6);
        let mut pipeline = Pipeline::new();
        for _ in 0..5 {
            pipeline = pipeline.stage("cat", &[]);
        }
        let out = pipeline
            .input(input.clone())
            .run()
            .expect("the pipeline runs");
        (input, out)
    });
    assert_same_bytes("5-stage cat", &out.stdout, &input);
    assert_eq!(out.statuses.len(), 5);
}

/// `yes | head -n1`: when `head` exits, `yes` must get SIGPIPE. If the parent
/// kept its copy of the pipe between them, `yes` would block on the full
/// pipe forever. As with `set -o pipefail`, the producer's SIGPIPE death is
/// then the pipeline's failure, at stage 0.
#[test]
fn producer_sees_its_consumer_exit() {
    let result = within("yes | head -n1", || {
        Pipeline::new()
            .stage("yes", &[])
            .stage("head", &["-n1"])
            .run()
    });
    match result {
        Err(Error::Pipeline {
            stage: 0, source, ..
        }) => match *source {
            Error::Exit { status, .. } => assert_eq!(status.signal(), Some(13), "SIGPIPE"),
            other => panic!("expected an exit error, got {other:?}"),
        },
        other => panic!("expected `yes` to die of SIGPIPE, got {other:?}"),
    }
}

#[test]
fn pipeline_with_a_reader_that_stops_early_is_ok() {
    let out = within("64 MiB into head -c1", || {
        Pipeline::new()
            .stage("head", &["-c1"])
            .input(random_bytes(64 * MIB, 7))
            .run()
    })
    .expect("an early exit of the reader is not an error");
    assert_eq!(out.stdout, random_bytes(1, 7));
    assert_eq!(out.statuses.len(), 1);
}

#[test]
fn pipeline_without_stages_is_invalid() {
    let result = Pipeline::new().run();
    assert!(
        matches!(result, Err(Error::InvalidArgument(_))),
        "{result:?}"
    );
}

#[test]
fn pipeline_timeout_kills_every_stage() {
    let tag = format!("1000.{}", unique());
    let start = Instant::now();
    let result = within("pipeline timeout", {
        let tag = tag.clone();
        move || {
            Pipeline::new()
                .stage(
                    "sh",
                    &[
                        "-c",
                        &format!("echo partial; sleep {tag} & exec sleep {tag}"),
                    ],
                )
                .stage("sleep", &[&tag])
                .stage("cat", &[])
                .timeout(Duration::from_millis(300))
                .run()
        }
    });
    let elapsed = start.elapsed();
    match result {
        Err(Error::Timeout { program, output }) => {
            assert!(
                program.contains(" | sleep "),
                "names the pipeline: {program}"
            );
            // `sleep` in the middle never copies stdin to stdout; `cat`
            // wrote nothing, and was killed.
            assert!(output.stdout.is_empty());
            assert_eq!(output.status.signal(), Some(9));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        elapsed < HANG_BOUND,
        "took {elapsed:?}: the stages were not killed"
    );
    // The stages are reaped (gone entirely); the background grandchild of
    // stage 0 was killed with the group (its parent reaps it, or it is a
    // zombie of init's).
    let deadline = Instant::now() + HANG_BOUND;
    loop {
        let live: Vec<u32> = processes_running(&["sleep", &tag])
            .into_iter()
            .filter(|&pid| alive(pid))
            .collect();
        if live.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "`sleep {tag}` still alive: {live:?}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// The timeout can pass after every pipe reached end of file, while waiting
/// for a stage that closed its pipes but runs on. The first stage (which
/// leads the process group) has long exited by then, yet the kill must
/// still reach the whole group: here a background `sleep` that holds no
/// pipe at all.
#[test]
fn pipeline_timeout_after_end_of_file_still_kills_the_group() {
    let tag = format!("1000.{}", unique());
    let script = format!("exec >/dev/null 2>&1 </dev/null; sleep {tag} & exec sleep {tag}");
    let result = within("timeout after end of file", move || {
        Pipeline::new()
            .stage("true", &[])
            .stage("sh", &["-c", &script])
            .timeout(Duration::from_millis(300))
            .run()
    });
    assert!(
        matches!(result, Err(Error::Timeout { .. })),
        "expected a timeout, got {result:?}"
    );
    let deadline = Instant::now() + HANG_BOUND;
    loop {
        let live: Vec<u32> = processes_running(&["sleep", &tag])
            .into_iter()
            .filter(|&pid| alive(pid))
            .collect();
        if live.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "`sleep {tag}` still alive: {live:?}: the group was not killed"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn pipeline_timeout_keeps_the_partial_output() {
    let result = within("pipeline partial output", || {
        Pipeline::new()
            .stage("sh", &["-c", "echo partial; exec sleep 10"])
            .stage("cat", &[])
            .timeout(Duration::from_millis(300))
            .run()
    });
    match result {
        Err(Error::Timeout { output, .. }) => assert_eq!(output.stdout, b"partial\n"),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[test]
fn pipeline_can_run_twice_and_debug_shows_no_input_bytes() {
    let pipeline = Pipeline::new().stage("wc", &["-c"]).input(vec![b'z'; 1000]);
    let debug = format!("{pipeline:?}");
    assert!(debug.contains("input_len: 1000"), "{debug}");
    assert!(!debug.contains("122"), "the bytes themselves: {debug}");
    let outputs: Vec<PipelineOutput> = within("run twice", move || {
        (0..2).map(|_| pipeline.run().expect("wc runs")).collect()
    });
    for out in outputs {
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1000");
    }
}

/// Regression: two `Command`s joined by a pipe, waiting for the consumer
/// only (a common first attempt), never reap the producer (a zombie until
/// the parent exits) nor look at its status, so `false | cat` "succeeds".
/// Here every stage is reaped and checked.
#[test]
fn pipeline_waits_for_the_producer() {
    let out = within("producer | cat", || {
        Pipeline::new()
            .stage("sh", &["-c", "echo $$"])
            .stage("cat", &[])
            .run()
    })
    .expect("the pipeline runs");
    assert_eq!(out.statuses.len(), 2, "the producer's status is reported");
    let producer: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the producer printed its pid");
    assert_eq!(
        proc_state(producer),
        None,
        "the producer (pid {producer}) is still in /proc: not reaped"
    );

    let result = within("false | cat", || {
        Pipeline::new().stage("false", &[]).stage("cat", &[]).run()
    });
    assert!(
        matches!(result, Err(Error::Pipeline { stage: 0, .. })),
        "the producer's failure is seen: {result:?}"
    );
}

/// The shell snippet that prints the descriptors open in the shell that runs
/// it, as numbers separated by spaces. The glob's own directory handle is
/// closed again by the time `[ -e ]` looks, so it drops out.
const LIST_FDS: &str =
    r#"for f in /proc/$$/fd/*; do [ -e "$f" ] && printf '%s ' "${f##*/}"; done; echo"#;

/// A descriptor of this process *without* close-on-exec, as a shell or C
/// code may leave open, until dropped. `dup` clears the flag on the copy.
struct InheritableFd(i32);

impl InheritableFd {
    fn open() -> InheritableFd {
        // SAFETY: dup of stdin makes a new descriptor that this value owns.
        let fd = unsafe { nix::libc::dup(0) };
        assert!(fd > 2, "dup gives a new descriptor");
        // SAFETY: F_GETFD only reads the flags of the descriptor just made.
        let flags = unsafe { nix::libc::fcntl(fd, nix::libc::F_GETFD) };
        assert_eq!(flags & nix::libc::FD_CLOEXEC, 0, "not close-on-exec");
        InheritableFd(fd)
    }
}

impl Drop for InheritableFd {
    fn drop(&mut self) {
        // SAFETY: closes the descriptor this value owns.
        unsafe { nix::libc::close(self.0) };
    }
}

/// Parses lines of [`LIST_FDS`] output into sorted descriptor sets.
fn parse_fd_lines(stdout: &[u8]) -> Vec<Vec<u32>> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| {
            let mut fds: Vec<u32> = line
                .split_whitespace()
                .map(|fd| fd.parse().expect("a descriptor number"))
                .collect();
            fds.sort_unstable();
            fds
        })
        .collect()
}

/// No descriptor leaks into children: a child of `communicate`, every stage
/// of a three-stage pipeline (the middle one sees two other stages' pipes
/// come and go) and a child of `ProcessManager::output` hold exactly 0, 1
/// and 2, even while this process holds a descriptor without close-on-exec
/// (which a plain `Command` would pass on). The listing is checked first on
/// a shell that opens descriptor 5, so that it can fail.
#[test]
fn no_descriptor_leaks_into_children() {
    let leak = InheritableFd::open();
    let plain = std::process::Command::new("sh")
        .args(["-c", LIST_FDS])
        .output()
        .expect("sh runs");
    let leak_number = u32::try_from(leak.0).expect("a descriptor number");
    assert!(
        parse_fd_lines(&plain.stdout)[0].contains(&leak_number),
        "a plain Command passes the descriptor on"
    );
    let expected = vec![0, 1, 2];
    let with_five = vec![0, 1, 2, 5];
    let probe = within("the probe", || {
        ptm::process::ProcessManager::output(
            "sh",
            &["-c", &format!("exec 5</dev/null; {LIST_FDS}")],
        )
    })
    .expect("sh runs");
    assert_eq!(
        parse_fd_lines(&probe.stdout),
        vec![with_five],
        "the listing sees fd 5"
    );

    let out = within("communicate", || {
        communicate(
            sh(&format!("cat >/dev/null; {LIST_FDS}")),
            &vec![b'x'; 300_000],
            None,
        )
    })
    .expect("sh runs");
    assert_eq!(
        parse_fd_lines(&out.stdout),
        vec![expected.clone()],
        "communicate's child"
    );

    let stage = format!("cat; {LIST_FDS}");
    let out = within("a three-stage pipeline", move || {
        Pipeline::new()
            .stage("sh", &["-c", &stage])
            .stage("sh", &["-c", &stage])
            .stage("sh", &["-c", &stage])
            .input(vec![b'y'; 300_000])
            .run()
    })
    .expect("the pipeline runs");
    let (data, lists) = out.stdout.split_at(300_000);
    assert!(
        data.iter().all(|&byte| byte == b'y'),
        "the input came through"
    );
    assert_eq!(
        parse_fd_lines(lists),
        vec![expected.clone(); 3],
        "the stages"
    );

    let out = within("ProcessManager::output", || {
        ptm::process::ProcessManager::output("sh", &["-c", LIST_FDS])
    })
    .expect("sh runs");
    assert_eq!(
        parse_fd_lines(&out.stdout),
        vec![expected],
        "output's child"
    );
    drop(leak);
}

/// `Pipeline::command` keeps a stage's environment and working directory
/// (its stdio and group are the pipeline's).
#[test]
fn a_command_stage_keeps_its_environment_and_directory() {
    let dir = std::env::temp_dir();
    let mut stage = Command::new("sh");
    stage
        .args([
            "-c",
            "cat; echo \"$PTM_STAGE_VAR\"; pwd; echo \"${HOME-unset}\"",
        ])
        .env("PTM_STAGE_VAR", "kept")
        .env_remove("HOME")
        .current_dir(&dir);
    let out = within("a command stage", move || {
        Pipeline::new().stage("echo", &["in"]).command(stage).run()
    })
    .expect("the pipeline runs");
    let canonical = fs::canonicalize(&dir).expect("the temp dir");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("in\nkept\n{}\nunset\n", canonical.display())
    );
}

/// `unchecked` returns every stage's status and the whole output of a
/// pipeline whose middle stage failed.
#[test]
fn an_unchecked_pipeline_returns_every_status_and_the_output() {
    let out = within("an unchecked pipeline", || {
        Pipeline::new()
            .stage("printf", &["a\\nb\\n"])
            .stage("sh", &["-c", "cat; exit 3"])
            .stage("sort", &["-r"])
            .unchecked()
            .run()
    })
    .expect("unchecked: Ok whatever the statuses");
    assert_eq!(out.stdout, b"b\na\n");
    let codes: Vec<_> = out.statuses.iter().map(|status| status.code()).collect();
    assert_eq!(codes, vec![Some(0), Some(3), Some(0)]);
    // Checked, the same pipeline fails at stage 1.
    let checked = Pipeline::new()
        .stage("printf", &["a\\nb\\n"])
        .stage("sh", &["-c", "cat; exit 3"])
        .stage("sort", &["-r"])
        .run();
    assert!(
        matches!(checked, Err(Error::Pipeline { stage: 1, .. })),
        "{checked:?}"
    );
}
