//! The one error type of the crate.
//!
//! Every fallible function in `ptm` returns [`Result<T>`](crate::Result), whose
//! error is [`Error`]. Each variant names what failed, so that a message printed
//! at the top of a program is enough to find the cause.

use std::fmt;
use std::io;
use std::process::{ExitStatus, Output};
use std::time::Duration;

use crate::pool::{JobError, PoolStats};

/// Everything that can go wrong in `ptm`.
///
/// The enum is `#[non_exhaustive]`: later versions add variants (the process
/// and IPC modules do), so a `match` on it needs a wildcard arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument was out of range, for example a pool of zero workers.
    /// The message names the argument and the value.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The operating system refused to start a thread.
    #[error("failed to spawn thread `{name}`: {source}")]
    ThreadSpawn {
        /// The name the thread would have had.
        name: String,
        /// What the OS said.
        #[source]
        source: io::Error,
    },

    /// A bounded queue was full and the caller asked not to block
    /// ([`ThreadPool::try_execute`](crate::ThreadPool::try_execute)).
    #[error("the queue is full")]
    QueueFull,

    /// The call would wait for itself: for example
    /// [`ThreadPool::wait_idle`](crate::ThreadPool::wait_idle) called from a
    /// job running on that same pool.
    #[error("the call would deadlock: it would wait for the thread that makes it")]
    WouldDeadlock,

    /// The queue no longer has a consumer, so the task cannot be accepted.
    ///
    /// [`ThreadPool`](crate::ThreadPool) and
    /// [`WorkerThread`](crate::WorkerThread) never return it through `&self`
    /// (their queues stay open until they are consumed, and their threads
    /// cannot die); it exists so that a broken invariant is an error rather
    /// than a panic.
    #[error("the queue is closed: its worker threads have exited")]
    Closed,

    /// [`ThreadPool::shutdown_timeout`](crate::ThreadPool::shutdown_timeout)
    /// gave up: some workers had not ended when the timeout expired, with
    /// `running` jobs still running and `stats.queued` still waiting. Those
    /// workers were detached: they finish those jobs on their own and then
    /// exit (so may workers that were only still exiting: in a stop hook,
    /// or dropping their thread-locals).
    #[error(
        "the pool did not shut down in time: {running} job(s) still running \
         ({} queued, {} completed, {} panicked)",
        stats.queued, stats.completed, stats.panicked
    )]
    ShutdownTimeout {
        /// Jobs still running when the time was up.
        running: usize,
        /// The pool's counters when the timeout expired (a snapshot: the
        /// detached workers go on).
        stats: PoolStats,
    },

    /// A job submitted with [`ThreadPool::spawn`](crate::ThreadPool::spawn)
    /// panicked or was cancelled (lets `?` turn a [`JobError`] into an `Error`).
    #[error(transparent)]
    Job(#[from] JobError),

    /// A program could not be started. `source.kind()` tells
    /// [`NotFound`](io::ErrorKind::NotFound) from
    /// [`PermissionDenied`](io::ErrorKind::PermissionDenied) and the rest.
    #[error("failed to start `{program}`: {source}")]
    Spawn {
        /// The program as given to the call that failed.
        program: String,
        /// What the OS said.
        #[source]
        source: io::Error,
    },

    /// A program ran and exited unsuccessfully (non-zero, or killed by a signal).
    #[error(
        "`{}` {status}{}",
        command_line(program, args),
        stderr_suffix(stderr_tail)
    )]
    Exit {
        /// The program that failed.
        program: String,
        /// Its arguments.
        args: Vec<String>,
        /// How it ended.
        status: ExitStatus,
        /// The end of what it wrote to stderr (lossy UTF-8, at most 4 KiB,
        /// from a line start where a whole line fits), often the reason it
        /// failed.
        stderr_tail: String,
    },

    /// A program did not finish before its deadline and was killed.
    #[error(
        "`{program}` did not finish before its deadline ({} bytes of stdout, {} of stderr read)",
        output.stdout.len(),
        output.stderr.len()
    )]
    Timeout {
        /// The command that timed out, as a shell would need it quoted
        /// (`sh -c 'sleep 10'`; for a pipeline, `a | b | c`).
        program: String,
        /// Its exit status (after the kill, or its own exit if it had ended
        /// but still held a pipe), and what it wrote before the deadline.
        output: Output,
    },

    /// A child was reaped by something other than ptm, so its exit status
    /// is lost: the program sets SIGCHLD to `SIG_IGN` (the kernel then
    /// reaps children itself), or calls `waitpid(-1, ..)` elsewhere. What
    /// the child wrote is kept (empty where ptm did not capture it, as for
    /// [`ProcessManager::wait_all`](crate::process::ProcessManager::wait_all)).
    /// ptm never signals such a child again: its pid may already be
    /// another process's.
    #[error(
        "`{program}` (pid {pid}) was reaped by something else (SIGCHLD ignored, or a wait for \
         any child elsewhere in this program): its exit status is lost ({} bytes of stdout, {} \
         of stderr read)",
        stdout.len(),
        stderr.len()
    )]
    StatusLost {
        /// The program (for a pipeline, the stage's).
        program: String,
        /// Its process id, which may by now belong to another process.
        pid: u32,
        /// What it wrote to its stdout (for a pipeline: the last stage's).
        stdout: Vec<u8>,
        /// What it wrote to its stderr.
        stderr: Vec<u8>,
    },

    /// A stage of a [`Pipeline`](crate::ipc::Pipeline) failed: the first
    /// failing stage, by index from 0, as with the shell's `pipefail`.
    #[error("pipeline stage {stage} (`{program}`) failed: {source}")]
    Pipeline {
        /// The stage's index, from 0.
        stage: usize,
        /// The stage's program.
        program: String,
        /// Why it failed: [`Error::Spawn`], [`Error::Exit`], ...
        #[source]
        source: Box<Error>,
    },

    /// Setting up an isolated environment ([`ptm::isolate`](crate::isolate))
    /// failed at `step`, before the program could start; or the
    /// environment's init died before it passed on the program's status
    /// (`step` is then "running the container's init").
    #[error("container setup failed at {step}: {source}")]
    Isolation {
        /// What was being done: "creating namespaces", "mounting /proc", ...
        step: String,
        /// What the OS said; `PermissionDenied` when privilege is missing.
        #[source]
        source: io::Error,
    },

    /// A limit of a [`Container`](crate::isolate::Container) ended its
    /// command: the memory cgroup's OOM killer killed a process of it, or
    /// its CPU time ran out. What it wrote before is kept.
    #[error(
        "`{program}` was stopped by its {limit} ({} bytes of stdout, {} of stderr read)",
        output.stdout.len(),
        output.stderr.len()
    )]
    LimitExceeded {
        /// The command, quoted as a shell would need it.
        program: String,
        /// The limit that ended it.
        limit: Limit,
        /// Its exit status (the kill) and what it wrote.
        output: Output,
    },

    /// An I/O error that does not belong to a more specific variant.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A limit that ended a [`Container`](crate::isolate::Container)'s
/// command, in [`Error::LimitExceeded`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// [`Container::memory_limit`](crate::isolate::Container::memory_limit),
    /// in bytes.
    Memory(u64),
    /// [`Container::cpu_time_limit`](crate::isolate::Container::cpu_time_limit).
    CpuTime(Duration),
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Memory(bytes) => write!(f, "memory limit of {bytes} bytes"),
            Limit::CpuTime(limit) => write!(f, "CPU time limit of {limit:?}"),
        }
    }
}

/// `program arg1 arg2`, for messages.
pub(crate) fn command_line(program: &str, args: &[String]) -> String {
    std::iter::once(program)
        .chain(args.iter().map(String::as_str))
        .map(shell_quote)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `word` as a shell would need it written to read it back as one word:
/// unchanged if it is plain, else in single quotes (`'` as `'\''`).
fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./=:,+@%^".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `: <tail>` when there is a stderr tail, nothing otherwise.
fn stderr_suffix(tail: &str) -> String {
    let tail = tail.trim_end();
    if tail.is_empty() {
        String::new()
    } else {
        format!(": {tail}")
    }
}

/// `Result<T, ptm::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_quote_what_a_shell_would_split() {
        let args = [
            "-c".to_owned(),
            "echo 'hi there'; exit 3".to_owned(),
            String::new(),
        ];
        assert_eq!(
            command_line("sh", &args),
            r#"sh -c 'echo '\''hi there'\''; exit 3' ''"#
        );
        assert_eq!(
            command_line("ls", &["-l".to_owned(), "/tmp".to_owned()]),
            "ls -l /tmp"
        );
    }
}
