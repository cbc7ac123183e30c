//! Exit notice (section 10): how late a child's exit is noticed by ptm's
//! `Process::wait_timeout` and `terminate` (`poll(2)` on a pidfd), by the
//! polling they replaced (`try_wait`, then a pause of 50 µs doubling up to
//! 2 ms: `wait-timeout-polled`, `terminate-polled`) and by a blocking
//! `waitpid` (std `Child::wait`). The child, partner `exit-notice-child
//! sleep|term DELAY_US`, writes `CLOCK_MONOTONIC` to its stdout as its last
//! act before `_exit(0)`; the parent reads the clock as the wait returns. A
//! `term` child blocks SIGTERM, writes a ready byte, takes SIGTERM, sleeps
//! and exits 0 (any other status fails the run). Sample `i`'s delay is
//! uniform in 0..=3 ms from a fixed sequence; the order rotates per sample;
//! `--rounds`: 500 (quick: 100).
//! `report --only exit-notice --rounds 500`

use std::convert::Infallible;
use std::io::Read;
use std::path::Path;
use std::process::{ChildStdout, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context};
use clap::ValueEnum;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::time::{clock_gettime, ClockId};
use ptm::process::{Process, Signal};
use serde::{Deserialize, Serialize};

use crate::harness::{distinct, interleave, name, Ctx, Experiment};
use crate::plot::{self, Mark, Panel, Rows, Scale, Series};
use crate::stats::{latency_histogram, ratio, Percentiles};

/// One way of waiting for the child's exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Variant {
    WaitTimeout,
    WaitTimeoutPolled,
    Terminate,
    TerminatePolled,
    Waitpid,
}

/// The waits' deadline (never reached), a child's largest delay.
const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_DELAY_US: u64 = 3_000;
const LABELS: [&str; 5] = [
    "wait_timeout (pidfd)",
    "wait_timeout, old polling",
    "terminate (pidfd)",
    "SIGTERM, old polling",
    "blocking waitpid",
];

impl Variant {
    /// The child it waits for.
    fn role(self) -> &'static str {
        ["sleep", "sleep", "term", "term", "sleep"][self as usize]
    }

    /// Starts `child`, waits for its exit this variant's way, and returns the
    /// ns from its timestamp to the wait's return; checks that it exited 0
    /// and wrote its ready byte (`term`) and 8 bytes of timestamp.
    fn sample(self, mut child: Command) -> anyhow::Result<u64> {
        child.stdin(Stdio::null()).stdout(Stdio::piped());
        let (status, returned, stdout) = if self == Variant::Waitpid {
            let mut child = child.spawn().context("starting the child")?;
            let stdout = child.stdout.take().context("the child's stdout")?;
            let waited = child.wait();
            let returned = monotonic_ns()?;
            (waited.context("waiting for the child")?, returned, stdout)
        } else {
            let child = Process::spawn(child).context("starting the child")?;
            let mut stdout = child.take_stdout().context("the child's stdout")?;
            if self.role() == "term" {
                let ready = stdout.read_exact(&mut [0u8; 1]);
                ready.context("the child's ready byte (is it a term child?)")?;
            }
            let waited = match self {
                Variant::WaitTimeout => child.wait_timeout(TIMEOUT),
                Variant::Terminate => child.terminate(TIMEOUT).map(Some),
                Variant::TerminatePolled => child
                    .signal(Signal::SIGTERM)
                    .and_then(|()| child.signal(Signal::SIGCONT))
                    .and_then(|()| wait_polled(&child)),
                _ => wait_polled(&child),
            };
            let returned = monotonic_ns()?;
            let status = waited.with_context(|| format!("waiting for pid {}", child.pid()))?;
            let status = status.context("still running after 10 s")?;
            (status, returned, stdout)
        };
        let killed = (self.role() == "term").then_some(" after SIGTERM (killed?)");
        let killed = killed.unwrap_or_default();
        ensure!(status.success(), "the child ended: {status}{killed}");
        let late = returned.checked_sub(read_timestamp(stdout)?);
        late.context("the child's timestamp is after the wait's return")
    }
}

/// The polling ptm did before pidfds: `try_wait`, then a pause of 50 µs
/// doubling up to 2 ms, cut short at the deadline ([`TIMEOUT`]).
fn wait_polled(child: &Process) -> ptm::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + TIMEOUT;
    let mut pause = Duration::from_micros(50);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(2));
    }
}

/// The rest of the child's stdout: exactly its 8 bytes of timestamp.
fn read_timestamp(mut stdout: ChildStdout) -> anyhow::Result<u64> {
    let mut bytes = Vec::with_capacity(8);
    (stdout.read_to_end(&mut bytes)).context("reading the child's timestamp")?;
    let n = bytes.len();
    let bytes = <[u8; 8]>::try_from(bytes)
        .map_err(|_| anyhow!("the child wrote {n} bytes of timestamp, expected 8"))?;
    Ok(u64::from_le_bytes(bytes))
}

/// `CLOCK_MONOTONIC` in nanoseconds: one clock for every process.
fn monotonic_ns() -> anyhow::Result<u64> {
    let now = clock_gettime(ClockId::CLOCK_MONOTONIC).context("reading CLOCK_MONOTONIC")?;
    let ns = i128::from(now.tv_sec()) * 1_000_000_000 + i128::from(now.tv_nsec());
    u64::try_from(ns).context("CLOCK_MONOTONIC out of range")
}

/// Partner `exit-notice-child sleep|term DELAY_US` (`term`: ready byte,
/// SIGTERM); sleeps the delay, writes its timestamp and `_exit(0)`s.
fn play_child(args: &[String]) -> anyhow::Result<Infallible> {
    let [role, us] = args else { bail!("{args:?}") };
    let delay = us.parse().with_context(|| format!("a delay: {us:?}"))?;
    let stdout = std::io::stdout();
    match role.as_str() {
        "sleep" => {}
        "term" => {
            let mut term = SigSet::empty();
            term.add(Signal::SIGTERM);
            sigprocmask(SigmaskHow::SIG_BLOCK, Some(&term), None).context("blocking SIGTERM")?;
            let wrote = nix::unistd::write(&stdout, b"r")?;
            ensure!(wrote == 1, "writing the ready byte");
            ensure!(term.wait()? == Signal::SIGTERM, "waiting for SIGTERM");
        }
        _ => bail!("unknown role {role:?}: expected sleep or term"),
    }
    thread::sleep(Duration::from_micros(delay));
    let now = monotonic_ns()?.to_le_bytes();
    let wrote = nix::unistd::write(&stdout, &now)?;
    ensure!(wrote == 8, "writing the timestamp");
    // SAFETY: `_exit` has no preconditions; it ends the process at once
    // (nothing is buffered: the child writes with write(2)).
    unsafe { nix::libc::_exit(0) }
}

/// The delays of samples `0..samples`, in µs: a fixed xorshift64 sequence
/// uniform in `0..=max`; sample `i`'s delay does not depend on `samples`.
fn delays_us(samples: usize, max: u64) -> Vec<u64> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % (max + 1)
    };
    (0..samples).map(|_| next()).collect()
}

/// One sample (a round) of one variant: the child's delay, and the
/// latency from its timestamp to the wait's return.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Row {
    variant: Variant,
    sample: usize,
    position: usize,
    delay_us: u64,
    latency_ns: u64,
}

fn percentiles(rows: &[Row], variant: Variant) -> Percentiles {
    let mut histogram = latency_histogram();
    for r in rows.iter().filter(|r| r.variant == variant) {
        histogram.saturating_record(r.latency_ns);
    }
    Percentiles::of(&histogram)
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

/// The experiment.
#[derive(Debug)]
pub(crate) struct ExitNotice;

impl Experiment for ExitNotice {
    const NAME: &'static str = "exit-notice";
    const STEM: &'static str = "exit_notice";
    const LABEL: &'static str = "exit notice";
    type Row = Row;

    fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
        let variants = ctx.variants(Variant::value_variants())?;
        let samples = ctx.rounds(500, 100);
        let delays = delays_us(samples, MAX_DELAY_US);
        interleave(&ctx.bar, &variants, samples, |variant, sample, position| {
            let delay_us = delays[sample];
            let child = [variant.role(), &delay_us.to_string()];
            let latency = variant.sample(ctx.partner("exit-notice-child", &child));
            let latency_ns =
                latency.with_context(|| format!("{}, {delay_us} us", name(&variant)))?;
            Ok(Row {
                variant,
                sample,
                position,
                delay_us,
                latency_ns,
            })
        })
    }

    fn plot(rows: &[Row], path: &Path) -> anyhow::Result<()> {
        let variants = distinct(rows.iter().map(|r| r.variant));
        let series = |name: &str, pick: fn(&Percentiles) -> u64| Series {
            name: name.to_owned(),
            values: variants
                .iter()
                .map(|&v| Some(us(pick(&percentiles(rows, v)))))
                .collect(),
        };
        let panel = Panel {
            title: String::new(),
            rows: variants
                .iter()
                .map(|&v| LABELS[v as usize].into())
                .collect(),
            series: vec![series("p50", |p| p.p50), series("p99", |p| p.p99)],
        };
        let chart = Rows {
            title: "How late a child's exit is noticed",
            axis: "microseconds from the child's exit to the wait's return",
            scale: Scale::Log10,
            mark: Mark::Dot,
            value: |us| format!("{us:.0} µs"),
        };
        plot::rows(path, &chart, &[panel])
    }

    fn summary(rows: &[Row]) -> String {
        let samples = distinct(rows.iter().map(|r| r.sample)).len();
        let mut out = format!(
            "## 10. Exit notice\n\nFrom the child's last clock read before `_exit` to the \
             wait's return, µs; {samples} samples per variant, child delays 0..{MAX_DELAY_US} \
             µs. Every latency includes the child's own exit.\n\n\
             | variant | p50 | p99 | max |\n|---|---:|---:|---:|\n"
        );
        for v in distinct(rows.iter().map(|r| r.variant)) {
            let p = percentiles(rows, v);
            let (p50, p99, max) = (us(p.p50), us(p.p99), us(p.max));
            let v = name(&v);
            out.push_str(&format!("| {v} | {p50:.1} | {p99:.1} | {max:.1} |\n"));
        }
        out.push('\n');
        for (polled, pidfd) in [
            (Variant::WaitTimeoutPolled, Variant::WaitTimeout),
            (Variant::TerminatePolled, Variant::Terminate),
        ] {
            let (a, b) = (percentiles(rows, polled), percentiles(rows, pidfd));
            let r = |x: u64, y: u64| ratio(x as f64, y as f64).unwrap_or(f64::NAN);
            if a.count > 0 && b.count > 0 {
                let (p50, p99) = (r(a.p50, b.p50), r(a.p99, b.p99));
                let (a, b) = (name(&polled), name(&pidfd));
                out.push_str(&format!("- {a} / {b}: p50 {p50:.1}x, p99 {p99:.1}x\n"));
            }
        }
        out
    }

    fn partner(role: &str, args: &[String]) -> Option<anyhow::Result<()>> {
        (role == "exit-notice-child").then(|| play_child(args).map(|never| match never {}))
    }
}

#[cfg(test)]
mod tests {
    use super::{delays_us, ExitNotice, Row, Variant};
    use crate::harness::Experiment;
    use clap::ValueEnum;
    use std::process::Command;

    #[test]
    fn the_delays_are_fixed_in_range_and_spread() {
        let delays = delays_us(1000, 3000);
        assert_eq!(delays[..10], delays_us(10, 3000)[..], "a prefix");
        assert!(delays.iter().all(|&d| d <= 3000));
        for tenth in 0..10 {
            let n = delays.iter().filter(|&&d| d / 300 == tenth).count();
            assert!((50..=150).contains(&n), "tenth {tenth}: {n}");
        }
    }

    #[test]
    fn a_child_that_does_not_play_its_part_is_an_error() {
        for variant in Variant::value_variants() {
            for program in ["true", "false"] {
                let error = variant.sample(Command::new(program)).expect_err(program);
                let expected = match (variant.role(), program) {
                    ("term", _) => "ready byte",
                    (_, "true") => "wrote 0 bytes",
                    _ => "exit status: 1",
                };
                let error = format!("{error:#}");
                assert!(error.contains(expected), "{variant:?}: {error}");
            }
        }
    }

    #[test]
    fn the_summary_gives_percentiles_and_ratios() {
        let row = |variant, latency_ns| Row {
            variant,
            sample: 0,
            position: 0,
            delay_us: 5,
            latency_ns,
        };
        let rows = [
            row(Variant::WaitTimeout, 100_000),
            row(Variant::WaitTimeoutPolled, 700_000),
        ];
        let summary = ExitNotice::summary(&rows);
        assert!(
            summary.contains("| wait-timeout-polled | 700."),
            "{summary}"
        );
        assert!(summary.contains("wait-timeout-polled / wait-timeout: p50 7.0x"));
    }
}
