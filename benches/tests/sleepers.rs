//! The sleepers' partner, run as the experiment runs it: `report --partner
//! sleepers VARIANT N` in a fresh process prints one CSV row of its wall
//! time and memory.

use std::process::{Command, Output};

fn sleepers(variant: &str, n: &str) -> Output {
    let mut report = Command::new(env!("CARGO_BIN_EXE_report"));
    let output = report.args(["--partner", "sleepers", variant, n]).output();
    output.expect("running report")
}

#[test]
fn sleepers_report_their_time_and_peak() {
    for variant in ["threads", "tasks", "pool"] {
        let output = sleepers(variant, "200");
        assert!(output.status.success(), "{variant}: {output:?}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        // kind,sleepers,n,repetition,position,started,seconds,peak,base,error
        let f: Vec<&str> = stdout.trim_end().split(',').collect();
        assert_eq!(f[..6], ["run", variant, "200", "", "", "200"], "{stdout}");
        let number = |i: usize| f[i].parse::<f64>().expect("a number");
        assert!(number(6) >= 0.020, "{stdout}");
        assert!(number(7) >= number(8) && number(8) > 0.0, "{stdout}");
        assert_eq!(f[9], "", "{stdout}");
    }
    let output = sleepers("fibres", "1");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("fibres"),
        "{stderr}"
    );
}
