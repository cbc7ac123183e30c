//! The exit-notice experiment through the real `report` binary, whose
//! partner `exit-notice-child` is the child every variant waits for.

use std::fs;
use std::process::{Command, Output};

fn report(args: &[&str]) -> Output {
    let report = Command::new(env!("CARGO_BIN_EXE_report"))
        .args(args)
        .output();
    report.expect("running report")
}

#[test]
fn every_variant_measures_every_sample() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().to_str().expect("a UTF-8 path");
    let args = [
        "--quick",
        "--only",
        "exit-notice",
        "--rounds",
        "4",
        "--out",
        out,
    ];
    let output = report(&args);
    assert!(output.status.success(), "{output:?}");
    let csv = fs::read_to_string(dir.path().join("exit_notice.csv")).expect("the CSV");
    let mut lines = csv.lines();
    let header = lines.next().expect("a header");
    assert_eq!(header, "variant,sample,position,delay_us,latency_ns");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 4 * 5, "{csv}");
    for row in &rows {
        let latency: u64 = row[4].parse().expect("a latency");
        assert!(latency > 0 && latency < 1_000_000_000, "{row:?}");
        // Sample i has one delay for every variant.
        let first = rows.iter().find(|r| r[1] == row[1]).expect("itself");
        assert_eq!(row[3], first[3]);
    }
    let summary = fs::read_to_string(dir.path().join("summary.md")).expect("the summary");
    for line in ["| terminate-polled |", "terminate-polled / terminate: p50"] {
        assert!(summary.contains(line), "{summary}");
    }
}

#[test]
fn the_child_writes_its_timestamp_and_a_bad_role_fails() {
    let output = report(&["--partner", "exit-notice-child", "sleep", "0"]);
    assert!(output.status.success(), "{output:?}");
    let stamp = u64::from_le_bytes(output.stdout.try_into().expect("8 bytes"));
    assert!(stamp > 0);
    let output = report(&["--partner", "exit-notice-child", "nap", "1"]);
    assert!(!output.status.success() && output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown role \"nap\""), "{stderr}");
}
