//! Runs the `examples-threads` binary as a user would and checks the values each demo
//! prints, the no-argument run, `--help`, and the usage errors (exit code 2).

use assert_cmd::cargo::cargo_bin_cmd;

/// The demos, in the order the no-argument run shows them.
const DEMOS: [&str; 8] = [
    "spawn", "move", "closures", "sync", "atomics", "parse", "cost", "terms",
];

/// Runs the binary with `args`; returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = cargo_bin_cmd!("examples-threads")
        .args(args)
        .output()
        .expect("binary starts");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// Runs the binary, expects success, returns stdout.
fn stdout_of(args: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "{args:?} failed\nstdout:\n{out}\nstderr:\n{err}");
    out
}

/// Asserts that `out` contains every one of `needles`.
fn assert_has(out: &str, needles: &[&str]) {
    for needle in needles {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

/// Asserts the `cost` rule lines, then a verdict per mode after them, in one of the
/// rule's three forms: flat, no clear knee, or a knee whose slope is positive (the
/// old rule printed negative ones on a loaded machine), and for `cpu`, how many
/// threads ran at a time, also positive. The line after each verdict says, in
/// parentheses, what its shape means.
fn assert_verdicts(out: &str, modes: &[&str]) {
    let rule = "rule: a knee is where a curve leaves 1.5x its first time for good;\n\
                rule: the slope after it is a least-squares fit; no steady rise = noisy\n";
    let at = out
        .find(rule)
        .unwrap_or_else(|| panic!("no rule lines in:\n{out}"));
    let after: Vec<&str> = out[at + rule.len()..].lines().collect();
    let number = |text: &str, after: &str| -> f64 {
        let rest = text.split(after).nth(1).and_then(|r| r.split(' ').next());
        let value = rest.and_then(|v| v.parse().ok());
        value.unwrap_or_else(|| panic!("no number after {after:?} in {text:?}"))
    };
    for mode in modes {
        let prefix = format!("{mode}: ");
        let at = after.iter().position(|l| l.starts_with(&prefix));
        let at = at.unwrap_or_else(|| panic!("no verdict for {mode} in:\n{out}"));
        let (line, meaning) = (&after[at][prefix.len()..], after.get(at + 1));
        let meaning = meaning.copied().unwrap_or_default();
        let knee = line.contains(", then grows ~");
        let valid = if line.starts_with("no clear knee (noisy): ") {
            true
        } else if knee {
            line.starts_with("flat (~") && number(line, "grows ~") > 0.0
        } else {
            line.starts_with("flat (~") && line.ends_with(": no knee")
        };
        assert!(valid, "bad verdict {line:?} in:\n{out}");
        let why = match *mode {
            "sleep" => "  (a sleeping thread needs no CPU)",
            "spin" => "  (each spinner stops 20 ms after it started, CPU or not: it times waiting)",
            _ => " cores here)",
        };
        assert!(meaning.ends_with(why), "bad meaning {meaning:?} in:\n{out}");
        if *mode == "cpu" && knee {
            let at_once = number(meaning, "= ~");
            assert!(at_once > 0.0, "{meaning}");
            assert!(meaning.contains(" threads ran at a time; "), "{meaning}");
        }
    }
}

/// Asserts that `out` opens with the demo's header and ends with a notice.
fn assert_framed(demo: &str, out: &str) {
    let first = out.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("== {demo}: ")) && first.ends_with(" =="),
        "bad header {first:?}"
    );
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("notice: "),
        "last line {last:?} of:\n{out}"
    );
}

#[test]
fn every_demo_opens_with_its_header_and_ends_with_a_notice() {
    for demo in DEMOS {
        let args: &[&str] = if demo == "cost" {
            &["cost", "--max", "2", "--step", "1"]
        } else {
            &[demo]
        };
        assert_framed(demo, &stdout_of(args));
    }
}

#[test]
fn spawn_returns_values_and_times_the_sleeper() {
    let out = stdout_of(&["spawn"]);
    assert_has(
        &out,
        &[
            "first thread: sum 1..=10 = 55, computed on ThreadId(2), joined by ThreadId(1)",
            "join results dropped: 3 of 3 done, yet `worker-1` panicked (see stderr)",
            "join results checked: 2 of 3 done; thread `worker-1` panicked: worker 1 fails",
            "sum of squares of 0..100 on 4 threads: [4900, 35525, 97400, 190525] = 328350",
            "sleeper: asked for 300 ms, took ",
            " ms (>= 300: true; late, never early)",
        ],
    );
    let ms: f64 = out
        .split("took ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("a measured time");
    assert!(ms >= 300.0, "{ms}");
}

/// A first attempt at sharing a local with two threads: the closures borrow
/// `pause`, which `thread::spawn` refuses.
const WITHOUT_MOVE: &str = "use std::{thread, time};

pub fn sleep_twice() {
    let pause = time::Duration::from_millis(20);
    let handle1 = thread::spawn(|| {
        thread::sleep(pause);
    });
    let handle2 = thread::spawn(|| {
        thread::sleep(pause);
    });
    handle1.join();
    handle2.join();
}
";

/// Compiles `source` as a 2021-edition library with `rustc` (or `$RUSTC`); `None`,
/// with the reason printed, if there is no compiler to run.
fn rustc(name: &str, source: &str) -> Option<std::process::Output> {
    // Removed when dropped, on a panic too.
    let temp = tempfile::Builder::new()
        .prefix(&format!("ptm-move-{name}-"))
        .tempdir()
        .expect("a temporary directory");
    let dir = temp.path();
    let file = dir.join("attempt.rs");
    std::fs::write(&file, source).expect("the snippet is written");
    let compiler = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = std::process::Command::new(&compiler)
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "lib",
            "--emit",
            "metadata",
        ])
        .arg("--out-dir")
        .arg(dir)
        .arg(&file)
        .output();
    match output {
        Ok(output) => Some(output),
        Err(err) => {
            println!("skipped the rustc check: cannot run {compiler:?}: {err}");
            None
        }
    }
}

#[test]
fn move_shows_e0373_and_both_fixes() {
    let out = stdout_of(&["move"]);
    assert_has(
        &out,
        &["without move, rustc 1.95 reports: error[E0373]: closure may outlive the current function, but it borrows `pause`"],
    );
    assert_has(
        &out,
        &[
            "with move: 2 threads slept 20ms each (>= 20ms: true); `pause` still usable: 20ms",
            "sum to 1275 + 3775 = 5050",
        ],
    );
    assert_has(
        &out,
        &["thread::scope, no move: doubled 1..=100 in place; `data` sums to 10100"],
    );
}

/// A spawned closure that borrows a local really fails with E0373, and the line
/// the `move` demo quotes is what rustc says; with `move` it compiles, warning
/// about the two dropped `join` results (`unused_must_use`).
#[test]
fn rustc_rejects_a_borrowing_spawn_as_the_demo_quotes() {
    let out = stdout_of(&["move"]);
    let quoted = out
        .lines()
        .find_map(|l| l.strip_prefix("without move, rustc 1.95 reports: "))
        .expect("the demo quotes rustc");
    let Some(compiled) = rustc("without", WITHOUT_MOVE) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&compiled.stderr);
    assert!(
        !compiled.status.success(),
        "the attempt compiled:\n{stderr}"
    );
    assert!(stderr.contains("error[E0373]"), "no E0373 in:\n{stderr}");
    assert!(
        stderr.contains(quoted),
        "update the demo's quotation to:\n{stderr}"
    );
    let fixed = WITHOUT_MOVE.replace("spawn(||", "spawn(move ||");
    let Some(compiled) = rustc("with", &fixed) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&compiled.stderr);
    assert!(
        compiled.status.success(),
        "the attempt with `move` failed:\n{stderr}"
    );
    assert!(
        stderr.contains("unused_must_use"),
        "no warning in:\n{stderr}"
    );
}

#[test]
fn closures_show_traits_and_sizes() {
    let out = stdout_of(&["closures"]);
    assert_has(
        &out,
        &["add(4, 5) = 9, closure (4, 5) = 9, static DOUBLE(21) = 42"],
    );
    assert_has(
        &out,
        &[
            "at once: (11, 12)",
            "3 times: [1, 2, 3]",
            r#"away: ["a", "b"]"#,
        ],
    );
    let word = std::mem::size_of::<usize>();
    let lines = [
        format!("size_of_val: fn item `add` = 0, fn pointer = {word} (= usize {word})"),
        format!("size_of_val: closure capturing nothing = 0, a Vec by ref = {word}"),
        format!(
            "size_of_val: closure capturing a Vec by move = {} (= Vec<u64> {})",
            3 * word,
            3 * word
        ),
    ];
    assert_has(&out, &lines.each_ref().map(String::as_str));
}

#[test]
fn sync_counts_are_exact_and_every_value_arrives_once() {
    let out = stdout_of(&["sync"]);
    assert_has(
        &out,
        &[
            "mutex: 4 threads x 1000 increments = 4000 (expected 4000)",
            "rwlock: 4 of 4 readers got the lock while another thread held it to read",
            "rwlock: 400 of 400 reads racing 1000 writes saw a whole prefix; sum 500500",
            "condvar hand-off: consumer got 1000 of 1000, each once, in order: true",
        ],
    );
    // How many values the naive hand-off loses depends on the scheduler.
    let naive = out
        .lines()
        .find_map(|l| l.strip_prefix("naive hand-off: consumer got "))
        .expect("the naive hand-off's line");
    let kept: usize = naive
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert!((1..=1000).contains(&kept), "{naive}");
    let lost = format!("of 1000 values; {} overwritten unseen", 1000 - kept);
    assert!(naive.ends_with(&lost), "{naive}");
}

#[test]
fn atomics_count_publish_and_fence() {
    let out = stdout_of(&["atomics"]);
    assert_has(
        &out,
        &[
            "relaxed: 4 threads x 100000 fetch_add = 400000 (expected 400000)",
            " times as it grew, each read larger than the last: true",
            "acquire/release: 1000 of 1000 readers that saw the flag saw the data",
            "store buffer, no fence: both read false in ",
            "store buffer, SeqCst fence: both read false in 0 of 100000 (forbidden)",
        ],
    );
}

#[test]
fn parse_gives_the_same_result_both_ways() {
    let out = stdout_of(&["parse"]);
    assert_has(
        &out,
        &[
            "same result: true (17 operations, forward distance 900)",
            "Noop(33)]",
        ],
    );
    let out = stdout_of(&["parse", "--input", "0a9!"]);
    let ops = "[Home, TurnLeft, Forward(180), Noop(33)]";
    assert_has(
        &out,
        &[
            &format!("for loop:    {ops}"),
            &format!("map/collect: {ops}"),
        ],
    );
    assert_has(
        &out,
        &["same result: true (4 operations, forward distance 180)"],
    );
}

#[test]
fn cost_prints_a_table_and_a_verdict_per_mode() {
    let out = stdout_of(&["cost", "--max", "4", "--step", "2", "--mode", "cpu"]);
    let rows: Vec<u32> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(rows, [2, 4], "{out}");
    assert_has(&out, &["cpu_ms"]);
    assert_verdicts(&out, &["cpu"]);
    let out = stdout_of(&["cost", "--max", "2", "--step", "1"]);
    assert_has(
        &out,
        &[
            "sleep = each of n threads sleeps 20 ms\n",
            "spin = each of n threads calls yield_now until 20 ms of wall time passed\n",
            "cpu = each of n threads burns 20 ms of its own CPU time\n",
            "sleep_ms  spin_ms   cpu_ms",
        ],
    );
    // A debug build says so on the table's header line; a release build does not.
    let debug =
        out.contains("sleep_ms  spin_ms   cpu_ms  (debug build: spawns slower than --release)");
    assert_eq!(debug, cfg!(debug_assertions), "{out}");
    assert_verdicts(&out, &["sleep", "spin", "cpu"]);
}

#[test]
fn cost_refuses_bad_flags_with_usage_errors() {
    for args in [
        &["cost", "--mode", "bogus"][..],
        &["cost", "--step", "0"],
        &["cost", "--max", "1", "--step", "2"],
        &["cost", "--max", "513"], // capped: --max 1024 --step 1 would start ~525k threads
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.starts_with("error:") && err.contains("--help"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn no_argument_runs_every_demo_in_order() {
    let out = stdout_of(&[]);
    let starts: Vec<usize> = DEMOS
        .iter()
        .map(|d| out.find(&format!("== {d}: ")).expect("demo header"))
        .collect();
    assert!(
        starts.windows(2).all(|w| w[0] < w[1]),
        "demos out of order:\n{out}"
    );
    assert_has(
        &out,
        &[
            "= 328350",
            "E0373",
            "DOUBLE(21) = 42",
            "4000 (expected 4000)",
            "= 400000 (expected 400000)",
            "forward distance 900",
            "coroutines: a1 b1 a2 b2 a3",
        ],
    );
    assert_verdicts(&out, &["sleep", "spin", "cpu"]);
}

#[test]
fn help_lists_every_demo_in_lines_that_fit_a_terminal() {
    let out = stdout_of(&["--help"]);
    for demo in DEMOS {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(demo)),
            "{demo} missing in:\n{out}"
        );
    }
    for line in out.lines() {
        assert!(
            line.chars().count() <= 80,
            "too wide for 80 columns: {line:?}"
        );
    }
}

#[test]
fn a_bad_flag_is_a_usage_error() {
    let (code, _, err) = run(&["spawn", "--bogus"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("unexpected argument '--bogus'") && err.contains("Usage:"),
        "{err}"
    );
}

#[test]
fn an_unknown_demo_lists_the_valid_ones() {
    let (code, _, err) = run(&["frobnicate"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("unrecognized subcommand 'frobnicate'"),
        "{err}"
    );
    assert!(
        err.contains(&format!("valid demos: {}\n", DEMOS.join(", "))),
        "{err}"
    );
}

#[test]
fn terms_shows_coroutines_and_nonblocking_io() {
    let out = stdout_of(&["terms"]);
    assert_has(
        &out,
        &[
            "executable: ",
            "process: pid ",
            "threads: main is ThreadId(1), kernel tid ",
            " (= the pid)\nthreads: the other is ThreadId(2), kernel tid ",
            "ThreadId(2): a serial number, in the order threads start (main = 1);\n",
            "  it is not the kernel's tid, and not how many threads are alive\n",
            "coroutines: a1 b1 a2 b2 a3, all on ThreadId(1), switched by the program",
            "non-blocking read: WouldBlock at once (no sleep); after a write: \"ready\"",
        ],
    );
    // After the other demos (hundreds of threads), the spawned thread's number
    // is higher: it counts every thread started before it.
    let all = stdout_of(&[]);
    let other = all
        .split("threads: the other is ThreadId(")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse::<u64>().ok())
        .expect("the other thread's id");
    assert!(other > 100, "ThreadId({other}) after every other demo");
}

/// `examples-threads | head -1`: once the reader of stdout has gone, the next
/// `println!` failed with `EPIPE` and panicked ("failed printing to stdout:
/// Broken pipe", exit code 101). The run must end quietly instead, as `cat`
/// does: killed by SIGPIPE (status 141 in a shell), or exiting 0. (The
/// `spawn` demo's own `worker-1` panics on purpose, and may have printed its
/// message before the pipe closed: that one is not a failure.)
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_examples-threads"))
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("a pid fits in i32"));
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
        .unwrap_or_else(|_| panic!("still running {LIMIT:?} after its stdout closed"))
        .expect("the binary is reaped");
    assert!(!line.is_empty(), "no first line; stderr:\n{stderr}");
    assert!(
        status.success() || status.signal() == Some(Signal::SIGPIPE as i32),
        "a closed stdout ended the run with {status}; stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("failed printing") && !stderr.contains("Broken pipe"),
        "a closed stdout is reported as a failure:\n{stderr}"
    );
    let panics = stderr.matches("panicked").count();
    let on_purpose = stderr.matches("thread 'worker-1'").count();
    assert_eq!(
        panics, on_purpose,
        "a panic other than worker-1's:\n{stderr}"
    );
}
