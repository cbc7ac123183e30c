//! Helpers of the `switch` demo (not a demo): one byte bounced to a thread
//! through channels, to a thread through pipes, and to a process through
//! pipes, each round trip timed into a histogram; and the loop of the hidden
//! `echo` subcommand.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::process::Command;
use std::thread;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use crossbeam_channel::bounded;
use hdrhistogram::Histogram;
use nix::sys::signal::{SigSet, Signal};
use ptm::process::ProcessManager;

/// Untimed round trips before the timed ones (the echo side starts, caches warm).
pub const WARM_UP: usize = 100;

/// Runs `round` [`WARM_UP`] times, then `rounds` times timed: their times in
/// nanoseconds, from 1 ns to a minute to 3 significant digits (0.1%).
fn time_rounds(
    rounds: usize,
    mut round: impl FnMut() -> io::Result<()>,
) -> Result<Histogram<u64>> {
    (0..WARM_UP).try_for_each(|_| round())?;
    let mut times = Histogram::new_with_bounds(1, 60_000_000_000, 3)?;
    for _ in 0..rounds {
        let start = Instant::now();
        round()?;
        let ns = start.elapsed().as_nanos();
        times.saturating_record(u64::try_from(ns).unwrap_or(u64::MAX));
    }
    Ok(times)
}

/// One round trip: a byte out, the byte back.
fn bounce(to: &mut impl Write, from: &mut impl Read) -> io::Result<()> {
    to.write_all(&[1])?;
    from.read_exact(&mut [0])
}

/// Copies `input` to `output`, unbuffered, until end of file.
pub fn echo(mut input: impl Read, mut output: impl Write) -> io::Result<()> {
    let mut buf = [0; 4096];
    loop {
        match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => output.write_all(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The hidden `echo` subcommand: this process's stdin to its stdout, unbuffered.
pub fn echo_stdio() -> Result<()> {
    let stdin = io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .context("duplicating stdin")?;
    let stdout = io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .context("duplicating stdout")?;
    echo(File::from(stdin), File::from(stdout))
        .context("echoing stdin to stdout")
}

/// Round trips to a thread through two `crossbeam_channel::bounded(1)`.
pub fn thread_channel(rounds: usize) -> Result<Histogram<u64>> {
    let (to_echo, echo_in) = bounded::<u8>(1);
    let (echo_out, from_echo) = bounded::<u8>(1);
    thread::scope(|scope| {
        thread::Builder::new()
            .name("echo-channel".into())
            .spawn_scoped(scope, move || {
                echo_in.iter().try_for_each(|byte| echo_out.send(byte))
            })
            .context("spawning the echo thread")?;
        let times = time_rounds(rounds, || {
            to_echo.send(1).map_err(io::Error::other)?;
            from_echo.recv().map(drop).map_err(io::Error::other)
        });
        drop(to_echo); // the echo thread's loop ends
        times.context("bouncing a byte through two channels")
    })
}

/// Round trips to a thread through two OS pipes.
pub fn thread_pipes(rounds: usize) -> Result<Histogram<u64>> {
    let (echo_in, mut to_echo) = io::pipe().context("creating a pipe")?;
    let (mut from_echo, echo_out) = io::pipe().context("creating a pipe")?;
    thread::scope(|scope| {
        thread::Builder::new()
            .name("echo-pipes".into())
            .spawn_scoped(scope, move || echo(echo_in, echo_out))
            .context("spawning the echo thread")?;
        let times =
            time_rounds(rounds, || bounce(&mut to_echo, &mut from_echo));
        drop(to_echo); // end of file: the echo thread returns
        times.context("bouncing a byte through two pipes between threads")
    })
}

/// Round trips to a child process (`program` with `args`, which must echo
/// its stdin to its stdout, unbuffered) through two OS pipes.
pub fn process_pipes(
    rounds: usize,
    program: &OsStr,
    args: &[&str],
) -> Result<Histogram<u64>> {
    let mut cmd = Command::new(program);
    let program = program.to_string_lossy();
    let (child_in, mut to_child) = io::pipe().context("creating a pipe")?;
    let (mut from_child, child_out) = io::pipe().context("creating a pipe")?;
    cmd.args(args).stdin(child_in).stdout(child_out);
    let mut manager = ProcessManager::new();
    manager.spawn_command(cmd)?; // also closes our copies of the child's ends

    // On a thread of its own (it inherits this one's CPU mask) that blocks
    // SIGPIPE: main restored SIGPIPE's default action, and a child that died
    // early must be an error (EPIPE) here, not the silent end of this
    // program. A SIGPIPE left pending by such a write ends with the thread.
    let times = thread::scope(|scope| {
        let bouncer = move || {
            SigSet::from(Signal::SIGPIPE).thread_block()?;
            let times =
                time_rounds(rounds, || bounce(&mut to_child, &mut from_child));
            drop(to_child); // end of file: the child exits
            times
        };
        let thread = thread::Builder::new().name("process-pipes".into());
        let bouncer = thread
            .spawn_scoped(scope, bouncer)
            .context("spawning the bouncing thread")?;
        bouncer
            .join()
            .map_err(|_| anyhow::anyhow!("the bouncing thread panicked"))
    })?;
    for report in manager.wait_all() {
        let status = report.status?;
        ensure!(
            status.success(),
            "`{program}` (pid {}) ended with {status}",
            report.pid
        );
    }
    times.with_context(|| format!("bouncing a byte through `{program}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warm_up_rounds_run_but_only_the_timed_ones_are_recorded() {
        let mut calls = 0;
        let times = time_rounds(5, || {
            calls += 1;
            Ok(())
        })
        .expect("no round fails");
        assert_eq!((calls, times.len()), (WARM_UP + 5, 5));
    }
}
