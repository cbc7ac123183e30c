//! Runs the `examples-threads` binary as a user would and checks the values each demo
//! prints, the no-argument run, `--help`, and the usage errors (exit code 2).

use assert_cmd::cargo::cargo_bin_cmd;

/// The demos, in the order the no-argument run shows them.
const DEMOS: [&str; 7] = [
    "spawn", "move", "closures", "sync", "parse", "cost", "terms",
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

#[test]
fn spawn_returns_values_and_times_the_sleeper() {
    let out = stdout_of(&["spawn"]);
    assert_has(
        &out,
        &[
            "sum of squares 0..100 = 328350",
            "partial sums [4900, 35525, 97400, 190525]",
        ],
    );
    assert_has(&out, &["slept 300 ms: measured ", ">= 300 ms: true"]);
    let ms: f64 = out
        .split("measured ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("a measured time");
    assert!(ms >= 300.0, "{ms}");
}

#[test]
fn move_shows_e0373_and_both_fixes() {
    let out = stdout_of(&["move"]);
    assert_has(
        &out,
        &["error[E0373]: closure may outlive the current function, but it borrows `pause`"],
    );
    assert_has(
        &out,
        &[
            "2 threads each slept 20ms (>= 20 ms: true)",
            "sum to 1275 + 3775 = 5050",
        ],
    );
    assert_has(
        &out,
        &["thread::scope, no move: doubled 1..=100 in place, sum = 10100"],
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
    let pointer = format!(
        "fn item `add` = 0, fn pointer = {word} (= usize {word}), closure capturing nothing = 0"
    );
    let vec = format!(
        "by ref = {word}, by move = {} (= Vec<u64> {})",
        3 * word,
        3 * word
    );
    assert_has(&out, &[&pointer, &vec]);
}

#[test]
fn sync_counts_are_exact_and_every_value_arrives_once() {
    let out = stdout_of(&["sync"]);
    assert_has(
        &out,
        &["mutex: 4 threads x 1000 increments = 4000 (expected 4000)"],
    );
    assert_has(
        &out,
        &[
            "4 of 4 readers got the lock",
            "400 of 400 reads racing 1000 writes saw a whole prefix; final sum 500500",
        ],
    );
    assert_has(
        &out,
        &["consumed 1000 of 1000 values, each once in order: true, sum 500500 (expected 500500)"],
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
    assert_has(
        &out,
        &[
            "cpu_ms",
            "rule: a curve stops being flat at the first n above 1.5x",
            "cpu: flat (~",
        ],
    );
    let out = stdout_of(&["cost", "--max", "2", "--step", "1"]);
    assert_has(
        &out,
        &[
            "sleep_ms  spin_ms   cpu_ms",
            "sleep: flat (~",
            "spin: flat (~",
            "cpu: flat (~",
        ],
    );
}

#[test]
fn cost_refuses_bad_flags_with_usage_errors() {
    for args in [
        &["cost", "--mode", "bogus"][..],
        &["cost", "--step", "0"],
        &["cost", "--max", "1", "--step", "2"],
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
        .map(|d| out.find(&format!("=== {d}: ")).expect("demo header"))
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
            "forward distance 900",
            "cpu: flat (~",
        ],
    );
}

#[test]
fn help_lists_every_demo() {
    let out = stdout_of(&["--help"]);
    for demo in DEMOS {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(demo)),
            "{demo} missing in:\n{out}"
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
        err.contains("valid demos: spawn, move, closures, sync, parse, cost"),
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
            "coroutines: order a1 b1 a2 b2 a3 on thread",
            "non-blocking I/O: first read -> WouldBlock (no sleep); after the write -> \"ready\"",
        ],
    );
}
