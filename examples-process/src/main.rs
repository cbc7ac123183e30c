//! # examples-process: processes in Rust, done right
//!
//! The `process` topic of ptm: one binary, one module per demo.
//!
//! ```sh
//! cargo run -p examples-process                  # every demo, in order
//! cargo run -p examples-process -- <demo> [flags] # one demo
//! cargo run -p examples-process -- --help         # the list of demos
//! ```
//!
//! Each demo is logic that returns values (unit-tested in its module) and a
//! small `run` that prints them. `os` and `roundtrip` are helpers, not demos.

mod child;
mod communicate;
mod container;
mod fork;
mod info;
mod os;
mod pipe;
mod roundtrip;
mod shm;
mod signals;
mod socket;
mod spawn;
mod switch;
mod wasm;
mod wasm_limits;

use anyhow::{Context, Result};
use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use nix::sys::signal::{signal, SigHandler, Signal};

/// Processes and IPC in Rust, one demo each (no demo: all, in order).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// The demo to run (default: all of them).
    #[command(subcommand)]
    demo: Option<Demo>,
}

/// The demos, in the order a run without arguments shows them. Each
/// one-line summary is also the demo's header (`== spawn: ... ==`).
#[derive(Debug, Clone, Subcommand)]
enum Demo {
    /// ProcessManager: spawn, wait_all, output, kill_all without zombies
    Spawn,
    /// ProcessInfo: pid, args, env, current dir; threads share the pid
    Info,
    /// Pipeline: a | b | c without a shell, every stage reaped and checked
    Pipe,
    /// Megabytes in and out of a child, no deadlock: communicate
    Communicate(communicate::Args),
    /// terminate_all: SIGTERM, a grace, SIGKILL, to the whole group
    Signals(signals::Args),
    /// Process: one child, waited for with a deadline, shared, streamed
    Child(child::Args),
    /// fork, exec and waitpid; a child's crash and memory stay its own
    Fork,
    /// Round trips, thread to thread and process to process, timed
    Switch(switch::Args),
    /// MessageSocket: framed messages to a child over a socket pair
    Socket,
    /// SharedMemory: a child sums, in place, pages shared with it
    Shm,
    /// A rootless container: own files, network and limits
    Container,
    /// WebAssembly: separate linear memories; a trap is contained
    Wasm,
    /// WebAssembly fuel stops an infinite loop; a limit caps memory
    WasmLimits,
    /// Internal: copy stdin to stdout until end of file (for `switch`)
    #[command(hide = true)]
    Echo,
    /// Internal: answer framed requests on the socket on stdin (`socket`)
    #[command(hide = true)]
    SocketChild,
    /// Internal: sum the shared memory on stdin, in place (for `shm`)
    #[command(hide = true)]
    ShmChild,
    /// Internal: print this process's arguments (for `info`)
    #[command(hide = true)]
    ArgsChild(info::ArgsChild),
}

/// Runs one demo, after its header if it has one (the hidden modes that
/// other demos run as children print none).
fn run(name: &str, demo: &Demo) -> Result<()> {
    let command = Cli::command();
    let shown = command.find_subcommand(name).filter(|c| !c.is_hide_set());
    if let Some(about) = shown.and_then(|command| command.get_about()) {
        println!("== {name}: {about} ==");
    }
    match demo {
        Demo::Spawn => spawn::run(),
        Demo::Info => info::run(),
        Demo::Pipe => pipe::run(),
        Demo::Communicate(args) => communicate::run(args),
        Demo::Signals(args) => signals::run(args),
        Demo::Child(args) => child::run(args),
        Demo::Fork => fork::run(),
        Demo::Switch(args) => switch::run(args),
        Demo::Socket => socket::run(),
        Demo::Shm => shm::run(),
        Demo::Container => container::run(),
        Demo::Wasm => wasm::run(),
        Demo::WasmLimits => wasm_limits::run(),
        Demo::Echo => roundtrip::echo_stdio(),
        Demo::SocketChild => socket::child(),
        Demo::ShmChild => shm::child(),
        Demo::ArgsChild(args) => info::args_child(args),
    }
}

/// The names of the demos (hidden subcommands left out), in order.
fn demo_names() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .filter(|command| !command.is_hide_set())
        .map(|command| command.get_name().to_owned())
        .collect()
}

/// Runs every demo with its default flags, in order.
fn run_all() -> Result<()> {
    for name in demo_names() {
        // Parsing the bare name gives the demo exactly its `--help` defaults.
        let cli = Cli::try_parse_from([env!("CARGO_PKG_NAME"), name.as_str()])
            .with_context(|| {
                format!("parsing the default flags of demo `{name}`")
            })?;
        if let Some(demo) = cli.demo {
            run(&name, &demo)
                .with_context(|| format!("demo `{name}` failed"))?;
            println!();
        }
    }
    Ok(())
}

/// Gives SIGPIPE back its default action, so that a closed stdout ends the
/// program quietly (`examples-process | head -1`).
///
/// Rust starts every program with SIGPIPE ignored: a write into a pipe
/// whose reader is gone then fails with `EPIPE`, and `println!` panics on
/// it ("failed printing to stdout: Broken pipe", exit code 101). Command-line
/// tools (`cat`, `ls`, `grep`) keep the default action instead: the first
/// write after the reader left ends the process, silently, status 141 in a
/// shell (128 + 13), which is what a pipeline expects of them. It stops
/// every thread at once, a demo's workers included, where catching `EPIPE`
/// would mean checking every `println!`.
///
/// Pipes to children are the exception, and handled so: ptm's
/// `communicate` blocks SIGPIPE in the thread that writes a child's stdin,
/// `MessageSocket` sends with `MSG_NOSIGNAL`, and the demos' own writes
/// into a child's pipe (the deadlocking writer of `communicate`, `switch`'s process
/// round trips) run on threads that block SIGPIPE, so a child that closed
/// its end is an error there, not this program's end. Children start with
/// the default action too, as std gives every child.
fn die_quietly_on_a_closed_stdout() -> Result<()> {
    // SAFETY: SIG_DFL installs no handler, so no code of ours can run in a
    // signal context; main calls this first, before it starts any thread.
    unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }
        .context("restoring SIGPIPE's default action")?;
    Ok(())
}

fn main() -> Result<()> {
    die_quietly_on_a_closed_stdout()?;
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(err) if err.kind() == ErrorKind::InvalidSubcommand => {
            // Printing to stderr can only fail if stderr is gone: exit anyway.
            let _ = err.print();
            eprintln!("valid demos: {}", demo_names().join(", "));
            std::process::exit(2);
        }
        Err(err) => err.exit(),
    };
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    match (matches.subcommand_name(), cli.demo) {
        (Some(name), Some(demo)) => run(name, &demo),
        _ => run_all(),
    }
}
