//! Runs the `examples-pool` binary the way a reader would and checks the
//! values each demo prints, plus the command line itself: the no-argument
//! run, `--help`, a bad flag and an unknown demo.

use std::process::Output;

use assert_cmd::cargo::cargo_bin_cmd;

/// Every demo, in the order the binary runs them.
const DEMOS: [&str; 8] = [
    "pool",
    "worker",
    "panics",
    "backpressure",
    "scope",
    "async",
    "parallel",
    "naive",
];

/// Runs the binary with `args` and returns its output, whatever the exit code.
fn run(args: &[&str]) -> Output {
    cargo_bin_cmd!("examples-pool")
        .args(args)
        .output()
        .expect("the binary starts")
}

/// Runs the binary with `args`, asserts success and returns its stdout.
fn stdout_of(args: &[&str]) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{args:?} failed: {:?}\n{stderr}",
        out.status
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// Asserts that `text` contains every one of `needles`.
fn assert_contains(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

/// The number after `prefix` in `text`.
fn number_after(text: &str, prefix: &str) -> u64 {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix:?} in:\n{text}"));
    let digits: String = text[start + prefix.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {prefix:?} in:\n{text}"))
}

#[test]
fn pool_prints_results_and_counts() {
    assert_contains(
        &stdout_of(&["pool"]),
        &[
            "hello from a worker",
            "first: answer = 42; shutdown: completed 2, panicked 0",
            "execute: 100 jobs, counter = 100",
            "sum of squares 0..100 = 328350",
            "queued 0, active 0, completed 200, panicked 0",
            "before shutdown: 96 jobs queued behind 4 workers held at a gate",
            "received 100 values, sum 0..100 = 4950",
            "stats from shutdown: completed 300, panicked 0, cancelled 0",
        ],
    );
}

#[test]
fn worker_processes_every_task_then_stops() {
    assert_contains(
        &stdout_of(&["worker"]),
        &[
            "Condvar loop: handled 5 of 5 tasks; the owner dropped it",
            "Condvar loop: its thread still waited after 200 ms",
            "WorkerStats: processed 1000, panicked 0",
            "handler saw 1000 tasks, each once, in order: true",
            "running total = 500500",
        ],
    );
}

#[test]
fn panics_are_reported_and_every_worker_survives() {
    let out = stdout_of(&["panics"]);
    for i in 0..4 {
        assert_contains(
            &out,
            &[&format!("Err: job panicked: job {i} failed on purpose")],
        );
    }
    assert_contains(
        &out,
        &[
            "4 of 4 workers ran a job each",
            "sum to 10",
            "completed 4, panicked 4",
        ],
    );
}

#[test]
fn backpressure_refuses_when_full_and_loses_nothing() {
    let out = stdout_of(&["backpressure", "--capacity", "2", "--jobs", "300"]);
    assert_contains(
        &out,
        &["2 workers busy, 2 jobs queued: try_execute -> Err: the queue is full", "lost 0"],
    );
    assert_eq!(number_after(&out, "submitted "), 2 + 2 + 300);
    assert_eq!(number_after(&out, "completed "), 2 + 2 + 300);
    assert!(number_after(&out, "longest queue seen = ") <= 2, "{out}");
}

#[test]
fn scope_borrows_resumes_a_panic_and_its_joins_help() {
    let out = stdout_of(&["scope"]);
    assert_contains(
        &out,
        &[
            "squared data in place: [1, 4, 9, 16, 25, 36, 49, 64, 81, 100]",
            "a panicking scoped job: 3 of the other 3 jobs ran, then",
            "scope panicked in the caller: job 2 failed on purpose",
            "sum of 0..1000000 = 499999500000",
            "by recursive scopes: 1023 scoped jobs",
            "recv on a pool of 1: shutdown_timeout(200 ms) gave up: 1 running, \
             1 queued",
            "a job spawned and joined 100 jobs,",
            "their sum = 5050",
            "wait_idle() = Err(WouldDeadlock)",
        ],
    );
}

#[test]
fn async_awaits_values_panics_and_cancellations_and_shuts_down_in_time() {
    let out = stdout_of(&["async"]);
    assert_contains(
        &out,
        &[
            "first: block_on(answer(&pool)) = Ok(42)",
            "several: handle.await = Ok(10)",
            "several: handle.await = Ok(30)",
            "several: handle.await = Err(Panicked(\"on purpose\"))",
            "after shutdown_now: handle.await = Err(Cancelled) (1 cancelled)",
            "a stuck job: shutdown_timeout(200 ms) gave up: 1 running",
            "in time: shutdown_timeout -> Ok: completed 100, panicked 0, \
             cancelled 0",
            "a stuck job again: shutdown_timeout gave up: true; released,",
            "its worker stopped too: 2 of 2 ran their stop hook",
        ],
    );
    // Each hook ran once on each worker, on that worker's thread.
    let hooks: Vec<&str> =
        out.lines().filter(|line| line.starts_with("hooks: ")).collect();
    assert_eq!(
        hooks,
        [
            "hooks: worker 0 starts on ptm-worker-0",
            "hooks: worker 0 stops on ptm-worker-0",
            "hooks: worker 1 starts on ptm-worker-1",
            "hooks: worker 1 stops on ptm-worker-1",
        ],
        "{out}"
    );
}

#[test]
fn parallel_counts_agree() {
    let out = stdout_of(&["parallel", "--n", "10000", "--reps", "1"]);
    let counts = "counted three ways: 1229, 1229, 1229 (all equal: true)";
    assert_contains(&out, &[counts]);
}

#[test]
fn naive_pool_hangs_as_first_written_and_shuts_down_fixed() {
    let out = stdout_of(&["naive"]);
    assert_contains(
        &out,
        &[
            "first draft: 100 of 100 jobs ran, then drop(pool) was called",
            "first draft: still in drop after 200 ms (a hang, cut by a \
             timeout)",
            "fixed (sender dropped before joining): drop returned, 100 of \
             100 jobs ran",
            "4 panicking jobs, then 4 others: 0 of 4 ran",
            "(drop returned)",
        ],
    );
    assert_eq!(out.matches("50000 jobs ran in each run").count(), 2, "{out}");
    let ratio = out.lines().find(|l| l.starts_with("naive / ptm time = "));
    let ratio = ratio.unwrap_or_else(|| panic!("no ratio in:\n{out}"));
    // The ratio line says what a debug build's figure is worth.
    if cfg!(debug_assertions) {
        let note = "(debug build: not representative; use --release)";
        assert!(ratio.ends_with(note), "{ratio}");
    }
}

#[test]
fn parallel_says_when_a_run_is_too_short_to_measure() {
    let out = stdout_of(&["parallel", "--n", "2", "--reps", "1"]);
    assert_eq!(out.matches("not measured: too short").count(), 3, "{out}");
    assert!(!out.contains("x (") && !out.contains("0.00x"), "{out}");
}

/// Every demo opens with `== <demo>: <what it shows> ==` and ends with a
/// line that says what to notice.
#[test]
fn every_demo_has_a_header_and_a_notice() {
    for demo in DEMOS {
        let out = stdout_of(&[demo]);
        let first = out.lines().next().unwrap_or_default();
        let header = format!("== {demo}: ");
        assert!(
            first.starts_with(&header) && first.ends_with(" =="),
            "{demo}: header {first:?}"
        );
        let last = out.lines().last().unwrap_or_default();
        assert!(last.starts_with("notice: "), "{demo}: last line {last:?}");
    }
}

#[test]
fn no_argument_runs_every_demo_in_order() {
    let out = stdout_of(&[]);
    let positions: Vec<usize> = DEMOS
        .iter()
        .map(|demo| {
            out.find(&format!("== {demo}: "))
                .unwrap_or_else(|| panic!("no {demo}"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "out of order:\n{out}");
    assert_contains(
        &out,
        &[
            "sum of squares 0..100 = 328350",
            "WorkerStats: processed 1000, panicked 0",
            "completed 4, panicked 4",
            "try_execute -> Err: the queue is full",
            "by recursive scopes: 1023 scoped jobs",
            "its worker stopped too: 2 of 2 ran their stop hook",
            "(all equal: true)",
            "50000 jobs ran",
        ],
    );
}

/// Every demo is listed, with a one-line summary short enough to fit an
/// 80-column terminal beside the name (clap wraps longer ones).
#[test]
fn help_lists_every_demo() {
    let out = stdout_of(&["--help"]);
    for demo in DEMOS {
        let line = out
            .lines()
            .find(|line| line.trim_start().starts_with(&format!("{demo} ")))
            .unwrap_or_else(|| panic!("{demo}:\n{out}"));
        let summary = line.trim_start()[demo.len()..].trim();
        assert!(
            !summary.is_empty() && summary.chars().count() < 70,
            "{demo}: {summary:?}"
        );
    }
}

#[test]
fn a_bad_flag_is_a_usage_error() {
    // An unknown flag: clap prints the error and the usage line.
    for args in [&["pool", "--bogus"][..], &["parallel", "--m", "5"]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_contains(
            &String::from_utf8_lossy(&out.stderr),
            &["error:", "Usage:"],
        );
    }
    // A bad value, or one past its cap: clap names the flag and the value.
    for args in [
        &["parallel", "--n", "many"][..],
        &["parallel", "--reps", "0"],
        &["parallel", "--n", "10000001"],
        &["parallel", "--reps", "101"],
        &["backpressure", "--capacity", "10001"],
        &["backpressure", "--jobs", "1000001"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_contains(
            &String::from_utf8_lossy(&out.stderr),
            &["error: invalid value", args[2]],
        );
    }
}

#[test]
fn an_unknown_demo_lists_the_valid_ones() {
    let out = run(&["nope"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_contains(
        &stderr,
        &["nope", &format!("valid demos: {}", DEMOS.join(", "))],
    );
}

/// `examples-pool | head -1`: once the reader of stdout has gone, the next
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_examples-pool"))
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
