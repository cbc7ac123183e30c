//! The isolation ladder (comparison 8): an async task, an OS thread, a
//! Wasm instance (wasmi), a process, this binary re-executed, a container
//! (`ptm::isolate`), each more isolated than the one before. Three parts,
//! the levels (`--variants`) interleaved round by round in rotated order:
//! `start` one and wait until it has finished (unpinned; 2,000 per round of
//! an in-process level, a fifth of that of a process, a twentieth of a
//! container; 5 rounds, `--rounds`); a `roundtrip` of a `u64` to a running
//! one (unpinned and pinned, 20,000 each: channels, a Wasm call, `cat`'s
//! pipes, a Unix socket to this binary as the `echo-socket` partner, on the
//! host or in a container); the `memory` 1,000 live ones hold, each level
//! in a fresh process (the `isolation-memory` partner, 3 times,
//! `--invocations`): RSS growth in-process, else the growth of the PSS
//! summed over the holding process and its descendants. Quick: a tenth,
//! 2 rounds, 1 process. A level that cannot run here (no user namespaces:
//! no container) is a row with its error, which the summary lists.
//!
//! ```text
//! cargo run --release -p ptm-benches --bin report -- --only isolation
//! ```

use std::fmt::Write as _;
use std::io;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use clap::ValueEnum;
use crossbeam_utils::sync::WaitGroup;
use ptm::isolate::Container;
use serde::{Deserialize, Serialize};
use tokio::runtime::Runtime;
use tokio::sync::mpsc as tokio_mpsc;
use wasmi::{Engine, Linker, Module, Store, TypedFunc};

use super::latency::percentiles;
use super::roundtrip::{echo, waited, End, Partner, Reaped, Variant};
use crate::harness::{distinct, interleave, name, Ctx, Experiment};
use crate::memory::{group_pss_bytes, pss_bytes, rss_bytes};
use crate::pin::Pinning::{self, Pinned, Split, Unpinned};
use crate::plot::{stacked, thousands, Mark, Panel, Rows, Scale, Series};
use crate::stats::median;

/// A rung of the ladder, least isolated first: an async task on a tokio
/// current-thread runtime, an OS thread, a WebAssembly instance (wasmi),
/// a small C program in a process of its own (`/bin/true`, `cat`), this
/// binary re-executed, a container made by `ptm::isolate::Container`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, ValueEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Level {
    #[default]
    Task,
    Thread,
    Wasm,
    Process,
    Reexec,
    Container,
}

/// Each level's labels in the plot: starting one | a round trip | a live one.
const LABELS: &str = "\
async task: tokio spawn, await|async task: a tokio channel each way|async task, waiting on a lock
OS thread: spawn, join|OS thread: a std channel each way|OS thread, waiting on a lock
Wasm instance: instantiate, call|Wasm instance: a call into it|Wasm instance, after one call
process: /bin/true (posix_spawn)|process: cat, through its pipes|process: cat, waiting on its stdin
process: this binary, re-executed|process: this binary, a Unix socket|process: this binary, on a socket
container: /bin/true (ptm::isolate)|container: this binary, a Unix socket|container: this binary, on a socket";

impl Level {
    fn label(self, which: usize) -> String {
        let line = LABELS.lines().nth(self as usize).unwrap_or_default();
        line.split('|').nth(which).unwrap_or_default().to_owned()
    }
}

/// A part of the experiment: start one and wait until it has finished, a
/// round trip to a running one, what live ones hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Part {
    #[default]
    Start,
    Roundtrip,
    Memory,
}

/// A line of the CSV: a distribution (`start`, `roundtrip`: `count`
/// samples, percentiles and mean in nanoseconds), what one fresh process
/// held (`memory`, `round`: which process; `count` units asked for,
/// `units` held, `bytes` they held), or a level that could not be measured
/// (an `error` and no values).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct Row {
    part: Part,
    level: Level,
    pinning: Option<Pinning>,
    round: Option<usize>,
    count: Option<u64>,
    p50_ns: Option<u64>,
    p99_ns: Option<u64>,
    p999_ns: Option<u64>,
    max_ns: Option<u64>,
    mean_ns: Option<u64>,
    units: Option<u64>,
    bytes: Option<u64>,
    error: Option<String>,
}

impl Row {
    fn new(part: Part, level: Level, pinning: Option<Pinning>) -> Row {
        let row = Row::default();
        Row {
            part,
            level,
            pinning,
            ..row
        }
    }
}

/// A tokio runtime on the calling thread, with timers.
fn runtime() -> Result<Runtime> {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    let runtime = builder.enable_time().build();
    runtime.context("building a tokio current-thread runtime")
}

/// One page of linear memory and `echo`, which stores its argument there,
/// loads it back and returns it.
const WAT: &str = r#"(module
  (memory 1)
  (func (export "echo") (param $v i64) (result i64)
    (i64.store (i32.const 0) (local.get $v))
    (i64.load (i32.const 0))))"#;

/// The engine, the compiled module and the linker, made before any timing.
struct Guest(Engine, Module, Linker<()>);

/// A live instance of [`WAT`] in a store of its own.
struct Instance(Store<()>, TypedFunc<i64, i64>);

impl Guest {
    fn new() -> Result<Guest> {
        let engine = Engine::default();
        let wasm = wat::parse_str(WAT).context("parsing the module's text")?;
        let module = Module::new(&engine, &wasm[..]).context("compiling the module")?;
        let linker = Linker::new(&engine);
        Ok(Guest(engine, module, linker))
    }

    fn instance(&self) -> Result<Instance> {
        let mut store = Store::new(&self.0, ());
        let instance = self.2.instantiate_and_start(&mut store, &self.1);
        let instance = instance.context("instantiating the module")?;
        let echo = instance.get_typed_func::<i64, i64>(&store, "echo");
        Ok(Instance(store, echo.context("the module's echo")?))
    }
}

impl Instance {
    fn echo(&mut self, v: u64) -> Result<u64> {
        Ok(self.1.call(&mut self.0, v as i64).context("calling echo")? as u64)
    }
}

/// Whether `ctx` has the `report` binary (unit tests do not).
fn has_exe(ctx: &Ctx) -> bool {
    !ctx.exe.as_os_str().is_empty()
}

/// Whether `level`'s round trips and live units can run: those of this
/// binary re-executed need it.
fn runs(ctx: &Ctx, level: &Level) -> bool {
    has_exe(ctx) || *level < Level::Reexec
}

fn spawn_join() -> Result<()> {
    let thread = thread::Builder::new().spawn(|| {});
    let thread = thread.context("spawning a thread")?;
    thread
        .join()
        .map_err(|_| anyhow!("an empty thread panicked"))
}

fn succeeded<E>(what: &str, status: Result<ExitStatus, E>) -> Result<()>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let status = status.with_context(|| format!("running {what}"))?;
    ensure!(status.success(), "{what}: {status}");
    Ok(())
}

/// How long `one` took.
fn time(one: impl FnOnce() -> Result<()>) -> Result<Duration> {
    let start = Instant::now();
    one()?;
    Ok(start.elapsed())
}

/// How a socket partner ends.
enum Ending {
    Child(Reaped),
    Container(JoinHandle<ptm::Result<Output>>),
}

impl Ending {
    fn ended(&mut self) -> Result<bool> {
        Ok(match self {
            Ending::Child(Reaped(Some(child))) => child.try_wait()?.is_some(),
            Ending::Child(Reaped(None)) => true,
            Ending::Container(waiter) => waiter.is_finished(),
        })
    }

    /// Waits for it and checks its exit.
    fn wait(self) -> Result<()> {
        let waiter = match self {
            Ending::Child(mut child) => return child.0.take().map_or(Ok(()), |c| waited(c)()),
            Ending::Container(waiter) => waiter,
        };
        let output = waiter.join();
        let output = output.map_err(|_| anyhow!("the container's waiter panicked"))?;
        let output = output.context("the echo container")?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        ensure!(
            output.status.success(),
            "the container: {}; {stderr:?}",
            output.status
        );
        Ok(())
    }
}

/// A running unit of `level` (not a task) that echoes what it is sent:
/// roundtrip's partners for a thread (`std-mpsc`) and `cat` (a process),
/// a Wasm instance, or this binary as the `echo-socket` partner (`reexec`;
/// `container`: in one), connected to a Unix socket in a temporary
/// directory of its own.
fn partner(level: Level, ctx: &Ctx) -> Result<Partner> {
    match level {
        Level::Task => bail!("a task is no partner"),
        Level::Thread => return Partner::start(Variant::StdMpsc, None),
        Level::Process => return Partner::start(Variant::ProcessPipe, None),
        Level::Wasm => {
            let mut instance = Guest::new()?.instance()?;
            return Ok(Partner(
                Box::new(move |v| instance.echo(v)),
                Box::new(|| Ok(())),
            ));
        }
        Level::Reexec | Level::Container => {}
    }
    ensure!(has_exe(ctx), "an echo partner needs the report binary");
    let dir = tempfile::Builder::new().prefix("ptm-ladder-").tempdir()?;
    let socket = dir.path().join("echo.sock");
    let listener = UnixListener::bind(&socket).context("binding the socket")?;
    listener.set_nonblocking(true)?;
    let utf8 = |path: &Path| path.to_str().context("a path in UTF-8").map(str::to_owned);
    let mut ending = if level == Level::Container {
        // This binary's directory read-only at its path, the socket's
        // read-write at /ladder; a thread with a small stack waits for it.
        let (exe, bin) = (utf8(&ctx.exe)?, ctx.exe.parent().context("its directory")?);
        let args = ["--partner", "echo-socket", "/ladder/echo.sock"];
        let container = Container::new(&exe, &args).bind_ro(bin, bin);
        let container = container.bind_rw(dir.path(), "/ladder");
        let waiter = thread::Builder::new().stack_size(256 * 1024);
        Ending::Container(waiter.spawn(move || container.output())?)
    } else {
        let mut command = ctx.partner("echo-socket", &[&utf8(&socket)?]);
        Ending::Child(Reaped(Some(command.stdin(Stdio::null()).spawn()?)))
    };
    let start = Instant::now();
    let mut stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(anyhow!(e).context("accepting the echo partner")),
        }
        let ended = ending.ended()?;
        if ended || start.elapsed() > Duration::from_secs(10) {
            let error = anyhow!("the echo partner did not connect (ended: {ended})");
            if let (false, Ending::Child(Reaped(Some(child)))) = (ended, &mut ending) {
                let _ = child.kill();
            }
            // Say why it ended, if it did.
            return Err(match ending.wait() {
                Err(why) => error.context(format!("{why:#}")),
                Ok(()) => error,
            });
        }
        thread::sleep(Duration::from_micros(100));
    };
    stream.set_nonblocking(false)?;
    let mut from = stream.try_clone()?;
    let ping = move |v: u64| {
        io::Write::write_all(&mut stream, &v.to_le_bytes())?;
        let mut back = [0u8; 8];
        io::Read::read_exact(&mut from, &mut back)?;
        Ok(u64::from_le_bytes(back))
    };
    Ok(Partner(Box::new(ping), Box::new(|| ending.wait())))
}

/// The `echo-socket PATH` partner: echoes what comes on the Unix socket
/// at `path` until end of file.
fn echo_socket(path: &Path) -> Result<()> {
    let stream = UnixStream::connect(path).with_context(|| format!("connecting to {path:?}"))?;
    echo(&stream, &stream).context("echoing")?;
    Ok(())
}

/// What is timed: one start (tasks on its runtime, instances of its guest)
/// or round trip (its own values, 1, 2, ...), and how it ends.
struct Unit(Box<dyn FnMut() -> Result<Duration>>, End);

/// A unit of `level` whose samples start one and wait until it finished.
fn starts(level: Level, ctx: &Ctx) -> Result<Unit> {
    let (runtime, guest) = (runtime()?, Guest::new()?);
    let timed: Box<dyn FnMut() -> Result<Duration>> = match level {
        Level::Task => Box::new(move || {
            runtime.block_on(async {
                let start = Instant::now();
                tokio::spawn(async {}).await.context("an empty task")?;
                Ok(start.elapsed())
            })
        }),
        Level::Thread => Box::new(|| time(spawn_join)),
        Level::Wasm => Box::new(move || {
            time(|| {
                let back = guest.instance()?.echo(7)?;
                ensure!(back == 7, "echo(7) returned {back}");
                Ok(())
            })
        }),
        Level::Process => {
            Box::new(|| time(|| succeeded("/bin/true", Command::new("/bin/true").status())))
        }
        Level::Reexec => {
            ensure!(has_exe(ctx), "re-executing needs the report binary");
            let mut command = ctx.partner("exit-at-once", &[]);
            command.stdin(Stdio::null()).stdout(Stdio::null());
            Box::new(move || time(|| succeeded("this binary", command.status())))
        }
        Level::Container => Box::new(|| {
            time(|| {
                let output = Container::new("/bin/true", &[]).output();
                succeeded("/bin/true in a container", output.map(|o| o.status))
            })
        }),
    };
    Ok(Unit(timed, Box::new(|| Ok(()))))
}

/// A running unit of `level` whose samples are round trips.
fn trips(level: Level, ctx: &Ctx) -> Result<Unit> {
    let check = |v: u64, back: u64| {
        ensure!(back == v, "sent {v}, got {back} back");
        Ok(())
    };
    let mut v = 0;
    if level == Level::Task {
        let runtime = runtime()?;
        let (to, mut their_rx) = tokio_mpsc::channel::<u64>(1);
        let (their_tx, mut from) = tokio_mpsc::channel::<u64>(1);
        runtime.spawn(async move {
            while let Some(v) = their_rx.recv().await {
                if their_tx.send(v).await.is_err() {
                    break;
                }
            }
        });
        let trip = move || {
            v += 1;
            runtime.block_on(async {
                let start = Instant::now();
                to.send(v).await.context("sending to the partner task")?;
                let back = from.recv().await.context("the partner task is gone")?;
                let took = start.elapsed();
                check(v, back).map(|()| took)
            })
        };
        return Ok(Unit(Box::new(trip), Box::new(|| Ok(()))));
    }
    let Partner(mut ping, end) = partner(level, ctx)?;
    let trip = move || {
        v += 1;
        time(|| check(v, ping(v)?))
    };
    Ok(Unit(Box::new(trip), end))
}

/// Measures starts (`Part::Start`, unpinned) or round trips (unpinned and
/// pinned) of every level: one [`Unit`] each, warmed up, then sampled in
/// rotated rounds; a level that cannot start or warm up is an error row.
fn latency(ctx: &Ctx, part: Part, levels: &[Level], fails: &mut Vec<Row>) -> Result<Vec<Row>> {
    let rounds = ctx.rounds(5, 2).max(1);
    // A process starts a fifth as many times, a container a twentieth.
    let count = |level: Level| match part {
        Part::Start => (ctx.pick(2_000, 200) / [1, 1, 1, 5, 5, 20][level as usize]).max(1),
        _ => ctx.pick(20_000, 2_000_usize).div_ceil(rounds).max(1),
    };
    let start = |level: Level, pinning| {
        let wanted = match part {
            Part::Start => pinning == Unpinned,
            _ => pinning != Split && runs(ctx, &level),
        };
        if !wanted {
            return Ok(None);
        }
        // Partners started while pinned (threads, children, containers)
        // stay pinned; they warm up here.
        let (unit, warm) = match part {
            Part::Start => (starts(level, ctx), (count(level) / 10).max(1)),
            _ => (trips(level, ctx), (count(level) / 10).clamp(10, 1000)),
        };
        let warmed = unit.and_then(|mut unit| {
            (0..warm).try_for_each(|_| (unit.0)().map(drop))?;
            Ok(unit)
        });
        match warmed {
            Ok(unit) => Ok(Some(unit)),
            Err(e) => {
                fails.push(Row {
                    error: Some(format!("{e:#}")),
                    ..Row::new(part, level, Some(pinning))
                });
                Ok(None)
            }
        }
    };
    let sample = |unit: &mut Unit| (unit.0)();
    let measured = percentiles(ctx, levels, (rounds, 0), count, start, sample)?;
    let row = |(r, Unit(timed, end)): (super::latency::Row<Level>, Unit)| {
        drop(timed);
        let stopped = end().with_context(|| format!("stopping the {} partner", name(&r.variant)));
        stopped.map(|()| Row {
            count: Some(r.count),
            p50_ns: Some(r.p50_ns),
            p99_ns: Some(r.p99_ns),
            p999_ns: Some(r.p999_ns),
            max_ns: Some(r.max_ns),
            mean_ns: Some(r.mean_ns),
            ..Row::new(part, r.variant, Some(r.pinning))
        })
    };
    measured.into_iter().map(row).collect()
}

/// What live units held: the `isolation-memory` partner's CSV line.
#[derive(Debug, Serialize, Deserialize)]
struct Held(u64, u64, Option<String>);

/// Runs `start(i)` for `i` in `0..units` until one fails: how many
/// started, and why one did not.
fn up_to(units: usize, mut start: impl FnMut(usize) -> Result<()>) -> (u64, Option<String>) {
    for i in 0..units {
        if let Err(e) = start(i) {
            return (i as u64, Some(format!("unit {}: {e:#}", i + 1)));
        }
    }
    (units as u64, None)
}

/// Starts up to `units` live units of `level` in this process or as its
/// children, measures what they hold (bytes, units, why not all), and ends
/// them.
fn hold(level: Level, units: usize, ctx: &Ctx) -> Result<Held> {
    let (bytes, (held, error)) = match level {
        Level::Task => runtime()?.block_on(async {
            tokio::spawn(async {}).await.context("a first task")?;
            let before = rss_bytes()?;
            let gate = Arc::new(tokio::sync::RwLock::new(()));
            let (closed, waiting) = (gate.write().await, Arc::new(AtomicUsize::new(0)));
            let tasks: Vec<_> = (0..units)
                .map(|_| {
                    let (gate, waiting) = (Arc::clone(&gate), Arc::clone(&waiting));
                    tokio::spawn(async move {
                        waiting.fetch_add(1, Relaxed);
                        drop(gate.read().await);
                    })
                })
                .collect();
            // On a current-thread runtime the tasks run when this one yields.
            while waiting.load(Relaxed) < units {
                tokio::task::yield_now().await;
            }
            let bytes = rss_bytes()?.saturating_sub(before);
            drop(closed);
            for task in tasks {
                task.await.context("a waiting task")?;
            }
            Ok::<_, anyhow::Error>((bytes, (units as u64, None)))
        })?,
        Level::Thread => {
            spawn_join()?;
            let before = rss_bytes()?;
            let gate = Arc::new(RwLock::new(()));
            let closed = gate.write().map_err(|_| anyhow!("a poisoned gate"))?;
            let (started, mut threads) = (WaitGroup::new(), Vec::new());
            let held = up_to(units, |_| {
                let (gate, started) = (Arc::clone(&gate), started.clone());
                let wait = move || {
                    drop(started);
                    drop(gate.read());
                };
                threads.push(thread::Builder::new().spawn(wait)?);
                Ok(())
            });
            started.wait();
            let after = rss_bytes();
            drop(closed);
            for thread in threads {
                thread
                    .join()
                    .map_err(|_| anyhow!("a waiting thread panicked"))?;
            }
            (after?.saturating_sub(before), held)
        }
        Level::Wasm => {
            let guest = Guest::new()?;
            guest.instance()?.echo(1)?;
            let (before, mut instances) = (rss_bytes()?, Vec::with_capacity(units));
            let held = up_to(units, |i| {
                let mut instance = guest.instance()?;
                instance.echo(i as u64)?;
                instances.push(instance);
                Ok(())
            });
            (rss_bytes()?.saturating_sub(before), held)
        }
        _ => {
            let mut first = partner(level, ctx)?;
            first.ping(0)?;
            first.finish()?;
            let before = pss_bytes(std::process::id())?;
            let mut partners = Vec::with_capacity(units);
            let held = up_to(units, |i| {
                let mut one = partner(level, ctx)?;
                one.ping(i as u64)?;
                partners.push(one);
                Ok(())
            });
            let after = group_pss_bytes().map(|(bytes, _)| bytes);
            let ended: Vec<_> = partners.into_iter().map(Partner::finish).collect();
            let ended: Result<()> = ended.into_iter().collect();
            ended.context("ending the units")?;
            (after?.saturating_sub(before), held)
        }
    };
    Ok(Held(held, bytes, error))
}

/// The `isolation-memory LEVEL N` partner: [`hold`] in this fresh process,
/// and a [`Held`] line on stdout.
fn memory_partner(level: &str, units: &str) -> Result<()> {
    let Ok(level) = Level::from_str(level, false) else {
        let names: Vec<String> = Level::value_variants().iter().map(name).collect();
        bail!("no level {level:?}; the levels: {}", names.join(", "));
    };
    let units = units.parse().with_context(|| format!("units {units:?}"))?;
    let exe = std::env::current_exe().context("finding this program")?;
    let held = hold(level, units, &Ctx::quick(Some(exe)))?;
    let mut builder = csv::WriterBuilder::new();
    let mut out = builder.has_headers(false).from_writer(io::stdout());
    out.serialize(held)?;
    Ok(out.flush()?)
}

/// What `units` live units of each level hold, each time in a fresh
/// process when there is the `report` binary, else in this one.
fn memory(ctx: &Ctx, levels: &[Level], fails: &mut Vec<Row>) -> Result<Vec<Row>> {
    let units = ctx.pick(1_000, 100);
    let measure = |level: Level| {
        if !has_exe(ctx) {
            return hold(level, units, ctx);
        }
        let mut partner = ctx.partner("isolation-memory", &[&name(&level), &units.to_string()]);
        let output = partner.stdin(Stdio::null()).output()?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        ensure!(
            output.status.success(),
            "{}: {}",
            output.status,
            stderr.trim()
        );
        let mut lines = csv::ReaderBuilder::new();
        let mut lines = lines.has_headers(false).from_reader(&output.stdout[..]);
        let held = lines.deserialize().last();
        Ok(held.context("no line from the memory partner")??)
    };
    let levels: Vec<Level> = levels.iter().copied().filter(|l| runs(ctx, l)).collect();
    let mut rows = Vec::new();
    let each = |level, round, _| {
        ctx.bar
            .set_message(format!("{units} live {}", name(&level)));
        match measure(level) {
            Ok(Held(held, bytes, error)) => rows.push(Row {
                round: Some(round),
                count: Some(units as u64),
                units: Some(held),
                bytes: Some(bytes),
                error,
                ..Row::new(Part::Memory, level, None)
            }),
            Err(e) => fails.push(Row {
                error: Some(format!("round {round}: {e:#}")),
                ..Row::new(Part::Memory, level, Some(Unpinned))
            }),
        }
        Ok(())
    };
    interleave(&ctx.bar, &levels, ctx.invocations(3, 1), each)?;
    Ok(rows)
}

/// The p50 and p99 of the measured row of `part`, `level` and `pinning`.
fn p50_p99(rows: &[Row], part: Part, level: Level, pinning: Pinning) -> Option<[u64; 2]> {
    let mut rows = rows.iter().filter(|r| r.part == part && r.level == level);
    let row = rows.find(|r| r.pinning == Some(pinning) && r.p50_ns.is_some())?;
    Some([row.p50_ns?, row.p99_ns?])
}

/// The median over the fresh processes of the bytes per unit held.
fn bytes_per_unit(rows: &[Row], level: Level) -> Option<f64> {
    let memory = rows
        .iter()
        .filter(|r| r.part == Part::Memory && r.level == level);
    median(memory.filter_map(|r| match (r.bytes, r.units) {
        (Some(bytes), Some(units)) if units > 0 => Some(bytes as f64 / units as f64),
        _ => None,
    }))
}

/// The largest `count` of `part`'s rows that `pick` keeps.
fn most(rows: &[Row], part: Part, pick: impl Fn(&Row) -> bool) -> u64 {
    let counts = rows.iter().filter(|r| r.part == part && pick(r));
    counts.filter_map(|r| r.count).max().unwrap_or(0)
}

/// `v` with two decimals under 1, one under `ten`, none above: "0.58",
/// "3.9", "61".
fn fixed(v: f64, ten: f64) -> String {
    let decimals = [2, 1, 0][usize::from(v >= 1.0) + usize::from(v >= ten)];
    format!("{v:.decimals$}")
}

/// A ratio with two significant digits or more: "0.029", "0.57", "2.5",
/// "144".
fn ratio_text(r: f64) -> String {
    if r > 0.0 && r < 1.0 {
        let digits = (1 - r.log10().floor().max(-10.0) as i32).clamp(2, 6) as usize;
        format!("{r:.digits$}")
    } else {
        fixed(r, 10.0)
    }
}

/// The parts in the plot and the summary's table: part, pinning, title.
const VIEWS: [(Part, Pinning, &str); 3] = [
    (
        Part::Start,
        Unpinned,
        "start one and wait until it has finished (unpinned)",
    ),
    (
        Part::Roundtrip,
        Pinned,
        "a round trip to a running one, pinned (both ends on one CPU)",
    ),
    (
        Part::Roundtrip,
        Unpinned,
        "a round trip to a running one, unpinned (the scheduler's choice)",
    ),
];

/// The experiment.
#[derive(Debug)]
pub(crate) struct Isolation;

impl Experiment for Isolation {
    const NAME: &'static str = "isolation";
    const STEM: &'static str = "isolation";
    const LABEL: &'static str = "isolation ladder";
    type Row = Row;

    fn run(ctx: &Ctx) -> Result<Vec<Row>> {
        let levels = ctx.variants(Level::value_variants())?;
        let mut fails = Vec::new();
        let mut rows = latency(ctx, Part::Start, &levels, &mut fails)?;
        rows.extend(latency(ctx, Part::Roundtrip, &levels, &mut fails)?);
        rows.extend(memory(ctx, &levels, &mut fails)?);
        rows.extend(fails);
        Ok(rows)
    }

    fn plot(rows: &[Row], path: &Path) -> Result<()> {
        let mut levels = distinct(rows.iter().map(|r| r.level));
        levels.sort();
        let series = |name: &str, values: Vec<Option<f64>>| {
            let name = name.to_owned();
            Series { name, values }
        };
        let times = VIEWS.map(|(part, pinning, title)| {
            let us = |i: usize| {
                let each = levels.iter().map(|&l| p50_p99(rows, part, l, pinning));
                each.map(|p| p.map(|p| p[i] as f64 / 1e3)).collect()
            };
            let which = usize::from(part == Part::Roundtrip);
            Panel {
                title: title.to_owned(),
                rows: levels.iter().map(|l| l.label(which)).collect(),
                series: vec![
                    series("median (p50)", us(0)),
                    series("99th percentile (p99)", us(1)),
                ],
            }
        });
        let chart = Rows {
            title: "The isolation ladder: start one, talk to a running one",
            axis: "microseconds",
            scale: Scale::Log10,
            mark: Mark::Dot,
            value: |us| fixed(us, 100.0),
        };
        let kib = levels
            .iter()
            .map(|&l| bytes_per_unit(rows, l).map(|b| b / 1024.0));
        let memory = Panel {
            title: String::new(),
            rows: levels.iter().map(|l| l.label(2)).collect(),
            series: vec![series("", kib.collect())],
        };
        let units = match most(rows, Part::Memory, |r| r.units.is_some()) {
            0 => 1_000,
            units => units as usize,
        };
        let title = format!("The memory {} live ones hold, per unit", thousands(units));
        let held = Rows {
            title: &title,
            axis: "KiB per unit",
            scale: Scale::Log10,
            mark: Mark::Dot,
            value: |kib| fixed(kib, 10.0),
        };
        stacked(path, &[(&chart, &times), (&held, &[memory])])
    }

    fn summary(rows: &[Row]) -> String {
        let memory = rows.iter().filter(|r| r.part == Part::Memory);
        let processes = memory.filter_map(|r| r.round).max().map_or(0, |r| r + 1);
        let mut out = format!(
            "## 8. The isolation ladder\n\nStart and finish one, one at a time ({} of an \
             in-process level, a fifth of that of a process, a twentieth of a container, \
             unpinned); a round trip of a `u64` to a running one ({} per level and pinning); \
             the memory {} live ones hold, each level in {processes} fresh process(es): RSS \
             growth for tasks, threads and instances, growth of the PSS summed over the \
             holding process and its descendants for processes and containers. Levels \
             interleaved round by round in rotated order. Microseconds; KiB per unit (median \
             over the processes).\n\n| level | start p50 | p99 | pinned trip p50 | p99 \
             | unpinned trip p50 | p99 | KiB per unit |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
            most(rows, Part::Start, |r| r.level <= Level::Wasm),
            most(rows, Part::Roundtrip, |_| true),
            most(rows, Part::Memory, |r| r.units.is_some()),
        );
        let mut levels = distinct(rows.iter().map(|r| r.level));
        levels.sort();
        let dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
        let kib = |l| dash(bytes_per_unit(rows, l).map(|b| fixed(b / 1024.0, 10.0)));
        for &level in &levels {
            let cells = VIEWS.map(|(part, pinning, _)| {
                let p = p50_p99(rows, part, level, pinning);
                let us = |i: usize| dash(p.map(|p| fixed(p[i] as f64 / 1e3, 100.0)));
                format!("{} | {}", us(0), us(1))
            });
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                name(&level),
                cells.join(" | "),
                kib(level)
            );
        }
        out.push_str(
            "\nEach level against the one above it (p50 ratios, from this run):\n\n\
             | ratio | start | pinned trip | memory |\n|---|---:|---:|---:|\n",
        );
        let ratio = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) if y > 0.0 => ratio_text(x / y),
            _ => "-".to_owned(),
        };
        let p50 = |(part, pinning, _): (Part, Pinning, &str), l| {
            p50_p99(rows, part, l, pinning).map(|p| p[0] as f64)
        };
        let (start, trip) = (|l| p50(VIEWS[0], l), |l| p50(VIEWS[1], l));
        for pair in levels.windows(2) {
            let (a, b) = (pair[1], pair[0]);
            let (sa, sb, ta, tb) = (start(a), start(b), trip(a), trip(b));
            let memory = ratio(bytes_per_unit(rows, a), bytes_per_unit(rows, b));
            let (an, bn) = (name(&a), name(&b));
            let _ = writeln!(
                out,
                "| {an} / {bn} | {} | {} | {memory} |",
                ratio(sa, sb),
                ratio(ta, tb)
            );
            if (a, b) == (Level::Container, Level::Reexec) {
                // The container starts `/bin/true`, as `process` does.
                let r = ratio(sa, start(Level::Process));
                let _ = writeln!(
                    out,
                    "| container / process (both start `/bin/true`) | {r} | - | - |"
                );
            }
        }
        let gaps: Vec<&Row> = rows.iter().filter(|r| r.error.is_some()).collect();
        if !gaps.is_empty() {
            out.push_str("\nNot measured, or fewer units than asked for:\n\n");
        }
        for r in gaps {
            let which = match (r.round, r.units, r.pinning) {
                (Some(round), Some(held), _) => {
                    format!(
                        "round {round}): {held} of {} held",
                        r.count.unwrap_or_default()
                    )
                }
                (_, _, pinning) => format!("{})", dash(pinning.map(|p| name(&p)))),
            };
            let (part, level) = (name(&r.part), name(&r.level));
            let error = r.error.as_deref().unwrap_or_default();
            let _ = writeln!(out, "- {part}, {level} ({which}: {error}");
        }
        out
    }

    fn partner(role: &str, args: &[String]) -> Option<Result<()>> {
        Some(match (role, args) {
            ("echo-socket", [path]) => echo_socket(Path::new(path)),
            ("exit-at-once", []) => Ok(()),
            ("isolation-memory", [level, units]) => memory_partner(level, units),
            ("echo-socket" | "exit-at-once" | "isolation-memory", _) => {
                Err(anyhow!("partner {role}: unexpected arguments {args:?}"))
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{ratio_text, Isolation, Level, Part, Row};
    use crate::harness::{load, save, Ctx, Experiment};

    /// Without the report binary the re-executed level cannot start: an
    /// error row, not an abort; its round trips and memory are left out.
    #[test]
    fn a_quick_run_without_the_report_binary() {
        let mut ctx = Ctx::quick(None);
        ctx.flags.rounds = Some(1);
        let levels = ["task", "thread", "wasm", "process", "reexec"];
        ctx.flags.variants = levels.map(String::from).to_vec();
        let rows = Isolation::run(&ctx).expect("measuring");
        let measured = |part| {
            rows.iter()
                .filter(move |r| r.part == part && r.error.is_none())
        };
        let parts = [Part::Start, Part::Roundtrip, Part::Memory].map(|p| measured(p).count());
        assert_eq!(parts, [4, 8, 4]);
        let failed: Vec<_> = rows.iter().filter(|r| r.error.is_some()).collect();
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(
            (failed[0].part, failed[0].level),
            (Part::Start, Level::Reexec)
        );
        let process = rows.iter().find(|r| r.level == Level::Process);
        assert_eq!(process.and_then(|r| r.count), Some(40), "a fifth of 200");
        assert!(
            measured(Part::Memory).all(|r| r.units == Some(100)),
            "{rows:?}"
        );
        let summary = Isolation::summary(&rows);
        assert!(summary.contains("| thread / task |"), "{summary}");
        assert!(
            summary.contains("- start, reexec (unpinned): re-executing"),
            "{summary}"
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        let csv = dir.path().join("isolation.csv");
        save(&csv, &rows).expect("writing");
        assert_eq!(load::<Row>(&csv).expect("reading back"), rows);
        Isolation::plot(&rows, &dir.path().join("isolation.svg")).expect("plotting");
        let texts = [0.0, 0.0291, 0.57, 2.54, 144.2].map(ratio_text);
        assert_eq!(texts, ["0.00", "0.029", "0.57", "2.5", "144"]);
    }
}
