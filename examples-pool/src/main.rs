//! examples-pool: thread pools in Rust, done right.
//!
//! Each demo is a module of its own (`src/<demo>.rs`) with one idea: ptm's
//! `ThreadPool` and `WorkerThread`, what a panicking job does, back
//! pressure with a bounded queue, scoped jobs that borrow and fork-join
//! with joins that help, a `JobHandle` awaited from async code and a
//! shutdown with a deadline, rayon against the pool and one thread, and
//! the Rust Book's `Mutex<Receiver>` pool, a common first attempt: shown
//! hanging in `Drop`, fixed, and timed.
//!
//! ```sh
//! cargo run -p examples-pool                    # every demo, in order
//! cargo run -p examples-pool -- parallel --n 50000
//! cargo run -p examples-pool -- --help          # the list of demos
//! ```

mod r#async;
mod backpressure;
mod naive;
mod panics;
mod parallel;
mod pool;
mod scope;
mod worker;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, Subcommand};
use nix::sys::signal::{signal, SigHandler, Signal};

/// Thread pools in Rust, done right: run every demo, or one by name.
#[derive(Debug, Parser)]
#[command(name = "examples-pool", version)]
struct Cli {
    /// The demo to run; without one, every demo runs in order.
    #[command(subcommand)]
    demo: Option<Demo>,
}

/// The demos, in the order a no-argument run shows them.
#[derive(Debug, Subcommand)]
enum Demo {
    /// ThreadPool: execute, spawn + join, stats, graceful shutdown
    Pool,
    /// WorkerThread: one thread, a queue, a clean stop
    Worker,
    /// A panicking job does not kill the pool
    Panics,
    /// A bounded queue: try_execute refuses, execute waits
    Backpressure(backpressure::Args),
    /// Scoped jobs that borrow; fork-join whose joins run queued jobs
    Scope,
    /// Await a JobHandle; shutdown_timeout; worker start/stop hooks
    Async,
    /// Counting primes with rayon, the ptm pool and one thread, timed
    Parallel(parallel::Args),
    /// The Rust Book's pool: its Drop hangs; fixed; timed against ptm
    Naive,
}

/// Gives SIGPIPE back its default action, so that a closed stdout ends the
/// program quietly (`examples-pool | head -1`).
///
/// Rust starts every program with SIGPIPE ignored: a write into a pipe
/// whose reader is gone then fails with `EPIPE`, and `println!` panics on
/// it ("failed printing to stdout: Broken pipe", exit code 101). Command-line
/// tools (`cat`, `ls`, `grep`) keep the default action instead: the first
/// write after the reader left ends the process, silently, status 141 in a
/// shell (128 + 13), which is what a pipeline expects of them. It stops
/// every thread at once, a demo's workers included, where catching `EPIPE`
/// would mean checking every `println!`.
fn die_quietly_on_a_closed_stdout() -> Result<()> {
    // SAFETY: SIG_DFL installs no handler, so no code of ours can run in a
    // signal context; main calls this first, before it starts any thread.
    unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }
        .context("restoring SIGPIPE's default action")?;
    Ok(())
}

fn main() -> Result<()> {
    die_quietly_on_a_closed_stdout()?;
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if err.kind() == clap::error::ErrorKind::InvalidSubcommand => {
            // Printing can only fail if stderr is gone; nothing to report then.
            let _ = err.print();
            eprintln!("valid demos: {}", demo_names().join(", "));
            std::process::exit(2);
        }
        // --help and --version exit 0, usage errors exit 2.
        Err(err) => err.exit(),
    };
    match cli.demo {
        Some(demo) => run(demo),
        None => run_all(),
    }
}

/// The subcommand names, in declaration order.
fn demo_names() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect()
}

/// Runs one demo.
fn run(demo: Demo) -> Result<()> {
    match demo {
        Demo::Pool => pool::run(),
        Demo::Worker => worker::run(),
        Demo::Panics => panics::run(),
        Demo::Backpressure(args) => backpressure::run(&args),
        Demo::Scope => scope::run(),
        Demo::Async => r#async::run(),
        Demo::Parallel(args) => parallel::run(&args),
        Demo::Naive => naive::run(),
    }
}

/// Runs every demo in order, each with its default (small) sizes: the
/// defaults come from parsing the bare demo name, as on the command line.
fn run_all() -> Result<()> {
    for (index, name) in demo_names().iter().enumerate() {
        if index > 0 {
            println!();
        }
        let cli = Cli::try_parse_from(["examples-pool", name.as_str()])
            .with_context(|| {
                format!("parsing the default flags of demo `{name}`")
            })?;
        if let Some(demo) = cli.demo {
            run(demo).with_context(|| format!("demo `{name}` failed"))?;
        }
    }
    Ok(())
}

/// Appended to a timing printed by a debug build, empty in a release one.
pub const DEBUG_NOTE: &str = if cfg!(debug_assertions) {
    "(debug build: not representative; use --release)"
} else {
    ""
};

/// Runs `f` with a panic hook that prints one line per panic, the thread's
/// name and the message (the default hook adds a note on backtraces, or a
/// whole backtrace under `RUST_BACKTRACE`), then puts the old hook back.
fn with_one_line_panics<T>(f: impl FnOnce() -> T) -> T {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let current = std::thread::current();
        let message = info.payload_as_str().unwrap_or("?");
        eprintln!("panic hook: {}: {message}", current.name().unwrap_or("?"));
    }));
    let value = f();
    std::panic::set_hook(default_hook);
    value
}

/// Test helper: runs `f` on a helper thread and returns its value, or fails
/// the test naming `what` if it has not returned within 10 s. A regression
/// that hangs (a shutdown that never ends) then fails the test instead of hanging it;
/// the stuck thread is left behind and ends with the test process.
#[cfg(test)]
fn within_10s<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name(what.to_owned())
        .spawn(move || tx.send(f()));
    spawned.expect("the OS starts a helper thread");
    match rx.recv_timeout(std::time::Duration::from_secs(10)) {
        Ok(value) => value,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: still running after 10 s (hung?)")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            panic!("{what}: panicked")
        }
    }
}
