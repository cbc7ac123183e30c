//! Child processes: [`ProcessManager`] starts, waits for, terminates and
//! reaps them; [`ProcessInfo`] describes and controls the current process.
//!
//! ```
//! use std::time::Duration;
//! use ptm::process::ProcessManager;
//!
//! # fn main() -> ptm::Result<()> {
//! let mut manager = ProcessManager::new();
//! manager.spawn("sh", &["-c", "exit 3"])?;
//! let done = manager.wait_all();
//! assert_eq!(done[0].program, "sh");
//! assert_eq!(done[0].status.as_ref().map(|status| status.code()).ok(), Some(Some(3)));
//!
//! // Still running at the deadline: not reported, still managed.
//! manager.spawn("sleep", &["1000"])?;
//! assert!(manager.wait_all_timeout(Duration::from_millis(20)).is_empty());
//! assert_eq!(manager.len(), 1);
//!
//! // SIGKILL to its process group, then reap it: nothing is left behind.
//! let killed = manager.kill_all();
//! assert_eq!(killed[0].program, "sleep");
//! assert!(manager.is_empty());
//!
//! // One-shot: run, capture stdout and stderr, fail on a non-zero exit.
//! let output = ProcessManager::output("echo", &["hello"])?;
//! assert_eq!(output.stdout, b"hello\n");
//! # Ok(())
//! # }
//! ```
//!
//! # Design
//!
//! **Process groups.** Every managed child is started in a process group of
//! its own (`Command::process_group(0)`: the group's id is the child's pid),
//! through std's `posix_spawn` fast path, with no `pre_exec` hook.
//! [`ProcessManager::terminate_all`] and [`ProcessManager::kill_all`] signal
//! the whole group (`killpg`), so what the child started (the `sleep` of
//! `sh -c 'sleep 1000 & sleep 1000; wait'`) dies with it instead of being
//! orphaned to init. A child that moved itself to another group is signalled
//! by pid as well. A group that no longer exists (`ESRCH`) is not an error.
//!
//! **Reaping.** A process that has exited stays a *zombie* (an entry in the
//! process table holding its exit status) until its parent waits for it.
//! Every operation that ends children here also reaps them
//! ([`Child::wait`]): after [`kill_all`](ProcessManager::kill_all),
//! [`terminate_all`](ProcessManager::terminate_all), [`wait_all`](ProcessManager::wait_all)
//! or a drop of the manager, no zombie and no running child of the manager
//! is left. The seed's `kill_all` (section "Process Creation and Control")
//! calls `Child::kill` and then clears its `Vec<Child>`: `kill` only sends
//! SIGKILL, and dropping a `Child` neither kills nor waits, so each killed
//! child stays a zombie for the life of the parent, the grandchildren keep
//! running, and a manager that is merely dropped leaves its children running
//! as orphans. Its `wait_for_all` also drops the children whose wait failed
//! and returns statuses that no longer say which child they belong to;
//! [`ExitReport`] carries the pid and program with each status.
//!
//! **The signals are sent while the children are unreaped.** A pid, and so
//! a process group id, is not reused while its process is a zombie. The
//! manager therefore signals groups before it reaps their leaders, so a
//! signal cannot reach an unrelated process that got a recycled pid. To
//! keep that true, do not reap the manager's children elsewhere (a
//! `waitpid(-1, ..)` in the same program, or SIGCHLD set to `SIG_IGN`); a
//! wait then fails with `ECHILD` and is reported as an error.
//!
//! **Waiting with a deadline.** [`wait_all_timeout`](ProcessManager::wait_all_timeout)
//! and the grace period of `terminate_all` need "wait for this child, but no
//! longer than that". Linux offers `pidfd_open` + `poll` for this, but nix
//! 0.31 does not wrap `pidfd_open`, std's `PidFd` is unstable, and `libc` is
//! not a direct dependency of ptm. So these two poll: each round checks every
//! remaining child without blocking, then sleeps for a back-off that starts
//! at 50 µs and doubles up to 2 ms (never past the deadline): a child that
//! exits is noticed within about 2 ms, and a long wait costs a few hundred
//! wake-ups per second, not a spinning core. During the grace period the
//! check is `waitid(P_PID, WEXITED | WNOHANG | WNOWAIT)`, which sees an exit
//! without reaping, so the SIGKILL that follows still goes to groups whose
//! leader is held as a zombie (on Unixes without `waitid` it is
//! [`Child::try_wait`], which reaps). Waits without a deadline block in
//! [`Child::wait`].
//!
//! **File descriptors.** std opens every descriptor with `O_CLOEXEC`, and a
//! child started with [`ProcessManager::spawn`] inherits stdin, stdout and
//! stderr: the manager holds no pipe. [`ProcessManager::output`] reads the
//! child's stdout and stderr concurrently (std's `wait_with_output` polls
//! both pipes), so a child that fills one pipe while the parent reads the
//! other cannot deadlock.

use std::env;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long dropping a [`ProcessManager`] waits after SIGTERM before SIGKILL.
const DROP_GRACE: Duration = Duration::from_millis(100);

/// How long `kill_all` waits, after SIGKILL, for the processes of the
/// children's groups to be gone (one in uninterruptible sleep can take
/// longer; it is then left to die on its own).
const KILL_WAIT: Duration = Duration::from_secs(1);

/// The first pause between two polls of children that have a deadline.
const FIRST_POLL: Duration = Duration::from_micros(50);

/// The longest pause between two polls: how late an exit may be noticed.
const MAX_POLL: Duration = Duration::from_millis(2);

/// How many bytes at the end of stderr an [`Error::Exit`] keeps.
pub(crate) const STDERR_TAIL_BYTES: usize = 4096;

/// Starts child processes and makes sure none outlives it unreaped.
///
/// Each child runs in its own process group, so that
/// [`terminate_all`](Self::terminate_all) and [`kill_all`](Self::kill_all)
/// also reach the processes it started. Every way a child leaves the
/// manager reaps it: no zombie is left behind. Dropping the manager is
/// [`terminate_all`](Self::terminate_all) with a grace of 100 ms: SIGTERM,
/// then SIGKILL, then reap.
///
/// Two consequences of the process groups, worth knowing: a terminal's
/// Ctrl-C (SIGINT to the foreground group) does not reach the children, and
/// if the manager's process is killed without running `Drop`, they keep
/// running, re-parented to init; and a child that reads the terminal from
/// its background group is stopped by SIGTTIN, so `wait_all` would wait for
/// ever: give such a child another stdin (`Stdio::null()`).
///
/// A child that has been reaped is no longer tracked: a background process
/// it left behind (`sh -c 'sleep 1000 &'` after `sh` exited and was waited
/// for) is not signalled by later calls.
///
/// See the [module documentation](self) for the design.
///
/// # Examples
///
/// ```
/// use ptm::process::ProcessManager;
///
/// # fn main() -> ptm::Result<()> {
/// let mut manager = ProcessManager::new();
/// let ok = manager.spawn("true", &[])?;
/// let failed = manager.spawn("false", &[])?;
/// let reports = manager.wait_all();
/// assert_eq!((reports[0].pid, reports[1].pid), (ok, failed));
/// assert!(reports[0].status.as_ref().is_ok_and(|s| s.success()));
/// assert_eq!(reports[1].status.as_ref().map(|s| s.code()).ok(), Some(Some(1)));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct ProcessManager {
    /// Children not yet reaped, in the order they were started.
    children: Vec<Managed>,
}

/// One child of a [`ProcessManager`].
#[derive(Debug)]
struct Managed {
    child: Child,
    /// The program as given, for [`ExitReport::program`] and messages.
    program: String,
}

/// How one child of a [`ProcessManager`] ended, from
/// [`wait_all`](ProcessManager::wait_all),
/// [`wait_all_timeout`](ProcessManager::wait_all_timeout),
/// [`terminate_all`](ProcessManager::terminate_all) or
/// [`kill_all`](ProcessManager::kill_all).
#[derive(Debug)]
pub struct ExitReport {
    /// The child's process id (also its process group id).
    pub pid: u32,
    /// The program, as given to [`spawn`](ProcessManager::spawn) or
    /// [`spawn_command`](ProcessManager::spawn_command) (lossy UTF-8).
    pub program: String,
    /// How it ended (a code, or on Unix the signal that killed it: see
    /// `std::os::unix::process::ExitStatusExt`), or why that could not be
    /// learned: [`Error::Io`] if waiting for it failed (for example because
    /// something else reaped it) or if it could not be signalled.
    pub status: Result<ExitStatus>,
}

impl ProcessManager {
    /// Creates a manager with no children.
    pub fn new() -> Self {
        ProcessManager::default()
    }

    /// Starts `program` with `args` in a new process group and returns its
    /// pid. The child inherits stdin, stdout, stderr, the environment and
    /// the current directory. `program` is looked up in `PATH` unless it
    /// contains a `/`.
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] naming `program` if it cannot be started: its
    /// `source.kind()` is [`NotFound`](io::ErrorKind::NotFound) for a missing
    /// program, [`PermissionDenied`](io::ErrorKind::PermissionDenied) for a
    /// file that is not executable. The manager is unchanged and stays
    /// usable.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use ptm::{process::ProcessManager, Error};
    ///
    /// let mut manager = ProcessManager::new();
    /// match manager.spawn("no-such-program-xyz", &[]) {
    ///     Err(Error::Spawn { program, source }) => {
    ///         assert_eq!(program, "no-such-program-xyz");
    ///         assert_eq!(source.kind(), ErrorKind::NotFound);
    ///     }
    ///     other => panic!("expected a spawn error, got {other:?}"),
    /// }
    /// assert!(manager.spawn("true", &[]).is_ok());
    /// ```
    pub fn spawn(&mut self, program: &str, args: &[&str]) -> Result<u32> {
        let mut cmd = Command::new(program);
        cmd.args(args);
        self.start(cmd, program.to_owned())
    }

    /// Starts a prepared [`Command`] and returns its pid.
    ///
    /// The command is put in a process group of its own
    /// (`process_group(0)` on Unix), replacing any group it asked for, so
    /// that [`terminate_all`](Self::terminate_all) and
    /// [`kill_all`](Self::kill_all) reach what it starts. Everything else
    /// (environment, directory, redirections) is the command's.
    ///
    /// The manager hands out only the pid, so it closes the parent's end of
    /// any [`Stdio::piped`] stream right after the spawn: the child reads
    /// EOF on a piped stdin and gets `EPIPE` (or SIGPIPE) writing to a piped
    /// stdout or stderr. To talk to the child, pass your own pipe
    /// (`Stdio::from(writer)` of [`std::io::pipe`]) or a file; the
    /// command's copies of such descriptors are closed when it is dropped,
    /// here, right after the spawn.
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] naming the command's program if it cannot be
    /// started, as for [`spawn`](Self::spawn).
    pub fn spawn_command(&mut self, cmd: Command) -> Result<u32> {
        let program = cmd.get_program().to_string_lossy().into_owned();
        self.start(cmd, program)
    }

    /// Spawns `cmd` in its own group and adds it to the manager.
    fn start(&mut self, mut cmd: Command, program: String) -> Result<u32> {
        sys::own_group(&mut cmd);
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(source) => return Err(Error::Spawn { program, source }),
        };
        // Close the command's copies of descriptors it was given (a pipe's
        // write end, say) now, not whenever the caller's frame ends.
        drop(cmd);
        // Nobody could read or write these: close them so that the child
        // sees EOF (or EPIPE) instead of blocking on a pipe forever.
        drop(child.stdin.take());
        drop(child.stdout.take());
        drop(child.stderr.take());
        let pid = child.id();
        self.children.push(Managed { child, program });
        Ok(pid)
    }

    /// Runs `program` with `args` to completion and returns its stdout and
    /// stderr, both read concurrently (a child that writes megabytes to
    /// both cannot deadlock), and its status. Stdin is `/dev/null`. The
    /// child stays in the caller's process group, so a Ctrl-C at the
    /// terminal reaches it as it reaches the caller. There is no timeout: it
    /// returns when stdout and stderr reach end of file, so a background
    /// grandchild holding them makes it wait; use
    /// [`communicate`](crate::ipc::communicate) with a timeout for that.
    ///
    /// # Errors
    ///
    /// - [`Error::Spawn`] naming `program` if it cannot be started.
    /// - [`Error::Exit`] if it exits with a non-zero code or is killed by a
    ///   signal: it carries the program, the arguments, the status and the
    ///   last 4 KiB of stderr (lossy UTF-8).
    /// - [`Error::Io`] if reading its output or waiting for it fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use ptm::{process::ProcessManager, Error};
    ///
    /// let output = ProcessManager::output("echo", &["hi"]).expect("echo runs");
    /// assert_eq!(output.stdout, b"hi\n");
    ///
    /// match ProcessManager::output("sh", &["-c", "echo oops >&2; exit 3"]) {
    ///     Err(Error::Exit { program, status, stderr_tail, .. }) => {
    ///         assert_eq!(program, "sh");
    ///         assert_eq!(status.code(), Some(3));
    ///         assert_eq!(stderr_tail, "oops\n");
    ///     }
    ///     other => panic!("expected an exit error, got {other:?}"),
    /// }
    /// ```
    pub fn output(program: &str, args: &[&str]) -> Result<Output> {
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: program.to_owned(),
                source,
            })?;
        let pid = child.id();
        let output = child.wait_with_output().map_err(|e| {
            io_context(e, &format!("reading the output of `{program}` (pid {pid})"))
        })?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(Error::Exit {
                program: program.to_owned(),
                args: args.iter().map(|&arg| arg.to_owned()).collect(),
                status: output.status,
                stderr_tail: stderr_tail(&output.stderr),
            })
        }
    }

    /// The number of children not yet reaped (running, or exited and not
    /// yet waited for).
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// True if the manager has no unreaped child.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    /// Waits for every child to exit, reaps it and reports how it ended, in
    /// the order the children were started. Blocks as long as a child
    /// runs; see [`wait_all_timeout`](Self::wait_all_timeout) for a
    /// deadline. The manager is empty afterwards.
    ///
    /// A wait that fails (`ECHILD` because something else reaped the
    /// child) is reported in that child's [`ExitReport::status`].
    pub fn wait_all(&mut self) -> Vec<ExitReport> {
        std::mem::take(&mut self.children)
            .into_iter()
            .map(|mut managed| {
                let status = managed.child.wait();
                managed.report(status)
            })
            .collect()
    }

    /// Waits until every child has exited or `timeout` has passed, and
    /// reaps and reports the children that exited, in the order their exit
    /// was noticed. Children still running at the deadline are not in the
    /// result and stay managed. A zero `timeout` checks once, without
    /// waiting.
    ///
    /// This polls with a short back-off (at most 2 ms between checks; see
    /// the module documentation).
    pub fn wait_all_timeout(&mut self, timeout: Duration) -> Vec<ExitReport> {
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            return self.wait_all();
        };
        let mut reports = Vec::new();
        let mut backoff = Backoff::new();
        loop {
            for mut managed in std::mem::take(&mut self.children) {
                match managed.child.try_wait() {
                    Ok(None) => self.children.push(managed),
                    Ok(Some(status)) => reports.push(managed.report(Ok(status))),
                    // Not transient (std retries EINTR): the child cannot be
                    // waited for, so keeping it would only fail again.
                    Err(e) => reports.push(managed.report(Err(e))),
                }
            }
            if self.children.is_empty() || !backoff.sleep_until(deadline) {
                return reports;
            }
        }
    }

    /// Ends every child: SIGTERM (then SIGCONT, so that a stopped child can
    /// act on it) to each child's process group; SIGKILL to each group once
    /// every process in those groups has exited (on Linux, grandchildren
    /// included, read from `/proc`; elsewhere, the children) or `grace` has
    /// passed, whichever comes first; then reaps and reports every child, in
    /// the order they were started.
    ///
    /// A child that could not be signalled (`EPERM`, if it changed its
    /// credentials) and has not exited is reported with the error and
    /// stays managed rather than be waited for forever.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// use std::time::Duration;
    /// use ptm::process::ProcessManager;
    ///
    /// # fn main() -> ptm::Result<()> {
    /// let mut manager = ProcessManager::new();
    /// manager.spawn("sleep", &["1000"])?;
    /// let reports = manager.terminate_all(Duration::from_secs(5));
    /// let status = reports[0].status.as_ref().expect("sleep was reaped");
    /// assert_eq!(status.signal(), Some(15)); // SIGTERM was enough
    /// assert!(manager.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn terminate_all(&mut self, grace: Duration) -> Vec<ExitReport> {
        if self.children.is_empty() {
            return Vec::new();
        }
        for managed in &mut self.children {
            // A failure here shows again, and is reported, at the SIGKILL.
            let _ = sys::terminate(&mut managed.child);
        }
        let mut exited = vec![false; self.children.len()];
        let deadline = Instant::now().checked_add(grace);
        let mut backoff = Backoff::new();
        loop {
            for (managed, exited) in self.children.iter_mut().zip(&mut exited) {
                if !*exited {
                    // An error (ECHILD) means there is nothing to wait for:
                    // count it as exited; the reaping wait reports it.
                    *exited = sys::has_exited(&mut managed.child).unwrap_or(true);
                }
            }
            // The children's groups outlive the children while grandchildren
            // run in them: those get the grace too (the zombie leaders, held
            // unreaped, keep the group ids from being reused meanwhile).
            if exited.iter().all(|&exited| exited) && !sys::groups_have_live_members(&self.children)
            {
                break;
            }
            match deadline {
                Some(deadline) if !backoff.sleep_until(deadline) => break,
                Some(_) => {}
                None => backoff.sleep(),
            }
        }
        self.kill_and_reap(&exited)
    }

    /// Sends SIGKILL to every child's process group, then reaps and reports
    /// every child, in the order they were started: no child, zombie or
    /// process left in their groups survives. Returns as fast as the kernel
    /// delivers the signals: on Linux, once no process of those groups
    /// (grandchildren included, read from `/proc`) is alive, or after a
    /// second if one cannot die yet.
    ///
    /// A child that could not be signalled (`EPERM`) and has not exited is
    /// reported with the error and stays managed.
    pub fn kill_all(&mut self) -> Vec<ExitReport> {
        let exited = vec![false; self.children.len()];
        self.kill_and_reap(&exited)
    }

    /// SIGKILL to every group, then reap: signalling all groups before the
    /// first wait both lets the children die in parallel and keeps each
    /// group id held by its unreaped leader while it is signalled.
    /// `exited[i]` says that child `i` is known to have exited.
    fn kill_and_reap(&mut self, exited: &[bool]) -> Vec<ExitReport> {
        let mut children = std::mem::take(&mut self.children);
        let sent: Vec<io::Result<()>> = children
            .iter_mut()
            .zip(exited)
            .map(|(managed, &exited)| sys::kill(&mut managed.child, exited))
            .collect();
        // SIGKILL acts when its target next runs, so the grandchildren may
        // still be alive for a moment: wait (bounded) until no process of
        // the groups is, so that none is left when this returns. The
        // leaders are not reaped yet, so no group id can be reused meanwhile.
        let deadline = Instant::now().checked_add(KILL_WAIT);
        let mut backoff = Backoff::new();
        while sys::groups_have_live_members(&children)
            && deadline.is_some_and(|deadline| backoff.sleep_until(deadline))
        {}
        let mut reports = Vec::with_capacity(children.len());
        for ((mut managed, &exited), sent) in children.into_iter().zip(exited).zip(sent) {
            let status = match sent {
                Err(e) if !exited => match managed.child.try_wait() {
                    Ok(Some(status)) => Ok(status),
                    // Still running and out of reach: waiting would hang.
                    _ => {
                        let pid = managed.child.id();
                        let error = io_context(
                            e,
                            &format!("sending SIGKILL to `{}` (pid {pid})", managed.program),
                        );
                        reports.push(ExitReport {
                            pid,
                            program: managed.program.clone(),
                            status: Err(error),
                        });
                        self.children.push(managed);
                        continue;
                    }
                },
                _ => managed.child.wait(),
            };
            reports.push(managed.report(status));
        }
        reports
    }
}

impl std::fmt::Display for ExitReport {
    /// `sleep (pid 1234): signal: 9 (SIGKILL)`, or the error.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (pid {}): ", self.program, self.pid)?;
        match &self.status {
            Ok(status) => write!(f, "{status}"),
            Err(error) => write!(f, "{error}"),
        }
    }
}

impl Drop for ProcessManager {
    /// [`terminate_all`](ProcessManager::terminate_all) with a grace of
    /// 100 ms: no child is left running or unreaped (except one that could
    /// not be signalled at all).
    fn drop(&mut self) {
        drop(self.terminate_all(DROP_GRACE));
    }
}

impl Managed {
    /// The report for this child, from the result of waiting for it.
    fn report(self, status: io::Result<ExitStatus>) -> ExitReport {
        let pid = self.child.id();
        let status = status
            .map_err(|e| io_context(e, &format!("waiting for `{}` (pid {pid})", self.program)));
        ExitReport {
            pid,
            program: self.program,
            status,
        }
    }
}

/// An [`Error::Io`] of the same kind as `error` whose message says what was
/// being done.
fn io_context(error: io::Error, doing: &str) -> Error {
    Error::Io(io::Error::new(error.kind(), format!("{doing}: {error}")))
}

/// The last [`STDERR_TAIL_BYTES`] of `stderr` as lossy UTF-8, for
/// [`Error::Exit`]. When the cut falls inside the output, the tail starts at
/// the first line start after it if a whole line follows, else at the first
/// character boundary: never empty when `stderr` is not (a single long line
/// ending in a newline keeps its end), never starting inside a character.
pub(crate) fn stderr_tail(stderr: &[u8]) -> String {
    let mut start = stderr.len().saturating_sub(STDERR_TAIL_BYTES);
    if start > 0 {
        let tail = &stderr[start..];
        // A line start, if some of the tail is left after it, ignoring the
        // output's own final newline.
        let body = tail.strip_suffix(b"\n").unwrap_or(tail);
        if let Some(newline) = body.iter().position(|&byte| byte == b'\n') {
            start += newline + 1;
        } else {
            // Skip at most the 3 continuation bytes a UTF-8 character can have.
            for _ in 0..3 {
                match stderr.get(start) {
                    Some(byte) if byte & 0xC0 == 0x80 => start += 1,
                    _ => break,
                }
            }
        }
    }
    String::from_utf8_lossy(&stderr[start..]).into_owned()
}

/// The pauses between two polls of children that have a deadline:
/// [`FIRST_POLL`], doubling up to [`MAX_POLL`].
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Self {
        Backoff { next: FIRST_POLL }
    }

    /// Sleeps for the next pause, cut short at `deadline`. Returns false,
    /// without sleeping, if the deadline has passed.
    fn sleep_until(&mut self, deadline: Instant) -> bool {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let pause = self.next.min(deadline - now);
        self.next = (self.next * 2).min(MAX_POLL);
        thread::sleep(pause);
        true
    }

    /// Sleeps for the next pause (no deadline).
    fn sleep(&mut self) {
        let pause = self.next;
        self.next = (self.next * 2).min(MAX_POLL);
        thread::sleep(pause);
    }
}

/// Information about the current process, and ways to end it.
///
/// All functions are associated functions: `ProcessInfo::pid()`. They are
/// thin wrappers over `std::process` and `std::env`, with two fixes over
/// the seed's version (section "Process Information and Control"):
/// [`args`](Self::args) and [`env_vars`](Self::env_vars) convert non-UTF-8
/// text lossily where `std::env::args` and `std::env::vars` panic, and
/// errors keep their [`io::ErrorKind`] and say what failed.
///
/// # Examples
///
/// ```
/// use ptm::process::ProcessInfo;
///
/// assert_eq!(ProcessInfo::pid(), std::process::id());
/// assert!(!ProcessInfo::args().is_empty());
/// let dir = ProcessInfo::current_dir().expect("the current directory exists");
/// assert!(dir.is_absolute());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessInfo;

impl ProcessInfo {
    /// The current process's id.
    pub fn pid() -> u32 {
        std::process::id()
    }

    /// The parent process's id. If the parent has exited, this is the
    /// process that adopted this one (init, or a subreaper).
    #[cfg(unix)]
    pub fn ppid() -> u32 {
        std::os::unix::process::parent_id()
    }

    /// The command-line arguments, the program name first. Arguments that
    /// are not valid UTF-8 are converted lossily (invalid bytes become
    /// U+FFFD) instead of panicking as `std::env::args` does.
    pub fn args() -> Vec<String> {
        env::args_os()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect()
    }

    /// The environment variables, as `(name, value)` pairs. Names and
    /// values that are not valid UTF-8 are converted lossily instead of
    /// panicking as `std::env::vars` does.
    pub fn env_vars() -> Vec<(String, String)> {
        env::vars_os()
            .map(|(name, value)| {
                (
                    name.to_string_lossy().into_owned(),
                    value.to_string_lossy().into_owned(),
                )
            })
            .collect()
    }

    /// The current working directory.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if it cannot be read, for example because it was
    /// deleted ([`NotFound`](io::ErrorKind::NotFound)).
    pub fn current_dir() -> Result<PathBuf> {
        env::current_dir().map_err(|e| io_context(e, "reading the current directory"))
    }

    /// Changes the current working directory to `path`.
    ///
    /// The working directory belongs to the whole process, not to the
    /// calling thread: this changes it for every thread at once, and races
    /// with any other thread that uses relative paths or changes it too
    /// (tests run as threads of one process, for example). To run a child
    /// elsewhere, prefer [`Command::current_dir`].
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming `path` if the change fails
    /// ([`NotFound`](io::ErrorKind::NotFound),
    /// [`PermissionDenied`](io::ErrorKind::PermissionDenied), ...).
    pub fn set_current_dir(path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        env::set_current_dir(path).map_err(|e| {
            io_context(
                e,
                &format!("changing the current directory to `{}`", path.display()),
            )
        })
    }

    /// Ends the process with exit code `code`, as [`std::process::exit`]:
    /// std's buffered stdout is flushed, but no destructor runs, on this
    /// thread or any other (so a [`ProcessManager`] still alive is not
    /// dropped and its children are not terminated).
    ///
    /// ```no_run
    /// ptm::process::ProcessInfo::exit(2);
    /// ```
    pub fn exit(code: i32) -> ! {
        std::process::exit(code)
    }

    /// Ends the process abnormally at once, as [`std::process::abort`]
    /// (on Unix by SIGABRT): nothing is flushed, no destructor runs.
    ///
    /// ```no_run
    /// ptm::process::ProcessInfo::abort();
    /// ```
    pub fn abort() -> ! {
        std::process::abort()
    }
}

/// Process groups and signals, on Unix.
#[cfg(unix)]
mod sys {
    use std::io;
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command};

    use nix::errno::Errno;
    use nix::sys::signal::{kill as kill_pid, killpg, Signal};
    use nix::unistd::{getpgid, Pid};

    /// Makes the command start in a new process group, led by the child.
    pub(super) fn own_group(cmd: &mut Command) {
        cmd.process_group(0);
    }

    /// The child's pid as nix wants it.
    fn pid(child: &Child) -> io::Result<Pid> {
        i32::try_from(child.id())
            .map(Pid::from_raw)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "pid out of range"))
    }

    /// Sends `signal` to the child's process group, and to the child itself
    /// if it no longer leads that group. `ESRCH` (nothing left to signal)
    /// is not an error. `exited`: the child is known to have exited, so it
    /// is not signalled by pid (where `has_exited` reaps, the pid may be
    /// free), only its group, which a pid in use as a group id keeps
    /// from being reused.
    fn send(child: &Child, signal: Signal, exited: bool) -> io::Result<()> {
        let pid = pid(child)?;
        let group = killpg(pid, signal);
        if exited {
            return Ok(());
        }
        let leads_its_group = getpgid(Some(pid)) == Ok(pid);
        match group {
            Ok(()) if leads_its_group => Ok(()),
            _ => match kill_pid(pid, signal) {
                Ok(()) | Err(Errno::ESRCH) => Ok(()),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// SIGTERM, then SIGCONT (a stopped process acts on SIGTERM only once
    /// continued), to the child's group.
    pub(super) fn terminate(child: &mut Child) -> io::Result<()> {
        send(child, Signal::SIGTERM, false)?;
        send(child, Signal::SIGCONT, false)
    }

    /// True if a process other than a zombie is in the process group of one
    /// of `children` (each leads its own group). Linux reads `/proc`; where
    /// there is no `/proc`, `false`: only the children themselves are
    /// waited for.
    pub(super) fn groups_have_live_members(children: &[super::Managed]) -> bool {
        let groups: Vec<u32> = children.iter().map(|managed| managed.child.id()).collect();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return false;
        };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
            .any(|stat| {
                // `pid (comm) state ppid pgrp ...`; comm may hold spaces and
                // parentheses, so split after its last `)`.
                let mut fields = stat
                    .rsplit_once(')')
                    .map_or("", |(_, rest)| rest)
                    .split_whitespace();
                let state = fields.next();
                let group = fields.nth(1).and_then(|group| group.parse::<u32>().ok());
                state.is_some_and(|state| state != "Z" && state != "X")
                    && group.is_some_and(|group| groups.contains(&group))
            })
    }

    /// SIGKILL to the child's group.
    pub(super) fn kill(child: &mut Child, exited: bool) -> io::Result<()> {
        send(child, Signal::SIGKILL, exited)
    }

    /// True if the child has exited. Leaves it unreaped (`WNOWAIT`), so its
    /// pid and group id stay reserved until [`Child::wait`].
    #[cfg(any(
        target_os = "android",
        target_os = "freebsd",
        target_os = "haiku",
        all(target_os = "linux", not(target_env = "uclibc")),
    ))]
    pub(super) fn has_exited(child: &mut Child) -> io::Result<bool> {
        use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};

        let pid = pid(child)?;
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        loop {
            match waitid(Id::Pid(pid), flags) {
                Ok(WaitStatus::StillAlive) => return Ok(false),
                Ok(_) => return Ok(true),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// True if the child has exited (reaps it: std keeps the status for the
    /// later [`Child::wait`]).
    #[cfg(not(any(
        target_os = "android",
        target_os = "freebsd",
        target_os = "haiku",
        all(target_os = "linux", not(target_env = "uclibc")),
    )))]
    pub(super) fn has_exited(child: &mut Child) -> io::Result<bool> {
        Ok(child.try_wait()?.is_some())
    }
}

/// Without Unix process groups and signals: the child alone is killed.
#[cfg(not(unix))]
mod sys {
    use std::io;
    use std::process::{Child, Command};

    pub(super) fn own_group(_cmd: &mut Command) {}

    pub(super) fn terminate(child: &mut Child) -> io::Result<()> {
        child.kill()
    }

    pub(super) fn groups_have_live_members(_children: &[super::Managed]) -> bool {
        false
    }

    pub(super) fn kill(child: &mut Child, exited: bool) -> io::Result<()> {
        if exited {
            Ok(())
        } else {
            child.kill()
        }
    }

    pub(super) fn has_exited(child: &mut Child) -> io::Result<bool> {
        Ok(child.try_wait()?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::{stderr_tail, STDERR_TAIL_BYTES};

    #[test]
    fn stderr_tail_keeps_short_output_whole() {
        assert_eq!(stderr_tail(b"oops\n"), "oops\n");
        assert_eq!(stderr_tail(b""), "");
    }

    #[test]
    fn stderr_tail_keeps_the_last_bytes_at_a_char_boundary() {
        // 'é' is two bytes: an odd prefix puts the cut inside one.
        let mut text = "x".repeat(3);
        text.push_str(&"é".repeat(STDERR_TAIL_BYTES));
        text.push_str("END");
        let tail = stderr_tail(text.as_bytes());
        assert!(tail.ends_with("END"));
        assert!(!tail.contains('\u{FFFD}'), "cut inside a character");
        assert!(tail.len() <= STDERR_TAIL_BYTES);
        assert!(tail.len() >= STDERR_TAIL_BYTES - 3);
    }

    /// Found in review: one long line ending in a newline gave an empty tail
    /// (the cut went to just after that final newline).
    #[test]
    fn stderr_tail_of_one_long_line_keeps_its_end() {
        let mut text = "error: ".to_owned();
        text.push_str(&"x".repeat(10_000));
        text.push_str(" the end\n");
        let tail = stderr_tail(text.as_bytes());
        assert!(tail.ends_with(" the end\n"), "{tail:?}");
        assert!(tail.len() >= STDERR_TAIL_BYTES - 3);
    }

    #[test]
    fn stderr_tail_starts_at_a_line_when_a_whole_line_follows() {
        let stderr: String = (0..2000).map(|n| format!("line {n}\n")).collect();
        let tail = stderr_tail(stderr.as_bytes());
        assert!(tail.len() <= STDERR_TAIL_BYTES);
        assert!(tail.starts_with("line "), "{tail:?}");
        assert!(tail.ends_with("line 1999\n"));
        assert!(stderr.ends_with(&tail));
    }
}
