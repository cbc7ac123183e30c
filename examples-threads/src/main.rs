//! examples-threads: threads in Rust, done right.
//!
//! One binary, one module per demo. Each demo starts from the smallest
//! program that shows its idea, runs the common first attempt where there is
//! one, and prints values you can check. Every demo prints a header,
//! `== <demo>: <what it shows> ==`, and ends with a `notice: ` line.
//!
//! ```sh
//! cargo run -p examples-threads                 # every demo, in order
//! cargo run -p examples-threads -- spawn        # one demo
//! cargo run -p examples-threads -- cost --max 8 --step 1 --mode cpu
//! cargo run -p examples-threads -- --help       # the list of demos
//! ```

mod atomics;
mod closures;
mod cost;
mod r#move;
mod parse;
mod spawn;
mod sync;
mod terms;

use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
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
    /// Start threads, hand them data, join them to get values back.
    Spawn,
    /// Why spawn needs `move` (E0373); `move`, `Arc` and `thread::scope`.
    Move,
    /// Closures and fn pointers: Fn, FnMut, FnOnce, and their sizes.
    Closures,
    /// Mutex, RwLock, and a Condvar hand-off that loses no value.
    Sync,
    /// Memory ordering: Relaxed, Acquire/Release, a SeqCst fence.
    Atomics,
    /// A parser as a for loop and as map/collect: the same result.
    Parse(parse::Args),
    /// What n threads cost: sleeping, spinning or burning CPU.
    Cost(cost::Args),
    /// Executable, process, threads, coroutines, non-blocking I/O.
    Terms,
}

/// Runs one demo.
fn run(demo: Demo) -> anyhow::Result<()> {
    match demo {
        Demo::Spawn => spawn::run(),
        Demo::Move => r#move::run(),
        Demo::Closures => closures::run(),
        Demo::Sync => sync::run(),
        Demo::Atomics => atomics::run(),
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

/// The first line a demo prints: `== <demo>: <what it shows> ==`, from its
/// line in `--help`.
fn header(name: &str) -> String {
    let about = demos().into_iter().find(|(demo, _)| demo == name);
    let about = about.map(|(_, about)| about).unwrap_or_default();
    format!("== {name}: {about} ==")
}

/// Parses the command line, then runs the demo it names, or every demo in order.
///
/// # Errors
/// A demo failed (a thread could not be spawned or panicked, a clock could not be
/// read); the error names the demo and the stage. Usage errors exit with code 2.
fn main() -> anyhow::Result<()> {
    die_quietly_on_a_closed_stdout()?;
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(err) if err.kind() == clap::error::ErrorKind::InvalidSubcommand => {
            // Printing to stderr can only fail if stderr is gone; nothing to report to then.
            let _ = err.print();
            let names: Vec<String> = demos().into_iter().map(|(name, _)| name).collect();
            eprintln!("valid demos: {}", names.join(", "));
            std::process::exit(2);
        }
        Err(err) => err.exit(),
    };
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    match (cli.demo, matches.subcommand_name()) {
        (Some(demo), Some(name)) => {
            println!("{}", header(name));
            run(demo)
        }
        _ => {
            for (name, _) in demos() {
                println!("{}", header(&name));
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
