//! Talking to child processes through pipes: [`communicate`] with one child
//! ([`communicate_into`] to reuse the output buffer), [`Pipeline`] for
//! `a | b | c`.
//!
//! ```
//! use std::process::Command;
//! use ptm::ipc::{communicate, Pipeline};
//!
//! # fn main() -> ptm::Result<()> {
//! // Feed a child its input and collect everything it writes.
//! let out = communicate(Command::new("sort"), b"pear\napple\n", None)?;
//! assert_eq!(out.stdout, b"apple\npear\n");
//!
//! // A pipeline without a shell; every stage's status is checked (pipefail).
//! let out = Pipeline::new()
//!     .stage("tr", &["a-z", "A-Z"])
//!     .stage("sort", &["-r"])
//!     .input("abc\nxyz\n")
//!     .run()?;
//! assert_eq!(out.stdout, b"XYZ\nABC\n");
//! # Ok(())
//! # }
//! ```
//!
//! Beyond pipes (Linux): [`MessageSocket`], whole messages over a Unix
//! domain socket pair, in both directions on one descriptor; and
//! [`SharedMemory`], a sealed memfd that two processes map at once, for
//! data too large to copy through the kernel.
//!
//! # The obvious code's deadlock, and how this avoids it
//!
//! The obvious way to feed a child and collect its output writes *all* of
//! the input to the child's stdin and only then reads the child's stdout. A pipe holds 64 KiB by default. Give `cat` more than
//! about 192 KiB (measured with GNU cat 9.1): `cat` fills its stdout pipe, which
//! nobody reads, so it blocks in `write`, so it stops reading its stdin, so
//! the stdin pipe fills and the parent blocks in `write_all`. Each waits for
//! the other, forever. A child that writes to stderr before it reads its
//! input hangs the same way with far less data. And two commands joined by
//! a pipe, waiting for the consumer only, never wait for the producer: it
//! stays a zombie, and its failure is never seen (`false | cat`
//! "succeeds").
//!
//! Here, one thread drives all the pipes of a call with `poll(2)`: the
//! parent's ends are non-blocking, and the loop writes whatever fits into
//! stdin *while* it reads whatever arrived on stdout and on every stderr. It
//! never blocks on one pipe while another is full, so no sizes can deadlock
//! it. A child that exits without reading its input is not an error:
//! writing to it fails with `EPIPE`, which means "the child wanted no more
//! input", and the rest of the input is dropped. `SIGPIPE`, which that
//! write raises, is blocked in the pumping thread meanwhile and taken back
//! afterwards, so a host that did not ignore it (a C program, or a Rust one
//! that restored its default action) is not killed either.
//! [`Pipeline`] reaps every stage and reports the first one that failed.
//!
//! Why `poll` rather than a thread per pipe: a thread blocked in `read` cannot
//! be stopped at a deadline (when a process outside our reach holds the pipe
//! open, `read` never returns, and a scoped thread cannot be left behind),
//! while the `poll` loop returns at the deadline whatever the children do.
//! It also spawns no thread per call. For throughput the two designs
//! measured the same here (1 GiB through `cat` on two cores, both with
//! 1 MiB pipes): the loop does one copy in and one copy out while `cat` does
//! the same on the other core.
//!
//! The I/O loop's `unsafe` operations are in `pump.rs`: the `poll` system
//! call through `libc` (re-exported by `nix`; `nix`'s safe wrapper borrows
//! each descriptor, which the pump's reusable `pollfd` array does not fit
//! yet); `read` into the spare capacity of the output `Vec` followed by
//! the `set_len` that claims the bytes read, which saves zeroing every byte
//! before the kernel overwrites it; `madvise` to fault in the output's next
//! pages before a read (with `sysconf` for the page size; see
//! [Throughput](#throughput)); and `sigpending` for the SIGPIPE handling.
//! Each has its SAFETY argument beside it. (`shm.rs` maps and unmaps shared
//! memory, `socket.rs` has none.)
//!
//! The module is for Unix (`poll`, process groups, `SIGKILL`); the pipe
//! enlargement is Linux-only and skipped elsewhere.
//!
//! # Process groups, timeouts and end of file
//!
//! Each child runs in a new process group that it leads (`process_group(0)`;
//! in a pipeline, one per stage), set by std's spawn (its `posix_spawn` fast path unless this
//! process holds descriptors without close-on-exec). At a deadline the whole group gets
//! `SIGKILL`, so a grandchild holding a pipe (`sh -c 'sleep 100 & echo hi'`)
//! dies too; the children are reaped, then the loop reads what was left in
//! the pipes until end of file, for at most one second (a grace that is
//! only spent when a process that left the group still holds a pipe). The
//! error, [`Error::Timeout`], carries everything read before.
//!
//! Without a timeout, a call returns when stdout and stderr reach end of
//! file, that is when *every* process holding their write ends has closed
//! them or exited, grandchildren included; then it waits for the children
//! themselves. `sh -c 'sleep 100 & echo hi'` without a timeout therefore
//! takes 100 s: give a timeout, or redirect the background job's output.
//!
//! # Every child is reaped
//!
//! The children of a call are owned by a guard that, if dropped with a child
//! not yet reaped (an early return on an error), kills each child's group
//! and reaps each child. No path leaves a zombie, nor an orphan in the
//! children's process groups while this process lives (a process that
//! moved itself to another group or session, with `setsid` for example, is
//! beyond the group kill). If this process dies during the call, by any
//! signal, ptm's guardian kills the children's groups (see
//! [parent death](crate::process#parent-death)). Signals go through each
//! child's pidfd, so a child reaped behind ptm's back (SIGCHLD ignored) is
//! never mistaken for the process that got its pid: its status is reported
//! lost ([`Error::StatusLost`]), with the output read. Every wait after a
//! SIGKILL is bounded by a second: a child that cannot die yet (frozen, in
//! uninterruptible sleep, or refusing the signal) is named in the error and
//! left to ptm's background reaper, which reaps it when it exits. The last
//! stage is killed first, so that a consumer cannot see end of file and
//! exit by itself before its own kill.
//!
//! The parent closes every pipe end it does not use right after each spawn
//! (std closes the child's ends; a pipeline hands each inter-stage pipe to
//! the next stage's `Command` and drops it), and its own ends when done, so
//! no descriptor leaks, and a stage sees end of file when its producer ends.
//!
//! # Throughput
//!
//! The pipes that carry bulk data are enlarged to 1 MiB with `F_SETPIPE_SZ`
//! (Linux, best effort; stdout only once it has carried 64 KiB, so short
//! answers cost nothing), the input is offered to the kernel in one `write`
//! per wake-up, reads grow from 16 KiB up to a full 1 MiB pipe and land in
//! the output's uninitialised capacity, not in zeroed room.
//!
//! Fresh output memory has a cost of its own: the first write to each page
//! is a page fault, in which the kernel finds a page and zeroes it, and a
//! fault taken inside `read(2)` is taken while the kernel holds the pipe's
//! lock, so that the child cannot write meanwhile. So before each read, on
//! Linux, the pump asks for the next 1 MiB of spare capacity to be backed
//! by pages at once (`madvise(MADV_POPULATE_WRITE)`, Linux 5.14; skipped
//! where refused): the same faults, in one system call, with the pipe
//! free. A caller that runs many children can avoid them altogether with
//! [`communicate_into`], which reads into a buffer the caller keeps: a
//! second call whose output fits writes only pages that the first one
//! faulted in.
//!
//! For the figures, run
//! `cargo run --release -p ptm-benches --bin report -- --only pipes`,
//! which compares [`communicate`] and [`communicate_into`] through `cat`
//! with the plain std approach and with a raw pipe between two threads.
//!
//! Enlarged pipes count against the user's pipe budget
//! (`/proc/sys/fs/pipe-user-pages-soft`, 64 MiB by default; root is
//! exempt): an unprivileged user running dozens of pipelines at once can
//! push the kernel to give that user's *new* pipes a single page until
//! they finish. Every pipeline stage's pipe is enlarged today; enlarging
//! inter-stage pipes only for large inputs is a known improvement.

mod group;
mod pipeline;
pub(crate) mod pump;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod shm;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod socket;

use std::io;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use crate::child::{State, Tracked};
use crate::error::{command_line, Error, Result};
use crate::process::{close_inherited_fds, spawn_error};
use group::Group;
use pump::{Capture, Pump};

pub use pipeline::{Pipeline, PipelineOutput};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use shm::SharedMemory;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use socket::{MessageSocket, DEFAULT_MAX_MESSAGE};

/// How long, after a timeout's kill, the loop goes on reading what the killed
/// processes left in the pipes, waiting for end of file.
pub(crate) const KILL_GRACE: Duration = Duration::from_secs(1);

/// Runs `cmd` to the end: writes `input` to its stdin while reading its
/// stdout and stderr, then waits for it, like [`Command::output`] with an
/// input and a deadline.
///
/// `communicate` sets `cmd`'s stdin (a pipe, or `/dev/null` when `input` is
/// empty), stdout and stderr (pipes) and its process group (a new one, led by
/// the child), replacing whatever the caller set for those; everything else
/// (arguments, environment, directory) is kept.
///
/// A non-zero exit status is **not** an error: like [`Command::output`], the
/// status is in the returned [`Output`], for the caller to judge. A child
/// that exits, or closes its stdin, before reading all of `input` is not an
/// error either. Without a timeout the call returns once stdout and stderr
/// reach end of file and all of `input` has been written or refused, so it
/// waits for every process that holds those pipes, grandchildren included
/// (see the [module docs](self)).
///
/// A child that closes its stdin early is no error and no signal: the
/// `SIGPIPE` the next write raises is blocked and taken back, whatever the
/// host does with `SIGPIPE`.
///
/// To reuse the output buffer across calls, use [`communicate_into`]: each
/// call here reads into a new `Vec`, whose fresh pages cost a page fault
/// per 4 KiB of output.
///
/// # Errors
///
/// - [`Error::Spawn`] if the program cannot be started (`NotFound`,
///   `PermissionDenied`, ... in `source.kind()`).
/// - [`Error::Timeout`] if `timeout` passes first: the child's process group
///   (grandchildren included) is killed, the child reaped, `program` is the
///   command line (`sleep 10`) and `output` holds its status and everything
///   it wrote before the kill.
/// - [`Error::StatusLost`], with everything read, if something else reaped
///   the child (SIGCHLD ignored): its status cannot be known.
/// - [`Error::Io`] if the operating system fails a pipe or `poll` operation;
///   the child is killed and reaped first.
/// - [`Error::Io`] of kind `PermissionDenied` (or `TimedOut`), instead of
///   `Timeout`, if at the timeout the child could not be killed (`EPERM`:
///   it changed its credentials, as `sudo` does) or did not die (frozen, in
///   uninterruptible sleep) within a second: the message names it and its
///   pid; it is left to ptm's one background reaper thread, which reaps it
///   when it exits, so the call neither hangs nor leaves a zombie.
///
/// # Examples
///
/// ```
/// use std::process::Command;
/// use std::time::Duration;
/// use ptm::{ipc::communicate, Error};
///
/// # fn main() -> ptm::Result<()> {
/// // Input and output of any size, both at once: no deadlock.
/// let input = vec![b'x'; 1 << 20];
/// let out = communicate(Command::new("cat"), &input, None)?;
/// assert_eq!(out.stdout, input);
///
/// // A failing child is an Ok with its status.
/// let mut cmd = Command::new("sh");
/// cmd.args(["-c", "echo oops >&2; exit 3"]);
/// let out = communicate(cmd, b"", None)?;
/// assert_eq!((out.status.code(), out.stderr.as_slice()), (Some(3), &b"oops\n"[..]));
///
/// // At the deadline the child is killed; what it wrote is kept.
/// let mut cmd = Command::new("sh");
/// cmd.args(["-c", "echo start; sleep 10"]);
/// match communicate(cmd, b"", Some(Duration::from_millis(200))) {
///     Err(Error::Timeout { output, .. }) => assert_eq!(output.stdout, b"start\n"),
///     other => panic!("expected a timeout, got {other:?}"),
/// }
/// # Ok(())
/// # }
/// ```
pub fn communicate(cmd: Command, input: &[u8], timeout: Option<Duration>) -> Result<Output> {
    let mut stdout = Vec::new();
    let Finished { status, stderr } = communicate_into(cmd, input, &mut stdout, timeout)?;
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// How a child run by [`communicate_into`] ended: its exit status and what
/// it wrote to stderr (its stdout is in the caller's buffer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// How the child exited. Not checked: a non-zero status is for the
    /// caller to judge, as with [`Command::output`].
    pub status: ExitStatus,
    /// Everything the child wrote to its stderr.
    pub stderr: Vec<u8>,
}

/// [`communicate`], with the child's stdout read into `stdout`, a buffer
/// the caller keeps from one call to the next.
///
/// `stdout` is cleared first (its length set to 0, its capacity kept), then
/// the output is read straight into its spare capacity, which grows only
/// when the output does not fit. Fresh memory costs a page fault per 4 KiB
/// page the first time it is written (the kernel finds a page and zeroes
/// it), and a new `Vec` per call, which is what [`communicate`] uses, pays
/// them on every call (see [Throughput](self#throughput)). A buffer reused
/// across calls has its pages already: a second call whose output fits
/// takes no page fault, and the buffer's pointer and capacity are
/// unchanged. Everything else (the input, stderr, the timeout, the process
/// group, the errors) is as for [`communicate`], which is this function
/// with a new `Vec`.
///
/// One exception: while this process holds descriptors that are not
/// close-on-exec, std starts the child with `fork` instead of its
/// `posix_spawn` fast path (see the [module docs][groups]), and a fork
/// write-protects every page of this process, the buffer's included. Each
/// call then faults the buffer's pages in again, at a lower cost (each
/// page is kept: none is found or zeroed).
///
/// [groups]: self#process-groups-timeouts-and-end-of-file
///
/// # Errors
///
/// As for [`communicate`], and on each of them the caller gets every byte
/// read:
///
/// - [`Error::Timeout`] and [`Error::StatusLost`] carry the bytes read, as
///   [`communicate`]'s do: they are moved into the error (`output.stdout`,
///   `stdout`), and `stdout` is left empty with no capacity. The `Vec` in
///   the error *is* the caller's buffer, capacity and all: assign it back
///   (`buf = output.stdout`) to reuse it.
/// - On any other error after the child started ([`Error::Io`]), `stdout`
///   holds what was read before the failure, with its capacity.
/// - Before the child starts ([`Error::Spawn`]), `stdout` is empty, with its
///   capacity.
///
/// # Examples
///
/// ```
/// use std::process::Command;
/// use std::time::Duration;
/// use ptm::{ipc::communicate_into, Error};
///
/// # fn main() -> ptm::Result<()> {
/// let input = vec![b'x'; 1 << 20];
/// let mut out = Vec::new();
/// for _ in 0..3 {
///     // The first call grows `out`; the next ones reuse its memory.
///     let done = communicate_into(Command::new("cat"), &input, &mut out, None)?;
///     assert!(done.status.success());
///     assert_eq!(out, input);
/// }
///
/// // At a timeout, the bytes (and the buffer) are in the error.
/// let mut cmd = Command::new("sh");
/// cmd.args(["-c", "echo start; sleep 10"]);
/// match communicate_into(cmd, b"", &mut out, Some(Duration::from_millis(200))) {
///     Err(Error::Timeout { output, .. }) => {
///         assert_eq!(output.stdout, b"start\n");
///         out = output.stdout; // the buffer back, for the next call
///     }
///     other => panic!("expected a timeout, got {other:?}"),
/// }
/// assert!(out.capacity() >= input.len());
/// # Ok(())
/// # }
/// ```
pub fn communicate_into(
    mut cmd: Command,
    input: &[u8],
    stdout: &mut Vec<u8>,
    timeout: Option<Duration>,
) -> Result<Finished> {
    let written_before = stdout.len();
    stdout.clear();
    let program = cmd.get_program().to_string_lossy().into_owned();
    let args: Vec<String> = cmd
        .get_args()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
    cmd.stdin(if input.is_empty() {
        Stdio::null()
    } else {
        Stdio::piped()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    close_inherited_fds(&mut cmd);
    crate::guardian::prepare()?;
    let spawned = cmd.spawn();
    let mut child = spawned.map_err(|source| spawn_error(&cmd, program.clone(), source))?;
    drop(cmd);
    let (stdin, out, err) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    // Dropped on any early return: kills and reaps the child.
    let mut group = Group::new(true);
    group.push(child, &program)?;
    let mut pump = Pump::new(input, stdin, out, vec![(err, Capture::all())])?;
    pump.reuse_stdout(std::mem::take(stdout), written_before);
    let outcome = drive(&mut group, &mut pump, deadline);
    // The buffer goes back to the caller on every path, an error included.
    let (read, mut stderrs) = pump.finish();
    *stdout = read;
    let outcome = outcome?;
    let stderr = stderrs.pop().unwrap_or_default();
    let Some(status) = outcome.statuses[0] else {
        return Err(Error::StatusLost {
            program,
            pid: outcome.pids[0],
            stdout: std::mem::take(stdout),
            stderr,
        });
    };
    if outcome.timed_out {
        return Err(Error::Timeout {
            program: command_line(&program, &args),
            output: Output {
                status,
                stdout: std::mem::take(stdout),
                stderr,
            },
        });
    }
    Ok(Finished { status, stderr })
}

/// How each child of a [`drive`] ended (what they wrote is in the pump).
#[derive(Debug)]
struct Outcome {
    /// One per child, in order; `None` for a child reaped elsewhere, whose
    /// status is lost (SIGCHLD ignored).
    statuses: Vec<Option<ExitStatus>>,
    /// One per child, in order.
    pids: Vec<u32>,
    /// The deadline passed and the children were killed.
    timed_out: bool,
}

/// Runs the I/O loop to the end or to `deadline`, then reaps every child of
/// `group`; at the deadline, kills every child's group first, reaps, and
/// drains the pipes for at most [`KILL_GRACE`]. On an error the caller's
/// `group` guard kills and reaps. What was read stays in `pump`, for
/// [`Pump::finish`], on an error too.
fn drive(group: &mut Group, pump: &mut Pump<'_>, deadline: Option<Instant>) -> Result<Outcome> {
    let finished = pump.run(deadline)? && group.wait(deadline)?;
    if !finished {
        group.kill_and_reap()?;
        pump.drain(KILL_GRACE)?;
    }
    let mut statuses = Vec::new();
    for child in group.children() {
        statuses.push(match child.state() {
            State::Reaped(status) => Some(status),
            State::Lost => None,
            State::Running => return Err(io::Error::other("a child was not reaped").into()),
        });
    }
    let pids = group.children().iter().map(Tracked::pid).collect();
    Ok(Outcome {
        statuses,
        pids,
        timed_out: !finished,
    })
}

/// Reads `stdout` and `stderr` (the parent's ends of two pipes) to their
/// ends at once, so that neither can fill and stall the writer: for
/// children not started through `std::process` (`ptm::isolate`).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn read_both(
    stdout: std::os::fd::OwnedFd,
    stderr: std::os::fd::OwnedFd,
) -> io::Result<(Vec<u8>, Vec<u8>)> {
    use std::process::{ChildStderr, ChildStdout};
    let errs = vec![(Some(ChildStderr::from(stderr)), Capture::all())];
    let mut pump = Pump::new(b"", None, Some(ChildStdout::from(stdout)), errs)?;
    pump.run(None)?;
    let (stdout, mut stderrs) = pump.finish();
    Ok((stdout, stderrs.pop().unwrap_or_default()))
}

#[cfg(test)]
mod reuse_tests {
    use super::communicate_into;
    use super::pump::POPULATED;
    use std::process::Command;

    /// A second call into the same buffer asks for no page the first one
    /// wrote to be populated again: at most two reads' room past the
    /// end of the first output (the first asks for all 8 MiB).
    #[test]
    fn a_second_call_into_a_reused_buffer_populates_only_past_the_first() {
        let input: Vec<u8> = (0..8u32 << 20).map(|n| (n % 251) as u8).collect();
        let mut out = Vec::new();
        let populated = |out: &mut Vec<u8>| {
            let before = POPULATED.with(|c| c.get());
            let done = communicate_into(Command::new("cat"), &input, out, None);
            assert!(done.expect("cat runs").status.success() && *out == input);
            POPULATED.with(|c| c.get()) - before
        };
        let first = populated(&mut out);
        let second = populated(&mut out);
        assert!(
            second <= 2 << 20,
            "the second call asked for {second} bytes"
        );
        // Where the kernel refuses MADV_POPULATE_WRITE, none is asked after
        // the first refusal.
        assert!(
            first >= 8 << 20 || first <= 1 << 20,
            "the first asked {first}"
        );
    }
}
