//! `ptm_benches::exit_notice` with the real `exit_notice` binary as the
//! child: every variant measures, and a child that does not play its part
//! is an error naming the variant.

use std::path::Path;
use std::process::Command;

use indicatif::ProgressBar;
use ptm_benches::exit_notice::{run, Config, Variant, CHILD_ENV};

const EXE: &str = env!("CARGO_BIN_EXE_exit_notice");

#[test]
fn every_variant_measures_every_sample() {
    let config = Config {
        samples: 5,
        max_delay_us: 500,
        variants: Variant::ALL.to_vec(),
    };
    let outcome = run(Path::new(EXE), &config, &ProgressBar::hidden()).expect("measuring");
    assert_eq!(outcome.samples.len(), 5 * Variant::ALL.len());
    for variant in Variant::ALL {
        let latencies = outcome.latencies(variant);
        assert_eq!(latencies.len(), 5, "{variant}");
        for latency in latencies {
            assert!(
                latency > 0 && latency < 1_000_000_000,
                "{variant}: {latency} ns"
            );
        }
        assert_eq!(outcome.notice(variant).expect("samples").count, 5);
    }
    // Sample i has one delay for every variant.
    for s in &outcome.samples {
        let first = outcome
            .samples
            .iter()
            .find(|t| t.sample == s.sample)
            .expect("itself");
        assert_eq!(s.delay_us, first.delay_us);
    }
    let report = outcome.report();
    assert!(
        report.contains("wait-timeout-polled / wait-timeout: p50"),
        "{report}"
    );
    assert!(
        report.contains("terminate-polled / terminate: p50"),
        "{report}"
    );
    assert_eq!(outcome.table().rows().len(), 5 * Variant::ALL.len());
}

/// Runs one sample of `variant` with `exe` as the child; its error.
fn failure(exe: &str, variant: Variant) -> String {
    let config = Config {
        samples: 1,
        max_delay_us: 0,
        variants: vec![variant],
    };
    let error = run(Path::new(exe), &config, &ProgressBar::hidden())
        .expect_err("a child that is not an exit_notice child");
    format!("{error:#}")
}

#[test]
fn a_child_that_writes_nothing_is_an_error_naming_the_variant() {
    // `true` ignores PTM_EXIT_NOTICE_CHILD: it exits 0 without a ready byte
    // or a timestamp.
    for variant in Variant::ALL {
        let message = failure("true", variant);
        assert!(
            message.starts_with(&format!("{variant}, sample 0")),
            "{variant}: {message}"
        );
        let expected = match variant {
            Variant::Terminate | Variant::TerminatePolled => "ready byte",
            _ => "wrote 0 bytes of timestamp, expected 8",
        };
        assert!(message.contains(expected), "{variant}: {message}");
    }
}

#[test]
fn a_child_that_fails_is_an_error_naming_the_variant() {
    // `false` exits 1 without writing anything.
    for variant in Variant::ALL {
        let message = failure("false", variant);
        assert!(
            message.starts_with(&format!("{variant}, sample 0")),
            "{variant}: {message}"
        );
        let expected = match variant {
            Variant::Terminate | Variant::TerminatePolled => "ready byte",
            _ => "exited with exit status: 1",
        };
        assert!(message.contains(expected), "{variant}: {message}");
    }
}

#[test]
fn the_child_role_writes_its_timestamp_and_a_bad_one_exits_2() {
    let output = Command::new(EXE)
        .env(CHILD_ENV, "sleep:0")
        .output()
        .expect("running the sleep child");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(output.stdout.len(), 8, "{output:?}");
    assert!(u64::from_le_bytes(output.stdout.try_into().expect("8 bytes")) > 0);

    let output = Command::new(EXE)
        .env(CHILD_ENV, "nap:1")
        .arg("--not-a-flag")
        .output()
        .expect("running a bad child");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PTM_EXIT_NOTICE_CHILD=\"nap:1\": expected sleep:<delay_us>"),
        "{stderr}"
    );
}

#[test]
fn a_bad_config_is_refused() {
    let exe = Path::new(EXE);
    let bar = ProgressBar::hidden();
    for (config, expected) in [
        (
            Config {
                samples: 0,
                ..Config::default()
            },
            "no samples",
        ),
        (
            Config {
                variants: Vec::new(),
                ..Config::default()
            },
            "no variants",
        ),
        (
            Config {
                variants: vec![Variant::Waitpid, Variant::Waitpid],
                ..Config::default()
            },
            "listed twice",
        ),
        (
            Config {
                max_delay_us: 6_000_000,
                ..Config::default()
            },
            "above the limit",
        ),
    ] {
        let error = run(exe, &config, &bar).expect_err(expected);
        assert!(error.to_string().contains(expected), "{error}");
    }
}
