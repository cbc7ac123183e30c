//! How late a child's exit is noticed by a wait with a deadline: ptm's
//! [`Process::wait_timeout`] and [`Process::terminate`], which sleep in
//! `poll(2)` on a pidfd, against the polling ptm did before (`try_wait`,
//! then a pause of 50 µs doubling up to 2 ms, never past the deadline), and
//! against a blocking `waitpid` (std's `Child::wait`, no deadline) as the
//! floor. `src/bin/exit_notice.rs` is the binary; it is not part of `report`.
//!
//! The child is the binary itself, re-executed with [`CHILD_ENV`] set to a
//! [`ChildRole`]. Just before it exits it reads `CLOCK_MONOTONIC` and writes
//! the nanoseconds as 8 little-endian bytes to its stdout, a pipe. The parent
//! reads `CLOCK_MONOTONIC` right after the wait returns, then the child's
//! timestamp from the pipe: the latency of one sample is the difference.
//! It includes the child's own exit (`_exit` and the kernel's tear-down),
//! which is the same for every variant.
//!
//! Each sample's child waits a delay first, from a fixed pseudo-random
//! sequence ([`delays_us`]) uniform in `[0, max_delay_us]`, so that exits
//! land anywhere in the polling's back-off schedule; sample `i` uses the
//! same delay for every variant, and the variants of one sample run one
//! after the other in an order rotated by one place per sample.
//!
//! ```no_run
//! use indicatif::ProgressBar;
//! use ptm_benches::exit_notice::{run, Config};
//!
//! # fn main() -> anyhow::Result<()> {
//! let exe = std::env::current_exe()?; // a binary that calls child_main first
//! let outcome = run(&exe, &Config::default(), &ProgressBar::hidden())?;
//! println!("{}", outcome.report());
//! # Ok(())
//! # }
//! ```

use std::convert::Infallible;
use std::ffi::OsStr;
use std::fmt;
use std::io::{self, Read};
use std::path::Path;
use std::process::{ChildStdout, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context};
use indicatif::ProgressBar;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::time::{clock_gettime, ClockId};
use ptm::process::{Process, Signal};

use crate::csv::Table;
use crate::experiments::rotated;
use crate::stats::{latency_histogram, ratio};

/// The environment variable that makes the binary a child: its value is a
/// [`ChildRole`] (`sleep:<delay_us>` or `term:<delay_us>`).
pub const CHILD_ENV: &str = "PTM_EXIT_NOTICE_CHILD";

/// How long every wait gives the child (the deadline of the timed waits,
/// the grace of `terminate`): far above any delay, so never reached.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The largest `max_delay_us` [`run`] accepts: half of [`TIMEOUT`].
pub const MAX_DELAY_LIMIT_US: u64 = 5_000_000;

/// The old polling's first pause between two `try_wait`s.
const FIRST_POLL: Duration = Duration::from_micros(50);

/// The old polling's longest pause: how late it could notice an exit.
const MAX_POLL: Duration = Duration::from_millis(2);

/// The start value of [`delays_us`]'s sequence.
const START_VALUE: u64 = 0x9E37_79B9_7F4A_7C15;

/// What the re-executed child does before it timestamps and exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildRole {
    /// `sleep:<delay_us>`: sleeps `delay_us` microseconds, then exits.
    Sleep {
        /// Microseconds before the exit.
        delay_us: u64,
    },
    /// `term:<delay_us>`: blocks SIGTERM, writes one byte ("ready") to
    /// stdout, waits for SIGTERM (`sigwait`), sleeps `delay_us`
    /// microseconds (its clean-up), then exits.
    Term {
        /// Microseconds of clean-up after SIGTERM.
        delay_us: u64,
    },
}

impl ChildRole {
    /// Parses a value of [`CHILD_ENV`].
    ///
    /// ```
    /// use ptm_benches::exit_notice::ChildRole;
    ///
    /// assert_eq!(ChildRole::parse("term:250")?, ChildRole::Term { delay_us: 250 });
    /// assert!(ChildRole::parse("nap:1").is_err());
    /// # Ok::<(), anyhow::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// If it is not `sleep:<delay_us>` or `term:<delay_us>` with a delay
    /// in whole microseconds; the error quotes the value.
    pub fn parse(value: &str) -> anyhow::Result<ChildRole> {
        let expected =
            || format!("{CHILD_ENV}={value:?}: expected sleep:<delay_us> or term:<delay_us>");
        let (mode, delay) = value.split_once(':').with_context(expected)?;
        let delay_us: u64 = delay
            .parse()
            .with_context(|| format!("{}: the delay is not a whole number", expected()))?;
        match mode {
            "sleep" => Ok(ChildRole::Sleep { delay_us }),
            "term" => Ok(ChildRole::Term { delay_us }),
            _ => bail!("{}: unknown mode {mode:?}", expected()),
        }
    }

    /// The value of [`CHILD_ENV`] that [`parse`](Self::parse) reads back.
    pub fn env_value(self) -> String {
        match self {
            ChildRole::Sleep { delay_us } => format!("sleep:{delay_us}"),
            ChildRole::Term { delay_us } => format!("term:{delay_us}"),
        }
    }

    /// Plays the role in this process and exits with status 0; returns only
    /// an error (then no timestamp was written).
    fn play(self) -> anyhow::Result<Infallible> {
        let stdout = std::io::stdout();
        let delay_us = match self {
            ChildRole::Sleep { delay_us } => delay_us,
            ChildRole::Term { delay_us } => {
                let mut term = SigSet::empty();
                term.add(Signal::SIGTERM);
                sigprocmask(SigmaskHow::SIG_BLOCK, Some(&term), None)
                    .context("blocking SIGTERM")?;
                let wrote = nix::unistd::write(&stdout, b"r").context("writing the ready byte")?;
                ensure!(wrote == 1, "writing the ready byte: wrote {wrote} bytes");
                let signal = term.wait().context("waiting for SIGTERM")?;
                ensure!(
                    signal == Signal::SIGTERM,
                    "waiting for SIGTERM: got {signal}"
                );
                delay_us
            }
        };
        thread::sleep(Duration::from_micros(delay_us));
        let now = monotonic_ns()?;
        let wrote =
            nix::unistd::write(&stdout, &now.to_le_bytes()).context("writing the timestamp")?;
        ensure!(
            wrote == 8,
            "writing the timestamp: wrote {wrote} of 8 bytes"
        );
        exit_now(0)
    }
}

impl fmt::Display for ChildRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.env_value())
    }
}

/// The child's side: parses `value` (of [`CHILD_ENV`]) and plays that
/// [`ChildRole`], then exits (`_exit(0)`); never returns. Call it first in
/// `main`, before any argument parsing, when [`CHILD_ENV`] is set.
///
/// On an error (a value that does not parse, a failed write or signal
/// call) it says so on stderr and exits with status 2, having written no
/// timestamp.
pub fn child_main(value: &OsStr) -> ! {
    let error = match value.to_str() {
        None => anyhow!("{CHILD_ENV}={value:?}: not UTF-8"),
        Some(text) => match ChildRole::parse(text) {
            Ok(role) => match role.play() {
                Ok(never) => match never {},
                Err(error) => error.context(format!("the {role} child")),
            },
            Err(error) => error,
        },
    };
    eprintln!("exit_notice child: {error:#}");
    exit_now(2)
}

/// `_exit(status)`: ends the process at once, without running exit
/// handlers or flushing anything (nothing is buffered: the child writes with
/// `write(2)`).
fn exit_now(status: i32) -> ! {
    // SAFETY: `_exit` has no preconditions; it ends the process and never
    // returns, so no Rust state is observed afterwards.
    unsafe { nix::libc::_exit(status) }
}

/// `CLOCK_MONOTONIC` in nanoseconds (one clock for every process of the
/// machine, so the parent and the child can be compared).
fn monotonic_ns() -> anyhow::Result<u64> {
    let now = clock_gettime(ClockId::CLOCK_MONOTONIC).context("reading CLOCK_MONOTONIC")?;
    let seconds = u64::try_from(now.tv_sec()).context("a negative CLOCK_MONOTONIC")?;
    let nanos = u64::try_from(now.tv_nsec()).context("a negative CLOCK_MONOTONIC")?;
    seconds
        .checked_mul(1_000_000_000)
        .and_then(|ns| ns.checked_add(nanos))
        .context("CLOCK_MONOTONIC beyond u64 nanoseconds")
}

/// The delays, in microseconds, of samples `0..samples`: a fixed
/// pseudo-random sequence (xorshift64 from a constant start value), uniform in
/// `[0, max_delay_us]` (up to a modulo bias of at most `max_delay_us` in
/// 2^64). Sample `i`'s delay does not depend on `samples`.
///
/// ```
/// use ptm_benches::exit_notice::delays_us;
///
/// let delays = delays_us(100, 3000);
/// assert!(delays.iter().all(|&d| d <= 3000));
/// assert_eq!(delays[..10], delays_us(10, 3000)[..]);
/// ```
pub fn delays_us(samples: usize, max_delay_us: u64) -> Vec<u64> {
    let mut state = START_VALUE;
    let span = max_delay_us.saturating_add(1);
    (0..samples)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % span
        })
        .collect()
}

/// One way of waiting for the child's exit.
/// (Variant docs are plain text: clap shows them in `--help`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Variant {
    /// Process::wait_timeout(10 s) on a child that sleeps, then exits (pidfd, poll).
    WaitTimeout,
    /// The old polling on the same child: try_wait, pauses of 50 us doubling to 2 ms.
    WaitTimeoutPolled,
    /// Process::terminate(10 s) on a child that exits after a clean-up on SIGTERM.
    Terminate,
    /// SIGTERM and SIGCONT through Process::signal, then the old polling.
    TerminatePolled,
    /// std Command::spawn and a blocking Child::wait (no deadline): the floor.
    Waitpid,
}

impl Variant {
    /// Every variant, in the order tables list them.
    pub const ALL: [Variant; 5] = [
        Variant::WaitTimeout,
        Variant::WaitTimeoutPolled,
        Variant::Terminate,
        Variant::TerminatePolled,
        Variant::Waitpid,
    ];

    /// The variant's name on the command line and in tables and CSV.
    pub fn name(self) -> &'static str {
        match self {
            Variant::WaitTimeout => "wait-timeout",
            Variant::WaitTimeoutPolled => "wait-timeout-polled",
            Variant::Terminate => "terminate",
            Variant::TerminatePolled => "terminate-polled",
            Variant::Waitpid => "waitpid",
        }
    }

    /// The child this variant waits for, with `delay_us`.
    fn role(self, delay_us: u64) -> ChildRole {
        match self {
            Variant::Terminate | Variant::TerminatePolled => ChildRole::Term { delay_us },
            Variant::WaitTimeout | Variant::WaitTimeoutPolled | Variant::Waitpid => {
                ChildRole::Sleep { delay_us }
            }
        }
    }

    /// Runs one sample: starts `exe` as the child with `delay_us`, waits
    /// for its exit this variant's way, and returns the latency in
    /// nanoseconds from the child's timestamp to the wait's return.
    ///
    /// # Errors
    ///
    /// If the child cannot be started, the wait fails or reaches its
    /// deadline, the child does not exit successfully (for the `terminate`
    /// variants: it was not left to handle SIGTERM), or it did not write its
    /// ready byte or exactly 8 bytes of timestamp.
    pub fn sample(self, exe: &Path, delay_us: u64) -> anyhow::Result<u64> {
        let role = self.role(delay_us);
        let mut command = Command::new(exe);
        command
            .env(CHILD_ENV, role.env_value())
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let spawning = || format!("starting {} as the {role} child", exe.display());
        let (status, returned, stdout) = match self {
            Variant::WaitTimeout => with_process(command, spawning, |child, _| {
                Ok(child.wait_timeout(TIMEOUT)?)
            })?,
            Variant::WaitTimeoutPolled => with_process(command, spawning, |child, _| {
                Ok(wait_polled(child, TIMEOUT)?)
            })?,
            Variant::Terminate => with_process(command, spawning, |child, stdout| {
                read_ready(stdout)?;
                Ok(Some(child.terminate(TIMEOUT)?))
            })?,
            Variant::TerminatePolled => with_process(command, spawning, |child, stdout| {
                read_ready(stdout)?;
                child
                    .signal(Signal::SIGTERM)
                    .and_then(|()| child.signal(Signal::SIGCONT))
                    .context("signalling the child")?;
                Ok(wait_polled(child, TIMEOUT)?)
            })?,
            Variant::Waitpid => {
                let mut child = command.spawn().with_context(spawning)?;
                let stdout = child.stdout.take();
                let waited = child.wait();
                let returned = monotonic_ns()?;
                let status = waited.with_context(|| format!("waiting for pid {}", child.id()))?;
                let stdout = stdout.context("the child's stdout was not piped")?;
                (status, returned, stdout)
            }
        };
        check_status(role, status)?;
        let exited = read_timestamp(stdout)?;
        ensure!(
            returned > exited,
            "the child's timestamp ({exited} ns) is not before the wait's return ({returned} ns)"
        );
        Ok(returned - exited)
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Checks that the child exited 0: for the `term` child, that it finished
/// its clean-up after SIGTERM (it blocks SIGTERM, so a signal death means
/// it was killed, by the SIGKILL of `terminate` or otherwise).
fn check_status(role: ChildRole, status: ExitStatus) -> anyhow::Result<()> {
    match role {
        ChildRole::Term { .. } => ensure!(
            status.success(),
            "the {role} child exited with {status}, not 0: it did not finish its clean-up \
             after SIGTERM (killed?)"
        ),
        ChildRole::Sleep { .. } => {
            ensure!(status.success(), "the {role} child exited with {status}")
        }
    }
    Ok(())
}

/// Starts `command` as a [`Process`] and waits for it with `wait` (given
/// the child and its stdout); returns the status, `CLOCK_MONOTONIC` read
/// right after `wait` returned, and the stdout left to read.
fn with_process(
    command: Command,
    spawning: impl FnOnce() -> String,
    wait: impl FnOnce(&Process, &mut ChildStdout) -> anyhow::Result<Option<ExitStatus>>,
) -> anyhow::Result<(ExitStatus, u64, ChildStdout)> {
    let child = Process::spawn(command).with_context(spawning)?;
    let mut stdout = child
        .take_stdout()
        .context("the child's stdout was not piped")?;
    let waited = wait(&child, &mut stdout);
    let returned = monotonic_ns()?;
    let status = waited
        .with_context(|| format!("waiting for pid {}", child.pid()))?
        .with_context(|| {
            format!(
                "pid {} still running after {} s",
                child.pid(),
                TIMEOUT.as_secs()
            )
        })?;
    Ok((status, returned, stdout))
}

/// The polling ptm did before pidfds: `try_wait`, then a pause that starts
/// at 50 µs and doubles up to 2 ms, cut short at the deadline; `Ok(None)`
/// once the deadline has passed.
fn wait_polled(child: &Process, timeout: Duration) -> ptm::Result<Option<ExitStatus>> {
    let deadline = Instant::now().checked_add(timeout);
    let mut pause = FIRST_POLL;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let mut sleep = pause;
        if let Some(deadline) = deadline {
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            sleep = sleep.min(deadline - now);
        }
        thread::sleep(sleep);
        pause = (pause * 2).min(MAX_POLL);
    }
}

/// Reads the `term` child's ready byte: it has blocked SIGTERM.
fn read_ready(stdout: &mut impl Read) -> anyhow::Result<()> {
    let mut byte = [0u8; 1];
    match stdout.read_exact(&mut byte) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Err(anyhow!(
            "the child closed its stdout without writing the ready byte (did it start as \
             the term child?)"
        )),
        Err(error) => Err(error).context("reading the child's ready byte"),
    }
}

/// Reads the rest of the child's stdout: exactly the 8 bytes of its
/// timestamp.
fn read_timestamp(mut stdout: impl Read) -> anyhow::Result<u64> {
    let mut bytes = Vec::with_capacity(8);
    stdout
        .read_to_end(&mut bytes)
        .context("reading the child's timestamp from its stdout")?;
    let bytes: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
        anyhow!(
            "the child wrote {} bytes of timestamp, expected 8 (did it start as an \
             exit_notice child?)",
            bytes.len()
        )
    })?;
    Ok(u64::from_le_bytes(bytes))
}

/// What [`run`] measures.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Samples per variant.
    pub samples: usize,
    /// The largest delay of a child, in microseconds (at most
    /// [`MAX_DELAY_LIMIT_US`]).
    pub max_delay_us: u64,
    /// The variants, each at most once.
    pub variants: Vec<Variant>,
}

impl Default for Config {
    /// 500 samples, delays up to 3 ms (past the old polling's 2 ms pauses),
    /// every variant.
    fn default() -> Config {
        Config {
            samples: 500,
            max_delay_us: 3_000,
            variants: Variant::ALL.to_vec(),
        }
    }
}

/// One sample of one variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// The variant.
    pub variant: Variant,
    /// The sample's index (its delay's place in [`delays_us`]).
    pub sample: usize,
    /// The child's delay, in microseconds.
    pub delay_us: u64,
    /// From the child's timestamp to the wait's return, in nanoseconds.
    pub latency_ns: u64,
}

/// Percentiles of one variant's latencies, in nanoseconds (hdrhistogram's,
/// within 0.1%).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice {
    /// Samples.
    pub count: u64,
    /// The median.
    pub p50: u64,
    /// The 90th percentile.
    pub p90: u64,
    /// The 99th percentile.
    pub p99: u64,
    /// The largest latency.
    pub max: u64,
}

/// Every sample of a [`run`].
#[derive(Debug, Clone)]
pub struct ExitNoticeOutcome {
    /// What was run.
    pub config: Config,
    /// Every sample, in the order run.
    pub samples: Vec<Sample>,
}

impl ExitNoticeOutcome {
    /// `variant`'s latencies in nanoseconds, in sample order.
    pub fn latencies(&self, variant: Variant) -> Vec<u64> {
        self.samples
            .iter()
            .filter(|s| s.variant == variant)
            .map(|s| s.latency_ns)
            .collect()
    }

    /// `variant`'s percentiles; `None` without samples.
    pub fn notice(&self, variant: Variant) -> Option<Notice> {
        let mut histogram = latency_histogram();
        for latency in self.latencies(variant) {
            // Above the histogram's 100 s: counted at its top.
            histogram.saturating_record(latency);
        }
        (!histogram.is_empty()).then(|| Notice {
            count: histogram.len(),
            p50: histogram.value_at_quantile(0.5),
            p90: histogram.value_at_quantile(0.9),
            p99: histogram.value_at_quantile(0.99),
            max: histogram.max(),
        })
    }

    /// One CSV row per sample: `variant,sample,delay_us,latency_ns`.
    pub fn table(&self) -> Table {
        let mut table = Table::new(["variant", "sample", "delay_us", "latency_ns"]);
        for s in &self.samples {
            table.push([
                s.variant.name().to_owned(),
                s.sample.to_string(),
                s.delay_us.to_string(),
                s.latency_ns.to_string(),
            ]);
        }
        table
    }

    /// The text table: per variant p50, p90, p99 and max in microseconds,
    /// then the ratios polled / pidfd of p50 and p99.
    pub fn report(&self) -> String {
        let c = &self.config;
        let mut out = format!(
            "exit noticed: from the child's last clock read before _exit to the wait's return; \
             {} samples per variant, child delays 0..{} us; microseconds\n",
            c.samples, c.max_delay_us
        );
        out.push_str(&format!(
            "{:<20} {:>9} {:>9} {:>9} {:>9}\n",
            "variant", "p50", "p90", "p99", "max"
        ));
        let us = |ns: u64| ns as f64 / 1e3;
        for &variant in &c.variants {
            if let Some(n) = self.notice(variant) {
                out.push_str(&format!(
                    "{variant:<20} {:>9.1} {:>9.1} {:>9.1} {:>9.1}\n",
                    us(n.p50),
                    us(n.p90),
                    us(n.p99),
                    us(n.max)
                ));
            }
        }
        for (polled, pidfd) in [
            (Variant::WaitTimeoutPolled, Variant::WaitTimeout),
            (Variant::TerminatePolled, Variant::Terminate),
        ] {
            if let (Some(p), Some(f)) = (self.notice(polled), self.notice(pidfd)) {
                let show = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{r:.1}"));
                out.push_str(&format!(
                    "{polled} / {pidfd}: p50 {}x, p99 {}x   (above 1: the polling notices later)\n",
                    show(ratio(p.p50 as f64, f.p50 as f64)),
                    show(ratio(p.p99 as f64, f.p99 as f64)),
                ));
            }
        }
        out.push_str(
            "every latency includes the child's own exit (the same for every variant); \
             a run on a busy machine or under 100 samples says little about p99\n",
        );
        if cfg!(debug_assertions) {
            out.push_str("a debug build: distrust these numbers, use --release\n");
        }
        out
    }
}

/// Runs `config.samples` samples of every variant with `exe` as the child
/// (a binary that calls [`child_main`] first when [`CHILD_ENV`] is set):
/// for sample `i`, every variant once with delay `delays_us(..)[i]`, in an
/// order rotated by one place per sample. Advances `bar` once per sample.
///
/// # Errors
///
/// If `config` has no samples or no variants, a variant twice or a delay
/// above [`MAX_DELAY_LIMIT_US`]; or if a sample fails
/// ([`Variant::sample`]): the error names the variant, the sample and its
/// delay.
pub fn run(exe: &Path, config: &Config, bar: &ProgressBar) -> anyhow::Result<ExitNoticeOutcome> {
    ensure!(config.samples > 0, "exit_notice: no samples to take");
    ensure!(!config.variants.is_empty(), "exit_notice: no variants");
    for (i, variant) in config.variants.iter().enumerate() {
        ensure!(
            !config.variants[..i].contains(variant),
            "exit_notice: the variant {variant} is listed twice"
        );
    }
    ensure!(
        config.max_delay_us <= MAX_DELAY_LIMIT_US,
        "exit_notice: a largest delay of {} us is above the limit of {MAX_DELAY_LIMIT_US} us \
         (the waits give up after {} s)",
        config.max_delay_us,
        TIMEOUT.as_secs()
    );
    let variants = &config.variants;
    bar.set_length(config.samples as u64);
    let mut samples = Vec::with_capacity(config.samples * variants.len());
    for (sample, delay_us) in delays_us(config.samples, config.max_delay_us)
        .into_iter()
        .enumerate()
    {
        for position in 0..variants.len() {
            let variant = variants[rotated(sample, position, variants.len())];
            let latency_ns = variant.sample(exe, delay_us).with_context(|| {
                format!(
                    "{variant}, sample {sample} (delay {delay_us} us, child {})",
                    exe.display()
                )
            })?;
            samples.push(Sample {
                variant,
                sample,
                delay_us,
                latency_ns,
            });
        }
        bar.inc(1);
    }
    Ok(ExitNoticeOutcome {
        config: config.clone(),
        samples,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    use super::{check_status, delays_us, monotonic_ns, read_timestamp, ChildRole, Variant};

    #[test]
    fn the_delays_are_fixed_in_range_and_spread() {
        let delays = delays_us(1000, 3000);
        assert_eq!(delays, delays_us(1000, 3000), "the same every run");
        assert_eq!(delays[..10], delays_us(10, 3000)[..], "a prefix");
        assert!(delays.iter().all(|&d| d <= 3000));
        // Uniform: every tenth of the range gets some, none gets most.
        for tenth in 0..10u64 {
            let count = delays
                .iter()
                .filter(|&&d| (tenth * 300..(tenth + 1) * 300).contains(&d))
                .count();
            assert!((50..=150).contains(&count), "tenth {tenth}: {count}");
        }
        let mut distinct = delays.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() > 500, "{} distinct delays", distinct.len());
    }

    #[test]
    fn no_delay_range_is_all_zeros() {
        assert!(delays_us(50, 0).iter().all(|&d| d == 0));
        assert!(delays_us(0, 3000).is_empty());
        assert!(delays_us(5, u64::MAX).len() == 5);
    }

    #[test]
    fn child_roles_parse_and_print_back() {
        assert_eq!(
            ChildRole::parse("sleep:250").expect("valid"),
            ChildRole::Sleep { delay_us: 250 }
        );
        assert_eq!(
            ChildRole::parse("term:0").expect("valid"),
            ChildRole::Term { delay_us: 0 }
        );
        for role in [
            ChildRole::Sleep { delay_us: 3000 },
            ChildRole::Term { delay_us: 17 },
        ] {
            assert_eq!(ChildRole::parse(&role.env_value()).expect("valid"), role);
        }
    }

    #[test]
    fn bad_child_roles_are_errors_quoting_the_value() {
        for bad in [
            "",
            "sleep",
            "sleep:",
            "sleep:-1",
            "sleep:1.5",
            "sleep: 5",
            "nap:5",
            "term:5:6",
            "SLEEP:5",
        ] {
            let error = ChildRole::parse(bad).expect_err(bad);
            let message = format!("{error:#}");
            assert!(
                message.contains("PTM_EXIT_NOTICE_CHILD") && message.contains(&format!("{bad:?}")),
                "{bad}: {message}"
            );
        }
    }

    #[test]
    fn each_variant_waits_for_its_child() {
        for variant in Variant::ALL {
            let role = variant.role(5);
            let terminated = matches!(variant, Variant::Terminate | Variant::TerminatePolled);
            assert_eq!(
                matches!(role, ChildRole::Term { delay_us: 5 }),
                terminated,
                "{variant}"
            );
        }
    }

    #[test]
    fn a_timestamp_is_exactly_eight_bytes() {
        let now = monotonic_ns().expect("the clock");
        assert_eq!(
            read_timestamp(&now.to_le_bytes()[..]).expect("8 bytes"),
            now
        );
        for short in [&[][..], &[1, 2, 3][..], &[0; 9][..]] {
            let error = read_timestamp(short).expect_err("not 8 bytes");
            assert!(
                error
                    .to_string()
                    .contains(&format!("wrote {} bytes", short.len())),
                "{error}"
            );
        }
    }

    #[test]
    fn a_term_child_must_exit_zero_not_be_killed() {
        let term = ChildRole::Term { delay_us: 0 };
        check_status(term, ExitStatus::from_raw(0)).expect("exit 0");
        // SIGKILL (9), as after a grace that ran out; and exit 1.
        for raw in [9, 1 << 8] {
            let error = check_status(term, ExitStatus::from_raw(raw)).expect_err("not 0");
            assert!(
                error.to_string().contains("did not finish its clean-up"),
                "{error}"
            );
        }
        let sleep = ChildRole::Sleep { delay_us: 0 };
        let error = check_status(sleep, ExitStatus::from_raw(1 << 8)).expect_err("exit 1");
        assert!(
            error
                .to_string()
                .contains("sleep:0 child exited with exit status: 1"),
            "{error}"
        );
    }
}
