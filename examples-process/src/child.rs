//! # `child`: one child, its output read as it comes, stopped at a deadline
//!
//! Shows [`Process`]: a shell that prints a line every 100 ms for ever is
//! started with its stdout piped; a reader thread takes the pipe
//! (`take_stdout`) and prints each line as it arrives, while this thread
//! waits with a deadline (`wait_timeout`); at the deadline the child is
//! still running, so it is stopped (`terminate`: SIGTERM to its process
//! group, SIGKILL after a grace) and reaped. The reader then sees end of
//! file, because nothing holds the pipe any more.
//!
//! Run: `cargo run -p examples-process -- child [--deadline-ms 350]`

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ptm::process::Process;

/// Flags of the `child` demo.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// How long to let the child run before stopping it, in ms (at most 10000).
    #[arg(long, default_value_t = 350, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub deadline_ms: u64,
}

/// What the demo saw.
#[derive(Debug)]
pub struct Report {
    /// Each line, with when it was read (from the start).
    pub lines: Vec<(Duration, String)>,
    /// `wait_timeout`'s answer at the deadline.
    pub running_at_deadline: bool,
    /// When `terminate` was called (from the start).
    pub stopped_at: Duration,
    /// How the child ended.
    pub status: ExitStatus,
}

// ANCHOR: stream
/// Starts a ticking shell, reads its lines as they come, stops it at `deadline`.
pub fn stream(deadline: Duration) -> Result<Report> {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.1; done"])
        .stdout(Stdio::piped());
    let child = Arc::new(Process::spawn(cmd)?);
    let stdout = child.take_stdout().context("stdout was piped")?;
    let start = Instant::now();
    let reader = thread::Builder::new()
        .name("child-reader".to_owned())
        .spawn(move || -> Result<Vec<(Duration, String)>> {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let line = line.context("reading the child's stdout")?;
                println!(
                    "  {:>4} ms  read {line:?} while the child runs",
                    start.elapsed().as_millis()
                );
                lines.push((start.elapsed(), line));
            }
            Ok(lines) // end of file: the child and its group are gone
        })
        .context("starting the reader thread")?;
    let running_at_deadline = child.wait_timeout(deadline)?.is_none();
    let stopped_at = start.elapsed();
    let status = child.terminate(Duration::from_millis(500))?;
    let lines = reader.join().map_err(|_| anyhow::anyhow!("the reader panicked"))??;
    Ok(Report { lines, running_at_deadline, stopped_at, status })
}
// ANCHOR_END: stream

/// Runs the demo.
pub fn run(args: &Args) -> Result<()> {
    let deadline = Duration::from_millis(args.deadline_ms);
    println!("child: a shell printing a line every 100 ms, stdout piped to a reader thread");
    let report = stream(deadline)?;
    println!(
        "child: still running at the {} ms deadline: {}",
        deadline.as_millis(),
        report.running_at_deadline
    );
    match report.status.signal() {
        Some(signal) => println!(
            "child: terminate() at {} ms stopped it: killed by signal {signal}",
            report.stopped_at.as_millis()
        ),
        None => println!("child: it had exited by itself: {}", report.status),
    }
    println!(
        "child: {} lines read; the reader saw end of file once the child was reaped",
        report.lines.len()
    );
    println!("notice: the lines arrived while the child ran, not at its end; wait_timeout left it running");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_arrive_before_the_child_is_stopped() {
        let report = stream(Duration::from_millis(350)).expect("the demo runs");
        assert!(report.running_at_deadline, "the ticking shell never ends by itself");
        assert_eq!(report.status.signal(), Some(15), "SIGTERM was enough");
        let (first_at, first) = report.lines.first().expect("at least one line");
        assert_eq!(first, "tick 0");
        assert!(*first_at < report.stopped_at, "read while the child ran: {first_at:?}");
    }
}
