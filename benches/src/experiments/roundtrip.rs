//! Round trips (section 4), the cost of isolation: one `u64` to a partner and
//! back, each round trip into an hdrhistogram. The partner is a thread
//! (`crossbeam`, `std-mpsc`: a channel each way; `thread-pipe`: two pipes) or a
//! process: `process-pipe` (`report --partner echo`, stdin to stdout),
//! `process-socket` (the same on one Unix socket, `MessageSocket` frames),
//! `process-shm` (`report --partner shm-echo`: atomics in `SharedMemory`, each
//! side spinning, then yielding). Placements: unpinned, pinned (one CPU), split
//! (two CPUs). 100,000 round trips per pair (quick: 10,000) in 10 rounds
//! (quick: 4), every pair once per round, rotated.
//!
//! ```text
//! cargo run --release -p ptm-benches --bin report -- --only roundtrip --variants crossbeam,process-shm
//! ```

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::{atomic::AtomicU64, mpsc};
use std::thread;
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
pub(crate) enum Variant {
    Crossbeam,
    StdMpsc,
    ThreadPipe,
    ProcessPipe,
    ProcessSocket,
    ProcessShm,
}

fn label(variant: Variant) -> &'static str {
    match variant {
        Variant::Crossbeam => "thread, crossbeam bounded(1) each way",
        Variant::StdMpsc => "thread, std mpsc channel each way",
        Variant::ThreadPipe => "thread, a pipe each way",
        Variant::ProcessPipe => "process, its stdin and stdout pipes",
        Variant::ProcessSocket => "process, a Unix socket (MessageSocket)",
        Variant::ProcessShm => "process, shared memory (atomics)",
    }
}

/// Copies `input` to `output` until end of file, flushing after every
/// read (a 64 KiB buffer): what every echo partner does, the isolation
/// ladder's socket partner too. Returns the bytes copied.
pub(crate) fn echo(mut input: impl Read, mut output: impl Write) -> io::Result<u64> {
    let (mut buf, mut total) = (vec![0u8; 64 * 1024], 0);
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        output.write_all(&buf[..n])?;
        output.flush()?;
        total += n as u64;
    }
}

/// Writes `v` to `to` and reads the 8 bytes that come back from `from`.
fn pipe_ping(to: &mut impl Write, from: &mut impl Read, v: u64) -> anyhow::Result<u64> {
    to.write_all(&v.to_le_bytes()).context("writing")?;
    let mut back = [0u8; 8];
    from.read_exact(&mut back).context("reading")?;
    Ok(u64::from_le_bytes(back))
}

type Ping = Box<dyn FnMut(u64) -> anyhow::Result<u64>>;
pub(crate) type End = Box<dyn FnOnce() -> anyhow::Result<()>>;

/// A partner, started and echoing (the isolation ladder's too): sends a
/// value and returns what came back; once that is dropped (the way in
/// closed), waits for the partner to end.
pub(crate) struct Partner(pub(crate) Ping, pub(crate) End);

/// A partner process that is killed and reaped when dropped (on an error
/// elsewhere), unless it was taken out to be waited for: no zombie and no
/// stray partner outlives the experiment.
pub(crate) struct Reaped(pub(crate) Option<Child>);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits for `child` and checks that it succeeded; dropped uncalled, kills
/// and reaps it.
pub(crate) fn waited(child: Child) -> End {
    let mut child = Reaped(Some(child));
    Box::new(move || {
        let mut child = child.0.take().context("the partner was waited for")?;
        let status = child.wait()?;
        ensure!(status.success(), "the partner process failed: {status}");
        Ok(())
    })
}

impl Partner {
    /// Starts `variant`'s partner; a process is this program as partner
    /// `echo` or `shm-echo` (`ctx`), or `cat` (`None`: no shared memory).
    pub(crate) fn start(variant: Variant, ctx: Option<&Ctx>) -> anyhow::Result<Partner> {
        let gone = || anyhow!("the partner is gone");
        let thread = |body: Box<dyn FnOnce() -> io::Result<u64> + Send>| {
            let thread = thread::Builder::new().spawn(body)?;
            let end: End = Box::new(move || match thread.join() {
                Ok(echoed) => echoed.map(drop).context("the echo thread"),
                Err(_) => bail!("the partner panicked"),
            });
            io::Result::Ok(end)
        };
        let child = |role, stdin: Stdio, stdout: Stdio| {
            let mut command = match ctx {
                Some(ctx) => ctx.partner(role, &[]),
                None if role == "echo" => Command::new("cat"),
                None => bail!("cat cannot be partner {role}"),
            };
            let spawned = command.stdin(stdin).stdout(stdout).spawn();
            spawned.with_context(|| format!("starting {command:?}"))
        };
        Ok(match variant {
            Variant::Crossbeam => {
                let (to, rx) = crossbeam_channel::bounded(1);
                let (tx, from) = crossbeam_channel::bounded(1);
                let end = thread(Box::new(move || {
                    Ok(rx.iter().map_while(|v| tx.send(v).ok()).count() as u64)
                }))?;
                let ping = move |v| to.send(v).ok().and_then(|()| from.recv().ok());
                Partner(Box::new(move |v| ping(v).ok_or_else(gone)), end)
            }
            Variant::StdMpsc => {
                let ((to, rx), (tx, from)) = (mpsc::channel(), mpsc::channel());
                let end = thread(Box::new(move || {
                    Ok(rx.iter().map_while(|v| tx.send(v).ok()).count() as u64)
                }))?;
                let ping = move |v| to.send(v).ok().and_then(|()| from.recv().ok());
                Partner(Box::new(move |v| ping(v).ok_or_else(gone)), end)
            }
            Variant::ThreadPipe => {
                let ((their_in, mut to), (mut from, their_out)) = (io::pipe()?, io::pipe()?);
                let end = thread(Box::new(move || echo(their_in, their_out)))?;
                Partner(Box::new(move |v| pipe_ping(&mut to, &mut from, v)), end)
            }
            Variant::ProcessPipe => {
                let mut child = child("echo", Stdio::piped(), Stdio::piped())?;
                let mut to = child.stdin.take().context("the child's stdin")?;
                let mut from = child.stdout.take().context("the child's stdout")?;
                let ping = move |v| pipe_ping(&mut to, &mut from, v);
                Partner(Box::new(ping), waited(child))
            }
            Variant::ProcessSocket => {
                let (mut socket, theirs) = MessageSocket::pair()?;
                let theirs = OwnedFd::from(theirs);
                let end = waited(child("echo", theirs.try_clone()?.into(), theirs.into())?);
                let ping = move |v: u64| {
                    socket.send(&v.to_le_bytes())?;
                    let back = socket.recv()?.ok_or_else(gone)?;
                    Ok(u64::from_le_bytes(back.as_slice().try_into()?))
                };
                Partner(Box::new(ping), end)
            }
            Variant::ProcessShm => {
                let shm = SharedMemory::create("ptm-roundtrip", 4096)?;
                let memfd = shm.as_fd().try_clone_to_owned()?;
                let end = waited(child("shm-echo", memfd.into(), Stdio::inherit())?);
                let mut shm = Shm(shm, 0);
                Partner(Box::new(move |v| shm.ping(v)), end)
            }
        })
    }

    /// Sends `v` and returns what came back.
    pub(crate) fn ping(&mut self, v: u64) -> anyhow::Result<u64> {
        (self.0)(v)
    }

    /// Closes the way in (with shared memory: says stop) and waits for the
    /// partner to end.
    pub(crate) fn finish(self) -> anyhow::Result<()> {
        drop(self.0);
        (self.1)()
    }
}

/// The shared-memory slots (u64 atomics): the request's number and value,
/// the answer's number and value; request number `STOP` ends the partner.
const REQUEST: usize = 0;
const DATA: usize = 1;
const ANSWER: usize = 2;
const ECHO: usize = 3;
const STOP: u64 = u64::MAX;

/// This side of the shared memory and its last request number; dropping
/// it tells the partner to stop.
struct Shm(SharedMemory, u64);

impl Shm {
    fn ping(&mut self, v: u64) -> anyhow::Result<u64> {
        // SAFETY: both processes touch the region through the atomics only.
        let slots = unsafe { self.0.atomics() };
        self.1 += 1;
        slots[DATA].store(v, Relaxed);
        slots[REQUEST].store(self.1, Release);
        wait_for(
            &slots[ANSWER],
            |answer| answer == self.1,
            answered_within_10_s,
        )?;
        Ok(slots[ECHO].load(Relaxed))
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        // SAFETY: as in `ping`.
        let slots = unsafe { self.0.atomics() };
        slots[REQUEST].store(STOP, Release);
    }
}

/// Spins until `slot` holds a value `ready` accepts and returns it: a
/// short busy wait, then `yield_now` between looks for about a millisecond,
/// so that a partner on the same CPU can run, then 100 µs sleeps, so that
/// a side left idle while other variants are measured does not take their
/// CPU. Gives up when `alive` says the other side is gone, checked once a
/// millisecond or so.
fn wait_for(
    slot: &AtomicU64,
    ready: impl Fn(u64) -> bool,
    alive: impl Fn(Duration) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let mut since = None;
    for spins in 0u64.. {
        let value = slot.load(Acquire);
        if ready(value) {
            return Ok(value);
        } else if spins < 200 {
            std::hint::spin_loop();
            continue;
        }
        let waited = since.get_or_insert_with(Instant::now).elapsed();
        if waited < Duration::from_millis(1) {
            thread::yield_now();
        } else {
            alive(waited)?;
            thread::sleep(Duration::from_micros(100));
        }
    }
    bail!("no answer")
}

/// The measuring side's patience: a partner that does not answer within
/// 10 s has died or hangs.
fn answered_within_10_s(waited: Duration) -> anyhow::Result<()> {
    ensure!(waited < Duration::from_secs(10), "no answer in 10 s");
    Ok(())
}

/// Partner `echo`: [`echo`] on descriptors 0 and 1 as files, unbuffered.
fn echo_stdio() -> io::Result<()> {
    let stdin = File::from(io::stdin().as_fd().try_clone_to_owned()?);
    echo(
        stdin,
        File::from(io::stdout().as_fd().try_clone_to_owned()?),
    )
    .map(drop)
}

/// Partner `shm-echo`: maps the memfd that is stdin and answers each
/// request (copies its value to the answer slot) until told to stop.
fn shm_echo() -> anyhow::Result<()> {
    let shm = SharedMemory::from_fd(io::stdin().as_fd().try_clone_to_owned()?)?;
    // SAFETY: this process touches the region through the atomics only.
    let slots = unsafe { shm.atomics() };
    ensure!(slots.len() > ECHO, "shared memory of {} slots", slots.len());
    // Idle for as long as the other variants take; gone with the parent.
    let parent = std::os::unix::process::parent_id();
    let alive = |_| {
        let orphaned = std::os::unix::process::parent_id() != parent;
        ensure!(!orphaned, "the measuring process is gone");
        Ok(())
    };
    let mut last = 0;
    loop {
        last = wait_for(&slots[REQUEST], |request| request != last, alive)?;
        if last == STOP {
            return Ok(());
        }
        slots[ECHO].store(slots[DATA].load(Relaxed), Relaxed);
        slots[ANSWER].store(last, Release);
    }
}

/// Measures `ctx`'s variants with the partner processes of `program`
/// (this program, or `cat`: `None`).
fn measure(ctx: &Ctx, program: Option<&Ctx>) -> anyhow::Result<Vec<Row<Variant>>> {
    let variants = ctx.variants(Variant::value_variants())?;
    let rounds = ctx.rounds(10, 4).max(1);
    let per_round = ctx.pick(100_000_usize, 10_000).div_ceil(rounds);
    let warm_up = (per_round / 10).clamp(10, 1000);
    let mut next = 0u64;
    let start = |variant, _| Partner::start(variant, program).map(Some);
    let sample = |partner: &mut Partner| {
        next += 1;
        let start = Instant::now();
        let back = partner.ping(next)?;
        let took = start.elapsed();
        ensure!(back == next, "sent {next}, got {back} back");
        Ok(took)
    };
    let sizes = (rounds, warm_up);
    let measured = percentiles(ctx, &variants, sizes, |_| per_round, start, sample)?;
    let stop = |(row, partner): (Row<_>, Partner)| partner.finish().map(|()| row);
    measured.into_iter().map(stop).collect()
}

/// The experiment.
#[derive(Debug)]
pub(crate) struct RoundTrip;

impl Experiment for RoundTrip {
    const NAME: &'static str = "roundtrip";
    const STEM: &'static str = "roundtrip";
    const LABEL: &'static str = "round trips";
    type Row = Row<Variant>;

    fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row<Variant>>> {
        measure(ctx, Some(ctx))
    }

    fn plot(rows: &[Row<Variant>], path: &Path) -> anyhow::Result<()> {
        let title = "Round trip of a u64 to a partner and back";
        plot(path, title, rows, label)
    }

    fn summary(rows: &[Row<Variant>]) -> String {
        use Variant::*;
        let p50 = |v, p| {
            rows.iter()
                .find(|r| (r.variant, r.pinning) == (v, p))
                .map(|r| r.p50_ns)
        };
        let mut out = format!(
            "## 4. Round trips\n\nOne `u64` to a partner and back: {} round trips per variant \
             and pinning in interleaved rounds (hdrhistogram). `process-pipe`'s partner is \
             `report --partner echo` (for `process-socket`, one Unix socket as its stdin and \
             stdout); `process-shm`'s spins on atomics in shared memory. Pinned: this thread \
             and the partner on one CPU; split: on two.\n\n{}\n\
             | p50 ratio | unpinned | pinned | split |\n|---|---:|---:|---:|\n",
            rows.first().map_or(0, |r| r.count),
            table(rows)
        );
        for (a, b) in [
            (ProcessPipe, Crossbeam),
            (ProcessPipe, ThreadPipe),
            (ProcessSocket, ProcessPipe),
            (ProcessShm, ProcessPipe),
            (ProcessShm, Crossbeam),
            (ThreadPipe, Crossbeam),
            (StdMpsc, Crossbeam),
        ] {
            let cell = |p| match (p50(a, p), p50(b, p)) {
                (Some(x), Some(y)) if y > 0 => format!("{:.2}", x as f64 / y as f64),
                _ => "-".to_owned(),
            };
            let cells = Pinning::ALL.map(cell).join(" | ");
            out.push_str(&format!("| {} / {} | {cells} |\n", name(&a), name(&b)));
        }
        out
    }

    fn partner(role: &str, _args: &[String]) -> Option<anyhow::Result<()>> {
        match role {
            "echo" => Some(echo_stdio().context("echoing stdin to stdout")),
            "shm-echo" => Some(shm_echo().context("the shared-memory echo")),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{measure, wait_for, Partner, RoundTrip, Variant};
    use crate::harness::{Ctx, Experiment};
    use std::sync::atomic::{AtomicU64, Ordering::Release};
    use std::time::Duration;

    #[test]
    fn every_variant_but_shared_memory_echoes_through_cat() {
        let mut ctx = Ctx::quick(None);
        ctx.flags.rounds = Some(2);
        let variants = "crossbeam,std-mpsc,thread-pipe,process-pipe,process-socket";
        ctx.flags.variants = variants.split(',').map(String::from).collect();
        let rows = measure(&ctx, None).expect("measuring");
        assert_eq!(rows.len(), 3 * 5);
        assert!(rows
            .iter()
            .all(|r| r.count == 10_000 && r.p50_ns <= r.p99_ns));
        assert!(RoundTrip::summary(&rows).contains("| process-pipe / crossbeam | "));
        let shm = Partner::start(Variant::ProcessShm, None);
        assert!(shm.is_err_and(|e| e.to_string().contains("shm-echo")));
    }

    /// An idle side sleeps between looks instead of timing out: it sees a
    /// value set long after it began waiting, and gives up only when
    /// `alive` says so.
    #[test]
    fn a_waiting_side_outlasts_idleness_and_stops_when_told() {
        let slot = AtomicU64::new(0);
        let seen = std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                slot.store(7, Release);
            });
            wait_for(&slot, |v| v == 7, |_| Ok(()))
        });
        assert_eq!(seen.expect("the value arrives"), 7);
        let gone = |_| anyhow::bail!("the other side is gone");
        let error = wait_for(&slot, |v| v == 8, gone).expect_err("it gives up");
        assert!(error.to_string().contains("gone"), "{error}");
    }

    /// A partner left behind by an error (its end never called) is killed
    /// and reaped, not left running or as a zombie.
    #[test]
    fn a_dropped_partner_is_killed_and_reaped() {
        let child = std::process::Command::new("sleep").arg("30").spawn();
        let child = child.expect("sleep starts");
        let proc_entry = format!("/proc/{}", child.id());
        drop(super::waited(child));
        assert!(
            !std::path::Path::new(&proc_entry).exists(),
            "{proc_entry} is still there"
        );
    }
}
