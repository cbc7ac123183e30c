//! Runs the `examples-channels` binary and checks what each demo prints.

use assert_cmd::cargo::cargo_bin_cmd;

/// The demos, in the order the binary runs them.
const DEMOS: [&str; 6] =
    ["mpsc", "queue", "bounded", "duplex", "select", "disconnect"];

/// Runs the binary with `args`; returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let output = cargo_bin_cmd!("examples-channels")
        .args(args)
        .output()
        .expect("the binary runs");
    let code = output
        .status
        .code()
        .expect("exited, not killed by a signal");
    let stdout = String::from_utf8(output.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8(output.stderr).expect("stderr is UTF-8");
    (code, stdout, stderr)
}

/// Runs one demo, asserts it succeeded and printed every line of `expected`.
fn demo_prints(args: &[&str], expected: &[&str]) -> String {
    let (code, stdout, stderr) = run(args);
    assert_eq!(code, 0, "{args:?} failed:\n{stderr}");
    for line in expected {
        assert!(stdout.contains(line), "{args:?}: no {line:?} in:\n{stdout}");
    }
    stdout
}

#[test]
fn mpsc_loses_nothing_and_ends() {
    demo_prints(
        &["mpsc", "--producers", "3", "--messages", "200"],
        &[
            "one sender: received \"message 1\", \"message 2\", \"message 3\"; \
             the loop ended",
            "kept the original Sender: still waiting after 200 ms",
            "dropped it: the consumer's loop ended, 1 received",
            "3 producers x 200 messages: received 600, sum 179700 \
             (expected 179700)",
            "each of the 600 values arrived exactly once",
        ],
    );
}

#[test]
fn queue_does_each_task_once() {
    let stdout = demo_prints(
        &["queue", "--tasks", "100", "--workers", "3"],
        &[
            "sum of squares 0..100 = 328350",
            "100 of 100 tasks done exactly once",
            "(total 100;",
        ],
    );
    assert!(stdout.contains("all 3 workers ended, joined"), "{stdout}");
}

#[test]
fn bounded_stays_within_capacity_and_unbounded_does_not() {
    let args = [
        "bounded",
        "--items",
        "200",
        "--capacity",
        "4",
        "--work",
        "20000",
    ];
    let stdout = demo_prints(
        &args,
        &[
            "bounded(4): consumed 200 of 200 items, sum = 19900",
            "bounded(4): longest queue 4 <= capacity 4 (4 slots, allocated",
            "unbounded: consumed 200 of 200 items, sum = 19900",
            "unbounded: the queue was full 0 times",
            "unbounded: longest queue 200 (1600 bytes of values at the peak)",
        ],
    );
    // The consumer starts only after the producer's first `Full`, so the queue fills
    // on any schedule: exact lengths, and at least one block for the bounded queue.
    let max_len = |name: &str| -> usize {
        let prefix = format!("{name}: longest queue ");
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .expect("max length line");
        line.split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a number")
    };
    assert_eq!(max_len("bounded(4)"), 4, "{stdout}");
    assert_eq!(max_len("unbounded"), 200, "{stdout}");
    let blocked = stdout
        .lines()
        .find_map(|l| l.strip_prefix("bounded(4): the queue was full "))
        .and_then(|rest| rest.split(' ').next()?.parse::<u64>().ok())
        .expect("a blocked count");
    assert!(blocked > 0, "{stdout}");
}

#[test]
fn duplex_answers_each_request_and_stops() {
    demo_prints(
        &["duplex"],
        &[
            "pings: Ping(1) -> Pong(1)",
            "pings: Ping(3) -> Pong(3)",
            "pings: worker answered 3 of 3 requests, ended, joined",
            "stop message: Stop(2) -> Bye(2)",
            "stop message: Ping(3) -> no answer",
            "stop message: worker answered 2 of 3 requests",
        ],
    );
}

#[test]
fn select_counts_both_producers_and_times_out() {
    demo_prints(
        &["select", "--fast", "10", "--slow", "3", "--quiet-ms", "100"],
        &[
            "10 messages, sum 45",
            "3 messages, sum 3",
            "both channels disconnected, then the 100 ms timeout fired",
        ],
    );
}

#[test]
fn disconnect_shows_each_result() {
    for lib in ["std", "crossbeam"] {
        demo_prints(
            &["disconnect"],
            &[
                &format!("{lib}: send(7) after the receiver was dropped -> Err(SendError(7))"),
                &format!("{lib}: 3 sent, senders dropped; recv -> Ok(1), Ok(2), Ok(3), Err(RecvError)"),
                &format!("{lib}: try_recv on empty channel, sender alive -> Err(Empty)"),
                &format!("{lib}: try_recv on empty channel, sender dropped -> Err(Disconnected)"),
            ],
        );
    }
}

#[test]
fn no_argument_runs_every_demo_in_order() {
    let stdout = demo_prints(
        &[],
        &[
            "received 4000, sum 7998000 (expected 7998000)",
            "sum of squares 0..100 = 328350",
            "bounded(16): longest queue 16",
            "pings: Ping(2) -> Pong(2)",
            "from fast (every 1ms): 20 messages, sum 190",
            "crossbeam: try_recv on empty channel, sender dropped -> Err(Disconnected)",
        ],
    );
    let headers: Vec<_> = DEMOS
        .iter()
        .map(|demo| stdout.find(&format!("== {demo}:")))
        .collect();
    assert!(
        headers.iter().all(Option::is_some),
        "a demo is missing:\n{stdout}"
    );
    assert!(
        headers.windows(2).all(|w| w[0] < w[1]),
        "demos out of order:\n{stdout}"
    );
}

/// Every demo opens with `== <demo>: <what it shows> ==` and ends with a
/// line that says what to notice.
#[test]
fn every_demo_has_a_header_and_a_notice() {
    for demo in DEMOS {
        let (code, stdout, stderr) = run(&[demo]);
        assert_eq!(code, 0, "{demo} failed:\n{stderr}");
        let first = stdout.lines().next().unwrap_or_default();
        let header = format!("== {demo}: ");
        assert!(
            first.starts_with(&header) && first.ends_with(" =="),
            "{demo}: header {first:?}"
        );
        let last = stdout.lines().last().unwrap_or_default();
        assert!(last.starts_with("notice: "), "{demo}: last line {last:?}");
    }
}

#[test]
fn help_lists_every_demo() {
    let (code, stdout, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for demo in DEMOS {
        assert!(
            stdout.lines().any(|l| l.trim_start().starts_with(demo)),
            "{demo} not in:\n{stdout}"
        );
    }
}

#[test]
fn a_bad_flag_is_a_usage_error() {
    let (code, stdout, stderr) = run(&["mpsc", "--no-such-flag"]);
    assert_eq!(code, 2, "{stdout}");
    assert!(
        stderr.contains("unexpected argument '--no-such-flag'"),
        "{stderr}"
    );
    assert!(stderr.contains("Usage: examples-channels mpsc"), "{stderr}");
    let (code, _, stderr) = run(&["bounded", "--capacity", "lots"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("invalid value 'lots' for '--capacity"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["queue", "--workers", "0"]);
    assert_eq!(code, 2, "0 workers could never run a task");
    assert!(
        stderr.contains("invalid value '0' for '--workers"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_demo_lists_the_valid_ones() {
    let (code, stdout, stderr) = run(&["nope"]);
    assert_eq!(code, 2, "{stdout}");
    assert!(
        stderr.contains("unrecognized subcommand 'nope'"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("valid demos: {}", DEMOS.join(", "))),
        "{stderr}"
    );
}

/// `examples-channels | head -1`: once the reader of stdout has gone, the next
/// `println!` failed with `EPIPE` and panicked ("failed printing to stdout:
/// Broken pipe", exit code 101). The run must end quietly instead, as `cat`
/// does: killed by SIGPIPE (status 141 in a shell), or exiting 0.
#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    use std::io::{BufRead, BufReader, Read};
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::process::{Command, Stdio};
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    use nix::sys::signal::{kill, killpg, Signal};
    use nix::unistd::Pid;

    /// Far beyond what a run needs: a bound on a hang, not a timing claim.
    const LIMIT: Duration = Duration::from_secs(60);
    // Its own process group, so that whatever it started can be killed
    // below: the test leaves no process behind, even when it fails.
    let mut child = Command::new(env!("CARGO_BIN_EXE_examples-channels"))
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let pid =
        Pid::from_raw(i32::try_from(child.id()).expect("a pid fits in i32"));
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let (line_tx, first_line) = mpsc::channel();
    thread::spawn(move || {
        // One line, then the read end is dropped (closed), as `head -1` does.
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = line_tx.send(line);
    });
    let (err_tx, err_text) = mpsc::channel();
    thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = err_tx.send(text);
    });
    let (status_tx, exit) = mpsc::channel();
    thread::spawn(move || {
        let _ = status_tx.send(child.wait());
    });
    let line = first_line.recv_timeout(LIMIT);
    let status = exit.recv_timeout(LIMIT);
    let stderr = err_text.recv_timeout(LIMIT).unwrap_or_default();
    if status.is_err() {
        let _ = kill(pid, Signal::SIGKILL);
    }
    let _ = killpg(pid, Signal::SIGKILL); // nothing of its group survives it
    let line = line.expect("a first line within the limit");
    let status = status
        .unwrap_or_else(|_| {
            panic!("still running {LIMIT:?} after its stdout closed")
        })
        .expect("the binary is reaped");
    assert!(!line.is_empty(), "no first line; stderr:\n{stderr}");
    assert!(
        status.success() || status.signal() == Some(Signal::SIGPIPE as i32),
        "a closed stdout ended the run with {status}; stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "a closed stdout is reported as a failure:\n{stderr}"
    );
}
