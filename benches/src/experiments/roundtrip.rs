//! 4. Round trips, the cost of isolation: one `u64` goes to a partner and
//! comes back, again and again, each round trip recorded in an
//! hdrhistogram. Variants:
//!
//! - `crossbeam`, `std-mpsc`: a partner thread, a channel each way;
//! - `thread-pipe`: a partner thread echoing through two OS pipes (the
//!   pipe's cost without a second process: the control);
//! - `process-pipe`: a partner process (`report --partner echo`) copying
//!   its stdin to its stdout;
//! - `process-socket`: the same partner with one Unix socket as its stdin
//!   and stdout, the `u64` sent as a `ptm::ipc::MessageSocket` message;
//! - `process-shm`: a partner process (`report --partner shm-echo`) and
//!   `ptm::ipc::SharedMemory` between them: the request and the answer are
//!   atomics in the shared pages, each side spinning (then yielding) until
//!   the other's store shows, with no system call on the way.
//!
//! Three placements ([`Pinning`]): unpinned, pinned (everything on one
//! CPU: a hop is a context switch) and split (this thread on one CPU, the
//! partner on the other: a hop that finds the partner asleep wakes the
//! other CPU). 100,000 round trips per variant and placement in 10 rounds,
//! every pair once per round in rotated order (quick: 10,000 in 4).
//!
//! ```text
//! cargo run --release -p ptm-benches --bin report -- --only roundtrip --variants crossbeam,process-shm
//! ```

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context};
use clap::ValueEnum;
use ptm::ipc::{MessageSocket, SharedMemory};
use serde::{Deserialize, Serialize};

use super::latency::{percentiles, plot, table, Row};
use crate::harness::{name, Ctx, Experiment};
use crate::pin::Pinning;

/// A way of making the round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// A partner thread, a crossbeam bounded(1) channel each way.
    Crossbeam,
    /// A partner thread, a std mpsc channel each way.
    StdMpsc,
    /// A partner thread echoing through two OS pipes.
    ThreadPipe,
    /// A partner process echoing its stdin to its stdout.
    ProcessPipe,
    /// The same process, one Unix socket as stdin and stdout.
    ProcessSocket,
    /// A partner process, atomics in shared memory.
    ProcessShm,
}

impl Variant {
    fn label(self) -> &'static str {
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

/// Writes `v` to `to` and reads the 8 bytes that come back from `from`.
pub(crate) fn pipe_ping(to: &mut impl Write, from: &mut impl Read, v: u64) -> anyhow::Result<u64> {
    to.write_all(&v.to_le_bytes())
        .context("writing to the partner")?;
    let mut back = [0u8; 8];
    from.read_exact(&mut back)
        .context("reading from the partner")?;
    Ok(u64::from_le_bytes(back))
}

/// Where the partner processes come from: this program as partner `echo`
/// (and `shm-echo`), or `cat` (which has no shared-memory mode).
#[derive(Debug, Clone)]
pub struct EchoProgram(Option<Ctx>);

impl EchoProgram {
    /// `cat`, which echoes as bytes arrive (GNU cat writes what each read
    /// returned).
    pub fn cat() -> EchoProgram {
        EchoProgram(None)
    }

    fn command(&self, role: &str) -> anyhow::Result<Command> {
        match &self.0 {
            Some(ctx) => Ok(ctx.partner(role, &[])),
            None if role == "echo" => Ok(Command::new("cat")),
            None => bail!("cat cannot be partner {role}"),
        }
    }
}

/// A partner, started and echoing (the isolation ladder starts its thread
/// and process partners through it too).
pub(crate) struct Partner {
    ping: Box<dyn FnMut(u64) -> anyhow::Result<u64>>,
    end: End,
}

enum End {
    Thread(JoinHandle<io::Result<u64>>),
    Child(Child),
}

impl Partner {
    pub(crate) fn start(variant: Variant, program: &EchoProgram) -> anyhow::Result<Partner> {
        let gone = || anyhow!("the partner is gone");
        let thread = |body: Box<dyn FnOnce() -> io::Result<u64> + Send>| {
            thread::Builder::new().spawn(body).map(End::Thread)
        };
        let spawn = |mut command: Command| command.spawn().map(End::Child);
        let (ping, end): (Box<dyn FnMut(u64) -> anyhow::Result<u64>>, End) = match variant {
            Variant::Crossbeam => {
                let (to, their_rx) = crossbeam_channel::bounded(1);
                let (their_tx, from) = crossbeam_channel::bounded(1);
                let end = thread(Box::new(move || {
                    their_rx.iter().try_for_each(|v| their_tx.send(v)).ok();
                    Ok(0)
                }))?;
                let ping = move |v: u64| to.send(v).ok().and_then(|()| from.recv().ok());
                (Box::new(move |v| ping(v).ok_or_else(gone)), end)
            }
            Variant::StdMpsc => {
                let (to, their_rx) = std::sync::mpsc::channel();
                let (their_tx, from) = std::sync::mpsc::channel();
                let end = thread(Box::new(move || {
                    their_rx.iter().try_for_each(|v| their_tx.send(v)).ok();
                    Ok(0)
                }))?;
                let ping = move |v: u64| to.send(v).ok().and_then(|()| from.recv().ok());
                (Box::new(move |v| ping(v).ok_or_else(gone)), end)
            }
            Variant::ThreadPipe => {
                let (their_in, mut to) = io::pipe().context("pipe")?;
                let (mut from, their_out) = io::pipe().context("pipe")?;
                let end = thread(Box::new(move || echo(their_in, their_out)))?;
                (Box::new(move |v| pipe_ping(&mut to, &mut from, v)), end)
            }
            Variant::ProcessPipe => {
                let mut command = program.command("echo")?;
                command.stdin(Stdio::piped()).stdout(Stdio::piped());
                let mut child = command.spawn().context("starting the echo partner")?;
                let mut to = child.stdin.take().context("the child's stdin")?;
                let mut from = child.stdout.take().context("the child's stdout")?;
                let ping = move |v| pipe_ping(&mut to, &mut from, v);
                (Box::new(ping), End::Child(child))
            }
            Variant::ProcessSocket => {
                let (mut socket, theirs) = MessageSocket::pair().context("a socket pair")?;
                let theirs = OwnedFd::from(theirs);
                let mut command = program.command("echo")?;
                command
                    .stdout(theirs.try_clone().context("a second descriptor")?)
                    .stdin(theirs);
                let end = spawn(command).context("starting the echo partner")?;
                let ping = move |v: u64| {
                    socket.send(&v.to_le_bytes()).context("sending")?;
                    let back = socket.recv().context("receiving")?.ok_or_else(gone)?;
                    let back: [u8; 8] = back.as_slice().try_into().context("8 bytes back")?;
                    Ok(u64::from_le_bytes(back))
                };
                (Box::new(ping), end)
            }
            Variant::ProcessShm => {
                let shm = SharedMemory::create("ptm-roundtrip", 4096).context("shared memory")?;
                let mut command = program.command("shm-echo")?;
                command.stdin(shm.as_fd().try_clone_to_owned().context("a memfd")?);
                let end = spawn(command).context("starting the shared-memory partner")?;
                let mut shm = Shm { shm, seq: 0 };
                (Box::new(move |v| shm.ping(v)), end)
            }
        };
        Ok(Partner { ping, end })
    }

    /// Sends `v` and returns what came back.
    pub(crate) fn ping(&mut self, v: u64) -> anyhow::Result<u64> {
        (self.ping)(v)
    }

    /// Closes the way in (or, with shared memory, says stop) and waits for
    /// the partner to end.
    pub(crate) fn finish(self) -> anyhow::Result<()> {
        drop(self.ping);
        match self.end {
            End::Thread(thread) => {
                let echoed = thread.join().map_err(|_| anyhow!("the partner panicked"))?;
                echoed.map(drop).context("the echo thread")
            }
            End::Child(mut child) => {
                let status = child.wait().context("waiting for the partner")?;
                ensure!(status.success(), "the partner process failed: {status}");
                Ok(())
            }
        }
    }
}

/// The slots (u64 atomics) of the shared-memory round trip: the request's
/// number and value, the answer's number and value; a request numbered
/// [`STOP`] tells the partner to exit.
const REQUEST: usize = 0;
const DATA: usize = 1;
const ANSWER: usize = 2;
const ECHO: usize = 3;
const STOP: u64 = u64::MAX;

/// This side of the shared memory; dropping it tells the partner to stop.
struct Shm {
    shm: SharedMemory,
    seq: u64,
}

impl Shm {
    fn ping(&mut self, v: u64) -> anyhow::Result<u64> {
        // SAFETY: both processes touch the region through the atomics only.
        let slots = unsafe { self.shm.atomics() };
        self.seq += 1;
        slots[DATA].store(v, Relaxed);
        slots[REQUEST].store(self.seq, Release);
        wait_for(&slots[ANSWER], |answer| answer == self.seq)?;
        Ok(slots[ECHO].load(Relaxed))
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        // SAFETY: as in `ping`.
        let slots = unsafe { self.shm.atomics() };
        slots[REQUEST].store(STOP, Release);
    }
}

/// Spins until `slot` holds a value `ready` accepts, and returns it: a
/// short busy wait, then `yield_now` between looks, so that a partner on
/// the same CPU can run. Gives up after 10 s (a partner that died).
fn wait_for(slot: &AtomicU64, ready: impl Fn(u64) -> bool) -> anyhow::Result<u64> {
    let mut since: Option<Instant> = None;
    for spins in 0u32.. {
        let value = slot.load(Acquire);
        if ready(value) {
            return Ok(value);
        }
        if spins < 200 {
            std::hint::spin_loop();
            continue;
        }
        thread::yield_now();
        let since = *since.get_or_insert_with(Instant::now);
        ensure!(
            since.elapsed() < Duration::from_secs(10),
            "no answer in 10 s"
        );
    }
    bail!("no answer")
}

/// Partner `shm-echo`: maps the memfd that is stdin and answers each
/// request (copies its value to the answer slot) until told to stop.
fn shm_echo() -> anyhow::Result<()> {
    let stdin = io::stdin().as_fd().try_clone_to_owned()?;
    let shm = SharedMemory::from_fd(stdin).context("mapping stdin as shared memory")?;
    // SAFETY: this process touches the region through the atomics only.
    let slots = unsafe { shm.atomics() };
    ensure!(slots.len() > ECHO, "shared memory of {} slots", slots.len());
    let mut last = 0;
    loop {
        last = wait_for(&slots[REQUEST], |request| request != last)?;
        if last == STOP {
            return Ok(());
        }
        slots[ECHO].store(slots[DATA].load(Relaxed), Relaxed);
        slots[ANSWER].store(last, Release);
    }
}

/// Measures `ctx`'s variants with partner processes from `echo`.
fn measure(ctx: &Ctx, echo: &EchoProgram) -> anyhow::Result<Vec<Row<Variant>>> {
    let variants = ctx.variants(Variant::value_variants())?;
    let (samples, rounds) = (ctx.pick(100_000_usize, 10_000), ctx.rounds(10, 4));
    let warm_up = (samples.div_ceil(rounds.max(1)) / 10).clamp(10, 1000);
    let mut next = 0u64;
    let start = |variant, _| Partner::start(variant, echo).map(Some);
    let sample = |partner: &mut Partner| {
        next = next.wrapping_add(1);
        let start = Instant::now();
        let back = partner.ping(next)?;
        let took = start.elapsed();
        ensure!(back == next, "sent {next}, got {back} back");
        Ok(took)
    };
    let measured = percentiles(ctx, &variants, (samples, rounds, warm_up), start, sample)?;
    (measured.into_iter())
        .map(|(row, partner)| {
            let what = || format!("stopping the {} partner", name(&row.variant));
            partner.finish().with_context(what).map(|()| row)
        })
        .collect()
}

/// The experiment.
#[derive(Debug)]
pub struct RoundTrip;

impl Experiment for RoundTrip {
    const NAME: &'static str = "roundtrip";
    const STEM: &'static str = "roundtrip";
    const LABEL: &'static str = "round trips";
    type Row = Row<Variant>;

    fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row<Variant>>> {
        measure(ctx, &EchoProgram(Some(ctx.clone())))
    }

    fn plot(rows: &[Row<Variant>], path: &Path) -> anyhow::Result<()> {
        let title = "Round trip of a u64 to a partner and back";
        plot(path, title, rows, Variant::label)
    }

    fn summary(rows: &[Row<Variant>]) -> String {
        let p50 = |v, p| rows.iter().find(|r| (r.variant, r.pinning) == (v, p));
        let mut ratios =
            String::from("\n| p50 ratio | unpinned | pinned | split |\n|---|---:|---:|---:|\n");
        use Variant::*;
        for (a, b) in [
            (ProcessPipe, Crossbeam),
            (ProcessPipe, ThreadPipe),
            (ProcessSocket, ProcessPipe),
            (ProcessShm, ProcessPipe),
            (ProcessShm, Crossbeam),
            (ThreadPipe, Crossbeam),
            (StdMpsc, Crossbeam),
        ] {
            let cells = Pinning::ALL.map(|p| match (p50(a, p), p50(b, p)) {
                (Some(x), Some(y)) if y.p50_ns > 0 => {
                    format!("{:.2}", x.p50_ns as f64 / y.p50_ns as f64)
                }
                _ => "-".to_owned(),
            });
            let [unpinned, pinned, split] = cells;
            let (a, b) = (name(&a), name(&b));
            ratios.push_str(&format!(
                "| {a} / {b} | {unpinned} | {pinned} | {split} |\n"
            ));
        }
        format!(
            "## 4. Round trips\n\nOne `u64` to a partner and back: {} round trips per variant \
             and pinning in interleaved rounds (hdrhistogram). The `process-pipe` partner is \
             `report --partner echo` copying its stdin to its stdout (for `process-socket`, \
             one Unix socket as both); the `process-shm` partner spins on atomics in shared \
             memory. Pinned: this thread and the partner on one CPU; split: this thread on \
             one CPU, the partner on the other.\n\n{}{ratios}",
            rows.first().map_or(0, |r| r.count),
            table(rows)
        )
    }

    fn partner(role: &str, _args: &[String]) -> Option<anyhow::Result<()>> {
        // Unbuffered: duplicates of descriptors 0 and 1 as files.
        let stdio = || -> io::Result<(File, File)> {
            let stdin = io::stdin().as_fd().try_clone_to_owned()?;
            Ok((
                stdin.into(),
                io::stdout().as_fd().try_clone_to_owned()?.into(),
            ))
        };
        match role {
            "echo" => Some(
                stdio()
                    .and_then(|(input, output)| echo(input, output))
                    .map(drop)
                    .context("echoing stdin to stdout"),
            ),
            "shm-echo" => Some(shm_echo().context("the shared-memory echo")),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{measure, EchoProgram, Partner, RoundTrip, Variant};
    use crate::harness::{Ctx, Experiment};

    #[test]
    fn every_variant_but_shared_memory_echoes_through_cat() {
        let mut ctx = Ctx::quick(None);
        ctx.flags.rounds = Some(2);
        let variants = [
            "crossbeam",
            "std-mpsc",
            "thread-pipe",
            "process-pipe",
            "process-socket",
        ];
        ctx.flags.variants = variants.map(String::from).to_vec();
        let rows = measure(&ctx, &EchoProgram::cat()).expect("measuring");
        assert_eq!(rows.len(), 3 * 5);
        assert!(rows
            .iter()
            .all(|r| r.count == 10_000 && r.p50_ns <= r.p99_ns));
        let summary = RoundTrip::summary(&rows);
        assert!(
            summary.contains("| process-pipe / crossbeam | "),
            "{summary}"
        );
        let error = Partner::start(Variant::ProcessShm, &EchoProgram::cat()).err();
        assert!(error.is_some_and(|e| e.to_string().contains("shm-echo")));
    }
}
