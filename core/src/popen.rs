//! [`Process`]: one child, to wait for, time out, signal or stop on its own,
//! from any thread. Re-exported as `ptm::process::Process`.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::child::{reap_in_background, wait_for_exit, Guard, State, Tracked};
use crate::error::{Error, Result};
use crate::process::{close_inherited_fds, group_has_live_members, spawn_error, GROUP_SCAN};

/// How long [`Process::kill`] waits for the child to die before it reports
/// it as unkillable for now (frozen, or in uninterruptible sleep).
const KILL_WAIT: Duration = Duration::from_secs(1);

/// How long dropping a running [`Process`] waits after SIGTERM.
const DROP_GRACE: Duration = Duration::from_millis(100);

/// One child in its own process group; `Send + Sync` (share it through
/// [`Arc`](std::sync::Arc)).
///
/// Any number of threads may wait for it, poll it, signal it or stop it at
/// once: one thread blocked in [`wait`](Process::wait) does not keep the
/// others from calling [`try_wait`](Process::try_wait),
/// [`signal`](Process::signal) or [`kill`](Process::kill), every caller
/// sees the same status, and no signal is sent once the child has been
/// reaped, so a recycled pid is never hit.
///
/// How: the child is held by a pidfd (see the
/// [module documentation](crate::process)). Waiting sleeps in `poll(2)` on
/// the pidfd *without* holding the lock; reaping (`waitid`) and signalling
/// happen under the lock, and the status, once reaped, is kept. A child
/// reaped behind ptm's back (SIGCHLD ignored) gives
/// [`Error::StatusLost`] from every wait.
///
/// Dropping a `Process` that has not been reaped is
/// [`terminate`](Process::terminate) with a grace of 100 ms, as for
/// [`ProcessManager`](crate::process::ProcessManager); a child that still
/// cannot be reaped then is left to ptm's background reaper. Like every
/// child of ptm it dies with this process (ptm's guardian).
///
/// # Examples
///
/// ```
/// use std::io::{BufRead, BufReader};
/// use std::process::{Command, Stdio};
/// use std::time::Duration;
/// use ptm::process::Process;
///
/// # fn main() -> ptm::Result<()> {
/// let mut cmd = Command::new("sh");
/// cmd.args(["-c", "echo ready; sleep 10"]).stdout(Stdio::piped());
/// let child = Process::spawn(cmd)?;
/// let mut line = String::new();
/// let stdout = child.take_stdout().expect("piped");
/// BufReader::new(stdout).read_line(&mut line)?;
/// assert_eq!(line, "ready\n");
/// // Still running at the deadline: untouched.
/// assert!(child.wait_timeout(Duration::from_millis(50))?.is_none());
/// let status = child.terminate(Duration::from_secs(1))?;
/// assert!(!status.success());
/// assert_eq!(child.wait()?, status); // the same status, every time
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Process {
    pid: u32,
    program: String,
    /// A copy of the child's pidfd, waited on without the lock. `None`
    /// without pidfds (then waits poll every 2 ms).
    watch: Option<OwnedFd>,
    /// The child. Invariant: reaping and signalling happen only under this
    /// lock, and only while the state is `Running`: so no signal can follow
    /// the reap. `None` only once handed to the background reaper (drop).
    tracked: Mutex<Option<Tracked>>,
    stdin: Mutex<Option<ChildStdin>>,
    stdout: Mutex<Option<ChildStdout>>,
    stderr: Mutex<Option<ChildStderr>>,
}

impl Process {
    /// Starts `cmd` in a new process group (as
    /// [`ProcessManager`](crate::process::ProcessManager)'s children). The
    /// caller's stdin/stdout/stderr choices are kept; piped ends stay open
    /// for `take_*`. The child holds no descriptor of this process but
    /// those, and dies with this process.
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] naming the program if it cannot be started
    /// (missing: `NotFound`; not executable or a directory:
    /// `PermissionDenied`, the message says which); a missing working
    /// directory is named as such. [`Error::Io`] if it started but cannot be
    /// tracked (out of descriptors); it is killed and reaped then.
    pub fn spawn(cmd: Command) -> Result<Process> {
        let program = cmd.get_program().to_string_lossy().into_owned();
        Process::start(cmd, program, Guard::Group)
    }

    /// [`spawn`](Process::spawn), with the program name to report and
    /// what the guardian should do.
    pub(crate) fn start(mut cmd: Command, program: String, guard: Guard) -> Result<Process> {
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        close_inherited_fds(&mut cmd);
        if guard != Guard::None {
            crate::guardian::prepare()?;
        }
        let mut child = cmd
            .spawn()
            .map_err(|source| spawn_error(&cmd, program.clone(), source))?;
        // The command's copies of descriptors it was given close now.
        drop(cmd);
        let (stdin, stdout, stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let mut tracked = Tracked::new(child, &program, guard, true)?;
        let watch = match tracked.pidfd().map(|fd| fd.try_clone_to_owned()) {
            Some(Ok(fd)) => Some(fd),
            Some(Err(error)) => {
                let error = tracked.context(error, "copying the pidfd of");
                tracked.abandon_unguarded();
                return Err(Error::Io(error));
            }
            None => None,
        };
        Ok(Process {
            pid: tracked.pid(),
            program,
            watch,
            tracked: Mutex::new(Some(tracked)),
            stdin: Mutex::new(stdin),
            stdout: Mutex::new(stdout),
            stderr: Mutex::new(stderr),
        })
    }

    /// The child's pid (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The program, as given to the `Command` (lossy UTF-8).
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The parent's end of the child's stdin, if it was
    /// [`Stdio::piped`](std::process::Stdio::piped) and not taken yet.
    /// Drop it to send end of file.
    pub fn take_stdin(&self) -> Option<ChildStdin> {
        lock(&self.stdin).take()
    }

    /// The parent's end of the child's stdout, if piped and not taken yet:
    /// read it while the child runs.
    pub fn take_stdout(&self) -> Option<ChildStdout> {
        lock(&self.stdout).take()
    }

    /// The parent's end of the child's stderr, if piped and not taken yet.
    pub fn take_stderr(&self) -> Option<ChildStderr> {
        lock(&self.stderr).take()
    }

    /// The status if the child has exited (reaping it), `Ok(None)` while it
    /// runs; never blocks.
    ///
    /// # Errors
    ///
    /// [`Error::StatusLost`] if something else reaped it; [`Error::Io`] if
    /// the wait fails otherwise.
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        self.reap_now()
    }

    /// Blocks until the child exits and reaps it; every later call (from
    /// any thread) returns the same status.
    ///
    /// # Errors
    ///
    /// As for [`try_wait`](Process::try_wait).
    pub fn wait(&self) -> Result<ExitStatus> {
        match self.wait_until(None)? {
            Some(status) => Ok(status),
            None => Err(Error::Io(io::Error::other(
                "wait without deadline returned early",
            ))),
        }
    }

    /// Waits at most `timeout` for the child to exit: `Ok(Some(status))`
    /// once it has (reaped), `Ok(None)` if it still runs at the deadline
    /// (it is left untouched). `Duration::ZERO` is
    /// [`try_wait`](Process::try_wait); a timeout too large for the clock
    /// waits as long as it takes.
    ///
    /// # Errors
    ///
    /// As for [`try_wait`](Process::try_wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<Option<ExitStatus>> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.wait_until(Some(deadline)),
            None => self.wait().map(Some),
        }
    }

    /// Sends `signal` to the child's whole process group (what it started
    /// included). Once the child has been reaped, nothing is sent and the
    /// result is `Ok(())`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the child if the signal is refused (`EPERM`: it
    /// changed its credentials).
    pub fn signal(&self, signal: Signal) -> Result<()> {
        let tracked = lock(&self.tracked);
        match tracked.as_ref() {
            Some(child) if child.state() == State::Running => child
                .signal_group(signal)
                .map_err(|error| Error::Io(child.context(error, &format!("sending {signal} to")))),
            _ => Ok(()),
        }
    }

    /// SIGTERM (and SIGCONT, so that a stopped child acts on it) to the
    /// group; waits up to `grace` for the child *and* what it started in
    /// its group to exit (the child is not reaped meanwhile, so the group
    /// id stays its own); then SIGKILL to whatever is left of the group
    /// (as [`kill`](Process::kill)), and reaps. Returns the child's status:
    /// `signal: 15` if SIGTERM ended it, its exit code if it exited by
    /// itself, `signal: 9` if it outlived the grace.
    ///
    /// # Errors
    ///
    /// As for [`kill`](Process::kill).
    pub fn terminate(&self, grace: Duration) -> Result<ExitStatus> {
        // A refusal shows again, and is reported, at the SIGKILL.
        let _ = self.signal(Signal::SIGTERM);
        let _ = self.signal(Signal::SIGCONT);
        self.wait_for_group(Instant::now().checked_add(grace))?;
        self.kill()
    }

    /// Waits until the child has exited (seen with `WNOWAIT`: not reaped)
    /// and no live process is left in its group, or until `deadline`.
    fn wait_for_group(&self, deadline: Option<Instant>) -> Result<()> {
        loop {
            let exited = match lock(&self.tracked).as_mut() {
                Some(child) => child
                    .has_exited()
                    .map_err(|error| Error::Io(child.context(error, "waiting for")))?,
                None => true,
            };
            if exited {
                break;
            }
            let watch = self.watch();
            if !wait_for_exit(watch.as_slice(), watch.is_none(), deadline)? {
                return Ok(());
            }
        }
        // The leader has exited; grandchildren may still run in its group.
        let (mut pause, longest) = GROUP_SCAN;
        loop {
            let unreaped = self
                .with_tracked(|child| child.state() == State::Running)
                .unwrap_or(false);
            if !unreaped || !group_has_live_members(self.pid) {
                return Ok(());
            }
            let now = Instant::now();
            let nap = match deadline {
                Some(deadline) if now >= deadline => return Ok(()),
                Some(deadline) => pause.min(deadline - now),
                None => pause,
            };
            thread::sleep(nap);
            pause = (pause * 2).min(longest);
        }
    }

    /// SIGKILL to the group, then waits for the child and reaps it.
    ///
    /// # Errors
    ///
    /// - [`Error::Io`] naming the child if it refused the signal (`EPERM`),
    ///   or if it did not die within a second (frozen, or in uninterruptible
    ///   sleep): it stays unreaped, and a later wait can still reap it.
    /// - [`Error::StatusLost`] if something else reaped it.
    pub fn kill(&self) -> Result<ExitStatus> {
        self.signal(Signal::SIGKILL)?;
        let deadline = Instant::now().checked_add(KILL_WAIT);
        match self.wait_until(deadline)? {
            Some(status) => Ok(status),
            None => Err(Error::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "`{}` (pid {}) did not die within {} s of SIGKILL (frozen, or in \
                     uninterruptible sleep)",
                    self.program,
                    self.pid,
                    KILL_WAIT.as_secs()
                ),
            ))),
        }
    }

    /// Reaps the child if it has exited, under the lock.
    fn reap_now(&self) -> Result<Option<ExitStatus>> {
        let mut tracked = lock(&self.tracked);
        let Some(child) = tracked.as_mut() else {
            return Err(Error::Io(io::Error::other(
                "handed to the background reaper",
            )));
        };
        match child.try_reap() {
            Ok(State::Running) => Ok(None),
            Ok(State::Reaped(status)) => Ok(Some(status)),
            Ok(State::Lost) => Err(Error::StatusLost {
                program: self.program.clone(),
                pid: self.pid,
                stdout: Vec::new(),
                stderr: Vec::new(),
            }),
            Err(error) => Err(Error::Io(child.context(error, "waiting for"))),
        }
    }

    /// Waits for the exit until `deadline` (`None`: no limit), sleeping on
    /// the pidfd copy without the lock; `Ok(None)` at the deadline.
    fn wait_until(&self, deadline: Option<Instant>) -> Result<Option<ExitStatus>> {
        loop {
            if let Some(status) = self.reap_now()? {
                return Ok(Some(status));
            }
            let watch = self.watch();
            if !wait_for_exit(watch.as_slice(), watch.is_none(), deadline)? {
                return Ok(None);
            }
        }
    }

    /// The pidfd copy that waits sleep on, without the lock.
    pub(crate) fn watch(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.watch.as_ref().map(AsFd::as_fd)
    }

    /// The tracked child, for [`ProcessManager`](crate::process::ProcessManager),
    /// which owns its processes (`&mut`: no lock is contended).
    pub(crate) fn tracked_mut(&mut self) -> Option<&mut Tracked> {
        self.tracked
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_mut()
    }

    /// The tracked child, shared.
    pub(crate) fn with_tracked<R>(&self, f: impl FnOnce(&Tracked) -> R) -> Option<R> {
        lock(&self.tracked).as_ref().map(f)
    }

    /// Hands the child to the background reaper (it is not reaped yet, and
    /// must not be waited for here).
    pub(crate) fn into_background(mut self) {
        let taken = self
            .tracked
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(child) = taken {
            reap_in_background(child);
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let running = self
            .tracked_mut()
            .is_some_and(|child| child.state() == State::Running);
        if running {
            let _ = self.terminate(DROP_GRACE);
            let taken = self
                .tracked
                .get_mut()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take_if(|child| child.state() == State::Running);
            if let Some(child) = taken {
                reap_in_background(child);
            }
        }
    }
}

/// Locks `mutex`, ignoring poisoning: the values behind these locks are
/// consistent at every point a panic could leave them.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
