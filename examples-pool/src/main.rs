//! examples-pool: thread pools in Rust, done right.
//!
//! Each demo is a module of its own (`src/<demo>.rs`) that answers a section
//! of the seed tutorials: ptm's `ThreadPool` and `WorkerThread`, what a
//! panicking job does, back pressure with a bounded queue, rayon against the
//! pool and one thread, and the seed's own `Mutex<Receiver>` pool, fixed.
//!
//! ```sh
//! cargo run -p examples-pool                    # every demo, in order
//! cargo run -p examples-pool -- parallel --n 50000
//! cargo run -p examples-pool -- --help          # the list of demos
//! ```

mod backpressure;
mod naive;
mod panics;
mod parallel;
mod pool;
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
    /// ThreadPool: execute, spawn + JobHandle::join, stats, graceful shutdown
    Pool,
    /// WorkerThread: submit tasks, stop cleanly, prove every task was processed
    Worker,
    /// A panicking job does not kill the pool: JobError, stats, workers live on
    Panics,
    /// Bounded queue: try_execute refuses with QueueFull, execute blocks
    Backpressure(backpressure::Args),
    /// The same CPU work with rayon, the ptm pool and one thread, timed
    Parallel(parallel::Args),
    /// The seed's `Mutex<Receiver>` pool fixed to shut down, timed against ThreadPool
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

/// Test helper: runs `f` on a helper thread and returns its value, or fails
/// the test naming `what` if it has not returned within 10 s. A regression
/// that hangs (the seeds' bugs do) then fails the test instead of hanging it;
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
