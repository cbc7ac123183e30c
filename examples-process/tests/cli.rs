//! Runs the `examples-process` binary the way a reader would, and checks the
//! values each demo prints, the `--help` list, and the exit codes of mistakes.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use assert_cmd::cargo::cargo_bin_cmd;

/// The demos, in the order a run without arguments shows them.
const DEMOS: [&str; 13] = [
    "spawn",
    "info",
    "pipe",
    "communicate",
    "signals",
    "child",
    "fork",
    "switch",
    "socket",
    "shm",
    "container",
    "wasm",
    "wasm-limits",
];

/// Runs the binary with `args`, asserts it succeeded, returns its stdout.
fn stdout_of(args: &[&str]) -> String {
    let assert =
        cargo_bin_cmd!("examples-process").args(args).assert().success();
    String::from_utf8_lossy(&assert.get_output().stdout).into_owned()
}

/// Asserts that `text` contains every one of `parts`.
fn assert_has(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "missing {part:?} in:\n{text}");
    }
}

#[test]
fn spawn_reports_statuses_errors_and_no_zombie() {
    assert_has(
        &stdout_of(&["spawn"]),
        &[
            "== spawn: ProcessManager: ",
            "Command::status: sh -c 'exit 3' -> exit code 3",
            " true: exit code 0",
            " false: exit code 1",
            " sh: exit code 3",
            r#"output: stdout = "hello from a child\n""#,
            r"output error: `sh -c 'echo '\''backup failed: disk full'\'' >&2; exit 3'`",
            "output error:   exit status: 3: backup failed: disk full",
            "spawn error: failed to start `no-such-program-ptm`",
            " sleep: signal 9 (SIGKILL)",
            "kill_all: 3 children killed and reaped\n",
            "kill_all: still our children (zombie or running): 0\n",
            "naive kill_all: after kill + drop, pid ",
            " is in state Z (Z = zombie)\n",
            "the first reaped elsewhere:\n",
            "naive wait_for_all: 2 statuses [exit code 1, exit code 3], whose?",
            " true: `true` (pid ",
            "was reaped by something else",
            "notice: ",
        ],
    );
}

/// `std::env::vars` panics on a variable that is not UTF-8, and
/// `std::env::args` on such an argument; `ProcessInfo`'s do not.
#[test]
fn info_shows_the_process_and_what_it_shares() {
    let out = cargo_bin_cmd!("examples-process")
        .arg("info")
        .env("LANG", "xx_PTM.UTF-8")
        .env("PTM_NOT_UTF8", OsStr::from_bytes(b"caf\xe9"))
        .assert()
        .success();
    let out = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    // After the header: `pid <pid>, parent pid <ppid>`.
    let pid = out
        .lines()
        .find_map(|line| line.strip_prefix("pid "))
        .and_then(|rest| rest.split(',').next())
        .unwrap_or("?");
    assert_has(
        &out,
        &[
            "== info: ProcessInfo: ",
            r#"given b"caf\xe9": exit code 101: panicked: called"#,
            "naive args:   `Result::unwrap()` on an `Err` value",
            "ProcessInfo::args in the same child: exit code 0: \"caf\u{fffd}\"",
            "LANG = xx_PTM.UTF-8",
            "and back: true",
            &format!("all 3 threads share pid {pid}: true"),
            &format!("thread 0: pid {pid}, thread id {pid}"),
            &format!("parent pid {pid} (this process: true)"),
            "notice: ",
        ],
    );
}

#[test]
fn pipe_prints_output_statuses_and_the_failing_stage() {
    assert_has(
        &stdout_of(&["pipe"]),
        &[
            "== pipe: Pipeline: ",
            "printf | tr a-z A-Z | sort -> A B C",
            "stage printf: exit code 0",
            "stage tr: exit code 0",
            "stage sort: exit code 0",
            "false | true -> failed at stage 0 (false)",
            "`false | cat` reported success = true",
            "left in state Z (Z = zombie), its exit code 1 never read",
            "notice: ",
        ],
    );
}

#[test]
fn communicate_verifies_a_mebibyte() {
    assert_has(
        &stdout_of(&["communicate", "--mib", "1"]),
        &[
            "3 lines through sort -> \"a\\nb\\nc\\n\"",
            "1 MiB through cat: still blocked after 300 ms: true",
            "communicate: cat: 1048576 bytes in, 1048576 out",
            "identical: true",
            "sort: 65536 lines in, 65536 out, sorted: true",
            "equal: true",
            "notice: ",
        ],
    );
}

#[test]
fn signals_show_sigterm_sigkill_and_the_group() {
    let out = stdout_of(&["signals", "--grace-ms", "100"]);
    assert_has(
        &out,
        &[
            "terminate_all(grace 100 ms)",
            "(>= grace: true)",
            " sleep: signal 15 (SIGTERM)",
            " sh: signal 9 (SIGKILL)",
            "live in its group after: [] (grandchildren gone: true)",
            "2 grandchildren still running",
            "notice: ",
        ],
    );
}

#[test]
fn child_streams_lines_and_stops_the_child_at_its_deadline() {
    assert_has(
        &stdout_of(&["child", "--deadline-ms", "250"]),
        &[
            "first look: `sleep 10` after 100 ms: still running",
            "first look: terminate() -> signal: 15",
            "naive:   after the child's own end (exit status: 0)",
            "Process: waiter and killer saw the same status: signal: 9",
            "read \"tick 0\"",
            "stream: at the 250 ms deadline: still running",
            "-> signal: 15",
            "then end of file once the child was reaped",
            "notice: ",
        ],
    );
}

#[test]
fn fork_shows_exit_codes_and_separate_memory() {
    assert_has(
        &stdout_of(&["fork"]),
        &[
            "waitpid -> exit code 7",
            "-> exit code 127",
            "isolation: the child set its copy to 42 (its exit code);\n",
            "isolation: the parent's value is still 41\n",
            "crash: the child died of signal 11 (SIGSEGV); this process goes on",
            "notice: ",
        ],
    );
}

#[test]
fn switch_times_every_variant_and_gives_a_verdict() {
    let out = stdout_of(&["switch", "--rounds", "200"]);
    let rows: Vec<&str> =
        out.lines().filter(|line| line.contains(" median ")).collect();
    assert_eq!(rows.len(), 6, "{out}");
    // The binary is built with the tests' profile: a debug build says so
    // on every timed row, at the end of each verdict (its last line names
    // the thread channel) and at the end of the note (the line before the
    // notice).
    if cfg!(debug_assertions) {
        let lines: Vec<&str> = out.lines().collect();
        let timed: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|line| {
                line.contains(" median ")
                    || line.contains(" a thread channel (")
            })
            .collect();
        assert_eq!(timed.len(), 8, "{out}");
        let notice = lines.iter().position(|l| l.starts_with("notice: "));
        let note_end =
            notice.and_then(|at| at.checked_sub(1)).map(|at| lines[at]);
        for line in timed.into_iter().chain(note_end) {
            assert!(line.ends_with("(debug build)"), "{line}");
        }
        assert_has(&out, &["in µs (debug build: not representative"]);
    }
    for row in rows {
        let median: f64 = row
            .split_whitespace()
            .skip_while(|word| *word != "median")
            .nth(1)
            .and_then(|number| number.parse().ok())
            .unwrap_or(0.0);
        assert!(median > 0.0, "no positive median in {row:?}");
    }
    assert_has(
        &out,
        &[
            "verdict unpinned: process-to-process is ",
            "verdict pinned to CPU ",
            "note: unpinned",
            "notice: ",
        ],
    );
}

#[test]
fn the_hidden_echo_mode_copies_stdin_to_stdout() {
    let assert = cargo_bin_cmd!("examples-process")
        .arg("echo")
        .write_stdin("ping")
        .assert();
    assert.success().stdout("ping");
}

#[test]
fn no_argument_runs_every_demo() {
    let out = stdout_of(&[]);
    // Each demo, in order: its header first, a `notice: ` line last.
    let sections: Vec<&str> =
        out.split("\n\n").filter(|s| !s.trim().is_empty()).collect();
    assert_eq!(sections.len(), DEMOS.len(), "{out}");
    for (demo, section) in DEMOS.iter().zip(sections) {
        let mut lines = section.trim().lines();
        let first = lines.next().unwrap_or("");
        assert!(first.starts_with(&format!("== {demo}: ")), "{section}");
        assert!(first.ends_with(" =="), "{section}");
        let last = lines.last().unwrap_or("");
        assert!(last.starts_with("notice: "), "{demo}: {section}");
    }
    assert_has(
        &out,
        &[
            "kill_all: still our children (zombie or running): 0",
            "all 3 threads share pid",
            "printf | tr a-z A-Z | sort -> A B C",
            "communicate: cat: 8388608 bytes in, 8388608 out",
            "grandchildren gone: true",
            "the parent's value is still 41",
            "verdict pinned to CPU ",
        ],
    );
}

#[test]
fn help_lists_every_demo() {
    let help = stdout_of(&["--help"]);
    for demo in DEMOS {
        assert!(
            help.lines().any(|line| line.trim_start().starts_with(demo)),
            "{demo}: {help}"
        );
    }
    assert!(!help.contains("echo"), "the echo mode is hidden:\n{help}");
}

#[test]
fn a_bad_flag_is_a_usage_error() {
    let assert = cargo_bin_cmd!("examples-process")
        .args(["communicate", "--bogus"])
        .assert();
    let stderr = String::from_utf8_lossy(&assert.code(2).get_output().stderr)
        .into_owned();
    assert_has(&stderr, &["--bogus", "Usage:"]);
}

/// A value past a flag's cap is refused before anything runs: a huge
/// `--grace-ms` used to overflow the deadline and wait for ever.
#[test]
fn a_value_past_its_cap_is_a_usage_error() {
    for args in
        [["signals", "--grace-ms", "60001"], ["communicate", "--mib", "257"]]
    {
        let assert = cargo_bin_cmd!("examples-process").args(args).assert();
        let stderr =
            String::from_utf8_lossy(&assert.code(2).get_output().stderr)
                .into_owned();
        assert_has(&stderr, &["invalid value", args[1], args[2]]);
    }
}

#[test]
fn an_unknown_demo_lists_the_valid_ones() {
    let assert = cargo_bin_cmd!("examples-process").arg("nope").assert();
    let stderr = String::from_utf8_lossy(&assert.code(2).get_output().stderr)
        .into_owned();
    assert_has(
        &stderr,
        &["nope", &format!("valid demos: {}", DEMOS.join(", "))],
    );
}

#[test]
fn socket_round_trips_through_a_child_and_refuses_bad_frames() {
    assert_has(
        &stdout_of(&["socket"]),
        &[
            "socket: it answered 0, 1, 4, 9, 144, 16000000000000000000",
            "a frame cut short: the stream ended 3 bytes into a message of\n",
            "socket:   100 bytes\n",
            "a frame of 4 GiB: the peer announced a message of 4294967295\n",
            "socket:   bytes, over the limit of 16777216 bytes",
        ],
    );
}

#[test]
fn shm_child_sums_the_shared_pages() {
    assert_has(
        &stdout_of(&["shm"]),
        &[
            "the child summed the pages in place: 34359607296 (expected 34359607296)",
            "shm: truncating the memfd to 0 bytes:\n",
            "shm:   refused: Operation not permitted",
        ],
    );
}

/// The container demo runs as whoever runs the tests (rootless): its own
/// root, a host file hidden until bound where namespaces alone show it,
/// `lo` only, a fork bomb capped, a timeout that kills.
#[test]
fn container_hides_the_host_caps_a_fork_bomb_and_times_out() {
    let out = stdout_of(&["container"]);
    assert_has(
        &out,
        &[
            "container: inside, the shell is uid 0 and pid 2\n",
            r#"(ptm's init is pid 1), hostname "box""#,
            "its / holds /bin /dev /etc /lib ",
            r#"the host's new file: "written by the host""#,
            "No such file or directory",
            r#"bound with bind_ro at /shared: "written by the host""#,
            "its network: lo; the host's 127.0.0.1: refused\n",
            "127.0.0.1: connected\n",
            "max_processes(16): 15 sleeps\n",
            "started (with the shell, 16), then ",
            r#"container:   "started""#,
            "notice: ",
        ],
    );
}

/// The hidden `args-child` mode: `std::env::args` panics on an argument
/// that is not UTF-8 (exit code 101), `ProcessInfo::args` converts it.
#[test]
fn a_non_utf8_argument_panics_env_args_but_not_process_info() {
    let latin1 = OsStr::from_bytes(b"caf\xe9");
    let naive = cargo_bin_cmd!("examples-process")
        .args([OsStr::new("args-child"), OsStr::new("--naive"), latin1])
        .assert()
        .code(101);
    let stderr = String::from_utf8_lossy(&naive.get_output().stderr);
    assert_has(&stderr, &["panicked", r#"`Err` value: "caf\xE9""#]);
    let fixed = cargo_bin_cmd!("examples-process")
        .args([OsStr::new("args-child"), latin1])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&fixed.get_output().stdout);
    assert_eq!(stdout.trim(), "\"caf\u{fffd}\"");
}

#[test]
fn wasm_instances_are_isolated_and_a_trap_is_contained() {
    assert_has(
        &stdout_of(&["wasm"]),
        &[
            "sum of squares 0..100 = 328350",
            "first u32s [0, 1, 4, 9]",
            "own memory: sum = 0",
            "trap: out of bounds memory access",
            "b: sum = 328350, a: sum = 328350",
            r#"imports only ["host.write"];"#,
            r#"through it, it wrote "hello from a module that has no OS""#,
        ],
    );
}

#[test]
fn wasm_limits_stop_an_infinite_loop_and_refuse_a_grow() {
    assert_has(
        &stdout_of(&["wasm-limits"]),
        &[
            "== wasm-limits: WebAssembly fuel stops an infinite loop; ",
            "spin(), an infinite loop, given 1000000 fuel:\n",
            "trap OutOfFuel: all fuel consumed by WebAssembly\n",
            "sum(1000) = 499500, ",
            "a store limit of 262144 bytes (4 pages);",
            "grow(1) -> 1: granted, now 2 pages\n",
            "grow(8) -> -1: refused, 10 > 4\n",
            "grow(2) -> 2: granted, now 4 pages\n",
            "\nnotice: ",
        ],
    );
}

/// `examples-process | head -1`: once the reader of stdout has gone, the next
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_examples-process"))
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
