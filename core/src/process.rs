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
//! through std's `posix_spawn` fast path unless this process holds
//! descriptors without close-on-exec (see *File descriptors* below).
//! [`ProcessManager::terminate_all`] and [`ProcessManager::kill_all`] signal
//! the whole group (through the child's pidfd, below), so what the child started (the `sleep` of
//! `sh -c 'sleep 1000 & sleep 1000; wait'`) dies with it instead of being
//! orphaned to init. A child that moved itself to another group is signalled
//! by pid as well. A group that no longer exists (`ESRCH`) is not an error.
//!
//! **Reaping.** A process that has exited stays a *zombie* (an entry in the
//! process table holding its exit status) until its parent waits for it.
//! Every operation that ends children here also reaps them
//! (`waitid`): after [`kill_all`](ProcessManager::kill_all),
//! [`terminate_all`](ProcessManager::terminate_all), [`wait_all`](ProcessManager::wait_all)
//! or a drop of the manager, no zombie and no running child of the manager
//! is left. The common first attempt, `Child::kill` on each child and then
//! clearing the `Vec<Child>`, goes wrong three ways: `kill` only sends
//! SIGKILL, and dropping a `Child` neither kills nor waits, so each killed
//! child stays a zombie for the life of the parent, the grandchildren keep
//! running, and a manager that is merely dropped leaves its children running
//! as orphans. A "wait for all" that keeps only the statuses of the waits
//! that worked returns a list that no longer says which child each belongs
//! to; [`ExitReport`] carries the pid and program with each status.
//!
//! **No signal to a recycled pid.** A pid, and so a process group id, names
//! a process only until it is reaped; then the kernel may give the number
//! to another process. A child can be reaped behind the manager's back:
//! with SIGCHLD set to `SIG_IGN` the kernel reaps children itself, and a
//! `waitpid(-1, ..)` elsewhere in the program reaps whichever exits. So on
//! Linux each child is held by a *pidfd* (`pidfd_open(2)`, checked right
//! after the spawn to be our own child), and every signal goes through it
//! (`pidfd_send_signal(2)`; to the group with `PIDFD_SIGNAL_PROCESS_GROUP`,
//! Linux 6.9, which names the group by the leader's identity, not its
//! number): it reaches that process or nobody. A child reaped elsewhere is
//! reported with [`Error::StatusLost`] and never signalled by pid again.
//! Before Linux 6.9 the group is signalled with `killpg` only while its
//! leader is unreaped.
//!
//! **Waiting with a deadline.** [`wait_all_timeout`](ProcessManager::wait_all_timeout)
//! and the grace period of `terminate_all` sleep in `poll(2)` on the
//! children's pidfds, which become readable when the child exits: an exit
//! is noticed at once, and a long wait costs no CPU. During the grace the
//! check is `waitid(P_PIDFD, WEXITED | WNOHANG | WNOWAIT)`, which sees an
//! exit without reaping, so the SIGKILL that follows still reaches the
//! groups of exited leaders. Once the children have exited, grandchildren
//! still in their groups are looked for in `/proc` at a falling rate (after
//! 1, 2, 4 ... ms, then every 50 ms). Every wait after SIGKILL is bounded
//! (a second): a child frozen or in uninterruptible sleep, which cannot die
//! yet, is reported with an error naming it, its group's survivors in
//! [`ExitReport::survivors`], and handed to ptm's one background reaper
//! thread, which reaps it when it finally exits.
//!
//! # Parent death
//!
//! A process that dies by a signal (Ctrl-C, SIGTERM, SIGKILL) runs no
//! destructor, so the manager's `Drop` cannot end its children; in their
//! own process groups, a terminal's Ctrl-C does not reach them either. By
//! default, ptm therefore registers every child with its *guardian*: a
//! small process, started on the first spawn, in a session of its own,
//! that holds a pidfd of each child and, when this process is gone
//! (it reads end of file on a socket only this process holds), sends
//! SIGKILL to each child's process group and exits. The children of a
//! [`ProcessManager`], of [`communicate`](crate::ipc::communicate) and of a
//! [`Pipeline`](crate::ipc::Pipeline) are gone, with what they started,
//! within milliseconds of their parent's death, whatever killed it.
//!
//! This is not `prctl(PR_SET_PDEATHSIG)`, which fires when the *thread*
//! that spawned the child exits (a child started from a short-lived thread
//! would die with that thread) and reaches only the child, not its group.
//!
//! To let children outlive this process (a daemon, a detached job), use
//! [`ProcessManager::die_with_parent(false)`](ProcessManager::die_with_parent)
//! or [`Pipeline::die_with_parent(false)`](crate::ipc::Pipeline::die_with_parent).
//! The guardian's limits: a child is registered just after its spawn
//! returns, so a parent that dies in those few microseconds leaves that one
//! child unguarded (the guardian itself is started before the spawn); a
//! process this one forks without `exec` inherits
//! its socket, so the guardian waits for that one too; an `exec` of this
//! process counts as its death; a guardian killed with SIGKILL protects
//! nothing (a new one is started for later children).
//!
//! **File descriptors.** A child holds only stdin, stdout and stderr: std
//! opens its own descriptors close-on-exec, and any descriptor this process
//! holds *without* close-on-exec (inherited from a shell, opened by C code)
//! is marked close-on-exec in the child before `exec` (listed from
//! `/proc/self/fd` at the spawn; when there is none, nothing is added and
//! std keeps its `posix_spawn` fast path). A child started with
//! [`ProcessManager::spawn`] inherits stdin, stdout and stderr: the manager
//! holds no pipe. [`ProcessManager::output`] reads the child's stdout and
//! stderr concurrently, so a child that fills one pipe while the parent
//! reads the other cannot deadlock.
//!
//! The module is for Linux (pidfds, `/proc`). On a Linux kernel before 5.3,
//! which has no `pidfd_open`, children are tracked by pid through std's
//! `Child`, with the old caveat: do not reap them elsewhere.

use std::env;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::child::{reap_in_background, wait_for_exit, Guard, State, Tracked, NO_PIDFD_POLL};
use crate::error::{Error, Result};
pub use crate::popen::Process;
/// The signals of [`Process::signal`] (nix's, re-exported).
pub use nix::sys::signal::Signal;

/// How long dropping a [`ProcessManager`] waits after SIGTERM before SIGKILL.
const DROP_GRACE: Duration = Duration::from_millis(100);

/// How long `kill_all` waits, after SIGKILL, for the processes of the
/// children's groups to be gone (one in uninterruptible sleep can take
/// longer; it is then left to die on its own).
const KILL_WAIT: Duration = Duration::from_secs(1);

/// The first pause between two reads of `/proc` for the live members of
/// the children's groups, once the children themselves have exited.
const FIRST_SCAN: Duration = Duration::from_millis(1);

/// The longest pause between two such reads (at most 20 a second).
const MAX_SCAN: Duration = Duration::from_millis(50);

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
/// Ctrl-C (SIGINT to the foreground group) does not reach the children
/// (but if it kills this process, ptm's guardian kills them: see
/// [parent death](self#parent-death)); and a child that reads the terminal
/// from its background group is stopped by SIGTTIN, so `wait_all` would
/// wait for ever: give such a child another stdin (`Stdio::null()`).
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
#[derive(Debug)]
pub struct ProcessManager {
    /// Children not yet reaped, in the order they were started.
    children: Vec<Process>,
    /// Register each child with the guardian (the default).
    die_with_parent: bool,
}

impl Default for ProcessManager {
    fn default() -> Self {
        ProcessManager {
            children: Vec::new(),
            die_with_parent: true,
        }
    }
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
    /// learned: [`Error::StatusLost`] if something else reaped it (SIGCHLD
    /// ignored, a `waitpid(-1)` elsewhere), [`Error::Io`] if it could not be
    /// signalled or did not die within a second of SIGKILL.
    pub status: Result<ExitStatus>,
    /// Processes of the child's process group (what it started) still
    /// alive when [`terminate_all`](ProcessManager::terminate_all) or
    /// [`kill_all`](ProcessManager::kill_all) stopped waiting for them, a
    /// second after SIGKILL: frozen, or in uninterruptible sleep (a hung
    /// NFS or FUSE mount). Empty otherwise.
    pub survivors: Vec<u32>,
}

impl ProcessManager {
    /// Creates a manager with no children. Its children die with this
    /// process (see [`die_with_parent`](Self::die_with_parent)).
    pub fn new() -> Self {
        ProcessManager::default()
    }

    /// Whether the children started from now on, with their process groups,
    /// are killed when this process dies, by any signal, SIGKILL included
    /// (default: `true`). With `false` they outlive it, re-parented to init,
    /// as daemons and detached jobs should; they are still terminated when
    /// the manager is dropped normally (so keep it alive, or end the
    /// program without running its destructors).
    ///
    /// How: ptm's guardian, a small process started on first use that holds
    /// a pidfd of every child and kills their groups when this process is
    /// gone (see the [module documentation](self#parent-death)).
    ///
    /// ```
    /// use ptm::process::ProcessManager;
    ///
    /// let mut detached = ProcessManager::new().die_with_parent(false);
    /// detached.spawn("true", &[])?;
    /// assert!(detached.wait_all()[0].status.is_ok());
    /// # Ok::<(), ptm::Error>(())
    /// ```
    pub fn die_with_parent(mut self, die: bool) -> Self {
        self.die_with_parent = die;
        self
    }

    /// Starts `program` with `args` in a new process group and returns its
    /// pid. The child inherits stdin, stdout, stderr, the environment and
    /// the current directory, but no other descriptor. `program` is looked
    /// up in `PATH` unless it contains a `/`.
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] naming `program` if it cannot be started: its
    /// `source.kind()` is [`NotFound`](io::ErrorKind::NotFound) for a missing
    /// program, [`PermissionDenied`](io::ErrorKind::PermissionDenied) for a
    /// file that is not executable. [`Error::Io`] if it started but could
    /// not be tracked (out of descriptors for its pidfd); it is killed and
    /// reaped first. The manager is unchanged and stays usable.
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
    /// started, as for [`spawn`](Self::spawn); when the cause is its working
    /// directory (missing, or not a directory), the error names the
    /// directory.
    pub fn spawn_command(&mut self, cmd: Command) -> Result<u32> {
        let program = cmd.get_program().to_string_lossy().into_owned();
        self.start(cmd, program)
    }

    /// Spawns `cmd` in its own group and adds it to the manager.
    fn start(&mut self, cmd: Command, program: String) -> Result<u32> {
        let guard = if self.die_with_parent {
            Guard::Group
        } else {
            Guard::None
        };
        // In a group of its own, with no inherited descriptor; the
        // command's copies of descriptors it was given (a pipe's write end,
        // say) are closed now, not whenever the caller's frame ends.
        let child = Process::start(cmd, program, guard)?;
        // Nobody could read or write these: close them so that the child
        // sees EOF (or EPIPE) instead of blocking on a pipe forever.
        drop(child.take_stdin());
        drop(child.take_stdout());
        drop(child.take_stderr());
        let pid = child.pid();
        self.children.push(child);
        Ok(pid)
    }

    /// The managed child with this pid, to wait for or signal it alone
    /// (see [`Process`]); `None` if no child of this manager has it. A
    /// child reaped through it stays managed, and is returned here, until
    /// the manager's next wait reports it, with the same status. If the
    /// kernel has since given its pid to a later child of this manager,
    /// the later one is returned.
    ///
    /// ```
    /// use ptm::process::{ProcessManager, Signal};
    ///
    /// # fn main() -> ptm::Result<()> {
    /// let mut manager = ProcessManager::new();
    /// let sleeper = manager.spawn("sleep", &["1000"])?;
    /// manager.spawn("true", &[])?;
    /// let one = manager.process(sleeper).expect("managed");
    /// one.signal(Signal::SIGKILL)?;
    /// assert!(!one.wait()?.success());
    /// assert_eq!(manager.wait_all().len(), 2); // both reported
    /// # Ok(())
    /// # }
    /// ```
    pub fn process(&self, pid: u32) -> Option<&Process> {
        self.children.iter().rev().find(|child| child.pid() == pid)
    }

    /// Runs `program` with `args` to completion and returns its stdout and
    /// stderr, both read concurrently (a child that writes megabytes to
    /// both cannot deadlock), and its status. Stdin is `/dev/null`. The
    /// child stays in the caller's process group, so a Ctrl-C at the
    /// terminal reaches it as it reaches the caller; if the caller dies
    /// first, the child is killed (not what it started: it has no group of
    /// its own). There is no timeout: it returns when stdout and stderr
    /// reach end of file, so a background grandchild holding them makes it
    /// wait; use [`communicate`](crate::ipc::communicate) with a timeout for
    /// that.
    ///
    /// # Errors
    ///
    /// - [`Error::Spawn`] naming `program` if it cannot be started.
    /// - [`Error::Exit`] if it exits with a non-zero code or is killed by a
    ///   signal: it carries the program, the arguments, the status and the
    ///   last 4 KiB of stderr (lossy UTF-8).
    /// - [`Error::StatusLost`], with the output, if something else reaped
    ///   it (SIGCHLD ignored).
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
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        close_inherited_fds(&mut cmd);
        crate::guardian::prepare()?;
        let mut child = cmd
            .spawn()
            .map_err(|source| spawn_error(&cmd, program.to_owned(), source))?;
        drop(cmd);
        let pipes = (child.stdout.take(), child.stderr.take());
        let mut tracked = Tracked::new(child, program, Guard::Process, false)?;
        let read = match pipes {
            (Some(stdout), Some(stderr)) => crate::ipc::read_both(stdout.into(), stderr.into()),
            _ => Err(io::Error::other("std gave no pipes")),
        };
        let (stdout, stderr) = match read {
            Ok(output) => output,
            Err(error) => {
                let error = tracked.context(error, "reading the output of");
                let _ = tracked.signal(Signal::SIGKILL);
                let soon = Instant::now().checked_add(KILL_WAIT);
                if matches!(tracked.wait_until(soon), Ok(State::Running)) {
                    reap_in_background(tracked);
                }
                return Err(Error::Io(error));
            }
        };
        let status = match tracked.wait_until(None) {
            Ok(State::Reaped(status)) => status,
            Ok(_) => {
                return Err(Error::StatusLost {
                    program: program.to_owned(),
                    pid: tracked.pid(),
                    stdout,
                    stderr,
                })
            }
            Err(error) => return Err(Error::Io(tracked.context(error, "waiting for"))),
        };
        if status.success() {
            Ok(Output {
                status,
                stdout,
                stderr,
            })
        } else {
            Err(Error::Exit {
                program: program.to_owned(),
                args: args.iter().map(|&arg| arg.to_owned()).collect(),
                status,
                stderr_tail: stderr_tail(&stderr),
            })
        }
    }

    /// The number of children the manager holds: running, or exited and
    /// not yet reported by one of its waits (a child reaped through
    /// [`process`](Self::process) counts until then).
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
    /// A child that something else reaped (SIGCHLD ignored, a
    /// `waitpid(-1)` elsewhere) is reported with [`Error::StatusLost`].
    pub fn wait_all(&mut self) -> Vec<ExitReport> {
        std::mem::take(&mut self.children)
            .into_iter()
            .map(|mut child| {
                let state = tracked(&mut child).wait_until(None);
                report(&child, state, Vec::new())
            })
            .collect()
    }

    /// Waits until every child has exited or `timeout` has passed, and
    /// reaps and reports the children that exited, in the order their exit
    /// was noticed. Children still running at the deadline are not in the
    /// result and stay managed. A zero `timeout` checks once, without
    /// waiting.
    ///
    /// On Linux this sleeps in `poll(2)` on the children's pidfds, so an
    /// exit is noticed as soon as it happens, with no polling loop.
    pub fn wait_all_timeout(&mut self, timeout: Duration) -> Vec<ExitReport> {
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            return self.wait_all();
        };
        let mut reports = Vec::new();
        loop {
            for mut child in std::mem::take(&mut self.children) {
                match tracked(&mut child).try_reap() {
                    Ok(State::Running) => self.children.push(child),
                    state => reports.push(report(&child, state, Vec::new())),
                }
            }
            if self.children.is_empty() || !self.wait_for_an_exit(&[], Some(deadline)) {
                return reports;
            }
        }
    }

    /// Sleeps until one of the children not marked in `exited` exits, or
    /// until `deadline`. False once the deadline has passed.
    fn wait_for_an_exit(&self, exited: &[bool], deadline: Option<Instant>) -> bool {
        let mut fds = Vec::new();
        let mut without_pidfd = false;
        for (index, child) in self.children.iter().enumerate() {
            if exited.get(index).copied().unwrap_or(false) {
                continue;
            }
            match child.watch() {
                Some(fd) => fds.push(fd),
                None => without_pidfd = true,
            }
        }
        if wait_for_exit(&fds, without_pidfd, deadline).is_err() {
            // Cannot be waited out (EINTR is retried inside): check the
            // children again after a pause rather than spin.
            thread::sleep(NO_PIDFD_POLL);
        }
        deadline.is_none_or(|deadline| Instant::now() < deadline)
    }

    /// Ends every child: SIGTERM (then SIGCONT, so that a stopped child can
    /// act on it) to each child's process group; SIGKILL to each group once
    /// every process in those groups has exited (on Linux, grandchildren
    /// included, read from `/proc`; elsewhere, the children) or `grace` has
    /// passed, whichever comes first; then reaps and reports every child, in
    /// the order they were started.
    ///
    /// During the grace the children themselves are waited for on their
    /// pidfds (no polling); once they have exited, their groups are read
    /// from `/proc` at a falling rate (after 1 ms, 2 ms, 4 ms, ... then every
    /// 50 ms), so a long grace costs almost no CPU.
    ///
    /// A child that could not be signalled (`EPERM`, if it changed its
    /// credentials) and has not exited is reported with the error and
    /// stays managed rather than be waited for forever. One that does not
    /// die within a second of SIGKILL (frozen, or in uninterruptible sleep)
    /// is reported with an error naming it and handed to a background
    /// reaper; its group's survivors are in [`ExitReport::survivors`].
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
        for child in &mut self.children {
            // A failure here shows again, and is reported, at the SIGKILL.
            let _ = tracked(child).signal_group(Signal::SIGTERM);
            let _ = tracked(child).signal_group(Signal::SIGCONT);
        }
        let deadline = Instant::now().checked_add(grace);
        let mut exited = vec![false; self.children.len()];
        self.wait_for_groups(&mut exited, deadline);
        self.kill_and_reap(&exited)
    }

    /// Waits until every child has exited and no live process is left in
    /// their groups, or until `deadline`. `exited[i]` is kept up to date
    /// (exited, not reaped: the leaders keep their group ids reserved).
    fn wait_for_groups(&mut self, exited: &mut [bool], deadline: Option<Instant>) {
        let mut scan_pause = FIRST_SCAN;
        loop {
            for (child, exited) in self.children.iter_mut().zip(exited.iter_mut()) {
                if !*exited {
                    // An error means there is nothing to wait for: count
                    // it as exited; the reaping wait reports it.
                    *exited = tracked(child).has_exited().unwrap_or(true);
                }
            }
            if exited.iter().all(|&exited| exited) {
                // The children's groups outlive the children while
                // grandchildren run in them: those get the grace too.
                if live_members(&self.children).is_empty() {
                    return;
                }
                let now = Instant::now();
                let pause = match deadline {
                    Some(deadline) if now >= deadline => return,
                    Some(deadline) => scan_pause.min(deadline - now),
                    None => scan_pause,
                };
                thread::sleep(pause);
                scan_pause = (scan_pause * 2).min(MAX_SCAN);
            } else if !self.wait_for_an_exit(exited, deadline) {
                return;
            }
        }
    }

    /// Sends SIGKILL to every child's process group, then reaps and reports
    /// every child, in the order they were started: no child, zombie or
    /// process left in their groups survives. Returns as fast as the kernel
    /// delivers the signals: on Linux, once no process of those groups
    /// (grandchildren included, read from `/proc`) is alive, or after a
    /// second if one cannot die yet (frozen, or in uninterruptible sleep):
    /// such a child is reported with an error naming it and handed to a
    /// background reaper; what is left of its group is in
    /// [`ExitReport::survivors`].
    ///
    /// A child that could not be signalled (`EPERM`) and has not exited is
    /// reported with the error and stays managed.
    pub fn kill_all(&mut self) -> Vec<ExitReport> {
        let exited = vec![false; self.children.len()];
        self.kill_and_reap(&exited)
    }

    /// SIGKILL to every group, then reap: signalling all groups before the
    /// first wait both lets the children die in parallel and keeps each
    /// group id held by its unreaped leader while it is read from `/proc`.
    /// `exited[i]` says that child `i` is known to have exited.
    fn kill_and_reap(&mut self, exited: &[bool]) -> Vec<ExitReport> {
        let sent: Vec<io::Result<()>> = self
            .children
            .iter_mut()
            .map(|child| tracked(child).signal_group(Signal::SIGKILL))
            .collect();
        // SIGKILL acts when its target next runs, so the grandchildren may
        // still be alive for a moment: wait (bounded) until no process of
        // the groups is, so that none is left when this returns.
        let mut dead = exited.to_vec();
        self.wait_for_groups(&mut dead, Instant::now().checked_add(KILL_WAIT));
        let survivors = live_members(&self.children);
        let children = std::mem::take(&mut self.children);
        let mut reports = Vec::with_capacity(children.len());
        for (mut child, sent) in children.into_iter().zip(sent) {
            let group_survivors: Vec<u32> = survivors
                .iter()
                .filter(|(group, pid)| *group == child.pid() && *pid != child.pid())
                .map(|&(_, pid)| pid)
                .collect();
            let state = tracked(&mut child).try_reap();
            match (state, sent) {
                (Ok(State::Running), Err(error)) => {
                    // Still running and out of reach: waiting would hang.
                    let error = tracked(&mut child).context(error, "sending SIGKILL to");
                    reports.push(ExitReport {
                        pid: child.pid(),
                        program: child.program().to_owned(),
                        status: Err(Error::Io(error)),
                        survivors: group_survivors,
                    });
                    self.children.push(child);
                }
                (Ok(State::Running), Ok(())) => {
                    let error = io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "`{}` (pid {}) did not die within {} s of SIGKILL (frozen, or in \
                             uninterruptible sleep); left to ptm's background reaper",
                            child.program(),
                            child.pid(),
                            KILL_WAIT.as_secs()
                        ),
                    );
                    reports.push(ExitReport {
                        pid: child.pid(),
                        program: child.program().to_owned(),
                        status: Err(Error::Io(error)),
                        survivors: group_survivors,
                    });
                    child.into_background();
                }
                (state, _) => reports.push(report(&child, state, group_survivors)),
            }
        }
        reports
    }
}

impl std::fmt::Display for ExitReport {
    /// `sleep (pid 1234): signal: 9 (SIGKILL)`, or the error; then the
    /// survivors, if any.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (pid {}): ", self.program, self.pid)?;
        match &self.status {
            Ok(status) => write!(f, "{status}")?,
            Err(error) => write!(f, "{error}")?,
        }
        if !self.survivors.is_empty() {
            write!(f, "; still alive in its group: {:?}", self.survivors)?;
        }
        Ok(())
    }
}

impl Drop for ProcessManager {
    /// [`terminate_all`](ProcessManager::terminate_all) with a grace of
    /// 100 ms: no child is left running or unreaped; one that could not be
    /// signalled is handed to the background reaper, which reaps it when it
    /// exits.
    fn drop(&mut self) {
        drop(self.terminate_all(DROP_GRACE));
        for child in std::mem::take(&mut self.children) {
            child.into_background();
        }
    }
}

/// The tracked child of a managed [`Process`]. Invariant: a managed
/// process is handed to the background reaper only as it leaves the
/// manager, so it always has one.
fn tracked(child: &mut Process) -> &mut Tracked {
    child
        .tracked_mut()
        .expect("a managed child is only handed off as it leaves the manager")
}

/// The report for `child`, from the result of waiting for it.
fn report(child: &Process, state: io::Result<State>, survivors: Vec<u32>) -> ExitReport {
    let pid = child.pid();
    let status = match state {
        Ok(State::Reaped(status)) => Ok(status),
        Ok(State::Lost) => Err(Error::StatusLost {
            program: child.program().to_owned(),
            pid,
            stdout: Vec::new(),
            stderr: Vec::new(),
        }),
        Ok(State::Running) => Err(Error::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("`{}` (pid {pid}) is still running", child.program()),
        ))),
        Err(error) => Err(Error::Io(io::Error::new(
            error.kind(),
            format!("waiting for `{}` (pid {pid}): {error}", child.program()),
        ))),
    };
    ExitReport {
        pid,
        program: child.program().to_owned(),
        status,
        survivors,
    }
}

/// Live processes (group, pid) in the groups of those `children` that have
/// not been reaped elsewhere (a lost child's group id may have been reused).
/// True if a live process (not a zombie) other than an exited leader is
/// in process group `group` (Linux: read from `/proc`; elsewhere false).
pub(crate) fn group_has_live_members(group: u32) -> bool {
    !sys::live_group_members(&[group]).is_empty()
}

/// How long [`Process::terminate`] first sleeps between two scans of a
/// group whose leader has exited, and the longest it sleeps.
pub(crate) const GROUP_SCAN: (Duration, Duration) = (FIRST_SCAN, MAX_SCAN);

fn live_members(children: &[Process]) -> Vec<(u32, u32)> {
    let groups: Vec<u32> = children
        .iter()
        .filter(|child| child.with_tracked(Tracked::state) == Some(State::Running))
        .map(Process::pid)
        .collect();
    sys::live_group_members(&groups)
}

/// An [`Error::Io`] of the same kind as `error` whose message says what was
/// being done.
fn io_context(error: io::Error, doing: &str) -> Error {
    Error::Io(io::Error::new(error.kind(), format!("{doing}: {error}")))
}

/// The error for a failed spawn of `cmd`: [`Error::Spawn`] naming the
/// program, or, when the cause is the working directory (missing, or not a
/// directory), naming that directory; a program that is a directory is
/// said to be one.
pub(crate) fn spawn_error(cmd: &Command, program: String, source: io::Error) -> Error {
    use io::ErrorKind::{NotADirectory, NotFound, PermissionDenied};
    let kind = source.kind();
    if let Some(dir) = cmd.get_current_dir() {
        if matches!(kind, NotFound | NotADirectory | PermissionDenied) {
            let problem = match std::fs::metadata(dir) {
                Err(error) => Some(io::Error::new(
                    error.kind(),
                    format!("working directory `{}`: {error}", dir.display()),
                )),
                Ok(meta) if !meta.is_dir() => Some(io::Error::new(
                    NotADirectory,
                    format!("working directory `{}` is not a directory", dir.display()),
                )),
                Ok(_) => None,
            };
            if let Some(source) = problem {
                return Error::Spawn { program, source };
            }
        }
    }
    if kind == PermissionDenied && program.contains('/') && Path::new(&program).is_dir() {
        let source = io::Error::new(kind, format!("it is a directory: {source}"));
        return Error::Spawn { program, source };
    }
    Error::Spawn { program, source }
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

/// Makes the child start with no descriptor but 0, 1 and 2: every
/// descriptor this process holds open *without* close-on-exec (inherited
/// from a shell, opened by C code) is marked close-on-exec in the child,
/// between fork and exec. The hook runs after the caller's own `pre_exec`
/// hooks: a descriptor such a hook sets up at a number this process holds
/// without close-on-exec is closed too (pick a number this process does not
/// use, or mark its own descriptor close-on-exec first).
///
/// std opens its own descriptors close-on-exec, so usually there is none:
/// then nothing is added, and std keeps its fast `posix_spawn` path. When
/// there are some, the `pre_exec` hook makes std fork instead. The list is
/// read from `/proc/self/fd` at the spawn; a descriptor another thread
/// opens without close-on-exec after that read and before the fork can
/// still leak (such a thread races with every spawn of every library).
pub(crate) fn close_inherited_fds(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let inheritable = sys::inheritable_fds();
    if inheritable.is_empty() {
        return;
    }
    let hook = move || {
        for &fd in &inheritable {
            // SAFETY: fcntl on a descriptor number touches no memory; one
            // that a `pre_exec` hook of the caller closed is EBADF: fine.
            unsafe { nix::libc::fcntl(fd, nix::libc::F_SETFD, nix::libc::FD_CLOEXEC) };
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec and only makes
    // `fcntl` system calls (async-signal-safe) on a list built before the
    // fork; it allocates nothing and takes no lock.
    unsafe { cmd.pre_exec(hook) };
}

/// Information about the current process, and ways to end it.
///
/// All functions are associated functions: `ProcessInfo::pid()`. They are
/// thin wrappers over `std::process` and `std::env`, with two fixes over
/// the obvious version that collects `std::env::args()` into `String`s:
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

/// Process groups and `/proc`.
mod sys {
    use std::os::fd::RawFd;

    /// Live processes (not zombies) whose process group is one of `groups`,
    /// as (group, pid). Linux reads `/proc`; where there is no `/proc`,
    /// none: only the children themselves are waited for.
    pub(super) fn live_group_members(groups: &[u32]) -> Vec<(u32, u32)> {
        if groups.is_empty() {
            return Vec::new();
        }
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            // `getpgid` is a cheap system call; `/proc/<pid>/stat` (for the
            // state) is read only for the few processes in those groups.
            .filter(|&pid| {
                let pid = nix::unistd::Pid::from_raw(pid as i32);
                nix::unistd::getpgid(Some(pid))
                    .is_ok_and(|group| groups.contains(&(group.as_raw() as u32)))
            })
            .filter_map(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                // `pid (comm) state ppid pgrp ...`; comm may hold spaces and
                // parentheses, so split after its last `)`.
                let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
                let state = fields.next()?;
                let group = fields.nth(1)?.parse::<u32>().ok()?;
                (state != "Z" && state != "X" && groups.contains(&group)).then_some((group, pid))
            })
            .collect()
    }

    /// Descriptors 3 and up that this process holds open without
    /// close-on-exec.
    pub(super) fn inheritable_fds() -> Vec<RawFd> {
        let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<RawFd>().ok())
            .filter(|&fd| fd > 2)
            .filter(|&fd| {
                // SAFETY: F_GETFD reads the flags of a descriptor number; a
                // closed one (the directory's own, gone by now) gives -1.
                let flags = unsafe { nix::libc::fcntl(fd, nix::libc::F_GETFD) };
                flags >= 0 && flags & nix::libc::FD_CLOEXEC == 0
            })
            .collect()
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
