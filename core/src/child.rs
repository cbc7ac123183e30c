//! One child process, held so that it can never be mistaken for another:
//! the machinery under [`ProcessManager`](crate::process::ProcessManager),
//! [`communicate`](crate::ipc::communicate) and
//! [`Pipeline`](crate::ipc::Pipeline).
//!
//! # Why a pidfd
//!
//! A pid names a process only until that process is reaped: then the kernel
//! may hand the number to the next process it starts. A parent that reaps
//! its own children knows when that happens, but a child can also be reaped
//! *behind its parent's back*: when SIGCHLD is set to `SIG_IGN` (daemons do,
//! so do some embedding hosts) the kernel reaps children itself, and a
//! `waitpid(-1, ..)` elsewhere in the program reaps whichever child exits
//! first. A `kill(pid)` or `killpg(pid)` after that may reach an unrelated
//! process.
//!
//! On Linux every [`Tracked`] child therefore holds a *pidfd*
//! (`pidfd_open(2)`, opened right after the spawn and checked to be our own
//! child): a descriptor that names the process itself, not its number.
//!
//! - Signals to the child go through `pidfd_send_signal(2)`: they reach that
//!   process or nobody, whatever happened to its pid.
//! - Signals to its process group use the same call with
//!   `PIDFD_SIGNAL_PROCESS_GROUP` (Linux 6.9): the kernel signals the group
//!   the pidfd's process *leads*, by its own identity, so the group is
//!   reached even after its leader was reaped, and a recycled group id never
//!   is. On older kernels the group is signalled with `killpg` only while
//!   `waitid(.., WNOWAIT)` shows the leader unreaped (a window of a few
//!   microseconds remains there).
//! - Waits go through `waitid(P_PIDFD, ..)`, and deadlines through `poll(2)`
//!   on the pidfd, which becomes readable when the process exits: no polling
//!   loop, and an exit is noticed as soon as the kernel wakes the poller.
//! - A child reaped elsewhere shows as `ECHILD` from `waitid`: it becomes
//!   [`State::Lost`], its status is unknown, and it is never signalled by
//!   pid again.
//!
//! Without `pidfd_open` (Linux before 5.3) the child is
//! tracked by pid through std's [`Child`], with the old caveat: do not reap
//! the children elsewhere.
//!
//! Each child is also registered with the [guardian](crate::guardian), a
//! small process that kills it (and its group) if this process dies.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};

use crate::guardian;

/// `PIDFD_SIGNAL_PROCESS_GROUP` of `<linux/pidfd.h>` (Linux 6.9), not yet in
/// the `libc` crate.
const PIDFD_SIGNAL_PROCESS_GROUP: libc::c_uint = 1 << 2;

/// Where a tracked child is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Not reaped yet: running, or exited and held as a zombie.
    Running,
    /// Reaped here, with its status.
    Reaped(ExitStatus),
    /// Reaped by something else (SIGCHLD ignored, a `waitpid(-1)`): the
    /// status is lost and the pid may already belong to another process.
    Lost,
}

/// What the guardian should kill if this process dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guard {
    /// Nothing: the child may outlive its parent.
    None,
    /// The child alone (it shares the caller's process group).
    Process,
    /// The process group the child leads, and the child.
    Group,
}

/// A spawned child, its pidfd and what is known of its end.
#[derive(Debug)]
pub(crate) struct Tracked {
    child: Child,
    program: String,
    state: State,
    /// `None` without `pidfd_open`, and once reaped.
    pidfd: Option<OwnedFd>,
    /// The child leads its own process group.
    leads_group: bool,
    /// The guardian's registration, until reaped.
    guard: Option<guardian::Token>,
}

impl Tracked {
    /// Takes charge of a freshly spawned child: opens its pidfd, checks that
    /// it is still our child, and registers it with the guardian (`guard`).
    /// `leads_group`: the child was started in a process group of its own
    /// (`process_group(0)`), which group signals then reach, whatever the
    /// guardian is told.
    ///
    /// # Errors
    ///
    /// The pidfd cannot be opened (out of descriptors) or the guardian
    /// cannot be reached: the child is then killed and reaped here, and the
    /// error names it.
    pub(crate) fn new(
        child: Child,
        program: &str,
        guard: Guard,
        leads_group: bool,
    ) -> io::Result<Tracked> {
        let mut tracked = Tracked {
            child,
            program: program.to_owned(),
            state: State::Running,
            pidfd: None,
            leads_group,
            guard: None,
        };
        match open_pidfd(tracked.pid()) {
            Ok(fd) => {
                // A pid reaped elsewhere before `pidfd_open` may already name
                // another process: only our own child passes this check.
                let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
                match waitid_retry(|| Id::PIDFd(fd.as_fd()), flags) {
                    Err(Errno::ECHILD) => tracked.state = State::Lost,
                    _ => tracked.pidfd = Some(fd),
                }
            }
            Err(Errno::ESRCH) => tracked.state = State::Lost,
            // No pidfds (Linux before 5.3): tracked by pid.
            Err(Errno::ENOSYS) => {}
            Err(errno) => {
                let error = tracked.context(errno.into(), "opening a pidfd for");
                tracked.abandon_unguarded();
                return Err(error);
            }
        }
        if guard != Guard::None {
            if let Some(fd) = &tracked.pidfd {
                match guardian::watch(fd.as_fd(), tracked.pid(), guard == Guard::Group) {
                    Ok(token) => tracked.guard = Some(token),
                    Err(error) => {
                        let error = tracked.context(error, "registering with ptm's guardian");
                        tracked.abandon_unguarded();
                        return Err(error);
                    }
                }
            }
        }
        Ok(tracked)
    }

    /// Kills and reaps a child that could not be tracked (the error paths
    /// of [`new`](Tracked::new) and of its callers), within about a second.
    pub(crate) fn abandon_unguarded(&mut self) {
        if self.state == State::Running {
            let _ = self.signal_group(Signal::SIGKILL);
            if self.pidfd.is_none() {
                let _ = self.child.kill();
            }
            let _ = self.wait_until(Instant::now().checked_add(Duration::from_secs(1)));
            if self.state == State::Running {
                let _ = self.child.wait();
                self.state = State::Lost;
            }
        }
    }

    /// The child's pid (its process group id too, when it leads one).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The program, for messages.
    pub(crate) fn program(&self) -> &str {
        &self.program
    }

    /// What is known of the child's end.
    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// `error` with a message naming the child: "{doing} `prog` (pid N): ...".
    pub(crate) fn context(&self, error: io::Error, doing: &str) -> io::Error {
        io::Error::new(
            error.kind(),
            format!("{doing} `{}` (pid {}): {error}", self.program, self.pid()),
        )
    }

    /// The pidfd, while the child is not reaped here.
    pub(crate) fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.pidfd.as_ref().map(AsFd::as_fd)
    }

    /// True once the child has exited (or was reaped elsewhere), without
    /// reaping it: its pid and group id stay reserved.
    pub(crate) fn has_exited(&mut self) -> io::Result<bool> {
        if self.state != State::Running {
            return Ok(true);
        }
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        let result = match &self.pidfd {
            Some(fd) => waitid_retry(|| Id::PIDFd(fd.as_fd()), flags),
            None => waitid_retry(|| Id::Pid(self.nix_pid()), flags),
        };
        match result {
            Ok(WaitStatus::StillAlive) => Ok(false),
            Ok(_) => Ok(true),
            Err(Errno::ECHILD) => {
                self.lost();
                Ok(true)
            }
            Err(errno) => Err(errno.into()),
        }
    }

    /// Reaps the child if it has exited; never blocks.
    pub(crate) fn try_reap(&mut self) -> io::Result<State> {
        if self.state != State::Running {
            return Ok(self.state);
        }
        let Some(fd) = &self.pidfd else {
            return match self.child.try_wait() {
                Ok(Some(status)) => Ok(self.reaped(status)),
                Ok(None) => Ok(State::Running),
                Err(error) if error.raw_os_error() == Some(libc::ECHILD) => {
                    self.lost();
                    Ok(State::Lost)
                }
                Err(error) => Err(error),
            };
        };
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG;
        match waitid_retry(|| Id::PIDFd(fd.as_fd()), flags) {
            Ok(WaitStatus::StillAlive) => Ok(State::Running),
            Ok(status) => match raw_status(status) {
                Some(status) => Ok(self.reaped(status)),
                None => Ok(State::Running),
            },
            Err(Errno::ECHILD) => {
                self.lost();
                Ok(State::Lost)
            }
            Err(errno) => Err(errno.into()),
        }
    }

    /// Waits until the child has exited and reaps it, or until `deadline`
    /// (`None`: no limit), whichever comes first; returns the state then
    /// ([`State::Running`] at the deadline).
    pub(crate) fn wait_until(&mut self, deadline: Option<Instant>) -> io::Result<State> {
        if let (None, Some(fd), State::Running) = (deadline, &self.pidfd, self.state) {
            // No deadline: one blocking `waitid`, as `waitpid` would be.
            return match waitid_retry(|| Id::PIDFd(fd.as_fd()), WaitPidFlag::WEXITED) {
                Ok(status) => match raw_status(status) {
                    Some(status) => Ok(self.reaped(status)),
                    None => Err(io::Error::other(format!(
                        "unexpected wait status {status:?}"
                    ))),
                },
                Err(Errno::ECHILD) => {
                    self.lost();
                    Ok(State::Lost)
                }
                Err(errno) => Err(errno.into()),
            };
        }
        loop {
            let state = self.try_reap()?;
            if state != State::Running {
                return Ok(state);
            }
            match (self.pidfd(), deadline) {
                (Some(fd), _) => {
                    if !wait_for_exit(&[fd], false, deadline)? {
                        return Ok(State::Running);
                    }
                }
                (None, deadline) => match deadline {
                    None => {
                        let status = self.child.wait();
                        return match status {
                            Ok(status) => Ok(self.reaped(status)),
                            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => {
                                self.lost();
                                Ok(State::Lost)
                            }
                            Err(e) => Err(e),
                        };
                    }
                    Some(_) => {
                        if !wait_for_exit(&[], true, deadline)? {
                            return Ok(State::Running);
                        }
                    }
                },
            }
        }
    }

    /// Sends `signal` to the child alone. Nothing is sent once it has been
    /// reaped (here or elsewhere): `Ok(())`.
    pub(crate) fn signal(&self, signal: Signal) -> io::Result<()> {
        if self.state != State::Running {
            return Ok(());
        }
        let result = match &self.pidfd {
            Some(fd) => pidfd_send_signal(fd.as_fd(), signal as libc::c_int, 0),
            None => nix::sys::signal::kill(self.nix_pid(), signal),
        };
        match result {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(errno) => Err(errno.into()),
        }
    }

    /// Sends `signal` to the process group the child leads (grandchildren
    /// included), and to the child itself if it has left that group. A
    /// child that does not lead a group gets the signal alone.
    ///
    /// Never reaches a recycled pid or group: see the module docs. After
    /// the child was reaped here nothing is sent; after it was reaped
    /// elsewhere only the pidfd's own group signal (Linux 6.9) is.
    pub(crate) fn signal_group(&self, signal: Signal) -> io::Result<()> {
        if !self.leads_group {
            return self.signal(signal);
        }
        let group = match (&self.pidfd, self.state) {
            (_, State::Reaped(_)) => return Ok(()),
            (Some(fd), state) => {
                let sent = pidfd_send_signal(
                    fd.as_fd(),
                    signal as libc::c_int,
                    PIDFD_SIGNAL_PROCESS_GROUP,
                );
                match sent {
                    // Before Linux 6.9: `killpg`, only while the leader is
                    // unreaped (so the group id is still its).
                    Err(Errno::EINVAL) if state == State::Running => {
                        if self.leader_unreaped() {
                            nix::sys::signal::killpg(self.nix_pid(), signal)
                        } else {
                            Err(Errno::ESRCH)
                        }
                    }
                    other => other,
                }
            }
            (None, State::Lost) => return Ok(()),
            (None, _) => nix::sys::signal::killpg(self.nix_pid(), signal),
        };
        if self.state != State::Running {
            return Ok(());
        }
        let leads = nix::unistd::getpgid(Some(self.nix_pid())) == Ok(self.nix_pid());
        match group {
            Ok(()) if leads => Ok(()),
            _ => self.signal(signal),
        }
    }

    /// True if `waitid(.., WNOWAIT)` shows the child not reaped elsewhere.
    fn leader_unreaped(&self) -> bool {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match &self.pidfd {
            Some(fd) => waitid_retry(|| Id::PIDFd(fd.as_fd()), flags).is_ok(),
            None => waitid_retry(|| Id::Pid(self.nix_pid()), flags).is_ok(),
        }
    }

    fn nix_pid(&self) -> nix::unistd::Pid {
        // Pids fit in an i32 on every Unix (`pid_t`).
        nix::unistd::Pid::from_raw(i32::try_from(self.pid()).unwrap_or(i32::MAX))
    }

    fn reaped(&mut self, status: ExitStatus) -> State {
        self.state = State::Reaped(status);
        self.pidfd = None;
        self.unguard();
        self.state
    }

    fn lost(&mut self) {
        // The pidfd stays: it still names the process (gone) and its group.
        self.state = State::Lost;
        self.unguard();
    }

    fn unguard(&mut self) {
        if let Some(token) = self.guard.take() {
            guardian::forget(token);
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.unguard();
    }
}

/// Hands `child` to ptm's one background reaper thread, which reaps it
/// whenever it exits (waiting on its pidfd with every other child it holds),
/// so that a child that cannot be killed or waited for now (it refused
/// SIGKILL with `EPERM`, or is frozen) neither blocks the caller nor stays a
/// zombie. The thread is started on first use and then stays; if it cannot
/// be started, the child is let go unreaped.
pub(crate) fn reap_in_background(child: Tracked) {
    let mut reaper = REAPER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if reaper.is_none() {
        *reaper = start_reaper().ok();
    }
    if let Some(reaper) = reaper.as_ref() {
        if reaper.sender.send(child).is_ok() {
            // A full pipe already holds a wake-up: nothing to do then.
            let _ = nix::unistd::write(&reaper.wake, &[1]);
        }
    }
}

/// The background reaper: a channel of children and a pipe that wakes its
/// `poll`.
#[derive(Debug)]
struct Reaper {
    sender: crossbeam_channel::Sender<Tracked>,
    wake: OwnedFd,
}

/// Started on first use. Invariant: the lock only guards starting it and
/// sending to it; the thread itself never takes it.
static REAPER: std::sync::Mutex<Option<Reaper>> = std::sync::Mutex::new(None);

fn start_reaper() -> io::Result<Reaper> {
    use nix::fcntl::OFlag;
    let (wake_read, wake) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    let (sender, receiver) = crossbeam_channel::unbounded::<Tracked>();
    std::thread::Builder::new()
        .name("ptm-reaper".to_owned())
        .spawn(move || reaper_loop(&receiver, &wake_read))?;
    Ok(Reaper { sender, wake })
}

/// Reaps every child it is given, as each exits. Children without a pidfd
/// are checked every 100 ms.
fn reaper_loop(receiver: &crossbeam_channel::Receiver<Tracked>, wake: &OwnedFd) {
    let mut children: Vec<Tracked> = Vec::new();
    loop {
        let mut drained = [0u8; 64];
        while matches!(nix::unistd::read(wake, &mut drained), Ok(n) if n > 0) {}
        children.extend(receiver.try_iter());
        // Reaped or lost: done. An error other than ECHILD cannot be fixed
        // by waiting again: give up on that child rather than spin.
        children.retain_mut(|child| matches!(child.try_reap(), Ok(State::Running)));
        let mut fds: Vec<BorrowedFd<'_>> = vec![wake.as_fd()];
        fds.extend(children.iter().filter_map(Tracked::pidfd));
        let deadline = if fds.len() == children.len() + 1 {
            None
        } else {
            Instant::now().checked_add(Duration::from_millis(100))
        };
        if wait_readable(&fds, deadline).is_err() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `pidfd_open(pid, 0)`: a close-on-exec descriptor for the process.
fn open_pidfd(pid: u32) -> Result<OwnedFd, Errno> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| Errno::ESRCH)?;
    let flags: libc::c_uint = 0;
    // SAFETY: pidfd_open takes a pid and flags by value and returns a new
    // descriptor or -1; it touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, flags) };
    if fd < 0 {
        return Err(Errno::last());
    }
    let fd = libc::c_int::try_from(fd).map_err(|_| Errno::EBADF)?;
    // SAFETY: `fd` is a descriptor the kernel just opened for us and that
    // nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `pidfd_send_signal(fd, signal, NULL, flags)`.
pub(crate) fn pidfd_send_signal(
    fd: BorrowedFd<'_>,
    signal: libc::c_int,
    flags: libc::c_uint,
) -> Result<(), Errno> {
    let no_info: *const libc::siginfo_t = std::ptr::null();
    // SAFETY: the descriptor is open (borrowed), a null siginfo is allowed
    // (the kernel fills in a SI_USER one), and the call writes no memory.
    let result = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            signal,
            no_info,
            flags,
        )
    };
    if result < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// `waitid`, retried on `EINTR`.
fn waitid_retry<'fd>(id: impl Fn() -> Id<'fd>, flags: WaitPidFlag) -> Result<WaitStatus, Errno> {
    loop {
        match waitid(id(), flags) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// The [`ExitStatus`] of a `waitid` result (a wait status as `waitpid`
/// gives it: the code in bits 8 to 15, or the signal in 0 to 6 and 0x80 for
/// a core dump).
fn raw_status(status: WaitStatus) -> Option<ExitStatus> {
    match status {
        WaitStatus::Exited(_, code) => Some(ExitStatus::from_raw((code & 0xff) << 8)),
        WaitStatus::Signaled(_, signal, dumped) => Some(ExitStatus::from_raw(
            signal as i32 | if dumped { 0x80 } else { 0 },
        )),
        _ => None,
    }
}

/// How often children without a pidfd (Linux before 5.3) are checked.
pub(crate) const NO_PIDFD_POLL: Duration = Duration::from_millis(2);

/// Sleeps until one of the children behind the pidfds `fds` exits, or
/// `deadline` passes; if some child has no pidfd (`unwatched`), for at most
/// [`NO_PIDFD_POLL`], so that it is checked again. True if a pidfd became
/// readable or the deadline is still ahead (check the children, then call
/// again); false once the deadline has passed with nothing ready.
pub(crate) fn wait_for_exit(
    fds: &[BorrowedFd<'_>],
    unwatched: bool,
    deadline: Option<Instant>,
) -> io::Result<bool> {
    let bound = if unwatched {
        let soon = Instant::now().checked_add(NO_PIDFD_POLL);
        match (deadline, soon) {
            (Some(deadline), Some(soon)) => Some(deadline.min(soon)),
            (deadline, soon) => deadline.or(soon),
        }
    } else {
        deadline
    };
    let ready = wait_readable(fds, bound)?;
    Ok(ready || deadline.is_none_or(|deadline| Instant::now() < deadline))
}

/// Blocks until one of `fds` is readable (for a pidfd: its process exited)
/// or `deadline` passes. Returns false at the deadline.
pub(crate) fn wait_readable(fds: &[BorrowedFd<'_>], deadline: Option<Instant>) -> io::Result<bool> {
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        let timeout = match deadline {
            None => -1,
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => {
                    let millis = left.as_nanos().div_ceil(1_000_000);
                    libc::c_int::try_from(millis).unwrap_or(libc::c_int::MAX)
                }
                _ => return Ok(false),
            },
        };
        let nfds = libc::nfds_t::try_from(polled.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many descriptors"))?;
        // SAFETY: `polled` is an initialised, exclusively borrowed array of
        // `nfds` pollfds that outlives the call; the kernel writes only
        // their `revents`.
        let ready = unsafe { libc::poll(polled.as_mut_ptr(), nfds, timeout) };
        if ready > 0 {
            return Ok(true);
        }
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
        // 0: the timeout passed (rounded up, so the deadline has too, but
        // check it again at the top); EINTR: retry.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn statuses_convert_like_waitpid() {
        let pid = nix::unistd::Pid::from_raw(1);
        let exited = raw_status(WaitStatus::Exited(pid, 3)).expect("a status");
        assert_eq!(exited.code(), Some(3));
        let killed =
            raw_status(WaitStatus::Signaled(pid, Signal::SIGKILL, false)).expect("a status");
        assert_eq!(killed.signal(), Some(9));
        let dumped =
            raw_status(WaitStatus::Signaled(pid, Signal::SIGABRT, true)).expect("a status");
        assert_eq!((dumped.signal(), dumped.core_dumped()), (Some(6), true));
    }

    #[test]
    fn a_tracked_child_is_reaped_with_its_status() {
        let child = Command::new("sh")
            .args(["-c", "exit 7"])
            .spawn()
            .expect("sh starts");
        let mut tracked = Tracked::new(child, "sh", Guard::None, true).expect("tracked");
        let state = tracked.wait_until(None).expect("waited");
        assert!(
            matches!(state, State::Reaped(status) if status.code() == Some(7)),
            "{state:?}"
        );
        // Reaped: further signals are no-ops, never a recycled pid.
        tracked.signal(Signal::SIGKILL).expect("no-op");
        tracked.signal_group(Signal::SIGKILL).expect("no-op");
    }

    #[test]
    fn a_deadline_returns_running_and_leaves_the_child_alone() {
        let child = Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep starts");
        let mut tracked = Tracked::new(child, "sleep", Guard::None, true).expect("tracked");
        let deadline = Instant::now() + Duration::from_millis(20);
        assert_eq!(
            tracked.wait_until(Some(deadline)).expect("waited"),
            State::Running
        );
        tracked.signal(Signal::SIGKILL).expect("killed");
        let state = tracked.wait_until(None).expect("reaped");
        assert!(matches!(state, State::Reaped(status) if status.signal() == Some(9)));
    }
}
