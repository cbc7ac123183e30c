//! Comparison 4: round trips, the cost of isolation. One `u64`
//! goes to a partner and comes back, again and again; each round trip is
//! recorded in an hdrhistogram:
//!
//! - `crossbeam`: a partner thread, a crossbeam `bounded(1)` channel each
//!   way;
//! - `std-mpsc`: the same with two std `mpsc::channel`s;
//! - `thread-pipe`: a partner thread echoing through two OS pipes (the
//!   pipe's cost without a second process: the control);
//! - `process-pipe`: a partner *process* echoing its stdin to its stdout
//!   (pipes both ways): `report` itself re-run in its hidden echo mode, or
//!   any program that echoes (`cat` in the tests);
//! - `process-socket`: the same partner with one Unix socket as its stdin
//!   and stdout, the `u64` sent as a `ptm::ipc::MessageSocket` message (a
//!   4-byte length, then the 8 bytes), echoed back byte for byte;
//! - `process-shm`: a partner process (`report` in its hidden shared-memory
//!   echo mode) and `ptm::ipc::SharedMemory` between them: the request and
//!   the answer are atomics in the shared pages, each side spinning (then
//!   yielding) until the other's store shows. No system call on the way,
//!   unless a side has to yield its CPU.
//!
//! Three placements ([`Pinning`]), interleaved by rounds: unpinned (the
//! scheduler sometimes moves the woken partner to the waker's CPU,
//! sometimes not), pinned (everything on one CPU: a hop is a context
//! switch), and split (this thread on one CPU, the partner on the other:
//! every hop that finds the partner asleep wakes the other CPU, which on
//! this VM costs tens of microseconds and can hide the difference between
//! a thread and a process).

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;
use std::time::Instant;

use anyhow::{anyhow, ensure, Context};
use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use ptm::ipc::{MessageSocket, SharedMemory};

use super::latency::{percentile_plot, percentile_rows, percentile_table};
use super::{named, rotated, Outcome, Size};
use crate::csv::Table;
use crate::pin::Pinning;
use crate::stats::{latency_histogram, Percentiles};

/// Copies `input` to `output` until end of file, flushing after every read:
/// what an echo partner does. Returns the bytes copied.
///
/// # Errors
///
/// The first read or write error other than `Interrupted`.
///
/// ```
/// let mut out = Vec::new();
/// let n = ptm_benches::experiments::roundtrip::echo(&b"ping"[..], &mut out)?;
/// assert_eq!((n, out.as_slice()), (4, &b"ping"[..]));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn echo(mut input: impl Read, mut output: impl Write) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        output.write_all(&buf[..n])?;
        output.flush()?;
        total += n as u64;
    }
}

/// [`echo`] on this process's stdin and stdout, unbuffered (through
/// duplicates of descriptors 0 and 1): the body of `report`'s echo mode.
///
/// # Errors
///
/// If a descriptor cannot be duplicated, or as for [`echo`].
pub fn echo_stdio() -> io::Result<u64> {
    let input = File::from(io::stdin().as_fd().try_clone_to_owned()?);
    let output = File::from(io::stdout().as_fd().try_clone_to_owned()?);
    echo(input, output)
}

/// A way of making the round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Two crossbeam `bounded(1)` channels and a partner thread.
    Crossbeam,
    /// Two std `mpsc` channels and a partner thread.
    StdMpsc,
    /// Two OS pipes and a partner thread running [`echo`].
    ThreadPipe,
    /// The child process's stdin and stdout pipes.
    ProcessPipe,
    /// One Unix socket pair, framed messages (`MessageSocket`), the same
    /// echoing child.
    ProcessSocket,
    /// Atomics in shared memory (`SharedMemory`) with a child in the
    /// shared-memory echo mode.
    ProcessShm,
}

impl Variant {
    /// Every variant, in table order.
    pub const ALL: [Variant; 6] = [
        Variant::Crossbeam,
        Variant::StdMpsc,
        Variant::ThreadPipe,
        Variant::ProcessPipe,
        Variant::ProcessSocket,
        Variant::ProcessShm,
    ];

    /// Its name in tables and CSV.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Crossbeam => "crossbeam",
            Variant::StdMpsc => "std-mpsc",
            Variant::ThreadPipe => "thread-pipe",
            Variant::ProcessPipe => "process-pipe",
            Variant::ProcessSocket => "process-socket",
            Variant::ProcessShm => "process-shm",
        }
    }

    /// Its name written out, for plots.
    pub fn label(self) -> &'static str {
        match self {
            Variant::Crossbeam => "thread, crossbeam bounded(1) each way",
            Variant::StdMpsc => "thread, std mpsc channel each way",
            Variant::ThreadPipe => "thread, a pipe each way",
            Variant::ProcessPipe => "process, its stdin and stdout pipes",
            Variant::ProcessSocket => "process, a Unix socket (MessageSocket)",
            Variant::ProcessShm => "process, shared memory (atomics)",
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// The program (and arguments) of the `process-pipe` partner: it must copy
/// its stdin to its stdout as bytes arrive, until end of file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoProgram {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// The arguments that make the same program a shared-memory echo
    /// partner ([`shm_echo_stdin`]), if it has such a mode: `process-shm`
    /// runs only then.
    pub shm_args: Option<Vec<OsString>>,
}

impl EchoProgram {
    /// `cat`, which echoes as described (GNU cat writes what each read
    /// returned).
    pub fn cat() -> EchoProgram {
        EchoProgram {
            program: "cat".into(),
            args: Vec::new(),
            shm_args: None,
        }
    }
}

/// A partner, set up and echoing (the isolation ladder starts its thread
/// and process partners through it too).
pub(crate) enum Partner {
    Crossbeam {
        to: crossbeam_channel::Sender<u64>,
        from: crossbeam_channel::Receiver<u64>,
        thread: JoinHandle<()>,
    },
    StdMpsc {
        to: mpsc::Sender<u64>,
        from: mpsc::Receiver<u64>,
        thread: JoinHandle<()>,
    },
    ThreadPipe {
        to: io::PipeWriter,
        from: io::PipeReader,
        thread: JoinHandle<io::Result<u64>>,
    },
    ProcessPipe {
        to: ChildStdin,
        from: ChildStdout,
        child: Child,
    },
    ProcessSocket {
        socket: MessageSocket,
        child: Child,
    },
    ProcessShm {
        shm: SharedMemory,
        seq: u64,
        child: Child,
    },
}

impl Partner {
    pub(crate) fn start(variant: Variant, echo_program: &EchoProgram) -> anyhow::Result<Partner> {
        Ok(match variant {
            Variant::Crossbeam => {
                let (to, their_rx) = crossbeam_channel::bounded::<u64>(1);
                let (their_tx, from) = crossbeam_channel::bounded::<u64>(1);
                let thread = thread::Builder::new().spawn(move || {
                    for v in their_rx {
                        if their_tx.send(v).is_err() {
                            break;
                        }
                    }
                })?;
                Partner::Crossbeam { to, from, thread }
            }
            Variant::StdMpsc => {
                let (to, their_rx) = mpsc::channel::<u64>();
                let (their_tx, from) = mpsc::channel::<u64>();
                let thread = thread::Builder::new().spawn(move || {
                    for v in their_rx {
                        if their_tx.send(v).is_err() {
                            break;
                        }
                    }
                })?;
                Partner::StdMpsc { to, from, thread }
            }
            Variant::ThreadPipe => {
                let (their_in, to) = io::pipe().context("pipe")?;
                let (from, their_out) = io::pipe().context("pipe")?;
                let thread = thread::Builder::new().spawn(move || echo(their_in, their_out))?;
                Partner::ThreadPipe { to, from, thread }
            }
            Variant::ProcessPipe => {
                let mut child = Command::new(&echo_program.program)
                    .args(&echo_program.args)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .with_context(|| format!("starting {echo_program:?}"))?;
                let to = child.stdin.take().context("the child's stdin")?;
                let from = child.stdout.take().context("the child's stdout")?;
                Partner::ProcessPipe { to, from, child }
            }
            Variant::ProcessSocket => {
                let (socket, theirs) = MessageSocket::pair().context("a socket pair")?;
                let theirs = OwnedFd::from(theirs);
                let stdout = theirs.try_clone().context("a second socket descriptor")?;
                let child = Command::new(&echo_program.program)
                    .args(&echo_program.args)
                    .stdin(Stdio::from(theirs))
                    .stdout(Stdio::from(stdout))
                    .spawn()
                    .with_context(|| format!("starting {echo_program:?}"))?;
                Partner::ProcessSocket { socket, child }
            }
            Variant::ProcessShm => {
                let args = echo_program
                    .shm_args
                    .as_ref()
                    .with_context(|| format!("{echo_program:?} has no shared-memory echo mode"))?;
                let shm = SharedMemory::create("ptm-roundtrip", 4096).context("shared memory")?;
                let fd = shm
                    .as_fd()
                    .try_clone_to_owned()
                    .context("a memfd for the child")?;
                let child = Command::new(&echo_program.program)
                    .args(args)
                    .stdin(Stdio::from(fd))
                    .spawn()
                    .with_context(|| format!("starting {echo_program:?} {args:?}"))?;
                Partner::ProcessShm { shm, seq: 0, child }
            }
        })
    }

    /// Sends `v` and returns what came back.
    pub(crate) fn ping(&mut self, v: u64) -> anyhow::Result<u64> {
        match self {
            Partner::Crossbeam { to, from, .. } => {
                to.send(v).map_err(|_| anyhow!("the partner is gone"))?;
                from.recv().map_err(|_| anyhow!("the partner is gone"))
            }
            Partner::StdMpsc { to, from, .. } => {
                to.send(v).map_err(|_| anyhow!("the partner is gone"))?;
                from.recv().map_err(|_| anyhow!("the partner is gone"))
            }
            Partner::ThreadPipe { to, from, .. } => pipe_ping(to, from, v),
            Partner::ProcessPipe { to, from, .. } => pipe_ping(to, from, v),
            Partner::ProcessSocket { socket, .. } => {
                socket
                    .send(&v.to_le_bytes())
                    .context("sending to the partner")?;
                let back = socket.recv().context("receiving from the partner")?;
                let back = back.context("the partner closed the socket")?;
                let back: [u8; 8] = back.as_slice().try_into().context("an 8-byte answer")?;
                Ok(u64::from_le_bytes(back))
            }
            Partner::ProcessShm { shm, seq, .. } => {
                // SAFETY: this process touches the region through the
                // atomics only.
                let slots = unsafe { shm.atomics() };
                *seq += 1;
                slots[SHM_DATA].store(v, Relaxed);
                slots[SHM_REQUEST].store(*seq, Release);
                wait_for(&slots[SHM_ANSWER], *seq)?;
                Ok(slots[SHM_ECHO].load(Relaxed))
            }
        }
    }

    /// Closes the way in and waits for the partner to end.
    pub(crate) fn finish(self) -> anyhow::Result<()> {
        match self {
            Partner::Crossbeam { to, thread, .. } => {
                drop(to);
                thread.join().map_err(|_| anyhow!("the partner panicked"))
            }
            Partner::StdMpsc { to, thread, .. } => {
                drop(to);
                thread.join().map_err(|_| anyhow!("the partner panicked"))
            }
            Partner::ThreadPipe { to, from, thread } => {
                drop(to);
                let echoed = thread.join().map_err(|_| anyhow!("the partner panicked"))?;
                drop(from);
                echoed.context("the echo thread")?;
                Ok(())
            }
            Partner::ProcessPipe {
                to,
                from,
                mut child,
            } => {
                drop(to);
                let status = child.wait().context("waiting for the echo process")?;
                drop(from);
                ensure!(status.success(), "the echo process failed: {status}");
                Ok(())
            }
            Partner::ProcessSocket { socket, mut child } => {
                socket
                    .shutdown_send()
                    .context("closing the socket's way in")?;
                let status = child.wait().context("waiting for the echo process")?;
                ensure!(status.success(), "the echo process failed: {status}");
                Ok(())
            }
            Partner::ProcessShm { shm, mut child, .. } => {
                // SAFETY: as in `ping`: atomics only.
                let slots = unsafe { shm.atomics() };
                slots[SHM_REQUEST].store(SHM_STOP, Release);
                let status = child
                    .wait()
                    .context("waiting for the shared-memory partner")?;
                ensure!(
                    status.success(),
                    "the shared-memory partner failed: {status}"
                );
                Ok(())
            }
        }
    }
}

/// Slots (u64 atomics) of the shared-memory round trip: the request's
/// sequence number and value, the answer's sequence number and value.
const SHM_REQUEST: usize = 0;
const SHM_DATA: usize = 1;
const SHM_ANSWER: usize = 2;
const SHM_ECHO: usize = 3;
/// A request number that tells the partner to exit.
const SHM_STOP: u64 = u64::MAX;

/// Spins until `slot` holds `value` (`Acquire`): a short busy wait, then
/// `yield_now` between looks, so that a partner on the same CPU can run.
/// Gives up after 10 s (a partner that died).
fn wait_for(slot: &AtomicU64, value: u64) -> anyhow::Result<()> {
    let mut spins = 0u32;
    let mut started: Option<Instant> = None;
    while slot.load(Acquire) != value {
        spins += 1;
        if spins < 200 {
            std::hint::spin_loop();
            continue;
        }
        thread::yield_now();
        let since = *started.get_or_insert_with(Instant::now);
        ensure!(
            since.elapsed() < Duration::from_secs(10),
            "the shared-memory partner did not answer {value} within 10 s"
        );
    }
    Ok(())
}

/// The body of `report`'s hidden shared-memory echo mode: maps the memfd
/// that is stdin and answers each request (copies its value to the answer
/// slot) until told to stop.
///
/// # Errors
///
/// If stdin is not a sealed memfd, or the parent stops asking for 10 s
/// without saying stop.
pub fn shm_echo_stdin() -> anyhow::Result<()> {
    let stdin = io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .context("duplicating stdin")?;
    let shm = SharedMemory::from_fd(stdin).context("mapping stdin as shared memory")?;
    // SAFETY: this process touches the region through the atomics only.
    let slots = unsafe { shm.atomics() };
    ensure!(
        slots.len() > SHM_ECHO,
        "shared memory too small: {} slots",
        slots.len()
    );
    let mut last = 0;
    loop {
        let mut spins = 0u32;
        let mut started: Option<Instant> = None;
        let request = loop {
            let request = slots[SHM_REQUEST].load(Acquire);
            if request != last {
                break request;
            }
            spins += 1;
            if spins < 200 {
                std::hint::spin_loop();
                continue;
            }
            thread::yield_now();
            let since = *started.get_or_insert_with(Instant::now);
            ensure!(
                since.elapsed() < Duration::from_secs(10),
                "no request for 10 s"
            );
        };
        if request == SHM_STOP {
            return Ok(());
        }
        slots[SHM_ECHO].store(slots[SHM_DATA].load(Relaxed), Relaxed);
        slots[SHM_ANSWER].store(request, Release);
        last = request;
    }
}

/// Writes `v` to `to` and reads the 8 bytes that come back from `from`.
pub(crate) fn pipe_ping(to: &mut impl Write, from: &mut impl Read, v: u64) -> anyhow::Result<u64> {
    to.write_all(&v.to_le_bytes())
        .context("writing to the partner")?;
    let mut back = [0u8; 8];
    from.read_exact(&mut back)
        .context("reading from the partner")?;
    Ok(u64::from_le_bytes(back))
}

/// Sizes of the round-trip experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Round trips per (variant, pinning).
    pub samples: usize,
    /// Rounds they are split into (interleaving).
    pub rounds: usize,
    /// Variants measured.
    pub variants: Vec<Variant>,
    /// The `process-pipe` partner.
    pub echo: EchoProgram,
}

impl Config {
    /// 100,000 round trips per variant and pinning, in 10 rounds.
    pub fn full(echo: EchoProgram) -> Config {
        Config {
            samples: 100_000,
            rounds: 10,
            variants: Variant::ALL
                .into_iter()
                .filter(|&variant| variant != Variant::ProcessShm || echo.shm_args.is_some())
                .collect(),
            echo,
        }
    }

    /// 10,000 round trips per variant and pinning, in 4 rounds.
    pub fn quick(echo: EchoProgram) -> Config {
        Config {
            samples: 10_000,
            rounds: 4,
            ..Config::full(echo)
        }
    }

    /// [`full`](Self::full) or [`quick`](Self::quick).
    pub fn of(size: Size, echo: EchoProgram) -> Config {
        match size {
            Size::Full => Config::full(echo),
            Size::Quick => Config::quick(echo),
        }
    }
}

struct Subject {
    variant: Variant,
    pinning: Pinning,
    partner: Partner,
    histogram: Histogram<u64>,
    next: u64,
}

impl Subject {
    fn sample(&mut self, count: usize) -> anyhow::Result<()> {
        for _ in 0..count {
            let v = self.next;
            self.next = self.next.wrapping_add(1);
            let start = Instant::now();
            let back = self.partner.ping(v)?;
            let nanos = start.elapsed().as_nanos();
            ensure!(back == v, "{}: sent {v}, got {back} back", self.variant);
            self.histogram
                .saturating_record(u64::try_from(nanos).unwrap_or(u64::MAX));
        }
        Ok(())
    }
}

/// Measures every variant, unpinned and pinned, interleaved by rounds.
///
/// # Errors
///
/// If a partner cannot be started, pinning fails, or an echo is wrong.
pub fn run(config: &Config, bar: &ProgressBar) -> anyhow::Result<RoundTripOutcome> {
    let rounds = config.rounds.max(1);
    let per_round = config.samples.div_ceil(rounds).max(1);
    let mut subjects = Vec::new();
    for pinning in Pinning::ALL {
        // Partners started while pinned (threads and the child) stay pinned.
        let _guard = pinning.apply_partner()?;
        for &variant in &config.variants {
            subjects.push(Subject {
                variant,
                pinning,
                partner: Partner::start(variant, &config.echo)
                    .with_context(|| format!("starting the {variant} partner ({pinning})"))?,
                histogram: latency_histogram(),
                next: 0,
            });
        }
    }
    bar.set_length((subjects.len() * rounds) as u64);
    for subject in &mut subjects {
        let _guard = subject.pinning.apply()?;
        subject.sample((per_round / 10).clamp(10, 1000))?;
        subject.histogram.reset();
    }
    let count = subjects.len();
    for round in 0..rounds {
        for position in 0..count {
            let subject = &mut subjects[rotated(round, position, count)];
            bar.set_message(format!("{} {}", subject.variant, subject.pinning));
            let _guard = subject.pinning.apply()?;
            subject.sample(per_round)?;
            bar.inc(1);
        }
    }
    let mut rows = Vec::new();
    for subject in subjects {
        rows.push(RoundTripRow {
            variant: subject.variant,
            pinning: subject.pinning,
            percentiles: Percentiles::of(&subject.histogram),
            mean: subject.histogram.mean(),
        });
        subject
            .partner
            .finish()
            .with_context(|| format!("stopping the {} partner", subject.variant))?;
    }
    Ok(RoundTripOutcome {
        config: config.clone(),
        rows,
    })
}

/// One variant's distribution under one pinning.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundTripRow {
    /// The variant.
    pub variant: Variant,
    /// Unpinned or pinned.
    pub pinning: Pinning,
    /// Percentiles of the round trip, in nanoseconds.
    pub percentiles: Percentiles,
    /// The mean, in nanoseconds.
    pub mean: f64,
}

/// Every variant's distributions.
#[derive(Debug, Clone)]
pub struct RoundTripOutcome {
    /// The sizes it ran with.
    pub config: Config,
    /// One row per (variant, pinning).
    pub rows: Vec<RoundTripRow>,
}

impl RoundTripOutcome {
    /// The percentiles of `variant` under `pinning`.
    pub fn get(&self, variant: Variant, pinning: Pinning) -> Option<Percentiles> {
        self.rows
            .iter()
            .find(|r| r.variant == variant && r.pinning == pinning)
            .map(|r| r.percentiles)
    }

    /// Reads the rows of a CSV written from [`table`](Outcome::table)
    /// back. The variants and the sample count come from the rows; the
    /// rounds and the partner program, which the CSV does not record, are
    /// [`Config::full`]'s with `cat`.
    ///
    /// # Errors
    ///
    /// If `table` is not such a CSV.
    pub fn from_table(table: &Table) -> anyhow::Result<RoundTripOutcome> {
        let rows = percentile_rows(table)?
            .into_iter()
            .map(|(name, pinning, percentiles, mean)| {
                Ok(RoundTripRow {
                    variant: named(&Variant::ALL, Variant::name, &name)?,
                    pinning,
                    percentiles,
                    mean,
                })
            })
            .collect::<anyhow::Result<Vec<RoundTripRow>>>()?;
        let config = Config {
            samples: rows.first().map_or(0, |r| r.percentiles.count as usize),
            variants: Variant::ALL
                .into_iter()
                .filter(|&v| rows.iter().any(|r| r.variant == v))
                .collect(),
            ..Config::full(EchoProgram::cat())
        };
        Ok(RoundTripOutcome { config, rows })
    }

    fn sorted(&self) -> Vec<&RoundTripRow> {
        let mut rows: Vec<&RoundTripRow> = self.rows.iter().collect();
        rows.sort_by_key(|r| r.pinning);
        rows
    }
}

impl Outcome for RoundTripOutcome {
    fn name(&self) -> &'static str {
        "roundtrip"
    }

    fn table(&self) -> Table {
        percentile_table(
            self.sorted()
                .into_iter()
                .map(|r| (r.variant.name(), r.pinning, &r.percentiles, r.mean)),
        )
        .0
    }

    fn plot(&self, path: &Path) -> anyhow::Result<()> {
        let variants: Vec<(&str, [Option<Percentiles>; 3])> = self
            .config
            .variants
            .iter()
            .map(|&v| (v.label(), Pinning::ALL.map(|p| self.get(v, p))))
            .collect();
        percentile_plot(path, "Round trip of a u64 to a partner and back", &variants)
    }

    fn summary(&self) -> String {
        let (_, table) = percentile_table(
            self.sorted()
                .into_iter()
                .map(|r| (r.variant.name(), r.pinning, &r.percentiles, r.mean)),
        );
        let mut ratios =
            String::from("\n| p50 ratio | unpinned | pinned | split |\n|---|---:|---:|---:|\n");
        for (a, b) in [
            (Variant::ProcessPipe, Variant::Crossbeam),
            (Variant::ProcessPipe, Variant::ThreadPipe),
            (Variant::ProcessSocket, Variant::ProcessPipe),
            (Variant::ProcessShm, Variant::ProcessPipe),
            (Variant::ProcessShm, Variant::Crossbeam),
            (Variant::ThreadPipe, Variant::Crossbeam),
            (Variant::StdMpsc, Variant::Crossbeam),
        ] {
            let cell = |pinning| match (self.get(a, pinning), self.get(b, pinning)) {
                (Some(x), Some(y)) if y.p50 > 0 => format!("{:.2}", x.p50 as f64 / y.p50 as f64),
                _ => "-".to_owned(),
            };
            ratios.push_str(&format!(
                "| {a} / {b} | {} | {} | {} |\n",
                cell(Pinning::Unpinned),
                cell(Pinning::Pinned),
                cell(Pinning::Split)
            ));
        }
        format!(
            "## 4. Round trips\n\nOne `u64` to a partner and back: {} round trips per variant \
             and pinning in {} interleaved rounds (hdrhistogram). `process-pipe`'s partner is \
             `{}` echoing its stdin to its stdout (for `process-socket`, one Unix socket as both); \
             `process-shm`'s partner spins on atomics in shared memory. Pinned: this thread and the partner thread \
             or process on one CPU; split: this thread on one CPU, the partner on the \
             other.\n\n{table}{ratios}",
            self.config.samples,
            self.config.rounds,
            self.config.echo.program.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{echo, run, Config, EchoProgram, RoundTripOutcome, Variant};
    use crate::experiments::Outcome;
    use crate::pin::Pinning;
    use indicatif::ProgressBar;

    #[test]
    fn echo_copies_until_eof() {
        let input: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let mut out = Vec::new();
        assert_eq!(echo(input.as_slice(), &mut out).expect("echo"), 200_000);
        assert_eq!(out, input);
    }

    #[test]
    fn every_variant_echoes_through_cat() {
        let config = Config {
            samples: 50,
            rounds: 2,
            variants: Variant::ALL
                .into_iter()
                .filter(|&variant| variant != Variant::ProcessShm)
                .collect(),
            echo: EchoProgram::cat(),
        };
        let outcome = std::thread::spawn(move || run(&config, &ProgressBar::hidden()))
            .join()
            .expect("the measuring thread")
            .expect("measuring");
        assert_eq!(outcome.rows.len(), 15);
        for row in &outcome.rows {
            assert_eq!(row.percentiles.count, 50, "{} {}", row.variant, row.pinning);
        }
        assert!(outcome.get(Variant::ProcessPipe, Pinning::Pinned).is_some());
        assert!(outcome
            .get(Variant::ProcessSocket, Pinning::Split)
            .is_some());
        let summary = outcome.summary();
        assert!(
            summary.contains("| process-pipe / crossbeam |"),
            "{summary}"
        );
        let back = RoundTripOutcome::from_table(&outcome.table()).expect("reading back");
        assert_eq!(back.table(), outcome.table());
        assert_eq!(back.config.variants.len(), 5);
    }
}
