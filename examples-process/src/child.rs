//! # `child`: one child, waited for with a deadline, shared, streamed
//!
//! Shows [`Process`], one child to wait for, time out, signal or stop on
//! its own, in four steps:
//!
//! 1. [`first_look`]: start `sleep 10`, see that it still runs after
//!    100 ms (`wait_timeout` answers `None` and leaves it alone), stop it
//!    (`terminate`: SIGTERM to its process group, SIGKILL after a grace).
//! 2. [`naive_shared_child`]: the common first attempt at "wait in one
//!    thread, kill from another" with std's `Child` in a `Mutex`: the
//!    waiter holds the lock for as long as the child runs, so the kill
//!    meant for 100 ms happens only when the child has exited by itself.
//! 3. [`shared_process`]: the same with an `Arc<Process>`: the kill takes
//!    effect at once, and the waiter and the killer get the same status.
//! 4. [`stream`]: a shell that prints a line every 100 ms for ever, its
//!    stdout read line by line by another thread while this one waits with
//!    a deadline; at the deadline the child still runs, so it is stopped,
//!    and the reader then sees end of file.
//!
//! Run: `cargo run -p examples-process -- child [--deadline-ms 350]`

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ptm::process::Process;

/// Flags of the `child` demo.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// How long to let the ticking child run before stopping it, in ms (at
    /// most 10000).
    #[arg(long, default_value_t = 350, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub deadline_ms: u64,
}

// ANCHOR: first
/// Starts `sleep 10`, checks it after 100 ms, stops it.
pub fn first_look() -> ptm::Result<(Option<ExitStatus>, ExitStatus)> {
    let mut cmd = Command::new("sleep");
    cmd.arg("10");
    let child = Process::spawn(cmd)?;
    // Still running after 100 ms: `None`, and the child is left alone.
    let early = child.wait_timeout(Duration::from_millis(100))?;
    // SIGTERM to its group; SIGKILL if it is still there after 1 s.
    let status = child.terminate(Duration::from_secs(1))?;
    Ok((early, status))
}
// ANCHOR_END: first

/// What a "wait in one thread, kill from another" attempt saw.
#[derive(Debug)]
pub struct Shared {
    /// When the kill was meant to happen (from the start).
    pub kill_at: Duration,
    /// When the kill call returned (from the start).
    pub killed_at: Duration,
    /// The status the waiting thread got.
    pub waiter: ExitStatus,
    /// The status the killing thread got, if its call returns one.
    pub killer: Option<ExitStatus>,
}

// ANCHOR: naive
/// `sleep 1` in a `Mutex<Child>`: one thread waits, this one kills at 100 ms.
pub fn naive_shared_child() -> Result<Shared> {
    let child: Child = Command::new("sleep").arg("1").spawn()?;
    let child = Arc::new(Mutex::new(child));
    let start = Instant::now();
    let (locked, is_locked) = mpsc::channel();
    let waiter = {
        let child = Arc::clone(&child);
        thread::spawn(move || {
            // `Child::wait` needs `&mut Child`: the lock is held throughout.
            let mut child = child.lock().unwrap();
            locked.send(()).unwrap();
            child.wait()
        })
    };
    is_locked.recv()?;
    thread::sleep(Duration::from_millis(100));
    let kill_at = start.elapsed();
    let _ = child.lock().unwrap().kill(); // blocks until the wait is over
    let killed_at = start.elapsed();
    let waiter = waiter.join().expect("the waiting thread panicked")?;
    Ok(Shared { kill_at, killed_at, waiter, killer: None })
}
// ANCHOR_END: naive

// ANCHOR: shared
/// The same with `Process`: `wait` holds no lock while it sleeps.
pub fn shared_process() -> Result<Shared> {
    let mut cmd = Command::new("sleep");
    cmd.arg("1");
    let child = Arc::new(Process::spawn(cmd)?);
    let start = Instant::now();
    let waiter = {
        let child = Arc::clone(&child);
        thread::spawn(move || child.wait())
    };
    thread::sleep(Duration::from_millis(100));
    let kill_at = start.elapsed();
    let killer = child.kill()?; // SIGKILL to the group, then reaped
    let killed_at = start.elapsed();
    let waiter = waiter.join().expect("the waiting thread panicked")?;
    Ok(Shared { kill_at, killed_at, waiter, killer: Some(killer) })
}
// ANCHOR_END: shared

/// What the streaming step saw.
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

/// A shell loop that prints `tick 0`, `tick 1`, ... every 100 ms, for ever.
const TICKS: &str =
    "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.1; done";

// ANCHOR: stream
/// Starts a ticking shell, reads its lines as they come, stops it at
/// `deadline`.
pub fn stream(deadline: Duration) -> Result<Report> {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", TICKS]).stdout(Stdio::piped());
    let child = Process::spawn(cmd)?;
    let stdout = child.take_stdout().context("stdout was piped")?;
    let start = Instant::now();
    let reader = thread::spawn(move || -> Result<Vec<(Duration, String)>> {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.context("reading the child's stdout")?;
            let at = start.elapsed();
            println!("  {:>4} ms  read {line:?}", at.as_millis());
            lines.push((at, line));
        }
        Ok(lines) // end of file: the child and its group are gone
    });
    let running_at_deadline = child.wait_timeout(deadline)?.is_none();
    let stopped_at = start.elapsed();
    let status = child.terminate(Duration::from_millis(500))?;
    let lines = reader.join().expect("the reader thread panicked")?;
    Ok(Report { lines, running_at_deadline, stopped_at, status })
}
// ANCHOR_END: stream

/// "still running" or "exited" for a `wait_timeout` answer.
fn running(still: bool) -> &'static str {
    if still {
        "still running"
    } else {
        "exited"
    }
}

/// Runs the demo.
pub fn run(args: &Args) -> Result<()> {
    let deadline = Duration::from_millis(args.deadline_ms);

    let (early, status) = first_look()?;
    println!(
        "first look: `sleep 10` after 100 ms: {}",
        running(early.is_none())
    );
    println!("first look: terminate() -> {status}");

    let naive = naive_shared_child()?;
    println!(
        "naive: Mutex<Child>, kill meant at {} ms, done at {} ms,",
        naive.kill_at.as_millis(),
        naive.killed_at.as_millis()
    );
    println!("naive:   after the child's own end ({})", naive.waiter);
    let shared = shared_process()?;
    println!(
        "Process: kill meant at {} ms, done at {} ms",
        shared.kill_at.as_millis(),
        shared.killed_at.as_millis()
    );
    let same = if Some(shared.waiter) == shared.killer {
        "the same status"
    } else {
        "different statuses"
    };
    println!("Process: waiter and killer saw {same}: {}", shared.waiter);

    println!(
        "stream: a shell printing a line every 100 ms, read by another thread"
    );
    let report = stream(deadline)?;
    println!(
        "stream: at the {} ms deadline: {}",
        deadline.as_millis(),
        running(report.running_at_deadline)
    );
    println!(
        "stream: terminate() at {} ms -> {}",
        report.stopped_at.as_millis(),
        report.status
    );
    println!(
        "stream: {} lines read, then end of file once the child was reaped",
        report.lines.len()
    );
    println!("notice: Mutex<Child> held the kill back; Process did not; lines came live");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn the_first_look_sees_a_running_child_then_stops_it() {
        let (early, status) = first_look().expect("the listing runs");
        assert_eq!(early, None, "sleep 10 is still running after 100 ms");
        assert_eq!(status.signal(), Some(15), "SIGTERM was enough for sleep");
    }

    #[test]
    fn a_mutex_around_child_delays_the_kill_until_the_child_ends_by_itself() {
        let naive = naive_shared_child().expect("the listing runs");
        // The child was never killed: it ran its full second and exited 0.
        assert!(naive.waiter.success(), "{}", naive.waiter);
        assert!(naive.kill_at <= naive.killed_at, "{naive:?}");
    }

    #[test]
    fn a_shared_process_is_killed_while_another_thread_waits() {
        let shared = shared_process().expect("the listing runs");
        assert_eq!(shared.waiter.signal(), Some(9), "{}", shared.waiter);
        assert_eq!(shared.killer, Some(shared.waiter), "one status for both");
        // Killed, not waited out: `sleep 1` would have exited 0 by itself.
        assert!(!shared.waiter.success());
    }

    #[test]
    fn lines_arrive_before_the_child_is_stopped() {
        let report = stream(Duration::from_millis(350)).expect("the demo runs");
        assert!(
            report.running_at_deadline,
            "the ticking shell never ends by itself"
        );
        assert_eq!(report.status.signal(), Some(15), "SIGTERM was enough");
        let (first_at, first) =
            report.lines.first().expect("at least one line");
        assert_eq!(first, "tick 0");
        assert!(
            *first_at < report.stopped_at,
            "read while the child ran: {first_at:?}"
        );
    }
}
