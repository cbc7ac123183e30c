//! examples-threads: threads in Rust, done right.
//!
//! One binary, one module per demo. Each demo answers a section of the seed
//! tutorials (`processes-threads-and-containers.md` and
//! `process-and-thread-management.md`) and says what the seed got wrong.
//!
//! ```sh
//! cargo run -p examples-threads                 # every demo, in order
//! cargo run -p examples-threads -- spawn        # one demo
//! cargo run -p examples-threads -- cost --max 8 --step 1 --mode cpu
//! cargo run -p examples-threads -- --help       # the list of demos
//! ```

mod closures;
mod cost;
mod r#move;
mod parse;
mod spawn;
mod sync;
mod terms;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, Subcommand};
use nix::sys::signal::{signal, SigHandler, Signal};

/// Threads in Rust, done right: run every demo, or name one.
#[derive(Debug, Parser)]
#[command(name = "examples-threads", version)]
struct Cli {
    /// The demo to run; without one, every demo runs in order.
    #[command(subcommand)]
    demo: Option<Demo>,
}

/// The demos, in the order a no-argument run shows them.
#[derive(Debug, Subcommand)]
enum Demo {
    /// Spawn threads, pass data in, join to get values back, time a 300 ms sleeper.
    Spawn,
    /// Why `spawn` needs `move` (E0373), the `move` fix, and `thread::scope` borrowing.
    Move,
    /// Closures vs fn pointers: Fn, FnMut, FnOnce, and their sizes in memory.
    Closures,
    /// Mutex counter, RwLock readers and writer, Condvar hand-off consuming each value once.
    Sync,
    /// The seed's Operation parser as a for loop and as map/collect: same result.
    Parse(parse::Args),
    /// The cost of threads: wall time of n sleeping, spinning or CPU-burning threads.
    Cost(cost::Args),
    /// The seed's terms, running: executable, process, threads, coroutines, non-blocking I/O.
    Terms,
}

/// Runs one demo.
fn run(demo: Demo) -> anyhow::Result<()> {
    match demo {
        Demo::Spawn => spawn::run(),
        Demo::Move => r#move::run(),
        Demo::Closures => closures::run(),
        Demo::Sync => sync::run(),
        Demo::Parse(args) => parse::run(&args),
        Demo::Cost(args) if args.max < args.step => {
            // A clap usage error (exit 2), like any other bad flag.
            let msg = format!(
                "--max ({}) must be at least --step ({})",
                args.max, args.step
            );
            let mut cmd = Cli::command();
            cmd.build(); // gives the subcommand its full name for the usage line
            let sub = cmd
                .find_subcommand_mut("cost")
                .context("no `cost` subcommand")?;
            sub.error(clap::error::ErrorKind::ArgumentConflict, msg)
                .exit()
        }
        Demo::Cost(args) => cost::run(&args),
        Demo::Terms => terms::run(),
    }
}

/// Names and one-line descriptions of the demos, in declaration order.
fn demos() -> Vec<(String, String)> {
    Cli::command()
        .get_subcommands()
        .filter(|sub| sub.get_name() != "help")
        .map(|sub| {
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            (sub.get_name().to_owned(), about)
        })
        .collect()
}

/// Gives SIGPIPE back its default action, so that a closed stdout ends the
/// program quietly (`examples-threads | head -1`).
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

/// Parses the command line, then runs the demo it names, or every demo in order.
///
/// # Errors
/// A demo failed (a thread could not be spawned or panicked, a clock could not be
/// read); the error names the demo and the stage. Usage errors exit with code 2.
fn main() -> anyhow::Result<()> {
    die_quietly_on_a_closed_stdout()?;
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if err.kind() == clap::error::ErrorKind::InvalidSubcommand => {
            // Printing to stderr can only fail if stderr is gone; nothing to report to then.
            let _ = err.print();
            let names: Vec<String> = demos().into_iter().map(|(name, _)| name).collect();
            eprintln!("valid demos: {}", names.join(", "));
            std::process::exit(2);
        }
        Err(err) => err.exit(),
    };
    match cli.demo {
        Some(demo) => run(demo),
        None => {
            for (name, about) in demos() {
                println!("=== {name}: {about}");
                // Parsing just the name gives the demo with clap's own defaults.
                let parsed = Cli::try_parse_from(["examples-threads", name.as_str()])
                    .with_context(|| format!("building the default arguments of demo `{name}`"))?;
                let demo = parsed
                    .demo
                    .with_context(|| format!("demo `{name}` did not parse"))?;
                run(demo).with_context(|| format!("demo `{name}` failed"))?;
                println!();
            }
            Ok(())
        }
    }
}
