//! examples-channels: channels in Rust, done right.
//!
//! Each demo is a module of its own (`src/<demo>.rs`) with one idea: a loop
//! over a `Receiver` that ends when every `Sender` is gone, a crossbeam
//! channel as a task queue for several workers, bounded queues and back
//! pressure, request/response over two channels, `select!` with a timeout,
//! and what each call returns once the other side is gone.
//!
//! ```sh
//! cargo run -p examples-channels                     # every demo, in order
//! cargo run -p examples-channels -- bounded --capacity 4
//! cargo run -p examples-channels -- --help           # the list of demos
//! ```

mod bounded;
mod disconnect;
mod duplex;
mod mpsc;
mod queue;
mod select;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, Subcommand};
use nix::sys::signal::{signal, SigHandler, Signal};

/// Channels in Rust, done right: run every demo, or one by name.
#[derive(Debug, Parser)]
#[command(name = "examples-channels", version)]
struct Cli {
    /// The demo to run; without one, every demo runs in order.
    #[command(subcommand)]
    demo: Option<Demo>,
}

/// The demos, in the order a no-argument run shows them.
#[derive(Debug, Subcommand)]
enum Demo {
    /// A loop over a Receiver ends when every Sender is gone
    Mpsc(mpsc::Args),
    /// Workers share one crossbeam task queue; each task runs once
    Queue(queue::Args),
    /// Bounded vs unbounded queue: back pressure and a memory bound
    Bounded(bounded::Args),
    /// Requests on one channel, responses on another, a clean stop
    Duplex,
    /// select! over two channels and a timeout
    Select(select::Args),
    /// What send, recv and try_recv return once the other side is gone
    Disconnect,
}

/// Gives SIGPIPE back its default action, so that a closed stdout ends the
/// program quietly (`examples-channels | head -1`).
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
        Demo::Mpsc(args) => mpsc::run(&args),
        Demo::Queue(args) => queue::run(&args),
        Demo::Bounded(args) => bounded::run(&args),
        Demo::Duplex => duplex::run(),
        Demo::Select(args) => select::run(&args),
        Demo::Disconnect => disconnect::run(),
    }
}

/// Runs every demo in declaration order, each with its default flags (small
/// sizes): parsing the bare name gives exactly what `-- <demo>` would run.
fn run_all() -> Result<()> {
    for (index, name) in demo_names().iter().enumerate() {
        if index > 0 {
            println!();
        }
        let cli = Cli::try_parse_from(["examples-channels", name.as_str()])
            .with_context(|| format!("default flags of demo {name}"))?;
        let demo = cli
            .demo
            .with_context(|| format!("demo {name} did not parse"))?;
        run(demo).with_context(|| format!("demo `{name}` failed"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn demos_are_listed_in_order() {
        let names =
            ["mpsc", "queue", "bounded", "duplex", "select", "disconnect"];
        assert_eq!(demo_names(), names);
    }
}
