//! Comparison 8: the isolation ladder, measured. Each level up isolates
//! more; this measures what each costs, three ways:
//!
//! - **start and finish one** (`start`): the time from asking for a new
//!   unit to knowing it has ended, one at a time, in an hdrhistogram;
//! - **a round trip to a running one** (`roundtrip`): a `u64` to a unit
//!   already running and back, unpinned and pinned (both ends on one CPU,
//!   as the round-trip experiment pins them);
//! - **the memory 1,000 live units hold** (`memory`), each level in a
//!   fresh process of its own (the `report` binary re-executed in a hidden
//!   mode), so that no level inherits another's freed memory.
//!
//! The levels ([`Level`]):
//!
//! | level | start and finish | a running one, round trip | memory |
//! |---|---|---|---|
//! | `task` | tokio `spawn` + `.await` on a current-thread runtime | a tokio `mpsc` channel each way | RSS delta |
//! | `thread` | `thread::spawn` + `join` | a std `mpsc` channel each way | RSS delta |
//! | `wasm` | a wasmi `Store`, instantiate, call `echo` | a call of `echo` | RSS delta |
//! | `process` | `/bin/true` (std's `Command`, which uses `posix_spawn`) | `cat`, through its stdin and stdout pipes | PSS sum |
//! | `reexec` | this binary re-executed, exiting at once | the same in its socket echo mode, a Unix socket | PSS sum |
//! | `container` | `Container::new("/bin/true", &[]).output()` | this binary inside a container, a Unix socket | PSS sum |
//!
//! A container is ptm's rootless one: new user, PID, mount, UTS, IPC and
//! network namespaces and a root file system of its own (a tmpfs with the
//! host's system directories bound read-only). The echo partner inside
//! gets this binary's directory bound read-only at the same path and the
//! socket's directory bound read-write; a Unix socket is reached by its
//! path, whatever the network namespace.
//!
//! The wasm level's engine, compiled module and linker are made once,
//! before any timing: what is timed is an instance (a `Store`, the module
//! instantiated, its one page of linear memory) and a call. The module's
//! `echo` stores its `i64` argument in its linear memory, loads it back and
//! returns it.
//!
//! Memory: for the in-process levels, the RSS (`VmRSS`) growth of the
//! holding process while it holds the units, divided by their number. For
//! processes and containers the memory is in other processes: the sum of
//! the PSS (`smaps_rollup`) of the holding process and of every descendant
//! of it while it holds them, minus its own PSS before, divided by their
//! number. PSS splits each shared page among its sharers, so a thousand
//! copies of one program count its code once, and a container's init, a
//! copy of its caller cloned without `exec`, counts only the pages it made
//! its own. A container's share includes the holding process's thread that
//! waits in `Container::output` for it. Kernel memory (page tables, kernel
//! stacks, namespaces, socket buffers) is in none of these.
//!
//! Every part runs its levels interleaved, round by round, in an order
//! rotated by one place per round.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io;
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context};
use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use ptm::isolate::Container;
use wasmi::{Engine, Linker, Module, Store, TypedFunc};

use super::roundtrip::{self, pipe_ping, EchoProgram};
use super::{expect_header, field, named, rotated, Outcome, Size};
use crate::csv::{quote, split_line, Table};
use crate::memory::{group_pss_bytes, pss_bytes, rss_bytes};
use crate::pin::Pinning;
use crate::plot::{stacked, thousands, Mark, Panel, Rows, Scale, Series};
use crate::stats::{latency_histogram, median, Percentiles};

/// A rung of the ladder, from least to most isolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// An async task on a tokio current-thread runtime.
    Task,
    /// An OS thread.
    Thread,
    /// A WebAssembly instance (wasmi).
    Wasm,
    /// A small C program in a process of its own: `/bin/true`, `cat`.
    Process,
    /// This binary re-executed in a process of its own.
    Reexec,
    /// A container made by `ptm::isolate::Container`.
    Container,
}

impl Level {
    /// Every level, least isolated first.
    pub const ALL: [Level; 6] = [
        Level::Task,
        Level::Thread,
        Level::Wasm,
        Level::Process,
        Level::Reexec,
        Level::Container,
    ];

    /// Its name in tables, CSV and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Level::Task => "task",
            Level::Thread => "thread",
            Level::Wasm => "wasm",
            Level::Process => "process",
            Level::Reexec => "reexec",
            Level::Container => "container",
        }
    }

    /// What starting and finishing one is, written out, for plots.
    pub fn label(self) -> &'static str {
        match self {
            Level::Task => "async task: tokio spawn, await",
            Level::Thread => "OS thread: spawn, join",
            Level::Wasm => "Wasm instance: instantiate, call",
            Level::Process => "process: /bin/true (posix_spawn)",
            Level::Reexec => "process: this binary, re-executed",
            Level::Container => "container: /bin/true (ptm::isolate)",
        }
    }

    /// What the round trip goes through, written out, for plots.
    pub fn trip_label(self) -> &'static str {
        match self {
            Level::Task => "async task: a tokio channel each way",
            Level::Thread => "OS thread: a std channel each way",
            Level::Wasm => "Wasm instance: a call into it",
            Level::Process => "process: cat, through its pipes",
            Level::Reexec => "process: this binary, a Unix socket",
            Level::Container => "container: this binary, a Unix socket",
        }
    }

    /// What a live one is while its memory is measured, for plots.
    pub fn live_label(self) -> &'static str {
        match self {
            Level::Task => "async task, waiting on a lock",
            Level::Thread => "OS thread, waiting on a lock",
            Level::Wasm => "Wasm instance, after one call",
            Level::Process => "process: cat, waiting on its stdin",
            Level::Reexec => "process: this binary, on a socket",
            Level::Container => "container: this binary, on a socket",
        }
    }

    /// Whether its units run in other processes (memory: PSS sum).
    pub fn is_out_of_process(self) -> bool {
        matches!(self, Level::Process | Level::Reexec | Level::Container)
    }

    /// Whether its round trip and live units need this binary re-executed.
    pub fn needs_program(self) -> bool {
        matches!(self, Level::Reexec | Level::Container)
    }

    /// Start-and-finish samples per round for `starts` in-process ones:
    /// the process levels take a fifth, containers a twentieth.
    pub fn starts(self, starts: usize) -> usize {
        let share = match self {
            Level::Task | Level::Thread | Level::Wasm => 1,
            Level::Process | Level::Reexec => 5,
            Level::Container => 20,
        };
        (starts / share).max(1)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// This binary (`report`), re-executed in one of its hidden modes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// Its path.
    pub path: PathBuf,
}

impl Program {
    /// `report --partner echo` with stdin and stdout on `/dev/null`: it reads end
    /// of file at once and exits.
    fn exits_at_once(&self) -> Command {
        let mut command = Command::new(&self.path);
        command
            .args(["--partner", "echo"])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        command
    }

    /// The arguments of `report --echo-socket PATH`: connect to the Unix
    /// socket at `socket` and echo what comes until end of file.
    fn echo_socket_args(socket: &Path) -> Vec<OsString> {
        vec!["--echo-socket".into(), socket.into()]
    }

    /// `report --isolation-memory LEVEL --count N`: hold `units` live units
    /// of `level` and print what they hold ([`memory_child`]).
    fn memory(&self, level: Level, units: usize) -> Command {
        let mut command = Command::new(&self.path);
        command
            .args(["--isolation-memory", level.name(), "--count"])
            .arg(units.to_string())
            .stdin(Stdio::null());
        command
    }
}

/// The WebAssembly module: one page of linear memory and `echo`, which
/// stores its argument there, loads it back and returns it.
pub const WAT: &str = r#"(module
  (memory 1)
  (func (export "echo") (param $v i64) (result i64)
    (i64.store (i32.const 0) (local.get $v))
    (i64.load (i32.const 0))))"#;

/// The engine, the compiled module and the linker, made once; each
/// [`instance`](Self::instance) is a new store holding a new instance.
#[derive(Debug)]
pub struct Guest {
    engine: Engine,
    module: Module,
    linker: Linker<()>,
}

/// One live instance of [`WAT`], in its own store.
#[derive(Debug)]
pub struct Instance {
    store: Store<()>,
    echo: TypedFunc<i64, i64>,
}

impl Guest {
    /// Compiles [`WAT`].
    ///
    /// # Errors
    ///
    /// If wasmi rejects the module (it does not).
    pub fn new() -> anyhow::Result<Guest> {
        let engine = Engine::default();
        let wasm = wat::parse_str(WAT).context("parsing the module's text")?;
        let module = Module::new(&engine, &wasm[..]).context("compiling the module")?;
        let linker = Linker::new(&engine);
        Ok(Guest {
            engine,
            module,
            linker,
        })
    }

    /// A new store with a new instance of the module in it.
    ///
    /// # Errors
    ///
    /// If instantiating fails.
    pub fn instance(&self) -> anyhow::Result<Instance> {
        let mut store = Store::new(&self.engine, ());
        let instance = self
            .linker
            .instantiate_and_start(&mut store, &self.module)
            .context("instantiating the module")?;
        let echo = instance
            .get_typed_func::<i64, i64>(&store, "echo")
            .context("the module's echo")?;
        Ok(Instance { store, echo })
    }
}

impl Instance {
    /// Calls the instance's `echo` with `v`.
    ///
    /// # Errors
    ///
    /// If the call traps.
    pub fn echo(&mut self, v: u64) -> anyhow::Result<u64> {
        let back = self
            .echo
            .call(&mut self.store, v as i64)
            .context("calling echo")?;
        Ok(back as u64)
    }
}

/// A tokio runtime on the calling thread, with timers.
///
/// # Errors
///
/// If the runtime cannot be built.
pub fn current_thread_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("building a tokio current-thread runtime")
}

fn record(histogram: &mut Histogram<u64>, since: Instant) {
    let nanos = since.elapsed().as_nanos();
    histogram.saturating_record(u64::try_from(nanos).unwrap_or(u64::MAX));
}

/// What starts and finishes units of one level.
enum Starter {
    Task(tokio::runtime::Runtime),
    Thread,
    Wasm(Guest),
    Process,
    Reexec(Program),
    Container,
}

impl Starter {
    fn new(level: Level, program: Option<&Program>) -> anyhow::Result<Starter> {
        Ok(match level {
            Level::Task => Starter::Task(current_thread_runtime()?),
            Level::Thread => Starter::Thread,
            Level::Wasm => Starter::Wasm(Guest::new()?),
            Level::Process => Starter::Process,
            Level::Reexec => Starter::Reexec(
                program
                    .cloned()
                    .context("re-executing needs the report binary")?,
            ),
            Level::Container => Starter::Container,
        })
    }

    /// Starts and finishes `count` units, one at a time, each timed.
    fn sample(&mut self, count: usize, histogram: &mut Histogram<u64>) -> anyhow::Result<()> {
        if let Starter::Task(runtime) = self {
            return runtime.block_on(async {
                for _ in 0..count {
                    let start = Instant::now();
                    tokio::spawn(async {}).await.context("an empty task")?;
                    record(histogram, start);
                }
                Ok(())
            });
        }
        for _ in 0..count {
            let start = Instant::now();
            match self {
                Starter::Task(_) => unreachable!("handled above"),
                Starter::Thread => super::threads::SpawnVariant::SpawnJoin.run(1)?,
                Starter::Wasm(guest) => {
                    let back = guest.instance()?.echo(7)?;
                    ensure!(back == 7, "echo(7) returned {back}");
                }
                Starter::Process => super::processes::Variant::Status.run("/bin/true", 1)?,
                Starter::Reexec(program) => {
                    let status = program
                        .exits_at_once()
                        .status()
                        .with_context(|| format!("running {}", program.path.display()))?;
                    ensure!(status.success(), "{}: {status}", program.path.display());
                }
                Starter::Container => {
                    let output = Container::new("/bin/true", &[])
                        .output()
                        .context("running /bin/true in a container")?;
                    ensure!(
                        output.status.success(),
                        "/bin/true in a container: {}",
                        output.status
                    );
                }
            }
            record(histogram, start);
        }
        Ok(())
    }
}

/// A Unix socket in a fresh directory of its own, which echo partners
/// (this binary in its socket echo mode, on the host or in a container)
/// connect to; the directory is removed on drop.
#[derive(Debug)]
pub struct Rendezvous {
    dir: PathBuf,
    path: PathBuf,
    listener: UnixListener,
}

impl Rendezvous {
    /// How long a partner may take to connect.
    const PATIENCE: Duration = Duration::from_secs(10);

    /// A listening socket `echo.sock` in a new directory under the
    /// system's temporary directory.
    ///
    /// # Errors
    ///
    /// If the directory or the socket cannot be made.
    pub fn new() -> anyhow::Result<Rendezvous> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ptm-ladder-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("echo.sock");
        let listener =
            UnixListener::bind(&path).with_context(|| format!("binding {}", path.display()))?;
        listener
            .set_nonblocking(true)
            .context("a non-blocking listener")?;
        Ok(Rendezvous {
            dir,
            path,
            listener,
        })
    }

    /// Waits for the next partner to connect, checking with `ended`
    /// whether it ended first (`Some(why)`).
    fn accept(
        &self,
        mut ended: impl FnMut() -> anyhow::Result<Option<String>>,
    ) -> anyhow::Result<UnixStream> {
        let start = Instant::now();
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).context("a blocking stream")?;
                    return Ok(stream);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error).context("accepting an echo partner"),
            }
            if let Some(why) = ended()? {
                bail!("the echo partner ended before it connected: {why}");
            }
            ensure!(
                start.elapsed() < Self::PATIENCE,
                "no echo partner connected to {} within {:?}",
                self.path.display(),
                Self::PATIENCE
            );
            thread::sleep(Duration::from_micros(100));
        }
    }
}

impl Drop for Rendezvous {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The body of `report --echo-socket PATH`: connects to the Unix socket at
/// `path` and echoes what comes until end of file.
///
/// # Errors
///
/// If the socket cannot be reached, or as for [`roundtrip::echo`].
pub fn echo_socket(path: &Path) -> anyhow::Result<()> {
    let stream =
        UnixStream::connect(path).with_context(|| format!("connecting to {}", path.display()))?;
    let reader = stream.try_clone().context("a second socket handle")?;
    roundtrip::echo(reader, stream).context("echoing")?;
    Ok(())
}

/// Where a container sees its rendezvous's directory.
const RENDEZVOUS_INSIDE: &str = "/ladder";

/// The container that runs this binary's socket echo mode, talking to
/// `rendezvous`: the binary's directory is bound read-only at the same
/// path, the rendezvous's directory read-write at [`RENDEZVOUS_INSIDE`]
/// (a Unix socket is reached by its path, from any network namespace).
fn echo_container(program: &Program, rendezvous: &Rendezvous) -> anyhow::Result<Container> {
    let path = program
        .path
        .to_str()
        .context("the binary's path in UTF-8")?;
    let dir = program.path.parent().context("the binary's directory")?;
    let socket = Path::new(RENDEZVOUS_INSIDE).join("echo.sock");
    let socket = socket.to_str().context("the socket's path in UTF-8")?;
    Ok(Container::new(path, &["--echo-socket", socket])
        .bind_ro(dir, dir)
        .bind_rw(&rendezvous.dir, RENDEZVOUS_INSIDE))
}

/// How a socket partner ends.
enum Ending {
    Child(Child),
    Container(JoinHandle<ptm::Result<Output>>),
}

/// This binary echoing on a Unix socket, in a process or a container.
struct SocketPartner {
    stream: UnixStream,
    ending: Ending,
}

impl SocketPartner {
    /// Starts this binary in its socket echo mode (in a container for
    /// [`Level::Container`]) and waits for it to connect to `rendezvous`.
    fn start(level: Level, program: &Program, rendezvous: &Rendezvous) -> anyhow::Result<Self> {
        let mut ending = match level {
            Level::Container => {
                let container = echo_container(program, rendezvous)?;
                // A thread waits in `output` for the container to end; it
                // needs little stack.
                let waiter = thread::Builder::new()
                    .name("ladder-container".into())
                    .stack_size(256 * 1024)
                    .spawn(move || container.output())
                    .context("starting the container's waiting thread")?;
                Ending::Container(waiter)
            }
            _ => Ending::Child(
                Command::new(&program.path)
                    .args(Program::echo_socket_args(&rendezvous.path))
                    .stdin(Stdio::null())
                    .spawn()
                    .with_context(|| format!("starting {}", program.path.display()))?,
            ),
        };
        let accepted = rendezvous.accept(|| match &mut ending {
            Ending::Child(child) => Ok(child.try_wait()?.map(|status| status.to_string())),
            Ending::Container(waiter) => Ok(waiter.is_finished().then(|| "exited".to_owned())),
        });
        match accepted {
            Ok(stream) => Ok(SocketPartner { stream, ending }),
            Err(error) => {
                // Say why the partner ended, if it did.
                let why = SocketPartner::end(ending).err();
                match why {
                    Some(why) => Err(error.context(format!("{why:#}"))),
                    None => Err(error),
                }
            }
        }
    }

    fn ping(&mut self, v: u64) -> anyhow::Result<u64> {
        let (mut to, mut from) = (&self.stream, &self.stream);
        pipe_ping(&mut to, &mut from, v)
    }

    /// Closes the socket's way in; the partner reads end of file and exits.
    fn finish(self) -> anyhow::Result<()> {
        self.stream
            .shutdown(Shutdown::Write)
            .context("closing the socket's way in")?;
        SocketPartner::end(self.ending)
    }

    fn end(ending: Ending) -> anyhow::Result<()> {
        match ending {
            Ending::Child(mut child) => {
                if child.try_wait()?.is_none() {
                    // Give it a moment, then make sure it goes.
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while child.try_wait()?.is_none() && Instant::now() < deadline {
                        thread::sleep(Duration::from_millis(1));
                    }
                    if child.try_wait()?.is_none() {
                        let _ = child.kill();
                    }
                }
                let status = child.wait().context("waiting for the echo process")?;
                ensure!(status.success(), "the echo process: {status}");
                Ok(())
            }
            Ending::Container(waiter) => {
                let output = waiter
                    .join()
                    .map_err(|_| anyhow!("the container's waiting thread panicked"))?
                    .context("the echo container")?;
                ensure!(
                    output.status.success(),
                    "the echo container: {}; it wrote {:?}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                );
                Ok(())
            }
        }
    }
}

/// A running unit of one level, answering round trips.
enum Partner {
    Task {
        runtime: tokio::runtime::Runtime,
        to: tokio::sync::mpsc::Sender<u64>,
        from: tokio::sync::mpsc::Receiver<u64>,
        task: tokio::task::JoinHandle<()>,
    },
    Wasm(Box<Instance>),
    /// A thread or `cat`, started by the round-trip experiment's code.
    Echo(roundtrip::Partner),
    /// The partner and, unless it shares one, its rendezvous.
    Socket(SocketPartner, Option<Rendezvous>),
}

impl Partner {
    fn start(level: Level, program: Option<&Program>) -> anyhow::Result<Partner> {
        let cat = EchoProgram::cat();
        Ok(match level {
            Level::Task => {
                let runtime = current_thread_runtime()?;
                let (to, mut their_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let (their_tx, from) = tokio::sync::mpsc::channel::<u64>(1);
                let task = runtime.spawn(async move {
                    while let Some(v) = their_rx.recv().await {
                        if their_tx.send(v).await.is_err() {
                            break;
                        }
                    }
                });
                Partner::Task {
                    runtime,
                    to,
                    from,
                    task,
                }
            }
            Level::Thread => Partner::Echo(roundtrip::Partner::start(
                roundtrip::Variant::StdMpsc,
                &cat,
            )?),
            Level::Wasm => Partner::Wasm(Box::new(Guest::new()?.instance()?)),
            Level::Process => Partner::Echo(roundtrip::Partner::start(
                roundtrip::Variant::ProcessPipe,
                &cat,
            )?),
            Level::Reexec | Level::Container => {
                let program = program.context("an echo partner needs the report binary")?;
                let rendezvous = Rendezvous::new()?;
                let partner = SocketPartner::start(level, program, &rendezvous)?;
                Partner::Socket(partner, Some(rendezvous))
            }
        })
    }

    /// One round trip of `v`, answered.
    fn ping(&mut self, v: u64) -> anyhow::Result<u64> {
        match self {
            Partner::Task { .. } => unreachable!("tasks are sampled inside the runtime"),
            Partner::Wasm(instance) => instance.echo(v),
            Partner::Echo(partner) => partner.ping(v),
            Partner::Socket(partner, _) => partner.ping(v),
        }
    }

    /// `count` timed round trips, the values from `*next` on.
    fn sample(
        &mut self,
        count: usize,
        histogram: &mut Histogram<u64>,
        next: &mut u64,
    ) -> anyhow::Result<()> {
        if let Partner::Task {
            runtime, to, from, ..
        } = self
        {
            return runtime.block_on(async {
                for _ in 0..count {
                    let v = *next;
                    *next += 1;
                    let start = Instant::now();
                    to.send(v).await.context("sending to the partner task")?;
                    let back = from.recv().await.context("the partner task is gone")?;
                    record(histogram, start);
                    ensure!(back == v, "sent {v}, got {back} back");
                }
                Ok(())
            });
        }
        for _ in 0..count {
            let v = *next;
            *next += 1;
            let start = Instant::now();
            let back = self.ping(v)?;
            record(histogram, start);
            ensure!(back == v, "sent {v}, got {back} back");
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Partner::Task {
                runtime, to, task, ..
            } => {
                drop(to);
                runtime.block_on(task).context("the partner task")
            }
            Partner::Wasm(_) => Ok(()),
            Partner::Echo(partner) => partner.finish(),
            Partner::Socket(partner, _rendezvous) => partner.finish(),
        }
    }
}

/// What holding live units showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Units asked for.
    pub wanted: usize,
    /// Units that were live together.
    pub held: usize,
    /// The memory they held, in bytes (RSS growth, or PSS sum growth for
    /// the out-of-process levels).
    pub bytes: u64,
    /// Why fewer than `wanted` were held, if they were.
    pub error: Option<String>,
}

impl Held {
    /// Bytes per unit held.
    pub fn per_unit(&self) -> Option<f64> {
        (self.held > 0).then(|| self.bytes as f64 / self.held as f64)
    }

    /// One CSV-quoted line: held, bytes, error (the memory child's output).
    pub fn line(&self) -> String {
        format!(
            "{},{},{}",
            self.held,
            self.bytes,
            quote(self.error.as_deref().unwrap_or(""))
        )
    }

    /// Parses [`line`](Self::line) back.
    ///
    /// # Errors
    ///
    /// If `line` is not such a line.
    pub fn from_line(wanted: usize, line: &str) -> anyhow::Result<Held> {
        let fields = split_line(line).with_context(|| format!("an unclosed quote in {line:?}"))?;
        ensure!(fields.len() == 3, "expected held,bytes,error: {line:?}");
        let error = (!fields[2].is_empty()).then(|| fields[2].clone());
        Ok(Held {
            wanted,
            held: fields[0]
                .parse()
                .with_context(|| format!("held {line:?}"))?,
            bytes: fields[1]
                .parse()
                .with_context(|| format!("bytes {line:?}"))?,
            error,
        })
    }
}

/// Waits until `ready()` or 10 s have passed.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) -> anyhow::Result<()> {
    let start = Instant::now();
    while !ready() {
        ensure!(
            start.elapsed() < Duration::from_secs(10),
            "{what}: not ready within 10 s"
        );
        thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Starts up to `units` live units of `level` in this process (threads,
/// tasks, instances) or as its children (processes, containers), measures
/// what they hold (see the module's documentation), and ends them. A unit
/// that cannot be started ends the starting: the units held so far are
/// measured and the error is kept. `program` is this binary, for the
/// re-executed and container levels.
///
/// # Errors
///
/// If the memory cannot be read, or a unit cannot be ended.
pub fn hold(level: Level, units: usize, program: Option<&Program>) -> anyhow::Result<Held> {
    match level {
        Level::Task => hold_tasks(units),
        Level::Thread => hold_threads(units),
        Level::Wasm => {
            let guest = Guest::new()?;
            guest.instance()?.echo(1)?;
            let before = rss_bytes()?;
            let mut instances = Vec::with_capacity(units);
            let mut error = None;
            for i in 0..units {
                match guest.instance().and_then(|mut instance| {
                    instance.echo(i as u64)?;
                    Ok(instance)
                }) {
                    Ok(instance) => instances.push(instance),
                    Err(e) => {
                        error = Some(format!("instance {}: {e:#}", i + 1));
                        break;
                    }
                }
            }
            let after = rss_bytes()?;
            Ok(Held {
                wanted: units,
                held: instances.len(),
                bytes: after.saturating_sub(before),
                error,
            })
        }
        Level::Process => hold_partners(units, || {
            roundtrip::Partner::start(roundtrip::Variant::ProcessPipe, &EchoProgram::cat())
                .map(Partner::Echo)
        }),
        Level::Reexec | Level::Container => {
            let program = program.context("these units need the report binary")?;
            let rendezvous = Rendezvous::new()?;
            hold_partners(units, || {
                SocketPartner::start(level, program, &rendezvous)
                    .map(|partner| Partner::Socket(partner, None))
            })
        }
    }
}

fn hold_tasks(units: usize) -> anyhow::Result<Held> {
    let runtime = current_thread_runtime()?;
    runtime.block_on(async {
        tokio::spawn(async {}).await.context("a first task")?;
        let before = rss_bytes()?;
        let gate = Arc::new(tokio::sync::RwLock::new(()));
        let closed = gate.write().await;
        let waiting = Arc::new(AtomicUsize::new(0));
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
        let after = rss_bytes()?;
        drop(closed);
        for task in tasks {
            task.await.context("a waiting task")?;
        }
        Ok(Held {
            wanted: units,
            held: units,
            bytes: after.saturating_sub(before),
            error: None,
        })
    })
}

fn hold_threads(units: usize) -> anyhow::Result<Held> {
    super::threads::SpawnVariant::SpawnJoin.run(1)?;
    let before = rss_bytes()?;
    let gate = Arc::new(RwLock::new(()));
    let closed = gate.write().map_err(|_| anyhow!("a poisoned gate"))?;
    let waiting = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::with_capacity(units);
    let mut error = None;
    for i in 0..units {
        let (gate, waiting) = (Arc::clone(&gate), Arc::clone(&waiting));
        let spawned = thread::Builder::new().spawn(move || {
            waiting.fetch_add(1, Relaxed);
            drop(gate.read());
        });
        match spawned {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                error = Some(format!("thread {}: {e}", i + 1));
                break;
            }
        }
    }
    let held = threads.len();
    let ready = wait_until("the waiting threads", || waiting.load(Relaxed) >= held);
    let after = rss_bytes();
    drop(closed);
    for thread in threads {
        thread
            .join()
            .map_err(|_| anyhow!("a waiting thread panicked"))?;
    }
    ready?;
    Ok(Held {
        wanted: units,
        held,
        bytes: after?.saturating_sub(before),
        error,
    })
}

/// Holds up to `units` partners started by `start` (each answered one
/// round trip), summing the PSS of this process and its descendants.
fn hold_partners(
    units: usize,
    mut start: impl FnMut() -> anyhow::Result<Partner>,
) -> anyhow::Result<Held> {
    let mut first = start()?;
    first.ping(0)?;
    first.finish()?;
    let before = pss_bytes(std::process::id())?;
    let mut partners = Vec::with_capacity(units);
    let mut error = None;
    for i in 0..units {
        match start().and_then(|mut partner| {
            partner.ping(i as u64)?;
            Ok(partner)
        }) {
            Ok(partner) => partners.push(partner),
            Err(e) => {
                error = Some(format!("unit {}: {e:#}", i + 1));
                break;
            }
        }
    }
    let after = group_pss_bytes().map(|(bytes, _)| bytes);
    let held = partners.len();
    let mut ended = Ok(());
    for partner in partners {
        if let Err(e) = partner.finish() {
            ended = Err(e);
        }
    }
    ended.context("ending the units")?;
    Ok(Held {
        wanted: units,
        held,
        bytes: after?.saturating_sub(before),
        error,
    })
}

/// The body of `report --isolation-memory LEVEL --count N`: [`hold`] in
/// this fresh process, and its result on stdout as one line
/// ([`Held::line`]).
///
/// # Errors
///
/// If `level` is not a level's name, or as for [`hold`].
pub fn memory_child(level: &str, units: usize) -> anyhow::Result<()> {
    let level = named(&Level::ALL, Level::name, level)?;
    let program = Program {
        path: std::env::current_exe().context("finding this program")?,
    };
    let held = hold(level, units, Some(&program))?;
    println!("{}", held.line());
    Ok(())
}

/// Sizes of the isolation experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Levels measured.
    pub levels: Vec<Level>,
    /// Start-and-finish samples per round of an in-process level (see
    /// [`Level::starts`] for the others).
    pub starts: usize,
    /// Rounds of the start-and-finish part.
    pub start_rounds: usize,
    /// Round trips per (level, pinning).
    pub trips: usize,
    /// Rounds of the round-trip part.
    pub trip_rounds: usize,
    /// Live units held at once, for the memory.
    pub units: usize,
    /// Fresh processes per level for the memory.
    pub memory_rounds: usize,
    /// This binary, for the re-executed and container levels and for the
    /// memory's fresh processes; without it, those levels' round trips and
    /// the memory of the in-process levels are measured in this process.
    pub program: Option<Program>,
}

impl Config {
    /// 2,000 starts per round of an in-process level (400 of a process, 100
    /// of a container), 5 rounds; 20,000 round trips per level and pinning
    /// in 5 rounds; 1,000 live units, 3 processes per level.
    pub fn full(program: Option<Program>) -> Config {
        Config {
            levels: Level::ALL.to_vec(),
            starts: 2_000,
            start_rounds: 5,
            trips: 20_000,
            trip_rounds: 5,
            units: 1_000,
            memory_rounds: 3,
            program,
        }
    }

    /// 200 starts per round (10 containers), 2 rounds; 2,000 round trips
    /// in 2 rounds; 100 live units, one process per level.
    pub fn quick(program: Option<Program>) -> Config {
        Config {
            starts: 200,
            start_rounds: 2,
            trips: 2_000,
            trip_rounds: 2,
            units: 100,
            memory_rounds: 1,
            ..Config::full(program)
        }
    }

    /// [`full`](Self::full) or [`quick`](Self::quick).
    pub fn of(size: Size, program: Option<Program>) -> Config {
        match size {
            Size::Full => Config::full(program),
            Size::Quick => Config::quick(program),
        }
    }
}

/// The parts of the experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// Start and finish one.
    Start,
    /// A round trip to a running one.
    RoundTrip,
    /// What live ones hold.
    Memory,
}

impl Part {
    /// All three, in table order.
    pub const ALL: [Part; 3] = [Part::Start, Part::RoundTrip, Part::Memory];

    /// Its name in the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Part::Start => "start",
            Part::RoundTrip => "roundtrip",
            Part::Memory => "memory",
        }
    }
}

/// One level's distribution in one part and pinning.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyRow {
    /// The level.
    pub level: Level,
    /// Unpinned or pinned (start: unpinned).
    pub pinning: Pinning,
    /// Percentiles, in nanoseconds.
    pub percentiles: Percentiles,
    /// The mean, in nanoseconds.
    pub mean: f64,
}

/// One fresh process's memory measurement of one level.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryRow {
    /// The level.
    pub level: Level,
    /// The round (fresh process), from 0.
    pub round: usize,
    /// What it held.
    pub held: Held,
}

/// A level that could not be measured in a part.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The part.
    pub part: Part,
    /// The level.
    pub level: Level,
    /// The pinning (start: unpinned).
    pub pinning: Pinning,
    /// What went wrong.
    pub error: String,
}

/// Every measurement of the ladder.
#[derive(Debug, Clone)]
pub struct IsolationOutcome {
    /// The sizes it ran with.
    pub config: Config,
    /// Start and finish, one row per level.
    pub starts: Vec<LatencyRow>,
    /// Round trips, one row per (level, pinning).
    pub trips: Vec<LatencyRow>,
    /// Memory, one row per (level, round).
    pub memory: Vec<MemoryRow>,
    /// What could not be measured.
    pub failures: Vec<Failure>,
}

struct Subject<T> {
    level: Level,
    pinning: Pinning,
    unit: T,
    histogram: Histogram<u64>,
}

fn run_starts(
    config: &Config,
    bar: &ProgressBar,
    failures: &mut Vec<Failure>,
) -> anyhow::Result<Vec<LatencyRow>> {
    let mut subjects = Vec::new();
    for &level in &config.levels {
        let started = Starter::new(level, config.program.as_ref()).and_then(|mut starter| {
            let mut warm = latency_histogram();
            starter.sample((level.starts(config.starts) / 10).max(1), &mut warm)?;
            Ok(starter)
        });
        match started {
            Ok(unit) => subjects.push(Subject {
                level,
                pinning: Pinning::Unpinned,
                unit,
                histogram: latency_histogram(),
            }),
            Err(error) => failures.push(Failure {
                part: Part::Start,
                level,
                pinning: Pinning::Unpinned,
                error: format!("{error:#}"),
            }),
        }
        bar.inc(1);
    }
    let count = subjects.len();
    for round in 0..config.start_rounds {
        for position in 0..count {
            let subject = &mut subjects[rotated(round, position, count)];
            bar.set_message(format!("start {}", subject.level));
            let n = subject.level.starts(config.starts);
            subject
                .unit
                .sample(n, &mut subject.histogram)
                .with_context(|| format!("starting {}s, round {round}", subject.level))?;
            bar.inc(1);
        }
    }
    Ok(subjects
        .into_iter()
        .map(|s| LatencyRow {
            level: s.level,
            pinning: s.pinning,
            percentiles: Percentiles::of(&s.histogram),
            mean: s.histogram.mean(),
        })
        .collect())
}

fn run_trips(
    config: &Config,
    bar: &ProgressBar,
    failures: &mut Vec<Failure>,
) -> anyhow::Result<Vec<LatencyRow>> {
    let rounds = config.trip_rounds.max(1);
    let per_round = config.trips.div_ceil(rounds).max(1);
    let mut subjects = Vec::new();
    for pinning in Pinning::BOTH {
        // Partners started while pinned (threads, children, containers)
        // stay pinned.
        let _guard = pinning.apply_partner()?;
        for &level in &config.levels {
            if level.needs_program() && config.program.is_none() {
                continue;
            }
            match Partner::start(level, config.program.as_ref()) {
                Ok(unit) => subjects.push(Subject {
                    level,
                    pinning,
                    unit: (unit, 0u64),
                    histogram: latency_histogram(),
                }),
                Err(error) => failures.push(Failure {
                    part: Part::RoundTrip,
                    level,
                    pinning,
                    error: format!("{error:#}"),
                }),
            }
            bar.inc(1);
        }
    }
    for subject in &mut subjects {
        let _guard = subject.pinning.apply()?;
        let (partner, next) = &mut subject.unit;
        partner.sample(
            (per_round / 10).clamp(10, 1000),
            &mut subject.histogram,
            next,
        )?;
        subject.histogram.reset();
    }
    let count = subjects.len();
    for round in 0..rounds {
        for position in 0..count {
            let subject = &mut subjects[rotated(round, position, count)];
            bar.set_message(format!("round trip {} {}", subject.level, subject.pinning));
            let _guard = subject.pinning.apply()?;
            let (partner, next) = &mut subject.unit;
            partner
                .sample(per_round, &mut subject.histogram, next)
                .with_context(|| format!("round trips to a {}", subject.level))?;
            bar.inc(1);
        }
    }
    let mut rows = Vec::new();
    for subject in subjects {
        rows.push(LatencyRow {
            level: subject.level,
            pinning: subject.pinning,
            percentiles: Percentiles::of(&subject.histogram),
            mean: subject.histogram.mean(),
        });
        let (partner, _) = subject.unit;
        partner
            .finish()
            .with_context(|| format!("stopping the {} partner", subject.level))?;
    }
    Ok(rows)
}

/// Runs one memory measurement: in a fresh process when there is a
/// program, else here.
fn measure_memory(config: &Config, level: Level) -> anyhow::Result<Held> {
    let Some(program) = &config.program else {
        return hold(level, config.units, None);
    };
    let output = program
        .memory(level, config.units)
        .output()
        .with_context(|| format!("running {}", program.path.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!(
            "the memory process for {level}: {}: {}",
            output.status,
            stderr.trim()
        );
    }
    let line = stdout
        .lines()
        .last()
        .context("no line from the memory process")?;
    Held::from_line(config.units, line)
}

fn run_memory(config: &Config, bar: &ProgressBar, failures: &mut Vec<Failure>) -> Vec<MemoryRow> {
    let levels: Vec<Level> = config
        .levels
        .iter()
        .copied()
        .filter(|level| config.program.is_some() || !level.needs_program())
        .collect();
    let count = levels.len();
    let mut rows = Vec::new();
    for round in 0..config.memory_rounds {
        for position in 0..count {
            let level = levels[rotated(round, position, count)];
            bar.set_message(format!("{} live {level}s", config.units));
            match measure_memory(config, level) {
                Ok(held) => rows.push(MemoryRow { level, round, held }),
                Err(error) => failures.push(Failure {
                    part: Part::Memory,
                    level,
                    pinning: Pinning::Unpinned,
                    error: format!("round {round}: {error:#}"),
                }),
            }
            bar.inc(1);
        }
    }
    rows
}

/// Measures every level: starts, round trips (unpinned and pinned),
/// memory. A level that cannot be measured in a part (no container here,
/// for instance) is recorded as a [`Failure`] and the others go on.
///
/// # Errors
///
/// If pinning fails, or a unit that started fails later.
pub fn run(config: &Config, bar: &ProgressBar) -> anyhow::Result<IsolationOutcome> {
    let levels = config.levels.len();
    let steps = levels * (1 + config.start_rounds)
        + levels * 2 * (1 + config.trip_rounds)
        + levels * config.memory_rounds;
    bar.set_length(steps as u64);
    let mut failures = Vec::new();
    let starts = run_starts(config, bar, &mut failures)?;
    let trips = run_trips(config, bar, &mut failures)?;
    let memory = run_memory(config, bar, &mut failures);
    Ok(IsolationOutcome {
        config: config.clone(),
        starts,
        trips,
        memory,
        failures,
    })
}

impl IsolationOutcome {
    /// The CSV columns: `part` is `start`, `roundtrip` or `memory`; the
    /// percentiles (nanoseconds) are empty on memory rows, `round`,
    /// `units` (held) and `bytes` (held by all of them) on the others;
    /// `count` is the samples of a distribution, the units asked for on a
    /// memory row. A row with an `error` and no values is a level that
    /// could not be measured.
    pub const HEADER: [&'static str; 13] = [
        "part", "level", "pinning", "round", "count", "p50_ns", "p99_ns", "p999_ns", "max_ns",
        "mean_ns", "units", "bytes", "error",
    ];

    /// The start-and-finish percentiles of `level`.
    pub fn start(&self, level: Level) -> Option<Percentiles> {
        self.starts
            .iter()
            .find(|r| r.level == level)
            .map(|r| r.percentiles)
    }

    /// The round-trip percentiles of `level` under `pinning`.
    pub fn trip(&self, level: Level, pinning: Pinning) -> Option<Percentiles> {
        self.trips
            .iter()
            .find(|r| r.level == level && r.pinning == pinning)
            .map(|r| r.percentiles)
    }

    /// The median, over the fresh processes, of the bytes per unit that
    /// `level`'s live units held.
    pub fn bytes_per_unit(&self, level: Level) -> Option<f64> {
        median(
            self.memory
                .iter()
                .filter(|r| r.level == level)
                .filter_map(|r| r.held.per_unit())
                .collect::<Vec<f64>>(),
        )
    }

    /// Reads the rows of a CSV written from [`table`](Outcome::table) back.
    /// The levels, the units and the memory rounds come from the rows; the
    /// other sizes, which the CSV does not record, are [`Config::full`]'s.
    ///
    /// # Errors
    ///
    /// If `table` is not such a CSV.
    pub fn from_table(table: &Table) -> anyhow::Result<IsolationOutcome> {
        let header = &IsolationOutcome::HEADER;
        expect_header(table, header)?;
        let mut outcome = IsolationOutcome {
            config: Config::full(None),
            starts: Vec::new(),
            trips: Vec::new(),
            memory: Vec::new(),
            failures: Vec::new(),
        };
        for f in table.rows() {
            let part = named(&Part::ALL, Part::name, &f[0])?;
            let level = named(&Level::ALL, Level::name, &f[1])?;
            let pinning = if f[2].is_empty() {
                Pinning::Unpinned
            } else {
                Pinning::from_name(&f[2]).ok_or_else(|| anyhow!("pinning {:?}", f[2]))?
            };
            let error = f[12].clone();
            if part == Part::Memory && !f[10].is_empty() {
                outcome.memory.push(MemoryRow {
                    level,
                    round: field(f, 3, header)?,
                    held: Held {
                        wanted: field(f, 4, header)?,
                        held: field(f, 10, header)?,
                        bytes: field(f, 11, header)?,
                        error: (!error.is_empty()).then_some(error),
                    },
                });
            } else if f[5].is_empty() {
                outcome.failures.push(Failure {
                    part,
                    level,
                    pinning,
                    error,
                });
            } else {
                let row = LatencyRow {
                    level,
                    pinning,
                    percentiles: Percentiles {
                        count: field(f, 4, header)?,
                        p50: field(f, 5, header)?,
                        p99: field(f, 6, header)?,
                        p999: field(f, 7, header)?,
                        max: field(f, 8, header)?,
                    },
                    mean: field(f, 9, header)?,
                };
                match part {
                    Part::Start => outcome.starts.push(row),
                    _ => outcome.trips.push(row),
                }
            }
        }
        let seen = |level: &Level| {
            outcome.starts.iter().any(|r| r.level == *level)
                || outcome.trips.iter().any(|r| r.level == *level)
                || outcome.memory.iter().any(|r| r.level == *level)
                || outcome.failures.iter().any(|r| r.level == *level)
        };
        outcome.config.levels = Level::ALL.into_iter().filter(seen).collect();
        if let Some(first) = outcome.memory.first() {
            outcome.config.units = first.held.wanted;
        }
        outcome.config.memory_rounds = outcome
            .memory
            .iter()
            .map(|r| r.round + 1)
            .max()
            .unwrap_or(0);
        Ok(outcome)
    }

    /// A cell of the summary: microseconds, or "-".
    fn us(p: Option<Percentiles>, pick: fn(&Percentiles) -> u64) -> String {
        p.map_or("-".to_owned(), |p| micros(pick(&p) as f64 / 1e3))
    }
}

/// Microseconds as the plot and the summary print them: "0.08", "9.9",
/// "43.7", "239".
fn micros(us: f64) -> String {
    if us < 1.0 {
        format!("{us:.2}")
    } else {
        super::latency::micros(us)
    }
}

/// A ratio with two significant digits or more: "0.029", "0.57", "2.5",
/// "144".
fn ratio_text(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}")
    } else if r >= 1.0 {
        format!("{r:.1}")
    } else if r.is_nan() || r <= 0.0 {
        format!("{r:.2}")
    } else {
        let digits = (1 - r.log10().floor().max(-10.0) as i32).clamp(2, 6) as usize;
        format!("{r:.digits$}")
    }
}

/// KiB with a sensible precision: "0.58", "3.9", "61", "1234".
fn kib(k: f64) -> String {
    if k < 1.0 {
        format!("{k:.2}")
    } else if k < 10.0 {
        format!("{k:.1}")
    } else {
        format!("{k:.0}")
    }
}

impl Outcome for IsolationOutcome {
    fn name(&self) -> &'static str {
        "isolation"
    }

    fn table(&self) -> Table {
        let mut table = Table::new(IsolationOutcome::HEADER);
        let latency = |table: &mut Table, part: Part, r: &LatencyRow| {
            let p = &r.percentiles;
            table.push([
                part.name().to_owned(),
                r.level.name().to_owned(),
                r.pinning.name().to_owned(),
                String::new(),
                p.count.to_string(),
                p.p50.to_string(),
                p.p99.to_string(),
                p.p999.to_string(),
                p.max.to_string(),
                format!("{:.0}", r.mean),
                String::new(),
                String::new(),
                String::new(),
            ]);
        };
        for r in &self.starts {
            latency(&mut table, Part::Start, r);
        }
        let mut trips: Vec<&LatencyRow> = self.trips.iter().collect();
        trips.sort_by_key(|r| r.pinning);
        for r in trips {
            latency(&mut table, Part::RoundTrip, r);
        }
        for r in &self.memory {
            table.push([
                Part::Memory.name().to_owned(),
                r.level.name().to_owned(),
                String::new(),
                r.round.to_string(),
                r.held.wanted.to_string(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                r.held.held.to_string(),
                r.held.bytes.to_string(),
                r.held.error.clone().unwrap_or_default(),
            ]);
        }
        for failure in &self.failures {
            let mut row = vec![String::new(); IsolationOutcome::HEADER.len()];
            row[0] = failure.part.name().to_owned();
            row[1] = failure.level.name().to_owned();
            row[2] = failure.pinning.name().to_owned();
            row[12].clone_from(&failure.error);
            table.push(row);
        }
        table
    }

    fn plot(&self, path: &Path) -> anyhow::Result<()> {
        let levels = &self.config.levels;
        let series = |get: &dyn Fn(Level) -> Option<Percentiles>| {
            let pick = |name: &str, pick: fn(&Percentiles) -> u64| Series {
                name: name.to_owned(),
                values: levels
                    .iter()
                    .map(|&l| get(l).map(|p| pick(&p) as f64 / 1e3))
                    .collect(),
            };
            vec![
                pick("median (p50)", |p| p.p50),
                pick("99th percentile (p99)", |p| p.p99),
            ]
        };
        let mut panels = vec![Panel {
            title: "start one and wait until it has finished (unpinned)".to_owned(),
            rows: levels.iter().map(|l| l.label().to_owned()).collect(),
            series: series(&|l| self.start(l)),
        }];
        for (pinning, title) in [
            (
                Pinning::Pinned,
                "a round trip to a running one, pinned (both ends on one CPU)",
            ),
            (
                Pinning::Unpinned,
                "a round trip to a running one, unpinned (the scheduler's choice)",
            ),
        ] {
            panels.push(Panel {
                title: title.to_owned(),
                rows: levels.iter().map(|l| l.trip_label().to_owned()).collect(),
                series: series(&|l| self.trip(l, pinning)),
            });
        }
        let times = Rows {
            title: "The isolation ladder: start one, talk to a running one",
            axis: "microseconds",
            scale: Scale::Log10,
            mark: Mark::Dot,
            value: micros,
        };
        let memory = Panel {
            title: String::new(),
            rows: levels.iter().map(|l| l.live_label().to_owned()).collect(),
            series: vec![Series {
                name: String::new(),
                values: levels
                    .iter()
                    .map(|&l| self.bytes_per_unit(l).map(|b| b / 1024.0))
                    .collect(),
            }],
        };
        let title = format!(
            "The memory {} live ones hold, per unit",
            thousands(self.config.units)
        );
        let held = Rows {
            title: &title,
            axis: "KiB per unit",
            scale: Scale::Log10,
            mark: Mark::Dot,
            value: kib,
        };
        stacked(path, &[(&times, &panels), (&held, &[memory])])
    }

    fn summary(&self) -> String {
        let c = &self.config;
        let mut out = format!(
            "## 8. The isolation ladder\n\nStart and finish one, one at a time ({} per round for \
             an in-process level, a fifth for a process, a twentieth for a container, {} \
             rounds, unpinned); a round trip of a `u64` to a running one ({} per level and \
             pinning, {} rounds); the memory {} live ones hold, each level in {} fresh \
             process(es): RSS growth for tasks, threads and instances, growth of the PSS summed \
             over the holding process and its descendants for processes and containers. \
             Microseconds; KiB per unit (median over the processes).\n\n\
             | level | start p50 | p99 | pinned trip p50 | p99 | unpinned trip p50 | p99 | KiB per unit |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|\n",
            c.starts, c.start_rounds, c.trips, c.trip_rounds, c.units, c.memory_rounds
        );
        for &level in &c.levels {
            let start = self.start(level);
            let pinned = self.trip(level, Pinning::Pinned);
            let unpinned = self.trip(level, Pinning::Unpinned);
            out.push_str(&format!(
                "| {level} | {} | {} | {} | {} | {} | {} | {} |\n",
                Self::us(start, |p| p.p50),
                Self::us(start, |p| p.p99),
                Self::us(pinned, |p| p.p50),
                Self::us(pinned, |p| p.p99),
                Self::us(unpinned, |p| p.p50),
                Self::us(unpinned, |p| p.p99),
                self.bytes_per_unit(level)
                    .map_or("-".to_owned(), |b| kib(b / 1024.0)),
            ));
        }
        out.push_str(
            "\nEach level against the one above it (p50 ratios, from this run):\n\n\
             | ratio | start | pinned trip | memory |\n|---|---:|---:|---:|\n",
        );
        for pair in c.levels.windows(2) {
            let (a, b) = (pair[1], pair[0]);
            let ratio = |x: Option<f64>, y: Option<f64>| match (x, y) {
                (Some(x), Some(y)) if y > 0.0 => ratio_text(x / y),
                _ => "-".to_owned(),
            };
            let p50 = |p: Option<Percentiles>| p.map(|p| p.p50 as f64);
            out.push_str(&format!(
                "| {a} / {b} | {} | {} | {} |\n",
                ratio(p50(self.start(a)), p50(self.start(b))),
                ratio(
                    p50(self.trip(a, Pinning::Pinned)),
                    p50(self.trip(b, Pinning::Pinned))
                ),
                ratio(self.bytes_per_unit(a), self.bytes_per_unit(b)),
            ));
            if (a, b) == (Level::Container, Level::Reexec) {
                // The container starts `/bin/true`, the re-executed level
                // this binary: its start against `process` is like for like.
                out.push_str(&format!(
                    "| container / process (both start `/bin/true`) | {} | - | - |\n",
                    ratio(p50(self.start(a)), p50(self.start(Level::Process))),
                ));
            }
        }
        let short: Vec<&MemoryRow> = self
            .memory
            .iter()
            .filter(|r| r.held.error.is_some())
            .collect();
        if !short.is_empty() || !self.failures.is_empty() {
            out.push_str("\nNot measured, or fewer units than asked for:\n\n");
            for r in short {
                out.push_str(&format!(
                    "- memory, {} (round {}): {} of {} held: {}\n",
                    r.level,
                    r.round,
                    r.held.held,
                    r.held.wanted,
                    r.held.error.as_deref().unwrap_or("")
                ));
            }
            for f in &self.failures {
                out.push_str(&format!(
                    "- {}, {} ({}): {}\n",
                    f.part.name(),
                    f.level,
                    f.pinning,
                    f.error
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{hold, ratio_text, run, Config, Guest, Held, IsolationOutcome, Level, Part};
    use crate::experiments::Outcome;
    use crate::pin::Pinning;
    use indicatif::ProgressBar;

    #[test]
    fn the_guest_echoes_through_its_memory() {
        let guest = Guest::new().expect("compiling");
        let mut a = guest.instance().expect("instantiating");
        let mut b = guest.instance().expect("instantiating");
        assert_eq!(a.echo(u64::MAX - 1).expect("calling"), u64::MAX - 1);
        assert_eq!(b.echo(3).expect("calling"), 3);
    }

    #[test]
    fn small_ratios_keep_their_digits() {
        let texts: Vec<String> = [0.0, 0.0291, 0.57, 2.54, 144.2].map(ratio_text).to_vec();
        assert_eq!(texts, ["0.00", "0.029", "0.57", "2.5", "144"]);
    }

    #[test]
    fn held_lines_round_trip() {
        let held = Held {
            wanted: 10,
            held: 7,
            bytes: 123_456,
            error: Some("unit 8: no, \"really\"".into()),
        };
        assert_eq!(Held::from_line(10, &held.line()).expect("parsing"), held);
        assert_eq!(held.per_unit(), Some(123_456.0 / 7.0));
        assert!(Held::from_line(1, "1,2").is_err());
    }

    #[test]
    fn live_units_hold_memory() {
        for level in [Level::Task, Level::Thread, Level::Wasm, Level::Process] {
            let held = std::thread::spawn(move || hold(level, 20, None))
                .join()
                .expect("the holding thread")
                .expect("holding");
            assert_eq!((held.held, held.error.as_deref()), (20, None), "{level}");
        }
    }

    #[test]
    fn a_tiny_run_without_the_report_binary() {
        let config = Config {
            levels: vec![Level::Task, Level::Thread, Level::Wasm, Level::Process],
            starts: 10,
            start_rounds: 2,
            trips: 40,
            trip_rounds: 2,
            units: 5,
            memory_rounds: 1,
            program: None,
        };
        let outcome = std::thread::spawn(move || run(&config, &ProgressBar::hidden()))
            .join()
            .expect("the measuring thread")
            .expect("measuring");
        assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
        assert_eq!(outcome.starts.len(), 4);
        assert_eq!(outcome.trips.len(), 8);
        assert_eq!(outcome.memory.len(), 4);
        let start = outcome.start(Level::Process).expect("measured");
        assert_eq!(start.count, 2 * 2, "a fifth of 10, twice");
        assert_eq!(outcome.start(Level::Task).expect("measured").count, 20);
        assert!(outcome.trip(Level::Wasm, Pinning::Pinned).is_some());
        let summary = outcome.summary();
        assert!(summary.contains("| thread / task |"), "{summary}");
        let back = IsolationOutcome::from_table(&outcome.table()).expect("reading back");
        assert_eq!(back.table(), outcome.table());
        assert_eq!(back.config.levels.len(), 4);
        assert_eq!(back.config.units, 5);
    }

    #[test]
    fn a_level_that_cannot_start_is_a_failure_not_an_abort() {
        // The re-executed level needs the report binary, which unit tests
        // do not have.
        let config = Config {
            levels: vec![Level::Thread, Level::Reexec],
            starts: 5,
            start_rounds: 1,
            trips: 10,
            trip_rounds: 1,
            units: 2,
            memory_rounds: 1,
            program: None,
        };
        let outcome = std::thread::spawn(move || run(&config, &ProgressBar::hidden()))
            .join()
            .expect("the measuring thread")
            .expect("measuring");
        assert_eq!(outcome.failures.len(), 1, "{:?}", outcome.failures);
        assert_eq!(outcome.failures[0].part, Part::Start);
        assert!(outcome.start(Level::Thread).is_some());
        assert!(outcome.summary().contains("start, reexec (unpinned)"));
        let back = IsolationOutcome::from_table(&outcome.table()).expect("reading back");
        assert_eq!(back.failures, outcome.failures);
    }
}
